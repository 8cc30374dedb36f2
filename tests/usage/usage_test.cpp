#include "switchyard/usage/usage.hpp"

#include <gtest/gtest.h>

namespace switchyard::usage {
namespace {

TEST(Cost, PricesEachKindOfTokenApart) {
  config::Price p;
  p.input = 3.0;  // USD per million
  p.output = 15.0;
  p.cached_input = 0.3;
  p.cache_write = 3.75;
  adapters::Usage u;
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
  adapters::Usage u;
  u.input_tokens = 1000;
  u.cached_input_tokens = 400;
  EXPECT_DOUBLE_EQ(cost_usd(u, p), 1000 * 1.0 / 1e6);  // output unknown: 0
  EXPECT_DOUBLE_EQ(cost_usd(adapters::Usage{}, p), 0.0);
}

TEST(Estimate, FourBytesPerTokenRoundedUp) {
  EXPECT_EQ(estimate_tokens(0), 0);
  EXPECT_EQ(estimate_tokens(1), 1);
  EXPECT_EQ(estimate_tokens(8), 2);
  EXPECT_EQ(estimate_tokens(9), 3);
}

TEST(Ledger, KeepsRecentRecordsAndTotalsPerDeployment) {
  Ledger l;
  for (int i = 0; i < 1005; ++i) {
    Record r;
    r.request_id = std::to_string(i);
    r.deployment = i % 2 ? "a/x" : "b/y";
    r.tokens.input_tokens = 10;
    r.tokens.output_tokens = 5;
    r.provenance = i % 5 == 0 ? Provenance::estimated : Provenance::provider;
    r.cost_usd = 0.5;
    l.add(std::move(r));
  }
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

}  // namespace
}  // namespace switchyard::usage
