#include "switchyard/router/live_stats.hpp"

#include <gtest/gtest.h>

namespace switchyard::router {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

config::Config two_deployments() {
  config::Config c;
  config::Model m;
  m.name = "m";
  m.deployments.resize(2);
  c.models.push_back(m);
  c.routing.breaker.failures = 2;
  c.routing.breaker.window = 10s;
  c.routing.breaker.cooldown = 1s;
  return c;
}

TEST(LocalStats, OwnOutcomesShapeTheView) {
  auto cfg = two_deployments();
  std::mt19937_64 rng(1);
  LocalStats s(cfg, rng);
  const auto t0 = Clock::time_point{} + 100s;
  ASSERT_TRUE(s.admit(0, 0, t0));
  s.attempt_finished(0, 0, t0, true, api::Origin::upstream, 100, 50);
  ASSERT_TRUE(s.admit(0, 0, t0));
  s.attempt_finished(0, 0, t0, false, api::Origin::upstream, 300, -1);
  s.retry_after(0, 1, t0 + 5s);
  std::vector<DeploymentView> v;
  s.views(0, t0, v);
  ASSERT_EQ(v.size(), 2u);
  EXPECT_DOUBLE_EQ(v[0].success_rate, 0.5);
  EXPECT_DOUBLE_EQ(v[0].ttfb_ms, 100 + LocalStats::kAlpha * 200);  // EWMA
  EXPECT_DOUBLE_EQ(v[0].tokens_per_s, 50);
  EXPECT_FALSE(v[0].retry_after);
  EXPECT_TRUE(v[1].retry_after);
  s.views(0, t0 + 6s, v);
  EXPECT_FALSE(v[1].retry_after);
}

TEST(LocalStats, LocalFailuresDoNotHurtTheProvider) {
  auto cfg = two_deployments();
  std::mt19937_64 rng(1);
  LocalStats s(cfg, rng);
  const auto t0 = Clock::time_point{} + 100s;
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(s.admit(0, 0, t0));
    s.attempt_abandoned(0, 0, t0);
  }
  std::vector<DeploymentView> v;
  s.views(0, t0, v);
  EXPECT_DOUBLE_EQ(v[0].success_rate, 1.0);
  EXPECT_FALSE(v[0].breaker_open);
}

TEST(LocalStats, PeersAreMergedIntoTheView) {
  auto cfg = two_deployments();
  std::mt19937_64 rng_a(1), rng_b(2);
  LocalStats a(cfg, rng_a), b(cfg, rng_b);
  const auto t0 = Clock::time_point{} + 100s;
  // Worker b sees deployment 0 fail twice: its breaker opens; and a slow TTFB.
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(b.admit(0, 0, t0));
    b.attempt_finished(0, 0, t0, false, api::Origin::upstream, 900, -1);
  }
  b.headroom(0, 1, 0.05, t0 + 30s);
  // Worker a saw one success on deployment 0.
  ASSERT_TRUE(a.admit(0, 0, t0));
  a.attempt_finished(0, 0, t0, true, api::Origin::upstream, 100, -1);

  std::vector<DeploymentView> v;
  a.views(0, t0, v);
  EXPECT_FALSE(v[0].breaker_open) << "before merging, a knows nothing of b";
  a.set_peers({b.summarize(t0)});
  a.views(0, t0, v);
  EXPECT_TRUE(v[0].breaker_open) << "b's open breaker keeps a away";
  EXPECT_NEAR(v[0].success_rate, 1.0 / 3.0, 1e-12);
  EXPECT_DOUBLE_EQ(v[0].ttfb_ms, (100 + 900) / 2.0);
  EXPECT_DOUBLE_EQ(v[1].headroom, 0.05);
  a.views(0, t0 + 31s, v);
  EXPECT_DOUBLE_EQ(v[1].headroom, 1.0) << "a headroom reading expires at its reset time";
}

TEST(LocalStats, CurrentViewsAreReusedForAMillisecondButSeeATripAtOnce) {
  auto cfg = two_deployments();  // breaker: 2 failures in 10 s, cooldown 1 s
  std::mt19937_64 rng(1);
  LocalStats s(cfg, rng);
  const auto t0 = Clock::time_point{} + 100s;
  ASSERT_TRUE(s.admit(0, 0, t0));
  s.attempt_finished(0, 0, t0, true, api::Origin::upstream, 100, -1);
  EXPECT_DOUBLE_EQ(s.current_views(0, t0)[0].success_rate, 1.0);
  // A failure that does not trip: the cached views are reused within the millisecond...
  ASSERT_TRUE(s.admit(0, 0, t0));
  s.attempt_finished(0, 0, t0, false, api::Origin::upstream, -1, -1);
  EXPECT_DOUBLE_EQ(s.current_views(0, t0 + 999us)[0].success_rate, 1.0);
  // ...and recomputed after it.
  EXPECT_DOUBLE_EQ(s.current_views(0, t0 + 1ms)[0].success_rate, 0.5);
  // A trip (the second failure) is seen at once, whatever the age of the cache.
  const auto t1 = t0 + 1ms;
  ASSERT_TRUE(s.admit(0, 0, t1));
  s.attempt_finished(0, 0, t1, false, api::Origin::upstream, -1, -1);
  EXPECT_TRUE(s.current_views(0, t1)[0].breaker_open);
  // So is a Retry-After.
  s.retry_after(0, 1, t1 + 5s);
  EXPECT_TRUE(s.current_views(0, t1)[1].retry_after);
  EXPECT_FALSE(s.current_views(0, t1)[0].retry_after);
}

/// Opens the breaker of every deployment of model 0 on `s` (two upstream failures each).
void open_all_breakers(LocalStats& s, Clock::time_point now) {
  for (std::size_t d = 0; d < 2; ++d) {
    for (int i = 0; i < 2; ++i) {
      ASSERT_TRUE(s.admit(0, d, now));
      s.attempt_finished(0, d, now, false, api::Origin::upstream, -1, -1);
    }
    ASSERT_EQ(s.breaker(0, d).state(now), CircuitBreaker::State::open);
    ASSERT_EQ(s.in_flight(0, d), 0);
  }
}

TEST(LocalStatsPanic, OpenBreakersRefuseOutsidePanicAndAdmitInPanic) {
  auto cfg = two_deployments();  // breaker: 2 failures in 10 s, cooldown 1 s
  cfg.routing.breaker.cooldown = 30s;
  std::mt19937_64 rng(1);
  LocalStats s(cfg, rng);
  const auto t0 = Clock::time_point{} + 100s;
  open_all_breakers(s, t0);
  const auto t = t0 + 1s;
  for (std::size_t d = 0; d < 2; ++d) {
    EXPECT_FALSE(s.admit(0, d, t));
    EXPECT_FALSE(s.admit(0, d, t, false));
    EXPECT_EQ(s.in_flight(0, d), 0) << "a refusal counts nothing";
    EXPECT_TRUE(s.admit(0, d, t, true));
    EXPECT_TRUE(s.admit(0, d, t, true)) << "every panic request goes, not just one probe";
    EXPECT_EQ(s.in_flight(0, d), 2);
    EXPECT_FALSE(s.admit(0, d, t)) << "outside panic it is still not healthy";
  }
  // Both of deployment 0's attempts abandoned, deployment 1's finish locally failed and
  // upstream failed: every admission is undone exactly once.
  s.attempt_abandoned(0, 0, t);
  s.attempt_abandoned(0, 0, t);
  EXPECT_EQ(s.in_flight(0, 0), 0);
  EXPECT_FALSE(s.breaker(0, 0).probe_in_flight());
  s.attempt_finished(0, 1, t, false, api::Origin::local, -1, -1);
  s.attempt_finished(0, 1, t, false, api::Origin::upstream, -1, -1);
  EXPECT_EQ(s.in_flight(0, 1), 0);
  EXPECT_FALSE(s.breaker(0, 1).probe_in_flight());
}

TEST(LocalStatsPanic, PanicSuccessClosesTheBreakerAndFailureKeepsItOpen) {
  auto cfg = two_deployments();
  cfg.routing.breaker.cooldown = 30s;
  std::mt19937_64 rng(1);
  LocalStats s(cfg, rng);
  const auto t0 = Clock::time_point{} + 100s;
  open_all_breakers(s, t0);
  const auto t = t0 + 1s;
  std::vector<DeploymentView> v;
  s.views(0, t, v);
  ASSERT_TRUE(v[0].breaker_open && v[1].breaker_open);
  (void)s.current_views(0, t);  // cached: a state change must still be seen at once

  ASSERT_TRUE(s.admit(0, 0, t, true));
  s.attempt_finished(0, 0, t + 100ms, true, api::Origin::upstream, 50, -1);
  EXPECT_EQ(s.breaker(0, 0).state(t + 100ms), CircuitBreaker::State::closed);
  EXPECT_FALSE(s.current_views(0, t + 100ms)[0].breaker_open);
  EXPECT_TRUE(s.admit(0, 0, t + 100ms)) << "closed: normal admission again";
  s.attempt_abandoned(0, 0, t + 100ms);

  ASSERT_TRUE(s.admit(0, 1, t, true));
  const int trips = s.breaker(0, 1).trips();
  s.attempt_finished(0, 1, t + 100ms, false, api::Origin::upstream, -1, -1);
  EXPECT_EQ(s.breaker(0, 1).state(t + 100ms), CircuitBreaker::State::open);
  EXPECT_EQ(s.breaker(0, 1).trips(), trips + 1) << "re-armed as a failed probe";
  EXPECT_GT(s.breaker(0, 1).open_until(), t + 100ms + 30s);
  EXPECT_TRUE(s.current_views(0, t + 100ms)[1].breaker_open);
  EXPECT_FALSE(s.admit(0, 1, t + 200ms));
  EXPECT_EQ(s.in_flight(0, 0), 0);
  EXPECT_EQ(s.in_flight(0, 1), 0);
}

TEST(LocalStatsPanic, TheRpmCapStillRefusesInPanic) {
  auto cfg = two_deployments();
  cfg.models[0].deployments[0].max_rpm = 2;  // both used by the failures that trip it
  cfg.routing.breaker.cooldown = 60s;        // still open when the cap refills (30 s)
  auto caps = std::make_shared<const RpmCaps>(cfg);
  std::mt19937_64 rng(1);
  LocalStats s(cfg, rng, caps);
  const auto t0 = Clock::time_point{} + 100s;
  open_all_breakers(s, t0);
  const auto t = t0 + 1s;
  ASSERT_TRUE(s.rpm_capped(0, 0, t));
  EXPECT_FALSE(s.admit(0, 0, t, true));
  EXPECT_EQ(s.in_flight(0, 0), 0);
  EXPECT_FALSE(s.breaker(0, 0).probe_in_flight()) << "the cap refused before the breaker";
  EXPECT_TRUE(s.admit(0, 1, t, true)) << "the uncapped one goes";
  // Once the cap has room again, panic gets through the still-open breaker.
  const auto later = t0 + 30s;
  ASSERT_FALSE(s.rpm_capped(0, 0, later));
  ASSERT_EQ(s.breaker(0, 0).state(later), CircuitBreaker::State::open);
  EXPECT_TRUE(s.admit(0, 0, later, true));
  EXPECT_TRUE(s.rpm_capped(0, 0, later)) << "the panic attempt took the cap's room";
}

}  // namespace
}  // namespace switchyard::router
