#pragma once
// The few facts the gateway needs from an OpenAI chat-completions request body, read
// without building a DOM, and the upstream body derived from it by editing only
// `model` and `stream_options.include_usage`.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "switchyard/api/errors.hpp"

namespace switchyard::api {

struct ChatRequest {
  std::string_view body;  ///< the client's bytes (owned by the caller)
  std::string model;      ///< decoded "model"
  bool stream = false;
  bool client_include_usage = false;        ///< client asked stream_options.include_usage
  std::int64_t max_tokens = 0;              ///< max_completion_tokens or max_tokens, 0 if absent
  std::int64_t prompt_tokens_estimate = 0;  ///< tokenizer-free estimate (bytes / 4)
  std::size_t n = 1;
  bool has_tools = false;
  // Offsets into body (npos when absent).
  std::size_t model_begin = std::string_view::npos, model_end = std::string_view::npos;
  std::size_t so_begin = std::string_view::npos, so_end = std::string_view::npos;
};

struct RequestError {
  Errc code = Errc::ok;
  std::string message;
  std::string param;
};

/// Validates the body as an OpenAI chat request. On failure returns false and fills err
/// (status 400 for everything it detects).
bool parse_chat_request(std::string_view body, ChatRequest& req, RequestError& err);

/// Validates the body as an OpenAI embeddings request: {"model", "input": string |
/// [string] | [int] | [[int]], …}. Only what routing needs is read (model, a prompt-size
/// estimate); the body goes upstream as written. On failure returns false and fills err.
bool parse_embeddings_request(std::string_view body, ChatRequest& req, ClientError& err);

/// The body to send upstream: the client's bytes with "model" replaced by
/// `upstream_model` and, for streams, stream_options.include_usage forced to true so
/// usage is never lost (unless `request_usage` is false: for servers that reject the
/// field). Everything else is byte-for-byte the client's.
std::string upstream_body(const ChatRequest& req, std::string_view upstream_model,
                          bool request_usage = true);

}  // namespace switchyard::api
