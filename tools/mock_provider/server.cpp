#include "server.hpp"

#include <linux/sockios.h>
#include <openssl/ssl.h>
#include <sys/ioctl.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "chat.hpp"
#include "dialects.hpp"
#include "directives.hpp"
#include "state.hpp"

namespace switchyard::mock {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;
using Millis = std::chrono::milliseconds;

constexpr auto kHold = Millis(kMaxWaitMs);  // how long stall / hang keep a connection
constexpr auto kWriteTimeout = std::chrono::seconds(60);
constexpr auto kHandshakeTimeout = std::chrono::seconds(10);
constexpr auto kShutdownTimeout = std::chrono::seconds(2);
constexpr std::uint64_t kBodyLimit = 64ull << 20;
constexpr std::uint32_t kHeaderLimit = 64u << 10;
// Beast reads max(512, free capacity) bytes at a time, so the buffer's capacity is the
// read size: enough for a whole typical request, more while a large body streams in.
constexpr std::size_t kReadBuffer = 4096;
constexpr std::size_t kLargeReadBuffer = 64u << 10;
// Bytes a client may send while a response is still running (pipelining) before the
// mock stops reading them, and so stops noticing the client leave.
constexpr std::size_t kWatchBufferLimit = 1u << 20;
constexpr auto kTuple = net::as_tuple(net::use_awaitable);

constexpr std::string_view kJson = "application/json";
constexpr std::string_view kEventStream = "text/event-stream";
constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
constexpr std::string_view kLastChunk = "0\r\n\r\n";
constexpr std::string_view kRateLimitHeaders =
    "x-ratelimit-limit-requests: 10000\r\n"
    "x-ratelimit-remaining-requests: 9999\r\n"
    "x-ratelimit-limit-tokens: 1000000\r\n"
    "x-ratelimit-remaining-tokens: 999000\r\n"
    "x-ratelimit-reset-requests: 6ms\r\n"
    "x-ratelimit-reset-tokens: 60ms\r\n";
constexpr std::string_view kAnthropicRateLimitHeaders =
    "anthropic-ratelimit-requests-limit: 10000\r\n"
    "anthropic-ratelimit-requests-remaining: 9999\r\n"
    "anthropic-ratelimit-tokens-limit: 1000000\r\n"
    "anthropic-ratelimit-tokens-remaining: 999000\r\n";

/// Everything the workers share. Immutable options plus thread-safe state.
struct Shared {
  explicit Shared(const Options& o) : opts(o) {}
  const Options& opts;
  Stats stats;
  SniLog sni;
  RequestLog log;
  std::atomic<std::uint64_t> seq{0};

  /// Counts requests per model name (for tail_every), from 1; not reset.
  std::uint64_t next_for_model(const std::string& model) {
    std::lock_guard lock(model_seq_mu);
    return ++model_seq[model];
  }
  std::mutex model_seq_mu;
  std::unordered_map<std::string, std::uint64_t> model_seq;
};

/// What a connection does once a response is written.
enum class Next { keep_alive, close, abort };

enum class Framing { length, chunked };

/// Headers only model responses (chat, messages, generateContent, embeddings) carry.
struct ChatMeta {
  std::uint64_t seq = 0;
  Clock::time_point received;
  const std::optional<std::string>* retry_after = nullptr;
  Dialect dialect = Dialect::openai;
};

struct Head {
  unsigned status = 200;
  std::string_view content_type;
  Framing framing = Framing::length;
  std::size_t length = 0;  ///< Content-Length when framing is length
  bool keep_alive = true;
  bool event_stream = false;
  const ChatMeta* chat = nullptr;
};

/// The error type a request the mock refuses gets: OpenAI's and Anthropic's
/// invalid_request_error, Google's INVALID_ARGUMENT.
std::string_view invalid_type(Dialect d) {
  return d == Dialect::gemini ? "INVALID_ARGUMENT" : "invalid_request_error";
}

/// An error body in a dialect's shape. `type` is OpenAI's / Anthropic's error type or
/// Google's status; code and param are OpenAI's only.
std::string dialect_error(Dialect d, unsigned status, std::string_view message,
                          std::string_view type, std::optional<std::string_view> code,
                          std::optional<std::string_view> param, std::uint64_t seq) {
  switch (d) {
    case Dialect::anthropic:
      return anthropic_error_json(type, message, seq);
    case Dialect::gemini:
      return gemini_error_json(status, message, type);
    case Dialect::openai:
    case Dialect::azure:
      break;
  }
  return error_json(message, type, code, param);
}

std::string_view reason(unsigned status) {
  const std::string_view r = http::obsolete_reason(static_cast<http::status>(status));
  return r == "<unknown-status>" ? std::string_view("Error") : r;
}

// Heads are written by hand: one append per header and no field container, since the
// plain completion path is what gateway benchmarks measure.
void append_head(std::string& out, const Head& h) {
  out.append("HTTP/1.1 ");
  append_uint(out, h.status);
  out.push_back(' ');
  out.append(reason(h.status));
  out.append("\r\n");
  if (!h.content_type.empty()) {
    out.append("Content-Type: ").append(h.content_type).append("\r\n");
  }
  if (h.framing == Framing::chunked) {
    out.append("Transfer-Encoding: chunked\r\n");
  } else {
    out.append("Content-Length: ");
    append_uint(out, h.length);
    out.append("\r\n");
  }
  if (h.event_stream) out.append("Cache-Control: no-cache\r\n");
  out.append(h.keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n");
  if (h.chat != nullptr) {
    out.append("x-request-id: req_mock_");
    append_uint(out, h.chat->seq);
    out.append("\r\n");
    if (openai_shaped(h.chat->dialect)) {
      if (h.status == 200) out.append(kRateLimitHeaders);
      out.append("openai-processing-ms: ");
      append_uint(out,
                  static_cast<std::uint64_t>(
                      std::chrono::duration_cast<Millis>(Clock::now() - h.chat->received).count()));
      out.append("\r\n");
    } else if (h.chat->dialect == Dialect::anthropic) {
      out.append("request-id: req_mock_");
      append_uint(out, h.chat->seq);
      out.append("\r\n");
      if (h.status == 200) out.append(kAnthropicRateLimitHeaders);
    }
    if (h.chat->retry_after != nullptr && h.chat->retry_after->has_value()) {
      out.append("Retry-After: ").append(**h.chat->retry_after).append("\r\n");
    }
  }
  out.append("\r\n");
}

void append_chunk(std::string& out, std::string_view data) {
  if (data.empty()) return;  // a zero-size chunk would end the body
  static constexpr char kHex[] = "0123456789abcdef";
  char buf[16];
  char* p = buf + sizeof buf;
  for (std::size_t n = data.size(); n != 0; n >>= 4) *--p = kHex[n & 0xf];
  out.append(p, buf + sizeof buf);
  out.append("\r\n");
  out.append(data);
  out.append("\r\n");
}

void report_exception(std::exception_ptr e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    std::fprintf(stderr, "switchyard-mock: connection failed: %s\n", x.what());
  }
}

// Coroutine rule for this file: never co_await inside an if/while/for condition; bind the
// result to a named variable first. GCC 12.2 lays out the frame of a coroutine whose body
// has such a condition and no top-level local wrongly, and the first resume executes ud2.

/// One client connection, plain or TLS. Lives on the worker that accepted it; all its
/// coroutines run on that worker's single-threaded io_context, so members need no lock.
template <class Stream>
class Session : public std::enable_shared_from_this<Session<Stream>> {
 public:
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

  template <class... Args>
  explicit Session(Shared& shared, Args&&... args)
      : shared_(shared),
        stream_(std::forward<Args>(args)...),
        wait_timer_(stream_.get_executor()),
        watch_done_(stream_.get_executor()) {
    buffer_.reserve(kReadBuffer);
  }

  static net::awaitable<void> run(std::shared_ptr<Session> self) { co_await self->serve(); }

 private:
  beast::tcp_stream& tcp() { return beast::get_lowest_layer(stream_); }

  net::awaitable<void> serve() {
    shared_.stats.active_connections.fetch_add(1, std::memory_order_relaxed);
    struct Gauge {
      Stats& stats;
      ~Gauge() { stats.active_connections.fetch_sub(1, std::memory_order_relaxed); }
    } gauge{shared_.stats};

    if constexpr (kTls) {
      tcp().expires_after(kHandshakeTimeout);
      auto [ec] = co_await stream_.async_handshake(ssl::stream_base::server, kTuple);
      if (ec) {
        log("tls handshake failed: %s", ec.message().c_str());
        co_return;
      }
    }
    for (;;) {
      const beast::error_code ec = co_await read_request();
      if (ec) {
        co_await on_read_error(ec);
        co_return;
      }
      const Next next = co_await dispatch(parser_->release());
      if (next == Next::keep_alive && !peer_gone_) continue;
      if (next == Next::close && !peer_gone_) co_await close_gracefully();
      co_return;
    }
  }

  net::awaitable<beast::error_code> read_request() {
    if (buffer_.capacity() > kReadBuffer && buffer_.size() <= kReadBuffer) {
      buffer_.shrink_to_fit();  // give back what the last large body needed
      buffer_.reserve(kReadBuffer);
    }
    // Likewise after a huge answer (tokens=1000000); normal ones keep their capacity.
    for (std::string* s : {&out_, &body_, &events_}) {
      if (s->capacity() > kLargeReadBuffer) std::string().swap(*s);
    }
    parser_.emplace();
    parser_->body_limit(kBodyLimit);
    parser_->header_limit(kHeaderLimit);
    tcp().expires_after(shared_.opts.idle_timeout);
    auto [ec, header_bytes] = co_await http::async_read_header(stream_, buffer_, *parser_, kTuple);
    if (ec || parser_->is_done()) co_return ec;
    // Usually the body came in with the header: parse it from the buffer here rather
    // than pay for one more asynchronous operation.
    if (!beast::iequals(parser_->get()[http::field::expect], "100-continue")) {
      parser_->eager(true);
      while (!parser_->is_done() && buffer_.size() > 0) {
        beast::error_code pec;
        const std::size_t used = parser_->put(buffer_.data(), pec);
        buffer_.consume(used);
        if (pec == http::error::need_more || used == 0) break;
        if (pec) co_return pec;
      }
      if (parser_->is_done()) co_return beast::error_code{};
    }
    const auto length = parser_->content_length();
    if (!length || *length > kReadBuffer) buffer_.reserve(kLargeReadBuffer);
    // curl and others wait up to a second for this before they send a large body.
    if (beast::iequals(parser_->get()[http::field::expect], "100-continue")) {
      tcp().expires_after(kWriteTimeout);
      auto [wec, sent] = co_await net::async_write(stream_, net::buffer(kContinue), kTuple);
      if (wec) co_return wec;
      tcp().expires_after(shared_.opts.idle_timeout);
    }
    auto [bec, body_bytes] = co_await http::async_read(stream_, buffer_, *parser_, kTuple);
    co_return bec;
  }

  net::awaitable<void> on_read_error(beast::error_code ec) {
    if (ec == http::error::body_limit) {
      co_await reject(413, "Request body exceeds the mock's 64 MiB limit.");
    } else if (ec == http::error::header_limit) {
      co_await reject(431, "Request header fields too large.");
    } else if (ec.category() == http::make_error_code(http::error::bad_target).category() &&
               ec != http::error::end_of_stream && ec != http::error::partial_message &&
               ec != http::error::short_read) {
      co_await reject(400, "Malformed HTTP request: " + ec.message());
    }
    // Anything else is the peer leaving between or during requests (eof, reset, or
    // ssl::error::stream_truncated from a TLS client that skips close_notify) or the idle
    // timeout: there is no one left to answer.
  }

  net::awaitable<void> reject(unsigned status, const std::string& message) {
    const std::string body = error_json(message, "invalid_request_error");
    append_head(out_, Head{status, kJson, Framing::length, body.size(), false, false, nullptr});
    out_.append(body);
    const bool sent = co_await write_out();
    if (sent) co_await close_gracefully();
  }

  net::awaitable<Next> dispatch(Request req) {
    const std::string_view target = req.target();
    const std::string_view path = target.substr(0, target.find('?'));
    const http::verb method = req.method();
    const bool keep = req.keep_alive();
    std::string label;
    last_status_ = 0;  // stays 0 when the request gets no response (reset, hang)
    if (shared_.opts.verbose) label = std::string(req.method_string()) + " " + std::string(target);

    Next next = Next::close;
    if (path.starts_with("/mock/")) {
      next = co_await mock_endpoint(path, method, req.method_string(), keep);
    } else {
      shared_.stats.requests.fetch_add(1, std::memory_order_relaxed);
      std::optional<Route> route;
      if (method == http::verb::post) route = route_for(target);
      if (route) {
        next = co_await model_request(std::move(req), std::move(*route));
      } else if (method == http::verb::get && path.ends_with("/models")) {
        next = co_await respond(200, kJson, kModelsJson, keep);
      } else {
        next = co_await not_found(req.method_string(), path, keep);
      }
    }
    if (shared_.opts.verbose) {
      const std::string status = last_status_ != 0 ? std::to_string(last_status_) : "no response";
      log("%s -> %s%s", label.c_str(), status.c_str(), peer_gone_ ? " (peer gone)" : "");
    }
    co_return next;
  }

  net::awaitable<Next> mock_endpoint(std::string_view path, http::verb method,
                                     std::string_view method_name, bool keep) {
    if (method == http::verb::get && path == "/mock/stats") {
      co_return co_await respond(200, kJson, stats_json(shared_.stats, shared_.sni), keep);
    }
    if (method == http::verb::post && path == "/mock/reset") {
      shared_.stats.reset();
      shared_.sni.clear();
      shared_.log.clear();
      co_return co_await respond(200, kJson, "{}", keep);
    }
    if (method == http::verb::get && path == "/mock/requests") {
      co_return co_await respond(200, kJson, shared_.log.to_json(), keep);
    }
    co_return co_await not_found(method_name, path, keep);
  }

  net::awaitable<Next> not_found(std::string_view method, std::string_view path, bool keep) {
    std::string message = "Invalid URL (";
    message.append(method).append(" ").append(path).append(")");
    co_return co_await respond(404, kJson, error_json(message, "invalid_request_error"), keep);
  }

  /// A whole response with a Content-Length body in one write.
  net::awaitable<Next> respond(unsigned status, std::string_view content_type,
                               std::string_view body, bool keep, const ChatMeta* meta = nullptr) {
    append_head(out_, Head{status, content_type, Framing::length, body.size(), keep, false, meta});
    out_.append(body);
    last_status_ = status;
    const bool sent = co_await write_out();
    if (!sent) co_return Next::abort;
    co_return keep ? Next::keep_alive : Next::close;
  }

  /// Any model request (chat completions, messages, generateContent, embeddings) in any
  /// dialect. Directives, the request log, counters and the watcher are shared; the shape
  /// of the answer is the route's.
  net::awaitable<Next> model_request(Request req, Route route) {
    const auto received = Clock::now();
    Directives d;
    std::optional<std::string> bad;
    for (auto [it, end] = req.equal_range("x-mock"); it != end && !bad; ++it) {
      bad = apply_directives(it->value(), "the x-mock header", d);
    }
    if (!bad && !route.path_directives.empty()) {
      bad = apply_directives(route.path_directives, "the model name in the URL", d);
    }
    ChatRequest cr = inspect_request(route, req.body());
    if (!bad && !cr.directives.empty()) bad = apply_directives(cr.directives, "the model name", d);
    if (route.dialect == Dialect::anthropic && req.find("anthropic-version") == req.end()) {
      cr.invalid_message = "anthropic-version: header is required";
    }

    const std::uint64_t seq = shared_.seq.fetch_add(1, std::memory_order_relaxed) + 1;
    const std::uint64_t prompt_tokens = (req.body().size() + 3) / 4;
    const bool keep = req.keep_alive() && !d.close;
    shared_.log.record(std::move(req));
    const ChatMeta meta{seq, received, &d.retry_after, route.dialect};

    if (route.reject_status != 0) {
      co_return co_await respond(route.reject_status, kJson, route.reject_body, keep, &meta);
    }
    if (bad) {
      co_return co_await respond(
          400, kJson,
          dialect_error(route.dialect, 400, *bad, invalid_type(route.dialect),
                        "invalid_mock_directive", std::nullopt, seq),
          keep, &meta);
    }

    // A "stream" here is a streaming request the mock answers (or holds) on the 200
    // path; each one ends as completed or aborted.
    const bool filtered = d.content_filter && openai_shaped(route.dialect) && route.op == Op::chat;
    const bool refused_prefill = d.reject_prefill && cr.prefill && route.op == Op::chat;
    const bool sse =
        cr.stream && !d.reset_before_head &&
        (d.hang || (d.status == 0 && cr.valid() && !d.empty_body && !filtered && !refused_prefill));
    if (sse) shared_.stats.streams_started.fetch_add(1, std::memory_order_relaxed);
    stream_done_ = false;

    // tail_every/tail_ms: a slow tail on a fixed share of one model's requests, for
    // hedging tests and benchmarks.
    if (d.tail_every > 0 && shared_.next_for_model(cr.model) % d.tail_every == 0) {
      d.latency_ms += d.tail_ms;
    }
    // cut_pct: a share of streams reset at a random point (reproducible: drawn from the
    // mock-wide sequence number), for stream-rescue tests and benchmarks.
    if (d.cut_pct > 0 && cr.stream && !d.reset_after) {
      std::uint64_t h = seq * 0x9E3779B97F4A7C15ULL;  // splitmix64
      h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9ULL;
      h = (h ^ (h >> 27)) * 0x94D049BB133111EBULL;
      h ^= h >> 31;
      if (h % 100 < d.cut_pct) {
        d.reset_after = 1 + static_cast<std::uint32_t>((h >> 32) % std::max(1u, d.tokens));
      }
    }
    if (d.latency_ms > 0 || d.hang ||
        (sse && (d.chunk_delay_ms > 0 || d.first_token_ms.value_or(0) > 0 || d.stall_after))) {
      start_watch();
    }
    const Next next = co_await model_respond(route, cr, d, meta, keep, prompt_tokens);
    co_await stop_watch();

    if (sse) {
      auto& counter =
          stream_done_ ? shared_.stats.streams_completed : shared_.stats.streams_aborted;
      counter.fetch_add(1, std::memory_order_relaxed);
    }
    co_return next;
  }

  net::awaitable<Next> model_respond(const Route& route, const ChatRequest& cr, const Directives& d,
                                     const ChatMeta& meta, bool keep, std::uint64_t prompt_tokens) {
    const Dialect dialect = route.dialect;
    if (d.latency_ms > 0) {
      const bool alive = co_await pause(Millis(d.latency_ms));
      if (!alive) co_return Next::abort;
    }
    if (d.reset_before_head) {
      reset_now();
      co_return Next::abort;
    }
    if (d.hang) {
      const bool alive = co_await pause(kHold);
      stream_done_ = alive;
      co_return alive ? Next::close : Next::abort;
    }
    unsigned status = d.status;
    if (d.fail_until_ms) {
      const auto now_ms =
          static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                         std::chrono::system_clock::now().time_since_epoch())
                                         .count());
      status = now_ms < *d.fail_until_ms ? (status != 0 ? status : 500u) : 0u;
    }
    if (status != 0) {
      const std::string message = "mock error " + std::to_string(status);
      const auto type_or = [&d](std::string_view fallback) {
        return d.error_type ? std::string_view(*d.error_type) : fallback;
      };
      std::string body;
      if (dialect == Dialect::anthropic) {
        body = anthropic_error_json(type_or(anthropic_error_type(status)), message, meta.seq);
      } else if (dialect == Dialect::gemini) {
        body = gemini_error_json(status, message, type_or(google_status(status)));
      } else {
        const ErrorShape shape = default_error_shape(status);
        std::optional<std::string_view> code = shape.code;
        if (d.error_code) {
          code =
              d.error_code->empty() ? std::nullopt : std::optional<std::string_view>(*d.error_code);
        }
        body = error_json(message, type_or(shape.type), code);
      }
      co_return co_await respond(status, kJson, body, keep, &meta);
    }
    if (d.reject_stream_options && cr.has_stream_options && openai_shaped(dialect)) {
      // The shape of a pydantic "extra fields not permitted" answer (e.g. Mistral's API).
      co_return co_await respond(
          422, kJson,
          R"({"object":"error","message":{"detail":[{"type":"extra_forbidden","loc":["body","stream_options"],"msg":"Extra inputs are not permitted"}]},"type":"invalid_request_error","param":null,"code":null})",
          keep, &meta);
    }
    if (!cr.valid()) {
      const auto opt = [](const std::string& s) {
        return s.empty() ? std::nullopt : std::optional<std::string_view>(s);
      };
      co_return co_await respond(
          400, kJson,
          dialect_error(dialect, 400, cr.invalid_message, invalid_type(dialect),
                        opt(cr.invalid_code), opt(cr.invalid_param), meta.seq),
          keep, &meta);
    }
    if (d.reject_prefill && cr.prefill && route.op == Op::chat) {
      co_return co_await respond(
          400, kJson,
          dialect_error(dialect, 400, kPrefillNotSupported, invalid_type(dialect),
                        "prefill_not_supported", "messages", meta.seq),
          keep, &meta);
    }
    if (d.content_filter && openai_shaped(dialect) && route.op == Op::chat) {
      co_return co_await respond(400, kJson, azure_content_filter_json(), keep, &meta);
    }
    if (d.empty_body) {
      co_return co_await respond(200, cr.stream ? kEventStream : kJson, "", keep, &meta);
    }

    body_.clear();
    if (route.op != Op::chat) {
      if (d.invalid_json) {
        body_.append(kInvalidJsonBody);
      } else if (dialect == Dialect::gemini) {
        append_gemini_embeddings(body_, cr, route.op == Op::embed_batch);
      } else {
        append_openai_embeddings(body_, cr.model, cr);
      }
      co_return co_await unary_answer(d, meta, keep);
    }

    Answer a;
    a.seq = meta.seq;
    a.created = static_cast<std::int64_t>(std::time(nullptr));
    a.model = cr.model;
    a.tool_call = d.tool_call || cr.wants_tool;
    a.tool_name = cr.tool_name;
    a.tokens = d.tokens;
    // A continuation answers what the full text has beyond the prefill (or the full text
    // when the prefill is not a prefix of it); a tool call ignores the prefill.
    if (cr.prefill && !a.tool_call) {
      if (const auto at = continue_after(a.tokens, *cr.prefill)) {
        a.first_token = at->token;
        a.first_offset = at->offset;
      }
    }
    // max_tokens bounds the tokens generated, not the prefill.
    if (cr.max_tokens && !a.tool_call && a.pieces() > *cr.max_tokens) {
      a.tokens = a.first_token + *cr.max_tokens;
      a.truncated = true;
    }
    a.prompt_tokens = prompt_tokens;
    a.include_usage = cr.include_usage;
    a.cached_tokens = d.cached_tokens;
    a.cache_write_tokens = d.cache_write_tokens;
    if (d.finish_reason) a.finish_reason = *d.finish_reason;
    a.blocked = d.blocked && dialect == Dialect::gemini;

    if (cr.stream) {
      const auto writer = make_event_writer(dialect, a);
      co_return co_await stream_answer(*writer, d, meta, keep);
    }
    if (d.invalid_json) {
      body_.append(kInvalidJsonBody);
    } else if (dialect == Dialect::anthropic) {
      append_message(body_, a);
    } else if (dialect == Dialect::gemini && route.url_stream) {
      append_generate_array(body_, a);  // streamGenerateContent without alt=sse
    } else if (dialect == Dialect::gemini) {
      append_generate_response(body_, a);
    } else {
      append_completion(body_, a);
    }
    co_return co_await unary_answer(d, meta, keep);
  }

  /// Sends body_ as a 200 with the framing (and the reset) the directives ask for.
  net::awaitable<Next> unary_answer(const Directives& d, const ChatMeta& meta, bool keep) {
    const Framing framing = d.chunked ? Framing::chunked : Framing::length;
    append_head(out_, Head{200, kJson, framing, body_.size(), keep, false, &meta});
    last_status_ = 200;
    // reset_after sends half of what the head promised, then drops the connection.
    const std::string_view payload =
        std::string_view(body_).substr(0, d.reset_after ? body_.size() / 2 : body_.size());
    if (framing == Framing::chunked) {
      append_chunk(out_, payload);
      if (!d.reset_after) out_.append(kLastChunk);
    } else {
      out_.append(payload);
    }
    const bool sent = co_await write_out();
    if (!sent) co_return Next::abort;
    if (d.reset_after) {
      co_await drain_and_reset();
      co_return Next::abort;
    }
    co_return keep ? Next::keep_alive : Next::close;
  }

  net::awaitable<Next> stream_answer(const EventWriter& w, const Directives& d,
                                     const ChatMeta& meta, bool keep) {
    sse_ = Sse{d.crlf, d.comments, d.events_per_write, d.chunk_delay_ms};
    events_.clear();
    pending_events_ = 0;
    writes_ = 0;
    next_delay_ms_ = d.chunk_delay_ms;
    append_head(out_, Head{200, kEventStream, Framing::chunked, 0, keep, true, &meta});
    last_status_ = 200;
    const Next finished = keep ? Next::keep_alive : Next::close;
    const bool done_marker = w.done_marker() && !d.no_done;
    // See the coroutine rule above the class.
    bool ok = true;

    if (d.invalid_json) {
      begin_event(w.count(Part::head) > 0 ? w.name(Part::head, 0) : std::string_view{});
      events_.append(kInvalidJsonEvent);
      ok = co_await finish_stream(true, done_marker);
      if (!ok) co_return Next::abort;
      co_return finished;
    }

    const std::size_t heads = w.count(Part::head);
    for (std::size_t i = 0; i < heads; ++i) {
      begin_event(w.name(Part::head, i));
      w.write(events_, Part::head, i);
      ok = co_await end_event();
      if (!ok) co_return Next::abort;
    }
    if (d.first_token_ms) {
      // The head events go out now, whatever events_per_write says.
      ok = co_await flush(false);
      if (!ok) co_return Next::abort;
      next_delay_ms_ = *d.first_token_ms;
    }

    // "after N" directives fire once N content events are out; N beyond the last content
    // event fires just before the finish events.
    const std::size_t n = w.count(Part::content);
    const auto fires = [n](const std::optional<std::uint32_t>& after, std::size_t i) {
      return after && std::min<std::size_t>(*after, n) == i;
    };
    for (std::size_t i = 0; i <= n; ++i) {
      if (fires(d.reset_after, i)) {
        ok = co_await flush(false);
        if (!ok) co_return Next::abort;
        co_await drain_and_reset();
        stream_done_ = true;
        co_return Next::abort;
      }
      if (fires(d.stall_after, i)) {
        ok = co_await flush(false);
        if (!ok) co_return Next::abort;
        const bool alive = co_await pause(kHold);
        stream_done_ = alive;
        co_return alive ? Next::close : Next::abort;
      }
      if (fires(d.error_event_after, i)) {
        begin_event(w.error_name());
        w.error(events_,
                d.error_type ? std::optional<std::string_view>(*d.error_type) : std::nullopt);
        ok = co_await finish_stream(true, false);
        if (!ok) co_return Next::abort;
        co_return finished;
      }
      if (i == n) break;
      begin_event(w.name(Part::content, i));
      w.write(events_, Part::content, i);
      ok = co_await end_event();
      if (!ok) co_return Next::abort;
    }

    // The finish events; no_done leaves out the dialect's terminator (or [DONE]).
    const std::size_t all_tails = w.count(Part::tail);
    const std::size_t tails =
        all_tails - (d.no_done ? std::min(w.terminator_events(), all_tails) : 0);
    bool open = false;
    for (std::size_t i = 0; i < tails; ++i) {
      if (open) {
        ok = co_await end_event();
        if (!ok) co_return Next::abort;
      }
      begin_event(w.name(Part::tail, i));
      w.write(events_, Part::tail, i);
      open = true;
    }
    ok = co_await finish_stream(open, done_marker);
    if (!ok) co_return Next::abort;
    co_return finished;
  }

  // SSE framing. An event is appended to events_ between begin_event() and end_event();
  // every events_per_write events become one HTTP chunk and one write.

  std::string_view eol() const { return sse_.crlf ? "\r\n" : "\n"; }

  void begin_event(std::string_view name = {}) {
    if (sse_.comments) events_.append(": keep-alive").append(eol()).append(eol());
    if (!name.empty()) events_.append("event: ").append(name).append(eol());
    events_.append("data: ");
  }

  net::awaitable<bool> end_event() {
    events_.append(eol()).append(eol());
    if (++pending_events_ < sse_.per_write) co_return true;
    co_return co_await flush(false);
  }

  /// Ends the event under construction (if `open`), adds `data: [DONE]` if asked, and
  /// writes what is left with the terminating chunk. Marks the stream done on success.
  net::awaitable<bool> finish_stream(bool open, bool done_marker) {
    bool ok = true;
    if (done_marker) {
      if (open) {
        ok = co_await end_event();
        if (!ok) co_return false;
      }
      begin_event();
      events_.append("[DONE]");
      open = true;
    }
    if (open) events_.append(eol()).append(eol());
    ok = co_await flush(true);
    if (!ok) co_return false;
    stream_done_ = true;
    co_return true;
  }

  /// Writes pending events (and the last chunk when `last`), first waiting the gap due
  /// since the previous write. False when the peer is gone.
  net::awaitable<bool> flush(bool last) {
    const bool had_events = !events_.empty();
    append_chunk(out_, events_);
    events_.clear();
    pending_events_ = 0;
    if (last) out_.append(kLastChunk);
    if (out_.empty()) co_return true;
    if (had_events && writes_ > 0 && next_delay_ms_ > 0) {
      const bool alive = co_await pause(Millis(next_delay_ms_));
      if (!alive) co_return false;
    }
    next_delay_ms_ = sse_.chunk_delay_ms;
    ++writes_;
    co_return co_await write_out();
  }

  /// Writes and clears out_. False when the write failed (the peer is gone).
  net::awaitable<bool> write_out() {
    // While the watcher's read is pending this sets only the write deadline.
    tcp().expires_after(kWriteTimeout);
    auto [ec, n] = co_await net::async_write(stream_, net::buffer(out_), kTuple);
    out_.clear();
    if (ec) peer_gone_ = true;
    co_return !ec;
  }

  /// Sleeps `d` unless the peer goes away first (the watcher cancels the timer then).
  net::awaitable<bool> pause(Millis d) {
    if (peer_gone_) co_return false;
    wait_timer_.expires_after(d);
    co_await wait_timer_.async_wait(kTuple);
    co_return !peer_gone_;
  }

  // The watcher keeps a read pending while a response waits, so a client that hangs up
  // during latency, a stall or a hang is noticed at once. Bytes it reads (a pipelined
  // next request) stay in buffer_ for the next parse.

  void start_watch() {
    if (watching_) return;
    watching_ = true;
    stop_watching_ = false;
    // No read is pending, so this arms the read deadline the watcher runs under.
    tcp().expires_after(kHold + std::chrono::minutes(1));
    watch_done_.expires_at(Clock::time_point::max());
    net::co_spawn(stream_.get_executor(), watch(this->shared_from_this()), report_exception);
  }

  static net::awaitable<void> watch(std::shared_ptr<Session> self) { co_await self->watch_peer(); }

  net::awaitable<void> watch_peer() {
    while (!stop_watching_ && !peer_gone_ && buffer_.size() < kWatchBufferLimit) {
      auto [ec, n] = co_await stream_.async_read_some(buffer_.prepare(4096), kTuple);
      buffer_.commit(n);
      if (!ec) continue;
      if (!stop_watching_) {
        peer_gone_ = true;
        shared_.stats.requests_abandoned.fetch_add(1, std::memory_order_relaxed);
        wait_timer_.cancel();
      }
      break;
    }
    watching_ = false;
    watch_done_.cancel();
  }

  net::awaitable<void> stop_watch() {
    if (!watching_) co_return;
    stop_watching_ = true;
    beast::error_code ec;
    tcp().socket().cancel(ec);
    co_await watch_done_.async_wait(kTuple);
  }

  void reset_now() {
    beast::error_code ec;
    tcp().socket().set_option(net::socket_base::linger(true, 0), ec);
    tcp().close();
  }

  // SO_LINGER {1,0} discards whatever the kernel still queues, so give the peer a moment
  // to receive what was written; on loopback the queue is empty at once.
  net::awaitable<void> drain_and_reset() {
    for (int i = 0; i < 200 && !peer_gone_; ++i) {
      int queued = 0;
      if (::ioctl(tcp().socket().native_handle(), SIOCOUTQ, &queued) != 0 || queued <= 0) break;
      const bool alive = co_await pause(Millis(1));
      if (!alive) break;
    }
    reset_now();
  }

  net::awaitable<void> close_gracefully() {
    co_await stop_watch();
    if constexpr (kTls) {
      tcp().expires_after(kShutdownTimeout);
      // Sends close_notify and waits for the peer's. Clients that got `Connection: close`
      // usually just hang up, so eof, stream_truncated and the timeout are all expected.
      co_await stream_.async_shutdown(kTuple);
    }
    beast::error_code ec;
    tcp().socket().shutdown(tcp::socket::shutdown_send, ec);
  }

  template <class... Args>
  void log(const char* fmt, Args... args) const {
    if (!shared_.opts.verbose) return;
    std::fprintf(stderr, "switchyard-mock: ");
    std::fprintf(stderr, fmt, args...);
    std::fputc('\n', stderr);
  }

  struct Sse {
    bool crlf = false;
    bool comments = false;
    std::uint32_t per_write = 1;
    std::uint32_t chunk_delay_ms = 0;
  };

  Shared& shared_;
  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  net::steady_timer wait_timer_;  // every directive wait; the watcher cancels it
  net::steady_timer watch_done_;  // fires (is cancelled) when the watcher has ended
  std::string out_;               // bytes of the next write; keeps its capacity across requests
  std::string body_;              // non-stream completion body
  std::string events_;            // SSE events not yet framed into a chunk
  Sse sse_;
  std::uint32_t pending_events_ = 0;
  std::uint64_t writes_ = 0;
  std::uint32_t next_delay_ms_ = 0;
  unsigned last_status_ = 0;
  bool watching_ = false;
  bool stop_watching_ = false;
  bool peer_gone_ = false;
  bool stream_done_ = false;
};

using PlainSession = Session<beast::tcp_stream>;
using TlsSession = Session<ssl::stream<beast::tcp_stream>>;

int on_servername(SSL* ssl, int* /*alert*/, void* arg) {
  static_cast<SniLog*>(arg)->record(SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name));
  return SSL_TLSEXT_ERR_OK;
}

net::awaitable<void> accept_loop(tcp::acceptor& acceptor,
                                 std::vector<std::unique_ptr<net::io_context>>& workers,
                                 Shared& shared, ssl::context* tls) {
  net::steady_timer backoff(acceptor.get_executor());
  std::size_t next = 0;
  for (;;) {
    // Round-robin keeps the load even even with few connections, which SO_REUSEPORT's
    // hashing does not.
    net::io_context& worker = *workers[next++ % workers.size()];
    auto [ec, socket] = co_await acceptor.async_accept(worker, kTuple);
    if (ec == net::error::operation_aborted) co_return;
    if (ec) {
      // EMFILE and friends: back off rather than spin; the listener stays up.
      std::fprintf(stderr, "switchyard-mock: accept failed: %s\n", ec.message().c_str());
      backoff.expires_after(Millis(50));
      co_await backoff.async_wait(kTuple);
      continue;
    }
    shared.stats.connections_accepted.fetch_add(1, std::memory_order_relaxed);
    socket.set_option(tcp::no_delay(true), ec);  // SSE events must leave at once
    if (tls != nullptr) {
      auto session = std::make_shared<TlsSession>(shared, std::move(socket), *tls);
      net::co_spawn(worker, TlsSession::run(std::move(session)), report_exception);
    } else {
      auto session = std::make_shared<PlainSession>(shared, std::move(socket));
      net::co_spawn(worker, PlainSession::run(std::move(session)), report_exception);
    }
  }
}

tcp::endpoint listen_endpoint(net::io_context& ctx, const Options& opts) {
  beast::error_code ec;
  const auto address = net::ip::make_address(opts.host, ec);
  if (!ec) return {address, opts.port};
  tcp::resolver resolver(ctx);
  const auto results =
      resolver.resolve(opts.host, std::to_string(opts.port), tcp::resolver::passive);
  if (results.empty()) throw std::runtime_error("cannot resolve " + opts.host);
  return results.begin()->endpoint();
}

}  // namespace

void run_server(const Options& opts) {
  Shared shared(opts);

  std::optional<ssl::context> tls;
  if (!opts.tls_cert.empty()) {
    tls.emplace(ssl::context::tls_server);
    SSL_CTX_set_min_proto_version(tls->native_handle(), TLS1_2_VERSION);
    tls->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                     ssl::context::no_sslv3);
    beast::error_code ec;
    tls->use_certificate_chain_file(opts.tls_cert, ec);
    if (ec) throw std::runtime_error("cannot load " + opts.tls_cert + ": " + ec.message());
    tls->use_private_key_file(opts.tls_key, ssl::context::pem, ec);
    if (ec) throw std::runtime_error("cannot load " + opts.tls_key + ": " + ec.message());
    // The callback sees every ClientHello, including ones whose handshake fails later
    // (a client that rejects the mock's certificate still shows what SNI it sent).
    SSL_CTX_set_tlsext_servername_callback(tls->native_handle(), &on_servername);
    SSL_CTX_set_tlsext_servername_arg(tls->native_handle(), &shared.sni);
  }

  const unsigned n = std::max(1u, opts.threads);
  std::vector<std::unique_ptr<net::io_context>> contexts;
  for (unsigned i = 0; i < n; ++i) contexts.push_back(std::make_unique<net::io_context>(1));

  {
    net::io_context& main_ctx = *contexts.front();
    // Installed before LISTENING is printed, so a test may signal as soon as it reads it.
    net::signal_set signals(main_ctx, SIGINT, SIGTERM);
    signals.async_wait([&contexts](const beast::error_code& ec, int) {
      if (ec) return;
      for (auto& c : contexts) c->stop();
    });

    tcp::acceptor acceptor(main_ctx);
    const tcp::endpoint endpoint = listen_endpoint(main_ctx, opts);
    beast::error_code ec;
    acceptor.open(endpoint.protocol(), ec);
    if (!ec) acceptor.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor.bind(endpoint, ec);
    if (!ec) acceptor.listen(net::socket_base::max_listen_connections, ec);
    if (ec) {
      throw std::runtime_error("cannot listen on " + opts.host + ":" + std::to_string(opts.port) +
                               ": " + ec.message());
    }
    std::printf("LISTENING %u\n", static_cast<unsigned>(acceptor.local_endpoint().port()));
    std::fflush(stdout);

    net::co_spawn(main_ctx, accept_loop(acceptor, contexts, shared, tls ? &*tls : nullptr),
                  report_exception);

    std::vector<net::executor_work_guard<net::io_context::executor_type>> guards;
    std::vector<std::thread> threads;
    for (unsigned i = 1; i < n; ++i) {
      guards.push_back(net::make_work_guard(*contexts[i]));
      threads.emplace_back([&ctx = *contexts[i]] { ctx.run(); });
    }
    main_ctx.run();
    for (auto& t : threads) t.join();
  }
  // The pending accept owns a socket of some worker's context, so the acceptor's context
  // is torn down first; each context destroys the sessions still parked in it.
  for (auto& c : contexts) c.reset();
}

}  // namespace switchyard::mock
