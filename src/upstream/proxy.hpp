#pragma once
// POST /v1/chat/completions: plan the attempts, forward to OpenAI-compatible upstreams
// over the worker's pools, relay the answer (whole or streamed), fail over before the
// stream's commit point, end cleanly after it.

#include "http/session.hpp"

namespace switchyard::upstream {

/// Runs on the session's worker thread; writes the whole response to the session.
net::awaitable<void> handle_chat(http::Session& session, http::Request& req);

}  // namespace switchyard::upstream
