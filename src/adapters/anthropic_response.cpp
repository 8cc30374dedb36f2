// Anthropic adapter, response side: Messages responses, errors and streams →
// chat.completion(.chunk) and OpenAI-shaped errors (see anthropic.hpp). The request side is
// anthropic_request.cpp.

#include <cstdint>
#include <exception>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "adapters/anthropic_detail.hpp"
#include "switchyard/adapters/anthropic.hpp"

namespace switchyard::adapters::anthropic {

using detail::count_at;
using detail::dump;
using detail::json;
using detail::member;
using detail::starts_with;
using detail::string_at;
using detail::string_or;

namespace {

std::string json_string(std::string_view s) { return dump(json(std::string(s))); }

// ---------------------------------------------------------------------------------------------
// Answers: Messages → chat.completion(.chunk).

const char* finish_reason(const std::string& stop_reason) {
  if (stop_reason == "max_tokens" || stop_reason == "model_context_window_exceeded") {
    return "length";
  }
  if (stop_reason == "tool_use") return "tool_calls";
  if (stop_reason == "refusal") return "content_filter";
  return "stop";  // end_turn, stop_sequence, pause_turn and anything newer
}

// Anthropic counts input, cache-read and cache-written tokens apart; Usage wants the total.
struct RawUsage {
  std::int64_t input = -1;
  std::int64_t cache_read = 0;
  std::int64_t cache_write = 0;
  std::int64_t output = -1;

  void read(const json& u) {  // fields absent from `u` keep their values (message_delta)
    if (std::int64_t v = count_at(u, "input_tokens"); v >= 0) input = v;
    if (std::int64_t v = count_at(u, "cache_read_input_tokens"); v >= 0) cache_read = v;
    if (std::int64_t v = count_at(u, "cache_creation_input_tokens"); v >= 0) cache_write = v;
    if (std::int64_t v = count_at(u, "output_tokens"); v >= 0) output = v;
  }
  Usage normalised() const {
    Usage u;
    if (input >= 0) {
      u.input_tokens = input + cache_read + cache_write;
      u.cached_input_tokens = cache_read;
      u.cache_write_tokens = cache_write;
    }
    u.output_tokens = output;
    return u;
  }
};

bool decode(std::string_view body, const DecodeContext& ctx, std::string& openai_json, Usage& usage,
            std::string& why) {
  const json j = json::parse(body, nullptr, false);
  if (!j.is_object()) {
    why = "response body is not a JSON object";
    return false;
  }
  const std::string type = string_or(j, "type", "message");
  if (type == "error") {
    const json* e = member(j, "error");
    why = "upstream error: " +
          (e != nullptr ? string_or(*e, "message", "(no message)") : "(no message)");
    return false;
  }
  const json* content = member(j, "content");
  if (type != "message" || content == nullptr || !content->is_array()) {
    why = "response is not a Messages response (type \"message\" with a content array)";
    return false;
  }
  std::string text;
  std::string reasoning;
  bool has_text = false;
  json tool_calls = json::array();
  for (const json& block : *content) {
    const std::string bt = string_or(block, "type");
    if (bt == "text") {
      if (const std::string* t = string_at(block, "text")) {
        text += *t;
        has_text = true;
      }
    } else if (bt == "tool_use") {
      const json* input = member(block, "input");
      tool_calls.push_back(
          {{"id", string_or(block, "id")},
           {"type", "function"},
           {"function",
            {{"name", string_or(block, "name")},
             {"arguments", input != nullptr ? dump(*input) : std::string("{}")}}}});
    } else if (bt == "thinking") {
      // Not part of the answer; surfaced the way DeepSeek and vLLM do for OpenAI clients.
      if (const std::string* t = string_at(block, "thinking")) reasoning += *t;
    }
    // redacted_thinking, server tool blocks and unknown block types carry no chat text.
  }
  json message = {{"role", "assistant"}, {"content", has_text ? json(text) : json(nullptr)}};
  if (!reasoning.empty()) message["reasoning_content"] = reasoning;
  if (!tool_calls.empty()) message["tool_calls"] = std::move(tool_calls);

  RawUsage raw;
  if (const json* u = member(j, "usage")) raw.read(*u);
  usage = raw.normalised();

  json out;
  out["id"] = string_or(j, "id", ctx.id);
  out["object"] = "chat.completion";
  out["created"] = ctx.created;
  out["model"] = string_or(j, "model", ctx.model);
  out["choices"] =
      json::array({{{"index", 0},
                    {"message", std::move(message)},
                    {"logprobs", nullptr},
                    {"finish_reason", finish_reason(string_or(j, "stop_reason", "end_turn"))}}});
  out["usage"] = json::parse(openai_usage_json(usage));
  openai_json = dump(out);
  return true;
}

// An Anthropic error (type, message) in OpenAI's terms.
struct ErrorShape {
  std::string type;
  std::string message;
  std::string code;
  bool context_length = false;
};

std::string type_for_status(int status) {
  switch (status) {
    case 401:
      return "authentication_error";
    case 402:
      return "billing_error";
    case 403:
      return "permission_error";
    case 404:
      return "not_found_error";
    case 413:
      return "request_too_large";
    case 429:
      return "rate_limit_error";
    case 504:
      return "timeout_error";
    case 529:
      return "overloaded_error";
    default:
      return status >= 500 ? "api_error" : "invalid_request_error";
  }
}

bool says_prompt_too_long(const std::string& m) {
  // "prompt is too long: 210000 tokens > 200000 maximum", and the form for prompt + max_tokens:
  // "input length and `max_tokens` exceed context limit: 198000 + 4096 > 200000, …".
  return m.find("prompt is too long") != std::string::npos ||
         m.find("exceed context limit") != std::string::npos;
}

ErrorShape shape_error(const json* error, int status) {
  ErrorShape s;
  if (error != nullptr) {
    s.type = string_or(*error, "type");
    s.message = string_or(*error, "message");
  }
  if (s.type.empty()) s.type = type_for_status(status);
  if (s.message.empty()) s.message = "upstream returned HTTP " + std::to_string(status);
  // Codes are OpenAI's where one fits, since the failover logic and clients key on them.
  if (s.type == "invalid_request_error" && says_prompt_too_long(s.message)) {
    s.code = "context_length_exceeded";
    s.context_length = true;
  } else if (s.type == "rate_limit_error") {
    s.code = "rate_limit_exceeded";
  } else if (s.type == "authentication_error") {
    s.code = "invalid_api_key";
  } else if (s.type == "billing_error") {
    s.code = "insufficient_quota";
  } else if (s.type == "not_found_error" && starts_with(s.message, "model:")) {
    s.code = "model_not_found";  // Anthropic's 404 for an unknown model says "model: <name>"
  } else if (s.type == "overloaded_error") {
    s.code = "overloaded";
  }
  return s;
}

std::string openai_error_body(const ErrorShape& s) {
  json e = {{"message", s.message},
            {"type", s.type},
            {"param", nullptr},
            {"code", s.code.empty() ? json(nullptr) : json(s.code)}};
  return dump(json{{"error", std::move(e)}});
}

}  // namespace

bool decode_response(std::string_view body, const DecodeContext& ctx, std::string& openai_json,
                     Usage& usage, std::string& why) {
  try {
    return decode(body, ctx, openai_json, usage, why);
  } catch (const std::exception& e) {
    why = std::string("response could not be translated: ") + e.what();
    return false;
  }
}

MappedError map_error(int status, std::string_view body) {
  MappedError m;
  m.status = status;
  try {
    const json j = json::parse(body, nullptr, false);
    const json* error = member(j, "error");
    const ErrorShape s =
        shape_error(error != nullptr && error->is_object() ? error : nullptr, status);
    m.openai_body = openai_error_body(s);
    m.message = s.message;
    m.code = s.code;
    m.context_length = s.context_length;
  } catch (const std::exception&) {
    const ErrorShape s = shape_error(nullptr, status);
    m.openai_body = openai_error_body(s);
    m.message = s.message;
    m.code = s.code;
  }
  return m;
}

// ---------------------------------------------------------------------------------------------
// Stream.

struct StreamTranscoder::State {
  std::string id;
  std::string model;
  std::int64_t created = 0;
  std::string prefix;  // {"id":…,"object":"chat.completion.chunk","created":…,"model":…,
  std::vector<std::pair<std::int64_t, int>> tool_blocks;  // Anthropic block index → tool index
  int next_tool = 0;
  RawUsage raw;
  Usage usage;
  bool finished = false;  // a finish_reason chunk was sent
  bool complete = false;

  void build_prefix() {
    prefix = "{\"id\":" + json_string(id) +
             ",\"object\":\"chat.completion.chunk\",\"created\":" + std::to_string(created) +
             ",\"model\":" + json_string(model) + ',';
  }
  std::string chunk(const json& delta, const char* finish = nullptr) const {
    std::string s = prefix;
    s += "\"choices\":[{\"index\":0,\"delta\":";
    s += dump(delta);
    s += ",\"finish_reason\":";
    s += finish != nullptr ? json_string(finish) : "null";
    s += "}]}";
    return s;
  }
  int tool_index(std::int64_t block) const {
    for (const auto& [b, k] : tool_blocks) {
      if (b == block) return k;
    }
    return -1;
  }
  void on(const std::string& type, const json& j, std::vector<std::string>& out);
};

void StreamTranscoder::State::on(const std::string& type, const json& j,
                                 std::vector<std::string>& out) {
  if (complete) return;  // nothing follows message_stop
  const std::int64_t index = count_at(j, "index");
  if (type == "message_start") {
    const json* msg = member(j, "message");
    if (msg != nullptr) {
      if (const std::string* s = string_at(*msg, "id")) id = *s;
      if (const std::string* s = string_at(*msg, "model")) model = *s;
      build_prefix();
      if (const json* u = member(*msg, "usage")) raw.read(*u);
      usage = raw.normalised();
    }
    out.push_back(chunk({{"role", "assistant"}, {"content", ""}}));
  } else if (type == "content_block_start") {
    const json* block = member(j, "content_block");
    const std::string bt = block != nullptr ? string_or(*block, "type") : std::string();
    if (bt == "text") {
      // Always "" in practice; anything already there is still text.
      if (const std::string* t = string_at(*block, "text"); t != nullptr && !t->empty()) {
        out.push_back(chunk({{"content", *t}}));
      }
    } else if (bt == "tool_use") {
      const int k = next_tool++;
      tool_blocks.emplace_back(index, k);
      out.push_back(chunk(
          {{"tool_calls",
            json::array(
                {{{"index", k},
                  {"id", string_or(*block, "id")},
                  {"type", "function"},
                  {"function", {{"name", string_or(*block, "name")}, {"arguments", ""}}}}})}}));
    }
  } else if (type == "content_block_delta") {
    const json* delta = member(j, "delta");
    if (delta == nullptr) return;
    const std::string dt = string_or(*delta, "type");
    if (dt == "text_delta") {
      if (const std::string* t = string_at(*delta, "text"); t != nullptr && !t->empty()) {
        out.push_back(chunk({{"content", *t}}));
      }
    } else if (dt == "input_json_delta") {
      const int k = tool_index(index);
      const std::string* p = string_at(*delta, "partial_json");
      // Anthropic opens with an empty piece; an empty chunk would tell the client nothing.
      if (k >= 0 && p != nullptr && !p->empty()) {
        out.push_back(chunk(
            {{"tool_calls", json::array({{{"index", k}, {"function", {{"arguments", *p}}}}})}}));
      }
    } else if (dt == "thinking_delta") {
      if (const std::string* t = string_at(*delta, "thinking"); t != nullptr && !t->empty()) {
        out.push_back(chunk({{"reasoning_content", *t}}));
      }
    }
    // signature_delta and citations_delta have no chat-completions equivalent.
  } else if (type == "message_delta") {
    // usage here is cumulative: output_tokens always, input and cache counts on newer models.
    if (const json* u = member(j, "usage")) {
      raw.read(*u);
      usage = raw.normalised();
    }
    const json* delta = member(j, "delta");
    const std::string* stop = delta != nullptr ? string_at(*delta, "stop_reason") : nullptr;
    if (stop != nullptr && !finished) {
      finished = true;
      out.push_back(chunk(json::object(), finish_reason(*stop)));
    }
  } else if (type == "message_stop") {
    complete = true;
    if (usage.known()) {
      out.push_back(prefix + "\"choices\":[],\"usage\":" + openai_usage_json(usage) + '}');
    }
    out.emplace_back("[DONE]");
  } else if (type == "error") {
    const json* e = member(j, "error");
    out.push_back(
        openai_error_body(shape_error(e != nullptr && e->is_object() ? e : nullptr, 500)));
  }
  // ping, content_block_stop and unknown events carry nothing for the client.
}

StreamTranscoder::StreamTranscoder(const DecodeContext& ctx) : s_(std::make_unique<State>()) {
  s_->id = std::string(ctx.id);
  s_->model = std::string(ctx.model);
  s_->created = ctx.created;
  s_->build_prefix();
}

StreamTranscoder::~StreamTranscoder() = default;
StreamTranscoder::StreamTranscoder(StreamTranscoder&&) noexcept = default;
StreamTranscoder& StreamTranscoder::operator=(StreamTranscoder&&) noexcept = default;

bool StreamTranscoder::on_event(std::string_view event, std::string_view data,
                                std::vector<std::string>& out) {
  const json j = json::parse(data, nullptr, false);
  if (!j.is_object()) return false;
  const std::string* type = string_at(j, "type");
  try {
    s_->on(type != nullptr ? *type : std::string(event), j, out);
  } catch (const std::exception&) {
    return false;  // see encode_request: a missed type check must not end the worker
  }
  return true;
}

bool StreamTranscoder::on_end(std::vector<std::string>&) { return s_->complete; }

bool StreamTranscoder::complete() const { return s_->complete; }

const Usage& StreamTranscoder::usage() const { return s_->usage; }

}  // namespace switchyard::adapters::anthropic
