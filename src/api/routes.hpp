#pragma once
// The route table: path and method → endpoint, the admin-key guard, and the small GET
// endpoints (health, ready, models, metrics, status page). One Routes per worker, on its
// thread; sees the worker only through Services.

#include <atomic>
#include <functional>
#include <random>
#include <string>

#include "http/exchange.hpp"
#include "switchyard/router/planner.hpp"
#include "switchyard/telemetry/metrics.hpp"
#include "switchyard/usage/usage.hpp"
#include "upstream/call.hpp"

namespace switchyard::api {

/// The slice of its worker the endpoints see.
struct Services {
  const config::Config& cfg;
  int worker_index;
  router::Planner& planner;
  upstream::Upstreams& upstreams;
  std::mt19937_64& rng;                   ///< trace ids
  telemetry::WorkerMetrics* metrics;      ///< null: metrics off
  const telemetry::Layout* layout;        ///< null: metrics off
  const telemetry::Metrics* all_metrics;  ///< scrapes and /admin/status; null: off
  const usage::Ledger& ledger;
  /// Hands every worker's usage records not yet handed over to the ledger, so an admin
  /// read sees every answer finished before it.
  std::function<net::awaitable<void>()> flush_usage;
  const std::string& models_json;            ///< GET /v1/models
  const std::string& models_json_anthropic;  ///< the same for Anthropic clients
  const std::atomic<bool>& draining;
};

class Routes final : public http::Handler {
 public:
  explicit Routes(Services& s) : s_(s) {}
  net::awaitable<void> handle(http::Exchange& ex, http::Request& req) override;

 private:
  net::awaitable<void> admin(http::Exchange& ex, http::Request& req, std::string_view path);
  Services& s_;
};

// The endpoints behind the table (chat.cpp, admin.cpp).
enum class CallEndpoint { chat, messages, embeddings };
/// POST /v1/chat/completions, /v1/messages, /v1/embeddings: parse (the wire dialect) →
/// admission → cache → plan → call (attempts, relay, rescue) → accounting → settle.
net::awaitable<void> serve_call(Services& s, http::Exchange& ex, http::Request& req,
                                CallEndpoint ep);
/// POST /admin/route/explain: the routing decision for a chat body, nothing sent upstream.
net::awaitable<void> serve_route_explain(Services& s, http::Exchange& ex, http::Request& req);
/// GET /admin/usage[?limit=N]: the latest usage records and the totals per deployment.
net::awaitable<void> serve_usage(Services& s, http::Exchange& ex, http::Request& req);

}  // namespace switchyard::api
