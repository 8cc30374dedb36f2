#include "switchyard/app/gateway.hpp"

#include <spdlog/spdlog.h>

#include <cstdio>
#include <future>
#include <thread>

#include "app/worker.hpp"

namespace switchyard::app {

// One configuration's workers: its snapshot, router state and metrics. A reload starts a
// new generation on the same listening sockets and retires the old one, which finishes its
// in-flight requests and then stops (nginx's reload, inside one process).
struct Generation {
  std::shared_ptr<const config::Config> cfg;
  std::shared_ptr<const router::Classifier> classifier;
  std::shared_ptr<const router::RpmCaps> caps;  // max_rpm caps, shared by its workers
  std::unique_ptr<telemetry::Metrics> metrics;  // null: telemetry.metrics false
  std::vector<std::unique_ptr<Worker>> workers;
  std::vector<std::thread> threads;
  tcp::endpoint endpoint;  // what its listeners are bound to (the real port)

  int busy() const {
    int n = 0;
    for (const auto& w : workers) n += w->in_flight.load();
    return n;
  }
  int sessions() const {
    int n = 0;
    for (const auto& w : workers) n += w->open_sessions.load();
    return n;
  }
  telemetry::Gauges gauges(const telemetry::AccessLog* access_log) const;
};

struct Gateway::Impl {
  std::shared_ptr<const config::Config> first_cfg;
  std::string config_path;  // for reloads; empty: SIGHUP only says it cannot reload
  std::shared_ptr<usage::Ledger> ledger = std::make_shared<usage::Ledger>();
  std::unique_ptr<telemetry::AccessLog> access_log;
  std::unique_ptr<Generation> current;
  std::vector<std::unique_ptr<Generation>> retiring;
  std::atomic<std::uint64_t> reloads_ok{0}, reloads_failed{0};
  std::atomic<double> last_reload_ok_unix{0};

  /// Builds and starts a generation for `cfg`, accepting on `listeners` (taken over from
  /// the previous generation) or on new sockets bound to `ep`. Throws on bind failures.
  std::unique_ptr<Generation> start(std::shared_ptr<const config::Config> cfg, tcp::endpoint ep,
                                    std::vector<int> listeners);
  /// Stops `g` accepting and hands its listening sockets over (on their workers' threads).
  static std::vector<int> take_listeners(Generation& g);
  /// Stops a generation's threads and writes its last access-log lines.
  void finish(Generation& g);
  /// SIGHUP: load the file again; on success a new generation takes over.
  void reload(net::io_context& main_ioc);
  net::awaitable<void> retire(Generation* g, net::io_context& main_ioc);
};

// What a scrape needs beyond the metric cells, from what the workers publish (their stats
// summaries, pool gauges and in-flight counts): never a worker's own state.
telemetry::Gauges Generation::gauges(const telemetry::AccessLog* access_log) const {
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

Gateway::Gateway(std::shared_ptr<const config::Config> cfg, std::string config_path)
    : impl_(std::make_unique<Impl>()) {
  impl_->first_cfg = std::move(cfg);
  impl_->config_path = std::move(config_path);
}

Gateway::~Gateway() = default;

std::unique_ptr<Generation> Gateway::Impl::start(std::shared_ptr<const config::Config> cfg,
                                                 tcp::endpoint ep, std::vector<int> listeners) {
  auto g = std::make_unique<Generation>();
  g->cfg = std::move(cfg);
  g->classifier = std::make_shared<const router::Classifier>(g->cfg->routing);
  g->caps = std::make_shared<const router::RpmCaps>(*g->cfg);
  const int n = std::max(1, g->cfg->server.workers);
  if (g->cfg->telemetry.metrics) {
    g->metrics = std::make_unique<telemetry::Metrics>(*g->cfg, n);
    g->metrics->set_gauges([gen = g.get(), this] {
      telemetry::Gauges gauges = gen->gauges(access_log.get());
      gauges.config_reloads_ok = reloads_ok.load();
      gauges.config_reloads_failed = reloads_failed.load();
      gauges.config_last_reload_ok_unix = last_reload_ok_unix.load();
      return gauges;
    });
  }
  for (int i = 0; i < n; ++i) {
    auto w = std::make_unique<Worker>(g->cfg, g->classifier, g->caps, ledger, i);
    if (g->metrics) {
      w->metrics = &g->metrics->worker(i);
      w->metrics_layout = &g->metrics->layout();
      w->all_metrics = g->metrics.get();
    }
    if (access_log->enabled()) w->access_log = access_log.get();
    if (static_cast<std::size_t>(i) < listeners.size()) {
      w->adopt(ep, listeners[static_cast<std::size_t>(i)]);
      listeners[static_cast<std::size_t>(i)] = -1;
    } else {
      w->listen(ep);
    }
    if (i == 0) ep.port(w->acceptor.local_endpoint().port());  // port 0: share the real one
    g->workers.push_back(std::move(w));
  }
  for (int fd : listeners) {
    if (fd >= 0) ::close(fd);  // fewer workers than before
  }
  g->endpoint = ep;
  for (auto& w : g->workers) {
    for (auto& other : g->workers) {
      if (other.get() != w.get()) w->peers.push_back(other.get());
    }
  }
  for (auto& w : g->workers) {
    w->start();
    g->threads.emplace_back([wp = w.get()] { wp->ioc.run(); });
  }
  return g;
}

std::vector<int> Gateway::Impl::take_listeners(Generation& g) {
  std::vector<std::future<int>> handed;
  for (auto& w : g.workers) {
    auto done = std::make_shared<std::promise<int>>();
    handed.push_back(done->get_future());
    net::post(w->ioc, [wp = w.get(), done] { done->set_value(wp->release_listener()); });
  }
  std::vector<int> fds;
  for (auto& f : handed) fds.push_back(f.get());
  return fds;
}

void Gateway::Impl::finish(Generation& g) {
  for (auto& w : g.workers) w->ioc.stop();
  for (auto& t : g.threads) t.join();
  g.threads.clear();
  for (auto& w : g.workers) {
    access_log->submit(w->access_batch);
    w->submit_usage();  // the threads are joined: their batches are ours to hand over
  }
}

void Gateway::Impl::reload(net::io_context& main_ioc) {
  if (config_path.empty()) {
    spdlog::warn("SIGHUP: no configuration file to reload");
    return;
  }
  std::shared_ptr<const config::Config> next;
  try {
    next = std::make_shared<const config::Config>(config::load_file(config_path));
    router::Classifier check_rules(next->routing);  // the task regexes compile
  } catch (const std::exception& e) {
    reloads_failed.fetch_add(1);
    spdlog::error("reload: {}: {}; still serving the previous configuration", config_path,
                  e.what());
    return;
  }
  const config::Config& old = *current->cfg;
  for (const auto& [what, same] :
       {std::pair<const char*, bool>{"telemetry.access_log",
                                     next->telemetry.access_log == old.telemetry.access_log},
        {"telemetry.log_level", next->telemetry.log_level == old.telemetry.log_level},
        {"telemetry.log_format", next->telemetry.log_json == old.telemetry.log_json}}) {
    if (!same) spdlog::warn("reload: {} changes take effect at the next start", what);
  }
  // The same listen address: the new workers take over the listening sockets themselves,
  // so no connection waiting in a backlog is lost. Another one: new sockets, and the old
  // generation's are closed as it drains.
  const bool same_listen = next->server.listen == old.server.listen;
  tcp::endpoint ep = current->endpoint;
  if (!same_listen) ep = tcp::endpoint(net::ip::make_address(next->server.host), next->server.port);
  std::vector<int> fds;
  if (same_listen) fds = take_listeners(*current);
  std::unique_ptr<Generation> fresh;
  try {
    fresh = start(next, ep, fds);
  } catch (const std::exception& e) {
    reloads_failed.fetch_add(1);
    spdlog::error(
        "reload: cannot start the new workers: {}; still serving the previous "
        "configuration",
        e.what());
    // The old workers take their sockets back (they were never closed).
    for (std::size_t i = 0; i < fds.size() && i < current->workers.size(); ++i) {
      Worker* w = current->workers[i].get();
      const int fd = fds[i];
      const tcp::endpoint at = current->endpoint;
      net::post(w->ioc, [w, fd, at] {
        w->adopt(at, fd);
        w->start_accepting();
      });
    }
    return;
  }
  for (auto& w : current->workers) w->begin_drain(/*close_idle=*/false);
  Generation* old_gen = current.get();
  retiring.push_back(std::move(current));
  current = std::move(fresh);
  reloads_ok.fetch_add(1);
  last_reload_ok_unix.store(
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count());
  spdlog::info(
      "reloaded {}: {} provider(s), {} model(s), {} worker(s); the previous workers "
      "finish their requests (up to {} ms)",
      config_path, next->providers.size(), next->models.size(), current->workers.size(),
      old_gen->cfg->server.drain_timeout.count());
  net::co_spawn(main_ioc, retire(old_gen, main_ioc), net::detached);
}

net::awaitable<void> Gateway::Impl::retire(Generation* g, net::io_context& main_ioc) {
  // Until its requests are done and its clients have moved on (a keep-alive client's next
  // request here is answered with Connection: close), or the drain timeout; then the idle
  // connections left are closed, as nginx's old workers do on a reload.
  const auto deadline = Clock::now() + g->cfg->server.drain_timeout;
  net::steady_timer tick(main_ioc);
  auto wait_while = [&](auto busy, Clock::time_point until) -> net::awaitable<void> {
    while (busy() && Clock::now() < until) {
      tick.expires_after(std::chrono::milliseconds(20));
      co_await tick.async_wait(use_nothrow);
    }
  };
  co_await wait_while([g] { return g->busy() > 0 || g->sessions() > 0; }, deadline);
  if (g->busy() > 0) spdlog::warn("reload: {} request(s) of the previous workers cut", g->busy());
  for (auto& w : g->workers) w->close_idle();
  co_await wait_while([g] { return g->sessions() > 0; },
                      Clock::now() + std::chrono::milliseconds(500));
  finish(*g);
  std::erase_if(retiring, [g](const auto& r) { return r.get() == g; });
}

int Gateway::run() {
  const config::Config& cfg = *impl_->first_cfg;
  impl_->access_log = std::make_unique<telemetry::AccessLog>(cfg.telemetry.access_log);
  impl_->current = impl_->start(
      impl_->first_cfg, tcp::endpoint(net::ip::make_address(cfg.server.host), cfg.server.port), {});
  const tcp::endpoint ep = impl_->current->endpoint;
  const int n = static_cast<int>(impl_->current->workers.size());
  std::string shown = ep.address().to_string();
  if (ep.address().is_v6()) {
    // (Built piecewise: GCC 12's -Wstringop-overflow misfires on "[" + s + "]".)
    shown.insert(shown.begin(), '[');
    shown.push_back(']');
  }
  std::printf("switchyard listening on %s:%u (%d worker%s)\n", shown.c_str(),
              static_cast<unsigned>(ep.port()), n, n == 1 ? "" : "s");
  std::fflush(stdout);

  // The main thread only waits for signals: SIGHUP reloads, SIGTERM/SIGINT drain.
  net::io_context main_ioc{1};
  net::signal_set signals(main_ioc, SIGINT, SIGTERM, SIGHUP);
  int exit_code = 0;
  net::co_spawn(
      main_ioc,
      [&]() -> net::awaitable<void> {
        int sig = 0;
        for (;;) {
          auto [ec, s] = co_await signals.async_wait(use_nothrow);
          if (ec) co_return;
          if (s != SIGHUP) {
            sig = s;
            break;
          }
          impl_->reload(main_ioc);
        }
        const auto drain = impl_->current->cfg->server.drain_timeout;
        spdlog::info("signal {}: draining (up to {} ms)", sig, drain.count());
        for (auto& w : impl_->current->workers) w->begin_drain();
        // A second signal skips the rest of the drain.
        bool forced = false;
        signals.async_wait([&forced](error_code e, int) { forced = !e; });
        auto deadline = Clock::now() + drain;
        net::steady_timer tick(main_ioc);
        for (;;) {
          int busy = impl_->current->busy();
          for (const auto& r : impl_->retiring) busy += r->busy();
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
        main_ioc.stop();  // retiring generations are stopped below, not waited for
      },
      net::detached);
  main_ioc.run();

  for (auto& r : impl_->retiring) impl_->finish(*r);
  impl_->finish(*impl_->current);
  impl_->access_log->flush();
  spdlog::info("drained, exiting");
  return exit_code;
}

}  // namespace switchyard::app
