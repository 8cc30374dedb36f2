#pragma once
// Chat Completions semantics of the mock: what it reads from a request body and the exact
// JSON / SSE bytes it answers with. Pure functions, no I/O, callable from any thread.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace switchyard::mock {

inline constexpr std::string_view kModelsJson =
    R"({"object":"list","data":[{"id":"mock-model","object":"model","created":0,"owned_by":"switchyard-mock"}]})";
inline constexpr std::string_view kToolArguments = R"({"city":"Paris"})";
inline constexpr std::string_view kToolCallId = "call_mock_1";
inline constexpr std::string_view kInvalidJsonBody = R"({"id": broken)";
inline constexpr std::string_view kInvalidJsonEvent = "{broken json";
inline constexpr std::string_view kStreamErrorEvent =
    R"({"error":{"message":"mock stream error","type":"server_error","param":null,"code":null}})";
/// Stream events that carry a tool call: the call head, then the arguments in 3 parts.
inline constexpr std::size_t kToolCallEvents = 4;
inline constexpr std::uint64_t kToolCallCompletionTokens = 10;

/// One text to embed (embeddings requests).
struct EmbedInput {
  std::string text;                   ///< token arrays are rendered as "t1 t2 …"
  std::uint64_t tokens = 0;           ///< its prompt tokens
  std::optional<std::uint32_t> dims;  ///< Gemini: per-request outputDimensionality
};

/// What the mock needs from a request body: a Chat Completions request, or (see
/// dialects.hpp) a Messages, GenerateContent or embeddings request.
struct ChatRequest {
  std::string model = "mock-model";  ///< the part of "model" before the first '?'
  std::string directives;            ///< the part of "model" after the first '?'
  bool stream = false;               ///< "stream": true
  bool include_usage = false;        ///< "stream_options": {"include_usage": true}
  bool has_stream_options = false;   ///< the request carries a "stream_options" field
  bool wants_tool = false;  ///< has tools, last message is not a tool result, tool_choice != none
  std::string tool_name = "mock_tool";  ///< tool_choice's function, else the first tool's
  /// Assistant prefill (continuation): the text of a final assistant message (OpenAI /
  /// Azure / Anthropic role "assistant", Gemini role "model"; text only) that the answer
  /// continues. Tool decisions look at the message before it.
  std::optional<std::string> prefill;
  /// Anthropic max_tokens / Gemini maxOutputTokens: an upper bound on content tokens.
  std::optional<std::uint32_t> max_tokens;
  std::vector<EmbedInput> inputs;           ///< embeddings: the texts, in order
  std::optional<std::uint32_t> dimensions;  ///< embeddings: OpenAI dimensions / Gemini's
  bool base64 = false;                      ///< OpenAI embeddings: encoding_format base64
  /// Why the body is not a valid request (empty when valid), as an OpenAI error.
  std::string invalid_message;
  std::string invalid_param;
  std::string invalid_code;

  bool valid() const { return invalid_message.empty(); }
};

/// Never throws on bad input: a body that is not a JSON object with a non-empty
/// "messages" array comes back with invalid_message set.
ChatRequest inspect_chat_request(std::string_view body);

/// Where an answer of `tokens` tokens continues after `prefill`: {token, bytes of it the
/// prefill holds}; {tokens, 0} when the prefill is the whole text. Nothing when the
/// prefill is not a prefix of the text.
struct ContinueAt {
  std::uint32_t token = 0;
  std::uint32_t offset = 0;
};
std::optional<ContinueAt> continue_after(std::uint32_t tokens, std::string_view prefill);

/// The message of a 400 answered to a prefill under the reject_prefill directive.
inline constexpr std::string_view kPrefillNotSupported =
    "This model does not support assistant message prefill. The conversation must end with "
    "a user message.";

/// The identity and size of one answer; everything its bytes depend on.
struct Answer {
  std::uint64_t seq = 0;     ///< gives chatcmpl-mock-<seq>
  std::int64_t created = 0;  ///< unix seconds
  std::string_view model;
  bool tool_call = false;
  std::string_view tool_name;
  std::uint32_t tokens = 0;  ///< tokens of the full answer text
  /// A continuation (assistant prefill) starts at token `first_token`, of which the
  /// prefill already holds the first `first_offset` bytes; the answer's pieces are the
  /// rest of that token (possibly partial) and the tokens after it, up to `tokens`.
  std::uint32_t first_token = 0;
  std::uint32_t first_offset = 0;
  std::uint64_t prompt_tokens = 0;
  bool include_usage = false;       ///< stream only
  std::uint64_t cached_tokens = 0;  ///< prompt tokens read from a cache (on top of prompt_tokens)
  std::uint64_t cache_write_tokens = 0;  ///< Anthropic: cache_creation_input_tokens
  bool truncated = false;                ///< max_tokens cut the answer short
  std::string_view finish_reason;        ///< replaces the dialect's stop reason when not empty
  bool blocked = false;                  ///< Gemini: the prompt was blocked

  /// Text pieces this answer sends (one stream event each): tokens - first_token.
  std::size_t pieces() const { return tokens > first_token ? tokens - first_token : 0; }
  std::uint64_t completion_tokens() const {
    return tool_call ? kToolCallCompletionTokens : pieces();
  }
};

/// The non-stream `chat.completion` object.
void append_completion(std::string& out, const Answer& a);

/// The `chat.completion.chunk` objects of one stream (JSON only, without SSE framing).
/// Builds the shared envelope once so each chunk is a few appends.
class ChunkWriter {
 public:
  explicit ChunkWriter(const Answer& a);

  /// Content events between the role chunk and the finish chunk: one per token, or
  /// kToolCallEvents for a tool call.
  std::size_t content_events() const;

  void role(std::string& out) const;
  void content(std::string& out, std::size_t i) const;  ///< i < content_events()
  void finish(std::string& out) const;
  void usage(std::string& out) const;

 private:
  void open(std::string& out) const;
  void close(std::string& out) const;

  const Answer& a_;
  std::string envelope_;  ///< `{"id":…,"choices":[`
};

/// {"error":{"message":…,"type":…,"param":…,"code":…}}; a missing code/param is null.
std::string error_json(std::string_view message, std::string_view type,
                       std::optional<std::string_view> code = std::nullopt,
                       std::optional<std::string_view> param = std::nullopt);

/// OpenAI's usual type and code for an HTTP error status.
struct ErrorShape {
  std::string_view type;
  std::optional<std::string_view> code;
};
ErrorShape default_error_shape(unsigned status);

/// JSON string literal (with quotes) for `s`; escapes quotes, backslashes and controls.
void append_json_string(std::string& out, std::string_view s);
void append_uint(std::string& out, std::uint64_t v);
/// Token i of an answer: "tok0", " tok1", " tok2", …
void append_token(std::string& out, std::size_t i);
/// Text piece i < a.pieces() of an answer: token first_token + i, the first one without
/// the bytes the prefill already holds.
void append_piece(std::string& out, const Answer& a, std::size_t i);
/// All the answer's pieces: its text (JSON-safe, no escaping needed).
void append_text(std::string& out, const Answer& a);
/// The tool arguments are streamed in three parts (0..2), as real providers split them.
std::string_view tool_argument_part(std::size_t part);

}  // namespace switchyard::mock
