#pragma once
// The router's decision for one request: classify the task, narrow by tier, rank the
// model's deployments on this worker's live view (task fit, cost, latency, health,
// headroom, weight) and say why — or refuse with the error the client gets. One Planner
// per worker (its scratch space and stats are that worker's); no Asio, no I/O.

#include <chrono>
#include <cstddef>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "switchyard/api/chat_request.hpp"
#include "switchyard/config/config.hpp"
#include "switchyard/router/classifier.hpp"
#include "switchyard/router/live_stats.hpp"
#include "switchyard/router/scorer.hpp"

namespace switchyard::router {

struct PlanInputs {
  const api::ChatRequest* chat = nullptr;
  const config::Model* model = nullptr;
  std::string_view task_header;  ///< x-switchyard-task (empty: none)
  bool has_tier_header = false;
  std::string_view tier_header;  ///< x-switchyard-tier
  std::chrono::steady_clock::time_point now{};
};

/// Why no attempt is made: the client's error.
struct Refusal {
  int status = 0;  ///< 0: not refused
  std::string message, type, code, param;
  std::string retry_after;  ///< with a 429: seconds
};

struct Plan {
  std::size_t model_index = 0;
  Classifier::Result task;
  const config::Tier* tier = nullptr;
  RankInput in;      ///< what was ranked (views stay valid until the next plan)
  Ranking ranking;   ///< allowed: the attempt order; excluded: with reasons
  std::string line;  ///< x-switchyard-route
  Refusal refusal;
  bool refused() const { return refusal.status != 0; }
};

class Planner {
 public:
  /// `stats` and `rng` are the worker's and must outlive the planner.
  Planner(std::shared_ptr<const config::Config> cfg, std::shared_ptr<const Classifier> classifier,
          LocalStats& stats, std::mt19937_64& rng);

  /// A chat request (also /v1/messages, translated). Shared by the chat path and
  /// /admin/route/explain so the explanation is exactly what the request would get.
  Plan plan(const PlanInputs& in);
  /// Embeddings have no task: the deployments that can embed (not Anthropic), in the
  /// listed order, minus open breakers and used-up caps unless that leaves none.
  Plan plan_embeddings(const config::Model& model, std::chrono::steady_clock::time_point now);

  LocalStats& stats() { return stats_; }
  const config::Config& config() const { return *cfg_; }

 private:
  void refuse_empty(Plan& p, const config::Model& model, std::chrono::steady_clock::time_point now);

  std::shared_ptr<const config::Config> cfg_;
  std::shared_ptr<const Classifier> classifier_;
  LocalStats& stats_;
  std::mt19937_64& rng_;
  RequestFeatures features_;           // scratch: keeps its capacity between requests
  std::vector<DeploymentView> views_;  // scratch for plan_embeddings
};

}  // namespace switchyard::router
