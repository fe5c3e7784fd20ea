// Signed JWT assertions (compact JWS, RFC 7515/7519) that the proxy puts on upstream requests,
// and the JWKS (RFC 7517) backends verify them against. EdDSA (Ed25519, RFC 8037) or ES256
// (ECDSA P-256 + SHA-256, signature as raw r||s per RFC 7518 §3.4).
//
//   auto signer = JwtSigner::fromPemFile("/etc/gssgate/jwt.pem");   // or generateEd25519()
//   std::string jwt = (*signer)->sign({.iss = "gssgate", .sub = "alice", ..., .jti = newJti()});
//   serveJwks((*signer)->jwks());                        // {"keys":[{"kty":"OKP",...}]}
//
// The key id is the RFC 7638 JWK thumbprint. Claims are always all emitted, in a fixed order:
// iss, sub, aud, iat, nbf (= iat), exp, jti, principal. String claims are JSON-escaped; bytes
// that are not well-formed UTF-8 are replaced, one U+FFFD per byte, so the token is always valid
// JSON but such a string does not round-trip (reject non-UTF-8 names before signing if that
// matters: two different raw names can map to the same claim).
//
// Thread-safety: a JwtSigner is immutable after construction; sign() and the accessors may run
// concurrently from any number of threads (each sign() uses its own EVP context).
#pragma once

#include <openssl/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace gssgate {

struct JwtClaims {
  std::string iss;        // issuer, e.g. "gssgate"
  std::string sub;        // local (mapped) user name
  std::string principal;  // Kerberos principal, as the private claim "principal"
  std::string aud;        // audience
  int64_t iat = 0;        // issued at, seconds since the epoch; also emitted as nbf
  int64_t exp = 0;        // expiry, seconds since the epoch
  std::string jti;        // unique token id; see newJti()
};

// 16 random bytes, base64url (22 characters): a fresh `jti`.
std::string newJti();

class JwtSigner {
 public:
  // Reads an unencrypted PEM private key (PKCS#8 "PRIVATE KEY" or SEC1 "EC PRIVATE KEY"):
  // Ed25519 → EdDSA, EC P-256 → ES256. Anything else (unreadable file, no PEM key, encrypted
  // key, RSA, Ed448, another curve) is an error whose message names the file and what was
  // expected. The file is limited to kMaxPemBytes.
  static absl::StatusOr<std::unique_ptr<JwtSigner>> fromPemFile(const std::string& path);
  // Same, from PEM text; `origin` names its source in error messages.
  static absl::StatusOr<std::unique_ptr<JwtSigner>> fromPem(std::string_view pem,
                                                            std::string_view origin);
  // A fresh random Ed25519 key, for when no key file is configured (aborts if the RNG fails).
  static std::unique_ptr<JwtSigner> generateEd25519();

  // The compact JWS b64url(header).b64url(payload).b64url(signature). Header:
  // {"alg":alg(),"typ":"JWT","kid":kid()}. Aborts only if OpenSSL fails to sign with a key
  // that passed the self-test at construction (out of memory or a broken library).
  std::string sign(const JwtClaims& claims) const;

  const std::string& alg() const { return alg_; }  // "EdDSA" | "ES256"
  const std::string& kid() const { return kid_; }  // RFC 7638 thumbprint (base64url SHA-256)
  // {"kty":"OKP","crv":"Ed25519","x":...,"kid":...,"alg":"EdDSA","use":"sig"} or
  // {"kty":"EC","crv":"P-256","x":...,"y":...,"kid":...,"alg":"ES256","use":"sig"}.
  const std::string& publicJwk() const { return public_jwk_; }
  std::string jwks() const;  // {"keys":[publicJwk()]}

  // RFC 7638 thumbprint of a public JWK given its members (base64url values as in the JWK);
  // `y` is empty for OKP keys.
  static std::string thumbprint(std::string_view kty, std::string_view crv, std::string_view x,
                                std::string_view y);
  // A DER ECDSA-Sig-Value → JOSE raw r||s, each left-padded to `half` bytes; nullopt if `der`
  // is malformed or r/s does not fit. Exposed for tests.
  static std::optional<std::string> ecdsaDerToJose(std::string_view der, size_t half);
  // A JSON string literal (quotes included) for `s`, escaped as described above.
  static std::string jsonString(std::string_view s);

  static constexpr size_t kMaxPemBytes = size_t{64} * 1024;

  struct PkeyFree {
    void operator()(EVP_PKEY* k) const;
  };
  using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

 private:
  struct Private {  // passkey: only the factories construct a JwtSigner
    explicit Private() = default;
  };

 public:
  // Use the factories. `key` is Ed25519 or EC P-256 (`es256` says which); x and y are its
  // public key as base64url JWK members (y empty for Ed25519).
  JwtSigner(Private /*passkey*/, PkeyPtr key, bool es256, std::string_view x, std::string_view y);

 private:
  // Checks the key's public half and self-tests it; `origin` names it in errors.
  static absl::StatusOr<std::unique_ptr<JwtSigner>> fromKey(PkeyPtr key, bool es256,
                                                            std::string_view origin);

  PkeyPtr key_;
  bool es256_ = false;
  std::string alg_;
  std::string kid_;
  std::string public_jwk_;
  std::string header_segment_;  // b64url(header) + "."
};

}  // namespace gssgate
