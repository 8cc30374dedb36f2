// An attempt's request: encode_attempt per provider kind and the request head
// (upstream/encode.hpp, the pure part of the attempt).
#include <gtest/gtest.h>
#include <strings.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "switchyard/adapters/anthropic.hpp"
#include "switchyard/adapters/openai.hpp"
#include "test_call.hpp"
#include "upstream/encode.hpp"
#include "upstream/rescue.hpp"

namespace switchyard::upstream {
namespace {

using config::ProviderKind;
using nlohmann::json;
using testing::TestCall;

struct Encode {
  bool ok = false;
  adapters::Encoded e;
  api::ClientError err;
};

Encode encode(const CallRequest& rq, const config::Provider& prov, std::string model,
              AttemptRequest ar = {}) {
  const config::Deployment d = testing::deployment(prov.name, std::move(model));
  Encode out;
  out.ok = encode_attempt(rq, d, prov, ar, out.e, out.err);
  return out;
}

using Headers = std::vector<std::pair<std::string, std::string>>;

const config::Provider kOpenAi = testing::provider(ProviderKind::openai, "api.openai.com", "/v1");
const config::Provider kAzure = testing::provider(ProviderKind::azure, "myres.openai.azure.com");
const config::Provider kAnthropic = testing::provider(ProviderKind::anthropic, "api.anthropic.com");
const config::Provider kGemini =
    testing::provider(ProviderKind::gemini, "generativelanguage.googleapis.com");

constexpr std::string_view kStream =
    R"({"model":"fast","stream":true,"messages":[{"role":"user","content":"Hi"}]})";
constexpr std::string_view kWhole =
    R"({"model":"fast","messages":[{"role":"user","content":"Hi"}]})";

std::size_t occurrences(std::string_view hay, std::string_view needle) {
  std::size_t n = 0;
  for (std::size_t at = hay.find(needle); at != std::string_view::npos;
       at = hay.find(needle, at + needle.size())) {
    ++n;
  }
  return n;
}

// --- encode_attempt: OpenAI and Azure ----------------------------------------------------------

TEST(EncodeAttempt, OpenAiGetsTheDeploymentsModelAndAskedForUsage) {
  TestCall call{std::string(kStream)};
  const Encode s = encode(call.rq, kOpenAi, "gpt-4o-mini");
  ASSERT_TRUE(s.ok) << s.err.message;
  EXPECT_EQ(s.e.path, "/v1/chat/completions");
  EXPECT_EQ(s.e.body,
            R"({"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Hi"}],)"
            R"("stream_options":{"include_usage":true}})")
      << "the client's bytes, the model replaced, usage asked for";
  EXPECT_TRUE(s.e.headers.empty());

  AttemptRequest no_usage;
  no_usage.request_usage = false;  // a server that rejects stream_options
  EXPECT_EQ(encode(call.rq, kOpenAi, "gpt-4o-mini", no_usage).e.body,
            R"({"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Hi"}]})");

  TestCall whole{std::string(kWhole)};
  EXPECT_EQ(encode(whole.rq, kOpenAi, "gpt-4o-mini").e.body,
            R"({"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}]})")
      << "stream_options only for streams";
}

TEST(EncodeAttempt, StreamOptionsOfTheClientAreKeptOrCompleted) {
  TestCall asked{
      R"({"model":"fast","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Hi"}]})"};
  const Encode a = encode(asked.rq, kOpenAi, "gpt-4o-mini");
  EXPECT_EQ(occurrences(a.e.body, "stream_options"), 1u);
  EXPECT_EQ(json::parse(a.e.body)["stream_options"], (json{{"include_usage", true}}));

  TestCall declined{
      R"({"model":"fast","stream":true,"stream_options":{"include_usage":false},"messages":[{"role":"user","content":"Hi"}]})"};
  const Encode d = encode(declined.rq, kOpenAi, "gpt-4o-mini");
  EXPECT_EQ(occurrences(d.e.body, "stream_options"), 1u);
  EXPECT_EQ(json::parse(d.e.body)["stream_options"]["include_usage"], true);
  EXPECT_FALSE(declined.rq.chat.client_include_usage) << "so the relay drops the usage chunk";
}

TEST(EncodeAttempt, AzurePathNamesTheDeploymentAndTheApiVersion) {
  TestCall call{std::string(kWhole)};
  const Encode def = encode(call.rq, kAzure, "gpt-4o-prod");
  ASSERT_TRUE(def.ok);
  EXPECT_EQ(def.e.path, "/openai/deployments/gpt-4o-prod/chat/completions?api-version=" +
                            std::string(adapters::openai::kDefaultAzureApiVersion));
  EXPECT_EQ(adapters::openai::kDefaultAzureApiVersion, "2024-10-21");
  EXPECT_EQ(json::parse(def.e.body)["model"], "gpt-4o-prod");

  config::Provider versioned = kAzure;
  versioned.api_version = "2024-08-01-preview";
  versioned.url.path = "/gateway";
  EXPECT_EQ(
      encode(call.rq, versioned, "gpt-4o-prod").e.path,
      "/gateway/openai/deployments/gpt-4o-prod/chat/completions?api-version=2024-08-01-preview");

  config::Provider odd = kAzure;
  odd.api_version = "a&b=c";
  EXPECT_EQ(encode(call.rq, odd, "my deploy/v2").e.path,
            "/openai/deployments/my%20deploy%2Fv2/chat/completions?api-version=a%26b%3Dc")
      << "a deployment name or version cannot break out of its path segment or query value";
}

// --- encode_attempt: Anthropic ------------------------------------------------------------------

TEST(EncodeAttempt, AnthropicGetsAMessagesRequest) {
  TestCall call{
      R"({"model":"fast","stream":true,"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"}]})"};
  const Encode s = encode(call.rq, kAnthropic, "claude-sonnet-4-20250514");
  ASSERT_TRUE(s.ok) << s.err.message;
  EXPECT_EQ(s.e.path, "/v1/messages");
  const json j = json::parse(s.e.body);
  EXPECT_EQ(j["model"], "claude-sonnet-4-20250514");
  EXPECT_EQ(j["system"], "Be brief.");
  EXPECT_EQ(j["stream"], true);
  EXPECT_EQ(j["max_tokens"], adapters::anthropic::kDefaultMaxTokens);
  EXPECT_FALSE(j.contains("stream_options")) << "Anthropic reports usage unasked";
  EXPECT_EQ(s.e.headers, (Headers{{"anthropic-version", "2023-06-01"}}));

  TestCall two{R"({"model":"fast","n":2,"messages":[{"role":"user","content":"Hi"}]})"};
  const Encode refused = encode(two.rq, kAnthropic, "claude-sonnet-4-20250514");
  EXPECT_FALSE(refused.ok);
  EXPECT_EQ(refused.err.status, 400);
  EXPECT_EQ(refused.err.param, "n");
}

TEST(EncodeAttempt, RawAnthropicPassesTheClientsBytesWithOnlyTheModelReplaced) {
  const std::string client =
      R"({"model":"claude-alias","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"Hi"}],"metadata":{"user_id":"u-1"}})";
  TestCall call(Front::anthropic, client);
  AttemptRequest raw;
  raw.raw = true;
  const Encode s = encode(call.rq, kAnthropic, "claude-sonnet-4-20250514", raw);
  ASSERT_TRUE(s.ok);
  EXPECT_EQ(s.e.path, "/v1/messages");
  EXPECT_EQ(
      s.e.body,
      R"({"model":"claude-sonnet-4-20250514","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"Hi"}],"metadata":{"user_id":"u-1"}})");
  EXPECT_EQ(s.e.headers, (Headers{{"anthropic-version", "2023-06-01"}}))
      << "the default version when the client sent none, and no beta";

  call.rq.anthropic_version = "2023-01-01";
  call.rq.anthropic_beta = "prompt-caching-2024-07-31,output-128k-2025-02-19";
  config::Provider proxied = kAnthropic;
  proxied.url.path = "/proxy";
  const Encode v = encode(call.rq, proxied, "claude-sonnet-4-20250514", raw);
  EXPECT_EQ(v.e.path, "/proxy/v1/messages");
  EXPECT_EQ(v.e.headers,
            (Headers{{"anthropic-version", "2023-01-01"},
                     {"anthropic-beta", "prompt-caching-2024-07-31,output-128k-2025-02-19"}}));
}

// --- encode_attempt: Gemini ---------------------------------------------------------------------

TEST(EncodeAttempt, GeminiPathsForStreamsAndWholeAnswers) {
  TestCall stream{std::string(kStream)};
  const Encode s = encode(stream.rq, kGemini, "gemini-2.0-flash");
  ASSERT_TRUE(s.ok) << s.err.message;
  EXPECT_EQ(s.e.path, "/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse");
  EXPECT_EQ(json::parse(s.e.body)["contents"][0]["parts"][0]["text"], "Hi");
  EXPECT_EQ(s.e.body.find("key="), std::string::npos);
  TestCall whole{std::string(kWhole)};
  EXPECT_EQ(encode(whole.rq, kGemini, "gemini-2.0-flash").e.path,
            "/v1beta/models/gemini-2.0-flash:generateContent");
}

// --- encode_attempt: embeddings ----------------------------------------------------------------

struct EmbeddingsCall {
  explicit EmbeddingsCall(std::string b) : body(std::move(b)) {
    api::ClientError err;
    EXPECT_TRUE(api::parse_embeddings_request(body, rq.chat, err)) << err.message;
    rq.embeddings = true;
    rq.client_body = body;
    rq.endpoint = "embeddings";
  }
  std::string body;
  CallRequest rq;
};

TEST(EncodeAttempt, EmbeddingsPerDialect) {
  EmbeddingsCall call(R"({"model":"embed","input":"hello"})");
  const Encode o = encode(call.rq, kOpenAi, "text-embedding-3-small");
  ASSERT_TRUE(o.ok);
  EXPECT_EQ(o.e.path, "/v1/embeddings");
  EXPECT_EQ(o.e.body, R"({"model":"text-embedding-3-small","input":"hello"})");

  const Encode az = encode(call.rq, kAzure, "emb-prod");
  EXPECT_EQ(az.e.path, "/openai/deployments/emb-prod/embeddings?api-version=2024-10-21");

  const Encode g = encode(call.rq, kGemini, "text-embedding-004");
  ASSERT_TRUE(g.ok) << g.err.message;
  EXPECT_EQ(g.e.path, "/v1beta/models/text-embedding-004:embedContent");

  const Encode a = encode(call.rq, kAnthropic, "claude-sonnet-4-20250514");
  EXPECT_FALSE(a.ok);
  EXPECT_EQ(a.err.status, 400);
  EXPECT_EQ(a.err.param, "model");
  EXPECT_EQ(a.err.message, "Anthropic has no embeddings API.");
}

// --- encode_attempt: a continuation -------------------------------------------------------------

TEST(EncodeAttempt, ContinuationSendsThePrefillBody) {
  TestCall call{std::string(kStream)};
  ClientStream client;
  client.text = "Once upon a ";
  const auto vllm = testing::provider(ProviderKind::openai, "vllm.internal", "/v1");
  const auto prefill = continuation_for(call.rq, client, vllm);
  AttemptRequest ar;
  ar.prefill_body = &prefill.body;
  const Encode o = encode(call.rq, vllm, "llama-3-70b", ar);
  ASSERT_TRUE(o.ok) << o.err.message;
  const json j = json::parse(o.e.body);
  EXPECT_EQ(j["model"], "llama-3-70b");
  EXPECT_EQ(j["messages"].back(), (json{{"role", "assistant"}, {"content", "Once upon a "}}));
  EXPECT_EQ(j["stream_options"]["include_usage"], true);

  const auto for_anthropic = continuation_for(call.rq, client, kAnthropic);
  ar.prefill_body = &for_anthropic.body;
  const Encode a = encode(call.rq, kAnthropic, "claude-sonnet-4-20250514", ar);
  ASSERT_TRUE(a.ok) << a.err.message;
  const json m = json::parse(a.e.body)["messages"].back();
  EXPECT_EQ(m["role"], "assistant");
  const std::string text = m["content"].is_string() ? m["content"].get<std::string>()
                                                    : m["content"][0]["text"].get<std::string>();
  EXPECT_EQ(text, "Once upon a");
}

TEST(EncodeAttempt, PrefillThatIsNotAChatRequestIsRefused) {
  TestCall call{std::string(kStream)};
  for (const std::string bad : {"", R"({"model":"fast"})", "[1,2]", "not json"}) {
    AttemptRequest ar;
    ar.prefill_body = &bad;
    const Encode o = encode(call.rq, kOpenAi, "gpt-4o-mini", ar);
    EXPECT_FALSE(o.ok) << bad;
    EXPECT_EQ(o.err.message, "The request cannot be continued.") << bad;
  }
}

// --- request_head -------------------------------------------------------------------------------

struct Head {
  std::string request_line;
  Headers fields;
  bool terminated = false;  ///< ends with the blank line

  std::size_t count(std::string_view name) const {
    std::size_t n = 0;
    for (const auto& [k, v] : fields) {
      n += k.size() == name.size() && ::strncasecmp(k.data(), name.data(), k.size()) == 0;
    }
    return n;
  }
  std::string value(std::string_view name) const {
    for (const auto& [k, v] : fields) {
      if (k.size() == name.size() && ::strncasecmp(k.data(), name.data(), k.size()) == 0) return v;
    }
    return "<absent>";
  }
};

Head parse_head(std::string_view h) {
  Head out;
  out.terminated = h.size() >= 4 && h.substr(h.size() - 4) == "\r\n\r\n";
  std::size_t at = 0;
  bool first = true;
  while (at < h.size()) {
    const std::size_t eol = h.find("\r\n", at);
    if (eol == std::string_view::npos || eol == at) break;
    const std::string_view line = h.substr(at, eol - at);
    EXPECT_EQ(line.find('\n'), std::string_view::npos) << "a bare LF in the head: " << line;
    if (first) {
      out.request_line = std::string(line);
      first = false;
    } else {
      const std::size_t colon = line.find(": ");
      EXPECT_NE(colon, std::string_view::npos) << line;
      out.fields.emplace_back(line.substr(0, colon), line.substr(colon + 2));
    }
    at = eol + 2;
  }
  return out;
}

constexpr std::string_view kTraceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

TEST(RequestHead, TheKeyGoesInEachDialectsOwnHeaderOnce) {
  struct Case {
    const config::Provider& prov;
    const char* header;
    std::string value;
  };
  const std::vector<Case> cases = {
      {kOpenAi, "Authorization", "Bearer sk-test-key"},
      {kAzure, "api-key", "sk-test-key"},
      {kAnthropic, "x-api-key", "sk-test-key"},
      {kGemini, "x-goog-api-key", "sk-test-key"},
  };
  const std::vector<const char*> key_headers = {"Authorization", "api-key", "x-api-key",
                                                "x-goog-api-key"};
  adapters::Encoded enc;
  enc.path = "/v1/x";
  enc.body = "{}";
  for (const Case& c : cases) {
    SCOPED_TRACE(c.header);
    const std::string raw = request_head(c.prov, enc, false, kTraceparent, {});
    const Head h = parse_head(raw);
    EXPECT_EQ(h.value(c.header), c.value);
    for (const char* other : key_headers) {
      EXPECT_EQ(h.count(other), std::string_view(other) == c.header ? 1u : 0u) << other;
    }
    EXPECT_EQ(occurrences(raw, "sk-test-key"), 1u) << "the key is written exactly once";
    EXPECT_EQ(h.value("Host"), c.prov.url.host);
  }

  config::Provider keyless = kOpenAi;  // a local server that needs no key
  keyless.api_key.clear();
  const Head h = parse_head(request_head(keyless, enc, false, kTraceparent, {}));
  for (const char* k : key_headers) EXPECT_EQ(h.count(k), 0u) << k;
}

TEST(RequestHead, PathHeadersTraceContextAndLength) {
  config::Provider prov = kAnthropic;
  prov.headers = {{"x-org", "acme"}};
  adapters::Encoded enc;
  enc.path = "/v1/messages";
  enc.body = R"({"text":"Grüße ✓"})";  // multi-byte: Content-Length counts bytes
  enc.headers = {{"anthropic-version", "2023-06-01"}, {"anthropic-beta", "b1"}};
  const std::string raw = request_head(prov, enc, true, kTraceparent, "congo=t61rcWkgMzE");
  const Head h = parse_head(raw);
  EXPECT_TRUE(h.terminated);
  EXPECT_EQ(h.request_line, "POST /v1/messages HTTP/1.1");
  EXPECT_EQ(raw.substr(0, raw.find("\r\n\r\n") + 4).size(), raw.size()) << "nothing after the head";
  EXPECT_EQ(h.value("Content-Length"), std::to_string(enc.body.size()));
  EXPECT_EQ(enc.body.size(), 22u);
  EXPECT_EQ(h.value("Content-Type"), "application/json");
  EXPECT_EQ(h.value("Accept"), "text/event-stream");
  EXPECT_EQ(h.value("Accept-Encoding"), "identity") << "the relay parses the bytes it reads";
  EXPECT_EQ(h.value("Connection"), "keep-alive");
  EXPECT_EQ(h.value("User-Agent").substr(0, 11), "switchyard/");
  EXPECT_EQ(h.value("anthropic-version"), "2023-06-01");
  EXPECT_EQ(h.value("anthropic-beta"), "b1");
  EXPECT_EQ(h.value("x-org"), "acme");
  EXPECT_EQ(h.value("traceparent"), kTraceparent);
  EXPECT_EQ(h.value("tracestate"), "congo=t61rcWkgMzE");
  EXPECT_EQ(h.count("Host"), 1u);

  const Head whole = parse_head(request_head(prov, enc, false, kTraceparent, {}));
  EXPECT_EQ(whole.value("Accept"), "application/json");
  EXPECT_EQ(whole.count("tracestate"), 0u) << "none from the client: none upstream";
  EXPECT_EQ(whole.count("traceparent"), 1u);
}

TEST(RequestHead, HostCarriesAPortThatIsNotTheSchemeDefault) {
  config::Provider local = testing::provider(ProviderKind::openai, "127.0.0.1", "/v1", "");
  local.url.https = false;
  local.url.port = 8081;
  adapters::Encoded enc;
  enc.path = "/v1/chat/completions";
  EXPECT_EQ(parse_head(request_head(local, enc, false, kTraceparent, {})).value("Host"),
            "127.0.0.1:8081");
  EXPECT_EQ(parse_head(request_head(local, enc, false, kTraceparent, {})).value("Content-Length"),
            "0");
  local.url.port = 80;
  EXPECT_EQ(parse_head(request_head(local, enc, false, kTraceparent, {})).value("Host"),
            "127.0.0.1");
}

}  // namespace
}  // namespace switchyard::upstream
