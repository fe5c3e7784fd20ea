#include "broker/service/unix_listener.h"

#include <fcntl.h>
#include <grpcpp/server_posix.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/logging.h"
#include "common/strings.h"

namespace gssgate::broker {
namespace {

absl::Status sysError(const std::string& what, int err) {
  return absl::FailedPreconditionError(strCat(what, ": ", std::strerror(err)));
}

}  // namespace

absl::Status UnixListener::start() {
  const std::string& path = options_.path;
  sockaddr_un addr{};
  if (path.size() >= sizeof(addr.sun_path)) {
    return absl::InvalidArgumentError(strCat("socket path too long: ", path));
  }
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);

  // A socket file left by a previous run is replaced; a live broker on it is not.
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return absl::FailedPreconditionError(strCat(path, " exists and is not a socket"));
    }
    int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool live = ::connect(probe, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    ::close(probe);
    if (live) return absl::FailedPreconditionError(strCat(path, " is in use by another process"));
    ::unlink(path.c_str());
  }

  fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return sysError("socket", errno);
  // Bind under a restrictive umask so the socket is never briefly open to others.
  mode_t old = ::umask(0177);
  int rc = ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  int err = errno;
  ::umask(old);
  if (rc != 0) return sysError(strCat("bind ", path), err);
  if (options_.owner || options_.group) {
    if (::chown(path.c_str(), options_.owner ? *options_.owner : static_cast<uid_t>(-1),
                options_.group ? *options_.group : static_cast<gid_t>(-1)) != 0) {
      return sysError(strCat("chown ", path), errno);
    }
  }
  if (::chmod(path.c_str(), options_.mode) != 0) return sysError(strCat("chmod ", path), errno);
  if (::listen(fd_, 512) != 0) return sysError(strCat("listen ", path), errno);
  thread_ = std::thread([this] { acceptLoop(); });
  return absl::OkStatus();
}

void UnixListener::acceptLoop() {
  auto log = logger("broker");
  while (!stopping_.load()) {
    pollfd p{fd_, POLLIN, 0};
    int r = ::poll(&p, 1, 200);
    if (r <= 0) continue;
    int conn = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (conn < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == ECONNABORTED) continue;
      log->warn("accept on {}: {}", options_.path, std::strerror(errno));
      ::usleep(50'000);  // EMFILE and friends: back off instead of spinning
      continue;
    }
    ucred cred{};
    socklen_t len = sizeof(cred);
    if (::getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
      ::close(conn);
      continue;
    }
    // gRPC needs a non-blocking fd; with a blocking one its calls hang.
    ::fcntl(conn, F_SETFL, ::fcntl(conn, F_GETFL) | O_NONBLOCK);
    registry_.record(conn, PeerCred{cred.pid, cred.uid, cred.gid});
    grpc::AddInsecureChannelFromFd(server_, conn);
  }
}

void UnixListener::stop() {
  if (stopping_.exchange(true)) return;
  if (thread_.joinable()) thread_.join();
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
    ::unlink(options_.path.c_str());
  }
}

}  // namespace gssgate::broker
