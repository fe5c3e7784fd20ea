// The broker's logic, independent of gRPC: deposit, redeem, revoke, list — each checked,
// audited (one line per decision; never a ticket or a handle) and counted.
//
//   BrokerCore core(config, std::move(store), keys);
//   auto d = core.deposit(peer, "alice@EX.COM", tgtBytes);
//   auto r = core.redeem(peer, d->handle, "postgres/db.example.com");
//
// Thread-safety: every method may be called concurrently; setConfig() swaps the config
// (policy, TTLs) atomically for later calls.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "broker/config.h"
#include "broker/credentials/credential_store.h"
#include "broker/credentials/redeemer.h"
#include "broker/credentials/ticket_source.h"
#include "common/handle_codec.h"
#include "common/prometheus_text.h"

namespace gssgate::broker {

struct PeerCred {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
};

struct HandleKey {
  uint32_t id = 0;
  SecretString key;
};

// Reads `file` (32 raw bytes, or 64 hex characters) or, when `file` is empty, makes a random
// key for this process.
absl::StatusOr<HandleKey> loadHandleKey(const std::string& file);

struct DepositResult {
  std::string credential_id;  // raw 16 bytes
  std::string handle;
  int64_t expires_at = 0;
};

struct BrokerCounters {
  std::atomic<uint64_t> deposits_ok{0}, deposits_refused{0};
  // redeems_not_found: a handle refused (malformed, forged, expired, revoked, credential gone).
  std::atomic<uint64_t> redeems_ok{0}, redeems_cached{0}, redeems_not_found{0}, redeems_denied{0},
      redeems_failed{0};
  std::atomic<uint64_t> revocations{0}, swept{0};
  Histogram deposit_seconds = Histogram::latency();
  Histogram redeem_seconds = Histogram::latency();  // includes the KDC's TGS exchange
};

class BrokerCore {
 public:
  BrokerCore(std::shared_ptr<const BrokerConfig> config, std::unique_ptr<CredentialStore> store,
             HandleKey key);

  absl::StatusOr<DepositResult> deposit(const PeerCred& peer, const std::string& principal,
                                        const std::string& tgt);
  absl::StatusOr<RedeemOutput> redeem(const PeerCred& peer, const std::string& handle,
                                      const std::string& service);
  // Revokes the credential behind a handle; OK whether or not it existed.
  absl::Status revoke(const PeerCred& peer, const std::string& handle);
  // Revokes by credential id (raw bytes); NOT_FOUND if unknown.
  absl::Status revokeCredential(const PeerCred& peer, const std::string& credential_id);
  std::vector<std::shared_ptr<StoredCredential>> list() const { return store_->list(); }
  size_t sweep();

  const HandleKey& handleKey() const { return key_; }
  std::shared_ptr<const BrokerConfig> config() const;
  void setConfig(std::shared_ptr<const BrokerConfig> config);
  const BrokerCounters& counters() const { return counters_; }
  // The KDC exchanges of redemptions, with their deadline (kdc_timeout) and counters.
  const DeadlineTicketSource& tickets() const { return *tickets_; }
  size_t stored() const { return store_->size(); }

 private:
  absl::StatusOr<DepositResult> depositChecked(const PeerCred& peer, const std::string& principal,
                                               const std::string& tgt);
  absl::StatusOr<RedeemOutput> redeemChecked(const PeerCred& peer, const std::string& handle,
                                             const std::string& service);

  mutable std::mutex mu_;  // guards config_
  std::shared_ptr<const BrokerConfig> config_;
  std::unique_ptr<CredentialStore> store_;
  HandleKey key_;
  HandleCodec codec_;
  std::unique_ptr<DeadlineTicketSource> tickets_;
  BrokerCounters counters_;
};

}  // namespace gssgate::broker
