#pragma once
// The gateway process: workers, listeners, signals, graceful drain. Asio-free header so
// main() and tests can use it without the heavy includes.

#include <memory>
#include <string>

#include "switchyard/config/config.hpp"

namespace switchyard::app {

class Gateway {
 public:
  /// `config_path`: the file `cfg` came from, read again on SIGHUP (empty: no reload).
  explicit Gateway(std::shared_ptr<const config::Config> cfg, std::string config_path = {});
  ~Gateway();

  /// Binds the listeners (throws std::runtime_error on failure), prints
  /// "switchyard listening on HOST:PORT", serves until SIGTERM/SIGINT (SIGHUP reloads the
  /// configuration: new workers take over the listening sockets, the old ones finish
  /// their requests), drains
  /// (stop accepting, /readyz 503, finish in-flight requests within drain_timeout_ms)
  /// and returns the process exit code.
  int run();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace switchyard::app
