#include "proxy/session/session_cookie.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>  // mkdtemp

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/aead.h"
#include "common/base64.h"
#include "common/strings.h"

namespace gssgate::proxy {
namespace {

using ::testing::HasSubstr;
using ::testing::Optional;

constexpr int64_t kNow = 1'800'000'000;  // a fixed "now" (2027)

std::string b64(std::string_view raw) { return base64Encode(raw); }

// A fresh random key as one key-file line.
std::string keyLine() { return b64(randomBytes(Aead::kKeyBytes)); }

std::shared_ptr<const SessionKeys> keys(const std::string& text) {
  auto k = SessionKeys::parse(text, "keys");
  EXPECT_TRUE(k.ok()) << messageOf(k.status());
  return k.ok() ? *k : nullptr;
}

std::string parseError(const std::string& text) {
  auto k = SessionKeys::parse(text, "session.keys");
  EXPECT_FALSE(k.ok()) << "parsed:\n" << text;
  return k.ok() ? std::string() : messageOf(k.status());
}

Session alice(bool credential = false) {
  Session s;
  s.principal = "alice@EXAMPLE.COM";
  s.local_name = "alice";
  s.issued_at = kNow - 10;
  s.expires_at = kNow + 3600;
  s.session_id = "\x01\x02\x03\x04\x05\x06\x07\x08";
  if (credential) {
    s.credential_id = std::string("\x00\xff", 2) + std::string(14, 'c');
    s.credential_expires_at = kNow + 7200;
    s.handle_key_id = 0xA1B2C3D4;
  }
  return s;
}

void expectSame(const Session& got, const Session& want) {
  EXPECT_EQ(got.principal, want.principal);
  EXPECT_EQ(got.local_name, want.local_name);
  EXPECT_EQ(got.issued_at, want.issued_at);
  EXPECT_EQ(got.expires_at, want.expires_at);
  EXPECT_EQ(got.session_id, want.session_id);
  EXPECT_EQ(got.credential_id, want.credential_id);
  EXPECT_EQ(got.credential_expires_at, want.credential_expires_at);
  EXPECT_EQ(got.handle_key_id, want.handle_key_id);
  EXPECT_EQ(got.hasCredential(), want.hasCredential());
}

std::optional<std::string> rawOf(const std::string& cookie) { return base64UrlDecode(cookie); }

// ---------------------------------------------------------------------------- seal / open

TEST(SessionCodec, RoundTripWithoutCredential) {
  SessionCodec codec(keys(keyLine()));
  const Session s = alice();
  const std::string value = codec.seal(s);
  // A cookie value: base64url, no padding, nothing that needs quoting.
  EXPECT_THAT(value, ::testing::MatchesRegex("[A-Za-z0-9_-]+"));
  EXPECT_LT(value.size(), SessionCodec::kMaxCookieChars);
  auto back = codec.open(value, kNow);
  ASSERT_TRUE(back.has_value());
  expectSame(*back, s);
  EXPECT_FALSE(back->hasCredential());
  // The principal is not readable in the cookie (it is encrypted, not just encoded).
  EXPECT_THAT(*rawOf(value), ::testing::Not(HasSubstr("alice")));
}

TEST(SessionCodec, RoundTripWithCredential) {
  SessionCodec codec(keys(keyLine()));
  const Session s = alice(true);
  auto back = codec.open(codec.seal(s), kNow);
  ASSERT_TRUE(back.has_value());
  expectSame(*back, s);
  EXPECT_TRUE(back->hasCredential());
  EXPECT_EQ(back->credential_id.size(), SessionCodec::kCredentialIdBytes);
}

TEST(SessionCodec, CredentialIdOfTheWrongSizeIsNotSealed) {
  SessionCodec codec(keys(keyLine()));
  Session s = alice(true);
  s.credential_id = "short";
  auto back = codec.open(codec.seal(s), kNow);
  ASSERT_TRUE(back.has_value());
  EXPECT_FALSE(back->hasCredential());
  EXPECT_EQ(back->handle_key_id, 0u);
}

TEST(SessionCodec, NonAsciiAndLongNamesRoundTrip) {
  SessionCodec codec(keys(keyLine()));
  Session s = alice();
  s.principal = "J\xc3\xb6rg/admin\\@x@EXAMPLE.COM";
  s.local_name = std::string(300, 'j');
  auto back = codec.open(codec.seal(s), kNow);
  ASSERT_TRUE(back.has_value());
  expectSame(*back, s);
}

TEST(SessionCodec, EverySealIsDifferent) {
  SessionCodec codec(keys(keyLine()));
  const Session s = alice();
  EXPECT_NE(codec.seal(s), codec.seal(s));  // fresh nonce every time
}

TEST(SessionCodec, ExpiryIsExclusive) {
  SessionCodec codec(keys(keyLine()));
  Session s = alice();
  const std::string value = codec.seal(s);
  EXPECT_TRUE(codec.open(value, s.expires_at - 1).has_value());
  EXPECT_FALSE(codec.open(value, s.expires_at).has_value());
  EXPECT_FALSE(codec.open(value, s.expires_at + 1).has_value());
  EXPECT_FALSE(codec.open(value, s.expires_at + 86400 * 365).has_value());
}

TEST(SessionCodec, IssuedFarInTheFutureIsRejected) {
  // A little clock skew between replicas is tolerated (5 min), more is not.
  SessionCodec codec(keys(keyLine()));
  Session s = alice();
  s.issued_at = kNow + 300;
  EXPECT_TRUE(codec.open(codec.seal(s), kNow).has_value());
  s.issued_at = kNow + 301;
  EXPECT_FALSE(codec.open(codec.seal(s), kNow).has_value());
}

TEST(SessionCodec, EverySingleByteFlipIsRejected) {
  SessionCodec codec(keys(keyLine()));
  const std::string value = codec.seal(alice(true));
  const std::string raw = *rawOf(value);
  for (size_t i = 0; i < raw.size(); ++i) {
    for (unsigned char mask : {0x01, 0x80, 0xff}) {
      std::string bad = raw;
      bad[i] = static_cast<char>(bad[i] ^ mask);
      EXPECT_FALSE(codec.open(base64UrlEncode(bad), kNow).has_value())
          << "byte " << i << " mask " << int(mask);
    }
  }
  // And in the text form: every character replaced by another base64url character.
  for (size_t i = 0; i < value.size(); ++i) {
    std::string bad = value;
    bad[i] = bad[i] == 'A' ? 'B' : 'A';
    EXPECT_FALSE(codec.open(bad, kNow).has_value()) << "char " << i;
  }
  EXPECT_TRUE(codec.open(value, kNow).has_value());  // the original still opens
}

TEST(SessionCodec, EveryTruncationAndExtensionIsRejected) {
  SessionCodec codec(keys(keyLine()));
  const std::string value = codec.seal(alice(true));
  const std::string raw = *rawOf(value);
  for (size_t n = 0; n < raw.size(); ++n) {
    EXPECT_FALSE(codec.open(base64UrlEncode(raw.substr(0, n)), kNow).has_value()) << n;
    EXPECT_FALSE(codec.open(base64UrlEncode(raw.substr(raw.size() - n)), kNow).has_value())
        << "suffix " << n;
  }
  for (size_t n = 0; n < value.size(); ++n) {
    EXPECT_FALSE(codec.open(value.substr(0, n), kNow).has_value()) << "text " << n;
  }
  EXPECT_FALSE(codec.open(base64UrlEncode(raw + '\0'), kNow).has_value());
  EXPECT_FALSE(codec.open(value + "A", kNow).has_value());
  EXPECT_FALSE(codec.open(value + value, kNow).has_value());
}

TEST(SessionCodec, GarbageIsRejected) {
  SessionCodec codec(keys(keyLine()));
  for (std::string bad :
       {std::string(), std::string("x"), std::string("!!!!"), std::string("a=b"),
        std::string("\"\""), std::string(200, 'A'), std::string(64, '\0'),
        std::string(SessionCodec::kMaxCookieChars + 4, 'A'), base64UrlEncode(randomBytes(60)),
        base64UrlEncode(std::string(60, '\0'))}) {
    EXPECT_FALSE(codec.open(bad, kNow).has_value()) << bad.size();
  }
}

TEST(SessionCodec, OverlongValueIsRejectedBeforeDecoding) {
  SessionCodec codec(keys(keyLine()));
  Session s = alice();
  s.local_name = std::string(4000, 'x');  // a genuine seal, but too long to be a cookie
  const std::string value = codec.seal(s);
  ASSERT_GT(value.size(), SessionCodec::kMaxCookieChars);
  EXPECT_FALSE(codec.open(value, kNow).has_value());
}

TEST(SessionCodec, ForeignKeyIsRejected) {
  SessionCodec mine(keys(keyLine()));
  SessionCodec theirs(keys(keyLine()));
  EXPECT_FALSE(mine.open(theirs.seal(alice()), kNow).has_value());
  EXPECT_FALSE(theirs.open(mine.seal(alice(true)), kNow).has_value());
}

TEST(SessionCodec, KeyIdIsBoundToTheCiphertext) {
  // Two known keys: a cookie sealed with one, relabelled with the other's id, must not open.
  const std::string k1 = keyLine(), k2 = keyLine();
  auto both = keys(k1 + "\n" + k2 + "\n");
  ASSERT_EQ(both->keys().size(), 2u);
  SessionCodec codec(both);
  std::string raw = *rawOf(codec.seal(alice()));  // sealed with k1 (the first)
  uint32_t id2 = both->keys()[1].id;
  for (int i = 0; i < 4; ++i) raw[i] = static_cast<char>((id2 >> (8 * (3 - i))) & 0xff);
  EXPECT_FALSE(codec.open(base64UrlEncode(raw), kNow).has_value());
}

// Seals `plain` exactly as SessionCodec does, so that the parser of the decrypted plaintext
// can be fed layouts seal() never makes.
std::string craft(const std::string& key_b64, const std::string& plain) {
  const std::string key = *base64Decode(key_b64);
  const std::string digest = sha256(strCat("gssgate session key id|", key));
  const std::string id = digest.substr(0, 4);
  Aead aead(key);
  return base64UrlEncode(id + aead.seal(plain, strCat("gssgate session v1|", id)));
}

std::string be(uint64_t v, unsigned bytes) {
  std::string out;
  for (unsigned i = 0; i < bytes; ++i)
    out += static_cast<char>((v >> (8 * (bytes - 1 - i))) & 0xff);
  return out;
}

std::string plain(uint8_t version, std::string_view principal, std::string_view local,
                  std::string_view trailer = "") {
  return strCat(std::string(1, static_cast<char>(version)), be(kNow - 5, 8), be(kNow + 60, 8),
                std::string(8, 's'), std::string(1, '\0'), be(principal.size(), 2), principal,
                be(local.size(), 2), local, trailer);
}

TEST(SessionCodec, CraftedPlaintextMatchesTheDocumentedLayout) {
  const std::string k = keyLine();
  SessionCodec codec(keys(k));
  auto s = codec.open(craft(k, plain(1, "bob@R", "bob")), kNow);
  ASSERT_TRUE(s.has_value()) << "the crafted layout no longer matches session_cookie.h";
  EXPECT_EQ(s->principal, "bob@R");
  EXPECT_EQ(s->local_name, "bob");
  EXPECT_EQ(s->expires_at, kNow + 60);
  EXPECT_EQ(s->session_id, std::string(8, 's'));
}

TEST(SessionCodec, MalformedPlaintextUnderAGenuineKeyIsRejected) {
  const std::string k = keyLine();
  SessionCodec codec(keys(k));
  EXPECT_FALSE(codec.open(craft(k, plain(2, "bob@R", "bob")), kNow).has_value());  // version
  EXPECT_FALSE(codec.open(craft(k, plain(0, "bob@R", "bob")), kNow).has_value());
  EXPECT_FALSE(codec.open(craft(k, plain(1, "", "bob")), kNow).has_value());    // no principal
  EXPECT_FALSE(codec.open(craft(k, plain(1, "bob@R", "")), kNow).has_value());  // no local name
  EXPECT_FALSE(codec.open(craft(k, plain(1, "bob@R", "bob", "x")), kNow).has_value());  // trailer
  const std::string good = plain(1, "bob@R", "bob");
  for (size_t n = 0; n < good.size(); ++n) {  // every truncated plaintext
    EXPECT_FALSE(codec.open(craft(k, good.substr(0, n)), kNow).has_value()) << n;
  }
  // The credential flag set but no credential fields.
  std::string flagged = good;
  flagged[1 + 8 + 8 + 8] = 1;
  EXPECT_FALSE(codec.open(craft(k, flagged), kNow).has_value());
  EXPECT_FALSE(codec.open(craft(k, ""), kNow).has_value());
}

// ---------------------------------------------------------------------------- rotation

TEST(SessionKeys, RotationOldCookiesStillOpenNewCookiesUseTheNewKey) {
  const std::string oldk = keyLine(), newk = keyLine();
  SessionCodec before(keys(oldk + "\n"));                // only the old key
  SessionCodec during(keys(newk + "\n" + oldk + "\n"));  // new first, old kept
  SessionCodec old_first(keys(oldk + "\n" + newk + "\n"));
  const Session s = alice(true);
  // Cookies made before the rotation (or by a replica still sealing with the old key).
  EXPECT_TRUE(during.open(before.seal(s), kNow).has_value());
  EXPECT_TRUE(during.open(old_first.seal(s), kNow).has_value());
  // New cookies are sealed with the first key: a replica that only has the old key cannot
  // open them.
  const std::string fresh = during.seal(s);
  EXPECT_FALSE(before.open(fresh, kNow).has_value());
  auto back = during.open(fresh, kNow);
  ASSERT_TRUE(back.has_value());
  expectSame(*back, s);
  // Dropping the old key ends its cookies.
  SessionCodec after(keys(newk));
  EXPECT_FALSE(after.open(before.seal(s), kNow).has_value());
  EXPECT_TRUE(after.open(fresh, kNow).has_value());
}

// ---------------------------------------------------------------------------- key files

TEST(SessionKeys, CommentsBlankLinesWhitespaceAndCrlfAreAccepted) {
  const std::string a = keyLine(), b = keyLine();
  auto k = keys("# session keys\n\n   " + a + "  \r\n\t\n# old:\n" + b);
  ASSERT_NE(k, nullptr);
  EXPECT_EQ(k->keys().size(), 2u);
  EXPECT_NE(k->keys()[0].id, k->keys()[1].id);
  // The key id does not depend on the position: same key, same id.
  EXPECT_EQ(keys(b)->keys()[0].id, k->keys()[1].id);
}

TEST(SessionKeys, BadBase64NamesTheLine) {
  const std::string good = keyLine();
  EXPECT_EQ(parseError(good + "\nnot base64!\n"),
            "session.keys:2: expected a key: base64 of 32 random bytes (make one with "
            "`openssl rand -base64 32`)");
  // Non-canonical base64 (missing padding) is refused too.
  std::string unpadded = good;
  while (!unpadded.empty() && unpadded.back() == '=') unpadded.pop_back();
  EXPECT_THAT(parseError("# c\n\n" + unpadded + "\n"), HasSubstr("session.keys:3: expected a key"));
  // base64url instead of base64 (when the key has '+' or '/' in it).
  EXPECT_THAT(parseError(b64(std::string(32, '\xfb'))  // "+/v7..." in base64
                             .replace(0, 2, "-_")),
              HasSubstr("session.keys:1: expected a key"));
}

TEST(SessionKeys, WrongLengthNamesTheLine) {
  for (size_t n : {1ul, 16ul, 31ul, 33ul, 64ul}) {
    SCOPED_TRACE(n);
    EXPECT_THAT(parseError(keyLine() + "\n" + keyLine() + "\n" + b64(randomBytes(n)) + "\n"),
                HasSubstr("session.keys:3: expected a key: base64 of 32 random bytes"));
  }
}

TEST(SessionKeys, EmptyOrCommentOnlyFileIsRefused) {
  for (const char* text : {"", "\n\n", "# nothing here\n", "   \r\n# x\n"}) {
    SCOPED_TRACE(text);
    EXPECT_EQ(parseError(text),
              "session.keys: no key; put one per line, base64 of 32 random bytes");
  }
}

TEST(SessionKeys, DuplicateKeyNamesTheSecondLine) {
  const std::string a = keyLine();
  EXPECT_EQ(parseError(a + "\n" + keyLine() + "\n\n" + a + "\n"),
            "session.keys:4: the same key twice");
}

TEST(SessionKeys, LoadFromFile) {
  std::string tmpl = (std::filesystem::temp_directory_path() / "gssgate-keys-XXXXXX").string();
  ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
  const std::filesystem::path dir = tmpl;
  const std::string file = (dir / "session.keys").string();
  const std::string k = keyLine();
  std::ofstream(file) << "# rotate me\n" << k << "\n";
  auto loaded = SessionKeys::load(file);
  ASSERT_TRUE(loaded.ok()) << messageOf(loaded.status());
  EXPECT_EQ((*loaded)->keys().size(), 1u);
  // Same key file, same cookies: a restart keeps sessions.
  EXPECT_TRUE(SessionCodec(*loaded).open(SessionCodec(keys(k)).seal(alice()), kNow).has_value());
  std::ofstream(file, std::ios::trunc) << k << "\nbroken\n";
  auto bad = SessionKeys::load(file);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(messageOf(bad.status()), HasSubstr(file + ":2: expected a key"));
  auto missing = SessionKeys::load((dir / "absent").string());
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(messageOf(missing.status()), HasSubstr("absent: cannot read the session key file"));
  std::filesystem::remove_all(dir);
}

TEST(SessionKeys, GeneratedKeyIsStableWithinTheProcess) {
  auto a = SessionKeys::generated();
  auto b = SessionKeys::generated();
  ASSERT_EQ(a->keys().size(), 1u);
  EXPECT_EQ(a.get(), b.get());
  EXPECT_TRUE(SessionCodec(b).open(SessionCodec(a).seal(alice()), kNow).has_value());
  EXPECT_FALSE(SessionCodec(keys(keyLine())).open(SessionCodec(a).seal(alice()), kNow).has_value());
}

// ---------------------------------------------------------------------------- Cookie header

constexpr std::string_view kName = "gssgate_session";

TEST(FindCookie, FindsTheNamedPairAmongOthers) {
  EXPECT_THAT(findCookie("gssgate_session=abc", kName), Optional(std::string_view("abc")));
  EXPECT_THAT(findCookie("a=1; gssgate_session=abc; b=2", kName),
              Optional(std::string_view("abc")));
  EXPECT_THAT(findCookie("a=1;gssgate_session=abc;b=2", kName), Optional(std::string_view("abc")));
  EXPECT_THAT(findCookie("  gssgate_session =  abc  ;", kName), Optional(std::string_view("abc")));
  EXPECT_THAT(findCookie("gssgate_session=a=b", kName), Optional(std::string_view("a=b")));
}

TEST(FindCookie, NameMustMatchExactly) {
  EXPECT_EQ(findCookie("gssgate_session2=abc", kName), std::nullopt);
  EXPECT_EQ(findCookie("xgssgate_session=abc", kName), std::nullopt);
  EXPECT_EQ(findCookie("gssgate_sessio=abc", kName), std::nullopt);
  EXPECT_EQ(findCookie("GSSGATE_SESSION=abc", kName), std::nullopt);  // names are case-sensitive
  EXPECT_EQ(findCookie("a=gssgate_session=abc", kName), std::nullopt);
  EXPECT_THAT(findCookie("gssgate_session2=x; gssgate_session=y; gssgate_session_old=z", kName),
              Optional(std::string_view("y")));
}

TEST(FindCookie, QuotedValuesAreUnquoted) {
  EXPECT_THAT(findCookie("gssgate_session=\"abc\"", kName), Optional(std::string_view("abc")));
  EXPECT_THAT(findCookie("gssgate_session=\"\"", kName), Optional(std::string_view("")));
  // A lone or unbalanced quote is left as it is (and later fails to open).
  EXPECT_THAT(findCookie("gssgate_session=\"", kName), Optional(std::string_view("\"")));
  EXPECT_THAT(findCookie("gssgate_session=\"abc", kName), Optional(std::string_view("\"abc")));
}

TEST(FindCookie, EmptyAndDegenerateHeaders) {
  EXPECT_EQ(findCookie("", kName), std::nullopt);
  EXPECT_EQ(findCookie(";;; ;", kName), std::nullopt);
  EXPECT_EQ(findCookie("gssgate_session", kName), std::nullopt);  // no '='
  EXPECT_THAT(findCookie("gssgate_session=", kName), Optional(std::string_view("")));
  EXPECT_THAT(findCookie("gssgate_session=;a=1", kName), Optional(std::string_view("")));
  EXPECT_THAT(findCookie("=x; gssgate_session=v", kName), Optional(std::string_view("v")));
}

TEST(FindCookie, FirstOccurrenceWins) {
  EXPECT_THAT(findCookie("gssgate_session=first; gssgate_session=second", kName),
              Optional(std::string_view("first")));
}

TEST(RemoveCookie, RemovesOnlyTheNamedPair) {
  EXPECT_EQ(removeCookie("a=1; gssgate_session=abc; b=2", kName), "a=1; b=2");
  EXPECT_EQ(removeCookie("gssgate_session=abc; b=2", kName), "b=2");
  EXPECT_EQ(removeCookie("a=1; gssgate_session=abc", kName), "a=1");
  EXPECT_EQ(removeCookie("a=1;gssgate_session=abc;b=2", kName), "a=1; b=2");
  EXPECT_EQ(removeCookie(" gssgate_session = abc ; a=1", kName), "a=1");
  EXPECT_EQ(removeCookie("gssgate_session=\"q\"; a=1", kName), "a=1");
}

TEST(RemoveCookie, KeepsCookiesWhoseNameOnlyStartsOrEndsTheSame) {
  EXPECT_EQ(removeCookie("gssgate_session2=x; gssgate_session=y; xgssgate_session=z", kName),
            "gssgate_session2=x; xgssgate_session=z");
  EXPECT_EQ(removeCookie("a=gssgate_session=1", kName), "a=gssgate_session=1");
  EXPECT_EQ(removeCookie("gssgate_session2=x", kName), "gssgate_session2=x");
}

TEST(RemoveCookie, RemovesEveryOccurrenceAndEmptiesCleanly) {
  EXPECT_EQ(removeCookie("gssgate_session=a; c=3; gssgate_session=b", kName), "c=3");
  EXPECT_EQ(removeCookie("gssgate_session=abc", kName), "");
  EXPECT_EQ(removeCookie("gssgate_session=", kName), "");
  EXPECT_EQ(removeCookie("gssgate_session=a;gssgate_session=b;;", kName), "");
  EXPECT_EQ(removeCookie("", kName), "");
  EXPECT_EQ(removeCookie(" ; ;", kName), "");
  EXPECT_EQ(removeCookie("a=1;; ;b=2", kName), "a=1; b=2");
  EXPECT_EQ(removeCookie("flag; gssgate_session=x", kName), "flag");  // valueless pairs kept
}

TEST(RemoveCookie, AfterRemovalTheCookieIsNotFound) {
  for (const char* h : {"gssgate_session=a", "x=1; gssgate_session=a; y=2",
                        "gssgate_session=a; gssgate_session=b", " gssgate_session = a "}) {
    SCOPED_TRACE(h);
    EXPECT_TRUE(findCookie(h, kName).has_value());
    EXPECT_EQ(findCookie(removeCookie(h, kName), kName), std::nullopt);
  }
}

}  // namespace
}  // namespace gssgate::proxy
