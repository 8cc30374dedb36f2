#include "switchyard/usage/usage.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <latch>
#include <string>
#include <thread>
#include <vector>

namespace switchyard::usage {
namespace {

TEST(Cost, PricesEachKindOfTokenApart) {
  config::Price p;
  p.input = 3.0;  // USD per million
  p.output = 15.0;
  p.cached_input = 0.3;
  p.cache_write = 3.75;
  Usage u;
  u.input_tokens = 10'000;  // total, of which:
  u.cached_input_tokens = 6'000;
  u.cache_write_tokens = 2'000;
  u.output_tokens = 1'000;
  // 2000 plain × 3 + 6000 × 0.3 + 2000 × 3.75 + 1000 × 15, per million.
  EXPECT_DOUBLE_EQ(cost_usd(u, p), (2000 * 3.0 + 6000 * 0.3 + 2000 * 3.75 + 1000 * 15.0) / 1e6);
}

TEST(Cost, UnsetCachePricesFallBackToInputAndUnknownCountsCostNothing) {
  config::Price p;
  p.input = 1.0;
  p.output = 2.0;
  Usage u;
  u.input_tokens = 1000;
  u.cached_input_tokens = 400;
  EXPECT_DOUBLE_EQ(cost_usd(u, p), 1000 * 1.0 / 1e6);  // output unknown: 0
  EXPECT_DOUBLE_EQ(cost_usd(Usage{}, p), 0.0);
}

TEST(Estimate, FourBytesPerTokenRoundedUp) {
  EXPECT_EQ(estimate_tokens(0), 0);
  EXPECT_EQ(estimate_tokens(1), 1);
  EXPECT_EQ(estimate_tokens(8), 2);
  EXPECT_EQ(estimate_tokens(9), 3);
}

TEST(Ledger, KeepsRecentRecordsAndTotalsPerDeployment) {
  Ledger l;
  Ledger::Batch b;
  for (int i = 0; i < 1005; ++i) {
    Record r;
    r.request_id = std::to_string(i);
    r.deployment = i % 2 ? "a/x" : "b/y";
    r.tokens.input_tokens = 10;
    r.tokens.output_tokens = 5;
    r.provenance = i % 5 == 0 ? Provenance::estimated : Provenance::provider;
    r.cost_usd = 0.5;
    l.add(b, std::move(r));
  }
  l.submit(b);
  const auto recent = l.recent(3);
  ASSERT_EQ(recent.size(), 3u);
  EXPECT_EQ(recent.back().request_id, "1004");
  EXPECT_EQ(l.recent(5000).size(), Ledger::kRecent);
  const auto totals = l.totals();
  ASSERT_EQ(totals.size(), 2u);
  EXPECT_EQ(totals[0].deployment, "b/y");
  EXPECT_EQ(totals[0].answers, 503);
  EXPECT_EQ(totals[0].input_tokens, 5030);
  EXPECT_EQ(totals[0].estimated_answers, 101);  // even i, multiple of 5: i % 10 == 0
  EXPECT_DOUBLE_EQ(totals[1].cost_usd, 502 * 0.5);
}

Record record_for(std::string deployment, std::string id, std::int64_t in = 10,
                  std::int64_t out = 5) {
  Record r;
  r.request_id = std::move(id);
  r.deployment = std::move(deployment);
  r.tokens.input_tokens = in;
  r.tokens.output_tokens = out;
  r.cost_usd = 0.25;
  return r;
}

TEST(LedgerBatch, RecordsAreSeenOnlyOnceTheBatchIsSubmitted) {
  Ledger l;
  Ledger::Batch b;
  l.add(b, record_for("a/x", "1"));
  l.add(b, record_for("a/x", "2", 7, 3));
  EXPECT_TRUE(l.recent(10).empty());
  EXPECT_TRUE(l.totals().empty());
  EXPECT_EQ(b.records.size(), 2u);
  l.submit(b);
  EXPECT_TRUE(b.records.empty());
  const auto recent = l.recent(10);
  ASSERT_EQ(recent.size(), 2u);
  EXPECT_EQ(recent[0].request_id, "1");
  EXPECT_EQ(recent[1].request_id, "2");
  const auto totals = l.totals();
  ASSERT_EQ(totals.size(), 1u);
  EXPECT_EQ(totals[0].answers, 2);
  EXPECT_EQ(totals[0].input_tokens, 17);
  EXPECT_EQ(totals[0].output_tokens, 8);
  EXPECT_DOUBLE_EQ(totals[0].cost_usd, 0.5);
  l.submit(b);  // an empty batch changes nothing
  EXPECT_EQ(l.recent(10).size(), 2u);
  EXPECT_EQ(l.totals()[0].answers, 2);
}

TEST(LedgerBatch, AFullBatchIsHandedOverByItself) {
  Ledger l;
  Ledger::Batch b;
  for (std::size_t i = 0; i + 1 < Ledger::kBatchRecords; ++i) {
    l.add(b, record_for("a/x", std::to_string(i)));
  }
  EXPECT_TRUE(l.recent(Ledger::kRecent).empty()) << "one short of the threshold: still held";
  EXPECT_EQ(b.records.size(), Ledger::kBatchRecords - 1);
  l.add(b, record_for("a/x", "last"));
  EXPECT_TRUE(b.records.empty());
  const auto recent = l.recent(Ledger::kRecent);
  ASSERT_EQ(recent.size(), Ledger::kBatchRecords);
  EXPECT_EQ(recent.front().request_id, "0");
  EXPECT_EQ(recent.back().request_id, "last");
  EXPECT_EQ(l.totals()[0].answers, static_cast<std::int64_t>(Ledger::kBatchRecords));
  // The next record starts a new batch, held again until the threshold or a submit.
  l.add(b, record_for("a/x", "next"));
  EXPECT_EQ(l.recent(Ledger::kRecent).size(), Ledger::kBatchRecords);
}

TEST(LedgerBatch, RecentKeepsTheNewestInOrderAcrossBatches) {
  Ledger l;
  Ledger::Batch b;
  const int n = static_cast<int>(Ledger::kRecent) + 150;  // several full batches and a part
  for (int i = 0; i < n; ++i) l.add(b, record_for(i % 2 ? "a/x" : "b/y", std::to_string(i)));
  l.submit(b);
  const auto recent = l.recent(Ledger::kRecent + 10);
  ASSERT_EQ(recent.size(), Ledger::kRecent);
  for (std::size_t k = 0; k < recent.size(); ++k) {
    ASSERT_EQ(recent[k].request_id,
              std::to_string(n - static_cast<int>(Ledger::kRecent) + static_cast<int>(k)));
  }
  const auto last3 = l.recent(3);
  ASSERT_EQ(last3.size(), 3u);
  EXPECT_EQ(last3[2].request_id, std::to_string(n - 1));
  // Totals count every record, not just the ones the ring still holds.
  std::int64_t answers = 0;
  for (const auto& t : l.totals()) answers += t.answers;
  EXPECT_EQ(answers, n);
}

TEST(LedgerBatch, TotalsSumExactlyAcrossThreadsEachWithItsOwnBatch) {
  Ledger l;
  constexpr int kPerThread = 100'000;  // not a multiple of kBatchRecords: a final submit
  const std::vector<std::string> deployments = {"a/x", "b/y", "c/z"};
  std::latch start(2);  // both threads hand over at the same time, not one after the other
  auto work = [&](int thread) {
    Ledger::Batch b;
    start.arrive_and_wait();
    for (int i = 0; i < kPerThread; ++i) {
      Record r = record_for(deployments[static_cast<std::size_t>(i) % deployments.size()],
                            std::to_string(thread) + "-" + std::to_string(i), thread + 1, i % 7);
      r.provenance = i % 4 == 0 ? Provenance::estimated : Provenance::provider;
      l.add(b, std::move(r));
    }
    l.submit(b);
  };
  std::thread t1(work, 0), t2(work, 1);
  t1.join();
  t2.join();

  const auto totals = l.totals();
  ASSERT_EQ(totals.size(), deployments.size());
  for (std::size_t d = 0; d < deployments.size(); ++d) {
    // What one thread sends to deployment d, from its own loop.
    std::int64_t answers = 0, outputs = 0, estimated = 0;
    for (int i = 0; i < kPerThread; ++i) {
      if (static_cast<std::size_t>(i) % deployments.size() != d) continue;
      ++answers;
      outputs += i % 7;
      estimated += i % 4 == 0;
    }
    const auto it = std::find_if(totals.begin(), totals.end(), [&](const Ledger::Totals& t) {
      return t.deployment == deployments[d];
    });
    ASSERT_NE(it, totals.end()) << deployments[d];
    EXPECT_EQ(it->answers, 2 * answers);
    EXPECT_EQ(it->input_tokens, answers * 1 + answers * 2);  // thread 0 sends 1, thread 1 sends 2
    EXPECT_EQ(it->output_tokens, 2 * outputs);
    EXPECT_EQ(it->estimated_answers, 2 * estimated);
    EXPECT_DOUBLE_EQ(it->cost_usd, 2 * static_cast<double>(answers) * 0.25);
  }
  // Each thread's records keep their order in the ring (a batch is applied whole).
  int last[2] = {-1, -1};
  for (const Record& r : l.recent(Ledger::kRecent)) {
    const int thread = r.request_id[0] - '0';
    const int i = std::stoi(r.request_id.substr(2));
    EXPECT_GT(i, last[thread]) << r.request_id;
    last[thread] = i;
  }
}

}  // namespace
}  // namespace switchyard::usage
