#include "switchyard/adapters/continuation.hpp"

#include <nlohmann/json.hpp>

namespace switchyard::adapters::continuation {

// ordered_json: the client's request goes on in its own key order (a JSON schema's
// `properties` order matters to some models), only the assistant message appended.
using json = nlohmann::ordered_json;

Style style_for_host(std::string_view host) {
  return host == "api.deepseek.com" || host == "api.mistral.ai" ? Style::prefix : Style::plain;
}

Prefill build(std::string_view openai_body, std::string_view text, Style style,
              bool trim_trailing_ws) {
  Prefill out;
  std::string prefill(text);
  if (trim_trailing_ws) {
    const std::size_t end = prefill.find_last_not_of(" \t\r\n");
    out.skip_ws = prefill.substr(end == std::string::npos ? 0 : end + 1);
    prefill.resize(prefill.size() - out.skip_ws.size());
  }
  json j = json::parse(openai_body, nullptr, false);
  if (!j.is_object() || !j.contains("messages") || !j["messages"].is_array()) return {};
  json msg = {{"role", "assistant"}, {"content", prefill}};
  if (style == Style::prefix) msg["prefix"] = true;
  j["messages"].push_back(std::move(msg));
  out.body = j.dump(-1, ' ', false, json::error_handler_t::replace);
  return out;
}

}  // namespace switchyard::adapters::continuation
