#include "switchyard/router/health.hpp"

#include <algorithm>
#include <cstddef>

namespace switchyard::router {

namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;

constexpr std::int64_t kMaxRetryAfterNs =
    std::chrono::duration_cast<nanoseconds>(kMaxRetryAfter).count();

std::int64_t floor_div(std::int64_t a, std::int64_t b) noexcept {
  std::int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

std::string_view trim(std::string_view s) noexcept {
  auto ws = [](char c) { return c == ' ' || c == '\t'; };
  while (!s.empty() && ws(s.front())) s.remove_prefix(1);
  while (!s.empty() && ws(s.back())) s.remove_suffix(1);
  return s;
}

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

char lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

/// Exactly `s.size()` digits (no sign, no space) as a number; nullopt otherwise.
std::optional<int> fixed_digits(std::string_view s) noexcept {
  if (s.empty() || s.size() > 9) return std::nullopt;
  int v = 0;
  for (char c : s) {
    if (!is_digit(c)) return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

/// A non-negative decimal integer without sign; nullopt on anything else or overflow.
std::optional<std::int64_t> parse_count(std::string_view s) noexcept {
  s = trim(s);
  if (s.empty() || s.size() > 18) return std::nullopt;  // 18 digits cannot overflow int64
  std::int64_t v = 0;
  for (char c : s) {
    if (!is_digit(c)) return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

std::optional<unsigned> month_of(std::string_view s) noexcept {
  static constexpr std::string_view kMonths[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                                 "jul", "aug", "sep", "oct", "nov", "dec"};
  for (unsigned i = 0; i < 12; ++i) {
    if (iequals(s, kMonths[i])) return i + 1;
  }
  return std::nullopt;
}

bool is_short_day(std::string_view s) noexcept {
  static constexpr std::string_view kDays[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
  return std::any_of(std::begin(kDays), std::end(kDays),
                     [&](std::string_view d) { return iequals(s, d); });
}

bool is_long_day(std::string_view s) noexcept {
  static constexpr std::string_view kDays[] = {"monday", "tuesday",  "wednesday", "thursday",
                                               "friday", "saturday", "sunday"};
  return std::any_of(std::begin(kDays), std::end(kDays),
                     [&](std::string_view d) { return iequals(s, d); });
}

struct TimeOfDay {
  int h, m, s;
};

/// "HH:MM:SS"; a leap second (60) is accepted and simply rolls into the next minute.
std::optional<TimeOfDay> time_of_day(std::string_view s) noexcept {
  if (s.size() != 8 || s[2] != ':' || s[5] != ':') return std::nullopt;
  auto h = fixed_digits(s.substr(0, 2));
  auto m = fixed_digits(s.substr(3, 2));
  auto sec = fixed_digits(s.substr(6, 2));
  if (!h || !m || !sec || *h > 23 || *m > 59 || *sec > 60) return std::nullopt;
  return TimeOfDay{*h, *m, *sec};
}

std::optional<SystemClock::time_point> make_time(int year, unsigned month, int day,
                                                 TimeOfDay t) noexcept {
  if (day < 1 || day > 31) return std::nullopt;
  std::chrono::year_month_day ymd{std::chrono::year{year}, std::chrono::month{month},
                                  std::chrono::day{static_cast<unsigned>(day)}};
  if (!ymd.ok()) return std::nullopt;
  auto tp = std::chrono::sys_days{ymd} + std::chrono::hours{t.h} + std::chrono::minutes{t.m} +
            std::chrono::seconds{t.s};
  return std::chrono::time_point_cast<SystemClock::duration>(tp);
}

/// Time from `now` until `t`, rounded up to whole milliseconds (never retry early), 0 for the
/// past, capped at kMaxRetryAfter.
milliseconds until(SystemClock::time_point t, SystemClock::time_point now) noexcept {
  if (t <= now) return milliseconds{0};
  auto d = std::chrono::ceil<milliseconds>(t - now);
  return std::min(d, kMaxRetryAfter);
}

// IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
std::optional<SystemClock::time_point> parse_imf_fixdate(std::string_view s) noexcept {
  if (s.size() != 29 || s[3] != ',' || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' ||
      s[25] != ' ' || !iequals(s.substr(26, 3), "GMT") || !is_short_day(s.substr(0, 3))) {
    return std::nullopt;
  }
  auto day = fixed_digits(s.substr(5, 2));
  auto month = month_of(s.substr(8, 3));
  auto year = fixed_digits(s.substr(12, 4));
  auto tod = time_of_day(s.substr(17, 8));
  if (!day || !month || !year || !tod) return std::nullopt;
  return make_time(*year, *month, *day, *tod);
}

// asctime: "Sun Nov  6 08:49:37 1994" (day is "DD" or " D")
std::optional<SystemClock::time_point> parse_asctime(std::string_view s) noexcept {
  if (s.size() != 24 || s[3] != ' ' || s[7] != ' ' || s[10] != ' ' || s[19] != ' ' ||
      !is_short_day(s.substr(0, 3))) {
    return std::nullopt;
  }
  auto month = month_of(s.substr(4, 3));
  std::string_view day_text = s.substr(8, 2);
  if (day_text[0] == ' ') day_text.remove_prefix(1);
  auto day = fixed_digits(day_text);
  auto tod = time_of_day(s.substr(11, 8));
  auto year = fixed_digits(s.substr(20, 4));
  if (!day || !month || !year || !tod) return std::nullopt;
  return make_time(*year, *month, *day, *tod);
}

// RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT"
std::optional<SystemClock::time_point> parse_rfc850(std::string_view s,
                                                    SystemClock::time_point now) noexcept {
  auto comma = s.find(", ");
  if (comma == std::string_view::npos || !is_long_day(s.substr(0, comma))) return std::nullopt;
  std::string_view r = s.substr(comma + 2);
  if (r.size() != 22 || r[2] != '-' || r[6] != '-' || r[9] != ' ' || r[18] != ' ' ||
      !iequals(r.substr(19, 3), "GMT")) {
    return std::nullopt;
  }
  auto day = fixed_digits(r.substr(0, 2));
  auto month = month_of(r.substr(3, 3));
  auto yy = fixed_digits(r.substr(7, 2));
  auto tod = time_of_day(r.substr(10, 8));
  if (!day || !month || !yy || !tod) return std::nullopt;
  // RFC 9110 §5.6.7: a two-digit year more than 50 years in the future is in the past
  // century.
  int this_year = static_cast<int>(
      std::chrono::year_month_day{std::chrono::floor<std::chrono::days>(now)}.year());
  int year = (this_year / 100) * 100 + *yy;
  if (year > this_year + 50) year -= 100;
  return make_time(year, *month, *day, *tod);
}

}  // namespace

// --- SlidingWindow ------------------------------------------------------------------------

SlidingWindow::SlidingWindow(std::chrono::milliseconds window)
    : window_(window.count() > 0 ? window : std::chrono::milliseconds{1}),
      width_(std::max(std::chrono::duration_cast<SteadyClock::duration>(window_) / kBuckets,
                      SteadyClock::duration{1})) {}

std::int64_t SlidingWindow::index_of(SteadyClock::time_point t) const noexcept {
  return floor_div(static_cast<std::int64_t>(t.time_since_epoch().count()),
                   static_cast<std::int64_t>(width_.count()));
}

template <class F>
void SlidingWindow::for_live(SteadyClock::time_point now, F&& f) const noexcept {
  const std::int64_t cur = index_of(now);
  for (const Bucket& b : buckets_) {
    if (b.index != kEmpty && b.index <= cur && b.index > cur - kBuckets) f(b);
  }
}

void SlidingWindow::record(SteadyClock::time_point now, bool ok, api::Origin origin) noexcept {
  const std::int64_t idx = index_of(now);
  const auto slot = static_cast<std::size_t>(((idx % kBuckets) + kBuckets) % kBuckets);
  Bucket& b = buckets_[slot];
  if (b.index != idx) {
    // The slot holds a newer bucket only if `now` went backwards by a whole window: the
    // event is older than anything kept, so drop it.
    if (b.index != kEmpty && b.index > idx) return;
    b = Bucket{};
    b.index = idx;
  }
  if (ok) {
    ++b.ok;
  } else if (origin == api::Origin::upstream) {
    ++b.upstream_failures;
  } else {
    ++b.local_failures;
  }
}

std::int64_t SlidingWindow::successes(SteadyClock::time_point now) const noexcept {
  std::int64_t n = 0;
  for_live(now, [&](const Bucket& b) { n += b.ok; });
  return n;
}

std::int64_t SlidingWindow::failures(SteadyClock::time_point now,
                                     api::Origin origin) const noexcept {
  std::int64_t n = 0;
  for_live(now, [&](const Bucket& b) {
    n += origin == api::Origin::upstream ? b.upstream_failures : b.local_failures;
  });
  return n;
}

std::int64_t SlidingWindow::upstream_failure_count(SteadyClock::time_point now) const noexcept {
  return failures(now, api::Origin::upstream);
}

double SlidingWindow::success_rate(SteadyClock::time_point now) const noexcept {
  std::int64_t ok = 0, bad = 0;
  for_live(now, [&](const Bucket& b) {
    ok += b.ok;
    bad += b.upstream_failures;
  });
  if (ok + bad == 0) return 1.0;
  return static_cast<double>(ok) / static_cast<double>(ok + bad);
}

std::int64_t SlidingWindow::total(SteadyClock::time_point now) const noexcept {
  std::int64_t n = 0;
  for_live(now, [&](const Bucket& b) { n += b.ok + b.local_failures + b.upstream_failures; });
  return n;
}

SlidingWindow::Counts SlidingWindow::counts_at(std::int64_t cur) const noexcept {
  Counts c;
  for (const Bucket& b : buckets_) {
    if (b.index != kEmpty && b.index <= cur && b.index > cur - kBuckets) {
      c.ok += b.ok;
      c.upstream_failures += b.upstream_failures;
    }
  }
  return c;
}

void SlidingWindow::clear() noexcept { buckets_.fill(Bucket{}); }

// --- CircuitBreaker -----------------------------------------------------------------------

CircuitBreaker::CircuitBreaker(const config::Breaker& config, std::mt19937_64& rng,
                               BreakerTuning tuning)
    : threshold_(std::max(1, config.failures)),
      min_failure_rate_(std::clamp(config.min_failure_rate, 0.0, 1.0)),
      cooldown_(std::max(config.cooldown, milliseconds{0})),
      tuning_(tuning),
      rng_(&rng),
      window_(config.window) {
  tuning_.ramp_floor = std::clamp(tuning_.ramp_floor, 0.0, 1.0);
  tuning_.jitter = std::clamp(tuning_.jitter, 0.0, 0.99);
}

bool CircuitBreaker::probe_stale(SteadyClock::time_point now) const noexcept {
  return tuning_.probe_timeout.count() > 0 && now - probe_started_ >= tuning_.probe_timeout;
}

void CircuitBreaker::settle(SteadyClock::time_point now) noexcept {
  if (phase_ == Phase::closed && ramping_ && now - ramp_start_ >= tuning_.ramp) {
    ramping_ = false;
    trips_ = 0;  // a whole ramp without a trip: forgiven
  }
  if (phase_ == Phase::open && probe_in_flight_ && probe_stale(now)) probe_in_flight_ = false;
}

CircuitBreaker::State CircuitBreaker::state(SteadyClock::time_point now) const noexcept {
  if (phase_ == Phase::closed) return State::closed;
  return now < open_until_ ? State::open : State::half_open;
}

bool CircuitBreaker::would_allow(SteadyClock::time_point now) const noexcept {
  switch (state(now)) {
    case State::closed:
      return true;
    case State::open:
      return false;
    case State::half_open:
      return !probe_in_flight_ || probe_stale(now);
  }
  return false;
}

bool CircuitBreaker::allow(SteadyClock::time_point now, bool panic) noexcept {
  settle(now);
  if (would_allow(now)) {
    if (state(now) == State::half_open) {
      probe_in_flight_ = true;
      probe_started_ = now;
    }
    return true;
  }
  if (!panic) return false;
  // Panic sends traffic to this deployment anyway; ending the cooldown here makes that
  // traffic the probe, so the first panic success brings the deployment back (instead of
  // being ignored as a straggler) and a failure re-arms the cooldown as a failed probe
  // does. The outcome calls need no panic flag of their own: they see half-open.
  if (open_until_ > now) open_until_ = now;
  if (!probe_in_flight_) {
    probe_in_flight_ = true;
    probe_started_ = now;
  }
  return true;
}

void CircuitBreaker::on_success(SteadyClock::time_point now) noexcept {
  settle(now);
  switch (state(now)) {
    case State::closed:
      window_.record(now, true);
      return;
    case State::open:
      return;  // a straggler from before the trip; the cooldown still runs its course
    case State::half_open:
      phase_ = Phase::closed;
      probe_in_flight_ = false;
      window_.clear();
      window_.record(now, true);
      ramping_ = true;
      ramp_start_ = now;
      settle(now);  // a zero-length ramp forgives at once
      return;
  }
}

void CircuitBreaker::on_failure(SteadyClock::time_point now, api::Origin origin) noexcept {
  settle(now);
  switch (state(now)) {
    case State::closed:
      window_.record(now, false, origin);
      if (origin == api::Origin::upstream && window_.upstream_failure_count(now) >= threshold_ &&
          1.0 - window_.success_rate(now) >= min_failure_rate_ - 1e-12) {
        trip(now);
      }
      return;
    case State::open:
      return;
    case State::half_open:
      // A local-origin failure of the probe (client gone, local queue full) says nothing
      // about the deployment: free the slot for another probe.
      if (origin == api::Origin::local) {
        probe_in_flight_ = false;
      } else {
        trip(now);
      }
      return;
  }
}

void CircuitBreaker::on_abandoned(SteadyClock::time_point now) noexcept {
  settle(now);
  if (state(now) == State::half_open) probe_in_flight_ = false;
}

std::chrono::milliseconds CircuitBreaker::base_cooldown(int trip) const noexcept {
  const milliseconds cap = std::max(tuning_.max_cooldown, cooldown_);
  milliseconds d = cooldown_;
  for (int i = 1; i < trip && d < cap; ++i) d = d > cap / 2 ? cap : d * 2;
  return std::min(d, cap);
}

void CircuitBreaker::trip(SteadyClock::time_point now) noexcept {
  if (trips_ < 62) ++trips_;
  phase_ = Phase::open;
  probe_in_flight_ = false;
  ramping_ = false;
  double factor = 1.0;
  if (tuning_.jitter > 0) {
    std::uniform_real_distribution<double> dist(1.0 - tuning_.jitter, 1.0 + tuning_.jitter);
    factor = dist(*rng_);
  }
  const auto base = std::chrono::duration<double, std::milli>(base_cooldown(trips_));
  open_until_ = now + std::chrono::duration_cast<SteadyClock::duration>(base * factor);
}

double CircuitBreaker::share(SteadyClock::time_point now) const noexcept {
  switch (state(now)) {
    case State::open:
      return 0.0;
    case State::half_open:
      return would_allow(now) ? tuning_.ramp_floor : 0.0;
    case State::closed:
      break;
  }
  if (!ramping_) return 1.0;
  const auto elapsed = now - ramp_start_;
  if (elapsed >= tuning_.ramp) return 1.0;
  if (elapsed.count() <= 0) return tuning_.ramp_floor;
  const double t =
      std::chrono::duration<double>(elapsed) / std::chrono::duration<double>(tuning_.ramp);
  return tuning_.ramp_floor + (1.0 - tuning_.ramp_floor) * t;
}

// --- Retries ------------------------------------------------------------------------------

std::chrono::milliseconds backoff_delay(int retry_index, const config::Retry& retry,
                                        std::mt19937_64& rng) {
  const std::int64_t cap = std::max<std::int64_t>(retry.max_backoff.count(), 0);
  std::int64_t base = retry.backoff.count();
  if (base <= 0 || cap == 0) return milliseconds{0};
  for (int i = 0; i < retry_index && base < cap; ++i) base = base > cap / 2 ? cap : base * 2;
  base = std::min(base, cap);
  const std::int64_t fixed = base / 2;
  std::uniform_int_distribution<std::int64_t> dist(0, base - fixed);
  return milliseconds{fixed + dist(rng)};
}

// --- Retry-After and dates ----------------------------------------------------------------

std::optional<SystemClock::time_point> parse_http_date(std::string_view value,
                                                       SystemClock::time_point now) {
  value = trim(value);
  if (auto t = parse_imf_fixdate(value)) return t;
  if (auto t = parse_asctime(value)) return t;
  return parse_rfc850(value, now);
}

std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view value,
                                                           SystemClock::time_point now) {
  value = trim(value);
  if (value.empty()) return std::nullopt;
  if (std::all_of(value.begin(), value.end(), is_digit)) {
    constexpr std::int64_t kMaxSeconds = kMaxRetryAfter.count() / 1000;
    std::int64_t secs = 0;
    for (char c : value) {
      secs = secs * 10 + (c - '0');
      if (secs >= kMaxSeconds) return kMaxRetryAfter;  // also stops any overflow
    }
    return milliseconds{secs * 1000};
  }
  auto t = parse_http_date(value, now);
  if (!t) return std::nullopt;
  return until(*t, now);
}

std::optional<SystemClock::time_point> parse_rfc3339(std::string_view s) {
  s = trim(s);
  // 2024-08-14T20:22:11Z is the shortest form: 20 characters.
  if (s.size() < 20 || s[4] != '-' || s[7] != '-' ||
      (s[10] != 'T' && s[10] != 't' && s[10] != ' ')) {
    return std::nullopt;
  }
  auto year = fixed_digits(s.substr(0, 4));
  auto month = fixed_digits(s.substr(5, 2));
  auto day = fixed_digits(s.substr(8, 2));
  auto tod = time_of_day(s.substr(11, 8));
  if (!year || !month || !day || !tod || *month < 1 || *month > 12) return std::nullopt;
  auto base = make_time(*year, static_cast<unsigned>(*month), *day, *tod);
  if (!base) return std::nullopt;

  std::string_view rest = s.substr(19);
  nanoseconds frac{0};
  if (!rest.empty() && rest[0] == '.') {
    rest.remove_prefix(1);
    std::size_t n = 0;
    std::int64_t ns = 0;
    while (n < rest.size() && is_digit(rest[n])) {
      if (n < 9) ns = ns * 10 + (rest[n] - '0');
      ++n;
    }
    if (n == 0) return std::nullopt;
    for (std::size_t k = n; k < 9; ++k) ns *= 10;
    frac = nanoseconds{ns};
    rest.remove_prefix(n);
  }
  std::chrono::minutes offset{0};
  if (rest.size() == 1 && (rest[0] == 'Z' || rest[0] == 'z')) {
    // UTC
  } else if (rest.size() == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':') {
    auto oh = fixed_digits(rest.substr(1, 2));
    auto om = fixed_digits(rest.substr(4, 2));
    if (!oh || !om || *oh > 23 || *om > 59) return std::nullopt;
    offset = std::chrono::hours{*oh} + std::chrono::minutes{*om};
    if (rest[0] == '-') offset = -offset;
  } else {
    return std::nullopt;
  }
  return *base + std::chrono::duration_cast<SystemClock::duration>(frac) - offset;
}

std::optional<std::chrono::milliseconds> parse_go_duration(std::string_view s) {
  s = trim(s);
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  if (s.empty()) return std::nullopt;

  struct Unit {
    std::string_view name;
    std::int64_t ns;
    int frac_digits;  ///< fraction digits that convert to whole nanoseconds exactly
  };
  // Longest names first, so "ms" is not read as "m" followed by garbage.
  static constexpr Unit kUnits[] = {
      {"ns", 1, 0},
      {"us", 1000, 3},
      {"\xC2\xB5s", 1000, 3},  // U+00B5 MICRO SIGN, what Go prints
      {"\xCE\xBCs", 1000, 3},  // U+03BC GREEK SMALL LETTER MU
      {"ms", 1000000, 6},
      {"s", 1000000000, 9},
      {"m", 60LL * 1000000000, 9},
      {"h", 3600LL * 1000000000, 9},
  };

  std::int64_t total = 0;  // nanoseconds, saturated at kMaxRetryAfterNs
  bool first = true;
  while (!s.empty()) {
    std::int64_t whole = 0;
    bool whole_big = false;
    std::size_t i = 0;
    for (; i < s.size() && is_digit(s[i]); ++i) {
      if (whole > kMaxRetryAfterNs) {
        whole_big = true;
      } else {
        whole = whole * 10 + (s[i] - '0');
      }
    }
    const std::size_t int_digits = i;
    std::string_view frac_text;
    if (i < s.size() && s[i] == '.') {
      const std::size_t start = ++i;
      while (i < s.size() && is_digit(s[i])) ++i;
      frac_text = s.substr(start, i - start);
    }
    if (int_digits == 0 && frac_text.empty()) return std::nullopt;
    s.remove_prefix(i);

    const Unit* unit = nullptr;
    if (s.empty() && first) {
      static constexpr Unit kSeconds{"", 1000000000, 9};  // bare number: seconds
      unit = &kSeconds;
    } else {
      for (const Unit& u : kUnits) {
        if (s.substr(0, u.name.size()) == u.name) {
          unit = &u;
          break;
        }
      }
      if (unit == nullptr) return std::nullopt;
      s.remove_prefix(unit->name.size());
    }
    first = false;

    if (whole_big || whole > kMaxRetryAfterNs / unit->ns) {
      total = kMaxRetryAfterNs;
      continue;  // keep validating the rest
    }
    std::int64_t part = whole * unit->ns;
    // Fraction: keep only the digits that are whole nanoseconds of this unit (exact integer
    // arithmetic, no floating point rounding), e.g. 9 for seconds, 3 for microseconds.
    std::int64_t frac = 0;
    std::int64_t scale = 1;
    for (std::size_t k = 0; k < frac_text.size() && static_cast<int>(k) < unit->frac_digits; ++k) {
      frac = frac * 10 + (frac_text[k] - '0');
      scale *= 10;
    }
    part += frac * (unit->ns / scale);
    total = std::min(total + part, kMaxRetryAfterNs);
  }
  // Rounded up: a reset of 500µs is not "now".
  return milliseconds{(total + 999999) / 1000000};
}

// --- Rate-limit headroom ------------------------------------------------------------------

namespace {

/// remaining / limit in 0..1 when both are known and limit > 0; 0 for a known remaining <= 0
/// without a limit; nullopt when nothing can be said.
std::optional<double> ratio(const std::optional<std::int64_t>& remaining,
                            const std::optional<std::int64_t>& limit) noexcept {
  if (remaining && limit && *limit > 0) {
    return std::clamp(static_cast<double>(*remaining) / static_cast<double>(*limit), 0.0, 1.0);
  }
  if (remaining && *remaining <= 0) return 0.0;
  return std::nullopt;
}

struct Family {
  std::optional<std::int64_t> limit, remaining;
  std::optional<std::chrono::milliseconds> reset;
  bool any() const noexcept { return limit || remaining || reset; }
};

Family anthropic_family(const HeaderLookup& header, std::string_view limit_name,
                        std::string_view remaining_name, std::string_view reset_name,
                        SystemClock::time_point now) {
  Family f;
  f.limit = parse_count(header(limit_name));
  f.remaining = parse_count(header(remaining_name));
  if (auto t = parse_rfc3339(header(reset_name))) f.reset = until(*t, now);
  return f;
}

}  // namespace

double Headroom::fraction() const noexcept {
  double f = 1.0;
  if (auto r = ratio(remaining_requests, limit_requests)) f = std::min(f, *r);
  if (auto r = ratio(remaining_tokens, limit_tokens)) f = std::min(f, *r);
  return f;
}

bool Headroom::known() const noexcept {
  return remaining_requests || limit_requests || remaining_tokens || limit_tokens ||
         reset_requests || reset_tokens;
}

Headroom parse_ratelimit(const HeaderLookup& header, SystemClock::time_point now) {
  Headroom h;
  if (!header) return h;

  // OpenAI / Azure / most OpenAI-compatible servers.
  h.limit_requests = parse_count(header("x-ratelimit-limit-requests"));
  h.remaining_requests = parse_count(header("x-ratelimit-remaining-requests"));
  h.reset_requests = parse_go_duration(header("x-ratelimit-reset-requests"));
  h.limit_tokens = parse_count(header("x-ratelimit-limit-tokens"));
  h.remaining_tokens = parse_count(header("x-ratelimit-remaining-tokens"));
  h.reset_tokens = parse_go_duration(header("x-ratelimit-reset-tokens"));

  // Anthropic.
  if (!h.limit_requests && !h.remaining_requests && !h.reset_requests) {
    Family r = anthropic_family(header, "anthropic-ratelimit-requests-limit",
                                "anthropic-ratelimit-requests-remaining",
                                "anthropic-ratelimit-requests-reset", now);
    h.limit_requests = r.limit;
    h.remaining_requests = r.remaining;
    h.reset_requests = r.reset;
  }
  if (!h.limit_tokens && !h.remaining_tokens && !h.reset_tokens) {
    const Family families[] = {
        anthropic_family(header, "anthropic-ratelimit-tokens-limit",
                         "anthropic-ratelimit-tokens-remaining", "anthropic-ratelimit-tokens-reset",
                         now),
        anthropic_family(header, "anthropic-ratelimit-input-tokens-limit",
                         "anthropic-ratelimit-input-tokens-remaining",
                         "anthropic-ratelimit-input-tokens-reset", now),
        anthropic_family(header, "anthropic-ratelimit-output-tokens-limit",
                         "anthropic-ratelimit-output-tokens-remaining",
                         "anthropic-ratelimit-output-tokens-reset", now),
    };
    // The tightest family that says something measurable; else the first that says anything.
    const Family* pick = nullptr;
    double best = 2.0;
    for (const Family& f : families) {
      if (auto r = ratio(f.remaining, f.limit); r && *r < best) {
        best = *r;
        pick = &f;
      }
    }
    if (pick == nullptr) {
      for (const Family& f : families) {
        if (f.any()) {
          pick = &f;
          break;
        }
      }
    }
    if (pick != nullptr) {
      h.limit_tokens = pick->limit;
      h.remaining_tokens = pick->remaining;
      h.reset_tokens = pick->reset;
    }
  }
  return h;
}

}  // namespace switchyard::router
