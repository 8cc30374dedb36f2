#pragma once
// One attempt's request in its deployment's dialect — the path, the body and the dialect's
// own headers (adapters), then the request head written by hand into one buffer. Pure: no
// Asio, no I/O (tests/upstream/attempt_test.cpp).

#include <string>
#include <string_view>

#include "switchyard/adapters/adapter.hpp"
#include "switchyard/config/config.hpp"
#include "upstream/request.hpp"

namespace switchyard::upstream {

/// What the attempt sends, beyond the call's request.
struct AttemptRequest {
  /// A stream rescue: the OpenAI request with the answer so far as an assistant prefill
  /// (rescue.hpp); null for a first attempt.
  const std::string* prefill_body = nullptr;
  /// Anthropic bytes to an Anthropic deployment: the client's own body, only the model
  /// replaced, its version and beta headers passed on.
  bool raw = false;
  /// Ask a stream for its usage (stream_options.include_usage); false for servers that
  /// reject the field.
  bool request_usage = true;
};

/// The request for deployment `d` of provider `prov`, or false and why it cannot be
/// expressed in that dialect (`err`: the client's to fix unless another deployment can).
bool encode_attempt(const CallRequest& rq, const config::Deployment& d,
                    const config::Provider& prov, const AttemptRequest& ar, adapters::Encoded& e,
                    api::ClientError& err);

/// The HTTP/1.1 request head: Host, the provider's key in its dialect's header, the
/// dialect's and the provider's own headers, trace context, Content-Length, keep-alive.
/// Written by hand into one buffer (see Session::send for why).
std::string request_head(const config::Provider& prov, const adapters::Encoded& enc, bool stream,
                         std::string_view traceparent, std::string_view tracestate);

}  // namespace switchyard::upstream
