#pragma once
// GET /status: one self-contained HTML page (src/telemetry/status_page.html, embedded at
// build time) that polls GET /admin/status and shows each deployment live.

#include <string_view>

namespace switchyard::telemetry {

std::string_view status_page_html();

}  // namespace switchyard::telemetry
