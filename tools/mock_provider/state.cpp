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
}

void SniLog::record(const char* name) {
  std::lock_guard lock(mu_);
  if (name == nullptr) {
    last_.reset();
    return;
  }
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
  Request evicted;
  {
    std::lock_guard lock(mu_);
    if (ring_.size() < kCapacity) {
      ring_.push_back(std::move(req));
      return;
    }
    evicted = std::exchange(ring_[next_], std::move(req));
    next_ = (next_ + 1) % kCapacity;
  }
  // `evicted` is freed here, outside the lock.
}

void RequestLog::clear() {
  std::vector<Request> old;
  std::lock_guard lock(mu_);
  old.swap(ring_);
  next_ = 0;
}

std::string RequestLog::to_json() const {
  nlohmann::json arr = nlohmann::json::array();
  {
    std::lock_guard lock(mu_);
    for (std::size_t k = 0; k < ring_.size(); ++k) {
      const Request& req = ring_[(next_ + k) % ring_.size()];
      nlohmann::json headers = nlohmann::json::object();
      for (const auto& field : req.base()) {
        std::string name(field.name_string());
        std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) {
          return static_cast<char>(std::tolower(c));
        });
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
  append_uint(out, static_cast<std::uint64_t>(
                       std::max<std::int64_t>(0, s.active_connections.load(std::memory_order_relaxed))));
  out.append(R"(,"requests":)");
  append_uint(out, s.requests.load(std::memory_order_relaxed));
  out.append(R"(,"streams_started":)");
  append_uint(out, s.streams_started.load(std::memory_order_relaxed));
  out.append(R"(,"streams_completed":)");
  append_uint(out, s.streams_completed.load(std::memory_order_relaxed));
  out.append(R"(,"streams_aborted":)");
  append_uint(out, s.streams_aborted.load(std::memory_order_relaxed));
  out.push_back(',');
  sni.append_json(out);
  out.push_back('}');
  return out;
}

}  // namespace switchyard::mock
