// The call endpoints, one stage after another: parse (the client's wire dialect) →
// admission → cache lookup → plan (router) → call (upstream: attempts, hedge race, relay,
// rescue; accounting as each attempt ends) → settle.
#include <spdlog/spdlog.h>

#include "api/routes.hpp"
#include "switchyard/adapters/messages_front.hpp"
#include "switchyard/api/chat_request.hpp"
#include "upstream/relay.hpp"

namespace switchyard::api {
namespace {

using upstream::Front;

std::string_view header(const http::Request& req, std::string_view name) {
  auto it = req.find(name);
  return it == req.end() ? std::string_view{} : std::string_view(it->value());
}

// W3C trace context: the client's trace, or a new one; each attempt is a child span.
void start_trace(upstream::CallRequest& rq, const http::Request& req, std::mt19937_64& rng) {
  auto tp = req.find("traceparent");
  rq.trace = telemetry::continue_or_start(
      tp == req.end() ? std::string_view{} : std::string_view(tp->value()), rng);
  auto ts = req.find("tracestate");
  if (tp != req.end() && ts != req.end() && telemetry::parse_traceparent(tp->value())) {
    rq.tracestate = std::string(ts->value());
  }
}

// Stage 1: the body in the lingua franca. false: `err` is the client's error.
bool parse(upstream::CallRequest& rq, ClientError& err) {
  if (rq.embeddings) return parse_embeddings_request(rq.chat.body, rq.chat, err);
  RequestError re;
  if (parse_chat_request(rq.chat.body, rq.chat, re)) return true;
  err = client_error_for(re.code);
  err.message = std::move(re.message);
  if (re.code != Errc::invalid_json) err.code.clear();
  err.param = std::move(re.param);
  return false;
}

// The decision in the metrics: routed, panic or refused, and each exclusion's reason.
void count_decision(const Services& s, const router::Plan& p) {
  if (!s.metrics) return;
  using telemetry::Decision;
  const int status = p.refusal.status;
  const Decision d = status == 429     ? Decision::rate_limited
                     : status == 503   ? Decision::no_route
                     : status != 0     ? Decision::rejected
                     : p.ranking.panic ? Decision::panic
                                       : Decision::routed;
  s.metrics->decision(static_cast<int>(p.model_index), s.layout->task_index(p.task.task), d);
  for (const auto& c : p.ranking.excluded) {
    s.metrics->exclusion(s.layout->slot(p.model_index, c.index),
                         telemetry::exclusion_of(c.excluded_because));
  }
}

net::awaitable<void> send_refusal(http::Exchange& ex, Front front, const router::Plan& p) {
  upstream::Reply r;
  r.status = p.refusal.status;
  if (r.status == 429) r.headers.emplace_back("retry-after", p.refusal.retry_after);
  if (!p.line.empty()) r.headers.emplace_back("x-switchyard-route", p.line);
  r.body = error_json(p.refusal.message, p.refusal.type, p.refusal.code, p.refusal.param);
  co_await upstream::send_reply(ex, front, r);
}

}  // namespace

net::awaitable<void> serve_call(Services& s, http::Exchange& ex, http::Request& req,
                                CallEndpoint ep) {
  upstream::CallRequest rq;
  rq.cfg = &s.cfg;
  rq.request_id = ex.request_id();
  rq.stream_id = "chatcmpl-" + rq.request_id;
  rq.client_body = req.body();
  rq.chat.body = rq.client_body;
  std::string translated;  // /v1/messages: the OpenAI translation, read by the whole call
  if (ep == CallEndpoint::messages) {
    ClientError err;
    if (!adapters::messages_front::to_openai_request(req.body(), translated, err)) {
      http::Response res{static_cast<bhttp::status>(err.status), 11};
      res.set(bhttp::field::content_type, "application/json");
      res.body() = adapters::messages_front::error_body(
          err.status, error_json(err.message, err.type, err.code, err.param));
      co_await ex.send(res);
      co_return;
    }
    rq.front = Front::anthropic;
    rq.endpoint = "messages";
    rq.chat.body = translated;
    rq.anthropic_version = std::string(header(req, "anthropic-version"));
    rq.anthropic_beta = std::string(header(req, "anthropic-beta"));
  } else if (ep == CallEndpoint::embeddings) {
    rq.embeddings = true;
    rq.endpoint = "embeddings";
  }
  start_trace(rq, req, s.rng);

  // 1. Parse: the client's wire dialect, into the lingua franca.
  if (ClientError err; !parse(rq, err)) {
    co_await upstream::send_client_error(ex, rq.front, err.status, err.message, err.type, err.code,
                                         err.param);
    co_return;
  }
  if (rq.chat.stream) rq.rescue_off = beast::iequals(header(req, "x-switchyard-rescue"), "off");
  telemetry::RequestLog& log = ex.log();
  log.trace_id = rq.trace.trace_id;
  log.model = rq.chat.model;
  log.stream = rq.chat.stream;
  const config::Model* model = s.cfg.find_model(rq.chat.model);
  if (!model) {
    co_await upstream::send_client_error(
        ex, rq.front, 404,
        "The model `" + rq.chat.model + "` does not exist or you do not have access to it.",
        "invalid_request_error", "model_not_found", "model");
    co_return;
  }
  const auto model_index = static_cast<std::size_t>(model - s.cfg.models.data());
  if (s.layout) log.slot = s.layout->model_slot(model_index);

  // 2. Admission (virtual keys, RPM/TPM/concurrency limits, budgets) takes its ticket here,
  //    before any routing work; 3. the exact-match cache answers here. Neither exists yet.

  // 4. Plan: task, tier, ranking, or the client's refusal.
  const Clock::time_point now = Clock::now();
  router::Plan plan;
  if (rq.embeddings) {
    plan = s.planner.plan_embeddings(*model, now);
  } else {
    router::PlanInputs in;
    in.chat = &rq.chat;
    in.model = model;
    in.task_header = header(req, "x-switchyard-task");
    if (auto tier = req.find("x-switchyard-tier"); tier != req.end()) {
      in.has_tier_header = true;
      in.tier_header = std::string_view(tier->value());
    }
    in.now = now;
    plan = s.planner.plan(in);
  }
  log.task.assign(plan.task.task);
  count_decision(s, plan);
  if (plan.refused()) {
    co_await send_refusal(ex, rq.front, plan);
    co_return;
  }

  // 5. The call: attempts in plan order, hedge race, relay, rescue; each attempt's end and
  //    each answer are accounted as they happen (usage/accounting).
  upstream::Call call(s.upstreams, ex, rq, plan);
  co_await call.run();

  // 6. Settle: admission's ticket reconciled with what was used (with the keys issue).
}

}  // namespace switchyard::api
