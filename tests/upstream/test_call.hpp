#pragma once
// What the upstream stage tests share: fixture files, providers and deployments built in
// code, and a CallRequest over a body that lives as long as it does.

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

#include "switchyard/adapters/messages_front.hpp"
#include "switchyard/api/chat_request.hpp"
#include "switchyard/config/config.hpp"
#include "upstream/request.hpp"

namespace switchyard::upstream::testing {

/// tests/fixtures/<path>, byte for byte.
inline std::string read_fixture(const std::string& path) {
  std::ifstream f(std::string(SWITCHYARD_FIXTURES) + "/" + path, std::ios::binary);
  EXPECT_TRUE(f.good()) << path;
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

inline config::Provider provider(config::ProviderKind kind, std::string host, std::string path = {},
                                 std::string key = "sk-test-key") {
  config::Provider p;
  p.name = std::string(host.substr(0, host.find('.')));
  p.kind = kind;
  p.url.https = true;
  p.url.host = std::move(host);
  p.url.port = 443;
  p.url.path = std::move(path);
  p.base_url = "https://" + p.url.host + p.url.path;
  p.api_key = std::move(key);
  return p;
}

inline config::Deployment deployment(std::string provider_name, std::string model) {
  config::Deployment d;
  d.provider = std::move(provider_name);
  d.model = std::move(model);
  return d;
}

/// A chat call as the endpoint builds it. Not copyable: `rq` points into `body_` (and, for
/// an Anthropic client, `client_body_`).
class TestCall {
 public:
  /// An OpenAI client's chat request.
  explicit TestCall(std::string openai_body) : body_(std::move(openai_body)) {
    parse();
    rq.client_body = body_;
  }
  /// An Anthropic client's Messages request, translated as the /v1/messages endpoint does.
  TestCall(Front front, std::string anthropic_body) : client_body_(std::move(anthropic_body)) {
    EXPECT_EQ(front, Front::anthropic);
    api::ClientError err;
    EXPECT_TRUE(adapters::messages_front::to_openai_request(client_body_, body_, err))
        << err.message;
    parse();
    rq.front = Front::anthropic;
    rq.client_body = client_body_;
  }
  TestCall(const TestCall&) = delete;
  TestCall& operator=(const TestCall&) = delete;

  bool ok = false;  ///< the body is a valid chat request
  CallRequest rq;

 private:
  void parse() {
    api::RequestError err;
    ok = api::parse_chat_request(body_, rq.chat, err);
    EXPECT_TRUE(ok) << err.message;
    rq.request_id = "req-test";
    rq.stream_id = "chatcmpl-req-test";
    rq.trace.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    rq.trace.parent_id = "00f067aa0ba902b7";
    rq.trace.flags = "01";
  }

  std::string client_body_;
  std::string body_;
};

}  // namespace switchyard::upstream::testing
