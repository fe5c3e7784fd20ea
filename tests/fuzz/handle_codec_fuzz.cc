// Fuzz target (c): broker credential handles (common/handle_codec) — what a backend presents
// to redeem a credential, and what the proxy mints per request. The first byte picks what the
// rest is:  0: a handle string (peekKeyId, open);  1: handle plaintext, sealed here with the
// fixed key and opened (reaches the claim reader behind the AEAD).
// Oracle: an opened handle has a 16-byte credential id, is unexpired, carries the key id it was
// opened with, re-seals to the same claims, and refuses any one-character change.
#include <cstdint>
#include <string>
#include <string_view>

#include "common/aead.h"
#include "common/base64.h"
#include "common/handle_codec.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/fuzz_keys.h"

namespace {

using gssgate::HandleClaims;
using gssgate::HandleCodec;
using gssgate::fuzz::kNow;

const HandleCodec& codec() {
  static const HandleCodec c(gssgate::fuzz::kHandleKeyId, gssgate::fuzz::kHandleKey);
  return c;
}

void openHandle(std::string_view handle) {
  auto peek = HandleCodec::peekKeyId(handle);
  auto claims = codec().open(handle, kNow);
  if (!claims) return;
  FUZZ_CHECK(peek && *peek == gssgate::fuzz::kHandleKeyId, "opened a handle of another key id");
  FUZZ_CHECK(handle.size() <= HandleCodec::kMaxHandleChars, "opened an oversized handle");
  FUZZ_CHECK(claims->credential_id.size() == HandleCodec::kCredentialIdBytes,
             "credential id of the wrong size");
  FUZZ_CHECK(claims->expires_at > kNow, "expired handle opened");
  auto again = codec().open(codec().seal(*claims), kNow);
  FUZZ_CHECK(again && again->credential_id == claims->credential_id &&
                 again->principal == claims->principal && again->expires_at == claims->expires_at,
             "seal(open(h)) does not open to the same claims");
  std::string bad(handle);
  const size_t at = 5 + (bad.size() - 5) / 2;  // inside the sealed part, after "gsh1."
  bad[at] = bad[at] == 'A' ? 'B' : 'A';
  FUZZ_CHECK(!codec().open(bad, kNow), "an altered handle opened");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] % 2 == 0) {
    openHandle(rest);
    return 0;
  }
  // The handle format of handle_codec.h, built here around arbitrary plaintext.
  const uint32_t id = gssgate::fuzz::kHandleKeyId;
  std::string be;
  for (int i = 3; i >= 0; --i) be += static_cast<char>((id >> (8 * i)) & 0xFFU);
  const gssgate::Aead aead(gssgate::fuzz::kHandleKey);
  const std::string handle =
      "gsh1." + gssgate::base64UrlEncode(be + aead.seal(rest, "gssgate handle v1|" + be));
  openHandle(handle);
  return 0;
}
