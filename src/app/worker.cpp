#include "app/worker.hpp"

#include <spdlog/spdlog.h>
#include <sys/socket.h>

namespace switchyard::app {

namespace {

std::string build_models_json(const config::Config& cfg) {
  nlohmann::json data = nlohmann::json::array();
  for (const auto& m : cfg.models) {
    data.push_back(
        {{"id", m.name},
         {"object", "model"},
         {"created", 0},
         {"owned_by", m.deployments.empty() ? "switchyard" : m.deployments[0].provider}});
  }
  return nlohmann::json{{"object", "list"}, {"data", std::move(data)}}.dump();
}

// The same list in Anthropic's shape, for clients that send anthropic-version.
std::string build_models_json_anthropic(const config::Config& cfg) {
  nlohmann::json data = nlohmann::json::array();
  for (const auto& m : cfg.models) {
    data.push_back({{"type", "model"},
                    {"id", m.name},
                    {"display_name", m.name},
                    {"created_at", "1970-01-01T00:00:00Z"}});
  }
  return nlohmann::json{{"data", data},
                        {"has_more", false},
                        {"first_id", data.empty() ? nlohmann::json(nullptr) : data.front()["id"]},
                        {"last_id", data.empty() ? nlohmann::json(nullptr) : data.back()["id"]}}
      .dump();
}

}  // namespace

Worker::Worker(std::shared_ptr<const config::Config> c,
               std::shared_ptr<const router::Classifier> cls,
               std::shared_ptr<const router::RpmCaps> caps, std::shared_ptr<usage::Ledger> led,
               int i)
    : cfg(std::move(c)),
      index(i),
      acceptor(ioc),
      rng(std::random_device{}()),
      stats(*cfg, rng, std::move(caps)),
      planner(cfg, std::move(cls), stats, rng),
      hedges(cfg->routing.hedge_max_fraction),
      ledger(std::move(led)) {
  for (const auto& p : cfg->providers) {
    pools.push_back(std::make_unique<upstream::Pool>(ioc.get_executor(), p));
  }
  pool_gauges = std::make_unique<PoolGauge[]>(cfg->providers.size());
  for (const auto& m : cfg->models) prefill_refused.emplace_back(m.deployments.size(), 0);
  models_json = build_models_json(*cfg);
  models_json_anthropic = build_models_json_anthropic(*cfg);
  if (cfg->server.tls) {
    server_tls = std::make_unique<ssl::context>(ssl::context::tls_server);
    server_tls->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                            ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                            ssl::context::no_tlsv1_1 | ssl::context::single_dh_use);
    server_tls->use_certificate_chain_file(cfg->server.tls->cert);
    server_tls->use_private_key_file(cfg->server.tls->key, ssl::context::pem);
  }
}

void Worker::listen(const tcp::endpoint& ep) {
  acceptor.open(ep.protocol());
  acceptor.set_option(net::socket_base::reuse_address(true));
  int one = 1;
  if (::setsockopt(acceptor.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
    throw std::runtime_error("cannot set SO_REUSEPORT");
  }
  if (ep.address().is_v6()) acceptor.set_option(net::ip::v6_only(false));
  acceptor.bind(ep);
  acceptor.listen(net::socket_base::max_listen_connections);
}

void Worker::adopt(const tcp::endpoint& ep, int fd) { acceptor.assign(ep.protocol(), fd); }

int Worker::release_listener() {
  if (!acceptor.is_open()) return -1;
  error_code ignored;
  acceptor.cancel(ignored);  // accept_loop sees the acceptor closed and returns
  return acceptor.release(ignored);
}

void Worker::start_accepting() { net::co_spawn(ioc, accept_loop(), net::detached); }

void Worker::start() {
  accounting.emplace(stats, metrics, metrics_layout, *ledger);
  upstreams.emplace(
      upstream::Upstreams{ioc, *cfg, pools, stats, hedges, prefill_refused, rng, *accounting});
  services.emplace(api::Services{*cfg, index, planner, *upstreams, rng, metrics, metrics_layout,
                                 all_metrics, *ledger, [this] { return flush_all_usage(); },
                                 models_json, models_json_anthropic, draining});
  routes.emplace(*services);
  session_env.ioc = &ioc;
  session_env.server = &cfg->server;
  session_env.rng = &rng;
  session_env.handler = &*routes;
  session_env.metrics = metrics;
  session_env.layout = metrics_layout;
  session_env.access_log = access_log;
  session_env.access_batch = &access_batch;
  session_env.draining = &draining;
  session_env.in_flight = &in_flight;
  session_env.open_sessions = &open_sessions;
  start_accepting();
  net::co_spawn(ioc, maintenance_loop(), net::detached);
}

void Worker::begin_drain(bool close_idle_now) {
  draining.store(true);
  net::post(ioc, [this, close_idle_now] {
    error_code ignored;
    acceptor.close(ignored);
    if (close_idle_now) {
      for (http::Session* s = session_env.sessions; s; s = s->next) s->wake_if_idle();
    }
  });
}

void Worker::close_idle() {
  net::post(ioc, [this] {
    for (http::Session* s = session_env.sessions; s; s = s->next) s->wake_if_idle();
  });
}

net::awaitable<void> Worker::accept_loop() {
  for (;;) {
    auto [ec, sock] = co_await acceptor.async_accept(use_nothrow);
    if (ec) {
      if (!acceptor.is_open()) co_return;
      if (ec == net::error::no_descriptors || ec == net::error::no_buffer_space) {
        // Out of file descriptors: back off instead of spinning.
        spdlog::warn("accept: {}", ec.message());
        net::steady_timer t(ioc, std::chrono::milliseconds(50));
        co_await t.async_wait(use_nothrow);
      }
      continue;
    }
    error_code ignored;
    sock.set_option(tcp::no_delay(true), ignored);
    tcp::endpoint peer = sock.remote_endpoint(ignored);
    beast::tcp_stream ts(std::move(sock));
    auto session =
        server_tls ? std::make_shared<http::Session>(AnyStream(std::move(ts), *server_tls),
                                                     session_env, peer)
                   : std::make_shared<http::Session>(AnyStream(std::move(ts)), session_env, peer);
    net::co_spawn(
        ioc, [session]() { return session->run(); }, net::detached);
  }
}

net::awaitable<void> Worker::maintenance_loop() {
  // Every kStatsInterval: publish this worker's router stats and take in the others'; every
  // second: close idle upstream connections that are too old.
  constexpr int kEvictEvery = 10;
  for (int tick = 1; !draining.load(std::memory_order_relaxed); ++tick) {
    maintenance_timer_.expires_after(kStatsInterval);
    auto [ec] = co_await maintenance_timer_.async_wait(use_nothrow);
    if (ec) co_return;
    const auto now = Clock::now();
    published.store(stats.summarize(now), std::memory_order_release);
    if (access_log) access_log->submit(access_batch);  // lines reach the log within a tick
    submit_usage();
    for (std::size_t i = 0; i < pools.size(); ++i) {
      pool_gauges[i].open.store(static_cast<std::int64_t>(pools[i]->open()),
                                std::memory_order_relaxed);
      pool_gauges[i].idle.store(static_cast<std::int64_t>(pools[i]->idle()),
                                std::memory_order_relaxed);
      pool_gauges[i].queued.store(static_cast<std::int64_t>(pools[i]->queued()),
                                  std::memory_order_relaxed);
    }
    std::vector<std::shared_ptr<const router::StatsSummary>> others;
    others.reserve(peers.size());
    for (Worker* p : peers) others.push_back(p->published.load(std::memory_order_acquire));
    stats.set_peers(std::move(others));
    if (tick % kEvictEvery == 0) {
      for (auto& p : pools) p->evict_idle(now);
    }
  }
}

void Worker::submit_usage() {
  if (accounting) accounting->submit_usage();
}

net::awaitable<void> Worker::flush_all_usage() {
  submit_usage();
  if (peers.empty()) co_return;
  // Each peer hands its batch over on its own thread and the last one wakes this
  // coroutine. A peer that is stopping may never run the post, hence the deadline; what the
  // peers hold is a weak reference, so a wake-up that comes too late touches nothing.
  auto left = std::make_shared<std::atomic<std::size_t>>(peers.size());
  auto timer = std::make_shared<net::steady_timer>(ioc, kFlushWait);
  std::weak_ptr<net::steady_timer> wake = timer;
  for (Worker* p : peers) {
    net::post(p->ioc, [p, left, wake, home = &ioc] {
      p->submit_usage();
      if (left->fetch_sub(1) == 1) {
        net::post(*home, [wake] {
          if (auto t = wake.lock()) t->cancel();
        });
      }
    });
  }
  auto [ec] = co_await timer->async_wait(use_nothrow);
  (void)ec;
}

}  // namespace switchyard::app
