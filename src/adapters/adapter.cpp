#include "switchyard/adapters/adapter.hpp"

namespace switchyard::adapters {

std::string openai_usage_json(const Usage& u) {
  const std::int64_t in = u.input_tokens < 0 ? 0 : u.input_tokens;
  const std::int64_t out = u.output_tokens < 0 ? 0 : u.output_tokens;
  std::string s = "{\"prompt_tokens\":";
  s += std::to_string(in);
  s += ",\"completion_tokens\":";
  s += std::to_string(out);
  s += ",\"total_tokens\":";
  s += std::to_string(in + out);
  if (u.cached_input_tokens > 0) {
    s += ",\"prompt_tokens_details\":{\"cached_tokens\":";
    s += std::to_string(u.cached_input_tokens);
    s += '}';
  }
  s += '}';
  return s;
}

}  // namespace switchyard::adapters
