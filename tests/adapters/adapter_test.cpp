#include "switchyard/adapters/adapter.hpp"

#include <gtest/gtest.h>

namespace switchyard::adapters {
namespace {

TEST(OpenAiUsageJson, TotalsAndCachedDetails) {
  Usage u;
  u.input_tokens = 120;
  u.output_tokens = 30;
  EXPECT_EQ(openai_usage_json(u),
            R"({"prompt_tokens":120,"completion_tokens":30,"total_tokens":150})");
  u.cached_input_tokens = 100;
  EXPECT_EQ(
      openai_usage_json(u),
      R"({"prompt_tokens":120,"completion_tokens":30,"total_tokens":150,"prompt_tokens_details":{"cached_tokens":100}})");
  EXPECT_EQ(openai_usage_json(Usage{}),
            R"({"prompt_tokens":0,"completion_tokens":0,"total_tokens":0})");
}

}  // namespace
}  // namespace switchyard::adapters
