#include "switchyard/router/planner.hpp"

#include <algorithm>

namespace switchyard::router {
namespace {

void refuse(Plan& p, int status, std::string message, const char* type, const char* code,
            const char* param = "") {
  p.refusal.status = status;
  p.refusal.message = std::move(message);
  p.refusal.type = type;
  p.refusal.code = code;
  p.refusal.param = param;
}

}  // namespace

Planner::Planner(std::shared_ptr<const config::Config> cfg,
                 std::shared_ptr<const Classifier> classifier, LocalStats& stats,
                 std::mt19937_64& rng)
    : cfg_(std::move(cfg)), classifier_(std::move(classifier)), stats_(stats), rng_(rng) {}

Plan Planner::plan(const PlanInputs& pi) {
  const config::Routing& routing = cfg_->routing;
  const config::Model& model = *pi.model;
  const api::ChatRequest& chat = *pi.chat;
  Plan p;
  p.model_index = static_cast<std::size_t>(&model - cfg_->models.data());

  // Task (header or rules) → min_quality; tier (header) → narrowing and weights.
  extract_features(chat.body, chat.prompt_tokens_estimate, classifier_->needs(), features_);
  p.task = classifier_->classify(pi.task_header, features_);
  if (!p.task.ok) {
    refuse(
        p, 400,
        "Unknown task in x-switchyard-task: `" + std::string(pi.task_header.substr(0, 64)) + "`.",
        "invalid_request_error", "unknown_task");
    return p;
  }
  if (pi.has_tier_header) {
    p.tier = routing.find_tier(pi.tier_header);
    if (!p.tier) {
      refuse(
          p, 400,
          "Unknown tier in x-switchyard-tier: `" + std::string(pi.tier_header.substr(0, 64)) + "`.",
          "invalid_request_error", "unknown_tier");
      return p;
    }
  } else {
    p.tier = routing.find_tier(routing.default_tier);
  }

  p.in.model = &model;
  p.in.views = stats_.current_views(p.model_index, pi.now);
  p.in.min_quality = p.task.min_quality;
  p.in.tier = p.tier;
  p.in.weights = routing.weights;
  p.in.prompt_tokens = chat.prompt_tokens_estimate;
  p.in.max_tokens = chat.max_tokens;
  p.ranking = rank(p.in, rng_);
  p.line = explain_line(p.task.task, p.in, p.ranking);
  if (p.ranking.allowed.empty()) refuse_empty(p, model, pi.now);
  return p;
}

// Nothing can serve it: a rate limit (every fitting deployment at its max_rpm), a prompt
// too large for every window, or no deployment for this task and tier.
void Planner::refuse_empty(Plan& p, const config::Model& model,
                           std::chrono::steady_clock::time_point now) {
  bool all_context = !p.ranking.excluded.empty();
  for (const auto& c : p.ranking.excluded) {
    all_context = all_context && c.excluded_because == "prompt + max_tokens exceed context_window";
  }
  // Deployments left out only because their local max_rpm is used up: a rate limit, with
  // the time until the first of them has room again.
  std::optional<std::chrono::steady_clock::duration> rpm_wait;
  for (const auto& c : p.ranking.excluded) {
    if (c.excluded_because != kExcludedRpm) continue;
    const auto wait = stats_.rpm_wait(p.model_index, c.index, now);
    rpm_wait = rpm_wait ? std::min(*rpm_wait, wait) : wait;
  }
  if (rpm_wait) {
    const auto secs = std::chrono::ceil<std::chrono::seconds>(*rpm_wait).count();
    p.refusal.retry_after = std::to_string(std::max<long long>(1, secs));
    refuse(p, 429,
           "Rate limit reached for `" + model.name +
               "`: every deployment that can serve this request is at its max_rpm. Retry "
               "after " +
               p.refusal.retry_after + " s.",
           "rate_limit_exceeded", "rate_limit_exceeded");
    return;
  }
  if (all_context) {
    refuse(p, 400,
           "The prompt and max_tokens exceed the context window of every deployment of `" +
               model.name + "`.",
           "invalid_request_error", "context_length_exceeded", "messages");
    return;
  }
  refuse(p, 503,
         "No deployment of `" + model.name + "` can serve task `" + std::string(p.task.task) + "`" +
             (p.tier ? " for tier `" + p.tier->name + "`" : std::string()) + ".",
         "server_error", "no_route");
}

Plan Planner::plan_embeddings(const config::Model& model,
                              std::chrono::steady_clock::time_point now) {
  Plan p;
  p.model_index = static_cast<std::size_t>(&model - cfg_->models.data());
  stats_.views(p.model_index, now, views_);
  std::vector<Candidate> unhealthy;
  for (std::size_t i = 0; i < model.deployments.size(); ++i) {
    const config::Deployment& d = model.deployments[i];
    const DeploymentView& v = views_[i];
    Candidate c;
    c.index = i;
    if (cfg_->providers[d.provider_index].kind == config::ProviderKind::anthropic) {
      c.excluded_because = "no embeddings API";
      p.ranking.excluded.push_back(c);
    } else if (v.rpm_capped) {
      c.excluded_because = kExcludedRpm;
      p.ranking.excluded.push_back(c);
    } else if (v.breaker_open || v.retry_after) {
      unhealthy.push_back(c);
    } else {
      p.ranking.allowed.push_back(c);
    }
  }
  if (p.ranking.allowed.empty()) {  // panic
    p.ranking.allowed = std::move(unhealthy);
    p.ranking.panic = !p.ranking.allowed.empty();
  }
  p.line =
      "task=embeddings; strategy=fallback; candidates=" + std::to_string(p.ranking.allowed.size());
  if (p.ranking.allowed.empty()) {
    refuse(p, 400, "No deployment of `" + model.name + "` can serve embeddings.",
           "invalid_request_error", "model_not_supported", "model");
  }
  return p;
}

}  // namespace switchyard::router
