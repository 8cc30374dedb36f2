#pragma once
// The OpenAI dialect (and Azure OpenAI's, which differs only in its path and key header):
// what the gateway reads from OpenAI bodies and chunks, and the small edits it makes to
// the client's bytes on an OpenAI→OpenAI hop. Pure, like every adapter (adapter.hpp): no
// I/O, no clock.

#include <cstddef>
#include <string>
#include <string_view>

#include "switchyard/adapters/adapter.hpp"

namespace switchyard::adapters::openai {

/// The "usage" member of a chat.completion or embeddings body (prompt_tokens includes the
/// cached ones), found without a DOM of the whole body. Unknown counts stay -1.
Usage usage_of_body(std::string_view body);

/// Bytes of answer text (content and tool calls) in a chat.completion body, for an
/// estimate when it reports no usage.
std::size_t answer_bytes(std::string_view body);

/// Facts about one chat.completion.chunk payload that the relay acts on.
struct ChunkFacts {
  bool valid = false;       ///< a JSON object
  bool content = false;     ///< carries answer content (text, tool call, refusal) or a finish
  bool finish = false;      ///< some choice has a finish_reason
  bool usage_only = false;  ///< choices empty and usage present (the include_usage chunk)
  bool error = false;       ///< an {"error":…} payload
  std::string error_message;
  std::size_t content_bytes = 0;  ///< answer text carried (for usage estimates)
  Usage usage;                    ///< when the payload carries usage
  std::string text;               ///< choice 0's delta.content (what a rescue must continue)
  bool tool_call = false;         ///< a tool call's delta: a rescue cannot continue it
  bool reasoning = false;         ///< refusal or reasoning deltas: not answer text either
  bool other_choice = false;      ///< a choice other than 0 (n > 1)
  std::string id;                 ///< the chunk's "id"
};
ChunkFacts inspect_chunk(std::string_view data);

/// `body` (a valid JSON object) with its top-level "model" value replaced by `model`; the
/// rest byte for byte. Unchanged when it has no "model".
std::string with_model(std::string_view body, std::string_view model);

/// Percent-encodes one URL path segment (a model or deployment name).
std::string path_segment(std::string_view v);

constexpr std::string_view kDefaultAzureApiVersion = "2024-10-21";
/// Azure OpenAI: {base_path}/openai/deployments/{deployment}/{op}?api-version=…
std::string azure_path(std::string_view base_path, std::string_view deployment, std::string_view op,
                       std::string_view api_version);

/// One SSE event carrying an OpenAI-shaped error (type upstream_error): how a stream that
/// cannot go on ends for an OpenAI client ("data: {…}\n\n", no [DONE]).
std::string error_event(std::string_view message, std::string_view code);

/// An OpenAI-compatible server's error body: its message and code (empty when absent) and
/// whether it says the prompt did not fit (code context_length_exceeded). `openai_body`
/// stays empty: the body is already in the client's dialect.
MappedError map_error(int status, std::string_view body);

}  // namespace switchyard::adapters::openai
