#include "switchyard/telemetry/metrics.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>

namespace switchyard::telemetry {
namespace {

const char* kYaml = R"(
providers:
  - { name: p1, kind: openai, base_url: "http://127.0.0.1:1/v1", api_key: "sk-never-shown" }
  - { name: p2, kind: anthropic, base_url: "http://127.0.0.1:2", api_key: "sk-ant-never" }
models:
  - name: small
    deployments:
      - { provider: p1, model: mini, max_rpm: 60 }
      - { provider: p2, model: haiku }
  - name: big
    deployments:
      - { provider: p2, model: opus }
routing:
  tasks:
    - { name: code, min_quality: 0.5, when: { regex: "def " } }
)";

// `name{a="x",b="y"}` with its labels sorted, so tests need not know the serializer's order.
std::string canonical(const std::string& series) {
  const auto brace = series.find('{');
  if (brace == std::string::npos) return series;
  std::vector<std::string> labels;
  const std::regex label_re(R"re(([a-z_]+)="((?:[^"\\]|\\.)*)")re");
  const std::string inner = series.substr(brace + 1, series.size() - brace - 2);
  for (std::sregex_iterator it(inner.begin(), inner.end(), label_re), end; it != end; ++it) {
    labels.push_back(it->str());
  }
  std::sort(labels.begin(), labels.end());
  std::string out = series.substr(0, brace) + "{";
  for (std::size_t i = 0; i < labels.size(); ++i) out += (i ? "," : "") + labels[i];
  return out + "}";
}

// The value of the sample `series` in an exposition text; -1 when absent.
double sample(const std::string& text, const std::string& series) {
  const std::string want = canonical(series);
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const auto space = line.rfind(' ');
    if (canonical(line.substr(0, space)) == want) return std::stod(line.substr(space + 1));
  }
  return -1;
}

TEST(MetricsLayout, SlotsComeFromTheConfigOnly) {
  const auto cfg = config::parse(kYaml);
  const Layout l(cfg);
  ASSERT_EQ(l.slots().size(),
            2u + 1 + 1 + 1 + 1);  // deployments, a no-deployment slot per model, unknown
  EXPECT_EQ(l.slots()[l.slot(0, 1)].deployment, "p2/haiku");
  EXPECT_EQ(l.slots()[l.slot(1, 0)].model, "big");
  EXPECT_EQ(l.slots()[l.model_slot(0)].deployment, "");
  EXPECT_EQ(l.slots()[l.model_slot(0)].model, "small");
  EXPECT_EQ(l.slots()[l.unknown_slot()].model, "");
  EXPECT_EQ(l.tasks(), (std::vector<std::string>{"code", "general", "other"}));
  EXPECT_EQ(l.task_index("code"), 0);
  EXPECT_EQ(l.task_index("general"), 1);
  EXPECT_EQ(l.task_index("whatever a client sent"), 2);
}

TEST(Metrics, ScrapeMergesWorkersAndUsesConfiguredLabels) {
  const auto cfg = config::parse(kYaml);
  Metrics m(cfg, 2);
  const Layout& l = m.layout();
  m.worker(0).request(Endpoint::chat, l.slot(0, 0), 200, 0.004);
  m.worker(1).request(Endpoint::chat, l.slot(0, 0), 200, 0.3);
  m.worker(1).request(Endpoint::chat, l.model_slot(0), 503, 1.5);
  m.worker(0).request(Endpoint::chat, l.unknown_slot(), 404, 0.0001);
  m.worker(0).request(Endpoint::health, l.unknown_slot(), 200, 0.0001);
  m.worker(0).ttft(l.slot(0, 0), 0.02);
  m.worker(1).ttft(l.slot(0, 0), 0.2);
  m.worker(0).upstream_error(l.slot(0, 1), ErrorReason::status_5xx);
  m.worker(1).upstream_error(l.slot(0, 1), ErrorReason::status_5xx);
  m.worker(1).tokens(l.slot(0, 0), false, 100, 20, 10, 0, 0.25);
  m.worker(0).tokens(l.slot(0, 0), true, 7, 3, 0, 0, 0.5);
  m.worker(0).failover(0, true);
  m.worker(1).hedge(1, HedgeOutcome::backup_won);
  m.worker(0).decision(0, l.task_index("code"), Decision::routed);
  m.worker(0).exclusion(l.slot(0, 0), exclusion_of("circuit breaker open"));
  m.worker(0).stream_opened();
  m.worker(1).stream_opened();
  m.worker(0).stream_closed();

  const std::string text = m.scrape();
  EXPECT_EQ(
      sample(
          text,
          R"(switchyard_requests_total{deployment="p1/mini",endpoint="chat.completions",model="small",status_class="2xx"})"),
      2);
  EXPECT_EQ(
      sample(
          text,
          R"(switchyard_requests_total{deployment="",endpoint="chat.completions",model="small",status_class="5xx"})"),
      1);
  EXPECT_EQ(
      sample(
          text,
          R"(switchyard_requests_total{deployment="",endpoint="chat.completions",model="",status_class="4xx"})"),
      1);
  EXPECT_EQ(
      sample(
          text,
          R"(switchyard_requests_total{deployment="",endpoint="health",model="",status_class="2xx"})"),
      1);
  // Durations only for model endpoints: the 404 counts, /healthz does not.
  EXPECT_EQ(sample(text, R"(switchyard_request_duration_seconds_count{deployment="",model=""})"),
            1);
  EXPECT_EQ(
      sample(text,
             R"(switchyard_request_duration_seconds_count{deployment="p1/mini",model="small"})"),
      2);
  EXPECT_EQ(
      sample(
          text,
          R"(switchyard_request_duration_seconds_bucket{deployment="p1/mini",le="0.005",model="small"})"),
      1);
  EXPECT_EQ(
      sample(
          text,
          R"(switchyard_request_duration_seconds_bucket{deployment="p1/mini",le="0.25",model="small"})"),
      1);
  EXPECT_EQ(
      sample(
          text,
          R"(switchyard_request_duration_seconds_bucket{deployment="p1/mini",le="0.5",model="small"})"),
      2);
  EXPECT_EQ(
      sample(
          text,
          R"(switchyard_request_duration_seconds_bucket{deployment="p1/mini",le="+Inf",model="small"})"),
      2);
  EXPECT_NEAR(
      sample(text,
             R"(switchyard_request_duration_seconds_sum{deployment="p1/mini",model="small"})"),
      0.304, 1e-9);
  EXPECT_EQ(sample(text, R"(switchyard_ttft_seconds_count{deployment="p1/mini",model="small"})"),
            2);
  EXPECT_EQ(
      sample(
          text,
          R"(switchyard_upstream_errors_total{deployment="p2/haiku",model="small",provider="p2",reason="status_5xx"})"),
      2);
  EXPECT_EQ(
      sample(
          text,
          R"(switchyard_tokens_total{deployment="p1/mini",direction="input",model="small",provenance="provider"})"),
      100);
  EXPECT_EQ(
      sample(
          text,
          R"(switchyard_tokens_total{deployment="p1/mini",direction="output",model="small",provenance="estimated"})"),
      3);
  EXPECT_EQ(
      sample(text,
             R"(switchyard_cached_tokens_total{deployment="p1/mini",kind="read",model="small"})"),
      10);
  EXPECT_EQ(sample(text, R"(switchyard_cost_usd_total{deployment="p1/mini",model="small"})"), 0.75);
  EXPECT_EQ(sample(text, R"(switchyard_failovers_total{model="small",outcome="answered"})"), 1);
  EXPECT_EQ(sample(text, R"(switchyard_hedges_total{model="big",outcome="backup_won"})"), 1);
  EXPECT_EQ(
      sample(text,
             R"(switchyard_router_decisions_total{model="small",reason="routed",task="code"})"),
      1);
  EXPECT_EQ(
      sample(
          text,
          R"(switchyard_router_exclusions_total{deployment="p1/mini",model="small",reason="breaker_open"})"),
      1);
  EXPECT_EQ(sample(text, "switchyard_open_streams"), 1);
  EXPECT_EQ(sample(text, "switchyard_workers"), 2);
  EXPECT_NE(text.find("switchyard_build_info{version=\""), std::string::npos);
  // Per-deployment gauges exist for every configured deployment before any traffic.
  EXPECT_EQ(sample(text, R"(switchyard_breaker_state{deployment="p2/opus",model="big"})"), 0);
  EXPECT_EQ(sample(text, R"(switchyard_health_score{deployment="p2/opus",model="big"})"), 1);
  // Secrets from the config never appear.
  EXPECT_EQ(text.find("sk-never-shown"), std::string::npos);
  EXPECT_EQ(text.find("sk-ant-never"), std::string::npos);
}

TEST(Metrics, GaugesComeFromTheSource) {
  const auto cfg = config::parse(kYaml);
  Metrics m(cfg, 1);
  m.set_gauges([] {
    Gauges g;
    g.in_flight = 3;
    g.deployments = {{Gauges::Deployment{}, Gauges::Deployment{}}, {Gauges::Deployment{}}};
    g.deployments[0][1].breaker = 2;
    g.deployments[0][1].health = 0.25;
    g.deployments[0][0].local_headroom = 0.5;
    g.pools = {Gauges::Pool{5, 2, 1, 64, 256}, Gauges::Pool{}};
    return g;
  });
  const std::string text = m.scrape();
  EXPECT_EQ(sample(text, "switchyard_in_flight_requests"), 3);
  EXPECT_EQ(sample(text, R"(switchyard_breaker_state{deployment="p2/haiku",model="small"})"), 2);
  EXPECT_EQ(sample(text, R"(switchyard_health_score{deployment="p2/haiku",model="small"})"), 0.25);
  EXPECT_EQ(
      sample(
          text,
          R"(switchyard_ratelimit_headroom_ratio{deployment="p1/mini",model="small",source="local"})"),
      0.5);
  // No max_rpm, no local series.
  EXPECT_EQ(
      sample(
          text,
          R"(switchyard_ratelimit_headroom_ratio{deployment="p2/haiku",model="small",source="local"})"),
      -1);
  EXPECT_EQ(sample(text, R"(switchyard_pool_connections{provider="p1",state="busy"})"), 3);
  EXPECT_EQ(sample(text, R"(switchyard_pool_connections{provider="p1",state="idle"})"), 2);
  EXPECT_EQ(sample(text, R"(switchyard_pool_queue_length{provider="p1"})"), 1);
  EXPECT_EQ(sample(text, R"(switchyard_pool_queue_capacity{provider="p1"})"), 256);

  const auto status = nlohmann::json::parse(m.status_json());
  ASSERT_EQ(status["deployments"].size(), 3u);
  EXPECT_EQ(status["deployments"][1]["deployment"], "p2/haiku");
  EXPECT_EQ(status["deployments"][1]["breaker"], "open");
  EXPECT_EQ(status["deployments"][1]["health"], 0.25);
  EXPECT_EQ(status["in_flight"], 3);
}

TEST(Metrics, StatusCountsAndTtftQuantiles) {
  const auto cfg = config::parse(kYaml);
  Metrics m(cfg, 2);
  const Layout& l = m.layout();
  for (int i = 0; i < 10; ++i) {
    m.worker(i % 2).request(Endpoint::chat, l.slot(1, 0), 200, 0.1);
    m.worker(i % 2).ttft(l.slot(1, 0), 0.03);  // the (0.025, 0.05] bucket
    m.worker(i % 2).attempt(l.slot(1, 0), AttemptOutcome::success, 0.1);
  }
  m.worker(0).attempt(l.slot(1, 0), AttemptOutcome::failure, 0.1);
  m.worker(0).upstream_error(l.slot(1, 0), ErrorReason::reset);
  m.worker(0).request(Endpoint::metrics, l.unknown_slot(), 200, 0.001);  // not a model request
  const auto s = nlohmann::json::parse(m.status_json());
  const auto& d = s["deployments"][2];
  EXPECT_EQ(d["deployment"], "p2/opus");
  EXPECT_EQ(d["requests"], 10);
  EXPECT_EQ(d["attempts"], 11);
  EXPECT_EQ(d["upstream_errors"], 1);
  EXPECT_EQ(d["ttft"]["count"], 10);
  EXPECT_EQ(d["ttft"]["buckets"].size(), kLatencyBuckets.size() + 1);
  EXPECT_EQ(d["ttft"]["buckets"][5], 10);
  const double p50 = d["ttft"]["p50_ms"];
  EXPECT_GT(p50, 25.0);
  EXPECT_LE(p50, 50.0);
  EXPECT_EQ(s["totals"]["requests"], 10);
  EXPECT_EQ(s["ttft_buckets_s"].size(), kLatencyBuckets.size());
}

TEST(Metrics, ExclusionReasonsMapTheScorersWords) {
  EXPECT_EQ(exclusion_of("quality below the task's min_quality"), Exclusion::quality);
  EXPECT_EQ(exclusion_of("not allowed for this tier"), Exclusion::tier);
  EXPECT_EQ(exclusion_of("prompt + max_tokens exceed context_window"), Exclusion::context_window);
  EXPECT_EQ(exclusion_of("local max_rpm reached"), Exclusion::max_rpm);
  EXPECT_EQ(exclusion_of("circuit breaker open"), Exclusion::breaker_open);
  EXPECT_EQ(exclusion_of("inside the provider's Retry-After window"), Exclusion::retry_after);
  EXPECT_EQ(exclusion_of("something new"), Exclusion::kCount);
}

TEST(Histogram, BucketsAreUpperInclusive) {
  Histogram h;
  h.observe(0.001);   // le=0.001
  h.observe(0.0011);  // le=0.0025
  h.observe(61);      // above 60 s
  h.observe(-1);      // a clock step back counts as 0
  EXPECT_EQ(h.bucket(0), 2u);
  EXPECT_EQ(h.bucket(1), 1u);
  EXPECT_EQ(h.bucket(kLatencyBuckets.size()), 1u);
  EXPECT_EQ(h.count(), 4u);
}

}  // namespace
}  // namespace switchyard::telemetry
