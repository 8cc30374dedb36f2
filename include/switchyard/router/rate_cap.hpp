#pragma once
// Local limits the gateway enforces itself, with time passed in so tests drive the clock.
//
// RpmCap — `deployments[].max_rpm`: a token bucket that holds max_rpm requests and refills
// at max_rpm per minute (GCRA, one atomic word), so the cap holds across all workers of
// the process without a lock. Like the providers' own RPM limits, it refills continuously:
// a full bucket lets a burst of max_rpm through, after which one request is let through
// every 60 s / max_rpm.
//
// HedgeBudget — `routing.hedge_max_fraction`: each request earns `fraction` of a hedge,
// each hedge spends one, with a small reserve for bursts, so over any stretch of traffic
// at most about `fraction` of the requests start a hedge. One per worker (no sharing).

#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>

namespace switchyard::router {

class RpmCap {
 public:
  using Clock = std::chrono::steady_clock;

  /// `max_rpm` > 0.
  explicit RpmCap(int max_rpm) noexcept;

  /// Would a request be let through at `now`? (Another thread may take it first.)
  bool would_allow(Clock::time_point now) const noexcept;
  /// Takes one request's room if there is any.
  bool try_take(Clock::time_point now) noexcept;
  /// Returns the room of a request that try_take() let through but was never sent.
  void give_back() noexcept;
  /// How long until a request would be let through (zero if one would be now).
  Clock::duration wait(Clock::time_point now) const noexcept;
  /// Share of the bucket that is free at `now`, 0..1 (1: a full burst of max_rpm).
  double room(Clock::time_point now) const noexcept;

 private:
  std::int64_t interval_;   // ns between requests at the steady rate
  std::int64_t tolerance_;  // ns: how far ahead of now the schedule may run (the burst)
  // Theoretical arrival time of the next request, in steady-clock ns.
  std::atomic<std::int64_t> tat_{std::numeric_limits<std::int64_t>::min() / 2};
};

class HedgeBudget {
 public:
  /// `fraction` in 0..1; `reserve`: hedges that may be spent in a burst.
  explicit HedgeBudget(double fraction, double reserve = 2.0) noexcept
      : fraction_(fraction), reserve_(reserve), tokens_(fraction > 0 ? 1.0 : 0.0) {}

  /// Call once per request that could hedge.
  void on_request() noexcept {
    tokens_ += fraction_;
    if (tokens_ > reserve_) tokens_ = reserve_;
  }
  /// Does the budget allow a hedge now?
  bool can_spend() const noexcept { return fraction_ > 0 && tokens_ >= 1.0; }
  /// Spends one hedge (after can_spend() said yes).
  void spend() noexcept { tokens_ -= 1.0; }
  /// Spends one hedge if the budget allows it.
  bool try_spend() noexcept {
    if (!can_spend()) return false;
    spend();
    return true;
  }

 private:
  double fraction_;
  double reserve_;
  double tokens_;
};

}  // namespace switchyard::router
