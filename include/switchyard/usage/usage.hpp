#pragma once
// Usage you can bill by: one record per upstream answer, with where its token counts came
// from (the provider's own report, or the gateway's estimate) and its cost from the
// deployment's prices. The ledger, the metrics and the access log all read this one
// struct; nothing else computes cost.

#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include "switchyard/adapters/adapter.hpp"
#include "switchyard/config/config.hpp"

namespace switchyard::usage {

enum class Provenance {
  provider,   ///< the provider reported the counts (OpenAI usage, Anthropic message_start/
              ///< message_delta, Gemini usageMetadata)
  estimated,  ///< the gateway estimated them (see estimate_tokens)
};

std::string_view name_of(Provenance p);

struct Record {
  std::int64_t unix_ms = 0;
  std::string request_id;
  std::string trace_id;    ///< W3C trace id (the client's traceparent, or one started)
  std::string endpoint;    ///< "chat.completions", "messages", "embeddings"
  std::string model;       ///< what the client asked for
  std::string provider;    ///< provider name
  std::string deployment;  ///< "provider/model"
  bool stream = false;
  int attempt = 1;         ///< which upstream attempt of the request this answer came from
  adapters::Usage tokens;  ///< counts (never -1 here: unknown counts are estimated)
  Provenance provenance = Provenance::provider;
  bool client_cut = false;  ///< the client left before the answer ended; counts cover what
                            ///< was relayed (estimated)
  bool incomplete = false;  ///< the upstream answer broke before it finished
  double cost_usd = 0;
};

/// Tokenizer-free estimate used when a provider reports no usage: one token per 4 bytes of
/// UTF-8 text, rounded up (OpenAI's rule of thumb for English; within ~20 % for code and
/// most European languages, low for CJK).
std::int64_t estimate_tokens(std::size_t text_bytes);

/// USD for `u` at `price` (USD per million tokens): uncached input at `input`, cache reads
/// at `cached_input`, cache writes at `cache_write` (each defaulting to `input`), output
/// at `output`. Unknown (-1) counts cost nothing.
double cost_usd(const adapters::Usage& u, const config::Price& price);

/// The most recent records (a bounded ring) and running totals per deployment, shared by
/// all workers. One short lock per answer; readers copy.
class Ledger {
 public:
  static constexpr std::size_t kRecent = 1000;

  struct Totals {
    std::string deployment;
    std::int64_t answers = 0;
    std::int64_t input_tokens = 0, output_tokens = 0, cached_input_tokens = 0;
    std::int64_t estimated_answers = 0;
    double cost_usd = 0;
  };

  void add(Record r);
  /// Newest last; at most `limit`.
  std::vector<Record> recent(std::size_t limit) const;
  std::vector<Totals> totals() const;

 private:
  mutable std::mutex mu_;
  std::deque<Record> recent_;
  std::vector<Totals> totals_;
};

}  // namespace switchyard::usage
