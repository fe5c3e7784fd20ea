// One client connection: reads requests one at a time, checks framing, picks the route,
// authenticates (keeping a multi-leg SPNEGO context bound to this connection), and relays
// request and response bodies to and from the upstream without buffering them whole.
//
//   co_spawn(worker.ctx, [&]() -> awaitable<void> {
//     HttpSession s(server, worker, std::move(socket));
//     co_await s.run();
//   }, detached);
//
// Thread-safety: lives on its worker's thread only; onDrain() is called on that thread too.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "common/gss_handles.h"
#include "proxy/server/maybe_tls_stream.h"
#include "proxy/server/server.h"

namespace gssgate::proxy {

class HttpSession {
 public:
  HttpSession(Server& server, Worker& worker, boost::asio::ip::tcp::socket socket);
  HttpSession(const HttpSession&) = delete;
  HttpSession& operator=(const HttpSession&) = delete;
  ~HttpSession();

  boost::asio::awaitable<void> run();
  // Server is draining: close now if waiting for a request; otherwise finish the current one.
  void onDrain();

 private:
  struct Exchange;  // per-request state, defined in the .cc

  // Handles one request whose header is in buffer_. Returns false when the connection must
  // close afterwards.
  // Reads until buffer_ holds a whole header block ("\r\n\r\n"); returns its size, or
  // net::error::not_found when limits.header_bytes is reached first.
  boost::asio::awaitable<std::tuple<boost::system::error_code, size_t>> readHeaderBlock();
  boost::asio::awaitable<bool> handleRequest(const Runtime& rt, size_t header_size);
  boost::asio::awaitable<bool> handleExchange(const Runtime& rt, Exchange& ex, size_t header_size);
  // Counts the finished exchange (route, status, duration) and writes its access log line.
  void finish(const Runtime& rt, const Exchange& ex);
  // Signs the request in: from a session cookie, else with the Authorization header. Returns
  // nullopt when the request may go on (ex holds the identity), else the answer already sent
  // (false = close the connection).
  boost::asio::awaitable<std::optional<bool>> authenticate(const Runtime& rt, Exchange& ex);
  enum class CookieUse { kNone, kSignedIn, kRefused };
  // kSignedIn: a valid session cookie identified the user (no GSS, no broker call).
  CookieUse useSessionCookie(const Runtime& rt, Exchange& ex, const char*& refusal);
  std::optional<Session> sessionOf(const Runtime& rt, const Exchange& ex, int64_t now);
  // The cookie gets `Secure` on a TLS connection, or always with session.secure: always (TLS
  // terminated in front of the proxy).
  bool secureCookie(const Runtime& rt) const { return tls_ || rt.config->session.secure_always; }
  // The local-name policy's verdict for `local_name` (root and uid-0 names by default), then
  // the route's realms/deny/allow verdict for `principal` (nullptr = allowed); a refusal is
  // counted and logged here, for every way of signing in (a cookie issued before a reload too).
  const char* routeRefusal(const Runtime& rt, const Exchange& ex, std::string_view principal,
                           std::string_view local_name);
  // Sets ex.set_cookie for a new session of ex's identity (no-op when sessions are off).
  void startSession(const Runtime& rt, Exchange& ex, Session session, int64_t now);
  // `Authorization: Basic` (only when enabled, only over TLS): KDC + keytab check.
  boost::asio::awaitable<std::optional<bool>> basicSignIn(const Runtime& rt, Exchange& ex,
                                                          std::string_view credentials);
  // The logout path: forgets the session, revokes its broker credential, clears the cookie.
  boost::asio::awaitable<bool> logout(const Runtime& rt, Exchange& ex);
  boost::asio::awaitable<bool> forward(const Runtime& rt, Exchange& ex);
  // Deposits a delegated credential with the broker; returns the receipt, or nullopt (and a warning
  // and a counter) when that fails — the user stays signed in either way.
  boost::asio::awaitable<std::optional<DepositReceipt>> depositDelegated(
      const Runtime& rt, AuthResult& ar, const std::string& principal);
  // Sends a short text/plain response. `challenge` (if not empty) goes in WWW-Authenticate.
  boost::asio::awaitable<bool> reject(const Runtime& rt, Exchange& ex,
                                      boost::beast::http::status status, const char* reason,
                                      std::string_view challenge = {});

  Server& server_;
  Worker& worker_;
  std::list<HttpSession*>::iterator registration_;
  std::shared_ptr<boost::asio::ssl::context> tls_context_;  // before stream_: outlives it
  MaybeTlsStream<boost::beast::tcp_stream> stream_;
  boost::beast::flat_buffer buffer_;
  std::string client_ip_;
  bool tls_ = false;  // the client connection is TLS (cookies get Secure)
  bool idle_ = true;
  bool linger_ = false;  // an error was answered with the request body unread
  GssContext pending_;   // SPNEGO context awaiting the client's next leg
  int legs_ = 0;         // legs of the pending context
};

}  // namespace gssgate::proxy
