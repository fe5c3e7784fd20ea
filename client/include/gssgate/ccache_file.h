// Writing a redeemed ccache to a file for programs that only understand KRB5CCNAME=FILE:...
//
//   auto path = gssgate::client::privateTempCcachePath();   // <private 0700 dir>/ccache
//   if (!path.ok()) return path.status();
//   if (auto st = writeCcacheFile(cred.ccache_bytes.str(), *path); !st.ok()) return st;
//   setenv("KRB5CCNAME", ("FILE:" + *path).c_str(), 1);       // in a child's environment
//
// Prefer ScopedCredential in-process: a file outlives the process unless someone deletes it.
// Thread-safety: both functions may be called from any thread.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace gssgate::client {

// Creates `path` with mode 0600 (whatever the umask) and writes `bytes`. Never overwrites and
// never follows a symlink in the last component: ALREADY_EXISTS if anything exists at `path`.
// On a write failure the partial file is removed.
absl::Status writeCcacheFile(std::string_view bytes, const std::string& path);

// Creates a new private (0700) directory "gssgate-XXXXXX" under $XDG_RUNTIME_DIR (when that is
// an absolute path to a directory of ours) or /tmp and returns "<dir>/ccache", which does not
// exist yet. Whoever deletes the ccache may also remove the directory.
absl::StatusOr<std::string> privateTempCcachePath();

}  // namespace gssgate::client
