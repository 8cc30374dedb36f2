#pragma once
// W3C Trace Context (https://www.w3.org/TR/trace-context/): the client's `traceparent` is
// continued, or a trace is started when it is absent or malformed; every upstream attempt
// is a child span with its own parent-id. Pure; randomness comes from the caller.

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>

namespace switchyard::telemetry {

struct TraceParent {
  std::string trace_id;   ///< 32 lower-case hex digits, not all zero
  std::string parent_id;  ///< 16 lower-case hex digits, not all zero
  std::string flags;      ///< 2 hex digits (01 = sampled)
};

/// Parses a `traceparent` header value (version 00; a higher version is read by its
/// first four fields, as the spec asks). Nothing for anything malformed, all-zero ids or
/// version ff.
std::optional<TraceParent> parse_traceparent(std::string_view value);

/// A new random id of `bytes` bytes as lower-case hex (never all zero).
std::string random_id(std::size_t bytes, std::mt19937_64& rng);

/// The trace of one request: the client's, or a new one (sampled).
TraceParent continue_or_start(std::string_view header, std::mt19937_64& rng);

/// The `traceparent` value for a child span of `trace` with a new parent-id.
std::string child_traceparent(const TraceParent& trace, std::mt19937_64& rng);

}  // namespace switchyard::telemetry
