#include "switchyard/api/errors.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace switchyard::api {
namespace {

TEST(Errors, ErrorJsonIsOpenAiShaped) {
  auto j = nlohmann::json::parse(
      error_json("bad \"thing\"", "invalid_request_error", "model_not_found", "model"));
  ASSERT_TRUE(j.contains("error"));
  EXPECT_EQ(j["error"]["message"], "bad \"thing\"");
  EXPECT_EQ(j["error"]["type"], "invalid_request_error");
  EXPECT_EQ(j["error"]["code"], "model_not_found");
  EXPECT_EQ(j["error"]["param"], "model");
}

TEST(Errors, EmptyCodeAndParamAreNull) {
  auto j = nlohmann::json::parse(error_json("m", "server_error"));
  EXPECT_TRUE(j["error"]["code"].is_null());
  EXPECT_TRUE(j["error"]["param"].is_null());
}

TEST(Errors, InvalidUtf8InMessageStillGivesValidJson) {
  std::string msg = "upstream said \xff\xfe";
  EXPECT_FALSE(
      nlohmann::json::parse(error_json(msg, "upstream_error"), nullptr, false).is_discarded());
}

TEST(Errors, StatusMapping) {
  EXPECT_EQ(client_error_for(Errc::invalid_json).status, 400);
  EXPECT_EQ(client_error_for(Errc::invalid_request).status, 400);
  EXPECT_EQ(client_error_for(Errc::model_not_found).status, 404);
  EXPECT_EQ(client_error_for(Errc::method_not_allowed).status, 405);
  EXPECT_EQ(client_error_for(Errc::request_timeout).status, 408);
  EXPECT_EQ(client_error_for(Errc::body_too_large).status, 413);
  EXPECT_EQ(client_error_for(Errc::header_too_large).status, 431);
  EXPECT_EQ(client_error_for(Errc::pool_overflow).status, 503);
  EXPECT_EQ(client_error_for(Errc::pool_overflow).code, "pool_overflow");
  EXPECT_EQ(client_error_for(Errc::first_byte_timeout).status, 504);
  EXPECT_EQ(client_error_for(Errc::upstream_reset).status, 502);
  EXPECT_EQ(client_error_for(Errc::tls_failed).status, 502);
}

TEST(Errors, OriginsKeepLocalAndUpstreamApart) {
  EXPECT_EQ(origin_of(Errc::client_gone), Origin::local);
  EXPECT_EQ(origin_of(Errc::pool_overflow), Origin::local);
  EXPECT_EQ(origin_of(Errc::connect_failed), Origin::upstream);
  EXPECT_EQ(origin_of(Errc::upstream_status), Origin::upstream);
  EXPECT_TRUE(is_timeout(Errc::first_token_timeout));
  EXPECT_FALSE(is_timeout(Errc::upstream_reset));
}

TEST(Errors, ErrorCodeCategory) {
  boost::system::error_code ec = Errc::idle_timeout;
  EXPECT_EQ(ec.category().name(), std::string("switchyard"));
  EXPECT_EQ(ec.message(), "idle_timeout");
  EXPECT_TRUE(ec.failed());
}

}  // namespace
}  // namespace switchyard::api
