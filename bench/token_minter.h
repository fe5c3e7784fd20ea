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
#include <memory>
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

// Mints tokens one at a time on one thread, holding the target name and initiator credential
// (from its private memory copy of the ccache) between calls; for minting while a run goes.
//   auto minter = TokenMinter::create(options);   // options.count/threads are ignored
//   absl::Status s = (*minter)->mint(64, out);     // appends 64 tokens to `out`
// Thread-safety: one thread at a time.
class TokenMinter {
  struct State;  // GSS name, credential and the ccache copy (token_minter.cc)

 public:
  static absl::StatusOr<std::unique_ptr<TokenMinter>> create(const MintOptions& options);
  TokenMinter(const TokenMinter&) = delete;
  TokenMinter& operator=(const TokenMinter&) = delete;
  ~TokenMinter();

  // Appends `count` base64 tokens to `out`; the first failure stops it.
  absl::Status mint(uint64_t count, std::vector<std::string>& out);

  explicit TokenMinter(std::unique_ptr<State> state);  // by create() only: State is private

 private:
  std::unique_ptr<State> state_;
};

}  // namespace gssgate::bench
