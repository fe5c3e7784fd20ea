// Fuzz target (e): the credential deposit parser (broker/credentials/deposit_parser) on raw
// bytes — what the proxy sends as DepositRequest.tgt, parsed by krb5_unmarshal_credentials
// and then checked (one credential, a TGT of the claimed principal's realm, unexpired).
// Input: [n: 1 byte][claimed principal: n bytes][deposit bytes].
// Oracle: a refusal is a clean INVALID_ARGUMENT with a message; an accepted deposit is exactly
// the input bytes, unexpired at the fixed clock, and of the claimed principal.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "broker/credentials/deposit_parser.h"
#include "common/krb5_handles.h"
#include "common/krb5_thread_context.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/fuzz_keys.h"
#include "tests/fuzz/fuzz_krb5.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  gssgate::fuzz::useHermeticKrb5();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t n = data[0];
  if (size < 1 + n) return 0;
  const std::string claimed(reinterpret_cast<const char*>(data) + 1, n);
  const std::string_view bytes(reinterpret_cast<const char*>(data) + 1 + n, size - 1 - n);
  krb5_context ctx = gssgate::threadKrb5Context();
  FUZZ_CHECK(ctx != nullptr, "no krb5 context");
  auto parsed = gssgate::broker::parseDeposit(ctx, claimed, bytes, gssgate::fuzz::kNow);
  if (std::getenv("GSSGATE_FUZZ_VERBOSE") != nullptr) {
    std::fprintf(stderr, "  deposit: %s\n", parsed.status().ToString().c_str());
  }
  if (!parsed.ok()) {
    FUZZ_CHECK(parsed.status().code() == absl::StatusCode::kInvalidArgument,
               "a bad deposit was refused with another code than INVALID_ARGUMENT");
    FUZZ_CHECK(!parsed.status().message().empty(), "a refusal without a reason");
    return 0;
  }
  FUZZ_CHECK(parsed->marshaled.str() == bytes, "accepted deposit differs from the input");
  FUZZ_CHECK(parsed->end_time > gssgate::fuzz::kNow, "expired deposit accepted");
  FUZZ_CHECK(!parsed->principal.empty(), "accepted deposit without a principal");
  // The canonical name names the claimed principal.
  gssgate::Krb5Principal a(ctx), b(ctx);
  FUZZ_CHECK(krb5_parse_name(ctx, claimed.c_str(), a.out()) == 0 &&
                 krb5_parse_name(ctx, parsed->principal.c_str(), b.out()) == 0 &&
                 krb5_principal_compare(ctx, a.get(), b.get()),
             "accepted deposit of another principal than the claimed one");
  // Parsing again gives the same answer (no hidden state).
  auto again = gssgate::broker::parseDeposit(ctx, claimed, bytes, gssgate::fuzz::kNow);
  FUZZ_CHECK(again.ok() && again->principal == parsed->principal, "parsing is not repeatable");
  return 0;
}
