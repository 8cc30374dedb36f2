#include "switchyard/router/live_stats.hpp"

#include <algorithm>

namespace switchyard::router {
namespace {

void ewma(double& avg, double sample) {
  if (sample < 0) return;
  avg = avg < 0 ? sample : avg + LocalStats::kAlpha * (sample - avg);
}

}  // namespace

RpmCaps::RpmCaps(const config::Config& cfg) {
  caps_.reserve(cfg.models.size());
  for (const auto& m : cfg.models) {
    std::vector<std::unique_ptr<RpmCap>> row;
    row.reserve(m.deployments.size());
    for (const auto& d : m.deployments) {
      row.push_back(d.max_rpm > 0 ? std::make_unique<RpmCap>(d.max_rpm) : nullptr);
    }
    caps_.push_back(std::move(row));
  }
}

LocalStats::LocalStats(const config::Config& cfg, std::mt19937_64& rng,
                       std::shared_ptr<const RpmCaps> caps)
    : caps_(std::move(caps)) {
  slots_.reserve(cfg.models.size());
  for (const auto& m : cfg.models) {
    std::vector<Slot> row;
    row.reserve(m.deployments.size());
    for (std::size_t i = 0; i < m.deployments.size(); ++i) {
      row.emplace_back(cfg.routing.breaker, rng);
    }
    slots_.push_back(std::move(row));
  }
}

std::span<const DeploymentView> LocalStats::current_views(std::size_t model,
                                                          Clock::time_point now) {
  if (views_cache_.size() != slots_.size()) views_cache_.resize(slots_.size());
  ViewsCache& c = views_cache_[model];
  if (!c.valid || now < c.at || now - c.at >= kViewsTtl) {
    views(model, now, c.views);
    c.at = now;
    c.valid = true;
  }
  return c.views;
}

bool LocalStats::admit(std::size_t model, std::size_t deployment, Clock::time_point now,
                       bool panic) {
  Slot& s = slots_[model][deployment];
  RpmCap* cap = caps_ ? caps_->get(model, deployment) : nullptr;
  if (cap && !cap->try_take(now)) return false;
  if (!s.breaker.allow(now, panic)) {
    if (cap) cap->give_back();  // not sent: the room goes back
    return false;
  }
  ++s.in_flight;
  return true;
}

bool LocalStats::rpm_capped(std::size_t model, std::size_t deployment,
                            Clock::time_point now) const {
  const RpmCap* cap = caps_ ? caps_->get(model, deployment) : nullptr;
  return cap && !cap->would_allow(now);
}

LocalStats::Clock::duration LocalStats::rpm_wait(std::size_t model, std::size_t deployment,
                                                 Clock::time_point now) const {
  const RpmCap* cap = caps_ ? caps_->get(model, deployment) : nullptr;
  return cap ? cap->wait(now) : Clock::duration::zero();
}

void LocalStats::ttft_sample(std::size_t model, std::size_t deployment, double ms) {
  if (ms < 0) return;
  Slot& s = slots_[model][deployment];
  s.ttft[s.ttft_count % kTtftSamples] = static_cast<float>(ms);
  ++s.ttft_count;
  // Recomputed every 8th sample: the p95 moves slowly and nth_element over 64 floats is
  // the costliest thing here.
  if (s.ttft_count >= kMinTtftSamples && s.ttft_count % 8 == 0) {
    std::array<float, kTtftSamples> tmp = s.ttft;
    const std::size_t n = std::min<std::size_t>(s.ttft_count, kTtftSamples);
    const std::size_t k = (n * 95 + 99) / 100 - 1;  // nearest-rank p95
    std::nth_element(tmp.begin(), tmp.begin() + static_cast<std::ptrdiff_t>(k),
                     tmp.begin() + static_cast<std::ptrdiff_t>(n));
    s.p95_ttft_ms = tmp[k];
  }
}

void LocalStats::attempt_abandoned(std::size_t model, std::size_t deployment,
                                   Clock::time_point now) {
  Slot& s = slots_[model][deployment];
  if (s.in_flight > 0) --s.in_flight;
  s.outcomes.record(now, false, api::Origin::local);
  s.breaker.on_abandoned(now);
}

void LocalStats::attempt_finished(std::size_t model, std::size_t deployment, Clock::time_point now,
                                  bool ok, api::Origin origin, double ttfb_ms,
                                  double tokens_per_s) {
  Slot& s = slots_[model][deployment];
  if (s.in_flight > 0) --s.in_flight;
  s.outcomes.record(now, ok, origin);
  const auto state_before = s.breaker.state(now);
  if (ok) {
    s.breaker.on_success(now);
  } else if (origin == api::Origin::upstream) {
    s.breaker.on_failure(now, origin);
  } else {
    s.breaker.on_abandoned(now);  // a local failure says nothing about the provider
  }
  // A breaker that changed state is seen by the next decision at once.
  if (s.breaker.state(now) != state_before && model < views_cache_.size()) {
    views_cache_[model].valid = false;
  }
  ewma(s.ewma_ttfb_ms, ttfb_ms);
  ewma(s.ewma_tps, tokens_per_s);
}

void LocalStats::headroom(std::size_t model, std::size_t deployment, double fraction,
                          Clock::time_point until) {
  Slot& s = slots_[model][deployment];
  s.headroom = fraction;
  s.headroom_until = until;
}

void LocalStats::retry_after(std::size_t model, std::size_t deployment, Clock::time_point until) {
  Slot& s = slots_[model][deployment];
  if (until > s.retry_until) s.retry_until = until;
  if (model < views_cache_.size()) views_cache_[model].valid = false;
}

std::shared_ptr<const StatsSummary> LocalStats::summarize(Clock::time_point now) const {
  auto out = std::make_shared<StatsSummary>();
  out->slots.reserve(slots_.size());
  for (const auto& row : slots_) {
    std::vector<SlotSummary> r;
    r.reserve(row.size());
    for (const Slot& s : row) {
      SlotSummary x;
      const SlidingWindow::Counts counts = s.outcomes.counts(now);
      x.successes = counts.ok;
      x.upstream_failures = counts.upstream_failures;
      x.ttfb_ms = s.ewma_ttfb_ms;
      x.tokens_per_s = s.ewma_tps;
      x.headroom = s.headroom;
      x.headroom_until = s.headroom_until;
      x.retry_until = s.retry_until;
      const CircuitBreaker::State state = s.breaker.state(now);
      x.breaker_blocking = state != CircuitBreaker::State::closed;
      x.breaker_state = state == CircuitBreaker::State::closed      ? 0
                        : state == CircuitBreaker::State::half_open ? 1
                                                                    : 2;
      x.in_flight = s.in_flight;
      x.share = s.breaker.share(now);
      x.p95_ttft_ms = s.p95_ttft_ms;
      r.push_back(x);
    }
    out->slots.push_back(std::move(r));
  }
  return out;
}

double LocalStats::p95_ttft_ms(std::size_t model, std::size_t deployment) const {
  double sum = 0;
  int n = 0;
  const double own = slots_[model][deployment].p95_ttft_ms;
  if (own >= 0) sum += own, ++n;
  for (const auto& peer : peers_) {
    if (!peer || model >= peer->slots.size() || deployment >= peer->slots[model].size()) continue;
    const double p = peer->slots[model][deployment].p95_ttft_ms;
    if (p >= 0) sum += p, ++n;
  }
  return n ? sum / n : -1;
}

void LocalStats::views(std::size_t model, Clock::time_point now,
                       std::vector<DeploymentView>& out) const {
  const auto& row = slots_[model];
  out.resize(row.size());
  if (row.empty()) return;
  // Every window has routing.breaker.window's width: one bucket index serves them all.
  const std::int64_t bucket = row[0].outcomes.bucket_index(now);
  for (std::size_t i = 0; i < row.size(); ++i) {
    const Slot& s = row[i];
    DeploymentView& v = out[i];
    v = DeploymentView{};
    const SlidingWindow::Counts counts = s.outcomes.counts_at(bucket);
    std::int64_t ok = counts.ok;
    std::int64_t bad = counts.upstream_failures;
    double ttfb_sum = 0, tps_sum = 0, p95_sum = 0;
    int ttfb_n = 0, tps_n = 0, p95_n = 0;
    if (s.ewma_ttfb_ms >= 0) ttfb_sum += s.ewma_ttfb_ms, ++ttfb_n;
    if (s.ewma_tps >= 0) tps_sum += s.ewma_tps, ++tps_n;
    if (s.p95_ttft_ms >= 0) p95_sum += s.p95_ttft_ms, ++p95_n;
    v.headroom = now < s.headroom_until ? s.headroom : 1.0;
    v.retry_after = now < s.retry_until;
    const auto state = s.breaker.state(now);
    v.breaker_open = !s.breaker.would_allow(now);
    // A half-open deployment gets its one probe from the next request that may use it, not
    // a random tenth of them: the sooner the probe, the sooner a healed provider is back.
    v.share = state == CircuitBreaker::State::half_open ? 1.0 : s.breaker.share(now);
    if (caps_) {
      const RpmCap* cap = caps_->get(model, i);
      v.rpm_capped = cap && !cap->would_allow(now);
    }
    for (const auto& peer : peers_) {
      if (!peer || model >= peer->slots.size() || i >= peer->slots[model].size()) continue;
      const SlotSummary& p = peer->slots[model][i];
      ok += p.successes;
      bad += p.upstream_failures;
      if (p.ttfb_ms >= 0) ttfb_sum += p.ttfb_ms, ++ttfb_n;
      if (p.tokens_per_s >= 0) tps_sum += p.tokens_per_s, ++tps_n;
      if (p.p95_ttft_ms >= 0) p95_sum += p.p95_ttft_ms, ++p95_n;
      if (now < p.headroom_until) v.headroom = std::min(v.headroom, p.headroom);
      v.retry_after = v.retry_after || now < p.retry_until;
      // Another worker's breaker that is open (or probing) keeps this worker away too;
      // the worker that tripped it runs the probe.
      if (p.breaker_blocking && state == CircuitBreaker::State::closed) v.breaker_open = true;
      v.share = std::min(v.share, p.share);
    }
    v.ttfb_ms = ttfb_n ? ttfb_sum / ttfb_n : -1;
    v.tokens_per_s = tps_n ? tps_sum / tps_n : -1;
    v.p95_ttft_ms = p95_n ? p95_sum / p95_n : -1;
    v.success_rate = ok + bad > 0 ? static_cast<double>(ok) / static_cast<double>(ok + bad) : 1.0;
  }
}

}  // namespace switchyard::router
