// The proxy's view of the broker: deposit a user's TGT, get back a handle (and the key to
// mint later handles for the same credential without a round trip).
//
//   std::unique_ptr<BrokerClient> broker = makeGrpcBrokerClient("unix:/run/gssgate/deposit.sock",
//                                                               std::chrono::seconds(2));
//   auto d = broker->deposit("alice@EX.COM", tgtBytes);   // blocking; has a deadline
//
// Thread-safety: deposit() may be called from many threads at once. It blocks, so the proxy
// calls it from a small dedicated thread pool, never from a network worker thread.
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
  std::string credential_id;
  int64_t expires_at = 0;
};

class BrokerClient {
 public:
  virtual ~BrokerClient() = default;
  virtual absl::StatusOr<DepositReceipt> deposit(const std::string& principal,
                                                 const SecretString& tgt) = 0;
};

std::unique_ptr<BrokerClient> makeGrpcBrokerClient(const std::string& address,
                                                   std::chrono::milliseconds deadline);

}  // namespace gssgate::proxy
