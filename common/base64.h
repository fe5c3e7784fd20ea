// Strict base64 (RFC 4648 §4) and base64url (§5) codecs.
//
//   auto bytes = base64Decode(headerValue);            // std::nullopt on any malformation
//   std::string text = base64Encode(token);
//
// The decoders reject anything that is not canonical: characters outside the alphabet,
// whitespace, missing or misplaced padding, and non-zero bits in the final partial group, so a
// given byte string has exactly one accepted encoding. Thread-safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace gssgate {

std::string base64Encode(std::string_view bytes);
std::optional<std::string> base64Decode(std::string_view text);

// base64url without padding (as used in JWTs and cookies).
std::string base64UrlEncode(std::string_view bytes);
std::optional<std::string> base64UrlDecode(std::string_view text);

}  // namespace gssgate
