#include "switchyard/adapters/messages_front.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#ifndef SWITCHYARD_FIXTURES
#error "SWITCHYARD_FIXTURES must name the tests/fixtures directory"
#endif

namespace switchyard::adapters::messages_front {
namespace {

using json = nlohmann::json;

std::string fixture(const std::string& name) {
  std::ifstream in(std::string(SWITCHYARD_FIXTURES) + "/messages_front/" + name, std::ios::binary);
  EXPECT_TRUE(in.good()) << "missing fixture " << name;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

json parse(const std::string& s) {
  json j = json::parse(s, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << s;
  return j;
}

struct Event {
  std::string name;
  json data;
};

/// Splits "event: X\ndata: {…}\n\n" records; fails the test on anything else.
std::vector<Event> parse_events(const std::string& text) {
  std::vector<Event> events;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t end = text.find("\n\n", pos);
    EXPECT_NE(end, std::string::npos) << "unterminated event at " << pos;
    if (end == std::string::npos) break;
    const std::string record = text.substr(pos, end - pos);
    pos = end + 2;
    const std::size_t nl = record.find('\n');
    EXPECT_EQ(record.rfind("event: ", 0), 0u) << record;
    EXPECT_NE(nl, std::string::npos) << record;
    if (nl == std::string::npos) continue;
    const std::string data_line = record.substr(nl + 1);
    EXPECT_EQ(data_line.rfind("data: ", 0), 0u) << record;
    EXPECT_EQ(data_line.find('\n'), std::string::npos) << "one data line per event: " << record;
    events.push_back({record.substr(7, nl - 7), parse(data_line.substr(6))});
  }
  return events;
}

/// Feeds every `data:` payload of an OpenAI SSE text to the writer ("[DONE]" → on_done).
std::string feed(EventWriter& w, const std::string& sse) {
  std::string out;
  std::istringstream in(sse);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("data: ", 0) != 0) continue;
    const std::string data = line.substr(6);
    if (data == "[DONE]") {
      w.on_done(out);
    } else {
      w.on_chunk(data, out);
    }
  }
  return out;
}

std::string chunk(const json& delta, const json& finish = nullptr) {
  return json({{"id", "chatcmpl-x"},
               {"object", "chat.completion.chunk"},
               {"model", "m"},
               {"choices", {{{"index", 0}, {"delta", delta}, {"finish_reason", finish}}}}})
      .dump();
}

/// The invariants the Anthropic SDK's MessageStream relies on: message_start first (once),
/// blocks opened with consecutive indices, deltas only to the open block, every block
/// closed, message_delta then message_stop at the end, data.type == event name.
void expect_well_formed(const std::vector<Event>& ev) {
  ASSERT_GE(ev.size(), 3u);
  EXPECT_EQ(ev.front().name, "message_start");
  EXPECT_EQ(ev[ev.size() - 2].name, "message_delta");
  EXPECT_EQ(ev.back().name, "message_stop");
  int open = -1;
  int next = 0;
  int starts = 0;
  for (std::size_t i = 0; i < ev.size(); ++i) {
    const Event& e = ev[i];
    EXPECT_EQ(e.data.value("type", ""), e.name) << i;
    if (e.name == "message_start") {
      ++starts;
      EXPECT_EQ(i, 0u);
    } else if (e.name == "content_block_start") {
      EXPECT_EQ(open, -1) << "block opened while another is open, event " << i;
      EXPECT_EQ(e.data["index"], next);
      open = next++;
    } else if (e.name == "content_block_delta") {
      EXPECT_EQ(e.data["index"], open) << i;
    } else if (e.name == "content_block_stop") {
      EXPECT_EQ(e.data["index"], open) << i;
      open = -1;
    } else if (e.name == "message_delta") {
      EXPECT_EQ(open, -1);
      EXPECT_TRUE(e.data["usage"]["output_tokens"].is_number_integer());
      EXPECT_TRUE(e.data["delta"]["stop_reason"].is_string());
      EXPECT_TRUE(e.data["delta"]["stop_sequence"].is_null());
    } else {
      EXPECT_TRUE(e.name == "ping" || e.name == "message_stop") << e.name;
    }
  }
  EXPECT_EQ(starts, 1);
}

// ---------------------------------------------------------------------------------------
// Goldens

class RequestGolden : public ::testing::TestWithParam<const char*> {};

TEST_P(RequestGolden, MatchesFixture) {
  const std::string name = GetParam();
  std::string out;
  ClientError err;
  ASSERT_TRUE(to_openai_request(fixture("req_" + name + ".json"), out, err)) << err.message;
  EXPECT_EQ(parse(out), parse(fixture("req_" + name + ".expected.json"))) << out;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, RequestGolden,
                         ::testing::Values("simple", "system_string", "system_blocks", "tool_turns",
                                           "images", "stream_options"));

class ResponseGolden : public ::testing::TestWithParam<const char*> {};

TEST_P(ResponseGolden, MatchesFixture) {
  const std::string name = GetParam();
  std::string out;
  std::string why;
  ASSERT_TRUE(to_anthropic_response(fixture("resp_" + name + ".json"), out, why)) << why;
  EXPECT_EQ(parse(out), parse(fixture("resp_" + name + ".expected.json"))) << out;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ResponseGolden, ::testing::Values("text", "tool_calls"));

class StreamGolden : public ::testing::TestWithParam<const char*> {};

TEST_P(StreamGolden, MatchesFixture) {
  const std::string name = GetParam();
  EventWriter w("", "");  // model and id taken from the first chunk
  const std::string out = feed(w, fixture("stream_" + name + ".sse"));
  const auto got = parse_events(out);
  const auto want = parse_events(fixture("stream_" + name + ".expected.sse"));
  ASSERT_EQ(got.size(), want.size()) << out;
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].name, want[i].name) << i;
    EXPECT_EQ(got[i].data, want[i].data) << i;
  }
  expect_well_formed(got);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, StreamGolden, ::testing::Values("text", "tool"));

// ---------------------------------------------------------------------------------------
// Requests

json translate(const json& body) {
  std::string out;
  ClientError err;
  EXPECT_TRUE(to_openai_request(body.dump(), out, err)) << err.message;
  return json::parse(out, nullptr, false);
}

json base_request() {
  return {{"model", "m"},
          {"max_tokens", 16},
          {"messages", {{{"role", "user"}, {"content", "hi"}}}},
          {"tools", {{{"name", "f"}, {"input_schema", {{"type", "object"}}}}}}};
}

TEST(MessagesFrontRequest, ToolChoiceVariants) {
  json body = base_request();
  body["tool_choice"] = {{"type", "auto"}};
  json out = translate(body);
  EXPECT_EQ(out["tool_choice"], "auto");
  EXPECT_FALSE(out.contains("parallel_tool_calls"));

  body["tool_choice"] = {{"type", "any"}, {"disable_parallel_tool_use", true}};
  out = translate(body);
  EXPECT_EQ(out["tool_choice"], "required");
  EXPECT_EQ(out["parallel_tool_calls"], false);

  body["tool_choice"] = {{"type", "auto"}, {"disable_parallel_tool_use", false}};
  EXPECT_FALSE(translate(body).contains("parallel_tool_calls"));

  body["tool_choice"] = {{"type", "none"}};
  EXPECT_EQ(translate(body)["tool_choice"], "none");

  body["tool_choice"] = {{"type", "tool"}, {"name", "f"}};
  EXPECT_EQ(translate(body)["tool_choice"],
            json({{"type", "function"}, {"function", {{"name", "f"}}}}));

  // No tools: OpenAI refuses tool_choice / parallel_tool_calls, so both are dropped.
  body.erase("tools");
  body["tool_choice"] = {{"type", "any"}, {"disable_parallel_tool_use", true}};
  out = translate(body);
  EXPECT_FALSE(out.contains("tool_choice"));
  EXPECT_FALSE(out.contains("parallel_tool_calls"));
  EXPECT_FALSE(out.contains("tools"));
}

TEST(MessagesFrontRequest, SmallShapes) {
  json body = {{"model", "m"}, {"max_tokens", 5.0}, {"messages", json::array()}};
  body["messages"].push_back({{"role", "user"}, {"content", "a"}});
  body["messages"].push_back({{"role", "assistant"}, {"content", json::array()}});
  body["system"] = "";
  body["stop_sequences"] = json::array();
  body["metadata"] = {{"user_id", nullptr}};
  body["stream"] = false;
  body["temperature"] = nullptr;
  const json out = translate(body);
  EXPECT_EQ(out["max_tokens"], 5);
  EXPECT_EQ(out["messages"].size(), 2u);  // empty system dropped
  EXPECT_EQ(out["messages"][1], json({{"role", "assistant"}, {"content", ""}}));
  for (const char* k : {"stop", "user", "stream", "stream_options", "temperature"}) {
    EXPECT_FALSE(out.contains(k)) << k;
  }
}

TEST(MessagesFrontRequest, DocumentsAndTextAfterToolUse) {
  json body = {{"model", "m"}, {"max_tokens", 5}};
  body["messages"] = json::parse(R"([
    {"role":"user","content":[
      {"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"JVBERi0="},"title":"a.pdf"},
      {"type":"document","source":{"type":"text","media_type":"text/plain","data":"plain words"}}]},
    {"role":"assistant","content":[{"type":"text","text":"one"},{"type":"text","text":"two"}]}
  ])");
  const json out = translate(body);
  EXPECT_EQ(
      out["messages"][0]["content"][0],
      json::parse(
          R"({"type":"file","file":{"file_data":"data:application/pdf;base64,JVBERi0=","filename":"a.pdf"}})"));
  EXPECT_EQ(out["messages"][0]["content"][1],
            json::parse(R"({"type":"text","text":"plain words"})"));
  EXPECT_EQ(out["messages"][1]["content"], "one\n\ntwo");
}

struct Refused {
  const char* body;
  const char* message;
};

class RequestRefusal : public ::testing::TestWithParam<Refused> {};

TEST_P(RequestRefusal, IsAnthropicInvalidRequest) {
  std::string out = "untouched";
  ClientError err;
  EXPECT_FALSE(to_openai_request(GetParam().body, out, err));
  EXPECT_EQ(out, "untouched");
  EXPECT_EQ(err.status, 400);
  EXPECT_EQ(err.type, "invalid_request_error");
  EXPECT_EQ(err.message, GetParam().message);
}

#define MSGS R"("messages":[{"role":"user","content":"hi"}])"
#define HEAD R"({"model":"m","max_tokens":8,)"

INSTANTIATE_TEST_SUITE_P(
    All, RequestRefusal,
    ::testing::Values(
        Refused{"", "There was an error parsing the body of your request: it is not valid JSON"},
        Refused{"{\"model\":",
                "There was an error parsing the body of your request: it is not valid JSON"},
        Refused{"[1,2]", "The request body must be a JSON object"},
        Refused{R"({"max_tokens":8,)" MSGS "}", "model: Field required"},
        Refused{R"({"model":7,"max_tokens":8,)" MSGS "}", "model: Input should be a valid string"},
        Refused{R"({"model":"","max_tokens":8,)" MSGS "}",
                "model: String should have at least 1 character"},
        Refused{R"({"model":"m",)" MSGS "}", "max_tokens: Field required"},
        Refused{R"({"model":"m","max_tokens":"8",)" MSGS "}",
                "max_tokens: Input should be a valid integer"},
        Refused{R"({"model":"m","max_tokens":null,)" MSGS "}",
                "max_tokens: Input should be a valid integer"},
        Refused{R"({"model":"m","max_tokens":true,)" MSGS "}",
                "max_tokens: Input should be a valid integer"},
        Refused{R"({"model":"m","max_tokens":1.5,)" MSGS "}",
                "max_tokens: Input should be a valid integer, got a number with a fractional part"},
        Refused{R"({"model":"m","max_tokens":0,)" MSGS "}",
                "max_tokens: Input should be greater than or equal to 1"},
        Refused{R"({"model":"m","max_tokens":-3,)" MSGS "}",
                "max_tokens: Input should be greater than or equal to 1"},
        Refused{HEAD R"("x":1})", "messages: Field required"},
        Refused{HEAD R"("messages":{}})", "messages: Input should be a valid list"},
        Refused{HEAD R"("messages":[]})", "messages: at least one message is required"},
        Refused{HEAD R"("messages":["hi"]})", "messages.0: Input should be a valid dictionary"},
        Refused{HEAD R"("messages":[{"content":"hi"}]})", "messages.0.role: Field required"},
        Refused{HEAD R"("messages":[{"role":"system","content":"hi"}]})",
                "messages.0.role: Input should be 'user' or 'assistant'"},
        Refused{HEAD R"("messages":[{"role":"user"}]})", "messages.0.content: Field required"},
        Refused{
            HEAD
            R"("messages":[{"role":"user","content":"a"},{"role":"user","content":{"type":"text"}}]})",
            "messages.1.content: Input should be a valid list"},
        Refused{HEAD R"("messages":[{"role":"user","content":[7]}]})",
                "messages.0.content.0: Input should be a valid dictionary"},
        Refused{HEAD R"("messages":[{"role":"user","content":[{"text":"a"}]}]})",
                "messages.0.content.0.type: Field required"},
        Refused{HEAD R"("messages":[{"role":"user","content":[{"type":"text"}]}]})",
                "messages.0.content.0.text: Field required"},
        Refused{HEAD R"("messages":[{"role":"user","content":[{"type":"text","text":1}]}]})",
                "messages.0.content.0.text: Input should be a valid string"},
        Refused{HEAD R"("messages":[{"role":"user","content":[{"type":"bogus"}]}]})",
                "messages.0.content.0.type: Input tag 'bogus' found using 'type' does not match "
                "any of the expected tags"},
        Refused{
            HEAD
            R"("messages":[{"role":"user","content":[{"type":"tool_use","id":"t","name":"n","input":{}}]}]})",
            "messages.0.content.0: 'tool_use' content blocks in user messages are not supported by "
            "this gateway"},
        Refused{
            HEAD
            R"("messages":[{"role":"assistant","content":[{"type":"tool_result","tool_use_id":"t"}]}]})",
            "messages.0.content.0: 'tool_result' content blocks in assistant messages are not "
            "supported by this gateway"},
        Refused{
            HEAD
            R"("messages":[{"role":"assistant","content":[{"type":"server_tool_use","id":"s","name":"web_search","input":{}}]}]})",
            "messages.0.content.0: 'server_tool_use' content blocks in assistant messages are not "
            "supported by this gateway"},
        Refused{HEAD R"("messages":[{"role":"user","content":[{"type":"image"}]}]})",
                "messages.0.content.0.source: Field required"},
        Refused{
            HEAD
            R"("messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","data":"x"}}]}]})",
            "messages.0.content.0.source.media_type: Field required"},
        Refused{
            HEAD
            R"("messages":[{"role":"user","content":[{"type":"image","source":{"type":"file","file_id":"f"}}]}]})",
            "messages.0.content.0.source.type: image source type 'file' is not supported by this "
            "gateway"},
        Refused{
            HEAD
            R"("messages":[{"role":"user","content":[{"type":"document","source":{"type":"url","url":"u"}}]}]})",
            "messages.0.content.0.source.type: document source type 'url' is not supported by this "
            "gateway"},
        Refused{HEAD R"("messages":[{"role":"user","content":[{"type":"tool_result"}]}]})",
                "messages.0.content.0.tool_use_id: Field required"},
        Refused{
            HEAD
            R"("messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":5}]}]})",
            "messages.0.content.0.content: Input should be a valid list"},
        Refused{
            HEAD
            R"("messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"tool_use"}]}]}]})",
            "messages.0.content.0.content.0: 'tool_use' blocks in tool_result content are not "
            "supported by this gateway"},
        Refused{
            HEAD
            R"("messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","is_error":"yes"}]}]})",
            "messages.0.content.0.is_error: Input should be a valid boolean"},
        Refused{
            HEAD
            R"("messages":[{"role":"assistant","content":[{"type":"tool_use","name":"n","input":{}}]}]})",
            "messages.0.content.0.id: Field required"},
        Refused{
            HEAD
            R"("messages":[{"role":"assistant","content":[{"type":"tool_use","id":"t","input":{}}]}]})",
            "messages.0.content.0.name: Field required"},
        Refused{
            HEAD
            R"("messages":[{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"n","input":"{}"}]}]})",
            "messages.0.content.0.input: Input should be a valid dictionary"},
        Refused{HEAD MSGS R"(,"system":5})", "system: Input should be a valid list"},
        Refused{HEAD MSGS R"(,"system":[{"type":"image"}]})",
                "system.0.type: Input should be 'text'"},
        Refused{HEAD MSGS R"(,"system":[{"type":"text"}]})", "system.0.text: Field required"},
        Refused{HEAD MSGS R"(,"tools":{}})", "tools: Input should be a valid list"},
        Refused{HEAD MSGS R"(,"tools":[{"input_schema":{}}]})", "tools.0.name: Field required"},
        Refused{HEAD MSGS R"(,"tools":[{"name":"f"}]})", "tools.0.input_schema: Field required"},
        Refused{HEAD MSGS R"(,"tools":[{"name":"f","input_schema":[]}]})",
                "tools.0.input_schema: Input should be a valid dictionary"},
        Refused{HEAD MSGS R"(,"tools":[{"name":"f","description":1,"input_schema":{}}]})",
                "tools.0.description: Input should be a valid string"},
        Refused{HEAD MSGS R"(,"tools":[{"type":"web_search_20250305","name":"web_search"}]})",
                "tools.0: tool type 'web_search_20250305' is not supported by this gateway"},
        Refused{HEAD MSGS R"(,"tool_choice":"auto"})",
                "tool_choice: Input should be a valid dictionary"},
        Refused{HEAD MSGS R"(,"tool_choice":{}})", "tool_choice.type: Field required"},
        Refused{HEAD MSGS R"(,"tool_choice":{"type":"sometimes"}})",
                "tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'"},
        Refused{HEAD MSGS R"(,"tool_choice":{"type":"tool"}})", "tool_choice.name: Field required"},
        Refused{HEAD MSGS R"(,"tool_choice":{"type":"auto","disable_parallel_tool_use":1}})",
                "tool_choice.disable_parallel_tool_use: Input should be a valid boolean"},
        Refused{HEAD MSGS R"(,"stop_sequences":"END"})",
                "stop_sequences: Input should be a valid list"},
        Refused{HEAD MSGS R"(,"stop_sequences":["a",2]})",
                "stop_sequences.1: Input should be a valid string"},
        Refused{HEAD MSGS R"(,"temperature":"hot"})",
                "temperature: Input should be a valid number"},
        Refused{HEAD MSGS R"(,"top_p":[1]})", "top_p: Input should be a valid number"},
        Refused{HEAD MSGS R"(,"metadata":"u"})", "metadata: Input should be a valid dictionary"},
        Refused{HEAD MSGS R"(,"metadata":{"user_id":5}})",
                "metadata.user_id: Input should be a valid string"},
        Refused{HEAD MSGS R"(,"stream":"yes"})", "stream: Input should be a valid boolean"}));

TEST(MessagesFrontRequest, NestingLimit) {
  auto schema = [](int depth) {
    std::string s = R"({"model":"m","max_tokens":1,"messages":[{"role":"user","content":"x"}],)"
                    R"("tools":[{"name":"f","input_schema":)";
    for (int i = 0; i < depth; ++i) s += R"({"a":)";
    s += "1";
    for (int i = 0; i < depth; ++i) s += "}";
    return s + "}]}";
  };
  std::string out;
  ClientError err;
  EXPECT_TRUE(to_openai_request(schema(100), out, err)) << err.message;
  EXPECT_FALSE(to_openai_request(schema(200), out, err));
  EXPECT_EQ(err.message, "The request body nests JSON deeper than 128 levels");
  // Brackets inside strings do not count.
  EXPECT_TRUE(
      to_openai_request(R"({"model":"m","max_tokens":1,"messages":[{"role":"user","content":")" +
                            std::string(1000, '[') + R"(\"{"}]})",
                        out, err))
      << err.message;
}

#undef MSGS
#undef HEAD

// ---------------------------------------------------------------------------------------
// Responses

json respond(const std::string& openai) {
  std::string out;
  std::string why;
  EXPECT_TRUE(to_anthropic_response(openai, out, why)) << why;
  return json::parse(out, nullptr, false);
}

TEST(MessagesFrontResponse, FinishReasons) {
  auto with = [](const char* finish, const char* extra) {
    return std::string(
               R"({"id":"chatcmpl-1","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"x")") +
           extra + R"(},"finish_reason":)" + finish + "}]}";
  };
  EXPECT_EQ(respond(with("\"stop\"", ""))["stop_reason"], "end_turn");
  EXPECT_EQ(respond(with("\"length\"", ""))["stop_reason"], "max_tokens");
  EXPECT_EQ(respond(with("\"content_filter\"", ""))["stop_reason"], "refusal");
  EXPECT_EQ(respond(with("null", ""))["stop_reason"], "end_turn");
  const char* call =
      R"(,"tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}])";
  EXPECT_EQ(respond(with("\"tool_calls\"", call))["stop_reason"], "tool_use");
  // Some servers say "stop" although they called a tool; the SDK's tool loop needs tool_use.
  EXPECT_EQ(respond(with("\"stop\"", call))["stop_reason"], "tool_use");
  EXPECT_EQ(respond(with("\"length\"", call))["stop_reason"], "max_tokens");
  const json legacy =
      respond(with("\"function_call\"", R"(,"function_call":{"name":"g","arguments":"[1]"})"));
  EXPECT_EQ(legacy["stop_reason"], "tool_use");
  EXPECT_EQ(legacy["content"][1]["name"], "g");
  EXPECT_EQ(legacy["content"][1]["input"], json::object());  // not an object → {}
}

TEST(MessagesFrontResponse, EmptyContentRefusalAndMissingUsage) {
  json r = respond(
      R"({"id":"x","model":"m","choices":[{"message":{"role":"assistant","content":null,"refusal":"I can't help with that."},"finish_reason":"stop"}]})");
  EXPECT_EQ(r["id"], "msg_x");
  EXPECT_EQ(r["content"], json::parse(R"([{"type":"text","text":"I can't help with that."}])"));
  EXPECT_EQ(
      r["usage"],
      json::parse(
          R"({"input_tokens":0,"output_tokens":0,"cache_read_input_tokens":0,"cache_creation_input_tokens":0})"));

  r = respond(
      R"({"id":"chatcmpl-y","model":"m","choices":[{"message":{"role":"assistant","content":""},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":0}})");
  EXPECT_EQ(r["content"], json::array());
  EXPECT_EQ(r["usage"]["input_tokens"], 3);
}

TEST(MessagesFrontResponse, RejectsNonCompletions) {
  for (const char* body : {"", "nope", "[]", "{}", R"({"choices":[]})", R"({"choices":[1]})",
                           R"({"choices":[{"message":"hi"}]})", R"({"choices":[{}]})"}) {
    std::string out = "untouched";
    std::string why;
    EXPECT_FALSE(to_anthropic_response(body, out, why)) << body;
    EXPECT_FALSE(why.empty()) << body;
    EXPECT_EQ(out, "untouched");
  }
}

// ---------------------------------------------------------------------------------------
// Streams

TEST(MessagesFrontStream, TextThenToolThenTextOpensNewBlocks) {
  EventWriter w("client-model", "chatcmpl-abc");
  std::string out;
  w.on_chunk(chunk({{"role", "assistant"}, {"content", ""}}), out);
  w.on_chunk(chunk({{"content", "Checking."}}), out);
  w.on_chunk(
      chunk({{"tool_calls",
              {{{"index", 0}, {"id", "c1"}, {"function", {{"name", "f"}, {"arguments", "{}"}}}}}}}),
      out);
  w.on_chunk(chunk({{"content", "Done."}}), out);
  w.on_chunk(chunk(json::object(), "stop"), out);
  w.on_done(out);
  const auto ev = parse_events(out);
  expect_well_formed(ev);
  std::vector<std::string> names;
  for (const auto& e : ev) names.push_back(e.name);
  EXPECT_EQ(names, (std::vector<std::string>{
                       "message_start", "ping", "content_block_start", "content_block_delta",
                       "content_block_stop", "content_block_start", "content_block_delta",
                       "content_block_stop", "content_block_start", "content_block_delta",
                       "content_block_stop", "message_delta", "message_stop"}));
  EXPECT_EQ(ev[0].data["message"]["model"], "client-model");
  EXPECT_EQ(ev[0].data["message"]["id"], "msg_abc");
  EXPECT_EQ(ev[5].data["content_block"]["type"], "tool_use");
  EXPECT_EQ(ev[8].data["content_block"]["type"], "text");
  EXPECT_EQ(ev[11].data["delta"]["stop_reason"], "tool_use");
  // No usage chunk arrived: output_tokens 0 and no input_tokens (message_start keeps 0).
  EXPECT_EQ(ev[11].data["usage"], json({{"output_tokens", 0}}));
}

TEST(MessagesFrontStream, ToolCallsWithoutIndexButDistinctIds) {
  // Gemini's OpenAI endpoint sends each complete call in its own chunk, all at index 0.
  EventWriter w("m", "id");
  std::string out;
  w.on_chunk(chunk({{"tool_calls",
                     {{{"index", 0},
                       {"id", "a"},
                       {"function", {{"name", "f"}, {"arguments", "{\"x\":1}"}}}}}}}),
             out);
  w.on_chunk(
      chunk({{"tool_calls",
              {{{"index", 0}, {"id", "b"}, {"function", {{"name", "g"}, {"arguments", "{}"}}}}}}}),
      out);
  w.on_chunk(chunk({{"tool_calls", {{{"id", "b"}, {"function", {{"arguments", ""}}}}}}}), out);
  w.on_chunk(chunk({{"tool_calls", {{{"function", {{"name", "h"}}}}}}}, "tool_calls"), out);
  w.on_done(out);
  const auto ev = parse_events(out);
  expect_well_formed(ev);
  std::vector<std::string> ids;
  for (const auto& e : ev) {
    if (e.name == "content_block_start") ids.push_back(e.data["content_block"]["id"]);
  }
  EXPECT_EQ(ids, (std::vector<std::string>{"a", "b"}));
}

TEST(MessagesFrontStream, DoneWithoutChunksStillWellFormed) {
  EventWriter w("m", "chatcmpl-z");
  std::string out;
  w.on_done(out);
  const auto ev = parse_events(out);
  expect_well_formed(ev);
  EXPECT_EQ(ev.size(), 4u);
  EXPECT_EQ(ev[2].data["delta"]["stop_reason"], "end_turn");
  std::string more;
  w.on_done(more);
  w.on_chunk(chunk({{"content", "late"}}), more);
  w.on_error("api_error", "late", more);
  EXPECT_EQ(more, "");
}

TEST(MessagesFrontStream, ErrorEventEndsTheStream) {
  EventWriter w("m", "i");
  std::string out;
  w.on_chunk(chunk({{"content", "par"}}), out);
  w.on_error("overloaded_error", "Overloaded", out);
  std::string after;
  w.on_chunk(chunk({{"content", "tial"}}), after);
  w.on_done(after);
  EXPECT_EQ(after, "");
  const auto ev = parse_events(out);
  ASSERT_FALSE(ev.empty());
  EXPECT_EQ(ev.back().name, "error");
  EXPECT_EQ(ev.back().data,
            json::parse(
                R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})"));

  EventWriter w2("m", "i");
  std::string out2;
  w2.on_chunk(R"({"error":{"message":"upstream exploded","type":"server_error"}})", out2);
  const auto ev2 = parse_events(out2);
  ASSERT_EQ(ev2.size(), 1u);
  EXPECT_EQ(ev2[0].data["error"]["message"], "upstream exploded");
  EXPECT_EQ(ev2[0].data["error"]["type"], "api_error");
}

TEST(MessagesFrontStream, LengthAndFilterAndMove) {
  EventWriter a("m", "i");
  std::string out;
  a.on_chunk(chunk({{"content", "x"}}, "length"), out);
  EventWriter b = std::move(a);
  b.on_done(out);
  auto ev = parse_events(out);
  expect_well_formed(ev);
  EXPECT_EQ(ev[ev.size() - 2].data["delta"]["stop_reason"], "max_tokens");

  EventWriter c("m", "i");
  out.clear();
  c.on_chunk(chunk({{"refusal", "No."}}, "content_filter"), out);
  c.on_chunk("not json", out);
  c.on_chunk(R"({"choices":[{"index":1,"delta":{"content":"other choice"}}]})", out);
  c.on_done(out);
  ev = parse_events(out);
  expect_well_formed(ev);
  EXPECT_EQ(ev[3].data["delta"]["text"], "No.");
  EXPECT_EQ(ev.size(), 7u);  // start, ping, block start/delta/stop, delta, stop
  EXPECT_EQ(ev[ev.size() - 2].data["delta"]["stop_reason"], "refusal");
}

// ---------------------------------------------------------------------------------------
// Errors

TEST(MessagesFrontError, StatusTypesAndMessages) {
  const std::pair<int, const char*> types[] = {{400, "invalid_request_error"},
                                               {401, "authentication_error"},
                                               {403, "permission_error"},
                                               {404, "not_found_error"},
                                               {413, "request_too_large"},
                                               {429, "rate_limit_error"},
                                               {500, "api_error"},
                                               {502, "api_error"},
                                               {503, "api_error"},
                                               {529, "overloaded_error"},
                                               {422, "invalid_request_error"}};
  for (const auto& [status, type] : types) {
    const json e = json::parse(
        error_body(status, R"({"error":{"message":"boom","type":"x","param":null,"code":null}})"));
    EXPECT_EQ(e, json({{"type", "error"}, {"error", {{"type", type}, {"message", "boom"}}}}))
        << status;
  }
  for (const char* body : {"", "<html>bad gateway</html>", "{}", R"({"error":{}})", "[1]"}) {
    const json e = json::parse(error_body(502, body));
    EXPECT_EQ(e["type"], "error");
    EXPECT_EQ(e["error"]["type"], "api_error");
    EXPECT_FALSE(e["error"]["message"].get<std::string>().empty()) << body;
  }
  EXPECT_EQ(json::parse(error_body(429, R"({"error":"slow down"})"))["error"]["message"],
            "slow down");
}

// ---------------------------------------------------------------------------------------
// Malformed input never crashes

TEST(MessagesFrontRobustness, TruncationsAndGarbage) {
  std::vector<std::string> inputs;
  for (const char* name : {"req_tool_turns.json", "req_stream_options.json", "req_images.json",
                           "resp_tool_calls.json", "resp_text.json"}) {
    const std::string s = fixture(name);
    const std::size_t step = s.size() / 120 + 1;
    for (std::size_t n = 0; n <= s.size(); n += step) inputs.push_back(s.substr(0, n));
  }
  inputs.push_back(std::string(200000, '[') + std::string(200000, ']'));
  inputs.push_back(
      "{\"model\":\"m\",\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":" +
      std::string(100000, '[') + "]}");
  inputs.push_back(std::string("{\"a\":\"\xff\xfe\"}"));
  inputs.push_back(R"({"model":"m","max_tokens":1e400,"messages":[]})");
  inputs.push_back(
      R"({"model":"m","max_tokens":18446744073709551615,"messages":[{"role":"user","content":"x"}]})");
  inputs.push_back(
      R"({"choices":[{"message":{"content":[{"type":"text","text":"a"},3],"tool_calls":[null,{"function":5},{"function":{"arguments":7}}]}}],"usage":{"prompt_tokens":"x","prompt_tokens_details":[]}})");
  inputs.push_back(
      R"({"choices":[{"delta":{"content":5,"tool_calls":[{"index":-4,"function":[]},{"index":99999999999999999999}]},"finish_reason":7}],"usage":[]})");
  inputs.push_back(R"({"choices":{"0":1},"usage":{"prompt_tokens":-5,"completion_tokens":1.5}})");

  for (const auto& in : inputs) {
    std::string out;
    ClientError err;
    std::string why;
    (void)to_openai_request(in, out, err);
    (void)to_anthropic_response(in, out, why);
    (void)error_body(500, in);
    EventWriter w("m", "i");
    std::string ev;
    w.on_chunk(in, ev);
    w.on_chunk(in, ev);
    w.on_done(ev);
    if (!ev.empty()) expect_well_formed(parse_events(ev));
  }
  SUCCEED();
}

}  // namespace
}  // namespace switchyard::adapters::messages_front
