#include "switchyard/api/errors.hpp"

#include <nlohmann/json.hpp>

namespace switchyard::api {
namespace {

class GatewayCategory final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "switchyard"; }
  std::string message(int ev) const override { return std::string(name_of(static_cast<Errc>(ev))); }
};

}  // namespace

const boost::system::error_category& gateway_category() noexcept {
  static const GatewayCategory cat;
  return cat;
}

boost::system::error_code make_error_code(Errc e) noexcept {
  return {static_cast<int>(e), gateway_category()};
}

Origin origin_of(Errc e) noexcept {
  return e >= Errc::connect_failed ? Origin::upstream : Origin::local;
}

bool is_timeout(Errc e) noexcept {
  switch (e) {
    case Errc::connect_timeout:
    case Errc::first_byte_timeout:
    case Errc::first_token_timeout:
    case Errc::idle_timeout:
    case Errc::total_timeout:
      return true;
    default:
      return false;
  }
}

std::string_view name_of(Errc e) noexcept {
  switch (e) {
    case Errc::ok:
      return "ok";
    case Errc::invalid_json:
      return "invalid_json";
    case Errc::invalid_request:
      return "invalid_request";
    case Errc::model_not_found:
      return "model_not_found";
    case Errc::not_found:
      return "not_found";
    case Errc::method_not_allowed:
      return "method_not_allowed";
    case Errc::body_too_large:
      return "body_too_large";
    case Errc::header_too_large:
      return "header_too_large";
    case Errc::request_timeout:
      return "request_timeout";
    case Errc::client_gone:
      return "client_gone";
    case Errc::pool_overflow:
      return "pool_overflow";
    case Errc::draining:
      return "draining";
    case Errc::no_route:
      return "no_route";
    case Errc::connect_failed:
      return "connect_failed";
    case Errc::tls_failed:
      return "tls_failed";
    case Errc::connect_timeout:
      return "connect_timeout";
    case Errc::first_byte_timeout:
      return "first_byte_timeout";
    case Errc::first_token_timeout:
      return "first_token_timeout";
    case Errc::idle_timeout:
      return "idle_timeout";
    case Errc::total_timeout:
      return "total_timeout";
    case Errc::upstream_reset:
      return "upstream_reset";
    case Errc::upstream_status:
      return "upstream_status";
    case Errc::upstream_malformed:
      return "upstream_malformed";
    case Errc::upstream_error_event:
      return "upstream_error_event";
    case Errc::upstream_empty:
      return "upstream_empty";
  }
  return "unknown";
}

std::string error_json(std::string_view message, std::string_view type, std::string_view code,
                       std::string_view param) {
  nlohmann::json err = {{"message", message},
                        {"type", type},
                        {"param", param.empty() ? nlohmann::json(nullptr) : nlohmann::json(param)},
                        {"code", code.empty() ? nlohmann::json(nullptr) : nlohmann::json(code)}};
  return nlohmann::json{{"error", std::move(err)}}.dump(-1, ' ', false,
                                                        nlohmann::json::error_handler_t::replace);
}

ClientError client_error_for(Errc e) noexcept {
  switch (e) {
    case Errc::invalid_json:
    case Errc::invalid_request:
      return {400, {}, "invalid_request_error", std::string(name_of(e)), {}};
    case Errc::model_not_found:
      return {404, {}, "invalid_request_error", std::string("model_not_found"), {}};
    case Errc::not_found:
      return {404, {}, "invalid_request_error", std::string("not_found"), {}};
    case Errc::method_not_allowed:
      return {405, {}, "invalid_request_error", std::string("method_not_allowed"), {}};
    case Errc::body_too_large:
      return {413, {}, "invalid_request_error", std::string("request_too_large"), {}};
    case Errc::header_too_large:
      return {431, {}, "invalid_request_error", std::string("request_header_fields_too_large"), {}};
    case Errc::request_timeout:
      return {408, {}, "invalid_request_error", std::string("request_timeout"), {}};
    case Errc::pool_overflow:
      return {503, {}, "server_error", std::string("pool_overflow"), {}};
    case Errc::draining:
      return {503, {}, "server_error", std::string("draining"), {}};
    case Errc::no_route:
      return {503, {}, "server_error", std::string("no_route"), {}};
    case Errc::client_gone:
      return {499, {}, "invalid_request_error", std::string("client_gone"), {}};
    default:
      if (is_timeout(e)) return {504, {}, "upstream_error", std::string(name_of(e)), {}};
      return {502, {}, "upstream_error", std::string(name_of(e)), {}};
  }
}

}  // namespace switchyard::api
