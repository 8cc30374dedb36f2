#pragma once
// Provider dialects at the edges. Inside, the gateway speaks OpenAI chat completions; an
// adapter translates one request on its way up and one answer on its way down. Every
// function here is pure (bytes in, bytes out, no I/O, no clock, no globals), so each is
// tested against fixtures written from the providers' public API references.
//
// Shared vocabulary for the per-provider headers (anthropic.hpp, gemini.hpp,
// messages_front.hpp). Heavy headers (nlohmann/json) stay in the .cpp files.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "switchyard/api/errors.hpp"
#include "switchyard/usage/tokens.hpp"

namespace switchyard::adapters {

/// Token counts (usage/tokens.hpp) and the refusal of a request the gateway will not send
/// (api/errors.hpp), named here too because every adapter speaks of them.
using api::ClientError;
using usage::Usage;

/// What goes upstream for one attempt. `path` is appended to the provider's base_url path
/// and may carry a query ("/models/gemini-2.0-flash:streamGenerateContent?alt=sse").
/// `headers` are the dialect's own (anthropic-version, …); authentication is added by
/// the caller from the provider's config.
struct Encoded {
  std::string path;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

/// What an answer (response or stream) is decoded against.
struct DecodeContext {
  std::string_view model;    ///< "model" of the OpenAI answer (the upstream model name)
  std::string_view id;       ///< "id" to use when the provider gives none ("chatcmpl-…")
  std::int64_t created = 0;  ///< "created" (Unix seconds) to use when the provider gives none
};

/// A provider error (non-2xx status and body) in OpenAI's shape, plus what the gateway's
/// failover logic needs to know about it.
struct MappedError {
  int status = 500;         ///< status for the client (usually the provider's own)
  std::string openai_body;  ///< {"error":{"message","type","param","code"}}
  std::string message;      ///< the provider's message, for logs and final errors
  std::string code;  ///< OpenAI-style code ("context_length_exceeded", "rate_limit_exceeded", …)
  bool context_length = false;  ///< the prompt did not fit: only a larger window may help
};

/// Usage in OpenAI's shape: {"prompt_tokens":…,"completion_tokens":…,"total_tokens":…,
/// "prompt_tokens_details":{"cached_tokens":…}} (details only when cached > 0). Unknown
/// counts are written as 0.
std::string openai_usage_json(const Usage& u);

}  // namespace switchyard::adapters
