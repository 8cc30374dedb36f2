#include "upstream/failover.hpp"

#include <strings.h>

#include "switchyard/adapters/anthropic.hpp"
#include "switchyard/adapters/gemini.hpp"
#include "switchyard/adapters/openai.hpp"

namespace switchyard::upstream {

using api::Errc;

Outcome failover(Errc e, std::string detail, int status) {
  Outcome o;
  o.kind = Outcome::Kind::failover;
  o.err = e;
  o.detail = std::move(detail);
  o.status = status;
  return o;
}

namespace {
bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && ::strncasecmp(a.data(), b.data(), a.size()) == 0;
}
}  // namespace

bool is_passthrough_header(std::string_view name) {
  return iequals(name, "x-request-id") || iequals(name, "retry-after") ||
         (name.size() > 12 && iequals(name.substr(0, 12), "x-ratelimit-"));
}

Outcome error_outcome(const ErrorStatus& in) {
  using config::ProviderKind;
  Outcome o;
  o.status = in.status;
  o.err = Errc::upstream_status;
  o.retry_after_s = in.retry_after_s;
  adapters::MappedError me;
  std::string mapped_body;  // the error in OpenAI's shape, for other dialects
  int client_status = in.status;
  if (in.kind == ProviderKind::anthropic || in.kind == ProviderKind::gemini) {
    me = in.kind == ProviderKind::anthropic ? adapters::anthropic::map_error(in.status, in.body)
                                            : adapters::gemini::map_error(in.status, in.body);
    if (!in.raw) {
      mapped_body = std::move(me.openai_body);
      client_status = me.status;
    }
  } else {
    me = adapters::openai::map_error(in.status, in.body);
  }
  o.detail = "upstream returned HTTP " + std::to_string(in.status) +
             (me.message.empty() ? "" : ": " + me.message.substr(0, 300));
  if (in.status == 429 || in.status == 408 || in.status >= 500) {
    o.kind = Outcome::Kind::failover;
    return o;
  }
  if (in.continuation) {
    // The original request was fine (another deployment answered it): a 4xx now is this
    // deployment refusing the prefill. Remember, and let the next one continue.
    o.kind = Outcome::Kind::failover;
    o.prefill_rejected = true;
    return o;
  }
  o.kind = me.context_length ? Outcome::Kind::context_length : Outcome::Kind::passthrough;
  // Azure OpenAI before api-version 2024-10-21 rejects the field too.
  o.rejected_stream_options = (in.kind == ProviderKind::openai || in.kind == ProviderKind::azure) &&
                              in.added_stream_options && (in.status == 400 || in.status == 422) &&
                              in.body.find("stream_options") != std::string_view::npos;
  Reply& r = o.reply;
  r.status = client_status;
  r.content_type = in.content_type.empty() || !mapped_body.empty() ? std::string("application/json")
                                                                   : std::string(in.content_type);
  r.headers = in.passthrough_headers;
  r.native = in.raw;
  if (!mapped_body.empty()) {
    r.body = std::move(mapped_body);
  } else if (!in.body_ok || in.body.empty()) {
    r.body = api::error_json(o.detail, "upstream_error", "upstream_status");
    r.native = false;
  } else {
    r.body = std::string(in.body);
  }
  return o;
}

Reply final_error(const std::vector<Outcome>& failures, int attempts, bool rpm_refused,
                  std::string_view model_name) {
  Reply r;
  if (failures.empty()) {
    r.headers.emplace_back("retry-after", "1");
    if (rpm_refused) {
      r.status = 429;
      r.body = api::error_json("Rate limit reached for `" + std::string(model_name) +
                                   "`: every deployment that can serve this request is at its "
                                   "max_rpm.",
                               "rate_limit_exceeded", "rate_limit_exceeded");
    } else {
      r.status = 503;
      r.body = api::error_json(
          "No deployment can serve this request now: the circuit breakers of all candidates "
          "are open.",
          "server_error", "no_route");
    }
    return r;
  }
  bool all_429 = true, all_timeout = true, all_overflow = true;
  std::optional<long> retry_after;
  for (const Outcome& f : failures) {
    all_429 = all_429 && f.status == 429;
    all_timeout = all_timeout && api::is_timeout(f.err);
    all_overflow = all_overflow && f.err == Errc::pool_overflow;
    if (f.retry_after_s && (!retry_after || *f.retry_after_s < *retry_after)) {
      retry_after = f.retry_after_s;
    }
  }
  const Outcome& last = failures.back();
  const std::string msg = "All " + std::to_string(attempts) + " upstream attempt" +
                          (attempts == 1 ? "" : "s") + " failed; last: " + last.detail;
  r.headers.emplace_back("x-switchyard-attempts", std::to_string(attempts));
  if (all_429) {
    r.status = 429;
    r.headers.emplace_back("retry-after", std::to_string(retry_after.value_or(1)));
    r.body = api::error_json(msg, "rate_limit_exceeded", "rate_limit_exceeded");
  } else if (all_overflow) {
    r.status = 503;
    r.headers.emplace_back("retry-after", "1");
    r.body = api::error_json(msg, "server_error", "pool_overflow");
  } else if (all_timeout) {
    r.status = 504;
    r.body = api::error_json(msg, "upstream_error", api::name_of(last.err));
  } else {
    r.status = 502;
    r.body = api::error_json(msg, "upstream_error", api::name_of(last.err));
  }
  return r;
}

}  // namespace switchyard::upstream
