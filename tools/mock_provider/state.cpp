#include "state.hpp"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

#include "chat.hpp"

namespace switchyard::mock {

void Stats::reset() {
  connections_accepted.store(0, std::memory_order_relaxed);
  requests.store(0, std::memory_order_relaxed);
  streams_started.store(0, std::memory_order_relaxed);
  streams_completed.store(0, std::memory_order_relaxed);
  streams_aborted.store(0, std::memory_order_relaxed);
  requests_abandoned.store(0, std::memory_order_relaxed);
}

void SniLog::record(const char* name) {
  // A handshake without SNI (a client connecting by IP, such as a test reading
  // /mock/stats) leaves the record alone.
  if (name == nullptr) return;
  std::lock_guard lock(mu_);
  last_ = name;
  if (std::find(distinct_.begin(), distinct_.end(), *last_) == distinct_.end()) {
    distinct_.push_back(*last_);
  }
}

void SniLog::clear() {
  std::lock_guard lock(mu_);
  last_.reset();
  distinct_.clear();
}

void SniLog::append_json(std::string& out) const {
  std::lock_guard lock(mu_);
  out.append(R"("last_sni":)");
  if (last_) {
    append_json_string(out, *last_);
  } else {
    out.append("null");
  }
  out.append(R"(,"sni":[)");
  for (std::size_t i = 0; i < distinct_.size(); ++i) {
    if (i > 0) out.push_back(',');
    append_json_string(out, distinct_[i]);
  }
  out.push_back(']');
}

void RequestLog::record(Request&& req) {
  // Evicted requests are freed after the lock is released; the usual case is exactly
  // one, which needs no allocation.
  Request evicted;
  std::vector<Request> more_evicted;
  std::lock_guard lock(mu_);
  body_bytes_ += req.body().size();
  entries_.push_back(std::move(req));
  while (entries_.size() > 1 && (entries_.size() > kCapacity || body_bytes_ > kMaxBodyBytes)) {
    body_bytes_ -= entries_.front().body().size();
    if (evicted.body().empty() && evicted.base().begin() == evicted.base().end()) {
      evicted = std::move(entries_.front());
    } else {
      more_evicted.push_back(std::move(entries_.front()));
    }
    entries_.pop_front();
  }
}

void RequestLog::clear() {
  std::deque<Request> old;
  std::lock_guard lock(mu_);
  old.swap(entries_);
  body_bytes_ = 0;
}

std::string RequestLog::to_json() const {
  nlohmann::json arr = nlohmann::json::array();
  {
    std::lock_guard lock(mu_);
    for (const Request& req : entries_) {
      nlohmann::json headers = nlohmann::json::object();
      for (const auto& field : req.base()) {
        std::string name(field.name_string());
        std::transform(name.begin(), name.end(), name.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        auto& slot = headers[name];
        // A repeated header is folded into one value, as HTTP allows.
        if (slot.is_string()) {
          slot = slot.get<std::string>() + ", " + std::string(field.value());
        } else {
          slot = std::string(field.value());
        }
      }
      arr.push_back({{"method", std::string(req.method_string())},
                     {"target", std::string(req.target())},
                     {"headers", std::move(headers)},
                     {"body", req.body()}});
    }
  }
  // Bodies are whatever the client sent; invalid UTF-8 must not throw.
  return arr.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string stats_json(const Stats& s, const SniLog& sni) {
  std::string out = R"({"connections_accepted":)";
  append_uint(out, s.connections_accepted.load(std::memory_order_relaxed));
  out.append(R"(,"active_connections":)");
  append_uint(out, static_cast<std::uint64_t>(std::max<std::int64_t>(
                       0, s.active_connections.load(std::memory_order_relaxed))));
  out.append(R"(,"requests":)");
  append_uint(out, s.requests.load(std::memory_order_relaxed));
  out.append(R"(,"streams_started":)");
  append_uint(out, s.streams_started.load(std::memory_order_relaxed));
  out.append(R"(,"streams_completed":)");
  append_uint(out, s.streams_completed.load(std::memory_order_relaxed));
  out.append(R"(,"streams_aborted":)");
  append_uint(out, s.streams_aborted.load(std::memory_order_relaxed));
  out.append(R"(,"requests_abandoned":)");
  append_uint(out, s.requests_abandoned.load(std::memory_order_relaxed));
  out.push_back(',');
  sni.append_json(out);
  out.push_back('}');
  return out;
}

}  // namespace switchyard::mock
