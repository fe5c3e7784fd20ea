// The proxy's view of the broker: deposit a user's TGT, get back a handle (and the key to
// mint later handles for the same credential without a round trip).
//
//   std::unique_ptr<BrokerClient> broker = makeGrpcBrokerClient("unix:/run/gssgate/deposit.sock",
//                                                               std::chrono::seconds(2));
//   auto d = broker->deposit("alice@EX.COM", tgtBytes);   // blocking; has a deadline
//   broker->revoke(d->credential_id);                       // at logout
//
// Thread-safety: deposit() and revoke() may be called from many threads at once. It blocks, so the
// proxy calls it from a small dedicated thread pool, never from a network worker thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/secure_wipe.h"

namespace gssgate::proxy {

struct DepositReceipt {
  std::string handle;
  std::string credential_id;  // base64url, as the broker lists it
  int64_t expires_at = 0;
  // The broker's handle-sealing key, so that session requests can mint handles locally.
  uint32_t handle_key_id = 0;
  SecretString handle_key;
  int64_t handle_ttl = 0;  // seconds
};

class BrokerClient {
 public:
  virtual ~BrokerClient() = default;
  virtual absl::StatusOr<DepositReceipt> deposit(const std::string& principal,
                                                 const SecretString& tgt) = 0;
  // Revokes a stored credential by id (logout). OK for an id the broker does not know.
  virtual absl::Status revoke(const std::string& credential_id) = 0;
};

std::unique_ptr<BrokerClient> makeGrpcBrokerClient(const std::string& address,
                                                   std::chrono::milliseconds deadline);

}  // namespace gssgate::proxy
