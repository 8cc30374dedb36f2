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
  std::vector<std::unique_ptr<Worker>> workers;
};

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
  for (int i = 0; i < n; ++i) {
    auto w = std::make_unique<Worker>(impl_->cfg, impl_->classifier, impl_->caps, impl_->ledger, i);
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
  spdlog::info("drained, exiting");
  return exit_code;
}

}  // namespace switchyard::app
