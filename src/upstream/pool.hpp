#pragma once
// Per-worker, per-provider pool of keep-alive upstream connections. Lives on its
// worker's thread only (no locks): acquire/release/connect must be called from there.

#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "net/common.hpp"
#include "switchyard/api/errors.hpp"
#include "switchyard/config/config.hpp"

namespace switchyard::upstream {

struct Connection {
  explicit Connection(AnyStream s) : stream(std::move(s)) {}
  AnyStream stream;
  beast::flat_buffer buffer;  ///< bytes read past the previous response (should stay empty)
  Clock::time_point idle_since{};
  std::uint64_t requests = 0;
};

struct Acquired {
  api::Errc error = api::Errc::ok;
  /// A reused connection, or null with error == ok: a slot is reserved and the caller
  /// must connect() a new connection (or release(nullptr) to give the slot back).
  std::unique_ptr<Connection> conn;
};

struct Connected {
  api::Errc error = api::Errc::ok;
  std::string detail;  ///< why it failed (no secrets), for logs and error messages
  std::unique_ptr<Connection> conn;
};

class Pool {
 public:
  Pool(net::any_io_executor ex, const config::Provider& provider);
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  /// Waits at most until `deadline` when all max_connections are busy; the wait queue
  /// is bounded and overflows into Errc::pool_overflow at once.
  net::awaitable<Acquired> acquire(Clock::time_point deadline);

  /// Resolves, connects and (for https) handshakes a new connection for a reserved slot.
  /// On failure the caller still owns the slot and must release(nullptr, false).
  net::awaitable<Connected> connect(Clock::time_point deadline);

  /// Returns a connection (or a slot when c is null). Non-reusable connections are closed.
  void release(std::unique_ptr<Connection> c, bool reusable);

  /// Closes idle connections older than the provider's pool_idle; called periodically.
  void evict_idle(Clock::time_point now);

  std::size_t open() const { return open_; }
  std::size_t idle() const { return idle_.size(); }
  std::size_t queued() const { return waiters_.size(); }
  const config::Provider& provider() const { return provider_; }

 private:
  struct Waiter {
    explicit Waiter(net::any_io_executor ex) : timer(ex) {}
    net::steady_timer timer;
    std::unique_ptr<Connection> conn;
    bool granted = false;
  };

  static bool looks_alive(Connection& c);

  net::any_io_executor ex_;
  const config::Provider& provider_;
  std::unique_ptr<ssl::context> tls_;
  std::vector<std::unique_ptr<Connection>> idle_;  // most recently used at the back
  std::deque<Waiter*> waiters_;
  std::size_t open_ = 0;  // connections that exist or are being connected
  std::size_t max_open_;
  std::size_t max_queue_;
  std::string port_str_;
  bool host_is_ip_ = false;
};

}  // namespace switchyard::upstream
