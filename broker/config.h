// The broker's configuration, loaded once from YAML and immutable afterwards.
//
//   auto cfg = loadBrokerConfig("broker.yaml");   // StatusOr; every error, one per line
//
// Thread-safety: immutable after loading.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/host_port.h"
#include "common/logging.h"

namespace gssgate::broker {

struct SocketOptions {
  std::string path;
  mode_t mode = 0600;
  std::optional<uid_t> owner;
  std::optional<gid_t> group;
};

struct PolicyEntry {
  std::optional<uid_t> uid;           // nullopt = any caller
  std::vector<std::string> services;  // globs on "service/host" (no realm), e.g. "postgres/*"
  bool allow_tgt = false;             // also hand out the TGT (rarely wise)
};

struct BrokerConfig {
  std::string file;
  SocketOptions backend;                 // `listen`
  SocketOptions deposit;                 // `deposit_listen`
  std::optional<HostPort> admin_listen;  // /healthz, /readyz, /metrics over HTTP; off if unset
  std::vector<PolicyEntry> policy;
  std::chrono::seconds handle_ttl{300};
  std::string handle_key_file;                      // empty = random key per process
  std::string store_dir;                            // empty = memory store
  std::chrono::seconds max_credential_lifetime{0};  // 0 = the TGT's own end time
  std::chrono::seconds service_ticket_min_remaining{120};
  std::chrono::seconds sweep_interval{30};
  // Longest wait for the KDC in one redemption (MIT krb5 1.20 itself waits ~27 s for a KDC
  // that accepts connections but does not answer). Reloadable.
  std::chrono::milliseconds kdc_timeout{3000};
  size_t max_credentials = 1'000'000;
  size_t max_kdc_requests = 128;  // KDC exchanges at once, timed-out ones included
  size_t max_message_bytes = 64 * 1024;
  LogOptions log;
};

absl::StatusOr<std::shared_ptr<const BrokerConfig>> loadBrokerConfig(const std::string& file);

}  // namespace gssgate::broker
