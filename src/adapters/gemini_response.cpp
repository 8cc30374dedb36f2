// Gemini adapter, response side: GenerateContentResponse and its stream → OpenAI
// chat.completion and chunks, errors, and embeddings responses (see gemini.hpp). The request
// side is gemini_request.cpp.

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "adapters/gemini_detail.hpp"
#include "switchyard/adapters/gemini.hpp"

namespace switchyard::adapters::gemini {

using detail::as_int;
using detail::dump;
using detail::get;
using detail::get_str;
using detail::json;
using detail::lower;
using detail::parse;

namespace {

std::int64_t count_field(const json& obj, const char* key) {
  const json* v = get(obj, key);
  if (!v) return 0;
  auto n = as_int(*v);
  return n && *n > 0 ? *n : 0;
}

// ---------------------------------------------------------------------------------------
// Responses

std::string finish_reason(std::string_view fr, bool has_calls) {
  if (fr == "MAX_TOKENS") return "length";
  if (fr == "SAFETY" || fr == "RECITATION" || fr == "BLOCKLIST" || fr == "PROHIBITED_CONTENT" ||
      fr == "SPII" || fr == "IMAGE_SAFETY") {
    return "content_filter";
  }
  return has_calls ? "tool_calls" : "stop";
}

/// usageMetadata → Usage (proto3 JSON omits zero counts, so absent means 0).
bool read_usage(const json& resp, Usage& u) {
  const json* um = get(resp, "usageMetadata");
  if (!um || !um->is_object()) return false;
  u.input_tokens = count_field(*um, "promptTokenCount");
  u.output_tokens =
      count_field(*um, "candidatesTokenCount") + count_field(*um, "thoughtsTokenCount");
  u.cached_input_tokens = count_field(*um, "cachedContentTokenCount");
  u.cache_write_tokens = 0;
  return true;
}

std::uint32_t fnv1a(std::string_view s) {
  std::uint32_t h = 2166136261u;
  for (unsigned char c : s) {
    h ^= c;
    h *= 16777619u;
  }
  return h;
}

/// Deterministic, unique within a response (and, via the response id, across turns).
std::string call_id(std::string_view response_id, std::int64_t choice, std::int64_t n) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "call_%08x_%lld_%lld", fnv1a(response_id),
                static_cast<long long>(choice), static_cast<long long>(n));
  return buf;
}

struct CandidateParts {
  std::string text;
  bool has_text = false;
  std::vector<std::pair<std::string, json>> calls;  // name, args
};

CandidateParts read_parts(const json& cand) {
  CandidateParts out;
  const json* content = get(cand, "content");
  const json* parts = content ? get(*content, "parts") : nullptr;
  if (!parts || !parts->is_array()) return out;
  for (const auto& p : *parts) {
    if (!p.is_object()) continue;
    const json* thought = get(p, "thought");
    if (thought && thought->is_boolean() && thought->get<bool>()) continue;
    if (const std::string* t = get_str(p, "text")) {
      out.text += *t;
      out.has_text = true;
    } else if (const json* fc = get(p, "functionCall")) {
      const std::string* name = get_str(*fc, "name");
      if (!name) continue;
      const json* args = get(*fc, "args");
      out.calls.emplace_back(*name, args && args->is_object() ? *args : json::object());
    }
  }
  return out;
}

std::int64_t candidate_index(const json& cand, std::size_t pos) {
  if (const json* v = get(cand, "index")) {
    auto n = as_int(*v);
    if (n && *n >= 0 && *n < 1024) return *n;
  }
  return static_cast<std::int64_t>(pos);
}

std::string blocked_message(const json& feedback, const std::string& reason) {
  std::string msg =
      "The prompt was blocked by the provider's safety filters (blockReason " + reason + ")";
  if (const std::string* m = get_str(feedback, "blockReasonMessage")) msg += ": " + *m;
  return msg;
}

/// The block reason when the response is a blocked prompt (promptFeedback.blockReason set
/// and no candidates), else empty.
std::string block_reason(const json& resp, const json*& feedback) {
  feedback = get(resp, "promptFeedback");
  const std::string* reason = feedback ? get_str(*feedback, "blockReason") : nullptr;
  if (!reason || reason->empty()) return {};
  const json* cands = get(resp, "candidates");
  if (cands && cands->is_array() && !cands->empty()) return {};
  return *reason;
}

// ---------------------------------------------------------------------------------------
// Errors

struct ErrorClass {
  int status;
  std::string type;
  std::string code;
  bool context_length = false;
};

ErrorClass classify(int status, std::string_view gstatus, std::string_view message,
                    bool key_invalid) {
  ErrorClass c{status, "invalid_request_error", {}, false};
  std::string msg = lower(message);
  if (key_invalid || status == 401 || gstatus == "UNAUTHENTICATED") {
    c.status = 401;
    c.type = "authentication_error";
    c.code = "invalid_api_key";
  } else if (status == 429 || gstatus == "RESOURCE_EXHAUSTED") {
    c.status = 429;
    c.type = "rate_limit_exceeded";
    c.code = "rate_limit_exceeded";
  } else if (status == 403 || gstatus == "PERMISSION_DENIED") {
    c.type = "permission_error";
    c.code = "permission_denied";
  } else if (status == 404 || gstatus == "NOT_FOUND") {
    c.code = "not_found";
  } else if (status >= 500 || gstatus == "INTERNAL" || gstatus == "UNAVAILABLE" ||
             gstatus == "DEADLINE_EXCEEDED") {
    c.type = "server_error";
    c.code = gstatus.empty() ? "server_error" : lower(gstatus);
  } else if ((msg.find("input token count") != std::string::npos &&
              msg.find("exceeds the maximum") != std::string::npos) ||
             msg.find("exceeds the maximum number of tokens") != std::string::npos) {
    c.code = "context_length_exceeded";
    c.context_length = true;
  }
  return c;
}

/// {"error":{"code","message","status","details"}} (or a one-element array of it, as the
/// non-SSE streaming endpoint writes) → pieces. false when there is no error object.
bool read_google_error(const json& j, int& code, std::string& message, std::string& status,
                       bool& key_invalid) {
  const json* root = &j;
  if (j.is_array() && !j.empty()) root = &j[0];
  const json* e = get(*root, "error");
  if (!e || !e->is_object()) return false;
  code = 0;
  if (const json* c = get(*e, "code")) {
    if (auto n = as_int(*c); n && *n > 0 && *n < 1000) code = static_cast<int>(*n);
  }
  if (const std::string* m = get_str(*e, "message")) message = *m;
  if (const std::string* s = get_str(*e, "status")) status = *s;
  key_invalid = false;
  if (const json* details = get(*e, "details"); details && details->is_array()) {
    for (const auto& d : *details) {
      const std::string* reason = get_str(d, "reason");
      if (reason && *reason == "API_KEY_INVALID") key_invalid = true;
    }
  }
  return true;
}

json openai_error(const std::string& message, const std::string& type, const std::string& code,
                  bool with_param) {
  json e = {{"message", message}, {"type", type}};
  if (with_param) e["param"] = nullptr;
  e["code"] = code.empty() ? json(nullptr) : json(code);
  return {{"error", std::move(e)}};
}

}  // namespace

// =======================================================================================

bool decode_response(std::string_view body, const DecodeContext& ctx, std::string& openai_json,
                     Usage& usage, ClientError& blocked, std::string& why) {
  try {
    json resp = parse(body);
    if (!resp.is_object()) {
      why = "response is not a JSON object";
      return false;
    }
    usage = Usage{};
    read_usage(resp, usage);
    const json* feedback = nullptr;
    std::string reason = block_reason(resp, feedback);
    if (!reason.empty()) {
      blocked = ClientError{};
      blocked.status = 400;
      blocked.type = "invalid_request_error";
      blocked.code = "content_filter";
      blocked.message = blocked_message(*feedback, reason);
      return false;
    }
    const json* cands = get(resp, "candidates");
    if (!cands || !cands->is_array() || cands->empty()) {
      why = "response has no candidates";
      return false;
    }
    std::string id = ctx.id.empty() ? std::string("chatcmpl-gemini") : std::string(ctx.id);
    if (const std::string* rid = get_str(resp, "responseId"); rid && !rid->empty()) id = *rid;
    std::string model(ctx.model);
    if (const std::string* mv = get_str(resp, "modelVersion"); mv && !mv->empty()) model = *mv;

    json choices = json::array();
    for (std::size_t pos = 0; pos < cands->size(); ++pos) {
      const json& cand = (*cands)[pos];
      if (!cand.is_object()) continue;
      std::int64_t index = candidate_index(cand, pos);
      CandidateParts parts = read_parts(cand);
      json message = {{"role", "assistant"}};
      if (parts.calls.empty() || parts.has_text) {
        message["content"] = parts.text;
      } else {
        message["content"] = nullptr;
      }
      if (!parts.calls.empty()) {
        json calls = json::array();
        for (std::size_t k = 0; k < parts.calls.size(); ++k) {
          calls.push_back(
              {{"id", call_id(id, index, static_cast<std::int64_t>(k))},
               {"type", "function"},
               {"function",
                {{"name", parts.calls[k].first}, {"arguments", dump(parts.calls[k].second)}}}});
        }
        message["tool_calls"] = std::move(calls);
      }
      const std::string* fr = get_str(cand, "finishReason");
      choices.push_back({{"index", index},
                         {"message", std::move(message)},
                         {"logprobs", nullptr},
                         {"finish_reason", finish_reason(fr ? *fr : "", !parts.calls.empty())}});
    }
    if (choices.empty()) {
      why = "response has no usable candidates";
      return false;
    }
    json out = {{"id", id},
                {"object", "chat.completion"},
                {"created", ctx.created},
                {"model", model},
                {"choices", std::move(choices)}};
    if (usage.known()) out["usage"] = json::parse(openai_usage_json(usage));
    openai_json = dump(out);
    return true;
  } catch (...) {
    why = "response could not be decoded";
    return false;
  }
}

// ---------------------------------------------------------------------------------------
// Streaming

struct StreamTranscoder::State {
  std::string ctx_id;
  std::string ctx_model;
  std::int64_t created = 0;
  bool started = false;  // id/model fixed from the first response event
  std::string id;
  std::string model;
  std::map<std::int64_t, bool> role_sent;
  std::map<std::int64_t, std::int64_t> calls_sent;
  bool finished = false;
  bool ended = false;
  Usage usage;

  json chunk(std::int64_t index, json delta, const std::string* finish) const {
    return {
        {"id", id},
        {"object", "chat.completion.chunk"},
        {"created", created},
        {"model", model},
        {"choices", json::array({{{"index", index},
                                  {"delta", std::move(delta)},
                                  {"finish_reason", finish ? json(*finish) : json(nullptr)}}})}};
  }
};

StreamTranscoder::StreamTranscoder(const DecodeContext& ctx) : s_(std::make_unique<State>()) {
  s_->ctx_id = std::string(ctx.id);
  s_->ctx_model = std::string(ctx.model);
  s_->created = ctx.created;
  s_->id = s_->ctx_id;
  s_->model = s_->ctx_model;
}
StreamTranscoder::~StreamTranscoder() = default;
StreamTranscoder::StreamTranscoder(StreamTranscoder&&) noexcept = default;
StreamTranscoder& StreamTranscoder::operator=(StreamTranscoder&&) noexcept = default;

bool StreamTranscoder::on_event(std::string_view /*event*/, std::string_view data,
                                std::vector<std::string>& out) {
  if (!s_) return false;
  try {
    json resp = parse(data);
    if (!resp.is_object() && !resp.is_array()) return false;
    State& s = *s_;

    int code = 0;
    std::string message, gstatus;
    bool key_invalid = false;
    if (read_google_error(resp, code, message, gstatus, key_invalid)) {
      ErrorClass c = classify(code, gstatus, message, key_invalid);
      if (message.empty()) message = "upstream error in stream";
      out.push_back(dump(openai_error(message, c.type, c.code, false)));
      return true;
    }
    if (!resp.is_object()) return false;

    if (!s.started) {
      s.started = true;
      if (const std::string* rid = get_str(resp, "responseId"); rid && !rid->empty()) s.id = *rid;
      if (const std::string* mv = get_str(resp, "modelVersion"); mv && !mv->empty()) s.model = *mv;
    }
    read_usage(resp, s.usage);

    const json* feedback = nullptr;
    std::string reason = block_reason(resp, feedback);
    if (!reason.empty()) {
      out.push_back(dump(openai_error(blocked_message(*feedback, reason), "invalid_request_error",
                                      "content_filter", false)));
      return true;
    }

    const json* cands = get(resp, "candidates");
    if (!cands || !cands->is_array()) return true;
    for (std::size_t pos = 0; pos < cands->size(); ++pos) {
      const json& cand = (*cands)[pos];
      if (!cand.is_object()) continue;
      std::int64_t index = candidate_index(cand, pos);
      CandidateParts parts = read_parts(cand);
      json delta = json::object();
      bool& role_sent = s.role_sent[index];
      std::int64_t& ncalls = s.calls_sent[index];
      if (!role_sent) delta["role"] = "assistant";
      if (parts.has_text && !parts.text.empty()) delta["content"] = parts.text;
      if (!parts.calls.empty()) {
        json calls = json::array();
        for (auto& [name, args] : parts.calls) {
          calls.push_back({{"index", ncalls},
                           {"id", call_id(s.id, index, ncalls)},
                           {"type", "function"},
                           {"function", {{"name", name}, {"arguments", dump(args)}}}});
          ++ncalls;
        }
        delta["tool_calls"] = std::move(calls);
      }
      const std::string* fr = get_str(cand, "finishReason");
      bool has_finish = fr && !fr->empty() && *fr != "FINISH_REASON_UNSPECIFIED";
      if (delta.contains("content") || delta.contains("tool_calls") ||
          (!role_sent && !has_finish)) {
        out.push_back(dump(s.chunk(index, std::move(delta), nullptr)));
        role_sent = true;
        delta = json::object();
      }
      if (has_finish) {
        if (!role_sent) delta["role"] = "assistant";
        role_sent = true;
        std::string f = finish_reason(*fr, ncalls > 0);
        out.push_back(dump(s.chunk(index, std::move(delta), &f)));
        s.finished = true;
      }
    }
    return true;
  } catch (...) {
    return false;
  }
}

bool StreamTranscoder::on_end(std::vector<std::string>& out) {
  if (!s_) return false;
  if (s_->finished && !s_->ended) {
    s_->ended = true;
    try {
      if (s_->usage.known()) {
        json u = {{"id", s_->id},
                  {"object", "chat.completion.chunk"},
                  {"created", s_->created},
                  {"model", s_->model},
                  {"choices", json::array()},
                  {"usage", json::parse(openai_usage_json(s_->usage))}};
        out.push_back(dump(u));
      }
    } catch (...) {
    }
    out.emplace_back("[DONE]");
  }
  return complete();
}

bool StreamTranscoder::complete() const { return s_ && s_->finished; }

const Usage& StreamTranscoder::usage() const {
  static const Usage kNone;
  return s_ ? s_->usage : kNone;
}

// ---------------------------------------------------------------------------------------

MappedError map_error(int status, std::string_view body) {
  MappedError m;
  try {
    int code = 0;
    std::string message, gstatus;
    bool key_invalid = false;
    json j = parse(body);
    if (!read_google_error(j, code, message, gstatus, key_invalid)) {
      message.clear();
      gstatus.clear();
    }
    if (status <= 0) status = code > 0 ? code : 500;
    if (message.empty()) message = "upstream returned HTTP " + std::to_string(status);
    ErrorClass c = classify(status, gstatus, message, key_invalid);
    m.status = c.status;
    m.message = message;
    m.code = c.code;
    m.context_length = c.context_length;
    m.openai_body = dump(openai_error(message, c.type, c.code, true));
  } catch (...) {
    m.status = status > 0 ? status : 500;
    m.message = "upstream returned HTTP " + std::to_string(m.status);
    m.code.clear();
    m.openai_body =
        R"({"error":{"message":"upstream error","type":"server_error","param":null,"code":null}})";
  }
  return m;
}

// ---------------------------------------------------------------------------------------
// Embeddings

bool decode_embeddings(std::string_view body, std::string_view model, std::string& openai_json,
                       Usage& usage, std::string& why) {
  try {
    json resp = parse(body);
    if (!resp.is_object()) {
      why = "response is not a JSON object";
      return false;
    }
    std::vector<const json*> embeddings;
    if (const json* e = get(resp, "embedding")) {
      embeddings.push_back(e);
    } else if (const json* es = get(resp, "embeddings"); es && es->is_array()) {
      for (const auto& e : *es) embeddings.push_back(&e);
    } else {
      why = "response has no embedding(s)";
      return false;
    }
    json data = json::array();
    for (std::size_t i = 0; i < embeddings.size(); ++i) {
      const json* values = get(*embeddings[i], "values");
      if (!values || !values->is_array() ||
          !std::all_of(values->begin(), values->end(),
                       [](const json& v) { return v.is_number(); })) {
        why = "embedding " + std::to_string(i) + " has no numeric values";
        return false;
      }
      data.push_back({{"object", "embedding"}, {"index", i}, {"embedding", *values}});
    }
    usage = Usage{};
    if (const json* um = get(resp, "usageMetadata")) {
      if (const json* p = get(*um, "promptTokenCount")) {
        if (auto n = as_int(*p); n && *n >= 0) {
          usage.input_tokens = *n;
          usage.output_tokens = 0;
        }
      }
    }
    const std::int64_t in = usage.input_tokens < 0 ? 0 : usage.input_tokens;
    json out = {{"object", "list"},
                {"data", std::move(data)},
                {"model", std::string(model)},
                {"usage", {{"prompt_tokens", in}, {"total_tokens", in}}}};
    openai_json = dump(out);
    return true;
  } catch (...) {
    why = "response could not be decoded";
    return false;
  }
}

}  // namespace switchyard::adapters::gemini
