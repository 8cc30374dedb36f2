#include "switchyard/router/rate_cap.hpp"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "switchyard/router/live_stats.hpp"

namespace switchyard::router {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

TEST(RpmCap, FullBucketLetsMaxRpmThroughThenRefillsAtTheRate) {
  RpmCap cap(60);  // one request per second once the burst is spent
  const auto t0 = Clock::time_point{} + 1000s;
  for (int i = 0; i < 60; ++i) ASSERT_TRUE(cap.try_take(t0)) << i;
  EXPECT_FALSE(cap.would_allow(t0));
  EXPECT_FALSE(cap.try_take(t0));
  EXPECT_EQ(cap.wait(t0), 1s);
  EXPECT_FALSE(cap.try_take(t0 + 999ms));
  EXPECT_TRUE(cap.try_take(t0 + 1s));
  EXPECT_FALSE(cap.try_take(t0 + 1s));
  // A quiet minute refills the bucket completely, not more.
  const auto t1 = t0 + 200s;
  int n = 0;
  while (cap.try_take(t1)) ++n;
  EXPECT_EQ(n, 60);
}

TEST(RpmCap, OverAMinuteOfSteadyDemandAtMostMaxRpmPlusTheRefill) {
  RpmCap cap(120);
  const auto t0 = Clock::time_point{} + 1000s;
  int taken = 0;
  for (int ms = 0; ms < 60000; ms += 10) taken += cap.try_take(t0 + std::chrono::milliseconds(ms));
  // 120 at once, then 2 per second for 60 s.
  EXPECT_GE(taken, 120 + 119);
  EXPECT_LE(taken, 120 + 120);
}

TEST(RpmCap, GiveBackReturnsTheRoom) {
  RpmCap cap(2);
  const auto t0 = Clock::time_point{} + 1000s;
  ASSERT_TRUE(cap.try_take(t0));
  ASSERT_TRUE(cap.try_take(t0));
  ASSERT_FALSE(cap.try_take(t0));
  cap.give_back();
  EXPECT_TRUE(cap.try_take(t0));
  EXPECT_FALSE(cap.try_take(t0));
}

TEST(RpmCap, HoldsAcrossThreads) {
  RpmCap cap(1000);
  const auto t0 = Clock::time_point{} + 1000s;
  std::atomic<int> taken{0};
  std::vector<std::thread> threads;
  for (int k = 0; k < 4; ++k) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) taken += cap.try_take(t0);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(taken.load(), 1000);
}

TEST(HedgeBudget, SpendsAtMostTheFractionOverTime) {
  HedgeBudget b(0.1);
  int hedges = 0;
  for (int i = 0; i < 10000; ++i) {
    b.on_request();
    hedges += b.try_spend();  // every request wants to hedge
  }
  EXPECT_GE(hedges, 999);
  EXPECT_LE(hedges, 1002);  // 10 % plus the initial token and reserve
}

TEST(HedgeBudget, ZeroFractionNeverHedges) {
  HedgeBudget b(0.0);
  for (int i = 0; i < 100; ++i) {
    b.on_request();
    EXPECT_FALSE(b.try_spend());
  }
}

TEST(HedgeBudget, AllowsAShortBurstAfterQuietTraffic) {
  HedgeBudget b(0.5, 2.0);
  for (int i = 0; i < 100; ++i) b.on_request();  // nothing wanted a hedge
  EXPECT_TRUE(b.try_spend());
  EXPECT_TRUE(b.try_spend());
  EXPECT_FALSE(b.try_spend());  // the reserve is two
}

config::Config capped_model() {
  config::Config c;
  config::Model m;
  m.name = "m";
  m.deployments.resize(2);
  m.deployments[0].max_rpm = 2;
  c.models.push_back(m);
  return c;
}

TEST(LocalStatsRpm, CapIsSharedByWorkersAndShowsInTheView) {
  const auto cfg = capped_model();
  auto caps = std::make_shared<const RpmCaps>(cfg);
  std::mt19937_64 rng(1);
  LocalStats w1(cfg, rng, caps), w2(cfg, rng, caps);
  const auto t0 = Clock::time_point{} + 1000s;
  EXPECT_TRUE(w1.admit(0, 0, t0));
  EXPECT_TRUE(w2.admit(0, 0, t0));
  EXPECT_FALSE(w1.admit(0, 0, t0));  // the two workers share one cap of 2
  EXPECT_TRUE(w1.rpm_capped(0, 0, t0));
  EXPECT_EQ(w2.rpm_wait(0, 0, t0), 30s);
  std::vector<DeploymentView> v;
  w2.views(0, t0, v);
  EXPECT_TRUE(v[0].rpm_capped);
  EXPECT_FALSE(v[1].rpm_capped);  // no cap
  EXPECT_TRUE(w2.admit(0, 1, t0));
  EXPECT_FALSE(w2.rpm_capped(0, 0, t0 + 30s));
}

TEST(LocalStatsRpm, ABreakerRefusalDoesNotSpendTheCap) {
  auto cfg = capped_model();
  cfg.routing.breaker.failures = 1;
  cfg.routing.breaker.min_failure_rate = 0;
  cfg.routing.breaker.cooldown = 10s;
  auto caps = std::make_shared<const RpmCaps>(cfg);
  std::mt19937_64 rng(1);
  LocalStats s(cfg, rng, caps);
  const auto t0 = Clock::time_point{} + 1000s;
  ASSERT_TRUE(s.admit(0, 0, t0));
  s.attempt_finished(0, 0, t0, false, api::Origin::upstream, -1, -1);  // trips
  EXPECT_FALSE(s.admit(0, 0, t0));                                     // breaker open
  EXPECT_FALSE(s.rpm_capped(0, 0, t0));  // one of two used; the refusal gave its room back
}

TEST(LocalStatsTtft, P95AppearsAfterEnoughSamplesAndReachesPeers) {
  config::Config cfg = capped_model();
  std::mt19937_64 rng(1);
  LocalStats a(cfg, rng), b(cfg, rng);
  const auto t0 = Clock::time_point{} + 1000s;
  std::vector<DeploymentView> v;
  for (int i = 0; i < 16; ++i) a.ttft_sample(0, 0, 100);
  a.views(0, t0, v);
  EXPECT_LT(v[0].p95_ttft_ms, 0);  // too few samples
  // 64 samples: 60 fast, 4 slow → the nearest-rank p95 (61st of 64) is a slow one.
  for (int i = 16; i < 60; ++i) a.ttft_sample(0, 0, 100);
  for (int i = 0; i < 4; ++i) a.ttft_sample(0, 0, 900);
  a.views(0, t0, v);
  EXPECT_DOUBLE_EQ(v[0].p95_ttft_ms, 900);
  // The ring keeps the latest 64: once the slow ones are pushed out, the p95 is fast again.
  for (int i = 0; i < 64; ++i) a.ttft_sample(0, 0, 100);
  a.views(0, t0, v);
  EXPECT_DOUBLE_EQ(v[0].p95_ttft_ms, 100);
  b.set_peers({a.summarize(t0)});
  b.views(0, t0, v);
  EXPECT_DOUBLE_EQ(v[0].p95_ttft_ms, 100);
  EXPECT_DOUBLE_EQ(b.p95_ttft_ms(0, 0), 100);  // the same, without the views
  EXPECT_LT(b.p95_ttft_ms(0, 1), 0);
  EXPECT_LT(v[1].p95_ttft_ms, 0);
}

}  // namespace
}  // namespace switchyard::router
