#pragma once
// One client connection: reads requests with size and time limits, dispatches them,
// writes responses (whole or as a chunked event stream). Lives on one worker thread.

#include <functional>
#include <memory>
#include <string>

#include "net/common.hpp"
#include "switchyard/telemetry/access_log.hpp"

namespace switchyard::app {
struct Worker;
}

namespace switchyard::http {

using Request = bhttp::request<bhttp::string_body>;
using Response = bhttp::response<bhttp::string_body>;

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(AnyStream stream, app::Worker& worker, tcp::endpoint peer);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  net::awaitable<void> run();

  // --- for handlers (same thread) ---------------------------------------------------
  app::Worker& worker() { return worker_; }
  const std::string& request_id() const { return request_id_; }
  const tcp::endpoint& peer() const { return peer_; }

  /// Sends a whole response. Adds the request id header. Returns false if the client is gone.
  net::awaitable<bool> send(Response& res);
  /// Sends an OpenAI-shaped error.
  net::awaitable<bool> send_error(int status, std::string_view message, std::string_view type,
                                  std::string_view code = {}, std::string_view param = {});
  /// Starts a chunked response (event streams). Returns false if the client is gone.
  net::awaitable<bool> start_chunked(bhttp::response<bhttp::empty_body>& head);
  net::awaitable<bool> write_chunk(std::string_view data);
  net::awaitable<bool> finish_chunked();

  /// Watches the idle client socket while a request waits on its upstream: if the client
  /// closes, `on_gone` runs (on this thread) so the upstream attempt can be cancelled
  /// instead of generating tokens nobody reads. The watch ends by itself at the first
  /// send()/start_chunked(), or with unwatch().
  void watch_client(std::function<void()> on_gone);
  void unwatch();
  bool client_gone() const { return client_gone_; }

  /// What this request did, for its access-log line and metrics; handlers fill in what
  /// they learn (model, deployment, usage, …). Reset at each new request.
  telemetry::RequestLog& log() { return log_; }
  /// The error type and code of the response about to be sent, for the access log (the
  /// first one noted wins; without one, send() reads them from an error body).
  void note_error(std::string_view type, std::string_view code);

  /// Called on drain from the worker thread: wakes a session idling between requests.
  void wake_if_idle();

  Session* prev = nullptr;
  Session* next = nullptr;

 private:
  net::awaitable<void> dispatch(Request& req);
  net::awaitable<void> reject_and_close(int status, std::string_view message,
                                        std::string_view code);
  net::awaitable<void> lingering_close();
  void arm_read_timer(std::chrono::milliseconds after);
  void assign_request_id(const Request& req);
  void begin_log(const Request& req);
  /// The request is over: its metrics and its access-log line.
  void finish_log();

  AnyStream stream_;
  app::Worker& worker_;
  tcp::endpoint peer_;
  beast::flat_buffer buffer_;
  net::steady_timer read_timer_;
  std::uint64_t read_gen_ = 0;
  bool read_timed_out_ = false;
  bool idle_ = false;
  bool keep_alive_ = true;
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
