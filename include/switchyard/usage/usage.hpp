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

#include "switchyard/config/config.hpp"
#include "switchyard/usage/tokens.hpp"

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
  int attempt = 1;  ///< which upstream attempt of the request this answer came from
  Usage tokens;     ///< counts (never -1 here: unknown counts are estimated)
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
double cost_usd(const Usage& u, const config::Price& price);

/// The most recent records (a bounded ring) and running totals per deployment, shared by
/// all workers. A worker does not lock per answer: it collects its records in its own
/// Batch and hands the batch over whole, when it is full and at the worker's periodic
/// flush, as the access log does. Readers copy, and see what has been handed over.
class Ledger {
 public:
  static constexpr std::size_t kRecent = 1000;
  /// A batch holding this many records is handed over by add() itself.
  static constexpr std::size_t kBatchRecords = 64;

  struct Totals {
    std::string deployment;
    std::int64_t answers = 0;
    std::int64_t input_tokens = 0, output_tokens = 0, cached_input_tokens = 0;
    std::int64_t estimated_answers = 0;
    double cost_usd = 0;
  };

  /// One worker's records not yet handed over, oldest first. Touched only by the thread
  /// that owns it (no lock); its capacity is kept across hand-overs.
  struct Batch {
    std::vector<Record> records;
  };

  /// Appends `r` to `batch` without a lock; hands the batch over (submit) once it holds
  /// kBatchRecords. Thread: the batch's owner.
  void add(Batch& batch, Record r);
  /// Hands over everything in `batch` under one short lock and empties it; nothing if it
  /// is empty. Thread: the batch's owner (or anyone once the owner has stopped).
  ///
  /// The durable ledger (SQLite/PostgreSQL, a later issue) sits behind this seam: a batch
  /// becomes one group commit, written off the request path, so add() stays lock-free and
  /// no request waits on a disk or a database round trip.
  void submit(Batch& batch);
  /// Newest last; at most `limit`. Records still in a batch are not seen.
  std::vector<Record> recent(std::size_t limit) const;
  std::vector<Totals> totals() const;

 private:
  void apply_locked(Record&& r);  // mu_ held

  mutable std::mutex mu_;
  std::deque<Record> recent_;
  std::vector<Totals> totals_;
};

}  // namespace switchyard::usage
