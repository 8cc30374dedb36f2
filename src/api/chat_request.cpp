#include "switchyard/api/chat_request.hpp"

#include <nlohmann/json.hpp>
#include <vector>

#include "switchyard/api/json_scan.hpp"

namespace switchyard::api {
namespace {

using nlohmann::json;

bool fail(RequestError& err, Errc code, std::string message, std::string param = {}) {
  err.code = code;
  err.message = std::move(message);
  err.param = std::move(param);
  return false;
}

std::string_view value_of(std::string_view body, const Member& m) {
  return body.substr(m.value_begin, m.value_end - m.value_begin);
}

// A member's value as a DOM, never throwing: json_valid accepts every number the JSON
// grammar allows, nlohmann cannot represent some of them (an integer of 310 digits
// overflows even a double), so such a value is the client's error, named by its field.
bool read_value(std::string_view v, std::string_view key, json& out, RequestError& err) {
  out = json::parse(v, nullptr, false);
  if (!out.is_discarded()) return true;
  return fail(err, Errc::invalid_request,
              "'" + std::string(key) +
                  "' has a value the gateway cannot read (a number out of "
                  "range?).",
              std::string(key));
}

}  // namespace

bool parse_chat_request(std::string_view body, ChatRequest& req, RequestError& err) {
  req.body = body;
  if (!json_valid(body)) {
    return fail(err, Errc::invalid_json,
                "We could not parse the JSON body of your request. (HINT: This likely means "
                "you aren't using your HTTP library correctly. The OpenAI API expects a JSON "
                "payload, but what was sent was not valid JSON.)");
  }
  std::vector<Member> members;
  members.reserve(16);
  if (!scan_top_level(body, members)) {
    return fail(err, Errc::invalid_request, "The request body must be a JSON object.");
  }
  bool have_model = false, have_messages = false;
  for (const Member& m : members) {
    std::string_view v = value_of(body, m);
    if (m.key == "model") {
      if (have_model) {
        // Another reader of the body (the upstream) might take the other one.
        return fail(err, Errc::invalid_request, "'model' is given more than once.", "model");
      }
      json model;
      if (v.empty() || v.front() != '"' || !read_value(v, m.key, model, err) ||
          !model.is_string()) {
        return fail(err, Errc::invalid_request, "'model' must be a string.", "model");
      }
      req.model = model.get<std::string>();
      req.model_begin = m.value_begin;
      req.model_end = m.value_end;
      have_model = true;
    } else if (m.key == "messages") {
      if (v.front() != '[') {
        return fail(err, Errc::invalid_request, "'messages' must be an array.", "messages");
      }
      std::size_t i = 1;
      while (i < v.size() && (v[i] == ' ' || v[i] == '\n' || v[i] == '\r' || v[i] == '\t')) ++i;
      if (i < v.size() && v[i] == ']') {
        return fail(err, Errc::invalid_request, "[] is too short - 'messages'", "messages");
      }
      have_messages = true;
    } else if (m.key == "stream") {
      if (v == "true") {
        req.stream = true;
      } else if (v != "false" && v != "null") {
        return fail(err, Errc::invalid_request, "'stream' must be a boolean.", "stream");
      }
    } else if (m.key == "stream_options") {
      if (v == "null") continue;
      if (v.front() != '{') {
        return fail(err, Errc::invalid_request, "'stream_options' must be an object.",
                    "stream_options");
      }
      req.so_begin = m.value_begin;
      req.so_end = m.value_end;
      json so;
      if (!read_value(v, m.key, so, err)) return false;
      if (auto it = so.find("include_usage"); it != so.end() && it->is_boolean()) {
        req.client_include_usage = it->get<bool>();
      }
    } else if (m.key == "max_tokens" || m.key == "max_completion_tokens") {
      json n;
      if (!read_value(v, m.key, n, err)) return false;
      if (n.is_number_integer() && n.get<std::int64_t>() > req.max_tokens) {
        req.max_tokens = n.get<std::int64_t>();
      }
    } else if (m.key == "n") {
      json n;
      if (!read_value(v, m.key, n, err)) return false;
      if (n.is_number_integer() && n.get<std::int64_t>() > 0) req.n = n.get<std::size_t>();
    } else if (m.key == "tools") {
      req.has_tools = v != "null" && v != "[]";
    }
  }
  if (!have_model) {
    return fail(err, Errc::invalid_request, "you must provide a model parameter", "model");
  }
  if (!have_messages) {
    return fail(err, Errc::invalid_request, "Missing required parameter: 'messages'.", "messages");
  }
  if (req.so_begin != std::string_view::npos && !req.stream) {
    // OpenAI rejects stream_options without stream; do the same rather than forward it.
    return fail(err, Errc::invalid_request,
                "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                "stream_options");
  }
  req.prompt_tokens_estimate = static_cast<std::int64_t>(body.size() / 4 + 1);
  return true;
}

std::string upstream_body(const ChatRequest& req, std::string_view upstream_model,
                          bool request_usage) {
  std::string_view body = req.body;
  std::string out;
  out.reserve(body.size() + upstream_model.size() + 48);
  std::string model_json = json(upstream_model).dump();

  struct Edit {
    std::size_t begin, end;
    std::string text;
  };
  Edit edits[2];
  int n = 0;
  edits[n++] = {req.model_begin, req.model_end, std::move(model_json)};
  bool append_so = false;
  if (req.stream && !req.client_include_usage && request_usage) {
    if (req.so_begin != std::string_view::npos) {
      // parse_chat_request read these bytes already: they parse.
      nlohmann::ordered_json so = nlohmann::ordered_json::parse(
          body.substr(req.so_begin, req.so_end - req.so_begin), nullptr, false);
      if (so.is_object()) {
        so["include_usage"] = true;
        edits[n++] = {req.so_begin, req.so_end, so.dump()};
      }
    } else {
      append_so = true;
    }
  }
  if (n == 2 && edits[1].begin < edits[0].begin) std::swap(edits[0], edits[1]);
  std::size_t at = 0;
  for (int i = 0; i < n; ++i) {
    out.append(body.substr(at, edits[i].begin - at));
    out.append(edits[i].text);
    at = edits[i].end;
  }
  if (append_so) {
    std::size_t close = top_level_close(body);
    out.append(body.substr(at, close - at));
    out.append(",\"stream_options\":{\"include_usage\":true}");
    at = close;
  }
  out.append(body.substr(at));
  return out;
}

bool parse_embeddings_request(std::string_view body, ChatRequest& req, ClientError& err) {
  req = ChatRequest{};
  req.body = body;
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    err.message = "The request body is not a JSON object.";
    err.code = "invalid_json";
    return false;
  }
  auto m = j.find("model");
  if (m == j.end() || !m->is_string() || m->get_ref<const std::string&>().empty()) {
    err.message = "`model` is required and must be a non-empty string.";
    err.param = "model";
    return false;
  }
  req.model = *m;
  auto in = j.find("input");
  bool ok = in != j.end() && ((in->is_string() && !in->get_ref<const std::string&>().empty()) ||
                              (in->is_array() && !in->empty()));
  std::size_t text = 0;
  if (ok && in->is_string()) text = in->get_ref<const std::string&>().size();
  if (ok && in->is_array()) {
    for (const json& x : *in) {
      if (x.is_string()) {
        text += x.get_ref<const std::string&>().size();
      } else if (x.is_number_integer()) {
        text += 4;  // one token
      } else if (x.is_array() && !x.empty()) {
        for (const json& t : x) ok = ok && t.is_number_integer();
        text += 4 * x.size();
      } else {
        ok = false;
      }
    }
  }
  if (!ok) {
    err.message =
        "`input` must be a non-empty string, an array of strings, an array of token ids or an "
        "array of token-id arrays.";
    err.param = "input";
    return false;
  }
  // One token per 4 bytes, rounded up: usage::estimate_tokens' rule.
  req.prompt_tokens_estimate = static_cast<std::int64_t>((text + 3) / 4);
  return true;
}

}  // namespace switchyard::api
