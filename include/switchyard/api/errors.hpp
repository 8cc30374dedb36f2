#pragma once
// Gateway error codes (errors are values on the request path) and the OpenAI-shaped
// error bodies every client-visible failure turns into.

#include <boost/system/error_code.hpp>
#include <string>
#include <string_view>

namespace switchyard::api {

/// Failures the gateway itself produces or classifies. Each has an origin: local
/// (the gateway or the client) or upstream (the provider), kept apart so a client
/// that went away is never counted against a provider's health.
enum class Errc {
  ok = 0,
  // client / local origin
  invalid_json = 1,
  invalid_request,
  model_not_found,
  not_found,
  method_not_allowed,
  body_too_large,
  header_too_large,
  request_timeout,
  client_gone,
  pool_overflow,
  draining,
  no_route,
  // upstream origin
  connect_failed,
  tls_failed,
  connect_timeout,
  first_byte_timeout,
  first_token_timeout,
  idle_timeout,
  total_timeout,
  upstream_reset,
  upstream_status,
  upstream_malformed,
  upstream_error_event,
  upstream_empty,
};

enum class Origin { local, upstream };

const boost::system::error_category& gateway_category() noexcept;
boost::system::error_code make_error_code(Errc e) noexcept;
Origin origin_of(Errc e) noexcept;
bool is_timeout(Errc e) noexcept;
/// Short stable name, e.g. "first_byte_timeout"; used as the error `code` and in logs.
std::string_view name_of(Errc e) noexcept;

/// {"error":{"message":…,"type":…,"param":…,"code":…}}; empty param/code become null.
std::string error_json(std::string_view message, std::string_view type, std::string_view code = {},
                       std::string_view param = {});

/// A request the gateway refuses (status 400 unless said otherwise), rendered by the caller
/// in the client's dialect. The one type for every client-visible refusal: the wire
/// parsers', the adapters' (a request a dialect cannot express) and the local errors'.
struct ClientError {
  int status = 400;
  std::string message;
  std::string type = "invalid_request_error";
  std::string code;   ///< may be empty (null)
  std::string param;  ///< may be empty (null)
};
/// Status, type and code of a local error (message and param empty).
ClientError client_error_for(Errc e) noexcept;

}  // namespace switchyard::api

namespace boost::system {
template <>
struct is_error_code_enum<switchyard::api::Errc> : std::true_type {};
}  // namespace boost::system
