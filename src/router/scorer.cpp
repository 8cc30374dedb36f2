#include "switchyard/router/scorer.hpp"

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>

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

// Why a deployment is out before its health is looked at; 0: it is not.
enum Status : unsigned char {
  kFit = 0,
  kQuality,
  kTier,
  kContext,
  kRpm,
  kBreaker,  // the unhealthy ones: excluded unless nothing else is left (panic)
  kRetryAfter,
};

constexpr std::string_view kReason[] = {
    {},
    "quality below the task's min_quality",
    "not allowed for this tier",
    "prompt + max_tokens exceed context_window",
    kExcludedRpm,
    "circuit breaker open",
    "inside the provider's Retry-After window",
};

// A few hundred bytes on the stack, the heap only for unusually large models.
template <class T, std::size_t N>
class SmallBuffer {
 public:
  explicit SmallBuffer(std::size_t n) {
    if (n > N) heap_ = std::make_unique<T[]>(n);
  }
  T* data() { return heap_ ? heap_.get() : stack_; }

 private:
  T stack_[N];
  std::unique_ptr<T[]> heap_;
};

// Sort key of an allowed candidate: its score's bits, mapped so that unsigned order is the
// order of the (non-NaN) scores, and its position in `fit` to break ties as a stable sort
// does. Keys are unique, so any sort gives the one stable order.
struct Key {
  std::uint64_t bits;
  std::uint32_t pos;
  bool operator<(const Key& o) const { return bits < o.bits || (bits == o.bits && pos < o.pos); }
};

std::uint64_t order_bits(double score) {
  const auto b = std::bit_cast<std::uint64_t>(score + 0.0);  // -0.0 sorts as +0.0
  return b >> 63 ? ~b : b | (std::uint64_t{1} << 63);
}

// Writes positions 0..k-1 of `fit` in ascending score order, ties in listed order (the
// order std::stable_sort with `a.score < b.score` gives).
void score_order(const std::vector<Candidate>& fit, std::uint32_t* order) {
  const std::size_t k = fit.size();
  bool nan = false;
  for (const auto& c : fit) nan = nan || std::isnan(c.score);
  if (nan) {
    // Not a strict weak order: keep exactly what stable_sort made of it.
    std::vector<std::pair<double, std::uint32_t>> keys(k);
    for (std::size_t i = 0; i < k; ++i) keys[i] = {fit[i].score, static_cast<std::uint32_t>(i)};
    std::stable_sort(keys.begin(), keys.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    for (std::size_t i = 0; i < k; ++i) order[i] = keys[i].second;
    return;
  }
  SmallBuffer<Key, 128> keys_buf(k);
  Key* keys = keys_buf.data();
  for (std::size_t i = 0; i < k; ++i) {
    keys[i] = {order_bits(fit[i].score), static_cast<std::uint32_t>(i)};
  }
  std::sort(keys, keys + k);
  for (std::size_t i = 0; i < k; ++i) order[i] = keys[i].pos;
}

// Reorders cs so that cs[k] becomes the old cs[order[k]] (order: a permutation of
// 0..n-1, consumed).
void apply_order(std::vector<Candidate>& cs, std::uint32_t* order) {
  const std::uint32_t n = static_cast<std::uint32_t>(cs.size());
  for (std::uint32_t i = 0; i < n; ++i) {
    if (order[i] == i) continue;
    const Candidate first = cs[i];
    std::uint32_t j = i;
    while (order[j] != i) {
      const std::uint32_t from = order[j];
      cs[j] = cs[from];
      order[j] = j;
      j = from;
    }
    cs[j] = first;
    order[j] = j;
  }
}

}  // namespace

namespace {

struct StatusCounts {
  std::size_t fit = 0, out = 0, unhealthy = 0;
};

// Pass 1: why each deployment is out, if it is, so both lists can be sized exactly.
StatusCounts classify_deployments(const RankInput& in, Status* status) {
  const config::Model& m = *in.model;
  StatusCounts n;
  for (std::size_t i = 0; i < m.deployments.size(); ++i) {
    const config::Deployment& d = m.deployments[i];
    const DeploymentView& v = in.views[i];
    Status s = kFit;
    if (d.quality + 1e-12 < in.min_quality) {
      s = kQuality;
    } else if (!tier_allows(in.tier, d)) {
      s = kTier;
    } else if (!fits_context(d, in)) {
      s = kContext;
    } else if (v.rpm_capped) {
      // A cap the operator set is a hard limit: not even panic mode goes past it.
      s = kRpm;
    } else if (v.breaker_open) {
      s = kBreaker;
    } else if (v.retry_after) {
      s = kRetryAfter;
    }
    status[i] = s;
    n.fit += s == kFit;
    n.unhealthy += s >= kBreaker;
    n.out += s != kFit && s < kBreaker;
  }
  return n;
}

Candidate make_candidate(const RankInput& in, std::size_t i, double out_tokens) {
  const config::Deployment& d = in.model->deployments[i];
  const DeploymentView& v = in.views[i];
  Candidate c;
  c.index = i;
  const double cached_in = d.price.input;
  c.expected_cost_usd =
      (cached_in * static_cast<double>(in.prompt_tokens) + d.price.output * out_tokens) / 1e6;
  // Latency: time to first byte now, generation time added below once every candidate
  // has a measured output rate (non-stream answers measure TTFB over the whole answer).
  c.expected_latency_ms = v.ttfb_ms;  // < 0: not measured yet, filled in below
  c.cost = c.expected_cost_usd;
  c.health = 1.0 - std::clamp(v.success_rate, 0.0, 1.0);
  c.headroom = 1.0 - std::clamp(v.headroom, 0.0, 1.0);
  return c;
}

// Pass 2: the plan's candidates in listed order, then the hard exclusions, then (unless
// in panic) the unhealthy ones.
void place_candidates(const RankInput& in, const Status* status, double out_tokens,
                      std::size_t n_unhealthy, Ranking& out) {
  const std::size_t n = in.model->deployments.size();
  for (std::size_t i = 0; i < n; ++i) {
    const Status s = status[i];
    if (s == kFit || (out.panic && s >= kBreaker)) {
      out.allowed.push_back(make_candidate(in, i, out_tokens));
    } else if (s < kBreaker) {
      Candidate& c = out.excluded.emplace_back();
      c.index = i;
      c.excluded_because = kReason[s];
    }
  }
  if (!out.panic && n_unhealthy != 0) {
    for (std::size_t i = 0; i < n; ++i) {
      if (status[i] < kBreaker) continue;
      Candidate& c = out.excluded.emplace_back(make_candidate(in, i, out_tokens));
      c.excluded_because = kReason[status[i]];
    }
  }
}

// Expected latency and the weighted score of every allowed candidate.
void score_candidates(const RankInput& in, const config::Weights& w, double out_tokens,
                      Ranking& out) {
  std::vector<Candidate>& fit = out.allowed;
  // Add generation time (expected output tokens ÷ tokens per second) only when every
  // candidate has a measured rate: a made-up prior for some would swamp the TTFB
  // differences that were actually measured.
  // A deployment not measured yet counts as average among those that are (neutral: it
  // neither wins nor loses on latency until it has been tried), or kPriorTtfbMs if none is.
  double measured_sum = 0;
  int measured = 0;
  bool all_rates = !fit.empty();
  for (const auto& c : fit) {
    if (c.expected_latency_ms >= 0) measured_sum += c.expected_latency_ms, ++measured;
    all_rates = all_rates && in.views[c.index].tokens_per_s > 0;
  }
  const double neutral_ttfb = measured ? measured_sum / measured : kPriorTtfbMs;
  for (auto& c : out.excluded) {
    if (c.expected_latency_ms < 0) c.expected_latency_ms = neutral_ttfb;
  }
  double hi_cost = 0, hi_latency = kLatencyScaleMs;
  for (auto& c : fit) {
    if (c.expected_latency_ms < 0) c.expected_latency_ms = neutral_ttfb;
    if (all_rates) c.expected_latency_ms += out_tokens / in.views[c.index].tokens_per_s * 1000.0;
    c.latency = c.expected_latency_ms;
    hi_cost = std::max(hi_cost, c.cost);
    hi_latency = std::max(hi_latency, c.latency);
  }
  // Normalise cost and latency so the largest allowed value is 1 (all zero stays zero).
  // The latency floor keeps tiny absolute differences tiny: two deployments answering in
  // 1 and 2 ms are not "twice as slow" in any way that should outweigh cost or health.
  for (auto& c : fit) {
    if (hi_cost > 0) c.cost /= hi_cost;
    if (hi_latency > 0) c.latency /= hi_latency;
    c.score =
        w.cost * c.cost + w.latency * c.latency + w.health * c.health + w.headroom * c.headroom;
  }
}

// strategy: weighted — one deployment drawn by weight goes first, the rest keep order.
void order_weighted(const config::Model& m, std::vector<Candidate>& fit, std::mt19937_64& rng) {
  double total = 0;
  for (const auto& c : fit) total += m.deployments[c.index].weight;
  if (total <= 0 || fit.size() < 2) return;
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

// strategy: score — best score first, slow-start demotions behind, and the second attempt
// on another provider when there is one.
void order_by_score(const RankInput& in, std::vector<Candidate>& fit, std::mt19937_64& rng) {
  const config::Model& m = *in.model;
  // Sort small (score, position) keys rather than the candidates, then move each
  // candidate once to its place in the plan.
  const std::size_t k = fit.size();
  if (k < 2 && (k == 0 || in.views[fit[0].index].share >= 1.0)) return;
  SmallBuffer<std::uint32_t, 384> order_buf(3 * k);
  std::uint32_t* sorted = order_buf.data();  // all, in score order
  std::uint32_t* order = sorted + k;         // kept, in score order, then demoted
  std::uint32_t* demoted = order + k;        // demoted, in score order
  score_order(fit, sorted);
  // Slow start: a deployment back from an open breaker takes only `share` of the traffic
  // it would win; the rest of the time it goes behind the others.
  std::size_t n_kept = 0, n_demoted = 0;
  std::uniform_real_distribution<double> u(0, 1);
  for (std::size_t i = 0; i < k; ++i) {
    Candidate& c = fit[sorted[i]];
    const double share = in.views[c.index].share;
    if (share < 1.0 && u(rng) >= share) {
      c.demoted = true;
      demoted[n_demoted++] = sorted[i];
    } else {
      order[n_kept++] = sorted[i];
    }
  }
  // (If every one was demoted, they keep their score order, still marked demoted.)
  std::copy(demoted, demoted + n_demoted, order + n_kept);
  // The second attempt prefers another provider: a provider-wide outage should not eat
  // two attempts.
  if (k > 2) {
    const std::string& first = m.deployments[fit[order[0]].index].provider;
    if (m.deployments[fit[order[1]].index].provider == first) {
      for (std::size_t j = 2; j < k; ++j) {
        if (m.deployments[fit[order[j]].index].provider != first) {
          std::rotate(order + 1, order + j, order + j + 1);
          break;
        }
      }
    }
  }
  apply_order(fit, order);
}

}  // namespace

void rank(const RankInput& in, std::mt19937_64& rng, Ranking& out) {
  const config::Model& m = *in.model;
  const config::Weights w = in.tier ? in.tier->weights.apply(in.weights) : in.weights;
  const double out_tokens = expected_output_tokens(in);
  out.allowed.clear();
  out.excluded.clear();

  SmallBuffer<Status, 256> status_buf(m.deployments.size());
  const StatusCounts n = classify_deployments(in, status_buf.data());
  // Nothing allowed by health alone: every otherwise-allowed deployment is tried.
  out.panic = n.fit == 0 && n.unhealthy != 0;
  out.allowed.reserve(out.panic ? n.unhealthy : n.fit);
  out.excluded.reserve(n.out + (out.panic ? 0 : n.unhealthy));
  place_candidates(in, status_buf.data(), out_tokens, n.unhealthy, out);
  score_candidates(in, w, out_tokens, out);
  switch (m.strategy) {
    case config::Strategy::fallback:
      break;  // listed order (allowed is already in it)
    case config::Strategy::weighted:
      order_weighted(m, out.allowed, rng);
      break;
    case config::Strategy::score:
      order_by_score(in, out.allowed, rng);
      break;
  }
}

Ranking rank(const RankInput& in, std::mt19937_64& rng) {
  Ranking out;
  rank(in, rng, out);
  return out;
}

namespace {

// Below this magnitude format_fixed3 works in 64-bit integers: |v| × 1000 < 2^53 × 1000 < 2^63.
constexpr double kFixed3FastLimit = 9.0e12;

// The fast path of format_fixed3: finite |v| < kFixed3FastLimit, at most 18 characters.
char* put_fixed3(char* p, double v) {
  const auto bits = std::bit_cast<std::uint64_t>(v);
  if (bits >> 63) *p++ = '-';  // printf keeps the sign of -0.0 and of what rounds to 0
  const int biased = static_cast<int>((bits >> 52) & 0x7FF);
  std::uint64_t mant = bits & ((std::uint64_t{1} << 52) - 1);
  int exp = biased - 1075;  // |v| = mant × 2^exp
  if (biased == 0) {
    exp = -1074;  // subnormal
  } else {
    mant |= std::uint64_t{1} << 52;
  }
  // q = |v| × 1000 rounded to nearest, ties to even, computed exactly (as glibc's printf
  // rounds the exact binary value in the default rounding mode).
  const std::uint64_t scaled = mant * 1000;
  std::uint64_t q;
  if (exp >= 0) {
    q = scaled << exp;  // not reached below kFixed3FastLimit (2^52 > 9e12), kept for safety
  } else if (exp <= -64) {
    q = 0;  // |v| × 1000 < 2^63 × 2^-64 = 0.5
  } else {
    const int sh = -exp;
    q = scaled >> sh;
    const std::uint64_t rem = scaled & ((std::uint64_t{1} << sh) - 1);
    const std::uint64_t half = std::uint64_t{1} << (sh - 1);
    if (rem > half || (rem == half && (q & 1))) ++q;
  }
  p = std::to_chars(p, p + 20, q / 1000).ptr;
  const auto frac = static_cast<unsigned>(q % 1000);
  p[0] = '.';
  p[1] = static_cast<char>('0' + frac / 100);
  p[2] = static_cast<char>('0' + frac / 10 % 10);
  p[3] = static_cast<char>('0' + frac % 10);
  return p + 4;
}

bool fast_fixed3(double v) { return std::isfinite(v) && std::fabs(v) < kFixed3FastLimit; }

}  // namespace

char* detail::format_fixed3(char* first, double v) {
  if (fast_fixed3(v)) return put_fixed3(first, v);
  const int len = std::snprintf(first, kFixed3MaxChars, "%.3f", v);
  return first + std::clamp(len, 0, static_cast<int>(kFixed3MaxChars) - 1);
}

void explain_line(std::string_view task, const RankInput& in, const Ranking& r, std::string& out) {
  static constexpr std::string_view kStrategy[] = {"score", "fallback", "weighted"};
  out.clear();
  out.reserve(task.size() + 160);
  out.append("task=");
  out.append(task);
  out.append("; strategy=");
  out.append(kStrategy[static_cast<int>(in.model->strategy)]);
  if (r.allowed.empty()) {
    out.append("; no deployment allowed");
    return;
  }
  const Candidate& c = r.allowed.front();
  // The part after the strategy is at most 159 characters (it was printed into 160 bytes).
  constexpr std::size_t kPartsMax = 159;
  char buf[256];
  std::size_t len = 0;
  if (fast_fixed3(c.score) && fast_fixed3(c.cost) && fast_fixed3(c.latency) &&
      fast_fixed3(c.health) && fast_fixed3(c.headroom)) {
    // At most 54 + 5 × 18 + 20 characters: fits buf.
    char* p = buf;
    auto put = [&p](std::string_view s) {
      std::memcpy(p, s.data(), s.size());
      p += s.size();
    };
    put("; score=");
    p = put_fixed3(p, c.score);
    put(" cost=");
    p = put_fixed3(p, c.cost);
    put(" latency=");
    p = put_fixed3(p, c.latency);
    put(" health=");
    p = put_fixed3(p, c.health);
    put(" headroom=");
    p = put_fixed3(p, c.headroom);
    put("; candidates=");
    p = std::to_chars(p, buf + sizeof buf, r.allowed.size()).ptr;
    len = static_cast<std::size_t>(p - buf);
  }
  if (len == 0 || len > kPartsMax) {
    // Huge or non-finite parts: printf, cut to 159 characters as it always was.
    const int n = std::snprintf(
        buf, kPartsMax + 1,
        "; score=%.3f cost=%.3f latency=%.3f health=%.3f headroom=%.3f; candidates=%zu", c.score,
        c.cost, c.latency, c.health, c.headroom, r.allowed.size());
    len = std::min(static_cast<std::size_t>(std::max(n, 0)), kPartsMax);
  }
  out.append(buf, len);
  if (r.panic) out.append("; panic=all-unhealthy");
}

std::string explain_line(std::string_view task, const RankInput& in, const Ranking& r) {
  std::string s;
  explain_line(task, in, r, s);
  return s;
}

}  // namespace switchyard::router
