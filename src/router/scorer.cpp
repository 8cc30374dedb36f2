#include "switchyard/router/scorer.hpp"

#include <algorithm>
#include <cstdio>

namespace switchyard::router {
namespace {

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

}  // namespace

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

}  // namespace switchyard::router
