// Mints SPNEGO (1.3.6.1.5.5.2) initiator tokens for the load generator, each from a fresh
// security context, as a browser does for every new authentication, so that each token is
// accepted exactly once by a server with a replay cache.
//
//   auto pool = mintTokens({.spn = "HTTP@localhost", .count = 100000, .threads = 2});
//   if (!pool.ok()) die(pool.status());
//   send("Authorization: Negotiate " + (*pool)[i]);   // base64
//
// Credentials come from the default ccache (KRB5CCNAME), copied once per minting thread into a
// private MEMORY ccache so that minting does not lock and re-read a FILE ccache per token.
// Thread-safety: mintTokens may be called from any thread; it runs `threads` threads itself.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace gssgate::bench {

struct MintOptions {
  std::string spn;        // GSS_C_NT_HOSTBASED_SERVICE name, e.g. HTTP@localhost
  uint64_t count = 0;     // tokens wanted
  int threads = 1;        // minting threads
  bool delegate = false;  // GSS_C_DELEG_FLAG (costs a TGS-REQ per token)
  bool mutual = true;     // GSS_C_MUTUAL_FLAG (as curl asks)
};

// Returns `count` base64 tokens, or the first GSS/krb5 failure as a readable message.
absl::StatusOr<std::vector<std::string>> mintTokens(const MintOptions& options);

}  // namespace gssgate::bench
