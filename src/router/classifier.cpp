#include "switchyard/router/classifier.hpp"

#include <re2/re2.h>

#include <cstring>
#include <utility>

namespace switchyard::router {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Reads \uXXXX's four digits at s[i..i+4); -1 if they are not there.
long read_hex4(std::string_view s, std::size_t i) {
  if (i + 4 > s.size()) return -1;
  long v = 0;
  for (std::size_t k = 0; k < 4; ++k) {
    int h = hex_value(s[i + k]);
    if (h < 0) return -1;
    v = v * 16 + h;
  }
  return v;
}

void append_utf8(std::string& out, unsigned long cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// Appends the decoded text of the JSON string `quoted` (with its quotes) to out. Lone
// surrogates, which api::json_valid lets through, become U+FFFD so the text stays UTF-8.
void append_json_string(std::string_view quoted, std::string& out) {
  if (quoted.size() < 2 || quoted.front() != '"') return;
  std::string_view s = quoted.substr(1, quoted.size() - 2);
  std::size_t i = 0;
  while (i < s.size()) {
    std::size_t bs = s.find('\\', i);
    if (bs == std::string_view::npos) bs = s.size();
    out.append(s.data() + i, bs - i);
    if (bs + 1 >= s.size()) return;
    char e = s[bs + 1];
    i = bs + 2;
    switch (e) {
      case 'n':
        out += '\n';
        break;
      case 't':
        out += '\t';
        break;
      case 'r':
        out += '\r';
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'u': {
        long cp = read_hex4(s, i);
        if (cp < 0) return;
        i += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          long lo = i + 1 < s.size() && s[i] == '\\' && s[i + 1] == 'u' ? read_hex4(s, i + 2) : -1;
          if (lo >= 0xDC00 && lo <= 0xDFFF) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            i += 6;
          } else {
            cp = 0xFFFD;
          }
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
          cp = 0xFFFD;
        }
        append_utf8(out, static_cast<unsigned long>(cp));
        break;
      }
      default:
        out += e;
        break;  // '"', '\\', '/'
    }
  }
}

// Is the raw JSON value `v` the string `want`? Escapes are decoded only if present.
bool json_string_is(std::string_view v, std::string_view want) {
  if (v.size() < 2 || v.front() != '"') return false;
  std::string_view inner = v.substr(1, v.size() - 2);
  if (inner.find('\\') == std::string_view::npos) return inner == want;
  std::string decoded;
  append_json_string(v, decoded);
  return decoded == want;
}

bool is_image_type(std::string_view type) {
  return json_string_is(type, "image_url") || json_string_is(type, "input_image") ||
         json_string_is(type, "image");
}

bool is_text_type(std::string_view type) {
  return json_string_is(type, "text") || json_string_is(type, "input_text");
}

// --- One-pass walker ------------------------------------------------------------------
// extract_features reads the body in a single forward pass: the members it looks into
// ("messages", its messages' "role" and "content", content parts' "type") are walked
// structurally, everything else is skipped, strings with memchr. Only the last user
// message's content is read a second time, to decode its text. Pointer-based and bounded
// by the input's end even on malformed input (the precondition is valid JSON; on invalid
// input the answer is unspecified but nothing is read out of bounds).

bool is_ws(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

const char* ws(const char* p, const char* e) {
  while (p < e && is_ws(*p)) ++p;
  return p;
}

// p at a string's opening quote: one past its closing quote (e if unterminated).
const char* skip_string(const char* p, const char* e) {
  const char* const start = p + 1;
  const char* q = start;
  while (q < e) {
    q = static_cast<const char*>(std::memchr(q, '"', static_cast<std::size_t>(e - q)));
    if (!q) return e;
    const char* b = q;  // the quote is escaped if an odd number of backslashes precede it
    while (b > start && b[-1] == '\\') --b;
    if (((q - b) & 1) == 0) return q + 1;
    ++q;
  }
  return e;
}

// p at a value's first byte: one past its last byte (as api::skip_value).
const char* skip_any(const char* p, const char* e) {
  if (p >= e) return e;
  const char c = *p;
  if (c == '"') return skip_string(p, e);
  if (c == '{' || c == '[') {
    int depth = 0;
    while (p < e) {
      const char d = *p;
      if (d == '"') {
        p = skip_string(p, e);
        continue;
      }
      if (d == '{' || d == '[') {
        ++depth;
      } else if ((d == '}' || d == ']') && --depth == 0) {
        return p + 1;
      }
      ++p;
    }
    return e;
  }
  while (p < e && *p != ',' && *p != '}' && *p != ']' && !is_ws(*p)) ++p;
  return p;
}

template <std::size_t N>
bool key_is(std::string_view key, const char (&lit)[N]) {
  return key.size() == N - 1 && std::memcmp(key.data(), lit, N - 1) == 0;
}

// p at '{'. Calls on_member(raw key, value's first byte) for each member; on_member returns
// one past the value's end. Returns one past the closing '}', or null if the object is
// malformed or truncated.
template <class F>
const char* walk_object(const char* p, const char* e, F&& on_member) {
  p = ws(p + 1, e);
  if (p < e && *p == '}') return p + 1;
  while (p < e) {
    if (*p != '"') return nullptr;
    const char* key_end = skip_string(p, e);
    if (key_end - p < 2) return nullptr;
    const std::string_view key(p + 1, static_cast<std::size_t>(key_end - p - 2));
    p = ws(key_end, e);
    if (p >= e || *p != ':') return nullptr;
    p = ws(p + 1, e);
    if (p >= e) return nullptr;
    const char* end = on_member(key, p);
    if (end <= p) return nullptr;
    p = ws(end, e);
    if (p >= e) return nullptr;
    if (*p == '}') return p + 1;
    if (*p != ',') return nullptr;
    p = ws(p + 1, e);
  }
  return nullptr;
}

// p at '['. Calls on_element(element's first byte) for each element; on_element returns
// one past the element's end. Returns one past the closing ']', or e if it stopped early.
template <class F>
const char* walk_array(const char* p, const char* e, F&& on_element) {
  p = ws(p + 1, e);
  while (p < e && *p != ']') {
    const char* end = on_element(p);
    if (end <= p) return e;
    p = ws(end, e);
    if (p < e && *p == ',') p = ws(p + 1, e);
  }
  return p < e ? p + 1 : e;
}

// p at a content array's '['. Sets found if some part object's "type" member is an image
// type. Returns one past the array.
const char* scan_content_images(const char* p, const char* e, bool& found) {
  return walk_array(p, e, [&](const char* part) {
    if (*part != '{') return skip_any(part, e);
    bool image = false;
    const char* end = walk_object(part, e, [&](std::string_view key, const char* v) {
      const char* ve = skip_any(v, e);
      if (!image && key_is(key, "type") &&
          is_image_type(std::string_view(v, static_cast<std::size_t>(ve - v)))) {
        image = true;
      }
      return ve;
    });
    if (!end) return skip_any(part, e);  // malformed part: ignored
    found = found || image;
    return end;
  });
}

// Appends a message content's text: a string, or the text parts of an array joined by "\n".
void append_content_text(std::string_view content, std::string& out) {
  if (content.empty()) return;
  if (content.front() == '"') {
    append_json_string(content, out);
    return;
  }
  if (content.front() != '[') return;
  const char* const e = content.data() + content.size();
  bool first = true;
  walk_array(content.data(), e, [&](const char* part) {
    if (*part != '{') return skip_any(part, e);
    std::string_view type, text;
    const char* end = walk_object(part, e, [&](std::string_view key, const char* v) {
      const char* ve = skip_any(v, e);
      const std::string_view value(v, static_cast<std::size_t>(ve - v));
      if (key_is(key, "type")) type = value;
      if (key_is(key, "text")) text = value;
      return ve;
    });
    if (!end) return skip_any(part, e);
    if (is_text_type(type) && !text.empty() && text.front() == '"') {
      if (!first) out += '\n';
      first = false;
      append_json_string(text, out);
    }
    return end;
  });
}

// What the last "messages" member says.
struct MessagesResult {
  std::string_view last_user_content;  ///< raw content of the last role:"user" message
  bool images = false;
};

// p at the "messages" value. Returns one past it.
const char* scan_messages(const char* p, const char* e, const FeatureNeeds& needs,
                          MessagesResult& r) {
  if (*p != '[' || (!needs.text && !needs.images)) return skip_any(p, e);
  return walk_array(p, e, [&](const char* msg) {
    if (*msg != '{') return skip_any(msg, e);
    bool user = false, content_images = false;
    std::string_view content;
    const char* end = walk_object(msg, e, [&](std::string_view key, const char* v) {
      if (key_is(key, "content")) {
        // The last "content" member counts, as for the text.
        content_images = false;
        const char* ve = needs.images && !r.images && *v == '['
                             ? scan_content_images(v, e, content_images)
                             : skip_any(v, e);
        content = std::string_view(v, static_cast<std::size_t>(ve - v));
        return ve;
      }
      const char* ve = skip_any(v, e);
      if (needs.text && key_is(key, "role")) {
        user = json_string_is(std::string_view(v, static_cast<std::size_t>(ve - v)), "user");
      }
      return ve;
    });
    if (!end) return skip_any(msg, e);  // malformed message: ignored
    if (user) r.last_user_content = content;
    if (content_images) r.images = true;
    return end;
  });
}

}  // namespace

void extract_features(std::string_view body, std::int64_t prompt_tokens, const FeatureNeeds& needs,
                      RequestFeatures& out) {
  out.last_user_text.clear();
  out.prompt_tokens = prompt_tokens;
  out.tools = out.json_schema = out.images = false;
  if (!needs.text && !needs.tools && !needs.json_schema && !needs.images) return;

  const char* const e = body.data() + body.size();
  const char* p = ws(body.data(), e);
  if (p >= e || *p != '{') return;
  MessagesResult messages;  // of the last "messages" member, as a DOM would keep
  bool tools = false, json_schema = false;
  const char* end = walk_object(p, e, [&](std::string_view key, const char* v) {
    if (key_is(key, "messages")) {
      messages = {};
      return scan_messages(v, e, needs, messages);
    }
    const char* ve = skip_any(v, e);
    if (key_is(key, "tools") || key_is(key, "functions")) {
      if (needs.tools && *v == '[' && ws(v + 1, ve) < ve && *ws(v + 1, ve) != ']') tools = true;
    } else if (key_is(key, "response_format") && needs.json_schema && *v == '{') {
      bool schema = false;
      const char* rf_end = walk_object(v, ve, [&](std::string_view k, const char* rv) {
        const char* rve = skip_any(rv, ve);
        if (key_is(k, "type")) {
          schema = json_string_is(std::string_view(rv, static_cast<std::size_t>(rve - rv)),
                                  "json_schema");
        }
        return rve;
      });
      if (rf_end) json_schema = schema;
    }
    return ve;
  });
  if (!end) return;  // not a well-formed object: nothing is known (as before)
  out.tools = tools;
  out.json_schema = json_schema;
  out.images = messages.images;
  if (needs.text) append_content_text(messages.last_user_content, out.last_user_text);
}
RequestFeatures extract_features(std::string_view body, std::int64_t prompt_tokens,
                                 const FeatureNeeds& needs) {
  RequestFeatures f;
  extract_features(body, prompt_tokens, needs, f);
  return f;
}

// --- Classifier -----------------------------------------------------------------------

Classifier::Classifier(const config::Routing& routing) : default_task_(routing.default_task) {
  RE2::Options opts;
  opts.set_longest_match(false);
  opts.set_log_errors(false);
  opts.set_max_mem(kMaxRegexMemory);
  opts.set_never_capture(true);  // only "does it match" is asked: lets RE2 stay in its DFA

  auto tri = [](const std::optional<bool>& b) -> signed char { return b ? (*b ? 1 : 0) : -1; };
  bool default_seen = false;
  rules_.reserve(routing.tasks.size());
  for (std::size_t i = 0; i < routing.tasks.size(); ++i) {
    const config::Task& t = routing.tasks[i];
    Rule r;
    r.name = t.name;
    r.min_quality = t.min_quality;
    if (!t.when.regex.empty()) {
      r.regex = std::make_unique<RE2>(t.when.regex, opts);
      if (!r.regex->ok()) {
        throw config::ConfigError("routing.tasks[" + std::to_string(i) +
                                  "].when.regex: " + r.regex->error());
      }
      needs_.text = true;
    }
    r.min_prompt_tokens = t.when.min_prompt_tokens;
    r.tools = tri(t.when.tools);
    r.json_schema = tri(t.when.json_schema);
    r.images = tri(t.when.images);
    r.match_all = t.when.match_all;
    r.has_condition =
        r.regex || r.min_prompt_tokens > 0 || r.tools >= 0 || r.json_schema >= 0 || r.images >= 0;
    needs_.tools |= r.tools >= 0;
    needs_.json_schema |= r.json_schema >= 0;
    needs_.images |= r.images >= 0;
    if (!default_seen && t.name == routing.default_task) {
      default_seen = true;
      default_min_quality_ = t.min_quality;
    }
    rules_.push_back(std::move(r));
  }
}

Classifier::~Classifier() = default;
Classifier::Classifier(Classifier&&) noexcept = default;
Classifier& Classifier::operator=(Classifier&&) noexcept = default;

bool Classifier::Rule::matches(const RequestFeatures& f) const noexcept {
  if (!has_condition) return false;
  // Cheap conditions first, so the regex runs only when it can still change the answer.
  // A condition decides the rule when it fails under `match: all` (false) or holds under
  // `match: any` (true); if none decides, the answer is the other one.
  auto decides = [&](bool holds) { return holds != match_all; };
  if (min_prompt_tokens > 0 && decides(f.prompt_tokens >= min_prompt_tokens)) return !match_all;
  if (tools >= 0 && decides(f.tools == (tools == 1))) return !match_all;
  if (json_schema >= 0 && decides(f.json_schema == (json_schema == 1))) return !match_all;
  if (images >= 0 && decides(f.images == (images == 1))) return !match_all;
  if (regex && decides(RE2::PartialMatch(f.last_user_text, *regex))) return !match_all;
  return match_all;
}

Classifier::Result Classifier::classify(std::string_view header_task,
                                        const RequestFeatures& f) const noexcept {
  if (!header_task.empty()) {
    for (const Rule& r : rules_) {
      if (r.name == header_task) return {r.name, r.min_quality, true, true};
    }
    if (header_task == default_task_) return {default_task_, default_min_quality_, true, true};
    return {{}, 0, true, false};
  }
  for (const Rule& r : rules_) {
    if (r.matches(f)) return {r.name, r.min_quality, false, true};
  }
  return {default_task_, default_min_quality_, false, true};
}

}  // namespace switchyard::router
