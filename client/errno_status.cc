#include "client/errno_status.h"

#include <array>
#include <cerrno>
#include <cstring>

#include "common/strings.h"

namespace gssgate::client {

std::string errnoText(int err) {
  std::array<char, 256> buf{};
  // glibc's GNU strerror_r returns a pointer to the text (in `buf` or a static string).
  return ::strerror_r(err, buf.data(), buf.size());
}

absl::Status errnoStatus(std::string_view what, int err) {
  std::string msg = strCat(what, ": ", errnoText(err));
  switch (err) {
    case EEXIST:
      return absl::AlreadyExistsError(msg);
    case ENOENT:
    case ENOTDIR:
      return absl::NotFoundError(msg);
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(msg);
    case ENOSPC:
    case EDQUOT:
      return absl::ResourceExhaustedError(msg);
    default:
      return absl::InternalError(msg);
  }
}

}  // namespace gssgate::client
