// Credential handles: what a backend presents to the broker to redeem a user's credential.
// A handle is sealed (AES-256-GCM) under a key the broker owns and shares with the proxy over
// the deposit socket, so the proxy can mint a fresh handle for every forwarded request
// without a broker round trip, and nobody else can forge, alter or extend one.
//
//   HandleCodec codec(keyId, key);
//   std::string h = codec.seal({credentialId, "alice@EX.COM", now + 300});
//   std::optional<HandleClaims> c = codec.open(h, now);   // nullopt: forged/expired/other key
//
// Format: "gsh1." + base64url(key_id[4, big-endian] | nonce | ciphertext | tag), plaintext
// = credential_id[16] | expires_at[8, big-endian] | principal. The key id is bound as AAD.
//
// Thread-safety: immutable; safe from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/aead.h"

namespace gssgate {

struct HandleClaims {
  std::string credential_id;  // 16 raw bytes
  std::string principal;
  int64_t expires_at = 0;  // seconds since the epoch
};

class HandleCodec {
 public:
  static constexpr size_t kCredentialIdBytes = 16;
  static constexpr size_t kMaxHandleChars = 1024;

  HandleCodec(uint32_t key_id, std::string_view key) : key_id_(key_id), aead_(key) {}

  uint32_t keyId() const { return key_id_; }
  std::string seal(const HandleClaims& claims) const;
  // Returns the claims of a genuine, unexpired handle (expires_at > now), else nullopt.
  std::optional<HandleClaims> open(std::string_view handle, int64_t now) const;
  // The key id of a handle without opening it (to pick a key), or nullopt if malformed.
  static std::optional<uint32_t> peekKeyId(std::string_view handle);

 private:
  uint32_t key_id_;
  Aead aead_;
};

}  // namespace gssgate
