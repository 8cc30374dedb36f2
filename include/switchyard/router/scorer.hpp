#pragma once
// Ranks a model's deployments for one request: which are allowed (quality, context window,
// breaker, Retry-After, tier), and in which order to try them (strategy). Pure: the live
// state comes in as DeploymentView values, randomness through the caller's generator, so
// the same inputs always give the same plan in tests.

#include <cstddef>
#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "switchyard/config/config.hpp"

namespace switchyard::router {

/// What the router knows about one deployment right now (from the merged live stats).
struct DeploymentView {
  double ttfb_ms = -1;        ///< EWMA time to first byte; < 0: no data yet
  double tokens_per_s = -1;   ///< EWMA output tokens per second; < 0: no data yet
  double success_rate = 1.0;  ///< recent upstream-origin success rate, 0..1
  double headroom = 1.0;      ///< provider-reported rate-limit headroom, 0..1
  bool breaker_open = false;  ///< open (or half-open with its probe taken)
  bool retry_after = false;   ///< inside a provider's Retry-After window
  double share = 1.0;         ///< slow-start share after a breaker closed, 0..1
  bool rpm_capped = false;    ///< the deployment's local max_rpm is used up right now
  double p95_ttft_ms = -1;    ///< p95 time until the answer could start; < 0: too few samples
};

struct RankInput {
  const config::Model* model = nullptr;
  std::span<const DeploymentView> views;  ///< one per model->deployments
  double min_quality = 0;                 ///< from the task
  const config::Tier* tier = nullptr;     ///< may narrow deployments and change weights
  config::Weights weights;                ///< routing.weights (tier override applied by rank)
  std::int64_t prompt_tokens = 0;         ///< estimate
  std::int64_t max_tokens = 0;            ///< client's max_tokens, 0 if absent
};

/// Score parts, each normalised to 0..1 across the allowed candidates (lower is better);
/// score = Σ weight × part.
struct Candidate {
  std::size_t index = 0;  ///< into model->deployments
  double score = 0;
  double cost = 0, latency = 0, health = 0, headroom = 0;
  double expected_cost_usd = 0;
  double expected_latency_ms = 0;
  bool demoted = false;               ///< slow start: moved behind the others this time
  std::string_view excluded_because;  ///< empty for allowed candidates
};

struct Ranking {
  std::vector<Candidate> allowed;   ///< in try order (the plan)
  std::vector<Candidate> excluded;  ///< with the reason each is out
  bool panic = false;  ///< nothing was allowed by health alone: every deployment is tried
};

/// Reason given for a deployment whose local max_rpm is used up.
inline constexpr std::string_view kExcludedRpm = "local max_rpm reached";

/// Expected output tokens when the client gives no max_tokens.
inline constexpr std::int64_t kDefaultOutputTokens = 256;
/// TTFB assumed when no candidate has been measured yet (an unmeasured deployment among
/// measured ones counts as their average).
inline constexpr double kPriorTtfbMs = 800;
/// Latency parts are normalised by max(slowest candidate, this): below a second, measured
/// differences of a few milliseconds (noise, mostly) cannot outweigh cost or health.
inline constexpr double kLatencyScaleMs = 1000;

/// Builds the plan for `in.model->strategy`:
/// - score: allowed deployments by ascending score; the second attempt prefers a
///   different provider than the first;
/// - weighted: the first pick is drawn by weight among allowed ones, the rest follow in
///   listed order;
/// - fallback: listed order.
/// Quality, context window and tier filters always apply. Breaker/Retry-After exclusions
/// apply unless they would leave nothing, in which case every otherwise-allowed deployment
/// is tried ("panic", as Envoy does) rather than failing without trying.
/// Fills `out` (cleared first), reusing its vectors' capacity: with a reused Ranking a call
/// allocates nothing; with a fresh one, at most one allocation per list. The plan is only
/// valid until `out` is reused, so do not share one Ranking between concurrent requests.
void rank(const RankInput& in, std::mt19937_64& rng, Ranking& out);
/// Same, into a new Ranking.
Ranking rank(const RankInput& in, std::mt19937_64& rng);

/// One compact line for the x-switchyard-route header, e.g.
/// "task=code; strategy=score; score=0.420 cost=0.100 latency=0.200 health=0.020
/// headroom=0.100; candidates=3". Numbers as printf's "%.3f" writes them. Replaces `out`'s
/// contents, reusing its capacity.
void explain_line(std::string_view task, const RankInput& in, const Ranking& r, std::string& out);
/// Same, into a new string.
std::string explain_line(std::string_view task, const RankInput& in, const Ranking& r);

namespace detail {
/// Space format_fixed3 may need (the largest double printed with "%.3f", plus a NUL).
inline constexpr std::size_t kFixed3MaxChars = 330;
/// Writes v exactly as printf("%.3f", v) would, without the NUL, and returns one past the
/// last character. Integer arithmetic for finite |v| < 9e12, snprintf beyond. `first` must
/// have room for kFixed3MaxChars characters.
char* format_fixed3(char* first, double v);
}  // namespace detail

}  // namespace switchyard::router
