#pragma once
// What one call asks of its upstreams, fixed for the call's life: the request in the
// lingua franca, the client's dialect and its own bytes, the headers a raw hop passes on,
// and the trace. Built by the endpoint (src/api/chat.cpp); attempts read it and never see
// the client's HTTP request. No Asio.

#include <string>
#include <string_view>

#include "switchyard/api/chat_request.hpp"
#include "switchyard/config/config.hpp"
#include "switchyard/telemetry/trace.hpp"

namespace switchyard::upstream {

/// The client's dialect.
enum class Front {
  openai,     ///< chat completions (or embeddings)
  anthropic,  ///< Anthropic Messages (/v1/messages), translated into `chat`
};

struct CallRequest {
  const config::Config* cfg = nullptr;
  /// The lingua franca: the client's OpenAI body, or the translation of an Anthropic one
  /// (chat.body points into memory the endpoint keeps for the whole call).
  api::ChatRequest chat;
  Front front = Front::openai;
  bool embeddings = false;        ///< POST /v1/embeddings
  std::string_view client_body;   ///< the client's own bytes, in its dialect
  std::string anthropic_version;  ///< the client's anthropic-version header (empty: none)
  std::string anthropic_beta;     ///< the client's anthropic-beta header (empty: none)
  bool rescue_off = false;        ///< x-switchyard-rescue: off
  std::string request_id;
  std::string stream_id;  ///< "chatcmpl-<request id>": id of transcoded chunks
  telemetry::TraceParent trace;
  std::string tracestate;                          ///< the client's, passed on unchanged
  std::string_view endpoint = "chat.completions";  ///< for the usage record
};

}  // namespace switchyard::upstream
