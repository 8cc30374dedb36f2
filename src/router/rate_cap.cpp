#include "switchyard/router/rate_cap.hpp"

#include <algorithm>

namespace switchyard::router {
namespace {

std::int64_t ns(RpmCap::Clock::time_point t) noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

}  // namespace

RpmCap::RpmCap(int max_rpm) noexcept
    : interval_(60'000'000'000LL / std::max(1, max_rpm)),
      tolerance_(60'000'000'000LL - interval_) {}

bool RpmCap::would_allow(Clock::time_point now) const noexcept {
  return tat_.load(std::memory_order_relaxed) - tolerance_ <= ns(now);
}

bool RpmCap::try_take(Clock::time_point now) noexcept {
  const std::int64_t t = ns(now);
  std::int64_t tat = tat_.load(std::memory_order_relaxed);
  for (;;) {
    if (tat - tolerance_ > t) return false;
    const std::int64_t next = std::max(tat, t) + interval_;
    if (tat_.compare_exchange_weak(tat, next, std::memory_order_relaxed)) return true;
  }
}

void RpmCap::give_back() noexcept { tat_.fetch_sub(interval_, std::memory_order_relaxed); }

RpmCap::Clock::duration RpmCap::wait(Clock::time_point now) const noexcept {
  const std::int64_t d = tat_.load(std::memory_order_relaxed) - tolerance_ - ns(now);
  return std::chrono::duration_cast<Clock::duration>(
      std::chrono::nanoseconds(std::max<std::int64_t>(d, 0)));
}

double RpmCap::room(Clock::time_point now) const noexcept {
  const std::int64_t ahead =
      std::max<std::int64_t>(tat_.load(std::memory_order_relaxed) - ns(now), 0);
  const double full = static_cast<double>(tolerance_ + interval_);
  return std::clamp(1.0 - static_cast<double>(ahead) / full, 0.0, 1.0);
}

}  // namespace switchyard::router
