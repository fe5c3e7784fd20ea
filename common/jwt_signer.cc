#include "common/jwt_signer.h"

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <system_error>
#include <utility>

#include "common/aead.h"
#include "common/base64.h"
#include "common/secure_wipe.h"
#include "common/strings.h"
#include "common/unique_fd.h"

namespace gssgate {
namespace {

struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;
struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
struct BnFree {
  void operator()(BIGNUM* b) const { BN_free(b); }
};
using BnPtr = std::unique_ptr<BIGNUM, BnFree>;
struct EcdsaSigFree {
  void operator()(ECDSA_SIG* s) const { ECDSA_SIG_free(s); }
};
using EcdsaSigPtr = std::unique_ptr<ECDSA_SIG, EcdsaSigFree>;

// OpenSSL works on unsigned char; these two are the only char <-> unsigned char casts.
const unsigned char* bytes(std::string_view s) {
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast)
  return reinterpret_cast<const unsigned char*>(s.data());
}
unsigned char* mutableBytes(std::string& s) {
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast)
  return reinterpret_cast<unsigned char*>(s.data());
}

// OpenSSL's error queue is per thread and read by unrelated later calls (SSL_get_error looks at
// it), so every path here that may fail leaves it empty.
struct ClearErrorsOnExit {
  ClearErrorsOnExit() = default;
  ClearErrorsOnExit(const ClearErrorsOnExit&) = delete;
  ClearErrorsOnExit& operator=(const ClearErrorsOnExit&) = delete;
  ClearErrorsOnExit(ClearErrorsOnExit&&) = delete;
  ClearErrorsOnExit& operator=(ClearErrorsOnExit&&) = delete;
  ~ClearErrorsOnExit() { ERR_clear_error(); }
};

constexpr size_t kCoordinateBytes = 32;  // Ed25519 public key, and each P-256 coordinate
constexpr std::string_view kExpected =
    "expected an unencrypted PEM private key of type Ed25519 (alg EdDSA) or EC P-256 (alg ES256), "
    "e.g. from `openssl genpkey -algorithm ed25519`";

// A PEM passphrase callback that refuses, so an encrypted key fails instead of prompting on the
// terminal (OpenSSL's default); it records that a passphrase was wanted.
int refusePassphrase(char* /*buf*/, int /*size*/, int /*rwflag*/, void* asked) {
  *static_cast<bool*>(asked) = true;
  return -1;
}

// The labels of the PEM blocks in `pem`, for an error message: " (found PEM blocks: X, Y)".
std::string describePemBlocks(std::string_view pem) {
  constexpr std::string_view kBegin = "-----BEGIN ";
  std::string labels;
  for (size_t at = pem.find(kBegin); at != std::string_view::npos; at = pem.find(kBegin, at)) {
    at += kBegin.size();
    const size_t end = pem.find("-----", at);
    if (end == std::string_view::npos || end - at > 64) break;
    labels += labels.empty() ? "" : ", ";
    labels += pem.substr(at, end - at);
  }
  return labels.empty() ? " (the input holds no PEM block)"
                        : strCat(" (found PEM blocks: ", labels, ")");
}

// The length of the well-formed UTF-8 sequence (RFC 3629: no overlongs, no surrogates, at most
// U+10FFFF) at the start of `s`, whose first byte is >= 0x80; 0 if it is not well-formed.
size_t utf8SequenceLength(std::string_view s) {
  const auto at = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char lead = at(0);
  size_t n = 0;
  unsigned char lo = 0x80;  // the range of the second byte
  unsigned char hi = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    n = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    n = 3;
    if (lead == 0xE0) lo = 0xA0;  // overlong
    if (lead == 0xED) hi = 0x9F;  // surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    n = 4;
    if (lead == 0xF0) lo = 0x90;  // overlong
    if (lead == 0xF4) hi = 0x8F;  // above U+10FFFF
  } else {
    return 0;
  }
  if (s.size() < n || at(1) < lo || at(1) > hi) return 0;
  for (size_t i = 2; i < n; ++i) {
    if (at(i) < 0x80 || at(i) > 0xBF) return 0;
  }
  return n;
}

void appendNumberMember(std::string& out, std::string_view name, int64_t value) {
  out += '"';
  out += name;
  out += "\":";
  out += std::to_string(value);
}

void appendStringMember(std::string& out, std::string_view name, std::string_view value) {
  out += '"';
  out += name;
  out += "\":";
  out += JwtSigner::jsonString(value);
}

std::string_view ktyOf(bool es256) { return es256 ? "EC" : "OKP"; }
std::string_view crvOf(bool es256) { return es256 ? "P-256" : "Ed25519"; }

std::string publicJwkJson(bool es256, std::string_view x, std::string_view y, std::string_view kid,
                          std::string_view alg) {
  std::string jwk = "{";
  appendStringMember(jwk, "kty", ktyOf(es256));
  jwk += ',';
  appendStringMember(jwk, "crv", crvOf(es256));
  jwk += ',';
  appendStringMember(jwk, "x", x);
  if (es256) {
    jwk += ',';
    appendStringMember(jwk, "y", y);
  }
  jwk += ',';
  appendStringMember(jwk, "kid", kid);
  jwk += ',';
  appendStringMember(jwk, "alg", alg);
  jwk += R"(,"use":"sig"})";
  return jwk;
}

// b64url({"alg":...,"typ":"JWT","kid":...}) + ".": the same for every token, so built once.
std::string headerSegment(std::string_view alg, std::string_view kid) {
  std::string header = "{";
  appendStringMember(header, "alg", alg);
  header += R"(,"typ":"JWT",)";
  appendStringMember(header, "kid", kid);
  header += '}';
  return base64UrlEncode(header) + ".";
}

// The public key of `key` as base64url JWK members: x (and y for EC), or an error.
absl::StatusOr<std::pair<std::string, std::string>> publicCoordinates(EVP_PKEY* key, bool es256) {
  std::string x(kCoordinateBytes, '\0');
  if (!es256) {
    size_t len = x.size();
    if (EVP_PKEY_get_raw_public_key(key, mutableBytes(x), &len) != 1 || len != x.size()) {
      return absl::InternalError("cannot read the Ed25519 public key");
    }
    return std::pair{base64UrlEncode(x), std::string()};
  }
  std::string y(kCoordinateBytes, '\0');
  BIGNUM* raw_x = nullptr;
  BIGNUM* raw_y = nullptr;
  const bool got_x = EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, &raw_x) == 1;
  const BnPtr bn_x(raw_x);
  const bool got_y = EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, &raw_y) == 1;
  const BnPtr bn_y(raw_y);
  if (!got_x || !got_y ||
      BN_bn2binpad(bn_x.get(), mutableBytes(x), static_cast<int>(x.size())) < 0 ||
      BN_bn2binpad(bn_y.get(), mutableBytes(y), static_cast<int>(y.size())) < 0) {
    return absl::InternalError("cannot read the P-256 public key");
  }
  return std::pair{base64UrlEncode(x), base64UrlEncode(y)};
}

// Signs `input` with `key`: the raw 64-byte signature for Ed25519, DER for ECDSA. An empty
// result means OpenSSL failed.
std::string signWithOpenSsl(EVP_PKEY* key, bool es256, std::string_view input) {
  ClearErrorsOnExit clear;
  MdCtx ctx(EVP_MD_CTX_new());
  // Ed25519 is a one-shot algorithm: no digest here, and EVP_DigestSign (not Update/Final).
  if (!ctx ||
      EVP_DigestSignInit(ctx.get(), nullptr, es256 ? EVP_sha256() : nullptr, nullptr, key) != 1) {
    return {};
  }
  std::string sig(static_cast<size_t>(EVP_PKEY_get_size(key)), '\0');
  size_t len = sig.size();
  if (EVP_DigestSign(ctx.get(), mutableBytes(sig), &len, bytes(input), input.size()) != 1) {
    return {};
  }
  sig.resize(len);
  return sig;
}

// Verifies a signature as produced by signWithOpenSsl (the construction self-test).
bool verifyWithOpenSsl(EVP_PKEY* key, bool es256, std::string_view input, std::string_view sig) {
  ClearErrorsOnExit clear;
  MdCtx ctx(EVP_MD_CTX_new());
  return ctx &&
         EVP_DigestVerifyInit(ctx.get(), nullptr, es256 ? EVP_sha256() : nullptr, nullptr, key) ==
             1 &&
         EVP_DigestVerify(ctx.get(), bytes(sig), sig.size(), bytes(input), input.size()) == 1;
}

}  // namespace

void JwtSigner::PkeyFree::operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }

std::string newJti() { return base64UrlEncode(randomBytes(16)); }

absl::StatusOr<std::unique_ptr<JwtSigner>> JwtSigner::fromPemFile(const std::string& path) {
  const UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    const int err = errno;
    const std::string message = strCat(path, ": cannot open the JWT signing key (",
                                       std::generic_category().message(err), "); ", kExpected);
    return err == ENOENT ? absl::NotFoundError(message) : absl::FailedPreconditionError(message);
  }
  // Read one byte past the limit to tell "exactly at the limit" from "too large".
  SecretString pem(std::string(kMaxPemBytes + 1, '\0'));
  size_t got = 0;
  while (got < pem.size()) {
    const ssize_t n = ::read(fd.get(), mutableBytes(pem.mutableStr()) + got, pem.size() - got);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::FailedPreconditionError(strCat(path, ": cannot read the JWT signing key (",
                                                  std::generic_category().message(errno), "); ",
                                                  kExpected));
    }
    got += static_cast<size_t>(n);
  }
  if (got > kMaxPemBytes) {
    return absl::InvalidArgumentError(
        strCat(path, ": larger than ", kMaxPemBytes, " bytes, not a PEM private key; ", kExpected));
  }
  const std::string_view text = pem.str();
  return fromPem(text.substr(0, got), path);
}

absl::StatusOr<std::unique_ptr<JwtSigner>> JwtSigner::fromPem(std::string_view pem,
                                                              std::string_view origin) {
  ClearErrorsOnExit clear;
  if (pem.size() > kMaxPemBytes) {
    return absl::InvalidArgumentError(strCat(origin, ": larger than ", kMaxPemBytes,
                                             " bytes, not a PEM private key; ", kExpected));
  }
  const BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return absl::ResourceExhaustedError("BIO_new_mem_buf failed");
  bool asked = false;
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, &refusePassphrase, &asked));
  if (!key) {
    if (asked || pem.find("ENCRYPTED") != std::string_view::npos) {
      return absl::InvalidArgumentError(
          strCat(origin, ": the JWT signing key is encrypted (needs a passphrase); ", kExpected));
    }
    return absl::InvalidArgumentError(
        strCat(origin, ": no PEM private key found", describePemBlocks(pem), "; ", kExpected));
  }
  bool es256 = false;
  if (EVP_PKEY_is_a(key.get(), "EC") == 1) {
    std::array<char, 80> group{};
    size_t len = 0;
    if (EVP_PKEY_get_group_name(key.get(), group.data(), group.size(), &len) != 1) {
      return absl::InvalidArgumentError(
          strCat(origin, ": the JWT signing key is an EC key without a named curve; ", kExpected));
    }
    const std::string_view name(group.data(), len);
    if (name != "prime256v1" && name != "P-256") {
      return absl::InvalidArgumentError(
          strCat(origin, ": the JWT signing key is an EC key on curve ", name, "; ", kExpected));
    }
    es256 = true;
  } else if (EVP_PKEY_is_a(key.get(), "ED25519") != 1) {
    const char* type = EVP_PKEY_get0_type_name(key.get());
    return absl::InvalidArgumentError(strCat(origin, ": the JWT signing key is of type ",
                                             type != nullptr ? type : "unknown", "; ", kExpected));
  }
  return fromKey(std::move(key), es256, origin);
}

std::unique_ptr<JwtSigner> JwtSigner::generateEd25519() {
  PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  if (!key) std::abort();  // only without randomness or memory
  auto signer = fromKey(std::move(key), false, "generated Ed25519 key");
  if (!signer.ok()) std::abort();
  return *std::move(signer);
}

absl::StatusOr<std::unique_ptr<JwtSigner>> JwtSigner::fromKey(PkeyPtr key, bool es256,
                                                              std::string_view origin) {
  auto xy = publicCoordinates(key.get(), es256);
  if (!xy.ok()) return absl::InvalidArgumentError(strCat(origin, ": ", messageOf(xy.status())));
  // A key file whose stored public half does not match its private half would publish a JWKS
  // nobody can verify against: sign and verify once now rather than fail at every backend.
  constexpr std::string_view kProbe = "gssgate JWT signer self-test";
  const std::string sig = signWithOpenSsl(key.get(), es256, kProbe);
  if (sig.empty() || !verifyWithOpenSsl(key.get(), es256, kProbe, sig)) {
    return absl::InvalidArgumentError(
        strCat(origin, ": the JWT signing key failed a sign/verify self-test (inconsistent key?)"));
  }
  return std::make_unique<JwtSigner>(Private(), std::move(key), es256, xy->first, xy->second);
}

JwtSigner::JwtSigner(Private /*passkey*/, PkeyPtr key, bool es256, std::string_view x,
                     std::string_view y)
    : key_(std::move(key)),
      es256_(es256),
      alg_(es256 ? "ES256" : "EdDSA"),
      kid_(thumbprint(ktyOf(es256), crvOf(es256), x, y)),
      public_jwk_(publicJwkJson(es256, x, y, kid_, alg_)),
      header_segment_(headerSegment(alg_, kid_)) {}

std::string JwtSigner::sign(const JwtClaims& claims) const {
  std::string payload = "{";
  appendStringMember(payload, "iss", claims.iss);
  payload += ',';
  appendStringMember(payload, "sub", claims.sub);
  payload += ',';
  appendStringMember(payload, "aud", claims.aud);
  payload += ',';
  appendNumberMember(payload, "iat", claims.iat);
  payload += ',';
  appendNumberMember(payload, "nbf", claims.iat);
  payload += ',';
  appendNumberMember(payload, "exp", claims.exp);
  payload += ',';
  appendStringMember(payload, "jti", claims.jti);
  payload += ',';
  appendStringMember(payload, "principal", claims.principal);
  payload += '}';

  std::string token = header_segment_ + base64UrlEncode(payload);
  std::string sig = signWithOpenSsl(key_.get(), es256_, token);
  if (sig.empty()) std::abort();  // the key passed the self-test: OpenSSL itself is failing
  if (es256_) {
    auto raw = ecdsaDerToJose(sig, kCoordinateBytes);
    if (!raw) std::abort();
    sig = *std::move(raw);
  }
  token += '.';
  token += base64UrlEncode(sig);
  return token;
}

std::string JwtSigner::jwks() const { return strCat(R"({"keys":[)", public_jwk_, "]}"); }

std::string JwtSigner::thumbprint(std::string_view kty, std::string_view crv, std::string_view x,
                                  std::string_view y) {
  // RFC 7638 §3: the required members only, in lexicographic order, no whitespace.
  std::string canonical = "{";
  appendStringMember(canonical, "crv", crv);
  canonical += ',';
  appendStringMember(canonical, "kty", kty);
  canonical += ',';
  appendStringMember(canonical, "x", x);
  if (!y.empty()) {
    canonical += ',';
    appendStringMember(canonical, "y", y);
  }
  canonical += '}';
  return base64UrlEncode(sha256(canonical));
}

std::optional<std::string> JwtSigner::ecdsaDerToJose(std::string_view der, size_t half) {
  ClearErrorsOnExit clear;
  const unsigned char* p = bytes(der);
  const EcdsaSigPtr sig(
      d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size())));  // NOLINT(google-runtime-int)
  if (!sig || p != bytes(der) + der.size()) return std::nullopt;   // malformed or trailing bytes
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig.get(), &r, &s);
  std::string out(2 * half, '\0');
  if (BN_bn2binpad(r, mutableBytes(out), static_cast<int>(half)) < 0 ||
      BN_bn2binpad(s, mutableBytes(out) + half, static_cast<int>(half)) < 0) {
    return std::nullopt;
  }
  return out;
}

std::string JwtSigner::jsonString(std::string_view s) {
  constexpr std::string_view kHex = "0123456789abcdef";
  std::string out;
  out.reserve(s.size() + 2);
  out += '"';
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      const size_t n = utf8SequenceLength(s.substr(i));
      if (n == 0) {
        out += "\\ufffd";  // not UTF-8: one replacement character per offending byte
        ++i;
      } else {
        out += s.substr(i, n);
        i += n;
      }
      continue;
    }
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += kHex[c >> 4U];
          out += kHex[c & 0xFU];
        } else {
          out += static_cast<char>(c);
        }
    }
    ++i;
  }
  out += '"';
  return out;
}

}  // namespace gssgate
