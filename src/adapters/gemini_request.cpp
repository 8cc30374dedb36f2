// Gemini adapter, request side: OpenAI chat and embeddings requests → GenerateContentRequest,
// embedContent and batchEmbedContents (see gemini.hpp). The response side is
// gemini_response.cpp.

#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
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

/// Gemini 2.5+/3 thinking models attach a thoughtSignature to the first functionCall part
/// of a turn and (Gemini 3) refuse a replayed functionCall without one. OpenAI clients
/// cannot carry it back, so replayed calls get the sentinel Google documents for history
/// that did not come from the model (ai.google.dev/gemini-api/docs/thought-signatures).
constexpr const char* kSkipThoughtSignature = "skip_thought_signature_validator";

bool starts_with_ci(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && lower(s.substr(0, prefix.size())) == prefix;
}

std::string percent_encode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    bool plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '_' || c == '~' || c == '-';
    if (plain) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

void fail(ClientError& err, std::string param, std::string message) {
  err = ClientError{};
  err.status = 400;
  err.type = "invalid_request_error";
  err.param = std::move(param);
  err.message = std::move(message);
}

// ---------------------------------------------------------------------------------------
// Request encoding

/// Mime type from a URL's file extension (query and fragment ignored); image/jpeg if unknown.
std::string guess_mime(std::string_view url) {
  std::string_view path = url.substr(0, url.find_first_of("?#"));
  auto slash = path.rfind('/');
  if (slash != std::string_view::npos) path = path.substr(slash + 1);
  auto dot = path.rfind('.');
  if (dot == std::string_view::npos) return "image/jpeg";
  std::string ext = lower(path.substr(dot + 1));
  static const std::pair<const char*, const char*> kTypes[] = {
      {"png", "image/png"},   {"jpg", "image/jpeg"},     {"jpeg", "image/jpeg"},
      {"gif", "image/gif"},   {"webp", "image/webp"},    {"heic", "image/heic"},
      {"heif", "image/heif"}, {"pdf", "application/pdf"}};
  for (const auto& [e, m] : kTypes) {
    if (ext == e) return m;
  }
  return "image/jpeg";
}

/// A data: URL or an http(s)/file URI → inlineData / fileData part.
bool media_part(const std::string& url, const std::string& where, std::string_view default_mime,
                json& part, ClientError& err) {
  if (url.empty()) {
    fail(err, where, where + ": empty URL");
    return false;
  }
  if (starts_with_ci(url, "data:")) {
    auto comma = url.find(',');
    if (comma == std::string::npos) {
      fail(err, where, where + ": malformed data: URL");
      return false;
    }
    std::string_view meta(url.data() + 5, comma - 5);
    auto semi = meta.rfind(';');
    if (semi == std::string_view::npos || lower(meta.substr(semi + 1)) != "base64") {
      fail(err, where, where + ": only base64 data: URLs are supported");
      return false;
    }
    std::string mime(meta.substr(0, meta.find(';')));
    if (mime.empty()) mime = std::string(default_mime);
    part = {{"inlineData", {{"mimeType", mime}, {"data", url.substr(comma + 1)}}}};
    return true;
  }
  part = {{"fileData", {{"mimeType", guess_mime(url)}, {"fileUri", url}}}};
  return true;
}

/// OpenAI message content (string | [parts]) → Gemini parts appended to `parts`.
/// `text_only`: system instructions (Gemini accepts only text there).
bool content_parts(const json& content, const std::string& where, bool text_only, json& parts,
                   ClientError& err) {
  if (content.is_null()) return true;
  if (content.is_string()) {
    const auto& s = content.get_ref<const std::string&>();
    if (!s.empty()) parts.push_back({{"text", s}});
    return true;
  }
  if (!content.is_array()) {
    fail(err, where, where + " must be a string or an array of content parts");
    return false;
  }
  for (std::size_t j = 0; j < content.size(); ++j) {
    const json& p = content[j];
    const std::string pw = where + "[" + std::to_string(j) + "]";
    const std::string* type = get_str(p, "type");
    if (!type) {
      fail(err, pw + ".type", pw + ".type must be a string");
      return false;
    }
    if (*type == "text" || *type == "refusal") {
      const std::string* text = get_str(p, type->c_str());
      if (!text) {
        fail(err, pw + "." + *type, pw + "." + *type + " must be a string");
        return false;
      }
      if (!text->empty()) parts.push_back({{"text", *text}});
      continue;
    }
    if (*type == "input_audio") {
      fail(err, pw, pw + ": audio input (input_audio) is not supported by this provider");
      return false;
    }
    if (text_only) {
      fail(err, pw + ".type", pw + ": only text parts are allowed in system messages");
      return false;
    }
    if (*type == "image_url") {
      const json* iu = get(p, "image_url");
      const std::string* url = nullptr;
      if (iu && iu->is_string()) url = iu->get_ptr<const std::string*>();
      if (iu && iu->is_object()) url = get_str(*iu, "url");
      if (!url) {
        fail(err, pw + ".image_url", pw + ".image_url.url must be a string");
        return false;
      }
      json part;
      if (!media_part(*url, pw + ".image_url", "image/jpeg", part, err)) return false;
      parts.push_back(std::move(part));
      continue;
    }
    if (*type == "file") {
      const json* f = get(p, "file");
      const std::string* data = f ? get_str(*f, "file_data") : nullptr;
      if (!data) {
        fail(err, pw + ".file", pw + ".file: only inline file_data is supported (no file_id)");
        return false;
      }
      json part;
      if (starts_with_ci(*data, "data:")) {
        if (!media_part(*data, pw + ".file", "application/pdf", part, err)) return false;
      } else {
        const std::string* name = get_str(*f, "filename");
        std::string mime = name ? guess_mime(*name) : "application/pdf";
        part = {{"inlineData", {{"mimeType", mime}, {"data", *data}}}};
      }
      parts.push_back(std::move(part));
      continue;
    }
    fail(err, pw + ".type", pw + ": content part type \"" + *type + "\" is not supported");
    return false;
  }
  return true;
}

/// JSON-schema → Gemini Schema (an OpenAPI 3.0 subset): keeps the keys Gemini documents,
/// recurses into properties/items/anyOf, turns type lists ["x","null"] into type + nullable.
json sanitize_schema(const json& s) {
  if (!s.is_object()) return json::object();
  static const char* const kPlain[] = {
      "title",    "description",   "nullable",         "maxItems",  "minItems",
      "required", "minProperties", "maxProperties",    "minLength", "maxLength",
      "pattern",  "example",       "propertyOrdering", "default",   "minimum",
      "maximum"};
  json out = json::object();
  for (const char* k : kPlain) {
    auto it = s.find(k);
    if (it != s.end()) out[k] = *it;
  }
  if (auto it = s.find("type"); it != s.end()) {
    if (it->is_string()) {
      out["type"] = *it;
    } else if (it->is_array()) {
      std::vector<json> types;
      bool null_ok = false;
      for (const auto& t : *it) {
        if (!t.is_string()) continue;
        if (t.get_ref<const std::string&>() == "null") {
          null_ok = true;
        } else {
          types.push_back(t);
        }
      }
      if (types.size() == 1) {
        out["type"] = types[0];
      } else if (types.size() > 1) {
        json any = json::array();
        for (auto& t : types) any.push_back({{"type", t}});
        out["anyOf"] = std::move(any);
      }
      if (null_ok) out["nullable"] = true;
    }
  }
  if (auto it = s.find("format"); it != s.end() && it->is_string()) {
    static const char* const kFormats[] = {"enum",   "date-time", "float",
                                           "double", "int32",     "int64"};
    for (const char* f : kFormats) {
      if (it->get_ref<const std::string&>() == f) out["format"] = *it;
    }
  }
  if (auto it = s.find("enum"); it != s.end() && it->is_array()) {
    bool strings = std::all_of(it->begin(), it->end(), [](const json& e) { return e.is_string(); });
    if (strings) out["enum"] = *it;
  }
  if (auto it = s.find("const"); it != s.end() && it->is_string() && !out.contains("enum")) {
    out["enum"] = json::array({*it});
  }
  if (auto it = s.find("properties"); it != s.end() && it->is_object() && !it->empty()) {
    json props = json::object();
    for (auto p = it->begin(); p != it->end(); ++p) props[p.key()] = sanitize_schema(p.value());
    out["properties"] = std::move(props);
  }
  if (auto it = s.find("items"); it != s.end() && it->is_object()) {
    out["items"] = sanitize_schema(*it);
  }
  if (auto it = s.find("anyOf"); it != s.end() && it->is_array()) {
    json any = json::array();
    for (const auto& a : *it) any.push_back(sanitize_schema(a));
    out["anyOf"] = std::move(any);
  }
  return out;
}

bool number_field(const json& body, const char* key, const char* gkey, json& gen,
                  ClientError& err) {
  const json* v = get(body, key);
  if (!v) return true;
  if (!v->is_number()) {
    fail(err, key, std::string(key) + " must be a number");
    return false;
  }
  gen[gkey] = *v;
  return true;
}

bool encode_generation_config(const json& body, json& gen, ClientError& err) {
  if (!number_field(body, "temperature", "temperature", gen, err)) return false;
  if (!number_field(body, "top_p", "topP", gen, err)) return false;
  if (!number_field(body, "presence_penalty", "presencePenalty", gen, err)) return false;
  if (!number_field(body, "frequency_penalty", "frequencyPenalty", gen, err)) return false;
  for (const char* key : {"max_completion_tokens", "max_tokens"}) {
    const json* v = get(body, key);
    if (!v) continue;
    auto n = as_int(*v);
    if (!v->is_number() || !n || *n < 1 || *n > std::numeric_limits<std::int32_t>::max()) {
      fail(err, key, std::string(key) + " must be a positive integer");
      return false;
    }
    gen["maxOutputTokens"] = *n;
    break;  // max_completion_tokens wins
  }
  if (const json* v = get(body, "n")) {
    auto n = as_int(*v);
    if (!v->is_number() || !n || *n < 1 || *n > 128) {
      fail(err, "n", "n must be a positive integer");
      return false;
    }
    gen["candidateCount"] = *n;
  }
  if (const json* v = get(body, "seed")) {
    auto n = as_int(*v);
    if (!v->is_number() || !n || *n < std::numeric_limits<std::int32_t>::min() ||
        *n > std::numeric_limits<std::int32_t>::max()) {
      fail(err, "seed", "seed must be an integer in the 32-bit range for this provider");
      return false;
    }
    gen["seed"] = *n;
  }
  if (const json* v = get(body, "stop")) {
    json stops = json::array();
    if (v->is_string()) {
      if (!v->get_ref<const std::string&>().empty()) stops.push_back(*v);
    } else if (v->is_array()) {
      for (const auto& s : *v) {
        if (!s.is_string()) {
          fail(err, "stop", "stop must be a string or an array of strings");
          return false;
        }
        if (!s.get_ref<const std::string&>().empty()) stops.push_back(s);
      }
    } else {
      fail(err, "stop", "stop must be a string or an array of strings");
      return false;
    }
    if (!stops.empty()) gen["stopSequences"] = std::move(stops);
  }
  if (const json* rf = get(body, "response_format")) {
    const std::string* type = get_str(*rf, "type");
    if (!type) {
      fail(err, "response_format", "response_format.type must be a string");
      return false;
    }
    if (*type == "json_object") {
      gen["responseMimeType"] = "application/json";
    } else if (*type == "json_schema") {
      const json* js = get(*rf, "json_schema");
      const json* schema = js ? get(*js, "schema") : nullptr;
      if (!schema || !schema->is_object()) {
        fail(err, "response_format.json_schema.schema",
             "response_format.json_schema.schema must be an object");
        return false;
      }
      gen["responseMimeType"] = "application/json";
      gen["responseSchema"] = sanitize_schema(*schema);
    } else if (*type != "text") {
      fail(err, "response_format.type",
           "response_format.type \"" + *type + "\" is not supported by this provider");
      return false;
    }
  }
  return true;
}

bool encode_tools(const json& body, json& req, ClientError& err) {
  const json* tools = get(body, "tools");
  if (!tools) return true;
  if (!tools->is_array()) {
    fail(err, "tools", "tools must be an array");
    return false;
  }
  json decls = json::array();
  for (std::size_t i = 0; i < tools->size(); ++i) {
    const json& t = (*tools)[i];
    const std::string w = "tools[" + std::to_string(i) + "]";
    const std::string* type = get_str(t, "type");
    if (!type || *type != "function") {
      fail(err, w + ".type", w + ": only tools of type \"function\" are supported");
      return false;
    }
    const json* fn = get(t, "function");
    const std::string* name = fn ? get_str(*fn, "name") : nullptr;
    if (!name || name->empty()) {
      fail(err, w + ".function.name", w + ".function.name must be a non-empty string");
      return false;
    }
    json d = {{"name", *name}};
    if (const std::string* desc = get_str(*fn, "description")) d["description"] = *desc;
    if (const json* params = get(*fn, "parameters")) {
      if (!params->is_object()) {
        fail(err, w + ".function.parameters", w + ".function.parameters must be an object");
        return false;
      }
      json p = sanitize_schema(*params);
      // Gemini refuses an OBJECT with no properties: a function without arguments simply
      // has no parameters.
      bool empty_object = !p.contains("properties") && p.contains("type") &&
                          p["type"].is_string() && lower(p["type"].get<std::string>()) == "object";
      if (!p.empty() && !empty_object) d["parameters"] = std::move(p);
    }
    decls.push_back(std::move(d));
  }
  if (decls.empty()) return true;
  req["tools"] = json::array({{{"functionDeclarations", std::move(decls)}}});

  const json* tc = get(body, "tool_choice");
  if (!tc) return true;
  json cfg;
  if (tc->is_string()) {
    const auto& s = tc->get_ref<const std::string&>();
    if (s == "auto") {
      cfg = {{"mode", "AUTO"}};
    } else if (s == "none") {
      cfg = {{"mode", "NONE"}};
    } else if (s == "required") {
      cfg = {{"mode", "ANY"}};
    } else {
      fail(err, "tool_choice", "tool_choice \"" + s + "\" is not supported");
      return false;
    }
  } else {
    const std::string* type = get_str(*tc, "type");
    const json* fn = get(*tc, "function");
    const std::string* name = fn ? get_str(*fn, "name") : nullptr;
    if (!type || *type != "function" || !name) {
      fail(err, "tool_choice",
           "tool_choice must be \"auto\", \"none\", \"required\" or "
           "{\"type\":\"function\",\"function\":{\"name\":…}}");
      return false;
    }
    cfg = {{"mode", "ANY"}, {"allowedFunctionNames", json::array({*name})}};
  }
  req["toolConfig"] = {{"functionCallingConfig", std::move(cfg)}};
  return true;
}

/// The text of a tool message's content (string or text parts).
bool tool_text(const json& content, const std::string& where, std::string& text, ClientError& err) {
  if (content.is_null()) return true;
  if (content.is_string()) {
    text = content.get<std::string>();
    return true;
  }
  if (content.is_array()) {
    for (std::size_t j = 0; j < content.size(); ++j) {
      const std::string* t = get_str(content[j], "text");
      if (!t) {
        fail(err, where + "[" + std::to_string(j) + "]",
             where + ": tool message content parts must be text");
        return false;
      }
      text += *t;
    }
    return true;
  }
  fail(err, where, where + " must be a string or an array of text parts");
  return false;
}

void push_content(json& contents, const char* role, json&& parts) {
  if (parts.empty()) return;
  if (!contents.empty() && contents.back()["role"] == role) {
    for (auto& p : parts) contents.back()["parts"].push_back(std::move(p));
    return;
  }
  contents.push_back({{"role", role}, {"parts", std::move(parts)}});
}

bool encode_messages(const json& messages, json& req, ClientError& err) {
  if (!messages.is_array() || messages.empty()) {
    fail(err, "messages", "messages must be a non-empty array");
    return false;
  }
  json contents = json::array();
  json system_parts = json::array();
  std::map<std::string, std::string> call_names;  // tool_call id → function name
  for (std::size_t i = 0; i < messages.size(); ++i) {
    const json& m = messages[i];
    const std::string w = "messages[" + std::to_string(i) + "]";
    const std::string* role = get_str(m, "role");
    if (!role) {
      fail(err, w + ".role", w + ".role must be a string");
      return false;
    }
    const json* content = get(m, "content");
    static const json kNull;
    const json& c = content ? *content : kNull;
    if (*role == "system" || *role == "developer") {
      if (!content_parts(c, w + ".content", true, system_parts, err)) return false;
    } else if (*role == "user") {
      json parts = json::array();
      if (!content_parts(c, w + ".content", false, parts, err)) return false;
      push_content(contents, "user", std::move(parts));
    } else if (*role == "assistant") {
      json parts = json::array();
      if (!content_parts(c, w + ".content", false, parts, err)) return false;
      if (get(m, "function_call")) {
        fail(err, w + ".function_call",
             w + ".function_call (legacy) is not supported; use tool_calls");
        return false;
      }
      if (const json* calls = get(m, "tool_calls")) {
        if (!calls->is_array()) {
          fail(err, w + ".tool_calls", w + ".tool_calls must be an array");
          return false;
        }
        bool first = true;
        for (std::size_t j = 0; j < calls->size(); ++j) {
          const json& tc = (*calls)[j];
          const std::string cw = w + ".tool_calls[" + std::to_string(j) + "]";
          const json* fn = get(tc, "function");
          const std::string* name = fn ? get_str(*fn, "name") : nullptr;
          if (!name || name->empty()) {
            fail(err, cw + ".function.name", cw + ".function.name must be a non-empty string");
            return false;
          }
          json args = json::object();
          if (const json* a = get(*fn, "arguments")) {
            if (a->is_object()) {
              args = *a;
            } else if (a->is_string()) {
              const auto& s = a->get_ref<const std::string&>();
              if (s.find_first_not_of(" \t\r\n") != std::string::npos) args = parse(s);
            } else {
              args = json(json::value_t::discarded);
            }
          }
          if (!args.is_object()) {
            fail(err, cw + ".function.arguments",
                 cw + ".function.arguments must be a JSON object (as a string)");
            return false;
          }
          if (const std::string* id = get_str(tc, "id")) call_names[*id] = *name;
          json part = {{"functionCall", {{"name", *name}, {"args", std::move(args)}}}};
          if (first) part["thoughtSignature"] = kSkipThoughtSignature;
          first = false;
          parts.push_back(std::move(part));
        }
      }
      push_content(contents, "model", std::move(parts));
    } else if (*role == "tool") {
      const std::string* id = get_str(m, "tool_call_id");
      std::string name;
      if (id) {
        auto it = call_names.find(*id);
        if (it != call_names.end()) name = it->second;
      }
      if (name.empty()) {
        if (const std::string* n = get_str(m, "name")) name = *n;
      }
      if (name.empty()) {
        fail(err, w + ".tool_call_id",
             w + ".tool_call_id does not match any earlier assistant tool call");
        return false;
      }
      std::string text;
      if (!tool_text(c, w + ".content", text, err)) return false;
      json response = parse(text);
      if (!response.is_object()) response = {{"content", text}};
      json parts = json::array(
          {{{"functionResponse", {{"name", name}, {"response", std::move(response)}}}}});
      push_content(contents, "user", std::move(parts));
    } else {
      fail(err, w + ".role", w + ".role \"" + *role + "\" is not supported");
      return false;
    }
  }
  if (contents.empty()) {
    fail(err, "messages", "messages must contain at least one non-empty user or assistant message");
    return false;
  }
  req["contents"] = std::move(contents);
  if (!system_parts.empty()) req["systemInstruction"] = {{"parts", std::move(system_parts)}};
  return true;
}

}  // namespace

// =======================================================================================

bool encode_request(std::string_view openai_body, std::string_view model, Encoded& out,
                    ClientError& err) {
  try {
    json body = parse(openai_body);
    if (!body.is_object()) {
      fail(err, "", "request body must be a JSON object");
      return false;
    }
    if (model.empty()) {
      fail(err, "model", "model must not be empty");
      return false;
    }
    bool stream = false;
    if (const json* s = get(body, "stream")) {
      if (!s->is_boolean()) {
        fail(err, "stream", "stream must be a boolean");
        return false;
      }
      stream = s->get<bool>();
    }
    if (get(body, "audio")) {
      fail(err, "audio", "audio output is not supported by this provider");
      return false;
    }
    if (const json* mods = get(body, "modalities")) {
      if (!mods->is_array()) {
        fail(err, "modalities", "modalities must be an array");
        return false;
      }
      for (const auto& m : *mods) {
        if (!m.is_string() || m.get_ref<const std::string&>() != "text") {
          fail(err, "modalities", "only the \"text\" modality is supported by this provider");
          return false;
        }
      }
    }
    for (const char* legacy : {"functions", "function_call"}) {
      if (get(body, legacy)) {
        fail(err, legacy, std::string(legacy) + " (legacy) is not supported; use tools");
        return false;
      }
    }
    if (get(body, "web_search_options")) {
      fail(err, "web_search_options", "web_search_options is not supported by this provider");
      return false;
    }

    json req = json::object();
    const json* messages = get(body, "messages");
    if (!encode_messages(messages ? *messages : json(), req, err)) return false;
    if (!encode_tools(body, req, err)) return false;
    json gen = json::object();
    if (!encode_generation_config(body, gen, err)) return false;
    if (!gen.empty()) req["generationConfig"] = std::move(gen);

    out.path = "/models/" + percent_encode(model) +
               (stream ? ":streamGenerateContent?alt=sse" : ":generateContent");
    out.body = dump(req);
    out.headers.clear();
    return true;
  } catch (...) {
    fail(err, "", "request could not be translated for this provider");
    return false;
  }
}

// ---------------------------------------------------------------------------------------
// Embeddings

bool encode_embeddings(std::string_view openai_body, std::string_view model, Encoded& out,
                       ClientError& err) {
  try {
    json body = parse(openai_body);
    if (!body.is_object()) {
      fail(err, "", "request body must be a JSON object");
      return false;
    }
    if (model.empty()) {
      fail(err, "model", "model must not be empty");
      return false;
    }
    std::optional<std::int64_t> dims;
    if (const json* d = get(body, "dimensions")) {
      dims = as_int(*d);
      if (!d->is_number() || !dims || *dims < 1 || *dims > 1000000) {
        fail(err, "dimensions", "dimensions must be a positive integer");
        return false;
      }
    }
    const std::string model_name = "models/" + std::string(model);
    auto item = [&](const std::string& text) {
      json r = {{"model", model_name}, {"content", {{"parts", json::array({{{"text", text}}})}}}};
      if (dims) r["outputDimensionality"] = *dims;
      return r;
    };
    const json* input = get(body, "input");
    const std::string prefix = "/models/" + percent_encode(model);
    if (input && input->is_string()) {
      if (input->get_ref<const std::string&>().empty()) {
        fail(err, "input", "input must not be empty");
        return false;
      }
      out.path = prefix + ":embedContent";
      out.body = dump(item(input->get<std::string>()));
      out.headers.clear();
      return true;
    }
    if (!input || !input->is_array() || input->empty()) {
      fail(err, "input", "input must be a non-empty string or array of strings");
      return false;
    }
    json requests = json::array();
    for (const auto& s : *input) {
      if (!s.is_string()) {
        fail(err, "input",
             "input must be a string or an array of strings (token arrays are not supported "
             "by this provider)");
        return false;
      }
      if (s.get_ref<const std::string&>().empty()) {
        fail(err, "input", "input strings must not be empty");
        return false;
      }
      requests.push_back(item(s.get<std::string>()));
    }
    out.path = prefix + ":batchEmbedContents";
    out.body = dump(json{{"requests", std::move(requests)}});
    out.headers.clear();
    return true;
  } catch (...) {
    fail(err, "", "request could not be translated for this provider");
    return false;
  }
}

}  // namespace switchyard::adapters::gemini
