// A byte stream that is either plain or TLS over the same Beast timed stream, decided per
// connection at run time, so one HttpSession (and one upstream relay) serves both without
// being a template. Reads and writes dispatch on one branch; timeouts are set on the lowest
// layer as before (expires_after covers the TLS records too).
//
//   MaybeTlsStream<beast::tcp_stream> s(std::move(socket));
//   if (ctx) { s.startTls(*ctx); co_await s.tls().async_handshake(ssl::stream_base::server, ...); }
//   co_await http::async_read_header(s, buffer, parser, ...);   // plain or TLS alike
//
// Thread-safety: like the underlying stream (one strand/thread at a time).
#pragma once

#include <boost/asio/async_result.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <memory>
#include <optional>
#include <utility>

namespace gssgate::proxy {

template <class Lowest>
class MaybeTlsStream {
 public:
  using executor_type = typename Lowest::executor_type;
  using TlsStream = boost::beast::ssl_stream<Lowest>;

  template <class... Args>
  explicit MaybeTlsStream(Args&&... args) : plain_(std::in_place, std::forward<Args>(args)...) {}

  // Switches to TLS before any byte was exchanged; the plain stream moves inside the TLS one.
  void startTls(boost::asio::ssl::context& ctx) {
    tls_.emplace(std::move(*plain_), ctx);
    plain_.reset();
  }
  bool isTls() const { return tls_.has_value(); }
  TlsStream& tls() { return *tls_; }
  Lowest& lowest() { return tls_ ? tls_->next_layer() : *plain_; }

  executor_type get_executor() { return lowest().get_executor(); }
  template <class Duration>
  void expires_after(Duration d) {
    lowest().expires_after(d);
  }
  void expires_never() { lowest().expires_never(); }
  void cancel() { lowest().cancel(); }
  auto& socket() { return lowest().socket(); }
  void close() { lowest().close(); }

  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [this](auto handler, const MutableBuffers& b) {
          if (tls_) {
            tls_->async_read_some(b, std::move(handler));
          } else {
            plain_->async_read_some(b, std::move(handler));
          }
        },
        token, buffers);
  }

  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [this](auto handler, const ConstBuffers& b) {
          if (tls_) {
            tls_->async_write_some(b, std::move(handler));
          } else {
            plain_->async_write_some(b, std::move(handler));
          }
        },
        token, buffers);
  }

 private:
  std::optional<Lowest> plain_;
  std::optional<TlsStream> tls_;
};

}  // namespace gssgate::proxy
