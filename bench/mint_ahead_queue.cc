#include "bench/mint_ahead_queue.h"

#include <algorithm>
#include <utility>
#include <vector>

namespace gssgate::bench {

namespace {
// Tokens minted per lock round trip: small enough that consumers never wait long for a batch.
constexpr uint64_t kBatch = 32;
}  // namespace

MintAheadQueue::MintAheadQueue(MintOptions options, uint64_t capacity)
    : options_(std::move(options)), capacity_(std::max<uint64_t>(capacity, 1)) {}

MintAheadQueue::~MintAheadQueue() {
  if (minter_.joinable()) {
    minter_.request_stop();
    notFull_.notify_all();
    minter_.join();
  }
}

absl::Status MintAheadQueue::start() {
  minter_ = std::jthread([this](const std::stop_token& stop) { mintLoop(stop); });
  std::unique_lock lock(mu_);
  notEmpty_.wait(lock, [this] { return queue_.size() >= capacity_ || stopped_; });
  return failure_;
}

void MintAheadQueue::mintLoop(const std::stop_token& stop) {
  auto minter = TokenMinter::create(options_);
  if (!minter.ok()) {
    std::lock_guard lock(mu_);
    failure_ = minter.status();
    stopped_ = true;
    notEmpty_.notify_all();
    return;
  }
  std::vector<std::string> batch;
  while (!stop.stop_requested()) {
    uint64_t want = 0;
    {
      std::unique_lock lock(mu_);
      notFull_.wait(lock, stop, [this] { return queue_.size() < capacity_; });
      if (stop.stop_requested()) break;
      want = std::min<uint64_t>(kBatch, capacity_ - queue_.size());
    }
    batch.clear();
    absl::Status s = (*minter)->mint(want, batch);  // outside the lock
    std::lock_guard lock(mu_);
    for (std::string& t : batch) queue_.push_back(std::move(t));
    minted_ += batch.size();
    if (!s.ok()) {
      failure_ = s;
      stopped_ = true;
    }
    notEmpty_.notify_all();
    if (stopped_) return;
  }
  std::lock_guard lock(mu_);
  stopped_ = true;
  notEmpty_.notify_all();
}

std::optional<std::string> MintAheadQueue::pop() {
  std::unique_lock lock(mu_);
  minDepth_ = std::min<uint64_t>(minDepth_, queue_.size());
  if (queue_.empty() && !stopped_) {
    ++starved_;
    notEmpty_.wait(lock, [this] { return !queue_.empty() || stopped_; });
  }
  if (queue_.empty()) return std::nullopt;
  std::string token = std::move(queue_.front());
  queue_.pop_front();
  notFull_.notify_one();
  return token;
}

uint64_t MintAheadQueue::minted() const {
  std::lock_guard lock(mu_);
  return minted_;
}

uint64_t MintAheadQueue::starved() const {
  std::lock_guard lock(mu_);
  return starved_;
}

uint64_t MintAheadQueue::minDepth() const {
  std::lock_guard lock(mu_);
  return minDepth_ == UINT64_MAX ? queue_.size() : minDepth_;
}

absl::Status MintAheadQueue::failure() const {
  std::lock_guard lock(mu_);
  return failure_;
}

}  // namespace gssgate::bench
