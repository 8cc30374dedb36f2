// switchyard-mock: a fake LLM provider (OpenAI, Azure OpenAI, Anthropic and Gemini
// dialects) for load tests and for the gateway's integration tests. Behaviour is chosen
// per request by directives; see docs/mock-provider.md.

#include <charconv>
#include <csignal>
#include <cstdio>
#include <exception>
#include <optional>
#include <string>
#include <string_view>

#include "server.hpp"

namespace {

using switchyard::mock::Options;

constexpr std::string_view kUsage =
    R"(usage: switchyard-mock [options]

A mock LLM provider speaking OpenAI (chat completions, embeddings), Azure OpenAI,
Anthropic Messages and Gemini (generateContent, streaming, embeddings), with
streaming and tool calls. Each request picks its behaviour with an
`x-mock: key=value&...` header or a model suffix such as "gpt-x?status=500".
See docs/mock-provider.md.

options:
  --listen HOST:PORT      address to listen on (default 127.0.0.1:9000; port 0 picks
                          a free port; IPv6 as [::1]:0)
  --tls-cert FILE         PEM certificate chain; with --tls-key, serve HTTPS only
  --tls-key FILE          PEM private key
  --threads N             worker threads, each with its own event loop (default 1)
  --idle-timeout-ms N     close keep-alive connections idle this long (default 300000)
  --verbose               log one line per request to stderr
  --help                  show this help

Once listening it prints "LISTENING <port>" on stdout. SIGINT/SIGTERM exit 0.
)";

std::optional<unsigned long> parse_number(std::string_view s, unsigned long max) {
  unsigned long v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc{} || p != s.data() + s.size() || v > max) return std::nullopt;
  return v;
}

// HOST:PORT, [V6]:PORT or :PORT (all IPv4 interfaces).
bool parse_listen(std::string_view s, Options& o) {
  std::string_view host;
  std::string_view port;
  if (s.starts_with('[')) {
    const auto close = s.find(']');
    if (close == std::string_view::npos || s.substr(close + 1, 1) != ":") return false;
    host = s.substr(1, close - 1);
    port = s.substr(close + 2);
  } else {
    const auto colon = s.rfind(':');
    if (colon == std::string_view::npos) return false;
    host = s.substr(0, colon);
    port = s.substr(colon + 1);
  }
  const auto p = parse_number(port, 65535);
  if (!p) return false;
  o.host = host.empty() ? std::string("0.0.0.0") : std::string(host);
  o.port = static_cast<std::uint16_t>(*p);
  return true;
}

int usage_error(const std::string& message) {
  std::fprintf(stderr, "switchyard-mock: %s\n(see --help)\n", message.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  Options opts;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    const auto value = [&]() -> std::optional<std::string_view> {
      if (i + 1 >= argc) return std::nullopt;
      return std::string_view(argv[++i]);
    };
    if (arg == "--help" || arg == "-h") {
      std::fwrite(kUsage.data(), 1, kUsage.size(), stdout);
      return 0;
    } else if (arg == "--verbose" || arg == "-v") {
      opts.verbose = true;
    } else if (arg == "--listen") {
      const auto v = value();
      if (!v || !parse_listen(*v, opts)) return usage_error("--listen needs HOST:PORT");
    } else if (arg == "--tls-cert") {
      const auto v = value();
      if (!v) return usage_error("--tls-cert needs a file");
      opts.tls_cert = *v;
    } else if (arg == "--tls-key") {
      const auto v = value();
      if (!v) return usage_error("--tls-key needs a file");
      opts.tls_key = *v;
    } else if (arg == "--threads") {
      const auto v = value();
      const auto n = v ? parse_number(*v, 256) : std::nullopt;
      if (!n || *n == 0) return usage_error("--threads needs a number from 1 to 256");
      opts.threads = static_cast<unsigned>(*n);
    } else if (arg == "--idle-timeout-ms") {
      const auto v = value();
      const auto n = v ? parse_number(*v, 86'400'000) : std::nullopt;
      if (!n || *n == 0) return usage_error("--idle-timeout-ms needs a positive number");
      opts.idle_timeout = std::chrono::milliseconds(*n);
    } else {
      return usage_error("unknown option " + std::string(arg));
    }
  }
  if (opts.tls_cert.empty() != opts.tls_key.empty()) {
    return usage_error("--tls-cert and --tls-key go together");
  }

  // Writes to a vanished peer must fail with EPIPE, not kill the process.
  std::signal(SIGPIPE, SIG_IGN);
  try {
    switchyard::mock::run_server(opts);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "switchyard-mock: %s\n", e.what());
    return 1;
  }
  return 0;
}
