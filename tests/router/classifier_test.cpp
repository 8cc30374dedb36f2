#include "switchyard/router/classifier.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "switchyard/api/json_scan.hpp"

namespace switchyard::router {
namespace {

config::Task task(std::string name, double min_quality, config::TaskMatch when = {}) {
  config::Task t;
  t.name = std::move(name);
  t.min_quality = min_quality;
  t.when = std::move(when);
  return t;
}

config::TaskMatch regex(std::string re) {
  config::TaskMatch m;
  m.regex = std::move(re);
  return m;
}

config::Routing routing(std::vector<config::Task> tasks, std::string default_task = "general") {
  config::Routing r;
  r.default_task = std::move(default_task);
  r.tasks = std::move(tasks);
  return r;
}

RequestFeatures text(std::string s) {
  RequestFeatures f;
  f.last_user_text = std::move(s);
  return f;
}

constexpr FeatureNeeds kAll{true, true, true, true};

// --- Classifier -------------------------------------------------------------------------

TEST(Classifier, HeaderWinsOverMatchingRule) {
  Classifier c(routing({task("code", 0.8, regex("def ")), task("chat", 0.4, regex("hello"))}));
  auto r = c.classify("chat", text("def f(): pass"));
  EXPECT_TRUE(r.ok);
  EXPECT_TRUE(r.from_header);
  EXPECT_EQ(r.task, "chat");
  EXPECT_DOUBLE_EQ(r.min_quality, 0.4);
}

TEST(Classifier, HeaderMayNameTheDefaultTask) {
  Classifier c(routing({task("code", 0.8, regex("def "))}));
  auto r = c.classify("general", text("def f(): pass"));
  EXPECT_TRUE(r.ok);
  EXPECT_TRUE(r.from_header);
  EXPECT_EQ(r.task, "general");
  EXPECT_DOUBLE_EQ(r.min_quality, 0);
}

TEST(Classifier, UnknownHeaderIsNotOk) {
  Classifier c(routing({task("code", 0.8, regex("def "))}));
  auto r = c.classify("poetry", text("def f(): pass"));
  EXPECT_FALSE(r.ok);
  EXPECT_TRUE(r.task.empty());
  // Names are matched exactly.
  EXPECT_FALSE(c.classify("Code", {}).ok);
  EXPECT_FALSE(c.classify("code ", {}).ok);
}

TEST(Classifier, EmptyHeaderMeansAbsent) {
  Classifier c(routing({task("code", 0.8, regex("def "))}));
  auto r = c.classify("", text("def f(): pass"));
  EXPECT_TRUE(r.ok);
  EXPECT_FALSE(r.from_header);
  EXPECT_EQ(r.task, "code");
}

TEST(Classifier, FirstMatchingRuleWinsInOrder) {
  Classifier c(routing({task("a", 0.1, regex("foo")), task("b", 0.2, regex("foo|bar")),
                        task("c", 0.3, regex("bar"))}));
  EXPECT_EQ(c.classify("", text("foo bar")).task, "a");
  EXPECT_EQ(c.classify("", text("just bar")).task, "b");
  auto r = c.classify("", text("nothing"));
  EXPECT_EQ(r.task, "general");
  EXPECT_FALSE(r.from_header);
}

TEST(Classifier, RegexConditionIsAnUnanchoredSearch) {
  Classifier c(routing({task("code", 0.8, regex(R"(```|\bdef |#include)"))}));
  EXPECT_EQ(c.classify("", text("please fix\n#include <x>\n")).task, "code");
  EXPECT_EQ(c.classify("", text("undef x")).task, "general");  // \b before def
  EXPECT_EQ(c.classify("", text("")).task, "general");
}

TEST(Classifier, MinPromptTokensCondition) {
  config::TaskMatch m;
  m.min_prompt_tokens = 6000;
  Classifier c(routing({task("long", 0.7, m)}));
  RequestFeatures f;
  f.prompt_tokens = 5999;
  EXPECT_EQ(c.classify("", f).task, "general");
  f.prompt_tokens = 6000;
  auto r = c.classify("", f);
  EXPECT_EQ(r.task, "long");
  EXPECT_DOUBLE_EQ(r.min_quality, 0.7);
}

TEST(Classifier, ToolsCondition) {
  config::TaskMatch yes, no;
  yes.tools = true;
  no.tools = false;
  Classifier c(routing({task("agent", 0.9, yes)}));
  RequestFeatures f;
  EXPECT_EQ(c.classify("", f).task, "general");
  f.tools = true;
  EXPECT_EQ(c.classify("", f).task, "agent");
  // tools: false selects requests without tools.
  Classifier c2(routing({task("plain", 0.2, no)}));
  EXPECT_EQ(c2.classify("", f).task, "general");
  f.tools = false;
  EXPECT_EQ(c2.classify("", f).task, "plain");
}

TEST(Classifier, JsonSchemaCondition) {
  config::TaskMatch m;
  m.json_schema = true;
  Classifier c(routing({task("extract", 0.6, m)}));
  RequestFeatures f;
  EXPECT_EQ(c.classify("", f).task, "general");
  f.json_schema = true;
  EXPECT_EQ(c.classify("", f).task, "extract");
}

TEST(Classifier, ImagesCondition) {
  config::TaskMatch m;
  m.images = true;
  Classifier c(routing({task("vision", 0.85, m)}));
  RequestFeatures f;
  EXPECT_EQ(c.classify("", f).task, "general");
  f.images = true;
  EXPECT_EQ(c.classify("", f).task, "vision");
}

TEST(Classifier, MatchAnyNeedsOneCondition) {
  config::TaskMatch m = regex("def ");
  m.tools = true;
  Classifier c(routing({task("code", 0.8, m)}));
  RequestFeatures f = text("def f()");
  EXPECT_EQ(c.classify("", f).task, "code");  // regex only
  f = text("hi");
  f.tools = true;
  EXPECT_EQ(c.classify("", f).task, "code");  // tools only
  f.tools = false;
  EXPECT_EQ(c.classify("", f).task, "general");  // neither
}

TEST(Classifier, MatchAllNeedsEveryCondition) {
  config::TaskMatch m = regex("def ");
  m.tools = true;
  m.min_prompt_tokens = 100;
  m.match_all = true;
  Classifier c(routing({task("code", 0.8, m)}));
  RequestFeatures f = text("def f()");
  f.tools = true;
  f.prompt_tokens = 100;
  EXPECT_EQ(c.classify("", f).task, "code");
  f.prompt_tokens = 99;
  EXPECT_EQ(c.classify("", f).task, "general");
  f.prompt_tokens = 100;
  f.tools = false;
  EXPECT_EQ(c.classify("", f).task, "general");
  f.tools = true;
  f.last_user_text = "class X";
  EXPECT_EQ(c.classify("", f).task, "general");
}

TEST(Classifier, DefaultTaskTakesMinQualityOfSameNamedTask) {
  // A task named like the default with no condition only gives the default its min_quality.
  Classifier c(routing({task("code", 0.8, regex("def ")), task("general", 0.3)}));
  auto r = c.classify("", text("hello"));
  EXPECT_EQ(r.task, "general");
  EXPECT_DOUBLE_EQ(r.min_quality, 0.3);
  EXPECT_FALSE(r.from_header);
  r = c.classify("general", text("def f()"));
  EXPECT_EQ(r.task, "general");
  EXPECT_DOUBLE_EQ(r.min_quality, 0.3);
}

TEST(Classifier, DefaultTaskWithoutEntryAsksNoQuality) {
  Classifier c(routing({task("code", 0.8, regex("def "))}, "chat"));
  auto r = c.classify("", text("hello"));
  EXPECT_EQ(r.task, "chat");
  EXPECT_DOUBLE_EQ(r.min_quality, 0);
  EXPECT_TRUE(r.ok);
}

TEST(Classifier, RuleWithoutConditionsNeverMatches) {
  config::TaskMatch all;
  all.match_all = true;  // vacuous truth must not make it a catch-all
  Classifier c(routing({task("empty", 0.9), task("empty_all", 0.9, all)}));
  RequestFeatures f = text("anything");
  f.tools = f.images = f.json_schema = true;
  f.prompt_tokens = 1 << 20;
  EXPECT_EQ(c.classify("", f).task, "general");
  // Still nameable by header.
  EXPECT_EQ(c.classify("empty", f).task, "empty");
}

TEST(Classifier, PathologicalRegexRunsInLinearTime) {
  Classifier c(routing({task("evil", 0.5, regex("(a+)+$"))}));
  const std::string attack = std::string(30, 'a') + "b";
  auto start = std::chrono::steady_clock::now();
  auto r = c.classify("", text(attack));
  auto r2 = c.classify("", text(std::string(200000, 'a') + "b"));
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.task, "general");  // no match: the text does not end in a's
  EXPECT_EQ(r2.task, "general");
  // A backtracking engine needs ~2^30 steps for the first text alone.
  EXPECT_LT(elapsed, std::chrono::seconds(1));
  EXPECT_EQ(c.classify("", text(std::string(30, 'a'))).task, "evil");
}

TEST(Classifier, BadRegexNamesTheRule) {
  try {
    Classifier c(
        routing({task("a", 0.1, regex("ok")), task("b", 0.1), task("c", 0.1, regex("(a"))}));
    FAIL() << "expected ConfigError";
  } catch (const config::ConfigError& e) {
    std::string what = e.what();
    EXPECT_EQ(what.rfind("routing.tasks[2].when.regex: ", 0), 0u) << what;
    EXPECT_GT(what.size(), std::string("routing.tasks[2].when.regex: ").size());
  }
  // Backreferences are what RE2 leaves out to stay linear.
  EXPECT_THROW(Classifier(routing({task("a", 0.1, regex(R"((a)\1)"))})), config::ConfigError);
}

TEST(Classifier, OversizedRegexIsRejected) {
  // A thousand copies of the Unicode letter class compile far beyond kMaxRegexMemory.
  try {
    Classifier c(routing({task("big", 0.1, regex(R"(\pL{1000})"))}));
    FAIL() << "expected ConfigError";
  } catch (const config::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("routing.tasks[0].when.regex: pattern too large"),
              std::string::npos)
        << e.what();
  }
}

TEST(Classifier, NeedsFollowTheRules) {
  Classifier none(routing({task("general", 0.2)}));
  EXPECT_FALSE(none.needs().text || none.needs().tools || none.needs().json_schema ||
               none.needs().images);

  config::TaskMatch m;
  m.tools = false;
  m.min_prompt_tokens = 10;
  Classifier tools(routing({task("t", 0.1, m)}));
  EXPECT_TRUE(tools.needs().tools);
  EXPECT_FALSE(tools.needs().text);
  EXPECT_FALSE(tools.needs().json_schema);
  EXPECT_FALSE(tools.needs().images);

  config::TaskMatch img;
  img.images = true;
  config::TaskMatch js;
  js.json_schema = true;
  Classifier mixed(routing({task("r", 0.1, regex("x")), task("i", 0.1, img), task("j", 0.1, js)}));
  EXPECT_TRUE(mixed.needs().text);
  EXPECT_TRUE(mixed.needs().images);
  EXPECT_TRUE(mixed.needs().json_schema);
  EXPECT_FALSE(mixed.needs().tools);
}

TEST(Classifier, OutlivesItsConfig) {
  std::optional<Classifier> c;
  {
    auto r = routing({task("code", 0.8, regex("def "))}, "chat");
    c.emplace(r);
  }
  EXPECT_EQ(c->classify("", text("def x")).task, "code");
  EXPECT_EQ(c->classify("", text("hi")).task, "chat");
  Classifier moved = std::move(*c);
  EXPECT_EQ(moved.classify("code", {}).task, "code");
}

// --- extract_features + classify end to end ----------------------------------------------

TEST(Features, LastUserMessageOnly) {
  const std::string body = R"({"model":"m","messages":[
    {"role":"system","content":"You write code: def main"},
    {"role":"user","content":"def old():"},
    {"role":"assistant","content":"def reply"},
    {"role":"user","content":"thanks, now a poem"}]})";
  auto f = extract_features(body, 10, kAll);
  EXPECT_EQ(f.last_user_text, "thanks, now a poem");
  Classifier c(routing({task("code", 0.8, regex("def "))}));
  EXPECT_EQ(c.classify("", extract_features(body, 10, c.needs())).task, "general");
}

TEST(Features, LastUserMessageEvenIfNotLastMessage) {
  const std::string body = R"({"messages":[{"role":"user","content":"def f(): pass"},
    {"role":"assistant","content":"ok"},{"role":"tool","content":"x","tool_call_id":"1"}]})";
  EXPECT_EQ(extract_features(body, 0, kAll).last_user_text, "def f(): pass");
}

TEST(Features, ContentPartsJoinedAndImagesSeen) {
  const std::string body = R"({"messages":[{"content":[
      {"type":"text","text":"first"},
      {"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA"}},
      {"text":"second","type":"text"}],"role":"user"}],"model":"m"})";
  auto f = extract_features(body, 0, kAll);
  EXPECT_EQ(f.last_user_text, "first\nsecond");
  EXPECT_TRUE(f.images);
  config::TaskMatch m;
  m.images = true;
  Classifier c(routing({task("vision", 0.9, m)}));
  EXPECT_EQ(c.classify("", extract_features(body, 0, c.needs())).task, "vision");
}

TEST(Features, ImageInAnEarlierMessageCounts) {
  const std::string body = R"({"messages":[
    {"role":"user","content":[{"type":"input_image","image_url":"x"}]},
    {"role":"assistant","content":"a cat"},
    {"role":"user","content":"and now?"}]})";
  FeatureNeeds needs;
  needs.images = true;
  EXPECT_TRUE(extract_features(body, 0, needs).images);
  const std::string no_image = R"({"messages":[{"role":"user","content":[
    {"type":"text","text":"image_url"}]}]})";
  EXPECT_FALSE(extract_features(no_image, 0, kAll).images);
}

TEST(Features, EscapesAreDecodedBeforeMatching) {
  const std::string body =
      R"({"messages":[{"role":"user","content":"line1\nsay \"hi\" caf\u00e9 \ud83d\ude00 a\/b \\"}]})";
  auto f = extract_features(body, 0, kAll);
  EXPECT_EQ(f.last_user_text, "line1\nsay \"hi\" caf\xC3\xA9 \xF0\x9F\x98\x80 a/b \\");
  Classifier c(routing({task("quote", 0.5, regex(R"(say "hi" café 😀 a/b \\$)"))}));
  EXPECT_EQ(c.classify("", f).task, "quote");
  // A decoded newline ends a line; the raw bytes `\n` would not.
  Classifier lines(routing({task("lines", 0.5, regex("(?m)^line1$"))}));
  EXPECT_EQ(lines.classify("", f).task, "lines");
  Classifier raw(routing({task("raw", 0.5, regex(R"(line1\\n)"))}));
  EXPECT_EQ(raw.classify("", f).task, "general");
}

TEST(Features, LoneSurrogateBecomesReplacementCharacter) {
  const std::string body = R"({"messages":[{"role":"user","content":"x\ud800y\udc00z"}]})";
  EXPECT_EQ(extract_features(body, 0, kAll).last_user_text, "x\xEF\xBF\xBDy\xEF\xBF\xBDz");
}

TEST(Features, EscapedRoleIsStillUser) {
  const std::string body = R"({"messages":[{"role":"\u0075ser","content":"hi"}]})";
  EXPECT_EQ(extract_features(body, 0, kAll).last_user_text, "hi");
}

TEST(Features, TextSkippedWhenNotNeeded) {
  const std::string body = R"({"messages":[{"role":"user","content":[
      {"type":"text","text":"def f(): pass"},{"type":"image_url","image_url":{"url":"u"}}]}],
      "tools":[{"type":"function"}],"response_format":{"type":"json_schema"}})";
  FeatureNeeds needs;
  needs.tools = true;
  auto f = extract_features(body, 42, needs);
  EXPECT_TRUE(f.last_user_text.empty());
  EXPECT_TRUE(f.tools);
  EXPECT_FALSE(f.images);
  EXPECT_FALSE(f.json_schema);
  EXPECT_EQ(f.prompt_tokens, 42);
  // Nothing needed: nothing read, but the estimate still passes through.
  auto g = extract_features(body, 7, FeatureNeeds{});
  EXPECT_TRUE(g.last_user_text.empty());
  EXPECT_FALSE(g.tools);
  EXPECT_EQ(g.prompt_tokens, 7);
}

TEST(Features, ToolsAndFunctions) {
  EXPECT_TRUE(extract_features(R"({"messages":[],"tools":[{"type":"function"}]})", 0, kAll).tools);
  EXPECT_TRUE(extract_features(R"({"functions":[{"name":"f"}],"messages":[]})", 0, kAll).tools);
  EXPECT_FALSE(extract_features(R"({"messages":[],"tools":[ ]})", 0, kAll).tools);
  EXPECT_FALSE(extract_features(R"({"messages":[],"tools":null})", 0, kAll).tools);
  EXPECT_FALSE(
      extract_features(R"({"messages":[{"role":"user","content":"\"tools\":[1]"}]})", 0, kAll)
          .tools);
}

TEST(Features, ResponseFormatJsonSchema) {
  EXPECT_TRUE(
      extract_features(
          R"({"response_format":{"json_schema":{"name":"x","schema":{"type":"object"}},"type":"json_schema"}})",
          0, kAll)
          .json_schema);
  EXPECT_FALSE(
      extract_features(R"({"response_format":{"type":"json_object"}})", 0, kAll).json_schema);
  // A nested "type":"json_schema" is not response_format.type.
  EXPECT_FALSE(
      extract_features(R"({"response_format":{"type":"text","x":{"type":"json_schema"}}})", 0, kAll)
          .json_schema);
  EXPECT_FALSE(extract_features(R"({"response_format":null})", 0, kAll).json_schema);
}

TEST(Features, ReusesOutputAndResetsIt) {
  RequestFeatures f;
  extract_features(R"({"messages":[{"role":"user","content":[{"type":"image","x":1}]}],
                      "tools":[1],"response_format":{"type":"json_schema"}})",
                   5, kAll, f);
  EXPECT_TRUE(f.images && f.tools && f.json_schema);
  extract_features(R"({"messages":[{"role":"user","content":"plain"}]})", 6, kAll, f);
  EXPECT_EQ(f.last_user_text, "plain");
  EXPECT_FALSE(f.images || f.tools || f.json_schema);
  EXPECT_EQ(f.prompt_tokens, 6);
}

TEST(Features, NoUserMessageOrOddContent) {
  EXPECT_EQ(
      extract_features(R"({"messages":[{"role":"system","content":"s"}]})", 0, kAll).last_user_text,
      "");
  EXPECT_EQ(
      extract_features(R"({"messages":[{"role":"user","content":"a"},{"role":"user"}]})", 0, kAll)
          .last_user_text,
      "");
  EXPECT_EQ(
      extract_features(R"({"messages":[{"role":"user","content":null}]})", 0, kAll).last_user_text,
      "");
  EXPECT_EQ(extract_features(R"([1,2])", 0, kAll).last_user_text, "");
  EXPECT_EQ(extract_features(R"({"messages":"nope"})", 0, kAll).last_user_text, "");
}

// --- Differential tests against the implementation before the one-pass walker ----------
// (extract_features as of commit 52b1cef, verbatim): the faster code must read the same
// features from every valid body.

namespace ref {

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

}  // namespace ref

// Random valid chat bodies: members in any order, duplicated members, escapes, nested junk,
// odd types where a string or array is expected, and random whitespace.
class BodyGen {
 public:
  explicit BodyGen(std::uint64_t seed) : g_(seed) {}

  std::string body() {
    std::string s;
    if (pick(40) == 0) return pick(2) ? "[1,2]" : "\"x\"";
    s += '{';
    const int members = pick(7);
    bool first = true;
    for (int i = 0; i < members; ++i) {
      if (!first) s += ',';
      first = false;
      ws(s);
      switch (pick(8)) {
        case 0:
        case 1:
        case 2:
          s += "\"messages\"";
          colon(s);
          if (pick(12) == 0) {
            value(s, 1);
          } else {
            messages(s);
          }
          break;
        case 3:
          s += pick(2) ? "\"tools\"" : "\"functions\"";
          colon(s);
          switch (pick(4)) {
            case 0:
              s += "[]";
              break;
            case 1:
              s += "[ \n ]";
              break;
            case 2:
              s += "null";
              break;
            default:
              array(s, 2);
              break;
          }
          break;
        case 4:
          s += "\"response_format\"";
          colon(s);
          response_format(s);
          break;
        case 5:
          s += pick(2) ? "\"model\"" : "\"m\\u0065ssages\"";
          colon(s);
          value(s, 2);
          break;
        default:
          key(s);
          colon(s);
          value(s, 0);
          break;
      }
      ws(s);
    }
    s += '}';
    return s;
  }

 private:
  int pick(int n) { return static_cast<int>(g_() % static_cast<unsigned>(n)); }
  void ws(std::string& s) {
    static const char* kWs[] = {"", "", "", " ", "\n  ", "\t", "\r\n"};
    s += kWs[pick(7)];
  }
  void colon(std::string& s) {
    ws(s);
    s += ':';
    ws(s);
  }
  void key(std::string& s) {
    static const char* kKeys[] = {"\"temperature\"", "\"stream\"", "\"content\"",
                                  "\"role\"",        "\"type\"",   "\"text\"",
                                  "\"x\\\"y\"",      "\"\\\\\"",   "\"user\""};
    s += kKeys[pick(9)];
  }
  // A JSON string of plain text with escapes, quotes, brackets and non-ASCII.
  void string(std::string& s) {
    static const char* kBits[] = {"hello ",
                                  "def f(): ",
                                  "\\\"quoted\\\" ",
                                  "\\\\",
                                  "\\n",
                                  "[",
                                  "]",
                                  "{",
                                  "}",
                                  ",",
                                  ":",
                                  "caf\\u00e9 ",
                                  "\\ud83d\\ude00",
                                  "\\ud800",
                                  "\xC3\xA9",
                                  "\\/",
                                  "\\t",
                                  "user",
                                  "image_url",
                                  "\\\\\\\"",
                                  "text",
                                  "```"};
    s += '"';
    const int n = pick(6);
    for (int i = 0; i < n; ++i) s += kBits[pick(22)];
    s += '"';
  }
  void array(std::string& s, int depth) {
    s += '[';
    ws(s);
    const int n = pick(4);
    for (int i = 0; i < n; ++i) {
      if (i) s += ',';
      ws(s);
      value(s, depth + 1);
      ws(s);
    }
    s += ']';
  }
  void object(std::string& s, int depth) {
    s += '{';
    ws(s);
    const int n = pick(4);
    for (int i = 0; i < n; ++i) {
      if (i) s += ',';
      ws(s);
      key(s);
      colon(s);
      value(s, depth + 1);
      ws(s);
    }
    s += '}';
  }
  void value(std::string& s, int depth) {
    switch (depth > 3 ? pick(5) : pick(8)) {
      case 0:
        string(s);
        break;
      case 1:
        s += "null";
        break;
      case 2:
        s += "-12.5e3";
        break;
      case 3:
        s += pick(2) ? "true" : "false";
        break;
      case 4:
        s += "0";
        break;
      case 5:
      case 6:
        object(s, depth);
        break;
      default:
        array(s, depth);
        break;
    }
  }
  void type_value(std::string& s) {
    static const char* kTypes[] = {"\"text\"",        "\"input_text\"", "\"image_url\"",
                                   "\"input_image\"", "\"image\"",      "\"t\\u0065xt\"",
                                   "\"imag\\u0065\"", "\"audio\"",      "null",
                                   "\"json_schema\""};
    s += kTypes[pick(10)];
  }
  void part(std::string& s) {
    if (pick(10) == 0) {
      value(s, 2);
      return;
    }
    s += '{';
    const int n = 1 + pick(4);
    for (int i = 0; i < n; ++i) {
      if (i) s += ',';
      ws(s);
      switch (pick(5)) {
        case 0:
        case 1:
          s += "\"type\"";
          colon(s);
          type_value(s);
          break;
        case 2:
        case 3:
          s += "\"text\"";
          colon(s);
          if (pick(6) == 0) {
            value(s, 2);
          } else {
            string(s);
          }
          break;
        default:
          s += "\"image_url\"";
          colon(s);
          value(s, 2);
          break;
      }
      ws(s);
    }
    s += '}';
  }
  void content(std::string& s) {
    switch (pick(6)) {
      case 0:
        s += "null";
        break;
      case 1:
      case 2:
        string(s);
        break;
      default: {
        s += '[';
        const int n = pick(4);
        for (int i = 0; i < n; ++i) {
          if (i) s += ',';
          ws(s);
          part(s);
          ws(s);
        }
        s += ']';
        break;
      }
    }
  }
  void message(std::string& s) {
    if (pick(15) == 0) {
      value(s, 2);
      return;
    }
    s += '{';
    const int n = pick(5);
    for (int i = 0; i < n; ++i) {
      if (i) s += ',';
      ws(s);
      switch (pick(5)) {
        case 0:
        case 1: {
          static const char* kRoles[] = {"\"user\"",       "\"assistant\"", "\"system\"",
                                         "\"\\u0075ser\"", "\"tool\"",      "null",
                                         "\"User\""};
          s += "\"role\"";
          colon(s);
          s += kRoles[pick(7)];
          break;
        }
        case 2:
        case 3:
          s += "\"content\"";
          colon(s);
          content(s);
          break;
        default:
          key(s);
          colon(s);
          value(s, 2);
          break;
      }
      ws(s);
    }
    s += '}';
  }
  void messages(std::string& s) {
    s += '[';
    ws(s);
    const int n = pick(6);
    for (int i = 0; i < n; ++i) {
      if (i) s += ',';
      ws(s);
      message(s);
      ws(s);
    }
    s += ']';
  }
  void response_format(std::string& s) {
    if (pick(5) == 0) {
      value(s, 2);
      return;
    }
    s += '{';
    const int n = pick(4);
    for (int i = 0; i < n; ++i) {
      if (i) s += ',';
      switch (pick(3)) {
        case 0:
        case 1:
          s += "\"type\"";
          colon(s);
          s += pick(3) == 0 ? "\"json_sch\\u0065ma\"" : (pick(2) ? "\"json_schema\"" : "\"text\"");
          break;
        default:
          s += "\"json_schema\"";
          colon(s);
          s += "{\"type\":\"json_schema\"}";
          break;
      }
    }
    s += '}';
  }

  std::mt19937_64 g_;
};

TEST(FeaturesEquivalence, SameFeaturesAsBeforeOnRandomBodies) {
  BodyGen gen(4242);
  RequestFeatures got, want;
  int texts = 0, images = 0, tools = 0, schemas = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    const std::string body = gen.body();
    ASSERT_TRUE(api::json_valid(body)) << body;
    for (int bits = 0; bits < 16; ++bits) {
      const FeatureNeeds needs{(bits & 1) != 0, (bits & 2) != 0, (bits & 4) != 0, (bits & 8) != 0};
      ref::extract_features(body, iter, needs, want);
      extract_features(body, iter, needs, got);
      ASSERT_EQ(want.last_user_text, got.last_user_text) << body;
      ASSERT_EQ(want.tools, got.tools) << body;
      ASSERT_EQ(want.json_schema, got.json_schema) << body;
      ASSERT_EQ(want.images, got.images) << body;
      ASSERT_EQ(want.prompt_tokens, got.prompt_tokens) << body;
      if (bits == 15) {
        texts += !want.last_user_text.empty();
        images += want.images;
        tools += want.tools;
        schemas += want.json_schema;
      }
    }
  }
  // The generator reaches every feature often.
  RecordProperty("texts", texts);
  RecordProperty("images", images);
  RecordProperty("tools", tools);
  RecordProperty("schemas", schemas);
  EXPECT_GT(texts, 500);
  EXPECT_GT(images, 1000);
  EXPECT_GT(tools, 1000);
  EXPECT_GT(schemas, 500);
}

TEST(FeaturesEquivalence, TruncatedBodiesAreReadWithinBounds) {
  // Not valid JSON, so any answer will do, but nothing may be read past the end (ASan).
  BodyGen gen(7);
  RequestFeatures f;
  for (int iter = 0; iter < 300; ++iter) {
    const std::string body = gen.body();
    for (std::size_t len = 0; len <= body.size(); ++len) {
      const std::string cut = body.substr(0, len);  // its own allocation: ASan sees the end
      extract_features(cut, 0, kAll, f);
    }
  }
  for (const char* odd : {"{", "{\"", "{\"messages\"", "{\"messages\":", "{\"messages\":[",
                          "{\"messages\":[{\"role\":\"user\",\"content\":\"a\\",
                          "{\"messages\":[{\"content\":[{\"type\":\"text\",\"text\":\"x", "{,}",
                          "{\"a\" 1}", "[,]", "{\"messages\":[,]}", "{\"tools\":[}"}) {
    const std::string cut = odd;
    extract_features(cut, 0, kAll, f);
  }
}
}  // namespace
}  // namespace switchyard::router
