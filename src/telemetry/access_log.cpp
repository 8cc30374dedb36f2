#include "switchyard/telemetry/access_log.hpp"

#include <spdlog/details/file_helper.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <charconv>
#include <cmath>
#include <condition_variable>
#include <ctime>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace switchyard::telemetry {

namespace {

constexpr std::size_t kMaxModelChars = 256;  // the client's "model", as written to the log

void append_int(std::string& out, std::int64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, end);
}

// Milliseconds (or USD) with a fixed number of decimals; JSON has no NaN or infinity.
void append_fixed(std::string& out, double v, int decimals) {
  if (!std::isfinite(v)) v = 0;
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, decimals);
  out.append(buf, ec == std::errc() ? end : buf);
}

void field_string(std::string& out, std::string_view name, std::string_view v, bool null_if_empty) {
  out.push_back(',');
  out.push_back('"');
  out.append(name);
  out.append("\":");
  if (v.empty() && null_if_empty) {
    out.append("null");
    return;
  }
  out.push_back('"');
  append_json_escaped(out, v);
  out.push_back('"');
}

// A string the gateway made or validated itself (ids, hex, token characters): no escaping.
void field_plain(std::string& out, std::string_view name, std::string_view v) {
  out.append(",\"");
  out.append(name);
  if (v.empty()) {
    out.append("\":null");
    return;
  }
  out.append("\":\"");
  out.append(v);
  out.push_back('"');
}

void field_raw(std::string& out, std::string_view name) {
  out.push_back(',');
  out.push_back('"');
  out.append(name);
  out.append("\":");
}

void append_digits(std::string& out, int v, int width) {
  char buf[8];
  for (int i = width - 1; i >= 0; --i, v /= 10) buf[i] = static_cast<char>('0' + v % 10);
  out.append(buf, static_cast<std::size_t>(width));
}

// "2026-12-01T20:14:39.747Z". The date and time of day are formatted once per second per
// thread (gmtime_r is the expensive part), the milliseconds every time.
void append_utc_time(std::string& out, std::int64_t unix_ms) {
  thread_local std::int64_t cached_second = -1;
  thread_local std::string cached;  // "YYYY-MM-DDTHH:MM:SS"
  const std::int64_t second = unix_ms >= 0 ? unix_ms / 1000 : (unix_ms - 999) / 1000;
  if (second != cached_second) {
    const std::time_t t = static_cast<std::time_t>(second);
    std::tm tm{};
    gmtime_r(&t, &tm);
    cached.clear();
    append_digits(cached, tm.tm_year + 1900, 4);
    cached.push_back('-');
    append_digits(cached, tm.tm_mon + 1, 2);
    cached.push_back('-');
    append_digits(cached, tm.tm_mday, 2);
    cached.push_back('T');
    append_digits(cached, tm.tm_hour, 2);
    cached.push_back(':');
    append_digits(cached, tm.tm_min, 2);
    cached.push_back(':');
    append_digits(cached, tm.tm_sec, 2);
    cached_second = second;
  }
  out.append(cached);
  out.push_back('.');
  append_digits(out, static_cast<int>(unix_ms - second * 1000), 3);
  out.push_back('Z');
}

// %* in the operational log's pattern: the message as the inside of a JSON string.
class JsonMessageFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    std::string escaped;
    append_json_escaped(escaped, std::string_view(msg.payload.data(), msg.payload.size()));
    dest.append(escaped.data(), escaped.data() + escaped.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonMessageFlag>();
  }
};

// A file sink that flushes every line (on the log's own thread), as the stdout sink does, so
// a tail -f or a log shipper sees each request at once. (spdlog's basic_file_sink is final.)
class LineFileSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit LineFileSink(const std::string& path) { file_.open(path, /*truncate=*/false); }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t formatted;
    formatter_->format(msg, formatted);
    file_.write(formatted);
    file_.flush();
  }
  void flush_() override { file_.flush(); }

 private:
  spdlog::details::file_helper file_;
};

}  // namespace

void append_json_escaped(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::size_t i = 0;
  while (i < s.size()) {
    // Runs of printable ASCII other than '"' and '\\' (nearly everything) go in one append.
    std::size_t run = i;
    while (run < s.size()) {
      const auto c = static_cast<unsigned char>(s[run]);
      if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') break;
      ++run;
    }
    out.append(s.data() + i, run - i);
    i = run;
    if (i == s.size()) break;
    const auto c = static_cast<unsigned char>(s[i]);
    switch (c) {
      case '"':
        out.append("\\\"");
        break;
      case '\\':
        out.append("\\\\");
        break;
      case '\n':
        out.append("\\n");
        break;
      case '\r':
        out.append("\\r");
        break;
      case '\t':
        out.append("\\t");
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          out.append("\\u00");
          out.push_back(kHex[c >> 4]);
          out.push_back(kHex[c & 15]);
        } else {
          // Keep valid UTF-8 as it is; a stray byte becomes U+FFFD so the line stays JSON.
          const std::size_t len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
          bool ok = len != 0 && c < 0xf5 && i + len <= s.size();
          for (std::size_t k = 1; ok && k < len; ++k) {
            ok = (static_cast<unsigned char>(s[i + k]) & 0xc0) == 0x80;
          }
          if (ok) {
            out.append(s.substr(i, len));
            i += len - 1;
          } else {
            out.append("\\ufffd");
          }
        }
    }
    ++i;
  }
}

void RequestLog::reset() {
  start = {};
  unix_ms = 0;
  request_id.clear();
  trace_id.clear();
  method.clear();
  path.clear();
  endpoint = Endpoint::other;
  model.clear();
  slot = -1;
  task.clear();
  deployment.clear();
  attempts = 0;
  status = 0;
  stream = false;
  ttft_ms = -1;
  has_usage = false;
  input_tokens = output_tokens = cached_tokens = 0;
  estimated = false;
  cost_usd = 0;
  key_name.clear();
  client.clear();
  error_type.clear();
  error_code.clear();
}

std::string format_access_line(const RequestLog& r, double duration_ms) {
  std::string out;
  out.reserve(512);
  append_access_line(out, r, duration_ms);
  return out;
}

void append_access_line(std::string& out, const RequestLog& r, double duration_ms) {
  out.append("{\"time\":\"");
  append_utc_time(out, r.unix_ms);
  out.push_back('"');
  // request_id: [A-Za-z0-9._:-] (checked by the session); trace_id: hex; method: an HTTP
  // token (Beast's parser refuses others).
  field_plain(out, "request_id", r.request_id);
  field_plain(out, "trace_id", r.trace_id);
  field_plain(out, "method", r.method);
  field_string(out, "path", r.path, false);
  field_plain(out, "endpoint", name_of(r.endpoint));
  field_string(out, "model", std::string_view(r.model).substr(0, kMaxModelChars), true);
  field_string(out, "task", r.task, true);
  field_string(out, "deployment", r.deployment, true);
  field_raw(out, "attempts");
  append_int(out, r.attempts);
  field_raw(out, "status");
  append_int(out, r.status);
  field_raw(out, "stream");
  out.append(r.stream ? "true" : "false");
  field_raw(out, "duration_ms");
  append_fixed(out, duration_ms, 3);
  field_raw(out, "ttft_ms");
  if (r.ttft_ms >= 0) {
    append_fixed(out, r.ttft_ms, 3);
  } else {
    out.append("null");
  }
  if (r.has_usage) {
    field_raw(out, "input_tokens");
    append_int(out, r.input_tokens);
    field_raw(out, "output_tokens");
    append_int(out, r.output_tokens);
    field_raw(out, "cached_tokens");
    append_int(out, r.cached_tokens);
    field_string(out, "token_provenance", r.estimated ? "estimated" : "provider", false);
    field_raw(out, "cost_usd");
    append_fixed(out, r.cost_usd, 8);
  } else {
    out.append(
        ",\"input_tokens\":null,\"output_tokens\":null,\"cached_tokens\":null,"
        "\"token_provenance\":null,\"cost_usd\":null");
  }
  field_string(out, "key", r.key_name, true);
  field_plain(out, "client", r.client);
  field_string(out, "error_type", r.error_type, true);
  field_string(out, "error_code", r.error_code, true);
  out.push_back('}');
}

struct AccessLog::Impl {
  spdlog::sink_ptr sink;
  std::mutex mu;
  std::condition_variable wake, idle;
  std::deque<std::string> queue;  // batches, each a run of whole lines
  std::size_t queued_bytes = 0;
  bool writing = false;
  bool stop = false;
  std::atomic<std::uint64_t> dropped{0};
  std::thread writer;

  void run() {
    std::unique_lock lock(mu);
    for (;;) {
      wake.wait(lock, [&] { return stop || !queue.empty(); });
      if (queue.empty()) return;  // stop, and everything is written
      std::deque<std::string> batches;
      batches.swap(queue);
      queued_bytes = 0;
      writing = true;
      lock.unlock();
      for (const std::string& b : batches) {
        // The sink's pattern is "%v" plus its newline: give it the batch minus the last one.
        const std::string_view text(b.data(), b.size() - 1);
        sink->log(spdlog::details::log_msg(spdlog::string_view_t{}, spdlog::level::info,
                                           spdlog::string_view_t(text.data(), text.size())));
      }
      sink->flush();
      lock.lock();
      writing = false;
      idle.notify_all();
    }
  }
};

AccessLog::AccessLog(const std::string& target) {
  if (target == "off") return;
  spdlog::sink_ptr sink;
  if (target == "stdout") {
    sink = std::make_shared<spdlog::sinks::stdout_sink_mt>();
  } else if (target == "stderr") {
    sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  } else {
    try {
      sink = std::make_shared<LineFileSink>(target);
    } catch (const spdlog::spdlog_ex& e) {
      throw std::runtime_error("telemetry.access_log: cannot open " + target + ": " + e.what());
    }
  }
  sink->set_pattern("%v");
  impl_ = std::make_unique<Impl>();
  impl_->sink = std::move(sink);
  impl_->writer = std::thread([impl = impl_.get()] { impl->run(); });
}

AccessLog::~AccessLog() {
  if (!impl_) return;
  {
    std::lock_guard lock(impl_->mu);
    impl_->stop = true;
  }
  impl_->wake.notify_one();
  impl_->writer.join();
}

void AccessLog::write(Batch& batch, const RequestLog& r, double duration_ms) {
  if (!impl_) return;
  append_access_line(batch.text, r, duration_ms);
  batch.text.push_back('\n');
  ++batch.lines;
  if (batch.text.size() >= kBatchBytes) submit(batch);
}

void AccessLog::submit(Batch& batch) {
  if (!impl_ || batch.lines == 0) return;
  std::string text;
  text.reserve(kBatchBytes + 1024);
  text.swap(batch.text);  // the worker keeps a buffer of the same capacity
  const std::uint64_t lines = batch.lines;
  batch.lines = 0;
  bool accepted = false;
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->queued_bytes + text.size() <= kMaxQueuedBytes) {
      impl_->queued_bytes += text.size();
      impl_->queue.push_back(std::move(text));
      accepted = true;
    }
  }
  if (accepted) {
    impl_->wake.notify_one();
  } else {
    impl_->dropped.fetch_add(lines, std::memory_order_relaxed);
  }
}

void AccessLog::flush() {
  if (!impl_) return;
  std::unique_lock lock(impl_->mu);
  impl_->idle.wait(lock, [&] { return impl_->queue.empty() && !impl_->writing; });
}

std::uint64_t AccessLog::dropped() const {
  return impl_ ? impl_->dropped.load(std::memory_order_relaxed) : 0;
}

void setup_operational_log(bool json, std::string_view level) {
  auto logger = spdlog::default_logger();
  logger->set_level(spdlog::level::from_str(std::string(level)));
  if (json) {
    auto f = std::make_unique<spdlog::pattern_formatter>();
    f->add_flag<JsonMessageFlag>('*').set_pattern(
        R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","msg":"%*"})");
    logger->set_formatter(std::move(f));
  } else {
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %^%l%$ %v");
  }
}

}  // namespace switchyard::telemetry
