#include "upstream/rescue.hpp"

#include <nlohmann/json.hpp>

namespace switchyard::upstream {

using nlohmann::json;

bool may_rescue(const CallRequest& rq, const ClientStream& client) {
  return rq.chat.stream && rq.chat.n <= 1 && !client.unsafe && !client.text.empty() &&
         !rq.rescue_off;
}

bool can_prefill(const config::Deployment& d, const config::Provider& prov, bool refused_before) {
  if (d.prefill == config::Prefill::yes) return true;
  if (d.prefill == config::Prefill::no) return false;
  if (refused_before) return false;
  return !(prov.kind == config::ProviderKind::openai && prov.url.host == "api.openai.com");
}

adapters::continuation::Prefill continuation_for(const CallRequest& rq, const ClientStream& client,
                                                 const config::Provider& prov) {
  return adapters::continuation::build(rq.chat.body, client.text,
                                       adapters::continuation::style_for_host(prov.url.host),
                                       prov.kind == config::ProviderKind::anthropic);
}

std::string continuation_payload(std::string_view p, const adapters::openai::ChunkFacts& f,
                                 const std::string& text, std::string_view client_id,
                                 std::int64_t prefill_chunks) {
  const bool new_id = !client_id.empty() && !f.id.empty() && f.id != client_id;
  if (!new_id && !f.usage_only && text == f.text) return {};
  json j = json::parse(p, nullptr, false);
  if (!j.is_object()) return {};
  if (new_id) j["id"] = client_id;
  if (text != f.text) {
    auto& choices = j["choices"];
    if (choices.is_array() && !choices.empty() && choices[0].is_object() &&
        choices[0].contains("delta") && choices[0]["delta"].is_object()) {
      choices[0]["delta"]["content"] = text;
    }
  }
  if (f.usage_only && f.usage.known()) {
    usage::Usage u = f.usage;
    // The earlier attempts' tokens, as counted by their content chunks: OpenAI-compatible
    // servers stream one token per chunk (a lower bound for providers that send more).
    if (u.input_tokens >= prefill_chunks) u.input_tokens -= prefill_chunks;
    if (u.output_tokens >= 0) u.output_tokens += prefill_chunks;
    j["usage"] = json::parse(adapters::openai_usage_json(u), nullptr, false);
  }
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace switchyard::upstream
