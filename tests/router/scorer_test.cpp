#include "switchyard/router/scorer.hpp"

#include <gtest/gtest.h>

#include <map>

namespace switchyard::router {
namespace {

config::Deployment dep(std::string provider, std::string model, double in, double out,
                       double quality, std::int64_t ctx = 0, double weight = 1) {
  config::Deployment d;
  d.provider = std::move(provider);
  d.model = std::move(model);
  d.price.input = in;
  d.price.output = out;
  d.quality = quality;
  d.context_window = ctx;
  d.weight = weight;
  return d;
}

struct Fixture {
  config::Model model;
  std::vector<DeploymentView> views;
  RankInput input() const {
    RankInput in;
    in.model = &model;
    in.views = views;
    in.prompt_tokens = 1000;
    in.max_tokens = 200;
    return in;
  }
  std::vector<std::string> order(const Ranking& r) const {
    std::vector<std::string> names;
    for (const auto& c : r.allowed) names.push_back(model.deployments[c.index].model);
    return names;
  }
};

Fixture three() {
  Fixture f;
  f.model.name = "m";
  f.model.strategy = config::Strategy::score;
  f.model.deployments = {dep("cheapco", "cheap", 0.1, 0.4, 0.5, 16000),
                         dep("midco", "mid", 1.0, 4.0, 0.75, 128000),
                         dep("premco", "premium", 5.0, 15.0, 0.95, 200000)};
  f.views.assign(3, DeploymentView{});
  for (auto& v : f.views) {
    v.ttfb_ms = 300;
    v.tokens_per_s = 80;
  }
  return f;
}

TEST(Scorer, CheapestWinsWhenEverythingElseIsEqual) {
  Fixture f = three();
  std::mt19937_64 rng(1);
  auto r = rank(f.input(), rng);
  EXPECT_EQ(f.order(r), (std::vector<std::string>{"cheap", "mid", "premium"}));
  EXPECT_TRUE(r.excluded.empty());
  EXPECT_DOUBLE_EQ(r.allowed.back().cost, 1.0);  // normalised to the most expensive
}

TEST(Scorer, TaskMinQualityExcludesWeakDeployments) {
  Fixture f = three();
  std::mt19937_64 rng(1);
  RankInput in = f.input();
  in.min_quality = 0.8;
  auto r = rank(in, rng);
  EXPECT_EQ(f.order(r), (std::vector<std::string>{"premium"}));
  ASSERT_EQ(r.excluded.size(), 2u);
  EXPECT_EQ(r.excluded[0].excluded_because, "quality below the task's min_quality");
}

TEST(Scorer, ContextWindowExcludesSmallDeployments) {
  Fixture f = three();
  std::mt19937_64 rng(1);
  RankInput in = f.input();
  in.prompt_tokens = 20000;
  auto r = rank(in, rng);
  EXPECT_EQ(f.order(r), (std::vector<std::string>{"mid", "premium"}));
}

TEST(Scorer, SlowDeploymentLosesToACostlierFastOne) {
  Fixture f = three();
  f.views[0].ttfb_ms = 20000;  // cheap but very slow
  std::mt19937_64 rng(1);
  auto r = rank(f.input(), rng);
  EXPECT_EQ(f.order(r), (std::vector<std::string>{"mid", "cheap", "premium"}));
  EXPECT_DOUBLE_EQ(r.allowed[1].latency, 1.0);  // cheap: the slowest, normalised to 1
}

TEST(Scorer, UnhealthyDeploymentGoesLast) {
  Fixture f = three();
  f.views[0].ttfb_ms = 20000;
  f.views[1].success_rate = 0.2;  // mid now fails 80 % of the time
  std::mt19937_64 rng(1);
  auto r = rank(f.input(), rng);
  EXPECT_EQ(f.order(r).back(), "mid");
  EXPECT_NEAR(r.allowed.back().health, 0.8, 1e-9);
}

TEST(Scorer, WeightsChangeTheWinner) {
  Fixture f = three();
  f.views[2].ttfb_ms = 50;
  f.views[2].tokens_per_s = 400;
  f.views[0].ttfb_ms = 3000;
  std::mt19937_64 rng(1);
  RankInput in = f.input();
  in.weights = {0.0, 1.0, 1.0, 0.5};  // latency only
  EXPECT_EQ(f.order(rank(in, rng)).front(), "premium");
  in.weights = {1.0, 0.0, 1.0, 0.5};  // cost only
  EXPECT_EQ(f.order(rank(in, rng)).front(), "cheap");
}

TEST(Scorer, BreakerAndRetryAfterExcludeUnlessNothingIsLeft) {
  Fixture f = three();
  f.views[0].breaker_open = true;
  f.views[1].retry_after = true;
  std::mt19937_64 rng(1);
  auto r = rank(f.input(), rng);
  EXPECT_EQ(f.order(r), (std::vector<std::string>{"premium"}));
  EXPECT_FALSE(r.panic);
  f.views[2].breaker_open = true;
  r = rank(f.input(), rng);
  EXPECT_TRUE(r.panic);
  EXPECT_EQ(r.allowed.size(), 3u) << "all unhealthy: try them all rather than fail untried";
}

TEST(Scorer, SecondAttemptPrefersAnotherProvider) {
  Fixture f = three();
  f.model.deployments[1].provider = "cheapco";  // cheap and mid on one provider
  std::mt19937_64 rng(1);
  auto r = rank(f.input(), rng);
  EXPECT_EQ(f.order(r), (std::vector<std::string>{"cheap", "premium", "mid"}));
}

TEST(Scorer, TierNarrowsAndReweights) {
  Fixture f = three();
  config::Tier free;
  free.name = "free";
  free.max_quality = 0.8;
  std::mt19937_64 rng(1);
  RankInput in = f.input();
  in.tier = &free;
  auto r = rank(in, rng);
  EXPECT_EQ(f.order(r), (std::vector<std::string>{"cheap", "mid"}));
  free.max_quality = 1.0;
  free.providers = {"premco"};
  EXPECT_EQ(f.order(rank(in, rng)), (std::vector<std::string>{"premium"}));
  free.providers.clear();
  f.views[2].ttfb_ms = 10;
  f.views[2].tokens_per_s = 1000;
  free.weights.cost = 0.0;  // this tier cares only about latency and health
  EXPECT_EQ(f.order(rank(in, rng)).front(), "premium");
}

TEST(Scorer, WeightedSplitFollowsWeights) {
  Fixture f = three();
  f.model.strategy = config::Strategy::weighted;
  f.model.deployments[0].weight = 1;
  f.model.deployments[1].weight = 3;
  f.model.deployments[2].weight = 0;
  std::mt19937_64 rng(42);
  std::map<std::string, int> first;
  const int n = 10000;
  for (int i = 0; i < n; ++i) {
    auto r = rank(f.input(), rng);
    ASSERT_EQ(r.allowed.size(), 3u);  // the rest stay as failover
    ++first[f.model.deployments[r.allowed[0].index].model];
  }
  EXPECT_NEAR(first["cheap"] / double(n), 0.25, 0.02);
  EXPECT_NEAR(first["mid"] / double(n), 0.75, 0.02);
  EXPECT_EQ(first["premium"], 0);
}

TEST(Scorer, FallbackKeepsListedOrderButSkipsOpenBreakers) {
  Fixture f = three();
  f.model.strategy = config::Strategy::fallback;
  f.model.deployments[0].price.input = 100;  // price doesn't matter for fallback
  f.views[1].breaker_open = true;
  std::mt19937_64 rng(1);
  EXPECT_EQ(f.order(rank(f.input(), rng)), (std::vector<std::string>{"cheap", "premium"}));
}

TEST(Scorer, SlowStartShareDemotesSometimes) {
  Fixture f = three();
  f.views[0].share = 0.25;  // cheap is back from an open breaker
  std::mt19937_64 rng(7);
  int first = 0;
  const int n = 4000;
  for (int i = 0; i < n; ++i) {
    auto r = rank(f.input(), rng);
    if (f.model.deployments[r.allowed[0].index].model == "cheap") ++first;
    ASSERT_EQ(r.allowed.size(), 3u);
  }
  EXPECT_NEAR(first / double(n), 0.25, 0.03);
}

TEST(Scorer, ExplainLineNamesTaskAndParts) {
  Fixture f = three();
  std::mt19937_64 rng(1);
  auto in = f.input();
  auto line = explain_line("code", in, rank(in, rng));
  EXPECT_EQ(line.rfind("task=code; strategy=score; score=", 0), 0u) << line;
  EXPECT_NE(line.find("cost=0.0"), std::string::npos) << line;
  EXPECT_NE(line.find("candidates=3"), std::string::npos) << line;
}

}  // namespace
}  // namespace switchyard::router

namespace switchyard::router {
namespace {

TEST(ScorerPriors, AnUnmeasuredDeploymentCountsAsAverageLatency) {
  Fixture f = three();
  for (auto& v : f.views) v = DeploymentView{};  // nothing measured...
  f.views[2].ttfb_ms = 5;                        // ...but premium, which answered fast
  std::mt19937_64 rng(1);
  RankInput in = f.input();
  in.min_quality = 0.7;  // mid or premium
  auto r = rank(in, rng);
  EXPECT_EQ(f.order(r).front(), "mid") << "mid is not penalised for not being measured yet";
  EXPECT_DOUBLE_EQ(r.allowed[0].expected_latency_ms, 5.0);
}

TEST(ScorerPriors, GenerationTimeCountsOnlyWhenEveryRateIsMeasured) {
  Fixture f = three();
  f.views[0].tokens_per_s = -1;  // cheap: no stream measured yet
  std::mt19937_64 rng(1);
  auto r = rank(f.input(), rng);
  for (const auto& c : r.allowed) EXPECT_DOUBLE_EQ(c.expected_latency_ms, 300.0);
  f.views[0].tokens_per_s = 80;
  r = rank(f.input(), rng);
  for (const auto& c : r.allowed)
    EXPECT_DOUBLE_EQ(c.expected_latency_ms, 300.0 + 200.0 / 80 * 1000);
}

}  // namespace
}  // namespace switchyard::router
