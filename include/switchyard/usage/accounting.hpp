#pragma once
// Accounting: what one attempt's end and one delivered answer turn into — the worker's
// live stats (which steer the router), its metric cells, the request's access-log fields
// and one usage record for the ledger. One per worker, used on its thread only; no Asio.

#include <chrono>
#include <cstddef>
#include <optional>
#include <string_view>

#include "switchyard/api/errors.hpp"
#include "switchyard/router/health.hpp"
#include "switchyard/router/live_stats.hpp"
#include "switchyard/telemetry/access_log.hpp"
#include "switchyard/telemetry/metrics.hpp"
#include "switchyard/usage/usage.hpp"

namespace switchyard::usage {

/// How one admitted attempt ended, as far as the stats and metrics care.
struct AttemptReport {
  std::size_t model = 0, deployment = 0;
  double seconds = 0;  ///< from its start to now
  bool failed = false;
  api::Origin origin = api::Origin::upstream;  ///< whose fault a failure was
  api::Errc err = api::Errc::ok;
  int status = 0;
  double ttfb_ms = -1, ttft_ms = -1, tokens_per_s = -1;  ///< < 0: not measured
  std::optional<long> retry_after_s;                     ///< the provider asked us to wait
  router::Headroom headroom;                             ///< its rate-limit headers
};

/// An answer that reached the client (whole, broken or cut short).
struct AnswerReport {
  const config::Deployment* deployment = nullptr;
  std::size_t model = 0, deployment_index = 0;
  std::string_view request_id, trace_id, endpoint, model_name;
  bool stream = false;
  int attempt = 1;
  bool client_cut = false;
  bool incomplete = false;
  Usage usage;                       ///< as the provider reported it (-1: not)
  std::size_t answer_bytes = 0;      ///< for an estimate when it reported none
  std::int64_t prompt_estimate = 0;  ///< the request's, for the same
};

/// The request's end, for the metrics that are per request rather than per attempt.
struct CallReport {
  std::size_t model = 0;
  bool answered = false;     ///< a whole answer went out (2xx, no error event)
  bool failed_over = false;  ///< some attempt failed and another was tried
  bool hedged = false;
  telemetry::HedgeOutcome hedge = telemetry::HedgeOutcome::none_won;
  int rescues = 0;
  bool rescued = false;
};

/// The metrics' reason for a failed attempt (none for failures that are not the
/// upstream's or the pool's, such as the client leaving).
std::optional<telemetry::ErrorReason> error_reason(api::Errc e, int status);

class Accounting {
 public:
  using Clock = std::chrono::steady_clock;

  /// `metrics` / `layout` null: telemetry.metrics is off.
  Accounting(router::LocalStats& stats, telemetry::WorkerMetrics* metrics,
             const telemetry::Layout* layout, Ledger& ledger)
      : stats_(stats), metrics_(metrics), layout_(layout), ledger_(ledger) {}

  /// The metrics slot of a model's deployment; -1 with metrics off.
  int slot(std::size_t model, std::size_t deployment) const {
    return layout_ ? layout_->slot(model, deployment) : -1;
  }

  void attempt_finished(const AttemptReport& r, Clock::time_point now);
  /// An admitted attempt ended without saying anything about its deployment (it lost a
  /// race, or the client left).
  void attempt_abandoned(std::size_t model, std::size_t deployment, double seconds,
                         Clock::time_point now);
  /// A hedge's loser, censored when it lost, so its slowness still counts toward the p95.
  void ttft_censored(std::size_t model, std::size_t deployment, double ms) {
    stats_.ttft_sample(model, deployment, ms);
  }
  void retry(std::size_t model, std::size_t deployment) {
    if (metrics_) metrics_->retry(slot(model, deployment));
  }
  /// One usage record (estimated where the provider reported nothing), its metrics, and
  /// the access-log fields (summed over a rescued stream's answers).
  void answer(const AnswerReport& r, telemetry::RequestLog& log);
  void call_finished(const CallReport& r);
  /// Hands this worker's usage records not yet handed over to the ledger (at each
  /// maintenance tick, before an admin read, and when the worker stops).
  void submit_usage() { ledger_.submit(batch_); }

 private:
  router::LocalStats& stats_;
  telemetry::WorkerMetrics* metrics_;
  const telemetry::Layout* layout_;
  Ledger& ledger_;
  Ledger::Batch batch_;  // this worker's records, handed over in batches (no lock per record)
};

}  // namespace switchyard::usage
