// Wiping memory that held secrets (tokens, tickets, keys) so the compiler cannot elide it.
//
//   std::string token = ...;
//   secureWipe(token);  // zeroes the bytes, then the string can be destroyed
//
// Thread-safety: operates only on the caller's memory.
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace gssgate {

void secureWipe(void* data, std::size_t size);

inline void secureWipe(std::string& s) {
  secureWipe(s.data(), s.size());
  s.clear();
}
inline void secureWipe(std::vector<unsigned char>& v) {
  secureWipe(v.data(), v.size());
  v.clear();
}

// A std::string that wipes its contents when destroyed. Use for decoded tokens and keys.
// Moving one in or out also wipes the source: moving a short string copies its bytes out of
// the small-string buffer and would leave them there. Growing mutableStr() past its capacity
// reallocates without wiping the old buffer; reserve() first if it must grow.
class SecretString {
 public:
  SecretString() = default;
  explicit SecretString(std::string&& s) noexcept : s_(std::move(s)) {
    wipeMovedFrom(s, s_.size());
  }
  // Copies: the caller still owns (and must wipe) `s`.
  explicit SecretString(const std::string& s) : s_(s) {}
  SecretString(const SecretString&) = delete;
  SecretString& operator=(const SecretString&) = delete;
  SecretString(SecretString&& o) noexcept : s_(std::move(o.s_)) { wipeMovedFrom(o.s_, s_.size()); }
  SecretString& operator=(SecretString&& o) noexcept {
    if (this != &o) {
      secureWipe(s_);
      s_ = std::move(o.s_);
      wipeMovedFrom(o.s_, s_.size());
    }
    return *this;
  }
  ~SecretString() { secureWipe(s_); }

  const std::string& str() const { return s_; }
  std::string& mutableStr() { return s_; }
  std::size_t size() const { return s_.size(); }
  bool empty() const { return s_.empty(); }

 private:
  // Zeroes the first `n` bytes of `from`'s buffer after its contents were moved away. Stays
  // within the current capacity, so it cannot allocate or throw.
  static void wipeMovedFrom(std::string& from, std::size_t n) noexcept {
    from.clear();  // from "valid but unspecified" to a known state
    from.resize(std::min(n, from.capacity()));
    secureWipe(from);
  }

  std::string s_;
};

}  // namespace gssgate
