#include "upstream/attempt.hpp"

#include <spdlog/spdlog.h>

#include <array>

#include "switchyard/router/health.hpp"
#include "switchyard/telemetry/trace.hpp"
#include "upstream/encode.hpp"

namespace switchyard::upstream {
namespace {

using api::Errc;

constexpr std::size_t kMaxUpstreamBody = 64u << 20;  // non-stream answers
constexpr std::size_t kMaxErrorBody = 1u << 20;
constexpr std::uint32_t kMaxUpstreamHead = 64u << 10;

Outcome stopped_outcome() { return Outcome{}; }  // done: nobody waits for this attempt

std::int64_t unix_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Connects (or reuses a pooled connection), writes the request and reads the response
// head into a.parser. A pooled connection the provider closed while it sat idle fails on
// first use; that is not the provider's fault, so it tries once more on a fresh one.
// Returns nullopt when the head arrived.
net::awaitable<std::optional<Outcome>> send_and_read_head(
    Attempt& a, const std::array<net::const_buffer, 2>& request_bytes) {
  const config::Provider& prov = *a.prov;
  const config::ProviderTimeouts& t = prov.timeouts;
  Pool& pool = *a.pool;
  for (int tries = 0;; ++tries) {
    Acquired acq = co_await pool.acquire(earliest(Clock::now() + t.connect, a.total_at));
    if (acq.error != Errc::ok) co_return failover(acq.error, "no free connection to " + prov.name);
    a.conn = std::move(acq.conn);
    const bool reused = a.conn != nullptr;
    if (!a.conn) {
      if (a.cancelled) {
        pool.release(nullptr, false);  // the reserved slot
        co_return stopped_outcome();
      }
      Connected nc = co_await pool.connect(earliest(Clock::now() + t.connect, a.total_at));
      if (nc.error != Errc::ok) {
        pool.release(nullptr, false);
        co_return failover(nc.error, nc.detail);
      }
      a.conn = std::move(nc.conn);
    }
    if (a.cancelled) {
      give_back(a, false);
      co_return stopped_outcome();
    }
    ++a.conn->requests;

    a.sent_at = Clock::now();
    Deadline head_dl = pick({a.sent_at + t.first_byte, Errc::first_byte_timeout},
                            {a.total_at, Errc::total_timeout});
    a.conn->stream.tcp().expires_at(head_dl.at);
    auto [wec, wn] = co_await a.conn->stream.visit(
        [&](auto& s) { return net::async_write(s, request_bytes, use_nothrow); });
    error_code ec = wec;
    if (!ec) {
      a.parser.emplace();
      a.parser->header_limit(kMaxUpstreamHead);
      a.parser->body_limit(boost::none);  // bounded by our own limits while reading
      auto [hec, hn] = co_await a.conn->stream.visit([&](auto& s) {
        return bhttp::async_read_header(s, a.conn->buffer, *a.parser, use_nothrow);
      });
      ec = hec;
    }
    if (!ec) {
      a.ttfb_ms = std::chrono::duration<double, std::milli>(Clock::now() - a.sent_at).count();
      co_return std::nullopt;
    }
    give_back(a, false);
    if (a.cancelled) co_return stopped_outcome();
    bool stale = ec == bhttp::error::end_of_stream || ec == net::error::eof ||
                 ec == net::error::connection_reset || ec == net::error::broken_pipe;
    if (reused && stale && tries == 0 && Clock::now() < a.total_at) continue;
    Errc e = classify_io(ec, head_dl.on_timeout);
    co_return failover(e, describe_io(ec, e, e == Errc::total_timeout ? t.total : t.first_byte));
  }
}

// Reads a stream up to its first content event (its win point). Nothing reaches the
// client here, so any failure is a clean failover.
net::awaitable<Outcome> first_content(Attempt& a, const CallRequest& rq) {
  using config::ProviderKind;
  StreamRelay::Options o;
  if (a.prov->kind == ProviderKind::anthropic || a.prov->kind == ProviderKind::gemini) {
    const adapters::DecodeContext ctx{a.d->model, rq.stream_id, unix_seconds()};
    o.tx = adapters::StreamTranscoder(a.prov->kind == ProviderKind::anthropic
                                          ? adapters::StreamTranscoder::Dialect::anthropic
                                          : adapters::StreamTranscoder::Dialect::gemini,
                                      ctx);
  }
  o.raw = a.raw;
  o.client_include_usage = rq.chat.client_include_usage;
  o.continuation = a.continuation;
  if (a.continuation) {
    o.skip_ws = a.prefill.skip_ws;
    o.client_id = a.client_id;
    o.prefill_chunks = a.prefill_chunks;
  }
  if (rq.front == Front::anthropic) {
    // Anthropic clients: the writer turns OpenAI payloads into their events; on a stream
    // passed through as bytes it runs in the shadow (output dropped), so that a rescue can
    // go on exactly where the client's view of the message is. Racing attempts (a hedge)
    // each have their own until one commits and hands it over.
    if (a.continuation && a.client_writer) {
      o.writer = a.client_writer;
    } else {
      o.own_writer = std::make_unique<adapters::messages_front::EventWriter>(
          a.d->model, "msg_" + rq.request_id);
    }
  }
  a.stream = std::make_unique<StreamRelay>(std::move(o));
  StreamRelay& s = *a.stream;
  const config::ProviderTimeouts& t = a.prov->timeouts;
  while (!a.parser->is_done() && !s.stopped() && !s.commit_now) {
    co_await pump(a, false);
    if (a.stream_e != Errc::ok) break;
    // Bytes that keep coming without content do not extend the first-token deadline.
    if (!s.commit_now && Clock::now() >= a.head_at + t.first_token) {
      a.stream_e = Errc::first_token_timeout;
      break;
    }
  }
  if (s.commit_now && a.stream_e == Errc::ok) {
    a.ttft_ms = std::chrono::duration<double, std::milli>(s.first_content_at - a.sent_at).count();
    Outcome ready;
    ready.kind = Outcome::Kind::ready;
    co_return ready;
  }
  give_back(a, false);
  if (a.cancelled) co_return stopped_outcome();
  if (s.upstream_error) {
    co_return failover(Errc::upstream_error_event,
                       "upstream sent an error event: " + s.upstream_error_msg.substr(0, 300), 200);
  }
  const Errc e = a.stream_e;
  if (e != Errc::ok) {
    co_return failover(
        e, describe_io(a.stream_ec, e, e == Errc::first_token_timeout ? t.first_token : t.idle));
  }
  co_return failover(
      s.skipped ? Errc::upstream_malformed : Errc::upstream_empty,
      s.skipped ? "stream carried no valid JSON event" : "stream ended before any content", 200);
}

// An error status: read its (bounded) body and classify it (failover.hpp).
net::awaitable<Outcome> on_error_status(Attempt& a, const CallRequest& rq, bool request_usage) {
  auto& head = a.parser->get();
  std::string body;
  error_code ec;
  Errc e =
      co_await read_all(*a.conn, *a.parser, body, kMaxErrorBody, a.prov->timeouts, a.total_at, ec);
  give_back(a, e == Errc::ok && head.keep_alive());
  ErrorStatus in;
  in.status = head.result_int();
  in.body = body;
  in.body_ok = e == Errc::ok;
  in.content_type = head[bhttp::field::content_type];
  for (const auto& f : head) {
    if (is_passthrough_header(f.name_string())) {
      in.passthrough_headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
    }
  }
  if (auto ra = head.find(bhttp::field::retry_after); ra != head.end()) {
    // Both forms (delay-seconds, HTTP-date) by the router's parser, in whole seconds up.
    if (auto ms = router::parse_retry_after(std::string_view(ra->value()),
                                            std::chrono::system_clock::now())) {
      in.retry_after_s = static_cast<long>(std::chrono::ceil<std::chrono::seconds>(*ms).count());
    }
  }
  in.kind = a.prov->kind;
  in.raw = a.raw;
  in.continuation = a.continuation;
  in.added_stream_options = request_usage && rq.chat.stream && !rq.chat.client_include_usage;
  co_return error_outcome(in);
}

}  // namespace

net::awaitable<Outcome> open(Attempt& a, const CallRequest& rq, std::mt19937_64& rng,
                             bool request_usage) {
  const config::Provider& prov = *a.prov;
  const config::ProviderTimeouts& t = prov.timeouts;
  a.total_at = Clock::now() + t.total;
  a.ttfb_ms = a.ttft_ms = -1;
  a.headroom = {};
  a.stream.reset();

  // The request in the deployment's dialect.
  adapters::Encoded enc;
  api::ClientError cerr;
  AttemptRequest ar;
  ar.prefill_body = a.continuation ? &a.prefill.body : nullptr;
  ar.raw = a.raw;
  ar.request_usage = request_usage;
  if (!encode_attempt(rq, *a.d, prov, ar, enc, cerr)) {
    Outcome o;
    o.kind = Outcome::Kind::unsupported;
    o.status = cerr.status;
    o.detail = cerr.message;
    o.client_error = std::move(cerr);
    co_return o;
  }
  const std::string head_bytes = request_head(
      prov, enc, rq.chat.stream, telemetry::child_traceparent(rq.trace, rng), rq.tracestate);
  const std::array<net::const_buffer, 2> request_bytes{net::buffer(head_bytes),
                                                       net::buffer(enc.body)};
  std::optional<Outcome> failed = co_await send_and_read_head(a, request_bytes);
  if (failed) co_return std::move(*failed);
  a.head_at = Clock::now();

  auto& head = a.parser->get();
  a.headroom = router::parse_ratelimit(
      [&head](std::string_view name) -> std::string_view {
        auto it = head.find(name);
        if (it == head.end()) return {};
        return std::string_view(it->value().data(), it->value().size());
      },
      std::chrono::system_clock::now());
  const int status = head.result_int();
  if (status < 200 || status >= 300) co_return co_await on_error_status(a, rq, request_usage);
  std::string_view ctype = head[bhttp::field::content_type];
  if (rq.chat.stream && ctype.substr(0, 17) == "text/event-stream") {
    co_return co_await first_content(a, rq);
  }
  if (!rq.chat.stream) {
    // A non-stream answer's head comes when the whole answer is ready: this attempt has
    // won; the relay reads and checks the body.
    a.ttft_ms = a.ttfb_ms;
    Outcome ready;
    ready.kind = Outcome::Kind::ready;
    co_return ready;
  }
  // A stream was asked for and something else came back: read it (for the connection's
  // sake) and fail over.
  std::string body;
  error_code ec;
  Errc e = co_await read_all(*a.conn, *a.parser, body, kMaxUpstreamBody, t, a.total_at, ec);
  give_back(a, e == Errc::ok && head.keep_alive());
  if (e == Errc::ok && body.empty()) {
    co_return failover(Errc::upstream_empty, "empty response body", status);
  }
  co_return failover(Errc::upstream_malformed,
                     "expected an event stream, got " + std::string(ctype), status);
}

net::awaitable<void> pump(Attempt& a, bool committed) {
  StreamRelay& s = *a.stream;
  const config::ProviderTimeouts& t = a.prov->timeouts;
  Deadline dl =
      pick({Clock::now() + t.idle, Errc::idle_timeout}, {a.total_at, Errc::total_timeout});
  if (!committed) dl = pick(dl, {a.head_at + t.first_token, Errc::first_token_timeout});
  std::size_t n = 0;
  a.stream_e =
      co_await read_some(*a.conn, *a.parser, s.buf.data(), s.buf.size(), n, dl, a.stream_ec);
  if (!s.feed(std::string_view(s.buf.data(), n), Clock::now())) {
    a.stream_e = Errc::upstream_malformed;
    co_return;
  }
  if (a.stream_e == Errc::ok && a.parser->is_done()) s.body_ended(Clock::now());
}

net::awaitable<Errc> read_some(Connection& c, ResponseParser& p, char* buf, std::size_t cap,
                               std::size_t& n, Deadline dl, error_code& ec) {
  p.get().body().data = buf;
  p.get().body().size = cap;
  c.stream.tcp().expires_at(dl.at);
  auto [rec, _] = co_await c.stream.visit(
      [&](auto& s) { return bhttp::async_read_some(s, c.buffer, p, use_nothrow); });
  n = cap - p.get().body().size;
  ec = rec;
  if (ec == bhttp::error::need_buffer) ec = {};
  if (!ec) co_return Errc::ok;
  co_return classify_io(ec, dl.on_timeout);
}

net::awaitable<Errc> read_all(Connection& c, ResponseParser& p, std::string& out, std::size_t limit,
                              const config::ProviderTimeouts& t, Clock::time_point total_at,
                              error_code& ec) {
  char buf[StreamRelay::kReadChunk];
  while (!p.is_done()) {
    std::size_t n = 0;
    Deadline dl =
        pick({Clock::now() + t.idle, Errc::idle_timeout}, {total_at, Errc::total_timeout});
    Errc e = co_await read_some(c, p, buf, sizeof buf, n, dl, ec);
    out.append(buf, n);
    if (e != Errc::ok) co_return e;
    if (out.size() > limit) co_return Errc::upstream_malformed;
  }
  co_return Errc::ok;
}

Errc classify_io(const error_code& ec, Errc timeout_kind) {
  if (ec == beast::error::timeout) return timeout_kind;
  // A peer that closes without TLS close_notify shows up as stream_truncated: for an
  // upstream that is a dropped connection (a reset), not a TLS failure, as in Beast's
  // examples, which ignore it on shutdown for the same reason.
  if (ec.category() == net::error::get_ssl_category() && ec != ssl::error::stream_truncated) {
    return Errc::tls_failed;
  }
  return Errc::upstream_reset;
}

std::string describe_io(const error_code& ec, Errc e, std::chrono::milliseconds limit) {
  if (api::is_timeout(e)) {
    return std::string(api::name_of(e)) + " after " + std::to_string(limit.count()) + " ms";
  }
  if (!ec && e == Errc::upstream_malformed) {
    // Not an I/O error: the stream itself broke a limit (an event or line too large).
    return "upstream sent an event larger than the gateway accepts (4 MiB)";
  }
  if (ec == bhttp::error::end_of_stream || ec == net::error::eof ||
      ec == bhttp::error::partial_message || ec == ssl::error::stream_truncated) {
    return "upstream closed the connection";
  }
  return "upstream connection failed: " + ec.message();
}

void cancel(Attempt& a) {
  a.cancelled = true;
  if (a.conn) {
    // Closing the provider's connection is what stops it generating.
    error_code ignored;
    a.conn->stream.tcp().socket().cancel(ignored);
  }
}

}  // namespace switchyard::upstream
