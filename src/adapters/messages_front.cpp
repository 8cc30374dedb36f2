// The Anthropic-dialect front end (see messages_front.hpp).
//
// Choices where the Messages API and OpenAI chat completions do not line up one to one:
//  * system: a string, or text blocks joined with "\n\n", becomes one leading system
//    message with string content (the most widely accepted shape among OpenAI-compatible
//    servers). cache_control and citations are dropped everywhere.
//  * user content given as blocks becomes content parts (text, image_url, file); given as a
//    string it stays a string. tool_result blocks become {"role":"tool"} messages placed
//    before the rest of the user's content; their content (string, or text blocks joined
//    with "\n") is prefixed with "Error: " when is_error is true, and images inside a
//    tool_result (OpenAI tool messages carry text only) move into the user message that
//    follows, ahead of the user's own parts.
//  * assistant text blocks are joined with "\n\n"; content is null when the turn is only
//    tool_use blocks. thinking and redacted_thinking blocks are dropped (they cannot be
//    replayed to another provider).
//  * Blocks and tools with no OpenAI equivalent (server tools, document url/file sources,
//    search results, …) are refused with a 400 naming them rather than silently dropped.
//  * tool_choice and disable_parallel_tool_use are dropped when there are no tools (OpenAI
//    refuses them without tools).
//  * Responses: finish_reason stop (or none) with tool calls present → tool_use, since the
//    Anthropic SDK's tool loops key on it; OpenAI cannot say which stop sequence matched, so
//    stop_sequence is always null. message.refusal becomes a text block when content is
//    empty. Tool arguments that are not a JSON object become {}.
//  * Streams: message_start carries zero usage (OpenAI reports usage only at the end);
//    message_delta, emitted at [DONE], carries output_tokens and, when known, input_tokens
//    and cache counts, which the SDK's MessageStream merges into the final message.
//    reasoning deltas are dropped. A mid-stream OpenAI error payload ({"error":{…}}) becomes
//    an `error` event; nothing is emitted after an error or after message_stop.

#include "switchyard/adapters/messages_front.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <exception>
#include <nlohmann/json.hpp>
#include <utility>

namespace switchyard::adapters::messages_front {
namespace {

using json = nlohmann::json;
/// Anthropic-facing output keeps Anthropic's key order ("type" first); input is parsed into
/// the sorted `json` (ordered_json lookups and inserts are linear in the object size).
using ojson = nlohmann::ordered_json;

constexpr int kMaxDepth = 128;

/// Whether arrays/objects nest deeper than kMaxDepth (outside strings). Checked before
/// parsing: deep nesting would otherwise make copies and dumps recurse without bound.
bool too_deep(std::string_view s) {
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (const char c : s) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxDepth) return true;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return false;
}

/// Parses without throwing; discarded on malformed input or excessive nesting.
json parse(std::string_view s) {
  if (too_deep(s)) return json(json::value_t::discarded);
  return json::parse(s, nullptr, false);
}

template <typename J>
std::string dump(const J& j) {
  return j.dump(-1, ' ', false, J::error_handler_t::replace);
}

const json* field(const json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
}

/// The value of a string field, or "" when absent or not a string.
std::string str_of(const json& obj, const char* key) {
  const json* v = field(obj, key);
  return v != nullptr && v->is_string() ? v->get<std::string>() : std::string();
}

std::int64_t int_of(const json& obj, const char* key) {
  const json* v = field(obj, key);
  if (v == nullptr) return -1;
  if (v->is_number_unsigned()) {
    const auto u = v->get<std::uint64_t>();
    return u > static_cast<std::uint64_t>(INT64_MAX) ? INT64_MAX : static_cast<std::int64_t>(u);
  }
  if (v->is_number_integer()) return v->get<std::int64_t>();
  if (v->is_number_float()) {
    const double d = v->get<double>();
    if (std::isfinite(d) && d >= 0 && d < 9.0e18) return static_cast<std::int64_t>(d);
  }
  return -1;
}

// ---------------------------------------------------------------------------------------
// Request

struct Refusal {};  // thrown inside to_openai_request only, caught there

class RequestTranslator {
 public:
  explicit RequestTranslator(ClientError& err) : err_(err) {}

  [[noreturn]] void fail(const std::string& path, const std::string& msg) {
    err_ = ClientError{};
    err_.status = 400;
    err_.type = "invalid_request_error";
    err_.message = path.empty() ? msg : path + ": " + msg;
    err_.param = path;
    throw Refusal{};
  }

  const json& require(const json& obj, const char* key, const std::string& path) {
    const json* v = field(obj, key);
    if (v == nullptr) fail(path.empty() ? key : path + "." + key, "Field required");
    return *v;
  }

  std::string require_string(const json& obj, const char* key, const std::string& path) {
    const json& v = require(obj, key, path);
    if (!v.is_string())
      fail(path.empty() ? key : path + "." + key, "Input should be a valid string");
    return v.get<std::string>();
  }

  const json& require_object(const json& v, const std::string& path) {
    if (!v.is_object()) fail(path, "Input should be a valid dictionary");
    return v;
  }

  static std::string at(const std::string& path, std::size_t i) {
    return path + "." + std::to_string(i);
  }

  json translate(const json& body) {
    if (!body.is_object()) fail("", "The request body must be a JSON object");
    json out = json::object();

    const json& model = require(body, "model", "");
    if (!model.is_string()) fail("model", "Input should be a valid string");
    if (model.get_ref<const std::string&>().empty()) {
      fail("model", "String should have at least 1 character");
    }
    out["model"] = model;

    const json& max_tokens = require(body, "max_tokens", "");
    if (max_tokens.is_number_unsigned()) {
      if (max_tokens.get<std::uint64_t>() < 1) {
        fail("max_tokens", "Input should be greater than or equal to 1");
      }
      out["max_tokens"] = max_tokens;
    } else if (max_tokens.is_number_integer()) {
      if (max_tokens.get<std::int64_t>() < 1) {
        fail("max_tokens", "Input should be greater than or equal to 1");
      }
      out["max_tokens"] = max_tokens;
    } else if (max_tokens.is_number_float()) {
      const double d = max_tokens.get<double>();
      if (!std::isfinite(d) || std::floor(d) != d || std::fabs(d) > 9.0e15) {
        fail("max_tokens", "Input should be a valid integer, got a number with a fractional part");
      }
      if (d < 1) fail("max_tokens", "Input should be greater than or equal to 1");
      out["max_tokens"] = static_cast<std::int64_t>(d);
    } else {
      fail("max_tokens", "Input should be a valid integer");
    }

    const json& messages = require(body, "messages", "");
    if (!messages.is_array()) fail("messages", "Input should be a valid list");
    if (messages.empty()) fail("messages", "at least one message is required");

    json msgs = json::array();
    if (const json* system = field(body, "system"); system != nullptr && !system->is_null()) {
      std::string text = system_text(*system);
      if (!text.empty()) msgs.push_back({{"role", "system"}, {"content", std::move(text)}});
    }
    for (std::size_t i = 0; i < messages.size(); ++i) {
      message(messages[i], at("messages", i), msgs);
    }
    out["messages"] = std::move(msgs);

    bool has_tools = false;
    if (const json* tools = field(body, "tools"); tools != nullptr && !tools->is_null()) {
      json t = translate_tools(*tools);
      has_tools = !t.empty();
      if (has_tools) out["tools"] = std::move(t);
    }
    if (const json* tc = field(body, "tool_choice"); tc != nullptr && !tc->is_null()) {
      tool_choice(*tc, has_tools, out);
    }

    if (const json* stop = field(body, "stop_sequences"); stop != nullptr && !stop->is_null()) {
      if (!stop->is_array()) fail("stop_sequences", "Input should be a valid list");
      for (std::size_t i = 0; i < stop->size(); ++i) {
        if (!(*stop)[i].is_string())
          fail(at("stop_sequences", i), "Input should be a valid string");
      }
      if (!stop->empty()) out["stop"] = *stop;
    }

    for (const char* key : {"temperature", "top_p"}) {
      if (const json* v = field(body, key); v != nullptr && !v->is_null()) {
        if (!v->is_number()) fail(key, "Input should be a valid number");
        out[key] = *v;
      }
    }

    if (const json* md = field(body, "metadata"); md != nullptr && !md->is_null()) {
      require_object(*md, "metadata");
      if (const json* uid = field(*md, "user_id"); uid != nullptr && !uid->is_null()) {
        if (!uid->is_string()) fail("metadata.user_id", "Input should be a valid string");
        if (!uid->get_ref<const std::string&>().empty()) out["user"] = *uid;
      }
    }

    if (const json* stream = field(body, "stream"); stream != nullptr && !stream->is_null()) {
      if (!stream->is_boolean()) fail("stream", "Input should be a valid boolean");
      if (stream->get<bool>()) {
        out["stream"] = true;
        out["stream_options"] = {{"include_usage", true}};
      }
    }
    // top_k, thinking, service_tier, container, mcp_servers, …: dropped.
    return out;
  }

 private:
  std::string system_text(const json& system) {
    if (system.is_string()) return system.get<std::string>();
    if (!system.is_array()) fail("system", "Input should be a valid list");
    std::string text;
    for (std::size_t i = 0; i < system.size(); ++i) {
      const std::string path = at("system", i);
      const json& block = require_object(system[i], path);
      const std::string type = require_string(block, "type", path);
      if (type != "text") fail(path + ".type", "Input should be 'text'");
      const std::string t = require_string(block, "text", path);
      if (!text.empty() && !t.empty()) text += "\n\n";
      text += t;
    }
    return text;
  }

  json image_part(const json& block, const std::string& path) {
    const json& source = require_object(require(block, "source", path), path + ".source");
    const std::string type = require_string(source, "type", path + ".source");
    std::string url;
    if (type == "base64") {
      const std::string media = require_string(source, "media_type", path + ".source");
      url = "data:" + media + ";base64," + require_string(source, "data", path + ".source");
    } else if (type == "url") {
      url = require_string(source, "url", path + ".source");
    } else {
      fail(path + ".source.type",
           "image source type '" + type + "' is not supported by this gateway");
    }
    return {{"type", "image_url"}, {"image_url", {{"url", std::move(url)}}}};
  }

  json document_part(const json& block, const std::string& path) {
    const json& source = require_object(require(block, "source", path), path + ".source");
    const std::string type = require_string(source, "type", path + ".source");
    if (type == "text") {
      return {{"type", "text"}, {"text", require_string(source, "data", path + ".source")}};
    }
    if (type == "base64") {
      const std::string media = require_string(source, "media_type", path + ".source");
      json file = {{"file_data", "data:" + media + ";base64," +
                                     require_string(source, "data", path + ".source")}};
      const std::string title = str_of(block, "title");
      file["filename"] = title.empty() ? std::string("document.pdf") : title;
      return {{"type", "file"}, {"file", std::move(file)}};
    }
    fail(path + ".source.type",
         "document source type '" + type + "' is not supported by this gateway");
  }

  [[noreturn]] void unsupported_block(const std::string& type, const std::string& path,
                                      const char* role) {
    static const char* const known[] = {"text",
                                        "image",
                                        "document",
                                        "tool_use",
                                        "tool_result",
                                        "thinking",
                                        "redacted_thinking",
                                        "search_result",
                                        "server_tool_use",
                                        "web_search_tool_result",
                                        "web_fetch_tool_result",
                                        "code_execution_tool_result",
                                        "container_upload",
                                        "mcp_tool_use",
                                        "mcp_tool_result"};
    for (const char* k : known) {
      if (type == k) {
        fail(path, "'" + type + "' content blocks in " + role +
                       " messages are not supported by this gateway");
      }
    }
    fail(path + ".type",
         "Input tag '" + type + "' found using 'type' does not match any of the expected tags");
  }

  std::string tool_result_content(const json& block, const std::string& path, json& images) {
    const json* content = field(block, "content");
    std::string text;
    if (content == nullptr || content->is_null()) {
      // empty result
    } else if (content->is_string()) {
      text = content->get<std::string>();
    } else if (content->is_array()) {
      for (std::size_t k = 0; k < content->size(); ++k) {
        const std::string p = at(path + ".content", k);
        const json& b = require_object((*content)[k], p);
        const std::string type = require_string(b, "type", p);
        if (type == "text") {
          if (!text.empty()) text += "\n";
          text += require_string(b, "text", p);
        } else if (type == "image") {
          images.push_back(image_part(b, p));
        } else if (type == "document") {
          json part = document_part(b, p);
          if (part["type"] == "text") {
            if (!text.empty()) text += "\n";
            text += part["text"].get<std::string>();
          } else {
            images.push_back(std::move(part));
          }
        } else {
          fail(p, "'" + type + "' blocks in tool_result content are not supported by this gateway");
        }
      }
    } else {
      fail(path + ".content", "Input should be a valid list");
    }
    if (const json* e = field(block, "is_error"); e != nullptr && !e->is_null()) {
      if (!e->is_boolean()) fail(path + ".is_error", "Input should be a valid boolean");
      if (e->get<bool>()) text = text.empty() ? std::string("Error") : "Error: " + text;
    }
    return text;
  }

  void user_message(const json& content, const std::string& path, json& msgs) {
    json parts = json::array();
    json carried = json::array();  // images from tool results
    for (std::size_t j = 0; j < content.size(); ++j) {
      const std::string p = at(path, j);
      const json& block = require_object(content[j], p);
      const std::string type = require_string(block, "type", p);
      if (type == "text") {
        parts.push_back({{"type", "text"}, {"text", require_string(block, "text", p)}});
      } else if (type == "image") {
        parts.push_back(image_part(block, p));
      } else if (type == "document") {
        parts.push_back(document_part(block, p));
      } else if (type == "tool_result") {
        const std::string id = require_string(block, "tool_use_id", p);
        std::string text = tool_result_content(block, p, carried);
        msgs.push_back({{"role", "tool"}, {"tool_call_id", id}, {"content", std::move(text)}});
      } else if (type == "thinking" || type == "redacted_thinking") {
        // dropped
      } else {
        unsupported_block(type, p, "user");
      }
    }
    if (!carried.empty()) {
      for (auto& part : parts) carried.push_back(std::move(part));
      parts = std::move(carried);
    }
    if (!parts.empty()) msgs.push_back({{"role", "user"}, {"content", std::move(parts)}});
  }

  void assistant_message(const json& content, const std::string& path, json& msgs) {
    std::string text;
    bool any_text = false;
    json calls = json::array();
    for (std::size_t j = 0; j < content.size(); ++j) {
      const std::string p = at(path, j);
      const json& block = require_object(content[j], p);
      const std::string type = require_string(block, "type", p);
      if (type == "text") {
        const std::string t = require_string(block, "text", p);
        if (any_text && !t.empty() && !text.empty()) text += "\n\n";
        text += t;
        any_text = true;
      } else if (type == "tool_use") {
        const std::string id = require_string(block, "id", p);
        const std::string name = require_string(block, "name", p);
        json input = json::object();
        if (const json* in = field(block, "input"); in != nullptr && !in->is_null()) {
          input = require_object(*in, p + ".input");
        }
        calls.push_back({{"id", id},
                         {"type", "function"},
                         {"function", {{"name", name}, {"arguments", dump(input)}}}});
      } else if (type == "thinking" || type == "redacted_thinking") {
        // dropped
      } else {
        unsupported_block(type, p, "assistant");
      }
    }
    json msg = {{"role", "assistant"}};
    if (calls.empty()) {
      msg["content"] = std::move(text);
    } else {
      msg["content"] = any_text && !text.empty() ? json(std::move(text)) : json(nullptr);
      msg["tool_calls"] = std::move(calls);
    }
    msgs.push_back(std::move(msg));
  }

  void message(const json& m, const std::string& path, json& msgs) {
    require_object(m, path);
    const json& role = require(m, "role", path);
    if (!role.is_string() || (role != "user" && role != "assistant")) {
      fail(path + ".role", "Input should be 'user' or 'assistant'");
    }
    const json& content = require(m, "content", path);
    if (content.is_string()) {
      msgs.push_back({{"role", role}, {"content", content}});
      return;
    }
    if (!content.is_array()) fail(path + ".content", "Input should be a valid list");
    if (role == "user") {
      user_message(content, path + ".content", msgs);
    } else {
      assistant_message(content, path + ".content", msgs);
    }
  }

  json translate_tools(const json& tools) {
    if (!tools.is_array()) fail("tools", "Input should be a valid list");
    json out = json::array();
    for (std::size_t i = 0; i < tools.size(); ++i) {
      const std::string p = at("tools", i);
      const json& t = require_object(tools[i], p);
      if (const json* type = field(t, "type"); type != nullptr && !type->is_null()) {
        if (!type->is_string()) fail(p + ".type", "Input should be a valid string");
        if (*type != "custom") {
          fail(p, "tool type '" + type->get<std::string>() + "' is not supported by this gateway");
        }
      }
      json fn = {{"name", require_string(t, "name", p)}};
      if (const json* d = field(t, "description"); d != nullptr && !d->is_null()) {
        if (!d->is_string()) fail(p + ".description", "Input should be a valid string");
        fn["description"] = *d;
      }
      fn["parameters"] = require_object(require(t, "input_schema", p), p + ".input_schema");
      out.push_back({{"type", "function"}, {"function", std::move(fn)}});
    }
    return out;
  }

  void tool_choice(const json& tc, bool has_tools, json& out) {
    require_object(tc, "tool_choice");
    const std::string type = require_string(tc, "type", "tool_choice");
    json choice;
    if (type == "auto") {
      choice = "auto";
    } else if (type == "any") {
      choice = "required";
    } else if (type == "none") {
      choice = "none";
    } else if (type == "tool") {
      choice = {{"type", "function"},
                {"function", {{"name", require_string(tc, "name", "tool_choice")}}}};
    } else {
      fail("tool_choice.type", "Input should be 'auto', 'any', 'tool' or 'none'");
    }
    bool no_parallel = false;
    if (const json* d = field(tc, "disable_parallel_tool_use"); d != nullptr && !d->is_null()) {
      if (!d->is_boolean()) {
        fail("tool_choice.disable_parallel_tool_use", "Input should be a valid boolean");
      }
      no_parallel = d->get<bool>();
    }
    if (!has_tools) return;
    out["tool_choice"] = std::move(choice);
    if (no_parallel && type != "none") out["parallel_tool_calls"] = false;
  }

  ClientError& err_;
};

// ---------------------------------------------------------------------------------------
// Response

std::string message_id(std::string_view openai_id) {
  if (openai_id.empty()) return "msg_unknown";
  if (openai_id.substr(0, 4) == "msg_") return std::string(openai_id);
  constexpr std::string_view kPrefix = "chatcmpl-";
  if (openai_id.substr(0, kPrefix.size()) == kPrefix) openai_id.remove_prefix(kPrefix.size());
  return "msg_" + std::string(openai_id);
}

std::string stop_reason(std::string_view finish_reason, bool has_tool_use) {
  if (finish_reason == "length") return "max_tokens";
  if (finish_reason == "tool_calls" || finish_reason == "function_call") return "tool_use";
  if (finish_reason == "content_filter") return "refusal";
  return has_tool_use ? "tool_use" : "end_turn";
}

struct Counts {
  std::int64_t prompt = -1;
  std::int64_t completion = -1;
  std::int64_t cached = 0;

  void read(const json& usage) {
    if (!usage.is_object()) return;
    prompt = int_of(usage, "prompt_tokens");
    completion = int_of(usage, "completion_tokens");
    cached = 0;
    if (const json* d = field(usage, "prompt_tokens_details"); d != nullptr) {
      cached = std::max<std::int64_t>(0, int_of(*d, "cached_tokens"));
    }
  }
  std::int64_t input() const { return prompt < 0 ? 0 : std::max<std::int64_t>(0, prompt - cached); }
  std::int64_t output() const { return completion < 0 ? 0 : completion; }
};

json tool_input(const json& arguments) {
  if (arguments.is_object()) return arguments;  // some servers send an object
  if (!arguments.is_string()) return json::object();
  json parsed = parse(arguments.get_ref<const std::string&>());
  return parsed.is_object() ? parsed : json::object();
}

std::string content_text(const json& content) {
  if (content.is_string()) return content.get<std::string>();
  std::string text;
  if (content.is_array()) {
    for (const auto& part : content) {
      if (str_of(part, "type") == "text") text += str_of(part, "text");
    }
  }
  return text;
}

void emit(std::string& out, std::string_view name, const ojson& data) {
  out.append("event: ").append(name).append("\ndata: ").append(dump(data)).append("\n\n");
}

}  // namespace

bool to_openai_request(std::string_view anthropic_body, std::string& openai_body,
                       ClientError& err) {
  try {
    RequestTranslator t(err);
    if (too_deep(anthropic_body)) {
      t.fail("",
             "The request body nests JSON deeper than " + std::to_string(kMaxDepth) + " levels");
    }
    const json body = parse(anthropic_body);
    if (body.is_discarded()) {
      t.fail("", "There was an error parsing the body of your request: it is not valid JSON");
    }
    openai_body = dump(t.translate(body));
    return true;
  } catch (const Refusal&) {
    return false;
  } catch (const std::exception& e) {
    err = ClientError{};
    err.message = std::string("Could not translate the request: ") + e.what();
    return false;
  }
}

bool to_anthropic_response(std::string_view openai_body, std::string& anthropic_json,
                           std::string& why) {
  try {
    const json body = parse(openai_body);
    if (!body.is_object()) {
      why = "upstream answer is not a JSON object";
      return false;
    }
    const json* choices = field(body, "choices");
    if (choices == nullptr || !choices->is_array() || choices->empty() ||
        !(*choices)[0].is_object()) {
      why = "upstream answer has no choices";
      return false;
    }
    const json& choice = (*choices)[0];
    const json* message = field(choice, "message");
    if (message == nullptr || !message->is_object()) {
      why = "upstream answer has no choices[0].message";
      return false;
    }

    ojson content = ojson::array();
    std::string text;
    if (const json* c = field(*message, "content"); c != nullptr) text = content_text(*c);
    if (text.empty()) text = str_of(*message, "refusal");
    if (!text.empty()) content.push_back({{"type", "text"}, {"text", text}});

    auto add_tool = [&content](const json& call, std::size_t i) {
      const json* fn = field(call, "function");
      if (fn == nullptr) fn = &call;  // legacy function_call has name/arguments at top
      std::string id = str_of(call, "id");
      if (id.empty()) id = "toolu_" + std::to_string(i);
      const json* args = field(*fn, "arguments");
      content.push_back({{"type", "tool_use"},
                         {"id", std::move(id)},
                         {"name", str_of(*fn, "name")},
                         {"input", args != nullptr ? ojson(tool_input(*args)) : ojson::object()}});
    };
    bool has_tool_use = false;
    if (const json* calls = field(*message, "tool_calls"); calls != nullptr && calls->is_array()) {
      for (std::size_t i = 0; i < calls->size(); ++i) {
        if (!(*calls)[i].is_object()) continue;
        add_tool((*calls)[i], i);
        has_tool_use = true;
      }
    }
    if (const json* fc = field(*message, "function_call"); fc != nullptr && fc->is_object()) {
      add_tool(*fc, content.size());
      has_tool_use = true;
    }

    Counts counts;
    if (const json* u = field(body, "usage"); u != nullptr) counts.read(*u);

    ojson out = {{"id", message_id(str_of(body, "id"))},
                 {"type", "message"},
                 {"role", "assistant"},
                 {"model", str_of(body, "model")},
                 {"content", std::move(content)},
                 {"stop_reason", stop_reason(str_of(choice, "finish_reason"), has_tool_use)},
                 {"stop_sequence", nullptr},
                 {"usage",
                  {{"input_tokens", counts.input()},
                   {"output_tokens", counts.output()},
                   {"cache_read_input_tokens", counts.cached},
                   {"cache_creation_input_tokens", 0}}}};
    anthropic_json = dump(out);
    return true;
  } catch (const std::exception& e) {
    why = std::string("could not translate the upstream answer: ") + e.what();
    return false;
  }
}

// ---------------------------------------------------------------------------------------
// Stream

struct EventWriter::State {
  enum class Block { none, text, tool };

  std::string model;
  std::string id;
  bool started = false;
  bool finished = false;
  Block open = Block::none;
  int index = -1;  // index of the open (or last) block
  std::int64_t tool_index = -1;
  std::string tool_id;
  bool any_tool = false;
  std::string finish_reason;
  Counts counts;

  void start(std::string& out, const json& chunk) {
    if (started) return;
    started = true;
    if (model.empty()) model = str_of(chunk, "model");
    if (id.empty()) id = str_of(chunk, "id");
    ojson message = {{"id", message_id(id)},
                     {"type", "message"},
                     {"role", "assistant"},
                     {"model", model},
                     {"content", ojson::array()},
                     {"stop_reason", nullptr},
                     {"stop_sequence", nullptr},
                     {"usage",
                      {{"input_tokens", 0},
                       {"output_tokens", 0},
                       {"cache_creation_input_tokens", 0},
                       {"cache_read_input_tokens", 0}}}};
    emit(out, "message_start", {{"type", "message_start"}, {"message", std::move(message)}});
    emit(out, "ping", {{"type", "ping"}});
  }

  void close(std::string& out) {
    if (open == Block::none) return;
    emit(out, "content_block_stop", {{"type", "content_block_stop"}, {"index", index}});
    open = Block::none;
  }

  void text(std::string& out, const std::string& t) {
    if (t.empty()) return;
    if (open != Block::text) {
      close(out);
      open = Block::text;
      ++index;
      emit(out, "content_block_start",
           {{"type", "content_block_start"},
            {"index", index},
            {"content_block", {{"type", "text"}, {"text", ""}}}});
    }
    emit(out, "content_block_delta",
         {{"type", "content_block_delta"},
          {"index", index},
          {"delta", {{"type", "text_delta"}, {"text", t}}}});
  }

  void tool(std::string& out, const json& call, std::size_t position) {
    std::int64_t idx = int_of(call, "index");
    const std::string call_id = str_of(call, "id");
    if (idx < 0)
      idx =
          call_id.empty() && open == Block::tool ? tool_index : static_cast<std::int64_t>(position);
    const json* fn = field(call, "function");
    const json empty = json::object();
    if (fn == nullptr || !fn->is_object()) fn = &empty;
    const bool fresh =
        open != Block::tool || idx != tool_index || (!call_id.empty() && call_id != tool_id);
    if (fresh) {
      close(out);
      open = Block::tool;
      ++index;
      tool_index = idx;
      tool_id = call_id.empty() ? "toolu_" + message_id(id).substr(4) + "_" + std::to_string(index)
                                : call_id;
      any_tool = true;
      emit(out, "content_block_start",
           {{"type", "content_block_start"},
            {"index", index},
            {"content_block",
             {{"type", "tool_use"},
              {"id", tool_id},
              {"name", str_of(*fn, "name")},
              {"input", ojson::object()}}}});
    }
    std::string args;
    if (const json* a = field(*fn, "arguments"); a != nullptr) {
      if (a->is_string()) {
        args = a->get<std::string>();
      } else if (a->is_object()) {
        args = dump(*a);
      }
    }
    if (!args.empty()) {
      emit(out, "content_block_delta",
           {{"type", "content_block_delta"},
            {"index", index},
            {"delta", {{"type", "input_json_delta"}, {"partial_json", std::move(args)}}}});
    }
  }

  void error(std::string_view type, std::string_view message, std::string& out) {
    if (finished) return;
    finished = true;
    emit(out, "error",
         {{"type", "error"},
          {"error",
           {{"type", type.empty() ? std::string("api_error") : std::string(type)},
            {"message", std::string(message)}}}});
  }
};

EventWriter::EventWriter(std::string_view model, std::string_view id)
    : s_(std::make_unique<State>()) {
  s_->model = std::string(model);
  s_->id = std::string(id);
}
EventWriter::~EventWriter() = default;
EventWriter::EventWriter(EventWriter&&) noexcept = default;
EventWriter& EventWriter::operator=(EventWriter&&) noexcept = default;

void EventWriter::on_chunk(std::string_view data, std::string& out) {
  if (!s_ || s_->finished) return;
  try {
    const json chunk = parse(data);
    if (!chunk.is_object()) return;
    if (const json* e = field(chunk, "error"); e != nullptr && !e->is_null()) {
      std::string msg = e->is_string() ? e->get<std::string>() : str_of(*e, "message");
      if (msg.empty()) msg = "The upstream provider reported an error mid-stream";
      s_->error("api_error", msg, out);
      return;
    }
    s_->start(out, chunk);
    if (const json* u = field(chunk, "usage"); u != nullptr && u->is_object()) s_->counts.read(*u);
    const json* choices = field(chunk, "choices");
    if (choices == nullptr || !choices->is_array()) return;
    for (const auto& choice : *choices) {
      if (!choice.is_object()) continue;
      const std::int64_t ci = int_of(choice, "index");
      if (ci > 0) continue;  // only choice 0 is translated
      if (const json* delta = field(choice, "delta"); delta != nullptr && delta->is_object()) {
        if (const json* c = field(*delta, "content"); c != nullptr) s_->text(out, content_text(*c));
        s_->text(out, str_of(*delta, "refusal"));
        if (const json* calls = field(*delta, "tool_calls");
            calls != nullptr && calls->is_array()) {
          for (std::size_t i = 0; i < calls->size(); ++i) {
            if ((*calls)[i].is_object()) s_->tool(out, (*calls)[i], i);
          }
        }
        if (const json* fc = field(*delta, "function_call"); fc != nullptr && fc->is_object()) {
          json call = {{"index", 0}, {"function", *fc}};
          s_->tool(out, call, 0);
        }
      }
      const std::string fr = str_of(choice, "finish_reason");
      if (!fr.empty()) s_->finish_reason = fr;
      break;
    }
  } catch (const std::exception&) {
    // A chunk that cannot be translated is skipped; the stream goes on.
  }
}

void EventWriter::on_done(std::string& out) {
  if (!s_ || s_->finished) return;
  try {
    s_->start(out, json::object());
    s_->close(out);
    ojson usage = {{"output_tokens", s_->counts.output()}};
    if (s_->counts.prompt >= 0) {
      usage["input_tokens"] = s_->counts.input();
      usage["cache_read_input_tokens"] = s_->counts.cached;
      usage["cache_creation_input_tokens"] = 0;
    }
    emit(out, "message_delta",
         {{"type", "message_delta"},
          {"delta",
           {{"stop_reason", stop_reason(s_->finish_reason, s_->any_tool)},
            {"stop_sequence", nullptr}}},
          {"usage", std::move(usage)}});
    emit(out, "message_stop", {{"type", "message_stop"}});
  } catch (const std::exception&) {
  }
  s_->finished = true;
}

void EventWriter::on_error(std::string_view type, std::string_view message, std::string& out) {
  if (!s_) return;
  try {
    s_->error(type, message, out);
  } catch (const std::exception&) {
  }
}

// ---------------------------------------------------------------------------------------
// Errors

std::string error_body(int status, std::string_view openai_error_body) {
  std::string type;
  switch (status) {
    case 400:
      type = "invalid_request_error";
      break;
    case 401:
      type = "authentication_error";
      break;
    case 402:
      type = "billing_error";
      break;
    case 403:
      type = "permission_error";
      break;
    case 404:
      type = "not_found_error";
      break;
    case 413:
      type = "request_too_large";
      break;
    case 429:
      type = "rate_limit_error";
      break;
    case 529:
      type = "overloaded_error";
      break;
    default:
      type = status >= 500 ? "api_error" : "invalid_request_error";
  }

  std::string message;
  try {
    const json body = parse(openai_error_body);
    if (const json* e = field(body, "error"); e != nullptr) {
      message = e->is_string() ? e->get<std::string>() : str_of(*e, "message");
    }
    if (message.empty()) message = str_of(body, "message");
  } catch (const std::exception&) {
  }
  if (message.empty()) {
    switch (status) {
      case 401:
        message = "invalid x-api-key";
        break;
      case 404:
        message = "Not found";
        break;
      case 429:
        message = "Rate limited; please retry later";
        break;
      case 529:
        message = "Overloaded";
        break;
      default:
        message = status >= 500 ? "Internal server error"
                                : "The upstream provider refused the request (status " +
                                      std::to_string(status) + ")";
    }
  }
  ojson out = {{"type", "error"}, {"error", {{"type", type}, {"message", std::move(message)}}}};
  return dump(out);
}

}  // namespace switchyard::adapters::messages_front
