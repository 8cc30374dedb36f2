#pragma once
// Upstream adapter for Anthropic's Messages API (POST {base_url}/messages,
// https://docs.anthropic.com/en/api/messages): OpenAI chat request → Messages request,
// Messages response / event stream → OpenAI chat.completion / chat.completion.chunk, errors
// and usage. Pure functions; see adapter.hpp.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "switchyard/adapters/adapter.hpp"

namespace switchyard::adapters::anthropic {

/// Default for `max_tokens`, which Anthropic requires and OpenAI does not.
inline constexpr std::int64_t kDefaultMaxTokens = 4096;
/// The `anthropic-version` header sent with every request.
inline constexpr std::string_view kVersion = "2023-06-01";

/// Top-level OpenAI request fields encode_request drops because Anthropic cannot express
/// them and dropping them does not change the answer's meaning (the gateway logs them at
/// debug level).
inline constexpr std::string_view kDroppedFields[] = {
    "logprobs", "top_logprobs", "presence_penalty", "frequency_penalty",
    "seed",     "logit_bias",   "service_tier",     "store",
    "metadata", "prediction",   "reasoning_effort"};

/// OpenAI chat-completions request body → Messages request. `model` replaces the client's
/// model; `stream` is the client's. path = "/messages", headers = {anthropic-version}.
/// System/developer messages are hoisted into `system`, consecutive same-role messages
/// merged, tools/tool_choice/tool calls/tool results/images (data: URLs → base64 source,
/// http(s) URLs → url source) translated, max_tokens defaulted, stop → stop_sequences.
/// Fields Anthropic cannot express are dropped when harmless (logprobs, presence_penalty,
/// seed, …) or refused with a ClientError when dropping would change the answer (n > 1,
/// response_format json_schema, audio, …) — the message names the field.
bool encode_request(std::string_view openai_body, std::string_view model, Encoded& out,
                    ClientError& err);

/// A 2xx Messages response body → OpenAI chat.completion JSON. false (and `why`) when the
/// body is not a Messages response.
bool decode_response(std::string_view body, const DecodeContext& ctx, std::string& openai_json,
                     Usage& usage, std::string& why);

/// Transcodes the Messages event stream (message_start, content_block_start/delta/stop,
/// message_delta, message_stop, ping, error) into OpenAI chunk payloads.
class StreamTranscoder {
 public:
  explicit StreamTranscoder(const DecodeContext& ctx);
  ~StreamTranscoder();
  StreamTranscoder(StreamTranscoder&&) noexcept;
  StreamTranscoder& operator=(StreamTranscoder&&) noexcept;

  /// One upstream SSE event (`event` may be empty; Anthropic repeats the type in data).
  /// Appends 0..n payloads to `out`, each the text after "data: ": a chat.completion.chunk
  /// JSON, an {"error":{…}} object for an `error` event, or the literal "[DONE]" after
  /// message_stop (preceded by a usage-only chunk {"choices":[],"usage":{…}} when usage is
  /// known). A payload that is not JSON is ignored (returns false).
  bool on_event(std::string_view event, std::string_view data, std::vector<std::string>& out);
  /// The upstream body ended; appends nothing for Anthropic (message_stop ends a stream)
  /// but exists for symmetry. Returns complete().
  bool on_end(std::vector<std::string>& out);
  /// message_stop was seen.
  bool complete() const;
  const Usage& usage() const;

 private:
  struct State;
  std::unique_ptr<State> s_;
};

/// A non-2xx Messages response → OpenAI-shaped error (529 overloaded stays 529; "prompt is
/// too long" → code context_length_exceeded).
MappedError map_error(int status, std::string_view body);

}  // namespace switchyard::adapters::anthropic
