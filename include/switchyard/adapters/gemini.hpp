#pragma once
// Upstream adapter for Google's Gemini API (generateContent / streamGenerateContent?alt=sse /
// embedContent / batchEmbedContents under {base_url}/models/{model}:…,
// https://ai.google.dev/api): OpenAI chat request → GenerateContentRequest, responses and
// streams → OpenAI chat.completion / chunks, safety blocks, errors, usageMetadata, and
// embeddings. Pure functions; see adapter.hpp.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "switchyard/adapters/adapter.hpp"

namespace switchyard::adapters::gemini {

/// Top-level OpenAI request fields encode_request drops (logged at debug level by the
/// gateway): Gemini cannot express them and dropping them does not change the answer.
inline constexpr std::string_view kDroppedFields[] = {
    "logprobs",     "top_logprobs",        "logit_bias", "user",       "store",
    "service_tier", "parallel_tool_calls", "metadata",   "prediction", "reasoning_effort"};

/// OpenAI chat request → GenerateContentRequest. path =
/// "/models/{model}:generateContent", or ":streamGenerateContent?alt=sse" when the OpenAI
/// request has "stream": true. System/developer messages → systemInstruction; roles
/// user/assistant → user/model; consecutive same-role messages merged into one content's
/// parts; images (data: URLs → inlineData; other URLs → fileData with the URL); tools →
/// tools[{functionDeclarations}], tool_choice → toolConfig.functionCallingConfig; assistant
/// tool_calls → functionCall parts; tool messages → functionResponse parts (name found from
/// the matching tool_call id); temperature/top_p/max_tokens/stop/seed/presence/frequency
/// penalties/response_format (json_object → responseMimeType application/json; json_schema
/// → responseSchema) → generationConfig. Refused with a ClientError where dropping would
/// change the answer (n > 1 is candidateCount: allowed; audio input: refused).
bool encode_request(std::string_view openai_body, std::string_view model, Encoded& out,
                    ClientError& err);

/// A 2xx GenerateContentResponse → OpenAI chat.completion JSON. A prompt blocked by safety
/// (promptFeedback.blockReason, no candidates) returns false with `blocked` filled (400,
/// code "content_filter"); a candidate stopped for SAFETY/RECITATION/… maps to
/// finish_reason "content_filter". false with `why` when the body is not a response.
bool decode_response(std::string_view body, const DecodeContext& ctx, std::string& openai_json,
                     Usage& usage, ClientError& blocked, std::string& why);

/// Transcodes streamGenerateContent?alt=sse events (each data: one GenerateContentResponse)
/// into OpenAI chunk payloads; the first chunk carries delta.role "assistant".
class StreamTranscoder {
 public:
  explicit StreamTranscoder(const DecodeContext& ctx);
  ~StreamTranscoder();
  StreamTranscoder(StreamTranscoder&&) noexcept;
  StreamTranscoder& operator=(StreamTranscoder&&) noexcept;

  /// One upstream SSE event. Appends 0..n payloads to `out` (chunk JSON, or an
  /// {"error":{…}} object for an error object in the stream or a blocked prompt). false if
  /// the data is not JSON.
  bool on_event(std::string_view event, std::string_view data, std::vector<std::string>& out);
  /// The upstream body ended. If a finishReason was seen: appends a usage-only chunk
  /// {"choices":[],"usage":{…}} (when usage is known) and then "[DONE]". Returns complete().
  bool on_end(std::vector<std::string>& out);
  bool complete() const;  ///< a finishReason was seen
  const Usage& usage() const;

 private:
  struct State;
  std::unique_ptr<State> s_;
};

/// A non-2xx Gemini response ({"error":{"code","message","status"}}) → OpenAI-shaped error.
/// RESOURCE_EXHAUSTED → 429 rate_limit_exceeded; token-count overflow → context_length.
MappedError map_error(int status, std::string_view body);

/// OpenAI embeddings request ({"model","input": string | [strings] | tokens,
/// "dimensions"?}) → embedContent (one string) or batchEmbedContents (a list). Token-array
/// inputs are refused (Gemini embeds text only).
bool encode_embeddings(std::string_view openai_body, std::string_view model, Encoded& out,
                       ClientError& err);
/// embedContent / batchEmbedContents response → OpenAI {"object":"list","data":[{"object":
/// "embedding","index","embedding":[…]}],"model","usage":{"prompt_tokens","total_tokens"}}.
/// Gemini reports no token counts for embeddings: usage is left unknown (-1) and the
/// caller estimates it.
bool decode_embeddings(std::string_view body, std::string_view model, std::string& openai_json,
                       Usage& usage, std::string& why);

}  // namespace switchyard::adapters::gemini
