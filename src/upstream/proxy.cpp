#include "upstream/proxy.hpp"

#include <spdlog/spdlog.h>

#include <array>
#include <optional>
#include <variant>

#include "app/worker.hpp"
#include "switchyard/adapters/adapter.hpp"
#include "switchyard/adapters/anthropic.hpp"
#include "switchyard/adapters/continuation.hpp"
#include "switchyard/adapters/gemini.hpp"
#include "switchyard/adapters/messages_front.hpp"
#include "switchyard/api/chat_request.hpp"
#include "switchyard/api/json_scan.hpp"
#include "switchyard/router/classifier.hpp"
#include "switchyard/router/health.hpp"
#include "switchyard/router/plan.hpp"
#include "switchyard/router/scorer.hpp"
#include "switchyard/sse/sse_parser.hpp"
#include "switchyard/telemetry/trace.hpp"
#include "switchyard/usage/usage.hpp"
#include "switchyard/version.hpp"

namespace switchyard::upstream {
namespace {

using api::Errc;
using nlohmann::json;
using ResponseParser = bhttp::response_parser<bhttp::buffer_body>;

constexpr std::size_t kMaxUpstreamBody = 64u << 20;  // non-stream answers
constexpr std::size_t kMaxErrorBody = 1u << 20;
constexpr std::uint32_t kMaxUpstreamHead = 64u << 10;
constexpr std::size_t kReadChunk = 16u << 10;
constexpr auto kDrainAfterDone = std::chrono::milliseconds(1000);

// How one attempt ended.
struct Outcome {
  enum class Kind {
    done,            // a response went to the client (or the client left): stop
    failover,        // nothing reached the client; try the next deployment
    ready,           // reached its win point; deliver() sends the answer
    passthrough,     // the provider's own 4xx: relay it to the client, no retry
    context_length,  // 400 context_length_exceeded: only a larger context window may help
    unsupported,     // this deployment's dialect cannot express the request; try others
    rescue,          // the stream broke after content went out: continue it elsewhere
  };
  Kind kind = Kind::done;
  Errc err = Errc::ok;
  int status = 0;
  std::string detail;
  std::optional<long> retry_after_s;
  bool rejected_stream_options = false;  // a 4xx that names the field we added
  bool broke = false;                    // done, but the stream ended with an error event
  double ttfb_ms = -1;                   // request written → response head, when measured
  double tokens_per_s = -1;              // content events per second of a stream, when measured
  http::Response response;               // passthrough / context_length
  bool native = false;      // response's body is already in the client's dialect (Anthropic bytes)
  bool client_cut = false;  // done because the client stopped reading the answer
  bool prefill_rejected = false;       // a continuation was refused (the deployment takes none)
  std::string code;                    // rescue: the error code of the break
  adapters::ClientError client_error;  // unsupported
};

Outcome failover(Errc e, std::string detail, int status = 0) {
  Outcome o;
  o.kind = Outcome::Kind::failover;
  o.err = e;
  o.detail = std::move(detail);
  o.status = status;
  return o;
}

// Which deadline bounds the next read, so a timeout can be named precisely.
struct Deadline {
  Clock::time_point at;
  Errc on_timeout;
};

Deadline pick(Deadline a, Deadline b) { return a.at <= b.at ? a : b; }

Errc classify_io(const error_code& ec, Errc timeout_kind) {
  if (ec == beast::error::timeout) return timeout_kind;
  if (ec.category() == net::error::get_ssl_category() && ec != ssl::error::stream_truncated) {
    return Errc::tls_failed;
  }
  return Errc::upstream_reset;
}

std::string describe_io(const error_code& ec, Errc e, std::chrono::milliseconds limit) {
  if (api::is_timeout(e)) {
    return std::string(api::name_of(e)) + " after " + std::to_string(limit.count()) + " ms";
  }
  if (ec == bhttp::error::end_of_stream || ec == net::error::eof ||
      ec == bhttp::error::partial_message || ec == ssl::error::stream_truncated) {
    return "upstream closed the connection";
  }
  return "upstream connection failed: " + ec.message();
}

// The metrics' reason for a failed attempt (nothing for failures that are not the
// upstream's or the pool's, such as the client leaving).
std::optional<telemetry::ErrorReason> error_reason(Errc e, int status) {
  using R = telemetry::ErrorReason;
  switch (e) {
    case Errc::connect_failed:
    case Errc::connect_timeout:
      return R::connect;
    case Errc::tls_failed:
      return R::tls;
    case Errc::first_byte_timeout:
    case Errc::first_token_timeout:
    case Errc::idle_timeout:
    case Errc::total_timeout:
      return R::timeout;
    case Errc::upstream_status:
      return status == 429 ? R::status_429 : status >= 500 ? R::status_5xx : R::status_4xx;
    case Errc::upstream_reset:
      return R::reset;
    case Errc::upstream_malformed:
    case Errc::upstream_empty:
      return R::malformed;
    case Errc::pool_overflow:
      return R::pool_overflow;
    case Errc::upstream_error_event:
      return R::stream_error;
    default:
      if (status == 429) return R::status_429;
      if (status >= 500) return R::status_5xx;
      if (status >= 400) return R::status_4xx;
      return std::nullopt;
  }
}

bool is_passthrough_header(std::string_view name) {
  return beast::iequals(name, "x-request-id") || beast::iequals(name, "retry-after") ||
         (name.size() > 12 && beast::iequals(name.substr(0, 12), "x-ratelimit-"));
}

// The routing decision for one request: task, tier, ranking and the explain line, or the
// client error that stops it before any attempt. Shared by the chat path and
// /admin/route/explain so the explanation is exactly what the request would get.
struct RouteDecision {
  int error_status = 0;
  std::string error_message, error_type, error_code, error_param;
  std::string retry_after;  // with a 429: seconds
  std::size_t model_index = 0;
  router::Classifier::Result task;
  const config::Tier* tier = nullptr;
  router::RankInput in;
  router::Ranking ranking;
  std::string line;
};

RouteDecision decide_route(app::Worker& w, const http::Request& req, const api::ChatRequest& chat,
                           const config::Model& model, Clock::time_point now) {
  const config::Config& cfg = *w.cfg;
  const config::Routing& routing = cfg.routing;
  RouteDecision r;
  r.model_index = static_cast<std::size_t>(&model - cfg.models.data());
  auto reject = [&r](int status, std::string message, const char* type, const char* code,
                     const char* param = "") {
    r.error_status = status;
    r.error_message = std::move(message);
    r.error_type = type;
    r.error_code = code;
    r.error_param = param;
    return std::move(r);
  };

  // Task (header or rules) → min_quality; tier (header) → narrowing and weights.
  // Per-worker scratch: the last user message's text keeps its capacity between requests.
  router::RequestFeatures& features = w.features;
  router::extract_features(chat.body, chat.prompt_tokens_estimate, w.classifier->needs(), features);
  auto task_it = req.find("x-switchyard-task");
  const std::string_view task_header =
      task_it == req.end() ? std::string_view{} : std::string_view(task_it->value());
  r.task = w.classifier->classify(task_header, features);
  if (!r.task.ok) {
    return reject(
        400, "Unknown task in x-switchyard-task: `" + std::string(task_header.substr(0, 64)) + "`.",
        "invalid_request_error", "unknown_task");
  }
  auto tier_it = req.find("x-switchyard-tier");
  if (tier_it != req.end()) {
    r.tier = routing.find_tier(tier_it->value());
    if (!r.tier) {
      return reject(400,
                    "Unknown tier in x-switchyard-tier: `" +
                        std::string(tier_it->value().substr(0, 64)) + "`.",
                    "invalid_request_error", "unknown_tier");
    }
  } else {
    r.tier = routing.find_tier(routing.default_tier);
  }

  r.in.model = &model;
  r.in.views = w.stats.current_views(r.model_index, now);
  r.in.min_quality = r.task.min_quality;
  r.in.tier = r.tier;
  r.in.weights = routing.weights;
  r.in.prompt_tokens = chat.prompt_tokens_estimate;
  r.in.max_tokens = chat.max_tokens;
  r.ranking = router::rank(r.in, w.rng);
  r.line = router::explain_line(r.task.task, r.in, r.ranking);
  if (r.ranking.allowed.empty()) {
    bool all_context = !r.ranking.excluded.empty();
    for (const auto& c : r.ranking.excluded) {
      all_context =
          all_context && c.excluded_because == "prompt + max_tokens exceed context_window";
    }
    // Deployments left out only because their local max_rpm is used up: a rate limit,
    // with the time until the first of them has room again.
    std::optional<Clock::duration> rpm_wait;
    for (const auto& c : r.ranking.excluded) {
      if (c.excluded_because != router::kExcludedRpm) continue;
      const auto wait = w.stats.rpm_wait(r.model_index, c.index, now);
      rpm_wait = rpm_wait ? std::min(*rpm_wait, wait) : wait;
    }
    if (rpm_wait) {
      const auto secs = std::chrono::ceil<std::chrono::seconds>(*rpm_wait).count();
      r.retry_after = std::to_string(std::max<long long>(1, secs));
      return reject(429,
                    "Rate limit reached for `" + model.name +
                        "`: every deployment that can serve this request is at its max_rpm. "
                        "Retry after " +
                        r.retry_after + " s.",
                    "rate_limit_exceeded", "rate_limit_exceeded");
    }
    if (all_context) {
      return reject(400,
                    "The prompt and max_tokens exceed the context window of every deployment of `" +
                        model.name + "`.",
                    "invalid_request_error", "context_length_exceeded", "messages");
    }
    return reject(503,
                  "No deployment of `" + model.name + "` can serve task `" +
                      std::string(r.task.task) + "`" +
                      (r.tier ? " for tier `" + r.tier->name + "`" : std::string()) + ".",
                  "server_error", "no_route");
  }
  return r;
}

// OpenAI usage object → Usage (prompt_tokens includes cached ones, as in adapter.hpp).
adapters::Usage usage_from_openai(const json& u) {
  adapters::Usage out;
  if (!u.is_object()) return out;
  auto num = [&u](const char* k) -> std::int64_t {
    auto it = u.find(k);
    return it != u.end() && it->is_number_integer() ? it->get<std::int64_t>() : -1;
  };
  out.input_tokens = num("prompt_tokens");
  out.output_tokens = num("completion_tokens");
  if (auto d = u.find("prompt_tokens_details"); d != u.end() && d->is_object()) {
    if (auto c = d->find("cached_tokens"); c != d->end() && c->is_number_integer()) {
      out.cached_input_tokens = c->get<std::int64_t>();
    }
  }
  return out;
}

// The "usage" member of an OpenAI chat.completion or embeddings body, without a DOM of
// the whole body.
adapters::Usage usage_of_body(std::string_view body) {
  std::vector<api::Member> members;
  if (!api::scan_top_level(body, members)) return {};
  for (const auto& m : members) {
    if (m.key != "usage") continue;
    return usage_from_openai(
        json::parse(body.substr(m.value_begin, m.value_end - m.value_begin), nullptr, false));
  }
  return {};
}

// Bytes of answer text in a chat.completion body (for an estimate when it has no usage).
std::size_t answer_bytes(std::string_view body) {
  json j = json::parse(body, nullptr, false);
  std::size_t n = 0;
  if (!j.is_object() || !j.contains("choices") || !j["choices"].is_array()) return 0;
  for (const json& c : j["choices"]) {
    if (!c.is_object() || !c.contains("message") || !c["message"].is_object()) continue;
    const json& m = c["message"];
    if (m.contains("content") && m["content"].is_string())
      n += m["content"].get_ref<const std::string&>().size();
    if (m.contains("tool_calls")) n += m["tool_calls"].dump().size();
  }
  return n;
}

// Facts about one SSE data payload that the relay acts on.
struct EventFacts {
  bool valid = false;
  bool content = false;  // carries answer content (text, tool call, refusal) or a finish
  bool finish = false;
  bool usage_only = false;  // choices empty and usage present (the include_usage chunk)
  bool error = false;
  std::string error_message;
  std::size_t content_bytes = 0;  // answer text carried (for usage estimates)
  adapters::Usage usage;          // when the payload carries usage
  std::string text;               // choice 0's delta.content (what a rescue must continue)
  bool tool_call = false;         // a tool call's delta: a rescue cannot continue it
  bool reasoning = false;         // reasoning deltas: not answer text either
  bool other_choice = false;      // a choice other than 0 (n > 1)
  std::string id;                 // the chunk's "id"
};

EventFacts inspect(std::string_view data) {
  EventFacts f;
  json j = json::parse(data, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return f;
  f.valid = true;
  if (auto it = j.find("error"); it != j.end() && !it->is_null()) {
    f.error = true;
    if (it->is_object() && it->contains("message") && (*it)["message"].is_string()) {
      f.error_message = (*it)["message"];
    }
    return f;
  }
  auto choices = j.find("choices");
  if (choices != j.end() && choices->is_array()) {
    for (const json& c : *choices) {
      if (!c.is_object()) continue;
      if (auto fr = c.find("finish_reason"); fr != c.end() && !fr->is_null()) {
        f.finish = true;
        f.content = true;
      }
      auto delta = c.find("delta");
      if (delta == c.end() || !delta->is_object()) continue;
      const auto index = c.find("index");
      const bool first_choice =
          index == c.end() || (index->is_number_integer() && index->get<std::int64_t>() == 0);
      if (!first_choice) f.other_choice = true;
      for (const char* k : {"content", "refusal", "reasoning_content", "reasoning"}) {
        if (auto v = delta->find(k); v != delta->end() && v->is_string()) {
          const std::string& str = v->get_ref<const std::string&>();
          f.content_bytes += str.size();
          if (str.empty()) continue;
          f.content = true;
          if (k[0] == 'c' && first_choice) {
            f.text += str;
          } else {
            f.reasoning = true;  // refusal or reasoning: not text a prefill can carry
          }
        }
      }
      if (auto v = delta->find("tool_calls"); v != delta->end() && v->is_array() && !v->empty()) {
        f.content = true;
        f.tool_call = true;
        for (const json& tc : *v) {
          if (!tc.is_object() || !tc.contains("function") || !tc["function"].is_object()) continue;
          const json& fn = tc["function"];
          if (fn.contains("arguments") && fn["arguments"].is_string()) {
            f.content_bytes += fn["arguments"].get_ref<const std::string&>().size();
          }
        }
      }
      if (auto v = delta->find("function_call"); v != delta->end() && v->is_object()) {
        f.content = true;
        f.tool_call = true;
      }
    }
    auto usage = j.find("usage");
    f.usage_only = choices->empty() && usage != j.end() && usage->is_object();
  }
  if (auto u = j.find("usage"); u != j.end() && u->is_object()) f.usage = usage_from_openai(*u);
  if (auto id = j.find("id"); id != j.end() && id->is_string()) f.id = *id;
  return f;
}

std::string error_event(std::string_view message, std::string_view code) {
  std::string ev = "data: ";
  ev += api::error_json(message, "upstream_error", code);
  ev += "\n\n";
  return ev;
}

// The relay state of one stream, kept across the commit point.
struct StreamState {
  sse::Parser sse;
  sse::Event ev;
  std::string out;          // events parsed but not yet written to the client
  bool commit_now = false;  // a content event arrived: the answer can start
  bool done = false, finished = false, upstream_error = false;
  std::string upstream_error_msg;
  std::size_t skipped = 0, content_events = 0;
  Clock::time_point first_content_at{}, last_content_at{};
  Errc e = Errc::ok;
  error_code ec;
  adapters::Usage usage;          // the provider's, when a chunk carried it
  std::size_t content_bytes = 0;  // answer text relayed so far
  // Other upstream dialects are transcoded into OpenAI chunk payloads first; every fact
  // the relay acts on (content, finish, error, usage) comes from those.
  std::variant<std::monostate, adapters::anthropic::StreamTranscoder,
               adapters::gemini::StreamTranscoder>
      tx;
  bool ended = false;  // the transcoder has seen the end of the body
  bool raw = false;    // the client gets the upstream's own events (Anthropic to Anthropic)
  adapters::messages_front::EventWriter* writer = nullptr;            // OpenAI → Anthropic events
  std::unique_ptr<adapters::messages_front::EventWriter> own_writer;  // until it commits
  // Stream rescue: what this attempt added to the answer, and whether it can be continued.
  bool continuation = false;          // this attempt continues an answer another one started
  std::string text;                   // choice 0's text this attempt produced
  bool unsafe = false;                // a tool call, reasoning or a second choice went out
  std::string first_id;               // the first chunk id seen
  std::string skip_ws;                // whitespace cut from the prefill, to drop from the reply
  std::vector<std::string> payloads;  // scratch
  std::array<char, kReadChunk> buf;
};

// One upstream attempt: its deployment, its connection and what came back so far. An
// attempt runs in two phases: open() goes as far as the point where the answer could
// start (the response head of a non-stream answer, the first content event of a stream:
// the "win point"), deliver() then sends the answer to the client. Two attempts can run
// open() side by side (a hedge); the first to reach its win point is delivered and the
// other is cancelled.
struct Attempt {
  const config::Deployment* d = nullptr;
  std::size_t idx = 0;  // in model->deployments
  Pool* pool = nullptr;
  std::unique_ptr<Connection> conn;
  std::optional<ResponseParser> parser;
  Clock::time_point started{}, sent_at{}, head_at{}, total_at{};
  double ttfb_ms = -1;  // sent → response head
  double ttft_ms = -1;  // sent → win point
  router::Headroom headroom;
  std::unique_ptr<StreamState> stream;
  config::ProviderKind kind = config::ProviderKind::openai;
  bool raw = false;           // /v1/messages to an Anthropic deployment: bytes pass through
  bool continuation = false;  // a stream rescue: continues client_.text
  bool hedge = false;         // started as the backup of a slow attempt
  bool cancelled = false;     // lost the race (or the client left)
  bool finished = false;      // open() has returned; `outcome` is set
  bool handled = false;       // the call has acted on `outcome`
  bool stats_done = false;    // its end is in the live stats (finished or abandoned)
  Outcome outcome;
  // What deliver() learnt for the usage record.
  adapters::Usage usage;         // as the provider reported it (input/output -1: not)
  std::size_t answer_bytes = 0;  // answer text, for an estimate when usage is missing
};

class ChatCall {
 public:
  ChatCall(http::Session& session, http::Request& req)
      : session_(session),
        worker_(session.worker()),
        cfg_(*worker_.cfg),
        req_(req),
        wake_(worker_.ioc) {}

  net::awaitable<void> run();

  /// Serve an Anthropic Messages request (/v1/messages): `openai_body` is its translation.
  /// Serve POST /v1/embeddings instead of a chat request.
  void embeddings() {
    embeddings_ = true;
    endpoint_ = "embeddings";
  }

  void anthropic_front(std::string openai_body) {
    front_ = Front::anthropic;
    front_body_ = req_.body();
    front_openai_body_ = std::move(openai_body);
    endpoint_ = "messages";
  }

 private:
  net::awaitable<void> serve();
  net::awaitable<void> drive(Attempt& a);
  Attempt& start(const config::Deployment& d, std::size_t idx, bool hedge, bool spawn);
  void cancel(Attempt& a);
  void record(Attempt& a, const Outcome& o, Clock::time_point now);
  void account(const Attempt& a, const Outcome& o, bool client_cut);
  std::optional<Clock::time_point> hedge_time(std::size_t idx, Clock::time_point now) const;
  void abandon(Attempt& a) {
    if (a.stats_done) return;
    a.stats_done = true;
    if (auto* m = worker_.metrics) {
      m->attempt(slot_of(a), telemetry::AttemptOutcome::cancelled,
                 std::chrono::duration<double>(Clock::now() - a.started).count());
    }
    worker_.stats.attempt_abandoned(model_index_, a.idx, Clock::now());
  }
  net::awaitable<void> settle();

  net::awaitable<Outcome> open(Attempt& a, bool request_usage);
  bool encode_for(Attempt& a, bool request_usage, adapters::Encoded& e, adapters::ClientError& err);
  template <std::size_t N>
  void log_dropped(const config::Deployment& d, const std::string_view (&fields)[N]);
  net::awaitable<Outcome> first_content(Attempt& a);
  net::awaitable<void> pump(Attempt& a, bool committed);
  bool take(StreamState& s, std::string_view payload, std::string_view event_name);
  std::string continuation_payload(std::string_view p, const EventFacts& f,
                                   const std::string& text);
  net::awaitable<Outcome> deliver(Attempt& a);
  net::awaitable<Outcome> relay_committed(Attempt& a);
  net::awaitable<Errc> read_some(Connection& c, ResponseParser& p, char* buf, std::size_t cap,
                                 std::size_t& n, Deadline dl, error_code& ec);
  net::awaitable<Errc> read_all(Connection& c, ResponseParser& p, std::string& out,
                                std::size_t limit, const config::ProviderTimeouts& t,
                                Clock::time_point total_at, error_code& ec);
  template <class Head>
  void add_gateway_headers(Head& h, const Attempt& a);
  net::awaitable<void> send_final_error();
  net::awaitable<void> send_out(http::Response& res, bool native = false);
  net::awaitable<void> send_err(int status, std::string_view message, std::string_view type,
                                std::string_view code = {}, std::string_view param = {});
  static void give_back(Attempt& a, bool reusable) {
    if (a.conn) a.pool->release(std::move(a.conn), reusable);
  }
  bool stopped(const Attempt& a) const { return a.cancelled || session_.client_gone(); }
  /// The attempt's metrics slot; -1 with metrics off.
  int slot_of(const Attempt& a) const {
    return worker_.metrics_layout ? worker_.metrics_layout->slot(model_index_, a.idx) : -1;
  }
  /// The request's end in the metrics that are per request, not per attempt.
  void count_request_outcome();

  http::Session& session_;
  app::Worker& worker_;
  const config::Config& cfg_;
  http::Request& req_;
  api::ChatRequest chat_;
  std::size_t model_index_ = 0;
  const config::Model* model_ = nullptr;
  int attempts_ = 0;
  bool hedged_ = false;                    // this request started a hedge
  const Attempt* hedge_winner_ = nullptr;  // the attempt that won the hedged race
  bool rescued_ = false;                   // a continuation finished the broken stream
  bool rpm_refused_ = false;  // some deployment was skipped because its max_rpm was used up
  std::vector<Outcome> failures_;
  std::optional<adapters::ClientError> unsupported_;     // why some deployment refused it
  std::vector<std::unique_ptr<Attempt>> attempts_list_;  // every attempt, kept to the end
  net::steady_timer wake_;  // cancelled whenever an attempt finishes (or the client leaves)
  std::string route_;       // x-switchyard-route
  std::string endpoint_ = "chat.completions";  // for the usage record
  // The client's dialect: OpenAI chat completions, or Anthropic Messages (/v1/messages),
  // whose request was translated into front_openai_body_ (chat_ reads it).
  enum class Front { openai, anthropic } front_ = Front::openai;
  bool embeddings_ = false;  // POST /v1/embeddings
  bool parse_embeddings(std::string_view body, adapters::ClientError& err);
  RouteDecision embeddings_route(const config::Model& model, Clock::time_point now);
  std::string_view front_body_;   // the client's own body
  std::string stream_id_;         // "id" of transcoded chunks (outlives the transcoder)
  telemetry::TraceParent trace_;  // this request's trace (the client's or a new one)
  std::string tracestate_;        // the client's, passed on unchanged

  // The client's stream, kept across attempts so that a rescue can continue it.
  struct ClientStream {
    bool started = false;     // its head went out
    std::string id;           // the chunk id the client has seen
    std::string text;         // choice 0's answer text relayed so far
    bool unsafe = false;      // a tool call, reasoning or a second choice went out
    bool raw = false;         // Anthropic bytes passed through: not continued elsewhere
    std::int64_t chunks = 0;  // content chunks relayed (the earlier attempts' token count)
    std::unique_ptr<adapters::messages_front::EventWriter> writer;  // Anthropic clients
  } client_;
  bool rescuing_ = false;     // the next attempts continue client_.text
  int rescues_ = 0;           // continuations started
  std::string rescue_error_;  // the original break, for the error event if none succeeds
  std::string rescue_code_;
  std::string skip_ws_;  // whitespace cut from the prefill of the current continuation
  std::string shadow_;   // the shadow writer's output, dropped
  bool may_rescue() const;
  bool can_prefill(std::size_t idx) const;
  std::string continuation_request(const config::Deployment& d);
  net::awaitable<void> end_with_error(std::string_view message, std::string_view code);
  std::string front_openai_body_;  // its OpenAI translation (Front::anthropic)
};

Outcome client_gone_outcome() { return Outcome{}; }

template <class Head>
void ChatCall::add_gateway_headers(Head& h, const Attempt& a) {
  for (const auto& f : a.parser->get()) {
    if (is_passthrough_header(f.name_string())) h.set(f.name_string(), f.value());
  }
  h.set("x-switchyard-deployment", a.d->provider + "/" + a.d->model);
  h.set("x-switchyard-attempts", std::to_string(attempts_));
  if (hedged_) h.set("x-switchyard-hedge", a.hedge ? "backup-won" : "primary-won");
  if (!route_.empty()) h.set("x-switchyard-route", route_);
}

Attempt& ChatCall::start(const config::Deployment& d, std::size_t idx, bool hedge, bool spawn) {
  auto owned = std::make_unique<Attempt>();
  Attempt& a = *owned;
  attempts_list_.push_back(std::move(owned));
  a.d = &d;
  a.idx = idx;
  a.pool = worker_.pools[d.provider_index].get();
  a.hedge = hedge;
  a.continuation = rescuing_;
  a.started = Clock::now();
  if (spawn) {
    net::co_spawn(worker_.ioc, drive(a), [this, &a](std::exception_ptr e) {
      if (e) {
        // open() does not throw on I/O errors; anything else is a bug: fail the attempt.
        give_back(a, false);
        a.outcome = failover(Errc::upstream_reset, "internal error in the upstream attempt");
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          spdlog::error("{} upstream attempt failed: {}", session_.request_id(), ex.what());
        } catch (...) {
        }
      }
      a.finished = true;
      wake_.cancel();
    });
  }
  return a;
}

net::awaitable<void> ChatCall::drive(Attempt& a) {
  Outcome o = co_await open(a, true);
  if (o.rejected_stream_options && !stopped(a)) {
    // Some OpenAI-compatible servers reject stream_options; we added it, so the
    // client's own request is fine: send it as the client wrote it.
    spdlog::debug("{} {}/{} rejects stream_options; retrying without it", session_.request_id(),
                  a.d->provider, a.d->model);
    o = co_await open(a, false);
  }
  a.outcome = std::move(o);
}

void ChatCall::cancel(Attempt& a) {
  a.cancelled = true;
  if (a.conn) {
    // Closing the provider's connection is what stops it generating.
    error_code ignored;
    a.conn->stream.tcp().socket().cancel(ignored);
  }
}

// When a backup attempt starts if `a` has not reached its win point: the model's fixed
// hedge_after_ms, or the deployment's own p95 time to first token (none until known).
std::optional<Clock::time_point> ChatCall::hedge_time(std::size_t idx,
                                                      Clock::time_point now) const {
  if (hedged_ || cfg_.routing.hedge_max_fraction <= 0) return std::nullopt;
  if (model_->hedge_after.count() > 0) return now + model_->hedge_after;
  if (model_->hedge_p95) {
    // From the stats, not the worker's views scratch: other requests rewrite that while
    // this one waits.
    const double p95 = worker_.stats.p95_ttft_ms(model_index_, idx);
    if (p95 >= 0) {
      return now + std::chrono::duration_cast<Clock::duration>(
                       std::chrono::duration<double, std::milli>(p95));
    }
  }
  return std::nullopt;
}

void ChatCall::record(Attempt& a, const Outcome& o, Clock::time_point now) {
  a.stats_done = true;
  const bool failed = o.kind == Outcome::Kind::failover || o.broke;
  if (auto* m = worker_.metrics) {
    const int slot = slot_of(a);
    m->attempt(slot,
               failed ? telemetry::AttemptOutcome::failure : telemetry::AttemptOutcome::success,
               std::chrono::duration<double>(now - a.started).count());
    if (failed) {
      if (auto reason = error_reason(o.err, o.status)) m->upstream_error(slot, *reason);
    }
  }
  const api::Origin origin =
      o.kind == Outcome::Kind::failover ? api::origin_of(o.err) : api::Origin::upstream;
  worker_.stats.attempt_finished(model_index_, a.idx, now, !failed, origin, a.ttfb_ms,
                                 o.tokens_per_s);
  if (a.ttft_ms >= 0) worker_.stats.ttft_sample(model_index_, a.idx, a.ttft_ms);
  if (o.retry_after_s) {
    worker_.stats.retry_after(model_index_, a.idx, now + std::chrono::seconds(*o.retry_after_s));
  }
  if (a.headroom.known()) {
    // Believe the reading until the provider's own reset time (a minute at most).
    auto valid = std::chrono::milliseconds(60000);
    if (a.headroom.reset_requests) valid = std::min(valid, *a.headroom.reset_requests);
    if (a.headroom.reset_tokens) valid = std::min(valid, *a.headroom.reset_tokens);
    worker_.stats.headroom(model_index_, a.idx, a.headroom.fraction(), now + valid);
  }
}

// The usage record of an answer that reached the client (whole, broken or cut).
void ChatCall::account(const Attempt& a, const Outcome& o, bool client_cut) {
  usage::Record r;
  r.unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();
  r.request_id = std::string(session_.request_id());
  r.trace_id = trace_.trace_id;
  r.endpoint = endpoint_;
  r.model = chat_.model;
  r.provider = a.d->provider;
  r.deployment = a.d->provider + "/" + a.d->model;
  r.stream = chat_.stream;
  r.attempt = attempts_;
  r.client_cut = client_cut;
  r.incomplete = o.broke;
  r.tokens = a.usage;
  r.provenance = usage::Provenance::provider;
  if (r.tokens.input_tokens < 0 || r.tokens.output_tokens < 0) {
    // Missing counts (a stream cut before its usage chunk, a server that reports none):
    // the prompt from the request, the output from the text relayed.
    r.provenance = usage::Provenance::estimated;
    if (r.tokens.input_tokens < 0) r.tokens.input_tokens = chat_.prompt_tokens_estimate;
    if (r.tokens.output_tokens < 0) r.tokens.output_tokens = usage::estimate_tokens(a.answer_bytes);
  }
  r.cost_usd = usage::cost_usd(r.tokens, a.d->price);
  const bool estimated = r.provenance == usage::Provenance::estimated;
  if (auto* m = worker_.metrics) {
    m->tokens(slot_of(a), estimated, r.tokens.input_tokens, r.tokens.output_tokens,
              r.tokens.cached_input_tokens, r.tokens.cache_write_tokens, r.cost_usd);
  }
  // The access log sums the answer's records (a rescued stream has one per attempt) and
  // names the deployment that gave the last part.
  telemetry::RequestLog& log = session_.log();
  log.slot = slot_of(a);
  log.deployment = r.deployment;
  log.has_usage = true;
  log.input_tokens += r.tokens.input_tokens;
  log.output_tokens += r.tokens.output_tokens;
  log.cached_tokens += std::max<std::int64_t>(r.tokens.cached_input_tokens, 0);
  log.estimated = log.estimated || estimated;
  log.cost_usd += r.cost_usd;
  spdlog::debug("{} usage {} in={} out={} cached={} ({}) cost={:.6f}", r.request_id, r.deployment,
                r.tokens.input_tokens, r.tokens.output_tokens, r.tokens.cached_input_tokens,
                usage::name_of(r.provenance), r.cost_usd);
  worker_.ledger->add(std::move(r));
}

// No attempt outlives the call: cancel what still runs and wait for it to return (a
// cancelled attempt returns as soon as its socket operation is aborted; one still
// connecting returns within its connect timeout).
net::awaitable<void> ChatCall::settle() {
  for (;;) {
    bool running = false;
    for (auto& a : attempts_list_) {
      if (a->finished) continue;
      running = true;
      if (!a->cancelled) cancel(*a);
      abandon(*a);
    }
    if (!running) co_return;
    wake_.expires_at(Clock::time_point::max());
    auto [ec] = co_await wake_.async_wait(use_nothrow);
    (void)ec;
  }
}

void ChatCall::count_request_outcome() {
  telemetry::RequestLog& log = session_.log();
  log.attempts = attempts_;
  auto* m = worker_.metrics;
  if (!m || model_ == nullptr) return;
  const int model = static_cast<int>(model_index_);
  // Answered: the client got a whole answer (a 2xx head and no error event after it).
  const bool answered =
      log.status > 0 && log.status < 400 && log.error_code.empty() && !session_.client_gone();
  int failed_attempts = 0;
  for (const Outcome& f : failures_) failed_attempts += f.kind == Outcome::Kind::failover ? 1 : 0;
  if (failed_attempts > 0 && attempts_ > 1) m->failover(model, answered);
  if (hedged_) {
    m->hedge(model, hedge_winner_ == nullptr ? telemetry::HedgeOutcome::none_won
                    : hedge_winner_->hedge   ? telemetry::HedgeOutcome::backup_won
                                             : telemetry::HedgeOutcome::primary_won);
  }
  if (rescues_ > 0) m->rescue(model, rescued_);
}

net::awaitable<void> ChatCall::run() {
  co_await serve();
  co_await settle();
  count_request_outcome();
  // Attempts that finished after the call stopped caring (the client left) still count.
  for (auto& a : attempts_list_) {
    if (a->finished && !a->handled) give_back(*a, false);
    abandon(*a);
  }
}

// An OpenAI embeddings request: {"model", "input": string | [string] | [int] | [[int]], …}.
// Only what routing needs is read; the body goes upstream as written (model replaced).
bool ChatCall::parse_embeddings(std::string_view body, adapters::ClientError& err) {
  chat_ = api::ChatRequest{};
  chat_.body = body;
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    err.message = "The request body is not a JSON object.";
    err.code = "invalid_json";
    return false;
  }
  auto m = j.find("model");
  if (m == j.end() || !m->is_string() || m->get_ref<const std::string&>().empty()) {
    err.message = "`model` is required and must be a non-empty string.";
    err.param = "model";
    return false;
  }
  chat_.model = *m;
  auto in = j.find("input");
  bool ok = in != j.end() && ((in->is_string() && !in->get_ref<const std::string&>().empty()) ||
                              (in->is_array() && !in->empty()));
  std::size_t text = 0;
  if (ok && in->is_string()) text = in->get_ref<const std::string&>().size();
  if (ok && in->is_array()) {
    for (const json& x : *in) {
      if (x.is_string()) {
        text += x.get_ref<const std::string&>().size();
      } else if (x.is_number_integer()) {
        text += 4;  // one token
      } else if (x.is_array() && !x.empty()) {
        for (const json& t : x) ok = ok && t.is_number_integer();
        text += 4 * x.size();
      } else {
        ok = false;
      }
    }
  }
  if (!ok) {
    err.message =
        "`input` must be a non-empty string, an array of strings, an array of token ids or an "
        "array of token-id arrays.";
    err.param = "input";
    return false;
  }
  chat_.prompt_tokens_estimate = usage::estimate_tokens(text);
  return true;
}

// Embeddings have no task: the deployments that can embed (not Anthropic), in the listed
// order, minus open breakers and used-up caps unless that leaves none.
RouteDecision ChatCall::embeddings_route(const config::Model& model, Clock::time_point now) {
  RouteDecision r;
  r.model_index = static_cast<std::size_t>(&model - cfg_.models.data());
  worker_.stats.views(r.model_index, now, worker_.views);
  std::vector<router::Candidate> unhealthy;
  for (std::size_t i = 0; i < model.deployments.size(); ++i) {
    const config::Deployment& d = model.deployments[i];
    const router::DeploymentView& v = worker_.views[i];
    router::Candidate c;
    c.index = i;
    if (cfg_.providers[d.provider_index].kind == config::ProviderKind::anthropic) {
      c.excluded_because = "no embeddings API";
      r.ranking.excluded.push_back(c);
    } else if (v.rpm_capped) {
      c.excluded_because = router::kExcludedRpm;
      r.ranking.excluded.push_back(c);
    } else if (v.breaker_open || v.retry_after) {
      unhealthy.push_back(c);
    } else {
      r.ranking.allowed.push_back(c);
    }
  }
  if (r.ranking.allowed.empty()) r.ranking.allowed = std::move(unhealthy);  // panic
  r.line =
      "task=embeddings; strategy=fallback; candidates=" + std::to_string(r.ranking.allowed.size());
  if (r.ranking.allowed.empty()) {
    r.error_status = 400;
    r.error_message = "No deployment of `" + model.name + "` can serve embeddings.";
    r.error_type = "invalid_request_error";
    r.error_code = "model_not_supported";
    r.error_param = "model";
  }
  return r;
}

// Stream rescue is possible for this request's broken stream: text only (no tool call,
// reasoning or second choice went out), one choice, not passed-through Anthropic bytes,
// and the client did not say x-switchyard-rescue: off.
bool ChatCall::may_rescue() const {
  if (!chat_.stream || chat_.n > 1 || client_.unsafe || client_.text.empty()) {
    return false;
  }
  auto h = req_.find("x-switchyard-rescue");
  return h == req_.end() || !beast::iequals(h->value(), "off");
}

// May deployment `idx` continue an answer (an assistant prefill)? prefill: true / false as
// configured; auto: yes, unless its provider documents that it does not continue a final
// assistant message (OpenAI's own API answers it as a new turn) or it refused one before.
bool ChatCall::can_prefill(std::size_t idx) const {
  const config::Deployment& d = model_->deployments[idx];
  if (d.prefill == config::Prefill::yes) return true;
  if (d.prefill == config::Prefill::no) return false;
  if (worker_.prefill_refused[model_index_][idx]) return false;
  const config::Provider& prov = cfg_.providers[d.provider_index];
  return !(prov.kind == config::ProviderKind::openai && prov.url.host == "api.openai.com");
}

// The request that asks `d` to continue client_.text (adapters/continuation.hpp), in the
// OpenAI dialect; Anthropic refuses a prefill ending in whitespace, so for it that is cut
// and skip_ws_ drops it from the start of the reply.
std::string ChatCall::continuation_request(const config::Deployment& d) {
  const config::Provider& prov = cfg_.providers[d.provider_index];
  adapters::continuation::Prefill p = adapters::continuation::build(
      chat_.body, client_.text, adapters::continuation::style_for_host(prov.url.host),
      prov.kind == config::ProviderKind::anthropic);
  skip_ws_ = std::move(p.skip_ws);
  return std::move(p.body);
}

// The client's stream ends with one error event (in its dialect), no [DONE].
net::awaitable<void> ChatCall::end_with_error(std::string_view message, std::string_view code) {
  session_.note_error("api_error", code.empty() ? std::string_view("stream_error") : code);
  std::string out;
  if (client_.writer) {
    client_.writer->on_error("api_error", message, out);
  } else if (front_ == Front::anthropic) {
    out = "event: error\ndata: " +
          json{{"type", "error"}, {"error", {{"type", "api_error"}, {"message", message}}}}.dump(
              -1, ' ', false, json::error_handler_t::replace) +
          "\n\n";
  } else {
    out = error_event(message, code);
  }
  const bool ok = co_await session_.write_chunk(out);
  if (ok) co_await session_.finish_chunked();
}

// Sends a response; errors go out in the client's dialect unless already in it.
net::awaitable<void> ChatCall::send_out(http::Response& res, bool native) {
  if (front_ == Front::anthropic && !native && res.result_int() >= 400) {
    res.body() = adapters::messages_front::error_body(res.result_int(), res.body());
    res.set(bhttp::field::content_type, "application/json");
  }
  co_await session_.send(res);
}

net::awaitable<void> ChatCall::send_err(int status, std::string_view message, std::string_view type,
                                        std::string_view code, std::string_view param) {
  http::Response res{static_cast<bhttp::status>(status), 11};
  res.set(bhttp::field::content_type, "application/json");
  res.body() = api::error_json(message, type, code, param);
  session_.note_error(type, code);
  co_await send_out(res);
}

net::awaitable<void> ChatCall::serve() {
  if (front_ == Front::openai) front_body_ = req_.body();
  stream_id_ = "chatcmpl-" + session_.request_id();
  // W3C trace context: the client's trace, or a new one; each attempt is a child span.
  {
    auto tp = req_.find("traceparent");
    trace_ = telemetry::continue_or_start(
        tp == req_.end() ? std::string_view{} : std::string_view(tp->value()), worker_.rng);
    auto ts = req_.find("tracestate");
    if (tp != req_.end() && ts != req_.end() && telemetry::parse_traceparent(tp->value())) {
      tracestate_ = std::string(ts->value());
    }
  }
  const std::string_view body = front_ == Front::anthropic ? front_openai_body_ : front_body_;
  if (embeddings_) {
    adapters::ClientError ce;
    if (!parse_embeddings(body, ce)) {
      co_await send_err(ce.status, ce.message, ce.type, ce.code, ce.param);
      co_return;
    }
  } else {
    api::RequestError err;
    if (!api::parse_chat_request(body, chat_, err)) {
      auto ce = api::client_error_for(err.code);
      std::string_view code = err.code == Errc::invalid_json ? ce.code : std::string_view{};
      co_await send_err(ce.status, err.message, ce.type, code, err.param);
      co_return;
    }
  }
  telemetry::RequestLog& log = session_.log();
  log.trace_id = trace_.trace_id;
  log.model = chat_.model;
  log.stream = chat_.stream;
  const config::Model* model = cfg_.find_model(chat_.model);
  if (!model) {
    co_await send_err(
        404, "The model `" + chat_.model + "` does not exist or you do not have access to it.",
        "invalid_request_error", "model_not_found", "model");
    co_return;
  }
  model_ = model;
  model_index_ = static_cast<std::size_t>(model - cfg_.models.data());
  if (worker_.metrics) log.slot = worker_.metrics_layout->model_slot(model_index_);
  // If the client leaves while we wait on a provider, stop that provider's work at once.
  session_.watch_client([this] {
    for (auto& a : attempts_list_) {
      if (!a->finished) cancel(*a);
    }
    wake_.cancel();
  });
  const Clock::time_point started = Clock::now();
  RouteDecision route = embeddings_ ? embeddings_route(*model, started)
                                    : decide_route(worker_, req_, chat_, *model, started);
  route_ = route.line;
  log.task.assign(route.task.task);
  if (auto* m = worker_.metrics) {
    using telemetry::Decision;
    const Decision d = route.error_status == 429   ? Decision::rate_limited
                       : route.error_status == 503 ? Decision::no_route
                       : route.error_status != 0   ? Decision::rejected
                       : route.ranking.panic       ? Decision::panic
                                                   : Decision::routed;
    const int model_i = static_cast<int>(model_index_);
    m->decision(model_i, worker_.metrics_layout->task_index(route.task.task), d);
    for (const auto& c : route.ranking.excluded) {
      m->exclusion(worker_.metrics_layout->slot(model_index_, c.index),
                   telemetry::exclusion_of(c.excluded_because));
    }
  }
  if (route.error_status != 0) {
    http::Response res{static_cast<bhttp::status>(route.error_status), 11};
    res.set(bhttp::field::content_type, "application/json");
    if (route.error_status == 429) res.set(bhttp::field::retry_after, route.retry_after);
    if (!route_.empty()) res.set("x-switchyard-route", route_);
    res.body() =
        api::error_json(route.error_message, route.error_type, route.error_code, route.error_param);
    co_await send_out(res);
    co_return;
  }
  model_index_ = route.model_index;
  const config::Routing& routing = cfg_.routing;
  const router::Ranking& ranking = route.ranking;
  const bool may_hedge = (model->hedge_after.count() > 0 || model->hedge_p95) &&
                         routing.hedge_max_fraction > 0 && routing.retry.max_attempts > 1;
  if (may_hedge) worker_.hedges.on_request();

  // Attempts: the ranked plan, then round again (with backoff) while the budget and the
  // request's deadline allow. A deployment that answered 429 is not retried by this request.
  Clock::duration longest_total{};
  for (const auto& c : ranking.allowed) {
    longest_total = std::max<Clock::duration>(
        longest_total, cfg_.providers[model->deployments[c.index].provider_index].timeouts.total);
  }
  const Clock::time_point request_deadline = started + longest_total;
  std::vector<int> tries(model->deployments.size(), 0);
  std::vector<bool> shut(model->deployments.size(), false);  // rate-limited or too small
  const config::Deployment* context_failed = nullptr;
  std::optional<http::Response> context_error;
  bool context_native = false;
  std::size_t pos = 0;
  int attempts_at_round_start = 0;
  // May deployment `idx` take an attempt now (without waiting)? Takes its admission.
  auto admit = [&](std::size_t idx) {
    const config::Deployment& d = model->deployments[idx];
    if (shut[idx]) return false;
    if (rescuing_ && !can_prefill(idx)) return false;
    if (context_failed && !router::fits_after_context_error(*context_failed, d)) {
      shut[idx] = true;
      return false;
    }
    if (!worker_.stats.admit(model_index_, idx, Clock::now())) {
      // Its breaker opened meanwhile, another request holds the half-open probe, or its
      // max_rpm is used up.
      rpm_refused_ = rpm_refused_ || worker_.stats.rpm_capped(model_index_, idx, Clock::now());
      return false;
    }
    return true;
  };
  while (attempts_ < routing.retry.max_attempts) {
    if (pos == ranking.allowed.size()) {
      // A round in which no deployment would take an attempt (all shut, or refused by
      // their breakers) ends the request instead of spinning.
      if (attempts_ == attempts_at_round_start) break;
      attempts_at_round_start = attempts_;
      pos = 0;
      bool any = false;
      for (const auto& c : ranking.allowed) any = any || !shut[c.index];
      if (!any) break;
    }
    const std::size_t idx = ranking.allowed[pos++].index;
    const config::Deployment& d = model->deployments[idx];
    if (shut[idx]) continue;
    if (tries[idx] > 0) {
      const auto delay = router::backoff_delay(tries[idx] - 1, routing.retry, worker_.rng);
      if (Clock::now() + delay >= request_deadline) break;
      net::steady_timer pause(worker_.ioc);
      pause.expires_after(delay);
      auto [pec] = co_await pause.async_wait(use_nothrow);
      (void)pec;
      if (session_.client_gone()) co_return;
    }
    if (!admit(idx)) continue;
    ++tries[idx];
    ++attempts_;
    if (tries[idx] > 1 && worker_.metrics) {
      worker_.metrics->retry(worker_.metrics_layout->slot(model_index_, idx));
    }

    // The race: the attempt, plus at most one backup if it is slow to reach its win point.
    std::optional<Clock::time_point> hedge_at;
    Attempt* winner = nullptr;
    {
      const std::optional<Clock::time_point> at =
          may_hedge && !rescuing_ ? hedge_time(idx, Clock::now()) : std::nullopt;
      hedge_at = at;
      Attempt& first = start(d, idx, false, at.has_value());
      if (!at) {
        co_await drive(first);  // no hedge possible: run it inline
        first.finished = true;
      }
    }
    const std::size_t race_begin = attempts_list_.size() - 1;
    for (;;) {
      if (session_.client_gone()) co_return;  // settle() cancels what still runs
      bool active = false;
      for (std::size_t k = race_begin; k < attempts_list_.size(); ++k) {
        Attempt& a = *attempts_list_[k];
        if (!a.finished) {
          active = true;
          continue;
        }
        if (a.handled) continue;
        if (a.outcome.kind != Outcome::Kind::failover) {
          winner = &a;
          break;
        }
        a.handled = true;
        const Clock::time_point now = Clock::now();
        record(a, a.outcome, now);
        spdlog::debug("{} {}/{} failed over: {}", session_.request_id(), a.d->provider, a.d->model,
                      a.outcome.detail);
        if (a.outcome.status == 429) shut[a.idx] = true;
        if (a.outcome.prefill_rejected) {
          worker_.prefill_refused[model_index_][a.idx] = 1;
          shut[a.idx] = true;
          spdlog::info("{} {}/{} refused an assistant prefill; not asked to continue again",
                       session_.request_id(), a.d->provider, a.d->model);
        }
        a.outcome.detail = a.d->provider + "/" + a.d->model + ": " + a.outcome.detail;
        failures_.push_back(std::move(a.outcome));
      }
      if (winner || !active) break;
      if (hedge_at && Clock::now() >= *hedge_at) {
        hedge_at.reset();
        // The backup goes to the next deployment in the plan that may take it now.
        while (pos < ranking.allowed.size() && attempts_ < routing.retry.max_attempts) {
          const std::size_t h = ranking.allowed[pos].index;
          if (tries[h] > 0 || shut[h]) {
            ++pos;
            continue;
          }
          if (!worker_.hedges.can_spend()) break;  // over routing.hedge_max_fraction
          if (!admit(h)) {
            ++pos;
            continue;
          }
          worker_.hedges.spend();
          ++pos;
          ++tries[h];
          ++attempts_;
          hedged_ = true;
          spdlog::debug("{} hedging {}/{} after {} ms", session_.request_id(),
                        model->deployments[h].provider, model->deployments[h].model,
                        std::chrono::duration_cast<std::chrono::milliseconds>(
                            Clock::now() - attempts_list_[race_begin]->started)
                            .count());
          start(model->deployments[h], h, true, true);
          break;
        }
        continue;
      }
      wake_.expires_at(hedge_at ? *hedge_at : Clock::time_point::max());
      auto [wec] = co_await wake_.async_wait(use_nothrow);
      (void)wec;
    }
    if (!winner) continue;  // every attempt of this race failed over: next in the plan

    // The losers: stop them (their providers see the connection closed).
    for (std::size_t k = race_begin; k < attempts_list_.size(); ++k) {
      Attempt& a = *attempts_list_[k];
      if (&a == winner || a.handled) continue;
      if (!a.finished) {
        cancel(a);
        // Censored at the time it lost, so that its slowness still counts toward the p95.
        worker_.stats.ttft_sample(
            model_index_, a.idx,
            std::chrono::duration<double, std::milli>(Clock::now() - a.started).count());
      } else {
        a.handled = true;
        give_back(a, false);  // it reached its win point too, second
      }
      abandon(a);
    }
    winner->handled = true;
    if (hedged_ && hedge_winner_ == nullptr) hedge_winner_ = winner;
    Outcome o = std::move(winner->outcome);
    if (o.kind == Outcome::Kind::ready) o = co_await deliver(*winner);
    const Clock::time_point now = Clock::now();
    const bool delivered = o.kind == Outcome::Kind::done || o.kind == Outcome::Kind::rescue;
    if (session_.client_gone()) {
      abandon(*winner);
      if (delivered) account(*winner, o, true);
      spdlog::debug("{} client went away during attempt {}", session_.request_id(), attempts_);
      co_return;
    }
    record(*winner, o, now);
    if (delivered) account(*winner, o, o.client_cut);
    const config::Deployment& wd = *winner->d;
    switch (o.kind) {
      case Outcome::Kind::ready:
      case Outcome::Kind::done:
        if (winner->continuation && !o.broke) {
          rescued_ = true;
          spdlog::info("{} stream rescued by {}/{} after {} continuation(s)", session_.request_id(),
                       wd.provider, wd.model, rescues_);
        }
        co_return;
      case Outcome::Kind::rescue:
        // The stream broke after content went out; the next deployment that can take a
        // prefill continues it, within the same attempt budget and deadline.
        if (!rescuing_) {
          rescue_error_ = o.detail;
          rescue_code_ = o.code;
        }
        rescuing_ = true;
        ++rescues_;
        spdlog::info("{} stream from {}/{} broke after {} bytes of answer ({}); rescuing",
                     session_.request_id(), wd.provider, wd.model, client_.text.size(), o.detail);
        o.detail = wd.provider + "/" + wd.model + ": " + o.detail;
        failures_.push_back(std::move(o));
        break;
      case Outcome::Kind::passthrough:
        o.response.set("x-switchyard-deployment", wd.provider + "/" + wd.model);
        o.response.set("x-switchyard-attempts", std::to_string(attempts_));
        o.response.set("x-switchyard-route", route_);
        co_await send_out(o.response, o.native);
        co_return;
      case Outcome::Kind::unsupported:
        // This dialect cannot express the request (say n > 1 to Anthropic): another
        // deployment may; if none can, the client hears why.
        shut[winner->idx] = true;
        if (!unsupported_) unsupported_ = std::move(o.client_error);
        spdlog::debug("{} {}/{} cannot take this request: {}", session_.request_id(), wd.provider,
                      wd.model, o.detail);
        break;
      case Outcome::Kind::context_length:
        context_failed = &wd;
        shut[winner->idx] = true;
        context_native = o.native;
        context_error = std::move(o.response);
        spdlog::debug("{} {}/{}: context_length_exceeded, trying a larger window",
                      session_.request_id(), wd.provider, wd.model);
        break;
      case Outcome::Kind::failover:
        spdlog::debug("{} {}/{} failed over: {}", session_.request_id(), wd.provider, wd.model,
                      o.detail);
        if (o.status == 429) shut[winner->idx] = true;
        o.detail = wd.provider + "/" + wd.model + ": " + o.detail;
        failures_.push_back(std::move(o));
        break;
    }
  }
  if (client_.started) {
    // A rescue found no deployment to continue the answer: the client hears the original
    // break, never a prefill refusal.
    co_await end_with_error(rescue_error_, rescue_code_);
    co_return;
  }
  if (context_error && failures_.empty()) {
    // No deployment with a larger window: the prompt is the client's problem; say so
    // in the provider's own words.
    context_error->set("x-switchyard-attempts", std::to_string(attempts_));
    co_await send_out(*context_error, context_native);
    co_return;
  }
  if (unsupported_ && failures_.empty()) {
    const adapters::ClientError& ce = *unsupported_;
    co_await send_err(ce.status, ce.message, ce.type, ce.code, ce.param);
    co_return;
  }
  co_await send_final_error();
}

net::awaitable<void> ChatCall::send_final_error() {
  if (failures_.empty() && rpm_refused_) {
    http::Response res{bhttp::status::too_many_requests, 11};
    res.set(bhttp::field::content_type, "application/json");
    res.set(bhttp::field::retry_after, "1");
    if (!route_.empty()) res.set("x-switchyard-route", route_);
    res.body() =
        api::error_json("Rate limit reached for `" + model_->name +
                            "`: every deployment that can serve this request is at its max_rpm.",
                        "rate_limit_exceeded", "rate_limit_exceeded");
    co_await send_out(res);
    co_return;
  }
  if (failures_.empty()) {
    http::Response res{bhttp::status::service_unavailable, 11};
    res.set(bhttp::field::content_type, "application/json");
    res.set(bhttp::field::retry_after, "1");
    if (!route_.empty()) res.set("x-switchyard-route", route_);
    res.body() = api::error_json(
        "No deployment can serve this request now: the circuit breakers of all candidates are "
        "open.",
        "server_error", "no_route");
    co_await send_out(res);
    co_return;
  }
  bool all_429 = true, all_timeout = true, all_overflow = true;
  std::optional<long> retry_after;
  for (const Outcome& f : failures_) {
    all_429 = all_429 && f.status == 429;
    all_timeout = all_timeout && api::is_timeout(f.err);
    all_overflow = all_overflow && f.err == Errc::pool_overflow;
    if (f.retry_after_s && (!retry_after || *f.retry_after_s < *retry_after)) {
      retry_after = f.retry_after_s;
    }
  }
  const Outcome& last = failures_.back();
  std::string msg = "All " + std::to_string(attempts_) + " upstream attempt" +
                    (attempts_ == 1 ? "" : "s") + " failed; last: " + last.detail;
  http::Response res;
  res.version(11);
  res.set(bhttp::field::content_type, "application/json");
  res.set("x-switchyard-attempts", std::to_string(attempts_));
  if (!route_.empty()) res.set("x-switchyard-route", route_);
  if (all_429) {
    res.result(bhttp::status::too_many_requests);
    res.set(bhttp::field::retry_after, std::to_string(retry_after.value_or(1)));
    res.body() = api::error_json(msg, "rate_limit_exceeded", "rate_limit_exceeded");
  } else if (all_overflow) {
    res.result(bhttp::status::service_unavailable);
    res.set(bhttp::field::retry_after, "1");
    res.body() = api::error_json(msg, "server_error", "pool_overflow");
  } else if (all_timeout) {
    res.result(bhttp::status::gateway_timeout);
    res.body() = api::error_json(msg, "upstream_error", api::name_of(last.err));
  } else {
    res.result(bhttp::status::bad_gateway);
    res.body() = api::error_json(msg, "upstream_error", api::name_of(last.err));
  }
  co_await send_out(res);
}

net::awaitable<Errc> ChatCall::read_some(Connection& c, ResponseParser& p, char* buf,
                                         std::size_t cap, std::size_t& n, Deadline dl,
                                         error_code& ec) {
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

net::awaitable<Errc> ChatCall::read_all(Connection& c, ResponseParser& p, std::string& out,
                                        std::size_t limit, const config::ProviderTimeouts& t,
                                        Clock::time_point total_at, error_code& ec) {
  char buf[kReadChunk];
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

// Percent-encodes a path segment (a model or deployment name in a URL path).
std::string path_segment(std::string_view v) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(v.size());
  for (unsigned char c : v) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

// `body` (a valid JSON object) with its top-level "model" replaced by `model`.
std::string with_model(std::string_view body, std::string_view model) {
  std::vector<api::Member> members;
  const std::string value = json(std::string(model)).dump();
  if (api::scan_top_level(body, members)) {
    for (const auto& m : members) {
      if (m.key != "model") continue;
      std::string out;
      out.reserve(body.size() + value.size());
      out.append(body.substr(0, m.value_begin)).append(value).append(body.substr(m.value_end));
      return out;
    }
  }
  return std::string(body);
}

constexpr std::string_view kDefaultAzureApiVersion = "2024-10-21";

// Azure OpenAI: {base}/openai/deployments/{deployment}/{op}?api-version=…
std::string azure_path(const config::Provider& prov, std::string_view deployment,
                       std::string_view op) {
  return prov.url.path + "/openai/deployments/" + path_segment(deployment) + "/" + std::string(op) +
         "?api-version=" +
         (prov.api_version.empty() ? std::string(kDefaultAzureApiVersion)
                                   : path_segment(prov.api_version));
}

std::int64_t unix_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Says (at debug level) which of the client's fields the deployment's dialect dropped.
template <std::size_t N>
void ChatCall::log_dropped(const config::Deployment& d, const std::string_view (&fields)[N]) {
  if (!spdlog::should_log(spdlog::level::debug)) return;
  std::vector<api::Member> members;
  if (!api::scan_top_level(chat_.body, members)) return;
  std::string dropped;
  for (const auto& m : members) {
    for (std::string_view f : fields) {
      if (m.key == f) dropped.append(dropped.empty() ? "" : ", ").append(f);
    }
  }
  if (!dropped.empty()) {
    spdlog::debug("{} {}/{}: dropped fields its dialect cannot express: {}", session_.request_id(),
                  d.provider, d.model, dropped);
  }
}

bool ChatCall::encode_for(Attempt& a, bool request_usage, adapters::Encoded& e,
                          adapters::ClientError& err) {
  const config::Deployment& d = *a.d;
  const config::Provider& prov = cfg_.providers[d.provider_index];
  a.kind = prov.kind;
  // A continuation always goes through the translation, so the client's event stream
  // (already started by another deployment) goes on in one piece.
  a.raw =
      front_ == Front::anthropic && prov.kind == config::ProviderKind::anthropic && !a.continuation;
  // A rescue sends the same request with the answer so far as an assistant prefill.
  std::string cont_body;
  api::ChatRequest cont;
  const api::ChatRequest* chat = &chat_;
  if (a.continuation) {
    cont_body = continuation_request(d);
    api::RequestError perr;
    if (cont_body.empty() || !api::parse_chat_request(cont_body, cont, perr)) {
      err.message = "The request cannot be continued.";
      return false;
    }
    chat = &cont;
  }
  if (embeddings_) {
    switch (prov.kind) {
      case config::ProviderKind::openai:
        e.path = prov.url.path + "/embeddings";
        e.body = with_model(chat_.body, d.model);
        return true;
      case config::ProviderKind::azure:
        e.path = azure_path(prov, d.model, "embeddings");
        e.body = with_model(chat_.body, d.model);
        return true;
      case config::ProviderKind::gemini:
        if (!adapters::gemini::encode_embeddings(chat_.body, d.model, e, err)) return false;
        e.path = prov.url.path + "/v1beta" + e.path;
        return true;
      case config::ProviderKind::anthropic:
        err.message = "Anthropic has no embeddings API.";
        err.param = "model";
        return false;
    }
  }
  switch (prov.kind) {
    case config::ProviderKind::openai:
      e.path = prov.url.path + "/chat/completions";
      e.body = api::upstream_body(*chat, d.model, request_usage);
      return true;
    case config::ProviderKind::azure:
      e.path = azure_path(prov, d.model, "chat/completions");
      e.body = api::upstream_body(*chat, d.model, request_usage);
      return true;
    case config::ProviderKind::anthropic:
      if (a.raw) {
        // The client's own Anthropic request, only the model replaced; its version and
        // beta headers go along.
        e.path = prov.url.path + "/v1/messages";
        e.body = with_model(front_body_, d.model);
        auto v = req_.find("anthropic-version");
        e.headers.emplace_back("anthropic-version", v == req_.end()
                                                        ? std::string(adapters::anthropic::kVersion)
                                                        : std::string(v->value()));
        if (auto b = req_.find("anthropic-beta"); b != req_.end()) {
          e.headers.emplace_back("anthropic-beta", std::string(b->value()));
        }
        return true;
      }
      if (!adapters::anthropic::encode_request(chat->body, d.model, e, err)) return false;
      e.path = prov.url.path + "/v1" + e.path;
      log_dropped(d, adapters::anthropic::kDroppedFields);
      return true;
    case config::ProviderKind::gemini:
      if (!adapters::gemini::encode_request(chat->body, d.model, e, err)) return false;
      e.path = prov.url.path + "/v1beta" + e.path;
      log_dropped(d, adapters::gemini::kDroppedFields);
      return true;
  }
  return false;
}

net::awaitable<Outcome> ChatCall::open(Attempt& a, bool request_usage) {
  const config::Deployment& d = *a.d;
  const config::Provider& prov = cfg_.providers[d.provider_index];
  const config::ProviderTimeouts& t = prov.timeouts;
  Pool& pool = *a.pool;
  const Clock::time_point start = Clock::now();
  a.total_at = start + t.total;
  a.ttfb_ms = a.ttft_ms = -1;
  a.headroom = {};
  a.stream.reset();

  // The request in the deployment's dialect.
  adapters::Encoded enc;
  adapters::ClientError cerr;
  if (!encode_for(a, request_usage, enc, cerr)) {
    Outcome o;
    o.kind = Outcome::Kind::unsupported;
    o.status = cerr.status;
    o.detail = cerr.message;
    o.client_error = std::move(cerr);
    co_return o;
  }
  // The request head is written by hand into one buffer (see Session::send for why).
  const std::string& up_body = enc.body;
  std::string up_head;
  up_head.reserve(256 + prov.api_key.size() + enc.path.size());
  up_head.append("POST ").append(enc.path).append(" HTTP/1.1\r\nHost: ");
  up_head.append(prov.url.host_header());
  up_head.append("\r\nUser-Agent: switchyard/" SWITCHYARD_VERSION
                 "\r\nContent-Type: application/json\r\nAccept-Encoding: identity\r\nAccept: ");
  up_head.append(chat_.stream ? "text/event-stream" : "application/json");
  if (!prov.api_key.empty()) {
    switch (prov.kind) {
      case config::ProviderKind::openai:
        up_head.append("\r\nAuthorization: Bearer ");
        break;
      case config::ProviderKind::azure:
        up_head.append("\r\napi-key: ");
        break;
      case config::ProviderKind::anthropic:
        up_head.append("\r\nx-api-key: ");
        break;
      case config::ProviderKind::gemini:
        up_head.append("\r\nx-goog-api-key: ");
        break;
    }
    up_head.append(prov.api_key);
  }
  for (const auto& [k, v] : enc.headers) up_head.append("\r\n").append(k).append(": ").append(v);
  for (const auto& [k, v] : prov.headers) up_head.append("\r\n").append(k).append(": ").append(v);
  up_head.append("\r\ntraceparent: ").append(telemetry::child_traceparent(trace_, worker_.rng));
  if (!tracestate_.empty()) up_head.append("\r\ntracestate: ").append(tracestate_);
  up_head.append("\r\nContent-Length: ").append(std::to_string(up_body.size()));
  up_head.append("\r\nConnection: keep-alive\r\n\r\n");
  const std::array<net::const_buffer, 2> request_bytes{net::buffer(up_head), net::buffer(up_body)};

  // A pooled connection the provider closed while it sat idle fails on first use; that
  // is not the provider's fault, so try once more on a fresh connection.
  for (int tries = 0;; ++tries) {
    Acquired acq = co_await pool.acquire(earliest(Clock::now() + t.connect, a.total_at));
    if (acq.error != Errc::ok) {
      co_return failover(acq.error, "no free connection to " + prov.name);
    }
    a.conn = std::move(acq.conn);
    const bool reused = a.conn != nullptr;
    if (!a.conn) {
      if (stopped(a)) {
        pool.release(nullptr, false);  // the reserved slot
        co_return client_gone_outcome();
      }
      Connected nc = co_await pool.connect(earliest(Clock::now() + t.connect, a.total_at));
      if (nc.error != Errc::ok) {
        pool.release(nullptr, false);
        co_return failover(nc.error, nc.detail);
      }
      a.conn = std::move(nc.conn);
    }
    if (stopped(a)) {
      give_back(a, false);
      co_return client_gone_outcome();
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
      break;
    }
    give_back(a, false);
    if (stopped(a)) co_return client_gone_outcome();
    bool stale = ec == bhttp::error::end_of_stream || ec == net::error::eof ||
                 ec == net::error::connection_reset || ec == net::error::broken_pipe;
    if (reused && stale && tries == 0 && Clock::now() < a.total_at) continue;
    Errc e = classify_io(ec, head_dl.on_timeout);
    co_return failover(e, describe_io(ec, e, e == Errc::total_timeout ? t.total : t.first_byte));
  }
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
  if (status >= 200 && status < 300) {
    std::string_view ctype = head[bhttp::field::content_type];
    if (chat_.stream && ctype.substr(0, 17) == "text/event-stream") {
      co_return co_await first_content(a);
    }
    if (!chat_.stream) {
      // A non-stream answer's head comes when the whole answer is ready: this attempt
      // has won; deliver() reads and checks the body.
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

  // An error status: read its (bounded) body to decide.
  std::string body;
  error_code ec;
  Errc e = co_await read_all(*a.conn, *a.parser, body, kMaxErrorBody, t, a.total_at, ec);
  give_back(a, e == Errc::ok && head.keep_alive());
  Outcome o;
  o.status = status;
  o.err = Errc::upstream_status;
  if (auto ra = head.find(bhttp::field::retry_after); ra != head.end()) {
    // Both forms (delay-seconds, HTTP-date) by the router's parser, in whole seconds up.
    if (auto ms = router::parse_retry_after(std::string_view(ra->value()),
                                            std::chrono::system_clock::now())) {
      o.retry_after_s = static_cast<long>(std::chrono::ceil<std::chrono::seconds>(*ms).count());
    }
  }
  std::string upstream_msg;
  std::string code;
  std::string mapped_body;  // the error in OpenAI's shape, for other dialects
  int client_status = status;
  bool context = false;
  if (a.kind == config::ProviderKind::anthropic || a.kind == config::ProviderKind::gemini) {
    const adapters::MappedError me = a.kind == config::ProviderKind::anthropic
                                         ? adapters::anthropic::map_error(status, body)
                                         : adapters::gemini::map_error(status, body);
    upstream_msg = me.message;
    code = me.code;
    context = me.context_length;
    if (!a.raw) {
      mapped_body = me.openai_body;
      client_status = me.status;
    }
  } else {
    json j = json::parse(body, nullptr, false);
    if (j.is_object() && j.contains("error") && j["error"].is_object()) {
      const json& je = j["error"];
      if (je.contains("message") && je["message"].is_string()) upstream_msg = je["message"];
      if (je.contains("code") && je["code"].is_string()) code = je["code"];
    }
    context = code == "context_length_exceeded";
  }
  o.detail = "upstream returned HTTP " + std::to_string(status) +
             (upstream_msg.empty() ? "" : ": " + upstream_msg.substr(0, 300));
  if (status == 429 || status == 408 || status >= 500) {
    o.kind = Outcome::Kind::failover;
    co_return o;
  }
  if (a.continuation && status != 429 && status != 408) {
    // The original request was fine (another deployment answered it): a 4xx now is this
    // deployment refusing the prefill. Remember, and let the next one continue.
    o.kind = Outcome::Kind::failover;
    o.prefill_rejected = true;
    co_return o;
  }
  o.kind = context ? Outcome::Kind::context_length : Outcome::Kind::passthrough;
  o.rejected_stream_options = a.kind == config::ProviderKind::openai && request_usage &&
                              chat_.stream && !chat_.client_include_usage &&
                              (status == 400 || status == 422) &&
                              body.find("stream_options") != std::string::npos;
  o.response = http::Response{static_cast<bhttp::status>(client_status), 11};
  std::string_view ctype = head[bhttp::field::content_type];
  o.response.set(bhttp::field::content_type,
                 ctype.empty() || !mapped_body.empty() ? "application/json" : ctype);
  for (const auto& f : head) {
    if (is_passthrough_header(f.name_string())) o.response.set(f.name_string(), f.value());
  }
  o.native = a.raw;
  if (!mapped_body.empty()) {
    o.response.body() = std::move(mapped_body);
  } else if (e != Errc::ok || body.empty()) {
    o.response.body() = api::error_json(o.detail, "upstream_error", "upstream_status");
    o.native = false;
  } else {
    o.response.body() = std::move(body);
  }
  co_return o;
}

net::awaitable<Outcome> ChatCall::deliver(Attempt& a) {
  if (a.stream) co_return co_await relay_committed(a);
  const config::ProviderTimeouts& t = cfg_.providers[a.d->provider_index].timeouts;
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
  add_gateway_headers(res, a);
  give_back(a, reusable);
  if (body.empty()) co_return failover(Errc::upstream_empty, "empty response body", status);
  // Validate without building a DOM: OpenAI-dialect bytes are relayed as received.
  std::size_t first = body.find_first_not_of(" \t\r\n");
  if (first == std::string::npos || body[first] != '{' || !api::json_valid(body)) {
    co_return failover(Errc::upstream_malformed, "response body is not a JSON object", status);
  }
  if (embeddings_ && a.kind == config::ProviderKind::gemini) {
    std::string openai_json, why;
    if (!adapters::gemini::decode_embeddings(body, a.d->model, openai_json, a.usage, why)) {
      co_return failover(Errc::upstream_malformed, "unreadable answer: " + why, status);
    }
    body = std::move(openai_json);
    ctype = "application/json";
  } else if (embeddings_) {
    a.usage = usage_of_body(body);
  } else if (a.kind == config::ProviderKind::anthropic || a.kind == config::ProviderKind::gemini) {
    const std::string id = "chatcmpl-" + session_.request_id();
    const adapters::DecodeContext ctx{a.d->model, id, unix_seconds()};
    std::string openai_json, why;
    bool ok = false;
    if (a.kind == config::ProviderKind::anthropic) {
      ok = adapters::anthropic::decode_response(body, ctx, openai_json, a.usage, why);
    } else {
      adapters::ClientError blocked;
      ok = adapters::gemini::decode_response(body, ctx, openai_json, a.usage, blocked, why);
      if (!ok && !blocked.message.empty()) {
        // A prompt the provider's safety filter refused: the client's to fix, no failover.
        Outcome o;
        o.kind = Outcome::Kind::passthrough;
        o.status = blocked.status;
        o.response = http::Response{static_cast<bhttp::status>(blocked.status), 11};
        o.response.set(bhttp::field::content_type, "application/json");
        o.response.body() =
            api::error_json(blocked.message, blocked.type, blocked.code, blocked.param);
        co_return o;
      }
    }
    if (!ok) co_return failover(Errc::upstream_malformed, "unreadable answer: " + why, status);
    if (!a.raw) body = std::move(openai_json);
    if (!a.usage.known() && !a.raw) a.answer_bytes = answer_bytes(body);
    ctype = "application/json";
  } else {
    a.usage = usage_of_body(body);
    if (!a.usage.known()) a.answer_bytes = answer_bytes(body);
  }
  if (front_ == Front::anthropic && !a.raw) {
    std::string message, why;
    if (!adapters::messages_front::to_anthropic_response(body, message, why)) {
      co_return failover(Errc::upstream_malformed, "unreadable answer: " + why, status);
    }
    body = std::move(message);
    ctype = "application/json";
  }
  res.set(bhttp::field::content_type, ctype.empty() ? "application/json" : ctype);
  res.body() = std::move(body);
  co_await session_.send(res);
  co_return Outcome{};
}

// The end of the client's stream, in its dialect.
void emit_done(StreamState& s) {
  if (s.raw) {
    s.out += "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
  } else if (s.writer) {
    s.writer->on_done(s.out);
  } else {
    s.out += "data: [DONE]\n\n";
  }
}

// A clean error event for the client, in its dialect.
void emit_error(StreamState& s, std::string_view message, std::string_view code) {
  if (s.writer && !s.raw) {
    s.writer->on_error("api_error", message, s.out);
  } else if (s.raw) {
    s.out += "event: error\ndata: ";
    s.out += json{{"type", "error"}, {"error", {{"type", "api_error"}, {"message", message}}}}.dump(
        -1, ' ', false, json::error_handler_t::replace);
    s.out += "\n\n";
  } else {
    s.out += error_event(message, code);
  }
}

// Acts on one OpenAI-shaped payload (upstream's own, or transcoded) and appends what the
// client gets to s.out. false: stop reading this event's payloads (end or error).
bool ChatCall::take(StreamState& s, std::string_view p, std::string_view event_name) {
  if (p == "[DONE]") {
    s.done = true;
    if (!s.raw) emit_done(s);
    return false;
  }
  EventFacts f = inspect(p);
  if (!f.valid) {
    ++s.skipped;  // never relay a data event that is not JSON
    return true;
  }
  if (f.error) {
    s.upstream_error = true;
    s.upstream_error_msg = f.error_message;
    return false;
  }
  if (f.usage.known()) s.usage = f.usage;
  s.content_bytes += f.content_bytes;
  if (f.content) {
    s.commit_now = true;
    s.last_content_at = Clock::now();
    if (s.content_events++ == 0) s.first_content_at = s.last_content_at;
  }
  if (f.finish) s.finished = true;
  if (s.first_id.empty() && !f.id.empty()) s.first_id = f.id;
  if (f.tool_call || f.reasoning || f.other_choice) s.unsafe = true;
  std::string rewritten;  // the payload as this client must see it, when it differs
  if (s.continuation) {
    // The client already has the start of this answer: only content goes on (not the
    // continuation's role chunk), under the id the client knows, and whitespace the
    // prefill had to lose (Anthropic refuses a prefill ending in it) is not repeated.
    if (!f.content && !f.usage_only) return true;
    std::string text = f.text;
    if (!s.skip_ws.empty() && !text.empty()) {
      if (text.compare(0, s.skip_ws.size(), s.skip_ws) == 0) text.erase(0, s.skip_ws.size());
      s.skip_ws.clear();
    }
    rewritten = continuation_payload(p, f, text);
    s.text += text;
  } else {
    s.text += f.text;
  }
  const std::string_view out_payload = rewritten.empty() ? p : std::string_view(rewritten);
  if (s.raw) {
    // The upstream's own event goes out as it came; the writer follows in the shadow.
    if (s.writer) {
      shadow_.clear();
      s.writer->on_chunk(out_payload, shadow_);
    }
    return true;
  }
  if (s.writer) {
    s.writer->on_chunk(out_payload, s.out);
    return true;
  }
  if (f.usage_only && !chat_.client_include_usage) return true;  // we asked, they did not
  if (!event_name.empty()) {
    s.out += "event: ";
    s.out += event_name;
    s.out += '\n';
  }
  s.out += "data: ";
  s.out += out_payload;
  s.out += "\n\n";
  return true;
}

// A continuation's chunk as the client must see it: the first attempt's id, the text with
// any dropped whitespace, and a usage chunk counting the whole answer (the prefill was
// generated by the earlier attempt: it is output, not prompt). Empty: send `p` as is.
std::string ChatCall::continuation_payload(std::string_view p, const EventFacts& f,
                                           const std::string& text) {
  const bool new_id = !client_.id.empty() && !f.id.empty() && f.id != client_.id;
  if (!new_id && !f.usage_only && text == f.text) return {};
  json j = json::parse(p, nullptr, false);
  if (!j.is_object()) return {};
  if (new_id) j["id"] = client_.id;
  if (text != f.text) {
    auto& choices = j["choices"];
    if (choices.is_array() && !choices.empty() && choices[0].is_object() &&
        choices[0].contains("delta") && choices[0]["delta"].is_object()) {
      choices[0]["delta"]["content"] = text;
    }
  }
  if (f.usage_only && f.usage.known()) {
    adapters::Usage u = f.usage;
    // The earlier attempts' tokens, as counted by their content chunks: OpenAI-compatible
    // servers stream one token per chunk (a lower bound for providers that send more).
    const std::int64_t prefill = client_.chunks;
    if (u.input_tokens >= prefill) u.input_tokens -= prefill;
    if (u.output_tokens >= 0) u.output_tokens += prefill;
    j["usage"] = json::parse(adapters::openai_usage_json(u), nullptr, false);
  }
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

// One read from the stream, its events parsed into s.out (not written anywhere yet).
net::awaitable<void> ChatCall::pump(Attempt& a, bool committed) {
  StreamState& s = *a.stream;
  const config::ProviderTimeouts& t = cfg_.providers[a.d->provider_index].timeouts;
  Deadline dl =
      pick({Clock::now() + t.idle, Errc::idle_timeout}, {a.total_at, Errc::total_timeout});
  if (!committed) dl = pick(dl, {a.head_at + t.first_token, Errc::first_token_timeout});
  std::size_t n = 0;
  s.e = co_await read_some(*a.conn, *a.parser, s.buf.data(), s.buf.size(), n, dl, s.ec);
  if (n > 0) s.sse.feed(std::string_view(s.buf.data(), n));
  const bool transcoded = !std::holds_alternative<std::monostate>(s.tx);
  for (;;) {
    auto st = s.sse.next(s.ev);
    if (st == sse::Parser::Status::need_more) break;
    if (st == sse::Parser::Status::too_large) {
      s.e = Errc::upstream_malformed;
      break;
    }
    if (!transcoded) {
      if (!take(s, s.ev.data, s.ev.event)) break;
      continue;
    }
    s.payloads.clear();
    const bool parsed = std::visit(
        [&](auto& tx) {
          if constexpr (std::is_same_v<std::decay_t<decltype(tx)>, std::monostate>) {
            return false;
          } else {
            return tx.on_event(s.ev.event, s.ev.data, s.payloads);
          }
        },
        s.tx);
    if (!parsed) {
      ++s.skipped;
      continue;
    }
    bool go_on = true;
    for (const std::string& p : s.payloads) {
      go_on = take(s, p, {});
      if (!go_on) break;
    }
    if (s.raw && !s.upstream_error) {
      if (!s.ev.event.empty()) s.out.append("event: ").append(s.ev.event).append("\n");
      s.out.append("data: ").append(s.ev.data).append("\n\n");
    }
    if (!go_on) break;
  }
  if (transcoded && !s.ended && !s.done && !s.upstream_error && s.e == Errc::ok &&
      a.parser->is_done()) {
    // The body ended: Gemini's streams end here, without a terminating event.
    s.ended = true;
    s.payloads.clear();
    std::visit(
        [&](auto& tx) {
          if constexpr (!std::is_same_v<std::decay_t<decltype(tx)>, std::monostate>) {
            tx.on_end(s.payloads);
          }
        },
        s.tx);
    for (const std::string& p : s.payloads) {
      if (!take(s, p, {})) break;
    }
  }
}

// Reads a stream up to its first content event (its win point). Nothing reaches the
// client here, so any failure is a clean failover.
net::awaitable<Outcome> ChatCall::first_content(Attempt& a) {
  a.stream = std::make_unique<StreamState>();
  StreamState& s = *a.stream;
  if (a.kind == config::ProviderKind::anthropic || a.kind == config::ProviderKind::gemini) {
    stream_id_ = "chatcmpl-" + session_.request_id();
    const adapters::DecodeContext ctx{a.d->model, stream_id_, unix_seconds()};
    if (a.kind == config::ProviderKind::anthropic) {
      s.tx.emplace<adapters::anthropic::StreamTranscoder>(ctx);
    } else {
      s.tx.emplace<adapters::gemini::StreamTranscoder>(ctx);
    }
  }
  s.raw = a.raw;
  s.continuation = a.continuation;
  if (a.continuation) s.skip_ws = skip_ws_;
  if (front_ == Front::anthropic) {
    // Anthropic clients: the writer turns OpenAI payloads into their events; on a stream
    // passed through as bytes it runs in the shadow (output dropped), so that a rescue can
    // go on exactly where the client's view of the message is.
    // Racing attempts (a hedge) each have their own until one commits and hands it over.
    if (a.continuation && client_.writer) {
      s.writer = client_.writer.get();
    } else {
      s.own_writer = std::make_unique<adapters::messages_front::EventWriter>(
          a.d->model, "msg_" + session_.request_id());
      s.writer = s.own_writer.get();
    }
  }
  const config::ProviderTimeouts& t = cfg_.providers[a.d->provider_index].timeouts;
  while (!a.parser->is_done() && !s.done && !s.upstream_error && !s.commit_now) {
    co_await pump(a, false);
    if (s.e != Errc::ok) break;
  }
  if (s.commit_now && s.e == Errc::ok) {
    a.ttft_ms = std::chrono::duration<double, std::milli>(s.first_content_at - a.sent_at).count();
    Outcome ready;
    ready.kind = Outcome::Kind::ready;
    co_return ready;
  }
  give_back(a, false);
  if (stopped(a)) co_return client_gone_outcome();
  if (s.upstream_error) {
    co_return failover(Errc::upstream_error_event,
                       "upstream sent an error event: " + s.upstream_error_msg.substr(0, 300), 200);
  }
  if (s.e != Errc::ok) {
    co_return failover(
        s.e, describe_io(s.ec, s.e, s.e == Errc::first_token_timeout ? t.first_token : t.idle));
  }
  co_return failover(
      s.skipped ? Errc::upstream_malformed : Errc::upstream_empty,
      s.skipped ? "stream carried no valid JSON event" : "stream ended before any content", 200);
}

// The commit point and everything after it: from here on the client sees this
// deployment's answer, and a failure ends the stream with an error event.
net::awaitable<Outcome> ChatCall::relay_committed(Attempt& a) {
  StreamState& s = *a.stream;
  const config::ProviderTimeouts& t = cfg_.providers[a.d->provider_index].timeouts;
  ResponseParser& parser = *a.parser;
  if (!client_.started) {
    client_.started = true;
    client_.id = s.first_id;
    client_.raw = a.raw;
    if (s.own_writer) client_.writer = std::move(s.own_writer);  // s.writer stays valid
    bhttp::response<bhttp::empty_body> h{bhttp::status::ok, 11};
    h.set(bhttp::field::content_type, "text/event-stream");
    h.set(bhttp::field::cache_control, "no-cache");
    add_gateway_headers(h, a);
    const bool head_sent = co_await session_.start_chunked(h);
    if (!head_sent) {
      give_back(a, false);
      Outcome cut;
      cut.client_cut = true;
      co_return cut;
    }
  }
  for (;;) {
    if (!s.out.empty()) {
      const bool written = co_await session_.write_chunk(s.out);
      if (!written) {
        // The client went away: closing the upstream connection stops the generation.
        give_back(a, false);
        a.usage = s.usage;
        a.answer_bytes = s.content_bytes;
        Outcome cut;
        cut.client_cut = true;
        co_return cut;
      }
      s.out.clear();
    }
    if (parser.is_done() || s.done || s.upstream_error) break;
    co_await pump(a, true);
    if (s.e != Errc::ok) break;
  }

  // Finish honestly.
  Errc e = s.e;
  bool done = s.done;
  bool reusable = false;
  client_.text += s.text;
  client_.unsafe = client_.unsafe || s.unsafe;
  client_.chunks += static_cast<std::int64_t>(s.content_events);
  std::string broke_message, broke_code;
  if (done) {
    reusable = true;
  } else if (s.upstream_error) {
    broke_message = "upstream error mid-stream: " + s.upstream_error_msg.substr(0, 300);
    broke_code = "upstream_error_event";
  } else if (s.finished &&
             (e == Errc::ok || e == Errc::idle_timeout || e == Errc::upstream_reset)) {
    // The answer is complete (finish_reason seen); only the terminator is missing.
    emit_done(s);
    done = true;
    reusable = e == Errc::ok;
  } else if (e != Errc::ok) {
    broke_message = "The upstream stream broke before the answer finished (" +
                    describe_io(s.ec, e, e == Errc::total_timeout ? t.total : t.idle) +
                    "); the answer is incomplete.";
    broke_code = api::name_of(e);
  } else {
    broke_message =
        "The upstream ended the stream before the answer finished; the answer is incomplete.";
    broke_code = "stream_interrupted";
  }
  if (!done && may_rescue()) {
    // Keep the client's stream open: the next deployment continues this answer.
    if (!s.out.empty()) {
      const bool written = co_await session_.write_chunk(s.out);
      (void)written;  // a client gone now is noticed by the caller
    }
    give_back(a, false);
    a.usage = s.usage;
    a.answer_bytes = s.content_bytes;
    Outcome r;
    r.kind = Outcome::Kind::rescue;
    r.broke = true;
    r.err = s.upstream_error ? Errc::upstream_error_event : e;
    r.detail = std::move(broke_message);
    r.code = std::move(broke_code);
    co_return r;
  }
  if (!done) {
    emit_error(s, broke_message, broke_code);
    session_.note_error("api_error", broke_code);
  }
  bool client_ok = co_await session_.write_chunk(s.out);
  if (client_ok) client_ok = co_await session_.finish_chunked();
  if (reusable && client_ok && !parser.is_done()) {
    // Let the upstream finish its body (usually just the final chunk) so the connection
    // can go back to the pool; the client already has its whole answer.
    Deadline dl{earliest(Clock::now() + kDrainAfterDone, a.total_at), Errc::idle_timeout};
    error_code ec;
    while (!parser.is_done()) {
      std::size_t n = 0;
      const Errc drained =
          co_await read_some(*a.conn, parser, s.buf.data(), s.buf.size(), n, dl, ec);
      if (drained != Errc::ok) break;
    }
  }
  reusable = reusable && parser.is_done() && parser.get().keep_alive();
  give_back(a, reusable);
  a.usage = s.usage;
  a.answer_bytes = s.content_bytes;
  Outcome result;
  result.broke = !done;
  if (!done)
    result.err = s.upstream_error ? Errc::upstream_error_event
                 : e != Errc::ok  ? e
                                  : Errc::upstream_reset;
  const double secs = std::chrono::duration<double>(s.last_content_at - s.first_content_at).count();
  if (s.content_events >= 4 && secs > 0.001) {
    result.tokens_per_s = static_cast<double>(s.content_events - 1) / secs;
  }
  co_return result;
}

}  // namespace

net::awaitable<void> handle_route_explain(http::Session& session, http::Request& req) {
  app::Worker& w = session.worker();
  api::ChatRequest chat;
  api::RequestError err;
  if (!api::parse_chat_request(req.body(), chat, err)) {
    auto ce = api::client_error_for(err.code);
    co_await session.send_error(ce.status, err.message, ce.type, {}, err.param);
    co_return;
  }
  const config::Model* model = w.cfg->find_model(chat.model);
  if (!model) {
    co_await session.send_error(404, "The model `" + chat.model + "` does not exist.",
                                "invalid_request_error", "model_not_found", "model");
    co_return;
  }
  const Clock::time_point now = Clock::now();
  RouteDecision r = decide_route(w, req, chat, *model, now);
  static constexpr const char* kStrategy[] = {"score", "fallback", "weighted"};
  static constexpr const char* kBreaker[] = {"closed", "open", "half_open"};
  const config::Weights weights =
      r.tier ? r.tier->weights.apply(w.cfg->routing.weights) : w.cfg->routing.weights;
  json out = {
      {"model", model->name},
      {"strategy", kStrategy[static_cast<int>(model->strategy)]},
      {"task", r.task.ok ? json(std::string(r.task.task)) : json(nullptr)},
      {"task_from_header", r.task.from_header},
      {"min_quality", r.task.min_quality},
      {"tier", r.tier ? json(r.tier->name) : json(nullptr)},
      {"weights",
       {{"cost", weights.cost},
        {"latency", weights.latency},
        {"health", weights.health},
        {"headroom", weights.headroom}}},
      {"prompt_tokens_estimate", chat.prompt_tokens_estimate},
      {"expected_output_tokens",
       chat.max_tokens > 0 ? chat.max_tokens : router::kDefaultOutputTokens},
      {"route", r.line},
      {"panic", r.ranking.panic},
      {"worker", w.index},
  };
  if (r.error_status != 0) {
    out["error"] = {
        {"status", r.error_status}, {"message", r.error_message}, {"code", r.error_code}};
  }
  // This worker's own breaker, or "open_elsewhere" when only another worker's is open
  // (the merged view keeps this worker away until that one's probe succeeds).
  auto breaker_state = [&](std::size_t index, const router::DeploymentView& v) -> std::string {
    const auto st = w.stats.breaker(r.model_index, index).state(now);
    if (st == router::CircuitBreaker::State::closed && v.breaker_open) return "open_elsewhere";
    return kBreaker[static_cast<int>(st)];
  };
  auto describe = [&](const router::Candidate& c) {
    const config::Deployment& d = model->deployments[c.index];
    const router::DeploymentView& v = r.in.views[c.index];
    return json{{"deployment", d.provider + "/" + d.model},
                {"provider", d.provider},
                {"quality", d.quality},
                {"stats",
                 {{"ttfb_ms", v.ttfb_ms < 0 ? json(nullptr) : json(v.ttfb_ms)},
                  {"tokens_per_s", v.tokens_per_s < 0 ? json(nullptr) : json(v.tokens_per_s)},
                  {"p95_ttft_ms", v.p95_ttft_ms < 0 ? json(nullptr) : json(v.p95_ttft_ms)},
                  {"success_rate", v.success_rate},
                  {"headroom", v.headroom},
                  {"breaker", breaker_state(c.index, v)},
                  {"retry_after", v.retry_after},
                  {"share", v.share}}}};
  };
  json plan = json::array();
  for (std::size_t i = 0; i < r.ranking.allowed.size(); ++i) {
    const router::Candidate& c = r.ranking.allowed[i];
    json e = describe(c);
    e["rank"] = i + 1;
    e["score"] = c.score;
    e["parts"] = {
        {"cost", c.cost}, {"latency", c.latency}, {"health", c.health}, {"headroom", c.headroom}};
    e["expected_cost_usd"] = c.expected_cost_usd;
    e["expected_latency_ms"] = c.expected_latency_ms;
    e["demoted"] = c.demoted;
    plan.push_back(std::move(e));
  }
  json excluded = json::array();
  for (const auto& c : r.ranking.excluded) {
    json e = describe(c);
    e["reason"] = std::string(c.excluded_because);
    excluded.push_back(std::move(e));
  }
  out["plan"] = std::move(plan);
  out["excluded"] = std::move(excluded);
  http::Response res{bhttp::status::ok, 11};
  res.set(bhttp::field::content_type, "application/json");
  res.body() = out.dump(2, ' ', false, json::error_handler_t::replace);
  co_await session.send(res);
}

net::awaitable<void> handle_usage(http::Session& session, http::Request& req) {
  std::size_t limit = 100;
  const std::string_view target = req.target();
  if (auto q = target.find("limit="); q != std::string_view::npos) {
    std::size_t n = 0;
    bool digits = false;
    for (std::size_t i = q + 6; i < target.size() && target[i] >= '0' && target[i] <= '9'; ++i) {
      n = std::min<std::size_t>(n * 10 + static_cast<std::size_t>(target[i] - '0'), 100000);
      digits = true;
    }
    if (digits) limit = std::min<std::size_t>(n, usage::Ledger::kRecent);
  }
  const usage::Ledger& ledger = *session.worker().ledger;
  json recent = json::array();
  for (const usage::Record& r : ledger.recent(limit)) {
    recent.push_back({{"time_ms", r.unix_ms},
                      {"request_id", r.request_id},
                      {"trace_id", r.trace_id},
                      {"endpoint", r.endpoint},
                      {"model", r.model},
                      {"provider", r.provider},
                      {"deployment", r.deployment},
                      {"stream", r.stream},
                      {"attempt", r.attempt},
                      {"input_tokens", r.tokens.input_tokens},
                      {"output_tokens", r.tokens.output_tokens},
                      {"cached_input_tokens", r.tokens.cached_input_tokens},
                      {"cache_write_tokens", r.tokens.cache_write_tokens},
                      {"provenance", std::string(usage::name_of(r.provenance))},
                      {"client_cut", r.client_cut},
                      {"incomplete", r.incomplete},
                      {"cost_usd", r.cost_usd}});
  }
  json totals = json::array();
  for (const auto& t : ledger.totals()) {
    totals.push_back({{"deployment", t.deployment},
                      {"answers", t.answers},
                      {"input_tokens", t.input_tokens},
                      {"output_tokens", t.output_tokens},
                      {"cached_input_tokens", t.cached_input_tokens},
                      {"estimated_answers", t.estimated_answers},
                      {"cost_usd", t.cost_usd}});
  }
  http::Response res{bhttp::status::ok, 11};
  res.set(bhttp::field::content_type, "application/json");
  res.body() = json{{"totals", std::move(totals)}, {"recent", std::move(recent)}}.dump(
      -1, ' ', false, json::error_handler_t::replace);
  co_await session.send(res);
}

net::awaitable<void> handle_messages(http::Session& session, http::Request& req) {
  std::string openai_body;
  adapters::ClientError err;
  if (!adapters::messages_front::to_openai_request(req.body(), openai_body, err)) {
    http::Response res{static_cast<bhttp::status>(err.status), 11};
    res.set(bhttp::field::content_type, "application/json");
    res.body() = adapters::messages_front::error_body(
        err.status, api::error_json(err.message, err.type, err.code, err.param));
    co_await session.send(res);
    co_return;
  }
  ChatCall call(session, req);
  call.anthropic_front(std::move(openai_body));
  co_await call.run();
}

net::awaitable<void> handle_embeddings(http::Session& session, http::Request& req) {
  ChatCall call(session, req);
  call.embeddings();
  co_await call.run();
}

net::awaitable<void> handle_chat(http::Session& session, http::Request& req) {
  ChatCall call(session, req);
  co_await call.run();
}

}  // namespace switchyard::upstream
