#pragma once
// Prometheus metrics. Every label value comes from the configuration (model, deployment,
// provider and task names) or from the fixed lists below, never from a request, so the
// number of series is bounded by the config.
//
// The request path writes per-worker cells (plain relaxed atomics, one writer each, laid
// out at start-up; no map look-up, no lock, no allocation); a scrape merges the workers'
// cells into prometheus-cpp MetricFamily values (a Collectable in a prometheus::Registry)
// and serialises them with its TextSerializer. No prometheus or Asio header here.

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "switchyard/config/config.hpp"

namespace switchyard::telemetry {

/// The `endpoint` label.
enum class Endpoint : std::uint8_t {
  chat,        ///< chat.completions
  messages,    ///< messages (Anthropic front end)
  embeddings,  ///< embeddings
  models,      ///< GET /v1/models
  health,      ///< /healthz, /readyz
  metrics,     ///< the metrics path
  admin,       ///< /admin/*
  status,      ///< GET /status
  other,       ///< anything else (404s, malformed requests)
  kCount
};
std::string_view name_of(Endpoint e);

/// The `reason` label of switchyard_upstream_errors_total.
enum class ErrorReason : std::uint8_t {
  connect,        ///< TCP connect failed or timed out
  tls,            ///< TLS handshake or record failure
  timeout,        ///< first byte, first token, idle gap or total deadline
  status_429,     ///< the provider said 429
  status_4xx,     ///< another 4xx (408, a rejected continuation, context length)
  status_5xx,     ///< 5xx (529 included)
  reset,          ///< the connection closed or reset mid-answer
  malformed,      ///< an answer that does not parse, or an empty 200
  pool_overflow,  ///< no connection slot and the wait queue was full
  stream_error,   ///< an error event inside a stream
  kCount
};
std::string_view name_of(ErrorReason r);

/// switchyard_upstream_attempts_total{outcome}.
enum class AttemptOutcome : std::uint8_t { success, failure, cancelled, kCount };
/// switchyard_hedges_total{outcome}.
enum class HedgeOutcome : std::uint8_t { primary_won, backup_won, none_won, kCount };
/// switchyard_router_decisions_total{reason}.
enum class Decision : std::uint8_t {
  routed,        ///< ranked with at least one healthy deployment
  panic,         ///< every deployment unhealthy: all tried anyway
  no_route,      ///< nothing could take it (breakers, caps, context window): 503
  rate_limited,  ///< every candidate at its max_rpm: 429
  rejected,      ///< refused before routing (bad task or tier header, too large): 4xx
  kCount
};
/// switchyard_router_exclusions_total{reason}: why a deployment left a request's plan.
enum class Exclusion : std::uint8_t {
  quality,
  tier,
  context_window,
  max_rpm,
  breaker_open,
  retry_after,
  kCount
};
/// Maps the scorer's excluded_because text to its label; kCount when unknown.
Exclusion exclusion_of(std::string_view excluded_because);

/// Upper bounds of every latency histogram, in seconds: 1 ms to 60 s (+Inf implied).
inline constexpr std::array<double, 16> kLatencyBuckets = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60};

/// Where each configured name sits in the cell arrays. Built once from the config.
class Layout {
 public:
  explicit Layout(const config::Config& cfg);

  struct Slot {
    std::string model;       ///< "" for requests that named no configured model
    std::string deployment;  ///< "provider/model"; "" when no deployment answered
    std::string provider;    ///< "" with deployment ""
    int model_index = -1;
    int deployment_index = -1;
    int provider_index = -1;
  };

  /// Slot of deployment `d` of model `m`.
  int slot(std::size_t m, std::size_t d) const { return first_[m] + static_cast<int>(d); }
  /// Slot of model `m` with no deployment (refused, failed on every deployment).
  int model_slot(std::size_t m) const { return first_[m + 1] - 1; }
  /// Slot of a request without a configured model.
  int unknown_slot() const { return static_cast<int>(slots_.size()) - 1; }
  /// The task label's index: configured task names, then default_task; "other" last.
  int task_index(std::string_view task) const;

  const std::vector<Slot>& slots() const { return slots_; }
  const std::vector<std::string>& models() const { return models_; }
  const std::vector<std::string>& tasks() const { return tasks_; }
  const std::vector<std::string>& providers() const { return providers_; }

 private:
  std::vector<Slot> slots_;
  std::vector<int> first_;  // [model] → its first slot; [models] → one past the last
  std::vector<std::string> models_, tasks_, providers_;
};

/// A counter cell with one writer: load + store (no locked instruction), read by scrapes.
class Count {
 public:
  void add(std::uint64_t n = 1) noexcept {
    v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  std::uint64_t get() const noexcept { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> v_{0};
};

class Sum {
 public:
  void add(double x) noexcept {
    v_.store(v_.load(std::memory_order_relaxed) + x, std::memory_order_relaxed);
  }
  double get() const noexcept { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> v_{0};
};

/// A histogram with kLatencyBuckets, one writer.
class Histogram {
 public:
  void observe(double seconds) noexcept;
  std::uint64_t bucket(std::size_t i) const { return buckets_[i].get(); }  ///< not cumulative
  std::uint64_t count() const { return count_.get(); }
  double sum() const { return sum_.get(); }

 private:
  std::array<Count, kLatencyBuckets.size() + 1> buckets_;  // last: above the largest bound
  Count count_;
  Sum sum_;
};

/// One worker's cells. Written only by that worker's thread; read by any scrape.
class WorkerMetrics {
 public:
  explicit WorkerMetrics(const Layout& layout);

  /// A request ended: `status` as sent (499: the client left first); `seconds` from the
  /// end of its head to the end of its answer; duration is observed for model endpoints.
  void request(Endpoint e, int slot, int status, double seconds) noexcept;
  /// The first content byte of a stream reached the client `seconds` after its request.
  void ttft(int slot, double seconds) noexcept { ttft_[slot].observe(seconds); }
  void attempt(int slot, AttemptOutcome o, double seconds) noexcept;
  void upstream_error(int slot, ErrorReason r) noexcept;
  /// One usage record's counts (input includes cached reads and cache writes).
  void tokens(int slot, bool estimated, std::int64_t input, std::int64_t output,
              std::int64_t cached_read, std::int64_t cache_write, double cost_usd) noexcept;
  void retry(int slot) noexcept { retries_[slot].add(); }
  void failover(int model, bool answered) noexcept {
    failovers_[model * 2 + (answered ? 0 : 1)].add();
  }
  void hedge(int model, HedgeOutcome o) noexcept {
    hedges_[model * static_cast<int>(HedgeOutcome::kCount) + static_cast<int>(o)].add();
  }
  void rescue(int model, bool rescued) noexcept { rescues_[model * 2 + (rescued ? 0 : 1)].add(); }
  void decision(int model, int task, Decision d) noexcept;
  void exclusion(int slot, Exclusion x) noexcept;
  void stream_opened() noexcept { open_streams_.add(); }
  void stream_closed() noexcept { closed_streams_.add(); }

 private:
  friend class Metrics;
  const Layout& layout_;
  std::size_t slots_, models_, tasks_;
  std::unique_ptr<Count[]> requests_;  // [endpoint][slot][status class 1xx..5xx]
  std::unique_ptr<Histogram[]> duration_, ttft_, attempt_duration_;  // [slot]
  std::unique_ptr<Count[]> attempts_;                                // [slot][AttemptOutcome]
  std::unique_ptr<Count[]> errors_;                                  // [slot][ErrorReason]
  std::unique_ptr<Count[]> tokens_;      // [slot][input, output][provider, estimated]
  std::unique_ptr<Count[]> cached_;      // [slot][read, write]
  std::unique_ptr<Sum[]> cost_;          // [slot]
  std::unique_ptr<Count[]> retries_;     // [slot]
  std::unique_ptr<Count[]> failovers_;   // [model][answered, not]
  std::unique_ptr<Count[]> hedges_;      // [model][HedgeOutcome]
  std::unique_ptr<Count[]> rescues_;     // [model][rescued, failed]
  std::unique_ptr<Count[]> decisions_;   // [model][task][Decision]
  std::unique_ptr<Count[]> exclusions_;  // [slot][Exclusion]
  Count open_streams_, closed_streams_;  // gauge = opened - closed
};

/// State that lives outside the cells (router stats, pools), gathered at scrape time by
/// the app layer from what the workers publish.
struct Gauges {
  struct Deployment {
    int breaker = 0;                   ///< 0 closed, 1 half-open, 2 open (the worst worker's)
    double health = 1;                 ///< upstream-origin success rate in the breaker window
    std::int64_t window_outcomes = 0;  ///< outcomes behind `health`
    double headroom = 1;               ///< provider-reported rate-limit headroom, 0..1 (lowest)
    double local_headroom = -1;        ///< max_rpm bucket's room, 0..1; < 0: no max_rpm
    double ttfb_ms = -1;               ///< EWMA time to the response head
    double p95_ttft_ms = -1;           ///< recent p95 time to the answer's start (< 0: too few)
    std::int64_t in_flight = 0;        ///< attempts in flight
  };
  struct Pool {
    std::int64_t open = 0, idle = 0, queued = 0;  ///< summed over workers
    std::int64_t max_open = 0, max_queue = 0;     ///< limits summed over workers
  };
  std::vector<std::vector<Deployment>> deployments;  ///< [model][deployment]
  std::vector<Pool> pools;                           ///< [provider]
  std::int64_t in_flight = 0;                        ///< requests being handled
  std::uint64_t access_log_dropped = 0;              ///< lines dropped (queue full)
  std::uint64_t config_reloads_ok = 0;               ///< SIGHUP reloads that took effect
  std::uint64_t config_reloads_failed = 0;           ///< reloads refused (invalid file, …)
  double config_last_reload_ok_unix = 0;             ///< 0: none since start
};

/// The process's metrics: one WorkerMetrics per worker plus the scrape side.
class Metrics {
 public:
  Metrics(const config::Config& cfg, int workers);
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  const Layout& layout() const { return layout_; }
  WorkerMetrics& worker(int i) { return *workers_[static_cast<std::size_t>(i)]; }

  /// Set once before the workers start: fills the gauges at scrape time (any thread).
  void set_gauges(std::function<Gauges()> source) { gauges_ = std::move(source); }

  /// The text exposition format (version 0.0.4) of every metric. Any thread.
  std::string scrape() const;
  /// GET /admin/status: per-deployment health, breaker, TTFT, counts and spend, as JSON
  /// (schema in docs/telemetry.md). Any thread.
  std::string status_json() const;

 private:
  struct Impl;
  std::uint64_t open_streams() const;
  Layout layout_;
  std::vector<std::unique_ptr<WorkerMetrics>> workers_;
  std::function<Gauges()> gauges_;
  std::chrono::system_clock::time_point started_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace switchyard::telemetry
