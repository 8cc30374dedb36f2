#pragma once
// POST /v1/chat/completions: plan the attempts, forward to OpenAI-compatible upstreams
// over the worker's pools, relay the answer (whole or streamed), fail over before the
// stream's commit point, end cleanly after it.

#include "http/session.hpp"

namespace switchyard::upstream {

/// Runs on the session's worker thread; writes the whole response to the session.
net::awaitable<void> handle_chat(http::Session& session, http::Request& req);

/// POST /v1/messages: Anthropic's dialect, served by any deployment (translated), or passed
/// through as bytes when the deployment is itself Anthropic.
net::awaitable<void> handle_messages(http::Session& session, http::Request& req);

/// POST /v1/embeddings: OpenAI's dialect, to openai, azure and gemini deployments (in the
/// model's listed order, with failover).
net::awaitable<void> handle_embeddings(http::Session& session, http::Request& req);

/// POST /admin/route/explain: the routing decision (task, tier, full ranking with score
/// parts and live stats, exclusions) for a chat request body, without sending anything
/// upstream. The caller has checked the admin key.
net::awaitable<void> handle_route_explain(http::Session& session, http::Request& req);

/// GET /admin/usage[?limit=N]: the process's usage records (newest last, default 100, at
/// most 1000) and totals per deployment since start. The caller has checked the admin key.
net::awaitable<void> handle_usage(http::Session& session, http::Request& req);

}  // namespace switchyard::upstream
