#include "switchyard/adapters/continuation.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "switchyard/adapters/anthropic.hpp"
#include "switchyard/adapters/gemini.hpp"

namespace switchyard::adapters::continuation {
namespace {

using nlohmann::json;

constexpr std::string_view kRequest =
    R"({"model":"m","stream":true,"messages":[{"role":"system","content":"Be brief."},)"
    R"({"role":"user","content":"Tell me a story"}]})";

TEST(Continuation, OpenAiCompatibleGetsATrailingAssistantMessage) {
  const Prefill p = build(kRequest, "Once upon a time", Style::plain, false);
  const json j = json::parse(p.body);
  ASSERT_EQ(j["messages"].size(), 3u);
  EXPECT_EQ(j["messages"][2], (json{{"role", "assistant"}, {"content", "Once upon a time"}}));
  EXPECT_EQ(j["stream"], true);  // everything else as the client wrote it
  EXPECT_EQ(j["messages"][0]["content"], "Be brief.");
  EXPECT_TRUE(p.skip_ws.empty());
}

TEST(Continuation, TheClientsKeyOrderIsKept) {
  // A JSON schema's `properties` order is the order some models fill them in.
  const std::string body =
      R"({"model":"m","messages":[{"role":"user","content":"hi"}],"response_format":)"
      R"({"type":"json_schema","json_schema":{"name":"x","schema":{"type":"object",)"
      R"("properties":{"zeta":{"type":"string"},"alpha":{"type":"string"}}}}}})";
  const Prefill p = build(body, "{\"zeta\":", Style::plain, false);
  EXPECT_LT(p.body.find("\"model\""), p.body.find("\"messages\""));
  EXPECT_LT(p.body.find("\"zeta\""), p.body.find("\"alpha\""));
  EXPECT_LT(p.body.find("\"messages\""), p.body.find("\"response_format\""));
}

TEST(Continuation, DeepSeekAndMistralGetTheirPrefixFlag) {
  EXPECT_EQ(style_for_host("api.deepseek.com"), Style::prefix);
  EXPECT_EQ(style_for_host("api.mistral.ai"), Style::prefix);
  EXPECT_EQ(style_for_host("vllm.internal"), Style::plain);
  const json j = json::parse(build(kRequest, "Once", Style::prefix, false).body);
  EXPECT_EQ(j["messages"][2]["prefix"], true);
}

TEST(Continuation, TrailingWhitespaceIsCutAndReturned) {
  const Prefill p = build(kRequest, "Once upon a \n", Style::plain, true);
  EXPECT_EQ(json::parse(p.body)["messages"][2]["content"], "Once upon a");
  EXPECT_EQ(p.skip_ws, " \n");
  // Not cut unless asked (OpenAI-compatible servers take it as is).
  EXPECT_EQ(
      json::parse(build(kRequest, "Once ", Style::plain, false).body)["messages"][2]["content"],
      "Once ");
}

TEST(Continuation, AnthropicCarriesItAsTheFinalAssistantTurn) {
  const Prefill p = build(kRequest, "Once upon a ", Style::plain, true);
  Encoded enc;
  ClientError err;
  ASSERT_TRUE(anthropic::encode_request(p.body, "claude-x", enc, err)) << err.message;
  const json j = json::parse(enc.body);
  EXPECT_EQ(j["system"], "Be brief.");
  ASSERT_EQ(j["messages"].size(), 2u);
  const json& last = j["messages"][1];
  EXPECT_EQ(last["role"], "assistant");
  const std::string text = last["content"].is_string()
                               ? last["content"].get<std::string>()
                               : last["content"][0]["text"].get<std::string>();
  EXPECT_EQ(text, "Once upon a");  // no trailing whitespace: Anthropic would refuse it
}

TEST(Continuation, GeminiCarriesItAsATrailingModelTurn) {
  const Prefill p = build(kRequest, "Once upon a time", Style::plain, false);
  Encoded enc;
  ClientError err;
  ASSERT_TRUE(gemini::encode_request(p.body, "gemini-x", enc, err)) << err.message;
  const json j = json::parse(enc.body);
  ASSERT_EQ(j["contents"].size(), 2u);
  EXPECT_EQ(j["contents"][1]["role"], "model");
  EXPECT_EQ(j["contents"][1]["parts"][0]["text"], "Once upon a time");
}

TEST(Continuation, NotAChatRequestGivesNothing) {
  EXPECT_TRUE(build("[1,2]", "x", Style::plain, false).body.empty());
  EXPECT_TRUE(build("{\"messages\":3}", "x", Style::plain, false).body.empty());
  EXPECT_TRUE(build("not json", "x", Style::plain, false).body.empty());
}

}  // namespace
}  // namespace switchyard::adapters::continuation
