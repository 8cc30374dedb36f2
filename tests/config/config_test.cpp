#include "switchyard/config/config.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>

namespace switchyard::config {
namespace {

using namespace std::chrono_literals;

/// The what() of the ConfigError that parse() throws, or a marker when it does not throw.
std::string parse_error(const std::string& yaml) {
  try {
    parse(yaml);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "<no error>";
}

std::string interpolate_error(const std::string& text) {
  try {
    interpolate_env(text);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "<no error>";
}

std::string load_error(const std::string& path) {
  try {
    load_file(path);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "<no error>";
}

/// Sets (or unsets, with nullopt) an environment variable for one test, then restores it.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, std::optional<std::string> value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) {
      ::setenv(name, value->c_str(), 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_.c_str(), old_->c_str(), 1);
    } else {
      ::unsetenv(name_.c_str());
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_;
  std::optional<std::string> old_;
};

// The smallest valid file; most error tests add to or edit one part of it.
constexpr const char* kProviders = R"(
providers:
  - name: openai
    kind: openai
    base_url: https://api.openai.com/v1
)";
constexpr const char* kModels = R"(
models:
  - name: m
    deployments:
      - provider: openai
        model: gpt-4o-mini
)";
const std::string kMinimal = std::string(kProviders) + kModels;

/// kMinimal with one extra `key: value` line on the only deployment.
std::string with_deployment_line(const std::string& line) {
  return kMinimal + "        " + line + "\n";
}
/// kMinimal with one extra `key: value` line on the only provider.
std::string with_provider_line(const std::string& line) {
  return std::string(kProviders) + "    " + line + "\n" + kModels;
}
/// kMinimal with a server section.
std::string with_server(const std::string& body) { return "server:\n" + body + kMinimal; }
/// kMinimal with a routing section; `body` is indented by the caller.
std::string with_routing(const std::string& body) { return kMinimal + "routing:\n" + body; }
/// A model whose only key besides name and deployments is `line`.
std::string with_model_line(const std::string& line) {
  return std::string(kProviders) + "models:\n  - name: m\n    " + line +
         "\n    deployments: [{ provider: openai, model: x }]\n";
}

// --- A full valid file --------------------------------------------------------------------

TEST(ConfigParse, FullValidConfig) {
  const Config c = parse(R"(
server:
  listen: "[::]:9090"
  workers: 3
  max_body_bytes: 1048576
  max_header_bytes: 8192
  header_timeout_ms: 5000
  idle_timeout_ms: 20000
  drain_timeout_ms: 15000
  tls: { cert: server.pem, key: server.key }

providers:
  - name: openai
    kind: openai
    base_url: "https://api.openai.com/v1/"
    api_key: "sk-test"
    headers: { OpenAI-Organization: "org-1", X-Extra: two words }
    max_connections: 16
    max_queue: 100
    pool_idle_ms: 45000
    tls: { verify: false, ca_file: /etc/ca.pem }
    timeouts:
      connect_ms: 1000
      first_byte_ms: 2000
      first_token_ms: 3000
      idle_ms: 4000
      total_ms: 5000
  - name: local
    kind: openai
    base_url: "http://127.0.0.1:8000"

models:
  - name: gpt-4o-mini
    strategy: fallback
    hedge_after_ms: 0
    deployments:
      - provider: local
        model: llama
        price: { input: 0.15, output: 0.60, cached_input: 0.075 }
        quality: 0.6
        weight: 2.5
        max_rpm: 0
        context_window: 128000
        prefill: true
      - provider: openai
        model: gpt-4o-mini
  - name: other
    strategy: weighted
    deployments:
      - { provider: openai, model: gpt-4o, prefill: false }
)");
  EXPECT_EQ(c.server.listen, "[::]:9090");
  EXPECT_EQ(c.server.host, "::");
  EXPECT_EQ(c.server.port, 9090);
  EXPECT_EQ(c.server.workers, 3);
  EXPECT_EQ(c.server.max_body_bytes, 1048576u);
  EXPECT_EQ(c.server.max_header_bytes, 8192u);
  EXPECT_EQ(c.server.header_timeout, 5000ms);
  EXPECT_EQ(c.server.idle_timeout, 20000ms);
  EXPECT_EQ(c.server.drain_timeout, 15000ms);
  ASSERT_TRUE(c.server.tls.has_value());
  EXPECT_EQ(c.server.tls->cert, "server.pem");
  EXPECT_EQ(c.server.tls->key, "server.key");
  EXPECT_EQ(c.admin_key, "");

  ASSERT_EQ(c.providers.size(), 2u);
  const Provider& p = c.providers[0];
  EXPECT_EQ(p.name, "openai");
  EXPECT_EQ(p.kind, ProviderKind::openai);
  EXPECT_EQ(p.base_url, "https://api.openai.com/v1/");
  EXPECT_TRUE(p.url.https);
  EXPECT_EQ(p.url.host, "api.openai.com");
  EXPECT_EQ(p.url.port, 443);
  EXPECT_EQ(p.url.path, "/v1");
  EXPECT_EQ(p.api_key, "sk-test");
  ASSERT_EQ(p.headers.size(), 2u);
  EXPECT_EQ(p.headers[0], (std::pair<std::string, std::string>{"OpenAI-Organization", "org-1"}));
  EXPECT_EQ(p.headers[1], (std::pair<std::string, std::string>{"X-Extra", "two words"}));
  EXPECT_EQ(p.api_version, "");
  EXPECT_EQ(p.max_connections, 16);
  EXPECT_EQ(p.max_queue, 100);
  EXPECT_EQ(p.pool_idle, 45000ms);
  EXPECT_FALSE(p.tls.verify);
  EXPECT_EQ(p.tls.ca_file, "/etc/ca.pem");
  EXPECT_EQ(p.timeouts.connect, 1000ms);
  EXPECT_EQ(p.timeouts.first_byte, 2000ms);
  EXPECT_EQ(p.timeouts.first_token, 3000ms);
  EXPECT_EQ(p.timeouts.idle, 4000ms);
  EXPECT_EQ(p.timeouts.total, 5000ms);
  EXPECT_EQ(c.providers[1].name, "local");
  EXPECT_FALSE(c.providers[1].url.https);
  EXPECT_EQ(c.providers[1].url.host, "127.0.0.1");
  EXPECT_EQ(c.providers[1].url.port, 8000);
  EXPECT_EQ(c.providers[1].url.path, "");

  ASSERT_EQ(c.models.size(), 2u);
  const Model& m = c.models[0];
  EXPECT_EQ(m.name, "gpt-4o-mini");
  EXPECT_EQ(m.strategy, Strategy::fallback);
  EXPECT_EQ(m.hedge_after, 0ms);
  EXPECT_FALSE(m.hedge_p95);
  ASSERT_EQ(m.deployments.size(), 2u);
  const Deployment& d = m.deployments[0];
  EXPECT_EQ(d.provider, "local");
  EXPECT_EQ(d.provider_index, 1u);
  EXPECT_EQ(d.model, "llama");
  EXPECT_DOUBLE_EQ(d.price.input, 0.15);
  EXPECT_DOUBLE_EQ(d.price.output, 0.60);
  EXPECT_DOUBLE_EQ(d.price.cached_input, 0.075);
  EXPECT_DOUBLE_EQ(d.quality, 0.6);
  EXPECT_DOUBLE_EQ(d.weight, 2.5);
  EXPECT_EQ(d.max_rpm, 0);
  EXPECT_EQ(d.context_window, 128000);
  EXPECT_EQ(d.prefill, Prefill::yes);
  EXPECT_EQ(m.deployments[1].provider_index, 0u);
  EXPECT_EQ(c.models[1].strategy, Strategy::weighted);
  EXPECT_EQ(c.models[1].deployments[0].prefill, Prefill::no);

  ASSERT_NE(c.find_model("other"), nullptr);
  EXPECT_EQ(c.find_model("other")->name, "other");
  EXPECT_EQ(c.find_model("gpt-4o-mini"), &c.models[0]);
  EXPECT_EQ(c.find_model("missing"), nullptr);
}

TEST(ConfigParse, DefaultsWhenOnlyRequiredKeysAreGiven) {
  const Config c = parse(kMinimal);
  const Server& s = c.server;
  EXPECT_EQ(s.listen, "127.0.0.1:8080");
  EXPECT_EQ(s.host, "127.0.0.1");
  EXPECT_EQ(s.port, 8080);
  EXPECT_EQ(s.workers, static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  EXPECT_GE(s.workers, 1);
  EXPECT_EQ(s.max_body_bytes, 4194304u);
  EXPECT_EQ(s.max_header_bytes, 16384u);
  EXPECT_EQ(s.header_timeout, 10000ms);
  EXPECT_EQ(s.idle_timeout, 60000ms);
  EXPECT_EQ(s.drain_timeout, 30000ms);
  EXPECT_FALSE(s.tls.has_value());

  ASSERT_EQ(c.providers.size(), 1u);
  const Provider& p = c.providers[0];
  EXPECT_EQ(p.api_key, "");
  EXPECT_TRUE(p.headers.empty());
  EXPECT_EQ(p.max_connections, 64);
  EXPECT_EQ(p.max_queue, 4 * 64);  // 0 resolves to 4 x max_connections
  EXPECT_EQ(p.pool_idle, 60000ms);
  EXPECT_TRUE(p.tls.verify);
  EXPECT_EQ(p.tls.ca_file, "");
  EXPECT_EQ(p.timeouts.connect, 3000ms);
  EXPECT_EQ(p.timeouts.first_byte, 30000ms);
  EXPECT_EQ(p.timeouts.first_token, 30000ms);
  EXPECT_EQ(p.timeouts.idle, 30000ms);
  EXPECT_EQ(p.timeouts.total, 600000ms);

  ASSERT_EQ(c.models.size(), 1u);
  EXPECT_EQ(c.models[0].strategy, Strategy::score);
  EXPECT_EQ(c.models[0].hedge_after, 0ms);
  const Deployment& d = c.models[0].deployments[0];
  EXPECT_EQ(d.price.input, 0);
  EXPECT_EQ(d.price.output, 0);
  EXPECT_LT(d.price.cached_input, 0);  // "same as input"
  EXPECT_DOUBLE_EQ(d.quality, 0.5);
  EXPECT_DOUBLE_EQ(d.weight, 1);
  EXPECT_EQ(d.max_rpm, 0);
  EXPECT_EQ(d.context_window, 0);
  EXPECT_EQ(d.prefill, Prefill::auto_);
  EXPECT_FALSE(c.models[0].hedge_p95);

  EXPECT_EQ(c.admin_key, "");  // /admin/* off

  const Routing& r = c.routing;
  EXPECT_EQ(r.default_task, "general");
  EXPECT_EQ(r.default_tier, "standard");
  EXPECT_TRUE(r.tasks.empty());
  EXPECT_DOUBLE_EQ(r.weights.cost, 1.0);
  EXPECT_DOUBLE_EQ(r.weights.latency, 1.0);
  EXPECT_DOUBLE_EQ(r.weights.health, 1.0);
  EXPECT_DOUBLE_EQ(r.weights.headroom, 0.5);
  EXPECT_EQ(r.retry.max_attempts, 3);
  EXPECT_EQ(r.retry.backoff, 50ms);
  EXPECT_EQ(r.retry.max_backoff, 2000ms);
  EXPECT_EQ(r.breaker.failures, 5);
  EXPECT_EQ(r.breaker.window, 10000ms);
  EXPECT_EQ(r.breaker.cooldown, 5000ms);
  EXPECT_DOUBLE_EQ(r.breaker.min_failure_rate, 0.5);
  EXPECT_TRUE(r.tiers.empty());
  EXPECT_EQ(r.find_tier("standard"), nullptr);
  EXPECT_DOUBLE_EQ(r.hedge_max_fraction, 0.1);
}

TEST(ConfigParse, ExplicitWorkersAndQueueAreKept) {
  const Config c = parse(with_server("  workers: 2\n") + "");
  EXPECT_EQ(c.server.workers, 2);
  const Config q = parse(with_provider_line("max_connections: 5\n    max_queue: 7"));
  EXPECT_EQ(q.providers[0].max_connections, 5);
  EXPECT_EQ(q.providers[0].max_queue, 7);
  const Config r = parse(with_provider_line("max_connections: 5"));
  EXPECT_EQ(r.providers[0].max_queue, 20);
}

TEST(ConfigParse, ScalarsAreReadByFieldTypeWhetherQuotedOrNot) {
  const Config c =
      parse(with_provider_line("api_key: 12345\n    max_connections: \"8\"\n"
                               "    tls: { verify: \"false\" }"));
  EXPECT_EQ(c.providers[0].api_key, "12345");
  EXPECT_EQ(c.providers[0].max_connections, 8);
  EXPECT_FALSE(c.providers[0].tls.verify);
}

// --- Type errors name the full path --------------------------------------------------------

TEST(ConfigErrors, TypeErrorsNameTheFullPath) {
  EXPECT_EQ(parse_error(with_deployment_line("price: { input: cheap }")),
            "models[0].deployments[0].price.input: expected a number");
  EXPECT_EQ(parse_error(with_server("  workers: 1.5\n")), "server.workers: expected an integer");
  EXPECT_EQ(parse_error(with_server("  listen: [a, b]\n")), "server.listen: expected a string");
  EXPECT_EQ(parse_error(with_provider_line("tls: { verify: yes }")),
            "providers[0].tls.verify: expected a boolean");
  EXPECT_EQ(parse_error(with_provider_line("timeouts: 5")),
            "providers[0].timeouts: expected a mapping");
  EXPECT_EQ(parse_error(with_provider_line("timeouts: { total_ms: 1s }")),
            "providers[0].timeouts.total_ms: expected an integer");
  EXPECT_EQ(parse_error(with_provider_line("headers: [a]")),
            "providers[0].headers: expected a mapping");
  EXPECT_EQ(parse_error(with_provider_line("headers: { X-A: [1] }")),
            "providers[0].headers.X-A: expected a string");
  EXPECT_EQ(parse_error(std::string(kProviders) + "models: { name: m }\n"),
            "models: expected a list");
  EXPECT_EQ(parse_error(std::string(kProviders) + "models:\n  - name: m\n    deployments: {}\n"),
            "models[0].deployments: expected a list");
  EXPECT_EQ(parse_error(std::string(kProviders) + "models:\n  - just-a-name\n"),
            "models[0]: expected a mapping");
  EXPECT_EQ(parse_error(with_deployment_line("quality: high")),
            "models[0].deployments[0].quality: expected a number");
  EXPECT_EQ(parse_error(with_deployment_line("context_window: 1e5")),
            "models[0].deployments[0].context_window: expected an integer");
  EXPECT_EQ(
      parse_error(std::string(kProviders) +
                  "models:\n  - name: m\n    deployments: [{ provider: openai, model: ~ }]\n"),
      "models[0].deployments[0].model: expected a string");
  EXPECT_EQ(parse_error(with_server("  tls: { cert: a.pem, key: { x: 1 } }\n")),
            "server.tls.key: expected a string");
}

TEST(ConfigErrors, TypeErrorAtSecondListItemsUsesTheirIndices) {
  const std::string yaml = std::string(kProviders) + R"(
  - name: second
    kind: openai
    base_url: https://example.com
models:
  - name: a
    deployments:
      - { provider: openai, model: x }
  - name: b
    deployments:
      - { provider: openai, model: x }
      - { provider: second, model: y, price: { output: "n/a" } }
)";
  EXPECT_EQ(parse_error(yaml), "models[1].deployments[1].price.output: expected a number");
}

TEST(ConfigErrors, RangeErrors) {
  EXPECT_EQ(parse_error(with_deployment_line("price: { input: -1 }")),
            "models[0].deployments[0].price.input: must be >= 0");
  EXPECT_EQ(parse_error(with_deployment_line("quality: 1.5")),
            "models[0].deployments[0].quality: must be <= 1");
  EXPECT_EQ(parse_error(with_deployment_line("quality: -0.1")),
            "models[0].deployments[0].quality: must be >= 0");
  EXPECT_EQ(parse_error(with_deployment_line("weight: -2")),
            "models[0].deployments[0].weight: must be >= 0");
  EXPECT_EQ(parse_error(with_deployment_line("price: { output: .nan }")),
            "models[0].deployments[0].price.output: expected a number");
  EXPECT_EQ(parse_error(with_deployment_line("price: { output: inf }")),
            "models[0].deployments[0].price.output: expected a number");
  EXPECT_EQ(parse_error(with_provider_line("max_connections: 0")),
            "providers[0].max_connections: must be >= 1");
  EXPECT_EQ(parse_error(with_provider_line("max_queue: -1")),
            "providers[0].max_queue: must be >= 0");
  EXPECT_EQ(parse_error(with_provider_line("pool_idle_ms: 0")),
            "providers[0].pool_idle_ms: must be >= 1");
  EXPECT_EQ(parse_error(with_provider_line("timeouts: { connect_ms: 0 }")),
            "providers[0].timeouts.connect_ms: must be >= 1");
  EXPECT_EQ(parse_error(with_server("  header_timeout_ms: 99999999999999999999\n")),
            "server.header_timeout_ms: must be <= 2147483647");
  EXPECT_EQ(parse_error(with_server("  workers: -1\n")), "server.workers: must be >= 0");
  EXPECT_EQ(parse_error(with_server("  max_body_bytes: 0\n")),
            "server.max_body_bytes: must be >= 1");
  EXPECT_EQ(parse_error(with_deployment_line("context_window: -5")),
            "models[0].deployments[0].context_window: must be >= 0");
}

// --- Unknown and duplicate keys --------------------------------------------------------------

TEST(ConfigErrors, UnknownTopLevelKey) {
  EXPECT_EQ(parse_error(kMinimal + "extra: 1\n"),
            "extra: unknown key (expected one of: server, admin, providers, models, routing, "
            "keys, storage, cache, telemetry)");
}

TEST(ConfigErrors, UnknownNestedKeys) {
  EXPECT_EQ(parse_error(with_server("  listn: \"127.0.0.1:1\"\n")),
            "server.listn: unknown key (expected one of: listen, workers, max_body_bytes, "
            "max_header_bytes, header_timeout_ms, idle_timeout_ms, drain_timeout_ms, tls)");
  EXPECT_EQ(parse_error(with_deployment_line("price: { input: 1, outptu: 2 }")),
            "models[0].deployments[0].price.outptu: unknown key (expected one of: input, output, "
            "cached_input, cache_write)");
  EXPECT_EQ(parse_error(with_provider_line("timeouts: { read_ms: 5 }")),
            "providers[0].timeouts.read_ms: unknown key (expected one of: connect_ms, "
            "first_byte_ms, first_token_ms, idle_ms, total_ms)");
}

TEST(ConfigErrors, DuplicateKeyInOneMapping) {
  // yaml-cpp keeps both entries silently; the loader must not pick one.
  EXPECT_EQ(parse_error(with_server("  workers: 1\n  workers: 2\n")),
            "server.workers: duplicate key");
}

TEST(ConfigErrors, DuplicateNames) {
  EXPECT_EQ(parse_error(std::string(kProviders) +
                        "  - { name: openai, kind: openai, base_url: \"http://x\" }\n" + kModels),
            "providers[1].name: duplicate provider name \"openai\"");
  EXPECT_EQ(
      parse_error(kMinimal + "  - name: m\n    deployments: [{provider: openai, model: y}]\n"),
      "models[1].name: duplicate model name \"m\"");
}

TEST(ConfigErrors, DuplicateHeaderIgnoringCase) {
  EXPECT_EQ(parse_error(with_provider_line("headers: { X-A: \"1\", x-a: \"2\" }")),
            "providers[0].headers.x-a: duplicate header");
}

TEST(ConfigErrors, HeadersOwnedByTheGatewayAndBadValues) {
  EXPECT_EQ(parse_error(with_provider_line("headers: { Content-Length: \"5\" }")),
            "providers[0].headers.Content-Length: header is set by the gateway");
  EXPECT_EQ(parse_error(with_provider_line("headers: { \"Bad Name\": x }")),
            "providers[0].headers.Bad Name: invalid header name");
  EXPECT_EQ(parse_error(with_provider_line("headers: { X-A: \"a\\r\\nEvil: 1\" }")),
            "providers[0].headers.X-A: must not contain control characters");
  EXPECT_EQ(parse_error(with_provider_line("api_key: \"sk-1\\n\"")),
            "providers[0].api_key: must not contain control characters");
}

// --- Required fields ---------------------------------------------------------------------------

TEST(ConfigErrors, RequiredFields) {
  EXPECT_EQ(parse_error(kModels), "providers: at least one provider is required");
  EXPECT_EQ(parse_error("providers: []\n" + std::string(kModels)),
            "providers: at least one provider is required");
  EXPECT_EQ(parse_error(kProviders), "models: at least one model is required");
  EXPECT_EQ(parse_error(std::string(kProviders) + "models: []\n"),
            "models: at least one model is required");
  EXPECT_EQ(parse_error(std::string(kProviders) + "models:\n  - name: m\n"),
            "models[0].deployments: at least one deployment is required");
  EXPECT_EQ(parse_error(std::string(kProviders) + "models:\n  - name: m\n    deployments: []\n"),
            "models[0].deployments: at least one deployment is required");
  EXPECT_EQ(parse_error("providers:\n  - { kind: openai, base_url: \"https://x\" }\n" +
                        std::string(kModels)),
            "providers[0].name: is required");
  EXPECT_EQ(
      parse_error("providers:\n  - { name: a, base_url: \"https://x\" }\n" + std::string(kModels)),
      "providers[0].kind: is required");
  EXPECT_EQ(parse_error("providers:\n  - { name: openai, kind: openai }\n" + std::string(kModels)),
            "providers[0].base_url: is required");
  EXPECT_EQ(parse_error(std::string(kProviders) +
                        "models:\n  - name: m\n    deployments: [{ provider: openai }]\n"),
            "models[0].deployments[0].model: is required");
  EXPECT_EQ(parse_error(std::string(kProviders) +
                        "models:\n  - name: m\n    deployments: [{ model: x }]\n"),
            "models[0].deployments[0].provider: is required");
  EXPECT_EQ(
      parse_error(std::string(kProviders) +
                  "models:\n  - name: \"\"\n    deployments: [{ provider: openai, model: x }]\n"),
      "models[0].name: must not be empty");
  EXPECT_EQ(parse_error(with_server("  tls: { cert: a.pem }\n")), "server.tls.key: is required");
  EXPECT_EQ(parse_error(with_server("  tls: { cert: \"\", key: k.pem }\n")),
            "server.tls.cert: must not be empty");
}

TEST(ConfigErrors, ProviderNameCharacters) {
  EXPECT_EQ(
      parse_error("providers:\n  - { name: \"a/b\", kind: openai, base_url: \"https://x\" }\n" +
                  std::string(kModels)),
      "providers[0].name: must contain only letters, digits, '.', '_' and '-'");
}

TEST(ConfigErrors, EmptyOrMalformedDocument) {
  EXPECT_EQ(parse_error(""), "(root): the configuration is empty");
  EXPECT_EQ(parse_error("# only a comment\n"), "(root): the configuration is empty");
  EXPECT_EQ(parse_error("- a\n- b\n"), "(root): expected a mapping");
  EXPECT_EQ(parse_error(kMinimal + "---\n" + kMinimal),
            "(root): expected one YAML document, found 2");
  EXPECT_EQ(parse_error("server: [1, 2\n"), "line 2, column 1: end of sequence flow not found");
}

// --- References between sections ------------------------------------------------------------

TEST(ConfigErrors, UnknownProviderReference) {
  const std::string yaml = std::string(kProviders) + R"(
models:
  - name: m
    deployments:
      - { provider: openai, model: a }
      - { provider: x, model: b }
)";
  EXPECT_EQ(parse_error(yaml), "models[0].deployments[1].provider: unknown provider \"x\"");
}

TEST(ConfigParse, ProviderReferenceDoesNotDependOnSectionOrder) {
  // models before providers in the file: references still resolve.
  const Config c = parse(std::string(kModels) + kProviders);
  EXPECT_EQ(c.models[0].deployments[0].provider_index, 0u);
}

// --- Not supported yet --------------------------------------------------------------------

TEST(ConfigErrors, UnsupportedSectionsAreRefusedNotIgnored) {
  EXPECT_EQ(parse_error(kMinimal + "keys: []\n"), "keys: not supported yet");
  EXPECT_EQ(parse_error(kMinimal + "storage: { redis: \"\" }\n"), "storage: not supported yet");
  EXPECT_EQ(parse_error(kMinimal + "cache: { enabled: false }\n"), "cache: not supported yet");
}

TEST(ConfigParse, Telemetry) {
  const Config d = parse(kMinimal);
  EXPECT_TRUE(d.telemetry.metrics);
  EXPECT_EQ(d.telemetry.metrics_path, "/metrics");
  EXPECT_EQ(d.telemetry.access_log, "stdout");
  EXPECT_EQ(d.telemetry.log_level, "info");
  EXPECT_TRUE(d.telemetry.log_json);
  const Config c = parse(kMinimal +
                         "telemetry: { metrics: false, metrics_path: /internal/metrics, "
                         "access_log: /var/log/sy.log, log_level: debug, log_format: text }\n");
  EXPECT_FALSE(c.telemetry.metrics);
  EXPECT_EQ(c.telemetry.metrics_path, "/internal/metrics");
  EXPECT_EQ(c.telemetry.access_log, "/var/log/sy.log");
  EXPECT_EQ(c.telemetry.log_level, "debug");
  EXPECT_FALSE(c.telemetry.log_json);
  EXPECT_EQ(
      parse_error(kMinimal + "telemetry: { log_level: loud }\n"),
      "telemetry.log_level: unknown level \"loud\" (expected trace, debug, info, warn, error, "
      "critical, off)");
  EXPECT_EQ(parse_error(kMinimal + "telemetry: { metrics_path: \"/m?x=1\" }\n"),
            "telemetry.metrics_path: expected a path starting with / (no query)");
  EXPECT_EQ(parse_error(kMinimal + "telemetry: { metrics_path: /status }\n"),
            "telemetry.metrics_path: is a path the gateway already serves");
  EXPECT_EQ(parse_error(kMinimal + "telemetry: { metrics_path: /admin/m }\n"),
            "telemetry.metrics_path: is a path the gateway already serves");
  EXPECT_EQ(parse_error(kMinimal + "telemetry: { log_format: xml }\n"),
            "telemetry.log_format: unknown format \"xml\" (expected json, text)");
  EXPECT_EQ(parse_error(kMinimal + "telemetry: { access_log: \"\" }\n"),
            "telemetry.access_log: must not be empty (use off)");
  EXPECT_EQ(parse_error(kMinimal + "telemetry: { metrics: yes please }\n"),
            "telemetry.metrics: expected a boolean");
}

TEST(ConfigErrors, ProviderKinds) {
  const std::string second = "  - { name: p2, kind: %, base_url: \"https://x\" }\n";
  auto with_kind = [&](const std::string& kind) {
    std::string s = second;
    s.replace(s.find('%'), 1, kind);
    return std::string(kProviders) + s + kModels;
  };
  EXPECT_EQ(parse(with_kind("anthropic")).providers[1].kind, ProviderKind::anthropic);
  EXPECT_EQ(parse(with_kind("azure")).providers[1].kind, ProviderKind::azure);
  EXPECT_EQ(parse(with_kind("gemini")).providers[1].kind, ProviderKind::gemini);
  EXPECT_EQ(parse_error(with_kind("foo")),
            "providers[1].kind: unknown kind \"foo\" (expected openai, azure, anthropic, gemini)");
  EXPECT_EQ(
      parse_error(with_kind("OpenAI")),
      "providers[1].kind: unknown kind \"OpenAI\" (expected openai, azure, anthropic, gemini)");
}

TEST(ConfigErrors, ApiVersionOnlyForAzure) {
  EXPECT_EQ(parse_error(with_provider_line("api_version: \"2024-10-21\"")),
            "providers[0].api_version: only for kind azure");
}

TEST(ConfigParse, HedgeAfterForms) {
  const Config off = parse(with_model_line("hedge_after_ms: 0"));
  EXPECT_EQ(off.models[0].hedge_after, 0ms);
  EXPECT_FALSE(off.models[0].hedge_p95);
  const Config fixed = parse(with_model_line("hedge_after_ms: 200"));
  EXPECT_EQ(fixed.models[0].hedge_after, 200ms);
  EXPECT_FALSE(fixed.models[0].hedge_p95);
  for (const char* p95 : {"p95", "\"p95\""}) {
    SCOPED_TRACE(p95);
    const Config c = parse(with_model_line(std::string("hedge_after_ms: ") + p95));
    EXPECT_TRUE(c.models[0].hedge_p95);
    EXPECT_EQ(c.models[0].hedge_after, 0ms);
  }
}

TEST(ConfigErrors, HedgeAfterRejectsOtherForms) {
  const std::string expected = "models[0].hedge_after_ms: expected an integer or \"p95\"";
  for (const char* bad : {"p99", "P95", "1.5", "fast", "\"\"", "[200]", "{ p: 95 }", ""}) {
    SCOPED_TRACE(bad);
    EXPECT_EQ(parse_error(with_model_line(std::string("hedge_after_ms: ") + bad)), expected);
  }
  EXPECT_EQ(parse_error(with_model_line("hedge_after_ms: -1")),
            "models[0].hedge_after_ms: must be >= 0");
  EXPECT_EQ(parse_error(with_model_line("hedge_after_ms: 2147483648")),
            "models[0].hedge_after_ms: must be <= 2147483647");
}

TEST(ConfigParse, MaxRpm) {
  EXPECT_EQ(parse(with_deployment_line("max_rpm: 0")).models[0].deployments[0].max_rpm, 0);
  EXPECT_EQ(parse(with_deployment_line("max_rpm: 60")).models[0].deployments[0].max_rpm, 60);
  EXPECT_EQ(parse_error(with_deployment_line("max_rpm: -1")),
            "models[0].deployments[0].max_rpm: must be >= 0");
  EXPECT_EQ(parse_error(with_deployment_line("max_rpm: 2147483648")),
            "models[0].deployments[0].max_rpm: must be <= 2147483647");
  EXPECT_EQ(parse_error(with_deployment_line("max_rpm: 1.5")),
            "models[0].deployments[0].max_rpm: expected an integer");
}

// --- admin -------------------------------------------------------------------------------------

TEST(ConfigParse, AdminKey) {
  EXPECT_EQ(parse(kMinimal + "admin: { key: \"s3cret-token\" }\n").admin_key, "s3cret-token");
  EXPECT_EQ(parse(kMinimal + "admin: { key: \"\" }\n").admin_key, "");  // /admin/* off
  EXPECT_EQ(parse(kMinimal + "admin: {}\n").admin_key, "");
  // Read as a string whatever it looks like.
  EXPECT_EQ(parse(kMinimal + "admin: { key: 12345 }\n").admin_key, "12345");
}

TEST(ConfigParse, AdminKeyFromEnvironment) {
  ScopedEnv key("SY_TEST_ADMIN", "from-env");
  EXPECT_EQ(parse(interpolate_env(kMinimal + "admin:\n  key: \"${SY_TEST_ADMIN}\"\n")).admin_key,
            "from-env");
}

TEST(ConfigErrors, AdminSection) {
  EXPECT_EQ(parse_error(kMinimal + "admin: { token: abc }\n"),
            "admin.token: unknown key (expected one of: key)");
  EXPECT_EQ(parse_error(kMinimal + "admin: { key: [a] }\n"), "admin.key: expected a string");
  EXPECT_EQ(parse_error(kMinimal + "admin: { key: ~ }\n"), "admin.key: expected a string");
  EXPECT_EQ(parse_error(kMinimal + "admin: abc\n"), "admin: expected a mapping");
  EXPECT_EQ(parse_error(kMinimal + "admin: { key: \"abc\\n\" }\n"),
            "admin.key: must not contain control characters");
}

// --- routing -----------------------------------------------------------------------------------

TEST(ConfigParse, FullRoutingSection) {
  const Config c = parse(std::string(kProviders) + R"(
  - name: local
    kind: openai
    base_url: http://127.0.0.1:8000/v1
  - name: cheap
    kind: openai
    base_url: http://127.0.0.1:8001/v1
)" + kModels + R"(
routing:
  default_task: chat
  default_tier: free
  tasks:
    - name: code
      min_quality: 0.8
      when: { regex: "```|\\bdef |#include", tools: true }
    - name: long
      min_quality: 0.7
      when: { min_prompt_tokens: 6000 }
    - name: extract.v2
      when:
        json_schema: true
        images: false
        tools: false
        match: all
    - name: vision_1
      min_quality: 0.5
      when: { images: true, match: any }
    - name: chat
      min_quality: 0.25
    - name: by-header-only
      min_quality: 1
  weights: { cost: 2.5, latency: 0, health: 3, headroom: 0.25 }
  retry: { max_attempts: 20, backoff_ms: 0, max_backoff_ms: 0 }
  breaker: { failures: 1, window_ms: 1, cooldown_ms: 250, min_failure_rate: 0.25 }
  tiers:
    free:
      max_quality: 0.7
      providers: [cheap, local]
      weights: { cost: 3.0 }
    premium: { weights: { latency: 4, health: 0, headroom: 2 } }
    standard: {}
)");
  const Routing& r = c.routing;
  EXPECT_EQ(r.default_task, "chat");
  EXPECT_EQ(r.default_tier, "free");

  ASSERT_EQ(r.tasks.size(), 6u);
  const Task& code = r.tasks[0];
  EXPECT_EQ(code.name, "code");
  EXPECT_DOUBLE_EQ(code.min_quality, 0.8);
  EXPECT_EQ(code.when.regex, "```|\\bdef |#include");  // YAML "\\b" is the RE2 \b
  EXPECT_EQ(code.when.tools, std::optional<bool>(true));
  EXPECT_EQ(code.when.min_prompt_tokens, 0);
  EXPECT_EQ(code.when.json_schema, std::nullopt);
  EXPECT_EQ(code.when.images, std::nullopt);
  EXPECT_FALSE(code.when.match_all);

  const Task& long_task = r.tasks[1];
  EXPECT_EQ(long_task.name, "long");
  EXPECT_DOUBLE_EQ(long_task.min_quality, 0.7);
  EXPECT_EQ(long_task.when.regex, "");
  EXPECT_EQ(long_task.when.tools, std::nullopt);
  EXPECT_EQ(long_task.when.min_prompt_tokens, 6000);
  EXPECT_FALSE(long_task.when.match_all);

  const Task& extract = r.tasks[2];
  EXPECT_EQ(extract.name, "extract.v2");
  EXPECT_DOUBLE_EQ(extract.min_quality, 0);  // default
  EXPECT_EQ(extract.when.json_schema, std::optional<bool>(true));
  EXPECT_EQ(extract.when.images, std::optional<bool>(false));
  EXPECT_EQ(extract.when.tools, std::optional<bool>(false));
  EXPECT_TRUE(extract.when.match_all);

  EXPECT_EQ(r.tasks[3].name, "vision_1");
  EXPECT_EQ(r.tasks[3].when.images, std::optional<bool>(true));
  EXPECT_FALSE(r.tasks[3].when.match_all);

  // A task named like default_task sets the default's min_quality; without `when` it has
  // no conditions and is chosen only by name.
  const Task& chat = r.tasks[4];
  EXPECT_EQ(chat.name, "chat");
  EXPECT_DOUBLE_EQ(chat.min_quality, 0.25);
  EXPECT_EQ(chat.when.regex, "");
  EXPECT_EQ(chat.when.tools, std::nullopt);
  EXPECT_EQ(chat.when.min_prompt_tokens, 0);
  EXPECT_EQ(chat.when.json_schema, std::nullopt);
  EXPECT_EQ(chat.when.images, std::nullopt);
  EXPECT_FALSE(chat.when.match_all);
  EXPECT_DOUBLE_EQ(r.tasks[5].min_quality, 1.0);

  EXPECT_DOUBLE_EQ(r.weights.cost, 2.5);
  EXPECT_DOUBLE_EQ(r.weights.latency, 0);
  EXPECT_DOUBLE_EQ(r.weights.health, 3);
  EXPECT_DOUBLE_EQ(r.weights.headroom, 0.25);

  EXPECT_EQ(r.retry.max_attempts, 20);
  EXPECT_EQ(r.retry.backoff, 0ms);
  EXPECT_EQ(r.retry.max_backoff, 0ms);
  EXPECT_EQ(r.breaker.failures, 1);
  EXPECT_EQ(r.breaker.window, 1ms);
  EXPECT_EQ(r.breaker.cooldown, 250ms);
  EXPECT_DOUBLE_EQ(r.breaker.min_failure_rate, 0.25);

  ASSERT_EQ(r.tiers.size(), 3u);
  const Tier* free = r.find_tier("free");
  ASSERT_NE(free, nullptr);
  EXPECT_EQ(free, &r.tiers[0]);
  EXPECT_EQ(free->name, "free");
  EXPECT_DOUBLE_EQ(free->max_quality, 0.7);
  EXPECT_EQ(free->providers, (std::vector<std::string>{"cheap", "local"}));
  EXPECT_EQ(free->weights.cost, std::optional<double>(3.0));
  EXPECT_EQ(free->weights.latency, std::nullopt);
  EXPECT_EQ(free->weights.health, std::nullopt);
  EXPECT_EQ(free->weights.headroom, std::nullopt);
  const Weights free_w = free->weights.apply(r.weights);
  EXPECT_DOUBLE_EQ(free_w.cost, 3.0);
  EXPECT_DOUBLE_EQ(free_w.latency, 0);
  EXPECT_DOUBLE_EQ(free_w.health, 3);
  EXPECT_DOUBLE_EQ(free_w.headroom, 0.25);

  const Tier* premium = r.find_tier("premium");
  ASSERT_NE(premium, nullptr);
  EXPECT_DOUBLE_EQ(premium->max_quality, 1.0);  // default
  EXPECT_TRUE(premium->providers.empty());      // all providers
  EXPECT_EQ(premium->weights.cost, std::nullopt);
  EXPECT_EQ(premium->weights.latency, std::optional<double>(4));
  EXPECT_EQ(premium->weights.health, std::optional<double>(0));
  EXPECT_EQ(premium->weights.headroom, std::optional<double>(2));

  const Tier* standard = r.find_tier("standard");
  ASSERT_NE(standard, nullptr);
  EXPECT_DOUBLE_EQ(standard->max_quality, 1.0);
  EXPECT_TRUE(standard->providers.empty());
  EXPECT_FALSE(standard->weights.cost || standard->weights.latency || standard->weights.health ||
               standard->weights.headroom);
  EXPECT_EQ(r.find_tier("gold"), nullptr);

  EXPECT_DOUBLE_EQ(r.hedge_max_fraction, 0.1);
}

TEST(ConfigParse, PartialRoutingKeepsOtherDefaults) {
  const Config c =
      parse(with_routing("  weights: { headroom: 2 }\n  retry: { backoff_ms: 100 }\n"));
  EXPECT_DOUBLE_EQ(c.routing.weights.cost, 1.0);
  EXPECT_DOUBLE_EQ(c.routing.weights.headroom, 2.0);
  EXPECT_EQ(c.routing.retry.max_attempts, 3);
  EXPECT_EQ(c.routing.retry.backoff, 100ms);
  EXPECT_EQ(c.routing.retry.max_backoff, 2000ms);
  EXPECT_EQ(c.routing.breaker.failures, 5);
  EXPECT_EQ(c.routing.default_task, "general");
  EXPECT_DOUBLE_EQ(c.routing.hedge_max_fraction, 0.1);
  // An empty section and an empty task list are the defaults.
  EXPECT_TRUE(parse(kMinimal + "routing: {}\n").routing.tasks.empty());
  EXPECT_TRUE(parse(with_routing("  tasks: []\n  tiers: {}\n")).routing.tiers.empty());
  EXPECT_DOUBLE_EQ(parse(with_routing("  hedge_max_fraction: 0.5\n")).routing.hedge_max_fraction,
                   0.5);
  EXPECT_EQ(parse_error(with_routing("  hedge_max_fraction: 1.5\n")),
            "routing.hedge_max_fraction: must be <= 1");
}

TEST(ConfigParse, RoutingCanComeBeforeProviders) {
  // Tiers resolve provider names; the order of sections in the file does not matter.
  const Config c = parse("routing:\n  tiers: { free: { providers: [openai] } }\n" + kMinimal);
  ASSERT_EQ(c.routing.tiers.size(), 1u);
  EXPECT_EQ(c.routing.tiers[0].providers, (std::vector<std::string>{"openai"}));
}

TEST(ConfigErrors, RoutingUnknownKeys) {
  EXPECT_EQ(parse_error(with_routing("  default: chat\n")),
            "routing.default: unknown key (expected one of: default_task, default_tier, tasks, "
            "weights, retry, breaker, tiers, hedge_max_fraction)");
  EXPECT_EQ(parse_error(with_routing("  weights: { price: 1 }\n")),
            "routing.weights.price: unknown key (expected one of: cost, latency, health, "
            "headroom)");
  EXPECT_EQ(parse_error(with_routing("  retry: { attempts: 2 }\n")),
            "routing.retry.attempts: unknown key (expected one of: max_attempts, backoff_ms, "
            "max_backoff_ms)");
  EXPECT_EQ(parse_error(with_routing("  breaker: { threshold: 2 }\n")),
            "routing.breaker.threshold: unknown key (expected one of: failures, window_ms, "
            "cooldown_ms, min_failure_rate)");
  EXPECT_EQ(
      parse_error(with_routing("  tasks: [{ name: a, priority: 1, when: { tools: true } }]\n")),
      "routing.tasks[0].priority: unknown key (expected one of: name, min_quality, when)");
  EXPECT_EQ(parse_error(with_routing("  tasks: [{ name: a, when: { model: x } }]\n")),
            "routing.tasks[0].when.model: unknown key (expected one of: regex, tools, "
            "min_prompt_tokens, json_schema, images, match)");
  EXPECT_EQ(parse_error(with_routing("  tiers: { free: { max_cost: 1 } }\n")),
            "routing.tiers.free.max_cost: unknown key (expected one of: max_quality, providers, "
            "weights)");
  EXPECT_EQ(parse_error(with_routing("  tiers: { free: { weights: { speed: 1 } } }\n")),
            "routing.tiers.free.weights.speed: unknown key (expected one of: cost, latency, "
            "health, headroom)");
  EXPECT_EQ(parse_error(with_routing("  retry: { max_attempts: 2, max_attempts: 3 }\n")),
            "routing.retry.max_attempts: duplicate key");
}

TEST(ConfigErrors, RoutingTypes) {
  EXPECT_EQ(parse_error(kMinimal + "routing: [a]\n"), "routing: expected a mapping");
  EXPECT_EQ(parse_error(with_routing("  default_task: [a]\n")),
            "routing.default_task: expected a string");
  EXPECT_EQ(parse_error(with_routing("  tasks: { name: a }\n")), "routing.tasks: expected a list");
  EXPECT_EQ(parse_error(with_routing("  tasks: [code]\n")), "routing.tasks[0]: expected a mapping");
  EXPECT_EQ(parse_error(with_routing("  tasks: [{ name: a, min_quality: high }]\n")),
            "routing.tasks[0].min_quality: expected a number");
  EXPECT_EQ(parse_error(with_routing("  tasks: [{ name: a, when: [tools] }]\n")),
            "routing.tasks[0].when: expected a mapping");
  EXPECT_EQ(parse_error(with_routing("  tasks: [{ name: a, when: { tools: yes } }]\n")),
            "routing.tasks[0].when.tools: expected a boolean");
  EXPECT_EQ(parse_error(with_routing("  tasks: [{ name: a, when: { json_schema: 1 } }]\n")),
            "routing.tasks[0].when.json_schema: expected a boolean");
  EXPECT_EQ(parse_error(with_routing("  tasks: [{ name: a, when: { images: \"\" } }]\n")),
            "routing.tasks[0].when.images: expected a boolean");
  EXPECT_EQ(parse_error(with_routing("  tasks: [{ name: a, when: { min_prompt_tokens: 1e3 } }]\n")),
            "routing.tasks[0].when.min_prompt_tokens: expected an integer");
  EXPECT_EQ(parse_error(with_routing("  tasks: [{ name: a, when: { regex: [a] } }]\n")),
            "routing.tasks[0].when.regex: expected a string");
  EXPECT_EQ(parse_error(with_routing("  weights: { cost: cheap }\n")),
            "routing.weights.cost: expected a number");
  EXPECT_EQ(parse_error(with_routing("  weights: 1\n")), "routing.weights: expected a mapping");
  EXPECT_EQ(parse_error(with_routing("  retry: { backoff_ms: 1.5 }\n")),
            "routing.retry.backoff_ms: expected an integer");
  EXPECT_EQ(parse_error(with_routing("  breaker: { window_ms: 10s }\n")),
            "routing.breaker.window_ms: expected an integer");
  EXPECT_EQ(parse_error(with_routing("  tiers: [free]\n")), "routing.tiers: expected a mapping");
  EXPECT_EQ(parse_error(with_routing("  tiers: { free: 1 }\n")),
            "routing.tiers.free: expected a mapping");
  EXPECT_EQ(parse_error(with_routing("  tiers: { free: { providers: openai } }\n")),
            "routing.tiers.free.providers: expected a list");
  EXPECT_EQ(parse_error(with_routing("  tiers: { free: { providers: [[openai]] } }\n")),
            "routing.tiers.free.providers[0]: expected a string");
  EXPECT_EQ(parse_error(with_routing("  tiers: { free: { weights: { cost: x } } }\n")),
            "routing.tiers.free.weights.cost: expected a number");
  EXPECT_EQ(parse_error(with_routing("  tiers: { free: { max_quality: x } }\n")),
            "routing.tiers.free.max_quality: expected a number");
  EXPECT_EQ(parse_error(with_routing("  hedge_max_fraction: lots\n")),
            "routing.hedge_max_fraction: expected a number");
}

TEST(ConfigErrors, RoutingRanges) {
  EXPECT_EQ(parse_error(with_routing("  tasks: [{ name: a, min_quality: 1.01 }]\n")),
            "routing.tasks[0].min_quality: must be <= 1");
  EXPECT_EQ(parse_error(with_routing("  tasks: [{ name: a, min_quality: -0.5 }]\n")),
            "routing.tasks[0].min_quality: must be >= 0");
  EXPECT_EQ(parse_error(with_routing("  tasks: [{ name: a, when: { min_prompt_tokens: 0 } }]\n")),
            "routing.tasks[0].when.min_prompt_tokens: must be >= 1");
  EXPECT_EQ(parse_error(with_routing("  weights: { latency: -1 }\n")),
            "routing.weights.latency: must be >= 0");
  EXPECT_EQ(parse_error(with_routing("  weights: { headroom: .inf }\n")),
            "routing.weights.headroom: expected a number");
  EXPECT_EQ(parse_error(with_routing("  retry: { max_attempts: 0 }\n")),
            "routing.retry.max_attempts: must be >= 1");
  EXPECT_EQ(parse_error(with_routing("  retry: { max_attempts: 21 }\n")),
            "routing.retry.max_attempts: must be <= 20");
  EXPECT_EQ(parse_error(with_routing("  retry: { backoff_ms: -1 }\n")),
            "routing.retry.backoff_ms: must be >= 0");
  EXPECT_EQ(parse_error(with_routing("  retry: { max_backoff_ms: -1 }\n")),
            "routing.retry.max_backoff_ms: must be >= 0");
  EXPECT_EQ(parse_error(with_routing("  breaker: { failures: 0 }\n")),
            "routing.breaker.failures: must be >= 1");
  EXPECT_EQ(parse_error(with_routing("  breaker: { window_ms: 0 }\n")),
            "routing.breaker.window_ms: must be >= 1");
  EXPECT_EQ(parse_error(with_routing("  breaker: { cooldown_ms: 0 }\n")),
            "routing.breaker.cooldown_ms: must be >= 1");
  EXPECT_EQ(parse_error(with_routing("  breaker: { min_failure_rate: 1.5 }\n")),
            "routing.breaker.min_failure_rate: must be <= 1");
  EXPECT_EQ(parse_error(with_routing("  tiers: { free: { max_quality: 2 } }\n")),
            "routing.tiers.free.max_quality: must be <= 1");
  EXPECT_EQ(parse_error(with_routing("  tiers: { free: { weights: { health: -0.1 } } }\n")),
            "routing.tiers.free.weights.health: must be >= 0");
  EXPECT_EQ(parse_error(with_routing("  hedge_max_fraction: 1.5\n")),
            "routing.hedge_max_fraction: must be <= 1");
  EXPECT_EQ(parse_error(with_routing("  hedge_max_fraction: -0.1\n")),
            "routing.hedge_max_fraction: must be >= 0");
}

TEST(ConfigErrors, RetryMaxBackoffBelowBackoff) {
  EXPECT_EQ(parse_error(with_routing("  retry: { backoff_ms: 500, max_backoff_ms: 100 }\n")),
            "routing.retry.max_backoff_ms: must be >= backoff_ms");
  EXPECT_EQ(parse_error(with_routing("  retry: { max_backoff_ms: 10 }\n")),
            "routing.retry.max_backoff_ms: must be >= backoff_ms");
  // Only backoff_ms given: it is the default max_backoff_ms it went past.
  EXPECT_EQ(parse_error(with_routing("  retry: { backoff_ms: 3000 }\n")),
            "routing.retry.backoff_ms: must be <= max_backoff_ms (2000 when not given)");
  const Config equal = parse(with_routing("  retry: { backoff_ms: 700, max_backoff_ms: 700 }\n"));
  EXPECT_EQ(equal.routing.retry.backoff, 700ms);
  EXPECT_EQ(equal.routing.retry.max_backoff, 700ms);
}

TEST(ConfigErrors, TaskNames) {
  EXPECT_EQ(parse_error(with_routing("  tasks: [{ min_quality: 0.5, when: { tools: true } }]\n")),
            "routing.tasks[0].name: is required");
  EXPECT_EQ(parse_error(with_routing("  tasks: [{ name: \"\", when: { tools: true } }]\n")),
            "routing.tasks[0].name: must not be empty");
  EXPECT_EQ(parse_error(with_routing("  tasks: [{ name: \"my task\", when: { tools: true } }]\n")),
            "routing.tasks[0].name: must contain only letters, digits, '.', '_' and '-'");
  EXPECT_EQ(parse_error(with_routing("  tasks: [{ name: a/b, when: { tools: true } }]\n")),
            "routing.tasks[0].name: must contain only letters, digits, '.', '_' and '-'");
  EXPECT_EQ(parse_error(with_routing("  tasks:\n"
                                     "    - { name: code, when: { tools: true } }\n"
                                     "    - { name: code, when: { images: true } }\n")),
            "routing.tasks[1].name: duplicate task name \"code\"");
  EXPECT_EQ(parse_error(with_routing("  default_task: \"\"\n")),
            "routing.default_task: must not be empty");
  EXPECT_EQ(parse_error(with_routing("  default_task: \"a b\"\n")),
            "routing.default_task: must contain only letters, digits, '.', '_' and '-'");
  EXPECT_EQ(parse_error(with_routing("  default_tier: \"\"\n")),
            "routing.default_tier: must not be empty");
  EXPECT_EQ(parse_error(with_routing("  default_tier: \"gold!\"\n")),
            "routing.default_tier: must contain only letters, digits, '.', '_' and '-'");
}

TEST(ConfigErrors, TaskWhen) {
  EXPECT_EQ(parse_error(with_routing("  tasks:\n"
                                     "    - { name: a, when: { tools: true } }\n"
                                     "    - { name: b, when: {} }\n")),
            "routing.tasks[1].when: needs at least one condition");
  // `match` alone is not a condition.
  EXPECT_EQ(parse_error(with_routing("  tasks: [{ name: a, when: { match: all } }]\n")),
            "routing.tasks[0].when: needs at least one condition");
  EXPECT_EQ(parse_error(with_routing("  tasks: [{ name: a, when: }]\n")),
            "routing.tasks[0].when: expected a mapping");
  EXPECT_EQ(parse_error(with_routing("  tasks: [{ name: a, when: { regex: \"\" } }]\n")),
            "routing.tasks[0].when.regex: must not be empty");
  EXPECT_EQ(
      parse_error(with_routing("  tasks: [{ name: a, when: { tools: true, match: both } }]\n")),
      "routing.tasks[0].when.match: unknown match \"both\" (expected any, all)");
  EXPECT_EQ(
      parse_error(with_routing("  tasks: [{ name: a, when: { tools: true, match: ALL } }]\n")),
      "routing.tasks[0].when.match: unknown match \"ALL\" (expected any, all)");
  EXPECT_EQ(
      parse_error(with_routing("  tasks: [{ name: a, when: { tools: true, match: [all] } }]\n")),
      "routing.tasks[0].when.match: expected a string");
  // The regex is not compiled here: RE2 syntax errors are the classifier's to report.
  const Config c = parse(with_routing("  tasks: [{ name: a, when: { regex: \"(unclosed\" } }]\n"));
  EXPECT_EQ(c.routing.tasks[0].when.regex, "(unclosed");
  // A false condition is still a condition.
  const Config f = parse(with_routing("  tasks: [{ name: a, when: { tools: false } }]\n"));
  EXPECT_EQ(f.routing.tasks[0].when.tools, std::optional<bool>(false));
}

TEST(ConfigErrors, TierProviders) {
  EXPECT_EQ(parse_error(with_routing("  tiers: { free: { providers: [openai, x] } }\n")),
            "routing.tiers.free.providers[1]: unknown provider \"x\"");
  EXPECT_EQ(parse_error(with_routing("  tiers: { free: { providers: [x] } }\n")),
            "routing.tiers.free.providers[0]: unknown provider \"x\"");
  EXPECT_EQ(parse_error(with_routing("  tiers: { free: { providers: [openai, openai] } }\n")),
            "routing.tiers.free.providers[1]: duplicate provider \"openai\"");
  EXPECT_EQ(parse_error(with_routing("  tiers: { free: { providers: [] } }\n")),
            "routing.tiers.free.providers: must not be empty (leave it out to allow every "
            "provider)");
}

TEST(ConfigErrors, TierNames) {
  EXPECT_EQ(parse_error(with_routing("  tiers: { \"free tier\": {} }\n")),
            "routing.tiers.free tier: must contain only letters, digits, '.', '_' and '-'");
  EXPECT_EQ(parse_error(with_routing("  tiers: { \"\": {} }\n")),
            "routing.tiers.: must not be empty");
  EXPECT_EQ(parse_error(with_routing("  tiers: { free: {}, free: { max_quality: 0.5 } }\n")),
            "routing.tiers.free: duplicate key");
  EXPECT_EQ(parse_error(with_routing("  tiers: { [a]: {} }\n")),
            "routing.tiers: keys must be strings");
}

TEST(ConfigErrors, Strategy) {
  const std::string yaml = std::string(kProviders) +
                           "models:\n  - name: m\n    strategy: random\n"
                           "    deployments: [{ provider: openai, model: x }]\n";
  EXPECT_EQ(parse_error(yaml),
            "models[0].strategy: unknown strategy \"random\" (expected score, fallback, weighted)");
  const std::string zero = std::string(kProviders) +
                           "models:\n  - name: m\n    strategy: weighted\n"
                           "    deployments: [{ provider: openai, model: x, weight: 0 }]\n";
  EXPECT_EQ(parse_error(zero),
            "models[0].deployments: strategy weighted needs a deployment with weight > 0");
}

// --- prefill ----------------------------------------------------------------------------------

TEST(ConfigParse, PrefillValues) {
  auto prefill_of = [](const std::string& v) {
    return parse(with_deployment_line("prefill: " + v)).models[0].deployments[0].prefill;
  };
  EXPECT_EQ(prefill_of("auto"), Prefill::auto_);
  EXPECT_EQ(prefill_of("\"auto\""), Prefill::auto_);
  EXPECT_EQ(prefill_of("true"), Prefill::yes);
  EXPECT_EQ(prefill_of("false"), Prefill::no);
  EXPECT_EQ(prefill_of("True"), Prefill::yes);
  EXPECT_EQ(parse_error(with_deployment_line("prefill: maybe")),
            "models[0].deployments[0].prefill: expected auto, true or false");
  EXPECT_EQ(parse_error(with_deployment_line("prefill: 1")),
            "models[0].deployments[0].prefill: expected auto, true or false");
  EXPECT_EQ(parse_error(with_deployment_line("prefill:")),
            "models[0].deployments[0].prefill: expected auto, true or false");
}

// --- server.listen --------------------------------------------------------------------------

struct ListenCase {
  const char* listen;
  const char* host;
  std::uint16_t port;
};

TEST(ConfigParse, ListenForms) {
  for (const auto& tc :
       {ListenCase{"127.0.0.1:8080", "127.0.0.1", 8080}, ListenCase{"[::]:8080", "::", 8080},
        ListenCase{"[::1]:443", "::1", 443}, ListenCase{"localhost:0", "localhost", 0},
        ListenCase{"0.0.0.0:65535", "0.0.0.0", 65535}}) {
    SCOPED_TRACE(tc.listen);
    const Config c = parse(with_server(std::string("  listen: \"") + tc.listen + "\"\n"));
    EXPECT_EQ(c.server.listen, tc.listen);
    EXPECT_EQ(c.server.host, tc.host);
    EXPECT_EQ(c.server.port, tc.port);
  }
}

TEST(ConfigErrors, ListenRejectsBadForms) {
  for (const char* bad :
       {"8080", "localhost", "::1:8080", "[::1]8080", "[::1]", "[::1", "[]:80", "[localhost]:80",
        ":8080", "host:", "host:http", "host:80:90", "bad host:80", "host:-1"}) {
    SCOPED_TRACE(bad);
    EXPECT_EQ(parse_error(with_server(std::string("  listen: \"") + bad + "\"\n")),
              "server.listen: expected host:port");
  }
  EXPECT_EQ(parse_error(with_server("  listen: \"localhost:65536\"\n")),
            "server.listen: port must be between 0 and 65535");
  EXPECT_EQ(parse_error(with_server("  listen: \"localhost:99999999999\"\n")),
            "server.listen: port must be between 0 and 65535");
}

// --- providers[].base_url ---------------------------------------------------------------------

struct UrlCase {
  const char* base_url;
  bool https;
  const char* host;
  std::uint16_t port;
  const char* path;
  const char* host_header;
};

TEST(ConfigParse, BaseUrlForms) {
  for (const auto& tc : {
           UrlCase{"https://api.openai.com/v1", true, "api.openai.com", 443, "/v1",
                   "api.openai.com"},
           UrlCase{"https://api.openai.com/v1/", true, "api.openai.com", 443, "/v1",
                   "api.openai.com"},
           UrlCase{"https://api.anthropic.com", true, "api.anthropic.com", 443, "",
                   "api.anthropic.com"},
           UrlCase{"https://host/", true, "host", 443, "", "host"},
           UrlCase{"http://localhost:8000/v1//", false, "localhost", 8000, "/v1", "localhost:8000"},
           UrlCase{"http://mock", false, "mock", 80, "", "mock"},
           UrlCase{"http://mock:80/a/b", false, "mock", 80, "/a/b", "mock"},
           UrlCase{"https://h:80", true, "h", 80, "", "h:80"},
           UrlCase{"http://h:443", false, "h", 443, "", "h:443"},
           UrlCase{"http://[::1]:9000/v1", false, "::1", 9000, "/v1", "[::1]:9000"},
           UrlCase{"https://[2001:db8::1]/", true, "2001:db8::1", 443, "", "[2001:db8::1]"},
           UrlCase{"HTTPS://Example.com/V1", true, "Example.com", 443, "/V1", "Example.com"},
       }) {
    SCOPED_TRACE(tc.base_url);
    const Config c =
        parse(std::string("providers:\n  - { name: openai, kind: openai, base_url: \"") +
              tc.base_url + "\" }\n" + kModels);
    const Url& url = c.providers[0].url;
    EXPECT_EQ(c.providers[0].base_url, tc.base_url);
    EXPECT_EQ(url.https, tc.https);
    EXPECT_EQ(url.host, tc.host);
    EXPECT_EQ(url.port, tc.port);
    EXPECT_EQ(url.path, tc.path);
    EXPECT_EQ(url.host_header(), tc.host_header);
  }
}

TEST(ConfigErrors, BaseUrlRejectsBadForms) {
  auto error_for = [](const std::string& url) {
    return parse_error("providers:\n  - { name: openai, kind: openai, base_url: \"" + url +
                       "\" }\n" + kModels);
  };
  const std::string expected_url = "providers[0].base_url: expected an http:// or https:// URL";
  EXPECT_EQ(error_for("api.openai.com/v1"), expected_url);
  EXPECT_EQ(error_for("ftp://x"), expected_url);
  EXPECT_EQ(error_for("https://"), expected_url);
  EXPECT_EQ(error_for("https:///v1"), expected_url);
  EXPECT_EQ(error_for("https://::1/v1"), expected_url);
  EXPECT_EQ(error_for("https://h:/v1"), expected_url);
  EXPECT_EQ(error_for("https://h:x/v1"), expected_url);
  EXPECT_EQ(error_for("https://h:0"), "providers[0].base_url: port must be between 1 and 65535");
  EXPECT_EQ(error_for("https://h:70000"),
            "providers[0].base_url: port must be between 1 and 65535");
  EXPECT_EQ(error_for("https://h/v1?x=1"),
            "providers[0].base_url: must not contain a query or a fragment");
  EXPECT_EQ(error_for("https://user:pw@h/v1"),
            "providers[0].base_url: must not contain user info (put credentials in api_key or "
            "headers)");
  EXPECT_EQ(error_for("https://h/a b"),
            "providers[0].base_url: must not contain spaces or control characters");
}

TEST(ConfigUrl, HostHeaderOmitsOnlyTheSchemeDefaultPort) {
  EXPECT_EQ((Url{true, "a.example", 443, ""}).host_header(), "a.example");
  EXPECT_EQ((Url{false, "a.example", 80, ""}).host_header(), "a.example");
  EXPECT_EQ((Url{false, "a.example", 443, ""}).host_header(), "a.example:443");
  EXPECT_EQ((Url{true, "a.example", 8443, ""}).host_header(), "a.example:8443");
  EXPECT_EQ((Url{true, "::1", 443, ""}).host_header(), "[::1]");
  EXPECT_EQ((Url{false, "::1", 8080, ""}).host_header(), "[::1]:8080");
}

// --- Environment interpolation -----------------------------------------------------------------

TEST(ConfigEnv, SetVariableIsSubstituted) {
  ScopedEnv env("SY_TEST_KEY", "sk-secret");
  EXPECT_EQ(interpolate_env("api_key: \"${SY_TEST_KEY}\"\n"), "api_key: \"sk-secret\"\n");
  EXPECT_EQ(interpolate_env("a${SY_TEST_KEY}b${SY_TEST_KEY}"), "ask-secretbsk-secret");
}

TEST(ConfigEnv, DefaultIsUsedWhenUnsetOrEmpty) {
  ScopedEnv unset("SY_TEST_UNSET", std::nullopt);
  ScopedEnv empty("SY_TEST_EMPTY", "");
  ScopedEnv set("SY_TEST_SET", "value");
  EXPECT_EQ(interpolate_env("${SY_TEST_UNSET:-fallback}"), "fallback");
  EXPECT_EQ(interpolate_env("${SY_TEST_EMPTY:-fallback}"), "fallback");
  EXPECT_EQ(interpolate_env("${SY_TEST_SET:-fallback}"), "value");
  EXPECT_EQ(interpolate_env("x${SY_TEST_UNSET:-}y"), "xy");
  EXPECT_EQ(interpolate_env("${SY_TEST_UNSET:-http://h:1/a b}"), "http://h:1/a b");
}

TEST(ConfigEnv, SetButEmptyWithoutDefaultIsEmpty) {
  ScopedEnv empty("SY_TEST_EMPTY", "");
  EXPECT_EQ(interpolate_env("k: \"${SY_TEST_EMPTY}\""), "k: \"\"");
}

TEST(ConfigEnv, UnsetVariableNamesVariableAndLine) {
  ScopedEnv unset("SY_TEST_UNSET", std::nullopt);
  EXPECT_EQ(interpolate_error("a: 1\nb: 2\n\nkey: \"${SY_TEST_UNSET}\"\n"),
            "line 4: environment variable SY_TEST_UNSET is not set");
  EXPECT_EQ(interpolate_error("${SY_TEST_UNSET}"),
            "line 1: environment variable SY_TEST_UNSET is not set");
}

TEST(ConfigEnv, DollarDollarBraceIsALiteral) {
  ScopedEnv unset("SY_TEST_UNSET", std::nullopt);
  EXPECT_EQ(interpolate_env("regex: \"$${SY_TEST_UNSET}\""), "regex: \"${SY_TEST_UNSET}\"");
  // A lone $ and $$ not followed by { are left alone.
  EXPECT_EQ(interpolate_env("p: a$b$$c$"), "p: a$b$$c$");
  // The escape's output is not scanned again.
  EXPECT_EQ(interpolate_env("$${A}${SY_TEST_UNSET:-x}"), "${A}x");
}

TEST(ConfigEnv, SubstitutedValuesAreNotScannedAgain) {
  ScopedEnv inner("SY_TEST_INNER", "${SY_TEST_UNSET}");
  ScopedEnv unset("SY_TEST_UNSET", std::nullopt);
  EXPECT_EQ(interpolate_env("${SY_TEST_INNER}"), "${SY_TEST_UNSET}");
}

TEST(ConfigEnv, MalformedReferences) {
  const std::string forms = "(expected ${NAME} or ${NAME:-default}; write $${ for a literal ${)";
  EXPECT_EQ(interpolate_error("a\nb: ${}"), "line 2: invalid variable reference " + forms);
  EXPECT_EQ(interpolate_error("${1X}"), "line 1: invalid variable reference " + forms);
  EXPECT_EQ(interpolate_error("${X-y}"), "line 1: invalid variable reference to X " + forms);
  EXPECT_EQ(interpolate_error("${X"), "line 1: invalid variable reference to X " + forms);
  EXPECT_EQ(interpolate_error("${X:-abc\n}"),
            "line 1: unterminated ${X:-... (the default must end with } on the same line)");
  EXPECT_EQ(interpolate_error("${X:-${Y}}"),
            "line 1: nested ${...} in the default of X is not supported");
}

TEST(ConfigEnv, InterpolatedValuesReachTheParsedConfig) {
  ScopedEnv key("SY_TEST_KEY", "sk-live");
  ScopedEnv conns("SY_TEST_CONNS", std::nullopt);
  const Config c = parse(interpolate_env(with_provider_line(
      "api_key: \"${SY_TEST_KEY}\"\n    max_connections: ${SY_TEST_CONNS:-12}")));
  EXPECT_EQ(c.providers[0].api_key, "sk-live");
  EXPECT_EQ(c.providers[0].max_connections, 12);
}

// --- load_file ---------------------------------------------------------------------------------

class ConfigLoadFile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("switchyard_config_test_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& text) {
    const auto path = dir_ / name;
    std::ofstream(path, std::ios::binary) << text;
    return path.string();
  }

  std::filesystem::path dir_;
};

TEST_F(ConfigLoadFile, ReadsInterpolatesAndParses) {
  ScopedEnv key("SY_TEST_KEY", "sk-file");
  const std::string path =
      write("ok.yaml", with_provider_line("api_key: \"${SY_TEST_KEY}\"") + "# $${NOT_A_VAR}\n");
  const Config c = load_file(path);
  EXPECT_EQ(c.providers[0].api_key, "sk-file");
  EXPECT_EQ(c.models[0].name, "m");
}

TEST_F(ConfigLoadFile, MissingFile) {
  const std::string path = (dir_ / "nope.yaml").string();
  EXPECT_EQ(load_error(path), "cannot read " + path + ": No such file or directory");
}

TEST_F(ConfigLoadFile, Directory) {
  EXPECT_EQ(load_error(dir_.string()), "cannot read " + dir_.string() + ": Is a directory");
}

TEST_F(ConfigLoadFile, EmptyFile) {
  const std::string empty = write("empty.yaml", "");
  EXPECT_EQ(load_error(empty), empty + ": file is empty");
  const std::string blank = write("blank.yaml", "\n  \n\t\n");
  EXPECT_EQ(load_error(blank), blank + ": file is empty");
}

TEST_F(ConfigLoadFile, UnsetVariableInFile) {
  ScopedEnv unset("SY_TEST_UNSET", std::nullopt);
  const std::string path = write("unset.yaml", with_provider_line("api_key: \"${SY_TEST_UNSET}\""));
  // kProviders starts with a blank line: providers: is line 2, the api_key line is 6.
  EXPECT_EQ(load_error(path), "line 6: environment variable SY_TEST_UNSET is not set");
}

TEST_F(ConfigLoadFile, ParseErrorsPassThrough) {
  const std::string path = write("bad.yaml", kMinimal + "cache: {}\n");
  EXPECT_EQ(load_error(path), "cache: not supported yet");
}

}  // namespace
}  // namespace switchyard::config
