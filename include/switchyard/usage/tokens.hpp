#pragma once
// Token counts of one upstream answer: the unit the adapters decode, the ledger records and
// the cost is computed from. No dependencies, so every layer can name it.

#include <cstdint>

namespace switchyard::usage {

/// Token counts of one upstream answer. All counts are totals for the request:
/// `input_tokens` includes cached and cache-written prompt tokens, whatever the provider's
/// own convention (Anthropic reports them apart; OpenAI and Gemini include them).
struct Usage {
  std::int64_t input_tokens = -1;        ///< -1: not reported
  std::int64_t output_tokens = -1;       ///< -1: not reported (includes reasoning/thinking tokens)
  std::int64_t cached_input_tokens = 0;  ///< of input_tokens: read from the prompt cache
  std::int64_t cache_write_tokens = 0;   ///< of input_tokens: written to the prompt cache
  bool known() const noexcept { return input_tokens >= 0 || output_tokens >= 0; }
};

}  // namespace switchyard::usage
