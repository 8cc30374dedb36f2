#include "upstream/relay.hpp"

#include <nlohmann/json.hpp>

#include "switchyard/adapters/anthropic.hpp"
#include "switchyard/adapters/gemini.hpp"
#include "switchyard/adapters/messages_front.hpp"
#include "switchyard/adapters/openai.hpp"
#include "switchyard/api/json_scan.hpp"

namespace switchyard::upstream {
namespace {

using api::Errc;
using config::ProviderKind;

constexpr std::size_t kMaxUpstreamBody = 64u << 20;  // non-stream answers
constexpr auto kDrainAfterDone = std::chrono::milliseconds(1000);

template <class Head>
void add_gateway_headers(Head& h, const Attempt& a, const AnswerHeaders& g) {
  for (const auto& f : a.parser->get()) {
    if (is_passthrough_header(f.name_string())) h.set(f.name_string(), f.value());
  }
  h.set("x-switchyard-deployment", a.d->provider + "/" + a.d->model);
  h.set("x-switchyard-attempts", std::to_string(g.attempts));
  if (g.hedged) h.set("x-switchyard-hedge", a.hedge ? "backup-won" : "primary-won");
  if (!g.route.empty()) h.set("x-switchyard-route", g.route);
}

std::int64_t unix_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A chat answer from another dialect, decoded into OpenAI's. false: `out` is the outcome.
bool decode_chat(Attempt& a, const CallRequest& rq, std::string& body, int status, Outcome& out) {
  const adapters::DecodeContext ctx{a.d->model, rq.stream_id, unix_seconds()};
  std::string openai_json, why;
  bool ok = false;
  if (a.prov->kind == ProviderKind::anthropic) {
    ok = adapters::anthropic::decode_response(body, ctx, openai_json, a.usage, why);
  } else {
    api::ClientError blocked;
    ok = adapters::gemini::decode_response(body, ctx, openai_json, a.usage, blocked, why);
    if (!ok && !blocked.message.empty()) {
      // A prompt the provider's safety filter refused: the client's to fix, no failover.
      out = Outcome{};
      out.kind = Outcome::Kind::passthrough;
      out.status = blocked.status;
      out.reply.status = blocked.status;
      out.reply.body = api::error_json(blocked.message, blocked.type, blocked.code, blocked.param);
      return false;
    }
  }
  if (!ok) {
    out = failover(Errc::upstream_malformed, "unreadable answer: " + why, status);
    return false;
  }
  if (!a.raw) body = std::move(openai_json);
  if (!a.usage.known() && !a.raw) a.answer_bytes = adapters::openai::answer_bytes(body);
  return true;
}

// A whole answer: read, check, decode into the client's dialect, send.
net::awaitable<Outcome> deliver_whole(Attempt& a, const CallRequest& rq, http::Exchange& ex,
                                      AnswerHeaders g) {
  const config::ProviderTimeouts& t = a.prov->timeouts;
  auto& head = a.parser->get();
  const int status = head.result_int();
  std::string body;
  error_code ec;
  Errc e = co_await read_all(*a.conn, *a.parser, body, kMaxUpstreamBody, t, a.total_at, ec);
  if (e != Errc::ok) {
    give_back(a, false);
    if (e == Errc::upstream_malformed) co_return failover(e, "response body too large");
    co_return failover(e, describe_io(ec, e, e == Errc::total_timeout ? t.total : t.idle));
  }
  std::string ctype(head[bhttp::field::content_type]);
  const bool reusable = head.keep_alive();
  http::Response res{static_cast<bhttp::status>(status), 11};
  add_gateway_headers(res, a, g);
  give_back(a, reusable);
  if (body.empty()) co_return failover(Errc::upstream_empty, "empty response body", status);
  // Validate without building a DOM: OpenAI-dialect bytes are relayed as received.
  std::size_t first = body.find_first_not_of(" \t\r\n");
  if (first == std::string::npos || body[first] != '{' || !api::json_valid(body)) {
    co_return failover(Errc::upstream_malformed, "response body is not a JSON object", status);
  }
  const ProviderKind kind = a.prov->kind;
  if (rq.embeddings && kind == ProviderKind::gemini) {
    std::string openai_json, why;
    if (!adapters::gemini::decode_embeddings(body, a.d->model, openai_json, a.usage, why)) {
      co_return failover(Errc::upstream_malformed, "unreadable answer: " + why, status);
    }
    body = std::move(openai_json);
    ctype = "application/json";
  } else if (rq.embeddings) {
    a.usage = adapters::openai::usage_of_body(body);
  } else if (kind == ProviderKind::anthropic || kind == ProviderKind::gemini) {
    Outcome refused;
    if (!decode_chat(a, rq, body, status, refused)) co_return refused;
    ctype = "application/json";
  } else {
    a.usage = adapters::openai::usage_of_body(body);
    if (!a.usage.known()) a.answer_bytes = adapters::openai::answer_bytes(body);
  }
  if (rq.front == Front::anthropic && !a.raw) {
    std::string message, why;
    if (!adapters::messages_front::to_anthropic_response(body, message, why)) {
      co_return failover(Errc::upstream_malformed, "unreadable answer: " + why, status);
    }
    body = std::move(message);
    ctype = "application/json";
  }
  res.set(bhttp::field::content_type, ctype.empty() ? "application/json" : ctype);
  res.body() = std::move(body);
  co_await ex.send(res);
  co_return Outcome{};
}

// The client went away: closing the upstream connection stops the generation. `relayed`:
// some of the answer reached it (counted in the usage record).
Outcome client_cut(Attempt& a, bool relayed) {
  give_back(a, false);
  if (relayed) {
    a.usage = a.stream->usage;
    a.answer_bytes = a.stream->content_bytes;
  }
  Outcome cut;
  cut.client_cut = true;
  return cut;
}

// How a stream that stopped being read ended: done, broken (with the words and code the
// client gets), or complete but for its terminator.
struct StreamEnd {
  bool done = false;
  bool reusable = false;
  std::string message, code;
};

StreamEnd stream_end(Attempt& a) {
  StreamRelay& s = *a.stream;
  const config::ProviderTimeouts& t = a.prov->timeouts;
  const Errc e = a.stream_e;
  StreamEnd end;
  if (s.done) {
    end.done = end.reusable = true;
  } else if (s.upstream_error) {
    end.message = "upstream error mid-stream: " + s.upstream_error_msg.substr(0, 300);
    end.code = "upstream_error_event";
  } else if (s.finished &&
             (e == Errc::ok || e == Errc::idle_timeout || e == Errc::upstream_reset)) {
    // The answer is complete (finish_reason seen); only the terminator is missing.
    s.emit_done();
    end.done = true;
    end.reusable = e == Errc::ok;
  } else if (e != Errc::ok) {
    end.message = "The upstream stream broke before the answer finished (" +
                  describe_io(a.stream_ec, e, e == Errc::total_timeout ? t.total : t.idle) +
                  "); the answer is incomplete.";
    end.code = api::name_of(e);
  } else {
    end.message =
        "The upstream ended the stream before the answer finished; the answer is incomplete.";
    end.code = "stream_interrupted";
  }
  return end;
}

// Let the upstream finish its body (usually just the final chunk) so the connection can go
// back to the pool; the client already has its whole answer.
net::awaitable<void> drain_body(Attempt& a) {
  ResponseParser& parser = *a.parser;
  Deadline dl{earliest(Clock::now() + kDrainAfterDone, a.total_at), Errc::idle_timeout};
  error_code ec;
  StreamRelay& s = *a.stream;
  while (!parser.is_done()) {
    std::size_t n = 0;
    const Errc drained = co_await read_some(*a.conn, parser, s.buf.data(), s.buf.size(), n, dl, ec);
    if (drained != Errc::ok) break;
  }
}

// The commit point and everything after it.
net::awaitable<Outcome> relay_stream(Attempt& a, const CallRequest& rq, http::Exchange& ex,
                                     ClientStream& client, AnswerHeaders g) {
  StreamRelay& s = *a.stream;
  ResponseParser& parser = *a.parser;
  if (!client.started) {
    client.started = true;
    client.id = s.first_id;
    client.raw = a.raw;
    if (auto w = s.take_writer()) client.writer = std::move(w);  // s.writer() stays valid
    http::StreamHead h{bhttp::status::ok, 11};
    h.set(bhttp::field::content_type, "text/event-stream");
    h.set(bhttp::field::cache_control, "no-cache");
    add_gateway_headers(h, a, g);
    const bool head_sent = co_await ex.start_stream(h);
    if (!head_sent) co_return client_cut(a, false);
  }
  for (;;) {
    if (!s.out.empty()) {
      const bool written = co_await ex.write(s.out);
      if (!written) co_return client_cut(a, true);
      s.out.clear();
    }
    if (parser.is_done() || s.stopped()) break;
    co_await pump(a, true);
    if (a.stream_e != Errc::ok) break;
  }

  // Finish honestly.
  client.text += s.text;
  client.unsafe = client.unsafe || s.unsafe;
  client.chunks += static_cast<std::int64_t>(s.content_events);
  StreamEnd end = stream_end(a);
  const Errc broke_err = s.upstream_error         ? Errc::upstream_error_event
                         : a.stream_e != Errc::ok ? a.stream_e
                                                  : Errc::upstream_reset;
  a.usage = s.usage;
  a.answer_bytes = s.content_bytes;
  if (!end.done && may_rescue(rq, client)) {
    // Keep the client's stream open: the next deployment continues this answer.
    if (!s.out.empty()) {
      const bool written = co_await ex.write(s.out);
      (void)written;  // a client gone now is noticed by the caller
    }
    give_back(a, false);
    Outcome r;
    r.kind = Outcome::Kind::rescue;
    r.broke = true;
    r.err = s.upstream_error ? Errc::upstream_error_event : a.stream_e;
    r.detail = std::move(end.message);
    r.code = std::move(end.code);
    co_return r;
  }
  if (!end.done) {
    s.emit_error(end.message, end.code);
    ex.note_error("api_error", end.code);
  }
  bool client_ok = co_await ex.write(s.out);
  if (client_ok) client_ok = co_await ex.finish();
  if (end.reusable && client_ok && !parser.is_done()) co_await drain_body(a);
  give_back(a, end.reusable && parser.is_done() && parser.get().keep_alive());
  Outcome result;
  result.broke = !end.done;
  if (!end.done) result.err = broke_err;
  const double secs = std::chrono::duration<double>(s.last_content_at - s.first_content_at).count();
  if (s.content_events >= 4 && secs > 0.001) {
    result.tokens_per_s = static_cast<double>(s.content_events - 1) / secs;
  }
  co_return result;
}

}  // namespace

net::awaitable<Outcome> deliver(Attempt& a, const CallRequest& rq, http::Exchange& ex,
                                ClientStream& client, const AnswerHeaders& h) {
  // Not a coroutine itself: the chosen one's frame is the only one.
  if (a.stream) return relay_stream(a, rq, ex, client, h);
  return deliver_whole(a, rq, ex, h);
}

net::awaitable<void> send_reply(http::Exchange& ex, Front front, http::Response& res, bool native) {
  if (front == Front::anthropic && !native && res.result_int() >= 400) {
    res.body() = adapters::messages_front::error_body(res.result_int(), res.body());
    res.set(bhttp::field::content_type, "application/json");
  }
  co_await ex.send(res);
}

net::awaitable<void> send_reply(http::Exchange& ex, Front front, const Reply& r) {
  http::Response res{static_cast<bhttp::status>(r.status), 11};
  res.set(bhttp::field::content_type, r.content_type);
  for (const auto& [k, v] : r.headers) res.set(k, v);
  res.body() = r.body;
  co_await send_reply(ex, front, res, r.native);
}

net::awaitable<void> send_client_error(http::Exchange& ex, Front front, int status,
                                       std::string_view message, std::string_view type,
                                       std::string_view code, std::string_view param) {
  http::Response res{static_cast<bhttp::status>(status), 11};
  res.set(bhttp::field::content_type, "application/json");
  res.body() = api::error_json(message, type, code, param);
  ex.note_error(type, code);
  co_await send_reply(ex, front, res);
}

net::awaitable<void> end_stream_with_error(http::Exchange& ex, Front front, ClientStream& client,
                                           std::string_view message, std::string_view code) {
  ex.note_error("api_error", code.empty() ? std::string_view("stream_error") : code);
  std::string out;
  if (client.writer) {
    client.writer->on_error("api_error", message, out);
  } else if (front == Front::anthropic) {
    out =
        "event: error\ndata: " +
        nlohmann::json{{"type", "error"}, {"error", {{"type", "api_error"}, {"message", message}}}}
            .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) +
        "\n\n";
  } else {
    out = adapters::openai::error_event(message, code);
  }
  const bool written = co_await ex.write(out);
  if (written) co_await ex.finish();
}

}  // namespace switchyard::upstream
