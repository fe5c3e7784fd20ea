#include "common/aead.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cstdlib>
#include <memory>

namespace gssgate {
namespace {

struct CtxFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CtxFree>;

// OpenSSL works on unsigned char; these two are the only char <-> unsigned char casts.
const unsigned char* bytes(std::string_view s) {
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast)
  return reinterpret_cast<const unsigned char*>(s.data());
}
unsigned char* mutableBytes(std::string& s) {
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast)
  return reinterpret_cast<unsigned char*>(s.data());
}

}  // namespace

std::string randomBytes(size_t n) {
  std::string out(n, '\0');
  if (n != 0 && RAND_bytes(mutableBytes(out), static_cast<int>(n)) != 1) {
    std::abort();  // no safe way to continue without randomness
  }
  return out;
}

SecretString Aead::randomKey() { return SecretString(randomBytes(kKeyBytes)); }

Aead::Aead(std::string_view key) : key_(std::string(key)) {
  if (key.size() != kKeyBytes) std::abort();
}

std::string Aead::seal(std::string_view plaintext, std::string_view associated) const {
  std::string out = randomBytes(kNonceBytes);
  out.resize(kNonceBytes + plaintext.size() + kTagBytes);
  auto* dst = mutableBytes(out);
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  bool ok = ctx &&
            EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, kNonceBytes, nullptr) == 1 &&
            EVP_EncryptInit_ex(ctx.get(), nullptr, nullptr, bytes(key_.str()), dst) == 1 &&
            EVP_EncryptUpdate(ctx.get(), nullptr, &len, bytes(associated),
                              static_cast<int>(associated.size())) == 1 &&
            EVP_EncryptUpdate(ctx.get(), dst + kNonceBytes, &len, bytes(plaintext),
                              static_cast<int>(plaintext.size())) == 1 &&
            EVP_EncryptFinal_ex(ctx.get(), dst + kNonceBytes + len, &len) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagBytes,
                                dst + kNonceBytes + plaintext.size()) == 1;
  if (!ok) std::abort();
  return out;
}

std::optional<SecretString> Aead::open(std::string_view sealed, std::string_view associated) const {
  if (sealed.size() < kOverhead) return std::nullopt;
  const size_t n = sealed.size() - kOverhead;
  SecretString plain(std::string(n, '\0'));
  auto* dst = mutableBytes(plain.mutableStr());
  const auto* src = bytes(sealed);
  std::string tag(sealed.substr(kNonceBytes + n));
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  bool ok = ctx &&
            EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, kNonceBytes, nullptr) == 1 &&
            EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr, bytes(key_.str()), src) == 1 &&
            EVP_DecryptUpdate(ctx.get(), nullptr, &len, bytes(associated),
                              static_cast<int>(associated.size())) == 1 &&
            EVP_DecryptUpdate(ctx.get(), dst, &len, src + kNonceBytes, static_cast<int>(n)) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagBytes, tag.data()) == 1 &&
            EVP_DecryptFinal_ex(ctx.get(), dst + len, &len) == 1;
  if (!ok) return std::nullopt;
  return plain;
}

std::string sha256(std::string_view data) {
  std::string md(EVP_MAX_MD_SIZE, '\0');
  unsigned int len = 0;
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast)
  if (EVP_Digest(data.data(), data.size(), reinterpret_cast<unsigned char*>(md.data()), &len,
                 EVP_sha256(), nullptr) != 1) {
    std::abort();  // only fails when OpenSSL itself is broken
  }
  md.resize(len);
  return md;
}

}  // namespace gssgate
