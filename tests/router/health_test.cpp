#include "switchyard/router/health.hpp"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>
#include <string>

namespace switchyard::router {
namespace {

using namespace std::chrono_literals;
using api::Origin;
using std::chrono::milliseconds;
using State = CircuitBreaker::State;

// A simulated steady clock: an arbitrary, bucket-aligned start far from the epoch.
const SteadyClock::time_point kT0 = SteadyClock::time_point{} + 1000h;

config::Breaker breaker_config(int failures = 5, milliseconds window = 10s,
                               milliseconds cooldown = 5s) {
  config::Breaker b;
  b.failures = failures;
  b.window = window;
  b.cooldown = cooldown;
  return b;
}

/// Trips a closed breaker with `n` upstream failures at `now`.
void trip_now(CircuitBreaker& b, SteadyClock::time_point now, int n) {
  for (int i = 0; i < n; ++i) b.on_failure(now, Origin::upstream);
}

// --- SlidingWindow ------------------------------------------------------------------------

TEST(SlidingWindow, EmptyWindowHasFullSuccessRateAndNoCounts) {
  SlidingWindow w(10s);
  EXPECT_EQ(w.total(kT0), 0);
  EXPECT_EQ(w.successes(kT0), 0);
  EXPECT_EQ(w.upstream_failure_count(kT0), 0);
  EXPECT_DOUBLE_EQ(w.success_rate(kT0), 1.0);
}

TEST(SlidingWindow, CountsSuccessesAndFailuresByOrigin) {
  SlidingWindow w(10s);
  for (int i = 0; i < 3; ++i) w.record(kT0 + i * 100ms, true);
  for (int i = 0; i < 2; ++i) w.record(kT0 + 2s, false, Origin::upstream);
  for (int i = 0; i < 4; ++i) w.record(kT0 + 3s, false, Origin::local);
  const auto now = kT0 + 5s;
  EXPECT_EQ(w.successes(now), 3);
  EXPECT_EQ(w.failures(now, Origin::upstream), 2);
  EXPECT_EQ(w.upstream_failure_count(now), 2);
  EXPECT_EQ(w.failures(now, Origin::local), 4);
  EXPECT_EQ(w.total(now), 9);
}

TEST(SlidingWindow, SuccessRateLeavesOutLocalFailures) {
  SlidingWindow w(10s);
  w.record(kT0, true);
  w.record(kT0, true);
  w.record(kT0, true);
  w.record(kT0, false, Origin::upstream);
  for (int i = 0; i < 50; ++i) w.record(kT0, false, Origin::local);
  EXPECT_DOUBLE_EQ(w.success_rate(kT0), 0.75);
}

TEST(SlidingWindow, EventsExpireWithinOneWindow) {
  SlidingWindow w(10s);  // 10 buckets of 1 s
  const auto t = kT0 + 500ms;
  w.record(t, false, Origin::upstream);
  // Kept for at least 0.9 × window (bucket granularity) …
  EXPECT_EQ(w.upstream_failure_count(t + 8999ms), 1);
  EXPECT_EQ(w.upstream_failure_count(kT0 + 9999ms), 1);
  // … and never for a whole window.
  EXPECT_EQ(w.upstream_failure_count(t + 10s), 0);
  EXPECT_EQ(w.total(t + 10s), 0);
}

TEST(SlidingWindow, OldBucketsAreRecycledAfterAGap) {
  SlidingWindow w(10s);
  for (int i = 0; i < 10; ++i) w.record(kT0 + i * 1s, false, Origin::upstream);
  EXPECT_EQ(w.upstream_failure_count(kT0 + 9s), 10);
  const auto later = kT0 + 1h + 300ms;
  w.record(later, true);
  EXPECT_EQ(w.upstream_failure_count(later), 0);
  EXPECT_EQ(w.successes(later), 1);
  EXPECT_EQ(w.total(later), 1);
}

TEST(SlidingWindow, SlidesBucketByBucket) {
  SlidingWindow w(10s);
  for (int i = 0; i < 20; ++i) w.record(kT0 + i * 1s, true);  // one success per bucket
  EXPECT_EQ(w.successes(kT0 + 19s), 10);
  EXPECT_EQ(w.successes(kT0 + 25s), 4);  // buckets 16..19 remain
}

TEST(SlidingWindow, EventOlderThanTheWindowIsDroppedNotMiscounted) {
  SlidingWindow w(10s);
  w.record(kT0 + 20s, true);   // bucket 20, slot 0
  w.record(kT0 + 10s, false);  // bucket 10, same slot, older: dropped
  EXPECT_EQ(w.successes(kT0 + 20s), 1);
  EXPECT_EQ(w.upstream_failure_count(kT0 + 20s), 0);
}

TEST(SlidingWindow, ClearForgetsEverything) {
  SlidingWindow w(10s);
  w.record(kT0, true);
  w.record(kT0, false);
  w.clear();
  EXPECT_EQ(w.total(kT0), 0);
}

// --- CircuitBreaker -----------------------------------------------------------------------

TEST(Breaker, StartsClosedWithFullShare) {
  std::mt19937_64 rng(1);
  CircuitBreaker b(breaker_config(), rng);
  EXPECT_EQ(b.state(kT0), State::closed);
  EXPECT_TRUE(b.allow(kT0));
  EXPECT_TRUE(b.allow(kT0));
  EXPECT_DOUBLE_EQ(b.share(kT0), 1.0);
  EXPECT_EQ(b.trips(), 0);
}

TEST(Breaker, OpensExactlyAtTheNthUpstreamFailure) {
  std::mt19937_64 rng(1);
  CircuitBreaker b(breaker_config(5), rng);
  for (int i = 0; i < 4; ++i) {
    b.on_failure(kT0 + i * 100ms, Origin::upstream);
    EXPECT_EQ(b.state(kT0 + i * 100ms), State::closed) << "after failure " << i + 1;
    EXPECT_TRUE(b.allow(kT0 + i * 100ms));
  }
  const auto now = kT0 + 500ms;
  b.on_failure(now, Origin::upstream);
  EXPECT_EQ(b.state(now), State::open);
  EXPECT_FALSE(b.allow(now));
  EXPECT_FALSE(b.would_allow(now));
  EXPECT_DOUBLE_EQ(b.share(now), 0.0);
  EXPECT_EQ(b.trips(), 1);
  EXPECT_GT(b.open_until(), now);
}

TEST(Breaker, SuccessesInBetweenDoNotResetTheCount) {
  // The threshold is a count within the window, not a run of consecutive failures.
  std::mt19937_64 rng(1);
  CircuitBreaker b(breaker_config(3), rng);
  for (int i = 0; i < 3; ++i) {
    b.on_success(kT0 + i * 1s);
    b.on_failure(kT0 + i * 1s + 1ms, Origin::upstream);
  }
  EXPECT_EQ(b.state(kT0 + 2s + 1ms), State::open);
}

TEST(Breaker, FailuresOutsideTheWindowDoNotCount) {
  std::mt19937_64 rng(1);
  CircuitBreaker b(breaker_config(3, 10s), rng);
  b.on_failure(kT0, Origin::upstream);
  b.on_failure(kT0 + 1s, Origin::upstream);
  // The first two have left the window by now: this is failure 1 of the window, not 3.
  const auto later = kT0 + 12s;
  b.on_failure(later, Origin::upstream);
  EXPECT_EQ(b.state(later), State::closed);
  b.on_failure(later + 1s, Origin::upstream);
  EXPECT_EQ(b.state(later + 1s), State::closed);
  b.on_failure(later + 2s, Origin::upstream);
  EXPECT_EQ(b.state(later + 2s), State::open);
}

TEST(Breaker, LocalOriginFailuresNeverOpenIt) {
  std::mt19937_64 rng(1);
  CircuitBreaker b(breaker_config(5), rng);
  for (int i = 0; i < 1000; ++i) b.on_failure(kT0 + i * 1ms, Origin::local);
  EXPECT_EQ(b.state(kT0 + 1s), State::closed);
  EXPECT_TRUE(b.allow(kT0 + 1s));
  EXPECT_EQ(b.window().failures(kT0 + 1s, Origin::local), 1000);
  // …and they do not bring the upstream count closer to the threshold either.
  for (int i = 0; i < 4; ++i) b.on_failure(kT0 + 1s, Origin::upstream);
  EXPECT_EQ(b.state(kT0 + 1s), State::closed);
}

TEST(Breaker, OpenBecomesHalfOpenWhenTheCooldownEnds) {
  std::mt19937_64 rng(7);
  CircuitBreaker b(breaker_config(1, 10s, 5s), rng);
  b.on_failure(kT0, Origin::upstream);
  const auto until = b.open_until();
  EXPECT_GE(until - kT0, 4s);  // 5 s − 20 %
  EXPECT_LE(until - kT0, 6s);  // 5 s + 20 %
  EXPECT_EQ(b.state(until - 1ns), State::open);
  EXPECT_FALSE(b.allow(until - 1ns));
  EXPECT_EQ(b.state(until), State::half_open);
  EXPECT_TRUE(b.would_allow(until));
}

TEST(Breaker, HalfOpenAllowsExactlyOneProbe) {
  std::mt19937_64 rng(7);
  CircuitBreaker b(breaker_config(1), rng);
  b.on_failure(kT0, Origin::upstream);
  const auto t = b.open_until();
  EXPECT_DOUBLE_EQ(b.share(t), 0.1);  // the probe slot is free
  EXPECT_TRUE(b.allow(t));
  EXPECT_TRUE(b.probe_in_flight());
  for (int i = 0; i < 100; ++i) {
    EXPECT_FALSE(b.allow(t + i * 10ms));
    EXPECT_FALSE(b.would_allow(t + i * 10ms));
  }
  EXPECT_EQ(b.state(t + 1s), State::half_open);
  EXPECT_DOUBLE_EQ(b.share(t + 1s), 0.0);
}

TEST(Breaker, ProbeSuccessClosesWithAShareRampingUpToFull) {
  std::mt19937_64 rng(7);
  BreakerTuning tuning;
  tuning.ramp = 10s;
  CircuitBreaker b(breaker_config(1), rng, tuning);
  b.on_failure(kT0, Origin::upstream);
  const auto t = b.open_until();
  ASSERT_TRUE(b.allow(t));
  const auto closed_at = t + 200ms;
  b.on_success(closed_at);
  EXPECT_EQ(b.state(closed_at), State::closed);
  EXPECT_FALSE(b.probe_in_flight());
  EXPECT_TRUE(b.allow(closed_at));
  EXPECT_TRUE(b.allow(closed_at));  // closed: no longer one at a time

  EXPECT_NEAR(b.share(closed_at), 0.1, 1e-9);
  EXPECT_NEAR(b.share(closed_at + 5s), 0.55, 1e-9);
  double prev = 0;
  for (int i = 0; i <= 100; ++i) {
    const double s = b.share(closed_at + i * 100ms);
    EXPECT_GE(s, prev);
    EXPECT_LE(s, 1.0);
    prev = s;
  }
  EXPECT_DOUBLE_EQ(b.share(closed_at + 10s), 1.0);
  EXPECT_DOUBLE_EQ(b.share(closed_at + 1h), 1.0);
}

TEST(Breaker, ProbeFailureReopensWithALongerCooldown) {
  std::mt19937_64 rng(11);
  CircuitBreaker b(breaker_config(1, 10s, 5s), rng);
  b.on_failure(kT0, Origin::upstream);
  EXPECT_EQ(b.trips(), 1);

  auto t = b.open_until();
  ASSERT_TRUE(b.allow(t));
  b.on_failure(t, Origin::upstream);
  EXPECT_EQ(b.state(t), State::open);
  EXPECT_EQ(b.trips(), 2);
  EXPECT_EQ(b.base_cooldown(2), 10s);
  EXPECT_GE(b.open_until() - t, 8s);
  EXPECT_LE(b.open_until() - t, 12s);

  t = b.open_until();
  ASSERT_TRUE(b.allow(t));
  b.on_failure(t, Origin::upstream);
  EXPECT_EQ(b.trips(), 3);
  EXPECT_EQ(b.base_cooldown(3), 20s);
  EXPECT_GE(b.open_until() - t, 16s);
  EXPECT_LE(b.open_until() - t, 24s);
}

TEST(Breaker, CooldownGrowthIsCapped) {
  std::mt19937_64 rng(3);
  BreakerTuning tuning;
  tuning.max_cooldown = 60s;
  CircuitBreaker b(breaker_config(1, 10s, 5s), rng, tuning);
  EXPECT_EQ(b.base_cooldown(1), 5s);
  EXPECT_EQ(b.base_cooldown(4), 40s);
  EXPECT_EQ(b.base_cooldown(5), 60s);
  EXPECT_EQ(b.base_cooldown(60), 60s);

  b.on_failure(kT0, Origin::upstream);
  for (int k = 0; k < 40; ++k) {  // keep failing the probe
    const auto t = b.open_until();
    ASSERT_TRUE(b.allow(t));
    b.on_failure(t, Origin::upstream);
    EXPECT_LE(b.open_until() - t, 72s);  // cap + 20 %
    if (k >= 5) {
      EXPECT_GE(b.open_until() - t, 48s);  // cap − 20 %
    }
  }
}

TEST(Breaker, CapNeverShortensAConfiguredCooldown) {
  std::mt19937_64 rng(3);
  BreakerTuning tuning;
  tuning.max_cooldown = 60s;
  CircuitBreaker b(breaker_config(1, 10s, 120s), rng, tuning);
  EXPECT_EQ(b.base_cooldown(1), 120s);
  EXPECT_EQ(b.base_cooldown(3), 120s);
}

TEST(Breaker, CooldownJitterStaysWithinTwentyPercentAndVaries) {
  std::set<SteadyClock::duration::rep> seen;
  bool below = false, above = false;
  for (std::uint64_t seed = 0; seed < 500; ++seed) {
    std::mt19937_64 rng(seed);
    CircuitBreaker b(breaker_config(1, 10s, 5s), rng);
    b.on_failure(kT0, Origin::upstream);
    const auto d = b.open_until() - kT0;
    ASSERT_GE(d, 4s) << "seed " << seed;
    ASSERT_LE(d, 6s) << "seed " << seed;
    below |= d < 4500ms;
    above |= d > 5500ms;
    seen.insert(d.count());
  }
  EXPECT_TRUE(below);
  EXPECT_TRUE(above);
  EXPECT_GT(seen.size(), 400u);
}

TEST(Breaker, ZeroJitterGivesTheExactCooldown) {
  std::mt19937_64 rng(3);
  BreakerTuning tuning;
  tuning.jitter = 0;
  CircuitBreaker b(breaker_config(1, 10s, 5s), rng, tuning);
  b.on_failure(kT0, Origin::upstream);
  EXPECT_EQ(b.open_until() - kT0, 5s);
}

TEST(Breaker, AFullRampWithoutTripsResetsTheTripCount) {
  std::mt19937_64 rng(5);
  BreakerTuning tuning;
  tuning.jitter = 0;
  tuning.ramp = 10s;
  CircuitBreaker b(breaker_config(1, 10s, 5s), rng, tuning);
  b.on_failure(kT0, Origin::upstream);  // trip 1: 5 s
  auto t = b.open_until();
  ASSERT_TRUE(b.allow(t));
  b.on_failure(t, Origin::upstream);  // trip 2: 10 s
  t = b.open_until();
  ASSERT_TRUE(b.allow(t));
  b.on_success(t);  // closed, ramping
  EXPECT_EQ(b.trips(), 2);
  b.on_success(t + 10s);  // the whole ramp passed
  EXPECT_EQ(b.trips(), 0);
  b.on_failure(t + 11s, Origin::upstream);
  EXPECT_EQ(b.trips(), 1);
  EXPECT_EQ(b.open_until() - (t + 11s), 5s);  // back to the base cooldown
}

TEST(Breaker, TripDuringTheRampKeepsTheLongerCooldown) {
  std::mt19937_64 rng(5);
  BreakerTuning tuning;
  tuning.jitter = 0;
  tuning.ramp = 10s;
  CircuitBreaker b(breaker_config(1, 10s, 5s), rng, tuning);
  b.on_failure(kT0, Origin::upstream);
  auto t = b.open_until();
  ASSERT_TRUE(b.allow(t));
  b.on_success(t);
  const auto during = t + 3s;
  b.on_failure(during, Origin::upstream);
  EXPECT_EQ(b.state(during), State::open);
  EXPECT_EQ(b.trips(), 2);
  EXPECT_EQ(b.open_until() - during, 10s);
}

TEST(Breaker, FailuresFromBeforeTheOutageDoNotCountAfterClosing) {
  std::mt19937_64 rng(5);
  BreakerTuning tuning;
  tuning.jitter = 0;
  CircuitBreaker b(breaker_config(3, 60s, 1s), rng, tuning);
  trip_now(b, kT0, 3);
  const auto t = b.open_until();
  ASSERT_TRUE(b.allow(t));
  b.on_success(t);
  // The three old failures are still inside the 60 s window, but the window was cleared.
  b.on_failure(t + 1ms, Origin::upstream);
  b.on_failure(t + 2ms, Origin::upstream);
  EXPECT_EQ(b.state(t + 2ms), State::closed);
  b.on_failure(t + 3ms, Origin::upstream);
  EXPECT_EQ(b.state(t + 3ms), State::open);
}

TEST(Breaker, AbandonedProbeFreesTheSlot) {
  std::mt19937_64 rng(9);
  CircuitBreaker b(breaker_config(1), rng);
  b.on_failure(kT0, Origin::upstream);
  const auto t = b.open_until();
  ASSERT_TRUE(b.allow(t));
  EXPECT_FALSE(b.allow(t + 1ms));
  b.on_abandoned(t + 2ms);
  EXPECT_EQ(b.state(t + 2ms), State::half_open);
  EXPECT_EQ(b.trips(), 1);  // no verdict, no new trip
  EXPECT_TRUE(b.allow(t + 3ms));
  EXPECT_FALSE(b.allow(t + 4ms));
}

TEST(Breaker, AbandonedOutsideHalfOpenChangesNothing) {
  std::mt19937_64 rng(9);
  CircuitBreaker b(breaker_config(2), rng);
  b.on_abandoned(kT0);
  EXPECT_EQ(b.state(kT0), State::closed);
  trip_now(b, kT0, 2);
  b.on_abandoned(kT0 + 1ms);
  EXPECT_EQ(b.state(kT0 + 1ms), State::open);
}

TEST(Breaker, LocalOriginFailureOfTheProbeCountsAsAbandoned) {
  std::mt19937_64 rng(9);
  CircuitBreaker b(breaker_config(1), rng);
  b.on_failure(kT0, Origin::upstream);
  const auto t = b.open_until();
  ASSERT_TRUE(b.allow(t));
  b.on_failure(t + 1ms, Origin::local);  // e.g. the client went away
  EXPECT_EQ(b.state(t + 1ms), State::half_open);
  EXPECT_EQ(b.trips(), 1);
  EXPECT_TRUE(b.allow(t + 2ms));
}

TEST(Breaker, ALostProbeIsReplacedAfterTheProbeTimeout) {
  std::mt19937_64 rng(9);
  BreakerTuning tuning;
  tuning.probe_timeout = 30s;
  CircuitBreaker b(breaker_config(1), rng, tuning);
  b.on_failure(kT0, Origin::upstream);
  const auto t = b.open_until();
  ASSERT_TRUE(b.allow(t));
  EXPECT_FALSE(b.allow(t + 29s));
  EXPECT_TRUE(b.allow(t + 30s));
  EXPECT_FALSE(b.allow(t + 31s));
}

TEST(Breaker, StragglerSuccessWhileOpenDoesNotShortenTheCooldown) {
  std::mt19937_64 rng(9);
  CircuitBreaker b(breaker_config(1), rng);
  b.on_failure(kT0, Origin::upstream);
  b.on_success(kT0 + 1ms);  // a request sent before the trip finished fine
  EXPECT_EQ(b.state(kT0 + 1ms), State::open);
  EXPECT_FALSE(b.allow(kT0 + 2ms));
}

// Panic (every deployment of the model unhealthy, all tried): allow(now, true) lets the
// request through an open breaker and makes it the half-open probe.

TEST(BreakerPanic, LetsARequestThroughAnOpenBreakerAsItsProbe) {
  std::mt19937_64 rng(9);
  CircuitBreaker b(breaker_config(1, 10s, 5s), rng);
  b.on_failure(kT0, Origin::upstream);
  const auto t = kT0 + 1s;  // well inside the cooldown
  ASSERT_EQ(b.state(t), State::open);
  EXPECT_FALSE(b.allow(t));
  EXPECT_FALSE(b.probe_in_flight()) << "a refusal takes nothing";
  EXPECT_TRUE(b.allow(t, true));
  EXPECT_TRUE(b.probe_in_flight());
  EXPECT_EQ(b.state(t), State::half_open);
  EXPECT_EQ(b.trips(), 1) << "being let through is no verdict";
  EXPECT_FALSE(b.allow(t + 1ms)) << "outside panic, the taken probe still refuses";
  EXPECT_TRUE(b.allow(t + 1ms, true)) << "a second panic request goes too";
  EXPECT_DOUBLE_EQ(b.share(t + 1ms), 0.0);
}

TEST(BreakerPanic, ClosedBreakerIsUnchanged) {
  std::mt19937_64 rng(9);
  CircuitBreaker b(breaker_config(2), rng);
  EXPECT_TRUE(b.allow(kT0, true));
  EXPECT_EQ(b.state(kT0), State::closed);
  EXPECT_FALSE(b.probe_in_flight());
}

TEST(BreakerPanic, SuccessClosesOntoTheRampLikeAProbeSuccess) {
  std::mt19937_64 rng(9);
  BreakerTuning tuning;
  tuning.ramp = 10s;
  CircuitBreaker b(breaker_config(1, 10s, 5s), rng, tuning);
  b.on_failure(kT0, Origin::upstream);
  const auto t = kT0 + 1s;
  ASSERT_TRUE(b.allow(t, true));
  b.on_success(t + 200ms);
  EXPECT_EQ(b.state(t + 200ms), State::closed);
  EXPECT_FALSE(b.probe_in_flight());
  EXPECT_NEAR(b.share(t + 200ms), 0.1, 1e-9) << "slow start, as after a probe";
  EXPECT_TRUE(b.allow(t + 300ms));
  EXPECT_EQ(b.trips(), 1);  // forgiven only after a whole ramp, as after a probe
  b.on_success(t + 200ms + 10s);
  EXPECT_EQ(b.trips(), 0);
}

TEST(BreakerPanic, FailureReopensWithTheNextCooldownLikeAFailedProbe) {
  std::mt19937_64 rng(11);
  CircuitBreaker b(breaker_config(1, 10s, 5s), rng);
  b.on_failure(kT0, Origin::upstream);
  const auto t = kT0 + 1s;
  ASSERT_TRUE(b.allow(t, true));
  b.on_failure(t + 100ms, Origin::upstream);
  EXPECT_EQ(b.state(t + 100ms), State::open);
  EXPECT_FALSE(b.probe_in_flight());
  EXPECT_EQ(b.trips(), 2);
  EXPECT_GE(b.open_until() - (t + 100ms), 8s);  // 10 s ± 20 %
  EXPECT_LE(b.open_until() - (t + 100ms), 12s);
  EXPECT_FALSE(b.allow(t + 200ms));
  // Outcomes of other panic requests that were in flight when it re-opened are
  // stragglers: they neither close it nor trip it again.
  b.on_success(t + 300ms);
  b.on_failure(t + 300ms, Origin::upstream);
  EXPECT_EQ(b.state(t + 300ms), State::open);
  EXPECT_EQ(b.trips(), 2);
}

TEST(BreakerPanic, AbandonedOrLocalFailureIsNoVerdict) {
  std::mt19937_64 rng(9);
  CircuitBreaker b(breaker_config(1, 10s, 5s), rng);
  b.on_failure(kT0, Origin::upstream);
  const auto t = kT0 + 1s;
  ASSERT_TRUE(b.allow(t, true));
  b.on_abandoned(t + 1ms);
  EXPECT_FALSE(b.probe_in_flight());
  EXPECT_EQ(b.trips(), 1);
  EXPECT_NE(b.state(t + 1ms), State::closed);
  ASSERT_TRUE(b.allow(t + 2ms, true));
  b.on_failure(t + 3ms, Origin::local);
  EXPECT_FALSE(b.probe_in_flight());
  EXPECT_EQ(b.trips(), 1);
  EXPECT_NE(b.state(t + 3ms), State::closed);
}

// --- Backoff ------------------------------------------------------------------------------

config::Retry retry_config(milliseconds backoff = 50ms, milliseconds max_backoff = 2000ms) {
  config::Retry r;
  r.backoff = backoff;
  r.max_backoff = max_backoff;
  return r;
}

TEST(Backoff, StaysWithinEqualJitterBoundsOverManySeeds) {
  const auto cfg = retry_config(50ms, 2000ms);
  for (std::uint64_t seed = 0; seed < 300; ++seed) {
    std::mt19937_64 rng(seed);
    for (int i = 0; i < 12; ++i) {
      const std::int64_t unjittered = std::min<std::int64_t>(50LL << i, 2000);
      const auto d = backoff_delay(i, cfg, rng).count();
      ASSERT_LE(d, 2000) << "seed " << seed << " i " << i;
      ASSERT_LE(d, unjittered) << "seed " << seed << " i " << i;
      ASSERT_GE(d, unjittered / 2) << "seed " << seed << " i " << i;
    }
  }
}

TEST(Backoff, GrowsWithTheRetryIndexUntilTheCap) {
  const auto cfg = retry_config(50ms, 2000ms);
  // 50, 100, …, 1600 (uncapped): each lower bound (half) equals the previous upper bound, so
  // the delay never shrinks from one retry to the next. (Past the cap it is [1000, 2000].)
  for (std::uint64_t seed = 0; seed < 200; ++seed) {
    std::mt19937_64 rng(seed);
    std::int64_t prev = 0;
    for (int i = 0; i < 6; ++i) {
      const auto d = backoff_delay(i, cfg, rng).count();
      ASSERT_GE(d, prev) << "seed " << seed << " i " << i;
      prev = d;
    }
  }
  // And on average clearly grows.
  std::mt19937_64 rng(42);
  double mean0 = 0, mean4 = 0;
  for (int k = 0; k < 1000; ++k) {
    mean0 += static_cast<double>(backoff_delay(0, cfg, rng).count());
    mean4 += static_cast<double>(backoff_delay(4, cfg, rng).count());
  }
  EXPECT_GT(mean4, 10 * mean0);
}

TEST(Backoff, HugeIndexIsCappedWithoutOverflow) {
  const auto cfg = retry_config(50ms, 2000ms);
  std::mt19937_64 rng(1);
  for (int i : {20, 62, 63, 64, 1000, 1 << 30}) {
    const auto d = backoff_delay(i, cfg, rng).count();
    EXPECT_GE(d, 1000) << i;
    EXPECT_LE(d, 2000) << i;
  }
}

TEST(Backoff, JitterActuallyVaries) {
  const auto cfg = retry_config(50ms, 2000ms);
  std::set<std::int64_t> seen;
  for (std::uint64_t seed = 0; seed < 100; ++seed) {
    std::mt19937_64 rng(seed);
    seen.insert(backoff_delay(3, cfg, rng).count());
  }
  EXPECT_GT(seen.size(), 50u);
}

TEST(Backoff, DegenerateConfigs) {
  std::mt19937_64 rng(1);
  EXPECT_EQ(backoff_delay(0, retry_config(0ms, 2000ms), rng), 0ms);
  EXPECT_EQ(backoff_delay(3, retry_config(50ms, 0ms), rng), 0ms);
  // A first backoff above the cap is cut to the cap.
  const auto d = backoff_delay(0, retry_config(5000ms, 2000ms), rng);
  EXPECT_GE(d, 1000ms);
  EXPECT_LE(d, 2000ms);
  // A negative index counts as the first retry.
  const auto n = backoff_delay(-3, retry_config(50ms, 2000ms), rng);
  EXPECT_GE(n, 25ms);
  EXPECT_LE(n, 50ms);
}

// --- Retry-After --------------------------------------------------------------------------

// Sun, 06 Nov 1994 08:49:37 GMT
const SystemClock::time_point kRfcExample =
    SystemClock::time_point{std::chrono::seconds{784111777}};

TEST(RetryAfter, DelaySeconds) {
  const auto now = SystemClock::time_point{std::chrono::seconds{1700000000}};
  EXPECT_EQ(parse_retry_after("120", now), 120000ms);
  EXPECT_EQ(parse_retry_after("0", now), 0ms);
  EXPECT_EQ(parse_retry_after("  5\t", now), 5000ms);
  EXPECT_EQ(parse_retry_after("007", now), 7000ms);
}

TEST(RetryAfter, DelaySecondsAreCappedAtOneDay) {
  const auto now = SystemClock::time_point{std::chrono::seconds{1700000000}};
  EXPECT_EQ(parse_retry_after("86399", now), 86399000ms);
  EXPECT_EQ(parse_retry_after("86401", now), kMaxRetryAfter);
  EXPECT_EQ(parse_retry_after("99999999999999999999999999999", now), kMaxRetryAfter);
}

TEST(RetryAfter, ImfFixdate) {
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", kRfcExample - 30s), 30000ms);
  EXPECT_EQ(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT", kRfcExample), kRfcExample);
  EXPECT_EQ(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT", kRfcExample),
            SystemClock::time_point{});
  EXPECT_EQ(parse_http_date("Thu, 29 Feb 2024 12:00:00 GMT", kRfcExample),
            SystemClock::time_point{std::chrono::seconds{1709208000}});
}

TEST(RetryAfter, SubSecondNowRoundsTheDelayUp) {
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", kRfcExample - 1500us), 2ms);
}

TEST(RetryAfter, ObsoleteDateForms) {
  const auto now = kRfcExample - 10s;
  EXPECT_EQ(parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", now), 10000ms);
  EXPECT_EQ(parse_retry_after("Sun Nov  6 08:49:37 1994", now), 10000ms);
  EXPECT_EQ(parse_http_date("Sun Nov 06 08:49:37 1994", now), kRfcExample);
}

TEST(RetryAfter, Rfc850TwoDigitYearFollowsTheFiftyYearRule) {
  // Seen in 2024: "94" is 1994, "30" is 2030 (less than 50 years ahead).
  const auto now2024 = SystemClock::time_point{std::chrono::seconds{1723666931}};
  EXPECT_EQ(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT", now2024), kRfcExample);
  const auto y2030 = parse_http_date("Friday, 01-Jan-30 00:00:00 GMT", now2024);
  ASSERT_TRUE(y2030.has_value());
  EXPECT_EQ(std::chrono::year_month_day{std::chrono::floor<std::chrono::days>(*y2030)}.year(),
            std::chrono::year{2030});
}

TEST(RetryAfter, DateInThePastIsZero) {
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", kRfcExample + 1h), 0ms);
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", kRfcExample), 0ms);
}

TEST(RetryAfter, FarFutureDateIsCapped) {
  EXPECT_EQ(parse_retry_after("Fri, 06 Nov 2094 08:49:37 GMT", kRfcExample), kMaxRetryAfter);
}

TEST(RetryAfter, GarbageIsNullopt) {
  const auto now = kRfcExample;
  for (std::string_view bad : {
           "",
           "   ",
           "abc",
           "1.5",
           "-5",
           "+5",
           "5 s",
           "5s",
           "Sun, 06 Nov 1994 08:49:37",      // no zone
           "Sun, 06 Nov 1994 08:49:37 PST",  // not GMT
           "Sun, 32 Nov 1994 08:49:37 GMT",  // no such day
           "Wed, 29 Feb 2023 08:49:37 GMT",  // not a leap year
           "Sun, 06 Foo 1994 08:49:37 GMT",  // no such month
           "Xyz, 06 Nov 1994 08:49:37 GMT",  // no such weekday
           "Sun, 06 Nov 1994 24:00:00 GMT",  // hour out of range
           "Sun, 06 Nov 1994 08:60:00 GMT",  // minute out of range
           "Sun, 6 Nov 1994 08:49:37 GMT",   // IMF-fixdate day is two digits
           "Sun, 06 Nov 94 08:49:37 GMT",    // IMF-fixdate year is four digits
           "Sun,  06 Nov 1994 08:49:37 GMT",
           "Sun, 06 Nov 1994 08:49:37 GMTX",
           "Sun, 06-Nov-94 08:49:37 GMT",  // RFC 850 wants the long day name
           "Sun Nov 6 08:49:37 1994",      // asctime pads the day to two columns
           "2024-08-14T20:22:11Z",         // RFC 3339 is not an HTTP-date
       }) {
    EXPECT_FALSE(parse_retry_after(bad, now).has_value()) << '"' << bad << '"';
  }
}

// --- Rate limits --------------------------------------------------------------------------

HeaderLookup lookup(const std::map<std::string, std::string>& headers) {
  return [&headers](std::string_view name) -> std::string_view {
    auto it = headers.find(std::string(name));
    return it == headers.end() ? std::string_view{} : std::string_view{it->second};
  };
}

TEST(RateLimit, GoDurations) {
  EXPECT_EQ(parse_go_duration("6ms"), 6ms);
  EXPECT_EQ(parse_go_duration("1s"), 1000ms);
  EXPECT_EQ(parse_go_duration("20.5s"), 20500ms);
  EXPECT_EQ(parse_go_duration("6m0s"), 360000ms);
  EXPECT_EQ(parse_go_duration("1h2m3.5s"), 3723500ms);
  EXPECT_EQ(parse_go_duration("0s"), 0ms);
  EXPECT_EQ(parse_go_duration("0"), 0ms);
  EXPECT_EQ(parse_go_duration("17"), 17000ms);  // Azure: bare seconds
  EXPECT_EQ(parse_go_duration("1.001s"), 1001ms);
  EXPECT_EQ(parse_go_duration("0.1s"), 100ms);
  EXPECT_EQ(parse_go_duration("17.28s"), 17280ms);
  EXPECT_EQ(parse_go_duration("1m30.25s"), 90250ms);
  EXPECT_EQ(parse_go_duration(" 12ms "), 12ms);
}

TEST(RateLimit, GoDurationSubMillisecondRoundsUp) {
  EXPECT_EQ(parse_go_duration("1.5ms"), 2ms);
  EXPECT_EQ(parse_go_duration("500us"), 1ms);
  EXPECT_EQ(parse_go_duration("500\xC2\xB5s"), 1ms);  // µ as Go prints it
  EXPECT_EQ(parse_go_duration("999ns"), 1ms);
  EXPECT_EQ(parse_go_duration("1000000ns"), 1ms);
  EXPECT_EQ(parse_go_duration("1000001ns"), 2ms);
}

TEST(RateLimit, GoDurationIsCapped) {
  EXPECT_EQ(parse_go_duration("100000h"), kMaxRetryAfter);
  EXPECT_EQ(parse_go_duration("99999999999999999999999s"), kMaxRetryAfter);
}

TEST(RateLimit, GoDurationGarbage) {
  for (std::string_view bad :
       {"", "s", "ms", "-1s", "1x", "1s2", "1 s", "abc", "1.2.3s", "1h-2m", "."}) {
    EXPECT_FALSE(parse_go_duration(bad).has_value()) << '"' << bad << '"';
  }
}

TEST(RateLimit, Rfc3339) {
  const auto expect = SystemClock::time_point{std::chrono::seconds{1723666931}};
  EXPECT_EQ(parse_rfc3339("2024-08-14T20:22:11Z"), expect);
  EXPECT_EQ(parse_rfc3339("2024-08-14t20:22:11z"), expect);
  EXPECT_EQ(parse_rfc3339("2024-08-14T22:22:11+02:00"), expect);
  EXPECT_EQ(parse_rfc3339("2024-08-14T15:22:11-05:00"), expect);
  EXPECT_EQ(parse_rfc3339("2024-08-14T20:22:11.250Z"), expect + 250ms);
  EXPECT_FALSE(parse_rfc3339("2024-08-14T20:22:11").has_value());
  EXPECT_FALSE(parse_rfc3339("2024-13-14T20:22:11Z").has_value());
  EXPECT_FALSE(parse_rfc3339("2024-08-14T20:22:11.Z").has_value());
  EXPECT_FALSE(parse_rfc3339("Sun, 06 Nov 1994 08:49:37 GMT").has_value());
}

TEST(RateLimit, OpenAiHeaders) {
  const std::map<std::string, std::string> h = {
      {"x-ratelimit-limit-requests", "60"},   {"x-ratelimit-remaining-requests", "59"},
      {"x-ratelimit-limit-tokens", "150000"}, {"x-ratelimit-remaining-tokens", "149984"},
      {"x-ratelimit-reset-requests", "1s"},   {"x-ratelimit-reset-tokens", "6m0s"},
  };
  const auto r = parse_ratelimit(lookup(h), SystemClock::now());
  EXPECT_EQ(r.limit_requests, 60);
  EXPECT_EQ(r.remaining_requests, 59);
  EXPECT_EQ(r.limit_tokens, 150000);
  EXPECT_EQ(r.remaining_tokens, 149984);
  EXPECT_EQ(r.reset_requests, 1000ms);
  EXPECT_EQ(r.reset_tokens, 360000ms);
  EXPECT_TRUE(r.known());
  EXPECT_DOUBLE_EQ(r.fraction(), 59.0 / 60.0);  // requests are the tighter of the two
}

TEST(RateLimit, OpenAiTokensTighter) {
  const std::map<std::string, std::string> h = {
      {"x-ratelimit-limit-requests", "5000"}, {"x-ratelimit-remaining-requests", "4999"},
      {"x-ratelimit-limit-tokens", "160000"}, {"x-ratelimit-remaining-tokens", "16000"},
      {"x-ratelimit-reset-requests", "12ms"}, {"x-ratelimit-reset-tokens", "9ms"},
  };
  const auto r = parse_ratelimit(lookup(h), SystemClock::now());
  EXPECT_EQ(r.reset_requests, 12ms);
  EXPECT_EQ(r.reset_tokens, 9ms);
  EXPECT_DOUBLE_EQ(r.fraction(), 0.1);
}

TEST(RateLimit, AnthropicHeaders) {
  const auto now = SystemClock::time_point{std::chrono::seconds{1723666931}} - 20s;
  const std::map<std::string, std::string> h = {
      {"anthropic-ratelimit-requests-limit", "50"},
      {"anthropic-ratelimit-requests-remaining", "10"},
      {"anthropic-ratelimit-requests-reset", "2024-08-14T20:22:11Z"},
      {"anthropic-ratelimit-tokens-limit", "40000"},
      {"anthropic-ratelimit-tokens-remaining", "30000"},
      {"anthropic-ratelimit-tokens-reset", "2024-08-14T20:22:01Z"},
  };
  const auto r = parse_ratelimit(lookup(h), now);
  EXPECT_EQ(r.limit_requests, 50);
  EXPECT_EQ(r.remaining_requests, 10);
  EXPECT_EQ(r.reset_requests, 20000ms);
  EXPECT_EQ(r.limit_tokens, 40000);
  EXPECT_EQ(r.remaining_tokens, 30000);
  EXPECT_EQ(r.reset_tokens, 10000ms);
  EXPECT_DOUBLE_EQ(r.fraction(), 0.2);
}

TEST(RateLimit, AnthropicReportsTheTightestTokenFamily) {
  const auto now = SystemClock::time_point{std::chrono::seconds{1723666931}} - 60s;
  const std::map<std::string, std::string> h = {
      {"anthropic-ratelimit-input-tokens-limit", "40000"},
      {"anthropic-ratelimit-input-tokens-remaining", "35000"},
      {"anthropic-ratelimit-input-tokens-reset", "2024-08-14T20:22:11Z"},
      {"anthropic-ratelimit-output-tokens-limit", "8000"},
      {"anthropic-ratelimit-output-tokens-remaining", "1000"},
      {"anthropic-ratelimit-output-tokens-reset", "2024-08-14T20:21:41Z"},
  };
  const auto r = parse_ratelimit(lookup(h), now);
  EXPECT_EQ(r.limit_tokens, 8000);
  EXPECT_EQ(r.remaining_tokens, 1000);
  EXPECT_EQ(r.reset_tokens, 30000ms);
  EXPECT_FALSE(r.limit_requests.has_value());
  EXPECT_DOUBLE_EQ(r.fraction(), 0.125);
}

TEST(RateLimit, AnthropicResetInThePastIsZero) {
  const auto now = SystemClock::time_point{std::chrono::seconds{1723666931}} + 5s;
  const std::map<std::string, std::string> h = {
      {"anthropic-ratelimit-requests-reset", "2024-08-14T20:22:11Z"},
  };
  EXPECT_EQ(parse_ratelimit(lookup(h), now).reset_requests, 0ms);
}

TEST(RateLimit, NothingKnownMeansFullHeadroom) {
  const std::map<std::string, std::string> h = {{"content-type", "application/json"}};
  const auto r = parse_ratelimit(lookup(h), SystemClock::now());
  EXPECT_FALSE(r.known());
  EXPECT_DOUBLE_EQ(r.fraction(), 1.0);
  EXPECT_DOUBLE_EQ(Headroom{}.fraction(), 1.0);
  EXPECT_FALSE(parse_ratelimit(HeaderLookup{}, SystemClock::now()).known());
}

TEST(RateLimit, AzureNegativeAndGarbageValuesAreUnknown) {
  const std::map<std::string, std::string> h = {
      {"x-ratelimit-limit-tokens", "-1"},         {"x-ratelimit-remaining-tokens", "-1"},
      {"x-ratelimit-reset-tokens", "0"},          {"x-ratelimit-limit-requests", "lots"},
      {"x-ratelimit-remaining-requests", "12.5"},
  };
  const auto r = parse_ratelimit(lookup(h), SystemClock::now());
  EXPECT_FALSE(r.limit_tokens.has_value());
  EXPECT_FALSE(r.remaining_tokens.has_value());
  EXPECT_EQ(r.reset_tokens, 0ms);
  EXPECT_FALSE(r.limit_requests.has_value());
  EXPECT_FALSE(r.remaining_requests.has_value());
  EXPECT_DOUBLE_EQ(r.fraction(), 1.0);
}

TEST(RateLimit, FractionEdgeCases) {
  Headroom h;
  h.remaining_requests = 0;  // exhausted, limit unknown
  EXPECT_DOUBLE_EQ(h.fraction(), 0.0);

  Headroom over;
  over.remaining_tokens = 200;  // more than the stated limit (rounding upstream)
  over.limit_tokens = 100;
  EXPECT_DOUBLE_EQ(over.fraction(), 1.0);

  Headroom only_limit;
  only_limit.limit_requests = 100;
  EXPECT_DOUBLE_EQ(only_limit.fraction(), 1.0);

  Headroom zero_limit;
  zero_limit.limit_tokens = 0;
  zero_limit.remaining_tokens = 5;
  EXPECT_DOUBLE_EQ(zero_limit.fraction(), 1.0);

  Headroom both;
  both.remaining_requests = 3;
  both.limit_requests = 4;
  both.remaining_tokens = 1;
  both.limit_tokens = 2;
  EXPECT_DOUBLE_EQ(both.fraction(), 0.5);
}

TEST(RateLimit, OpenAiHeadersWinOverAnthropics) {
  const std::map<std::string, std::string> h = {
      {"x-ratelimit-limit-requests", "100"},
      {"x-ratelimit-remaining-requests", "90"},
      {"anthropic-ratelimit-requests-limit", "100"},
      {"anthropic-ratelimit-requests-remaining", "1"},
  };
  const auto r = parse_ratelimit(lookup(h), SystemClock::now());
  EXPECT_EQ(r.remaining_requests, 90);
}

}  // namespace
}  // namespace switchyard::router

namespace switchyard::router {
namespace {

TEST(BreakerRate, BackgroundErrorRateUnderLoadDoesNotTrip) {
  config::Breaker cfg;
  cfg.failures = 5;
  cfg.window = std::chrono::milliseconds(10000);
  cfg.cooldown = std::chrono::milliseconds(5000);
  std::mt19937_64 rng(3);
  CircuitBreaker b(cfg, rng);
  auto t = SteadyClock::time_point{} + std::chrono::hours(1);
  // 3 % failures at 100 requests/s for 10 s: 30 failures in the window, but 97 % successes.
  for (int i = 0; i < 1000; ++i) {
    t += std::chrono::milliseconds(10);
    if (i % 33 == 0) {
      b.on_failure(t, api::Origin::upstream);
    } else {
      b.on_success(t);
    }
    ASSERT_EQ(b.state(t), CircuitBreaker::State::closed) << "request " << i;
  }
  // A real outage (every request failing) still trips after `failures` of them.
  int n = 0;
  while (b.state(t) == CircuitBreaker::State::closed && n < 1000) {
    t += std::chrono::milliseconds(10);
    b.on_failure(t, api::Origin::upstream);
    ++n;
  }
  EXPECT_EQ(b.state(t), CircuitBreaker::State::open);
  EXPECT_GE(n, 5);
  EXPECT_LT(n, 1000);
}

TEST(BreakerRate, ZeroMinRateMeansCountOnly) {
  config::Breaker cfg;
  cfg.failures = 3;
  cfg.min_failure_rate = 0.0;
  std::mt19937_64 rng(3);
  CircuitBreaker b(cfg, rng);
  auto t = SteadyClock::time_point{} + std::chrono::hours(1);
  for (int i = 0; i < 100; ++i) b.on_success(t);
  for (int i = 0; i < 3; ++i) b.on_failure(t, api::Origin::upstream);
  EXPECT_EQ(b.state(t), CircuitBreaker::State::open);
}

}  // namespace
}  // namespace switchyard::router
