// A bounded queue of fresh SPNEGO tokens that a background thread keeps topped up while a long
// run goes (gssgate-loadgen --mint-ahead): a 10-minute soak needs more tokens (~1.1 KB each)
// than can sensibly be minted before the clock starts.
//
//   MintAheadQueue q(options, /*capacity=*/20000);
//   if (absl::Status s = q.start(); !s.ok()) die(s);   // minter running, queue full
//   std::optional<std::string> token = q.pop();        // nullopt once stopped or broken
//
// When a consumer finds the queue empty it waits for the minter and counts a starvation: a run
// with starvations measured the minter, not the server, and is invalid.
// Thread-safety: pop() and the counters from any thread; start() once.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "bench/token_minter.h"

namespace gssgate::bench {

class MintAheadQueue {
 public:
  MintAheadQueue(MintOptions options, uint64_t capacity);
  MintAheadQueue(const MintAheadQueue&) = delete;
  MintAheadQueue& operator=(const MintAheadQueue&) = delete;
  ~MintAheadQueue();  // stops and joins the minter

  // Starts the minting thread and waits until the queue is full; the first mint failure is
  // returned instead.
  absl::Status start();
  // The oldest token; waits (counted as a starvation) while the queue is empty.
  std::optional<std::string> pop();

  uint64_t minted() const;
  uint64_t starved() const;   // pops that found the queue empty
  uint64_t minDepth() const;  // fewest tokens queued at a pop, after start()
  absl::Status failure() const;

 private:
  void mintLoop(const std::stop_token& stop);

  const MintOptions options_;
  const uint64_t capacity_;
  mutable std::mutex mu_;  // guards everything below except minter_
  std::condition_variable_any notFull_;
  std::condition_variable_any notEmpty_;
  std::deque<std::string> queue_;
  uint64_t minted_ = 0;
  uint64_t starved_ = 0;
  uint64_t minDepth_ = UINT64_MAX;
  absl::Status failure_;
  bool stopped_ = false;
  std::jthread minter_;  // last: joined before the members it uses go
};

}  // namespace gssgate::bench
