#include "switchyard/api/chat_request.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "switchyard/api/json_scan.hpp"

namespace switchyard::api {
namespace {

ChatRequest parse_ok(std::string_view body) {
  ChatRequest req;
  RequestError err;
  EXPECT_TRUE(parse_chat_request(body, req, err)) << err.message;
  return req;
}

RequestError parse_err(std::string_view body) {
  ChatRequest req;
  RequestError err;
  EXPECT_FALSE(parse_chat_request(body, req, err));
  return err;
}

TEST(ChatRequest, ReadsModelStreamAndUsageFlag) {
  auto r = parse_ok(R"({"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],)"
                    R"("stream":true,"stream_options":{"include_usage":true},"max_tokens":50})");
  EXPECT_EQ(r.model, "gpt-4o-mini");
  EXPECT_TRUE(r.stream);
  EXPECT_TRUE(r.client_include_usage);
  EXPECT_EQ(r.max_tokens, 50);
}

TEST(ChatRequest, DecodesEscapedModelName) {
  auto r = parse_ok(R"({"model":"a\"b\u00e9","messages":[{"role":"user","content":"x"}]})");
  EXPECT_EQ(r.model, "a\"b\xc3\xa9");
}

TEST(ChatRequest, Errors) {
  EXPECT_EQ(parse_err("{not json").code, Errc::invalid_json);
  EXPECT_EQ(parse_err("").code, Errc::invalid_json);
  EXPECT_EQ(parse_err("[1,2]").code, Errc::invalid_request);
  auto e = parse_err(R"({"messages":[{"role":"user","content":"x"}]})");
  EXPECT_EQ(e.code, Errc::invalid_request);
  EXPECT_EQ(e.param, "model");
  e = parse_err(R"({"model":"m"})");
  EXPECT_EQ(e.param, "messages");
  e = parse_err(R"({"model":"m","messages":[]})");
  EXPECT_EQ(e.param, "messages");
  e = parse_err(R"({"model":7,"messages":[{"role":"user","content":"x"}]})");
  EXPECT_EQ(e.param, "model");
  e = parse_err(R"({"model":"m","messages":[{"role":"user","content":"x"}],"stream":"yes"})");
  EXPECT_EQ(e.param, "stream");
  e = parse_err(R"({"model":"m","messages":[{"role":"user","content":"x"}],)"
                R"("stream_options":{"include_usage":true}})");
  EXPECT_EQ(e.param, "stream_options");
}

TEST(ChatRequest, UpstreamBodyChangesOnlyTheModel) {
  std::string body =
      "{ \"model\" : \"alias\",\n  \"messages\":[{\"role\":\"user\",\"content\":\"h\\u00e9 "
      "\\\"q\\\"\"}],"
      "\"temperature\":0.70, \"x_unknown\":{\"deep\":[1,2,{\"model\":\"inner\"}]}, \"seed\":1e2}";
  auto r = parse_ok(body);
  std::string up = upstream_body(r, "gpt-4o-mini-2024-07-18");
  std::string expected = body;
  expected.replace(expected.find("\"alias\""), 7, "\"gpt-4o-mini-2024-07-18\"");
  EXPECT_EQ(up, expected);
}

TEST(ChatRequest, StreamWithoutUsageGetsIncludeUsageAppended) {
  std::string body = R"({"model":"a","messages":[{"role":"user","content":"}"}],"stream":true} )";
  auto r = parse_ok(body);
  EXPECT_FALSE(r.client_include_usage);
  std::string up = upstream_body(r, "b");
  EXPECT_EQ(
      up,
      R"({"model":"b","messages":[{"role":"user","content":"}"}],"stream":true,"stream_options":{"include_usage":true}} )");
  auto j = nlohmann::json::parse(up);
  EXPECT_TRUE(j["stream_options"]["include_usage"].get<bool>());
}

TEST(ChatRequest, UsageRequestCanBeLeftOutForServersThatRejectIt) {
  std::string body = R"({"model":"a","messages":[{"role":"user","content":"x"}],"stream":true})";
  auto r = parse_ok(body);
  EXPECT_EQ(upstream_body(r, "a", false), body);
}

TEST(ChatRequest, ExistingStreamOptionsAreEditedInPlace) {
  std::string body =
      R"({"stream_options":{"include_usage":false,"x":1},"model":"a","messages":[{"role":"user","content":"x"}],"stream":true})";
  auto r = parse_ok(body);
  std::string up = upstream_body(r, "bb");
  EXPECT_EQ(
      up,
      R"({"stream_options":{"include_usage":true,"x":1},"model":"bb","messages":[{"role":"user","content":"x"}],"stream":true})");
}

TEST(ChatRequest, ClientUsageRequestIsLeftAlone) {
  std::string body =
      R"({"model":"a","messages":[{"role":"user","content":"x"}],"stream":true,"stream_options":{"include_usage":true}})";
  auto r = parse_ok(body);
  EXPECT_EQ(upstream_body(r, "a"), body);
}

TEST(JsonScan, TopLevelMembersSkipNestedStructures) {
  std::vector<Member> m;
  std::string_view doc = R"( {"a":{"model":"x","b":[1,"]}"]},"model":"y","n":-1.5e3,"t":true} )";
  ASSERT_TRUE(scan_top_level(doc, m));
  ASSERT_EQ(m.size(), 4u);
  EXPECT_EQ(m[1].key, "model");
  EXPECT_EQ(doc.substr(m[1].value_begin, m[1].value_end - m[1].value_begin), "\"y\"");
  EXPECT_EQ(doc.substr(m[2].value_begin, m[2].value_end - m[2].value_begin), "-1.5e3");
  EXPECT_EQ(doc.substr(m[3].value_begin, m[3].value_end - m[3].value_begin), "true");
  EXPECT_FALSE(scan_top_level("[1]", m));
}

}  // namespace
}  // namespace switchyard::api

namespace switchyard::api {
namespace {

TEST(JsonValid, AgreesWithNlohmannOnHandPickedCases) {
  const char* cases[] = {
      "{}",
      "[]",
      "0",
      "-0",
      "1.5e10",
      "-1.2E-3",
      "\"x\"",
      "true",
      "false",
      "null",
      " {\"a\" : [1, 2, {}]} ",
      "{\"a\":\"\\u00e9\\n\\\"\"}",
      "\"\xc3\xa9\xe2\x9c\x93\xf0\x9f\x98\x80\"",
      "[[[[[]]]]]",
      // invalid
      "",
      " ",
      "{",
      "}",
      "[1,]",
      "{\"a\":1,}",
      "{\"a\" 1}",
      "{a:1}",
      "01",
      "1.",
      ".5",
      "1e",
      "-",
      "+1",
      "tru",
      "nul",
      "\"\\x\"",
      "\"\\u12\"",
      "\"a\nb\"",
      "\"\xff\"",
      "\"\xc0\xaf\"",
      "\"\xed\xa0\x80\"",
      "\"\xf4\x90\x80\x80\"",
      "{} {}",
      "[1 2]",
      "{\"a\":1 \"b\":2}",
      "\"unterminated",
      "[\"a\",]",
      "{\"a\":}",
      "[,]",
      "nulll",
      "{\"a\":[}",
      "NaN",
      "Infinity",
  };
  for (const char* c : cases) {
    EXPECT_EQ(json_valid(c), nlohmann::json::accept(c)) << "input: " << c;
  }
}

TEST(JsonValid, EveryTruncationOfARealBodyIsRejected) {
  std::string body =
      R"({"id":"chatcmpl-1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"Hi \u00e9 \"x\" ✓","refusal":null},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":12,"total_tokens":21}})";
  ASSERT_TRUE(json_valid(body));
  for (std::size_t n = 0; n < body.size(); ++n) {
    EXPECT_EQ(json_valid(body.substr(0, n)), nlohmann::json::accept(body.substr(0, n))) << n;
  }
}

TEST(JsonValid, DepthLimit) {
  EXPECT_TRUE(json_valid(std::string(10, '[') + std::string(10, ']'), 10));
  EXPECT_FALSE(json_valid(std::string(11, '[') + std::string(11, ']'), 10));
}

// A number the JSON grammar allows (json_valid accepts it) but no double holds: the field
// readers must not throw on it (issue 13, defect 1) and must name the field.
TEST(ChatRequest, NumbersNoDoubleHoldsAreA400NamingTheField) {
  const std::string huge = "1" + std::string(309, '0');
  for (const char* field : {"max_tokens", "max_completion_tokens", "n"}) {
    const std::string body =
        std::string(R"({"model":"m","messages":[{"role":"user","content":"x"}],")") + field +
        "\":" + huge + "}";
    ASSERT_TRUE(json_valid(body)) << "the grammar allows it: the readers must cope";
    ChatRequest req;
    RequestError err;
    bool ok = true;
    EXPECT_NO_THROW(ok = parse_chat_request(body, req, err)) << field;
    EXPECT_FALSE(ok) << field;
    EXPECT_EQ(err.code, Errc::invalid_request) << field;
    EXPECT_EQ(err.param, field);
    EXPECT_NE(err.message.find(field), std::string::npos) << err.message;
  }
  const std::string so = R"({"model":"m","messages":[{"role":"user","content":"x"}],"stream":true,)"
                         R"("stream_options":{"include_usage":true,"x":)" +
                         huge + "}}";
  ChatRequest req;
  RequestError err;
  bool ok = true;
  EXPECT_NO_THROW(ok = parse_chat_request(so, req, err));
  EXPECT_FALSE(ok);
  EXPECT_EQ(err.param, "stream_options");
  // A large number that a double does hold is not an error (and not a max_tokens either).
  auto r =
      parse_ok(R"({"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":1e300})");
  EXPECT_EQ(r.max_tokens, 0);
}

// Two top-level "model" keys: the gateway would route on one and the upstream might read
// the other.
TEST(ChatRequest, DuplicateModelIsA400) {
  auto err =
      parse_err(R"({"model":"cheap","messages":[{"role":"user","content":"x"}],"model":"dear"})");
  EXPECT_EQ(err.code, Errc::invalid_request);
  EXPECT_EQ(err.param, "model");
}

}  // namespace
}  // namespace switchyard::api
