#pragma once
// One client connection: reads requests with size and time limits, hands each to the
// worker's Handler (the route table), writes responses (whole or as a chunked event
// stream). Lives on one worker thread and sees the worker only through SessionEnv.

#include <atomic>
#include <functional>
#include <memory>
#include <random>
#include <string>

#include "http/exchange.hpp"
#include "switchyard/config/config.hpp"
#include "switchyard/telemetry/access_log.hpp"
#include "switchyard/telemetry/metrics.hpp"

namespace switchyard::http {

class Session;

/// The slice of its worker a session uses. Filled by the worker before it accepts.
struct SessionEnv {
  net::io_context* ioc = nullptr;
  const config::Server* server = nullptr;
  std::mt19937_64* rng = nullptr;  ///< request ids
  Handler* handler = nullptr;
  telemetry::WorkerMetrics* metrics = nullptr;  ///< null: metrics off
  const telemetry::Layout* layout = nullptr;
  telemetry::AccessLog* access_log = nullptr;  ///< null: off
  telemetry::AccessLog::Batch* access_batch = nullptr;
  std::atomic<bool>* draining = nullptr;
  std::atomic<int>* in_flight = nullptr;      ///< requests being handled (read by main)
  std::atomic<int>* open_sessions = nullptr;  ///< client connections (read by main)
  Session* sessions = nullptr;                ///< intrusive list of live sessions, this thread only
};

class Session final : public Exchange, public std::enable_shared_from_this<Session> {
 public:
  Session(AnyStream stream, SessionEnv& env, tcp::endpoint peer);
  ~Session() override;
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  net::awaitable<void> run();

  // --- Exchange (same thread) -------------------------------------------------------
  const std::string& request_id() const override { return request_id_; }
  net::awaitable<bool> send(Response& res) override;
  net::awaitable<bool> start_stream(StreamHead& head) override;
  net::awaitable<bool> write(std::string_view data) override;
  net::awaitable<bool> finish() override;
  void watch_client(std::function<void()> on_gone) override;
  bool client_gone() const override { return client_gone_; }
  telemetry::RequestLog& log() override { return log_; }
  void note_error(std::string_view type, std::string_view code) override;

  const tcp::endpoint& peer() const { return peer_; }
  void unwatch();

  /// Called on drain from the worker thread: wakes a session idling between requests.
  void wake_if_idle();

  Session* prev = nullptr;
  Session* next = nullptr;

 private:
  /// The handler, with the boundary that turns an escaping exception into a 500.
  net::awaitable<void> handle(Request& req);
  net::awaitable<void> reject_and_close(int status, std::string_view message,
                                        std::string_view code);
  net::awaitable<void> lingering_close();
  void arm_read_timer(std::chrono::milliseconds after);
  void assign_request_id(const Request& req);
  void begin_log(const Request& req);
  /// The request is over: its metrics and its access-log line.
  void finish_log();

  AnyStream stream_;
  SessionEnv& env_;
  tcp::endpoint peer_;
  beast::flat_buffer buffer_;
  net::steady_timer read_timer_;
  std::uint64_t read_gen_ = 0;
  bool read_timed_out_ = false;
  bool idle_ = false;
  bool keep_alive_ = true;
  bool http10_ = false;  // the request is HTTP/1.0: a stream is close-delimited
  std::string request_id_;
  struct Watch {
    bool active = true;
    std::function<void()> on_gone;
  };
  std::shared_ptr<Watch> watch_;
  bool client_gone_ = false;
  bool streaming_ = false;  // a chunked response is open (counted in open streams)
  telemetry::RequestLog log_;
  std::string peer_text_;  // "ip:port" for the access log, made at the first request
};

}  // namespace switchyard::http
