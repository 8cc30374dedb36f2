// Router decision time (issue 4): what router::Planner::plan() (src/router/planner.cpp) does for
// every chat request before the first attempt — extract features, classify the task, find
// the tier, read the live stats, rank the deployments, format x-switchyard-route — and
// its parts on their own, so the cost can be attributed.
//
// Target: the whole decision ≤ 2 µs for a model with 50 deployments.
// Run with `bash bench/router.sh` (Release build in build-bench/).
//
// Scenario: one model of N deployments over 5 providers with varied prices, qualities and
// context windows; three task rules (regex, min_prompt_tokens, tools) plus a default task
// with a min_quality; a default tier with a weight override; a ~1 KB chat body (system
// message + four turns, last user message ~300 chars) that matches no rule, so every rule
// is evaluated and the regex scans the whole last user message (the classifier's worst
// case). The worker's stats are warmed with 10 s of outcomes per deployment, one
// deployment on its slow-start ramp, one with an open breaker, one inside a Retry-After
// window and some with reduced rate-limit headroom. Seeds are fixed.
//
// With several workers, views() also merges the other workers' published summaries
// (LocalStats::set_peers): the *Peers benchmarks give it 1 peer (2 workers, as on this
// 2-core machine with `workers: 0`) or 3 peers, each warmed like the worker itself.

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "switchyard/api/chat_request.hpp"
#include "switchyard/api/errors.hpp"
#include "switchyard/config/config.hpp"
#include "switchyard/router/classifier.hpp"
#include "switchyard/router/live_stats.hpp"
#include "switchyard/router/scorer.hpp"

namespace {

using namespace switchyard;
using Clock = router::LocalStats::Clock;
using std::chrono::milliseconds;

constexpr const char* kProviders[] = {"openai", "groq", "together", "fireworks", "local"};

std::string config_yaml(int n) {
  std::string y =
      "providers:\n"
      "  - { name: openai, kind: openai, base_url: \"https://api.openai.com/v1\" }\n"
      "  - { name: groq, kind: openai, base_url: \"https://api.groq.com/openai/v1\" }\n"
      "  - { name: together, kind: openai, base_url: \"https://api.together.xyz/v1\" }\n"
      "  - { name: fireworks, kind: openai, base_url: \"https://api.fireworks.ai/inference/v1\" }\n"
      "  - { name: local, kind: openai, base_url: \"http://127.0.0.1:8000/v1\" }\n"
      "models:\n"
      "  - name: chat\n"
      "    strategy: score\n"
      "    deployments:\n";
  for (int i = 0; i < n; ++i) {
    const double in = 0.05 + (i * 37 % 50) * 0.1;        // 0.05 .. 4.95 USD / M tokens
    const double out = in * (3 + i % 3);                 // 3-5x the input price
    const double quality = 0.30 + (i * 13 % 14) * 0.05;  // 0.30 .. 0.95
    const long ctx = i % 7 == 0 ? 0 : (i % 3 == 0 ? 32768 : 128000);
    y += "      - { provider: " + std::string(kProviders[i % 5]) + ", model: \"m-" +
         std::to_string(i) + "\", price: { input: " + std::to_string(in) +
         ", output: " + std::to_string(out) + " }, quality: " + std::to_string(quality) +
         ", context_window: " + std::to_string(ctx) + " }\n";
  }
  y += "routing:\n"
       "  default_task: general\n"
       "  default_tier: standard\n"
       "  tasks:\n"
       "    - name: code\n"
       "      min_quality: 0.8\n"
       "      when: { regex: \"```|\\\\bdef |\\\\bclass |#include\" }\n"
       "    - name: long\n"
       "      min_quality: 0.7\n"
       "      when: { min_prompt_tokens: 6000 }\n"
       "    - name: agent\n"
       "      min_quality: 0.75\n"
       "      when: { tools: true }\n"
       "    - name: general\n"
       "      min_quality: 0.3\n"
       "  weights: { cost: 1.0, latency: 1.0, health: 1.0, headroom: 0.5 }\n"
       "  tiers:\n"
       "    standard: { weights: { latency: 1.5 } }\n"
       "    free: { max_quality: 0.7, providers: [local, groq], weights: { cost: 3.0 } }\n";
  return y;
}

// ~1 KB: a system message and four turns; the last user message (~300 chars) matches no
// rule (no code fence, no "def ", no "class ", no "#include"), has JSON escapes to decode,
// and the request defines no tools.
const std::string kBodyGeneral =
    R"({"model":"chat","messages":[)"
    R"({"role":"system","content":"You are a helpful assistant for a travel company. Answer concisely, cite the policy section when you refer to one, and never invent prices or availability. If you are unsure, say so and suggest contacting support."},)"
    R"({"role":"user","content":"Hi! I booked a trip to Lisbon for the second week of March. Can I still change the dates?"},)"
    R"({"role":"assistant","content":"Yes. Under section 4.2 of the booking policy, date changes are free up to 14 days before departure. After that a fee applies, depending on the fare. Would you like me to check your fare?"},)"
    R"({"role":"user","content":"That would be great. Also, my partner wants to join \u2014 is there a \"companion\" discount, and would adding a second traveller change the hotel room type automatically? We'd prefer a room with a view of the river, and a late check-out on the last day if possible.\nThanks a lot for your help!"})"
    R"(],"temperature":0.7,"max_tokens":512,"stream":true})";

// Same size and shape; the last user message contains a code fence, so the first rule
// (the regex) matches.
const std::string kBodyCode =
    R"({"model":"chat","messages":[)"
    R"({"role":"system","content":"You are a senior engineer reviewing code. Point out bugs first, then style. Keep answers short and show corrected code where it helps. Do not rewrite the whole function unless asked."},)"
    R"({"role":"user","content":"Can you review a small helper of mine? It parses a config line into a key and a value."},)"
    R"({"role":"assistant","content":"Sure, paste it here. Tell me which language and version you target, and whether the input can contain comments or quoted values."},)"
    R"({"role":"user","content":"Python 3.11, no comments, values may be quoted:\n```python\ndef parse(line):\n    key, value = line.split(\"=\")\n    return key.strip(), value.strip().strip('\"')\n```\nIt breaks on lines with more than one '=' sign, and I would also like it to skip blank lines and lines with only spaces. How should I fix it?"})"
    R"(],"temperature":0.2,"max_tokens":512,"stream":true})";

// Everything Planner::plan() reads, as one worker holds it.
struct World {
  config::Config cfg;
  router::Classifier classifier;
  std::mt19937_64 breaker_rng{7};  // jitters breaker cooldowns; must outlive stats
  router::LocalStats stats;
  std::mt19937_64 rng{42};  // the worker's generator, used by rank()
  std::vector<router::DeploymentView> views;
  router::RequestFeatures features;  // the worker's scratch (app::Worker::features)
  std::string body;
  api::ChatRequest chat;
  Clock::time_point now = Clock::now();

  World(int n, const std::string& request_body, int peers = 0)
      : cfg(config::parse(config_yaml(n))),
        classifier(cfg.routing),
        stats(cfg, breaker_rng),
        body(request_body) {
    api::RequestError err;
    if (!api::parse_chat_request(body, chat, err)) {
      throw std::runtime_error("bench body rejected: " + err.message);
    }
    warm(stats, n, 1234);
    std::vector<std::shared_ptr<const router::StatsSummary>> summaries;
    for (int p = 0; p < peers; ++p) {
      std::mt19937_64 peer_breaker_rng(100 + static_cast<unsigned>(p));
      router::LocalStats peer(cfg, peer_breaker_rng);
      warm(peer, n, 2000 + static_cast<unsigned>(p));
      summaries.push_back(peer.summarize(now));
    }
    stats.set_peers(std::move(summaries));
    stats.views(0, now, views);
  }

  // 10 s of history per deployment, in time order, ending just before `now`.
  void warm(router::LocalStats& st, int n, unsigned seed) const {
    const Clock::time_point t0 = now - milliseconds(30000);
    std::mt19937_64 g(seed);
    std::uniform_real_distribution<double> jitter(0.8, 1.2);
    const std::size_t ramping = 1, open = 2, retry = static_cast<std::size_t>(n - 1);
    for (std::size_t d = 0; d < static_cast<std::size_t>(n); ++d) {
      const double base_ttfb = 150.0 + static_cast<double>(d * 97 % 1200);
      const double base_tps = 25.0 + static_cast<double>(d * 53 % 175);
      if (d == ramping) {
        // Tripped 30 s ago; the probe 8 s ago succeeded: on the slow-start ramp now.
        for (int k = 0; k < cfg.routing.breaker.failures; ++k) {
          st.admit(0, d, t0);
          st.attempt_finished(0, d, t0, false, api::Origin::upstream, -1, -1);
        }
        const Clock::time_point probe = now - milliseconds(8000);
        st.admit(0, d, probe);
        st.attempt_finished(0, d, probe, true, api::Origin::upstream, base_ttfb, base_tps);
      }
      // ~20 attempts over the last 9.5 s; one in 7 fails upstream (never enough to trip).
      for (int k = 0; k < 20; ++k) {
        const Clock::time_point t = now - milliseconds(9500) + milliseconds(k * 470);
        if (d == ramping && t <= now - milliseconds(8000)) continue;
        if (!st.admit(0, d, t)) continue;
        const bool ok = (k + static_cast<int>(d)) % 7 != 0;
        st.attempt_finished(0, d, t, ok, api::Origin::upstream, ok ? base_ttfb * jitter(g) : -1,
                            ok ? base_tps * jitter(g) : -1);
      }
      if (d == open) {
        // Failing since 1 s ago until the breaker trips (on count and failure rate): open
        // for at least 4 s more.
        const Clock::time_point t = now - milliseconds(1000);
        for (int k = 0; k < 64; ++k) {
          if (!st.admit(0, d, t)) break;
          st.attempt_finished(0, d, t, false, api::Origin::upstream, -1, -1);
        }
      }
      if (d == retry) st.retry_after(0, d, now + milliseconds(20000));
      if (d % 4 == 3) {
        st.headroom(0, d, 0.15 + 0.2 * static_cast<double>(d % 3), now + milliseconds(30000));
      }
    }
  }

  router::RankInput rank_input(double min_quality, const config::Tier* tier) const {
    router::RankInput in;
    in.model = &cfg.models[0];
    in.views = views;
    in.min_quality = min_quality;
    in.tier = tier;
    in.weights = cfg.routing.weights;
    in.prompt_tokens = chat.prompt_tokens_estimate;
    in.max_tokens = chat.max_tokens;
    return in;
  }
};

// The whole decision, in Planner::plan()'s order and with its allocations: the features go
// into the worker's scratch (the planner's features scratch, as Planner::plan does), the Ranking
// and the explain line are new per request (they live in the request's RouteDecision). noinline: so
// callgrind --toggle-collect='*decide*' isolates the timed loop.
[[gnu::noinline]] void decide(World& w, benchmark::State& state) {
  const config::Routing& routing = w.cfg.routing;
  std::size_t allowed = 0;
  std::string_view task;
  for (auto _ : state) {
    router::RequestFeatures& features = w.features;
    router::extract_features(w.chat.body, w.chat.prompt_tokens_estimate, w.classifier.needs(),
                             features);
    const router::Classifier::Result t = w.classifier.classify({}, features);
    const config::Tier* tier = routing.find_tier(routing.default_tier);
    // As Planner::plan: the views are reused within LocalStats::kViewsTtl, which is what
    // most requests see under load (BM_Views is the cost of a recomputation).
    router::RankInput in = w.rank_input(t.min_quality, tier);
    in.views = w.stats.current_views(0, w.now);
    router::Ranking ranking = router::rank(in, w.rng);
    std::string line = router::explain_line(t.task, in, ranking);
    benchmark::DoNotOptimize(ranking);
    benchmark::DoNotOptimize(line);
    benchmark::ClobberMemory();
    allowed = ranking.allowed.size();
    task = t.task;
  }
  state.SetLabel("task=" + std::string(task) + " allowed=" + std::to_string(allowed) + "/" +
                 std::to_string(w.cfg.models[0].deployments.size()));
}

void BM_Decision(benchmark::State& state) {
  World w(static_cast<int>(state.range(0)), kBodyGeneral);
  decide(w, state);
}
BENCHMARK(BM_Decision)->Arg(5)->Arg(50);

// Same, on a worker that merges 1 or 3 other workers' summaries into its views.
void BM_DecisionPeers(benchmark::State& state) {
  World w(static_cast<int>(state.range(0)), kBodyGeneral, static_cast<int>(state.range(1)));
  decide(w, state);
}
BENCHMARK(BM_DecisionPeers)->ArgNames({"deployments", "peers"})->Args({50, 1})->Args({50, 3});

// Same, with a body whose last user message matches the regex rule (task=code, stricter
// min_quality, so fewer candidates).
void BM_DecisionCode(benchmark::State& state) {
  World w(static_cast<int>(state.range(0)), kBodyCode);
  decide(w, state);
}
BENCHMARK(BM_DecisionCode)->Arg(5)->Arg(50);

// extract_features + classify only (independent of the number of deployments).
void classify_loop(World& w, benchmark::State& state) {
  std::string_view task;
  std::size_t text_size = 0;
  for (auto _ : state) {
    router::RequestFeatures& features = w.features;
    router::extract_features(w.chat.body, w.chat.prompt_tokens_estimate, w.classifier.needs(),
                             features);
    const router::Classifier::Result t = w.classifier.classify({}, features);
    benchmark::DoNotOptimize(t);
    benchmark::ClobberMemory();
    task = t.task;
    text_size = features.last_user_text.size();
  }
  state.SetLabel("task=" + std::string(task) + " body=" + std::to_string(w.body.size()) +
                 "B last_user=" + std::to_string(text_size) + "B");
}

void BM_Classify(benchmark::State& state) {
  World w(5, kBodyGeneral);
  classify_loop(w, state);
}
BENCHMARK(BM_Classify);

void BM_ClassifyCode(benchmark::State& state) {
  World w(5, kBodyCode);
  classify_loop(w, state);
}
BENCHMARK(BM_ClassifyCode);

// LocalStats::views only.
void BM_Views(benchmark::State& state) {
  World w(static_cast<int>(state.range(0)), kBodyGeneral);
  for (auto _ : state) {
    w.stats.views(0, w.now, w.views);
    benchmark::DoNotOptimize(w.views.data());
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_Views)->Arg(5)->Arg(50);

void BM_ViewsPeers(benchmark::State& state) {
  World w(static_cast<int>(state.range(0)), kBodyGeneral, static_cast<int>(state.range(1)));
  for (auto _ : state) {
    w.stats.views(0, w.now, w.views);
    benchmark::DoNotOptimize(w.views.data());
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_ViewsPeers)->ArgNames({"deployments", "peers"})->Args({50, 1})->Args({50, 3});

// rank only (task general, standard tier), views precomputed.
void BM_Rank(benchmark::State& state) {
  World w(static_cast<int>(state.range(0)), kBodyGeneral);
  const router::Classifier::Result t = w.classifier.classify(
      {},
      router::extract_features(w.chat.body, w.chat.prompt_tokens_estimate, w.classifier.needs()));
  const router::RankInput in =
      w.rank_input(t.min_quality, w.cfg.routing.find_tier(w.cfg.routing.default_tier));
  std::size_t allowed = 0;
  for (auto _ : state) {
    router::Ranking ranking = router::rank(in, w.rng);
    benchmark::DoNotOptimize(ranking);
    benchmark::ClobberMemory();
    allowed = ranking.allowed.size();
  }
  state.SetLabel("allowed=" + std::to_string(allowed));
}
BENCHMARK(BM_Rank)->Arg(5)->Arg(50);

// explain_line only (the x-switchyard-route header).
void BM_Explain(benchmark::State& state) {
  World w(static_cast<int>(state.range(0)), kBodyGeneral);
  const router::Classifier::Result t = w.classifier.classify(
      {},
      router::extract_features(w.chat.body, w.chat.prompt_tokens_estimate, w.classifier.needs()));
  const router::RankInput in =
      w.rank_input(t.min_quality, w.cfg.routing.find_tier(w.cfg.routing.default_tier));
  const router::Ranking ranking = router::rank(in, w.rng);
  for (auto _ : state) {
    std::string line = router::explain_line(t.task, in, ranking);
    benchmark::DoNotOptimize(line);
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_Explain)->Arg(50);

}  // namespace

BENCHMARK_MAIN();
