#include "switchyard/usage/accounting.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace switchyard::usage {

std::optional<telemetry::ErrorReason> error_reason(api::Errc e, int status) {
  using R = telemetry::ErrorReason;
  using api::Errc;
  switch (e) {
    case Errc::connect_failed:
    case Errc::connect_timeout:
      return R::connect;
    case Errc::tls_failed:
      return R::tls;
    case Errc::first_byte_timeout:
    case Errc::first_token_timeout:
    case Errc::idle_timeout:
    case Errc::total_timeout:
      return R::timeout;
    case Errc::upstream_status:
      return status == 429 ? R::status_429 : status >= 500 ? R::status_5xx : R::status_4xx;
    case Errc::upstream_reset:
      return R::reset;
    case Errc::upstream_malformed:
    case Errc::upstream_empty:
      return R::malformed;
    case Errc::pool_overflow:
      return R::pool_overflow;
    case Errc::upstream_error_event:
      return R::stream_error;
    default:
      if (status == 429) return R::status_429;
      if (status >= 500) return R::status_5xx;
      if (status >= 400) return R::status_4xx;
      return std::nullopt;
  }
}

void Accounting::attempt_finished(const AttemptReport& r, Clock::time_point now) {
  if (metrics_) {
    const int s = slot(r.model, r.deployment);
    metrics_->attempt(
        s, r.failed ? telemetry::AttemptOutcome::failure : telemetry::AttemptOutcome::success,
        r.seconds);
    if (r.failed) {
      if (auto reason = error_reason(r.err, r.status)) metrics_->upstream_error(s, *reason);
    }
  }
  stats_.attempt_finished(r.model, r.deployment, now, !r.failed, r.origin, r.ttfb_ms,
                          r.tokens_per_s);
  if (r.ttft_ms >= 0) stats_.ttft_sample(r.model, r.deployment, r.ttft_ms);
  if (r.retry_after_s) {
    stats_.retry_after(r.model, r.deployment, now + std::chrono::seconds(*r.retry_after_s));
  }
  if (r.headroom.known()) {
    // Believe the reading until the provider's own reset time (a minute at most).
    auto valid = std::chrono::milliseconds(60000);
    if (r.headroom.reset_requests) valid = std::min(valid, *r.headroom.reset_requests);
    if (r.headroom.reset_tokens) valid = std::min(valid, *r.headroom.reset_tokens);
    stats_.headroom(r.model, r.deployment, r.headroom.fraction(), now + valid);
  }
}

void Accounting::attempt_abandoned(std::size_t model, std::size_t deployment, double seconds,
                                   Clock::time_point now) {
  if (metrics_) {
    metrics_->attempt(slot(model, deployment), telemetry::AttemptOutcome::cancelled, seconds);
  }
  stats_.attempt_abandoned(model, deployment, now);
}

void Accounting::answer(const AnswerReport& a, telemetry::RequestLog& log) {
  const config::Deployment& d = *a.deployment;
  Record r;
  r.unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();
  r.request_id = std::string(a.request_id);
  r.trace_id = std::string(a.trace_id);
  r.endpoint = std::string(a.endpoint);
  r.model = std::string(a.model_name);
  r.provider = d.provider;
  r.deployment = d.provider + "/" + d.model;
  r.stream = a.stream;
  r.attempt = a.attempt;
  r.client_cut = a.client_cut;
  r.incomplete = a.incomplete;
  r.tokens = a.usage;
  r.provenance = Provenance::provider;
  if (r.tokens.input_tokens < 0 || r.tokens.output_tokens < 0) {
    // Missing counts (a stream cut before its usage chunk, a server that reports none):
    // the prompt from the request, the output from the text relayed.
    r.provenance = Provenance::estimated;
    if (r.tokens.input_tokens < 0) r.tokens.input_tokens = a.prompt_estimate;
    if (r.tokens.output_tokens < 0) r.tokens.output_tokens = estimate_tokens(a.answer_bytes);
  }
  r.cost_usd = cost_usd(r.tokens, d.price);
  const bool estimated = r.provenance == Provenance::estimated;
  const int s = slot(a.model, a.deployment_index);
  if (metrics_) {
    metrics_->tokens(s, estimated, r.tokens.input_tokens, r.tokens.output_tokens,
                     r.tokens.cached_input_tokens, r.tokens.cache_write_tokens, r.cost_usd);
  }
  // The access log sums the answer's records (a rescued stream has one per attempt) and
  // names the deployment that gave the last part.
  log.slot = s;
  log.deployment = r.deployment;
  log.has_usage = true;
  log.input_tokens += r.tokens.input_tokens;
  log.output_tokens += r.tokens.output_tokens;
  log.cached_tokens += std::max<std::int64_t>(r.tokens.cached_input_tokens, 0);
  log.estimated = log.estimated || estimated;
  log.cost_usd += r.cost_usd;
  spdlog::debug("{} usage {} in={} out={} cached={} ({}) cost={:.6f}", r.request_id, r.deployment,
                r.tokens.input_tokens, r.tokens.output_tokens, r.tokens.cached_input_tokens,
                name_of(r.provenance), r.cost_usd);
  ledger_.add(batch_, std::move(r));
}

void Accounting::call_finished(const CallReport& r) {
  if (!metrics_) return;
  const int model = static_cast<int>(r.model);
  if (r.failed_over) metrics_->failover(model, r.answered);
  if (r.hedged) metrics_->hedge(model, r.hedge);
  if (r.rescues > 0) metrics_->rescue(model, r.rescued);
}

}  // namespace switchyard::usage
