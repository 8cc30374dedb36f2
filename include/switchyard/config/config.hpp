#pragma once
// Static configuration: the YAML file users write (see docs/configuration.md).
// Loaded once at start-up on the main thread; workers read it through an immutable
// std::shared_ptr<const Config> snapshot. No heavy headers here on purpose.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace switchyard::config {

using Millis = std::chrono::milliseconds;

struct TlsServer {
  std::string cert;  ///< PEM certificate chain file
  std::string key;   ///< PEM private key file
};

struct Server {
  std::string listen = "127.0.0.1:8080";
  std::string host = "127.0.0.1";  ///< parsed from listen ("[::]" -> "::")
  std::uint16_t port = 8080;       ///< parsed from listen; 0 = ephemeral
  int workers = 0;                 ///< 0 = one per CPU core (resolved by the loader to >= 1)
  std::size_t max_body_bytes = 4194304;
  std::size_t max_header_bytes = 16384;
  Millis header_timeout{10000};
  Millis idle_timeout{60000};
  Millis drain_timeout{30000};
  std::optional<TlsServer> tls;
};

enum class ProviderKind { openai, azure, anthropic, gemini };

struct ProviderTls {
  bool verify = true;
  std::string ca_file;  ///< empty = system CA store
};

struct ProviderTimeouts {
  Millis connect{3000};
  Millis first_byte{30000};
  Millis first_token{30000};
  Millis idle{30000};
  Millis total{600000};
};

/// base_url split into its parts; the adapter appends its own path to `path`.
struct Url {
  bool https = true;
  std::string host;  ///< no brackets for IPv6 literals
  std::uint16_t port = 443;
  std::string path;                 ///< without trailing '/', may be empty
  std::string host_header() const;  ///< "host" or "host:port" when port is not the scheme default
};

struct Provider {
  std::string name;
  ProviderKind kind = ProviderKind::openai;
  std::string base_url;
  Url url;
  std::string api_key;  ///< secret: never logged
  std::vector<std::pair<std::string, std::string>> headers;
  std::string api_version;   ///< azure only
  int max_connections = 64;  ///< per worker
  int max_queue = 0;         ///< waiters per worker before pool_overflow; 0 in the file = 4 x
                             ///< max_connections (resolved by the loader, so >= 1 after load)
  Millis pool_idle{60000};   ///< idle connections older than this are closed
  ProviderTls tls;
  ProviderTimeouts timeouts;
};

struct Price {
  double input = 0;  ///< USD per million tokens
  double output = 0;
  double cached_input = -1;  ///< < 0: same as input
  double cache_write = -1;   ///< prompt tokens written to the cache; < 0: same as input
};

enum class Prefill { auto_, yes, no };

struct Deployment {
  std::string provider;            ///< Provider::name
  std::size_t provider_index = 0;  ///< index into Config::providers (resolved by the loader)
  std::string model;               ///< upstream model name
  Price price;
  double quality = 0.5;
  double weight = 1;
  int max_rpm = 0;
  std::int64_t context_window = 0;  ///< 0 = unknown / unlimited
  Prefill prefill = Prefill::auto_;
};

enum class Strategy { score, fallback, weighted };

struct Model {
  std::string name;
  Strategy strategy = Strategy::score;
  Millis hedge_after{0};   ///< > 0: start a backup attempt if no response head by then
  bool hedge_p95 = false;  ///< hedge_after_ms: p95 — use the deployment's own p95 TTFT
  std::vector<Deployment> deployments;
};

// --- routing (issue 4) ----------------------------------------------------------------

/// Conditions of one task rule. Unset conditions are not checked. `match_all` false (the
/// default, `match: any`) selects the task when any set condition holds; true (`match:
/// all`) when every set condition holds.
struct TaskMatch {
  std::string regex;                   ///< RE2, over the last user message's text
  std::optional<bool> tools;           ///< the request defines tools
  std::int64_t min_prompt_tokens = 0;  ///< estimated prompt tokens >= this (0 = unset)
  std::optional<bool> json_schema;     ///< response_format.type == "json_schema"
  std::optional<bool> images;          ///< a message has an image content part
  bool match_all = false;
};

struct Task {
  std::string name;
  double min_quality = 0;
  TaskMatch when;
};

struct Weights {
  double cost = 1.0;
  double latency = 1.0;
  double health = 1.0;
  double headroom = 0.5;
};

/// A tier's partial override of Weights: only the keys it names.
struct WeightOverride {
  std::optional<double> cost, latency, health, headroom;
  Weights apply(Weights w) const {
    if (cost) w.cost = *cost;
    if (latency) w.latency = *latency;
    if (health) w.health = *health;
    if (headroom) w.headroom = *headroom;
    return w;
  }
};

struct Retry {
  int max_attempts = 3;  ///< attempts per request, all deployments together
  Millis backoff{50};    ///< first backoff before retrying the same deployment
  Millis max_backoff{2000};
};

struct Breaker {
  int failures = 5;  ///< upstream-origin failures within window → open
  Millis window{10000};
  Millis cooldown{5000};  ///< first open period; grows (with jitter) on repeated trips
  /// ...and those failures must also be at least this share of the window's upstream
  /// outcomes, so a deployment with a small background error rate under heavy traffic is
  /// not ejected (extension key; 0 = count only).
  double min_failure_rate = 0.5;
};

struct Tier {
  std::string name;
  double max_quality = 1.0;            ///< deployments above this quality are not used
  std::vector<std::string> providers;  ///< allowed providers; empty = all
  WeightOverride weights;
};

struct Routing {
  std::string default_task = "general";
  std::vector<Task> tasks;
  Weights weights;
  Retry retry;
  Breaker breaker;
  std::vector<Tier> tiers;
  std::string default_tier = "standard";  ///< tier of requests that name none
  double hedge_max_fraction = 0.1;        ///< at most this share of requests may hedge
  const Tier* find_tier(std::string_view name) const;
};

// --- telemetry (issue 7) --------------------------------------------------------------

struct Telemetry {
  bool metrics = true;  ///< serve metrics_path (false: 404, nothing counted)
  std::string metrics_path = "/metrics";
  std::string access_log = "stdout";  ///< stdout | stderr | a file path | off
  std::string log_level = "info";     ///< operational logs: trace..critical | off
  bool log_json = true;               ///< log_format: json (default) | text
};

struct Config {
  Server server;
  Telemetry telemetry;
  std::string admin_key;
  std::vector<Provider> providers;
  std::vector<Model> models;
  Routing routing;

  const Model* find_model(std::string_view name) const;
};

/// Thrown by the loader; what() is "path: message", e.g.
/// "models[2].deployments[0].price.input: expected a number".
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Replaces ${NAME} and ${NAME:-default} from the environment. Throws ConfigError for an
/// unset ${NAME} with no default (naming the variable and the line).
std::string interpolate_env(const std::string& text);

/// Parses and validates YAML text (after interpolation). Throws ConfigError.
Config parse(const std::string& yaml_text);

/// Reads the file, interpolates, parses. Throws ConfigError.
Config load_file(const std::string& path);

}  // namespace switchyard::config
