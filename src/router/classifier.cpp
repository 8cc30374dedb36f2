#include "switchyard/router/classifier.hpp"

#include <re2/re2.h>

#include <utility>

#include "switchyard/api/json_scan.hpp"

namespace switchyard::router {
namespace {

using api::skip_value;
using api::skip_ws;

// Calls f(element) for each element of the array `arr`; f returns false to stop.
// Does nothing if `arr` is not an array.
template <class F>
void for_each_element(std::string_view arr, F&& f) {
  if (arr.empty() || arr.front() != '[') return;
  std::size_t i = skip_ws(arr, 1);
  while (i < arr.size() && arr[i] != ']') {
    std::size_t end = skip_value(arr, i);
    if (end <= i) return;
    if (!f(arr.substr(i, end - i))) return;
    i = skip_ws(arr, end);
    if (i < arr.size() && arr[i] == ',') i = skip_ws(arr, i + 1);
  }
}

bool nonempty_array(std::string_view v) {
  return !v.empty() && v.front() == '[' && skip_ws(v, 1) < v.size() && v[skip_ws(v, 1)] != ']';
}

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

std::string_view value_of(std::string_view json, const api::Member& m) {
  return json.substr(m.value_begin, m.value_end - m.value_begin);
}

bool is_image_type(std::string_view type) {
  return json_string_is(type, "image_url") || json_string_is(type, "input_image") ||
         json_string_is(type, "image");
}

bool is_text_type(std::string_view type) {
  return json_string_is(type, "text") || json_string_is(type, "input_text");
}

// Scratch member lists reused across one extract_features call.
struct Scratch {
  std::vector<api::Member> message, part;
};

// Does the content array `content` hold an image part?
bool has_image_part(std::string_view content, Scratch& sc) {
  bool found = false;
  for_each_element(content, [&](std::string_view part) {
    sc.part.clear();
    if (!api::scan_top_level(part, sc.part)) return true;
    for (const api::Member& m : sc.part) {
      if (m.key == "type" && is_image_type(value_of(part, m))) {
        found = true;
        return false;
      }
    }
    return true;
  });
  return found;
}

// Appends a message content's text: a string, or the text parts of an array joined by "\n".
void append_content_text(std::string_view content, Scratch& sc, std::string& out) {
  if (content.empty()) return;
  if (content.front() == '"') {
    append_json_string(content, out);
    return;
  }
  bool first = true;
  for_each_element(content, [&](std::string_view part) {
    sc.part.clear();
    if (!api::scan_top_level(part, sc.part)) return true;
    std::string_view type, text;
    for (const api::Member& m : sc.part) {
      if (m.key == "type") type = value_of(part, m);
      if (m.key == "text") text = value_of(part, m);
    }
    if (is_text_type(type) && !text.empty() && text.front() == '"') {
      if (!first) out += '\n';
      first = false;
      append_json_string(text, out);
    }
    return true;
  });
}

void scan_messages(std::string_view messages, const FeatureNeeds& needs, RequestFeatures& out) {
  Scratch sc;
  // Only the last user message's text is wanted: remember its content's bytes and decode
  // once at the end rather than decoding every user turn of a long conversation.
  std::string_view last_user_content;
  bool want_images = needs.images && !out.images;
  for_each_element(messages, [&](std::string_view msg) {
    sc.message.clear();
    if (!api::scan_top_level(msg, sc.message)) return true;
    std::string_view role, content;
    for (const api::Member& m : sc.message) {
      if (m.key == "role") role = value_of(msg, m);
      if (m.key == "content") content = value_of(msg, m);
    }
    if (needs.text && json_string_is(role, "user")) last_user_content = content;
    if (want_images && !content.empty() && content.front() == '[' && has_image_part(content, sc)) {
      out.images = true;
      want_images = false;
      if (!needs.text) return false;
    }
    return true;
  });
  if (needs.text) append_content_text(last_user_content, sc, out.last_user_text);
}

}  // namespace

void extract_features(std::string_view body, std::int64_t prompt_tokens, const FeatureNeeds& needs,
                      RequestFeatures& out) {
  out.last_user_text.clear();
  out.prompt_tokens = prompt_tokens;
  out.tools = out.json_schema = out.images = false;
  if (!needs.text && !needs.tools && !needs.json_schema && !needs.images) return;

  std::vector<api::Member> top;
  top.reserve(16);
  if (!api::scan_top_level(body, top)) return;
  std::string_view messages;
  for (const api::Member& m : top) {
    std::string_view v = value_of(body, m);
    if (m.key == "messages") {
      messages = v;
    } else if (m.key == "tools" || m.key == "functions") {
      if (needs.tools && nonempty_array(v)) out.tools = true;
    } else if (m.key == "response_format") {
      if (!needs.json_schema || v.empty() || v.front() != '{') continue;
      std::vector<api::Member> rf;
      if (!api::scan_top_level(v, rf)) continue;
      bool schema = false;
      for (const api::Member& r : rf) {
        if (r.key == "type") schema = json_string_is(value_of(v, r), "json_schema");
      }
      out.json_schema = schema;
    }
  }
  if (needs.text || needs.images) scan_messages(messages, needs, out);
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
