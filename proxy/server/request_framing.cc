#include "proxy/server/request_framing.h"

#include "common/strings.h"
#include "proxy/server/field_range.h"

namespace gssgate::proxy {

namespace http = boost::beast::http;

const char* obsoleteLineFolding(std::string_view block) {
  // A line that starts with SP or HTAB continues the previous field (obs-fold, RFC 9112 §5.2).
  for (size_t pos = block.find('\n'); pos != std::string_view::npos;
       pos = block.find('\n', pos + 1)) {
    if (pos + 1 < block.size() && (block[pos + 1] == ' ' || block[pos + 1] == '\t')) {
      return "obsolete_line_folding";
    }
  }
  return nullptr;
}

const char* checkFraming(const http::fields& fields, unsigned version) {
  if (version != 10 && version != 11) return "unsupported_http_version";
  size_t contentLengths = 0;
  for (const auto& f : fieldRange(fields.equal_range(http::field::content_length))) {
    ++contentLengths;
    std::string_view v = trimAscii(f.value());
    if (v.empty() || v.size() > 18) return "bad_content_length";
    for (char c : v) {
      if (c < '0' || c > '9') return "bad_content_length";
    }
  }
  if (contentLengths > 1) return "duplicate_content_length";
  size_t transferEncodings = 0;
  for (const auto& f : fieldRange(fields.equal_range(http::field::transfer_encoding))) {
    ++transferEncodings;
    if (!equalsIgnoreCase(trimAscii(f.value()), "chunked")) return "bad_transfer_encoding";
  }
  if (transferEncodings > 1) return "bad_transfer_encoding";
  if (transferEncodings == 1 && contentLengths == 1) return "content_length_with_chunked";
  if (transferEncodings == 1 && version == 10) return "chunked_on_http10";
  return nullptr;
}

}  // namespace gssgate::proxy
