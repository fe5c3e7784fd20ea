// The `replay-cache` check of gssgatectl doctor: the directory where MIT krb5 keeps the
// acceptor's replay cache must be writable by the proxy's user, or every sign-in fails.
//
//   auto where = resolveReplayCache(cfg.replay_cache, getenv("KRB5RCACHENAME"),
//                                   getenv("KRB5RCACHEDIR"), geteuid());
//   report.add(checkReplayCache(where));   // creates and removes a file in where.dir
//
// Thread-safety: no shared state.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

#include "client/doctor/doctor_report.h"

namespace gssgate::client {

struct ReplayCacheLocation {
  enum class Kind { kFile, kNone, kUnknown };
  Kind kind = Kind::kFile;
  std::string name;    // the rcache name as MIT sees it, e.g. "file2:/var/lib/gssgate/rcache"
  std::string dir;     // kFile: the directory holding the cache file
  std::string file;    // kFile: the cache file
  std::string source;  // where the name came from: "`replay_cache`", "KRB5RCACHEDIR", ...
};

// `configured`: the proxy's `replay_cache` ("" = MIT default); the other arguments are the
// environment variables (null when unset) and the uid the proxy runs as. Pure.
ReplayCacheLocation resolveReplayCache(std::string_view configured, const char* env_name,
                                       const char* env_dir, uid_t uid);

// Creates and removes a temporary file in location.dir, and opens an existing cache file for
// writing (without changing it).
CheckResult checkReplayCache(const ReplayCacheLocation& location);

}  // namespace gssgate::client
