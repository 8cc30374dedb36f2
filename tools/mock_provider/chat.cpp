#include "chat.hpp"

#include <array>
#include <charconv>
#include <nlohmann/json.hpp>

namespace switchyard::mock {
namespace {

using nlohmann::json;

constexpr std::string_view kExtra = R"("x_mock_extra":{"kept":true}})";

bool is_true(const json& obj, std::string_view key) {
  const auto it = obj.find(key);
  return it != obj.end() && it->is_boolean() && it->get<bool>();
}

const std::string* string_at(const json& obj, std::string_view key) {
  if (!obj.is_object()) return nullptr;
  const auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get_ptr<const std::string*>() : nullptr;
}

void append_usage(std::string& out, const Answer& a) {
  const std::uint64_t c = a.completion_tokens();
  const std::uint64_t p = a.prompt_tokens + a.cached_tokens;
  out.append(R"({"prompt_tokens":)");
  append_uint(out, p);
  out.append(R"(,"completion_tokens":)");
  append_uint(out, c);
  out.append(R"(,"total_tokens":)");
  append_uint(out, p + c);
  if (a.cached_tokens > 0) {
    out.append(R"(,"prompt_tokens_details":{"cached_tokens":)");
    append_uint(out, a.cached_tokens);
    out.push_back('}');
  }
  out.push_back('}');
}

// "finish_reason":"…" with the finish_reason directive's value, or `fallback`.
void append_finish(std::string& out, const Answer& a, std::string_view fallback) {
  out.append(R"("finish_reason":)");
  append_json_string(out, a.finish_reason.empty() ? fallback : a.finish_reason);
}

// The text of an OpenAI message's content: a string, or an array of text parts. Nothing
// for anything else (null, images, refusals).
std::optional<std::string> text_content(const json& message) {
  const auto content = message.find("content");
  if (content == message.end()) return std::nullopt;
  if (content->is_string()) return content->get<std::string>();
  if (!content->is_array()) return std::nullopt;
  std::string text;
  for (const json& part : *content) {
    const std::string* type = string_at(part, "type");
    const std::string* t = string_at(part, "text");
    if (type == nullptr || *type != "text" || t == nullptr) return std::nullopt;
    text.append(*t);
  }
  return text;
}

// A final assistant message with text content and no tool calls is a prefill, with or
// without DeepSeek's / Mistral's "prefix": true or vLLM's "continue_final_message": true.
std::optional<std::string> openai_prefill(const json& messages) {
  const json& last = messages.back();
  const std::string* role = string_at(last, "role");
  if (role == nullptr || *role != "assistant") return std::nullopt;
  if (const auto calls = last.find("tool_calls");
      calls != last.end() && calls->is_array() && !calls->empty()) {
    return std::nullopt;
  }
  return text_content(last);
}

}  // namespace

void append_token(std::string& out, std::size_t i) {
  if (i > 0) out.push_back(' ');
  out.append("tok");
  append_uint(out, i);
}

void append_piece(std::string& out, const Answer& a, std::size_t i) {
  const std::size_t t = a.first_token + i;
  if (i > 0 || a.first_offset == 0) {
    append_token(out, t);
    return;
  }
  std::string token;
  append_token(token, t);
  out.append(std::string_view(token).substr(std::min<std::size_t>(a.first_offset, token.size())));
}

void append_text(std::string& out, const Answer& a) {
  const std::size_t n = a.pieces();
  for (std::size_t i = 0; i < n; ++i) append_piece(out, a, i);
}

std::optional<ContinueAt> continue_after(std::uint32_t tokens, std::string_view prefill) {
  std::string token;
  for (std::uint32_t i = 0; i < tokens; ++i) {
    if (prefill.empty()) return ContinueAt{i, 0};
    token.clear();
    append_token(token, i);
    if (prefill.size() < token.size()) {
      if (std::string_view(token).substr(0, prefill.size()) != prefill) return std::nullopt;
      return ContinueAt{i, static_cast<std::uint32_t>(prefill.size())};
    }
    if (prefill.substr(0, token.size()) != token) return std::nullopt;
    prefill.remove_prefix(token.size());
  }
  if (prefill.empty()) return ContinueAt{tokens, 0};
  return std::nullopt;
}

std::string_view tool_argument_part(std::size_t part) {
  constexpr std::size_t kBase = kToolArguments.size() / 3;
  const std::size_t begin = part * kBase;
  const std::size_t len = part == 2 ? kToolArguments.size() - begin : kBase;
  return kToolArguments.substr(begin, len);
}

void append_uint(std::string& out, std::uint64_t v) {
  std::array<char, 24> buf{};
  const auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), v);
  (void)ec;  // 24 bytes always hold a uint64
  out.append(buf.data(), end);
}

void append_json_string(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    switch (c) {
      case '"':
        out.append("\\\"");
        break;
      case '\\':
        out.append("\\\\");
        break;
      case '\n':
        out.append("\\n");
        break;
      case '\r':
        out.append("\\r");
        break;
      case '\t':
        out.append("\\t");
        break;
      default:
        if (u < 0x20) {
          out.append("\\u00");
          out.push_back(kHex[u >> 4]);
          out.push_back(kHex[u & 0xf]);
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
}

ChatRequest inspect_chat_request(std::string_view body) {
  ChatRequest r;
  const json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    r.invalid_message =
        "We could not parse the JSON body of your request. The OpenAI API expects a JSON "
        "payload, but what was sent was not valid JSON.";
    return r;
  }

  // Directives ride on the model name so a gateway deployment can drive the mock
  // without custom headers: "gpt-x?status=500" answers as model "gpt-x".
  if (const std::string* model = string_at(j, "model")) {
    const auto q = model->find('?');
    r.model = model->substr(0, q);
    if (q != std::string::npos) r.directives = model->substr(q + 1);
  }
  r.stream = is_true(j, "stream");
  if (const auto so = j.find("stream_options"); so != j.end()) {
    r.has_stream_options = true;
    if (so->is_object()) r.include_usage = is_true(*so, "include_usage");
  }

  const auto messages = j.find("messages");
  if (messages == j.end()) {
    r.invalid_message = "Missing required parameter: 'messages'.";
    r.invalid_param = "messages";
    r.invalid_code = "missing_required_parameter";
    return r;
  }
  if (!messages->is_array()) {
    r.invalid_message = "Invalid type for 'messages': expected an array of objects.";
    r.invalid_param = "messages";
    r.invalid_code = "invalid_type";
    return r;
  }
  if (messages->empty()) {
    r.invalid_message =
        "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an "
        "empty array instead.";
    r.invalid_param = "messages";
    r.invalid_code = "empty_array";
    return r;
  }

  r.prefill = openai_prefill(*messages);

  const auto tools = j.find("tools");
  if (tools != j.end() && tools->is_array() && !tools->empty()) {
    const auto& first = tools->front();
    if (first.is_object()) {
      if (const auto fn = first.find("function"); fn != first.end()) {
        if (const std::string* name = string_at(*fn, "name")) r.tool_name = *name;
      }
    }
    // With a prefill, the turn being answered is the message before it.
    const std::size_t before = r.prefill ? 2 : 1;
    const std::string* last_role = messages->size() >= before
                                       ? string_at((*messages)[messages->size() - before], "role")
                                       : nullptr;
    const bool answered_tool = last_role != nullptr && *last_role == "tool";
    bool choice_none = false;
    if (const auto tc = j.find("tool_choice"); tc != j.end()) {
      if (tc->is_string()) {
        choice_none = tc->get_ref<const std::string&>() == "none";
      } else if (tc->is_object()) {
        if (const auto fn = tc->find("function"); fn != tc->end()) {
          if (const std::string* name = string_at(*fn, "name")) r.tool_name = *name;
        }
      }
    }
    r.wants_tool = !answered_tool && !choice_none;
  }
  return r;
}

void append_completion(std::string& out, const Answer& a) {
  out.reserve(out.size() + 384 + (a.tool_call ? a.tool_name.size() : a.pieces() * 8u));
  out.append(R"({"id":"chatcmpl-mock-)");
  append_uint(out, a.seq);
  out.append(R"(","object":"chat.completion","created":)");
  append_uint(out, static_cast<std::uint64_t>(a.created));
  out.append(R"(,"model":)");
  append_json_string(out, a.model);
  out.append(R"(,"system_fingerprint":"fp_mock","choices":[{"index":0,"message":)");
  if (a.tool_call) {
    out.append(R"({"role":"assistant","content":null,"tool_calls":[{"id":")");
    out.append(kToolCallId);
    out.append(R"(","type":"function","function":{"name":)");
    append_json_string(out, a.tool_name);
    out.append(R"(,"arguments":)");
    append_json_string(out, kToolArguments);
    out.append(R"(}}],"refusal":null},"logprobs":null,)");
    append_finish(out, a, "tool_calls");
  } else {
    out.append(R"({"role":"assistant","content":")");
    append_text(out, a);
    out.append(R"(","refusal":null},"logprobs":null,)");
    append_finish(out, a, "stop");
  }
  out.append(R"(}],"usage":)");
  append_usage(out, a);
  out.push_back(',');
  out.append(kExtra);
}

ChunkWriter::ChunkWriter(const Answer& a) : a_(a) {
  envelope_.append(R"({"id":"chatcmpl-mock-)");
  append_uint(envelope_, a.seq);
  envelope_.append(R"(","object":"chat.completion.chunk","created":)");
  append_uint(envelope_, static_cast<std::uint64_t>(a.created));
  envelope_.append(R"(,"model":)");
  append_json_string(envelope_, a.model);
  envelope_.append(R"(,"system_fingerprint":"fp_mock","choices":[)");
}

std::size_t ChunkWriter::content_events() const {
  return a_.tool_call ? kToolCallEvents : a_.pieces();
}

void ChunkWriter::open(std::string& out) const { out.append(envelope_); }

void ChunkWriter::close(std::string& out) const {
  // OpenAI puts "usage": null on every chunk but the last once include_usage is on.
  out.append(a_.include_usage ? R"(],"usage":null,)" : "],");
  out.append(kExtra);
}

void ChunkWriter::role(std::string& out) const {
  open(out);
  out.append(
      R"({"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null})");
  close(out);
}

void ChunkWriter::content(std::string& out, std::size_t i) const {
  open(out);
  if (!a_.tool_call) {
    out.append(R"({"index":0,"delta":{"content":")");
    append_piece(out, a_, i);
    out.append(R"("},"logprobs":null,"finish_reason":null})");
  } else if (i == 0) {
    out.append(R"({"index":0,"delta":{"tool_calls":[{"index":0,"id":")");
    out.append(kToolCallId);
    out.append(R"(","type":"function","function":{"name":)");
    append_json_string(out, a_.tool_name);
    out.append(R"(,"arguments":""}}]},"logprobs":null,"finish_reason":null})");
  } else {
    out.append(R"({"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":)");
    append_json_string(out, tool_argument_part(i - 1));
    out.append(R"(}}]},"logprobs":null,"finish_reason":null})");
  }
  close(out);
}

void ChunkWriter::finish(std::string& out) const {
  open(out);
  out.append(R"({"index":0,"delta":{},"logprobs":null,)");
  append_finish(out, a_, a_.tool_call ? "tool_calls" : "stop");
  out.push_back('}');
  close(out);
}

void ChunkWriter::usage(std::string& out) const {
  open(out);
  out.append(R"(],"usage":)");
  append_usage(out, a_);
  out.push_back(',');
  out.append(kExtra);
}

std::string error_json(std::string_view message, std::string_view type,
                       std::optional<std::string_view> code,
                       std::optional<std::string_view> param) {
  nlohmann::ordered_json err;
  err["message"] = message;
  err["type"] = type;
  err["param"] = param ? nlohmann::ordered_json(*param) : nlohmann::ordered_json(nullptr);
  err["code"] = code ? nlohmann::ordered_json(*code) : nlohmann::ordered_json(nullptr);
  nlohmann::ordered_json body;
  body["error"] = std::move(err);
  // Directive values are user text and may hold invalid UTF-8; never throw over it.
  return body.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

ErrorShape default_error_shape(unsigned status) {
  switch (status) {
    case 400:
      return {"invalid_request_error", std::nullopt};
    case 401:
      return {"authentication_error", "invalid_api_key"};
    case 404:
      return {"invalid_request_error", "model_not_found"};
    case 429:
      return {"requests", "rate_limit_exceeded"};
    case 529:
      return {"overloaded_error", "overloaded"};
    default:
      return {"server_error", std::nullopt};
  }
}

}  // namespace switchyard::mock
