#pragma once
// Stream rescue: the request that asks a deployment to continue an answer another one
// started — the original OpenAI chat request plus one final assistant message holding
// exactly the text already sent (an assistant prefill). The dialect adapters then carry
// that message their own way (Anthropic: the final assistant turn the Messages API
// continues; Gemini: a trailing "model" turn). Pure; see adapter.hpp.

#include <string>
#include <string_view>

namespace switchyard::adapters::continuation {

enum class Style {
  plain,   ///< a trailing {"role":"assistant","content":…} (vLLM, llama.cpp, most servers)
  prefix,  ///< the same with "prefix": true (DeepSeek, Mistral document this flag)
};

/// Which style a server documents, by its host name.
Style style_for_host(std::string_view host);

struct Prefill {
  std::string body;     ///< the OpenAI request with the assistant message appended
  std::string skip_ws;  ///< whitespace cut from the end of the prefill, to drop from the reply
};

/// `openai_body` (an OpenAI chat request) continued after `text`. `trim_trailing_ws`: cut
/// trailing whitespace from the prefill (Anthropic refuses a final assistant turn that ends
/// in whitespace); the cut part is returned in skip_ws so the caller drops it from the
/// start of the reply instead of showing it twice. Empty body: not a chat request.
Prefill build(std::string_view openai_body, std::string_view text, Style style,
              bool trim_trailing_ws);

}  // namespace switchyard::adapters::continuation
