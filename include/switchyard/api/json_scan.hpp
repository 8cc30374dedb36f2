#pragma once
// Byte-level view of a JSON document's top-level object members, so the gateway can
// read and edit a few fields (model, stream_options) while forwarding every other
// byte of the client's body untouched. Input must already be valid JSON.

#include <cstddef>
#include <string_view>
#include <vector>

namespace switchyard::api {

struct Member {
  std::string_view key;     ///< raw key bytes between the quotes (escapes not decoded)
  std::size_t value_begin;  ///< offset of the value's first byte
  std::size_t value_end;    ///< offset one past the value's last byte
};

/// Strict RFC 8259 validation (structure, string escapes, control characters, number
/// grammar, UTF-8) without building anything; nesting deeper than max_depth is rejected.
/// Several times cheaper than a DOM parse; used on every request and response body.
bool json_valid(std::string_view json, std::size_t max_depth = 512);

/// Lists the members of the top-level object of `json`. Returns false if the document
/// is not an object. Precondition: `json` is valid JSON (e.g. nlohmann::json::accept).
bool scan_top_level(std::string_view json, std::vector<Member>& out);

/// Byte-walking helpers over valid JSON, bounded by the input's size even on malformed
/// input. skip_ws: first non-whitespace offset at or after i. skip_value: i at a value's
/// first byte, returns one past its last byte (strings, nested containers, literals).
std::size_t skip_ws(std::string_view json, std::size_t i);
std::size_t skip_value(std::string_view json, std::size_t i);

/// Offset of the closing '}' of the top-level object (valid JSON object assumed).
std::size_t top_level_close(std::string_view json);

}  // namespace switchyard::api
