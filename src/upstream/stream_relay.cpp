#include "upstream/stream_relay.hpp"

#include <nlohmann/json.hpp>

#include "upstream/rescue.hpp"

namespace switchyard::upstream {

StreamRelay::StreamRelay(Options o) : o_(std::move(o)) {
  if (!o_.writer && o_.own_writer) o_.writer = o_.own_writer.get();
}

bool StreamRelay::feed(std::string_view bytes, Clock::time_point now) {
  if (!bytes.empty()) sse_.feed(bytes);
  const bool transcoded = o_.tx.active();
  for (;;) {
    auto st = sse_.next(ev_);
    if (st == sse::Parser::Status::need_more) return true;
    if (st == sse::Parser::Status::too_large) return false;
    if (!transcoded) {
      if (!take(ev_.data, ev_.event, now)) return true;
      continue;
    }
    payloads_.clear();
    if (!o_.tx.on_event(ev_.event, ev_.data, payloads_)) {
      ++skipped;
      continue;
    }
    bool go_on = true;
    for (const std::string& p : payloads_) {
      go_on = take(p, {}, now);
      if (!go_on) break;
    }
    if (o_.raw && !upstream_error) {
      if (!ev_.event.empty()) out.append("event: ").append(ev_.event).append("\n");
      out.append("data: ").append(ev_.data).append("\n\n");
    }
    if (!go_on) return true;
  }
}

void StreamRelay::body_ended(Clock::time_point now) {
  if (!o_.tx.active() || ended_ || done || upstream_error) return;
  ended_ = true;
  payloads_.clear();
  o_.tx.on_end(payloads_);
  for (const std::string& p : payloads_) {
    if (!take(p, {}, now)) break;
  }
}

void StreamRelay::emit_done() {
  if (o_.raw) {
    out += "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
  } else if (o_.writer) {
    o_.writer->on_done(out);
  } else {
    out += "data: [DONE]\n\n";
  }
}

void StreamRelay::emit_error(std::string_view message, std::string_view code) {
  if (o_.writer && !o_.raw) {
    o_.writer->on_error("api_error", message, out);
  } else if (o_.raw) {
    out += "event: error\ndata: ";
    out +=
        nlohmann::json{{"type", "error"}, {"error", {{"type", "api_error"}, {"message", message}}}}
            .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    out += "\n\n";
  } else {
    out += adapters::openai::error_event(message, code);
  }
}

bool StreamRelay::take(std::string_view p, std::string_view event_name, Clock::time_point now) {
  if (p == "[DONE]") {
    done = true;
    if (!o_.raw) emit_done();
    return false;
  }
  adapters::openai::ChunkFacts f = adapters::openai::inspect_chunk(p);
  if (!f.valid) {
    ++skipped;  // never relay a data event that is not JSON
    return true;
  }
  if (f.error) {
    upstream_error = true;
    upstream_error_msg = f.error_message;
    return false;
  }
  if (f.usage.known()) usage = f.usage;
  content_bytes += f.content_bytes;
  if (f.content) {
    commit_now = true;
    last_content_at = now;
    if (content_events++ == 0) first_content_at = last_content_at;
  }
  if (f.finish) finished = true;
  if (first_id.empty() && !f.id.empty()) first_id = f.id;
  if (f.tool_call || f.reasoning || f.other_choice) unsafe = true;
  std::string rewritten;  // the payload as this client must see it, when it differs
  if (o_.continuation) {
    // The client already has the start of this answer: only content goes on (not the
    // continuation's role chunk), under the id the client knows, and whitespace the
    // prefill had to lose (Anthropic refuses a prefill ending in it) is not repeated.
    if (!f.content && !f.usage_only) return true;
    std::string t = f.text;
    if (!o_.skip_ws.empty() && !t.empty()) {
      if (t.compare(0, o_.skip_ws.size(), o_.skip_ws) == 0) t.erase(0, o_.skip_ws.size());
      o_.skip_ws.clear();
    }
    rewritten = continuation_payload(p, f, t, o_.client_id, o_.prefill_chunks);
    text += t;
  } else {
    text += f.text;
  }
  const std::string_view out_payload = rewritten.empty() ? p : std::string_view(rewritten);
  if (o_.raw) {
    // The upstream's own event goes out as it came; the writer follows in the shadow.
    if (o_.writer) {
      shadow_.clear();
      o_.writer->on_chunk(out_payload, shadow_);
    }
    return true;
  }
  if (o_.writer) {
    o_.writer->on_chunk(out_payload, out);
    return true;
  }
  if (f.usage_only && !o_.client_include_usage) return true;  // we asked, they did not
  if (!event_name.empty()) {
    out += "event: ";
    out += event_name;
    out += '\n';
  }
  out += "data: ";
  out += out_payload;
  out += "\n\n";
  return true;
}

}  // namespace switchyard::upstream
