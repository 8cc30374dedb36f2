#include "switchyard/router/live_stats.hpp"

namespace switchyard::router {
namespace {

void ewma(double& avg, double sample) {
  if (sample < 0) return;
  avg = avg < 0 ? sample : avg + LocalStats::kAlpha * (sample - avg);
}

}  // namespace

LocalStats::LocalStats(const config::Config& cfg, std::mt19937_64& rng) {
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

bool LocalStats::admit(std::size_t model, std::size_t deployment, Clock::time_point now) {
  Slot& s = slots_[model][deployment];
  if (!s.breaker.allow(now)) return false;
  ++s.in_flight;
  return true;
}

void LocalStats::attempt_abandoned(std::size_t model, std::size_t deployment,
                                   Clock::time_point now) {
  Slot& s = slots_[model][deployment];
  if (s.in_flight > 0) --s.in_flight;
  s.outcomes.record(now, false, api::Origin::local);
  s.breaker.on_abandoned(now);
}

void LocalStats::attempt_finished(std::size_t model, std::size_t deployment,
                                  Clock::time_point now, bool ok, api::Origin origin,
                                  double ttfb_ms, double tokens_per_s) {
  Slot& s = slots_[model][deployment];
  if (s.in_flight > 0) --s.in_flight;
  s.outcomes.record(now, ok, origin);
  if (ok) {
    s.breaker.on_success(now);
  } else if (origin == api::Origin::upstream) {
    s.breaker.on_failure(now, origin);
  } else {
    s.breaker.on_abandoned(now);  // a local failure says nothing about the provider
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
}

void LocalStats::views(std::size_t model, Clock::time_point now,
                       std::vector<DeploymentView>& out) const {
  const auto& row = slots_[model];
  out.resize(row.size());
  for (std::size_t i = 0; i < row.size(); ++i) {
    const Slot& s = row[i];
    DeploymentView& v = out[i];
    v = DeploymentView{};
    v.ttfb_ms = s.ewma_ttfb_ms;
    v.tokens_per_s = s.ewma_tps;
    v.success_rate = s.outcomes.success_rate(now);
    v.retry_after = now < s.retry_until;
    v.headroom = now < s.headroom_until ? s.headroom : 1.0;
    v.breaker_open = !s.breaker.would_allow(now);
    // A half-open deployment gets its one probe from the next request that may use it, not
    // a random tenth of them: the sooner the probe, the sooner a healed provider is back.
    v.share = s.breaker.state(now) == CircuitBreaker::State::half_open ? 1.0
                                                                         : s.breaker.share(now);
  }
}

}  // namespace switchyard::router
