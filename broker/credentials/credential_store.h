// Where deposited credentials live. Two implementations: MemoryStore (default; nothing on
// disk, gone on restart) and DirStore (one 0600 ccache file per credential in a 0700
// directory owned by the broker, reloaded at start).
//
//   std::unique_ptr<CredentialStore> store = std::make_unique<MemoryStore>(limit);
//   store->put(cred);  auto c = store->find(id);  store->remove(id);  store->sweep(now);
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "broker/credentials/stored_credential.h"

namespace gssgate::broker {

class CredentialStore {
 public:
  virtual ~CredentialStore() = default;
  // RESOURCE_EXHAUSTED when full; UNAVAILABLE when it cannot be persisted.
  virtual absl::Status put(std::shared_ptr<StoredCredential> cred) = 0;
  virtual std::shared_ptr<StoredCredential> find(std::string_view id) const = 0;
  // Removes (and, once no redemption still uses it, wipes) a credential.
  virtual bool remove(std::string_view id) = 0;
  virtual std::vector<std::shared_ptr<StoredCredential>> list() const = 0;
  // Removes credentials whose expires_at <= now; returns how many.
  virtual size_t sweep(int64_t now) = 0;
  virtual size_t size() const = 0;
};

class MemoryStore final : public CredentialStore {
 public:
  explicit MemoryStore(size_t max_entries) : max_entries_(max_entries) {}
  absl::Status put(std::shared_ptr<StoredCredential> cred) override;
  std::shared_ptr<StoredCredential> find(std::string_view id) const override;
  bool remove(std::string_view id) override;
  std::vector<std::shared_ptr<StoredCredential>> list() const override;
  size_t sweep(int64_t now) override;
  // Ids swept by the last sweep() (for the dir store to unlink files).
  std::vector<std::string> sweepIds(int64_t now);
  size_t size() const override;

 private:
  size_t max_entries_;
  mutable std::mutex mu_;  // guards entries_
  std::unordered_map<std::string, std::shared_ptr<StoredCredential>> entries_;
};

class DirStore final : public CredentialStore {
 public:
  // Checks (or creates) `dir`: owned by this process's uid, no access for group or others.
  // Loads the unexpired credentials found there and deletes expired ones.
  static absl::StatusOr<std::unique_ptr<DirStore>> open(const std::string& dir, size_t max_entries,
                                                        int64_t now);
  absl::Status put(std::shared_ptr<StoredCredential> cred) override;
  std::shared_ptr<StoredCredential> find(std::string_view id) const override {
    return memory_.find(id);
  }
  bool remove(std::string_view id) override;
  std::vector<std::shared_ptr<StoredCredential>> list() const override { return memory_.list(); }
  size_t sweep(int64_t now) override;
  size_t size() const override { return memory_.size(); }

 private:
  DirStore(std::string dir, size_t max_entries) : dir_(std::move(dir)), memory_(max_entries) {}
  std::string pathFor(std::string_view id) const;
  std::string dir_;
  MemoryStore memory_;
};

}  // namespace gssgate::broker
