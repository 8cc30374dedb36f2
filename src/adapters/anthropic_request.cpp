// Anthropic adapter, request side: OpenAI chat completions → Messages (see anthropic.hpp).
// The response and stream side is anthropic_response.cpp.

#include <algorithm>
#include <cstdint>
#include <exception>
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

// OpenAI clients often send explicit nulls for unset fields ("stop": null): null is absent.
const json* present(const json& j, const char* key) {
  const json* v = member(j, key);
  return v != nullptr && !v->is_null() ? v : nullptr;
}

// ---------------------------------------------------------------------------------------------
// Request: OpenAI chat completions → Messages.

bool refuse(ClientError& err, std::string param, std::string message) {
  err = ClientError{};
  err.status = 400;
  err.type = "invalid_request_error";
  err.param = std::move(param);
  err.message = std::move(message);
  return false;
}

std::string at(std::string_view base, std::size_t i) {
  std::string s(base);
  s += '[';
  s += std::to_string(i);
  s += ']';
  return s;
}

// Which OpenAI content parts a role may carry.
enum PartKinds : unsigned {
  kText = 1,
  kImage = 2,
  kDocument = 4,
  kRefusal = 8,
};

struct DataUrl {
  std::string media_type;
  std::string data;
};

// "data:image/png;base64,iVBOR…" → media type and base64 payload; false if not that shape.
bool parse_data_url(const std::string& url, DataUrl& out) {
  constexpr std::string_view kPrefix = "data:";
  constexpr std::string_view kBase64 = ";base64";
  if (url.compare(0, kPrefix.size(), kPrefix) != 0) return false;
  const std::size_t comma = url.find(',');
  if (comma == std::string::npos) return false;
  std::string_view meta(url.data() + kPrefix.size(), comma - kPrefix.size());
  if (meta.size() <= kBase64.size() || meta.substr(meta.size() - kBase64.size()) != kBase64) {
    return false;
  }
  out.media_type = std::string(meta.substr(0, meta.size() - kBase64.size()));
  out.data = url.substr(comma + 1);
  return !out.media_type.empty() && !out.data.empty();
}

bool convert_image(const json& part, const std::string& where, json& blocks, ClientError& err) {
  const json* iu = member(part, "image_url");
  const std::string* url = nullptr;
  if (iu != nullptr && iu->is_string()) {
    url = &iu->get_ref<const std::string&>();  // some clients send the URL bare
  } else if (iu != nullptr) {
    url = string_at(*iu, "url");
  }
  if (url == nullptr) return refuse(err, where, where + ".image_url.url must be a string");
  json source;
  DataUrl d;
  if (starts_with(*url, "data:")) {
    if (!parse_data_url(*url, d)) {
      return refuse(err, where,
                    where +
                        ".image_url.url: only base64 data URLs (data:<type>;base64,…) are "
                        "supported");
    }
    source = {{"type", "base64"}, {"media_type", d.media_type}, {"data", d.data}};
  } else if (starts_with(*url, "https://") || starts_with(*url, "http://")) {
    source = {{"type", "url"}, {"url", *url}};
  } else {
    return refuse(err, where, where + ".image_url.url must be an http(s) or data: URL");
  }
  // `detail` has no Anthropic equivalent; images are always read at full resolution.
  blocks.push_back({{"type", "image"}, {"source", std::move(source)}});
  return true;
}

bool convert_file(const json& part, const std::string& where, json& blocks, ClientError& err) {
  const json* file = member(part, "file");
  const std::string* data = file != nullptr ? string_at(*file, "file_data") : nullptr;
  DataUrl d;
  // An OpenAI file_id names nothing Anthropic can read; only inline PDFs translate.
  if (data == nullptr || !parse_data_url(*data, d) || d.media_type != "application/pdf") {
    return refuse(err, where,
                  where +
                      ": only file parts with file_data as a base64 application/pdf data URL "
                      "are supported");
  }
  blocks.push_back(
      {{"type", "document"},
       {"source", {{"type", "base64"}, {"media_type", d.media_type}, {"data", d.data}}}});
  return true;
}

void push_text(const std::string& text, const json* cache_control, json& blocks) {
  // Anthropic rejects empty text blocks; OpenAI clients send "" next to tool calls.
  if (text.empty()) return;
  json block = {{"type", "text"}, {"text", text}};
  // Not OpenAI, but some OpenAI clients (written for OpenRouter) mark prompt-cache breakpoints
  // this way, and Anthropic caches only where asked.
  if (cache_control != nullptr && cache_control->is_object())
    block["cache_control"] = *cache_control;
  blocks.push_back(std::move(block));
}

bool convert_part(const json& part, const std::string& where, unsigned kinds, json& blocks,
                  ClientError& err) {
  const std::string* type = string_at(part, "type");
  if (type == nullptr) return refuse(err, where, where + ".type must be a string");
  if (*type == "text" && (kinds & kText)) {
    const std::string* text = string_at(part, "text");
    if (text == nullptr) return refuse(err, where, where + ".text must be a string");
    push_text(*text, member(part, "cache_control"), blocks);
    return true;
  }
  if (*type == "refusal" && (kinds & kRefusal)) {
    const std::string* text = string_at(part, "refusal");
    if (text == nullptr) return refuse(err, where, where + ".refusal must be a string");
    push_text(*text, nullptr, blocks);
    return true;
  }
  if (*type == "image_url" && (kinds & kImage)) return convert_image(part, where, blocks, err);
  if (*type == "file" && (kinds & kDocument)) return convert_file(part, where, blocks, err);
  if (*type == "input_audio") {
    return refuse(err, where, where + ": audio input is not supported by this model");
  }
  return refuse(err, where, where + ": content part type '" + *type + "' is not supported here");
}

// OpenAI content (string, array of parts or null) → Anthropic blocks appended to `blocks`.
bool convert_content(const json* content, const std::string& where, unsigned kinds, json& blocks,
                     ClientError& err) {
  if (content == nullptr || content->is_null()) return true;
  if (content->is_string()) {
    push_text(content->get_ref<const std::string&>(), nullptr, blocks);
    return true;
  }
  if (!content->is_array()) {
    return refuse(err, where, where + " must be a string or an array of content parts");
  }
  for (std::size_t j = 0; j < content->size(); ++j) {
    const json& part = (*content)[j];
    const std::string pw = at(where, j);
    if (!part.is_object()) return refuse(err, pw, pw + " must be an object");
    if (!convert_part(part, pw, kinds, blocks, err)) return false;
  }
  return true;
}

bool is_plain_text(const json& block) {
  return block.size() == 2 && string_or(block, "type") == "text";
}

// A single plain text block is sent as a string, the common and most compact form.
json collapse(json blocks) {
  if (blocks.size() == 1 && is_plain_text(blocks[0])) return blocks[0]["text"];
  return blocks;
}

bool convert_tool_calls(const json& calls, std::size_t i, json& blocks, ClientError& err) {
  const std::string where = at("messages", i) + ".tool_calls";
  if (!calls.is_array()) return refuse(err, where, where + " must be an array");
  for (std::size_t j = 0; j < calls.size(); ++j) {
    const json& call = calls[j];
    const std::string cw = at(where, j);
    const std::string* type = string_at(call, "type");
    if (!call.is_object() ||
        (member(call, "type") != nullptr && (type == nullptr || *type != "function"))) {
      return refuse(err, where, cw + " must be an object of type 'function'");
    }
    const std::string* id = string_at(call, "id");
    if (id == nullptr || id->empty())
      return refuse(err, where, cw + ".id must be a non-empty string");
    const json* fn = member(call, "function");
    const std::string* name = fn != nullptr ? string_at(*fn, "name") : nullptr;
    if (name == nullptr || name->empty()) {
      return refuse(err, where, cw + ".function.name must be a non-empty string");
    }
    const json* args = member(*fn, "arguments");
    json input = json::object();
    if (args != nullptr && args->is_string()) {
      const std::string& s = args->get_ref<const std::string&>();
      // Some clients send "" for a call without arguments.
      if (s.find_first_not_of(" \t\r\n") != std::string::npos) {
        input = json::parse(s, nullptr, false);
        if (input.is_discarded()) {
          return refuse(err, where, cw + ".function.arguments is not valid JSON");
        }
      }
    } else if (args != nullptr && !args->is_null()) {
      input = *args;  // already parsed by a lenient client
    }
    if (!input.is_object()) {
      return refuse(err, where, cw + ".function.arguments must be a JSON object");
    }
    blocks.push_back(
        {{"type", "tool_use"}, {"id", *id}, {"name", *name}, {"input", std::move(input)}});
  }
  return true;
}

struct Turn {
  std::string role;
  json blocks = json::array();
};

void add_turn(std::vector<Turn>& turns, const char* role, json&& blocks) {
  if (blocks.empty()) return;  // a message with nothing in it says nothing
  // Anthropic requires user/assistant alternation; merging is what it would do itself.
  if (turns.empty() || turns.back().role != role) turns.push_back(Turn{role, json::array()});
  for (auto& b : blocks) turns.back().blocks.push_back(std::move(b));
}

bool convert_messages(const json& messages, json& system_blocks, std::vector<Turn>& turns,
                      ClientError& err) {
  for (std::size_t i = 0; i < messages.size(); ++i) {
    const json& m = messages[i];
    const std::string where = at("messages", i);
    if (!m.is_object()) return refuse(err, where, where + " must be an object");
    const std::string* role = string_at(m, "role");
    if (role == nullptr) return refuse(err, where + ".role", where + ".role must be a string");
    const json* content = member(m, "content");
    const std::string cw = where + ".content";
    json blocks = json::array();
    // `name` on messages has no Anthropic equivalent and is dropped.
    if (*role == "system" || *role == "developer") {
      if (!convert_content(content, cw, kText, system_blocks, err)) return false;
    } else if (*role == "user") {
      if (!convert_content(content, cw, kText | kImage | kDocument, blocks, err)) return false;
      add_turn(turns, "user", std::move(blocks));
    } else if (*role == "assistant") {
      if (present(m, "function_call") != nullptr || present(m, "audio") != nullptr) {
        const char* field = present(m, "audio") != nullptr ? ".audio" : ".function_call";
        return refuse(err, where + field, where + field + " is not supported; use tool_calls");
      }
      if (!convert_content(content, cw, kText | kRefusal, blocks, err)) return false;
      if (const json* calls = present(m, "tool_calls")) {
        if (!convert_tool_calls(*calls, i, blocks, err)) return false;
      }
      add_turn(turns, "assistant", std::move(blocks));
    } else if (*role == "tool") {
      const std::string* id = string_at(m, "tool_call_id");
      if (id == nullptr || id->empty()) {
        return refuse(err, where + ".tool_call_id",
                      where + ".tool_call_id must be a non-empty string");
      }
      json inner = json::array();
      if (!convert_content(content, cw, kText | kImage, inner, err)) return false;
      json result = {{"type", "tool_result"}, {"tool_use_id", *id}};
      if (!inner.empty()) result["content"] = collapse(std::move(inner));
      blocks.push_back(std::move(result));
      add_turn(turns, "user", std::move(blocks));  // tool results are user-turn blocks
    } else {
      return refuse(err, where + ".role", where + ".role '" + *role + "' is not supported");
    }
  }
  return true;
}

bool convert_tools(const json& tools, json& out, ClientError& err) {
  if (!tools.is_array()) return refuse(err, "tools", "tools must be an array");
  out = json::array();
  for (std::size_t i = 0; i < tools.size(); ++i) {
    const json& t = tools[i];
    const std::string where = at("tools", i);
    const std::string* type = string_at(t, "type");
    if (!t.is_object() ||
        (member(t, "type") != nullptr && (type == nullptr || *type != "function"))) {
      return refuse(err, where, where + " must be a tool of type 'function'");
    }
    const json* fn = member(t, "function");
    const std::string* name = fn != nullptr ? string_at(*fn, "name") : nullptr;
    if (name == nullptr || name->empty()) {
      return refuse(err, where, where + ".function.name must be a non-empty string");
    }
    json tool = {{"name", *name}};
    if (const json* d = present(*fn, "description")) {
      if (!d->is_string()) {
        return refuse(err, where, where + ".function.description must be a string");
      }
      tool["description"] = *d;
    }
    json schema = {{"type", "object"}, {"properties", json::object()}};
    if (const json* p = present(*fn, "parameters")) {
      if (!p->is_object()) {
        return refuse(err, where, where + ".function.parameters must be an object");
      }
      schema = *p;
      // Anthropic requires an explicit object schema; OpenAI accepts {} for "no arguments".
      if (member(schema, "type") == nullptr) schema["type"] = "object";
    }
    tool["input_schema"] = std::move(schema);
    // `strict` has no Anthropic equivalent here and is dropped.
    out.push_back(std::move(tool));
  }
  return true;
}

bool convert_tool_choice(const json* choice, bool parallel, json& out, ClientError& err) {
  std::string type = "auto";
  std::string name;
  if (choice != nullptr && choice->is_string()) {
    const std::string& s = choice->get_ref<const std::string&>();
    if (s == "auto") {
      type = "auto";
    } else if (s == "required") {
      type = "any";
    } else if (s == "none") {
      type = "none";
    } else {
      return refuse(err, "tool_choice", "tool_choice '" + s + "' is not supported");
    }
  } else if (choice != nullptr) {
    const json* fn = member(*choice, "function");
    const std::string* n = fn != nullptr ? string_at(*fn, "name") : nullptr;
    if (string_or(*choice, "type") != "function" || n == nullptr || n->empty()) {
      return refuse(err, "tool_choice",
                    "tool_choice must be auto, required, none or {\"type\":\"function\","
                    "\"function\":{\"name\":…}}");
    }
    type = "tool";
    name = *n;
  }
  if (choice == nullptr && parallel) return true;  // Anthropic's default is auto, parallel
  out = {{"type", type}};
  if (!name.empty()) out["name"] = name;
  if (!parallel && type != "none") out["disable_parallel_tool_use"] = true;
  return true;
}

// Fields whose loss would change the answer: refuse rather than answer something else.
bool check_lossless(const json& in, ClientError& err) {
  if (present(in, "n") != nullptr && count_at(in, "n") != 1) {
    return refuse(err, "n", "n must be 1: this model returns one choice");
  }
  if (const json* rf = present(in, "response_format")) {
    if (string_or(*rf, "type") != "text") {
      return refuse(
          err, "response_format",
          "response_format other than {\"type\":\"text\"} is not supported by this model");
    }
  }
  if (present(in, "audio") != nullptr) {
    return refuse(err, "audio", "audio output is not supported by this model");
  }
  if (const json* mod = present(in, "modalities")) {
    if (!mod->is_array()) return refuse(err, "modalities", "modalities must be an array");
    for (const auto& m : *mod) {
      if (!m.is_string() || m.get_ref<const std::string&>() != "text") {
        return refuse(err, "modalities", "modalities other than \"text\" are not supported");
      }
    }
  }
  for (const char* legacy : {"functions", "function_call"}) {
    if (present(in, legacy) != nullptr) {
      return refuse(err, legacy,
                    std::string(legacy) + " is not supported; use tools and tool_choice");
    }
  }
  if (present(in, "web_search_options") != nullptr) {
    return refuse(err, "web_search_options", "web_search_options is not supported by this model");
  }
  return true;
}

// max_tokens keeps its value when the request sets neither key.
bool read_max_tokens(const json& in, std::int64_t& max_tokens, ClientError& err) {
  for (const char* key : {"max_tokens", "max_completion_tokens"}) {  // the latter wins
    if (present(in, key) == nullptr) continue;
    max_tokens = count_at(in, key);
    if (max_tokens < 1) return refuse(err, key, std::string(key) + " must be a positive integer");
  }
  return true;
}

void add_system_and_messages(json&& system_blocks, std::vector<Turn>& turns, json& body) {
  if (!system_blocks.empty()) {
    bool plain = std::all_of(system_blocks.begin(), system_blocks.end(), is_plain_text);
    body["system"] = system_blocks.size() == 1 && plain ? collapse(std::move(system_blocks))
                                                        : std::move(system_blocks);
  }
  json& msgs = body["messages"] = json::array();
  for (Turn& t : turns) {
    if (t.role == "user") {
      // Anthropic wants a turn's tool_result blocks before anything else in it.
      std::stable_partition(t.blocks.begin(), t.blocks.end(),
                            [](const json& b) { return string_or(b, "type") == "tool_result"; });
    }
    msgs.push_back({{"role", t.role}, {"content", collapse(std::move(t.blocks))}});
  }
  // No prefix is invented when the conversation opens with an assistant turn: Anthropic decides.
}

bool add_tools(const json& in, json& body, ClientError& err) {
  const json* tools = present(in, "tools");
  if (tools == nullptr) return true;
  json converted;
  if (!convert_tools(*tools, converted, err)) return false;
  bool parallel = true;
  if (const json* p = present(in, "parallel_tool_calls")) {
    if (!p->is_boolean())
      return refuse(err, "parallel_tool_calls", "parallel_tool_calls must be a boolean");
    parallel = p->get<bool>();
  }
  json choice;
  if (!convert_tool_choice(present(in, "tool_choice"), parallel, choice, err)) return false;
  // Without tools there is nothing to choose from, so tool_choice is dropped with them.
  if (!converted.empty()) {
    body["tools"] = std::move(converted);
    if (!choice.is_null()) body["tool_choice"] = std::move(choice);
  }
  return true;
}

// stop, temperature, top_p, user and stream.
bool add_options(const json& in, json& body, ClientError& err) {
  if (const json* stop = present(in, "stop")) {
    json seqs = json::array();
    if (stop->is_string()) {
      seqs.push_back(*stop);
    } else if (stop->is_array()) {
      for (const auto& s : *stop) {
        if (!s.is_string())
          return refuse(err, "stop", "stop must be a string or an array of strings");
        seqs.push_back(s);
      }
    } else {
      return refuse(err, "stop", "stop must be a string or an array of strings");
    }
    if (!seqs.empty()) body["stop_sequences"] = std::move(seqs);
  }
  if (const json* t = present(in, "temperature")) {
    if (!t->is_number()) return refuse(err, "temperature", "temperature must be a number");
    // OpenAI's range is 0..2, Anthropic's 0..1: clamp rather than refuse a valid request.
    body["temperature"] = std::clamp(t->get<double>(), 0.0, 1.0);
  }
  if (const json* p = present(in, "top_p")) {
    if (!p->is_number()) return refuse(err, "top_p", "top_p must be a number");
    // top_p >= 1 is a no-op, and recent Claude models reject temperature and top_p together.
    if (p->get<double>() < 1.0) body["top_p"] = *p;
  }
  if (const json* u = present(in, "user")) {
    if (!u->is_string()) return refuse(err, "user", "user must be a string");
    body["metadata"] = {{"user_id", *u}};
  }
  if (const json* s = present(in, "stream")) {
    if (!s->is_boolean()) return refuse(err, "stream", "stream must be a boolean");
    if (s->get<bool>()) body["stream"] = true;  // Anthropic always reports usage in the stream
  }
  return true;
}

bool encode(const json& in, std::string_view model, Encoded& out, ClientError& err) {
  if (!in.is_object()) return refuse(err, "", "request body must be a JSON object");
  if (!check_lossless(in, err)) return false;

  const json* messages = member(in, "messages");
  if (messages == nullptr || !messages->is_array() || messages->empty()) {
    return refuse(err, "messages", "messages must be a non-empty array");
  }
  json system_blocks = json::array();
  std::vector<Turn> turns;
  if (!convert_messages(*messages, system_blocks, turns, err)) return false;
  if (turns.empty()) {
    return refuse(err, "messages",
                  "messages must contain a user or assistant message with content");
  }

  std::int64_t max_tokens = kDefaultMaxTokens;
  if (!read_max_tokens(in, max_tokens, err)) return false;

  json body;
  body["model"] = std::string(model);
  body["max_tokens"] = max_tokens;
  add_system_and_messages(std::move(system_blocks), turns, body);
  if (!add_tools(in, body, err)) return false;
  if (!add_options(in, body, err)) return false;
  // Dropped as harmless: logprobs, top_logprobs, presence/frequency_penalty, seed, logit_bias,
  // service_tier, store, metadata, stream_options, prediction, reasoning_effort and unknown keys.

  out.path = "/messages";
  out.body = dump(body);
  out.headers = {{"anthropic-version", std::string(kVersion)}};
  return true;
}

}  // namespace

bool encode_request(std::string_view openai_body, std::string_view model, Encoded& out,
                    ClientError& err) {
  out = Encoded{};
  const json in = json::parse(openai_body, nullptr, false);
  if (in.is_discarded()) return refuse(err, "", "request body is not valid JSON");
  try {
    return encode(in, model, out, err);
  } catch (const std::exception& e) {
    // Every access above is type-checked; this guards a missed case from taking down the worker.
    out = Encoded{};
    return refuse(err, "", std::string("request could not be translated: ") + e.what());
  }
}

}  // namespace switchyard::adapters::anthropic
