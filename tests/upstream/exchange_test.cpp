// The relay's client-facing helpers (upstream/relay.hpp) against a fake http::Exchange: a
// reply in the client's dialect, a gateway error noted for the access log, and a stream
// ended by one error event.
#include "http/exchange.hpp"

#include <gtest/gtest.h>

#include <exception>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "switchyard/adapters/messages_front.hpp"
#include "switchyard/adapters/openai.hpp"
#include "switchyard/api/errors.hpp"
#include "upstream/relay.hpp"

namespace switchyard::upstream {
namespace {

using nlohmann::json;

/// Records what a handler sends its client. `fail_writes`: the client is gone, every send
/// and write fails (and nothing is recorded as received).
class FakeExchange : public http::Exchange {
 public:
  const std::string& request_id() const override { return request_id_; }

  net::awaitable<bool> send(http::Response& res) override {
    ++send_calls;
    if (fail_writes) co_return false;
    responses.push_back(res);
    co_return true;
  }
  net::awaitable<bool> start_stream(http::StreamHead& head) override {
    if (fail_writes) co_return false;
    stream_head = head;
    co_return true;
  }
  net::awaitable<bool> write(std::string_view data) override {
    ++write_calls;
    if (fail_writes) co_return false;
    chunks.emplace_back(data);
    co_return true;
  }
  net::awaitable<bool> finish() override {
    ++finish_calls;
    if (fail_writes) co_return false;
    finished = true;
    co_return true;
  }
  void watch_client(std::function<void()> on_gone) override { on_gone_ = std::move(on_gone); }
  bool client_gone() const override { return fail_writes; }
  telemetry::RequestLog& log() override { return log_; }
  void note_error(std::string_view type, std::string_view code) override {
    ++notes;
    if (!log_.error_type.empty()) return;  // the first noted wins, as in http::Session
    log_.error_type = std::string(type);
    log_.error_code = std::string(code);
  }

  bool fail_writes = false;
  std::vector<http::Response> responses;
  std::optional<http::StreamHead> stream_head;
  std::vector<std::string> chunks;
  bool finished = false;
  int send_calls = 0, write_calls = 0, finish_calls = 0, notes = 0;

 private:
  std::string request_id_ = "req-test";
  telemetry::RequestLog log_;
  std::function<void()> on_gone_;
};

/// Runs one coroutine to its end on a fresh io_context; rethrows what it threw.
void run(net::awaitable<void> task) {
  net::io_context ioc;
  bool done = false;
  std::exception_ptr failure;
  net::co_spawn(ioc, std::move(task), [&](std::exception_ptr e) {
    failure = e;
    done = true;
  });
  ioc.run();
  ASSERT_TRUE(done);
  if (failure) std::rethrow_exception(failure);
}

http::Response gateway_error(int status, std::string_view message, std::string_view type,
                             std::string_view code) {
  http::Response res{static_cast<bhttp::status>(status), 11};
  res.set(bhttp::field::content_type, "application/json");
  res.body() = api::error_json(message, type, code);
  return res;
}

// --- send_reply ---------------------------------------------------------------------------------

TEST(SendReply, GatewayErrorTakesAnthropicsShapeForAnAnthropicClient) {
  FakeExchange ex;
  http::Response res =
      gateway_error(429, "Slow down.", "rate_limit_exceeded", "rate_limit_exceeded");
  run(send_reply(ex, Front::anthropic, res));
  ASSERT_EQ(ex.responses.size(), 1u);
  const http::Response& sent = ex.responses[0];
  EXPECT_EQ(sent.result_int(), 429);
  EXPECT_EQ(std::string(sent[bhttp::field::content_type]), "application/json");
  EXPECT_EQ(json::parse(sent.body()),
            (json{{"type", "error"},
                  {"error", {{"type", "rate_limit_error"}, {"message", "Slow down."}}}}));
}

TEST(SendReply, OpenAiClientNativeBytesAndSuccessesAreLeftAlone) {
  const http::Response original = gateway_error(503, "No deployment.", "server_error", "no_route");
  {
    FakeExchange ex;
    http::Response res = original;
    run(send_reply(ex, Front::openai, res));
    ASSERT_EQ(ex.responses.size(), 1u);
    EXPECT_EQ(ex.responses[0].body(), original.body());
  }
  {
    // Anthropic's own error, passed through to an Anthropic client.
    FakeExchange ex;
    http::Response res{bhttp::status::bad_request, 11};
    const std::string native =
        R"({"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: Field required"}})";
    res.body() = native;
    run(send_reply(ex, Front::anthropic, res, true));
    ASSERT_EQ(ex.responses.size(), 1u);
    EXPECT_EQ(ex.responses[0].body(), native);
  }
  {
    FakeExchange ex;
    http::Response ok{bhttp::status::ok, 11};
    ok.body() = R"({"type":"message"})";
    run(send_reply(ex, Front::anthropic, ok));
    ASSERT_EQ(ex.responses.size(), 1u);
    EXPECT_EQ(ex.responses[0].body(), R"({"type":"message"})");
  }
}

TEST(SendReply, FromAReplyWithItsHeaders) {
  Reply r;
  r.status = 400;
  r.content_type = "application/json; charset=utf-8";
  r.headers = {{"x-request-id", "req_up"}, {"x-switchyard-attempts", "2"}};
  r.body = api::error_json("Bad temperature.", "invalid_request_error", "invalid_value");
  {
    FakeExchange ex;
    run(send_reply(ex, Front::anthropic, r));
    ASSERT_EQ(ex.responses.size(), 1u);
    const http::Response& sent = ex.responses[0];
    EXPECT_EQ(sent.result_int(), 400);
    EXPECT_EQ(std::string(sent["x-request-id"]), "req_up");
    EXPECT_EQ(std::string(sent["x-switchyard-attempts"]), "2");
    EXPECT_EQ(std::string(sent[bhttp::field::content_type]), "application/json");
    const json j = json::parse(sent.body());
    EXPECT_EQ(j["type"], "error");
    EXPECT_EQ(j["error"]["type"], "invalid_request_error");
    EXPECT_EQ(j["error"]["message"], "Bad temperature.");
  }
  {
    Reply native = r;
    native.native = true;
    native.body = R"({"type":"error","error":{"type":"invalid_request_error","message":"x"}})";
    FakeExchange ex;
    run(send_reply(ex, Front::anthropic, native));
    ASSERT_EQ(ex.responses.size(), 1u);
    EXPECT_EQ(ex.responses[0].body(), native.body);
    EXPECT_EQ(std::string(ex.responses[0][bhttp::field::content_type]),
              "application/json; charset=utf-8");
  }
}

// --- send_client_error --------------------------------------------------------------------------

TEST(SendClientError, NotesTypeAndCodeForTheAccessLog) {
  FakeExchange ex;
  run(send_client_error(ex, Front::openai, 400, "temperature must be <= 2.",
                        "invalid_request_error", "invalid_value", "temperature"));
  EXPECT_EQ(ex.log().error_type, "invalid_request_error");
  EXPECT_EQ(ex.log().error_code, "invalid_value");
  ASSERT_EQ(ex.responses.size(), 1u);
  EXPECT_EQ(ex.responses[0].result_int(), 400);
  const json j = json::parse(ex.responses[0].body());
  EXPECT_EQ(j["error"]["param"], "temperature");
  EXPECT_EQ(j["error"]["code"], "invalid_value");

  FakeExchange an;
  run(send_client_error(an, Front::anthropic, 404, "The model `x` does not exist.",
                        "invalid_request_error", "model_not_found"));
  EXPECT_EQ(an.log().error_code, "model_not_found") << "noted in the gateway's terms";
  ASSERT_EQ(an.responses.size(), 1u);
  const json a = json::parse(an.responses[0].body());
  EXPECT_EQ(a["type"], "error");
  EXPECT_EQ(a["error"]["type"], "not_found_error");
  EXPECT_EQ(a["error"]["message"], "The model `x` does not exist.");
}

// --- end_stream_with_error ----------------------------------------------------------------------

TEST(EndStreamWithError, OpenAiClientGetsOneErrorEventAndTheEnd) {
  FakeExchange ex;
  ClientStream client;
  client.started = true;
  run(end_stream_with_error(ex, Front::openai, client, "The upstream stream broke.",
                            "upstream_reset"));
  ASSERT_EQ(ex.chunks.size(), 1u);
  EXPECT_EQ(ex.chunks[0],
            adapters::openai::error_event("The upstream stream broke.", "upstream_reset"));
  ASSERT_EQ(ex.chunks[0].substr(0, 6), "data: ");
  const json j = json::parse(ex.chunks[0].substr(6));
  EXPECT_EQ(j["error"]["message"], "The upstream stream broke.");
  EXPECT_EQ(j["error"]["code"], "upstream_reset");
  EXPECT_EQ(ex.chunks[0].find("[DONE]"), std::string::npos);
  EXPECT_TRUE(ex.finished);
  EXPECT_EQ(ex.finish_calls, 1);
  EXPECT_EQ(ex.log().error_type, "api_error");
  EXPECT_EQ(ex.log().error_code, "upstream_reset");
}

TEST(EndStreamWithError, WithoutACodeTheLogSaysStreamError) {
  FakeExchange ex;
  ClientStream client;
  run(end_stream_with_error(ex, Front::openai, client, "broke", ""));
  EXPECT_EQ(ex.log().error_code, "stream_error");
  EXPECT_TRUE(ex.finished);
}

void expect_anthropic_error_event(const std::string& chunk, std::string_view message) {
  const std::string prefix = "event: error\ndata: ";
  ASSERT_EQ(chunk.substr(0, prefix.size()), prefix) << chunk;
  ASSERT_GE(chunk.size(), prefix.size() + 2);
  EXPECT_EQ(chunk.substr(chunk.size() - 2), "\n\n");
  EXPECT_EQ(chunk.find("event:", prefix.size()), std::string::npos) << "one event: " << chunk;
  const json j = json::parse(chunk.substr(prefix.size()));
  EXPECT_EQ(j["type"], "error");
  EXPECT_EQ(j["error"]["type"], "api_error");
  EXPECT_EQ(j["error"]["message"], message);
}

TEST(EndStreamWithError, AnthropicClientGetsAnErrorEventFromItsWriterOrWithout) {
  {
    // A translated stream: the client's writer has its message open.
    FakeExchange ex;
    ClientStream client;
    client.started = true;
    client.writer = std::make_unique<adapters::messages_front::EventWriter>("m", "msg_req-test");
    std::string before;
    client.writer->on_chunk(
        R"({"id":"c","choices":[{"index":0,"delta":{"role":"assistant","content":"Once"}}]})",
        before);
    ASSERT_NE(before.find("message_start"), std::string::npos);
    run(end_stream_with_error(ex, Front::anthropic, client, "The upstream stream broke.",
                              "upstream_reset"));
    ASSERT_EQ(ex.chunks.size(), 1u);
    expect_anthropic_error_event(ex.chunks[0], "The upstream stream broke.");
    EXPECT_TRUE(ex.finished);
    EXPECT_EQ(ex.log().error_code, "upstream_reset");
  }
  {
    // Anthropic's bytes passed through: no writer, the event is written as Anthropic does.
    FakeExchange ex;
    ClientStream client;
    client.started = true;
    client.raw = true;
    run(end_stream_with_error(ex, Front::anthropic, client, "Overloaded \"now\"",
                              "upstream_error_event"));
    ASSERT_EQ(ex.chunks.size(), 1u);
    expect_anthropic_error_event(ex.chunks[0], "Overloaded \"now\"");
    EXPECT_TRUE(ex.finished);
  }
}

TEST(EndStreamWithError, DoesNotFinishWhenTheWriteFails) {
  for (Front front : {Front::openai, Front::anthropic}) {
    FakeExchange ex;
    ex.fail_writes = true;
    ClientStream client;
    client.started = true;
    run(end_stream_with_error(ex, front, client, "broke", "upstream_reset"));
    EXPECT_EQ(ex.write_calls, 1);
    EXPECT_TRUE(ex.chunks.empty());
    EXPECT_EQ(ex.finish_calls, 0) << "no end written to a client that is gone";
    EXPECT_FALSE(ex.finished);
  }
}

}  // namespace
}  // namespace switchyard::upstream
