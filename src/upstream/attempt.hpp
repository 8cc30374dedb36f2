#pragma once
// One upstream try: encode → acquire a pooled connection → write → read the response head
// → (streams) read up to the first content event. It knows nothing of the call that
// started it: the call sets its deployment and, for a rescue, its prefill; the attempt
// reports one Outcome. Runs on its worker's thread.
//
// An attempt has two phases so that two can race (a hedge): open() goes as far as the
// point where the answer could start — the response head of a non-stream answer, the first
// content event of a stream (the "win point") — and the relay (relay.hpp) then delivers.

#include <memory>
#include <optional>
#include <random>
#include <string>

#include "net/common.hpp"
#include "switchyard/adapters/continuation.hpp"
#include "switchyard/router/health.hpp"
#include "upstream/failover.hpp"
#include "upstream/pool.hpp"
#include "upstream/request.hpp"
#include "upstream/stream_relay.hpp"

namespace switchyard::upstream {

using ResponseParser = bhttp::response_parser<bhttp::buffer_body>;

struct Attempt {
  const config::Deployment* d = nullptr;
  const config::Provider* prov = nullptr;
  std::size_t idx = 0;  ///< in the model's deployments
  Pool* pool = nullptr;
  std::unique_ptr<Connection> conn;
  std::optional<ResponseParser> parser;
  Clock::time_point started{}, sent_at{}, head_at{}, total_at{};
  double ttfb_ms = -1;  ///< sent → response head
  double ttft_ms = -1;  ///< sent → win point
  router::Headroom headroom;
  // A stream: its events, and how the last read of it ended.
  std::unique_ptr<StreamRelay> stream;
  api::Errc stream_e = api::Errc::ok;
  error_code stream_ec;
  bool raw = false;         ///< /v1/messages to an Anthropic deployment: bytes pass through
  bool hedge = false;       ///< started as the backup of a slow attempt
  bool cancelled = false;   ///< lost the race, or the client left
  bool finished = false;    ///< open() has returned; `outcome` is set
  bool handled = false;     ///< the call has acted on `outcome`
  bool stats_done = false;  ///< its end is in the live stats (finished or abandoned)
  Outcome outcome;
  // A stream rescue: continues the answer the client already has part of.
  bool continuation = false;
  adapters::continuation::Prefill prefill;
  adapters::messages_front::EventWriter* client_writer = nullptr;  ///< Anthropic clients
  std::string client_id;            ///< the chunk id the client knows
  std::int64_t prefill_chunks = 0;  ///< the earlier attempts' content chunks
  // What delivery learnt, for the usage record.
  usage::Usage usage;            ///< as the provider reported it (input/output -1: not)
  std::size_t answer_bytes = 0;  ///< answer text, for an estimate when usage is missing
};

/// Runs the attempt to its win point (Outcome::Kind::ready) or to the outcome that ends it.
/// `request_usage`: ask a stream for its usage (stream_options); when an OpenAI-compatible
/// server rejects that field (Outcome::rejected_stream_options) the caller opens again
/// without it. Never throws on I/O errors.
net::awaitable<Outcome> open(Attempt& a, const CallRequest& rq, std::mt19937_64& rng,
                             bool request_usage);

/// One read of a stream's body into its relay (a.stream): events parsed into its `out`,
/// nothing written anywhere. Sets a.stream_e / a.stream_ec. `committed`: after the commit
/// point (the first-token deadline no longer applies).
net::awaitable<void> pump(Attempt& a, bool committed);

/// Which deadline bounds the next read, so a timeout can be named precisely.
struct Deadline {
  Clock::time_point at;
  api::Errc on_timeout;
};
/// The earlier of two deadlines (by earliest(), net/common.hpp), keeping its timeout kind.
inline Deadline pick(Deadline a, Deadline b) { return earliest(a.at, b.at) == a.at ? a : b; }

/// One read of the response body (at most `cap` bytes into `buf`, `n` read).
net::awaitable<api::Errc> read_some(Connection& c, ResponseParser& p, char* buf, std::size_t cap,
                                    std::size_t& n, Deadline dl, error_code& ec);
/// The whole body into `out`, bounded by `limit` (upstream_malformed past it).
net::awaitable<api::Errc> read_all(Connection& c, ResponseParser& p, std::string& out,
                                   std::size_t limit, const config::ProviderTimeouts& t,
                                   Clock::time_point total_at, error_code& ec);

/// An I/O error as a gateway error: a timeout of the kind the deadline names, a TLS
/// failure, or a reset.
api::Errc classify_io(const error_code& ec, api::Errc timeout_kind);
/// Words for it (no secrets), for logs and the client's final error.
std::string describe_io(const error_code& ec, api::Errc e, std::chrono::milliseconds limit);

/// The connection back to its pool (closed unless `reusable`).
inline void give_back(Attempt& a, bool reusable) {
  if (a.conn) a.pool->release(std::move(a.conn), reusable);
}
/// Stops the attempt: closing the provider's connection is what stops it generating.
void cancel(Attempt& a);

}  // namespace switchyard::upstream
