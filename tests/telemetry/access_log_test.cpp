#include "switchyard/telemetry/access_log.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

namespace switchyard::telemetry {
namespace {

RequestLog sample_log() {
  RequestLog r;
  r.unix_ms = 1764619200123;  // 2025-12-01T20:00:00.123Z
  r.request_id = "req_1";
  r.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  r.method = "POST";
  r.path = "/v1/chat/completions";
  r.endpoint = Endpoint::chat;
  r.model = "gpt-4o-mini";
  r.task = "code";
  r.deployment = "openai/gpt-4o-mini";
  r.attempts = 2;
  r.status = 200;
  r.stream = true;
  r.ttft_ms = 12.5;
  r.has_usage = true;
  r.input_tokens = 10;
  r.output_tokens = 20;
  r.cached_tokens = 4;
  r.estimated = true;
  r.cost_usd = 0.0000125;
  r.client = "127.0.0.1:5000";
  return r;
}

TEST(AccessLine, HasEveryFieldAsJson) {
  const auto j = nlohmann::json::parse(format_access_line(sample_log(), 42.25));
  EXPECT_EQ(j["time"], "2025-12-01T20:00:00.123Z");
  EXPECT_EQ(j["request_id"], "req_1");
  EXPECT_EQ(j["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(j["method"], "POST");
  EXPECT_EQ(j["path"], "/v1/chat/completions");
  EXPECT_EQ(j["endpoint"], "chat.completions");
  EXPECT_EQ(j["model"], "gpt-4o-mini");
  EXPECT_EQ(j["task"], "code");
  EXPECT_EQ(j["deployment"], "openai/gpt-4o-mini");
  EXPECT_EQ(j["attempts"], 2);
  EXPECT_EQ(j["status"], 200);
  EXPECT_EQ(j["stream"], true);
  EXPECT_DOUBLE_EQ(j["duration_ms"].get<double>(), 42.25);
  EXPECT_DOUBLE_EQ(j["ttft_ms"].get<double>(), 12.5);
  EXPECT_EQ(j["input_tokens"], 10);
  EXPECT_EQ(j["output_tokens"], 20);
  EXPECT_EQ(j["cached_tokens"], 4);
  EXPECT_EQ(j["token_provenance"], "estimated");
  EXPECT_NEAR(j["cost_usd"].get<double>(), 0.0000125, 1e-12);
  EXPECT_TRUE(j["key"].is_null());
  EXPECT_EQ(j["client"], "127.0.0.1:5000");
  EXPECT_TRUE(j["error_type"].is_null());
  EXPECT_TRUE(j["error_code"].is_null());
}

TEST(AccessLine, UnknownPartsAreNullAndHostileTextStaysJson) {
  RequestLog r;
  r.unix_ms = 0;
  r.method = "GET";
  r.path = "/x\"\n\\\x01\xff";
  r.model = std::string(1000, 'm') + "\"";
  r.status = 404;
  r.error_type = "invalid_request_error";
  r.error_code = "unknown_url";
  const std::string line = format_access_line(r, 0.5);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  const auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["path"], "/x\"\n\\\x01\xef\xbf\xbd");
  EXPECT_EQ(j["model"].get<std::string>().size(), 256u);  // bounded
  EXPECT_TRUE(j["ttft_ms"].is_null());
  EXPECT_TRUE(j["input_tokens"].is_null());
  EXPECT_TRUE(j["cost_usd"].is_null());
  EXPECT_TRUE(j["deployment"].is_null());
  EXPECT_EQ(j["error_code"], "unknown_url");
}

TEST(JsonEscape, KeepsValidUtf8) {
  std::string out;
  append_json_escaped(out, "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80 \xc3");
  EXPECT_EQ(out, "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80 \\ufffd");
}

TEST(AccessLog, WritesOneLinePerRequestToAFile) {
  char path[] = "/tmp/switchyard-access-XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  {
    AccessLog log(path);
    ASSERT_TRUE(log.enabled());
    // Two workers' batches; far more than one batch's worth of lines each.
    AccessLog::Batch a, b;
    for (int i = 0; i < 1000; ++i) {
      RequestLog r = sample_log();
      r.request_id = "req_" + std::to_string(i);
      log.write(i % 2 ? b : a, r, 1.0);
    }
    EXPECT_GT(a.lines + b.lines, 0u) << "the last partial batches are still with the workers";
    log.submit(a);
    log.submit(b);
    EXPECT_EQ(a.lines + b.lines, 0u);
    log.flush();
    EXPECT_EQ(log.dropped(), 0u);
  }
  std::ifstream in(path);
  std::string line;
  std::set<std::string> ids;
  while (std::getline(in, line)) {
    const auto j = nlohmann::json::parse(line);  // whole lines only, never interleaved
    ids.insert(j["request_id"].get<std::string>());
  }
  EXPECT_EQ(ids.size(), 1000u);
  std::remove(path);
}

TEST(AccessLog, OffWritesNothingAndABadPathIsAnError) {
  AccessLog off("off");
  EXPECT_FALSE(off.enabled());
  AccessLog::Batch batch;
  off.write(batch, sample_log(), 1);  // no-op
  EXPECT_EQ(batch.lines, 0u);
  EXPECT_THROW(AccessLog("/proc/version/access.log"), std::runtime_error);
}

}  // namespace
}  // namespace switchyard::telemetry
