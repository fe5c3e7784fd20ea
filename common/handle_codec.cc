#include "common/handle_codec.h"

#include "common/base64.h"

namespace gssgate {
namespace {

constexpr std::string_view kPrefix = "gsh1.";

std::string be32(uint32_t v) {
  std::string s(4, '\0');
  for (unsigned i = 0; i < 4; ++i) s[i] = static_cast<char>((v >> (24U - 8U * i)) & 0xFFU);
  return s;
}

std::string associated(uint32_t key_id) { return "gssgate handle v1|" + be32(key_id); }

}  // namespace

std::string HandleCodec::seal(const HandleClaims& claims) const {
  SecretString plain(claims.credential_id);
  auto& p = plain.mutableStr();
  auto exp = static_cast<uint64_t>(claims.expires_at);
  for (unsigned i = 0; i < 8; ++i) p += static_cast<char>((exp >> (56U - 8U * i)) & 0xFFU);
  p += claims.principal;
  return std::string(kPrefix) + base64UrlEncode(be32(key_id_) + aead_.seal(p, associated(key_id_)));
}

std::optional<uint32_t> HandleCodec::peekKeyId(std::string_view handle) {
  if (handle.size() > kMaxHandleChars || !handle.starts_with(kPrefix)) return std::nullopt;
  auto raw = base64UrlDecode(handle.substr(kPrefix.size()));
  if (!raw || raw->size() < 4 + Aead::kOverhead) return std::nullopt;
  uint32_t id = 0;
  for (int i = 0; i < 4; ++i) id = (id << 8) | static_cast<uint8_t>((*raw)[i]);
  return id;
}

std::optional<HandleClaims> HandleCodec::open(std::string_view handle, int64_t now) const {
  auto id = peekKeyId(handle);
  if (!id || *id != key_id_) return std::nullopt;
  auto raw = base64UrlDecode(handle.substr(kPrefix.size()));
  const std::string_view sealed = *raw;
  auto plain = aead_.open(sealed.substr(4), associated(key_id_));
  if (!plain || plain->size() < kCredentialIdBytes + 8) return std::nullopt;
  const std::string& p = plain->str();
  HandleClaims c;
  c.credential_id = p.substr(0, kCredentialIdBytes);
  uint64_t exp = 0;
  for (size_t i = 0; i < 8; ++i) exp = (exp << 8) | static_cast<uint8_t>(p[kCredentialIdBytes + i]);
  c.expires_at = static_cast<int64_t>(exp);
  c.principal = p.substr(kCredentialIdBytes + 8);
  if (c.expires_at <= now) return std::nullopt;
  return c;
}

}  // namespace gssgate
