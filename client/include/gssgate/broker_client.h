// Client of the gssgate broker's gRPC API (proto/gssgate/v1/broker.proto) over a Unix socket.
//
//   gssgate::client::BrokerClient broker("unix:/run/gssgate/broker.sock");
//   auto cred = broker.redeem(handle, "postgres/db.example.com");
//   if (!cred.ok()) return cred.status();  // NOT_FOUND, PERMISSION_DENIED, UNAVAILABLE, ...
//
// Every call carries a deadline (5 s unless configured). Errors keep the broker's code and
// message (gRPC codes map 1:1 onto absl codes); a broker that cannot be reached at all gives
// UNAVAILABLE "broker unreachable at unix:/path (No such file or directory)", and a call that
// outlives its deadline DEADLINE_EXCEEDED. Handles never appear in error messages.
//
// Thread-safety: all methods are const and may be called from any number of threads at once.
// Copies share one gRPC channel. A moved-from client may only be destroyed or assigned to.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/secure_wipe.h"

namespace gssgate::client {

// What CredentialBroker.Redeem returns: a ccache holding `principal` and a ticket for only the
// requested service. Move-only; the ccache bytes are wiped when the object is destroyed.
struct RedeemedCredential {
  SecretString ccache_bytes;              // MIT FILE ccache format (version 4)
  std::string principal;                  // the client, e.g. "alice@EXAMPLE.COM"
  std::chrono::sys_seconds expires_at{};  // end time of the service ticket
};

// One stored credential as listed by CredentialAdmin.List (deposit socket only).
struct CredentialInfo {
  std::string credential_id;
  std::string principal;
  std::chrono::sys_seconds deposited_at{};
  std::chrono::sys_seconds expires_at{};
  uint32_t redemptions = 0;
};

// grpc.health.v1 serving status.
enum class ServingStatus { kUnknown, kServing, kNotServing, kServiceUnknown };

// "SERVING", "NOT_SERVING", "UNKNOWN" or "SERVICE_UNKNOWN" (the protocol's names).
std::string_view servingStatusName(ServingStatus status);

class BrokerClient {
 public:
  static constexpr std::chrono::milliseconds kDefaultDeadline{5000};

  // `address` is "unix:/absolute/path" (or gRPC's "unix:relative" / "unix:///absolute"). No
  // connection is made here; an address of another form makes every call fail with
  // INVALID_ARGUMENT. `deadline` applies to each call separately.
  explicit BrokerClient(std::string address, std::chrono::milliseconds deadline = kDefaultDeadline);
  ~BrokerClient();
  BrokerClient(const BrokerClient& other);
  BrokerClient& operator=(const BrokerClient& other);
  BrokerClient(BrokerClient&& other) noexcept;
  BrokerClient& operator=(BrokerClient&& other) noexcept;

  const std::string& address() const;
  std::chrono::milliseconds deadline() const;

  // CredentialBroker.Redeem (backend socket): a ccache for `service` ("postgres/db.example.com"
  // or "postgres@db.example.com"). NOT_FOUND: handle unknown, expired or revoked;
  // PERMISSION_DENIED: this uid may not have `service`; UNAVAILABLE: broker or KDC unreachable.
  absl::StatusOr<RedeemedCredential> redeem(std::string_view handle,
                                            std::string_view service) const;

  // CredentialBroker.Revoke (backend socket): revokes the credential behind `handle`. OK also
  // for an unknown handle.
  absl::Status revoke(std::string_view handle) const;

  // CredentialAdmin.List (deposit socket): the stored credentials, without secrets.
  absl::StatusOr<std::vector<CredentialInfo>> list() const;

  // CredentialAdmin.RevokeCredential (deposit socket): revokes by credential id.
  absl::Status revokeCredential(std::string_view credential_id) const;

  // grpc.health.v1.Health/Check for `service` ("" = the broker as a whole).
  absl::StatusOr<ServingStatus> health(std::string_view service = {}) const;

 private:
  class Impl;
  std::shared_ptr<const Impl> impl_;
};

}  // namespace gssgate::client
