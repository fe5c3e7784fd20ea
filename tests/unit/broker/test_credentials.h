// Helpers shared by the broker unit tests: a hermetic krb5 environment for the whole
// executable, and Kerberos credentials built by hand — a krb5_creds holding a structurally
// valid DER Ticket (its enc-part is random bytes no KDC ever sees) — marshaled like a deposit.
//
//   TestCreds tgt(ctx(), CredentialSpec{});          // alice@TEST.REALM's TGT, ends in 10h
//   std::string deposit = tgt.marshal();
//
// Thread-safety: a TestCreds borrows one krb5 context; use it on that context's thread.
#pragma once

#include <gtest/gtest.h>
#include <krb5/krb5.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/aead.h"
#include "common/krb5_thread_context.h"
#include "tests/unit/common/hermetic_krb5.h"

namespace gssgate::broker::test {

// Every test in broker_unit_tests runs with an empty krb5.conf and MEMORY default caches,
// set up before the first test creates its thread's krb5 context.
class HermeticKrb5Environment : public ::testing::Environment {
 public:
  void SetUp() override { gssgate::testing::useHermeticKrb5(); }
};
inline ::testing::Environment* const kHermeticKrb5Environment =
    ::testing::AddGlobalTestEnvironment(new HermeticKrb5Environment);

inline int64_t nowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// ---- DER (X.690), just enough for a Kerberos Ticket (RFC 4120 §5.3) ----------------------

inline std::string derLength(size_t n) {
  if (n < 0x80) return {static_cast<char>(n)};
  std::string bytes;
  for (; n != 0; n >>= 8U) bytes.insert(bytes.begin(), static_cast<char>(n & 0xFFU));
  return static_cast<char>(0x80U | bytes.size()) + bytes;
}

inline std::string tlv(uint8_t tag, std::string_view content) {
  return static_cast<char>(tag) + derLength(content.size()) + std::string(content);
}

// A non-negative INTEGER in minimal two's-complement form.
inline std::string derInteger(uint32_t v) {
  std::string bytes;
  do {
    bytes.insert(bytes.begin(), static_cast<char>(v & 0xFFU));
    v >>= 8U;
  } while (v != 0);
  if ((static_cast<uint8_t>(bytes.front()) & 0x80U) != 0) bytes.insert(bytes.begin(), '\0');
  return tlv(0x02, bytes);
}

inline std::string contextTag(unsigned n, std::string_view content) {
  return tlv(static_cast<uint8_t>(0xA0U + n), content);
}

// Ticket ::= [APPLICATION 1] SEQUENCE { tkt-vno [0] 5, realm [1] Realm, sname [2] PrincipalName,
//                                       enc-part [3] EncryptedData { etype, kvno, cipher } }
inline std::string derTicket(std::string_view realm, const std::vector<std::string>& sname,
                             int32_t etype = ENCTYPE_AES256_CTS_HMAC_SHA1_96,
                             std::string_view cipher = "opaque ciphertext, never decrypted") {
  constexpr uint8_t kSequence = 0x30;
  constexpr uint8_t kGeneralString = 0x1B;
  constexpr uint8_t kOctetString = 0x04;
  constexpr uint8_t kApplication1 = 0x61;
  std::string names;
  for (const auto& s : sname) names += tlv(kGeneralString, s);
  const std::string principal = tlv(kSequence, contextTag(0, derInteger(KRB5_NT_SRV_INST)) +
                                                   contextTag(1, tlv(kSequence, names)));
  const std::string encPart =
      tlv(kSequence, contextTag(0, derInteger(static_cast<uint32_t>(etype))) +
                         contextTag(1, derInteger(1)) + contextTag(2, tlv(kOctetString, cipher)));
  return tlv(kApplication1, tlv(kSequence, contextTag(0, derInteger(5)) +
                                               contextTag(1, tlv(kGeneralString, realm)) +
                                               contextTag(2, principal) + contextTag(3, encPart)));
}

// ---- krb5_creds built by hand --------------------------------------------------------------

struct CredentialSpec {
  std::string client = "alice@TEST.REALM";
  std::string server = "krbtgt/TEST.REALM@TEST.REALM";
  int64_t endtime = nowSeconds() + int64_t{10} * 3600;
  std::string ticket = derTicket("TEST.REALM", {"krbtgt", "TEST.REALM"});
  std::string session_key = randomBytes(32);
  bool is_skey = false;
};

// Owns a krb5_creds whose principals come from krb5_parse_name and whose byte fields point
// into this object's strings.
class TestCreds {
 public:
  TestCreds(krb5_context ctx, CredentialSpec spec) : ctx_(ctx), spec_(std::move(spec)) {
    creds_.magic = KV5M_CREDS;
    EXPECT_EQ(krb5_parse_name(ctx_, spec_.client.c_str(), &creds_.client), 0) << spec_.client;
    EXPECT_EQ(krb5_parse_name(ctx_, spec_.server.c_str(), &creds_.server), 0) << spec_.server;
    creds_.keyblock.magic = KV5M_KEYBLOCK;
    creds_.keyblock.enctype = ENCTYPE_AES256_CTS_HMAC_SHA1_96;
    creds_.keyblock.length = static_cast<unsigned int>(spec_.session_key.size());
    creds_.keyblock.contents = bytes(spec_.session_key);
    const auto now = static_cast<krb5_timestamp>(nowSeconds());
    creds_.times.authtime = now - 60;
    creds_.times.starttime = now - 60;
    creds_.times.endtime = static_cast<krb5_timestamp>(spec_.endtime);
    creds_.times.renew_till = static_cast<krb5_timestamp>(spec_.endtime);
    creds_.is_skey = spec_.is_skey ? 1 : 0;
    creds_.ticket_flags = TKT_FLG_FORWARDABLE | TKT_FLG_INITIAL | TKT_FLG_PRE_AUTH;
    creds_.ticket = data(spec_.ticket);
  }
  TestCreds(const TestCreds&) = delete;
  TestCreds& operator=(const TestCreds&) = delete;
  ~TestCreds() {
    krb5_free_principal(ctx_, creds_.client);
    krb5_free_principal(ctx_, creds_.server);
  }

  krb5_creds* get() { return &creds_; }
  const krb5_creds* get() const { return &creds_; }

  // krb5_marshal_credentials() of these credentials: what the proxy deposits.
  std::string marshal() {
    krb5_data* out = nullptr;
    EXPECT_EQ(krb5_marshal_credentials(ctx_, &creds_, &out), 0);
    if (out == nullptr) return {};
    std::string s(out->data, out->length);
    krb5_free_data(ctx_, out);
    return s;
  }

 private:
  static krb5_octet* bytes(std::string& s) {
    // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): krb5 wants unsigned bytes
    return reinterpret_cast<krb5_octet*>(s.data());
  }
  static krb5_data data(std::string& s) {
    krb5_data d{};
    d.magic = KV5M_DATA;
    d.length = static_cast<unsigned int>(s.size());
    d.data = s.data();
    return d;
  }

  krb5_context ctx_;
  CredentialSpec spec_;
  krb5_creds creds_{};
};

// A marshaled TGT of `client`, as deposited, ending at `endtime`.
inline std::string marshaledTgt(std::string client = "alice@TEST.REALM",
                                int64_t endtime = nowSeconds() + int64_t{10} * 3600) {
  CredentialSpec spec;
  spec.client = std::move(client);
  spec.endtime = endtime;
  TestCreds creds(threadKrb5Context(), std::move(spec));
  return creds.marshal();
}

}  // namespace gssgate::broker::test
