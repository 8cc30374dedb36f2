#pragma once
// The provider dialects the mock speaks besides OpenAI Chat Completions (chat.hpp):
// Anthropic Messages, Google Gemini (generateContent, streamGenerateContent, embedContent,
// batchEmbedContents), Azure OpenAI (deployments + api-version) and OpenAI embeddings.
// Which route a URL is, what the mock reads from each request body, and the exact JSON /
// SSE event bytes of each answer and error. Pure functions, no I/O.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "chat.hpp"

namespace switchyard::mock {

enum class Dialect { openai, azure, anthropic, gemini };
enum class Op { chat, embed, embed_batch };

inline bool openai_shaped(Dialect d) { return d == Dialect::openai || d == Dialect::azure; }

/// A model request's endpoint, from its method-independent target.
struct Route {
  Dialect dialect = Dialect::openai;
  Op op = Op::chat;
  /// Model named by the URL (Gemini's {model}, Azure's {deployment}), percent-decoded, up
  /// to the first '?'; empty when the body names the model.
  std::string path_model;
  std::string path_directives;  ///< what followed '?' in that decoded name
  bool url_stream = false;      ///< Gemini :streamGenerateContent
  bool sse = false;             ///< …with alt=sse (else a JSON array, as Google does)
  unsigned reject_status = 0;   ///< Azure: answer this status with reject_body at once
  std::string_view reject_body;
};

/// The route of a POST to `target` (path and query), or nothing for an unknown path:
///   …/openai/deployments/{d}/chat/completions, …/openai/deployments/{d}/embeddings (Azure)
///   …/chat/completions, …/embeddings (OpenAI), …/messages (Anthropic),
///   …/models/{model}:generateContent|streamGenerateContent|embedContent|batchEmbedContents
std::optional<Route> route_for(std::string_view target);

/// Reads the body as the route's dialect. path_model, when set, replaces the body's model.
/// Never throws; an invalid body comes back with invalid_message set.
ChatRequest inspect_request(const Route& route, std::string_view body);

/// Anthropic Messages / Gemini GenerateContentResponse, non-stream.
void append_message(std::string& out, const Answer& a);
void append_generate_response(std::string& out, const Answer& a);
/// Gemini streamGenerateContent without alt=sse: the stream's events as one JSON array.
void append_generate_array(std::string& out, const Answer& a);

/// {"object":"list","data":[{"object":"embedding","index","embedding"}],"model","usage"}.
void append_openai_embeddings(std::string& out, std::string_view model, const ChatRequest& r);
/// {"embedding":{"values":[…]}} or, for batchEmbedContents, {"embeddings":[…]}.
void append_gemini_embeddings(std::string& out, const ChatRequest& r, bool batch);
/// A deterministic unit vector for `text` (FNV-1a seeded splitmix64).
std::vector<float> embedding_vector(std::string_view text, std::uint32_t dims);
inline constexpr std::uint32_t kDefaultEmbeddingDims = 8;
inline constexpr std::uint32_t kMaxEmbeddingDims = 65536;

/// The events of one stream in a dialect: `head` events go out before the first content
/// event (OpenAI's role chunk; Anthropic's message_start, ping and text
/// content_block_start), `content` events carry tokens or the tool call (the unit of the
/// "after N" directives), `tail` events end the answer. The last `terminator_events()`
/// of the tail are what `no_done` leaves out; OpenAI adds `data: [DONE]` instead.
enum class Part { head, content, tail };

class EventWriter {
 public:
  virtual ~EventWriter() = default;
  virtual std::size_t count(Part p) const = 0;
  /// The SSE `event:` name (empty: a bare `data:` event).
  virtual std::string_view name(Part p, std::size_t i) const = 0;
  /// Appends the data of event i of part p (JSON, without SSE framing).
  virtual void write(std::string& out, Part p, std::size_t i) const = 0;
  /// The mid-stream error of `error_event_after`; `type` overrides the dialect's type.
  virtual std::string_view error_name() const { return {}; }
  virtual void error(std::string& out, std::optional<std::string_view> type) const = 0;
  virtual bool done_marker() const { return false; }
  virtual std::size_t terminator_events() const { return 0; }
};

/// `a` must outlive the writer.
std::unique_ptr<EventWriter> make_event_writer(Dialect dialect, const Answer& a);

/// Anthropic: {"type":"error","error":{"type","message"},"request_id"}.
std::string anthropic_error_json(std::string_view type, std::string_view message,
                                 std::uint64_t seq);
/// Anthropic's error type for an HTTP status (529 overloaded_error, …).
std::string_view anthropic_error_type(unsigned status);
/// Google: {"error":{"code","message","status"}}.
std::string gemini_error_json(unsigned code, std::string_view message, std::string_view status);
/// Google's canonical status name for an HTTP status (429 RESOURCE_EXHAUSTED, …).
std::string_view google_status(unsigned code);
/// Azure's 400 for a prompt its content filter blocked.
std::string_view azure_content_filter_json();

}  // namespace switchyard::mock
