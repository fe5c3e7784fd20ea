// Where the broker gets service tickets: a TGS exchange with the KDC, given the user's TGT.
//
//   KdcTicketSource kdc;
//   DeadlineTicketSource bounded(kdc, std::chrono::seconds(3), 128);
//   auto ticket = bounded.fetch(stored.tgt, "postgres/db.example.com@EXAMPLE.COM");
//
// Inputs and outputs are krb5_marshal_credentials() bytes, so a fetch needs no krb5 context
// of the caller's and can run on any thread.
// Errors: FAILED_PRECONDITION (the KDC does not know the service), NOT_FOUND (the TGT has
// expired), UNAVAILABLE "KDC unreachable: ..." (no KDC answered, or not within the deadline),
// UNAVAILABLE (other KDC errors), INTERNAL.
// Thread-safety: fetch() may be called from many threads at once.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/secure_wipe.h"

namespace gssgate::broker {

class TicketSource {
 public:
  TicketSource() = default;
  TicketSource(const TicketSource&) = delete;
  TicketSource& operator=(const TicketSource&) = delete;
  TicketSource(TicketSource&&) = delete;
  TicketSource& operator=(TicketSource&&) = delete;
  virtual ~TicketSource() = default;
  // A service ticket for `server` (a full principal name with realm) from `tgt`.
  virtual absl::StatusOr<SecretString> fetch(const SecretString& tgt,
                                             const std::string& server) const = 0;
};

// krb5_get_credentials on the calling thread's krb5 context. Blocks as long as libkrb5 does:
// MIT krb5 1.20 has no overall request timeout, and a KDC that accepts connections but never
// answers holds the call for ~27 s (its retry passes) — wrap it in a DeadlineTicketSource.
class KdcTicketSource final : public TicketSource {
 public:
  absl::StatusOr<SecretString> fetch(const SecretString& tgt,
                                     const std::string& server) const override;
};

// Runs `inner`'s fetch on a thread of its own and waits at most the timeout for it. At the
// deadline the caller gets UNAVAILABLE "KDC unreachable: ..." at once; the abandoned thread
// finishes (and its answer is dropped) when `inner` returns. At most `max_outstanding` fetches
// run at a time, abandoned ones included; beyond that fetch() fails at once (UNAVAILABLE), so
// a hung KDC cannot pile up threads. Each worker holds `inner` (shared) until it returns.
class DeadlineTicketSource final : public TicketSource {
 public:
  DeadlineTicketSource(std::shared_ptr<const TicketSource> inner, std::chrono::milliseconds timeout,
                       size_t max_outstanding);
  absl::StatusOr<SecretString> fetch(const SecretString& tgt,
                                     const std::string& server) const override;

  // Takes effect for later fetches (config reload).
  void setTimeout(std::chrono::milliseconds timeout) {
    timeout_ms_.store(timeout.count(), std::memory_order_relaxed);
  }
  std::chrono::milliseconds timeout() const {
    return std::chrono::milliseconds(timeout_ms_.load(std::memory_order_relaxed));
  }
  // Fetches running now (including abandoned ones).
  size_t outstanding() const { return outstanding_->load(std::memory_order_relaxed); }
  // Fetches given up at the deadline, and fetches refused because too many were outstanding.
  uint64_t timedOut() const { return timed_out_.load(std::memory_order_relaxed); }
  uint64_t overloaded() const { return overloaded_.load(std::memory_order_relaxed); }

 private:
  std::shared_ptr<const TicketSource> inner_;
  std::atomic<int64_t> timeout_ms_;
  size_t max_outstanding_;
  // Shared with the worker threads, which may outlive this object at process exit.
  std::shared_ptr<std::atomic<size_t>> outstanding_;
  mutable std::atomic<uint64_t> timed_out_{0}, overloaded_{0};
};

}  // namespace gssgate::broker
