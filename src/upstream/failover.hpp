#pragma once
// Pure failover classification: how one attempt ended (Outcome), what an upstream's error
// status means for the call (fail over, pass through, try a larger window, a refused
// prefill), and the one error the client gets when every attempt failed. Plain data, no
// Asio, no Beast: tests/upstream/failover_test.cpp feeds it statuses and bodies.

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "switchyard/api/errors.hpp"
#include "switchyard/config/config.hpp"

namespace switchyard::upstream {

/// A whole response for the client: a relayed provider error or the gateway's own.
struct Reply {
  int status = 0;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;  ///< besides content-type
  std::string body;
  bool native = false;  ///< already in the client's dialect (Anthropic bytes passed through)
};

/// How one attempt ended.
struct Outcome {
  enum class Kind {
    done,            // a response went to the client (or the client left): stop
    failover,        // nothing reached the client; try the next deployment
    ready,           // reached its win point; deliver() sends the answer
    passthrough,     // the provider's own 4xx: relay it to the client, no retry
    context_length,  // 400 context_length_exceeded: only a larger context window may help
    unsupported,     // this deployment's dialect cannot express the request; try others
    rescue,          // the stream broke after content went out: continue it elsewhere
  };
  Kind kind = Kind::done;
  api::Errc err = api::Errc::ok;
  int status = 0;
  std::string detail;
  std::optional<long> retry_after_s;
  bool rejected_stream_options = false;  // a 4xx that names the field we added
  bool broke = false;                    // done, but the stream ended with an error event
  double tokens_per_s = -1;              // content events per second of a stream, when measured
  Reply reply;                           // passthrough / context_length
  bool client_cut = false;               // done because the client stopped reading the answer
  bool prefill_rejected = false;         // a continuation was refused (the deployment takes none)
  std::string code;                      // rescue: the error code of the break
  api::ClientError client_error;         // unsupported
};

Outcome failover(api::Errc e, std::string detail, int status = 0);

/// Is this response header passed on to the client (request id, Retry-After, rate limits)?
bool is_passthrough_header(std::string_view name);

/// An upstream's non-2xx answer, as read.
struct ErrorStatus {
  int status = 0;
  std::string_view body;          ///< bounded; may be cut short when `body_ok` is false
  bool body_ok = true;            ///< the body was read whole
  std::string_view content_type;  ///< the upstream's
  std::vector<std::pair<std::string, std::string>> passthrough_headers;
  std::optional<long> retry_after_s;
  config::ProviderKind kind = config::ProviderKind::openai;
  bool raw = false;                   ///< Anthropic bytes to an Anthropic client: relay as they are
  bool continuation = false;          ///< the attempt was a stream rescue (an assistant prefill)
  bool added_stream_options = false;  ///< the gateway added stream_options to this request
};

/// What the call does with an error status: 429, 408 and 5xx fail over; a 4xx to a
/// continuation is the deployment refusing the prefill (fail over, remembered); a context
/// overflow may fit a larger window; any other 4xx is the client's and is relayed, in the
/// client's dialect.
Outcome error_outcome(const ErrorStatus& in);

/// The client's error when no attempt delivered: 429 when every failure was a rate limit
/// (Retry-After: the shortest the providers asked for), 503 pool_overflow, 504 when all
/// timed out, 502 otherwise; with no failures, 429 if a local max_rpm refused some
/// deployment, else 503 no_route (every breaker open). `failures` in attempt order.
Reply final_error(const std::vector<Outcome>& failures, int attempts, bool rpm_refused,
                  std::string_view model_name);

}  // namespace switchyard::upstream
