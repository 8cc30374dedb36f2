#pragma once
// Helpers shared by the Anthropic-dialect front end's request side
// (messages_front_request.cpp) and its response side (messages_front_response.cpp). Private to
// src/adapters/.

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace switchyard::adapters::messages_front::detail {

using json = nlohmann::json;

inline constexpr int kMaxDepth = 128;

/// Whether arrays/objects nest deeper than kMaxDepth (outside strings). Checked before
/// parsing: deep nesting would otherwise make copies and dumps recurse without bound.
inline bool too_deep(std::string_view s) {
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (const char c : s) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxDepth) return true;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return false;
}

/// Parses without throwing; discarded on malformed input or excessive nesting.
inline json parse(std::string_view s) {
  if (too_deep(s)) return json(json::value_t::discarded);
  return json::parse(s, nullptr, false);
}

template <typename J>
std::string dump(const J& j) {
  return j.dump(-1, ' ', false, J::error_handler_t::replace);
}

inline const json* field(const json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
}

/// The value of a string field, or "" when absent or not a string.
inline std::string str_of(const json& obj, const char* key) {
  const json* v = field(obj, key);
  return v != nullptr && v->is_string() ? v->get<std::string>() : std::string();
}

}  // namespace switchyard::adapters::messages_front::detail
