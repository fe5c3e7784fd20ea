#include "gssgate/scoped_credential.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <utility>
#include <vector>

#include "client/errno_status.h"
#include "common/gss_error.h"
#include "common/gss_handles.h"
#include "common/krb5_handles.h"
#include "common/strings.h"
#include "common/unique_fd.h"

namespace gssgate::client {

struct ScopedCredential::Cache {
  explicit Cache(Krb5Context c) : ctx(std::move(c)), ccache(ctx.get()) {}
  Krb5Context ctx;              // used only by the owning thread (MIT: one thread at a time)
  Krb5DestroyingCcache ccache;  // declared after ctx: destroyed first, while ctx lives
};

namespace {

// Writes all of `bytes` at the start of `fd`; returns 0 or the errno of the failed write.
int writeAllAt(int fd, std::string_view bytes) {
  off_t offset = 0;
  while (!bytes.empty()) {
    const ssize_t n = ::pwrite(fd, bytes.data(), bytes.size(), offset);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    bytes.remove_prefix(static_cast<size_t>(n));
    offset += n;
  }
  return 0;
}

// A memfd holding a copy of secret bytes; overwritten with zeros before it is closed, so the
// ticket does not linger in freed pages.
class SecretMemfd {
 public:
  static absl::StatusOr<SecretMemfd> create(std::string_view bytes) {
    UniqueFd fd(::memfd_create("gssgate-ccache", MFD_CLOEXEC));
    if (!fd) return errnoStatus("memfd_create", errno);
    SecretMemfd out(std::move(fd), bytes.size());
    if (const int err = writeAllAt(out.fd_.get(), bytes); err != 0) {
      return errnoStatus("writing the ccache to a memfd", err);
    }
    return out;
  }
  SecretMemfd(const SecretMemfd&) = delete;
  SecretMemfd& operator=(const SecretMemfd&) = delete;
  SecretMemfd(SecretMemfd&&) noexcept = default;
  SecretMemfd& operator=(SecretMemfd&&) noexcept = delete;
  ~SecretMemfd() {
    if (fd_) {
      const std::vector<char> zeros(size_, '\0');
      writeAllAt(fd_.get(), std::string_view(zeros.data(), zeros.size()));
    }
  }

  // A name krb5 can open: a fresh open file description of the memfd, via procfs.
  std::string fileCcacheName() const { return strCat("FILE:/proc/self/fd/", fd_.get()); }

 private:
  SecretMemfd(UniqueFd fd, size_t size) : fd_(std::move(fd)), size_(size) {}
  UniqueFd fd_;
  size_t size_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<ScopedCredential>> ScopedCredential::create(
    const RedeemedCredential& credential) {
  return create(credential.ccache_bytes.str());
}

absl::StatusOr<std::unique_ptr<ScopedCredential>> ScopedCredential::create(
    std::string_view ccache_bytes) {
  if (ccache_bytes.empty()) return absl::InvalidArgumentError("empty ccache");
  absl::StatusOr<Krb5Context> ctx = Krb5Context::create();
  if (!ctx.ok()) return ctx.status();
  auto cache = std::make_unique<Cache>(std::move(*ctx));
  krb5_context k = cache->ctx.get();
  auto krb5Failure = [k](std::string_view what, krb5_error_code code) {
    return absl::InternalError(strCat(what, ": ", krb5ErrorMessage(k, code)));
  };

  // Copy the FILE-format bytes into a new MEMORY cache, reading them through a memfd.
  Krb5Principal principal(k);
  {
    absl::StatusOr<SecretMemfd> memfd = SecretMemfd::create(ccache_bytes);
    if (!memfd.ok()) return memfd.status();
    Krb5Ccache file(k);  // declared after memfd: closed before the memfd is
    const std::string file_name = memfd->fileCcacheName();
    if (krb5_error_code code = krb5_cc_resolve(k, file_name.c_str(), file.out()); code != 0) {
      return krb5Failure("cannot open the ccache bytes through /proc/self/fd", code);
    }
    if (krb5_error_code code = krb5_cc_get_principal(k, file.get(), principal.out()); code != 0) {
      return absl::InvalidArgumentError(
          strCat("not a usable credential cache: ", krb5ErrorMessage(k, code)));
    }
    if (krb5_error_code code = krb5_cc_new_unique(k, "MEMORY", nullptr, cache->ccache.out());
        code != 0) {
      return krb5Failure("cannot create a MEMORY ccache", code);
    }
    if (krb5_error_code code = krb5_cc_initialize(k, cache->ccache.get(), principal.get());
        code != 0) {
      return krb5Failure("cannot initialise the MEMORY ccache", code);
    }
    if (krb5_error_code code = krb5_cc_copy_creds(k, file.get(), cache->ccache.get()); code != 0) {
      return absl::InvalidArgumentError(
          strCat("cannot read the credentials in the ccache: ", krb5ErrorMessage(k, code)));
    }
  }

  Krb5String name(k);
  if (krb5_error_code code = krb5_cc_get_full_name(k, cache->ccache.get(), name.out()); code != 0) {
    return krb5Failure("krb5_cc_get_full_name", code);
  }
  Krb5String principal_name(k);
  if (krb5_error_code code = krb5_unparse_name(k, principal.get(), principal_name.out());
      code != 0) {
    return krb5Failure("krb5_unparse_name", code);
  }
  // Not std::make_unique: the constructor is private.
  std::unique_ptr<ScopedCredential> scope(
      new ScopedCredential(std::move(cache), name.get(), principal_name.get()));

  // Make it this thread's default. The previous name is the library's copy, valid only until
  // the next call in this thread: copy it now.
  OM_uint32 minor = 0;
  const char* previous = nullptr;
  const OM_uint32 major = gss_krb5_ccache_name(&minor, scope->ccache_name_.c_str(), &previous);
  if (GSS_ERROR(major)) {
    return absl::InternalError(
        strCat("gss_krb5_ccache_name: ", gssErrorMessage(major, minor, GSS_C_NO_OID)));
  }
  scope->installed_ = true;
  // With no name of its own, the thread follows the library default (KRB5CCNAME at the time);
  // MIT reports that default as the previous name. Restoring "no name" keeps following it.
  const char* library_default = krb5_cc_default_name(k);
  if (previous != nullptr &&
      (library_default == nullptr || std::string_view(previous) != library_default)) {
    scope->previous_ = std::string(previous);
  }
  return scope;
}

ScopedCredential::ScopedCredential(std::unique_ptr<Cache> cache, std::string name,
                                   std::string principal)
    : cache_(std::move(cache)),
      ccache_name_(std::move(name)),
      principal_(std::move(principal)),
      thread_(std::this_thread::get_id()) {}

ScopedCredential::~ScopedCredential() {
  if (installed_ && std::this_thread::get_id() == thread_) {
    OM_uint32 minor = 0;
    gss_krb5_ccache_name(&minor, previous_ ? previous_->c_str() : nullptr, nullptr);
  }
  // cache_ is destroyed next: krb5_cc_destroy on the MEMORY cache, then the context.
}

}  // namespace gssgate::client
