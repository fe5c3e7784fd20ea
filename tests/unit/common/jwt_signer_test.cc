#include "common/jwt_signer.h"

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/pem.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/base64.h"
#include "common/strings.h"

namespace gssgate {
namespace {

using namespace std::string_literals;

// ---- OpenSSL owners and helpers for the test's independent checks ----

struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* c) const { EVP_PKEY_CTX_free(c); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct EcdsaSigFree {
  void operator()(ECDSA_SIG* s) const { ECDSA_SIG_free(s); }
};

const unsigned char* bytes(std::string_view s) {
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast)
  return reinterpret_cast<const unsigned char*>(s.data());
}

enum class Pem { kPkcs8, kTraditional, kEncrypted };

std::string toPem(EVP_PKEY* key, Pem format = Pem::kPkcs8) {
  std::unique_ptr<BIO, BioFree> bio(BIO_new(BIO_s_mem()));
  int ok = 0;
  switch (format) {
    case Pem::kPkcs8:
      ok = PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
      break;
    case Pem::kTraditional:
      ok = PEM_write_bio_PrivateKey_traditional(bio.get(), key, nullptr, nullptr, 0, nullptr,
                                                nullptr);
      break;
    case Pem::kEncrypted: {
      std::string pass = "passphrase";
      ok = PEM_write_bio_PKCS8PrivateKey(bio.get(), key, EVP_aes_256_cbc(), pass.data(),
                                         static_cast<int>(pass.size()), nullptr, nullptr);
      break;
    }
  }
  EXPECT_EQ(ok, 1);
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);  // NOLINT(google-runtime-int)
  return {data, static_cast<size_t>(len)};
}

std::string publicPem(EVP_PKEY* key) {
  std::unique_ptr<BIO, BioFree> bio(BIO_new(BIO_s_mem()));
  EXPECT_EQ(PEM_write_bio_PUBKEY(bio.get(), key), 1);
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);  // NOLINT(google-runtime-int)
  return {data, static_cast<size_t>(len)};
}

Pkey ed25519Key() { return Pkey(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519")); }
Pkey ecKey(const char* curve) { return Pkey(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", curve)); }

// A file in the test temp dir, removed at scope exit.
class TempFile {
 public:
  explicit TempFile(std::string_view contents) {
    static std::atomic<int> counter{0};
    path_ = strCat(::testing::TempDir(), "gssgate-jwt-signer-test-", ::getpid(), "-", counter++,
                   ".pem");
    std::ofstream(path_, std::ios::binary) << contents;
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile() {
    std::error_code ignored;
    std::filesystem::remove(path_, ignored);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::unique_ptr<JwtSigner> signerFromFile(const std::string& pem) {
  const TempFile file(pem);
  auto signer = JwtSigner::fromPemFile(file.path());
  EXPECT_TRUE(signer.ok()) << signer.status();
  return signer.ok() ? *std::move(signer) : nullptr;
}

// The string value of member `name` in the flat JSON object `json` (no escapes expected).
std::string member(std::string_view json, std::string_view name) {
  const std::string key = strCat("\"", name, "\":\"");
  const size_t at = json.find(key);
  if (at == std::string_view::npos) return {};
  const size_t start = at + key.size();
  return std::string(json.substr(start, json.find('"', start) - start));
}

// The public key described by a JWK, rebuilt independently of the signer.
Pkey keyFromJwk(std::string_view jwk) {
  const auto x = base64UrlDecode(member(jwk, "x"));
  if (!x || x->size() != 32) return nullptr;
  if (member(jwk, "kty") == "OKP") {
    return Pkey(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, bytes(*x), x->size()));
  }
  const auto y = base64UrlDecode(member(jwk, "y"));
  if (!y || y->size() != 32) return nullptr;
  std::string point = "\x04"s + *x + *y;  // SEC1 uncompressed point
  std::string group = "prime256v1";
  std::array<OSSL_PARAM, 3> params = {
      OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group.data(), 0),
      OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()),
      OSSL_PARAM_construct_end()};
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> ctx(
      EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  EVP_PKEY* key = nullptr;
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &key, EVP_PKEY_PUBLIC_KEY, params.data()) != 1) {
    return nullptr;
  }
  return Pkey(key);
}

// JOSE r||s → DER, independently of the signer.
std::string joseToDer(std::string_view raw) {
  std::unique_ptr<ECDSA_SIG, EcdsaSigFree> sig(ECDSA_SIG_new());
  BIGNUM* r = BN_bin2bn(bytes(raw), 32, nullptr);
  BIGNUM* s = BN_bin2bn(bytes(raw) + 32, 32, nullptr);
  EXPECT_EQ(ECDSA_SIG_set0(sig.get(), r, s), 1);
  unsigned char* der = nullptr;
  const int len = i2d_ECDSA_SIG(sig.get(), &der);
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast)
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  return out;
}

struct Parts {
  std::string header_b64, payload_b64, sig_b64;
  std::string header, payload, sig;  // decoded
};

Parts split(const std::string& jwt) {
  Parts p;
  const size_t dot1 = jwt.find('.');
  const size_t dot2 = jwt.find('.', dot1 + 1);
  EXPECT_NE(dot1, std::string::npos);
  EXPECT_NE(dot2, std::string::npos);
  EXPECT_EQ(jwt.find('.', dot2 + 1), std::string::npos) << "more than 3 segments";
  p.header_b64 = jwt.substr(0, dot1);
  p.payload_b64 = jwt.substr(dot1 + 1, dot2 - dot1 - 1);
  p.sig_b64 = jwt.substr(dot2 + 1);
  p.header = base64UrlDecode(p.header_b64).value_or("<bad base64url>");
  p.payload = base64UrlDecode(p.payload_b64).value_or("<bad base64url>");
  p.sig = base64UrlDecode(p.sig_b64).value_or("<bad base64url>");
  return p;
}

// Verifies header.payload against sig with the key published in `jwk`.
bool verifies(std::string_view jwk, std::string_view signing_input, std::string_view sig) {
  const Pkey key = keyFromJwk(jwk);
  if (!key) return false;
  const bool ec = member(jwk, "kty") == "EC";
  if (ec && sig.size() != 64) return false;
  const std::string der = ec ? joseToDer(sig) : std::string(sig);
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  return EVP_DigestVerifyInit(ctx.get(), nullptr, ec ? EVP_sha256() : nullptr, nullptr,
                              key.get()) == 1 &&
         EVP_DigestVerify(ctx.get(), bytes(der), der.size(), bytes(signing_input),
                          signing_input.size()) == 1;
}

bool verifiesJwt(const JwtSigner& signer, const std::string& jwt) {
  const Parts p = split(jwt);
  return verifies(signer.publicJwk(), p.header_b64 + "." + p.payload_b64, p.sig);
}

JwtClaims sampleClaims() {
  JwtClaims c;
  c.iss = "gssgate";
  c.sub = "alice";
  c.principal = "alice@EXAMPLE.COM";
  c.aud = "https://app.example.com";
  c.iat = 1'700'000'000;
  c.exp = 1'700'000'060;
  c.jti = "AAECAwQFBgcICQoLDA0ODw";
  return c;
}

constexpr std::string_view kSamplePayload =
    R"({"iss":"gssgate","sub":"alice","aud":"https://app.example.com","iat":1700000000,)"
    R"("nbf":1700000000,"exp":1700000060,"jti":"AAECAwQFBgcICQoLDA0ODw",)"
    R"("principal":"alice@EXAMPLE.COM"})";

// ---- Both key types through the same checks ----

struct KeyCase {
  const char* name;
  std::function<Pkey()> make;
  Pem format;
  const char* alg;
  const char* kty;
  const char* crv;
};

// gtest would otherwise print the struct's bytes, padding included.
void PrintTo(const KeyCase& c, std::ostream* os) { *os << c.name; }

class JwtSignerKeyTest : public ::testing::TestWithParam<KeyCase> {
 protected:
  void SetUp() override {
    signer_ = signerFromFile(toPem(GetParam().make().get(), GetParam().format));
    ASSERT_NE(signer_, nullptr);
  }
  std::unique_ptr<JwtSigner> signer_;
};

TEST_P(JwtSignerKeyTest, TokenHasExactHeaderAndPayloadAndAVerifyingSignature) {
  EXPECT_EQ(signer_->alg(), GetParam().alg);
  const std::string jwt = signer_->sign(sampleClaims());
  const Parts p = split(jwt);
  EXPECT_EQ(p.header, strCat(R"({"alg":")", GetParam().alg, R"(","typ":"JWT","kid":")",
                             signer_->kid(), R"("})"));
  EXPECT_EQ(p.payload, kSamplePayload);
  EXPECT_EQ(p.sig.size(), 64U);  // Ed25519, and ES256 as raw r||s (not DER)
  EXPECT_TRUE(verifies(signer_->publicJwk(), p.header_b64 + "." + p.payload_b64, p.sig));
  // Every segment is unpadded base64url.
  EXPECT_EQ(
      jwt.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."),
      std::string::npos);
}

TEST_P(JwtSignerKeyTest, ModifiedPayloadOrSignatureFailsVerification) {
  const Parts p = split(signer_->sign(sampleClaims()));
  const std::string input = p.header_b64 + "." + p.payload_b64;
  ASSERT_TRUE(verifies(signer_->publicJwk(), input, p.sig));

  std::string payload = p.payload;
  payload.replace(payload.find("alice"), 5, "admin");
  EXPECT_FALSE(
      verifies(signer_->publicJwk(), p.header_b64 + "." + base64UrlEncode(payload), p.sig));
  std::string sig = p.sig;
  sig[10] = static_cast<char>(static_cast<unsigned char>(sig[10]) ^ 0x01U);
  EXPECT_FALSE(verifies(signer_->publicJwk(), input, sig));
  // Another key of the same type does not verify it.
  const auto other = signerFromFile(toPem(GetParam().make().get()));
  ASSERT_NE(other, nullptr);
  EXPECT_FALSE(verifies(other->publicJwk(), input, p.sig));
}

TEST_P(JwtSignerKeyTest, PublicJwkAndJwksAreExactAndKidIsTheThumbprint) {
  const std::string& jwk = signer_->publicJwk();
  const std::string x = member(jwk, "x");
  const std::string y = member(jwk, "y");
  const bool ec = std::string_view(GetParam().kty) == "EC";
  EXPECT_EQ(x.size(), 43U);
  EXPECT_EQ(y.size(), ec ? 43U : 0U);
  const std::string expected =
      ec ? strCat(R"({"kty":"EC","crv":"P-256","x":")", x, R"(","y":")", y, R"(","kid":")",
                  signer_->kid(), R"(","alg":"ES256","use":"sig"})")
         : strCat(R"({"kty":"OKP","crv":"Ed25519","x":")", x, R"(","kid":")", signer_->kid(),
                  R"(","alg":"EdDSA","use":"sig"})");
  EXPECT_EQ(jwk, expected);
  EXPECT_EQ(signer_->jwks(), strCat(R"({"keys":[)", expected, "]}"));
  EXPECT_EQ(signer_->kid(), JwtSigner::thumbprint(GetParam().kty, GetParam().crv, x, y));
  EXPECT_EQ(signer_->kid().size(), 43U);  // base64url of 32 bytes
}

TEST_P(JwtSignerKeyTest, ManySignaturesVerify) {
  // For ES256, about 1 in 128 signatures has an r or s with a leading zero byte: this exercises
  // the left-padding of the raw form on real signatures.
  JwtClaims claims = sampleClaims();
  for (int i = 0; i < 200; ++i) {
    claims.jti = newJti();
    const std::string jwt = signer_->sign(claims);
    ASSERT_TRUE(verifiesJwt(*signer_, jwt)) << i << ": " << jwt;
  }
}

TEST_P(JwtSignerKeyTest, ConcurrentSigningFromSeveralThreads) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 50;
  std::vector<std::vector<std::string>> tokens(kThreads);
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      JwtClaims claims = sampleClaims();
      claims.sub = strCat("user", t);
      for (int i = 0; i < kPerThread; ++i) tokens[t].push_back(signer_->sign(claims));
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_EQ(tokens[t].size(), static_cast<size_t>(kPerThread));
    for (const auto& jwt : tokens[t]) {
      ASSERT_TRUE(verifiesJwt(*signer_, jwt));
      EXPECT_NE(split(jwt).payload.find(strCat("\"sub\":\"user", t, "\"")), std::string::npos);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(JwtKeys, JwtSignerKeyTest,
                         ::testing::Values(KeyCase{"Ed25519", ed25519Key, Pem::kPkcs8, "EdDSA",
                                                   "OKP", "Ed25519"},
                                           KeyCase{"P256", [] { return ecKey("P-256"); },
                                                   Pem::kPkcs8, "ES256", "EC", "P-256"},
                                           KeyCase{"P256Sec1", [] { return ecKey("P-256"); },
                                                   Pem::kTraditional, "ES256", "EC", "P-256"}),
                         [](const auto& test) { return std::string(test.param.name); });

// ---- Claims encoding ----

TEST(JwtSignerTest, PrincipalWithQuoteBackslashNewlineAndNonUtf8ByteIsValidJson) {
  const auto signer = JwtSigner::generateEd25519();
  JwtClaims claims = sampleClaims();
  claims.principal =
      "a\"b\\c\nd\xff"
      "e@EXAMPLE.COM";
  const Parts p = split(signer->sign(claims));
  EXPECT_EQ(p.payload,
            R"({"iss":"gssgate","sub":"alice","aud":"https://app.example.com","iat":1700000000,)"
            R"("nbf":1700000000,"exp":1700000060,"jti":"AAECAwQFBgcICQoLDA0ODw",)"
            R"("principal":"a\"b\\c\nd\ufffde@EXAMPLE.COM"})");
  EXPECT_TRUE(verifiesJwt(*signer, signer->sign(claims)));
}

TEST(JwtSignerTest, JsonStringEscapesControlsAndKeepsWellFormedUtf8) {
  EXPECT_EQ(JwtSigner::jsonString(""), R"("")");
  EXPECT_EQ(JwtSigner::jsonString("plain/text 'ok'"), R"("plain/text 'ok'")");
  EXPECT_EQ(JwtSigner::jsonString("\"\\\b\f\n\r\t"), R"("\"\\\b\f\n\r\t")");
  EXPECT_EQ(JwtSigner::jsonString("\x01\x1f\x7f"s + '\0'), "\"\\u0001\\u001f\x7f\\u0000\"");
  // Well-formed UTF-8 (2, 3 and 4 bytes, including the extremes) passes through unchanged.
  for (const std::string s : {"J\xc3\xbcrgen", "\xe2\x82\xac", "\xf0\x9f\x94\x91", "\xc2\x80",
                              "\xef\xbf\xbf", "\xf4\x8f\xbf\xbf", "\xed\x9f\xbf"}) {
    EXPECT_EQ(JwtSigner::jsonString(s), "\"" + s + "\"") << s;
  }
}

TEST(JwtSignerTest, JsonStringReplacesEachByteOfIllFormedUtf8) {
  const auto r = [](std::string_view s) { return JwtSigner::jsonString(s); };
  EXPECT_EQ(r("\xff"), R"("\ufffd")");
  EXPECT_EQ(r("\x80x"), R"("\ufffdx")");                              // stray continuation
  EXPECT_EQ(r("\xc0\xaf"), R"("\ufffd\ufffd")");                      // overlong '/'
  EXPECT_EQ(r("\xe0\x80\xaf"), R"("\ufffd\ufffd\ufffd")");            // overlong, 3 bytes
  EXPECT_EQ(r("\xed\xa0\x80"), R"("\ufffd\ufffd\ufffd")");            // surrogate U+D800
  EXPECT_EQ(r("\xf4\x90\x80\x80"), R"("\ufffd\ufffd\ufffd\ufffd")");  // above U+10FFFF
  EXPECT_EQ(r("\xf5\x80"), R"("\ufffd\ufffd")");
  EXPECT_EQ(r("a\xe2\x82"), R"("a\ufffd\ufffd")");      // truncated at the end
  EXPECT_EQ(r("\xe2\x82\"x"), R"("\ufffd\ufffd\"x")");  // truncated by an ASCII byte
}

TEST(JwtSignerTest, NumbersAreExactIncludingExtremes) {
  const auto signer = JwtSigner::generateEd25519();
  JwtClaims claims = sampleClaims();
  claims.iat = -1;
  claims.exp = std::numeric_limits<int64_t>::max();
  const std::string payload = split(signer->sign(claims)).payload;
  EXPECT_NE(payload.find(R"("iat":-1,"nbf":-1,"exp":9223372036854775807,)"), std::string::npos)
      << payload;
}

// ---- Thumbprint, generated keys, jti ----

TEST(JwtSignerTest, ThumbprintMatchesRfc8037Vector) {
  EXPECT_EQ(
      JwtSigner::thumbprint("OKP", "Ed25519", "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", ""),
      "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
}

TEST(JwtSignerTest, EcThumbprintHashesMembersInLexicographicOrder) {
  // RFC 7638's own example is an RSA key; for EC, check against SHA-256 of the canonical text.
  const std::string canonical = R"({"crv":"P-256","kty":"EC","x":"AAA","y":"BBB"})";
  std::string md(32, '\0');
  unsigned int len = 0;
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast)
  ASSERT_EQ(EVP_Digest(canonical.data(), canonical.size(),
                       reinterpret_cast<unsigned char*>(md.data()), &len, EVP_sha256(), nullptr),
            1);
  EXPECT_EQ(JwtSigner::thumbprint("EC", "P-256", "AAA", "BBB"), base64UrlEncode(md));
}

TEST(JwtSignerTest, GeneratedKeysAreFreshEd25519) {
  const auto a = JwtSigner::generateEd25519();
  const auto b = JwtSigner::generateEd25519();
  EXPECT_EQ(a->alg(), "EdDSA");
  EXPECT_NE(a->kid(), b->kid());
  const std::string jwt = a->sign(sampleClaims());
  EXPECT_TRUE(verifiesJwt(*a, jwt));
  EXPECT_FALSE(verifiesJwt(*b, jwt));
}

TEST(JwtSignerTest, NewJtiIs16RandomBytesBase64Url) {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    const std::string jti = newJti();
    EXPECT_EQ(jti.size(), 22U);
    const auto raw = base64UrlDecode(jti);
    ASSERT_TRUE(raw.has_value()) << jti;
    EXPECT_EQ(raw->size(), 16U);
    seen.insert(jti);
  }
  EXPECT_EQ(seen.size(), 100U);
}

// ---- DER → JOSE conversion ----

TEST(JwtSignerTest, EcdsaDerToJosePadsShortIntegers) {
  // SEQUENCE { INTEGER 1, INTEGER 0x80 (DER adds a leading 0x00) }
  const std::string der = "\x30\x07\x02\x01\x01\x02\x02\x00\x80"s;
  const auto raw = JwtSigner::ecdsaDerToJose(der, 32);
  ASSERT_TRUE(raw.has_value());
  EXPECT_EQ(*raw, std::string(31, '\0') + "\x01" + std::string(31, '\0') + "\x80");
}

TEST(JwtSignerTest, EcdsaDerToJoseRejectsMalformedInput) {
  EXPECT_FALSE(JwtSigner::ecdsaDerToJose("", 32).has_value());
  EXPECT_FALSE(JwtSigner::ecdsaDerToJose("\x30\x07\x02\x01\x01"s, 32).has_value());  // truncated
  EXPECT_FALSE(  // trailing byte
      JwtSigner::ecdsaDerToJose("\x30\x06\x02\x01\x01\x02\x01\x02\x00"s, 32).has_value());
  // r is 33 significant bytes: does not fit in 32.
  const std::string big = "\x30\x26\x02\x21\x01"s + std::string(32, '\x11') + "\x02\x01\x02";
  EXPECT_FALSE(JwtSigner::ecdsaDerToJose(big, 32).has_value());
}

// ---- Errors ----

void expectError(const absl::StatusOr<std::unique_ptr<JwtSigner>>& r, absl::StatusCode code,
                 const std::vector<std::string>& fragments) {
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), code) << r.status();
  for (const auto& f : fragments) {
    EXPECT_NE(messageOf(r.status()).find(f), std::string::npos)
        << "'" << f << "' not in: " << r.status();
  }
}

TEST(JwtSignerErrorTest, MissingFile) {
  const std::string path = ::testing::TempDir() + "gssgate-jwt-signer-no-such-file.pem";
  expectError(JwtSigner::fromPemFile(path), absl::StatusCode::kNotFound,
              {path, "No such file or directory", "Ed25519", "P-256"});
}

TEST(JwtSignerErrorTest, RsaKey) {
  const Pkey rsa(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048}));
  const TempFile file(toPem(rsa.get()));
  expectError(JwtSigner::fromPemFile(file.path()), absl::StatusCode::kInvalidArgument,
              {file.path(), "of type RSA", "Ed25519", "P-256"});
}

TEST(JwtSignerErrorTest, GarbageAndEmptyFiles) {
  const TempFile garbage("this is not a key\n\x01\x02\xff");
  expectError(JwtSigner::fromPemFile(garbage.path()), absl::StatusCode::kInvalidArgument,
              {garbage.path(), "no PEM private key found", "holds no PEM block", "Ed25519"});
  const TempFile empty("");
  expectError(JwtSigner::fromPemFile(empty.path()), absl::StatusCode::kInvalidArgument,
              {empty.path(), "no PEM private key found"});
  const TempFile broken("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
  expectError(JwtSigner::fromPemFile(broken.path()), absl::StatusCode::kInvalidArgument,
              {"no PEM private key found", "found PEM blocks: PRIVATE KEY"});
}

TEST(JwtSignerErrorTest, PublicKeyOnly) {
  const Pkey key = ed25519Key();
  expectError(JwtSigner::fromPem(publicPem(key.get()), "pub.pem"),
              absl::StatusCode::kInvalidArgument,
              {"pub.pem: no PEM private key found", "found PEM blocks: PUBLIC KEY"});
}

TEST(JwtSignerErrorTest, EncryptedKeyIsRefusedWithoutPrompting) {
  const Pkey key = ed25519Key();
  expectError(JwtSigner::fromPem(toPem(key.get(), Pem::kEncrypted), "enc.pem"),
              absl::StatusCode::kInvalidArgument, {"enc.pem", "encrypted", "unencrypted"});
}

TEST(JwtSignerErrorTest, OtherCurvesAndEd448) {
  expectError(JwtSigner::fromPem(toPem(ecKey("P-384").get()), "p384.pem"),
              absl::StatusCode::kInvalidArgument, {"p384.pem", "EC key on curve secp384r1"});
  expectError(JwtSigner::fromPem(toPem(ecKey("secp256k1").get()), "k1.pem"),
              absl::StatusCode::kInvalidArgument, {"k1.pem", "curve secp256k1"});
  const Pkey ed448(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED448"));
  expectError(JwtSigner::fromPem(toPem(ed448.get()), "ed448.pem"),
              absl::StatusCode::kInvalidArgument, {"ed448.pem", "of type ED448"});
}

TEST(JwtSignerErrorTest, OversizedFile) {
  const TempFile big(std::string(JwtSigner::kMaxPemBytes + 1, 'A'));
  expectError(JwtSigner::fromPemFile(big.path()), absl::StatusCode::kInvalidArgument,
              {big.path(), "larger than"});
}

TEST(JwtSignerTest, KeyAfterLeadingTextIsFound) {
  // A comment line before the PEM block is common in hand-made key files.
  const Pkey key = ecKey("P-256");
  auto signer = JwtSigner::fromPem("# gssgate JWT key\n" + toPem(key.get()), "bundle.pem");
  ASSERT_TRUE(signer.ok()) << signer.status();
  EXPECT_EQ((*signer)->alg(), "ES256");
}

}  // namespace
}  // namespace gssgate
