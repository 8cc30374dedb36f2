#pragma once
// The one view a handler has of its client: send a whole response, start a stream and
// write to it, learn that the client left, and fill in the request's log record.
// http::Session implements it; tests fake it. Everything runs on the session's worker
// thread. Lives in src/ (not include/) because it speaks Asio, like every I/O header.

#include <functional>
#include <string>
#include <string_view>

#include "net/common.hpp"
#include "switchyard/telemetry/access_log.hpp"

namespace switchyard::http {

using Request = bhttp::request<bhttp::string_body>;
using Response = bhttp::response<bhttp::string_body>;
using StreamHead = bhttp::response<bhttp::empty_body>;

class Exchange {
 public:
  virtual ~Exchange() = default;

  virtual const std::string& request_id() const = 0;

  /// Sends a whole response (the request id header added). false: the client is gone.
  virtual net::awaitable<bool> send(Response& res) = 0;
  /// Sends an OpenAI-shaped error (and notes its type and code for the access log).
  net::awaitable<bool> send_error(int status, std::string_view message, std::string_view type,
                                  std::string_view code = {}, std::string_view param = {});

  /// Starts a chunked response (an event stream). false: the client is gone.
  virtual net::awaitable<bool> start_stream(StreamHead& head) = 0;
  /// One chunk of the stream (empty data writes nothing). false: the client is gone.
  virtual net::awaitable<bool> write(std::string_view data) = 0;
  /// Ends the stream.
  virtual net::awaitable<bool> finish() = 0;

  /// Watches the idle client socket while the request waits on its upstream: if the
  /// client closes, `on_gone` runs (on this thread) so upstream work can be cancelled
  /// instead of generating tokens nobody reads. Ends by itself at the first send() or
  /// start_stream().
  virtual void watch_client(std::function<void()> on_gone) = 0;
  virtual bool client_gone() const = 0;

  /// What this request did, for its access-log line and metrics; handlers fill in what
  /// they learn (model, deployment, usage, …).
  virtual telemetry::RequestLog& log() = 0;
  /// The error type and code of the response about to be sent (the first noted wins).
  virtual void note_error(std::string_view type, std::string_view code) = 0;
};

/// What serves requests: the route table (api/routes.hpp). One per worker.
class Handler {
 public:
  virtual ~Handler() = default;
  virtual net::awaitable<void> handle(Exchange& ex, Request& req) = 0;
};

}  // namespace switchyard::http
