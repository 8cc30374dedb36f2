// Hedge bookkeeping and answer accounting as the call does them (upstream/call.cpp), through
// usage::Accounting with metrics off: what the router learns from a race's winner and its
// loser, and the usage record of an answer whose provider reported no usage.
#include "switchyard/usage/accounting.hpp"

#include <gtest/gtest.h>

#include <random>

namespace switchyard::usage {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

config::Config two_deployments() {
  config::Config c;
  config::Model m;
  m.name = "fast";
  config::Deployment primary;
  primary.provider = "p0";
  primary.model = "model-a";
  primary.price.input = 1.0;  // USD per million tokens
  primary.price.output = 2.0;
  config::Deployment backup;
  backup.provider = "p1";
  backup.model = "model-b";
  backup.price.input = 3.0;
  backup.price.output = 6.0;
  backup.price.cached_input = 0.5;
  m.deployments = {primary, backup};
  c.models.push_back(m);
  c.routing.breaker.failures = 2;
  c.routing.breaker.window = 10s;
  c.routing.breaker.cooldown = 1s;
  return c;
}

class AccountingTest : public ::testing::Test {
 protected:
  const config::Config cfg = two_deployments();
  std::mt19937_64 rng{1};
  router::LocalStats stats{cfg, rng};
  Ledger ledger;
  Accounting acc{stats, nullptr, nullptr, ledger};
  const Clock::time_point t0 = Clock::time_point{} + 100s;

  const config::Deployment& dep(std::size_t i) const { return cfg.models[0].deployments[i]; }

  AttemptReport won(std::size_t deployment, double ttft_ms) const {
    AttemptReport r;
    r.model = 0;
    r.deployment = deployment;
    r.seconds = 0.5;
    r.ttfb_ms = ttft_ms;
    r.ttft_ms = ttft_ms;
    return r;
  }

  router::DeploymentView view(std::size_t deployment, Clock::time_point now) {
    std::vector<router::DeploymentView> v;
    stats.views(0, now, v);
    return v.at(deployment);
  }
};

TEST_F(AccountingTest, MetricsOffHasNoSlots) { EXPECT_EQ(acc.slot(0, 1), -1); }

TEST_F(AccountingTest, HedgeWinnerAndLoserLeaveNothingInFlight) {
  ASSERT_TRUE(stats.admit(0, 0, t0));  // the primary
  ASSERT_TRUE(stats.admit(0, 1, t0));  // the backup, started when the primary was slow
  EXPECT_EQ(stats.in_flight(0, 0), 1);
  EXPECT_EQ(stats.in_flight(0, 1), 1);
  // The backup won; the primary is cancelled, censored at the time it lost.
  const Clock::time_point t1 = t0 + 800ms;
  acc.attempt_finished(won(1, 300), t1);
  acc.ttft_censored(0, 0, 800);
  EXPECT_EQ(stats.in_flight(0, 0), 1) << "a censored sample is not the attempt's end";
  acc.attempt_abandoned(0, 0, 0.8, t1);
  EXPECT_EQ(stats.in_flight(0, 0), 0);
  EXPECT_EQ(stats.in_flight(0, 1), 0);
  // Losing a race says nothing against the provider.
  const router::DeploymentView loser = view(0, t1);
  EXPECT_DOUBLE_EQ(loser.success_rate, 1.0);
  EXPECT_FALSE(loser.breaker_open);
  EXPECT_DOUBLE_EQ(view(1, t1).ttfb_ms, 300);
  // Abandoning again (the call's settle) does not go below zero.
  acc.attempt_abandoned(0, 0, 0.8, t1);
  EXPECT_EQ(stats.in_flight(0, 0), 0);
}

TEST_F(AccountingTest, CensoredSamplesReachTheLosersP95) {
  // The primary usually answers in 100 ms...
  for (std::uint32_t i = 0; i < router::LocalStats::kMinTtftSamples; ++i) {
    ASSERT_TRUE(stats.admit(0, 0, t0));
    acc.attempt_finished(won(0, 100), t0);
  }
  // ...then keeps losing hedges after 5 s. Only its censored samples say how slow it got.
  std::uint32_t censored = 0;
  while (stats.p95_ttft_ms(0, 0) < 0 && censored < 16) {
    ASSERT_TRUE(stats.admit(0, 0, t0));
    acc.ttft_censored(0, 0, 5000);
    acc.attempt_abandoned(0, 0, 5.0, t0);
    ++censored;
  }
  // The p95 is refreshed every few samples once there are enough of them.
  EXPECT_LE(censored, 8u);
  EXPECT_DOUBLE_EQ(stats.p95_ttft_ms(0, 0), 5000) << "after " << censored << " censored samples";
  EXPECT_LT(stats.p95_ttft_ms(0, 1), 0) << "the other deployment has no samples";
  EXPECT_EQ(stats.in_flight(0, 0), 0);
}

TEST_F(AccountingTest, AnswerWithoutUsageIsEstimatedAndPriced) {
  AnswerReport a;
  a.deployment = &dep(0);
  a.model = 0;
  a.deployment_index = 0;
  a.request_id = "req-1";
  a.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  a.endpoint = "chat.completions";
  a.model_name = "fast";
  a.stream = true;
  a.attempt = 1;
  a.incomplete = true;  // the stream broke; a rescue continues it
  a.answer_bytes = 10;  // 3 tokens, rounded up
  a.prompt_estimate = 7;
  telemetry::RequestLog log;
  acc.answer(a, log);
  EXPECT_TRUE(ledger.recent(10).empty()) << "records reach the ledger in the worker's batch";

  // The rescue's continuation, whose provider did report usage.
  AnswerReport b = a;
  b.deployment = &dep(1);
  b.deployment_index = 1;
  b.attempt = 2;
  b.incomplete = false;
  b.usage.input_tokens = 20;
  b.usage.cached_input_tokens = 4;
  b.usage.output_tokens = 5;
  acc.answer(b, log);

  // The access log sums the answer and names who gave its last part.
  EXPECT_TRUE(log.has_usage);
  EXPECT_EQ(log.input_tokens, 7 + 20);
  EXPECT_EQ(log.output_tokens, 3 + 5);
  EXPECT_EQ(log.cached_tokens, 4);
  EXPECT_TRUE(log.estimated);
  EXPECT_EQ(log.deployment, "p1/model-b");
  EXPECT_EQ(log.slot, -1);
  const double first_cost = (7 * 1.0 + 3 * 2.0) / 1e6;
  const double second_cost = (16 * 3.0 + 4 * 0.5 + 5 * 6.0) / 1e6;
  EXPECT_NEAR(log.cost_usd, first_cost + second_cost, 1e-12);

  acc.submit_usage();
  const std::vector<Record> recs = ledger.recent(10);
  ASSERT_EQ(recs.size(), 2u);
  const Record& est = recs[0];
  EXPECT_EQ(est.provenance, Provenance::estimated);
  EXPECT_EQ(est.tokens.input_tokens, 7);
  EXPECT_EQ(est.tokens.output_tokens, 3);
  EXPECT_NEAR(est.cost_usd, first_cost, 1e-12);
  EXPECT_EQ(est.request_id, "req-1");
  EXPECT_EQ(est.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(est.endpoint, "chat.completions");
  EXPECT_EQ(est.model, "fast");
  EXPECT_EQ(est.provider, "p0");
  EXPECT_EQ(est.deployment, "p0/model-a");
  EXPECT_TRUE(est.stream);
  EXPECT_TRUE(est.incomplete);
  EXPECT_EQ(est.attempt, 1);
  const Record& rep = recs[1];
  EXPECT_EQ(rep.provenance, Provenance::provider);
  EXPECT_EQ(rep.tokens.input_tokens, 20);
  EXPECT_EQ(rep.deployment, "p1/model-b");
  EXPECT_EQ(rep.attempt, 2);
  EXPECT_NEAR(rep.cost_usd, second_cost, 1e-12);

  acc.submit_usage();
  EXPECT_EQ(ledger.recent(10).size(), 2u) << "a batch is handed over once";
}

TEST_F(AccountingTest, OnlyTheMissingCountIsEstimated) {
  AnswerReport a;
  a.deployment = &dep(0);
  a.usage.input_tokens = 40;  // known from the stream's start; the end never came
  a.answer_bytes = 1;
  a.prompt_estimate = 999;
  telemetry::RequestLog log;
  acc.answer(a, log);
  acc.submit_usage();
  const std::vector<Record> recs = ledger.recent(1);
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].provenance, Provenance::estimated);
  EXPECT_EQ(recs[0].tokens.input_tokens, 40);
  EXPECT_EQ(recs[0].tokens.output_tokens, 1);
}

}  // namespace
}  // namespace switchyard::usage
