#include "upstream/call.hpp"

#include <spdlog/spdlog.h>

#include "switchyard/router/health.hpp"
#include "switchyard/router/plan.hpp"
#include "upstream/relay.hpp"

namespace switchyard::upstream {

using api::Errc;

Call::Call(Upstreams& up, http::Exchange& ex, const CallRequest& rq, const router::Plan& plan)
    : up_(up),
      ex_(ex),
      rq_(rq),
      plan_(plan),
      model_(up.cfg.models[plan.model_index]),
      model_index_(plan.model_index),
      wake_(up.ioc) {}

net::awaitable<void> Call::run() {
  // If the client leaves while we wait on a provider, stop that provider's work at once.
  ex_.watch_client([this] {
    for (auto& a : attempts_list_) {
      if (!a->finished) cancel(*a);
    }
    wake_.cancel();
  });
  // The spawned attempts point into this call: whatever serve() does, they are settled
  // before the call is gone (an exception goes on to the session's boundary after that).
  std::exception_ptr failed;
  try {
    co_await serve();
  } catch (...) {
    failed = std::current_exception();
  }
  co_await settle();
  count_outcome();
  // Attempts that finished after the call stopped caring (the client left) still count.
  for (auto& a : attempts_list_) {
    if (a->finished && !a->handled) give_back(*a, false);
    abandon(*a);
  }
  if (failed) std::rethrow_exception(failed);
}

// Attempts: the ranked plan, then round again (with backoff) while the budget and the
// request's deadline allow. A deployment that answered 429 is not retried by this request.
net::awaitable<void> Call::serve() {
  const config::Routing& routing = up_.cfg.routing;
  may_hedge_ = (model_.hedge_after.count() > 0 || model_.hedge_p95) &&
               routing.hedge_max_fraction > 0 && routing.retry.max_attempts > 1;
  if (may_hedge_) up_.hedges.on_request();
  Clock::duration longest_total{};
  for (const auto& c : plan_.ranking.allowed) {
    longest_total = std::max<Clock::duration>(
        longest_total,
        up_.cfg.providers[model_.deployments[c.index].provider_index].timeouts.total);
  }
  deadline_ = Clock::now() + longest_total;
  tries_.assign(model_.deployments.size(), Tries{});
  while (attempts_ < routing.retry.max_attempts) {
    const Step step = next_step();
    if (step.stop) break;
    if (step.backoff.count() > 0) {
      net::steady_timer pause(up_.ioc);
      pause.expires_after(step.backoff);
      auto [pec] = co_await pause.async_wait(use_nothrow);
      (void)pec;
      if (ex_.client_gone()) co_return;
    }
    if (!admit(step.idx)) continue;
    ++tries_[step.idx].count;
    ++attempts_;
    if (tries_[step.idx].count > 1) up_.accounting.retry(model_index_, step.idx);
    Attempt* winner = nullptr;
    if (auto hedge_at =
            may_hedge_ && !rescuing_ ? hedge_time(step.idx, Clock::now()) : std::nullopt) {
      winner = co_await race(step.idx, *hedge_at);
    } else {
      // No hedge possible: the attempt runs inline.
      Attempt& a = start(step.idx, false, false);
      co_await drive(a);
      a.finished = true;
      if (ex_.client_gone()) co_return;  // settle() and run() account for it
      bool active = false;
      winner = collect(attempts_list_.size() - 1, active);
    }
    if (ex_.client_gone()) co_return;  // settle() cancels what still runs
    if (!winner) continue;             // every attempt of this race failed over: next in the plan
    const bool over = co_await finish_with(*winner);
    if (over) co_return;
  }
  co_await answer_failure();
}

bool Call::admit(std::size_t idx) {
  const config::Deployment& d = model_.deployments[idx];
  if (tries_[idx].shut) return false;
  if (rescuing_ && !can_prefill(d, up_.cfg.providers[d.provider_index],
                                up_.prefill_refused[model_index_][idx])) {
    return false;
  }
  if (context_failed_ && !router::fits_after_context_error(*context_failed_, d)) {
    tries_[idx].shut = true;
    return false;
  }
  const Clock::time_point now = Clock::now();
  // In panic (every candidate unhealthy) a breaker does not refuse; a max_rpm cap does.
  if (!up_.stats.admit(model_index_, idx, now, plan_.ranking.panic)) {
    // Its breaker opened meanwhile, another request holds the half-open probe, or its
    // max_rpm is used up.
    rpm_refused_ = rpm_refused_ || up_.stats.rpm_capped(model_index_, idx, now);
    return false;
  }
  return true;
}

Call::Step Call::next_step() {
  const auto& allowed = plan_.ranking.allowed;
  for (;;) {
    if (pos_ == allowed.size()) {
      // A round in which no deployment would take an attempt (all shut, or refused by
      // their breakers) ends the request instead of spinning.
      if (attempts_ == attempts_at_round_start_) return {true};
      attempts_at_round_start_ = attempts_;
      pos_ = 0;
      bool any = false;
      for (const auto& c : allowed) any = any || !tries_[c.index].shut;
      if (!any) return {true};
    }
    const std::size_t idx = allowed[pos_++].index;
    if (tries_[idx].shut) continue;
    Step step;
    step.idx = idx;
    if (tries_[idx].count > 0) {
      step.backoff = router::backoff_delay(tries_[idx].count - 1, up_.cfg.routing.retry, up_.rng);
      if (Clock::now() + step.backoff >= deadline_) return {true};
    }
    return step;
  }
}

net::awaitable<Attempt*> Call::race(std::size_t idx, Clock::time_point hedge_time) {
  std::optional<Clock::time_point> hedge_at = hedge_time;
  start(idx, false, true);
  const std::size_t race_begin = attempts_list_.size() - 1;
  Attempt* winner = nullptr;
  for (;;) {
    if (ex_.client_gone()) co_return nullptr;  // settle() cancels what still runs
    bool active = false;
    winner = collect(race_begin, active);
    if (winner || !active) break;
    if (hedge_at && Clock::now() >= *hedge_at) {
      hedge_at.reset();
      start_hedge(race_begin);
      continue;
    }
    wake_.expires_at(hedge_at ? *hedge_at : Clock::time_point::max());
    auto [wec] = co_await wake_.async_wait(use_nothrow);
    (void)wec;
  }
  if (winner) stop_losers(race_begin, *winner);
  co_return winner;
}

Attempt* Call::collect(std::size_t begin, bool& active) {
  for (std::size_t k = begin; k < attempts_list_.size(); ++k) {
    Attempt& a = *attempts_list_[k];
    if (!a.finished) {
      active = true;
      continue;
    }
    if (a.handled) continue;
    if (a.outcome.kind != Outcome::Kind::failover) return &a;
    a.handled = true;
    record(a, a.outcome, Clock::now());
    spdlog::debug("{} {}/{} failed over: {}", rq_.request_id, a.d->provider, a.d->model,
                  a.outcome.detail);
    if (a.outcome.status == 429) tries_[a.idx].shut = true;
    if (a.outcome.prefill_rejected) {
      up_.prefill_refused[model_index_][a.idx] = 1;
      tries_[a.idx].shut = true;
      spdlog::info("{} {}/{} refused an assistant prefill; not asked to continue again",
                   rq_.request_id, a.d->provider, a.d->model);
    }
    note_failure(a, std::move(a.outcome));
  }
  return nullptr;
}

// The backup goes to the next deployment in the plan that may take it now.
void Call::start_hedge(std::size_t race_begin) {
  const auto& allowed = plan_.ranking.allowed;
  while (pos_ < allowed.size() && attempts_ < up_.cfg.routing.retry.max_attempts) {
    const std::size_t h = allowed[pos_].index;
    if (tries_[h].count > 0 || tries_[h].shut) {
      ++pos_;
      continue;
    }
    if (!up_.hedges.can_spend()) return;  // over routing.hedge_max_fraction
    if (!admit(h)) {
      ++pos_;
      continue;
    }
    up_.hedges.spend();
    ++pos_;
    ++tries_[h].count;
    ++attempts_;
    hedged_ = true;
    spdlog::debug("{} hedging {}/{} after {} ms", rq_.request_id, model_.deployments[h].provider,
                  model_.deployments[h].model,
                  std::chrono::duration_cast<std::chrono::milliseconds>(
                      Clock::now() - attempts_list_[race_begin]->started)
                      .count());
    start(h, true, true);
    return;
  }
}

// The losers: stop them (their providers see the connection closed).
void Call::stop_losers(std::size_t race_begin, const Attempt& winner) {
  for (std::size_t k = race_begin; k < attempts_list_.size(); ++k) {
    Attempt& a = *attempts_list_[k];
    if (&a == &winner || a.handled) continue;
    if (!a.finished) {
      cancel(a);
      // Censored at the time it lost, so that its slowness still counts toward the p95.
      up_.accounting.ttft_censored(
          model_index_, a.idx,
          std::chrono::duration<double, std::milli>(Clock::now() - a.started).count());
    } else {
      a.handled = true;
      give_back(a, false);  // it reached its win point too, second
    }
    abandon(a);
  }
}

net::awaitable<bool> Call::finish_with(Attempt& winner) {
  winner.handled = true;
  if (hedged_ && hedge_winner_ == nullptr) hedge_winner_ = &winner;
  Outcome o = std::move(winner.outcome);
  if (o.kind == Outcome::Kind::ready) {
    o = co_await deliver(winner, rq_, ex_, client_, AnswerHeaders{attempts_, hedged_, plan_.line});
  }
  const Clock::time_point now = Clock::now();
  const bool delivered = o.kind == Outcome::Kind::done || o.kind == Outcome::Kind::rescue;
  if (ex_.client_gone()) {
    abandon(winner);
    if (delivered) account(winner, o, true);
    spdlog::debug("{} client went away during attempt {}", rq_.request_id, attempts_);
    co_return true;
  }
  record(winner, o, now);
  if (delivered) account(winner, o, o.client_cut);
  const config::Deployment& wd = *winner.d;
  switch (o.kind) {
    case Outcome::Kind::ready:
    case Outcome::Kind::done:
      if (winner.continuation && !o.broke) {
        rescued_ = true;
        spdlog::info("{} stream rescued by {}/{} after {} continuation(s)", rq_.request_id,
                     wd.provider, wd.model, rescues_);
      }
      co_return true;
    case Outcome::Kind::rescue:
      // The stream broke after content went out; the next deployment that can take a
      // prefill continues it, within the same attempt budget and deadline.
      if (!rescuing_) {
        rescue_error_ = o.detail;
        rescue_code_ = o.code;
      }
      rescuing_ = true;
      ++rescues_;
      spdlog::info("{} stream from {}/{} broke after {} bytes of answer ({}); rescuing",
                   rq_.request_id, wd.provider, wd.model, client_.text.size(), o.detail);
      note_failure(winner, std::move(o));
      co_return false;
    case Outcome::Kind::passthrough:
      o.reply.headers.emplace_back("x-switchyard-deployment", wd.provider + "/" + wd.model);
      o.reply.headers.emplace_back("x-switchyard-attempts", std::to_string(attempts_));
      o.reply.headers.emplace_back("x-switchyard-route", plan_.line);
      co_await send_reply(ex_, rq_.front, o.reply);
      co_return true;
    case Outcome::Kind::unsupported:
      // This dialect cannot express the request (say n > 1 to Anthropic): another
      // deployment may; if none can, the client hears why.
      tries_[winner.idx].shut = true;
      if (!unsupported_) unsupported_ = std::move(o.client_error);
      spdlog::debug("{} {}/{} cannot take this request: {}", rq_.request_id, wd.provider, wd.model,
                    o.detail);
      co_return false;
    case Outcome::Kind::context_length:
      context_failed_ = &wd;
      tries_[winner.idx].shut = true;
      context_error_ = std::move(o.reply);
      spdlog::debug("{} {}/{}: context_length_exceeded, trying a larger window", rq_.request_id,
                    wd.provider, wd.model);
      co_return false;
    case Outcome::Kind::failover:
      spdlog::debug("{} {}/{} failed over: {}", rq_.request_id, wd.provider, wd.model, o.detail);
      if (o.status == 429) tries_[winner.idx].shut = true;
      note_failure(winner, std::move(o));
      co_return false;
  }
  co_return true;
}

void Call::note_failure(Attempt& a, Outcome o) {
  o.detail = a.d->provider + "/" + a.d->model + ": " + o.detail;
  failures_.push_back(std::move(o));
}

net::awaitable<void> Call::answer_failure() {
  if (client_.started) {
    // A rescue found no deployment to continue the answer: the client hears the original
    // break, never a prefill refusal.
    co_await end_stream_with_error(ex_, rq_.front, client_, rescue_error_, rescue_code_);
    co_return;
  }
  if (context_error_ && failures_.empty()) {
    // No deployment with a larger window: the prompt is the client's problem; say so in
    // the provider's own words.
    context_error_->headers.emplace_back("x-switchyard-attempts", std::to_string(attempts_));
    co_await send_reply(ex_, rq_.front, *context_error_);
    co_return;
  }
  if (unsupported_ && failures_.empty()) {
    const api::ClientError& ce = *unsupported_;
    co_await send_client_error(ex_, rq_.front, ce.status, ce.message, ce.type, ce.code, ce.param);
    co_return;
  }
  Reply r = final_error(failures_, attempts_, rpm_refused_, model_.name);
  if (!plan_.line.empty()) r.headers.emplace_back("x-switchyard-route", plan_.line);
  co_await send_reply(ex_, rq_.front, r);
}

Attempt& Call::start(std::size_t idx, bool hedge, bool spawn) {
  auto owned = std::make_unique<Attempt>();
  Attempt& a = *owned;
  attempts_list_.push_back(std::move(owned));
  a.d = &model_.deployments[idx];
  a.prov = &up_.cfg.providers[a.d->provider_index];
  a.idx = idx;
  a.pool = up_.pools[a.d->provider_index].get();
  a.hedge = hedge;
  a.continuation = rescuing_;
  // A continuation always goes through the translation, so the client's event stream
  // (already started by another deployment) goes on in one piece.
  a.raw = rq_.front == Front::anthropic && a.prov->kind == config::ProviderKind::anthropic &&
          !a.continuation;
  if (a.continuation) {
    a.prefill = continuation_for(rq_, client_, *a.prov);
    a.client_writer = client_.writer.get();
    a.client_id = client_.id;
    a.prefill_chunks = client_.chunks;
  }
  a.cancelled = ex_.client_gone();
  a.started = Clock::now();
  if (spawn) {
    net::co_spawn(up_.ioc, drive(a), [this, &a](std::exception_ptr e) {
      if (e) {
        // open() does not throw on I/O errors; anything else is a bug: fail the attempt.
        give_back(a, false);
        a.outcome = failover(Errc::upstream_reset, "internal error in the upstream attempt");
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          spdlog::error("{} upstream attempt failed: {}", rq_.request_id, ex.what());
        } catch (...) {
        }
      }
      a.finished = true;
      wake_.cancel();
    });
  }
  return a;
}

net::awaitable<void> Call::drive(Attempt& a) {
  a.outcome = co_await open(a, rq_, up_.rng, true);
  if (a.outcome.rejected_stream_options && !a.cancelled) {
    // Some OpenAI-compatible servers reject stream_options; we added it, so the client's
    // own request is fine: send it as the client wrote it.
    spdlog::debug("{} {}/{} rejects stream_options; retrying without it", rq_.request_id,
                  a.d->provider, a.d->model);
    a.outcome = co_await open(a, rq_, up_.rng, false);
  }
}

// When a backup attempt starts if `a` has not reached its win point: the model's fixed
// hedge_after_ms, or the deployment's own p95 time to first token (none until known).
std::optional<Clock::time_point> Call::hedge_time(std::size_t idx, Clock::time_point now) const {
  if (hedged_ || up_.cfg.routing.hedge_max_fraction <= 0) return std::nullopt;
  if (model_.hedge_after.count() > 0) return now + model_.hedge_after;
  if (model_.hedge_p95) {
    // From the stats, not a views scratch: other requests rewrite that while this one waits.
    const double p95 = up_.stats.p95_ttft_ms(model_index_, idx);
    if (p95 >= 0) {
      return now + std::chrono::duration_cast<Clock::duration>(
                       std::chrono::duration<double, std::milli>(p95));
    }
  }
  return std::nullopt;
}

void Call::record(Attempt& a, const Outcome& o, Clock::time_point now) {
  a.stats_done = true;
  usage::AttemptReport r;
  r.model = model_index_;
  r.deployment = a.idx;
  r.seconds = std::chrono::duration<double>(now - a.started).count();
  r.failed = o.kind == Outcome::Kind::failover || o.broke;
  r.origin = o.kind == Outcome::Kind::failover ? api::origin_of(o.err) : api::Origin::upstream;
  r.err = o.err;
  r.status = o.status;
  r.ttfb_ms = a.ttfb_ms;
  r.ttft_ms = a.ttft_ms;
  r.tokens_per_s = o.tokens_per_s;
  r.retry_after_s = o.retry_after_s;
  r.headroom = a.headroom;
  up_.accounting.attempt_finished(r, now);
}

void Call::abandon(Attempt& a) {
  if (a.stats_done) return;
  a.stats_done = true;
  const Clock::time_point now = Clock::now();
  up_.accounting.attempt_abandoned(model_index_, a.idx,
                                   std::chrono::duration<double>(now - a.started).count(), now);
}

// The usage record of an answer that reached the client (whole, broken or cut).
void Call::account(const Attempt& a, const Outcome& o, bool client_cut) {
  usage::AnswerReport r;
  r.deployment = a.d;
  r.model = model_index_;
  r.deployment_index = a.idx;
  r.request_id = rq_.request_id;
  r.trace_id = rq_.trace.trace_id;
  r.endpoint = rq_.endpoint;
  r.model_name = rq_.chat.model;
  r.stream = rq_.chat.stream;
  r.attempt = attempts_;
  r.client_cut = client_cut;
  r.incomplete = o.broke;
  r.usage = a.usage;
  r.answer_bytes = a.answer_bytes;
  r.prompt_estimate = rq_.chat.prompt_tokens_estimate;
  up_.accounting.answer(r, ex_.log());
}

// No attempt outlives the call: cancel what still runs and wait for it to return (a
// cancelled attempt returns as soon as its socket operation is aborted; one still
// connecting returns within its connect timeout).
net::awaitable<void> Call::settle() {
  for (;;) {
    bool running = false;
    for (auto& a : attempts_list_) {
      if (a->finished) continue;
      running = true;
      if (!a->cancelled) cancel(*a);
      abandon(*a);
    }
    if (!running) co_return;
    wake_.expires_at(Clock::time_point::max());
    auto [ec] = co_await wake_.async_wait(use_nothrow);
    (void)ec;
  }
}

void Call::count_outcome() {
  telemetry::RequestLog& log = ex_.log();
  log.attempts = attempts_;
  // Answered: the client got a whole answer (a 2xx head and no error event after it).
  usage::CallReport r;
  r.model = model_index_;
  r.answered = log.status > 0 && log.status < 400 && log.error_code.empty() && !ex_.client_gone();
  int failed_attempts = 0;
  for (const Outcome& f : failures_) failed_attempts += f.kind == Outcome::Kind::failover ? 1 : 0;
  r.failed_over = failed_attempts > 0 && attempts_ > 1;
  r.hedged = hedged_;
  r.hedge = hedge_winner_ == nullptr ? telemetry::HedgeOutcome::none_won
            : hedge_winner_->hedge   ? telemetry::HedgeOutcome::backup_won
                                     : telemetry::HedgeOutcome::primary_won;
  r.rescues = rescues_;
  r.rescued = rescued_;
  up_.accounting.call_finished(r);
}

}  // namespace switchyard::upstream
