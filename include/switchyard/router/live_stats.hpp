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

#include <chrono>
#include <cstddef>
#include <memory>
#include <random>
#include <vector>

#include "switchyard/api/errors.hpp"
#include "switchyard/config/config.hpp"
#include "switchyard/router/health.hpp"
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
  bool breaker_blocking = false;  ///< open, or half-open (the worker that tripped probes)
  double share = 1.0;             ///< slow-start share of that worker's breaker
};

/// One worker's published state: [model][deployment]. Immutable once published.
struct StatsSummary {
  std::vector<std::vector<SlotSummary>> slots;
};

class LocalStats {
 public:
  using Clock = std::chrono::steady_clock;

  /// Weight of a new sample in the moving averages.
  static constexpr double kAlpha = 0.2;

  /// `rng` (the worker's) jitters the breakers' cooldowns; it must outlive this object.
  LocalStats(const config::Config& cfg, std::mt19937_64& rng);

  /// Asks the deployment's breaker for admission (takes the half-open probe slot when
  /// that is what is left). false: do not send; nothing to report.
  bool admit(std::size_t model, std::size_t deployment, Clock::time_point now);
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
  /// The other workers' latest summaries (replaces the previous set).
  void set_peers(std::vector<std::shared_ptr<const StatsSummary>> peers) {
    peers_ = std::move(peers);
  }

  /// The scorer's view of every deployment of `model` at `now`: this worker's own stats
  /// merged with its peers' (success counts summed, TTFB and tokens/s averaged, the lowest
  /// fresh headroom, any Retry-After, any blocking breaker, the lowest slow-start share).
  void views(std::size_t model, Clock::time_point now, std::vector<DeploymentView>& out) const;

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
  };
  std::vector<std::vector<Slot>> slots_;  // [model][deployment]
  std::vector<std::shared_ptr<const StatsSummary>> peers_;
};

}  // namespace switchyard::router
