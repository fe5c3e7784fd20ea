// absl::Status from an errno value, with the system's text: "cannot create /x: Permission denied".
//
//   if (::mkdtemp(tmpl.data()) == nullptr) return errnoStatus("cannot create a directory", errno);
//
// Thread-safety: pure functions (strerror_r, not strerror).
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace gssgate::client {

// The system's text for `err`, e.g. "No such file or directory".
std::string errnoText(int err);

// "<what>: <errnoText(err)>" with a code chosen by `err` (ALREADY_EXISTS for EEXIST, NOT_FOUND
// for ENOENT/ENOTDIR, PERMISSION_DENIED for EACCES/EPERM, RESOURCE_EXHAUSTED for ENOSPC/EDQUOT,
// INTERNAL otherwise).
absl::Status errnoStatus(std::string_view what, int err);

}  // namespace gssgate::client
