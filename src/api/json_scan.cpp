#include "switchyard/api/json_scan.hpp"

#include <array>
#include <vector>

namespace switchyard::api {
namespace {

bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

const char* skip_ws(const char* p, const char* e) {
  while (p < e && is_ws(*p)) ++p;
  return p;
}

// p just after the opening quote; returns the byte after the closing quote, or null.
// 1 for bytes that end a run of plain string characters: '"', '\\', controls, non-ASCII.
constexpr auto kStringStop = [] {
  std::array<bool, 256> t{};
  for (int c = 0; c < 0x20; ++c) t[c] = true;
  for (int c = 0x80; c < 0x100; ++c) t[c] = true;
  t['"'] = t['\\'] = true;
  return t;
}();

const char* valid_string_end(const char* p, const char* e) {
  while (p < e) {
    while (p < e && !kStringStop[static_cast<unsigned char>(*p)]) ++p;
    if (p >= e) break;
    auto c = static_cast<unsigned char>(*p);
    if (c == '"') return p + 1;
    if (c == '\\') {
      if (++p >= e) return nullptr;
      switch (*p) {
        case '"':
        case '\\':
        case '/':
        case 'b':
        case 'f':
        case 'n':
        case 'r':
        case 't':
          ++p;
          continue;
        case 'u':
          if (e - p < 5 || !is_hex(p[1]) || !is_hex(p[2]) || !is_hex(p[3]) || !is_hex(p[4])) {
            return nullptr;
          }
          p += 5;
          continue;
        default:
          return nullptr;
      }
    }
    if (c < 0x20) return nullptr;
    if (c < 0x80) {
      ++p;
      continue;
    }
    // UTF-8: reject overlong forms, surrogates and code points above U+10FFFF.
    int n;
    if (c >= 0xC2 && c <= 0xDF) {
      n = 1;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 3;
    } else {
      return nullptr;
    }
    if (e - p <= n) return nullptr;
    for (int i = 1; i <= n; ++i) {
      if ((static_cast<unsigned char>(p[i]) & 0xC0) != 0x80) return nullptr;
    }
    auto c1 = static_cast<unsigned char>(p[1]);
    if ((c == 0xE0 && c1 < 0xA0) || (c == 0xED && c1 >= 0xA0) || (c == 0xF0 && c1 < 0x90) ||
        (c == 0xF4 && c1 >= 0x90)) {
      return nullptr;
    }
    p += n + 1;
  }
  return nullptr;
}

const char* valid_number_end(const char* p, const char* e) {
  if (p < e && *p == '-') ++p;
  if (p >= e) return nullptr;
  if (*p == '0') {
    ++p;
  } else if (*p >= '1' && *p <= '9') {
    while (p < e && is_digit(*p)) ++p;
  } else {
    return nullptr;
  }
  if (p < e && *p == '.') {
    if (++p >= e || !is_digit(*p)) return nullptr;
    while (p < e && is_digit(*p)) ++p;
  }
  if (p < e && (*p == 'e' || *p == 'E')) {
    ++p;
    if (p < e && (*p == '+' || *p == '-')) ++p;
    if (p >= e || !is_digit(*p)) return nullptr;
    while (p < e && is_digit(*p)) ++p;
  }
  return p;
}

const char* valid_literal_end(const char* p, const char* e, std::string_view lit) {
  if (static_cast<std::size_t>(e - p) < lit.size() || std::string_view(p, lit.size()) != lit) {
    return nullptr;
  }
  return p + lit.size();
}

}  // namespace

std::size_t skip_ws(std::string_view s, std::size_t i) {
  while (i < s.size() && is_ws(s[i])) ++i;
  return i;
}

namespace {
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

}  // namespace

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

bool json_valid(std::string_view json, std::size_t max_depth) {
  const char* p = json.data();
  const char* const e = p + json.size();
  std::vector<char> stack;  // '{' or '[' per open container
  p = skip_ws(p, e);
  for (;;) {
    // Here a value must start at p.
    if (p >= e) return false;
    bool value_done = true;
    switch (*p) {
      case '{':
      case '[': {
        if (stack.size() >= max_depth) return false;
        const char open = *p;
        stack.push_back(open);
        p = skip_ws(p + 1, e);
        if (p < e && *p == (open == '{' ? '}' : ']')) {
          stack.pop_back();
          ++p;
          break;
        }
        if (open == '{') {
          if (p >= e || *p != '"' || !(p = valid_string_end(p + 1, e))) return false;
          p = skip_ws(p, e);
          if (p >= e || *p != ':') return false;
          p = skip_ws(p + 1, e);
        }
        value_done = false;
        break;
      }
      case '"':
        p = valid_string_end(p + 1, e);
        break;
      case 't':
        p = valid_literal_end(p, e, "true");
        break;
      case 'f':
        p = valid_literal_end(p, e, "false");
        break;
      case 'n':
        p = valid_literal_end(p, e, "null");
        break;
      default:
        p = valid_number_end(p, e);
        break;
    }
    if (!p) return false;
    if (!value_done) continue;
    // After a value: close containers or move to the next element.
    for (;;) {
      p = skip_ws(p, e);
      if (stack.empty()) return p == e;
      if (p >= e) return false;
      const char top = stack.back();
      if (*p == ',') {
        p = skip_ws(p + 1, e);
        if (top == '{') {
          if (p >= e || *p != '"' || !(p = valid_string_end(p + 1, e))) return false;
          p = skip_ws(p, e);
          if (p >= e || *p != ':') return false;
          p = skip_ws(p + 1, e);
        }
        break;
      }
      if ((*p == '}' && top == '{') || (*p == ']' && top == '[')) {
        stack.pop_back();
        ++p;
        continue;
      }
      return false;
    }
  }
}

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
