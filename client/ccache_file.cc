#include "gssgate/ccache_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "client/errno_status.h"
#include "common/strings.h"
#include "common/unique_fd.h"

namespace gssgate::client {
namespace {

// Writes all of `bytes` to `fd`; returns 0 or the errno of the failed write.
int writeAll(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return 0;
}

// True if `dir` is an existing directory owned by this user (so a private subdirectory in it
// cannot be swapped or read by others).
bool isOwnDirectory(const char* dir) {
  struct stat st {};
  return ::stat(dir, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == ::geteuid();
}

}  // namespace

absl::Status writeCcacheFile(std::string_view bytes, const std::string& path) {
  if (path.empty()) return absl::InvalidArgumentError("empty ccache file path");
  // O_EXCL with O_CREAT also refuses a symlink at `path`; O_NOFOLLOW makes that explicit.
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd) {
    const int err = errno;
    if (err == EEXIST) {
      return absl::AlreadyExistsError(strCat(path, " already exists; refusing to overwrite it"));
    }
    return errnoStatus(strCat("cannot create ", path), err);
  }
  // The umask may have taken bits away (0400 is useless to krb5, which rewrites the cache);
  // it never adds any, so this only ever restores 0600.
  int err = ::fchmod(fd.get(), S_IRUSR | S_IWUSR) == 0 ? 0 : errno;
  if (err == 0) err = writeAll(fd.get(), bytes);
  if (err == 0 && ::close(fd.release()) != 0) err = errno;
  if (err != 0) {
    fd.reset();
    ::unlink(path.c_str());
    return errnoStatus(strCat("cannot write ", path), err);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> privateTempCcachePath() {
  std::string base = "/tmp";
  // getenv races only with setenv, which a program must not call while other threads run.
  const char* runtime_dir = std::getenv("XDG_RUNTIME_DIR");  // NOLINT(concurrency-mt-unsafe)
  if (runtime_dir != nullptr && runtime_dir[0] == '/' && isOwnDirectory(runtime_dir)) {
    base = runtime_dir;
  }
  std::string dir = strCat(base, "/gssgate-XXXXXX");
  // mkdtemp creates the directory with mode 0700 and a name nobody could have pre-created.
  if (::mkdtemp(dir.data()) == nullptr) {
    return errnoStatus(strCat("cannot create a private directory under ", base), errno);
  }
  return strCat(dir, "/ccache");
}

}  // namespace gssgate::client
