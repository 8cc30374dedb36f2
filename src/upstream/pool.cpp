#include "upstream/pool.hpp"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

namespace switchyard::upstream {

Pool::Pool(net::any_io_executor ex, const config::Provider& provider)
    : ex_(std::move(ex)),
      provider_(provider),
      max_open_(static_cast<std::size_t>(std::max(1, provider.max_connections))),
      max_queue_(provider.max_queue > 0 ? static_cast<std::size_t>(provider.max_queue)
                                        : 4 * max_open_),
      port_str_(std::to_string(provider.url.port)) {
  error_code ec;
  net::ip::make_address(provider.url.host, ec);
  host_is_ip_ = !ec;
  if (provider.url.https) {
    // Start-up path: exceptions here end start-up with a clear message.
    tls_ = std::make_unique<ssl::context>(ssl::context::tls_client);
    tls_->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                      ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    SSL_CTX_set_min_proto_version(tls_->native_handle(), TLS1_2_VERSION);
    if (provider.tls.verify) {
      if (!provider.tls.ca_file.empty()) {
        tls_->load_verify_file(provider.tls.ca_file);
      } else {
        tls_->set_default_verify_paths();
      }
      tls_->set_verify_mode(ssl::verify_peer);
    } else {
      tls_->set_verify_mode(ssl::verify_none);
    }
    static const unsigned char kAlpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    SSL_CTX_set_alpn_protos(tls_->native_handle(), kAlpn, sizeof(kAlpn));
  }
}

bool Pool::looks_alive(Connection& c) {
  if (c.buffer.size() != 0) return false;  // stray bytes: the framing is no longer trusted
  auto& sock = c.stream.tcp().socket();
  if (!sock.is_open()) return false;
  char b;
  ssize_t n = ::recv(sock.native_handle(), &b, 1, MSG_PEEK | MSG_DONTWAIT);
  // 0: the peer closed; >0: unsolicited bytes (e.g. a TLS close_notify) on an idle
  // connection; -1 with EAGAIN: nothing to read, the connection looks healthy.
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

net::awaitable<Acquired> Pool::acquire(Clock::time_point deadline) {
  while (!idle_.empty()) {
    std::unique_ptr<Connection> c = std::move(idle_.back());
    idle_.pop_back();
    if (looks_alive(*c) && Clock::now() - c->idle_since < provider_.pool_idle) {
      co_return Acquired{api::Errc::ok, std::move(c)};
    }
    --open_;  // dropped by the peer or too old: replace it, silently
  }
  if (open_ < max_open_) {
    ++open_;
    co_return Acquired{};
  }
  if (waiters_.size() >= max_queue_) co_return Acquired{api::Errc::pool_overflow, nullptr};

  Waiter w(ex_);
  w.timer.expires_at(deadline);
  waiters_.push_back(&w);
  co_await w.timer.async_wait(use_nothrow);
  if (!w.granted) {
    waiters_.erase(std::find(waiters_.begin(), waiters_.end(), &w));
    co_return Acquired{api::Errc::pool_overflow, nullptr};
  }
  co_return Acquired{api::Errc::ok, std::move(w.conn)};
}

void Pool::release(std::unique_ptr<Connection> c, bool reusable) {
  if (c && reusable) {
    c->idle_since = Clock::now();
  } else if (c) {
    error_code ignored;
    c->stream.tcp().socket().close(ignored);
    c.reset();
  }
  if (!waiters_.empty()) {
    // Hand the connection (or, when it was closed, its slot) straight to the oldest waiter.
    Waiter* w = waiters_.front();
    waiters_.pop_front();
    w->granted = true;
    w->conn = std::move(c);
    w->timer.cancel();
    return;
  }
  if (c) {
    idle_.push_back(std::move(c));
  } else {
    --open_;
  }
}

void Pool::evict_idle(Clock::time_point now) {
  auto old = [&](const std::unique_ptr<Connection>& c) {
    return now - c->idle_since >= provider_.pool_idle || !looks_alive(*c);
  };
  auto it = std::remove_if(idle_.begin(), idle_.end(), old);
  open_ -= static_cast<std::size_t>(idle_.end() - it);
  idle_.erase(it, idle_.end());
}

net::awaitable<Connected> Pool::connect(Clock::time_point deadline) {
  const config::Url& url = provider_.url;
  tcp::resolver resolver(ex_);
  net::steady_timer resolve_timer(ex_);
  resolve_timer.expires_at(deadline);
  // getaddrinfo cannot be interrupted; cancelling the resolver at least frees this attempt.
  resolve_timer.async_wait([&resolver](error_code ec) {
    if (!ec) resolver.cancel();
  });
  auto [rec, endpoints] = co_await resolver.async_resolve(url.host, port_str_, use_nothrow);
  resolve_timer.cancel();
  if (rec) {
    bool timed_out = rec == net::error::operation_aborted && Clock::now() >= deadline;
    co_return Connected{timed_out ? api::Errc::connect_timeout : api::Errc::connect_failed,
                        "cannot resolve " + url.host + ": " + rec.message(), nullptr};
  }

  beast::tcp_stream plain(ex_);
  plain.expires_at(deadline);
  auto [cec, ep] = co_await plain.async_connect(endpoints, use_nothrow);
  if (cec) {
    bool timed_out = cec == beast::error::timeout;
    co_return Connected{timed_out ? api::Errc::connect_timeout : api::Errc::connect_failed,
                        "cannot connect to " + url.host + ":" + port_str_ + ": " + cec.message(),
                        nullptr};
  }
  plain.socket().set_option(tcp::no_delay(true));

  if (!url.https) {
    auto c = std::make_unique<Connection>(AnyStream(std::move(plain)));
    co_return Connected{api::Errc::ok, {}, std::move(c)};
  }

  auto c = std::make_unique<Connection>(AnyStream(std::move(plain), *tls_));
  AnyStream::Tls& tls = *c->stream.tls();
  if (!host_is_ip_) {
    // SNI: many providers sit behind shared front ends that need it to pick a certificate.
    if (!SSL_set_tlsext_host_name(tls.native_handle(), url.host.c_str())) {
      co_return Connected{api::Errc::tls_failed, "cannot set SNI", nullptr};
    }
  }
  if (provider_.tls.verify) {
    // Let OpenSSL check the name itself (RFC 6125 rules, SAN first), so a mismatch is
    // reported as such ("hostname mismatch") rather than as an unspecified failure.
    X509_VERIFY_PARAM* param = SSL_get0_param(tls.native_handle());
    int ok = host_is_ip_ ? X509_VERIFY_PARAM_set1_ip_asc(param, url.host.c_str())
                         : SSL_set1_host(tls.native_handle(), url.host.c_str());
    if (ok != 1)
      co_return Connected{api::Errc::tls_failed, "cannot set the expected host name", nullptr};
  }
  c->stream.tcp().expires_at(deadline);
  auto [hec] = co_await tls.async_handshake(ssl::stream_base::client, use_nothrow);
  if (hec) {
    bool timed_out = hec == beast::error::timeout;
    std::string why = hec.message();
    if (long v = SSL_get_verify_result(tls.native_handle()); v != X509_V_OK) {
      why = std::string("certificate verification failed: ") + X509_verify_cert_error_string(v);
    }
    co_return Connected{timed_out ? api::Errc::connect_timeout : api::Errc::tls_failed,
                        "TLS handshake with " + url.host + " failed: " + why, nullptr};
  }
  co_return Connected{api::Errc::ok, {}, std::move(c)};
}

}  // namespace switchyard::upstream
