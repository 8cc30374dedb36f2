// The admin endpoints that read the router and the ledger (the admin key is checked by
// the route table): POST /admin/route/explain and GET /admin/usage.
#include <nlohmann/json.hpp>

#include "api/routes.hpp"
#include "switchyard/api/chat_request.hpp"

namespace switchyard::api {
namespace {

using nlohmann::json;

json explain_json(Services& s, const router::Plan& r, const config::Model& model,
                  const ChatRequest& chat, Clock::time_point now) {
  static constexpr const char* kStrategy[] = {"score", "fallback", "weighted"};
  static constexpr const char* kBreaker[] = {"closed", "open", "half_open"};
  const config::Weights weights =
      r.tier ? r.tier->weights.apply(s.cfg.routing.weights) : s.cfg.routing.weights;
  json out = {
      {"model", model.name},
      {"strategy", kStrategy[static_cast<int>(model.strategy)]},
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
      {"worker", s.worker_index},
  };
  if (r.refused()) {
    out["error"] = {
        {"status", r.refusal.status}, {"message", r.refusal.message}, {"code", r.refusal.code}};
  }
  // This worker's own breaker, or "open_elsewhere" when only another worker's is open
  // (the merged view keeps this worker away until that one's probe succeeds).
  auto breaker_state = [&](std::size_t index, const router::DeploymentView& v) -> std::string {
    const auto st = s.planner.stats().breaker(r.model_index, index).state(now);
    if (st == router::CircuitBreaker::State::closed && v.breaker_open) return "open_elsewhere";
    return kBreaker[static_cast<int>(st)];
  };
  auto describe = [&](const router::Candidate& c) {
    const config::Deployment& d = model.deployments[c.index];
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
  return out;
}

json record_json(const usage::Record& r) {
  return {{"time_ms", r.unix_ms},
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
          {"cost_usd", r.cost_usd}};
}

}  // namespace

net::awaitable<void> serve_route_explain(Services& s, http::Exchange& ex, http::Request& req) {
  ChatRequest chat;
  RequestError err;
  if (!parse_chat_request(req.body(), chat, err)) {
    auto ce = client_error_for(err.code);
    co_await ex.send_error(ce.status, err.message, ce.type, {}, err.param);
    co_return;
  }
  const config::Model* model = s.cfg.find_model(chat.model);
  if (!model) {
    co_await ex.send_error(404, "The model `" + chat.model + "` does not exist.",
                           "invalid_request_error", "model_not_found", "model");
    co_return;
  }
  const Clock::time_point now = Clock::now();
  router::PlanInputs in;
  in.chat = &chat;
  in.model = model;
  auto task = req.find("x-switchyard-task");
  if (task != req.end()) in.task_header = std::string_view(task->value());
  auto tier = req.find("x-switchyard-tier");
  in.has_tier_header = tier != req.end();
  if (in.has_tier_header) in.tier_header = std::string_view(tier->value());
  in.now = now;
  const router::Plan r = s.planner.plan(in);
  http::Response res{bhttp::status::ok, 11};
  res.set(bhttp::field::content_type, "application/json");
  res.body() =
      explain_json(s, r, *model, chat, now).dump(2, ' ', false, json::error_handler_t::replace);
  co_await ex.send(res);
}

net::awaitable<void> serve_usage(Services& s, http::Exchange& ex, http::Request& req) {
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
  if (s.flush_usage) co_await s.flush_usage();
  json recent = json::array();
  for (const usage::Record& r : s.ledger.recent(limit)) recent.push_back(record_json(r));
  json totals = json::array();
  for (const auto& t : s.ledger.totals()) {
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
  co_await ex.send(res);
}

}  // namespace switchyard::api
