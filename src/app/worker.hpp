#pragma once
// One worker = one thread, one io_context, one SO_REUSEPORT acceptor, its own upstream
// pools, router state and metric cells. Nothing here is shared with other workers except
// the immutable config snapshot, the published stats summaries and a few atomics the main
// thread reads while draining. Only app/ includes this header: every stage gets its slice
// of the worker (http::SessionEnv, api::Services, upstream::Upstreams, usage::Accounting,
// router::Planner) at start(), never the worker itself.

#include <atomic>
#include <memory>
#include <optional>
#include <random>
#include <vector>

#include "api/routes.hpp"
#include "http/session.hpp"
#include "net/common.hpp"
#include "switchyard/config/config.hpp"
#include "switchyard/router/classifier.hpp"
#include "switchyard/router/live_stats.hpp"
#include "switchyard/router/planner.hpp"
#include "switchyard/router/scorer.hpp"
#include "switchyard/telemetry/access_log.hpp"
#include "switchyard/telemetry/metrics.hpp"
#include "switchyard/usage/accounting.hpp"
#include "switchyard/usage/usage.hpp"
#include "upstream/call.hpp"
#include "upstream/pool.hpp"

namespace switchyard::app {

struct Worker {
  Worker(std::shared_ptr<const config::Config> cfg,
         std::shared_ptr<const router::Classifier> classifier,
         std::shared_ptr<const router::RpmCaps> caps, std::shared_ptr<usage::Ledger> ledger,
         int index);
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  /// Binds the listener (SO_REUSEPORT so every worker accepts on the same port).
  void listen(const tcp::endpoint& ep);
  /// Takes over a listening socket (from the previous generation, on a reload).
  void adopt(const tcp::endpoint& ep, int fd);
  /// On this worker's thread: stops accepting and gives up the listening socket (-1: none).
  int release_listener();
  /// Hands the stages their slices, starts accepting and the periodic maintenance; then
  /// run ioc on the worker thread. Telemetry pointers and peers are set before.
  void start();
  void start_accepting();
  /// Posted by the main thread: stop accepting; finish each request with Connection:
  /// close. `close_idle`: also close idle keep-alive connections now (shutdown); false on a
  /// reload, where a client's next request on them is still served (then closed), and
  /// close_idle() runs when the old workers are done.
  void begin_drain(bool close_idle = true);
  /// Closes idle keep-alive connections (any thread: posted to this worker).
  void close_idle();
  /// On this worker's thread: hands this worker's pending usage records to the ledger.
  void submit_usage();
  /// On this worker's thread: every worker's pending usage records handed over (waits at
  /// most kFlushWait for the others), so an admin read sees all answers finished before it.
  net::awaitable<void> flush_all_usage();
  static constexpr std::chrono::milliseconds kFlushWait{200};

  // Only this worker's thread touches its sockets and timers, so the reactor needs no
  // locks; the scheduler keeps its own so the main thread can still post() here.
  net::io_context ioc{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};
  std::shared_ptr<const config::Config> cfg;
  int index;
  tcp::acceptor acceptor;
  std::unique_ptr<ssl::context> server_tls;
  std::vector<std::unique_ptr<upstream::Pool>> pools;  // by provider index
  std::string models_json;            // GET /v1/models body, built once per snapshot
  std::string models_json_anthropic;  // the same for Anthropic clients (anthropic-version)
  std::mt19937_64 rng;
  router::LocalStats stats;                        // this worker's view
  router::Planner planner;                         // classify + rank on `stats`
  router::HedgeBudget hedges;                      // routing.hedge_max_fraction
  std::shared_ptr<usage::Ledger> ledger;           // process-wide usage records
  std::vector<std::vector<char>> prefill_refused;  // [model][deployment]: learned

  /// This worker's latest stats summary, published every kStatsInterval for the others;
  /// the only router state that crosses threads (an atomic shared_ptr, never on the
  /// request path).
  std::atomic<std::shared_ptr<const router::StatsSummary>> published;
  std::vector<Worker*> peers;  // the other workers (set before start(), read-only after)
  static constexpr std::chrono::milliseconds kStatsInterval{100};

  // Telemetry (null when off): this worker's metric cells, the process's metrics (for
  // scrapes and /admin/status) and the access log. Set before start(), owned by Gateway.
  telemetry::WorkerMetrics* metrics = nullptr;
  const telemetry::Layout* metrics_layout = nullptr;
  const telemetry::Metrics* all_metrics = nullptr;
  telemetry::AccessLog* access_log = nullptr;
  telemetry::AccessLog::Batch access_batch;  // this worker's lines not yet handed over

  /// This worker's pools as gauges, refreshed by the maintenance loop (kStatsInterval) so
  /// a scrape on another thread never touches a pool. [provider]
  struct PoolGauge {
    std::atomic<std::int64_t> open{0}, idle{0}, queued{0};
  };
  std::unique_ptr<PoolGauge[]> pool_gauges;

  std::atomic<bool> draining{false};
  std::atomic<int> in_flight{0};      // requests being handled (read by the main thread)
  std::atomic<int> open_sessions{0};  // client connections (read by the main thread)

  // The stages' slices, made at start().
  http::SessionEnv session_env;
  std::optional<usage::Accounting> accounting;
  std::optional<upstream::Upstreams> upstreams;
  std::optional<api::Services> services;
  std::optional<api::Routes> routes;

 private:
  net::awaitable<void> accept_loop();
  net::awaitable<void> maintenance_loop();
  net::steady_timer maintenance_timer_{ioc};
};

}  // namespace switchyard::app
