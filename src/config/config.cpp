// Loader for the YAML configuration described in docs/configuration.md.
//
// Runs once at start-up on the main thread, so it throws ConfigError instead of returning
// error values. Every message is "path: message" where path names the field as the user
// wrote it (`models[2].deployments[0].price.input`), because that is what they must fix.
// Error messages never echo values: the file holds secrets (api_key) after interpolation.

#include "switchyard/config/config.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace switchyard::config {
namespace detail {
namespace {

constexpr std::int64_t kMaxInt = std::numeric_limits<int>::max();
constexpr std::int64_t kMaxInt64 = std::numeric_limits<std::int64_t>::max();
// Bounds that keep `now + duration` and `4 * max_connections` far from overflow and catch
// typos (an extra zero in workers spawns ten times the threads).
constexpr std::int64_t kMaxMillis = 2147483647;  // about 24.8 days
constexpr std::int64_t kMaxWorkers = 1024;
constexpr std::int64_t kMaxConnections = 65535;
constexpr double kInf = std::numeric_limits<double>::infinity();

[[noreturn]] void fail(const std::string& path, std::string_view message) {
  throw ConfigError(path + ": " + std::string(message));
}

[[noreturn]] void fail_at_line(std::size_t line, std::string_view message) {
  fail("line " + std::to_string(line), message);
}

std::string join(const std::string& parent, std::string_view key) {
  if (parent.empty()) return std::string(key);
  std::string out = parent;
  out += '.';
  out += key;
  return out;
}

std::string indexed(const std::string& parent, std::size_t i) {
  return parent + "[" + std::to_string(i) + "]";
}

std::string quoted(std::string_view s) {
  std::string out = "\"";
  out += s;
  out += '"';
  return out;
}

/// Formats a bound for "must be >= X": integers without a fractional part.
std::string format_bound(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

/// True if `s` has a control character (CTL per RFC 9110); HTAB only when !allow_tab.
bool has_control(std::string_view s, bool allow_tab) {
  return std::any_of(s.begin(), s.end(), [allow_tab](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '\t') return !allow_tab;
    return c < 0x20 || c == 0x7f;
  });
}

// --- A mapping with a closed set of keys ------------------------------------------------

/// Validates a YAML mapping up front: it is a mapping, every key is a string, no key is
/// repeated (yaml-cpp keeps both copies silently) and every key is known. Fields are then
/// read in schema order, not file order, so cross-field rules (api_version needs kind)
/// do not depend on how the user ordered the keys.
class Fields {
 public:
  Fields(const YAML::Node& node, std::string path, const std::vector<std::string_view>& known)
      : path_(std::move(path)) {
    if (!node.IsMap()) fail(path_, "expected a mapping");
    for (auto it = node.begin(); it != node.end(); ++it) {
      if (!it->first.IsScalar()) fail(path_, "keys must be strings");
      const std::string& key = it->first.Scalar();
      if (std::find(known.begin(), known.end(), key) == known.end()) {
        std::string expected;
        for (auto k : known) {
          if (!expected.empty()) expected += ", ";
          expected += k;
        }
        fail(join(path_, key), "unknown key (expected one of: " + expected + ")");
      }
      if (get(key) != nullptr) fail(join(path_, key), "duplicate key");
      entries_.emplace_back(key, it->second);
    }
  }

  /// nullptr when the key is absent.
  const YAML::Node* get(std::string_view key) const {
    for (const auto& [k, v] : entries_) {
      if (k == key) return &v;
    }
    return nullptr;
  }

  std::string path_of(std::string_view key) const { return join(path_, key); }

 private:
  std::string path_;
  std::vector<std::pair<std::string, YAML::Node>> entries_;
};

// --- Scalars ----------------------------------------------------------------------------
// A scalar is read by the type of the field it fills; quoting does not change that
// (`max_connections: "8"` is 8, `api_key: 12345` is "12345"). Null (`key:` or `key: ~`) is
// never a value.

const std::string& scalar_text(const YAML::Node& node, const std::string& path,
                               std::string_view type_error) {
  if (!node.IsScalar()) fail(path, type_error);
  return node.Scalar();
}

std::string read_string(const YAML::Node& node, const std::string& path) {
  return scalar_text(node, path, "expected a string");
}

std::optional<bool> parse_bool_literal(std::string_view s) {
  // YAML 1.2 core schema; yes/no/on/off (YAML 1.1) are deliberately not booleans.
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  return std::nullopt;
}

bool read_bool(const YAML::Node& node, const std::string& path) {
  auto v = parse_bool_literal(scalar_text(node, path, "expected a boolean"));
  if (!v) fail(path, "expected a boolean");
  return *v;
}

/// `type_error` lets a field that also takes a keyword say so (hedge_after_ms: "p95").
std::int64_t read_int(const YAML::Node& node, const std::string& path, std::int64_t lo,
                      std::int64_t hi, std::string_view type_error = "expected an integer") {
  std::string_view s = scalar_text(node, path, type_error);
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  std::int64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || end != s.data() + s.size() ||
      (ec != std::errc() && ec != std::errc::result_out_of_range)) {
    fail(path, type_error);
  }
  if (ec == std::errc::result_out_of_range) {
    if (s.front() == '-') fail(path, "must be >= " + std::to_string(lo));
    fail(path, "must be <= " + std::to_string(hi));
  }
  if (v < lo) fail(path, "must be >= " + std::to_string(lo));
  if (v > hi) fail(path, "must be <= " + std::to_string(hi));
  return v;
}

double read_number(const YAML::Node& node, const std::string& path, double lo, double hi) {
  std::string_view s = scalar_text(node, path, "expected a number");
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  double v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  // from_chars also accepts "inf" and "nan"; neither is a price or a quality.
  if (s.empty() || ec != std::errc() || end != s.data() + s.size() || !std::isfinite(v)) {
    fail(path, "expected a number");
  }
  if (v < lo) fail(path, "must be >= " + format_bound(lo));
  if (v > hi) fail(path, "must be <= " + format_bound(hi));
  return v;
}

// Assign-if-present readers: the struct's initializer is the default.

void read_field(const Fields& f, std::string_view key, std::string& out) {
  if (const auto* n = f.get(key)) out = read_string(*n, f.path_of(key));
}
void read_field(const Fields& f, std::string_view key, bool& out) {
  if (const auto* n = f.get(key)) out = read_bool(*n, f.path_of(key));
}
void read_field(const Fields& f, std::string_view key, int& out, std::int64_t lo, std::int64_t hi) {
  if (const auto* n = f.get(key)) out = static_cast<int>(read_int(*n, f.path_of(key), lo, hi));
}
void read_field(const Fields& f, std::string_view key, std::int64_t& out, std::int64_t lo,
                std::int64_t hi) {
  if (const auto* n = f.get(key)) out = read_int(*n, f.path_of(key), lo, hi);
}
void read_field(const Fields& f, std::string_view key, std::size_t& out, std::int64_t lo,
                std::int64_t hi) {
  if (const auto* n = f.get(key)) {
    out = static_cast<std::size_t>(read_int(*n, f.path_of(key), lo, hi));
  }
}
void read_field(const Fields& f, std::string_view key, double& out, double lo, double hi) {
  if (const auto* n = f.get(key)) out = read_number(*n, f.path_of(key), lo, hi);
}
void read_field(const Fields& f, std::string_view key, std::optional<double>& out, double lo,
                double hi) {
  if (const auto* n = f.get(key)) out = read_number(*n, f.path_of(key), lo, hi);
}
void read_field(const Fields& f, std::string_view key, std::optional<bool>& out) {
  if (const auto* n = f.get(key)) out = read_bool(*n, f.path_of(key));
}
/// Durations: `key` is the file's name (ends in _ms); the value is > 0.
void read_millis(const Fields& f, std::string_view key, Millis& out) {
  if (const auto* n = f.get(key)) out = Millis{read_int(*n, f.path_of(key), 1, kMaxMillis)};
}

std::string required_string(const Fields& f, std::string_view key) {
  const auto* n = f.get(key);
  if (n == nullptr) fail(f.path_of(key), "is required");
  return read_string(*n, f.path_of(key));
}

/// Required, non-empty, one line: names end up in headers, metrics and logs.
std::string required_name(const Fields& f, std::string_view key) {
  std::string s = required_string(f, key);
  if (s.empty()) fail(f.path_of(key), "must not be empty");
  if (has_control(s, /*allow_tab=*/false)) {
    fail(f.path_of(key), "must not contain control characters");
  }
  return s;
}

// --- Addresses ----------------------------------------------------------------------------

bool is_ipv6_literal(std::string_view s) {
  if (s.find(':') == std::string_view::npos) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.';
  });
}

bool is_host_name(std::string_view s) {
  if (s.empty()) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_';
  });
}

/// Splits "host", "host:port", "[v6]" or "[v6]:port". The host comes back without
/// brackets. Returns false when the shape is wrong; the port text is left unparsed.
bool split_host_port(std::string_view s, std::string& host, std::optional<std::string_view>& port) {
  std::string_view rest;
  if (!s.empty() && s.front() == '[') {
    const auto close = s.find(']');
    if (close == std::string_view::npos) return false;
    const auto inner = s.substr(1, close - 1);
    if (!is_ipv6_literal(inner)) return false;
    host = std::string(inner);
    rest = s.substr(close + 1);
  } else {
    const auto colon = s.find(':');
    const auto name = s.substr(0, colon);
    // More than one colon means an IPv6 literal without brackets: ambiguous, refused.
    if (!is_host_name(name)) return false;
    host = std::string(name);
    rest = colon == std::string_view::npos ? std::string_view{} : s.substr(colon);
  }
  if (rest.empty()) {
    port.reset();
    return true;
  }
  if (rest.front() != ':' || rest.size() < 2) return false;
  port = rest.substr(1);
  return true;
}

/// Parses a decimal port; nullopt if it is not all digits. Saturates at 100000 so a long
/// digit string is reported as out of range rather than wrapping.
std::optional<std::uint32_t> parse_port_digits(std::string_view s) {
  if (s.empty()) return std::nullopt;
  std::uint32_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = std::min<std::uint32_t>(v * 10 + static_cast<std::uint32_t>(c - '0'), 100000);
  }
  return v;
}

void parse_listen(const std::string& text, const std::string& path, Server& server) {
  std::string host;
  std::optional<std::string_view> port_text;
  if (!split_host_port(text, host, port_text) || !port_text) fail(path, "expected host:port");
  const auto port = parse_port_digits(*port_text);
  if (!port) fail(path, "expected host:port");
  if (*port > 65535) fail(path, "port must be between 0 and 65535");
  server.host = std::move(host);
  server.port = static_cast<std::uint16_t>(*port);
}

Url parse_url(const std::string& text, const std::string& path) {
  constexpr std::string_view kExpected = "expected an http:// or https:// URL";
  if (has_control(text, /*allow_tab=*/false) || text.find(' ') != std::string::npos) {
    fail(path, "must not contain spaces or control characters");
  }
  Url url;
  std::string_view rest = text;
  auto starts_with_ci = [](std::string_view s, std::string_view prefix) {
    return s.size() >= prefix.size() &&
           std::equal(prefix.begin(), prefix.end(), s.begin(), [](char a, char b) {
             return std::tolower(static_cast<unsigned char>(a)) ==
                    std::tolower(static_cast<unsigned char>(b));
           });
  };
  if (starts_with_ci(rest, "https://")) {
    url.https = true;
    rest.remove_prefix(8);
  } else if (starts_with_ci(rest, "http://")) {
    url.https = false;
    rest.remove_prefix(7);
  } else {
    fail(path, kExpected);
  }
  if (rest.find_first_of("?#") != std::string_view::npos) {
    fail(path, "must not contain a query or a fragment");
  }
  const auto slash = rest.find('/');
  const auto authority = rest.substr(0, slash);
  if (authority.find('@') != std::string_view::npos) {
    fail(path, "must not contain user info (put credentials in api_key or headers)");
  }
  std::optional<std::string_view> port_text;
  if (!split_host_port(authority, url.host, port_text)) fail(path, kExpected);
  if (port_text) {
    const auto port = parse_port_digits(*port_text);
    if (!port) fail(path, kExpected);
    if (*port < 1 || *port > 65535) fail(path, "port must be between 1 and 65535");
    url.port = static_cast<std::uint16_t>(*port);
  } else {
    url.port = url.https ? 443 : 80;
  }
  url.path = slash == std::string_view::npos ? std::string{} : std::string(rest.substr(slash));
  while (!url.path.empty() && url.path.back() == '/') url.path.pop_back();
  return url;
}

// --- Sections -----------------------------------------------------------------------------

void parse_server(const YAML::Node& node, const std::string& path, Config& config) {
  const Fields f(node, path,
                 {"listen", "workers", "max_body_bytes", "max_header_bytes", "header_timeout_ms",
                  "idle_timeout_ms", "drain_timeout_ms", "tls"});
  Server& s = config.server;
  if (const auto* n = f.get("listen")) {
    s.listen = read_string(*n, f.path_of("listen"));
    parse_listen(s.listen, f.path_of("listen"), s);
  }
  read_field(f, "workers", s.workers, 0, kMaxWorkers);
  read_field(f, "max_body_bytes", s.max_body_bytes, 1, kMaxInt64);
  // Beast's header_limit is 32-bit.
  read_field(f, "max_header_bytes", s.max_header_bytes, 1,
             std::numeric_limits<std::uint32_t>::max());
  read_millis(f, "header_timeout_ms", s.header_timeout);
  read_millis(f, "idle_timeout_ms", s.idle_timeout);
  read_millis(f, "drain_timeout_ms", s.drain_timeout);
  if (const auto* n = f.get("tls")) {
    const Fields t(*n, f.path_of("tls"), {"cert", "key"});
    TlsServer tls;
    tls.cert = required_string(t, "cert");
    if (tls.cert.empty()) fail(t.path_of("cert"), "must not be empty");
    tls.key = required_string(t, "key");
    if (tls.key.empty()) fail(t.path_of("key"), "must not be empty");
    s.tls = std::move(tls);
  }
}

struct KindName {
  std::string_view name;
  ProviderKind kind;
  bool supported;  ///< flip when the adapter lands
};
constexpr std::array kKinds = {
    KindName{"openai", ProviderKind::openai, true},
    KindName{"azure", ProviderKind::azure, true},
    KindName{"anthropic", ProviderKind::anthropic, true},
    KindName{"gemini", ProviderKind::gemini, true},
};

ProviderKind parse_kind(const std::string& text, const std::string& path) {
  for (const auto& k : kKinds) {
    if (k.name != text) continue;
    if (!k.supported) fail(path, "kind " + quoted(text) + " is not supported yet");
    return k.kind;
  }
  fail(path, "unknown kind " + quoted(text) + " (expected openai, azure, anthropic, gemini)");
}

bool is_token_char(char c) {
  // RFC 9110 tchar.
  return std::isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

std::string lowercase(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

void parse_headers(const YAML::Node& node, const std::string& path, Provider& provider) {
  if (!node.IsMap()) fail(path, "expected a mapping");
  // The gateway owns framing and connection management; a user value here would corrupt
  // the message or the pool.
  static constexpr std::array<std::string_view, 9> kReserved = {
      "host", "content-length", "transfer-encoding", "connection", "keep-alive", "upgrade",
      "te",   "trailer",        "proxy-connection"};
  for (auto it = node.begin(); it != node.end(); ++it) {
    if (!it->first.IsScalar()) fail(path, "keys must be strings");
    const std::string& name = it->first.Scalar();
    const std::string p = join(path, name);
    if (name.empty() || !std::all_of(name.begin(), name.end(), is_token_char)) {
      fail(p, "invalid header name");
    }
    const std::string lower = lowercase(name);
    if (std::find(kReserved.begin(), kReserved.end(), lower) != kReserved.end()) {
      fail(p, "header is set by the gateway");
    }
    for (const auto& [existing, _] : provider.headers) {
      if (lowercase(existing) == lower) fail(p, "duplicate header");
    }
    std::string value = read_string(it->second, p);
    if (has_control(value, /*allow_tab=*/true)) fail(p, "must not contain control characters");
    provider.headers.emplace_back(name, std::move(value));
  }
}

/// Provider, task and tier names appear in response headers (x-switchyard-deployment is
/// "provider/model", x-switchyard-route names the task), are matched against request headers
/// and become metrics labels, so they are kept to a small, unambiguous alphabet.
bool is_simple_name(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
  });
}

constexpr std::string_view kSimpleNameRule = "must contain only letters, digits, '.', '_' and '-'";

/// For names that are not read through required_name (defaults, mapping keys).
void check_simple_name(const std::string& s, const std::string& path) {
  if (s.empty()) fail(path, "must not be empty");
  if (!is_simple_name(s)) fail(path, kSimpleNameRule);
}

Provider parse_provider(const YAML::Node& node, const std::string& path) {
  const Fields f(node, path,
                 {"name", "kind", "base_url", "api_key", "headers", "api_version",
                  "max_connections", "max_queue", "pool_idle_ms", "tls", "timeouts"});
  Provider p;
  p.name = required_name(f, "name");
  if (!is_simple_name(p.name)) fail(f.path_of("name"), kSimpleNameRule);
  p.kind = parse_kind(required_string(f, "kind"), f.path_of("kind"));
  p.base_url = required_string(f, "base_url");
  p.url = parse_url(p.base_url, f.path_of("base_url"));
  read_field(f, "api_key", p.api_key);
  if (has_control(p.api_key, /*allow_tab=*/false)) {
    // Most often a trailing newline from a secret file; it would break the request head.
    fail(f.path_of("api_key"), "must not contain control characters");
  }
  if (const auto* n = f.get("headers")) parse_headers(*n, f.path_of("headers"), p);
  if (const auto* n = f.get("api_version")) {
    if (p.kind != ProviderKind::azure) fail(f.path_of("api_version"), "only for kind azure");
    p.api_version = read_string(*n, f.path_of("api_version"));
  }
  read_field(f, "max_connections", p.max_connections, 1, kMaxConnections);
  read_field(f, "max_queue", p.max_queue, 0, kMaxInt);
  if (p.max_queue == 0) p.max_queue = 4 * p.max_connections;
  read_millis(f, "pool_idle_ms", p.pool_idle);
  if (const auto* n = f.get("tls")) {
    const Fields t(*n, f.path_of("tls"), {"verify", "ca_file"});
    read_field(t, "verify", p.tls.verify);
    read_field(t, "ca_file", p.tls.ca_file);
  }
  if (const auto* n = f.get("timeouts")) {
    const Fields t(*n, f.path_of("timeouts"),
                   {"connect_ms", "first_byte_ms", "first_token_ms", "idle_ms", "total_ms"});
    read_millis(t, "connect_ms", p.timeouts.connect);
    read_millis(t, "first_byte_ms", p.timeouts.first_byte);
    read_millis(t, "first_token_ms", p.timeouts.first_token);
    read_millis(t, "idle_ms", p.timeouts.idle);
    read_millis(t, "total_ms", p.timeouts.total);
  }
  return p;
}

void parse_providers(const YAML::Node& node, const std::string& path, Config& config) {
  if (!node.IsSequence()) fail(path, "expected a list");
  if (node.size() == 0) fail(path, "at least one provider is required");
  for (std::size_t i = 0; i < node.size(); ++i) {
    const std::string item_path = indexed(path, i);
    Provider p = parse_provider(node[i], item_path);
    for (const auto& other : config.providers) {
      if (other.name == p.name) {
        fail(join(item_path, "name"), "duplicate provider name " + quoted(p.name));
      }
    }
    config.providers.push_back(std::move(p));
  }
}

Strategy parse_strategy(const std::string& text, const std::string& path) {
  if (text == "score") return Strategy::score;
  if (text == "fallback") return Strategy::fallback;
  if (text == "weighted") return Strategy::weighted;
  fail(path, "unknown strategy " + quoted(text) + " (expected score, fallback, weighted)");
}

Prefill parse_prefill(const YAML::Node& node, const std::string& path) {
  constexpr std::string_view kExpected = "expected auto, true or false";
  const std::string& s = scalar_text(node, path, kExpected);
  if (s == "auto") return Prefill::auto_;
  if (auto b = parse_bool_literal(s)) return *b ? Prefill::yes : Prefill::no;
  fail(path, kExpected);
}

void parse_price(const YAML::Node& node, const std::string& path, Price& price) {
  const Fields f(node, path, {"input", "output", "cached_input", "cache_write"});
  read_field(f, "input", price.input, 0.0, kInf);
  read_field(f, "output", price.output, 0.0, kInf);
  read_field(f, "cached_input", price.cached_input, 0.0, kInf);
  read_field(f, "cache_write", price.cache_write, 0.0, kInf);
}

Deployment parse_deployment(const YAML::Node& node, const std::string& path, const Config& config) {
  const Fields f(
      node, path,
      {"provider", "model", "price", "quality", "weight", "max_rpm", "context_window", "prefill"});
  Deployment d;
  d.provider = required_string(f, "provider");
  const auto found = std::find_if(config.providers.begin(), config.providers.end(),
                                  [&](const Provider& p) { return p.name == d.provider; });
  if (found == config.providers.end()) {
    fail(f.path_of("provider"), "unknown provider " + quoted(d.provider));
  }
  d.provider_index = static_cast<std::size_t>(found - config.providers.begin());
  d.model = required_name(f, "model");
  if (const auto* n = f.get("price")) parse_price(*n, f.path_of("price"), d.price);
  read_field(f, "quality", d.quality, 0.0, 1.0);
  read_field(f, "weight", d.weight, 0.0, kInf);
  read_field(f, "max_rpm", d.max_rpm, 0, kMaxInt);
  read_field(f, "context_window", d.context_window, 0, kMaxInt64);
  if (const auto* n = f.get("prefill")) d.prefill = parse_prefill(*n, f.path_of("prefill"));
  return d;
}

Model parse_model(const YAML::Node& node, const std::string& path, const Config& config) {
  const Fields f(node, path, {"name", "strategy", "hedge_after_ms", "deployments"});
  Model m;
  m.name = required_name(f, "name");
  if (const auto* n = f.get("strategy")) {
    m.strategy = parse_strategy(read_string(*n, f.path_of("strategy")), f.path_of("strategy"));
  }
  if (const auto* n = f.get("hedge_after_ms")) {
    // 0 = off. "p95" leaves hedge_after at 0 and lets the router use each deployment's own
    // observed p95 time to first token instead of one fixed delay.
    constexpr std::string_view kExpected = "expected an integer or \"p95\"";
    const std::string path = f.path_of("hedge_after_ms");
    if (scalar_text(*n, path, kExpected) == "p95") {
      m.hedge_p95 = true;
    } else {
      m.hedge_after = Millis{read_int(*n, path, 0, kMaxMillis, kExpected)};
    }
  }
  const std::string deployments_path = f.path_of("deployments");
  const auto* list = f.get("deployments");
  if (list == nullptr) fail(deployments_path, "at least one deployment is required");
  if (!list->IsSequence()) fail(deployments_path, "expected a list");
  if (list->size() == 0) fail(deployments_path, "at least one deployment is required");
  for (std::size_t i = 0; i < list->size(); ++i) {
    m.deployments.push_back(parse_deployment((*list)[i], indexed(deployments_path, i), config));
  }
  if (m.strategy == Strategy::weighted &&
      std::none_of(m.deployments.begin(), m.deployments.end(),
                   [](const Deployment& d) { return d.weight > 0; })) {
    fail(deployments_path, "strategy weighted needs a deployment with weight > 0");
  }
  return m;
}

void parse_models(const YAML::Node& node, const std::string& path, Config& config) {
  if (!node.IsSequence()) fail(path, "expected a list");
  if (node.size() == 0) fail(path, "at least one model is required");
  for (std::size_t i = 0; i < node.size(); ++i) {
    const std::string item_path = indexed(path, i);
    Model m = parse_model(node[i], item_path, config);
    if (config.find_model(m.name) != nullptr) {
      fail(join(item_path, "name"), "duplicate model name " + quoted(m.name));
    }
    config.models.push_back(std::move(m));
  }
}

// --- admin ----------------------------------------------------------------------------------

void parse_admin(const YAML::Node& node, const std::string& path, Config& config) {
  const Fields f(node, path, {"key"});
  read_field(f, "key", config.admin_key);
  // Compared with the Authorization header byte for byte: a trailing newline from a secret
  // file would lock every caller out without saying why.
  if (has_control(config.admin_key, /*allow_tab=*/false)) {
    fail(f.path_of("key"), "must not contain control characters");
  }
}

// --- routing --------------------------------------------------------------------------------

const std::vector<std::string_view> kWeightKeys = {"cost", "latency", "health", "headroom"};

void parse_weights(const YAML::Node& node, const std::string& path, Weights& w) {
  const Fields f(node, path, kWeightKeys);
  read_field(f, "cost", w.cost, 0.0, kInf);
  read_field(f, "latency", w.latency, 0.0, kInf);
  read_field(f, "health", w.health, 0.0, kInf);
  read_field(f, "headroom", w.headroom, 0.0, kInf);
}

void parse_weight_override(const YAML::Node& node, const std::string& path, WeightOverride& w) {
  const Fields f(node, path, kWeightKeys);
  read_field(f, "cost", w.cost, 0.0, kInf);
  read_field(f, "latency", w.latency, 0.0, kInf);
  read_field(f, "health", w.health, 0.0, kInf);
  read_field(f, "headroom", w.headroom, 0.0, kInf);
}

TaskMatch parse_task_match(const YAML::Node& node, const std::string& path) {
  const Fields f(node, path,
                 {"regex", "tools", "min_prompt_tokens", "json_schema", "images", "match"});
  TaskMatch m;
  // The regex is compiled (RE2) by the classifier, which reports its own syntax errors; an
  // empty one would match every request, which is never what a rule means.
  read_field(f, "regex", m.regex);
  if (f.get("regex") != nullptr && m.regex.empty()) fail(f.path_of("regex"), "must not be empty");
  read_field(f, "tools", m.tools);
  read_field(f, "min_prompt_tokens", m.min_prompt_tokens, 1, kMaxInt64);
  read_field(f, "json_schema", m.json_schema);
  read_field(f, "images", m.images);
  if (const auto* n = f.get("match")) {
    const std::string p = f.path_of("match");
    const std::string text = read_string(*n, p);
    if (text == "all") {
      m.match_all = true;
    } else if (text != "any") {
      fail(p, "unknown match " + quoted(text) + " (expected any, all)");
    }
  }
  // With no condition, `match: all` would hold for every request and `match: any` for none;
  // either way the rule does not say what the user meant.
  if (m.regex.empty() && !m.tools.has_value() && m.min_prompt_tokens == 0 &&
      !m.json_schema.has_value() && !m.images.has_value()) {
    fail(path, "needs at least one condition");
  }
  return m;
}

Task parse_task(const YAML::Node& node, const std::string& path) {
  const Fields f(node, path, {"name", "min_quality", "when"});
  Task t;
  t.name = required_name(f, "name");
  if (!is_simple_name(t.name)) fail(f.path_of("name"), kSimpleNameRule);
  read_field(f, "min_quality", t.min_quality, 0.0, 1.0);
  // Without `when` the task is only chosen by name: the x-switchyard-task header, or
  // routing.default_task when the names are equal.
  if (const auto* n = f.get("when")) t.when = parse_task_match(*n, f.path_of("when"));
  return t;
}

void parse_tasks(const YAML::Node& node, const std::string& path, Routing& routing) {
  if (!node.IsSequence()) fail(path, "expected a list");
  for (std::size_t i = 0; i < node.size(); ++i) {
    const std::string item_path = indexed(path, i);
    Task t = parse_task(node[i], item_path);
    for (const auto& other : routing.tasks) {
      if (other.name == t.name) {
        fail(join(item_path, "name"), "duplicate task name " + quoted(t.name));
      }
    }
    routing.tasks.push_back(std::move(t));
  }
}

void parse_retry(const YAML::Node& node, const std::string& path, Retry& r) {
  const Fields f(node, path, {"max_attempts", "backoff_ms", "max_backoff_ms"});
  read_field(f, "max_attempts", r.max_attempts, 1, 20);
  // 0 is allowed here (unlike most durations): retry straight away.
  std::int64_t backoff = r.backoff.count();
  std::int64_t max_backoff = r.max_backoff.count();
  read_field(f, "backoff_ms", backoff, 0, kMaxMillis);
  read_field(f, "max_backoff_ms", max_backoff, 0, kMaxMillis);
  if (max_backoff < backoff) {
    // Blame the key the user wrote: with max_backoff_ms left out it is the default that
    // backoff_ms overtook.
    if (f.get("max_backoff_ms") != nullptr) {
      fail(f.path_of("max_backoff_ms"), "must be >= backoff_ms");
    }
    fail(f.path_of("backoff_ms"),
         "must be <= max_backoff_ms (" + std::to_string(max_backoff) + " when not given)");
  }
  r.backoff = Millis{backoff};
  r.max_backoff = Millis{max_backoff};
}

void parse_breaker(const YAML::Node& node, const std::string& path, Breaker& b) {
  const Fields f(node, path, {"failures", "window_ms", "cooldown_ms", "min_failure_rate"});
  read_field(f, "failures", b.failures, 1, kMaxInt);
  read_millis(f, "window_ms", b.window);
  read_millis(f, "cooldown_ms", b.cooldown);
  read_field(f, "min_failure_rate", b.min_failure_rate, 0.0, 1.0);
}

Tier parse_tier(const std::string& name, const YAML::Node& node, const std::string& path,
                const Config& config) {
  const Fields f(node, path, {"max_quality", "providers", "weights"});
  Tier t;
  t.name = name;
  read_field(f, "max_quality", t.max_quality, 0.0, 1.0);
  if (const auto* list = f.get("providers")) {
    const std::string list_path = f.path_of("providers");
    if (!list->IsSequence()) fail(list_path, "expected a list");
    // An empty list reads as "no provider", but the struct's empty means "all": refuse the
    // ambiguity rather than pick one.
    if (list->size() == 0) {
      fail(list_path, "must not be empty (leave it out to allow every provider)");
    }
    for (std::size_t i = 0; i < list->size(); ++i) {
      const std::string item_path = indexed(list_path, i);
      std::string provider = read_string((*list)[i], item_path);
      const bool known = std::any_of(config.providers.begin(), config.providers.end(),
                                     [&](const Provider& p) { return p.name == provider; });
      if (!known) fail(item_path, "unknown provider " + quoted(provider));
      if (std::find(t.providers.begin(), t.providers.end(), provider) != t.providers.end()) {
        fail(item_path, "duplicate provider " + quoted(provider));
      }
      t.providers.push_back(std::move(provider));
    }
  }
  if (const auto* n = f.get("weights")) parse_weight_override(*n, f.path_of("weights"), t.weights);
  return t;
}

void parse_tiers(const YAML::Node& node, const std::string& path, Routing& routing,
                 const Config& config) {
  if (!node.IsMap()) fail(path, "expected a mapping");
  for (auto it = node.begin(); it != node.end(); ++it) {
    if (!it->first.IsScalar()) fail(path, "keys must be strings");
    const std::string& name = it->first.Scalar();
    const std::string tier_path = join(path, name);
    check_simple_name(name, tier_path);
    if (routing.find_tier(name) != nullptr) fail(tier_path, "duplicate key");
    routing.tiers.push_back(parse_tier(name, it->second, tier_path, config));
  }
}

/// Runs after providers (tiers name providers).
void parse_routing(const YAML::Node& node, const std::string& path, Config& config) {
  const Fields f(node, path,
                 {"default_task", "default_tier", "tasks", "weights", "retry", "breaker", "tiers",
                  "hedge_max_fraction"});
  Routing& r = config.routing;
  read_field(f, "default_task", r.default_task);
  check_simple_name(r.default_task, f.path_of("default_task"));
  read_field(f, "default_tier", r.default_tier);
  check_simple_name(r.default_tier, f.path_of("default_tier"));
  if (const auto* n = f.get("tasks")) parse_tasks(*n, f.path_of("tasks"), r);
  if (const auto* n = f.get("weights")) parse_weights(*n, f.path_of("weights"), r.weights);
  if (const auto* n = f.get("retry")) parse_retry(*n, f.path_of("retry"), r.retry);
  if (const auto* n = f.get("breaker")) parse_breaker(*n, f.path_of("breaker"), r.breaker);
  if (const auto* n = f.get("tiers")) parse_tiers(*n, f.path_of("tiers"), r, config);
  read_field(f, "hedge_max_fraction", r.hedge_max_fraction, 0.0, 1.0);
}

void parse_telemetry(const YAML::Node& node, const std::string& path, Config& config) {
  const Fields f(node, path, {"metrics", "metrics_path", "access_log", "log_level", "log_format"});
  Telemetry& t = config.telemetry;
  read_field(f, "metrics", t.metrics);
  read_field(f, "metrics_path", t.metrics_path);
  if (t.metrics_path.empty() || t.metrics_path[0] != '/' ||
      t.metrics_path.find_first_of("?# ") != std::string::npos ||
      has_control(t.metrics_path, /*allow_tab=*/false)) {
    fail(f.path_of("metrics_path"), "expected a path starting with / (no query)");
  }
  for (std::string_view taken : {"/v1/", "/admin/", "/healthz", "/readyz", "/status"}) {
    if (t.metrics_path.compare(0, taken.size(), taken) == 0 ||
        (taken.back() != '/' && t.metrics_path == taken)) {
      fail(f.path_of("metrics_path"), "is a path the gateway already serves");
    }
  }
  read_field(f, "access_log", t.access_log);
  if (t.access_log.empty()) fail(f.path_of("access_log"), "must not be empty (use off)");
  if (has_control(t.access_log, /*allow_tab=*/false)) {
    fail(f.path_of("access_log"), "must not contain control characters");
  }
  read_field(f, "log_level", t.log_level);
  static constexpr std::array<std::string_view, 7> kLevels = {"trace", "debug",    "info", "warn",
                                                              "error", "critical", "off"};
  if (std::find(kLevels.begin(), kLevels.end(), t.log_level) == kLevels.end()) {
    fail(f.path_of("log_level"), "unknown level " + quoted(t.log_level) +
                                     " (expected trace, debug, info, warn, error, critical, off)");
  }
  std::string format = t.log_json ? "json" : "text";
  read_field(f, "log_format", format);
  if (format != "json" && format != "text") {
    fail(f.path_of("log_format"), "unknown format " + quoted(format) + " (expected json, text)");
  }
  t.log_json = format == "json";
}

/// One entry per top-level key of the public format, in the order they are parsed
/// (models and routing.tiers resolve providers, so providers come first). `parse == nullptr`
/// marks a section that is part of the format but not implemented yet: it is refused, never
/// ignored.
struct Section {
  std::string_view key;
  void (*parse)(const YAML::Node&, const std::string&, Config&);
  std::string_view required_message;  ///< empty = optional
};
constexpr std::array kSections = {
    Section{"server", &parse_server, ""},
    Section{"admin", &parse_admin, ""},
    Section{"providers", &parse_providers, "at least one provider is required"},
    Section{"models", &parse_models, "at least one model is required"},
    Section{"routing", &parse_routing, ""},
    Section{"keys", nullptr, ""},
    Section{"storage", nullptr, ""},
    Section{"cache", nullptr, ""},
    Section{"telemetry", &parse_telemetry, ""},
};

constexpr std::string_view kRootPath = "(root)";

Config parse_root(const YAML::Node& root) {
  if (root.IsNull()) fail(std::string(kRootPath), "the configuration is empty");
  if (!root.IsMap()) fail(std::string(kRootPath), "expected a mapping");
  std::vector<std::string_view> known;
  for (const auto& s : kSections) known.push_back(s.key);
  const Fields f(root, "", known);
  Config config;
  for (const auto& section : kSections) {
    const auto* n = f.get(section.key);
    const std::string path(section.key);
    if (n == nullptr) {
      if (!section.required_message.empty()) fail(path, section.required_message);
      continue;
    }
    if (section.parse == nullptr) fail(path, "not supported yet");
    section.parse(*n, path, config);
  }
  if (config.server.workers == 0) {
    config.server.workers = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  }
  return config;
}

}  // namespace
}  // namespace detail

std::string Url::host_header() const {
  // An IPv6 literal needs its brackets back in Host (RFC 9110 uri-host).
  std::string out = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  if (port != (https ? 443 : 80)) out += ":" + std::to_string(port);
  return out;
}

const Tier* Routing::find_tier(std::string_view name) const {
  for (const Tier& t : tiers) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

const Model* Config::find_model(std::string_view name) const {
  for (const auto& m : models) {
    if (m.name == name) return &m;
  }
  return nullptr;
}

std::string interpolate_env(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  std::size_t line = 1;
  const auto is_name_start = [](char c) {
    return std::isalpha(static_cast<unsigned char>(c)) || c == '_';
  };
  const auto is_name_char = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  };
  const std::string_view kForms =
      "(expected ${NAME} or ${NAME:-default}; write $${ for a literal ${)";

  for (std::size_t i = 0; i < text.size();) {
    const char c = text[i];
    if (c == '\n') ++line;
    if (c != '$') {
      out += c;
      ++i;
      continue;
    }
    if (text.compare(i, 3, "$${") == 0) {
      out += "${";
      i += 3;
      continue;
    }
    if (text.compare(i, 2, "${") != 0) {
      out += c;
      ++i;
      continue;
    }
    std::size_t j = i + 2;
    if (j >= text.size() || !is_name_start(text[j])) {
      detail::fail_at_line(line, std::string("invalid variable reference ") + std::string(kForms));
    }
    while (j < text.size() && is_name_char(text[j])) ++j;
    const std::string name = text.substr(i + 2, j - (i + 2));
    std::optional<std::string> fallback;
    if (text.compare(j, 2, ":-") == 0) {
      const std::size_t start = j + 2;
      std::size_t end = start;
      while (end < text.size() && text[end] != '}' && text[end] != '\n') {
        // Nesting would need a real grammar; refuse it rather than emit half a reference.
        if (text.compare(end, 2, "${") == 0) {
          detail::fail_at_line(line,
                               "nested ${...} in the default of " + name + " is not supported");
        }
        ++end;
      }
      if (end >= text.size() || text[end] != '}') {
        detail::fail_at_line(line, "unterminated ${" + name +
                                       ":-... (the default must end with } on the same line)");
      }
      fallback = text.substr(start, end - start);
      j = end;
    }
    if (j >= text.size() || text[j] != '}') {
      detail::fail_at_line(line,
                           "invalid variable reference to " + name + " " + std::string(kForms));
    }
    i = j + 1;
    const char* value = std::getenv(name.c_str());
    if (fallback) {
      // Shell ${NAME:-default}: the default also replaces an empty value.
      out += (value != nullptr && *value != '\0') ? std::string(value) : *fallback;
    } else {
      if (value == nullptr)
        detail::fail_at_line(line, "environment variable " + name + " is not set");
      out += value;
    }
  }
  return out;
}

Config parse(const std::string& yaml_text) {
  std::vector<YAML::Node> docs;
  try {
    docs = YAML::LoadAll(yaml_text);
  } catch (const YAML::Exception& e) {
    // yaml-cpp marks are 0-based.
    throw ConfigError("line " + std::to_string(e.mark.line + 1) + ", column " +
                      std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
  const std::string root(detail::kRootPath);
  if (docs.empty()) detail::fail(root, "the configuration is empty");
  if (docs.size() > 1) {
    detail::fail(root, "expected one YAML document, found " + std::to_string(docs.size()));
  }
  try {
    return detail::parse_root(docs.front());
  } catch (const YAML::Exception& e) {
    // Only reachable through a yaml-cpp bug or misuse; keep the ConfigError contract.
    throw ConfigError(root + ": " + e.msg);
  }
}

Config load_file(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) {
    throw ConfigError("cannot read " + path + ": " + std::strerror(errno));
  }
  std::string text;
  char buf[65536];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, file)) > 0) text.append(buf, n);
  // fopen() succeeds on a directory; the read is what fails (EISDIR).
  const int read_errno = std::ferror(file) ? errno : 0;
  std::fclose(file);
  if (read_errno != 0) {
    throw ConfigError("cannot read " + path + ": " + std::strerror(read_errno));
  }
  if (std::all_of(text.begin(), text.end(),
                  [](char c) { return std::isspace(static_cast<unsigned char>(c)); })) {
    throw ConfigError(path + ": file is empty");
  }
  return parse(interpolate_env(text));
}

}  // namespace switchyard::config
