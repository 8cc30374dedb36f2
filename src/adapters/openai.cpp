#include "switchyard/adapters/openai.hpp"

#include <nlohmann/json.hpp>
#include <vector>

#include "switchyard/api/errors.hpp"
#include "switchyard/api/json_scan.hpp"

namespace switchyard::adapters::openai {
namespace {

using nlohmann::json;

// OpenAI usage object → Usage (prompt_tokens includes cached ones, as in adapter.hpp).
Usage usage_from_json(const json& u) {
  Usage out;
  if (!u.is_object()) return out;
  auto num = [&u](const char* k) -> std::int64_t {
    auto it = u.find(k);
    return it != u.end() && it->is_number_integer() ? it->get<std::int64_t>() : -1;
  };
  out.input_tokens = num("prompt_tokens");
  out.output_tokens = num("completion_tokens");
  if (auto d = u.find("prompt_tokens_details"); d != u.end() && d->is_object()) {
    if (auto c = d->find("cached_tokens"); c != d->end() && c->is_number_integer()) {
      out.cached_input_tokens = c->get<std::int64_t>();
    }
  }
  return out;
}

// One choice of a chunk: its delta's text, tool calls and finish.
void inspect_choice(const json& c, ChunkFacts& f) {
  if (auto fr = c.find("finish_reason"); fr != c.end() && !fr->is_null()) {
    f.finish = true;
    f.content = true;
  }
  auto delta = c.find("delta");
  if (delta == c.end() || !delta->is_object()) return;
  const auto index = c.find("index");
  const bool first_choice =
      index == c.end() || (index->is_number_integer() && index->get<std::int64_t>() == 0);
  if (!first_choice) f.other_choice = true;
  for (const char* k : {"content", "refusal", "reasoning_content", "reasoning"}) {
    if (auto v = delta->find(k); v != delta->end() && v->is_string()) {
      const std::string& str = v->get_ref<const std::string&>();
      f.content_bytes += str.size();
      if (str.empty()) continue;
      f.content = true;
      if (k[0] == 'c' && first_choice) {
        f.text += str;
      } else {
        f.reasoning = true;  // refusal or reasoning: not text a prefill can carry
      }
    }
  }
  if (auto v = delta->find("tool_calls"); v != delta->end() && v->is_array() && !v->empty()) {
    f.content = true;
    f.tool_call = true;
    for (const json& tc : *v) {
      if (!tc.is_object() || !tc.contains("function") || !tc["function"].is_object()) continue;
      const json& fn = tc["function"];
      if (fn.contains("arguments") && fn["arguments"].is_string()) {
        f.content_bytes += fn["arguments"].get_ref<const std::string&>().size();
      }
    }
  }
  if (auto v = delta->find("function_call"); v != delta->end() && v->is_object()) {
    f.content = true;
    f.tool_call = true;
  }
}

}  // namespace

Usage usage_of_body(std::string_view body) {
  std::vector<api::Member> members;
  if (!api::scan_top_level(body, members)) return {};
  for (const auto& m : members) {
    if (m.key != "usage") continue;
    return usage_from_json(
        json::parse(body.substr(m.value_begin, m.value_end - m.value_begin), nullptr, false));
  }
  return {};
}

std::size_t answer_bytes(std::string_view body) {
  json j = json::parse(body, nullptr, false);
  std::size_t n = 0;
  if (!j.is_object() || !j.contains("choices") || !j["choices"].is_array()) return 0;
  for (const json& c : j["choices"]) {
    if (!c.is_object() || !c.contains("message") || !c["message"].is_object()) continue;
    const json& m = c["message"];
    if (m.contains("content") && m["content"].is_string())
      n += m["content"].get_ref<const std::string&>().size();
    if (m.contains("tool_calls")) n += m["tool_calls"].dump().size();
  }
  return n;
}

ChunkFacts inspect_chunk(std::string_view data) {
  ChunkFacts f;
  json j = json::parse(data, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return f;
  f.valid = true;
  if (auto it = j.find("error"); it != j.end() && !it->is_null()) {
    f.error = true;
    if (it->is_object() && it->contains("message") && (*it)["message"].is_string()) {
      f.error_message = (*it)["message"];
    }
    return f;
  }
  auto choices = j.find("choices");
  if (choices != j.end() && choices->is_array()) {
    for (const json& c : *choices) {
      if (c.is_object()) inspect_choice(c, f);
    }
    auto usage = j.find("usage");
    f.usage_only = choices->empty() && usage != j.end() && usage->is_object();
  }
  if (auto u = j.find("usage"); u != j.end() && u->is_object()) f.usage = usage_from_json(*u);
  if (auto id = j.find("id"); id != j.end() && id->is_string()) f.id = *id;
  return f;
}

std::string with_model(std::string_view body, std::string_view model) {
  std::vector<api::Member> members;
  const std::string value = json(std::string(model)).dump();
  if (api::scan_top_level(body, members)) {
    for (const auto& m : members) {
      if (m.key != "model") continue;
      std::string out;
      out.reserve(body.size() + value.size());
      out.append(body.substr(0, m.value_begin)).append(value).append(body.substr(m.value_end));
      return out;
    }
  }
  return std::string(body);
}

std::string path_segment(std::string_view v) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(v.size());
  for (unsigned char c : v) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string azure_path(std::string_view base_path, std::string_view deployment, std::string_view op,
                       std::string_view api_version) {
  std::string out(base_path);
  out.append("/openai/deployments/").append(path_segment(deployment)).append("/").append(op);
  out.append("?api-version=");
  out.append(api_version.empty() ? std::string(kDefaultAzureApiVersion)
                                 : path_segment(api_version));
  return out;
}

std::string error_event(std::string_view message, std::string_view code) {
  std::string ev = "data: ";
  ev += api::error_json(message, "upstream_error", code);
  ev += "\n\n";
  return ev;
}

MappedError map_error(int status, std::string_view body) {
  MappedError me;
  me.status = status;
  json j = json::parse(body, nullptr, false);
  if (j.is_object() && j.contains("error") && j["error"].is_object()) {
    const json& je = j["error"];
    if (je.contains("message") && je["message"].is_string()) me.message = je["message"];
    if (je.contains("code") && je["code"].is_string()) me.code = je["code"];
  }
  me.context_length = me.code == "context_length_exceeded";
  return me;
}

}  // namespace switchyard::adapters::openai
