#include "switchyard/telemetry/metrics.hpp"

#include <prometheus/collectable.h>
#include <prometheus/gauge.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "switchyard/version.hpp"

namespace switchyard::telemetry {

namespace {

constexpr std::size_t kEndpoints = static_cast<std::size_t>(Endpoint::kCount);
constexpr std::size_t kClasses = 5;  // 1xx..5xx
constexpr std::size_t kReasons = static_cast<std::size_t>(ErrorReason::kCount);
constexpr std::size_t kOutcomes = static_cast<std::size_t>(AttemptOutcome::kCount);
constexpr std::size_t kHedges = static_cast<std::size_t>(HedgeOutcome::kCount);
constexpr std::size_t kDecisions = static_cast<std::size_t>(Decision::kCount);
constexpr std::size_t kExclusions = static_cast<std::size_t>(Exclusion::kCount);

constexpr std::string_view kEndpointNames[] = {
    "chat.completions", "messages", "embeddings", "models", "health",
    "metrics",          "admin",    "status",     "other"};
constexpr std::string_view kReasonNames[] = {
    "connect",    "tls",   "timeout",   "status_429",    "status_4xx",
    "status_5xx", "reset", "malformed", "pool_overflow", "stream_error"};
constexpr std::string_view kOutcomeNames[] = {"success", "failure", "cancelled"};
constexpr std::string_view kHedgeNames[] = {"primary_won", "backup_won", "none_won"};
constexpr std::string_view kDecisionNames[] = {"routed", "panic", "no_route", "rate_limited",
                                               "rejected"};
constexpr std::string_view kExclusionNames[] = {"quality", "tier",         "context_window",
                                                "max_rpm", "breaker_open", "retry_after"};
constexpr std::string_view kClassNames[] = {"1xx", "2xx", "3xx", "4xx", "5xx"};
constexpr std::string_view kBreakerNames[] = {"closed", "half_open", "open"};

static_assert(std::size(kEndpointNames) == kEndpoints);
static_assert(std::size(kReasonNames) == kReasons);
static_assert(std::size(kOutcomeNames) == kOutcomes);
static_assert(std::size(kHedgeNames) == kHedges);
static_assert(std::size(kDecisionNames) == kDecisions);
static_assert(std::size(kExclusionNames) == kExclusions);

bool is_model_endpoint(Endpoint e) {
  return e == Endpoint::chat || e == Endpoint::messages || e == Endpoint::embeddings;
}

template <class T>
std::unique_ptr<T[]> cells(std::size_t n) {
  return std::make_unique<T[]>(n);
}

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;
using Labels = std::vector<ClientMetric::Label>;

MetricFamily family(std::string name, std::string help, MetricType type) {
  MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = type;
  return f;
}

void add_value(MetricFamily& f, Labels labels, double v) {
  ClientMetric m;
  m.label = std::move(labels);
  if (f.type == MetricType::Counter) {
    m.counter.value = v;
  } else {
    m.gauge.value = v;
  }
  f.metric.push_back(std::move(m));
}

ClientMetric::Label label(std::string_view name, std::string_view value) {
  return ClientMetric::Label{std::string(name), std::string(value)};
}

// Merged (over workers) histogram of one series.
struct Merged {
  std::array<std::uint64_t, kLatencyBuckets.size() + 1> buckets{};
  std::uint64_t count = 0;
  double sum = 0;
};

void add_histogram(MetricFamily& f, Labels labels, const Merged& h) {
  ClientMetric m;
  m.label = std::move(labels);
  m.histogram.sample_count = h.count;
  m.histogram.sample_sum = h.sum;
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < kLatencyBuckets.size(); ++i) {
    cumulative += h.buckets[i];
    m.histogram.bucket.push_back({cumulative, kLatencyBuckets[i]});
  }
  m.histogram.bucket.push_back({h.count, std::numeric_limits<double>::infinity()});
  f.metric.push_back(std::move(m));
}

// Estimated quantile of a merged histogram, in ms (linear within a bucket, as PromQL's
// histogram_quantile does); < 0 when empty.
double quantile_ms(const Merged& h, double q) {
  if (h.count == 0) return -1;
  const double rank = q * static_cast<double>(h.count);
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < h.buckets.size(); ++i) {
    if (static_cast<double>(seen + h.buckets[i]) >= rank && h.buckets[i] > 0) {
      if (i == kLatencyBuckets.size()) return kLatencyBuckets.back() * 1000;
      const double lo = i == 0 ? 0 : kLatencyBuckets[i - 1];
      const double hi = kLatencyBuckets[i];
      const double within = (rank - static_cast<double>(seen)) / static_cast<double>(h.buckets[i]);
      return (lo + (hi - lo) * within) * 1000;
    }
    seen += h.buckets[i];
  }
  return kLatencyBuckets.back() * 1000;
}

using Workers = std::vector<std::unique_ptr<WorkerMetrics>>;

// Cells [first, first + n) of one array of every worker, summed. `member` is formed where
// WorkerMetrics's cells may be named (its friend Metrics).
template <class Member>
std::uint64_t sum_cells(const Workers& ws, Member member, std::size_t first, std::size_t n = 1) {
  std::uint64_t total = 0;
  for (const auto& w : ws) {
    for (std::size_t i = first; i < first + n; ++i) total += ((*w).*member)[i].get();
  }
  return total;
}

template <class Member>
Merged merge_histograms(const Workers& ws, Member member, std::size_t i) {
  Merged h;
  for (const auto& w : ws) {
    const Histogram& x = ((*w).*member)[i];
    for (std::size_t b = 0; b < h.buckets.size(); ++b) h.buckets[b] += x.bucket(b);
    h.count += x.count();
    h.sum += x.sum();
  }
  return h;
}

template <class Member>
double sum_values(const Workers& ws, Member member, std::size_t i) {
  double total = 0;
  for (const auto& w : ws) total += ((*w).*member)[i].get();
  return total;
}

}  // namespace

std::string_view name_of(Endpoint e) { return kEndpointNames[static_cast<std::size_t>(e)]; }
std::string_view name_of(ErrorReason r) { return kReasonNames[static_cast<std::size_t>(r)]; }

Exclusion exclusion_of(std::string_view why) {
  // The scorer's reasons (src/router/scorer.cpp), by a word each one has alone.
  if (why.find("min_quality") != std::string_view::npos) return Exclusion::quality;
  if (why.find("tier") != std::string_view::npos) return Exclusion::tier;
  if (why.find("context_window") != std::string_view::npos) return Exclusion::context_window;
  if (why.find("max_rpm") != std::string_view::npos) return Exclusion::max_rpm;
  if (why.find("breaker") != std::string_view::npos) return Exclusion::breaker_open;
  if (why.find("Retry-After") != std::string_view::npos) return Exclusion::retry_after;
  return Exclusion::kCount;
}

// --- Layout ------------------------------------------------------------------------------

Layout::Layout(const config::Config& cfg) {
  for (const auto& p : cfg.providers) providers_.push_back(p.name);
  for (std::size_t m = 0; m < cfg.models.size(); ++m) {
    const config::Model& model = cfg.models[m];
    models_.push_back(model.name);
    first_.push_back(static_cast<int>(slots_.size()));
    for (std::size_t d = 0; d < model.deployments.size(); ++d) {
      const config::Deployment& dep = model.deployments[d];
      slots_.push_back(Slot{model.name, dep.provider + "/" + dep.model, dep.provider,
                            static_cast<int>(m), static_cast<int>(d),
                            static_cast<int>(dep.provider_index)});
    }
    slots_.push_back(Slot{model.name, "", "", static_cast<int>(m), -1, -1});
  }
  first_.push_back(static_cast<int>(slots_.size()));
  slots_.push_back(Slot{"", "", "", -1, -1, -1});
  for (const auto& t : cfg.routing.tasks) tasks_.push_back(t.name);
  if (std::find(tasks_.begin(), tasks_.end(), cfg.routing.default_task) == tasks_.end()) {
    tasks_.push_back(cfg.routing.default_task);
  }
  tasks_.push_back("other");
}

int Layout::task_index(std::string_view task) const {
  for (std::size_t i = 0; i + 1 < tasks_.size(); ++i) {
    if (tasks_[i] == task) return static_cast<int>(i);
  }
  return static_cast<int>(tasks_.size()) - 1;
}

// --- cells -------------------------------------------------------------------------------

void Histogram::observe(double seconds) noexcept {
  if (!(seconds >= 0)) seconds = 0;  // NaN or a clock step back
  std::size_t i = 0;
  while (i < kLatencyBuckets.size() && seconds > kLatencyBuckets[i]) ++i;
  buckets_[i].add();
  count_.add();
  sum_.add(seconds);
}

WorkerMetrics::WorkerMetrics(const Layout& layout)
    : layout_(layout),
      slots_(layout.slots().size()),
      models_(layout.models().size()),
      tasks_(layout.tasks().size()),
      requests_(cells<Count>(kEndpoints * slots_ * kClasses)),
      duration_(cells<Histogram>(slots_)),
      ttft_(cells<Histogram>(slots_)),
      attempt_duration_(cells<Histogram>(slots_)),
      attempts_(cells<Count>(slots_ * kOutcomes)),
      errors_(cells<Count>(slots_ * kReasons)),
      tokens_(cells<Count>(slots_ * 4)),
      cached_(cells<Count>(slots_ * 2)),
      cost_(cells<Sum>(slots_)),
      retries_(cells<Count>(slots_)),
      failovers_(cells<Count>(models_ * 2)),
      hedges_(cells<Count>(models_ * kHedges)),
      rescues_(cells<Count>(models_ * 2)),
      decisions_(cells<Count>(models_ * tasks_ * kDecisions)),
      exclusions_(cells<Count>(slots_ * kExclusions)) {}

void WorkerMetrics::request(Endpoint e, int slot, int status, double seconds) noexcept {
  const std::size_t cls = static_cast<std::size_t>(std::clamp(status / 100, 1, 5) - 1);
  requests_[(static_cast<std::size_t>(e) * slots_ + static_cast<std::size_t>(slot)) * kClasses +
            cls]
      .add();
  if (is_model_endpoint(e)) duration_[slot].observe(seconds);
}

void WorkerMetrics::attempt(int slot, AttemptOutcome o, double seconds) noexcept {
  attempts_[static_cast<std::size_t>(slot) * kOutcomes + static_cast<std::size_t>(o)].add();
  attempt_duration_[slot].observe(seconds);
}

void WorkerMetrics::upstream_error(int slot, ErrorReason r) noexcept {
  errors_[static_cast<std::size_t>(slot) * kReasons + static_cast<std::size_t>(r)].add();
}

void WorkerMetrics::tokens(int slot, bool estimated, std::int64_t input, std::int64_t output,
                           std::int64_t cached_read, std::int64_t cache_write,
                           double cost_usd) noexcept {
  const std::size_t base = static_cast<std::size_t>(slot) * 4 + (estimated ? 1 : 0);
  tokens_[base].add(static_cast<std::uint64_t>(std::max<std::int64_t>(input, 0)));
  tokens_[base + 2].add(static_cast<std::uint64_t>(std::max<std::int64_t>(output, 0)));
  cached_[static_cast<std::size_t>(slot) * 2].add(
      static_cast<std::uint64_t>(std::max<std::int64_t>(cached_read, 0)));
  cached_[static_cast<std::size_t>(slot) * 2 + 1].add(
      static_cast<std::uint64_t>(std::max<std::int64_t>(cache_write, 0)));
  cost_[slot].add(cost_usd);
}

void WorkerMetrics::decision(int model, int task, Decision d) noexcept {
  decisions_[(static_cast<std::size_t>(model) * tasks_ + static_cast<std::size_t>(task)) *
                 kDecisions +
             static_cast<std::size_t>(d)]
      .add();
}

void WorkerMetrics::exclusion(int slot, Exclusion x) noexcept {
  if (x == Exclusion::kCount) return;
  exclusions_[static_cast<std::size_t>(slot) * kExclusions + static_cast<std::size_t>(x)].add();
}

// --- scrape ------------------------------------------------------------------------------

// The cells as prometheus-cpp metric families. A scrape collects, as prometheus-cpp's own
// Exposer does, from a list of Collectables: the library's Registry (for the process-level
// gauges that change once, set through its own Gauge API) and this one.
struct Metrics::Impl : prometheus::Collectable {
  explicit Impl(const Metrics& m) : owner(m) {}
  std::vector<MetricFamily> Collect() const override;
  const Metrics& owner;
  prometheus::Registry registry;
};

Metrics::Metrics(const config::Config& cfg, int workers)
    : layout_(cfg), started_(std::chrono::system_clock::now()) {
  for (int i = 0; i < workers; ++i) workers_.push_back(std::make_unique<WorkerMetrics>(layout_));
  impl_ = std::make_unique<Impl>(*this);
  prometheus::BuildGauge()
      .Name("switchyard_build_info")
      .Help("Always 1; the labels say which build is running.")
      .Register(impl_->registry)
      .Add({{"version", SWITCHYARD_VERSION}})
      .Set(1);
  prometheus::BuildGauge()
      .Name("switchyard_start_time_seconds")
      .Help("When the process started, in seconds since the Unix epoch.")
      .Register(impl_->registry)
      .Add({})
      .Set(std::chrono::duration<double>(started_.time_since_epoch()).count());
  prometheus::BuildGauge()
      .Name("switchyard_workers")
      .Help("Worker threads (each with its own listener and upstream pools).")
      .Register(impl_->registry)
      .Add({})
      .Set(workers);
}

Metrics::~Metrics() = default;

std::vector<MetricFamily> Metrics::Impl::Collect() const {
  const Metrics& m = owner;
  const Layout& L = m.layout_;
  const auto& slots = L.slots();
  const std::size_t S = slots.size();
  const std::size_t M = L.models().size();
  const std::size_t T = L.tasks().size();
  const auto& ws = m.workers_;
  const Gauges g = m.gauges_ ? m.gauges_() : Gauges{};

  auto count = [&](auto member, std::size_t i) { return sum_cells(ws, member, i); };
  auto merged = [&](auto member, std::size_t i) { return merge_histograms(ws, member, i); };
  auto dep_labels = [&](std::size_t s) {
    return Labels{label("model", slots[s].model), label("deployment", slots[s].deployment)};
  };
  auto dep_labels_p = [&](std::size_t s) {
    return Labels{label("model", slots[s].model), label("deployment", slots[s].deployment),
                  label("provider", slots[s].provider)};
  };
  auto is_deployment = [&](std::size_t s) { return slots[s].deployment_index >= 0; };

  std::vector<MetricFamily> out;

  {
    auto f = family("switchyard_requests_total",
                    "Requests by endpoint, model asked, deployment that answered and status class.",
                    MetricType::Counter);
    for (std::size_t e = 0; e < kEndpoints; ++e) {
      for (std::size_t s = 0; s < S; ++s) {
        for (std::size_t c = 0; c < kClasses; ++c) {
          const std::uint64_t n = count(&WorkerMetrics::requests_, (e * S + s) * kClasses + c);
          if (n == 0) continue;
          add_value(
              f,
              {label("endpoint", kEndpointNames[e]), label("model", slots[s].model),
               label("deployment", slots[s].deployment), label("status_class", kClassNames[c])},
              static_cast<double>(n));
        }
      }
    }
    out.push_back(std::move(f));
  }
  auto histograms = [&](std::string name, std::string help, auto member, bool deployments_only) {
    auto f = family(std::move(name), std::move(help), MetricType::Histogram);
    for (std::size_t s = 0; s < S; ++s) {
      if (deployments_only && !is_deployment(s)) continue;
      const Merged h = merged(member, s);
      if (h.count == 0) continue;
      add_histogram(f, dep_labels(s), h);
    }
    out.push_back(std::move(f));
  };
  histograms("switchyard_request_duration_seconds",
             "Model requests (chat, messages, embeddings): end of the request head to the end of "
             "the answer.",
             &WorkerMetrics::duration_, false);
  histograms("switchyard_ttft_seconds",
             "Streams: end of the request head to the first content byte sent to the client.",
             &WorkerMetrics::ttft_, true);
  histograms("switchyard_upstream_attempt_duration_seconds",
             "One upstream attempt: start (pool wait and connect included) to its end.",
             &WorkerMetrics::attempt_duration_, true);

  auto per_slot = [&](std::string name, std::string help, auto member, std::size_t width,
                      std::string_view lname, const std::string_view* lvalues, bool with_provider) {
    auto f = family(std::move(name), std::move(help), MetricType::Counter);
    for (std::size_t s = 0; s < S; ++s) {
      if (!is_deployment(s)) continue;
      for (std::size_t k = 0; k < width; ++k) {
        const std::uint64_t n = count(member, s * width + k);
        if (n == 0) continue;
        Labels l = with_provider ? dep_labels_p(s) : dep_labels(s);
        if (!lname.empty()) l.push_back(label(lname, lvalues[k]));
        add_value(f, std::move(l), static_cast<double>(n));
      }
    }
    out.push_back(std::move(f));
  };
  per_slot("switchyard_upstream_attempts_total", "Upstream attempts by outcome.",
           &WorkerMetrics::attempts_, kOutcomes, "outcome", kOutcomeNames, true);
  per_slot("switchyard_upstream_errors_total", "Failed upstream attempts by reason.",
           &WorkerMetrics::errors_, kReasons, "reason", kReasonNames, true);
  per_slot("switchyard_retries_total",
           "Attempts on a deployment the same request had already tried.", &WorkerMetrics::retries_,
           1, "", nullptr, false);
  per_slot("switchyard_router_exclusions_total",
           "Deployments left out of a request's plan, by reason.", &WorkerMetrics::exclusions_,
           kExclusions, "reason", kExclusionNames, false);
  {
    auto f = family("switchyard_tokens_total",
                    "Tokens of delivered answers; input includes cached ones. provenance: "
                    "provider (reported) or estimated.",
                    MetricType::Counter);
    static constexpr std::string_view kDir[] = {"input", "output"};
    static constexpr std::string_view kProv[] = {"provider", "estimated"};
    for (std::size_t s = 0; s < S; ++s) {
      if (!is_deployment(s)) continue;
      for (std::size_t d = 0; d < 2; ++d) {
        for (std::size_t p = 0; p < 2; ++p) {
          const std::uint64_t n = count(&WorkerMetrics::tokens_, s * 4 + d * 2 + p);
          if (n == 0) continue;
          Labels l = dep_labels(s);
          l.push_back(label("direction", kDir[d]));
          l.push_back(label("provenance", kProv[p]));
          add_value(f, std::move(l), static_cast<double>(n));
        }
      }
    }
    out.push_back(std::move(f));
  }
  {
    static constexpr std::string_view kKind[] = {"read", "write"};
    per_slot("switchyard_cached_tokens_total",
             "Prompt tokens read from (read) or written to (write) the provider's prompt cache; "
             "part of direction=input.",
             &WorkerMetrics::cached_, 2, "kind", kKind, false);
  }
  {
    auto f = family("switchyard_cost_usd_total",
                    "Cost of delivered answers at the deployment's configured prices, USD.",
                    MetricType::Counter);
    for (std::size_t s = 0; s < S; ++s) {
      if (!is_deployment(s)) continue;
      const double v = sum_values(ws, &WorkerMetrics::cost_, s);
      // Once the deployment has delivered something, even at price 0.
      if (v == 0 && sum_cells(ws, &WorkerMetrics::tokens_, s * 4, 4) == 0) continue;
      add_value(f, dep_labels(s), v);
    }
    out.push_back(std::move(f));
  }
  auto per_model = [&](std::string name, std::string help, auto member, std::size_t width,
                       const std::string_view* outcomes) {
    auto f = family(std::move(name), std::move(help), MetricType::Counter);
    for (std::size_t mi = 0; mi < M; ++mi) {
      for (std::size_t k = 0; k < width; ++k) {
        const std::uint64_t n = count(member, mi * width + k);
        if (n == 0) continue;
        add_value(f, {label("model", L.models()[mi]), label("outcome", outcomes[k])},
                  static_cast<double>(n));
      }
    }
    out.push_back(std::move(f));
  };
  static constexpr std::string_view kAnswered[] = {"answered", "failed"};
  static constexpr std::string_view kRescued[] = {"rescued", "failed"};
  per_model("switchyard_failovers_total",
            "Requests whose first attempt failed and that went on to another; outcome: answered "
            "in the end or failed.",
            &WorkerMetrics::failovers_, 2, kAnswered);
  per_model("switchyard_hedges_total", "Requests that started a backup (hedged) attempt.",
            &WorkerMetrics::hedges_, kHedges, kHedgeNames);
  per_model("switchyard_stream_rescues_total",
            "Streams that broke after content reached the client; rescued: finished by another "
            "deployment.",
            &WorkerMetrics::rescues_, 2, kRescued);
  {
    auto f = family("switchyard_router_decisions_total", "Routing decisions by task and reason.",
                    MetricType::Counter);
    for (std::size_t mi = 0; mi < M; ++mi) {
      for (std::size_t t = 0; t < T; ++t) {
        for (std::size_t d = 0; d < kDecisions; ++d) {
          const std::uint64_t n = count(&WorkerMetrics::decisions_, (mi * T + t) * kDecisions + d);
          if (n == 0) continue;
          add_value(f,
                    {label("model", L.models()[mi]), label("task", L.tasks()[t]),
                     label("reason", kDecisionNames[d])},
                    static_cast<double>(n));
        }
      }
    }
    out.push_back(std::move(f));
  }

  // --- gauges ---
  {
    auto f = family("switchyard_in_flight_requests", "Requests being handled.", MetricType::Gauge);
    add_value(f, {}, static_cast<double>(g.in_flight));
    out.push_back(std::move(f));
    auto st =
        family("switchyard_open_streams", "Event streams open to clients.", MetricType::Gauge);
    add_value(st, {}, static_cast<double>(m.open_streams()));
    out.push_back(std::move(st));
  }
  {
    auto breaker = family("switchyard_breaker_state",
                          "Circuit breaker per deployment: 0 closed, 1 half-open, 2 open (the "
                          "worst worker's).",
                          MetricType::Gauge);
    auto health = family("switchyard_health_score",
                         "Upstream-origin success rate in the breaker window, 0..1 (1 without "
                         "data).",
                         MetricType::Gauge);
    auto headroom = family("switchyard_ratelimit_headroom_ratio",
                           "Rate-limit room left, 0..1: source=provider from its x-ratelimit "
                           "headers, source=local from max_rpm.",
                           MetricType::Gauge);
    auto inflight =
        family("switchyard_upstream_in_flight", "Upstream attempts in flight.", MetricType::Gauge);
    for (std::size_t s = 0; s < S; ++s) {
      if (!is_deployment(s)) continue;
      const auto mi = static_cast<std::size_t>(slots[s].model_index);
      const auto di = static_cast<std::size_t>(slots[s].deployment_index);
      Gauges::Deployment d;
      if (mi < g.deployments.size() && di < g.deployments[mi].size()) d = g.deployments[mi][di];
      add_value(breaker, dep_labels(s), d.breaker);
      add_value(health, dep_labels(s), d.health);
      Labels l = dep_labels(s);
      l.push_back(label("source", "provider"));
      add_value(headroom, std::move(l), d.headroom);
      if (d.local_headroom >= 0) {
        Labels ll = dep_labels(s);
        ll.push_back(label("source", "local"));
        add_value(headroom, std::move(ll), d.local_headroom);
      }
      add_value(inflight, dep_labels(s), static_cast<double>(d.in_flight));
    }
    out.push_back(std::move(breaker));
    out.push_back(std::move(health));
    out.push_back(std::move(headroom));
    out.push_back(std::move(inflight));
  }
  {
    auto conns = family("switchyard_pool_connections",
                        "Upstream connections per provider (all workers): state=busy or idle.",
                        MetricType::Gauge);
    auto maxc = family("switchyard_pool_max_connections",
                       "max_connections per provider, summed over workers.", MetricType::Gauge);
    auto queue =
        family("switchyard_pool_queue_length",
               "Requests waiting for an upstream connection per provider.", MetricType::Gauge);
    auto qcap = family("switchyard_pool_queue_capacity",
                       "Longest wait queue per provider, summed over workers (past it: "
                       "pool_overflow).",
                       MetricType::Gauge);
    for (std::size_t p = 0; p < L.providers().size(); ++p) {
      const Gauges::Pool pool = p < g.pools.size() ? g.pools[p] : Gauges::Pool{};
      const Labels pl{label("provider", L.providers()[p])};
      Labels busy = pl, idle = pl;
      busy.push_back(label("state", "busy"));
      idle.push_back(label("state", "idle"));
      add_value(conns, std::move(busy),
                static_cast<double>(std::max<std::int64_t>(pool.open - pool.idle, 0)));
      add_value(conns, std::move(idle), static_cast<double>(pool.idle));
      add_value(maxc, pl, static_cast<double>(pool.max_open));
      add_value(queue, pl, static_cast<double>(pool.queued));
      add_value(qcap, pl, static_cast<double>(pool.max_queue));
    }
    out.push_back(std::move(conns));
    out.push_back(std::move(maxc));
    out.push_back(std::move(queue));
    out.push_back(std::move(qcap));
  }
  {
    auto f =
        family("switchyard_access_log_dropped_total",
               "Access log lines dropped because the log writer fell behind.", MetricType::Counter);
    add_value(f, {}, static_cast<double>(g.access_log_dropped));
    out.push_back(std::move(f));
  }
  {
    auto f = family("switchyard_config_reloads_total",
                    "Configuration reloads (SIGHUP): success, or failure (the previous "
                    "configuration stays).",
                    MetricType::Counter);
    add_value(f, {label("result", "success")}, static_cast<double>(g.config_reloads_ok));
    add_value(f, {label("result", "failure")}, static_cast<double>(g.config_reloads_failed));
    out.push_back(std::move(f));
    auto t = family("switchyard_config_last_reload_success_timestamp_seconds",
                    "When the configuration was last reloaded, Unix seconds (0: not since start).",
                    MetricType::Gauge);
    add_value(t, {}, g.config_last_reload_ok_unix);
    out.push_back(std::move(t));
  }
  return out;
}

std::string Metrics::scrape() const {
  std::vector<MetricFamily> families = impl_->registry.Collect();
  std::vector<MetricFamily> cells = impl_->Collect();
  families.insert(families.end(), std::make_move_iterator(cells.begin()),
                  std::make_move_iterator(cells.end()));
  std::ostringstream os;
  prometheus::TextSerializer{}.Serialize(os, families);
  return std::move(os).str();
}

std::uint64_t Metrics::open_streams() const {
  std::uint64_t opened = 0, closed = 0;
  for (const auto& w : workers_)
    opened += w->open_streams_.get(), closed += w->closed_streams_.get();
  return opened >= closed ? opened - closed : 0;  // read apart: a close may be seen first
}

std::string Metrics::status_json() const {
  using nlohmann::json;
  const auto& slots = layout_.slots();
  const std::size_t S = slots.size();
  const Gauges g = gauges_ ? gauges_() : Gauges{};
  const auto now = std::chrono::system_clock::now();

  json buckets = json::array();
  for (double b : kLatencyBuckets) buckets.push_back(b);
  json deployments = json::array();
  std::uint64_t total_requests = 0, total_errors = 0, total_streams = 0;
  double total_cost = 0;
  for (std::size_t s = 0; s < S; ++s) {
    std::uint64_t answered = 0, failed = 0;  // model requests by the slot's status class
    for (Endpoint ep : {Endpoint::chat, Endpoint::messages, Endpoint::embeddings}) {
      const std::size_t first = (static_cast<std::size_t>(ep) * S + s) * kClasses;
      answered += sum_cells(workers_, &WorkerMetrics::requests_, first, kClasses - 1);
      failed += sum_cells(workers_, &WorkerMetrics::requests_, first + kClasses - 1);
    }
    total_requests += answered + failed;
    total_errors += failed;
    if (slots[s].deployment_index < 0) continue;
    const std::uint64_t attempts =
        sum_cells(workers_, &WorkerMetrics::attempts_, s * kOutcomes, kOutcomes);
    const std::uint64_t errors =
        sum_cells(workers_, &WorkerMetrics::errors_, s * kReasons, kReasons);
    const std::uint64_t in = sum_cells(workers_, &WorkerMetrics::tokens_, s * 4, 2);
    const std::uint64_t out = sum_cells(workers_, &WorkerMetrics::tokens_, s * 4 + 2, 2);
    const double cost = sum_values(workers_, &WorkerMetrics::cost_, s);
    const Merged ttft = merge_histograms(workers_, &WorkerMetrics::ttft_, s);
    total_cost += cost;
    total_streams += ttft.count;
    const auto mi = static_cast<std::size_t>(slots[s].model_index);
    const auto di = static_cast<std::size_t>(slots[s].deployment_index);
    Gauges::Deployment d;
    if (mi < g.deployments.size() && di < g.deployments[mi].size()) d = g.deployments[mi][di];
    json tb = json::array();
    for (std::uint64_t b : ttft.buckets) tb.push_back(b);
    auto ms = [](double v) { return v < 0 ? json(nullptr) : json(std::round(v * 10) / 10); };
    deployments.push_back({
        {"model", slots[s].model},
        {"deployment", slots[s].deployment},
        {"provider", slots[s].provider},
        {"health", d.health},
        {"health_samples", d.window_outcomes},
        {"breaker", kBreakerNames[std::clamp(d.breaker, 0, 2)]},
        {"headroom", d.headroom},
        {"local_headroom", d.local_headroom < 0 ? json(nullptr) : json(d.local_headroom)},
        {"in_flight", d.in_flight},
        {"ttfb_ms", ms(d.ttfb_ms)},
        {"recent_p95_ttft_ms", ms(d.p95_ttft_ms)},
        {"requests", answered + failed},
        {"requests_5xx", failed},
        {"attempts", attempts},
        {"upstream_errors", errors},
        {"input_tokens", in},
        {"output_tokens", out},
        {"cost_usd", cost},
        {"ttft",
         {{"count", ttft.count},
          {"sum_s", ttft.sum},
          {"buckets", std::move(tb)},
          {"p50_ms", ms(quantile_ms(ttft, 0.5))},
          {"p95_ms", ms(quantile_ms(ttft, 0.95))}}},
    });
  }
  std::uint64_t opened = 0, closed = 0;
  for (const auto& w : workers_)
    opened += w->open_streams_.get(), closed += w->closed_streams_.get();
  json doc = {
      {"version", SWITCHYARD_VERSION},
      {"now_unix_ms",
       std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count()},
      {"uptime_s", std::chrono::duration<double>(now - started_).count()},
      {"workers", workers_.size()},
      {"in_flight", g.in_flight},
      {"open_streams", open_streams()},
      {"totals",
       {{"requests", total_requests},
        {"requests_5xx", total_errors},
        {"streams", total_streams},
        {"cost_usd", total_cost}}},
      {"ttft_buckets_s", std::move(buckets)},
      {"deployments", std::move(deployments)},
  };
  return doc.dump();
}

}  // namespace switchyard::telemetry
