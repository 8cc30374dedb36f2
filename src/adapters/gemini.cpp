#include "switchyard/adapters/gemini.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace switchyard::adapters::gemini {
namespace {

using json = nlohmann::json;

/// Nesting deeper than this is refused before parsing: nlohmann's dump() recurses.
constexpr int kMaxDepth = 128;

/// Gemini 2.5+/3 thinking models attach a thoughtSignature to the first functionCall part
/// of a turn and (Gemini 3) refuse a replayed functionCall without one. OpenAI clients
/// cannot carry it back, so replayed calls get the sentinel Google documents for history
/// that did not come from the model (ai.google.dev/gemini-api/docs/thought-signatures).
constexpr const char* kSkipThoughtSignature = "skip_thought_signature_validator";

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

/// True when the JSON text nests arrays/objects deeper than `max` (strings are skipped).
bool too_deep(std::string_view s, int max) {
  int depth = 0;
  bool in_str = false;
  bool esc = false;
  for (char c : s) {
    if (in_str) {
      if (esc) {
        esc = false;
      } else if (c == '\\') {
        esc = true;
      } else if (c == '"') {
        in_str = false;
      }
      continue;
    }
    if (c == '"') {
      in_str = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max) return true;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return false;
}

json parse(std::string_view s) {
  if (too_deep(s, kMaxDepth)) return json(json::value_t::discarded);
  return json::parse(s, nullptr, false);
}

const json* get(const json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

const std::string* get_str(const json& obj, const char* key) {
  const json* v = get(obj, key);
  return v && v->is_string() ? v->get_ptr<const std::string*>() : nullptr;
}

std::optional<std::int64_t> as_int(const json& v) {
  if (v.is_number_integer()) {
    if (v.is_number_unsigned()) {
      auto u = v.get<std::uint64_t>();
      if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        return std::nullopt;
      }
      return static_cast<std::int64_t>(u);
    }
    return v.get<std::int64_t>();
  }
  if (v.is_number_float()) {
    double d = v.get<double>();
    if (d >= -9.0e18 && d <= 9.0e18 && d == static_cast<double>(static_cast<std::int64_t>(d))) {
      return static_cast<std::int64_t>(d);
    }
    return std::nullopt;
  }
  if (v.is_string()) {  // proto3 JSON writes int64 as strings
    const auto& s = v.get_ref<const std::string&>();
    if (s.empty() || s.size() > 18) return std::nullopt;
    std::int64_t n = 0;
    for (char c : s) {
      if (c < '0' || c > '9') return std::nullopt;
      n = n * 10 + (c - '0');
    }
    return n;
  }
  return std::nullopt;
}

std::int64_t count_field(const json& obj, const char* key) {
  const json* v = get(obj, key);
  if (!v) return 0;
  auto n = as_int(*v);
  return n && *n > 0 ? *n : 0;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

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
