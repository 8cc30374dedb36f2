#pragma once
// What the mock remembers for tests: counters, the SNI names TLS clients sent and the
// last chat requests. Shared by all worker threads; every member is thread-safe.

#include <atomic>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace switchyard::mock {

using Request = boost::beast::http::request<boost::beast::http::string_body>;

/// Lock-free counters; relaxed ordering is enough since each is read on its own.
/// Invariant between resets: streams_started == streams_completed + streams_aborted +
/// streams in flight.
struct Stats {
  std::atomic<std::uint64_t> connections_accepted{0};
  std::atomic<std::int64_t> active_connections{0};  ///< a gauge: reset() leaves it alone
  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> streams_started{0};
  std::atomic<std::uint64_t> streams_completed{0};
  std::atomic<std::uint64_t> streams_aborted{0};
  /// Chat requests (stream or not) whose client hung up while the mock held the answer
  /// back (latency_ms, first_token_ms, a delay, a stall, a hang).
  std::atomic<std::uint64_t> requests_abandoned{0};

  void reset();
};

/// SNI server names seen in TLS ClientHellos. Called from the OpenSSL servername
/// callback on whichever worker runs the handshake.
class SniLog {
 public:
  /// `name` is null when the ClientHello carried no SNI; that is not recorded.
  void record(const char* name);
  void clear();
  /// Writes `"last_sni":…,"sni":[…]` members into `out` (a JSON object under construction).
  void append_json(std::string& out) const;

 private:
  mutable std::mutex mu_;
  std::optional<std::string> last_;
  std::vector<std::string> distinct_;
};

/// The last kCapacity chat requests, oldest first. Older entries also go once the bodies
/// kept add up to more than kMaxBodyBytes, so a load test with large bodies cannot make
/// the log grow without bound; the newest request is always kept.
class RequestLog {
 public:
  static constexpr std::size_t kCapacity = 200;
  static constexpr std::size_t kMaxBodyBytes = 256u << 20;

  /// Takes the request by move so the hot path copies nothing.
  void record(Request&& req);
  void clear();
  /// [{"method","target","headers":{lower-case name: value},"body"}, …]
  std::string to_json() const;

 private:
  mutable std::mutex mu_;
  std::deque<Request> entries_;  ///< oldest first
  std::size_t body_bytes_ = 0;
};

/// The /mock/stats document.
std::string stats_json(const Stats& stats, const SniLog& sni);

}  // namespace switchyard::mock
