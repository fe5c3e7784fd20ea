// The session cookie: after one successful sign-in the proxy hands the client an encrypted,
// authenticated cookie that carries who the user is until it expires, so later requests need
// no GSS call and no broker RPC.
//
//   auto keys = SessionKeys::load("/etc/gssgate/session.keys");   // StatusOr; or generated()
//   SessionCodec codec(*keys);
//   std::string value = codec.seal(session);                       // the cookie's value
//   std::optional<Session> s = codec.open(value, now);             // nullopt: ignore the cookie
//
// Value = base64url(key_id[4] | nonce[12] | ciphertext | tag[16]), AES-256-GCM with the key id
// and a version label bound as associated data. Plaintext = version[1] | issued_at[8] |
// expires_at[8] | session_id[8] | flags[1] | (credential: handle_key_id[4] |
// credential_id[16] | credential_expires_at[8]) | principal_len[2] | principal |
// local_len[2] | local_name; integers big-endian. Keys: the first seals, every key opens (so a
// key can be rotated: add the new one first, drop the old one a lifetime later).
//
// Thread-safety: SessionKeys and SessionCodec are immutable; safe from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/aead.h"

namespace gssgate::proxy {

struct Session {
  std::string principal;
  std::string local_name;
  int64_t issued_at = 0;
  int64_t expires_at = 0;  // seconds since the epoch; the cookie is ignored from then on
  std::string session_id;  // 8 random bytes: names the session for logout/revocation
  // The credential deposited with the broker at sign-in, if any.
  std::string credential_id;  // 16 raw bytes; empty = none
  int64_t credential_expires_at = 0;
  uint32_t handle_key_id = 0;  // broker key that mints handles for it

  bool hasCredential() const { return !credential_id.empty(); }
};

class SessionKeys {
 public:
  // One key per line, base64 of 32 random bytes (`openssl rand -base64 32`); blank lines and
  // lines starting with '#' are skipped. Errors name the file and line.
  static absl::StatusOr<std::shared_ptr<const SessionKeys>> load(const std::string& file);
  static absl::StatusOr<std::shared_ptr<const SessionKeys>> parse(std::string_view text,
                                                                  std::string_view origin);
  // A random key made once per process and kept across reloads: sessions end on restart.
  static std::shared_ptr<const SessionKeys> generated();

  struct Key {
    uint32_t id;  // first 4 bytes of SHA-256 over a label and the key
    Aead aead;
  };
  const std::vector<Key>& keys() const { return keys_; }

 private:
  std::vector<Key> keys_;
};

class SessionCodec {
 public:
  static constexpr size_t kMaxCookieChars = 3072;
  static constexpr size_t kSessionIdBytes = 8;
  static constexpr size_t kCredentialIdBytes = 16;

  explicit SessionCodec(std::shared_ptr<const SessionKeys> keys)
      : keys_(std::move(keys)), id_(nextId()) {}

  // Unique per codec ever made in this process (caches tag what they decrypted with it).
  uint64_t id() const { return id_; }

  std::string seal(const Session& s) const;
  // The session of a genuine cookie that has not expired (expires_at > now), else nullopt:
  // forged, truncated, altered, expired, made with an unknown key, or from another version.
  std::optional<Session> open(std::string_view value, int64_t now) const;

 private:
  static uint64_t nextId();
  std::shared_ptr<const SessionKeys> keys_;
  uint64_t id_;
};

// Cookie header helpers (RFC 6265 §4.2: "name=value; name2=value2").
// The value of cookie `name` in one Cookie header value, if present (first occurrence).
std::optional<std::string_view> findCookie(std::string_view header, std::string_view name);
// Every value of cookie `name` in one Cookie header value, in order.
std::vector<std::string_view> findCookies(std::string_view header, std::string_view name);
// `header` without any `name=...` pair; "" when nothing else is left.
std::string removeCookie(std::string_view header, std::string_view name);

}  // namespace gssgate::proxy
