#include "common/admin_server.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <thread>

#include "common/strings.h"

namespace gssgate {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using net::ip::tcp;

constexpr auto kReadTimeout = std::chrono::seconds(10);
constexpr uint32_t kHeaderLimit = 8 * 1024;

}  // namespace

struct AdminServer::Impl {
  net::io_context ctx{1};
  tcp::acceptor acceptor{ctx};
  AdminHandler handler;
  std::thread thread;
  bool stopped = false;

  net::awaitable<void> acceptLoop() {
    for (;;) {
      auto [ec, socket] = co_await acceptor.async_accept(net::as_tuple(net::use_awaitable));
      if (ec == net::error::operation_aborted || !acceptor.is_open()) co_return;
      if (ec) {  // out of fds, say: back off briefly instead of spinning
        net::steady_timer t(ctx, std::chrono::milliseconds(50));
        co_await t.async_wait(net::as_tuple(net::use_awaitable));
        continue;
      }
      net::co_spawn(ctx, session(std::move(socket)), net::detached);
    }
  }

  net::awaitable<void> session(tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer(16 * 1024);
    for (;;) {
      http::request_parser<http::empty_body> parser;
      parser.header_limit(kHeaderLimit);
      stream.expires_after(kReadTimeout);
      auto [ec, n] =
          co_await http::async_read(stream, buffer, parser, net::as_tuple(net::use_awaitable));
      if (ec) break;
      const auto& req = parser.get();
      AdminResponse answer;
      if (req.method() != http::verb::get && req.method() != http::verb::head) {
        answer = AdminResponse{.status = 405, .body = "method not allowed\n"};
      } else {
        answer = handler(std::string_view(req.target().data(), req.target().size()));
      }
      http::response<http::string_body> res{static_cast<http::status>(answer.status),
                                            req.version()};
      res.set(http::field::content_type, answer.content_type);
      res.set(http::field::cache_control, answer.cache_control);
      res.body() = std::move(answer.body);
      res.keep_alive(req.keep_alive());
      res.prepare_payload();
      if (req.method() == http::verb::head) res.body().clear();
      stream.expires_after(kReadTimeout);
      auto [wec, wn] = co_await http::async_write(stream, res, net::as_tuple(net::use_awaitable));
      if (wec || !req.keep_alive()) break;
    }
    boost::system::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  }
};

absl::StatusOr<std::unique_ptr<AdminServer>> AdminServer::start(const HostPort& listen,
                                                                AdminHandler handler) {
  auto impl = std::make_unique<Impl>();
  impl->handler = std::move(handler);
  boost::system::error_code ec;
  const auto addr = net::ip::make_address(listen.host, ec);
  if (ec) {
    return absl::InvalidArgumentError(
        strCat("admin_listen '", listen.text(), "': host must be an IP address"));
  }
  const tcp::endpoint ep(addr, listen.port);
  impl->acceptor.open(ep.protocol(), ec);
  if (!ec) impl->acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(ep, ec);
  if (!ec) impl->acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    return absl::UnavailableError(
        strCat("cannot listen on admin_listen ", listen.text(), ": ", ec.message()));
  }
  Impl* raw = impl.get();
  net::co_spawn(raw->ctx, raw->acceptLoop(), net::detached);
  raw->thread = std::thread([raw] { raw->ctx.run(); });
  return std::make_unique<AdminServer>(std::move(impl));
}

AdminServer::AdminServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

AdminServer::~AdminServer() { stop(); }

void AdminServer::stop() {
  if (impl_->stopped) return;
  impl_->stopped = true;
  impl_->ctx.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
  // The thread is gone: nothing else touches the acceptor now. Closing it refuses new
  // connections at once (a stopped context alone would leave the socket listening).
  boost::system::error_code ignored;
  impl_->acceptor.close(ignored);
}

uint16_t AdminServer::port() const {
  boost::system::error_code ec;
  return impl_->acceptor.local_endpoint(ec).port();
}

}  // namespace gssgate
