#include "broker/credentials/deposit_parser.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <array>
#include <string>

#include "common/krb5_thread_context.h"
#include "common/strings.h"
#include "tests/unit/broker/test_credentials.h"

namespace gssgate::broker {
namespace {

using test::CredentialSpec;
using test::TestCreds;
using ::testing::HasSubstr;

class DepositParserTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_NE(ctx(), nullptr); }
  static krb5_context ctx() { return threadKrb5Context(); }

  static std::string marshal(CredentialSpec spec) {
    TestCreds creds(ctx(), std::move(spec));
    return creds.marshal();
  }

  // The refusal message for `bytes` deposited as alice@TEST.REALM.
  static std::string refusal(std::string_view bytes,
                             std::string_view claimed = "alice@TEST.REALM") {
    auto parsed = parseDeposit(ctx(), claimed, bytes, test::nowSeconds());
    EXPECT_FALSE(parsed.ok()) << "deposit unexpectedly accepted";
    if (parsed.ok()) return {};
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << parsed.status();
    return messageOf(parsed.status());
  }
};

TEST_F(DepositParserTest, AcceptsATgtOfTheClaimedPrincipal) {
  CredentialSpec spec;
  const int64_t end = test::nowSeconds() + 3600;
  spec.endtime = end;
  const std::string bytes = marshal(spec);
  ASSERT_FALSE(bytes.empty());
  auto parsed = parseDeposit(ctx(), "alice@TEST.REALM", bytes, test::nowSeconds());
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->principal, "alice@TEST.REALM");
  EXPECT_EQ(parsed->end_time, end);
  EXPECT_EQ(parsed->marshaled.str(), bytes);
}

// The exact-length check re-marshals the credential: optional parts (addresses, authdata, a
// second ticket) must survive that unchanged, or genuine deposits would be refused.
TEST_F(DepositParserTest, AcceptsATgtWithAddressesAndAuthdata) {
  TestCreds creds(ctx(), CredentialSpec{});
  std::string ip("\x0a\x00\x00\x01", 4);
  std::string ad = "opaque authorization data";
  krb5_address address{KV5M_ADDRESS, ADDRTYPE_INET, 4,
                       reinterpret_cast<krb5_octet*>(ip.data())};  // NOLINT: krb5 wants bytes
  krb5_authdata authdata{KV5M_AUTHDATA, KRB5_AUTHDATA_IF_RELEVANT,
                         static_cast<unsigned int>(ad.size()),
                         reinterpret_cast<krb5_octet*>(ad.data())};  // NOLINT: krb5 wants bytes
  std::array<krb5_address*, 2> addresses{&address, nullptr};
  std::array<krb5_authdata*, 2> authdatas{&authdata, nullptr};
  creds.get()->addresses = addresses.data();
  creds.get()->authdata = authdatas.data();
  const std::string bytes = creds.marshal();
  creds.get()->addresses = nullptr;
  creds.get()->authdata = nullptr;
  auto parsed = parseDeposit(ctx(), "alice@TEST.REALM", bytes, test::nowSeconds());
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->marshaled.str(), bytes);
}

TEST_F(DepositParserTest, RefusesAClaimedPrincipalThatDiffers) {
  const std::string bytes = marshal({});
  EXPECT_THAT(refusal(bytes, "bob@TEST.REALM"), HasSubstr("differs"));
  EXPECT_THAT(refusal(bytes, "alice@OTHER.REALM"), HasSubstr("differs"));
  EXPECT_THAT(refusal(bytes, "alice/admin@TEST.REALM"), HasSubstr("differs"));
  EXPECT_FALSE(parseDeposit(ctx(), "", bytes, test::nowSeconds()).ok());
}

TEST_F(DepositParserTest, RefusesAServiceTicket) {
  CredentialSpec spec;
  spec.server = "HTTP/x@TEST.REALM";
  spec.ticket = test::derTicket("TEST.REALM", {"HTTP", "x"});
  EXPECT_THAT(refusal(marshal(spec)), HasSubstr("not a ticket-granting ticket"));
}

TEST_F(DepositParserTest, RefusesACrossRealmTgt) {
  CredentialSpec spec;
  spec.server = "krbtgt/OTHER@TEST.REALM";
  spec.ticket = test::derTicket("TEST.REALM", {"krbtgt", "OTHER"});
  EXPECT_THAT(refusal(marshal(spec)), HasSubstr("not a ticket-granting ticket"));
}

TEST_F(DepositParserTest, RefusesATgtOfAnotherRealmThanTheClients) {
  CredentialSpec spec;
  spec.client = "bob@OTHER.REALM";
  EXPECT_THAT(refusal(marshal(spec), "bob@OTHER.REALM"), HasSubstr("not a ticket-granting ticket"));
}

TEST_F(DepositParserTest, RefusesAnExpiredTgt) {
  const int64_t now = test::nowSeconds();
  CredentialSpec spec;
  spec.endtime = now - 1;
  EXPECT_THAT(refusal(marshal(spec)), HasSubstr("expired"));
  // Ending exactly now is expired too.
  spec.endtime = now + 5;
  auto parsed = parseDeposit(ctx(), "alice@TEST.REALM", marshal(spec), now + 5);
  ASSERT_FALSE(parsed.ok());
  EXPECT_THAT(messageOf(parsed.status()), HasSubstr("expired"));
}

TEST_F(DepositParserTest, RefusesAnEmptyTicket) {
  CredentialSpec spec;
  spec.ticket.clear();
  EXPECT_THAT(refusal(marshal(spec)), HasSubstr("no ticket or session key"));
}

TEST_F(DepositParserTest, RefusesAMissingSessionKey) {
  CredentialSpec spec;
  spec.session_key.clear();
  EXPECT_THAT(refusal(marshal(spec)), HasSubstr("no ticket or session key"));
}

TEST_F(DepositParserTest, RefusesAUserToUserTicket) {
  CredentialSpec spec;
  spec.is_skey = true;
  EXPECT_THAT(refusal(marshal(spec)), HasSubstr("no ticket or session key"));
}

TEST_F(DepositParserTest, RefusesATicketThatIsNotDer) {
  CredentialSpec spec;
  spec.ticket = "this is not a DER-encoded Kerberos ticket";
  EXPECT_THAT(refusal(marshal(spec)), HasSubstr("not a valid Kerberos ticket"));
  spec.ticket = test::derTicket("TEST.REALM", {"krbtgt", "TEST.REALM"});
  spec.ticket.resize(spec.ticket.size() / 2);  // a DER ticket cut in half
  EXPECT_THAT(refusal(marshal(spec)), HasSubstr("not a valid Kerberos ticket"));
}

TEST_F(DepositParserTest, RefusesGarbage) {
  EXPECT_THAT(refusal("definitely not a krb5_creds"), HasSubstr("not a marshaled"));
  EXPECT_THAT(refusal(std::string(64, '\xff')), HasSubstr("not a marshaled"));
}

TEST_F(DepositParserTest, RefusesEveryTruncation) {
  const std::string bytes = marshal({});
  ASSERT_GT(bytes.size(), 100U);
  for (size_t n = 1; n < bytes.size(); ++n) {
    auto parsed = parseDeposit(ctx(), "alice@TEST.REALM", bytes.substr(0, n), test::nowSeconds());
    EXPECT_FALSE(parsed.ok()) << "a prefix of " << n << " of " << bytes.size()
                              << " bytes was accepted";
  }
}

// "Exactly one krb5_creds": bytes after the credential (say a second one) are refused, not
// stored along with it.
TEST_F(DepositParserTest, RefusesTrailingBytes) {
  const std::string bytes = marshal({});
  EXPECT_FALSE(parseDeposit(ctx(), "alice@TEST.REALM", bytes + "x", test::nowSeconds()).ok());
  EXPECT_FALSE(parseDeposit(ctx(), "alice@TEST.REALM", bytes + bytes, test::nowSeconds()).ok());
  EXPECT_FALSE(
      parseDeposit(ctx(), "alice@TEST.REALM", bytes + std::string(4, '\0'), test::nowSeconds())
          .ok());
}

TEST_F(DepositParserTest, RefusesEmptyInput) {
  EXPECT_THAT(refusal(""), HasSubstr("no credential"));
}

}  // namespace
}  // namespace gssgate::broker
