// AES-256-GCM authenticated encryption (OpenSSL EVP) for small messages: broker handles now,
// session cookies later. A random 96-bit nonce per message; output = nonce | ciphertext | tag.
//
//   auto key = Aead::randomKey();
//   Aead aead(key);
//   std::string sealed = aead.seal(plaintext, "context label");
//   std::optional<SecretString> back = aead.open(sealed, "context label");  // nullopt if forged
//
// Thread-safety: an Aead is immutable; seal/open may run concurrently (each call uses its own
// EVP context).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/secure_wipe.h"

namespace gssgate {

class Aead {
 public:
  static constexpr size_t kKeyBytes = 32;
  static constexpr size_t kNonceBytes = 12;
  static constexpr size_t kTagBytes = 16;
  static constexpr size_t kOverhead = kNonceBytes + kTagBytes;

  // `key` must be kKeyBytes long (checked: a wrong size aborts, it is a programming error).
  explicit Aead(std::string_view key);

  // Encrypts `plaintext`, binding `associated` (not encrypted, must match on open).
  std::string seal(std::string_view plaintext, std::string_view associated) const;
  // Decrypts; nullopt for anything not produced by seal() with this key and `associated`.
  std::optional<SecretString> open(std::string_view sealed, std::string_view associated) const;

  static SecretString randomKey();

 private:
  SecretString key_;
};

// Cryptographically random bytes (OpenSSL RAND_bytes); aborts if the RNG fails.
std::string randomBytes(size_t n);

// SHA-256 of `data` (32 raw bytes).
std::string sha256(std::string_view data);

}  // namespace gssgate
