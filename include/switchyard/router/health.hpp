#pragma once
// Health primitives of the router: a bucketed success/failure window, the per-deployment
// circuit breaker (closed → open → half-open probe → closed on a slow-start ramp), retry
// backoff, Retry-After and provider rate-limit header parsing.
//
// Everything here is pure: no Asio, no threads, no globals. Time comes in as `now`
// (steady_clock for intervals, system_clock only where HTTP dates are involved) and
// randomness through the caller's generator, so tests drive a simulated clock and a seeded
// RNG. Nothing here throws or allocates on the request path.

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <random>
#include <string_view>

#include "switchyard/api/errors.hpp"
#include "switchyard/config/config.hpp"

namespace switchyard::router {

using SteadyClock = std::chrono::steady_clock;
using SystemClock = std::chrono::system_clock;

// --- SlidingWindow ------------------------------------------------------------------------

/// Successes and failures over the last `window`, in kBuckets fixed buckets of window /
/// kBuckets each; failures are kept apart by api::Origin. An event stops counting at the
/// start of the bucket kBuckets after its own, i.e. between 0.9 × window and 1.0 × window
/// after it happened. Fixed array: no allocation after construction.
///
/// Not thread-safe: owned by one worker, like everything in a worker's upstream state.
/// `now` is expected not to go backwards; an event older than what the window still holds
/// is dropped rather than counted in the wrong bucket.
class SlidingWindow {
 public:
  static constexpr int kBuckets = 10;

  explicit SlidingWindow(std::chrono::milliseconds window = std::chrono::milliseconds{10000});

  /// `origin` only matters for failures (`ok == false`).
  void record(SteadyClock::time_point now, bool ok,
              api::Origin origin = api::Origin::upstream) noexcept;

  std::int64_t successes(SteadyClock::time_point now) const noexcept;
  std::int64_t failures(SteadyClock::time_point now, api::Origin origin) const noexcept;
  std::int64_t upstream_failure_count(SteadyClock::time_point now) const noexcept;
  /// successes / (successes + upstream failures); local-origin failures (a client that went
  /// away, a full local queue) say nothing about the provider and are left out. 1.0 with no
  /// data.
  double success_rate(SteadyClock::time_point now) const noexcept;
  /// Every event in the window: successes and failures of both origins.
  std::int64_t total(SteadyClock::time_point now) const noexcept;

  /// Successes and upstream-origin failures in one pass. The `_at` form takes
  /// bucket_index(now) so that many windows of the same width share one division.
  struct Counts {
    std::int64_t ok = 0;
    std::int64_t upstream_failures = 0;
  };
  Counts counts(SteadyClock::time_point now) const noexcept { return counts_at(index_of(now)); }
  Counts counts_at(std::int64_t bucket_index) const noexcept;
  std::int64_t bucket_index(SteadyClock::time_point now) const noexcept { return index_of(now); }

  void clear() noexcept;
  std::chrono::milliseconds window() const noexcept { return window_; }

 private:
  static constexpr std::int64_t kEmpty = std::numeric_limits<std::int64_t>::min();
  struct Bucket {
    std::int64_t index = kEmpty;  ///< absolute bucket number (time / width) it holds
    std::uint32_t ok = 0;
    std::uint32_t local_failures = 0;
    std::uint32_t upstream_failures = 0;
  };

  std::int64_t index_of(SteadyClock::time_point t) const noexcept;
  template <class F>
  void for_live(SteadyClock::time_point now, F&& f) const noexcept;

  std::chrono::milliseconds window_;
  SteadyClock::duration width_;
  std::array<Bucket, kBuckets> buckets_{};
};

// --- CircuitBreaker -----------------------------------------------------------------------

/// Knobs not (yet) in the config file; the defaults are what the gateway uses.
struct BreakerTuning {
  /// Slow start after a probe succeeds: share() rises linearly from ramp_floor to 1.0 over
  /// `ramp`. A fixed 10 s rather than the cooldown, so a deployment that was out for a long
  /// time (grown cooldown) is not kept at low traffic for minutes once it is back.
  std::chrono::milliseconds ramp{10000};
  double ramp_floor = 0.1;
  /// Repeated trips open for cooldown × 2^(trips-1), capped here (never below the
  /// configured cooldown itself), then jittered.
  std::chrono::milliseconds max_cooldown{60000};
  /// Each open period is multiplied by a uniform factor in [1 - jitter, 1 + jitter], so the
  /// breakers of one deployment on different workers do not all probe at the same instant.
  double jitter = 0.2;
  /// A probe that has neither reported nor been abandoned after this long is presumed lost
  /// and another one is allowed, so a forgotten probe cannot wedge half-open forever.
  /// 0 = never. Callers should still report every probe (on_success / on_failure /
  /// on_abandoned); this is only a backstop.
  std::chrono::milliseconds probe_timeout{120000};
};

/// Per-deployment circuit breaker.
///
///   closed ──(config.failures upstream-origin failures within config.window, being at
///             least config.min_failure_rate of the window's upstream outcomes)──▶ open
///   open ──(open_until() reached)──▶ half_open: allow() grants exactly one probe
///   half_open ──probe success──▶ closed, on a slow-start ramp (share() 0.1 → 1.0)
///   half_open ──probe upstream failure──▶ open, for a longer cooldown
///   half_open ──probe abandoned / local-origin failure──▶ half_open, probe slot free again
///   open ──allow(now, panic = true)──▶ half_open at once, probe taken: only the cooldown is
///             cut short; the outcome then follows one of the half_open arrows above
///
/// Local-origin failures (client_gone, pool_overflow, …) never count: they say nothing about
/// the provider. The k-th consecutive trip opens for min(cooldown × 2^(k-1), cap) × U[0.8,
/// 1.2] with cap = max(tuning.max_cooldown, cooldown). The trip count goes back to 0 once a
/// whole ramp passes without a trip, so a deployment that trips again while ramping stays
/// on the longer cooldowns. The failure window is cleared when the breaker closes, so
/// failures from before the outage do not count against the recovered deployment.
///
/// allow() is the only call that reserves anything (the half-open probe): call it when the
/// request is actually about to be sent to this deployment, and report the outcome with
/// exactly one of on_success / on_failure / on_abandoned. Results of requests that were
/// already in flight when the breaker opened ("stragglers") are accepted too: a success seen
/// once the cooldown is over closes the breaker, one seen while still open is ignored.
///
/// Threads: owned and used by one worker, never shared; the generator given to the
/// constructor belongs to the same worker and must outlive the breaker. Each worker has its
/// own breaker per deployment; the lead's stats merge reads state()/trips()/share().
class CircuitBreaker {
 public:
  enum class State { closed, open, half_open };

  CircuitBreaker(const config::Breaker& config, std::mt19937_64& rng, BreakerTuning tuning = {});

  /// Pure view; half_open is derived (open and open_until() reached).
  State state(SteadyClock::time_point now) const noexcept;
  /// May a request be sent now? closed: true. open: false. half_open: true for the one probe,
  /// then false until that probe reports (or is abandoned, or probe_timeout passes).
  /// `panic` (every deployment of the model is unhealthy, so all are tried): true even when
  /// open or when the probe is taken. The cooldown ends at `now` and the request counts as
  /// a half-open probe, so its outcome is the probe's: success closes onto the ramp,
  /// upstream failure re-opens for the next (longer) cooldown, abandoned frees the slot.
  bool allow(SteadyClock::time_point now, bool panic = false) noexcept;
  /// What allow(now) would answer, without taking the probe slot (for ranking).
  bool would_allow(SteadyClock::time_point now) const noexcept;

  void on_success(SteadyClock::time_point now) noexcept;
  void on_failure(SteadyClock::time_point now, api::Origin origin) noexcept;
  /// The request allow() admitted was not sent or was cancelled before it said anything
  /// about the deployment. Frees the half-open probe slot; no effect otherwise.
  void on_abandoned(SteadyClock::time_point now) noexcept;

  /// Fraction of its normal traffic the deployment should get: 1.0 when closed and past the
  /// ramp; ramp_floor → 1.0 linearly during the ramp; 0.0 when open or when half-open with
  /// the probe taken; ramp_floor when half-open with the probe slot free (it may get one).
  double share(SteadyClock::time_point now) const noexcept;
  /// End of the current (or last) open period.
  SteadyClock::time_point open_until() const noexcept { return open_until_; }
  /// Consecutive trips not yet forgiven by a full ramp; updated by the calls that take
  /// `now` (a ramp that finished since the last call is noticed at the next one).
  int trips() const noexcept { return trips_; }
  bool probe_in_flight() const noexcept { return probe_in_flight_; }
  /// The breaker's own failure window (cleared whenever the breaker closes).
  const SlidingWindow& window() const noexcept { return window_; }
  /// Un-jittered length of the open period for the k-th consecutive trip (k >= 1).
  std::chrono::milliseconds base_cooldown(int trip) const noexcept;

 private:
  enum class Phase { closed, open };  // half-open is open with open_until_ reached

  void settle(SteadyClock::time_point now) noexcept;
  void trip(SteadyClock::time_point now) noexcept;
  bool probe_stale(SteadyClock::time_point now) const noexcept;

  int threshold_;
  double min_failure_rate_;
  std::chrono::milliseconds cooldown_;
  BreakerTuning tuning_;
  std::mt19937_64* rng_;
  SlidingWindow window_;

  Phase phase_ = Phase::closed;
  SteadyClock::time_point open_until_{};
  bool probe_in_flight_ = false;
  SteadyClock::time_point probe_started_{};
  bool ramping_ = false;
  SteadyClock::time_point ramp_start_{};
  int trips_ = 0;
};

// --- Retries ------------------------------------------------------------------------------

/// Delay before retry number `retry_index` (0 = the first retry) of the same deployment:
/// base = min(backoff × 2^retry_index, max_backoff), then "equal jitter": base/2 fixed plus
/// a uniform [0, base/2] from `rng`, so the result is in [base/2, base] — never ~0, never
/// above max_backoff. Negative indices count as 0; a non-positive backoff gives 0.
std::chrono::milliseconds backoff_delay(int retry_index, const config::Retry& retry,
                                        std::mt19937_64& rng);

// --- Retry-After --------------------------------------------------------------------------

/// Longest wait a Retry-After (or a rate-limit reset) is believed for.
inline constexpr std::chrono::milliseconds kMaxRetryAfter{24LL * 3600 * 1000};

/// Retry-After (RFC 9110 §10.2.3): delay-seconds (1*DIGIT) or an HTTP-date — IMF-fixdate
/// "Sun, 06 Nov 1994 08:49:37 GMT", or the obsolete RFC 850 "Sunday, 06-Nov-94 08:49:37 GMT"
/// and asctime "Sun Nov  6 08:49:37 1994" forms. Surrounding whitespace is allowed. A date in
/// the past gives 0; anything longer than kMaxRetryAfter is capped to it; anything else is
/// nullopt. Parsed by hand: no locale, no time zone, no strptime.
std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view value,
                                                           SystemClock::time_point now);

/// An HTTP-date in any of the three forms above, as a UTC time point. `now` only decides
/// the century of an RFC 850 two-digit year (RFC 9110 §5.6.7: more than 50 years ahead
/// means the previous century).
std::optional<SystemClock::time_point> parse_http_date(std::string_view value,
                                                       SystemClock::time_point now);

/// RFC 3339 date-time, e.g. "2024-08-14T20:22:11Z", "2024-08-14T20:22:11.5+02:00".
std::optional<SystemClock::time_point> parse_rfc3339(std::string_view value);

/// A Go-style duration as OpenAI sends it in x-ratelimit-reset-*: "6ms", "1s", "20.5s",
/// "6m0s", "1h2m3.5s", "500us"/"500µs", "0"; a bare number means seconds (Azure sends
/// those). Rounded up to whole milliseconds; capped at kMaxRetryAfter; nullopt for garbage
/// or a negative value.
std::optional<std::chrono::milliseconds> parse_go_duration(std::string_view value);

// --- Rate-limit headroom ------------------------------------------------------------------

/// What a provider said about its rate limits in one response. Unknown = nullopt.
struct Headroom {
  std::optional<std::int64_t> remaining_requests, limit_requests;
  std::optional<std::int64_t> remaining_tokens, limit_tokens;
  std::optional<std::chrono::milliseconds> reset_requests, reset_tokens;  ///< from `now`

  /// min(remaining / limit) over requests and tokens where both are known and limit > 0,
  /// clamped to 0..1; a known remaining <= 0 counts as 0 even without a limit. 1.0 if
  /// nothing is known.
  double fraction() const noexcept;
  bool known() const noexcept;  ///< any field set
};

/// Header value by lower-case name, empty when absent. The lookup must be case-insensitive
/// on its side (Beast's fields are). Kept as a std::function so this header stays free of
/// Beast; a lambda capturing the message by reference fits its small buffer.
using HeaderLookup = std::function<std::string_view(std::string_view name)>;

/// Reads OpenAI's (and Azure's) x-ratelimit-{limit,remaining,reset}-{requests,tokens} and
/// Anthropic's anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-
/// {limit,remaining,reset}. OpenAI resets are durations, Anthropic's RFC 3339 instants
/// (turned into a duration from `now`, 0 if past). For Anthropic's tokens the tightest of
/// the tokens / input-tokens / output-tokens families (lowest remaining/limit) is reported,
/// with its own reset. Negative values (Azure's -1 for "not applicable") and unparsable
/// ones are left unknown. Where both vendors' headers appear, OpenAI's win.
Headroom parse_ratelimit(const HeaderLookup& header, SystemClock::time_point now);

}  // namespace switchyard::router
