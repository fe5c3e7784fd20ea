// Request framing checks that Boost 1.81's parser does not make on its own. A request that
// fails any of them is answered 400 and the connection is closed, because where the next
// request would start is then ambiguous (request smuggling).
//
//   if (auto why = obsoleteLineFolding(rawHeaderBlock)) reject(400, why);
//   if (auto why = checkFraming(parser.get())) reject(400, why);
//
// Thread-safety: pure functions.
#pragma once

#include <boost/beast/http/fields.hpp>
#include <string_view>

namespace gssgate::proxy {

// Null when fine, else a stable reason. `block` is the request line and header fields, as
// received, up to and including the blank line.
const char* obsoleteLineFolding(std::string_view block);

// Null when fine, else a stable reason: Content-Length with Transfer-Encoding, Transfer-Encoding
// other than exactly one "chunked", Transfer-Encoding on HTTP/1.0, more than one or a
// non-decimal Content-Length, an HTTP version other than 1.0/1.1.
const char* checkFraming(const boost::beast::http::fields& fields, unsigned version);

}  // namespace gssgate::proxy
