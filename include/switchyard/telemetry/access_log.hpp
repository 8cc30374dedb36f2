#pragma once
// The access log (one JSON line per request, written by a background thread) and the
// operational log's JSON form. No spdlog header here: only access_log.cpp includes it.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "switchyard/telemetry/metrics.hpp"

namespace switchyard::telemetry {

/// What one request did, filled in by the session and its handler as it runs, then turned
/// into the access log line and the request's metrics. Nothing in it is a secret: the
/// client's key is never copied here (only its configured name, once keys exist), and the
/// path is kept without its query string (which some clients use for keys).
struct RequestLog {
  std::chrono::steady_clock::time_point start{};  ///< the request head was read
  std::int64_t unix_ms = 0;
  std::string request_id;
  std::string trace_id;  ///< empty: the request started no trace
  std::string method;
  std::string path;  ///< without the query string
  Endpoint endpoint = Endpoint::other;
  std::string model;  ///< as the client asked (bounded, escaped when written)
  int slot = -1;      ///< metrics slot (Layout); -1: the layout's unknown slot
  std::string task;
  std::string deployment;  ///< "provider/model" that answered (the last one after a rescue)
  int attempts = 0;
  int status = 0;  ///< 0 until a response head is sent; 499 if the client left first
  bool stream = false;
  double ttft_ms = -1;  ///< streams: to the first content byte sent
  bool has_usage = false;
  std::int64_t input_tokens = 0, output_tokens = 0, cached_tokens = 0;
  bool estimated = false;  ///< some counts were estimated (provenance "estimated")
  double cost_usd = 0;
  std::string key_name;  ///< the virtual key's configured name (keys: a later issue)
  std::string client;    ///< peer address "ip:port"
  std::string error_type, error_code;

  /// Ready for the next request on the same connection (keeps string capacity).
  void reset();
};

/// One access-log line, JSON, no trailing newline, appended to `out`. `duration_ms` from
/// start to the end of the answer.
void append_access_line(std::string& out, const RequestLog& r, double duration_ms);
/// The same as a new string.
std::string format_access_line(const RequestLog& r, double duration_ms);

/// The access log. Each worker formats its lines into its own Batch (no lock, no
/// allocation once the batch has grown); a full batch, or any batch at the worker's
/// periodic flush, goes to one background thread that writes it through an spdlog sink
/// (stdout, stderr or a file) in one write. If the output blocks (a stuck pipe) and more
/// than kMaxQueuedBytes wait, new batches are dropped and their lines counted in
/// dropped(), rather than stall the workers.
class AccessLog {
 public:
  static constexpr std::size_t kBatchBytes = 32u << 10;
  static constexpr std::size_t kMaxQueuedBytes = 64u << 20;

  /// One worker's lines not yet handed to the writer. Touched only by its worker thread.
  struct Batch {
    std::string text;  ///< lines, each ending with '\n'
    std::uint64_t lines = 0;
  };

  /// `target`: stdout | stderr | off | a file path (appended; missing directories are made;
  /// throws std::runtime_error if it cannot be opened).
  explicit AccessLog(const std::string& target);
  ~AccessLog();  ///< writes what is queued
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;

  bool enabled() const { return impl_ != nullptr; }
  /// Appends one request's line to `batch`; hands the batch over when it is full.
  void write(Batch& batch, const RequestLog& r, double duration_ms);
  /// Hands `batch` to the writer (nothing if empty). Any thread that owns `batch`.
  void submit(Batch& batch);
  /// Waits until everything submitted so far is written.
  void flush();
  std::uint64_t dropped() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Sets up the process's operational log on stderr: JSON lines
/// {"time","level","msg"} (or spdlog's text form when `json` is false) at `level`
/// (trace|debug|info|warn|error|critical|off). Call on the main thread before workers start.
void setup_operational_log(bool json, std::string_view level);

/// Appends `s` to `out` as the inside of a JSON string (quotes not included).
void append_json_escaped(std::string& out, std::string_view s);

}  // namespace switchyard::telemetry
