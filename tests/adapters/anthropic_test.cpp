#include "switchyard/adapters/anthropic.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "switchyard/sse/sse_parser.hpp"

namespace switchyard::adapters::anthropic {
namespace {

using json = nlohmann::json;  // std::map objects: comparisons ignore key order

std::string read_fixture(const std::string& name) {
  std::ifstream f(std::string(SWITCHYARD_FIXTURES) + "/anthropic/" + name, std::ios::binary);
  EXPECT_TRUE(f.good()) << name;
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::vector<std::string> read_lines(const std::string& name) {
  std::istringstream in(read_fixture(name));
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

constexpr std::int64_t kCreated = 1732500000;
const DecodeContext kCtx{"claude-deployment", "chatcmpl-fallback", kCreated};

// --- encode_request ------------------------------------------------------------------------

struct Encode {
  bool ok;
  json body;
  Encoded out;
  ClientError err;
};

Encode encode(const std::string& openai_body, std::string_view model = "claude-sonnet-4-20250514") {
  Encode e;
  e.ok = encode_request(openai_body, model, e.out, e.err);
  if (e.ok) e.body = json::parse(e.out.body);
  return e;
}

Encode encode(const json& openai_body) { return encode(openai_body.dump()); }

json user(const std::string& text) { return {{"role", "user"}, {"content", text}}; }

TEST(AnthropicEncode, GoldenConversationWithSystemToolsImagesAndResults) {
  Encode e = encode(read_fixture("request_openai.json"));
  ASSERT_TRUE(e.ok) << e.err.param << ": " << e.err.message;
  EXPECT_EQ(e.body, json::parse(read_fixture("request_anthropic.json")));
  EXPECT_EQ(e.out.path, "/messages");
  ASSERT_EQ(e.out.headers.size(), 1u);
  EXPECT_EQ(e.out.headers[0].first, "anthropic-version");
  EXPECT_EQ(e.out.headers[0].second, "2023-06-01");
}

TEST(AnthropicEncode, SchemaKeyOrderIsKept) {
  // The model tends to fill properties in schema order, so the order must survive.
  Encode e = encode(read_fixture("request_openai.json"));
  ASSERT_TRUE(e.ok);
  EXPECT_LT(e.out.body.find("\"location\":{"), e.out.body.find("\"unit\":{"));
}

TEST(AnthropicEncode, MinimalRequestGetsDefaults) {
  Encode e = encode(json{{"model", "x"}, {"messages", {user("Hi")}}});
  ASSERT_TRUE(e.ok);
  EXPECT_EQ(e.body, (json{{"model", "claude-sonnet-4-20250514"},
                          {"max_tokens", kDefaultMaxTokens},
                          {"messages", {{{"role", "user"}, {"content", "Hi"}}}}}));
}

TEST(AnthropicEncode, MaxTokensSources) {
  EXPECT_EQ(encode(json{{"messages", {user("Hi")}}, {"max_tokens", 77}}).body["max_tokens"], 77);
  EXPECT_EQ(
      encode(json{{"messages", {user("Hi")}}, {"max_completion_tokens", 88}, {"max_tokens", 7}})
          .body["max_tokens"],
      88);
  EXPECT_EQ(encode(json{{"messages", {user("Hi")}}, {"max_tokens", nullptr}}).body["max_tokens"],
            kDefaultMaxTokens);
}

TEST(AnthropicEncode, TemperatureIsClampedAndNoOpTopPDropped) {
  auto body = [](json extra) {
    json req = {{"messages", {user("Hi")}}};
    req.update(extra);
    return encode(req).body;
  };
  EXPECT_DOUBLE_EQ(body({{"temperature", 1.7}})["temperature"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(body({{"temperature", 0.3}})["temperature"].get<double>(), 0.3);
  EXPECT_DOUBLE_EQ(body({{"temperature", -1}})["temperature"].get<double>(), 0.0);
  EXPECT_FALSE(body({{"temperature", 0.5}, {"top_p", 1}}).contains("top_p"));
  EXPECT_DOUBLE_EQ(body({{"top_p", 0.5}})["top_p"].get<double>(), 0.5);
}

TEST(AnthropicEncode, StopStringOrList) {
  json req = {{"messages", {user("Hi")}}, {"stop", "END"}};
  EXPECT_EQ(encode(req).body["stop_sequences"], json({"END"}));
  req["stop"] = {"a", "b"};
  EXPECT_EQ(encode(req).body["stop_sequences"], json({"a", "b"}));
  req["stop"] = nullptr;
  EXPECT_FALSE(encode(req).body.contains("stop_sequences"));
}

TEST(AnthropicEncode, StreamAndUser) {
  json req = {{"messages", {user("Hi")}}, {"stream", false}, {"user", "u1"}};
  Encode e = encode(req);
  EXPECT_FALSE(e.body.contains("stream"));
  EXPECT_EQ(e.body["metadata"], (json{{"user_id", "u1"}}));
  req["stream"] = true;
  EXPECT_EQ(encode(req).body["stream"], true);
}

TEST(AnthropicEncode, ToolChoiceVariants) {
  const json tools = {{{"type", "function"}, {"function", {{"name", "f"}}}}};
  struct Case {
    json choice;
    json parallel;
    json want;
  };
  const std::vector<Case> cases = {
      {"auto", nullptr, {{"type", "auto"}}},
      {"required", nullptr, {{"type", "any"}}},
      {"none", nullptr, {{"type", "none"}}},
      {"none", false, {{"type", "none"}}},
      {{{"type", "function"}, {"function", {{"name", "f"}}}},
       nullptr,
       {{"type", "tool"}, {"name", "f"}}},
      {{{"type", "function"}, {"function", {{"name", "f"}}}},
       false,
       {{"type", "tool"}, {"name", "f"}, {"disable_parallel_tool_use", true}}},
      {"required", false, {{"type", "any"}, {"disable_parallel_tool_use", true}}},
      {nullptr, false, {{"type", "auto"}, {"disable_parallel_tool_use", true}}},
      {nullptr, true, nullptr},
  };
  for (const Case& c : cases) {
    json req = {{"messages", {user("Hi")}}, {"tools", tools}};
    if (!c.choice.is_null()) req["tool_choice"] = c.choice;
    if (!c.parallel.is_null()) req["parallel_tool_calls"] = c.parallel;
    Encode e = encode(req);
    ASSERT_TRUE(e.ok) << req.dump();
    if (c.want.is_null()) {
      EXPECT_FALSE(e.body.contains("tool_choice")) << req.dump();
    } else {
      EXPECT_EQ(e.body["tool_choice"], c.want) << req.dump();
    }
  }
  // Without tools there is nothing to choose: tool_choice goes with them.
  Encode e = encode(json{{"messages", {user("Hi")}}, {"tool_choice", "required"}});
  ASSERT_TRUE(e.ok);
  EXPECT_FALSE(e.body.contains("tool_choice"));
}

TEST(AnthropicEncode, HarmlessFieldsAreDropped) {
  json req = {{"messages", {user("Hi")}},
              {"logprobs", true},
              {"top_logprobs", 3},
              {"presence_penalty", 1},
              {"frequency_penalty", 1},
              {"seed", 1},
              {"logit_bias", {{"1", 2}}},
              {"service_tier", "flex"},
              {"store", true},
              {"stream_options", {{"include_usage", true}}},
              {"response_format", {{"type", "text"}}},
              {"modalities", {"text"}},
              {"n", 1}};
  Encode e = encode(req);
  ASSERT_TRUE(e.ok) << e.err.message;
  EXPECT_EQ(e.body.size(), 3u) << e.body.dump();  // model, max_tokens, messages
}

TEST(AnthropicEncode, ConsecutiveRolesMergeAndToolResultsComeFirst) {
  json req = {{"messages",
               {user("a"),
                user("b"),
                {{"role", "assistant"},
                 {"content", nullptr},
                 {"tool_calls",
                  {{{"id", "t1"},
                    {"type", "function"},
                    {"function", {{"name", "f"}, {"arguments", ""}}}}}}},
                user("between"),
                {{"role", "tool"}, {"tool_call_id", "t1"}, {"content", "r"}},
                {{"role", "assistant"}, {"content", ""}},  // says nothing: skipped
                user("c")}}};
  Encode e = encode(req);
  ASSERT_TRUE(e.ok) << e.err.message;
  const json want = json::parse(R"([
    {"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]},
    {"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"f","input":{}}]},
    {"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"r"},
                              {"type":"text","text":"between"},{"type":"text","text":"c"}]}
  ])");
  EXPECT_EQ(e.body["messages"], want);
}

TEST(AnthropicEncode, SystemForms) {
  json req = {{"messages", {{{"role", "system"}, {"content", "S"}}, user("Hi")}}};
  EXPECT_EQ(encode(req).body["system"], "S");
  req["messages"] = {{{"role", "developer"}, {"content", {{{"type", "text"}, {"text", "D"}}}}},
                     user("Hi"),
                     {{"role", "system"}, {"content", "late"}}};
  EXPECT_EQ(encode(req).body["system"], json::parse(R"([{"type":"text","text":"D"},
                                                        {"type":"text","text":"late"}])"));
  // A cache breakpoint needs the block form even for one block.
  req["messages"] = {
      {{"role", "system"},
       {"content",
        {{{"type", "text"}, {"text", "S"}, {"cache_control", {{"type", "ephemeral"}}}}}}},
      user("Hi")};
  EXPECT_EQ(encode(req).body["system"],
            json::parse(R"([{"type":"text","text":"S","cache_control":{"type":"ephemeral"}}])"));
}

TEST(AnthropicEncode, ConversationMayStartWithAssistant) {
  // Documented: nothing is invented; Anthropic decides whether it accepts this.
  Encode e =
      encode(json{{"messages", {{{"role", "assistant"}, {"content", "Hello"}}, user("Hi")}}});
  ASSERT_TRUE(e.ok);
  EXPECT_EQ(e.body["messages"][0]["role"], "assistant");
}

TEST(AnthropicEncode, ArgumentsAsObjectAndPdfDocument) {
  json req = {
      {"messages",
       {{{"role", "user"},
         {"content",
          {{{"type", "file"},
            {"file",
             {{"filename", "a.pdf"}, {"file_data", "data:application/pdf;base64,JVBERi0="}}}}}}},
        {{"role", "assistant"},
         {"tool_calls",
          {{{"id", "t"}, {"function", {{"name", "f"}, {"arguments", {{"x", 1}}}}}}}}}}}};
  Encode e = encode(req);
  ASSERT_TRUE(e.ok) << e.err.message;
  EXPECT_EQ(e.body["messages"][0]["content"][0],
            json::parse(R"({"type":"document","source":{"type":"base64",
                            "media_type":"application/pdf","data":"JVBERi0="}})"));
  EXPECT_EQ(e.body["messages"][1]["content"][0]["input"], (json{{"x", 1}}));
}

struct Refusal {
  std::string name;
  std::string body;
  std::string param;
};

TEST(AnthropicEncode, RefusalsNameTheirField) {
  const std::string hi = R"({"role":"user","content":"Hi"})";
  auto with = [&](const std::string& extra) {
    return R"({"messages":[)" + hi + "]," + extra + "}";
  };
  const std::vector<Refusal> cases = {
      {"not json", "{nope", ""},
      {"not an object", "[1,2]", ""},
      {"no messages", R"({"model":"x"})", "messages"},
      {"empty messages", R"({"messages":[]})", "messages"},
      {"messages not array", R"({"messages":"hi"})", "messages"},
      {"only system", R"({"messages":[{"role":"system","content":"S"}]})", "messages"},
      {"n", with(R"("n":2)"), "n"},
      {"n wrong type", with(R"("n":"2")"), "n"},
      {"json_object", with(R"("response_format":{"type":"json_object"})"), "response_format"},
      {"json_schema",
       with(R"("response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{}}})"),
       "response_format"},
      {"audio", with(R"("audio":{"voice":"alloy","format":"mp3"})"), "audio"},
      {"modalities", with(R"("modalities":["text","audio"])"), "modalities"},
      {"functions", with(R"("functions":[{"name":"f"}])"), "functions"},
      {"input_audio",
       R"({"messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"AAA","format":"wav"}}]}]})",
       "messages[0].content[0]"},
      {"bad arguments",
       R"({"messages":[)" + hi +
           R"(,{"role":"assistant","tool_calls":[{"id":"t","type":"function","function":{"name":"f","arguments":"{\"a\":"}}]}]})",
       "messages[1].tool_calls"},
      {"array arguments",
       R"({"messages":[)" + hi +
           R"(,{"role":"assistant","tool_calls":[{"id":"t","type":"function","function":{"name":"f","arguments":"[1]"}}]}]})",
       "messages[1].tool_calls"},
      {"tool without id", R"({"messages":[{"role":"tool","content":"r"}]})",
       "messages[0].tool_call_id"},
      {"unknown role", R"({"messages":[{"role":"function","name":"f","content":"r"}]})",
       "messages[0].role"},
      {"ftp image",
       R"({"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"ftp://x/y.png"}}]}]})",
       "messages[0].content[0]"},
      {"non-base64 data url",
       R"({"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png,abc"}}]}]})",
       "messages[0].content[0]"},
      {"image in system",
       R"({"messages":[{"role":"system","content":[{"type":"image_url","image_url":{"url":"https://x/y.png"}}]},)" +
           hi + "]}",
       "messages[0].content[0]"},
      {"file id",
       R"({"messages":[{"role":"user","content":[{"type":"file","file":{"file_id":"file-abc"}}]}]})",
       "messages[0].content[0]"},
      {"max_tokens zero", with(R"("max_tokens":0)"), "max_tokens"},
      {"max_completion_tokens string", with(R"("max_completion_tokens":"5")"),
       "max_completion_tokens"},
      {"temperature string", with(R"("temperature":"hot")"), "temperature"},
      {"stop number", with(R"("stop":5)"), "stop"},
      {"tool_choice unknown",
       with(R"("tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"maybe")"),
       "tool_choice"},
      {"tool without name", with(R"("tools":[{"type":"function","function":{}}])"), "tools[0]"},
      {"custom tool", with(R"("tools":[{"type":"custom","custom":{"name":"f"}}])"), "tools[0]"},
  };
  for (const Refusal& c : cases) {
    Encoded out;
    ClientError err;
    EXPECT_FALSE(encode_request(c.body, "m", out, err)) << c.name;
    EXPECT_EQ(err.status, 400) << c.name;
    EXPECT_EQ(err.type, "invalid_request_error") << c.name;
    EXPECT_EQ(err.param, c.param) << c.name << ": " << err.message;
    EXPECT_FALSE(err.message.empty()) << c.name;
    if (!c.param.empty()) {
      // The message names the field too, for clients that only show the message.
      const std::string root = c.param.substr(0, c.param.find('['));
      EXPECT_NE(err.message.find(root), std::string::npos) << c.name << ": " << err.message;
    }
    EXPECT_TRUE(out.body.empty()) << c.name;
  }
}

// Every value replaced, one at a time, by values of every other type.
void for_each_mutation(const json& doc, const std::function<void(const json&)>& fn) {
  static const std::vector<json> kAlternatives = {
      nullptr,          true, -1, "x", json::array(), json::object(), json::array({json::object()}),
      json{{"type", 7}}};
  std::function<void(json&, json&)> walk = [&](json& root, json& node) {
    json saved = node;
    for (const json& alt : kAlternatives) {
      node = alt;
      fn(root);
    }
    node = saved;
    if (node.is_object()) {
      for (auto& [k, v] : node.items()) walk(root, v);
    } else if (node.is_array()) {
      for (auto& v : node) walk(root, v);
    }
  };
  json copy = doc;
  walk(copy, copy);
}

TEST(AnthropicEncode, WrongTypesAnywhereNeverCrash) {
  int refused = 0;
  for_each_mutation(json::parse(read_fixture("request_openai.json")), [&](const json& req) {
    Encoded out;
    ClientError err;
    bool ok = true;
    EXPECT_NO_THROW(ok = encode_request(req.dump(), "m", out, err));
    if (ok) {
      EXPECT_TRUE(json::accept(out.body)) << req.dump();
    } else {
      ++refused;
      EXPECT_EQ(err.status, 400);
      EXPECT_FALSE(err.message.empty()) << req.dump();
    }
  });
  EXPECT_GT(refused, 0);
}

// --- decode_response -----------------------------------------------------------------------

TEST(AnthropicDecode, GoldenResponses) {
  for (const std::string name : {"response_text", "response_tool_use"}) {
    std::string out;
    std::string why;
    Usage usage;
    ASSERT_TRUE(decode_response(read_fixture(name + ".json"), kCtx, out, usage, why)) << why;
    EXPECT_EQ(json::parse(out), json::parse(read_fixture(name + ".openai.json"))) << name;
  }
}

TEST(AnthropicDecode, UsageIsNormalised) {
  std::string out;
  std::string why;
  Usage u;
  ASSERT_TRUE(decode_response(read_fixture("response_text.json"), kCtx, out, u, why));
  EXPECT_EQ(u.input_tokens, 12 + 1500 + 2048);
  EXPECT_EQ(u.cached_input_tokens, 2048);
  EXPECT_EQ(u.cache_write_tokens, 1500);
  EXPECT_EQ(u.output_tokens, 27);
}

json decode_json(const std::string& body) {
  std::string out;
  std::string why;
  Usage u;
  EXPECT_TRUE(decode_response(body, kCtx, out, u, why)) << why;
  return json::parse(out, nullptr, false);
}

TEST(AnthropicDecode, StopReasons) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"end_turn", "stop"},       {"stop_sequence", "stop"},     {"max_tokens", "length"},
      {"tool_use", "tool_calls"}, {"refusal", "content_filter"}, {"pause_turn", "stop"}};
  for (const auto& [anthropic, openai] : cases) {
    json r = {{"type", "message"}, {"content", json::array()}, {"stop_reason", anthropic}};
    EXPECT_EQ(decode_json(r.dump())["choices"][0]["finish_reason"], openai) << anthropic;
  }
}

TEST(AnthropicDecode, ThinkingIsReasoningAndNoTextIsNull) {
  json r = json::parse(R"({"id":"msg_1","type":"message","role":"assistant","content":[
      {"type":"thinking","thinking":"Let me think.","signature":"sig"},
      {"type":"redacted_thinking","data":"xyz"},
      {"type":"tool_use","id":"toolu_1","name":"f","input":{}}],
      "stop_reason":"tool_use","usage":{"input_tokens":1,"output_tokens":2}})");
  json out = decode_json(r.dump());
  const json& msg = out["choices"][0]["message"];
  EXPECT_TRUE(msg["content"].is_null());
  EXPECT_EQ(msg["reasoning_content"], "Let me think.");
  EXPECT_EQ(msg["tool_calls"][0]["function"]["arguments"], "{}");
  EXPECT_EQ(out["model"], "claude-deployment");  // ctx.model when the response names none
}

TEST(AnthropicDecode, TextBlocksAreConcatenated) {
  json r = json::parse(R"({"type":"message","content":[{"type":"text","text":"a"},
      {"type":"text","text":"b","citations":[]}],"stop_reason":"end_turn"})");
  EXPECT_EQ(decode_json(r.dump())["choices"][0]["message"]["content"], "ab");
}

TEST(AnthropicDecode, MalformedBodiesAreRejected) {
  for (const std::string body :
       {"", "not json", "[]", "42", R"({"type":"message"})", R"({"type":"message","content":{}})",
        R"({"type":"completion","content":[]})",
        R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})"}) {
    std::string out;
    std::string why;
    Usage u;
    EXPECT_FALSE(decode_response(body, kCtx, out, u, why)) << body;
    EXPECT_FALSE(why.empty()) << body;
  }
}

TEST(AnthropicDecode, WrongTypesAnywhereNeverCrash) {
  for (const std::string name : {"response_text", "response_tool_use"}) {
    for_each_mutation(json::parse(read_fixture(name + ".json")), [&](const json& r) {
      std::string out;
      std::string why;
      Usage u;
      bool ok = false;
      EXPECT_NO_THROW(ok = decode_response(r.dump(), kCtx, out, u, why));
      if (ok) {
        EXPECT_TRUE(json::accept(out)) << r.dump();
      } else {
        EXPECT_FALSE(why.empty());
      }
    });
  }
}

// --- StreamTranscoder ----------------------------------------------------------------------

// Feeds `text` through the SSE parser in pieces cut at `cuts` and transcodes every event.
std::vector<std::string> transcode(const std::string& text, std::vector<std::size_t> cuts = {},
                                   StreamTranscoder* keep = nullptr) {
  StreamTranscoder t(kCtx);
  sse::Parser p;
  sse::Event ev;
  std::vector<std::string> out;
  std::size_t at = 0;
  cuts.push_back(text.size());
  for (std::size_t cut : cuts) {
    p.feed(std::string_view(text).substr(at, cut - at));
    at = cut;
    while (p.next(ev) == sse::Parser::Status::event) t.on_event(ev.event, ev.data, out);
  }
  t.on_end(out);
  if (keep != nullptr) *keep = std::move(t);
  return out;
}

void expect_payloads(const std::vector<std::string>& got, const std::vector<std::string>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    if (want[i] == "[DONE]") {
      EXPECT_EQ(got[i], "[DONE]");
    } else {
      EXPECT_EQ(json::parse(got[i], nullptr, false), json::parse(want[i])) << "payload " << i;
    }
  }
}

TEST(AnthropicStream, GoldenStreams) {
  for (const std::string name : {"stream_text", "stream_tool_use", "stream_error"}) {
    SCOPED_TRACE(name);
    expect_payloads(transcode(read_fixture(name + ".sse")), read_lines(name + ".openai.txt"));
  }
}

TEST(AnthropicStream, UsageAndCompletion) {
  StreamTranscoder t(kCtx);
  transcode(read_fixture("stream_text.sse"), {}, &t);
  EXPECT_TRUE(t.complete());
  EXPECT_EQ(t.usage().input_tokens, 25 + 1024);
  EXPECT_EQ(t.usage().cached_input_tokens, 1024);
  EXPECT_EQ(t.usage().output_tokens, 15);

  StreamTranscoder e(kCtx);
  transcode(read_fixture("stream_error.sse"), {}, &e);
  EXPECT_FALSE(e.complete());
  std::vector<std::string> out;
  EXPECT_FALSE(e.on_end(out));
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(e.usage().input_tokens, 30);  // known from message_start even though the stream died
}

TEST(AnthropicStream, SplitAtEveryByteOffsetGivesTheSameOutput) {
  for (const std::string name : {"stream_text", "stream_tool_use"}) {
    for (bool crlf : {false, true}) {
      std::string text = read_fixture(name + ".sse");
      if (crlf) {
        std::string t;
        for (char c : text) {
          if (c == '\n') t += '\r';
          t += c;
        }
        text = t;
      }
      const auto whole = transcode(text);
      ASSERT_FALSE(whole.empty());
      // Each run cuts at four offsets a quarter of the text apart, so every offset is a cut in
      // some run at a quarter of the cost of one run per offset.
      const std::size_t step = text.size() / 4 + 1;
      for (std::size_t first = 1; first < step; ++first) {
        std::vector<std::size_t> cuts;
        for (std::size_t cut = first; cut < text.size(); cut += step) cuts.push_back(cut);
        ASSERT_EQ(transcode(text, cuts), whole)
            << name << " cuts from " << first << " crlf=" << crlf;
      }
    }
  }
}

TEST(AnthropicStream, EventNameMayBeMissing) {
  std::istringstream in(read_fixture("stream_tool_use.sse"));
  std::string without;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("event:", 0) != 0) without += line + "\n";
  }
  EXPECT_EQ(transcode(without), transcode(read_fixture("stream_tool_use.sse")));
}

TEST(AnthropicStream, TheEventNameIsUsedWhenDataHasNoType) {
  StreamTranscoder t(kCtx);
  std::vector<std::string> out;
  EXPECT_TRUE(t.on_event("message_stop", "{}", out));
  ASSERT_EQ(out.size(), 1u);  // no usage known: just [DONE]
  EXPECT_EQ(out[0], "[DONE]");
  EXPECT_TRUE(t.complete());
}

TEST(AnthropicStream, BeforeMessageStartTheContextIdentifiesChunks) {
  StreamTranscoder t(kCtx);
  std::vector<std::string> out;
  EXPECT_TRUE(t.on_event(
      "", R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x"}})",
      out));
  ASSERT_EQ(out.size(), 1u);
  json c = json::parse(out[0]);
  EXPECT_EQ(c["id"], "chatcmpl-fallback");
  EXPECT_EQ(c["model"], "claude-deployment");
  EXPECT_EQ(c["created"], kCreated);
}

TEST(AnthropicStream, OnlyTheFirstStopReasonFinishesAndNothingFollowsMessageStop) {
  StreamTranscoder t(kCtx);
  std::vector<std::string> out;
  t.on_event(
      "",
      R"({"type":"message_delta","delta":{"stop_reason":"max_tokens"},"usage":{"output_tokens":5}})",
      out);
  t.on_event(
      "",
      R"({"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"input_tokens":9,"output_tokens":6}})",
      out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(json::parse(out[0])["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(t.usage().input_tokens, 9);  // newer models repeat input counts in message_delta
  EXPECT_EQ(t.usage().output_tokens, 6);
  t.on_event("", R"({"type":"message_stop"})", out);
  const std::size_t n = out.size();
  t.on_event("", R"({"type":"message_stop"})", out);
  t.on_event("",
             R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x"}})",
             out);
  EXPECT_EQ(out.size(), n);
}

TEST(AnthropicStream, NonJsonAndUnknownEventsAreIgnored) {
  StreamTranscoder t(kCtx);
  std::vector<std::string> out;
  EXPECT_FALSE(t.on_event("message_start", "not json", out));
  EXPECT_FALSE(t.on_event("message_start", "[1]", out));
  EXPECT_FALSE(t.on_event("", "", out));
  EXPECT_TRUE(t.on_event("future_event", R"({"type":"future_event"})", out));
  EXPECT_TRUE(t.on_event("ping", R"({"type":"ping"})", out));
  EXPECT_TRUE(out.empty());
  EXPECT_FALSE(t.complete());
  EXPECT_FALSE(t.usage().known());
}

TEST(AnthropicStream, WrongTypesAnywhereNeverCrash) {
  std::vector<json> events;
  sse::Parser p;
  sse::Event ev;
  p.feed(read_fixture("stream_tool_use.sse"));
  while (p.next(ev) == sse::Parser::Status::event) events.push_back(json::parse(ev.data));
  for (std::size_t i = 0; i < events.size(); ++i) {
    for_each_mutation(events[i], [&](const json& mutated) {
      StreamTranscoder t(kCtx);
      std::vector<std::string> out;
      for (std::size_t k = 0; k < events.size(); ++k) {
        EXPECT_NO_THROW(t.on_event("", (k == i ? mutated : events[k]).dump(), out));
      }
      for (const std::string& payload : out) {
        EXPECT_TRUE(payload == "[DONE]" || json::accept(payload)) << payload;
      }
    });
  }
}

// --- map_error -----------------------------------------------------------------------------

TEST(AnthropicError, PromptTooLongIsContextLength) {
  MappedError m = map_error(400, read_fixture("error_400_prompt_too_long.json"));
  EXPECT_EQ(m.status, 400);
  EXPECT_TRUE(m.context_length);
  EXPECT_EQ(m.code, "context_length_exceeded");
  EXPECT_EQ(m.message, "prompt is too long: 210000 tokens > 200000 maximum");
  EXPECT_EQ(json::parse(m.openai_body), json::parse(R"({"error":{
      "message":"prompt is too long: 210000 tokens > 200000 maximum",
      "type":"invalid_request_error","param":null,"code":"context_length_exceeded"}})"));
}

TEST(AnthropicError, RateLimit) {
  MappedError m = map_error(429, read_fixture("error_429.json"));
  EXPECT_EQ(m.status, 429);
  EXPECT_FALSE(m.context_length);
  EXPECT_EQ(m.code, "rate_limit_exceeded");
  json b = json::parse(m.openai_body);
  EXPECT_EQ(b["error"]["type"], "rate_limit_error");
  EXPECT_EQ(b["error"]["code"], "rate_limit_exceeded");
  EXPECT_NE(b["error"]["message"].get<std::string>().find("50,000 input tokens"),
            std::string::npos);
}

TEST(AnthropicError, OverloadedKeeps529) {
  MappedError m = map_error(529, read_fixture("error_529.json"));
  EXPECT_EQ(m.status, 529);
  EXPECT_EQ(m.message, "Overloaded");
  EXPECT_EQ(json::parse(m.openai_body), json::parse(R"({"error":{"message":"Overloaded",
      "type":"overloaded_error","param":null,"code":"overloaded"}})"));
}

TEST(AnthropicError, OtherTypes) {
  MappedError m = map_error(
      404, R"({"type":"error","error":{"type":"not_found_error","message":"model: claude-9"}})");
  EXPECT_EQ(m.code, "model_not_found");
  m = map_error(
      401,
      R"({"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}})");
  EXPECT_EQ(m.code, "invalid_api_key");
  m = map_error(
      400,
      R"({"type":"error","error":{"type":"invalid_request_error","message":"messages: roles must alternate"}})");
  EXPECT_EQ(m.code, "");
  EXPECT_FALSE(m.context_length);
  EXPECT_TRUE(json::parse(m.openai_body)["error"]["code"].is_null());
}

TEST(AnthropicError, NonJsonOrOddBodiesGetAGenericMessage) {
  for (const std::string body : {"", "<html>Bad Gateway</html>", "[]", R"({"error":"boom"})",
                                 R"({"type":"error","error":{"type":1,"message":[]}})"}) {
    MappedError m;
    EXPECT_NO_THROW(m = map_error(502, body));
    EXPECT_EQ(m.status, 502) << body;
    EXPECT_EQ(m.message, "upstream returned HTTP 502") << body;
    json b = json::parse(m.openai_body, nullptr, false);
    EXPECT_EQ(b["error"]["message"], "upstream returned HTTP 502");
    EXPECT_EQ(b["error"]["type"], "api_error");
  }
  MappedError m = map_error(429, "slow down");
  EXPECT_EQ(m.code, "rate_limit_exceeded");  // the status still says what happened
}

}  // namespace
}  // namespace switchyard::adapters::anthropic
