#include "dialects.hpp"

#include <array>
#include <charconv>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>

#include "directives.hpp"

namespace switchyard::mock {
namespace {

using nlohmann::json;

constexpr std::string_view kAzureNotFound =
    R"({"error":{"code":"404","message":"Resource not found"}})";
constexpr std::string_view kAzureBadVersion =
    R"({"error":{"code":"BadRequest","message":"API version not supported"}})";
constexpr std::string_view kAzureContentFilter =
    R"({"error":{"message":"The response was filtered due to the prompt triggering Azure OpenAI's content management policy. Please modify your prompt and retry. To learn more about our content filtering policies please read our documentation: https://go.microsoft.com/fwlink/?linkid=2198766","type":null,"param":"prompt","code":"content_filter","status":400,"innererror":{"code":"ResponsibleAIPolicyViolation","content_filter_result":{"hate":{"filtered":false,"severity":"safe"},"jailbreak":{"filtered":false,"detected":false},"self_harm":{"filtered":false,"severity":"safe"},"sexual":{"filtered":false,"severity":"safe"},"violence":{"filtered":true,"severity":"medium"}}}}})";
constexpr std::string_view kInvalidOpenAiJson =
    "We could not parse the JSON body of your request. The OpenAI API expects a JSON payload, "
    "but what was sent was not valid JSON.";
constexpr std::string_view kGoogleSafetyRatings =
    R"([{"category":"HARM_CATEGORY_SEXUALLY_EXPLICIT","probability":"NEGLIGIBLE"},{"category":"HARM_CATEGORY_HATE_SPEECH","probability":"NEGLIGIBLE"},{"category":"HARM_CATEGORY_HARASSMENT","probability":"NEGLIGIBLE"},{"category":"HARM_CATEGORY_DANGEROUS_CONTENT","probability":"HIGH","blocked":true}])";

// ---------------------------------------------------------------------------------------
// JSON helpers

bool is_true(const json& obj, std::string_view key) {
  const auto it = obj.find(key);
  return it != obj.end() && it->is_boolean() && it->get<bool>();
}

const json* member(const json& obj, std::string_view key) {
  if (!obj.is_object()) return nullptr;
  const auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
}

/// Google's REST API accepts both the camelCase and the proto snake_case field names.
const json* member2(const json& obj, std::string_view camel, std::string_view snake) {
  const json* m = member(obj, camel);
  return m != nullptr ? m : member(obj, snake);
}

const std::string* string_at(const json& obj, std::string_view key) {
  const json* m = member(obj, key);
  return m != nullptr && m->is_string() ? m->get_ptr<const std::string*>() : nullptr;
}

/// A non-negative integer that fits `max` (larger values are clamped to it).
std::optional<std::uint32_t> uint_of(const json& v, std::uint32_t max) {
  if (!v.is_number_integer()) return std::nullopt;
  if (v.is_number_unsigned())
    return static_cast<std::uint32_t>(std::min<std::uint64_t>(v.get<std::uint64_t>(), max));
  const auto i = v.get<std::int64_t>();
  if (i < 0) return std::nullopt;
  return static_cast<std::uint32_t>(std::min<std::int64_t>(i, max));
}

void split_model(std::string_view name, std::string& model, std::string& directives) {
  const auto q = name.find('?');
  model = std::string(name.substr(0, q));
  if (q != std::string_view::npos) directives = std::string(name.substr(q + 1));
}

std::uint64_t text_tokens(std::string_view text) {
  return std::max<std::uint64_t>(1, (text.size() + 3) / 4);
}

// ---------------------------------------------------------------------------------------
// Routes

std::optional<std::string> query_param(std::string_view query, std::string_view key) {
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    const auto eq = pair.find('=');
    if (percent_decode(pair.substr(0, eq)) != key) continue;
    return eq == std::string_view::npos ? std::string() : percent_decode(pair.substr(eq + 1));
  }
  return std::nullopt;
}

// "2024-10-21", "2025-04-01-preview", and the v1 API's "preview" / "latest".
bool valid_api_version(std::string_view v) {
  if (v == "preview" || v == "latest") return true;
  if (v.size() < 10) return false;
  for (std::size_t i = 0; i < 10; ++i) {
    const bool dash = i == 4 || i == 7;
    if (dash ? v[i] != '-' : (v[i] < '0' || v[i] > '9')) return false;
  }
  const std::string_view rest = v.substr(10);
  return rest.empty() || rest == "-preview";
}

void set_path_model(std::string_view encoded, Route& r) {
  split_model(percent_decode(encoded, false), r.path_model, r.path_directives);
}

// ---------------------------------------------------------------------------------------
// Request bodies

ChatRequest invalid(std::string message, std::string param = {}, std::string code = {}) {
  ChatRequest r;
  r.invalid_message = std::move(message);
  r.invalid_param = std::move(param);
  r.invalid_code = std::move(code);
  return r;
}

// The text of a prefill's content blocks / parts: each must carry a "text" string (and,
// for Anthropic, "type":"text"); anything else (tool_use, functionCall, images) means the
// message is not a prefill.
std::optional<std::string> text_of_parts(const json& parts, bool typed) {
  if (!parts.is_array()) return std::nullopt;
  std::string text;
  for (const json& part : parts) {
    const std::string* type = string_at(part, "type");
    const std::string* t = string_at(part, "text");
    if (t == nullptr || (typed && (type == nullptr || *type != "text"))) return std::nullopt;
    text.append(*t);
  }
  return text;
}

// Anthropic: a final "assistant" message with a string content or only text blocks.
std::optional<std::string> anthropic_prefill(const json& messages) {
  const json& last = messages.back();
  const std::string* role = string_at(last, "role");
  if (role == nullptr || *role != "assistant") return std::nullopt;
  const json* content = member(last, "content");
  if (content == nullptr) return std::nullopt;
  if (content->is_string()) return content->get<std::string>();
  return text_of_parts(*content, true);
}

// Gemini: a final "model" content whose parts are all text.
std::optional<std::string> gemini_prefill(const json& contents) {
  const json& last = contents.back();
  const std::string* role = string_at(last, "role");
  if (role == nullptr || *role != "model") return std::nullopt;
  const json* parts = member(last, "parts");
  if (parts == nullptr) return std::nullopt;
  return text_of_parts(*parts, false);
}

bool ends_with_whitespace(std::string_view s) {
  return !s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' ||
                        s.back() == '\r' || s.back() == '\f' || s.back() == '\v');
}

// The turn a tool decision is about: the last message, or the one before a prefill.
const json* answered_turn(const json& messages, bool prefill) {
  const std::size_t before = prefill ? 2 : 1;
  return messages.size() >= before ? &messages[messages.size() - before] : nullptr;
}

ChatRequest inspect_messages_request(std::string_view body) {
  const json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return invalid("invalid request: the body is not a JSON object");
  ChatRequest r;
  const std::string* model = string_at(j, "model");
  if (model == nullptr) return invalid("model: Field required");
  split_model(*model, r.model, r.directives);
  r.stream = is_true(j, "stream");

  const json* max_tokens = member(j, "max_tokens");
  if (max_tokens == nullptr) {
    r.invalid_message = "max_tokens: Field required";
    return r;
  }
  r.max_tokens = uint_of(*max_tokens, 1'000'000);
  if (!r.max_tokens || *r.max_tokens == 0) {
    r.invalid_message = "max_tokens: Input should be greater than or equal to 1";
    return r;
  }
  const json* messages = member(j, "messages");
  if (messages == nullptr) {
    r.invalid_message = "messages: Field required";
    return r;
  }
  if (!messages->is_array() || messages->empty()) {
    r.invalid_message = "messages: at least one message is required";
    return r;
  }
  r.prefill = anthropic_prefill(*messages);
  if (r.prefill && ends_with_whitespace(*r.prefill)) {
    r.invalid_message = "messages: final assistant content cannot end with trailing whitespace";
    return r;
  }

  const json* tools = member(j, "tools");
  if (tools != nullptr && tools->is_array() && !tools->empty()) {
    if (const std::string* name = string_at(tools->front(), "name")) r.tool_name = *name;
    bool none = false;
    if (const json* tc = member(j, "tool_choice"); tc != nullptr && tc->is_object()) {
      const std::string* type = string_at(*tc, "type");
      none = type != nullptr && *type == "none";
      if (type != nullptr && *type == "tool") {
        if (const std::string* name = string_at(*tc, "name")) r.tool_name = *name;
      }
    }
    // A user turn that carries a tool_result is the tool's answer coming back.
    bool answered = false;
    const json* turn = answered_turn(*messages, r.prefill.has_value());
    if (const json* content = turn != nullptr ? member(*turn, "content") : nullptr;
        content != nullptr && content->is_array()) {
      for (const json& block : *content) {
        const std::string* type = string_at(block, "type");
        if (type != nullptr && *type == "tool_result") answered = true;
      }
    }
    r.wants_tool = !none && !answered;
  }
  return r;
}

ChatRequest inspect_generate_request(std::string_view body) {
  const json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return invalid("Invalid JSON payload received.");
  ChatRequest r;
  const json* contents = member(j, "contents");
  if (contents == nullptr || !contents->is_array() || contents->empty()) {
    r.invalid_message = "* GenerateContentRequest.contents: contents is not specified";
    return r;
  }
  r.prefill = gemini_prefill(*contents);
  if (const json* gc = member2(j, "generationConfig", "generation_config")) {
    if (const json* mot = member2(*gc, "maxOutputTokens", "max_output_tokens")) {
      r.max_tokens = uint_of(*mot, 1'000'000);
    }
  }

  bool has_functions = false;
  if (const json* tools = member(j, "tools"); tools != nullptr && tools->is_array()) {
    for (const json& tool : *tools) {
      const json* decls = member2(tool, "functionDeclarations", "function_declarations");
      if (decls == nullptr || !decls->is_array() || decls->empty()) continue;
      if (!has_functions) {
        if (const std::string* name = string_at(decls->front(), "name")) r.tool_name = *name;
      }
      has_functions = true;
    }
  }
  if (!has_functions) return r;
  bool none = false;
  if (const json* tc = member2(j, "toolConfig", "tool_config")) {
    if (const json* fcc = member2(*tc, "functionCallingConfig", "function_calling_config")) {
      const std::string* mode = string_at(*fcc, "mode");
      none = mode != nullptr && *mode == "NONE";
      const json* allowed = member2(*fcc, "allowedFunctionNames", "allowed_function_names");
      if (allowed != nullptr && allowed->is_array() && !allowed->empty() &&
          allowed->front().is_string()) {
        r.tool_name = allowed->front().get<std::string>();
      }
    }
  }
  bool answered = false;
  const json* turn = answered_turn(*contents, r.prefill.has_value());
  if (const json* parts = turn != nullptr ? member(*turn, "parts") : nullptr;
      parts != nullptr && parts->is_array()) {
    for (const json& part : *parts) {
      if (member2(part, "functionResponse", "function_response") != nullptr) answered = true;
    }
  }
  r.wants_tool = !none && !answered;
  return r;
}

ChatRequest inspect_openai_embeddings(std::string_view body) {
  const json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return invalid(std::string(kInvalidOpenAiJson));
  ChatRequest r;
  if (const std::string* model = string_at(j, "model")) split_model(*model, r.model, r.directives);

  const auto bad_input = [&r] {
    r.inputs.clear();
    r.invalid_message =
        "'$.input' is invalid. Please check the API reference: "
        "https://platform.openai.com/docs/api-reference.";
    r.invalid_param = "input";
    return r;
  };
  // A token array [1, 2, 3] is embedded as the text "1 2 3", one token per entry.
  const auto tokens_input = [](const json& arr) -> std::optional<EmbedInput> {
    if (arr.empty()) return std::nullopt;
    EmbedInput in;
    for (const json& t : arr) {
      if (!t.is_number_integer()) return std::nullopt;
      if (!in.text.empty()) in.text.push_back(' ');
      in.text.append(t.dump());
    }
    in.tokens = arr.size();
    return in;
  };
  const json* input = member(j, "input");
  if (input == nullptr) {
    r.invalid_message = "Missing required parameter: 'input'.";
    r.invalid_param = "input";
    r.invalid_code = "missing_required_parameter";
    return r;
  }
  if (input->is_string()) {
    const auto& s = input->get_ref<const std::string&>();
    if (s.empty()) return bad_input();
    r.inputs.push_back({s, text_tokens(s), std::nullopt});
  } else if (input->is_array() && !input->empty()) {
    if (input->front().is_number_integer()) {
      auto in = tokens_input(*input);
      if (!in) return bad_input();
      r.inputs.push_back(std::move(*in));
    } else {
      for (const json& item : *input) {
        if (item.is_string() && !item.get_ref<const std::string&>().empty()) {
          const auto& s = item.get_ref<const std::string&>();
          r.inputs.push_back({s, text_tokens(s), std::nullopt});
        } else if (item.is_array()) {
          auto in = tokens_input(item);
          if (!in) return bad_input();
          r.inputs.push_back(std::move(*in));
        } else {
          return bad_input();
        }
      }
    }
  } else {
    return bad_input();
  }

  if (const json* dims = member(j, "dimensions"); dims != nullptr && !dims->is_null()) {
    const auto v = uint_of(*dims, kMaxEmbeddingDims + 1);
    if (!v || *v == 0 || *v > kMaxEmbeddingDims) {
      r.invalid_message = "Invalid value for 'dimensions': expected an integer from 1 to " +
                          std::to_string(kMaxEmbeddingDims) + ".";
      r.invalid_param = "dimensions";
      r.invalid_code = "invalid_value";
      return r;
    }
    r.dimensions = v;
  }
  if (const json* fmt = member(j, "encoding_format"); fmt != nullptr && !fmt->is_null()) {
    const bool is_float = fmt->is_string() && fmt->get_ref<const std::string&>() == "float";
    r.base64 = fmt->is_string() && fmt->get_ref<const std::string&>() == "base64";
    if (!is_float && !r.base64) {
      r.invalid_message = "Invalid value for 'encoding_format': expected 'float' or 'base64'.";
      r.invalid_param = "encoding_format";
      r.invalid_code = "invalid_value";
      return r;
    }
  }
  return r;
}

// One EmbedContentRequest: {"content":{"parts":[{"text"}]},"outputDimensionality"?,
// "embedContentConfig"?:{"outputDimensionality"}}.
std::optional<std::string> gemini_embed_input(const json& req, std::string_view what,
                                              EmbedInput& in) {
  const json* content = member(req, "content");
  const json* parts = content != nullptr ? member(*content, "parts") : nullptr;
  if (parts == nullptr || !parts->is_array() || parts->empty()) {
    return "* " + std::string(what) + ".content: content is not specified";
  }
  for (const json& part : *parts) {
    if (const std::string* text = string_at(part, "text")) in.text.append(*text);
  }
  in.tokens = text_tokens(in.text);
  const json* dims = member2(req, "outputDimensionality", "output_dimensionality");
  if (dims == nullptr) {
    if (const json* cfg = member2(req, "embedContentConfig", "embed_content_config")) {
      dims = member2(*cfg, "outputDimensionality", "output_dimensionality");
    }
  }
  if (dims != nullptr) {
    const auto v = uint_of(*dims, kMaxEmbeddingDims + 1);
    if (!v || *v == 0 || *v > kMaxEmbeddingDims) {
      return "* " + std::string(what) + ".output_dimensionality: must be from 1 to " +
             std::to_string(kMaxEmbeddingDims);
    }
    in.dims = v;
  }
  return std::nullopt;
}

ChatRequest inspect_gemini_embeddings(std::string_view body, bool batch) {
  const json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return invalid("Invalid JSON payload received.");
  if (!batch) {
    EmbedInput in;
    if (auto err = gemini_embed_input(j, "EmbedContentRequest", in)) return invalid(*err);
    ChatRequest r;
    r.inputs.push_back(std::move(in));
    return r;
  }
  const json* requests = member(j, "requests");
  if (requests == nullptr || !requests->is_array() || requests->empty()) {
    return invalid("* BatchEmbedContentsRequest.requests: requests is not specified");
  }
  ChatRequest r;
  for (std::size_t i = 0; i < requests->size(); ++i) {
    EmbedInput in;
    const std::string what = "BatchEmbedContentsRequest.requests[" + std::to_string(i) + "]";
    if (auto err = gemini_embed_input((*requests)[i], what, in)) return invalid(*err);
    r.inputs.push_back(std::move(in));
  }
  return r;
}

// ---------------------------------------------------------------------------------------
// Anthropic Messages

std::string_view anthropic_stop(const Answer& a) {
  if (!a.finish_reason.empty()) return a.finish_reason;
  if (a.tool_call) return "tool_use";
  return a.truncated ? "max_tokens" : "end_turn";
}

void append_anthropic_usage(std::string& out, const Answer& a, std::uint64_t output_tokens) {
  out.append(R"({"input_tokens":)");
  append_uint(out, a.prompt_tokens);
  out.append(R"(,"output_tokens":)");
  append_uint(out, output_tokens);
  out.append(R"(,"cache_creation_input_tokens":)");
  append_uint(out, a.cache_write_tokens);
  out.append(R"(,"cache_read_input_tokens":)");
  append_uint(out, a.cached_tokens);
  out.push_back('}');
}

void append_message_head(std::string& out, const Answer& a) {
  out.append(R"({"id":"msg_mock_)");
  append_uint(out, a.seq);
  out.append(R"(","type":"message","role":"assistant","model":)");
  append_json_string(out, a.model);
  out.append(R"(,"content":[)");
}

void append_tool_use_block(std::string& out, const Answer& a, bool with_input) {
  out.append(R"({"type":"tool_use","id":"toolu_mock_)");
  append_uint(out, a.seq);
  out.append(R"(","name":)");
  append_json_string(out, a.tool_name);
  out.append(R"(,"input":)");
  out.append(with_input ? kToolArguments : "{}");
  out.push_back('}');
}

class AnthropicEvents final : public EventWriter {
 public:
  explicit AnthropicEvents(const Answer& a) : a_(a) {}

  std::size_t count(Part p) const override {
    switch (p) {
      case Part::head:
        return a_.tool_call ? 2 : 3;
      case Part::content:
        return a_.tool_call ? kToolCallEvents : a_.pieces();
      case Part::tail:
        return 3;
    }
    return 0;
  }

  std::string_view name(Part p, std::size_t i) const override {
    switch (p) {
      case Part::head:
        return i == 0 ? "message_start" : i == 1 ? "ping" : "content_block_start";
      case Part::content:
        return a_.tool_call && i == 0 ? "content_block_start" : "content_block_delta";
      case Part::tail:
        return i == 0 ? "content_block_stop" : i == 1 ? "message_delta" : "message_stop";
    }
    return {};
  }

  void write(std::string& out, Part p, std::size_t i) const override {
    if (p == Part::head && i == 0) {
      out.append(R"({"type":"message_start","message":)");
      append_message_head(out, a_);
      out.append(R"(],"stop_reason":null,"stop_sequence":null,"usage":)");
      append_anthropic_usage(out, a_, 1);
      out.append("}}");
    } else if (p == Part::head && i == 1) {
      out.append(R"({"type":"ping"})");
    } else if (p == Part::head) {
      out.append(
          R"({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})");
    } else if (p == Part::content && !a_.tool_call) {
      out.append(
          R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":")");
      append_piece(out, a_, i);
      out.append(R"("}})");
    } else if (p == Part::content && i == 0) {
      out.append(R"({"type":"content_block_start","index":0,"content_block":)");
      append_tool_use_block(out, a_, false);
      out.push_back('}');
    } else if (p == Part::content) {
      out.append(
          R"({"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":)");
      append_json_string(out, tool_argument_part(i - 1));
      out.append("}}");
    } else if (i == 0) {
      out.append(R"({"type":"content_block_stop","index":0})");
    } else if (i == 1) {
      out.append(R"({"type":"message_delta","delta":{"stop_reason":)");
      append_json_string(out, anthropic_stop(a_));
      out.append(R"(,"stop_sequence":null},"usage":{"output_tokens":)");
      append_uint(out, a_.completion_tokens());
      out.append("}}");
    } else {
      out.append(R"({"type":"message_stop"})");
    }
  }

  std::string_view error_name() const override { return "error"; }
  void error(std::string& out, std::optional<std::string_view> type) const override {
    nlohmann::ordered_json e;
    e["type"] = "error";
    e["error"]["type"] = type.value_or("overloaded_error");
    e["error"]["message"] = "Overloaded";
    out.append(e.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace));
  }
  std::size_t terminator_events() const override { return 1; }

 private:
  const Answer& a_;
};

// ---------------------------------------------------------------------------------------
// Gemini

std::string_view gemini_finish(const Answer& a) {
  if (!a.finish_reason.empty()) return a.finish_reason;
  return a.truncated && !a.tool_call ? "MAX_TOKENS" : "STOP";
}

void append_gemini_usage(std::string& out, const Answer& a, bool with_candidates) {
  const std::uint64_t prompt = a.prompt_tokens + a.cached_tokens;
  const std::uint64_t output = with_candidates ? a.completion_tokens() : 0;
  out.append(R"("usageMetadata":{"promptTokenCount":)");
  append_uint(out, prompt);
  if (with_candidates) {
    out.append(R"(,"candidatesTokenCount":)");
    append_uint(out, output);
  }
  out.append(R"(,"totalTokenCount":)");
  append_uint(out, prompt + output);
  if (a.cached_tokens > 0) {
    out.append(R"(,"cachedContentTokenCount":)");
    append_uint(out, a.cached_tokens);
  }
  out.push_back('}');
}

void append_gemini_trailer(std::string& out, const Answer& a) {
  out.append(R"(,"modelVersion":)");
  append_json_string(out, a.model);
  out.append(R"(,"responseId":"resp_mock_)");
  append_uint(out, a.seq);
  out.append(R"("})");
}

void append_function_call(std::string& out, const Answer& a) {
  out.append(R"({"functionCall":{"name":)");
  append_json_string(out, a.tool_name);
  out.append(R"(,"args":)");
  out.append(kToolArguments);
  out.append("}}");
}

enum class GeminiParts { all, token, tool, empty };

// One GenerateContentResponse. `final` adds finishReason and usageMetadata.
void append_gemini_response(std::string& out, const Answer& a, GeminiParts parts, std::size_t i,
                            bool final) {
  if (a.blocked) {
    out.append(R"({"promptFeedback":{"blockReason":)");
    append_json_string(out, a.finish_reason.empty() ? "SAFETY" : a.finish_reason);
    out.append(R"(,"safetyRatings":)");
    out.append(kGoogleSafetyRatings);
    out.append("},");
    append_gemini_usage(out, a, false);
    append_gemini_trailer(out, a);
    return;
  }
  out.append(R"({"candidates":[{"content":{"role":"model","parts":[)");
  switch (parts) {
    case GeminiParts::all:
      if (a.tool_call) {
        append_function_call(out, a);
      } else {
        out.append(R"({"text":")");
        append_text(out, a);
        out.append(R"("})");
      }
      break;
    case GeminiParts::token:
      out.append(R"({"text":")");
      append_piece(out, a, i);
      out.append(R"("})");
      break;
    case GeminiParts::tool:
      append_function_call(out, a);
      break;
    case GeminiParts::empty:
      out.append(R"({"text":""})");
      break;
  }
  out.append("]}");
  if (final) {
    const std::string_view finish = gemini_finish(a);
    out.append(R"(,"finishReason":)");
    append_json_string(out, finish);
    if (finish == "SAFETY") out.append(R"(,"safetyRatings":)").append(kGoogleSafetyRatings);
  }
  out.append(R"(,"index":0}])");
  if (final) {
    out.push_back(',');
    append_gemini_usage(out, a, true);
  }
  append_gemini_trailer(out, a);
}

class GeminiEvents final : public EventWriter {
 public:
  explicit GeminiEvents(const Answer& a) : a_(a) {}

  std::size_t count(Part p) const override {
    switch (p) {
      case Part::head:
        return 0;
      case Part::content:
        return a_.blocked ? 0 : a_.tool_call ? 1 : a_.pieces();
      case Part::tail:
        return 1;
    }
    return 0;
  }
  std::string_view name(Part, std::size_t) const override { return {}; }
  void write(std::string& out, Part p, std::size_t i) const override {
    if (p == Part::content) {
      append_gemini_response(out, a_, a_.tool_call ? GeminiParts::tool : GeminiParts::token, i,
                             false);
    } else {
      append_gemini_response(out, a_, GeminiParts::empty, 0, true);
    }
  }
  void error(std::string& out, std::optional<std::string_view> type) const override {
    const std::string_view status = type.value_or("INTERNAL");
    const unsigned code = status == "RESOURCE_EXHAUSTED" ? 429u
                          : status == "UNAVAILABLE"      ? 503u
                                                         : 500u;
    out.append(gemini_error_json(code, "mock stream error", status));
  }
  std::size_t terminator_events() const override { return 1; }

 private:
  const Answer& a_;
};

// ---------------------------------------------------------------------------------------
// OpenAI (the chunks come from chat.hpp's ChunkWriter)

class OpenAiEvents final : public EventWriter {
 public:
  explicit OpenAiEvents(const Answer& a) : a_(a), chunks_(a) {}

  std::size_t count(Part p) const override {
    switch (p) {
      case Part::head:
        return 1;
      case Part::content:
        return chunks_.content_events();
      case Part::tail:
        return a_.include_usage ? 2 : 1;
    }
    return 0;
  }
  std::string_view name(Part, std::size_t) const override { return {}; }
  void write(std::string& out, Part p, std::size_t i) const override {
    if (p == Part::head) {
      chunks_.role(out);
    } else if (p == Part::content) {
      chunks_.content(out, i);
    } else if (i == 0) {
      chunks_.finish(out);
    } else {
      chunks_.usage(out);
    }
  }
  void error(std::string& out, std::optional<std::string_view>) const override {
    out.append(kStreamErrorEvent);
  }
  bool done_marker() const override { return true; }

 private:
  const Answer& a_;
  ChunkWriter chunks_;
};

// ---------------------------------------------------------------------------------------
// Embeddings

void append_float(std::string& out, float v) {
  std::array<char, 32> buf{};
  const auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), v);
  (void)ec;
  out.append(buf.data(), end);
}

void append_base64_floats(std::string& out, const std::vector<float>& values) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string bytes;
  bytes.reserve(values.size() * 4);
  for (const float v : values) {
    std::uint32_t u = 0;
    std::memcpy(&u, &v, sizeof u);
    for (int b = 0; b < 4; ++b) bytes.push_back(static_cast<char>((u >> (8 * b)) & 0xff));
  }
  out.push_back('"');
  for (std::size_t i = 0; i < bytes.size(); i += 3) {
    const auto byte = [&](std::size_t k) {
      return k < bytes.size() ? static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[k]))
                              : 0u;
    };
    const std::uint32_t n = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
    out.push_back(kAlphabet[(n >> 18) & 63]);
    out.push_back(kAlphabet[(n >> 12) & 63]);
    out.push_back(i + 1 < bytes.size() ? kAlphabet[(n >> 6) & 63] : '=');
    out.push_back(i + 2 < bytes.size() ? kAlphabet[n & 63] : '=');
  }
  out.push_back('"');
}

void append_float_array(std::string& out, const std::vector<float>& values) {
  out.push_back('[');
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out.push_back(',');
    append_float(out, values[i]);
  }
  out.push_back(']');
}

}  // namespace

// ---------------------------------------------------------------------------------------

std::optional<Route> route_for(std::string_view target) {
  const auto qpos = target.find('?');
  const std::string_view path = target.substr(0, qpos);
  const std::string_view query =
      qpos == std::string_view::npos ? std::string_view{} : target.substr(qpos + 1);
  Route r;

  constexpr std::string_view kAzure = "/openai/deployments/";
  if (const auto a = path.find(kAzure); a != std::string_view::npos) {
    const std::string_view rest = path.substr(a + kAzure.size());
    const auto slash = rest.find('/');
    if (slash == std::string_view::npos || slash == 0) return std::nullopt;
    const std::string_view sub = rest.substr(slash);
    if (sub == "/chat/completions") {
      r.op = Op::chat;
    } else if (sub == "/embeddings") {
      r.op = Op::embed;
    } else {
      return std::nullopt;
    }
    r.dialect = Dialect::azure;
    set_path_model(rest.substr(0, slash), r);
    const auto version = query_param(query, "api-version");
    if (!version || version->empty()) {
      r.reject_status = 404;
      r.reject_body = kAzureNotFound;
    } else if (!valid_api_version(*version)) {
      r.reject_status = 400;
      r.reject_body = kAzureBadVersion;
    }
    return r;
  }
  if (path.ends_with("/chat/completions")) return r;
  if (path.ends_with("/embeddings")) {
    r.op = Op::embed;
    return r;
  }
  if (path.ends_with("/messages")) {
    r.dialect = Dialect::anthropic;
    return r;
  }
  constexpr std::string_view kModels = "/models/";
  if (const auto m = path.find(kModels); m != std::string_view::npos) {
    const std::string_view rest = path.substr(m + kModels.size());
    const auto colon = rest.rfind(':');
    if (colon == std::string_view::npos || colon == 0) return std::nullopt;
    const std::string_view action = rest.substr(colon + 1);
    r.dialect = Dialect::gemini;
    if (action == "generateContent") {
      r.op = Op::chat;
    } else if (action == "streamGenerateContent") {
      r.url_stream = true;
      const auto alt = query_param(query, "alt");
      r.sse = alt && *alt == "sse";
    } else if (action == "embedContent") {
      r.op = Op::embed;
    } else if (action == "batchEmbedContents") {
      r.op = Op::embed_batch;
    } else {
      return std::nullopt;
    }
    set_path_model(rest.substr(0, colon), r);
    return r;
  }
  return std::nullopt;
}

ChatRequest inspect_request(const Route& route, std::string_view body) {
  ChatRequest r;
  switch (route.dialect) {
    case Dialect::openai:
    case Dialect::azure:
      r = route.op == Op::chat ? inspect_chat_request(body) : inspect_openai_embeddings(body);
      break;
    case Dialect::anthropic:
      r = inspect_messages_request(body);
      break;
    case Dialect::gemini:
      if (route.op == Op::chat) {
        r = inspect_generate_request(body);
        r.stream = route.url_stream && route.sse;
      } else {
        r = inspect_gemini_embeddings(body, route.op == Op::embed_batch);
      }
      break;
  }
  if (!route.path_model.empty()) r.model = route.path_model;
  if (r.model.empty()) r.model = "mock-model";
  return r;
}

void append_message(std::string& out, const Answer& a) {
  out.reserve(out.size() + 384 + (a.tool_call ? a.tool_name.size() : a.pieces() * 8u));
  append_message_head(out, a);
  if (a.tool_call) {
    append_tool_use_block(out, a, true);
  } else {
    out.append(R"({"type":"text","text":")");
    append_text(out, a);
    out.append(R"("})");
  }
  out.append(R"(],"stop_reason":)");
  append_json_string(out, anthropic_stop(a));
  out.append(R"(,"stop_sequence":null,"usage":)");
  append_anthropic_usage(out, a, a.completion_tokens());
  out.push_back('}');
}

void append_generate_response(std::string& out, const Answer& a) {
  out.reserve(out.size() + 384 + (a.tool_call ? a.tool_name.size() : a.pieces() * 8u));
  append_gemini_response(out, a, GeminiParts::all, 0, true);
}

void append_generate_array(std::string& out, const Answer& a) {
  const GeminiEvents events(a);
  out.push_back('[');
  bool first = true;
  for (const Part p : {Part::content, Part::tail}) {
    for (std::size_t i = 0; i < events.count(p); ++i) {
      if (!first) out.append(",\r\n");
      first = false;
      events.write(out, p, i);
    }
  }
  out.push_back(']');
}

std::vector<float> embedding_vector(std::string_view text, std::uint32_t dims) {
  std::uint64_t state = 0xcbf29ce484222325ull;  // FNV-1a
  for (const char c : text) {
    state ^= static_cast<unsigned char>(c);
    state *= 0x100000001b3ull;
  }
  std::vector<float> v(dims);
  double norm = 0;
  for (auto& x : v) {
    state += 0x9e3779b97f4a7c15ull;  // splitmix64
    std::uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    x = static_cast<float>(static_cast<double>(z >> 40) / static_cast<double>(1ull << 24) * 2.0 -
                           1.0);
    norm += static_cast<double>(x) * x;
  }
  if (norm > 0) {
    const double inv = 1.0 / std::sqrt(norm);
    for (auto& x : v) x = static_cast<float>(x * inv);
  }
  return v;
}

void append_openai_embeddings(std::string& out, std::string_view model, const ChatRequest& r) {
  const std::uint32_t dims = r.dimensions.value_or(kDefaultEmbeddingDims);
  std::uint64_t tokens = 0;
  out.append(R"({"object":"list","data":[)");
  for (std::size_t i = 0; i < r.inputs.size(); ++i) {
    if (i > 0) out.push_back(',');
    out.append(R"({"object":"embedding","index":)");
    append_uint(out, i);
    out.append(R"(,"embedding":)");
    const auto v = embedding_vector(r.inputs[i].text, dims);
    if (r.base64) {
      append_base64_floats(out, v);
    } else {
      append_float_array(out, v);
    }
    out.push_back('}');
    tokens += r.inputs[i].tokens;
  }
  out.append(R"(],"model":)");
  append_json_string(out, model);
  out.append(R"(,"usage":{"prompt_tokens":)");
  append_uint(out, tokens);
  out.append(R"(,"total_tokens":)");
  append_uint(out, tokens);
  out.append("}}");
}

void append_gemini_embeddings(std::string& out, const ChatRequest& r, bool batch) {
  out.append(batch ? R"({"embeddings":[)" : R"({"embedding":)");
  for (std::size_t i = 0; i < r.inputs.size(); ++i) {
    if (i > 0) out.push_back(',');
    const EmbedInput& in = r.inputs[i];
    out.append(R"({"values":)");
    append_float_array(out, embedding_vector(in.text, in.dims.value_or(kDefaultEmbeddingDims)));
    out.push_back('}');
  }
  out.append(batch ? "]}" : "}");
}

std::unique_ptr<EventWriter> make_event_writer(Dialect dialect, const Answer& a) {
  switch (dialect) {
    case Dialect::anthropic:
      return std::make_unique<AnthropicEvents>(a);
    case Dialect::gemini:
      return std::make_unique<GeminiEvents>(a);
    case Dialect::openai:
    case Dialect::azure:
      break;
  }
  return std::make_unique<OpenAiEvents>(a);
}

std::string anthropic_error_json(std::string_view type, std::string_view message,
                                 std::uint64_t seq) {
  nlohmann::ordered_json body;
  body["type"] = "error";
  body["error"]["type"] = type;
  body["error"]["message"] = message;
  body["request_id"] = "req_mock_" + std::to_string(seq);
  return body.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

std::string_view anthropic_error_type(unsigned status) {
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
      return status < 500 ? "invalid_request_error" : "api_error";
  }
}

std::string gemini_error_json(unsigned code, std::string_view message, std::string_view status) {
  nlohmann::ordered_json body;
  body["error"]["code"] = code;
  body["error"]["message"] = message;
  body["error"]["status"] = status;
  return body.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

std::string_view google_status(unsigned code) {
  switch (code) {
    case 400:
      return "INVALID_ARGUMENT";
    case 401:
      return "UNAUTHENTICATED";
    case 403:
      return "PERMISSION_DENIED";
    case 404:
      return "NOT_FOUND";
    case 409:
      return "ABORTED";
    case 429:
      return "RESOURCE_EXHAUSTED";
    case 499:
      return "CANCELLED";
    case 501:
      return "NOT_IMPLEMENTED";
    case 503:
      return "UNAVAILABLE";
    case 504:
      return "DEADLINE_EXCEEDED";
    default:
      return code < 500 ? "FAILED_PRECONDITION" : "INTERNAL";
  }
}

std::string_view azure_content_filter_json() { return kAzureContentFilter; }

}  // namespace switchyard::mock
