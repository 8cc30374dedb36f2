#pragma once
// The mock provider's HTTP(S) server: accepts on one address, serves each connection on
// one worker thread for its whole life.

#include <chrono>
#include <cstdint>
#include <string>

namespace switchyard::mock {

struct Options {
  std::string host = "127.0.0.1";  ///< IP literal or a name resolved at start-up
  std::uint16_t port = 9000;       ///< 0 = ephemeral
  std::string tls_cert;            ///< PEM chain; with tls_key, serve HTTPS only
  std::string tls_key;
  unsigned threads = 1;
  bool verbose = false;                            ///< one stderr line per request
  std::chrono::milliseconds idle_timeout{300000};  ///< keep-alive connection with no request
};

/// Binds, prints `LISTENING <port>` to stdout, then serves until SIGINT or SIGTERM.
/// Runs on the calling thread plus threads-1 more. Throws std::exception on start-up
/// failure (bad address, port in use, unreadable certificate).
void run_server(const Options& opts);

}  // namespace switchyard::mock
