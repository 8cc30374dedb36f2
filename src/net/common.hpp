#pragma once
// Shared Asio/Beast vocabulary for the network modules (http, upstream, app). Only the
// translation units that do I/O include this; the rest of the code stays Asio-free.

#include <chrono>
#include <variant>

#include "net_pch.hpp"

namespace switchyard {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;
using boost::system::error_code;

/// Completion token for coroutines that want errors as values, never exceptions.
inline constexpr auto use_nothrow = net::as_tuple(net::use_awaitable);

/// A TCP stream that is either plain or TLS, chosen at run time (http:// vs https://
/// upstreams, server.tls on or off). Each operation dispatches once with std::visit;
/// deadlines live on the lowest layer (beast::tcp_stream::expires_*).
class AnyStream {
 public:
  using Plain = beast::tcp_stream;
  using Tls = beast::ssl_stream<beast::tcp_stream>;

  explicit AnyStream(Plain s) : v_(std::in_place_type<Plain>, std::move(s)) {}
  AnyStream(Plain s, ssl::context& ctx) : v_(std::in_place_type<Tls>, std::move(s), ctx) {}

  Plain& tcp() {
    return std::visit([](auto& s) -> Plain& { return beast::get_lowest_layer(s); }, v_);
  }
  Tls* tls() { return std::get_if<Tls>(&v_); }
  bool is_tls() const { return std::holds_alternative<Tls>(v_); }

  template <class F>
  decltype(auto) visit(F&& f) {
    return std::visit(std::forward<F>(f), v_);
  }

 private:
  std::variant<Plain, Tls> v_;
};

inline Clock::time_point earliest(Clock::time_point a, Clock::time_point b) {
  return a < b ? a : b;
}

}  // namespace switchyard
