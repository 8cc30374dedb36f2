#include "api/routes.hpp"

#include <optional>

#include "switchyard/api/errors.hpp"
#include "switchyard/telemetry/status_page.hpp"

namespace switchyard::api {
namespace {

std::string_view path_of(std::string_view target) {
  auto q = target.find('?');
  return q == std::string_view::npos ? target : target.substr(0, q);
}

net::awaitable<void> method_not_allowed(http::Exchange& ex, const http::Request& req,
                                        std::string_view path, std::string_view allow) {
  http::Response res{bhttp::status::method_not_allowed, 11};
  res.set(bhttp::field::allow, allow);
  res.set(bhttp::field::content_type, "application/json");
  res.body() = error_json(std::string("Method ") + std::string(req.method_string()) +
                              " is not allowed on " + std::string(path) + ".",
                          "invalid_request_error", "method_not_allowed");
  co_await ex.send(res);
}

// The method is the one the path takes; otherwise 405 with Allow. true: go on.
net::awaitable<bool> only(http::Exchange& ex, const http::Request& req, std::string_view path,
                          bhttp::verb v, std::string_view allow) {
  if (req.method() == v) co_return true;
  co_await method_not_allowed(ex, req, path, allow);
  co_return false;
}

net::awaitable<void> send_body(http::Exchange& ex, std::string_view content_type, std::string body,
                               bhttp::status status = bhttp::status::ok) {
  http::Response res{status, 11};
  res.set(bhttp::field::content_type, content_type);
  res.body() = std::move(body);
  co_await ex.send(res);
}

// Constant-time comparison: the admin key must not leak through response timing.
bool admin_key_ok(const http::Request& req, const std::string& key) {
  auto auth = req.find(bhttp::field::authorization);
  std::string_view given;
  if (auth != req.end()) given = std::string_view(auth->value().data(), auth->value().size());
  const std::string expected = "Bearer " + key;
  unsigned diff = given.size() == expected.size() ? 0u : 1u;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    diff |= static_cast<unsigned>(static_cast<unsigned char>(expected[i]) ^
                                  static_cast<unsigned char>(i < given.size() ? given[i] : 0));
  }
  return diff == 0;
}

}  // namespace

net::awaitable<void> Routes::handle(http::Exchange& ex, http::Request& req) {
  using telemetry::Endpoint;
  const std::string_view path = path_of(req.target());
  telemetry::RequestLog& log = ex.log();
  // The call endpoints: POST only.
  std::optional<CallEndpoint> call;
  if (path == "/v1/chat/completions" || path == "/chat/completions") {
    log.endpoint = Endpoint::chat;
    call = CallEndpoint::chat;
  } else if (path == "/v1/embeddings" || path == "/embeddings") {
    log.endpoint = Endpoint::embeddings;
    call = CallEndpoint::embeddings;
  } else if (path == "/v1/messages" || path == "/messages") {
    log.endpoint = Endpoint::messages;
    call = CallEndpoint::messages;
  }
  if (call) {
    if (req.method() == bhttp::verb::post) {
      co_await serve_call(s_, ex, req, *call);
    } else {
      co_await method_not_allowed(ex, req, path, "POST");
    }
    co_return;
  }
  if (path.substr(0, 7) == "/admin/") {
    log.endpoint = Endpoint::admin;
    co_await admin(ex, req, path);
    co_return;
  }
  if (s_.all_metrics && path == s_.cfg.telemetry.metrics_path) {
    log.endpoint = Endpoint::metrics;
    const bool allowed = co_await only(ex, req, path, bhttp::verb::get, "GET");
    if (!allowed) co_return;
    co_await send_body(ex, "text/plain; version=0.0.4; charset=utf-8", s_.all_metrics->scrape());
    co_return;
  }
  if (path == "/status") {
    log.endpoint = Endpoint::status;
    const bool allowed = co_await only(ex, req, path, bhttp::verb::get, "GET");
    if (!allowed) co_return;
    http::Response res{bhttp::status::ok, 11};
    res.set(bhttp::field::content_type, "text/html; charset=utf-8");
    res.set(bhttp::field::cache_control, "no-store");
    // Self-contained: no script, style or font from anywhere but this page.
    res.set("content-security-policy",
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
            "connect-src 'self'; img-src data:");
    res.body() = telemetry::status_page_html();
    co_await ex.send(res);
    co_return;
  }
  if (path == "/v1/models" || path == "/models") {
    log.endpoint = Endpoint::models;
    const bool allowed = co_await only(ex, req, path, bhttp::verb::get, "GET");
    if (!allowed) co_return;
    // The Anthropic SDK lists models at the same path, and says who it is.
    co_await send_body(
        ex, "application/json",
        req.find("anthropic-version") != req.end() ? s_.models_json_anthropic : s_.models_json);
    co_return;
  }
  if (path == "/healthz") {
    log.endpoint = Endpoint::health;
    const bool allowed = co_await only(ex, req, path, bhttp::verb::get, "GET");
    if (!allowed) co_return;
    co_await send_body(ex, "application/json", R"({"status":"ok"})");
    co_return;
  }
  if (path == "/readyz") {
    log.endpoint = Endpoint::health;
    const bool allowed = co_await only(ex, req, path, bhttp::verb::get, "GET");
    if (!allowed) co_return;
    const bool draining = s_.draining.load(std::memory_order_relaxed);
    co_await send_body(ex, "application/json",
                       draining ? R"({"status":"draining"})" : R"({"status":"ready"})",
                       draining ? bhttp::status::service_unavailable : bhttp::status::ok);
    co_return;
  }
  co_await ex.send_error(
      404,
      "Unknown request URL: " + std::string(req.method_string()) + " " + std::string(path) + ".",
      "invalid_request_error", "unknown_url");
}

net::awaitable<void> Routes::admin(http::Exchange& ex, http::Request& req, std::string_view path) {
  if (s_.cfg.admin_key.empty()) {
    co_await ex.send_error(404, "The admin API is off (no admin.key configured).",
                           "invalid_request_error", "unknown_url");
    co_return;
  }
  if (!admin_key_ok(req, s_.cfg.admin_key)) {
    co_await ex.send_error(401, "Invalid or missing admin key.", "invalid_request_error",
                           "invalid_api_key");
    co_return;
  }
  if (path == "/admin/route/explain") {
    const bool allowed = co_await only(ex, req, path, bhttp::verb::post, "POST");
    if (allowed) {
      co_await serve_route_explain(s_, ex, req);
    }
    co_return;
  }
  if (path == "/admin/status") {
    const bool allowed = co_await only(ex, req, path, bhttp::verb::get, "GET");
    if (!allowed) co_return;
    if (!s_.all_metrics) {
      co_await ex.send_error(404, "Metrics are off (telemetry.metrics: false).",
                             "invalid_request_error", "unknown_url");
      co_return;
    }
    http::Response res{bhttp::status::ok, 11};
    res.set(bhttp::field::content_type, "application/json");
    res.set(bhttp::field::cache_control, "no-store");
    res.body() = s_.all_metrics->status_json();
    co_await ex.send(res);
    co_return;
  }
  if (path == "/admin/usage") {
    const bool allowed = co_await only(ex, req, path, bhttp::verb::get, "GET");
    if (allowed) co_await serve_usage(s_, ex, req);
    co_return;
  }
  co_await ex.send_error(404, "Unknown admin URL: " + std::string(path) + ".",
                         "invalid_request_error", "unknown_url");
}

}  // namespace switchyard::api
