#pragma once
// Live statistics of each model's deployments as one worker sees them: EWMA time to first
// byte, EWMA output tokens per second, recent success/failure (upstream- and local-origin
// kept apart), in-flight attempts and the provider's Retry-After window. Owned and touched
// by one worker thread only, so the request path takes no lock.
//
// Each worker also runs its own circuit breaker per deployment, fed by the outcomes it
// sees. Every ~100 ms a worker publishes an immutable summary of its slots and takes in the
// other workers' latest summaries (peers); views() merges them, so what one worker learns
// (a tripped breaker, a Retry-After, a slow provider) steers every worker within ~100 ms,
// while the request path still reads only its own worker's data.

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <random>
#include <span>
#include <vector>

#include "switchyard/api/errors.hpp"
#include "switchyard/config/config.hpp"
#include "switchyard/router/health.hpp"
#include "switchyard/router/rate_cap.hpp"
#include "switchyard/router/scorer.hpp"

namespace switchyard::router {

/// What one worker knows about one deployment, as published to the other workers.
struct SlotSummary {
  std::int64_t successes = 0;          ///< in the window
  std::int64_t upstream_failures = 0;  ///< in the window
  double ttfb_ms = -1;
  double tokens_per_s = -1;
  double headroom = 1.0;
  std::chrono::steady_clock::time_point headroom_until{};
  std::chrono::steady_clock::time_point retry_until{};
  bool breaker_blocking = false;   ///< open, or half-open (the worker that tripped probes)
  double share = 1.0;              ///< slow-start share of that worker's breaker
  double p95_ttft_ms = -1;         ///< < 0: too few samples
  std::uint8_t breaker_state = 0;  ///< 0 closed, 1 half-open, 2 open (for metrics)
  int in_flight = 0;               ///< attempts in flight (for metrics)
};

/// One worker's published state: [model][deployment]. Immutable once published.
struct StatsSummary {
  std::vector<std::vector<SlotSummary>> slots;
};

/// The process-wide `max_rpm` caps, [model][deployment] (nullptr: no cap). Shared by
/// every worker: the cap is one lock-free atomic per capped deployment.
class RpmCaps {
 public:
  explicit RpmCaps(const config::Config& cfg);
  RpmCap* get(std::size_t model, std::size_t deployment) const {
    return caps_[model][deployment].get();
  }

 private:
  std::vector<std::vector<std::unique_ptr<RpmCap>>> caps_;
};

class LocalStats {
 public:
  using Clock = std::chrono::steady_clock;

  /// Weight of a new sample in the moving averages.
  static constexpr double kAlpha = 0.2;

  /// Samples kept per deployment for its p95 time to first token (hedge_after_ms: p95).
  static constexpr std::size_t kTtftSamples = 64;
  /// Fewer samples than this: no p95 yet (no p95-based hedge).
  static constexpr std::uint32_t kMinTtftSamples = 20;

  /// `rng` (the worker's) jitters the breakers' cooldowns; it must outlive this object.
  /// `caps`: the process's max_rpm caps (may be null: none).
  LocalStats(const config::Config& cfg, std::mt19937_64& rng,
             std::shared_ptr<const RpmCaps> caps = nullptr);

  /// Asks the deployment's max_rpm cap and breaker for admission (takes a cap slot, and
  /// the half-open probe slot when that is what is left). false: do not send; nothing to
  /// report. rpm_capped() tells whether the cap was the reason. `panic` (Ranking::panic):
  /// the breaker does not refuse, and the attempt counts as its half-open probe
  /// (CircuitBreaker::allow); the max_rpm cap still does, as an operator's hard limit.
  bool admit(std::size_t model, std::size_t deployment, Clock::time_point now, bool panic = false);
  /// Is the deployment's max_rpm used up at `now`?
  bool rpm_capped(std::size_t model, std::size_t deployment, Clock::time_point now) const;
  /// How long until the deployment's max_rpm lets a request through (zero: now or no cap).
  Clock::duration rpm_wait(std::size_t model, std::size_t deployment, Clock::time_point now) const;
  /// One attempt reached the point where the answer could start (response head of a
  /// non-stream request, first content event of a stream), `ms` after it was sent.
  void ttft_sample(std::size_t model, std::size_t deployment, double ms);
  /// One finished attempt (after admit() said yes). ttfb_ms / tokens_per_s < 0: not measured.
  void attempt_finished(std::size_t model, std::size_t deployment, Clock::time_point now, bool ok,
                        api::Origin origin, double ttfb_ms, double tokens_per_s);
  /// The attempt admit() let through ended before it said anything about the deployment
  /// (e.g. the client left).
  void attempt_abandoned(std::size_t model, std::size_t deployment, Clock::time_point now);
  /// The provider's own rate-limit headroom (0..1) as of `now`, believed until `until`
  /// (its reset time), after which it counts as full again.
  void headroom(std::size_t model, std::size_t deployment, double fraction,
                Clock::time_point until);
  /// The provider asked us to stay away until `until`.
  void retry_after(std::size_t model, std::size_t deployment, Clock::time_point until);

  /// This worker's own state, for the other workers.
  std::shared_ptr<const StatsSummary> summarize(Clock::time_point now) const;
  /// The process's max_rpm caps (null: none configured).
  const RpmCaps* caps() const { return caps_.get(); }
  /// The other workers' latest summaries (replaces the previous set).
  void set_peers(std::vector<std::shared_ptr<const StatsSummary>> peers) {
    peers_ = std::move(peers);
  }

  /// The scorer's view of every deployment of `model` at `now`: this worker's own stats
  /// merged with its peers' (success counts summed, TTFB and tokens/s averaged, the lowest
  /// fresh headroom, any Retry-After, any blocking breaker, the lowest slow-start share).
  void views(std::size_t model, Clock::time_point now, std::vector<DeploymentView>& out) const;

  /// How long the request path may reuse a model's views (current_views).
  static constexpr std::chrono::microseconds kViewsTtl{1000};

  /// views() for the request path: recomputed at most once per kViewsTtl per model (and
  /// at once after a breaker trips or a Retry-After arrives), so that under load most
  /// requests reuse the last computation; staleness below a millisecond cannot matter
  /// because admit() checks breakers and caps on the live state. The span stays valid
  /// until the next call for the same model.
  std::span<const DeploymentView> current_views(std::size_t model, Clock::time_point now);

  /// The deployment's p95 time to first token as views() reports it (< 0: not known yet),
  /// without building the other views.
  double p95_ttft_ms(std::size_t model, std::size_t deployment) const;

  int in_flight(std::size_t model, std::size_t deployment) const {
    return slots_[model][deployment].in_flight;
  }
  const CircuitBreaker& breaker(std::size_t model, std::size_t deployment) const {
    return slots_[model][deployment].breaker;
  }

 private:
  struct Slot {
    Slot(const config::Breaker& b, std::mt19937_64& rng) : outcomes(b.window), breaker(b, rng) {}
    SlidingWindow outcomes;
    CircuitBreaker breaker;
    double ewma_ttfb_ms = -1;
    double ewma_tps = -1;
    int in_flight = 0;
    Clock::time_point retry_until{};
    double headroom = 1.0;
    Clock::time_point headroom_until{};
    std::array<float, kTtftSamples> ttft{};  // ring of the latest samples
    std::uint32_t ttft_count = 0;            // samples ever taken
    double p95_ttft_ms = -1;                 // refreshed every few samples
  };
  std::vector<std::vector<Slot>> slots_;  // [model][deployment]
  struct ViewsCache {
    std::vector<DeploymentView> views;
    Clock::time_point at{};
    bool valid = false;
  };
  std::vector<ViewsCache> views_cache_;  // [model], for current_views
  std::shared_ptr<const RpmCaps> caps_;
  std::vector<std::shared_ptr<const StatsSummary>> peers_;
};

}  // namespace switchyard::router
