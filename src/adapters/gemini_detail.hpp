#pragma once
// Helpers shared by the Gemini adapter's request side (gemini_request.cpp) and its response
// side (gemini_response.cpp). Private to src/adapters/.

#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace switchyard::adapters::gemini::detail {

using json = nlohmann::json;

/// Nesting deeper than this is refused before parsing: nlohmann's dump() recurses.
inline constexpr int kMaxDepth = 128;

inline std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

/// True when the JSON text nests arrays/objects deeper than `max` (strings are skipped).
inline bool too_deep(std::string_view s, int max) {
  int depth = 0;
  bool in_str = false;
  bool esc = false;
  for (char c : s) {
    if (in_str) {
      if (esc) {
        esc = false;
      } else if (c == '\\') {
        esc = true;
      } else if (c == '"') {
        in_str = false;
      }
      continue;
    }
    if (c == '"') {
      in_str = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max) return true;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return false;
}

inline json parse(std::string_view s) {
  if (too_deep(s, kMaxDepth)) return json(json::value_t::discarded);
  return json::parse(s, nullptr, false);
}

inline const json* get(const json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

inline const std::string* get_str(const json& obj, const char* key) {
  const json* v = get(obj, key);
  return v && v->is_string() ? v->get_ptr<const std::string*>() : nullptr;
}

inline std::optional<std::int64_t> as_int(const json& v) {
  if (v.is_number_integer()) {
    if (v.is_number_unsigned()) {
      auto u = v.get<std::uint64_t>();
      if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        return std::nullopt;
      }
      return static_cast<std::int64_t>(u);
    }
    return v.get<std::int64_t>();
  }
  if (v.is_number_float()) {
    double d = v.get<double>();
    if (d >= -9.0e18 && d <= 9.0e18 && d == static_cast<double>(static_cast<std::int64_t>(d))) {
      return static_cast<std::int64_t>(d);
    }
    return std::nullopt;
  }
  if (v.is_string()) {  // proto3 JSON writes int64 as strings
    const auto& s = v.get_ref<const std::string&>();
    if (s.empty() || s.size() > 18) return std::nullopt;
    std::int64_t n = 0;
    for (char c : s) {
      if (c < '0' || c > '9') return std::nullopt;
      n = n * 10 + (c - '0');
    }
    return n;
  }
  return std::nullopt;
}

inline std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

}  // namespace switchyard::adapters::gemini::detail
