#pragma once
// Helpers shared by the Anthropic adapter's request side (anthropic_request.cpp) and its
// response side (anthropic_response.cpp). Private to src/adapters/.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace switchyard::adapters::anthropic::detail {

// ordered_json keeps the client's key order, which matters for tool schemas: the model tends
// to fill properties in the order the schema lists them.
using json = nlohmann::ordered_json;

inline std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

// Lookups that never throw, whatever the type of `j`.
inline const json* member(const json& j, const char* key) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(key);
  return it == j.end() ? nullptr : &*it;
}

inline const std::string* string_at(const json& j, const char* key) {
  const json* v = member(j, key);
  return v != nullptr && v->is_string() ? &v->get_ref<const std::string&>() : nullptr;
}

inline std::string string_or(const json& j, const char* key, std::string_view fallback = {}) {
  const std::string* s = string_at(j, key);
  return s != nullptr ? *s : std::string(fallback);
}

// A non-negative integer count, or -1.
inline std::int64_t count_at(const json& j, const char* key) {
  const json* v = member(j, key);
  if (v == nullptr) return -1;
  if (v->is_number_unsigned()) {
    const auto u = v->get<std::uint64_t>();
    return u > static_cast<std::uint64_t>(INT64_MAX) ? -1 : static_cast<std::int64_t>(u);
  }
  if (v->is_number_integer()) {
    const auto i = v->get<std::int64_t>();
    return i < 0 ? -1 : i;
  }
  return -1;
}

inline bool starts_with(const std::string& s, std::string_view p) {
  return s.compare(0, p.size(), p) == 0;
}

}  // namespace switchyard::adapters::anthropic::detail
