#include "switchyard/telemetry/trace.hpp"

#include <gtest/gtest.h>

namespace switchyard::telemetry {
namespace {

constexpr std::string_view kValid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

TEST(TraceParent, ParsesTheSpecExample) {
  const auto t = parse_traceparent(kValid);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(t->parent_id, "00f067aa0ba902b7");
  EXPECT_EQ(t->flags, "01");
  EXPECT_TRUE(parse_traceparent(std::string(" ") + std::string(kValid) + " "));
}

TEST(TraceParent, RefusesWhatTheSpecRefuses) {
  for (std::string_view bad : {
           "",
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",       // no flags
           "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",    // upper case
           "00-00000000000000000000000000000000-00f067aa0ba902b7-01",    // zero trace id
           "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",    // zero parent id
           "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",    // version ff
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",  // v00 has 4 fields
           "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
           "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
       }) {
    EXPECT_FALSE(parse_traceparent(bad)) << bad;
  }
  // A later version is read by its first fields.
  EXPECT_TRUE(parse_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra"));
}

TEST(TraceParent, ChildKeepsTheTraceWithANewParent) {
  std::mt19937_64 rng(7);
  const TraceParent t = continue_or_start(kValid, rng);
  const std::string child = child_traceparent(t, rng);
  const auto c = parse_traceparent(child);
  ASSERT_TRUE(c) << child;
  EXPECT_EQ(c->trace_id, t.trace_id);
  EXPECT_NE(c->parent_id, t.parent_id);
  EXPECT_EQ(c->flags, "01");
  EXPECT_NE(child_traceparent(t, rng), child);  // each attempt its own span
}

TEST(TraceParent, StartsANewSampledTraceWhenAbsentOrMalformed) {
  std::mt19937_64 rng(7);
  const TraceParent a = continue_or_start("", rng), b = continue_or_start("garbage", rng);
  EXPECT_EQ(a.trace_id.size(), 32u);
  EXPECT_EQ(a.parent_id.size(), 16u);
  EXPECT_EQ(a.flags, "01");
  EXPECT_NE(a.trace_id, b.trace_id);
  EXPECT_TRUE(parse_traceparent(child_traceparent(a, rng)));
}

}  // namespace
}  // namespace switchyard::telemetry
