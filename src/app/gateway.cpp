#include "switchyard/app/gateway.hpp"

#include <spdlog/spdlog.h>

#include <cstdio>
#include <thread>

#include "app/worker.hpp"
#include "http/session.hpp"

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
      classifier(std::move(cls)),
      stats(*cfg, rng, std::move(caps)),
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

void Worker::start() {
  net::co_spawn(ioc, accept_loop(), net::detached);
  net::co_spawn(ioc, maintenance_loop(), net::detached);
}

void Worker::begin_drain() {
  draining.store(true);
  net::post(ioc, [this] {
    error_code ignored;
    acceptor.close(ignored);
    for (http::Session* s = sessions; s; s = s->next) s->wake_if_idle();
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
        server_tls
            ? std::make_shared<http::Session>(AnyStream(std::move(ts), *server_tls), *this, peer)
            : std::make_shared<http::Session>(AnyStream(std::move(ts)), *this, peer);
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

struct Gateway::Impl {
  std::shared_ptr<const config::Config> cfg;
  std::shared_ptr<const router::Classifier> classifier;
  std::shared_ptr<const router::RpmCaps> caps;  // process-wide max_rpm caps
  std::shared_ptr<usage::Ledger> ledger = std::make_shared<usage::Ledger>();
  std::unique_ptr<telemetry::Metrics> metrics;  // null: telemetry.metrics false
  std::unique_ptr<telemetry::AccessLog> access_log;
  std::vector<std::unique_ptr<Worker>> workers;

  telemetry::Gauges gauges() const;
};

// What a scrape needs beyond the metric cells, from what the workers publish (their stats
// summaries, pool gauges and in-flight counts): never a worker's own state.
telemetry::Gauges Gateway::Impl::gauges() const {
  const config::Config& c = *cfg;
  const auto now = Clock::now();
  telemetry::Gauges g;
  g.deployments.resize(c.models.size());
  std::vector<std::vector<std::int64_t>> ok(c.models.size()), failed(c.models.size());
  std::vector<std::vector<int>> ttfb_n(c.models.size()), p95_n(c.models.size());
  for (std::size_t m = 0; m < c.models.size(); ++m) {
    const std::size_t n = c.models[m].deployments.size();
    g.deployments[m].resize(n);
    ok[m].assign(n, 0);
    failed[m].assign(n, 0);
    ttfb_n[m].assign(n, 0);
    p95_n[m].assign(n, 0);
  }
  g.pools.resize(c.providers.size());
  for (const auto& w : workers) {
    g.in_flight += w->in_flight.load(std::memory_order_relaxed);
    for (std::size_t p = 0; p < c.providers.size(); ++p) {
      g.pools[p].open += w->pool_gauges[p].open.load(std::memory_order_relaxed);
      g.pools[p].idle += w->pool_gauges[p].idle.load(std::memory_order_relaxed);
      g.pools[p].queued += w->pool_gauges[p].queued.load(std::memory_order_relaxed);
      g.pools[p].max_open += c.providers[p].max_connections;
      g.pools[p].max_queue += c.providers[p].max_queue;
    }
    const auto summary = w->published.load(std::memory_order_acquire);
    if (!summary) continue;
    for (std::size_t m = 0; m < g.deployments.size() && m < summary->slots.size(); ++m) {
      for (std::size_t d = 0; d < g.deployments[m].size() && d < summary->slots[m].size(); ++d) {
        const router::SlotSummary& x = summary->slots[m][d];
        telemetry::Gauges::Deployment& o = g.deployments[m][d];
        o.breaker = std::max<int>(o.breaker, x.breaker_state);
        ok[m][d] += x.successes;
        failed[m][d] += x.upstream_failures;
        if (x.headroom_until > now) o.headroom = std::min(o.headroom, x.headroom);
        if (x.ttfb_ms >= 0) {
          o.ttfb_ms = (o.ttfb_ms < 0 ? 0 : o.ttfb_ms) + x.ttfb_ms;
          ++ttfb_n[m][d];
        }
        if (x.p95_ttft_ms >= 0) {
          o.p95_ttft_ms = (o.p95_ttft_ms < 0 ? 0 : o.p95_ttft_ms) + x.p95_ttft_ms;
          ++p95_n[m][d];
        }
        o.in_flight += x.in_flight;
      }
    }
  }
  for (std::size_t m = 0; m < g.deployments.size(); ++m) {
    for (std::size_t d = 0; d < g.deployments[m].size(); ++d) {
      telemetry::Gauges::Deployment& o = g.deployments[m][d];
      const std::int64_t total = ok[m][d] + failed[m][d];
      o.window_outcomes = total;
      o.health = total > 0 ? static_cast<double>(ok[m][d]) / static_cast<double>(total) : 1.0;
      if (ttfb_n[m][d] > 0) o.ttfb_ms /= ttfb_n[m][d];
      if (p95_n[m][d] > 0) o.p95_ttft_ms /= p95_n[m][d];
      if (const router::RpmCap* cap = caps ? caps->get(m, d) : nullptr) {
        o.local_headroom = cap->room(now);
      }
    }
  }
  g.access_log_dropped = access_log ? access_log->dropped() : 0;
  return g;
}

Gateway::Gateway(std::shared_ptr<const config::Config> cfg) : impl_(std::make_unique<Impl>()) {
  impl_->cfg = std::move(cfg);
  impl_->classifier = std::make_shared<const router::Classifier>(impl_->cfg->routing);
  impl_->caps = std::make_shared<const router::RpmCaps>(*impl_->cfg);
}

Gateway::~Gateway() = default;

int Gateway::run() {
  const config::Config& cfg = *impl_->cfg;
  const int n = std::max(1, cfg.server.workers);
  auto addr = net::ip::make_address(cfg.server.host);
  tcp::endpoint ep(addr, cfg.server.port);
  impl_->access_log = std::make_unique<telemetry::AccessLog>(cfg.telemetry.access_log);
  if (cfg.telemetry.metrics) {
    impl_->metrics = std::make_unique<telemetry::Metrics>(cfg, n);
    impl_->metrics->set_gauges([impl = impl_.get()] { return impl->gauges(); });
  }
  for (int i = 0; i < n; ++i) {
    auto w = std::make_unique<Worker>(impl_->cfg, impl_->classifier, impl_->caps, impl_->ledger, i);
    if (impl_->metrics) {
      w->metrics = &impl_->metrics->worker(i);
      w->metrics_layout = &impl_->metrics->layout();
      w->all_metrics = impl_->metrics.get();
    }
    if (impl_->access_log->enabled()) w->access_log = impl_->access_log.get();
    w->listen(ep);
    if (i == 0) ep.port(w->acceptor.local_endpoint().port());  // port 0: share the real one
    impl_->workers.push_back(std::move(w));
  }
  std::string shown = ep.address().to_string();
  if (ep.address().is_v6()) {
    // (Built piecewise: GCC 12's -Wstringop-overflow misfires on "[" + s + "]".)
    shown.insert(shown.begin(), '[');
    shown.push_back(']');
  }
  std::printf("switchyard listening on %s:%u (%d worker%s)\n", shown.c_str(),
              static_cast<unsigned>(ep.port()), n, n == 1 ? "" : "s");
  std::fflush(stdout);

  for (auto& w : impl_->workers) {
    for (auto& other : impl_->workers) {
      if (other.get() != w.get()) w->peers.push_back(other.get());
    }
  }
  std::vector<std::thread> threads;
  for (auto& w : impl_->workers) {
    w->start();
    threads.emplace_back([&w] { w->ioc.run(); });
  }

  // The main thread only waits for signals and supervises the drain.
  net::io_context main_ioc{1};
  net::signal_set signals(main_ioc, SIGINT, SIGTERM);
  int exit_code = 0;
  net::co_spawn(
      main_ioc,
      [&]() -> net::awaitable<void> {
        auto [ec, sig] = co_await signals.async_wait(use_nothrow);
        if (ec) co_return;
        spdlog::info("signal {}: draining (up to {} ms)", sig, cfg.server.drain_timeout.count());
        for (auto& w : impl_->workers) w->begin_drain();
        // A second signal skips the rest of the drain.
        bool forced = false;
        signals.async_wait([&forced](error_code e, int) { forced = !e; });
        auto deadline = Clock::now() + cfg.server.drain_timeout;
        net::steady_timer tick(main_ioc);
        for (;;) {
          int busy = 0;
          for (auto& w : impl_->workers) busy += w->in_flight.load();
          if (busy == 0) break;
          if (forced || Clock::now() >= deadline) {
            spdlog::warn("drain: {} request(s) still in flight, stopping", busy);
            exit_code = 0;
            break;
          }
          tick.expires_after(std::chrono::milliseconds(20));
          co_await tick.async_wait(use_nothrow);
        }
        signals.cancel();
      },
      net::detached);
  main_ioc.run();

  for (auto& w : impl_->workers) w->ioc.stop();
  for (auto& t : threads) t.join();
  for (auto& w : impl_->workers) impl_->access_log->submit(w->access_batch);
  impl_->access_log->flush();
  spdlog::info("drained, exiting");
  return exit_code;
}

}  // namespace switchyard::app
