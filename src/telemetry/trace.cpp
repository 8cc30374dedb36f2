#include "switchyard/telemetry/trace.hpp"

namespace switchyard::telemetry {
namespace {

bool lower_hex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

bool all_zero(std::string_view s) { return s.find_first_not_of('0') == std::string_view::npos; }

}  // namespace

std::optional<TraceParent> parse_traceparent(std::string_view v) {
  // Optional whitespace around the value is allowed by HTTP; the value itself is
  // version "-" trace-id "-" parent-id "-" flags.
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  if (v.size() < 55 || v[2] != '-' || v[35] != '-' || v[52] != '-') return std::nullopt;
  const std::string_view version = v.substr(0, 2), trace = v.substr(3, 32),
                         parent = v.substr(36, 16), flags = v.substr(53, 2);
  if (!lower_hex(version) || version == "ff") return std::nullopt;
  // Version 00 has exactly these fields; a later version may append "-…".
  if (version == "00" ? v.size() != 55 : (v.size() > 55 && v[55] != '-')) return std::nullopt;
  if (!lower_hex(trace) || !lower_hex(parent) || !lower_hex(flags)) return std::nullopt;
  if (all_zero(trace) || all_zero(parent)) return std::nullopt;
  return TraceParent{std::string(trace), std::string(parent), std::string(flags)};
}

std::string random_id(std::size_t bytes, std::mt19937_64& rng) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  do {
    out.clear();
    for (std::size_t i = 0; i < bytes; i += 8) {
      std::uint64_t r = rng();
      for (std::size_t k = 0; k < 8 && i + k < bytes; ++k, r >>= 8) {
        out.push_back(kHex[(r >> 4) & 15]);
        out.push_back(kHex[r & 15]);
      }
    }
  } while (all_zero(out));
  return out;
}

TraceParent continue_or_start(std::string_view header, std::mt19937_64& rng) {
  if (auto t = parse_traceparent(header)) return *t;
  return TraceParent{random_id(16, rng), random_id(8, rng), "01"};
}

std::string child_traceparent(const TraceParent& trace, std::mt19937_64& rng) {
  return "00-" + trace.trace_id + "-" + random_id(8, rng) + "-" + trace.flags;
}

}  // namespace switchyard::telemetry
