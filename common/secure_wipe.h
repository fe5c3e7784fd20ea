// Wiping memory that held secrets (tokens, tickets, keys) so the compiler cannot elide it.
//
//   std::string token = ...;
//   secureWipe(token);  // zeroes the bytes, then the string can be destroyed
//
// Thread-safety: operates only on the caller's memory.
#pragma once

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
class SecretString {
 public:
  SecretString() = default;
  explicit SecretString(std::string s) : s_(std::move(s)) {}
  SecretString(const SecretString&) = delete;
  SecretString& operator=(const SecretString&) = delete;
  SecretString(SecretString&& o) noexcept : s_(std::move(o.s_)) { o.s_.clear(); }
  SecretString& operator=(SecretString&& o) noexcept {
    if (this != &o) {
      secureWipe(s_);
      s_ = std::move(o.s_);
      o.s_.clear();
    }
    return *this;
  }
  ~SecretString() { secureWipe(s_); }

  const std::string& str() const { return s_; }
  std::string& mutableStr() { return s_; }
  std::size_t size() const { return s_.size(); }
  bool empty() const { return s_.empty(); }

 private:
  std::string s_;
};

}  // namespace gssgate
