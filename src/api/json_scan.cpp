#include "switchyard/api/json_scan.hpp"

namespace switchyard::api {
namespace {

bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::size_t skip_ws(std::string_view s, std::size_t i) {
  while (i < s.size() && is_ws(s[i])) ++i;
  return i;
}

// i at the opening quote; returns offset one past the closing quote.
std::size_t skip_string(std::string_view s, std::size_t i) {
  for (++i; i < s.size(); ++i) {
    if (s[i] == '\\') {
      ++i;
    } else if (s[i] == '"') {
      return i + 1;
    }
  }
  return s.size();
}

// i at a value's first byte; returns offset one past its end.
std::size_t skip_value(std::string_view s, std::size_t i) {
  if (i >= s.size()) return i;
  char c = s[i];
  if (c == '"') return skip_string(s, i);
  if (c == '{' || c == '[') {
    int depth = 0;
    for (; i < s.size(); ++i) {
      char d = s[i];
      if (d == '"') {
        i = skip_string(s, i) - 1;
      } else if (d == '{' || d == '[') {
        ++depth;
      } else if (d == '}' || d == ']') {
        if (--depth == 0) return i + 1;
      }
    }
    return s.size();
  }
  // number, true, false, null
  while (i < s.size() && s[i] != ',' && s[i] != '}' && s[i] != ']' && !is_ws(s[i])) ++i;
  return i;
}

}  // namespace

bool scan_top_level(std::string_view s, std::vector<Member>& out) {
  out.clear();
  std::size_t i = skip_ws(s, 0);
  if (i >= s.size() || s[i] != '{') return false;
  i = skip_ws(s, i + 1);
  if (i < s.size() && s[i] == '}') return true;
  while (i < s.size()) {
    if (s[i] != '"') return false;
    std::size_t key_end = skip_string(s, i);
    std::string_view key = s.substr(i + 1, key_end - i - 2);
    i = skip_ws(s, key_end);
    if (i >= s.size() || s[i] != ':') return false;
    i = skip_ws(s, i + 1);
    std::size_t vb = i;
    std::size_t ve = skip_value(s, i);
    out.push_back({key, vb, ve});
    i = skip_ws(s, ve);
    if (i >= s.size()) return false;
    if (s[i] == '}') return true;
    if (s[i] != ',') return false;
    i = skip_ws(s, i + 1);
  }
  return false;
}

std::size_t top_level_close(std::string_view s) {
  std::size_t i = s.size();
  while (i > 0 && s[i - 1] != '}') --i;
  return i == 0 ? std::string_view::npos : i - 1;
}

}  // namespace switchyard::api
