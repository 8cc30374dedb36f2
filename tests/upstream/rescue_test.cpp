#include "upstream/rescue.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "test_call.hpp"

namespace switchyard::upstream {
namespace {

using config::Prefill;
using config::ProviderKind;
using nlohmann::json;
using testing::TestCall;

constexpr std::string_view kStreamRequest =
    R"({"model":"fast","stream":true,"messages":[{"role":"system","content":"Be brief."},)"
    R"({"role":"user","content":"Tell me a story"}]})";

ClientStream sent(std::string text) {
  ClientStream c;
  c.started = true;
  c.id = "chatcmpl-FIRST";
  c.text = std::move(text);
  c.chunks = 4;
  return c;
}

// --- may_rescue ------------------------------------------------------------------------------

TEST(MayRescue, AStreamOfPlainTextThatHasStarted) {
  TestCall call{std::string(kStreamRequest)};
  EXPECT_TRUE(may_rescue(call.rq, sent("Once upon")));

  ClientStream nothing = sent("");
  EXPECT_FALSE(may_rescue(call.rq, nothing)) << "nothing to continue: an ordinary failover";

  ClientStream tool = sent("Once upon");
  tool.unsafe = true;  // a tool call (or reasoning, or a second choice) went out
  EXPECT_FALSE(may_rescue(call.rq, tool));

  call.rq.rescue_off = true;  // x-switchyard-rescue: off
  EXPECT_FALSE(may_rescue(call.rq, sent("Once upon")));
}

TEST(MayRescue, NotAWholeAnswerNorSeveralChoices) {
  TestCall whole{R"({"model":"fast","messages":[{"role":"user","content":"Hi"}]})"};
  EXPECT_FALSE(may_rescue(whole.rq, sent("Once upon")));
  TestCall two{
      R"({"model":"fast","stream":true,"n":2,"messages":[{"role":"user","content":"Hi"}]})"};
  ASSERT_EQ(two.rq.chat.n, 2u);
  EXPECT_FALSE(may_rescue(two.rq, sent("Once upon")));
  TestCall one{
      R"({"model":"fast","stream":true,"n":1,"messages":[{"role":"user","content":"Hi"}]})"};
  EXPECT_TRUE(may_rescue(one.rq, sent("Once upon")));
}

// --- can_prefill -----------------------------------------------------------------------------

TEST(CanPrefill, AsConfiguredOrByWhatTheProviderDocuments) {
  const config::Provider openai = testing::provider(ProviderKind::openai, "api.openai.com", "/v1");
  const config::Provider vllm = testing::provider(ProviderKind::openai, "vllm.internal", "/v1");
  const config::Provider anthropic =
      testing::provider(ProviderKind::anthropic, "api.anthropic.com");
  const config::Provider gemini =
      testing::provider(ProviderKind::gemini, "generativelanguage.googleapis.com");
  const config::Provider azure =
      testing::provider(ProviderKind::azure, "res.openai.azure.com");  // not api.openai.com
  config::Deployment d = testing::deployment("p", "m");

  d.prefill = Prefill::auto_;
  EXPECT_FALSE(can_prefill(d, openai, false)) << "OpenAI answers a final assistant turn anew";
  EXPECT_TRUE(can_prefill(d, vllm, false));
  EXPECT_TRUE(can_prefill(d, anthropic, false));
  EXPECT_TRUE(can_prefill(d, gemini, false));
  EXPECT_TRUE(can_prefill(d, azure, false));
  EXPECT_FALSE(can_prefill(d, vllm, true)) << "it refused one before";

  d.prefill = Prefill::yes;  // the operator knows better
  EXPECT_TRUE(can_prefill(d, openai, false));
  EXPECT_TRUE(can_prefill(d, vllm, true));

  d.prefill = Prefill::no;
  EXPECT_FALSE(can_prefill(d, vllm, false));
  EXPECT_FALSE(can_prefill(d, anthropic, false));
}

// --- continuation_for ------------------------------------------------------------------------

json last_message(const adapters::continuation::Prefill& p) {
  const json j = json::parse(p.body);
  return j["messages"].back();
}

TEST(ContinuationFor, TheAnswerSoFarIsTheFinalAssistantMessage) {
  TestCall call{std::string(kStreamRequest)};
  const auto vllm = testing::provider(ProviderKind::openai, "vllm.internal", "/v1");
  const auto p = continuation_for(call.rq, sent("Once upon a "), vllm);
  const json j = json::parse(p.body);
  ASSERT_EQ(j["messages"].size(), 3u);
  EXPECT_EQ(j["messages"][1], (json{{"role", "user"}, {"content", "Tell me a story"}}));
  EXPECT_EQ(last_message(p), (json{{"role", "assistant"}, {"content", "Once upon a "}}))
      << "kept whole for an OpenAI-compatible server";
  EXPECT_TRUE(p.skip_ws.empty());
  EXPECT_EQ(j["stream"], true);
  EXPECT_EQ(j["model"], "fast");  // encode_attempt puts the deployment's model in
}

TEST(ContinuationFor, AnthropicGetsThePrefillWithoutItsTrailingWhitespace) {
  TestCall call{std::string(kStreamRequest)};
  const auto anthropic = testing::provider(ProviderKind::anthropic, "api.anthropic.com");
  const auto p = continuation_for(call.rq, sent("Once upon a \n"), anthropic);
  EXPECT_EQ(last_message(p), (json{{"role", "assistant"}, {"content", "Once upon a"}}));
  EXPECT_EQ(p.skip_ws, " \n");
}

TEST(ContinuationFor, DeepSeekAndMistralGetTheirPrefixFlag) {
  TestCall call{std::string(kStreamRequest)};
  for (const char* host : {"api.deepseek.com", "api.mistral.ai"}) {
    const auto prov = testing::provider(ProviderKind::openai, host, "/v1");
    EXPECT_EQ(last_message(continuation_for(call.rq, sent("Once"), prov)),
              (json{{"role", "assistant"}, {"content", "Once"}, {"prefix", true}}))
        << host;
  }
}

// --- continuation_payload --------------------------------------------------------------------

std::string text_chunk(std::string_view id, std::string_view text) {
  return json{
      {"id", id},
      {"object", "chat.completion.chunk"},
      {"choices",
       json::array({{{"index", 0}, {"delta", {{"content", text}}}, {"finish_reason", nullptr}}})}}
      .dump();
}

TEST(ContinuationPayload, UnchangedWhenTheClientWouldSeeTheSame) {
  const std::string p = text_chunk("chatcmpl-FIRST", " time");
  const auto f = adapters::openai::inspect_chunk(p);
  EXPECT_TRUE(continuation_payload(p, f, f.text, "chatcmpl-FIRST", 4).empty());
  EXPECT_TRUE(continuation_payload(p, f, f.text, "", 4).empty()) << "no id known: keep the chunk's";
}

TEST(ContinuationPayload, TheClientsIdAndTheTextWithoutTheRepeatedWhitespace) {
  const std::string p = text_chunk("chatcmpl-SECOND", " time");
  const auto f = adapters::openai::inspect_chunk(p);
  const json same_text = json::parse(continuation_payload(p, f, f.text, "chatcmpl-FIRST", 4));
  EXPECT_EQ(same_text["id"], "chatcmpl-FIRST");
  EXPECT_EQ(same_text["choices"][0]["delta"]["content"], " time");
  EXPECT_EQ(same_text["object"], "chat.completion.chunk") << "the rest as it came";

  const json cut = json::parse(continuation_payload(p, f, "time", "chatcmpl-FIRST", 4));
  EXPECT_EQ(cut["choices"][0]["delta"]["content"], "time");

  // A chunk without an id keeps having none.
  const std::string anon = R"({"choices":[{"index":0,"delta":{"content":" x"}}]})";
  const auto fa = adapters::openai::inspect_chunk(anon);
  EXPECT_TRUE(continuation_payload(anon, fa, fa.text, "chatcmpl-FIRST", 4).empty());
}

TEST(ContinuationPayload, UsageCountsThePrefillAsOutput) {
  const std::string p =
      R"({"id":"chatcmpl-SECOND","choices":[],"usage":{"prompt_tokens":20,"completion_tokens":5,)"
      R"("total_tokens":25,"prompt_tokens_details":{"cached_tokens":8}}})";
  const auto f = adapters::openai::inspect_chunk(p);
  ASSERT_TRUE(f.usage_only);
  const json j = json::parse(continuation_payload(p, f, f.text, "chatcmpl-FIRST", 4));
  EXPECT_EQ(j["id"], "chatcmpl-FIRST");
  EXPECT_EQ(j["usage"]["prompt_tokens"], 16);
  EXPECT_EQ(j["usage"]["completion_tokens"], 9);
  EXPECT_EQ(j["usage"]["total_tokens"], 25);
  EXPECT_EQ(j["usage"]["prompt_tokens_details"]["cached_tokens"], 8);

  // Fewer prompt tokens than prefill chunks (a server that counts otherwise): not negative.
  const std::string small =
      R"({"id":"chatcmpl-FIRST","choices":[],"usage":{"prompt_tokens":2,"completion_tokens":5,"total_tokens":7}})";
  const auto fs = adapters::openai::inspect_chunk(small);
  const json k = json::parse(continuation_payload(small, fs, fs.text, "chatcmpl-FIRST", 4));
  EXPECT_EQ(k["usage"]["prompt_tokens"], 2);
  EXPECT_EQ(k["usage"]["completion_tokens"], 9);
}

}  // namespace
}  // namespace switchyard::upstream
