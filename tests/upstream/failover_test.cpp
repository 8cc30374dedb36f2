#include "upstream/failover.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "test_call.hpp"

namespace switchyard::upstream {
namespace {

using config::ProviderKind;
using nlohmann::json;
using testing::read_fixture;
using Kind = Outcome::Kind;

constexpr std::string_view kOpenAiBadParam =
    R"({"error":{"message":"Invalid value for 'temperature': must be <= 2.","type":"invalid_request_error","param":"temperature","code":"invalid_value"}})";

ErrorStatus status_of(int status, std::string_view body, ProviderKind kind = ProviderKind::openai) {
  ErrorStatus in;
  in.status = status;
  in.body = body;
  in.kind = kind;
  in.content_type = "application/json";
  return in;
}

std::string header(const Reply& r, std::string_view name) {
  for (const auto& [k, v] : r.headers) {
    if (k == name) return v;
  }
  return "<absent>";
}

// --- error_outcome: what fails over ----------------------------------------------------------

TEST(ErrorOutcome, RateLimitFailsOverAndKeepsRetryAfter) {
  const std::string body =
      R"({"error":{"message":"Rate limit reached for gpt-4o-mini","type":"requests","code":"rate_limit_exceeded"}})";
  ErrorStatus in = status_of(429, body);
  in.retry_after_s = 7;
  const Outcome o = error_outcome(in);
  EXPECT_EQ(o.kind, Kind::failover);
  EXPECT_EQ(o.err, api::Errc::upstream_status);
  EXPECT_EQ(o.status, 429);
  ASSERT_TRUE(o.retry_after_s);
  EXPECT_EQ(*o.retry_after_s, 7);
  EXPECT_EQ(o.detail, "upstream returned HTTP 429: Rate limit reached for gpt-4o-mini");
  EXPECT_FALSE(o.prefill_rejected);
  EXPECT_TRUE(o.reply.body.empty()) << "nothing is relayed from a failed-over attempt";
}

TEST(ErrorOutcome, TimeoutAndServerErrorsFailOver) {
  for (int status : {408, 500, 502, 503, 504}) {
    SCOPED_TRACE(status);
    const Outcome o = error_outcome(status_of(status, R"({"error":{"message":"busy"}})"));
    EXPECT_EQ(o.kind, Kind::failover);
    EXPECT_EQ(o.status, status);
    EXPECT_EQ(o.detail, "upstream returned HTTP " + std::to_string(status) + ": busy");
  }
  // The providers' own shapes of the same.
  const std::string overloaded = read_fixture("anthropic/error_529.json");
  Outcome a = error_outcome(status_of(529, overloaded, ProviderKind::anthropic));
  EXPECT_EQ(a.kind, Kind::failover);
  EXPECT_EQ(a.detail, "upstream returned HTTP 529: Overloaded");
  const std::string exhausted = read_fixture("gemini/error_429_resource_exhausted.json");
  Outcome g = error_outcome(status_of(429, exhausted, ProviderKind::gemini));
  EXPECT_EQ(g.kind, Kind::failover);
  EXPECT_EQ(g.status, 429);
  const std::string unavailable = read_fixture("gemini/error_503_unavailable.json");
  EXPECT_EQ(error_outcome(status_of(503, unavailable, ProviderKind::gemini)).kind, Kind::failover);
}

TEST(ErrorOutcome, ContinuationRefusedIsAPrefillRejectionNotTheClientsError) {
  ErrorStatus in = status_of(400, kOpenAiBadParam);
  in.continuation = true;
  const Outcome o = error_outcome(in);
  EXPECT_EQ(o.kind, Kind::failover);
  EXPECT_TRUE(o.prefill_rejected);
  EXPECT_TRUE(o.reply.body.empty());
  // A continuation that was rate limited is an ordinary failover: the deployment may take
  // prefills, it was only busy.
  ErrorStatus busy = status_of(429, R"({"error":{"message":"slow down"}})");
  busy.continuation = true;
  const Outcome b = error_outcome(busy);
  EXPECT_EQ(b.kind, Kind::failover);
  EXPECT_FALSE(b.prefill_rejected);
}

// --- error_outcome: what reaches the client --------------------------------------------------

TEST(ErrorOutcome, ClientErrorIsPassedThroughWithItsHeadersAndContentType) {
  ErrorStatus in = status_of(400, kOpenAiBadParam);
  in.content_type = "application/json; charset=utf-8";
  in.passthrough_headers = {{"x-request-id", "req_abc"}, {"x-ratelimit-remaining-requests", "99"}};
  const Outcome o = error_outcome(in);
  EXPECT_EQ(o.kind, Kind::passthrough);
  EXPECT_EQ(o.status, 400);
  EXPECT_EQ(o.reply.status, 400);
  EXPECT_EQ(o.reply.body, kOpenAiBadParam) << "an OpenAI-dialect error goes out byte for byte";
  EXPECT_EQ(o.reply.content_type, "application/json; charset=utf-8");
  EXPECT_EQ(o.reply.headers, in.passthrough_headers);
  EXPECT_FALSE(o.reply.native);
  EXPECT_FALSE(o.rejected_stream_options);
  EXPECT_EQ(o.detail, "upstream returned HTTP 400: Invalid value for 'temperature': must be <= 2.");

  // No content type from the upstream: the reply still says what it is.
  in.content_type = {};
  EXPECT_EQ(error_outcome(in).reply.content_type, "application/json");
}

TEST(ErrorOutcome, OpenAiContextOverflowMayFitALargerWindow) {
  const std::string body =
      R"({"error":{"message":"This model's maximum context length is 128000 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}})";
  const Outcome o = error_outcome(status_of(400, body));
  EXPECT_EQ(o.kind, Kind::context_length);
  EXPECT_EQ(o.reply.status, 400);
  EXPECT_EQ(o.reply.body, body);  // kept for the client in case no larger window exists
}

TEST(ErrorOutcome, AnthropicPromptTooLongIsAContextOverflowInOpenAiShape) {
  const std::string body = read_fixture("anthropic/error_400_prompt_too_long.json");
  const Outcome o = error_outcome(status_of(400, body, ProviderKind::anthropic));
  EXPECT_EQ(o.kind, Kind::context_length);
  EXPECT_EQ(o.reply.status, 400);
  EXPECT_EQ(o.reply.content_type, "application/json");
  const json j = json::parse(o.reply.body);
  EXPECT_FALSE(j.contains("type")) << "not Anthropic's {\"type\":\"error\",…} any more";
  EXPECT_EQ(j["error"]["code"], "context_length_exceeded");
  EXPECT_EQ(j["error"]["type"], "invalid_request_error");
  EXPECT_EQ(j["error"]["message"], "prompt is too long: 210000 tokens > 200000 maximum");
  EXPECT_FALSE(o.reply.native);
}

TEST(ErrorOutcome, GeminiTokenCountOverflowIsAContextOverflow) {
  const std::string body = read_fixture("gemini/error_400_context_length.json");
  const Outcome o = error_outcome(status_of(400, body, ProviderKind::gemini));
  EXPECT_EQ(o.kind, Kind::context_length);
  const json j = json::parse(o.reply.body);
  EXPECT_EQ(j["error"]["code"], "context_length_exceeded");
  EXPECT_EQ(j["error"]["message"],
            "The input token count (1196411) exceeds the maximum number of tokens allowed "
            "(1048576).");
  // Any other invalid argument is the client's, relayed in OpenAI's shape.
  const std::string invalid = read_fixture("gemini/error_400_invalid_argument.json");
  const Outcome p = error_outcome(status_of(400, invalid, ProviderKind::gemini));
  EXPECT_EQ(p.kind, Kind::passthrough);
  EXPECT_EQ(json::parse(p.reply.body)["error"]["type"], "invalid_request_error");
}

TEST(ErrorOutcome, AnthropicClientErrorIsMappedToOpenAiShapeUnlessRaw) {
  const std::string body =
      R"({"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: Field required"},"request_id":"req_011"})";
  ErrorStatus in = status_of(400, body, ProviderKind::anthropic);
  in.content_type = "application/json; charset=utf-8";
  in.passthrough_headers = {{"x-request-id", "req_011"}};
  const Outcome mapped = error_outcome(in);
  EXPECT_EQ(mapped.kind, Kind::passthrough);
  EXPECT_EQ(mapped.reply.status, 400);
  EXPECT_EQ(mapped.reply.content_type, "application/json");  // ours now, not the upstream's
  EXPECT_EQ(mapped.reply.headers, in.passthrough_headers);
  EXPECT_FALSE(mapped.reply.native);
  EXPECT_EQ(json::parse(mapped.reply.body),
            json::parse(R"({"error":{"message":"max_tokens: Field required",)"
                        R"("type":"invalid_request_error","param":null,"code":null}})"));

  // Anthropic bytes to an Anthropic client: its own error, as it came.
  in.raw = true;
  const Outcome raw = error_outcome(in);
  EXPECT_EQ(raw.kind, Kind::passthrough);
  EXPECT_EQ(raw.reply.body, body);
  EXPECT_TRUE(raw.reply.native);
  EXPECT_EQ(raw.reply.content_type, "application/json; charset=utf-8");

  // A raw context overflow is still recognised (a larger window may be tried).
  const std::string too_long = read_fixture("anthropic/error_400_prompt_too_long.json");
  ErrorStatus long_raw = status_of(400, too_long, ProviderKind::anthropic);
  long_raw.raw = true;
  const Outcome lr = error_outcome(long_raw);
  EXPECT_EQ(lr.kind, Kind::context_length);
  EXPECT_TRUE(lr.reply.native);
  EXPECT_EQ(lr.reply.body, too_long);
}

TEST(ErrorOutcome, BodyNotReadWholeGetsAGatewayMadeBody) {
  ErrorStatus in = status_of(400, R"({"error":{"message":"Invalid val)");
  in.body_ok = false;
  const Outcome o = error_outcome(in);
  EXPECT_EQ(o.kind, Kind::passthrough);
  EXPECT_EQ(o.reply.status, 400);
  EXPECT_FALSE(o.reply.native);
  const json j = json::parse(o.reply.body, nullptr, false);
  ASSERT_TRUE(j.is_object()) << o.reply.body;
  EXPECT_EQ(j["error"]["type"], "upstream_error");
  EXPECT_EQ(j["error"]["code"], "upstream_status");
  EXPECT_EQ(j["error"]["message"], "upstream returned HTTP 400");

  // A raw hop's cut body likewise: the reply is the gateway's, so it is no longer native
  // (send_reply then gives an Anthropic client Anthropic's shape of it).
  ErrorStatus raw =
      status_of(400, R"({"type":"error","error":{"type":"inv)", ProviderKind::anthropic);
  raw.body_ok = false;
  raw.raw = true;
  const Outcome r = error_outcome(raw);
  EXPECT_EQ(r.kind, Kind::passthrough);
  EXPECT_FALSE(r.reply.native);
  EXPECT_EQ(json::parse(r.reply.body)["error"]["code"], "upstream_status");

  // An empty body, read whole, likewise.
  const Outcome e = error_outcome(status_of(404, ""));
  EXPECT_EQ(e.kind, Kind::passthrough);
  EXPECT_EQ(json::parse(e.reply.body)["error"]["code"], "upstream_status");
}

TEST(ErrorOutcome, RejectedStreamOptionsOnlyWhenWeAddedItAndTheBodyNamesIt) {
  const std::string names =
      R"({"error":{"message":"Unrecognized request argument supplied: stream_options","type":"invalid_request_error"}})";
  ErrorStatus in = status_of(400, names);
  in.added_stream_options = true;
  Outcome o = error_outcome(in);
  EXPECT_TRUE(o.rejected_stream_options);
  EXPECT_EQ(o.kind, Kind::passthrough) << "relayed if the retry without it is not made";

  ErrorStatus unprocessable = in;
  unprocessable.status = 422;
  EXPECT_TRUE(error_outcome(unprocessable).rejected_stream_options);

  ErrorStatus client_asked = in;
  client_asked.added_stream_options = false;  // the client's own field: its error
  EXPECT_FALSE(error_outcome(client_asked).rejected_stream_options);

  ErrorStatus other_field = status_of(400, kOpenAiBadParam);
  other_field.added_stream_options = true;
  EXPECT_FALSE(error_outcome(other_field).rejected_stream_options);

  ErrorStatus forbidden = in;
  forbidden.status = 403;
  EXPECT_FALSE(error_outcome(forbidden).rejected_stream_options);

  ErrorStatus anthropic = in;
  anthropic.kind = ProviderKind::anthropic;  // we never add the field to other dialects
  EXPECT_FALSE(error_outcome(anthropic).rejected_stream_options);
}

TEST(ErrorOutcome, AzureRejectingStreamOptionsIsRetriedWithoutIt) {
  // Azure OpenAI before api-version 2024-10-21 answers the field it does not know so.
  ErrorStatus in = status_of(
      400,
      R"({"error":{"message":"Unrecognized request argument supplied: stream_options","type":"invalid_request_error","param":null,"code":null}})");
  in.kind = ProviderKind::azure;
  in.added_stream_options = true;
  EXPECT_TRUE(error_outcome(in).rejected_stream_options);
}

// --- final_error ---------------------------------------------------------------------------

Outcome failed(api::Errc e, int status, std::string detail, std::optional<long> retry = {}) {
  Outcome o = failover(e, std::move(detail), status);
  o.retry_after_s = retry;
  return o;
}

TEST(FinalError, AllRateLimitedIs429WithTheShortestRetryAfter) {
  const std::vector<Outcome> f = {
      failed(api::Errc::upstream_status, 429, "a/x: upstream returned HTTP 429", 30),
      failed(api::Errc::upstream_status, 429, "b/y: upstream returned HTTP 429", 5),
      failed(api::Errc::upstream_status, 429, "c/z: upstream returned HTTP 429"),
  };
  const Reply r = final_error(f, 3, false, "fast");
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(header(r, "retry-after"), "5");
  EXPECT_EQ(header(r, "x-switchyard-attempts"), "3");
  const json j = json::parse(r.body);
  EXPECT_EQ(j["error"]["code"], "rate_limit_exceeded");
  EXPECT_EQ(j["error"]["message"],
            "All 3 upstream attempts failed; last: c/z: upstream returned HTTP 429");

  // None said how long: a second.
  const Reply none = final_error({failed(api::Errc::upstream_status, 429, "a")}, 1, false, "m");
  EXPECT_EQ(header(none, "retry-after"), "1");
  EXPECT_EQ(json::parse(none.body)["error"]["message"], "All 1 upstream attempt failed; last: a");
}

TEST(FinalError, PoolOverflowIs503) {
  const Reply r = final_error({failed(api::Errc::pool_overflow, 0, "a: no free connection"),
                               failed(api::Errc::pool_overflow, 0, "b: no free connection")},
                              2, false, "m");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(header(r, "retry-after"), "1");
  EXPECT_EQ(header(r, "x-switchyard-attempts"), "2");
  EXPECT_EQ(json::parse(r.body)["error"]["code"], "pool_overflow");
}

TEST(FinalError, AllTimeoutsIs504NamingTheLast) {
  const Reply r = final_error({failed(api::Errc::first_byte_timeout, 0, "a: first_byte_timeout"),
                               failed(api::Errc::idle_timeout, 0, "b: idle_timeout")},
                              2, false, "m");
  EXPECT_EQ(r.status, 504);
  EXPECT_EQ(header(r, "x-switchyard-attempts"), "2");
  EXPECT_EQ(header(r, "retry-after"), "<absent>");
  const json j = json::parse(r.body);
  EXPECT_EQ(j["error"]["code"], "idle_timeout");
  EXPECT_EQ(j["error"]["type"], "upstream_error");
}

TEST(FinalError, AnythingElseIs502NamingTheLast) {
  // One 429 among other failures is not a rate limit of the whole model.
  const Reply r = final_error({failed(api::Errc::upstream_status, 429, "a: 429", 3),
                               failed(api::Errc::connect_timeout, 0, "b: connect_timeout"),
                               failed(api::Errc::upstream_reset, 0, "c: reset")},
                              3, false, "m");
  EXPECT_EQ(r.status, 502);
  EXPECT_EQ(header(r, "x-switchyard-attempts"), "3");
  EXPECT_EQ(header(r, "retry-after"), "<absent>");
  EXPECT_EQ(json::parse(r.body)["error"]["code"], "upstream_reset");
  // A timeout mixed with an error status is not "all timed out" either.
  const Reply m = final_error(
      {failed(api::Errc::idle_timeout, 0, "a"), failed(api::Errc::upstream_status, 500, "b")}, 2,
      false, "m");
  EXPECT_EQ(m.status, 502);
  EXPECT_EQ(json::parse(m.body)["error"]["code"], "upstream_status");
}

TEST(FinalError, NoAttemptAtAll) {
  const Reply rpm = final_error({}, 0, true, "fast-model");
  EXPECT_EQ(rpm.status, 429);
  EXPECT_EQ(header(rpm, "retry-after"), "1");
  const json j = json::parse(rpm.body);
  EXPECT_EQ(j["error"]["code"], "rate_limit_exceeded");
  EXPECT_NE(j["error"]["message"].get<std::string>().find("`fast-model`"), std::string::npos);

  const Reply open = final_error({}, 0, false, "fast-model");
  EXPECT_EQ(open.status, 503);
  EXPECT_EQ(header(open, "retry-after"), "1");
  EXPECT_EQ(json::parse(open.body)["error"]["code"], "no_route");
}

// --- is_passthrough_header -------------------------------------------------------------------

TEST(PassthroughHeader, RequestIdRetryAfterAndRateLimitsInAnyCase) {
  for (std::string_view h : {"x-request-id", "X-Request-ID", "retry-after", "Retry-After",
                             "RETRY-AFTER", "x-ratelimit-remaining-tokens",
                             "X-RateLimit-Reset-Requests", "x-ratelimit-limit-requests"}) {
    EXPECT_TRUE(is_passthrough_header(h)) << h;
  }
  for (std::string_view h : {"x-ratelimit-", "x-request-idx", "x-request", "content-type",
                             "authorization", "set-cookie", "retry-after-ms", "", "openai-model"}) {
    EXPECT_FALSE(is_passthrough_header(h)) << h;
  }
}

}  // namespace
}  // namespace switchyard::upstream
