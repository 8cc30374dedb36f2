#pragma once
// One call: the plan's attempts in order, each up to its win point, with at most one
// backup racing a slow attempt (a hedge), retries with backoff within the attempt budget
// and the request's deadline, a stream rescue when an answer breaks after its commit
// point, and the one error the client gets when nothing delivered. Owns every attempt it
// starts and lets none outlive it (settle). Runs on its worker's thread; sees its client
// only through http::Exchange and its worker only through Upstreams.

#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "http/exchange.hpp"
#include "switchyard/router/live_stats.hpp"
#include "switchyard/router/planner.hpp"
#include "switchyard/router/rate_cap.hpp"
#include "switchyard/usage/accounting.hpp"
#include "upstream/attempt.hpp"
#include "upstream/rescue.hpp"

namespace switchyard::upstream {

/// The slice of its worker a call uses.
struct Upstreams {
  net::io_context& ioc;
  const config::Config& cfg;
  std::vector<std::unique_ptr<Pool>>& pools;        ///< by provider index
  router::LocalStats& stats;                        ///< admission (breakers, max_rpm)
  router::HedgeBudget& hedges;                      ///< routing.hedge_max_fraction
  std::vector<std::vector<char>>& prefill_refused;  ///< [model][deployment]: learnt
  std::mt19937_64& rng;
  usage::Accounting& accounting;
};

class Call {
 public:
  /// `rq` and `plan` must outlive the call; `plan` is not refused.
  Call(Upstreams& up, http::Exchange& ex, const CallRequest& rq, const router::Plan& plan);
  Call(const Call&) = delete;
  Call& operator=(const Call&) = delete;

  /// Runs the attempts and answers the client (an answer, or an error); returns when no
  /// attempt runs any more.
  net::awaitable<void> run();

 private:
  /// Per deployment of the model, for this call.
  struct Tries {
    int count = 0;
    bool shut = false;  // rate-limited, too small or refused the prefill
  };

  net::awaitable<void> serve();
  /// May deployment `idx` take an attempt now (without waiting)? Takes its admission.
  bool admit(std::size_t idx);
  /// The next deployment of the plan to try, and the backoff before it (a retry).
  struct Step {
    bool stop = false;  // no deployment left in the budget, rounds or deadline
    std::size_t idx = 0;
    std::chrono::milliseconds backoff{0};
  };
  Step next_step();
  /// One attempt plus at most one backup started at `hedge_time` if the first has not
  /// reached its win point: the first to reach it, or null when each failed over.
  net::awaitable<Attempt*> race(std::size_t idx, Clock::time_point hedge_time);
  /// Acts on the finished attempts of the race that started at `begin`; the winner, if
  /// any. `active`: some attempt of the race still runs.
  Attempt* collect(std::size_t begin, bool& active);
  /// Starts the backup of a slow attempt on the next deployment that may take it.
  void start_hedge(std::size_t race_begin);
  void stop_losers(std::size_t race_begin, const Attempt& winner);
  /// Delivers the winner; true: the call is over.
  net::awaitable<bool> finish_with(Attempt& winner);
  /// Nothing delivered: the error the client gets.
  net::awaitable<void> answer_failure();

  Attempt& start(std::size_t idx, bool hedge, bool spawn);
  net::awaitable<void> drive(Attempt& a);
  std::optional<Clock::time_point> hedge_time(std::size_t idx, Clock::time_point now) const;
  void record(Attempt& a, const Outcome& o, Clock::time_point now);
  void abandon(Attempt& a);
  void account(const Attempt& a, const Outcome& o, bool client_cut);
  void note_failure(Attempt& a, Outcome o);
  net::awaitable<void> settle();
  void count_outcome();

  Upstreams& up_;
  http::Exchange& ex_;
  const CallRequest& rq_;
  const router::Plan& plan_;
  const config::Model& model_;
  const std::size_t model_index_;
  net::steady_timer wake_;  // cancelled whenever an attempt finishes (or the client leaves)
  std::vector<std::unique_ptr<Attempt>> attempts_list_;  // every attempt, kept to the end
  std::vector<Tries> tries_;
  int attempts_ = 0;
  std::size_t pos_ = 0;  // next in plan_.ranking.allowed
  int attempts_at_round_start_ = 0;
  Clock::time_point deadline_{};  // the request's: the longest total timeout of its plan
  bool may_hedge_ = false;
  bool hedged_ = false;                    // this request started a hedge
  const Attempt* hedge_winner_ = nullptr;  // the attempt that won the hedged race
  bool rpm_refused_ = false;  // some deployment was skipped because its max_rpm was used up
  std::vector<Outcome> failures_;
  std::optional<api::ClientError> unsupported_;  // why some deployment refused it
  const config::Deployment* context_failed_ = nullptr;
  std::optional<Reply> context_error_;  // the provider's context_length_exceeded answer
  // Stream rescue.
  ClientStream client_;
  bool rescuing_ = false;                   // the next attempts continue client_.text
  int rescues_ = 0;                         // continuations started
  bool rescued_ = false;                    // a continuation finished the broken stream
  std::string rescue_error_, rescue_code_;  // the original break, if none succeeds
};

}  // namespace switchyard::upstream
