#include "switchyard/adapters/gemini.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "switchyard/sse/sse_parser.hpp"

#ifndef SWITCHYARD_FIXTURES
#error "SWITCHYARD_FIXTURES must point at tests/fixtures"
#endif

namespace switchyard::adapters::gemini {
namespace {

using json = nlohmann::json;

std::string fixture(const std::string& name) {
  std::ifstream f(std::string(SWITCHYARD_FIXTURES) + "/gemini/" + name, std::ios::binary);
  EXPECT_TRUE(f.good()) << name;
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

json fixture_json(const std::string& name) {
  json j = json::parse(fixture(name), nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << name;
  return j;
}

DecodeContext ctx() {
  DecodeContext c;
  c.model = "gemini-2.0-flash";
  c.id = "chatcmpl-test";
  c.created = 1700000000;
  return c;
}

/// Tool call ids are hashes: check their shape and uniqueness, then replace them with
/// CALL_ID_<n> (n = the call's "index", or its position) so goldens can be compared.
void normalize_call_ids(json& j, std::set<std::string>& seen) {
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (it.key() == "tool_calls" && it->is_array()) {
        for (std::size_t k = 0; k < it->size(); ++k) {
          json& call = (*it)[k];
          ASSERT_TRUE(call["id"].is_string());
          const std::string id = call["id"];
          EXPECT_EQ(id.rfind("call_", 0), 0u) << id;
          EXPECT_TRUE(seen.insert(id).second) << "duplicate id " << id;
          std::size_t n = call.contains("index") ? call["index"].get<std::size_t>() : k;
          call["id"] = "CALL_ID_" + std::to_string(n);
        }
      } else {
        normalize_call_ids(*it, seen);
      }
    }
  } else if (j.is_array()) {
    for (auto& e : j) normalize_call_ids(e, seen);
  }
}

json normalized(json j) {
  std::set<std::string> seen;
  normalize_call_ids(j, seen);
  return j;
}

// ---------------------------------------------------------------------------------------
// encode_request

TEST(GeminiEncode, FullRequestGolden) {
  Encoded out;
  ClientError err;
  ASSERT_TRUE(encode_request(fixture("request_full.openai.json"), "gemini-2.5-flash", out, err))
      << err.param << ": " << err.message;
  EXPECT_EQ(out.path, "/models/gemini-2.5-flash:streamGenerateContent?alt=sse");
  EXPECT_TRUE(out.headers.empty());
  json body = json::parse(out.body);
  EXPECT_EQ(body, fixture_json("request_full.gemini.json")) << body.dump(2);
}

void collect_keys(const json& j, std::set<std::string>& keys) {
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) {
      keys.insert(it.key());
      collect_keys(*it, keys);
    }
  } else if (j.is_array()) {
    for (const auto& e : j) collect_keys(e, keys);
  }
}

TEST(GeminiEncode, DropsFieldsGeminiCannotUse) {
  Encoded out;
  ClientError err;
  ASSERT_TRUE(encode_request(fixture("request_full.openai.json"), "m", out, err));
  std::set<std::string> keys;
  collect_keys(json::parse(out.body), keys);
  for (const char* k : {"logprobs", "logit_bias", "user", "stream_options", "store", "service_tier",
                        "parallel_tool_calls", "additionalProperties", "$schema", "strict",
                        "stream", "model", "messages", "n", "detail"}) {
    EXPECT_EQ(keys.count(k), 0u) << k;
  }
}

TEST(GeminiEncode, PathsAndPercentEncoding) {
  Encoded out;
  ClientError err;
  const std::string body = R"({"messages":[{"role":"user","content":"hi"}]})";
  ASSERT_TRUE(encode_request(body, "gemini-2.0-flash", out, err));
  EXPECT_EQ(out.path, "/models/gemini-2.0-flash:generateContent");
  ASSERT_TRUE(encode_request(body, "gemini-x?tokens=3", out, err));
  EXPECT_EQ(out.path, "/models/gemini-x%3Ftokens%3D3:generateContent");
  ASSERT_TRUE(encode_request(body, "a/b c#d%e\xC3\xA9_~.-Z9", out, err));
  EXPECT_EQ(out.path, "/models/a%2Fb%20c%23d%25e%C3%A9_~.-Z9:generateContent");
  ASSERT_TRUE(encode_request(R"({"stream":false,"messages":[{"role":"user","content":"hi"}]})", "m",
                             out, err));
  EXPECT_EQ(out.path, "/models/m:generateContent");
  EXPECT_EQ(json::parse(out.body),
            json::parse(R"({"contents":[{"role":"user","parts":[{"text":"hi"}]}]})"));
}

json encode_ok(const std::string& body) {
  Encoded out;
  ClientError err;
  EXPECT_TRUE(encode_request(body, "m", out, err)) << err.param << ": " << err.message;
  return json::parse(out.body, nullptr, false);
}

TEST(GeminiEncode, ToolChoiceModes) {
  const std::string tools =
      R"("tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"a":{"type":"integer"}}}}}],)";
  const std::string msgs = R"("messages":[{"role":"user","content":"x"}])";
  auto cfg = [&](const std::string& choice) {
    json b = encode_ok("{" + tools + R"("tool_choice":)" + choice + "," + msgs + "}");
    return b["toolConfig"]["functionCallingConfig"];
  };
  EXPECT_EQ(cfg(R"("auto")"), json::parse(R"({"mode":"AUTO"})"));
  EXPECT_EQ(cfg(R"("none")"), json::parse(R"({"mode":"NONE"})"));
  EXPECT_EQ(cfg(R"("required")"), json::parse(R"({"mode":"ANY"})"));
  EXPECT_EQ(cfg(R"({"type":"function","function":{"name":"f"}})"),
            json::parse(R"({"mode":"ANY","allowedFunctionNames":["f"]})"));
  json b = encode_ok("{" + tools + msgs + "}");
  EXPECT_FALSE(b.contains("toolConfig"));
  EXPECT_EQ(b["tools"][0]["functionDeclarations"][0]["parameters"],
            json::parse(R"({"type":"object","properties":{"a":{"type":"integer"}}})"));
}

TEST(GeminiEncode, GenerationConfigVariants) {
  json b = encode_ok(
      R"({"messages":[{"role":"user","content":"x"}],"max_tokens":10,"max_completion_tokens":20,
          "stop":"END","n":3,"response_format":{"type":"json_object"}})");
  EXPECT_EQ(b["generationConfig"],
            json::parse(R"({"maxOutputTokens":20,"stopSequences":["END"],"candidateCount":3,
                            "responseMimeType":"application/json"})"));
  b = encode_ok(R"({"messages":[{"role":"user","content":"x"}],"response_format":{
      "type":"json_schema","json_schema":{"name":"r","strict":true,"schema":{
        "$schema":"x","type":"object","additionalProperties":false,
        "properties":{"tags":{"type":"array","items":{"type":"string","format":"uri"}},
                      "n":{"type":"number","format":"double","exclusiveMinimum":0}},
        "required":["tags"]}}}})");
  EXPECT_EQ(b["generationConfig"], json::parse(R"({"responseMimeType":"application/json",
      "responseSchema":{"type":"object","properties":{"tags":{"type":"array","items":{"type":"string"}},
      "n":{"type":"number","format":"double"}},"required":["tags"]}})"));
  b = encode_ok(
      R"({"messages":[{"role":"user","content":"x"}],"response_format":{"type":"text"}})");
  EXPECT_FALSE(b.contains("generationConfig"));
}

TEST(GeminiEncode, MessageShapes) {
  // Consecutive same-role merged, empty messages skipped, assistant without text,
  // tool result as array of text parts, JSON non-object result wrapped.
  json b = encode_ok(R"({"messages":[
      {"role":"user","content":"a"},{"role":"user","content":""},{"role":"user","content":[]},
      {"role":"user","content":[{"type":"text","text":"b"}]},
      {"role":"assistant","content":null,"tool_calls":[{"id":"x","type":"function",
        "function":{"name":"f","arguments":""}}]},
      {"role":"tool","tool_call_id":"x","content":[{"type":"text","text":"[1,2]"}]},
      {"role":"user","content":"c"}]})");
  EXPECT_EQ(b["contents"], json::parse(R"([
      {"role":"user","parts":[{"text":"a"},{"text":"b"}]},
      {"role":"model","parts":[{"functionCall":{"name":"f","args":{}},
                                "thoughtSignature":"skip_thought_signature_validator"}]},
      {"role":"user","parts":[{"functionResponse":{"name":"f","response":{"content":"[1,2]"}}},
                              {"text":"c"}]}])"));
  // Image URL without a known extension defaults to image/jpeg.
  b = encode_ok(R"({"messages":[{"role":"user","content":[
      {"type":"image_url","image_url":{"url":"https://x.test/img?id=3"}},
      {"type":"image_url","image_url":{"url":"gs://bucket/doc.PDF"}}]}]})");
  EXPECT_EQ(b["contents"][0]["parts"], json::parse(R"([
      {"fileData":{"mimeType":"image/jpeg","fileUri":"https://x.test/img?id=3"}},
      {"fileData":{"mimeType":"application/pdf","fileUri":"gs://bucket/doc.PDF"}}])"));
}

void expect_refused(const std::string& body, const std::string& param) {
  Encoded out;
  ClientError err;
  EXPECT_FALSE(encode_request(body, "m", out, err)) << body;
  EXPECT_EQ(err.status, 400) << body;
  EXPECT_EQ(err.type, "invalid_request_error") << body;
  EXPECT_EQ(err.param, param) << body << " → " << err.message;
  EXPECT_FALSE(err.message.empty());
}

TEST(GeminiEncode, RefusalsNameTheirField) {
  expect_refused(
      R"({"messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"AAA","format":"wav"}}]}]})",
      "messages[0].content[0]");
  expect_refused(R"({"modalities":["text","audio"],"messages":[{"role":"user","content":"x"}]})",
                 "modalities");
  expect_refused(R"({"audio":{"voice":"alloy"},"messages":[{"role":"user","content":"x"}]})",
                 "audio");
  expect_refused(R"({"messages":[{"role":"user","content":"x"},{"role":"assistant","tool_calls":[
      {"id":"a","type":"function","function":{"name":"f","arguments":"{not json"}}]}]})",
                 "messages[1].tool_calls[0].function.arguments");
  expect_refused(R"({"messages":[{"role":"assistant","tool_calls":[
      {"id":"a","type":"function","function":{"name":"f","arguments":"[1]"}}]}]})",
                 "messages[0].tool_calls[0].function.arguments");
  expect_refused(R"({"messages":[{"role":"tool","tool_call_id":"nope","content":"x"}]})",
                 "messages[0].tool_call_id");
  expect_refused(R"({"messages":[{"role":"user","content":"x"}],"temperature":"hot"})",
                 "temperature");
  expect_refused(R"({"messages":[{"role":"user","content":"x"}],"max_tokens":-1})", "max_tokens");
  expect_refused(R"({"messages":[{"role":"user","content":"x"}],"seed":99999999999})", "seed");
  expect_refused(R"({"messages":[{"role":"user","content":"x"}],"stop":[1]})", "stop");
  expect_refused(R"({"messages":[{"role":"user","content":"x"}],"stream":"yes"})", "stream");
  expect_refused(R"({"messages":[]})", "messages");
  expect_refused(R"({"messages":[{"role":"system","content":"only system"}]})", "messages");
  expect_refused(R"({"model":"x"})", "messages");
  expect_refused(R"({"messages":[{"role":"wizard","content":"x"}]})", "messages[0].role");
  expect_refused(
      R"({"messages":[{"role":"user","content":[{"type":"file","file":{"file_id":"f"}}]}]})",
      "messages[0].content[0].file");
  expect_refused(
      R"({"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png,abc"}}]}]})",
      "messages[0].content[0].image_url");
  expect_refused(
      R"({"messages":[{"role":"system","content":[{"type":"image_url","image_url":{"url":"https://x/y.png"}}]},{"role":"user","content":"x"}]})",
      "messages[0].content[0].type");
  expect_refused(
      R"({"messages":[{"role":"user","content":"x"}],"tools":[{"type":"custom","custom":{"name":"g"}}]})",
      "tools[0].type");
  expect_refused(
      R"({"messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"sometimes"})",
      "tool_choice");
  expect_refused(
      R"({"messages":[{"role":"user","content":"x"}],"response_format":{"type":"yaml"}})",
      "response_format.type");
  expect_refused(R"({"messages":[{"role":"user","content":"x"}],"functions":[{"name":"f"}]})",
                 "functions");
  expect_refused("[1,2]", "");
  expect_refused("not json", "");
}

// ---------------------------------------------------------------------------------------
// decode_response

TEST(GeminiDecode, TextResponseGolden) {
  std::string out, why;
  Usage u;
  ClientError blocked;
  ASSERT_TRUE(decode_response(fixture("response_text.json"), ctx(), out, u, blocked, why)) << why;
  EXPECT_EQ(json::parse(out), fixture_json("response_text.openai.json")) << out;
  EXPECT_EQ(u.input_tokens, 1200);
  EXPECT_EQ(u.output_tokens, 28);
  EXPECT_EQ(u.cached_input_tokens, 1024);
  EXPECT_EQ(u.cache_write_tokens, 0);
}

TEST(GeminiDecode, FunctionCallGolden) {
  std::string out, out2, why;
  Usage u;
  ClientError blocked;
  ASSERT_TRUE(decode_response(fixture("response_function_call.json"), ctx(), out, u, blocked, why));
  ASSERT_TRUE(
      decode_response(fixture("response_function_call.json"), ctx(), out2, u, blocked, why));
  EXPECT_EQ(out, out2);  // deterministic ids
  EXPECT_EQ(normalized(json::parse(out)), fixture_json("response_function_call.openai.json"))
      << out;
  EXPECT_EQ(u.input_tokens, 95);
  EXPECT_EQ(u.output_tokens, 30);
}

TEST(GeminiDecode, SafetyStoppedCandidate) {
  std::string out, why;
  Usage u;
  ClientError blocked;
  ASSERT_TRUE(decode_response(fixture("safety_candidate.json"), ctx(), out, u, blocked, why));
  EXPECT_EQ(json::parse(out), fixture_json("safety_candidate.openai.json")) << out;
}

TEST(GeminiDecode, BlockedPrompt) {
  std::string out, why;
  Usage u;
  ClientError blocked;
  EXPECT_FALSE(decode_response(fixture("blocked_prompt.json"), ctx(), out, u, blocked, why));
  EXPECT_EQ(blocked.status, 400);
  EXPECT_EQ(blocked.type, "invalid_request_error");
  EXPECT_EQ(blocked.code, "content_filter");
  EXPECT_NE(blocked.message.find("SAFETY"), std::string::npos) << blocked.message;
  EXPECT_TRUE(why.empty());
  EXPECT_EQ(u.input_tokens, 12);
}

TEST(GeminiDecode, FinishReasonsAndIndexes) {
  const std::string body = R"({"candidates":[
      {"index":1,"content":{"parts":[{"text":"b"}]},"finishReason":"MAX_TOKENS"},
      {"index":0,"content":{"parts":[{"text":"a"}]},"finishReason":"RECITATION"},
      {"content":{"parts":[{"text":"c"}]},"finishReason":"MALFORMED_FUNCTION_CALL"},
      {"content":{"parts":[{"text":"d"}]},"finishReason":"PROHIBITED_CONTENT"}]})";
  std::string out, why;
  Usage u;
  ClientError blocked;
  ASSERT_TRUE(decode_response(body, ctx(), out, u, blocked, why));
  json j = json::parse(out);
  EXPECT_EQ(j["id"], "chatcmpl-test");
  EXPECT_EQ(j["model"], "gemini-2.0-flash");
  EXPECT_FALSE(j.contains("usage"));
  EXPECT_FALSE(u.known());
  ASSERT_EQ(j["choices"].size(), 4u);
  EXPECT_EQ(j["choices"][0]["index"], 1);
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(j["choices"][1]["index"], 0);
  EXPECT_EQ(j["choices"][1]["finish_reason"], "content_filter");
  EXPECT_EQ(j["choices"][2]["index"], 2);
  EXPECT_EQ(j["choices"][2]["finish_reason"], "stop");
  EXPECT_EQ(j["choices"][3]["finish_reason"], "content_filter");
}

TEST(GeminiDecode, NotAResponse) {
  std::string out, why;
  Usage u;
  ClientError blocked;
  for (const char* body : {"", "null", "[]", "{}", R"({"candidates":[]})", R"({"candidates":{}})",
                           R"({"candidates":[1,2]})", "<html>", R"({"error":{"code":500}})"}) {
    why.clear();
    EXPECT_FALSE(decode_response(body, ctx(), out, u, blocked, why)) << body;
    EXPECT_FALSE(why.empty()) << body;
    EXPECT_TRUE(blocked.message.empty()) << body;
  }
}

// ---------------------------------------------------------------------------------------
// StreamTranscoder

/// Feeds `sse` through an sse::Parser in pieces cut at `cuts`, then ends the stream.
std::vector<std::string> transcode(const std::string& sse, const std::vector<std::size_t>& cuts,
                                   bool* complete = nullptr, Usage* usage = nullptr) {
  StreamTranscoder t(ctx());
  sse::Parser p;
  sse::Event ev;
  std::vector<std::string> out;
  std::size_t prev = 0;
  auto drain = [&] {
    while (p.next(ev) == sse::Parser::Status::event) {
      EXPECT_TRUE(t.on_event(ev.event, ev.data, out)) << ev.data;
    }
  };
  for (std::size_t c : cuts) {
    p.feed(std::string_view(sse).substr(prev, c - prev));
    drain();
    prev = c;
  }
  p.feed(std::string_view(sse).substr(prev));
  drain();
  bool done = t.on_end(out);
  if (complete) *complete = done;
  if (usage) *usage = t.usage();
  return out;
}

json payloads_json(const std::vector<std::string>& payloads) {
  json arr = json::array();
  for (const auto& p : payloads) {
    if (p == "[DONE]") {
      arr.push_back(p);
    } else {
      json j = json::parse(p, nullptr, false);
      EXPECT_FALSE(j.is_discarded()) << p;
      arr.push_back(j);
    }
  }
  return arr;
}

TEST(GeminiStream, TextStreamGolden) {
  bool complete = false;
  Usage u;
  auto out = transcode(fixture("stream_text.sse"), {}, &complete, &u);
  EXPECT_TRUE(complete);
  EXPECT_EQ(payloads_json(out), fixture_json("stream_text.expected.json"))
      << payloads_json(out).dump(1);
  EXPECT_EQ(u.input_tokens, 10);
  EXPECT_EQ(u.output_tokens, 10);
}

TEST(GeminiStream, FunctionCallStreamGolden) {
  bool complete = false;
  auto out = transcode(fixture("stream_function_call.sse"), {}, &complete);
  EXPECT_TRUE(complete);
  EXPECT_EQ(normalized(payloads_json(out)), fixture_json("stream_function_call.expected.json"))
      << payloads_json(out).dump(1);
}

TEST(GeminiStream, SplitAtEveryByteOffsetGivesIdenticalOutput) {
  for (const char* name : {"stream_text.sse", "stream_function_call.sse"}) {
    const std::string sse = fixture(name);
    const auto whole = transcode(sse, {});
    for (std::size_t k = 0; k <= sse.size(); ++k) {
      ASSERT_EQ(transcode(sse, {k}), whole) << name << " split at " << k;
    }
    std::vector<std::size_t> every;
    for (std::size_t k = 1; k < sse.size(); ++k) every.push_back(k);
    EXPECT_EQ(transcode(sse, every), whole) << name << " byte by byte";
  }
}

TEST(GeminiStream, ErrorObjectInStream) {
  StreamTranscoder t(ctx());
  std::vector<std::string> out;
  ASSERT_TRUE(t.on_event("", R"({"candidates":[{"content":{"parts":[{"text":"Hi"}]}}]})", out));
  ASSERT_TRUE(t.on_event(
      "", R"({"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}})",
      out));
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(json::parse(out[1]),
            json::parse(R"({"error":{"message":"The model is overloaded.","type":"server_error",
                                     "code":"unavailable"}})"));
  EXPECT_FALSE(t.on_end(out));
  EXPECT_EQ(out.size(), 2u);  // no [DONE] without a finishReason
  EXPECT_FALSE(t.complete());
}

TEST(GeminiStream, BlockedPromptInStream) {
  StreamTranscoder t(ctx());
  std::vector<std::string> out;
  ASSERT_TRUE(t.on_event("", fixture("blocked_prompt.json"), out));
  ASSERT_EQ(out.size(), 1u);
  json e = json::parse(out[0]);
  EXPECT_EQ(e["error"]["code"], "content_filter");
  EXPECT_EQ(e["error"]["type"], "invalid_request_error");
  EXPECT_NE(e["error"]["message"].get<std::string>().find("SAFETY"), std::string::npos);
  EXPECT_FALSE(t.on_end(out));
  EXPECT_EQ(t.usage().input_tokens, 12);
}

TEST(GeminiStream, SafetyFinishWithoutContentStillSendsRole) {
  StreamTranscoder t(ctx());
  std::vector<std::string> out;
  ASSERT_TRUE(t.on_event("", fixture("safety_candidate.json"), out));
  ASSERT_EQ(out.size(), 1u);
  json c = json::parse(out[0]);
  EXPECT_EQ(c["choices"][0]["delta"], json::parse(R"({"role":"assistant"})"));
  EXPECT_EQ(c["choices"][0]["finish_reason"], "content_filter");
  EXPECT_TRUE(t.on_end(out));
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out.back(), "[DONE]");
  EXPECT_TRUE(t.on_end(out));
  EXPECT_EQ(out.size(), 3u);  // on_end emits once
}

TEST(GeminiStream, NotJson) {
  StreamTranscoder t(ctx());
  std::vector<std::string> out;
  EXPECT_FALSE(t.on_event("", "not json", out));
  EXPECT_FALSE(t.on_event("", "[DONE]", out));
  EXPECT_FALSE(t.on_event("", "", out));
  EXPECT_TRUE(out.empty());
  StreamTranscoder moved = std::move(t);
  EXPECT_FALSE(moved.complete());
}

// ---------------------------------------------------------------------------------------
// map_error

TEST(GeminiError, MapsStatuses) {
  struct Case {
    const char* file;
    int status;
    int want_status;
    const char* type;
    const char* code;
    bool ctx_len;
  };
  const Case cases[] = {
      {"error_400_invalid_argument.json", 400, 400, "invalid_request_error", nullptr, false},
      {"error_400_context_length.json", 400, 400, "invalid_request_error",
       "context_length_exceeded", true},
      {"error_400_api_key.json", 400, 401, "authentication_error", "invalid_api_key", false},
      {"error_429_resource_exhausted.json", 429, 429, "rate_limit_exceeded", "rate_limit_exceeded",
       false},
      {"error_503_unavailable.json", 503, 503, "server_error", "unavailable", false},
  };
  for (const auto& c : cases) {
    MappedError m = map_error(c.status, fixture(c.file));
    json src = fixture_json(c.file);
    EXPECT_EQ(m.status, c.want_status) << c.file;
    EXPECT_EQ(m.message, src["error"]["message"]) << c.file;
    EXPECT_EQ(m.code, c.code ? c.code : "") << c.file;
    EXPECT_EQ(m.context_length, c.ctx_len) << c.file;
    json want = {{"error",
                  {{"message", src["error"]["message"]},
                   {"type", c.type},
                   {"param", nullptr},
                   {"code", c.code ? json(c.code) : json(nullptr)}}}};
    EXPECT_EQ(json::parse(m.openai_body), want) << c.file << ": " << m.openai_body;
  }
}

TEST(GeminiError, OtherStatusesAndBodies) {
  MappedError m = map_error(502, "<html>Bad Gateway</html>");
  EXPECT_EQ(m.status, 502);
  EXPECT_EQ(m.message, "upstream returned HTTP 502");
  EXPECT_EQ(json::parse(m.openai_body)["error"]["type"], "server_error");
  m = map_error(403, R"({"error":{"code":403,"message":"denied","status":"PERMISSION_DENIED"}})");
  EXPECT_EQ(json::parse(m.openai_body)["error"]["type"], "permission_error");
  m = map_error(401, "");
  EXPECT_EQ(m.status, 401);
  EXPECT_EQ(json::parse(m.openai_body)["error"]["type"], "authentication_error");
  m = map_error(
      404, R"([{"error":{"code":404,"message":"models/x is not found","status":"NOT_FOUND"}}])");
  EXPECT_EQ(m.message, "models/x is not found");
  EXPECT_EQ(m.code, "not_found");
  m = map_error(429, R"({"error":"oops"})");
  EXPECT_EQ(m.status, 429);
  EXPECT_EQ(m.code, "rate_limit_exceeded");
  EXPECT_EQ(m.message, "upstream returned HTTP 429");
}

// ---------------------------------------------------------------------------------------
// Embeddings

TEST(GeminiEmbeddings, EncodeSingleAndBatch) {
  Encoded out;
  ClientError err;
  ASSERT_TRUE(encode_embeddings(R"({"model":"x","input":"hello","dimensions":256,"user":"u"})",
                                "text-embedding-004", out, err));
  EXPECT_EQ(out.path, "/models/text-embedding-004:embedContent");
  EXPECT_EQ(json::parse(out.body), json::parse(R"({"model":"models/text-embedding-004",
      "content":{"parts":[{"text":"hello"}]},"outputDimensionality":256})"));
  ASSERT_TRUE(
      encode_embeddings(R"({"input":["a","b"],"encoding_format":"float"})", "e?1", out, err));
  EXPECT_EQ(out.path, "/models/e%3F1:batchEmbedContents");
  EXPECT_EQ(json::parse(out.body), json::parse(R"({"requests":[
      {"model":"models/e?1","content":{"parts":[{"text":"a"}]}},
      {"model":"models/e?1","content":{"parts":[{"text":"b"}]}}]})"));
  EXPECT_TRUE(out.headers.empty());
}

TEST(GeminiEmbeddings, Refusals) {
  for (const char* body : {R"({"input":[1,2,3]})", R"({"input":[[1,2],[3]]})", R"({"input":""})",
                           R"({"input":[]})", R"({"input":["a",""]})", R"({"input":["a",1]})",
                           R"({})", R"({"input":null})", R"({"input":{"a":1}})"}) {
    Encoded out;
    ClientError err;
    EXPECT_FALSE(encode_embeddings(body, "m", out, err)) << body;
    EXPECT_EQ(err.param, "input") << body;
    EXPECT_EQ(err.status, 400);
  }
  Encoded out;
  ClientError err;
  EXPECT_FALSE(encode_embeddings(R"({"input":"a","dimensions":"big"})", "m", out, err));
  EXPECT_EQ(err.param, "dimensions");
}

TEST(GeminiEmbeddings, Decode) {
  std::string out, why;
  Usage u;
  ASSERT_TRUE(decode_embeddings(fixture("embed_content.json"), "text-embedding-004", out, u, why));
  EXPECT_EQ(json::parse(out), json::parse(R"({"object":"list","data":[{"object":"embedding",
      "index":0,"embedding":[0.013168523,-0.008711934,-0.046782676,0.00069968984]}],
      "model":"text-embedding-004","usage":{"prompt_tokens":0,"total_tokens":0}})"));
  EXPECT_FALSE(u.known());
  ASSERT_TRUE(decode_embeddings(fixture("batch_embed_contents.json"), "e", out, u, why));
  json j = json::parse(out);
  ASSERT_EQ(j["data"].size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(j["data"][i]["index"], i);
  EXPECT_EQ(j["data"][2]["embedding"], json::parse("[0.5,0.25,-1]"));
  EXPECT_EQ(j["data"][0]["embedding"],
            fixture_json("batch_embed_contents.json")["embeddings"][0]["values"]);
  for (const char* bad :
       {"", "{}", "[]", R"({"embedding":{}})", R"({"embedding":{"values":["x"]}})",
        R"({"embeddings":[{"values":[1]},7]})", R"({"embeddings":{}})"}) {
    why.clear();
    EXPECT_FALSE(decode_embeddings(bad, "e", out, u, why)) << bad;
    EXPECT_FALSE(why.empty());
  }
}

// ---------------------------------------------------------------------------------------
// Robustness: nothing malformed may crash (ASan/UBSan build) or throw.

void exercise(const std::string& s) {
  Encoded enc;
  ClientError err;
  std::string out, why;
  Usage u;
  (void)encode_request(s, "m", enc, err);
  (void)encode_embeddings(s, "m", enc, err);
  (void)decode_response(s, ctx(), out, u, err, why);
  (void)decode_embeddings(s, "m", out, u, why);
  (void)map_error(400, s);
  (void)map_error(0, s);
  StreamTranscoder t(ctx());
  std::vector<std::string> payloads;
  (void)t.on_event("", s, payloads);
  (void)t.on_end(payloads);
}

TEST(GeminiRobustness, WrongTypesEverywhere) {
  const char* const bodies[] = {
      "",
      "{",
      "null",
      "true",
      "1",
      "\"s\"",
      "[]",
      "{}",
      "[{}]",
      R"({"messages":null})",
      R"({"messages":{}})",
      R"({"messages":[null,1,"x",[]]})",
      R"({"messages":[{"role":1}]})",
      R"({"messages":[{"role":"user","content":5}]})",
      R"({"messages":[{"role":"user","content":[null,1,{"type":3},{"type":"text","text":[]}]}]})",
      R"({"messages":[{"role":"user","content":[{"type":"image_url","image_url":7}]}]})",
      R"({"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:"}}]}]})",
      R"({"messages":[{"role":"assistant","tool_calls":{}}]})",
      R"({"messages":[{"role":"assistant","tool_calls":[null,{"function":7},{"function":{"name":1}}]}]})",
      R"({"messages":[{"role":"assistant","tool_calls":[{"id":3,"function":{"name":"f","arguments":7}}]}]})",
      R"({"messages":[{"role":"tool","tool_call_id":7,"content":{}}]})",
      R"({"messages":[{"role":"user","content":"x"}],"tools":{}})",
      R"({"messages":[{"role":"user","content":"x"}],"tools":[1,{"type":"function"},{"type":"function","function":{"name":"f","parameters":[]}}]})",
      R"({"messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":7,"properties":[],"items":[1],"anyOf":{},"enum":"x"}}}]})",
      R"({"messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":7})",
      R"({"messages":[{"role":"user","content":"x"}],"tool_choice":{"type":"function"}})",
      R"({"messages":[{"role":"user","content":"x"}],"response_format":"json"})",
      R"({"messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema","json_schema":7}})",
      R"({"messages":[{"role":"user","content":"x"}],"n":1.5,"seed":-1e300,"max_tokens":1e300})",
      R"({"messages":[{"role":"user","content":"x"}],"max_tokens":18446744073709551615})",
      R"({"messages":[{"role":"user","content":"x"}],"modalities":"audio"})",
      R"({"candidates":null,"promptFeedback":7})",
      R"({"candidates":[{"content":7}]})",
      R"({"candidates":[{"content":{"parts":7}}]})",
      R"({"candidates":[{"content":{"parts":[7,null,{"text":7},{"functionCall":7},{"functionCall":{"name":7}},{"functionCall":{"name":"f","args":[1]}},{"thought":"yes","text":"t"}]},"index":"x","finishReason":7}]})",
      R"({"candidates":[{"index":-5},{"index":1e30},{"index":"12"}],"usageMetadata":7})",
      R"({"candidates":[{}],"usageMetadata":{"promptTokenCount":"x","candidatesTokenCount":-4,"thoughtsTokenCount":1e400}})",
      R"({"candidates":[{}],"usageMetadata":{"promptTokenCount":"99999999999999999999"}})",
      R"({"promptFeedback":{"blockReason":7}})",
      R"({"promptFeedback":{"blockReason":""}})",
      R"({"promptFeedback":{"blockReason":"OTHER","blockReasonMessage":7}})",
      R"({"responseId":7,"modelVersion":[],"candidates":[{"content":{"parts":[{"text":"x"}]}}]})",
      R"({"error":7})",
      R"({"error":{"code":"x","message":7,"status":[]}})",
      R"({"error":{"code":99999999999,"details":7}})",
      R"({"error":{"details":[7,{"reason":7}]}})",
      R"([{"error":null}])",
      R"([7])",
      R"({"embedding":7})",
      R"({"embeddings":[{"values":{}}]})",
      R"({"input":"x","dimensions":-1})",
      R"({"input":"x","dimensions":1e20})",
      "\xff\xfe{}",
      "{\"messages\":[{\"role\":\"user\",\"content\":\"\xc3\"}]}",
  };
  for (const char* b : bodies) exercise(b);
}

TEST(GeminiRobustness, DeepNestingAndTruncation) {
  std::string deep(100000, '[');
  exercise(deep);
  exercise(deep + std::string(100000, ']'));
  std::string deep_args =
      R"({"messages":[{"role":"assistant","tool_calls":[{"id":"a","function":{"name":"f","arguments":")" +
      std::string(50000, '[') + R"("}}]}]})";
  exercise(deep_args);
  std::string deep_obj =
      "{\"candidates\":[{\"content\":{\"parts\":[{\"functionCall\":{\"name\":\"f\",\"args\":";
  for (int i = 0; i < 5000; ++i) deep_obj += "{\"a\":";
  exercise(deep_obj);
  for (const char* name :
       {"request_full.openai.json", "response_text.json", "response_function_call.json",
        "blocked_prompt.json", "error_429_resource_exhausted.json", "batch_embed_contents.json"}) {
    const std::string s = fixture(name);
    for (std::size_t k = 0; k < s.size(); k += 17) exercise(s.substr(0, k));
    for (std::size_t k = 0; k < s.size(); k += 23) {
      std::string m = s;
      m[k] = static_cast<char>(m[k] ^ 0x5b);
      exercise(m);
    }
  }
}

}  // namespace
}  // namespace switchyard::adapters::gemini
