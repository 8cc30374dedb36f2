#include "directives.hpp"

#include <array>
#include <charconv>

namespace switchyard::mock {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::optional<std::uint32_t> parse_uint(std::string_view s, std::uint32_t max) {
  std::uint32_t v = 0;
  const auto* end = s.data() + s.size();
  const auto [p, ec] = std::from_chars(s.data(), end, v);
  if (s.empty() || ec != std::errc{} || p != end || v > max) return std::nullopt;
  return v;
}

std::optional<bool> parse_bool(std::string_view s) {
  if (s == "1" || s == "true" || s == "yes") return true;
  if (s == "0" || s == "false" || s == "no") return false;
  return std::nullopt;
}

// A header value must not smuggle in CR/LF or other control bytes.
bool is_header_safe(std::string_view s) {
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return false;
  }
  return true;
}

enum class Kind { count, delay, boolean, string, status };

struct Spec {
  std::string_view key;
  Kind kind;
};

constexpr std::uint32_t kMaxCount = 1'000'000;

constexpr std::array kSpecs{
    Spec{"latency_ms", Kind::delay},
    Spec{"tail_every", Kind::count},
    Spec{"tail_ms", Kind::delay},
    Spec{"cut_pct", Kind::count},
    Spec{"tokens", Kind::count},
    Spec{"chunk_delay_ms", Kind::delay},
    Spec{"first_token_ms", Kind::delay},
    Spec{"status", Kind::status},
    Spec{"error_code", Kind::string},
    Spec{"error_type", Kind::string},
    Spec{"retry_after", Kind::string},
    Spec{"reset_before_head", Kind::boolean},
    Spec{"reset_after", Kind::count},
    Spec{"stall_after", Kind::count},
    Spec{"hang", Kind::boolean},
    Spec{"invalid_json", Kind::boolean},
    Spec{"empty_body", Kind::boolean},
    Spec{"no_done", Kind::boolean},
    Spec{"error_event_after", Kind::count},
    Spec{"crlf", Kind::boolean},
    Spec{"comments", Kind::boolean},
    Spec{"chunked", Kind::boolean},
    Spec{"close", Kind::boolean},
    Spec{"events_per_write", Kind::count},
    Spec{"tool_call", Kind::boolean},
    Spec{"reject_stream_options", Kind::boolean},
    Spec{"reject_prefill", Kind::boolean},
    Spec{"fail_until_ms", Kind::string},
    Spec{"cached", Kind::count},
    Spec{"cache_read", Kind::count},
    Spec{"cache_write", Kind::count},
    Spec{"blocked", Kind::boolean},
    Spec{"finish", Kind::string},
    Spec{"finish_reason", Kind::string},
    Spec{"content_filter", Kind::boolean},
};

std::string bad_value(std::string_view key, std::string_view value, std::string_view expected) {
  std::string m = "Invalid value for mock directive '";
  m.append(key).append("': '").append(value).append("' (expected ").append(expected);
  m.append(").");
  return m;
}

// Stores one decoded directive; returns an error message when the key is unknown or the
// value does not fit its kind.
std::optional<std::string> apply_one(std::string_view key, std::string_view value,
                                     std::string_view source, Directives& d) {
  const Spec* spec = nullptr;
  for (const auto& s : kSpecs) {
    if (s.key == key) spec = &s;
  }
  if (spec == nullptr) {
    std::string m = "Unknown mock directive '";
    m.append(key).append("' in ").append(source).append(".");
    return m;
  }

  std::uint32_t n = 0;
  bool b = false;
  switch (spec->kind) {
    case Kind::count:
    case Kind::delay: {
      const std::uint32_t max = spec->kind == Kind::delay ? kMaxWaitMs : kMaxCount;
      const auto v = parse_uint(value, max);
      if (!v) return bad_value(key, value, "an integer from 0 to " + std::to_string(max));
      n = *v;
      break;
    }
    case Kind::boolean: {
      const auto v = parse_bool(value);
      if (!v) return bad_value(key, value, "1 or 0");
      b = *v;
      break;
    }
    case Kind::status: {
      const auto v = parse_uint(value, 599);
      if (!v || *v < 400) return bad_value(key, value, "an HTTP status from 400 to 599");
      n = *v;
      break;
    }
    case Kind::string:
      if (!is_header_safe(value)) return bad_value(key, value, "printable text");
      break;
  }

  if (key == "latency_ms")
    d.latency_ms = n;
  else if (key == "tail_every")
    d.tail_every = n;
  else if (key == "tail_ms")
    d.tail_ms = n;
  else if (key == "cut_pct") {
    if (n > 100) return bad_value(key, value, "an integer from 0 to 100");
    d.cut_pct = n;
  } else if (key == "tokens")
    d.tokens = n;
  else if (key == "chunk_delay_ms")
    d.chunk_delay_ms = n;
  else if (key == "first_token_ms")
    d.first_token_ms = n;
  else if (key == "status")
    d.status = n;
  else if (key == "error_code")
    d.error_code = std::string(value);
  else if (key == "error_type")
    d.error_type = std::string(value);
  else if (key == "retry_after") {
    if (value.empty()) return bad_value(key, value, "a non-empty value");
    d.retry_after = std::string(value);
  } else if (key == "reset_before_head")
    d.reset_before_head = b;
  else if (key == "reset_after")
    d.reset_after = n;
  else if (key == "stall_after")
    d.stall_after = n;
  else if (key == "hang")
    d.hang = b;
  else if (key == "invalid_json")
    d.invalid_json = b;
  else if (key == "empty_body")
    d.empty_body = b;
  else if (key == "no_done")
    d.no_done = b;
  else if (key == "error_event_after")
    d.error_event_after = n;
  else if (key == "crlf")
    d.crlf = b;
  else if (key == "comments")
    d.comments = b;
  else if (key == "chunked")
    d.chunked = b;
  else if (key == "close")
    d.close = b;
  else if (key == "events_per_write") {
    if (n == 0) return bad_value(key, value, "an integer from 1 to " + std::to_string(kMaxCount));
    d.events_per_write = n;
  } else if (key == "tool_call")
    d.tool_call = b;
  else if (key == "reject_stream_options")
    d.reject_stream_options = b;
  else if (key == "reject_prefill")
    d.reject_prefill = b;
  else if (key == "fail_until_ms") {
    std::uint64_t v = 0;
    if (value.empty() || value.size() > 16)
      return bad_value(key, value, "a Unix time in milliseconds");
    for (char c : value) {
      if (c < '0' || c > '9') return bad_value(key, value, "a Unix time in milliseconds");
      v = v * 10 + static_cast<std::uint64_t>(c - '0');
    }
    d.fail_until_ms = v;
  } else if (key == "cached" || key == "cache_read")
    d.cached_tokens = n;
  else if (key == "cache_write")
    d.cache_write_tokens = n;
  else if (key == "blocked")
    d.blocked = b;
  else if (key == "finish" || key == "finish_reason") {
    if (value.empty()) return bad_value(key, value, "a non-empty value");
    d.finish_reason = std::string(value);
  } else if (key == "content_filter")
    d.content_filter = b;
  return std::nullopt;
}

}  // namespace

// Query-string decoding; a malformed %-escape is kept literally rather than rejected,
// as browsers and most servers do.
std::string percent_decode(std::string_view in, bool plus_is_space) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else if (c == '%' && i + 2 < in.size() && hex_value(in[i + 1]) >= 0 &&
               hex_value(in[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex_value(in[i + 1]) * 16 + hex_value(in[i + 2])));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::optional<std::string> apply_directives(std::string_view query, std::string_view source,
                                            Directives& d) {
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view pair = trim(query.substr(0, amp));
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (pair.empty()) continue;

    const auto eq = pair.find('=');
    const std::string key = percent_decode(trim(pair.substr(0, eq)));
    const std::string value =
        eq == std::string_view::npos ? std::string("1") : percent_decode(trim(pair.substr(eq + 1)));
    if (auto err = apply_one(key, value, source, d)) return err;
  }
  return std::nullopt;
}

}  // namespace switchyard::mock
