// The `keytab` check of gssgatectl doctor: can this process read the proxy's keytab, is it
// private, and does it hold the principal the proxy accepts as.
//
//   std::vector<std::string> subjects;            // principals for the KDC checks
//   report.add(checkKeytab(cfg.keytab, cfg.acceptor, subjects));
//
// Only principal names, kvnos and enctype names leave this file; never a key.
// Thread-safety: no shared state (one krb5 context per call).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "client/doctor/doctor_report.h"

namespace gssgate::client {

struct KeytabEntryInfo {
  std::string principal;  // "HTTP/www.example.com@EXAMPLE.COM"
  uint32_t kvno = 0;
  std::string enctype;  // "aes256-cts-hmac-sha1-96"
};

// The entries of the FILE keytab at `path` (names, kvnos and enctypes only).
absl::StatusOr<std::vector<KeytabEntryInfo>> listKeytab(const std::string& path);

// True when `entry_principal` ("a/b@R") is `wanted` ("a/b@R", or "a/b" for any realm).
bool principalMatches(std::string_view entry_principal, std::string_view wanted);

// The highest kvno the keytab holds for `principal` (0 when it holds none).
uint32_t highestKvno(const std::vector<KeytabEntryInfo>& entries, std::string_view principal);

// Pure verdict on the keytab's content: with `acceptor`, it must be present; without, at least
// one HTTP/* principal. `subjects` receives the principals to test against the KDC.
CheckResult evaluateKeytabEntries(std::string_view path,
                                  const std::vector<KeytabEntryInfo>& entries,
                                  std::string_view acceptor, std::vector<std::string>& subjects);

// Pure verdict on the keytab file's permissions: group/other access is a warning.
CheckResult evaluateKeytabMode(std::string_view path, mode_t mode);

// Opens, stats and reads the keytab; returns the results of the "keytab" and "keytab-mode"
// checks and fills `entries` and `subjects` (both empty when the keytab cannot be read).
std::vector<CheckResult> checkKeytab(const std::string& path, std::string_view acceptor,
                                     std::vector<KeytabEntryInfo>& entries,
                                     std::vector<std::string>& subjects);

}  // namespace gssgate::client
