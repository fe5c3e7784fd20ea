#include "client/doctor/replay_cache_check.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "client/errno_status.h"
#include "common/strings.h"
#include "common/unique_fd.h"

namespace gssgate::client {
namespace {

constexpr std::string_view kDefaultDir = "/var/tmp";

std::string parentOf(std::string_view path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string_view::npos) return ".";
  if (slash == 0) return "/";
  return std::string(path.substr(0, slash));
}

ReplayCacheLocation fromName(std::string_view name, std::string source, const char* env_dir,
                             uid_t uid) {
  ReplayCacheLocation loc;
  loc.name = std::string(name);
  loc.source = std::move(source);
  const size_t colon = name.find(':');
  const std::string type =
      toLowerAscii(colon == std::string_view::npos ? name : name.substr(0, colon));
  const std::string_view residual =
      colon == std::string_view::npos ? std::string_view() : name.substr(colon + 1);
  if (type == "none") {
    loc.kind = ReplayCacheLocation::Kind::kNone;
    return loc;
  }
  if (type == "file2" && !residual.empty()) {
    loc.file = std::string(residual);
    loc.dir = parentOf(residual);
    return loc;
  }
  if (type == "dfl" || name.empty()) {
    loc.dir =
        env_dir != nullptr && env_dir[0] != '\0' ? std::string(env_dir) : std::string(kDefaultDir);
    loc.file = strCat(loc.dir, "/krb5_", uid, ".rcache2");
    if (env_dir != nullptr && env_dir[0] != '\0') loc.source += " and KRB5RCACHEDIR";
    return loc;
  }
  loc.kind = ReplayCacheLocation::Kind::kUnknown;
  return loc;
}

}  // namespace

ReplayCacheLocation resolveReplayCache(std::string_view configured, const char* env_name,
                                       const char* env_dir, uid_t uid) {
  if (!configured.empty()) return fromName(configured, "the proxy's `replay_cache`", env_dir, uid);
  if (env_name != nullptr && env_name[0] != '\0') {
    return fromName(env_name, "KRB5RCACHENAME", env_dir, uid);
  }
  ReplayCacheLocation loc = fromName("dfl:", "MIT's default", env_dir, uid);
  if (env_dir != nullptr && env_dir[0] != '\0') loc.source = "KRB5RCACHEDIR";
  return loc;
}

CheckResult checkReplayCache(const ReplayCacheLocation& loc) {
  const std::string fix_dir = strCat(
      "give the proxy a private writable directory: `replay_cache: file2:/var/lib/gssgate/"
      "rcache` (directory 0700, owned by the proxy's user) or KRB5RCACHEDIR in its "
      "environment");
  switch (loc.kind) {
    case ReplayCacheLocation::Kind::kNone:
      return {Verdict::kWarn, "replay-cache",
              strCat("replay cache is '", loc.name, "' (", loc.source,
                     "): replay protection is off, a captured token can be replayed"),
              fix_dir};
    case ReplayCacheLocation::Kind::kUnknown:
      return {Verdict::kWarn, "replay-cache",
              strCat("replay cache '", loc.name, "' (", loc.source,
                     ") is of a type this check does not know; not checked"),
              "use file2:/path or the default"};
    case ReplayCacheLocation::Kind::kFile:
      break;
  }
  const std::string where =
      strCat("replay cache ", loc.file, " (", loc.source, "; checked as uid ", ::geteuid(), ")");
  struct stat st {};
  if (::stat(loc.dir.c_str(), &st) != 0) {
    const int err = errno;
    return {
        Verdict::kFail, "replay-cache",
        strCat(where, ": directory ", loc.dir, " is unusable (", errnoText(err),
               "): every sign-in would fail"),
        strCat("create it (mkdir -m 0700 ", loc.dir, ", owned by the proxy's user) or ", fix_dir)};
  }
  if (!S_ISDIR(st.st_mode)) {
    return {Verdict::kFail, "replay-cache",
            strCat(where, ": ", loc.dir, " is not a directory: every sign-in would fail"), fix_dir};
  }
  std::string probe = strCat(loc.dir, "/.gssgate-doctor-XXXXXX");
  const UniqueFd fd(::mkstemp(probe.data()));
  if (!fd) {
    const int err = errno;
    return {Verdict::kFail, "replay-cache",
            strCat(where, ": cannot create a file in ", loc.dir, " (", errnoText(err),
                   "): every sign-in would fail"),
            fix_dir};
  }
  ::unlink(probe.c_str());
  // An existing cache file left by another user (e.g. root ran the proxy once) breaks it too.
  const UniqueFd existing(::open(loc.file.c_str(), O_WRONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!existing && errno != ENOENT) {
    const int err = errno;
    return {Verdict::kFail, "replay-cache",
            strCat(where, ": the cache file exists but cannot be written (", errnoText(err),
                   "): every sign-in would fail"),
            strCat("remove ", loc.file, " or chown it to the proxy's user")};
  }
  std::string finding = strCat(where, ": directory ", loc.dir, " is writable");
  if ((st.st_mode & static_cast<mode_t>(S_ISVTX)) == 0 && (st.st_mode & 0002U) != 0) {
    return {Verdict::kWarn, "replay-cache",
            strCat(finding, ", but by everybody and without the sticky bit"), fix_dir};
  }
  return {Verdict::kOk, "replay-cache", finding, ""};
}

}  // namespace gssgate::client
