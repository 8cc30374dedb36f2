// The Anthropic-dialect front end (see messages_front.hpp), response side: OpenAI answers,
// streams and errors → Messages responses, events and errors. The request side is
// messages_front_request.cpp.
//
// Choices where the Messages API and OpenAI chat completions do not line up one to one:
//  * Responses: finish_reason stop (or none) with tool calls present → tool_use, since the
//    Anthropic SDK's tool loops key on it; OpenAI cannot say which stop sequence matched, so
//    stop_sequence is always null. message.refusal becomes a text block when content is
//    empty. Tool arguments that are not a JSON object become {}.
//  * Streams: message_start carries zero usage (OpenAI reports usage only at the end);
//    message_delta, emitted at [DONE], carries output_tokens and, when known, input_tokens
//    and cache counts, which the SDK's MessageStream merges into the final message.
//    reasoning deltas are dropped. A mid-stream OpenAI error payload ({"error":{…}}) becomes
//    an `error` event; nothing is emitted after an error or after message_stop.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <exception>
#include <memory>
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
using detail::parse;
using detail::str_of;

namespace {

/// Anthropic-facing output keeps Anthropic's key order ("type" first); input is parsed into
/// the sorted `json` (ordered_json lookups and inserts are linear in the object size).
using ojson = nlohmann::ordered_json;

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
