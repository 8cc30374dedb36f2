#include "http/session.hpp"

#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <cstdio>

#include "switchyard/api/errors.hpp"

namespace switchyard::http {
namespace {

constexpr std::size_t kFirstReadBytes = 8192;
constexpr auto kLingerTime = std::chrono::milliseconds(1000);
constexpr std::size_t kLingerBytes = 1 << 20;

std::string_view path_of(std::string_view target) {
  auto q = target.find('?');
  return q == std::string_view::npos ? target : target.substr(0, q);
}

bool valid_request_id(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.' || c == ':';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

Session::Session(AnyStream stream, SessionEnv& env, tcp::endpoint peer)
    : stream_(std::move(stream)), env_(env), peer_(peer), read_timer_(*env.ioc) {
  next = env_.sessions;
  if (next) next->prev = this;
  env_.sessions = this;
  env_.open_sessions->fetch_add(1, std::memory_order_relaxed);
}

Session::~Session() {
  env_.open_sessions->fetch_sub(1, std::memory_order_relaxed);
  if (prev) prev->next = next;
  if (next) next->prev = prev;
  if (env_.sessions == this) env_.sessions = next;
}

void Session::wake_if_idle() {
  if (idle_) {
    error_code ignored;
    stream_.tcp().socket().cancel(ignored);
  }
}

void Session::watch_client(std::function<void()> on_gone) {
  unwatch();
  client_gone_ = false;
  auto w = std::make_shared<Watch>();
  w->on_gone = std::move(on_gone);
  watch_ = w;
  stream_.tcp().socket().async_wait(
      tcp::socket::wait_read, [self = shared_from_this(), w](error_code ec) {
        if (ec || !w->active) return;
        w->active = false;
        char b;
        ssize_t n =
            ::recv(self->stream_.tcp().socket().native_handle(), &b, 1, MSG_PEEK | MSG_DONTWAIT);
        // 0: orderly close; <0 (not EAGAIN): reset. >0 means the client sent more bytes
        // (a pipelined request, TLS records): nothing to conclude, so stop watching.
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
          self->client_gone_ = true;
          self->keep_alive_ = false;
          if (w->on_gone) w->on_gone();
        }
      });
}

void Session::unwatch() {
  if (!watch_) return;
  bool was_active = watch_->active;
  watch_->active = false;
  watch_->on_gone = nullptr;
  watch_.reset();
  if (was_active) {
    error_code ignored;
    stream_.tcp().socket().cancel(ignored);
  }
}

void Session::arm_read_timer(std::chrono::milliseconds after) {
  // A timer instead of tcp_stream's own expiry, because that one closes the socket and
  // we still want to answer 408 on it.
  read_timed_out_ = false;
  read_timer_.expires_after(after);
  read_timer_.async_wait([self = shared_from_this(), gen = read_gen_](error_code ec) {
    if (ec || gen != self->read_gen_) return;  // cancelled, or fired for an older read
    self->read_timed_out_ = true;
    error_code ignored;
    self->stream_.tcp().socket().cancel(ignored);
  });
}

void Session::assign_request_id(const Request& req) {
  auto it = req.find("x-request-id");
  if (it != req.end() && valid_request_id(it->value())) {
    request_id_.assign(it->value());
    return;
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::uint64_t a = (*env_.rng)(), b = (*env_.rng)();
  request_id_.assign("req_");
  for (int i = 0; i < 16; ++i) request_id_.push_back(kHex[(a >> (i * 4)) & 15]);
  for (int i = 0; i < 16; ++i) request_id_.push_back(kHex[(b >> (i * 4)) & 15]);
}

net::awaitable<void> Session::run() {
  auto self = shared_from_this();
  const config::Server& sc = *env_.server;

  if (auto* tls = stream_.tls()) {
    stream_.tcp().expires_after(sc.header_timeout);
    auto [ec] = co_await tls->async_handshake(ssl::stream_base::server, use_nothrow);
    if (ec) co_return;  // scanners and plain-HTTP clients on the TLS port: nothing to say
  }

  for (;;) {
    if (buffer_.size() == 0) {
      // Keep-alive wait for the next request's first byte: idle_timeout, then close
      // silently (tcp_stream's expiry closes the socket for us).
      if (env_.draining->load(std::memory_order_relaxed)) break;
      idle_ = true;
      stream_.tcp().expires_after(sc.idle_timeout);
      auto [ec, n] = co_await stream_.visit([&](auto& s) {
        return s.async_read_some(buffer_.prepare(kFirstReadBytes), use_nothrow);
      });
      idle_ = false;
      if (ec) break;
      buffer_.commit(n);
    }
    stream_.tcp().expires_never();

    bhttp::request_parser<bhttp::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(sc.max_header_bytes));
    parser.body_limit(sc.max_body_bytes);
    arm_read_timer(sc.header_timeout);
    auto [hec, hn] = co_await stream_.visit(
        [&](auto& s) { return bhttp::async_read_header(s, buffer_, parser, use_nothrow); });
    error_code ec = hec;
    if (!ec && !parser.is_done()) {
      // curl and others send "Expect: 100-continue" for larger bodies and wait (1 s for
      // curl) before sending the body unless told to go ahead.
      auto expect = parser.get().find(bhttp::field::expect);
      if (expect != parser.get().end() && beast::iequals(expect->value(), "100-continue")) {
        stream_.tcp().expires_after(sc.header_timeout);
        auto [wec, wn] = co_await stream_.visit([&](auto& s) {
          return net::async_write(s, net::buffer("HTTP/1.1 100 Continue\r\n\r\n", 25), use_nothrow);
        });
        stream_.tcp().expires_never();
        if (wec) break;
      }
      ++read_gen_;
      read_timer_.cancel();
      arm_read_timer(sc.idle_timeout);  // the body may take longer than the head
      auto [bec, bn] = co_await stream_.visit(
          [&](auto& s) { return bhttp::async_read(s, buffer_, parser, use_nothrow); });
      ec = bec;
    }
    ++read_gen_;
    read_timer_.cancel();
    if (ec) {
      if (read_timed_out_) {
        co_await reject_and_close(408, "The client did not send the request in time.",
                                  "request_timeout");
      } else if (ec == bhttp::error::header_limit) {
        co_await reject_and_close(431, "The request head is larger than the server accepts.",
                                  "request_header_fields_too_large");
      } else if (ec == bhttp::error::body_limit) {
        co_await reject_and_close(413, "The request body is larger than the server accepts.",
                                  "request_too_large");
      } else if (
          // A client that closes (or resets) between requests, or a TLS client that closes
          // without close_notify (stream_truncated, which Beast's examples ignore for the
          // same reason: the peer is gone and there is nobody to answer), is not malformed.
          ec != bhttp::error::end_of_stream && ec != net::error::eof &&
          ec != net::error::connection_reset && ec != net::error::operation_aborted &&
          ec != ssl::error::stream_truncated) {
        co_await reject_and_close(400, "Malformed HTTP request.", "bad_request");
      }
      break;
    }

    Request req = parser.release();
    keep_alive_ = req.keep_alive() && !env_.draining->load(std::memory_order_relaxed);
    http10_ = req.version() < 11;
    assign_request_id(req);
    begin_log(req);
    env_.in_flight->fetch_add(1, std::memory_order_relaxed);
    co_await handle(req);
    unwatch();
    env_.in_flight->fetch_sub(1, std::memory_order_relaxed);
    finish_log();
    if (client_gone_) break;
    if (!keep_alive_) break;
  }

  // Graceful close: TLS close_notify if we can, then FIN.
  if (auto* tls = stream_.tls()) {
    stream_.tcp().expires_after(std::chrono::milliseconds(500));
    co_await tls->async_shutdown(use_nothrow);
  }
  error_code ignored;
  stream_.tcp().socket().shutdown(tcp::socket::shutdown_both, ignored);
  stream_.tcp().close();
}

net::awaitable<void> Session::handle(Request& req) {
  // The request path reports errors as values; an exception here is a bug. It must not
  // leave the request without an answer or its counters unbalanced (the session runs
  // detached: an escaping exception would vanish with it), so it is caught at this
  // boundary: logged, answered 500 if nothing was sent yet, and the connection closed.
  std::exception_ptr failed;
  try {
    co_await env_.handler->handle(*this, req);
  } catch (...) {
    failed = std::current_exception();
  }
  if (!failed) co_return;
  std::string what = "unknown exception";
  try {
    std::rethrow_exception(failed);
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
  }
  spdlog::error("{} internal error while handling {} {}: {}", request_id_, log_.method, log_.path,
                what);
  keep_alive_ = false;
  if (log_.status == 0 && !client_gone_) {
    co_await send_error(500, "The gateway failed on this request; it has been logged.",
                        "server_error", "internal_error");
  }
}

net::awaitable<void> Session::lingering_close() {
  // After an early error response (413, 431, 408) the client may still be sending; if we
  // closed at once its TCP stack could turn our answer into a reset before it is read.
  error_code ignored;
  stream_.tcp().socket().shutdown(tcp::socket::shutdown_send, ignored);
  auto until = Clock::now() + kLingerTime;
  std::size_t drained = 0;
  char sink[16384];
  while (drained < kLingerBytes && Clock::now() < until) {
    stream_.tcp().expires_at(until);
    auto [ec, n] = co_await stream_.tcp().async_read_some(net::buffer(sink), use_nothrow);
    if (ec) break;
    drained += n;
  }
}

net::awaitable<void> Session::reject_and_close(int status, std::string_view message,
                                               std::string_view code) {
  keep_alive_ = false;
  // The request id of the request that could not be read (the previous one's otherwise).
  assign_request_id(Request{});
  begin_log(Request{});
  co_await send_error(status, message, "invalid_request_error", code);
  finish_log();
  if (!stream_.is_tls()) co_await lingering_close();
}

void Session::begin_log(const Request& req) {
  log_.reset();
  log_.start = Clock::now();
  log_.unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::system_clock::now().time_since_epoch())
                     .count();
  log_.request_id = request_id_;
  if (req.method() != bhttp::verb::unknown) log_.method.assign(req.method_string());
  log_.path.assign(path_of(req.target()));
  if (peer_text_.empty()) {  // once per connection
    const auto addr = peer_.address();
    peer_text_ = addr.to_string();
    if (addr.is_v6()) {
      peer_text_.insert(peer_text_.begin(), '[');
      peer_text_.push_back(']');
    }
    peer_text_ += ':';
    peer_text_ += std::to_string(peer_.port());
  }
  log_.client = peer_text_;
}

void Session::finish_log() {
  if (streaming_) {
    streaming_ = false;
    if (env_.metrics) env_.metrics->stream_closed();
  }
  // Nothing was sent: the client left first (nginx's 499).
  if (log_.status == 0) log_.status = 499;
  const double ms = std::chrono::duration<double, std::milli>(Clock::now() - log_.start).count();
  if (env_.metrics) {
    const int slot = log_.slot >= 0 ? log_.slot : env_.layout->unknown_slot();
    env_.metrics->request(log_.endpoint, slot, log_.status, ms / 1000);
    if (log_.ttft_ms >= 0 && log_.slot >= 0) env_.metrics->ttft(slot, log_.ttft_ms / 1000);
  }
  if (env_.access_log) env_.access_log->write(*env_.access_batch, log_, ms);
}

namespace {

// Serialises a response head by hand into one contiguous buffer: Beast's serializer walks
// a buffers_cat_view byte range per field, which costs more than the whole rest of a
// relayed request. Framing fields are ours to set, never copied from the message.
enum class Framing { length, chunked, close };

void append_head(std::string& out, const bhttp::fields& fields, unsigned status,
                 std::string_view reason, const std::string& request_id, bool keep_alive,
                 std::size_t content_length, Framing framing) {
  out.append("HTTP/1.1 ");
  out.append(std::to_string(status));
  out.push_back(' ');
  out.append(reason);
  out.append("\r\n");
  for (const auto& f : fields) {
    auto name = f.name();
    if (name == bhttp::field::content_length || name == bhttp::field::transfer_encoding ||
        name == bhttp::field::connection) {
      continue;
    }
    out.append(f.name_string());
    out.append(": ");
    out.append(f.value());
    out.append("\r\n");
  }
  out.append("x-switchyard-request-id: ");
  out.append(request_id);
  if (framing == Framing::chunked) {
    out.append("\r\nTransfer-Encoding: chunked");
  } else if (framing == Framing::length) {
    out.append("\r\nContent-Length: ");
    out.append(std::to_string(content_length));
  }  // Framing::close: the body ends when the connection does
  out.append(keep_alive ? "\r\nConnection: keep-alive\r\n\r\n" : "\r\nConnection: close\r\n\r\n");
}

}  // namespace

void Session::note_error(std::string_view type, std::string_view code) {
  if (!log_.error_type.empty()) return;
  log_.error_type.assign(type.substr(0, 64));
  log_.error_code.assign(code.substr(0, 64));
}

namespace {

// The error's type and code for the access log, from an OpenAI- or Anthropic-shaped body
// (a provider's, relayed), when the code that made the response did not say.
void note_error_body(telemetry::RequestLog& log, std::string_view body) {
  if (!log.error_type.empty() || body.size() > (64u << 10)) return;
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return;
  auto it = j.find("error");
  if (it == j.end() || !it->is_object()) return;
  auto str = [&](const char* k) {
    auto v = it->find(k);
    return v != it->end() && v->is_string() ? v->get<std::string>().substr(0, 64) : std::string();
  };
  log.error_type = str("type");
  log.error_code = str("code");
}

}  // namespace

net::awaitable<bool> Session::send(Response& res) {
  unwatch();
  log_.status = res.result_int();
  if (log_.status >= 400) note_error_body(log_, res.body());
  std::string head;
  head.reserve(512);
  append_head(head, res.base(), res.result_int(), bhttp::obsolete_reason(res.result()), request_id_,
              keep_alive_, res.body().size(), Framing::length);
  std::array<net::const_buffer, 2> bufs{net::buffer(head), net::buffer(res.body())};
  stream_.tcp().expires_after(env_.server->idle_timeout);
  auto [ec, n] =
      co_await stream_.visit([&](auto& s) { return net::async_write(s, bufs, use_nothrow); });
  if (ec) keep_alive_ = false;
  co_return !ec;
}

net::awaitable<bool> Exchange::send_error(int status, std::string_view message,
                                          std::string_view type, std::string_view code,
                                          std::string_view param) {
  note_error(type, code);  // known here: no need to read it back from the body
  Response res{static_cast<bhttp::status>(status), 11};
  res.set(bhttp::field::content_type, "application/json");
  res.body() = api::error_json(message, type, code, param);
  co_return co_await send(res);
}

net::awaitable<bool> Session::start_stream(StreamHead& head) {
  unwatch();
  log_.status = head.result_int();
  log_.stream = true;
  if (!streaming_) {
    streaming_ = true;
    if (env_.metrics) env_.metrics->stream_opened();
  }
  // An HTTP/1.0 client cannot read chunked encoding (RFC 9112 §7.1 forbids sending it): its
  // stream is close-delimited, the connection ending the body.
  if (http10_) keep_alive_ = false;
  std::string bytes;
  bytes.reserve(512);
  append_head(bytes, head.base(), head.result_int(), bhttp::obsolete_reason(head.result()),
              request_id_, keep_alive_, 0, http10_ ? Framing::close : Framing::chunked);
  stream_.tcp().expires_after(env_.server->idle_timeout);
  auto [ec, n] = co_await stream_.visit(
      [&](auto& s) { return net::async_write(s, net::buffer(bytes), use_nothrow); });
  if (ec) keep_alive_ = false;
  co_return !ec;
}

net::awaitable<bool> Session::write(std::string_view data) {
  if (data.empty()) co_return true;  // an empty chunk would end the body
  if (http10_) {
    stream_.tcp().expires_after(env_.server->idle_timeout);
    auto [ec, n] = co_await stream_.visit([&](auto& s) {
      return net::async_write(s, net::buffer(data.data(), data.size()), use_nothrow);
    });
    if (!ec && log_.ttft_ms < 0) {
      log_.ttft_ms = std::chrono::duration<double, std::milli>(Clock::now() - log_.start).count();
    }
    co_return !ec;
  }
  char size_line[24];
  int len = std::snprintf(size_line, sizeof size_line, "%zx\r\n", data.size());
  std::array<net::const_buffer, 3> bufs{net::buffer(size_line, static_cast<std::size_t>(len)),
                                        net::buffer(data.data(), data.size()),
                                        net::buffer("\r\n", 2)};
  stream_.tcp().expires_after(env_.server->idle_timeout);
  auto [ec, n] =
      co_await stream_.visit([&](auto& s) { return net::async_write(s, bufs, use_nothrow); });
  if (ec) keep_alive_ = false;
  // A stream's first chunk holds its first content event (the relay commits there).
  if (!ec && log_.ttft_ms < 0) {
    log_.ttft_ms = std::chrono::duration<double, std::milli>(Clock::now() - log_.start).count();
  }
  co_return !ec;
}

net::awaitable<bool> Session::finish() {
  if (http10_) co_return true;  // the close after this request ends the body
  stream_.tcp().expires_after(env_.server->idle_timeout);
  auto [ec, n] = co_await stream_.visit(
      [&](auto& s) { return net::async_write(s, net::buffer("0\r\n\r\n", 5), use_nothrow); });
  if (ec) keep_alive_ = false;
  co_return !ec;
}

}  // namespace switchyard::http
