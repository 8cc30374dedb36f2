#include "upstream/encode.hpp"

#include <spdlog/spdlog.h>

#include <vector>

#include "switchyard/adapters/anthropic.hpp"
#include "switchyard/adapters/gemini.hpp"
#include "switchyard/adapters/openai.hpp"
#include "switchyard/api/json_scan.hpp"
#include "switchyard/version.hpp"

namespace switchyard::upstream {
namespace {

using config::ProviderKind;

// Says (at debug level) which of the client's fields the deployment's dialect dropped.
template <std::size_t N>
void log_dropped(const CallRequest& rq, const config::Deployment& d,
                 const std::string_view (&fields)[N]) {
  if (!spdlog::should_log(spdlog::level::debug)) return;
  std::vector<api::Member> members;
  if (!api::scan_top_level(rq.chat.body, members)) return;
  std::string dropped;
  for (const auto& m : members) {
    for (std::string_view f : fields) {
      if (m.key == f) dropped.append(dropped.empty() ? "" : ", ").append(f);
    }
  }
  if (!dropped.empty()) {
    spdlog::debug("{} {}/{}: dropped fields its dialect cannot express: {}", rq.request_id,
                  d.provider, d.model, dropped);
  }
}

bool encode_embeddings(const CallRequest& rq, const config::Deployment& d,
                       const config::Provider& prov, adapters::Encoded& e, api::ClientError& err) {
  switch (prov.kind) {
    case ProviderKind::openai:
      e.path = prov.url.path + "/embeddings";
      e.body = adapters::openai::with_model(rq.chat.body, d.model);
      return true;
    case ProviderKind::azure:
      e.path = adapters::openai::azure_path(prov.url.path, d.model, "embeddings", prov.api_version);
      e.body = adapters::openai::with_model(rq.chat.body, d.model);
      return true;
    case ProviderKind::gemini:
      if (!adapters::gemini::encode_embeddings(rq.chat.body, d.model, e, err)) return false;
      e.path = prov.url.path + "/v1beta" + e.path;
      return true;
    case ProviderKind::anthropic:
      err.message = "Anthropic has no embeddings API.";
      err.param = "model";
      return false;
  }
  return false;
}

}  // namespace

bool encode_attempt(const CallRequest& rq, const config::Deployment& d,
                    const config::Provider& prov, const AttemptRequest& ar, adapters::Encoded& e,
                    api::ClientError& err) {
  if (rq.embeddings) return encode_embeddings(rq, d, prov, e, err);
  // A rescue sends the same request with the answer so far as an assistant prefill.
  api::ChatRequest cont;
  const api::ChatRequest* chat = &rq.chat;
  if (ar.prefill_body) {
    api::RequestError perr;
    if (ar.prefill_body->empty() || !api::parse_chat_request(*ar.prefill_body, cont, perr)) {
      err.message = "The request cannot be continued.";
      return false;
    }
    chat = &cont;
  }
  switch (prov.kind) {
    case ProviderKind::openai:
      e.path = prov.url.path + "/chat/completions";
      e.body = api::upstream_body(*chat, d.model, ar.request_usage);
      return true;
    case ProviderKind::azure:
      e.path = adapters::openai::azure_path(prov.url.path, d.model, "chat/completions",
                                            prov.api_version);
      e.body = api::upstream_body(*chat, d.model, ar.request_usage);
      return true;
    case ProviderKind::anthropic:
      if (ar.raw) {
        e.path = prov.url.path + "/v1/messages";
        e.body = adapters::openai::with_model(rq.client_body, d.model);
        e.headers.emplace_back("anthropic-version", rq.anthropic_version.empty()
                                                        ? std::string(adapters::anthropic::kVersion)
                                                        : rq.anthropic_version);
        if (!rq.anthropic_beta.empty()) e.headers.emplace_back("anthropic-beta", rq.anthropic_beta);
        return true;
      }
      if (!adapters::anthropic::encode_request(chat->body, d.model, e, err)) return false;
      e.path = prov.url.path + "/v1" + e.path;
      log_dropped(rq, d, adapters::anthropic::kDroppedFields);
      return true;
    case ProviderKind::gemini:
      if (!adapters::gemini::encode_request(chat->body, d.model, e, err)) return false;
      e.path = prov.url.path + "/v1beta" + e.path;
      log_dropped(rq, d, adapters::gemini::kDroppedFields);
      return true;
  }
  return false;
}

std::string request_head(const config::Provider& prov, const adapters::Encoded& enc, bool stream,
                         std::string_view traceparent, std::string_view tracestate) {
  std::string h;
  h.reserve(256 + prov.api_key.size() + enc.path.size());
  h.append("POST ").append(enc.path).append(" HTTP/1.1\r\nHost: ");
  h.append(prov.url.host_header());
  h.append("\r\nUser-Agent: switchyard/" SWITCHYARD_VERSION
           "\r\nContent-Type: application/json\r\nAccept-Encoding: identity\r\nAccept: ");
  h.append(stream ? "text/event-stream" : "application/json");
  if (!prov.api_key.empty()) {
    switch (prov.kind) {
      case ProviderKind::openai:
        h.append("\r\nAuthorization: Bearer ");
        break;
      case ProviderKind::azure:
        h.append("\r\napi-key: ");
        break;
      case ProviderKind::anthropic:
        h.append("\r\nx-api-key: ");
        break;
      case ProviderKind::gemini:
        h.append("\r\nx-goog-api-key: ");
        break;
    }
    h.append(prov.api_key);
  }
  for (const auto& [k, v] : enc.headers) h.append("\r\n").append(k).append(": ").append(v);
  for (const auto& [k, v] : prov.headers) h.append("\r\n").append(k).append(": ").append(v);
  h.append("\r\ntraceparent: ").append(traceparent);
  if (!tracestate.empty()) h.append("\r\ntracestate: ").append(tracestate);
  h.append("\r\nContent-Length: ").append(std::to_string(enc.body.size()));
  h.append("\r\nConnection: keep-alive\r\n\r\n");
  return h;
}

}  // namespace switchyard::upstream
