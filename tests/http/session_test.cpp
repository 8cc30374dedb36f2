// http::Session's boundary (issue 13, defect 1): an exception out of a handler must not
// leave the request without an answer or its in-flight slot taken. A real socket pair on
// loopback, a handler that throws.
#include "http/session.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

namespace switchyard::http {
namespace {

class ThrowingHandler final : public Handler {
 public:
  net::awaitable<void> handle(Exchange& ex, Request&) override {
    ex.log().model = "m";  // a handler that got somewhere before failing
    throw std::runtime_error("boom");
    co_return;
  }
};

class AnsweringHandler final : public Handler {
 public:
  net::awaitable<void> handle(Exchange& ex, Request&) override {
    co_await ex.send_error(418, "teapot", "invalid_request_error", "teapot");
  }
};

struct Rig {
  net::io_context ioc;
  config::Server server;
  std::mt19937_64 rng{1};
  std::atomic<bool> draining{false};
  std::atomic<int> in_flight{0}, open_sessions{0};
  SessionEnv env;

  explicit Rig(Handler& h) {
    env.ioc = &ioc;
    env.server = &server;
    env.rng = &rng;
    env.handler = &h;
    env.draining = &draining;
    env.in_flight = &in_flight;
    env.open_sessions = &open_sessions;
  }

  // Sends `request` to a session on a loopback socket and returns everything it answered
  // until it closed the connection (or 5 s passed).
  std::string exchange(std::string_view request) {
    tcp::acceptor acceptor(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    tcp::socket client(ioc);
    client.connect(acceptor.local_endpoint());
    tcp::socket accepted = acceptor.accept();
    auto session = std::make_shared<Session>(AnyStream(beast::tcp_stream(std::move(accepted))), env,
                                             tcp::endpoint{});
    net::co_spawn(ioc, session->run(), net::detached);
    net::write(client, net::buffer(request.data(), request.size()));
    std::string answer;
    net::async_read(client, net::dynamic_buffer(answer), [](error_code, std::size_t) {});
    ioc.run_for(std::chrono::seconds(5));
    return answer;
  }
};

constexpr std::string_view kRequest =
    "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
    "Connection: keep-alive\r\n\r\n{}";

TEST(SessionBoundary, AThrowingHandlerIsA500AndGivesItsSlotBack) {
  ThrowingHandler h;
  Rig rig(h);
  const std::string answer = rig.exchange(kRequest);
  EXPECT_EQ(answer.rfind("HTTP/1.1 500 ", 0), 0u) << answer;
  EXPECT_NE(answer.find("\"type\":\"server_error\""), std::string::npos) << answer;
  EXPECT_NE(answer.find("\"code\":\"internal_error\""), std::string::npos) << answer;
  EXPECT_NE(answer.find("Connection: close"), std::string::npos)
      << "after an internal error the connection is not reused";
  EXPECT_EQ(rig.in_flight.load(), 0);
  EXPECT_EQ(rig.open_sessions.load(), 0) << "the session ended";
}

// The control: the rig sees a handler's own answer, so the 500 above is the boundary's.
TEST(SessionBoundary, AHandlersOwnAnswerGoesOut) {
  AnsweringHandler h;
  Rig rig(h);
  const std::string answer =
      rig.exchange("POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(answer.rfind("HTTP/1.1 418 ", 0), 0u) << answer;
  EXPECT_EQ(rig.in_flight.load(), 0);
}

}  // namespace
}  // namespace switchyard::http
