#include "switchyard/router/scorer.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <vector>

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

// --- Differential tests against the implementation before the decision-time work -----
// (rank and explain_line as of commit 52b1cef plus the rpm_capped exclusion, verbatim):
// the faster code must give the same plans, reasons, explain lines and random draws.

namespace ref {

double expected_output_tokens(const RankInput& in) {
  return static_cast<double>(in.max_tokens > 0 ? in.max_tokens : kDefaultOutputTokens);
}

bool fits_context(const config::Deployment& d, const RankInput& in) {
  if (d.context_window <= 0) return true;  // unknown: let the provider decide
  return in.prompt_tokens + (in.max_tokens > 0 ? in.max_tokens : 0) <= d.context_window;
}

bool tier_allows(const config::Tier* tier, const config::Deployment& d) {
  if (!tier) return true;
  if (d.quality > tier->max_quality + 1e-12) return false;
  if (tier->providers.empty()) return true;
  return std::find(tier->providers.begin(), tier->providers.end(), d.provider) !=
         tier->providers.end();
}

// Normalises parts so the largest allowed value is 1 (all zero stays zero).
// `floor` keeps tiny absolute differences tiny: two deployments answering in 1 and 2 ms
// are not "twice as slow" in any way that should outweigh cost or health.
void normalise(std::vector<Candidate>& cs, double Candidate::*part, double floor = 0) {
  double hi = floor;
  for (const auto& c : cs) hi = std::max(hi, c.*part);
  if (hi <= 0) return;
  for (auto& c : cs) c.*part /= hi;
}

Ranking rank(const RankInput& in, std::mt19937_64& rng) {
  const config::Model& m = *in.model;
  const config::Weights w = in.tier ? in.tier->weights.apply(in.weights) : in.weights;
  Ranking out;
  std::vector<Candidate> fit;        // pass quality/context/tier
  std::vector<Candidate> unhealthy;  // of those, excluded by breaker / Retry-After
  const double out_tokens = expected_output_tokens(in);

  for (std::size_t i = 0; i < m.deployments.size(); ++i) {
    const config::Deployment& d = m.deployments[i];
    const DeploymentView& v = in.views[i];
    Candidate c;
    c.index = i;
    if (d.quality + 1e-12 < in.min_quality) {
      c.excluded_because = "quality below the task's min_quality";
    } else if (!tier_allows(in.tier, d)) {
      c.excluded_because = "not allowed for this tier";
    } else if (!fits_context(d, in)) {
      c.excluded_because = "prompt + max_tokens exceed context_window";
    } else if (v.rpm_capped) {
      // A cap the operator set is a hard limit: not even panic mode goes past it.
      c.excluded_because = kExcludedRpm;
    }
    if (!c.excluded_because.empty()) {
      out.excluded.push_back(c);
      continue;
    }
    const double cached_in = d.price.input;
    c.expected_cost_usd =
        (cached_in * static_cast<double>(in.prompt_tokens) + d.price.output * out_tokens) / 1e6;
    // Latency: time to first byte now, generation time added below once every candidate
    // has a measured output rate (non-stream answers measure TTFB over the whole answer).
    c.expected_latency_ms = v.ttfb_ms;  // < 0: not measured yet, filled in below
    c.cost = c.expected_cost_usd;
    c.health = 1.0 - std::clamp(v.success_rate, 0.0, 1.0);
    c.headroom = 1.0 - std::clamp(v.headroom, 0.0, 1.0);
    if (v.breaker_open) {
      c.excluded_because = "circuit breaker open";
      unhealthy.push_back(c);
    } else if (v.retry_after) {
      c.excluded_because = "inside the provider's Retry-After window";
      unhealthy.push_back(c);
    } else {
      fit.push_back(c);
    }
  }
  if (fit.empty() && !unhealthy.empty()) {
    out.panic = true;
    for (auto& c : unhealthy) c.excluded_because = {};
    fit = std::move(unhealthy);
    unhealthy.clear();
  }
  for (auto& c : unhealthy) out.excluded.push_back(c);

  // Add generation time (expected output tokens ÷ tokens per second) only when every
  // candidate has a measured rate: a made-up prior for some would swamp the TTFB
  // differences that were actually measured.
  // A deployment not measured yet counts as average among those that are (neutral: it
  // neither wins nor loses on latency until it has been tried), or kPriorTtfbMs if none is.
  double measured_sum = 0;
  int measured = 0;
  for (const auto& c : fit) {
    if (c.expected_latency_ms >= 0) measured_sum += c.expected_latency_ms, ++measured;
  }
  const double neutral_ttfb = measured ? measured_sum / measured : kPriorTtfbMs;
  for (auto& c : fit) {
    if (c.expected_latency_ms < 0) c.expected_latency_ms = neutral_ttfb;
  }
  for (auto& c : out.excluded) {
    if (c.expected_latency_ms < 0) c.expected_latency_ms = neutral_ttfb;
  }
  bool all_rates = !fit.empty();
  for (const auto& c : fit) all_rates = all_rates && in.views[c.index].tokens_per_s > 0;
  for (auto& c : fit) {
    if (all_rates) c.expected_latency_ms += out_tokens / in.views[c.index].tokens_per_s * 1000.0;
    c.latency = c.expected_latency_ms;
  }

  normalise(fit, &Candidate::cost);
  normalise(fit, &Candidate::latency, kLatencyScaleMs);
  for (auto& c : fit) {
    c.score =
        w.cost * c.cost + w.latency * c.latency + w.health * c.health + w.headroom * c.headroom;
  }

  switch (m.strategy) {
    case config::Strategy::fallback:
      break;  // listed order (fit is already in it)
    case config::Strategy::weighted: {
      double total = 0;
      for (const auto& c : fit) total += m.deployments[c.index].weight;
      if (total > 0 && fit.size() > 1) {
        double pick = std::uniform_real_distribution<double>(0, total)(rng);
        std::size_t chosen = fit.size() - 1;
        for (std::size_t k = 0; k < fit.size(); ++k) {
          pick -= m.deployments[fit[k].index].weight;
          if (pick < 0) {
            chosen = k;
            break;
          }
        }
        std::rotate(fit.begin(), fit.begin() + static_cast<std::ptrdiff_t>(chosen),
                    fit.begin() + static_cast<std::ptrdiff_t>(chosen) + 1);
      }
      break;
    }
    case config::Strategy::score: {
      std::stable_sort(fit.begin(), fit.end(),
                       [](const Candidate& a, const Candidate& b) { return a.score < b.score; });
      // Slow start: a deployment back from an open breaker takes only `share` of the
      // traffic it would win; the rest of the time it goes behind the others.
      std::uniform_real_distribution<double> u(0, 1);
      std::vector<Candidate> demoted;
      std::vector<Candidate> kept;
      for (auto& c : fit) {
        double share = in.views[c.index].share;
        if (share < 1.0 && u(rng) >= share) {
          c.demoted = true;
          demoted.push_back(c);
        } else {
          kept.push_back(c);
        }
      }
      if (kept.empty()) {
        kept = std::move(demoted);
        demoted.clear();
      }
      fit = std::move(kept);
      fit.insert(fit.end(), demoted.begin(), demoted.end());
      // The second attempt prefers another provider: a provider-wide outage should not
      // eat two attempts.
      if (fit.size() > 2) {
        const std::string& first = m.deployments[fit[0].index].provider;
        if (m.deployments[fit[1].index].provider == first) {
          for (std::size_t k = 2; k < fit.size(); ++k) {
            if (m.deployments[fit[k].index].provider != first) {
              std::rotate(fit.begin() + 1, fit.begin() + static_cast<std::ptrdiff_t>(k),
                          fit.begin() + static_cast<std::ptrdiff_t>(k) + 1);
              break;
            }
          }
        }
      }
      break;
    }
  }
  out.allowed = std::move(fit);
  return out;
}

std::string explain_line(std::string_view task, const RankInput& in, const Ranking& r) {
  static constexpr const char* kStrategy[] = {"score", "fallback", "weighted"};
  std::string s = "task=";
  s.append(task);
  s.append("; strategy=");
  s.append(kStrategy[static_cast<int>(in.model->strategy)]);
  if (r.allowed.empty()) return s + "; no deployment allowed";
  const Candidate& c = r.allowed.front();
  char buf[160];
  std::snprintf(buf, sizeof buf,
                "; score=%.3f cost=%.3f latency=%.3f health=%.3f headroom=%.3f; candidates=%zu",
                c.score, c.cost, c.latency, c.health, c.headroom, r.allowed.size());
  s.append(buf);
  if (r.panic) s.append("; panic=all-unhealthy");
  return s;
}

}  // namespace ref

// Bit for bit (a NaN equals the same NaN).
bool same(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

bool same(const Candidate& a, const Candidate& b) {
  return a.index == b.index && same(a.score, b.score) && same(a.cost, b.cost) &&
         same(a.latency, b.latency) && same(a.health, b.health) && same(a.headroom, b.headroom) &&
         same(a.expected_cost_usd, b.expected_cost_usd) &&
         same(a.expected_latency_ms, b.expected_latency_ms) && a.demoted == b.demoted &&
         a.excluded_because == b.excluded_because;
}

void expect_same(const Ranking& want, const Ranking& got, const std::string& where) {
  EXPECT_EQ(want.panic, got.panic) << where;
  ASSERT_EQ(want.allowed.size(), got.allowed.size()) << where;
  ASSERT_EQ(want.excluded.size(), got.excluded.size()) << where;
  for (std::size_t i = 0; i < want.allowed.size(); ++i) {
    EXPECT_TRUE(same(want.allowed[i], got.allowed[i])) << where << " allowed[" << i << "]";
  }
  for (std::size_t i = 0; i < want.excluded.size(); ++i) {
    EXPECT_TRUE(same(want.excluded[i], got.excluded[i])) << where << " excluded[" << i << "]";
  }
}

// A random model, views and input; deliberately full of ties (repeated prices and stats),
// exclusions of every kind, slow-start shares and sizes past the stack buffers.
struct RandomCase {
  config::Model model;
  config::Tier tier;
  std::vector<DeploymentView> views;
  RankInput in;

  explicit RandomCase(std::mt19937_64& g) {
    auto pick = [&g](int n) { return static_cast<int>(g() % static_cast<unsigned>(n)); };
    static const char* kProviders[] = {"a", "b", "c", "d"};
    const int sizes[] = {0, 1, 2, 3, 5, 8, 17, 50, 64, 65, 129, 300};
    const int n = sizes[pick(12)];
    model.name = "m";
    model.strategy = static_cast<config::Strategy>(pick(3));
    const int providers = 1 + pick(4);
    for (int i = 0; i < n; ++i) {
      config::Deployment d;
      d.provider = kProviders[pick(providers)];
      d.model = "m" + std::to_string(i);
      d.price.input = pick(4) == 0 ? 0.0 : 0.1 * (1 + pick(6));
      d.price.output = d.price.input * (1 + pick(3));
      d.quality = 0.1 * (1 + pick(10));
      d.context_window = pick(3) == 0 ? 0 : 1000 * (1 + pick(10));
      d.weight = pick(5) == 0 ? 0.0 : 1.0 + pick(3);
      model.deployments.push_back(d);
      DeploymentView v;
      v.ttfb_ms = pick(4) == 0 ? -1 : 50.0 * (1 + pick(30)) + (pick(2) ? 0.25 : 0);
      if (pick(400) == 0) v.ttfb_ms = std::nan("");  // NaN scores: no strict weak order
      v.tokens_per_s = pick(6) == 0 ? -1 : 10.0 * (1 + pick(20));
      v.success_rate = pick(2) ? 1.0 : 0.05 * pick(25);
      v.headroom = pick(2) ? 1.0 : 0.1 * pick(12);
      v.breaker_open = pick(8) == 0;
      v.retry_after = pick(10) == 0;
      v.share = pick(5) == 0 ? 0.25 * pick(4) : 1.0;
      v.rpm_capped = pick(15) == 0;
      views.push_back(v);
    }
    in.model = &model;
    in.views = views;
    in.min_quality = pick(3) == 0 ? 0.0 : 0.1 * pick(10);
    in.prompt_tokens = 100 * pick(60);
    in.max_tokens = pick(3) == 0 ? 0 : 100 * pick(20);
    in.weights.cost = 0.5 * pick(4);
    in.weights.latency = 0.5 * pick(4);
    if (pick(2)) {
      tier.name = "t";
      tier.max_quality = pick(2) ? 1.0 : 0.1 * (3 + pick(7));
      if (pick(2)) tier.providers = {kProviders[pick(4)], kProviders[pick(4)]};
      if (pick(2)) tier.weights.latency = 1.5;
      if (pick(2)) tier.weights.headroom = 0.0;
      in.tier = &tier;
    }
    if (pick(10) == 0) {  // everything unhealthy: panic
      for (auto& v : views) v.breaker_open = true;
    }
  }
};

TEST(ScorerEquivalence, SamePlansReasonsLinesAndDrawsAsBefore) {
  std::mt19937_64 gen(2026);
  Ranking reused;
  std::string line;
  int panics = 0, demotions = 0, nan_plans = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    RandomCase rc(gen);
    const std::string where = "case " + std::to_string(iter);
    const std::uint64_t seed = gen();
    std::mt19937_64 rng_ref(seed), rng_new(seed), rng_reused(seed);
    const Ranking want = ref::rank(rc.in, rng_ref);
    const Ranking got = rank(rc.in, rng_new);
    expect_same(want, got, where);
    rank(rc.in, rng_reused, reused);  // into last case's lists
    expect_same(want, reused, where + " (reused)");
    EXPECT_TRUE(rng_ref == rng_new) << where << ": random draws differ";
    EXPECT_TRUE(rng_ref == rng_reused) << where << ": random draws differ";
    EXPECT_EQ(ref::explain_line("task", rc.in, want), explain_line("task", rc.in, got)) << where;
    explain_line("t2", rc.in, got, line);
    EXPECT_EQ(ref::explain_line("t2", rc.in, want), line) << where;
    panics += want.panic;
    for (const auto& c : want.allowed) demotions += c.demoted;
    nan_plans += !want.allowed.empty() &&
                 std::any_of(want.allowed.begin(), want.allowed.end(),
                             [](const Candidate& c) { return std::isnan(c.score); });
    if (HasFailure()) return;
  }
  EXPECT_GT(panics, 10);
  EXPECT_GT(nan_plans, 10);
  EXPECT_GT(demotions, 100);
}

TEST(ScorerEquivalence, ExplainLineWithHugeOrOddPartsAsBefore) {
  Fixture f = three();
  std::mt19937_64 rng(1);
  const RankInput in = f.input();
  Ranking r = rank(in, rng);
  const double odd[] = {0.0,
                        -0.0,
                        1e-300,
                        -0.0004,
                        0.0005,
                        0.9995,
                        123.4567,
                        8.9e12,
                        9.1e12,
                        1e15,
                        1e300,
                        -1e300,
                        std::numeric_limits<double>::infinity(),
                        std::nan(""),
                        1.7976931348623157e308};
  for (double v : odd) {
    for (int which = 0; which < 5; ++which) {
      Ranking x = r;
      Candidate& c = x.allowed.front();
      double* parts[] = {&c.score, &c.cost, &c.latency, &c.health, &c.headroom};
      for (int k = 0; k <= which; ++k) *parts[k] = v;
      x.panic = which % 2 == 1;
      EXPECT_EQ(ref::explain_line("code", in, x), explain_line("code", in, x)) << v;
    }
  }
  Ranking none;
  EXPECT_EQ(explain_line("code", in, none), "task=code; strategy=score; no deployment allowed");
  EXPECT_EQ(ref::explain_line("code", in, none), explain_line("code", in, none));
}

std::string printf3(double v) {
  char buf[400];
  std::snprintf(buf, sizeof buf, "%.3f", v);
  return buf;
}

std::string fixed3(double v) {
  char buf[detail::kFixed3MaxChars];
  return std::string(buf, detail::format_fixed3(buf, v));
}

TEST(FormatFixed3, MatchesPrintf) {
  const double listed[] = {0,
                           -0.0,
                           1,
                           0.0005,
                           0.0015,
                           0.0025,
                           0.9995,
                           1.0005,
                           2.0005,
                           0.0625,
                           0.1875,
                           0.3125,
                           0.4375,
                           123.4567,
                           999.9995,
                           -0.0004,
                           -0.0005,
                           -1.2345,
                           1e-7,
                           4.9e-324,
                           2.2250738585072014e-308,
                           0.1,
                           0.2,
                           0.3,
                           1.0 / 3,
                           2.0 / 3,
                           8999999999999.999,
                           9e12,
                           1e13,
                           4503599627370496.0,
                           1e20,
                           18446744073709551616.0,
                           1e300,
                           1.7976931348623157e308,
                           std::numeric_limits<double>::infinity(),
                           -std::numeric_limits<double>::infinity(),
                           std::nan("")};
  for (double v : listed) EXPECT_EQ(printf3(v), fixed3(v)) << v;
  // Every value with 4 decimals below 10, and its neighbours one ulp away (the ties
  // x.xxx5 are where rounding mistakes show).
  for (int i = 0; i <= 100000; ++i) {
    const double v = i / 10000.0;
    for (double w : {v, std::nextafter(v, 0.0), std::nextafter(v, 100.0), -v}) {
      ASSERT_EQ(printf3(w), fixed3(w)) << w;
    }
  }
  // Exact binary ties: k / 2^j.
  for (int j = 1; j <= 12; ++j) {
    for (int k = 0; k < 5000; ++k) {
      const double v = std::ldexp(k, -j);
      ASSERT_EQ(printf3(v), fixed3(v)) << v;
    }
  }
  // Random magnitudes over the whole range, and random bit patterns.
  std::mt19937_64 g(99);
  for (int i = 0; i < 200000; ++i) {
    const double v = std::ldexp(std::uniform_real_distribution<double>(0.5, 1)(g),
                                static_cast<int>(g() % 120) - 70);
    ASSERT_EQ(printf3(v), fixed3(v)) << v;
    double r;
    const std::uint64_t bits = g();
    std::memcpy(&r, &bits, sizeof r);
    ASSERT_EQ(printf3(r), fixed3(r)) << r;
  }
  // Large counts (candidates=%zu is formatted separately; the integer part must too).
  for (double v : {12345678.0, 123456789012.5, 999999999999.9996, 8999999999999.9995}) {
    EXPECT_EQ(printf3(v), fixed3(v)) << v;
  }
}

TEST(Scorer, ReusedRankingIsClearedAndKeepsCapacity) {
  Fixture f = three();
  std::mt19937_64 rng(1);
  Ranking r;
  RankInput in = f.input();
  in.min_quality = 0.7;
  rank(in, rng, r);
  ASSERT_EQ(r.allowed.size(), 2u);
  ASSERT_EQ(r.excluded.size(), 1u);
  for (auto& v : f.views) v.breaker_open = true;
  in = f.input();
  rank(in, rng, r);
  EXPECT_TRUE(r.panic);
  EXPECT_EQ(r.allowed.size(), 3u);
  EXPECT_TRUE(r.excluded.empty());
  const Candidate* data = r.allowed.data();
  for (auto& v : f.views) v.breaker_open = false;
  rank(in, rng, r);
  EXPECT_FALSE(r.panic);
  EXPECT_EQ(r.allowed.data(), data) << "capacity kept: no allocation";
  EXPECT_EQ(f.order(r), (std::vector<std::string>{"cheap", "mid", "premium"}));
}

TEST(Scorer, RpmCappedIsExcludedEvenInPanic) {
  Fixture f = three();
  f.views[0].rpm_capped = true;
  f.views[1].breaker_open = true;
  f.views[2].retry_after = true;
  std::mt19937_64 rng(1);
  auto r = rank(f.input(), rng);
  EXPECT_TRUE(r.panic);
  EXPECT_EQ(f.order(r), (std::vector<std::string>{"mid", "premium"}));
  ASSERT_EQ(r.excluded.size(), 1u);
  EXPECT_EQ(r.excluded[0].excluded_because, kExcludedRpm);
}
}  // namespace
}  // namespace switchyard::router
