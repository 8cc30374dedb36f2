#pragma once
// The Anthropic-dialect front end: POST /v1/messages for clients written against the
// Anthropic SDK, served by any provider. The request is translated to OpenAI chat
// completions (the gateway's lingua franca) and the answer back into Anthropic's shapes:
// the Message object, the event stream (message_start, content_block_start/delta/stop,
// message_delta, message_stop, ping) and errors ({"type":"error","error":{…}}).
// Pure functions; see adapter.hpp. (When the chosen deployment is itself Anthropic, the
// gateway passes the bytes through instead and none of this runs.)

#include <memory>
#include <string>
#include <string_view>

#include "switchyard/adapters/adapter.hpp"

namespace switchyard::adapters::messages_front {

/// Anthropic Messages request → OpenAI chat request (model kept as the client wrote it).
/// system (string or text blocks) → a system message; content blocks text/image/tool_use/
/// tool_result → OpenAI parts, assistant tool_calls and tool messages; tools (input_schema
/// → parameters), tool_choice (auto/any/tool/none), stop_sequences → stop, max_tokens,
/// temperature, top_p, metadata.user_id → user, stream. top_k and thinking are dropped.
/// Refused (ClientError, Anthropic's 400 invalid_request_error) when required fields are
/// missing or malformed (model, max_tokens, messages).
bool to_openai_request(std::string_view anthropic_body, std::string& openai_body, ClientError& err);

/// OpenAI chat.completion → Anthropic Message {"id":"msg_…","type":"message","role":
/// "assistant","model","content":[text / tool_use blocks],"stop_reason","stop_sequence",
/// "usage":{"input_tokens","output_tokens","cache_read_input_tokens"?}}. finish_reason stop →
/// end_turn, length → max_tokens, tool_calls → tool_use, content_filter → refusal.
bool to_anthropic_response(std::string_view openai_body, std::string& anthropic_json,
                           std::string& why);

/// OpenAI chunk payloads → Anthropic SSE events (each appended as "event: X\ndata: {…}\n\n").
class EventWriter {
 public:
  /// `model` and `id` appear in message_start.
  EventWriter(std::string_view model, std::string_view id);
  ~EventWriter();
  EventWriter(EventWriter&&) noexcept;
  EventWriter& operator=(EventWriter&&) noexcept;

  /// One chat.completion.chunk payload (usage-only chunks included). Emits message_start
  /// before anything else, opens/closes text and tool_use content blocks as the deltas
  /// change, and holds back message_delta until the usage is known or the stream ends.
  void on_chunk(std::string_view data, std::string& out);
  /// "[DONE]": closes the open block, emits message_delta (stop_reason, usage) and
  /// message_stop.
  void on_done(std::string& out);
  /// A mid-stream failure: emits an `error` event ({"type":"error","error":{"type","message"}}).
  void on_error(std::string_view type, std::string_view message, std::string& out);

 private:
  struct State;
  std::unique_ptr<State> s_;
};

/// An OpenAI-shaped error body (and its status) → Anthropic's {"type":"error","error":
/// {"type","message"}} with Anthropic's type for the status (400 invalid_request_error,
/// 401 authentication_error, 403 permission_error, 404 not_found_error, 413
/// request_too_large, 429 rate_limit_error, 500 api_error, 529 overloaded_error; other 5xx
/// api_error).
std::string error_body(int status, std::string_view openai_error_body);

}  // namespace switchyard::adapters::messages_front
