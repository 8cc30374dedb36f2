#pragma once
// Delivering the answer of the attempt that won: a whole answer (read, check, decode into
// the client's dialect, send), or a stream from its commit point on — from here the client
// sees this deployment's answer, and a failure ends the stream with an error event unless
// the answer can be continued elsewhere (Outcome::Kind::rescue). Runs on the worker's
// thread.

#include <string_view>

#include "http/exchange.hpp"
#include "upstream/attempt.hpp"
#include "upstream/rescue.hpp"

namespace switchyard::upstream {

/// The gateway's own headers on an answer (x-switchyard-*).
struct AnswerHeaders {
  int attempts = 0;
  bool hedged = false;  ///< the call raced a backup
  std::string_view route;
};

/// Delivers `a` (which reached its win point) to the client. Streams update `client`
/// (what the client has seen) for a rescue.
net::awaitable<Outcome> deliver(Attempt& a, const CallRequest& rq, http::Exchange& ex,
                                ClientStream& client, const AnswerHeaders& h);

/// A whole reply to the client, in its dialect: an error the gateway made (or an OpenAI-
/// dialect provider's) becomes Anthropic-shaped for /v1/messages unless `native`.
net::awaitable<void> send_reply(http::Exchange& ex, Front front, http::Response& res,
                                bool native = false);
/// The same from a Reply (failover.hpp).
net::awaitable<void> send_reply(http::Exchange& ex, Front front, const Reply& r);

/// An error the gateway makes (OpenAI-shaped, Anthropic-shaped for /v1/messages), its
/// type and code noted for the access log.
net::awaitable<void> send_client_error(http::Exchange& ex, Front front, int status,
                                       std::string_view message, std::string_view type,
                                       std::string_view code = {}, std::string_view param = {});

/// The client's stream (already started) ends with one error event in its dialect, no
/// [DONE].
net::awaitable<void> end_stream_with_error(http::Exchange& ex, Front front, ClientStream& client,
                                           std::string_view message, std::string_view code);

}  // namespace switchyard::upstream
