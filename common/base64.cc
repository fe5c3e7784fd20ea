#include "common/base64.h"

#include <array>
#include <cstdint>

#include "common/secure_wipe.h"

namespace gssgate {
namespace {

constexpr std::string_view kStd =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::string_view kUrl =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

constexpr uint32_t kSixBits = 0x3FU;
constexpr uint32_t kByte = 0xFFU;

using Table = std::array<int8_t, 256>;

constexpr Table makeTable(std::string_view alphabet) {
  Table t{};
  for (auto& v : t) v = -1;
  for (size_t i = 0; i < alphabet.size(); ++i) {
    t.at(static_cast<unsigned char>(alphabet[i])) = static_cast<int8_t>(i);
  }
  return t;
}

constexpr Table kStdTable = makeTable(kStd);
constexpr Table kUrlTable = makeTable(kUrl);

std::string encode(std::string_view in, std::string_view alphabet, bool pad) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  auto byte = [&](size_t k) { return static_cast<uint32_t>(static_cast<unsigned char>(in[k])); };
  auto sextet = [&](uint32_t group, unsigned shift) {
    return alphabet[(group >> shift) & kSixBits];
  };
  size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    const uint32_t v = (byte(i) << 16U) | (byte(i + 1) << 8U) | byte(i + 2);
    out += sextet(v, 18);
    out += sextet(v, 12);
    out += sextet(v, 6);
    out += sextet(v, 0);
  }
  const size_t rest = in.size() - i;
  if (rest == 1) {
    const uint32_t v = byte(i) << 16U;
    out += sextet(v, 18);
    out += sextet(v, 12);
    if (pad) out += "==";
  } else if (rest == 2) {
    const uint32_t v = (byte(i) << 16U) | (byte(i + 1) << 8U);
    out += sextet(v, 18);
    out += sextet(v, 12);
    out += sextet(v, 6);
    if (pad) out += '=';
  }
  return out;
}

// Decodes `in` (padding already removed); a length of 4n+1 can never be valid. Decoded bytes
// are usually tokens, so a half-decoded buffer is wiped before it is dropped. Works a group of
// four characters at a time into a buffer sized up front (Negotiate tokens are 1-64 KiB, and
// this runs on every sign-in).
std::optional<std::string> decode(std::string_view in, const Table& table) {
  if (in.size() % 4 == 1) return std::nullopt;
  const size_t full = in.size() / 4;
  const size_t rest = in.size() % 4;  // 0, 2 or 3 characters: 0, 1 or 2 more bytes
  std::string out(full * 3 + (rest == 0 ? 0 : rest - 1), '\0');
  auto* dst = reinterpret_cast<unsigned char*>(out.data());
  const auto* src = reinterpret_cast<const unsigned char*>(in.data());
  // Every table entry is 0..63 or -1; OR-ing the signed values of a group is negative iff one
  // of them is invalid, so the loop has no branch per character.
  int32_t bad = 0;
  auto six = [](int32_t x) { return static_cast<uint32_t>(x) & kSixBits; };
  for (size_t g = 0; g < full; ++g, src += 4, dst += 3) {
    const int32_t a = table[src[0]], b = table[src[1]], c = table[src[2]], d = table[src[3]];
    bad |= a | b | c | d;
    const uint32_t v = (six(a) << 18U) | (six(b) << 12U) | (six(c) << 6U) | six(d);
    dst[0] = static_cast<unsigned char>(v >> 16U);
    dst[1] = static_cast<unsigned char>((v >> 8U) & kByte);
    dst[2] = static_cast<unsigned char>(v & kByte);
  }
  bool canonical = true;
  if (rest >= 2) {
    const int32_t a = table[src[0]], b = table[src[1]];
    const int32_t c = rest == 3 ? table[src[2]] : 0;
    bad |= a | b | c;
    const uint32_t v = (six(a) << 18U) | (six(b) << 12U) | (six(c) << 6U);
    dst[0] = static_cast<unsigned char>(v >> 16U);
    if (rest == 3) dst[1] = static_cast<unsigned char>((v >> 8U) & kByte);
    // Leftover bits must be zero for the encoding to be canonical.
    canonical = (v & (rest == 3 ? 0xFFU : 0xFFFFU)) == 0;
  }
  if (bad < 0 || !canonical) {
    secureWipe(out);
    return std::nullopt;
  }
  return out;
}

}  // namespace

std::string base64Encode(std::string_view bytes) { return encode(bytes, kStd, true); }
std::string base64UrlEncode(std::string_view bytes) { return encode(bytes, kUrl, false); }

std::optional<std::string> base64Decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  // Padding is "=" or "==" at the very end; any other '=' is left in and rejected by decode().
  size_t padding = 0;
  if (text.ends_with("==")) {
    padding = 2;
  } else if (text.ends_with('=')) {
    padding = 1;
  }
  return decode(text.substr(0, text.size() - padding), kStdTable);
}

std::optional<std::string> base64UrlDecode(std::string_view text) {
  return decode(text, kUrlTable);
}

}  // namespace gssgate
