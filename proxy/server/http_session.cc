#include "proxy/server/http_session.h"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <optional>

#include "common/base64.h"
#include "common/log_event.h"
#include "common/logging.h"
#include "common/strings.h"
#include "proxy/auth/access_policy.h"
#include "proxy/auth/delegated_credential.h"
#include "proxy/auth/negotiate_header.h"
#include "proxy/server/auth_pages.h"
#include "proxy/server/request_framing.h"
#include "proxy/server/request_target.h"
#include "proxy/upstream/identity_headers.h"
#include "proxy/upstream/upstream_request.h"

namespace gssgate::proxy {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using net::as_tuple;
using net::use_awaitable;

namespace {

constexpr size_t kRelayBufferBytes = 64 * 1024;
// What an idle keep-alive connection reserves for its next request's first bytes; a typical
// request with a Kerberos token (~1-2.5 KB) arrives in one read. Larger headers grow buffer_.
constexpr size_t kIdleReadBytes = 4096;
constexpr int kMaxLegs = 4;  // Kerberos needs one; SPNEGO mech renegotiation one more.
constexpr uint64_t kResponseHeaderLimit = 64 * 1024;

const std::shared_ptr<spdlog::logger>& log() {
  static const auto l = logger("proxy");
  return l;
}

const std::shared_ptr<spdlog::logger>& accessLog() {
  static const auto l = logger(std::string(kAccessLogger));
  return l;
}

bool isTimeout(const boost::system::error_code& ec) { return ec == beast::error::timeout; }

using Clock = std::chrono::steady_clock;

int64_t unixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string cookieHeader(const ProxyConfig& cfg, std::string_view value, int64_t max_age,
                         bool secure) {
  return strCat(cfg.session.cookie_name, "=", value, "; Path=/; Max-Age=", max_age,
                "; HttpOnly; SameSite=Lax", secure ? "; Secure" : "");
}

const char* bodyText(http::status status) {
  switch (status) {
    case http::status::bad_request:
      return "400 Bad Request\n";
    case http::status::unauthorized:
      return "401 Unauthorized: Kerberos (Negotiate) sign-in required\n";
    case http::status::forbidden:
      return "403 Forbidden\n";
    case http::status::not_found:
      return "404 Not Found\n";
    case http::status::payload_too_large:
      return "413 Request body too large\n";
    case http::status::expectation_failed:
      return "417 Expectation Failed\n";
    case http::status::request_header_fields_too_large:
      return "431 Request header too large\n";
    case http::status::bad_gateway:
      return "502 Bad Gateway: upstream unavailable\n";
    case http::status::gateway_timeout:
      return "504 Gateway Timeout: upstream did not answer\n";
    case http::status::service_unavailable:
      return "503 Service Unavailable\n";
    default:
      return "error\n";
  }
}

}  // namespace

// State of one request while it is being handled.
struct HttpSession::Exchange {
  Clock::time_point start = Clock::now();
  std::optional<http::request_parser<http::buffer_body>> parser;
  std::string method;  // for the access log
  bool has_body = false;
  bool keep_alive = false;
  unsigned version = 11;
  std::string target;
  const Route* route = nullptr;
  std::string principal;
  std::string local_name;
  std::string mutual_token;
  std::string credential_handle;  // broker handle, when the client delegated
  std::string set_cookie;         // Set-Cookie for the response (new session, logout)
  bool html = false;              // the client is a browser (Accept: text/html)
  // How the user was signed in: negotiate, session, basic; "none" on auth: none routes.
  std::string_view auth = "-";
  unsigned status = 0;           // the response sent (0: none, the connection ended first)
  uint64_t bytes = 0;            // response body bytes sent
  const char* reason = nullptr;  // the stable reason of a response the proxy made itself
};

HttpSession::HttpSession(Server& server, Worker& worker, net::ip::tcp::socket socket)
    : server_(server), worker_(worker), stream_(std::move(socket)) {
  boost::system::error_code ec;
  auto remote = stream_.socket().remote_endpoint(ec);
  client_ip_ = ec ? "unknown" : remote.address().to_string();
  stream_.socket().set_option(net::ip::tcp::no_delay(true), ec);
  worker_.sessions.push_front(this);
  registration_ = worker_.sessions.begin();
  // Counted as open by the accept loop already (Server::acceptLoop); closed here.
}

HttpSession::~HttpSession() {
  worker_.sessions.erase(registration_);
  server_.metrics().connectionClosed();
}

void HttpSession::onDrain() {
  if (idle_) {
    boost::system::error_code ec;
    stream_.socket().shutdown(net::ip::tcp::socket::shutdown_both, ec);
    stream_.cancel();
  }
}

net::awaitable<void> HttpSession::run() {
  if (auto rt = server_.runtime(worker_); rt->tls) {
    // The context is kept for the connection's life: a reload may replace the runtime's.
    tls_context_ = rt->tls;
    tls_ = true;
    stream_.startTls(*tls_context_);
    stream_.expires_after(rt->config->timeouts.header);
    auto [ec] = co_await stream_.tls().async_handshake(net::ssl::stream_base::server,
                                                       as_tuple(use_awaitable));
    if (ec) {
      server_.metrics().countTlsHandshakeFailure();
      log()->debug("{}: TLS handshake failed: {}", client_ip_, ec.message());
      stream_.close();
      co_return;
    }
  }
  for (bool first = true;; first = false) {
    if (server_.draining()) break;
    idle_ = true;
    if (buffer_.size() == 0 && !first) {
      // Keep-alive: wait for the next request's first bytes with the idle timeout. The header
      // buffer may have grown to 16 KiB or more for the last request: an idle connection keeps
      // only kIdleReadBytes (10,000 idle connections would otherwise hold ~160 MiB).
      if (buffer_.capacity() > kIdleReadBytes) buffer_.shrink_to_fit();
      stream_.expires_after(server_.runtime(worker_)->config->timeouts.idle);
      auto [ec, n] = co_await stream_.async_read_some(buffer_.prepare(kIdleReadBytes),
                                                      as_tuple(use_awaitable));
      if (ec) break;
      buffer_.commit(n);
    }
    idle_ = false;
    // The request uses the configuration current when it started (after a SIGHUP, the new
    // one), held by value: a later reload must not free it under this request.
    const std::shared_ptr<const Runtime> snapshot = server_.runtime(worker_);
    const Runtime& rt = *snapshot;
    const auto& cfg = *rt.config;
    buffer_.max_size(std::max<size_t>(cfg.limits.header_bytes, buffer_.size()));
    stream_.expires_after(cfg.timeouts.header);
    auto [ec, header_size] = co_await readHeaderBlock();
    if (ec == net::error::not_found) {
      Exchange ex;
      co_await reject(rt, ex, http::status::request_header_fields_too_large, "header_too_large");
      finish(rt, ex);
      break;
    }
    if (ec) break;  // closed, reset or header timeout: nothing useful to answer
    bool keep = co_await handleRequest(rt, header_size);
    if (!keep) break;
  }
  if (tls_) {
    // close_notify: without it a client cannot tell a body delimited by the close from a
    // truncated one. Bounded: the peer may never answer with its own close_notify.
    stream_.expires_after(std::chrono::seconds(1));
    (void)co_await stream_.tls().async_shutdown(as_tuple(use_awaitable));
  }
  boost::system::error_code ignored;
  stream_.socket().shutdown(net::ip::tcp::socket::shutdown_send, ignored);
  if (linger_ && !tls_) {
    // An error answered before the request body was read: closing now, with the client's
    // body still arriving, makes the kernel send a RST that can destroy the response before
    // the client reads it (RFC 9112 §9.6). Discard what the client still sends: at most 4 MiB,
    // at most 2 s.
    constexpr size_t kMaxDiscard = 4 << 20;
    const auto discard = std::make_unique_for_overwrite<char[]>(kRelayBufferBytes);
    stream_.expires_after(std::chrono::seconds(2));  // one deadline for the whole discard
    for (size_t discarded = 0; discarded < kMaxDiscard;) {
      auto [ec, n] = co_await stream_.async_read_some(net::buffer(discard.get(), kRelayBufferBytes),
                                                      as_tuple(use_awaitable));
      if (ec) break;
      discarded += n;
    }
  }
  stream_.close();
}

net::awaitable<std::tuple<boost::system::error_code, size_t>> HttpSession::readHeaderBlock() {
  // Scans only the bytes that arrived since the last pass (minus 3, for a split delimiter).
  size_t scanned = 0;
  for (;;) {
    std::string_view data(static_cast<const char*>(buffer_.data().data()), buffer_.size());
    auto pos = data.find("\r\n\r\n", scanned > 3 ? scanned - 3 : 0);
    if (pos != std::string_view::npos) co_return std::tuple{boost::system::error_code{}, pos + 4};
    scanned = data.size();
    if (buffer_.size() >= buffer_.max_size()) {
      co_return std::tuple{boost::system::error_code(net::error::not_found), size_t{0}};
    }
    const size_t room = std::min<size_t>(buffer_.max_size() - buffer_.size(), 16 * 1024);
    auto [ec, n] = co_await stream_.async_read_some(buffer_.prepare(room), as_tuple(use_awaitable));
    if (ec) co_return std::tuple{ec, size_t{0}};
    buffer_.commit(n);
  }
}

net::awaitable<bool> HttpSession::reject(const Runtime& rt, Exchange& ex, http::status status,
                                         const char* reason, std::string_view challenge) {
  const auto& cfg = *rt.config;
  // An unread request body would be taken for the next request: close instead.
  const bool keep = ex.keep_alive && !ex.has_body && !server_.draining() &&
                    status != http::status::bad_request &&
                    status != http::status::request_header_fields_too_large;
  if (ex.has_body) linger_ = true;  // the body is unread: see run()
  http::response<http::string_body> res{status, ex.version};
  res.set(http::field::cache_control, "no-store");
  if (!challenge.empty()) {
    res.set(http::field::www_authenticate, challenge);
    if (rt.basic && tls_ && challenge == "Negotiate") {  // never invite a password in clear
      res.insert(http::field::www_authenticate,
                 strCat("Basic realm=\"", cfg.basic.realm, "\", charset=\"UTF-8\""));
    }
  }
  if (!ex.set_cookie.empty()) res.set(http::field::set_cookie, ex.set_cookie);
  const bool ntlm = std::string_view(reason) == "ntlm";
  if (ex.html && ex.route != nullptr && (status == http::status::unauthorized || ntlm)) {
    res.set(http::field::content_type, "text/html; charset=utf-8");
    res.body() =
        ntlm ? kerberosRequiredPage(*ex.route) : unauthorizedPage(rt.unauthorized_page, *ex.route);
  } else {
    res.set(http::field::content_type, "text/plain; charset=utf-8");
    res.body() =
        ntlm ? "403 Forbidden: Kerberos is required; NTLM is not accepted\n" : bodyText(status);
  }
  res.keep_alive(keep);
  res.prepare_payload();
  server_.metrics().countRejection(reason);
  ex.reason = reason;
  stream_.expires_after(cfg.timeouts.body);
  auto [ec, n] = co_await http::async_write(stream_, res, as_tuple(use_awaitable));
  if (!ec) {
    ex.status = static_cast<unsigned>(status);
    ex.bytes = res.body().size();
  }
  co_return keep && !ec;
}

net::awaitable<bool> HttpSession::handleRequest(const Runtime& rt, size_t header_size) {
  Exchange ex;
  const bool keep = co_await handleExchange(rt, ex, header_size);
  finish(rt, ex);
  co_return keep;
}

void HttpSession::finish(const Runtime& rt, const Exchange& ex) {
  const auto elapsed = Clock::now() - ex.start;
  server_.metrics().requestDuration().observe(elapsed);
  if (ex.status != 0) {
    RouteStats* stats = server_.metrics().noRoute();
    if (ex.route != nullptr && !rt.route_stats.empty()) {
      stats = rt.route_stats[static_cast<size_t>(ex.route - rt.config->routes.data())];
    }
    server_.metrics().countResponse(stats, ex.status);
  }
  if (!rt.config->log.access) return;
  LogEvent line("request");
  line.add("client", client_ip_)
      .add("method", ex.method.empty() ? std::string_view("-") : std::string_view(ex.method))
      .add("path", ex.target.empty() ? std::string_view("-") : pathOf(ex.target))
      .add("route", ex.route != nullptr ? std::string_view(ex.route->path) : "-")
      .add("status", ex.status)
      .add("bytes", ex.bytes)
      .add("duration_ms", std::chrono::duration<double, std::milli>(elapsed).count(), 3)
      .add("auth", ex.auth)
      .add("principal",
           ex.principal.empty() ? std::string_view("-") : std::string_view(ex.principal));
  if (ex.reason != nullptr) line.add("reason", ex.reason);
  line.emit(*accessLog(), spdlog::level::info);
}

net::awaitable<bool> HttpSession::handleExchange(const Runtime& rt, Exchange& ex,
                                                 size_t header_size) {
  const auto& cfg = *rt.config;
  std::string_view block(static_cast<const char*>(buffer_.data().data()), header_size);
  if (obsoleteLineFolding(block) != nullptr) {
    co_return co_await reject(rt, ex, http::status::bad_request, "obsolete_line_folding");
  }

  ex.parser.emplace();
  auto& parser = *ex.parser;
  parser.header_limit(static_cast<uint32_t>(cfg.limits.header_bytes));
  parser.body_limit(cfg.limits.body_bytes);
  {
    auto [ec, n] =
        co_await http::async_read_header(stream_, buffer_, parser, as_tuple(use_awaitable));
    if (ec) {
      if (ec == http::error::header_limit) {
        co_return co_await reject(rt, ex, http::status::request_header_fields_too_large,
                                  "header_too_large");
      }
      if (ec == http::error::body_limit) {  // Content-Length above limits.body_bytes
        ex.has_body = true;
        co_return co_await reject(rt, ex, http::status::payload_too_large, "body_too_large");
      }
      co_return co_await reject(rt, ex, http::status::bad_request, "unparsable_request");
    }
  }
  auto& req = parser.get();
  ex.method = printable(req.method_string());
  ex.version = req.version() == 10 ? 10 : 11;
  ex.target = std::string(req.target());
  if (const char* why = checkFraming(req, req.version())) {
    co_return co_await reject(rt, ex, http::status::bad_request, why);
  }
  ex.has_body = parser.chunked() || parser.content_length().value_or(0) > 0;
  ex.keep_alive = req.keep_alive();
  if (parser.content_length() && *parser.content_length() > cfg.limits.body_bytes) {
    co_return co_await reject(rt, ex, http::status::payload_too_large, "body_too_large");
  }
  if (req.method() == http::verb::connect) {
    co_return co_await reject(rt, ex, http::status::bad_request, "connect_not_supported");
  }
  auto target = normalizeTarget(req.target());
  if (!target) co_return co_await reject(rt, ex, http::status::bad_request, "bad_target");
  ex.target = std::move(*target);
  ex.route = matchRoute(cfg.routes, routePathOf(ex.target));
  if (auto accept = req.find(http::field::accept); accept != req.end()) {
    ex.html = wantsHtml(accept->value());
  }
  // The logout path works whether or not a route covers it.
  if (rt.sessions && !cfg.session.logout_path.empty() &&
      pathOf(ex.target) == cfg.session.logout_path) {
    co_return co_await logout(rt, ex);
  }
  if (ex.route == nullptr) {
    co_return co_await reject(rt, ex, http::status::not_found, "no_route");
  }
  if (ex.route->auth == Route::Auth::kNegotiate) {
    if (auto done = co_await authenticate(rt, ex); done) co_return *done;
  } else {
    ex.auth = "none";
  }

  // Expect: the proxy answers 100-continue itself (the header is not forwarded).
  if (auto expect = req.find(http::field::expect); expect != req.end()) {
    if (!equalsIgnoreCase(trimAscii(expect->value()), "100-continue")) {
      co_return co_await reject(rt, ex, http::status::expectation_failed, "bad_expect");
    }
    if (ex.version == 11 && ex.has_body) {
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      stream_.expires_after(cfg.timeouts.body);
      auto [ec, n] =
          co_await net::async_write(stream_, net::buffer(kContinue), as_tuple(use_awaitable));
      if (ec) co_return false;
    }
  }
  co_return co_await forward(rt, ex);
}

net::awaitable<std::optional<bool>> HttpSession::authenticate(const Runtime& rt, Exchange& ex) {
  const auto& cfg = *rt.config;
  auto& req = ex.parser->get();
  if (rt.sessions) {
    const char* refusal = nullptr;
    switch (useSessionCookie(rt, ex, refusal)) {
      case CookieUse::kSignedIn:
        co_return std::nullopt;  // no GSS call, no broker RPC
      case CookieUse::kRefused:
        co_return co_await reject(rt, ex, http::status::forbidden, refusal);
      case CookieUse::kNone:
        break;
    }
  }
  auto authorizations = req.equal_range(http::field::authorization);
  const auto count = std::distance(authorizations.first, authorizations.second);
  if (count == 0) {
    server_.metrics().countAuth("no_header");
    co_return co_await reject(rt, ex, http::status::unauthorized, "no_header", "Negotiate");
  }
  if (count > 1) {
    server_.metrics().countAuth("malformed_token");
    co_return co_await reject(rt, ex, http::status::bad_request, "several_authorization");
  }
  ParsedAuthorization parsed =
      parseAuthorization(authorizations.first->value(), cfg.limits.header_bytes);
  if (parsed.kind == AuthorizationKind::kOtherScheme && rt.basic) {
    std::string_view value = trimAscii(authorizations.first->value());
    if (value.size() > 6 && equalsIgnoreCase(value.substr(0, 6), "basic ")) {
      co_return co_await basicSignIn(rt, ex, value.substr(6));
    }
  }
  if (parsed.kind == AuthorizationKind::kOtherScheme) {
    std::string_view value = trimAscii(authorizations.first->value());
    const bool ntlm = equalsIgnoreCase(value.substr(0, 4), "ntlm");
    server_.metrics().countAuth(ntlm ? "ntlm" : "other_scheme");
    if (ntlm) co_return co_await reject(rt, ex, http::status::forbidden, "ntlm");
    co_return co_await reject(rt, ex, http::status::unauthorized, "other_scheme", "Negotiate");
  }
  if (parsed.kind == AuthorizationKind::kMalformed) {
    server_.metrics().countAuth("malformed_token");
    co_return co_await reject(rt, ex, http::status::bad_request, "malformed_token");
  }
  switch (checkNegotiateToken(parsed.token.str())) {
    case TokenCheck::kNtlm:
      server_.metrics().countAuth("ntlm");
      pending_.reset();
      co_return co_await reject(rt, ex, http::status::forbidden, "ntlm");
    case TokenCheck::kOtherMech:
      server_.metrics().countAuth("other_mech");
      pending_.reset();
      co_return co_await reject(rt, ex, http::status::unauthorized, "other_mech", "Negotiate");
    case TokenCheck::kMalformed:
      server_.metrics().countAuth("malformed_token");
      pending_.reset();
      co_return co_await reject(rt, ex, http::status::bad_request, "malformed_token");
    case TokenCheck::kSpnegoResp:
      if (!pending_) {
        server_.metrics().countAuth("malformed_token");
        co_return co_await reject(rt, ex, http::status::bad_request, "unexpected_continuation");
      }
      break;
    case TokenCheck::kSpnegoInit:
      pending_.reset();  // a new initial token always starts over
      legs_ = 0;
      break;
  }
  if (++legs_ > kMaxLegs) {
    pending_.reset();
    legs_ = 0;
    server_.metrics().countAuth("bad_token");
    co_return co_await reject(rt, ex, http::status::unauthorized, "too_many_legs", "Negotiate");
  }
  const auto accept_start = Clock::now();
  AuthResult ar = rt.authenticator->accept(parsed.token.str(), pending_);
  server_.metrics().gssAccept().observe(Clock::now() - accept_start);
  server_.metrics().countAuth(ar.reason);
  switch (ar.outcome) {
    case AuthOutcome::kOk:
      legs_ = 0;
      break;
    case AuthOutcome::kContinue:
      co_return co_await reject(rt, ex, http::status::unauthorized, "continue",
                                "Negotiate " + ar.output_token);
    case AuthOutcome::kMalformed:
      log()->info("{}: malformed Negotiate token: {}", client_ip_, ar.detail);
      co_return co_await reject(rt, ex, http::status::bad_request, ar.reason);
    case AuthOutcome::kUnauthorized:
      log()->info("{}: authentication failed ({}): {}", client_ip_, ar.reason, ar.detail);
      co_return co_await reject(rt, ex, http::status::unauthorized, ar.reason, "Negotiate");
    case AuthOutcome::kForbidden:
      log()->info("{}: {} refused ({}): {}", client_ip_, printable(ar.principal), ar.reason,
                  ar.detail);
      co_return co_await reject(rt, ex, http::status::forbidden, ar.reason);
  }
  if (const char* why = routeRefusal(rt, ex, ar.principal, ar.local_name)) {
    co_return co_await reject(rt, ex, http::status::forbidden, why);
  }
  log()->info("{}: authenticated {} as {}", client_ip_, printable(ar.principal),
              printable(ar.local_name));
  ex.auth = "negotiate";
  ex.principal = std::move(ar.principal);
  ex.local_name = std::move(ar.local_name);
  ex.mutual_token = std::move(ar.output_token);
  const int64_t now = unixNow();
  Session session;
  session.expires_at = now + cfg.session.lifetime.count();
  if (ar.lifetime != GSS_C_INDEFINITE) {
    session.expires_at = std::min<int64_t>(session.expires_at, now + ar.lifetime);
  }
  if ((ar.delegated || ar.delegated_tgt) && rt.broker) {
    if (auto receipt = co_await depositDelegated(rt, ar, ex.principal)) {
      ex.credential_handle = std::move(receipt->handle);
      auto raw_id = base64UrlDecode(receipt->credential_id);
      if (raw_id && raw_id->size() == SessionCodec::kCredentialIdBytes &&
          receipt->handle_key.size() == Aead::kKeyBytes) {
        server_.handleMinter().remember(receipt->handle_key_id, receipt->handle_key,
                                        receipt->handle_ttl);
        session.credential_id = std::move(*raw_id);
        session.credential_expires_at = receipt->expires_at;
        session.handle_key_id = receipt->handle_key_id;
        session.expires_at = std::min(session.expires_at, receipt->expires_at);
      }
    }
  }
  startSession(rt, ex, std::move(session), now);
  co_return std::nullopt;
}

const char* HttpSession::routeRefusal(const Runtime& rt, const Exchange& ex,
                                      std::string_view principal, std::string_view local_name) {
  if (const char* why = rt.config->local_names.refusal(local_name)) {
    server_.metrics().countAuth(why);
    log()->warn("{}: {} refused: local name {} may not be forwarded ({})", client_ip_,
                printable(principal), printable(local_name), why);
    return why;
  }
  const char* why = accessRefusal(*ex.route, principal);
  if (why != nullptr) {
    server_.metrics().countAuth(why);
    log()->info("{}: {} refused on route {} ({})", client_ip_, printable(principal), ex.route->path,
                why);
  }
  return why;
}

void HttpSession::startSession(const Runtime& rt, Exchange& ex, Session session, int64_t now) {
  if (!rt.sessions || session.expires_at <= now) return;
  session.principal = ex.principal;
  session.local_name = ex.local_name;
  session.issued_at = now;
  session.session_id = randomBytes(SessionCodec::kSessionIdBytes);
  ex.set_cookie = cookieHeader(*rt.config, rt.sessions->seal(session), session.expires_at - now,
                               secureCookie(rt));
}

net::awaitable<std::optional<bool>> HttpSession::basicSignIn(const Runtime& rt, Exchange& ex,
                                                             std::string_view credentials) {
  const auto& cfg = *rt.config;
  if (!tls_) {  // the config allows Basic only with TLS; a reload cannot change this socket
    co_return co_await reject(rt, ex, http::status::unauthorized, "other_scheme", "Negotiate");
  }
  // The KDC exchanges block: run them on the blocking pool, like broker calls.
  std::shared_ptr<const BasicVerifier> basic = rt.basic;
  std::string copy(credentials);
  BasicResult br = co_await net::co_spawn(
      server_.blockingPool(),
      [&]() -> net::awaitable<BasicResult> { co_return basic->verify(copy); }, use_awaitable);
  secureWipe(copy);
  server_.metrics().countAuth(br.outcome == BasicResult::Outcome::kOk ? "basic_ok" : br.reason);
  switch (br.outcome) {
    case BasicResult::Outcome::kOk:
      break;
    case BasicResult::Outcome::kMalformed:
      co_return co_await reject(rt, ex, http::status::bad_request, "malformed_basic");
    case BasicResult::Outcome::kBadCredentials:
      log()->info("{}: Basic sign-in of {} failed ({}): {}", client_ip_, printable(br.principal),
                  br.reason, br.detail);
      co_return co_await reject(rt, ex, http::status::unauthorized, "basic_failed", "Negotiate");
    case BasicResult::Outcome::kUnavailable:
      log()->warn("{}: Basic sign-in impossible, KDC unavailable: {}", client_ip_, br.detail);
      co_return co_await reject(rt, ex, http::status::service_unavailable, "kdc_unreachable");
    case BasicResult::Outcome::kForbidden:
      log()->info("{}: {} refused ({}): {}", client_ip_, printable(br.principal), br.reason,
                  br.detail);
      co_return co_await reject(rt, ex, http::status::forbidden, "no_local_name");
  }
  if (const char* why = routeRefusal(rt, ex, br.principal, br.local_name)) {
    co_return co_await reject(rt, ex, http::status::forbidden, why);
  }
  log()->info("{}: authenticated {} as {} (Basic)", client_ip_, printable(br.principal),
              printable(br.local_name));
  ex.auth = "basic";
  ex.principal = std::move(br.principal);
  ex.local_name = std::move(br.local_name);
  const int64_t now = unixNow();
  Session session;
  session.expires_at = std::min<int64_t>(now + cfg.session.lifetime.count(), br.ticket_end);
  startSession(rt, ex, std::move(session), now);
  co_return std::nullopt;
}

std::optional<Session> HttpSession::sessionOf(const Runtime& rt, const Exchange& ex, int64_t now) {
  const auto& cfg = *rt.config;
  const auto& req = ex.parser->get();
  // Every cookie of that name counts: a stale one (another path or a parent domain) may come
  // first, and must not hide a valid one.
  for (auto [it, end] = req.equal_range(http::field::cookie); it != end; ++it) {
    for (std::string_view value : findCookies(it->value(), cfg.session.cookie_name)) {
      std::optional<Session> session;
      const uint64_t codec = rt.sessions->id();
      if (const Session* cached = worker_.session_cache.find(value, codec, now)) {
        session = *cached;
      } else {
        session = rt.sessions->open(value, now);
        if (session) worker_.session_cache.put(value, codec, *session);
      }
      if (session && !server_.revocations().revoked(session->session_id)) return session;
    }
  }
  return std::nullopt;
}

HttpSession::CookieUse HttpSession::useSessionCookie(const Runtime& rt, Exchange& ex,
                                                     const char*& refusal) {
  const int64_t now = unixNow();
  auto session = sessionOf(rt, ex, now);
  if (!session) return CookieUse::kNone;
  if (session->hasCredential()) {
    auto handle = server_.handleMinter().mint(*session, now);
    if (!handle) {
      // The broker key that minted this session's handles is gone (proxy restart): sign in
      // again, which deposits the credential anew, rather than silently lose the credential.
      server_.metrics().countAuth("session_stale");
      return CookieUse::kNone;
    }
    ex.credential_handle = std::move(*handle);
  }
  server_.metrics().countAuth("session");
  if ((refusal = routeRefusal(rt, ex, session->principal, session->local_name)) != nullptr)
    return CookieUse::kRefused;
  ex.auth = "session";
  ex.principal = std::move(session->principal);
  ex.local_name = std::move(session->local_name);
  return CookieUse::kSignedIn;
}

net::awaitable<bool> HttpSession::logout(const Runtime& rt, Exchange& ex) {
  const auto& cfg = *rt.config;
  const int64_t now = unixNow();
  // Another site must not be able to sign the user out with a link (the Lax cookie goes
  // along on top-level navigation): browsers say where a request came from.
  if (auto site = ex.parser->get().find("Sec-Fetch-Site");
      site != ex.parser->get().end() && equalsIgnoreCase(site->value(), "cross-site")) {
    co_return co_await reject(rt, ex, http::status::forbidden, "cross_site_logout");
  }
  if (auto session = sessionOf(rt, ex, now)) {
    server_.revocations().revoke(session->session_id, session->expires_at, now);
    log()->info("{}: {} signed out", client_ip_, printable(session->principal));
    if (session->hasCredential() && rt.broker) {
      std::shared_ptr<BrokerClient> broker = rt.broker;
      const std::string id = base64UrlEncode(session->credential_id);
      auto st = co_await net::co_spawn(
          server_.blockingPool(),
          [&]() -> net::awaitable<absl::Status> { co_return broker->revoke(id); }, use_awaitable);
      if (!st.ok()) {
        log()->warn("{}: revoking the credential of {} failed: {}", client_ip_,
                    printable(session->principal), printable(messageOf(st)));
      }
    }
  }
  server_.metrics().countAuth("logout");
  const bool keep = ex.keep_alive && !ex.has_body && !server_.draining();
  http::response<http::string_body> res{http::status::ok, ex.version};
  res.set(http::field::cache_control, "no-store");
  res.set(http::field::set_cookie, cookieHeader(cfg, "", 0, secureCookie(rt)));
  if (ex.html) {
    res.set(http::field::content_type, "text/html; charset=utf-8");
    res.body() = signedOutPage();
  } else {
    res.set(http::field::content_type, "text/plain; charset=utf-8");
    res.body() = "signed out\n";
  }
  res.keep_alive(keep);
  res.prepare_payload();
  stream_.expires_after(cfg.timeouts.body);
  auto [ec, n] = co_await http::async_write(stream_, res, as_tuple(use_awaitable));
  if (!ec) {
    ex.status = 200;
    ex.bytes = res.body().size();
  }
  co_return keep && !ec;
}

net::awaitable<std::optional<DepositReceipt>> HttpSession::depositDelegated(
    const Runtime& rt, AuthResult& ar, const std::string& principal) {
  // Extract here (the GSS credential belongs to this thread), deposit on the blocking pool.
  // The direct krb5 path has extracted the TGT already.
  absl::StatusOr<SecretString> tgt = absl::NotFoundError("no delegated credential");
  if (ar.delegated_tgt) {
    tgt = std::move(*ar.delegated_tgt);
    ar.delegated_tgt.reset();
  } else {
    tgt = delegatedTgt(ar.delegated.get(), principal);
  }
  ar.delegated.reset();
  if (!tgt.ok()) {
    server_.metrics().countDeposit(false);
    log()->warn("{}: delegated credential of {} unusable: {}", client_ip_, printable(principal),
                messageOf(tgt.status()));
    co_return std::nullopt;
  }
  std::shared_ptr<BrokerClient> broker = rt.broker;
  const auto deposit_start = Clock::now();
  auto receipt = co_await net::co_spawn(
      server_.blockingPool(),
      [&]() -> net::awaitable<absl::StatusOr<DepositReceipt>> {
        co_return broker->deposit(principal, *tgt);
      },
      use_awaitable);
  server_.metrics().brokerDeposit().observe(Clock::now() - deposit_start);
  if (!receipt.ok()) {
    server_.metrics().countDeposit(false);
    log()->warn(
        "{}: {} signed in, but the broker did not take the delegated credential; "
        "forwarding without a handle: {}",
        client_ip_, printable(principal), printable(messageOf(receipt.status())));
    co_return std::nullopt;
  }
  server_.metrics().countDeposit(true);
  co_return std::move(*receipt);
}

net::awaitable<bool> HttpSession::forward(const Runtime& rt, Exchange& ex) {
  const auto& cfg = *rt.config;
  auto& parser = *ex.parser;
  auto& req = parser.get();
  const bool negotiate = ex.route->auth == Route::Auth::kNegotiate;
  // Host for a client that sent none (HTTP/1.0): formatted only then.
  const std::string listen_text =
      req.find(http::field::host) == req.end() ? cfg.listen.text() : std::string();

  std::string assertion;
  if (negotiate) {
    assertion =
        worker_.assertions.get(*rt.signer, cfg.assertion, ex.principal, ex.local_name, unixNow());
  }
  UpstreamRequestParams params;
  params.target = ex.target;
  params.headers = &cfg.headers;
  if (rt.sessions) params.session_cookie = cfg.session.cookie_name;
  params.negotiate = negotiate;
  params.drop_authorization = negotiate           ? DropAuthorization::kAll
                              : cfg.basic.enabled ? DropAuthorization::kNegotiateAndBasic
                                                  : DropAuthorization::kNegotiate;
  params.local_name = ex.local_name;
  params.principal = ex.principal;
  params.credential_handle = ex.credential_handle;
  params.assertion = assertion;
  params.client_ip = client_ip_;
  params.tls = tls_;
  params.default_host = listen_text;
  params.chunked = parser.chunked();
  params.content_length = parser.content_length();
  http::request<http::buffer_body> up = buildUpstreamRequest(req, params);

  // The relay buffer lives for this request only (not zero-filled): a connection waiting for
  // its next request must not hold 64 KiB (10,000 idle connections: 640 MiB).
  const auto relay = std::make_unique_for_overwrite<char[]>(kRelayBufferBytes);
  char* buf = relay.get();
  const std::string& key = rt.upstream_pool_key;

  std::unique_ptr<UpstreamStream> conn;
  beast::flat_buffer ubuf;
  std::optional<http::response_parser<http::buffer_body>> rp;
  for (int attempt = 0;; ++attempt) {
    conn = worker_.pool.take(key);
    const bool reused = conn != nullptr;
    boost::system::error_code ec;
    if (!conn) {
      conn = co_await UpstreamPool::connect(stream_.get_executor(), rt.upstream_endpoints,
                                            cfg.timeouts.upstream_connect, ec,
                                            rt.upstream_tls.get(), rt.upstream_server_name);
      if (!conn) {
        log()->warn("upstream {}: connect failed: {}", cfg.upstream.original, ec.message());
        co_return co_await reject(
            rt, ex, isTimeout(ec) ? http::status::gateway_timeout : http::status::bad_gateway,
            isTimeout(ec) ? "upstream_connect_timeout" : "upstream_connect_failed");
      }
    }
    server_.metrics().countUpstreamConnect(reused);
    // A pooled connection the upstream closed meanwhile fails at once; a request without a
    // body can safely be sent again on a new connection.
    const bool canRetry = reused && !ex.has_body && attempt == 0;

    http::request_serializer<http::buffer_body> sr{up};
    conn->expires_after(cfg.timeouts.body);
    if (!ex.has_body) {
      up.body().data = nullptr;
      up.body().size = 0;
      up.body().more = false;
      std::tie(ec, std::ignore) = co_await http::async_write(*conn, sr, as_tuple(use_awaitable));
    } else {
      // The header goes out with the first piece of the body: one write, not two.
      // Relay as in Beast's relay() example: write what each read produced; never hand the
      // chunked serializer an empty piece with more=true (it would end the body early).
      while (!ec) {
        if (!parser.is_done()) {
          req.body().data = buf;
          req.body().size = kRelayBufferBytes;
          stream_.expires_after(cfg.timeouts.body);
          auto [rec, n] =
              co_await http::async_read_some(stream_, buffer_, parser, as_tuple(use_awaitable));
          if (rec == http::error::need_buffer) rec = {};
          if (rec) {
            log()->info("{}: request body read failed: {}", client_ip_, rec.message());
            if (rec == http::error::body_limit) {
              co_return co_await reject(rt, ex, http::status::payload_too_large, "body_too_large");
            }
            co_return false;  // client went away or sent a broken body
          }
          up.body().data = buf;
          up.body().size = kRelayBufferBytes - req.body().size;
          up.body().more = !parser.is_done();
        } else {
          up.body().data = nullptr;
          up.body().size = 0;
          up.body().more = false;
        }
        if (up.body().size == 0 && up.body().more) continue;
        conn->expires_after(cfg.timeouts.body);
        std::tie(ec, std::ignore) = co_await http::async_write(*conn, sr, as_tuple(use_awaitable));
        if (ec == http::error::need_buffer) ec = {};
        if (!ec && (!up.body().more || sr.is_done())) break;
      }
    }
    if (ec) {
      if (canRetry) continue;
      log()->warn("upstream {}: sending request failed: {}", cfg.upstream.original, ec.message());
      co_return co_await reject(rt, ex, http::status::bad_gateway, "upstream_write_failed");
    }

    // Response header; interim 1xx responses (other than 101) are skipped.
    const auto sent = Clock::now();
    for (;;) {
      rp.emplace();
      rp->header_limit(kResponseHeaderLimit);
      rp->body_limit(boost::none);
      if (req.method() == http::verb::head) rp->skip(true);
      conn->expires_after(cfg.timeouts.upstream_response);
      std::tie(ec, std::ignore) =
          co_await http::async_read_header(*conn, ubuf, *rp, as_tuple(use_awaitable));
      if (ec) break;
      const unsigned code = rp->get().result_int();
      if (code >= 100 && code < 200 && code != 101) continue;
      server_.metrics().upstreamResponse().observe(Clock::now() - sent);
      break;
    }
    if (ec) {
      if (canRetry && !isTimeout(ec) && ubuf.size() == 0) continue;
      log()->warn("upstream {}: no response: {}", cfg.upstream.original, ec.message());
      co_return co_await reject(
          rt, ex, isTimeout(ec) ? http::status::gateway_timeout : http::status::bad_gateway,
          isTimeout(ec) ? "upstream_timeout" : "upstream_failed");
    }
    break;
  }

  auto& ures = rp->get();
  const unsigned code = ures.result_int();
  if (code == 101) {
    co_return co_await reject(rt, ex, http::status::bad_gateway, "upstream_upgrade");
  }
  http::response<http::buffer_body> down;
  down.result(code);
  down.reason(ures.reason());
  down.version(ex.version);
  copyResponseHeaders(ures, down);
  if (!ex.mutual_token.empty()) {
    down.insert(http::field::www_authenticate, "Negotiate " + ex.mutual_token);
  }
  if (!ex.set_cookie.empty()) down.insert(http::field::set_cookie, ex.set_cookie);
  const bool noBody = req.method() == http::verb::head || code == 204 || code == 304;
  bool keep = ex.keep_alive && !server_.draining();
  if (noBody) {
    if (auto cl = ures.find(http::field::content_length); cl != ures.end()) {
      down.set(http::field::content_length, cl->value());
    }
  } else if (rp->content_length()) {
    down.content_length(*rp->content_length());
  } else if (ex.version == 11) {
    down.chunked(true);
  } else {
    keep = false;  // HTTP/1.0 client, unknown length: delimit by closing
  }
  down.keep_alive(keep);
  ex.status = code;  // from here on the client has (or is getting) this status

  http::response_serializer<http::buffer_body> dsr{down};
  stream_.expires_after(cfg.timeouts.body);
  boost::system::error_code ec;
  if (noBody) {
    down.body().data = nullptr;
    down.body().size = 0;
    down.body().more = false;
    std::tie(ec, std::ignore) = co_await http::async_write(stream_, dsr, as_tuple(use_awaitable));
  } else {
    // The header goes out with the first piece of the body (often all of it): one write.
    while (!ec) {
      if (!rp->is_done()) {
        ures.body().data = buf;
        ures.body().size = kRelayBufferBytes;
        conn->expires_after(cfg.timeouts.body);
        auto [rec, n] = co_await http::async_read_some(*conn, ubuf, *rp, as_tuple(use_awaitable));
        if (rec == http::error::need_buffer) rec = {};
        if (rec == http::error::end_of_stream && rp->is_done()) rec = {};
        if (rec) {
          // Headers already went out: the only honest signal left is to cut the connection.
          log()->warn("upstream {}: response body failed: {}", cfg.upstream.original,
                      rec.message());
          co_return false;
        }
        down.body().data = buf;
        down.body().size = kRelayBufferBytes - ures.body().size;
        down.body().more = !rp->is_done();
      } else {
        down.body().data = nullptr;
        down.body().size = 0;
        down.body().more = false;
      }
      if (down.body().size == 0 && down.body().more) continue;
      const size_t piece = down.body().size;
      stream_.expires_after(cfg.timeouts.body);
      std::tie(ec, std::ignore) = co_await http::async_write(stream_, dsr, as_tuple(use_awaitable));
      if (ec == http::error::need_buffer) ec = {};
      if (!ec) ex.bytes += piece;
      if (!ec && (!down.body().more || dsr.is_done())) break;
    }
  }
  if (rp->is_done() && ures.keep_alive() && ubuf.size() == 0 && !rp->need_eof()) {
    worker_.pool.put(key, std::move(conn));
  }
  co_return keep && !ec;
}

}  // namespace gssgate::proxy
