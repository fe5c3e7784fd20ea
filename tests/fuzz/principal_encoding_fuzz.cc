// Fuzz target (d): a principal (or local name) → every place it is written: the upstream
// identity header (after isHeaderSafeName, the proxy's acceptance rule), log text (printable),
// JSON log fields (jsonQuoted, LogEvent), the JWT assertion's claims (JwtSigner::jsonString),
// and the realm/glob checks of access policy.
// (No file name is ever derived from a principal: the broker's dir store names files by the
// random credential id.)
//
// Oracle: an accepted name reads back from the serialised header as exactly the same bytes and
// as exactly one field; printable() output is printable ASCII and decodes back to the input;
// JSON output is one valid JSON string that decodes back to the input when the input is UTF-8.
#include <boost/asio/buffer.hpp>
#include <boost/beast/http.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/jwt_signer.h"
#include "common/log_event.h"
#include "common/logging.h"
#include "proxy/auth/access_policy.h"
#include "proxy/auth/header_safe_name.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

namespace http = boost::beast::http;

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Inverse of printable(): "\\" → '\', "\xNN" → byte; nullopt for anything else after '\'.
std::optional<std::string> unprintable(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\') {
      out += s[i];
      continue;
    }
    if (i + 1 < s.size() && s[i + 1] == '\\') {
      out += '\\';
      ++i;
    } else if (i + 3 < s.size() && s[i + 1] == 'x' && hex(s[i + 2]) >= 0 && hex(s[i + 3]) >= 0) {
      out += static_cast<char>(hex(s[i + 2]) * 16 + hex(s[i + 3]));
      i += 3;
    } else {
      return std::nullopt;
    }
  }
  return out;
}

void appendUtf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// Strict UTF-8 (RFC 3629: no overlongs, no surrogates, at most U+10FFFF).
bool validUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<uint8_t>(s[i]);
    size_t n = 0;
    uint32_t cp = 0, min = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 1, cp = c & 0x1FU, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2, cp = c & 0x0FU, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3, cp = c & 0x07U, min = 0x10000;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;
    for (size_t k = 1; k <= n; ++k) {
      const auto d = static_cast<uint8_t>(s[i + k]);
      if ((d & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3FU);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n + 1;
  }
  return true;
}

// Decodes one JSON string literal (RFC 8259) that must span all of `s`; nullopt if invalid.
// \u escapes decode to UTF-8 (surrogate pairs are not produced by the encoders under test).
std::optional<std::string> jsonDecode(std::string_view s) {
  if (s.size() < 2 || s.front() != '"' || s.back() != '"') return std::nullopt;
  s = s.substr(1, s.size() - 2);
  if (!validUtf8(s)) return std::nullopt;
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<uint8_t>(s[i]);
    if (c < 0x20 || c == '"') return std::nullopt;
    if (c != '\\') {
      out += static_cast<char>(c);
      continue;
    }
    if (++i >= s.size()) return std::nullopt;
    switch (s[i]) {
      case '"':
        out += '"';
        break;
      case '\\':
        out += '\\';
        break;
      case '/':
        out += '/';
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 't':
        out += '\t';
        break;
      case 'u': {
        if (i + 4 >= s.size()) return std::nullopt;
        uint32_t cp = 0;
        for (int k = 1; k <= 4; ++k) {
          const int h = hex(s[i + k]);
          if (h < 0) return std::nullopt;
          cp = cp * 16 + static_cast<uint32_t>(h);
        }
        if (cp >= 0xD800 && cp <= 0xDFFF) return std::nullopt;
        appendUtf8(out, cp);
        i += 4;
        break;
      }
      default:
        return std::nullopt;
    }
  }
  return out;
}

// Reads `event: k=v k="v w"` back into (key, raw value) pairs; nullopt if malformed.
std::optional<std::vector<std::pair<std::string, std::string>>> parseLogText(std::string_view s) {
  const size_t colon = s.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  s.remove_prefix(colon + 1);
  std::vector<std::pair<std::string, std::string>> out;
  while (!s.empty()) {
    if (s.front() != ' ') return std::nullopt;
    s.remove_prefix(1);
    const size_t eq = s.find('=');
    if (eq == std::string_view::npos) return std::nullopt;
    std::string key(s.substr(0, eq)), value;
    s.remove_prefix(eq + 1);
    if (!s.empty() && s.front() == '"') {
      size_t i = 1;
      for (; i < s.size() && s[i] != '"'; ++i) {
        if (s[i] == '\\' && i + 1 < s.size()) {
          if (s[i + 1] != '"') value += '\\';
          value += s[++i];
        } else {
          value += s[i];
        }
      }
      if (i >= s.size()) return std::nullopt;
      s.remove_prefix(i + 1);
    } else {
      const size_t end = s.find(' ');
      value = std::string(s.substr(0, end));
      s.remove_prefix(end == std::string_view::npos ? s.size() : end);
    }
    out.emplace_back(std::move(key), std::move(value));
  }
  return out;
}

void checkJson(std::string_view name, const std::string& quoted, const char* encoder) {
  auto decoded = jsonDecode(quoted);
  FUZZ_CHECK(decoded.has_value(), encoder);
  if (validUtf8(name)) FUZZ_CHECK(*decoded == name, encoder);
}

void checkHeader(std::string_view name) {
  if (!gssgate::proxy::isHeaderSafeName(name)) {
    // Refused names are the ones a header could not carry faithfully.
    bool ctl = false;
    for (unsigned char c : name) ctl = ctl || c < 0x20 || c == 0x7f;
    FUZZ_CHECK(ctl || name.empty() || name.front() == ' ' || name.back() == ' ',
               "a name that a header carries faithfully was refused");
    return;
  }
  http::request<http::string_body> req{http::verb::get, "/", 11};
  req.set("X-Remote-Principal", name);
  req.set(http::field::host, "app");
  req.prepare_payload();
  std::string wire;
  {
    http::request_serializer<http::string_body> sr{req};
    boost::system::error_code ec;
    while (!sr.is_done()) {
      sr.next(ec, [&](boost::system::error_code& ec2, const auto& buffers) {
        ec2 = {};
        size_t n = 0;
        for (auto b : boost::beast::buffers_range_ref(buffers)) {
          wire.append(static_cast<const char*>(b.data()), b.size());
          n += b.size();
        }
        sr.consume(n);
      });
      FUZZ_CHECK(!ec, "serialising failed");
    }
  }
  http::request_parser<http::string_body> p;
  p.eager(true);
  boost::system::error_code ec;
  const size_t used = p.put(boost::asio::buffer(wire), ec);
  FUZZ_CHECK(!ec && p.is_done() && used == wire.size(), "accepted name broke the request");
  const auto& got = p.get();
  FUZZ_CHECK(got.count("X-Remote-Principal") == 1 && got.count(http::field::host) == 1,
             "accepted name changed the header count");
  FUZZ_CHECK(got["X-Remote-Principal"] == name, "accepted name reads back differently upstream");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view name(reinterpret_cast<const char*>(data), size);

  checkHeader(name);

  const std::string shown = gssgate::printable(name);
  for (unsigned char c : shown) FUZZ_CHECK(c >= 0x20 && c < 0x7f, "printable() let a byte through");
  auto back = unprintable(shown);
  FUZZ_CHECK(back && *back == name, "printable() is not reversible");

  checkJson(name, gssgate::jsonQuoted(name), "jsonQuoted() is not one valid JSON string");
  checkJson(name, gssgate::JwtSigner::jsonString(name),
            "JwtSigner::jsonString() is not one valid JSON string");

  gssgate::LogEvent line("request");
  line.add("principal", name).add("path", name);
  for (unsigned char c : line.text()) {
    FUZZ_CHECK(c >= 0x20 && c < 0x7f, "a log line carries a control or non-ASCII byte");
  }
  auto fields = parseLogText(line.text());
  FUZZ_CHECK(fields && fields->size() == 2 && (*fields)[0].first == "principal" &&
                 (*fields)[1].first == "path",
             "a value forged or hid a field of the log line");
  for (const auto& [key, value] : *fields) {
    auto raw = unprintable(value);
    FUZZ_CHECK(raw && *raw == name, "a log field does not read back as the value");
  }

  const std::string_view realm = gssgate::proxy::realmOf(name);
  FUZZ_CHECK(name.ends_with(realm), "realmOf() is not a suffix of the principal");
  FUZZ_CHECK(gssgate::globMatch("*", name), "'*' does not match every principal");
  FUZZ_CHECK(
      gssgate::globMatch(name.find_first_of("*?\\[") == std::string_view::npos ? name : "*", name),
      "a principal without glob characters does not match itself");
  return 0;
}
