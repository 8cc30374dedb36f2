// The Anthropic-dialect front end (see messages_front.hpp), request side: a Messages request →
// an OpenAI chat completions request. Responses, streams and errors are in
// messages_front_response.cpp.
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

#include <cmath>
#include <cstdint>
#include <exception>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>

#include "adapters/messages_front_detail.hpp"
#include "switchyard/adapters/messages_front.hpp"

namespace switchyard::adapters::messages_front {

using detail::dump;
using detail::field;
using detail::json;
using detail::kMaxDepth;
using detail::parse;
using detail::str_of;
using detail::too_deep;

namespace {

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

}  // namespace switchyard::adapters::messages_front
