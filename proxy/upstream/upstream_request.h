// The request the proxy sends upstream for a client request it accepted: end-to-end headers
// only (identity, hop-by-hop, framing and forwarding headers the client sent are dropped), the
// proxy's session cookie removed, the proxy's own identity and X-Forwarded-* headers set, Host
// kept, and the body re-framed (chunked or Content-Length, as the client framed it). A pure
// function, so that the fuzz target checks exactly what forward() sends.
//
//   UpstreamRequestParams p;  p.target = ex.target;  p.headers = &cfg.headers;  ...
//   http::request<http::buffer_body> up = buildUpstreamRequest(parser.get(), p);
//
// Thread-safety: pure function.
#pragma once

#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/optional/optional.hpp>
#include <cstdint>
#include <string_view>

#include "proxy/config.h"
#include "proxy/upstream/identity_headers.h"

namespace gssgate::proxy {

struct UpstreamRequestParams {
  std::string_view target;  // the normalised request-target
  const HeaderNames* headers = nullptr;
  std::string_view session_cookie;  // the proxy's cookie name; empty = sessions off
  bool negotiate = false;           // an `auth: negotiate` route: identity headers are set
  // Which Authorization headers the upstream must not see (see identity_headers.h).
  DropAuthorization drop_authorization = DropAuthorization::kAll;
  // The signed-in identity (negotiate routes only); an empty handle sets no credential header.
  std::string_view local_name;
  std::string_view principal;
  std::string_view credential_handle;
  std::string_view assertion;
  std::string_view client_ip;     // X-Forwarded-For
  bool tls = false;               // X-Forwarded-Proto
  std::string_view default_host;  // Host when the client sent none (the listen address)
  // The client's body framing, as the parser saw it.
  bool chunked = false;
  boost::optional<uint64_t> content_length;  // as request_parser::content_length()
};

// Method and header of the upstream request (the body is relayed by the caller). Always
// HTTP/1.1 and keep-alive.
boost::beast::http::request<boost::beast::http::buffer_body> buildUpstreamRequest(
    const boost::beast::http::request_header<>& req, const UpstreamRequestParams& p);

}  // namespace gssgate::proxy
