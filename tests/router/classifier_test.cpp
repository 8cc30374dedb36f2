#include "switchyard/router/classifier.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

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

}  // namespace
}  // namespace switchyard::router
