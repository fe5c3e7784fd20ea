// RAII owners for krb5 handles: context, ccache, principal, keytab, creds, and strings the
// library allocated. The only places that call krb5_free_* / krb5_cc_close / krb5_kt_close.
//
//   auto ctx = Krb5Context::create();           // one context per thread or operation
//   if (!ctx.ok()) return ctx.status();
//   Krb5Ccache cc(ctx->get());
//   krb5_cc_new_unique(ctx->get(), "MEMORY", nullptr, cc.out());
//
// Thread-safety: a krb5_context must not be used by two threads at once (MIT's rule); the
// owners below borrow their context and must not outlive it.
#pragma once

#include <krb5/krb5.h>

#include <string>
#include <utility>

#include "absl/status/statusor.h"

namespace gssgate {

// Readable text for a krb5 error code, e.g. "Clock skew too great".
std::string krb5ErrorMessage(krb5_context ctx, krb5_error_code code);

class Krb5Context {
 public:
  static absl::StatusOr<Krb5Context> create();
  Krb5Context(const Krb5Context&) = delete;
  Krb5Context& operator=(const Krb5Context&) = delete;
  Krb5Context(Krb5Context&& o) noexcept : ctx_(std::exchange(o.ctx_, nullptr)) {}
  Krb5Context& operator=(Krb5Context&& o) noexcept {
    if (this != &o) {
      reset();
      ctx_ = std::exchange(o.ctx_, nullptr);
    }
    return *this;
  }
  ~Krb5Context() { reset(); }
  krb5_context get() const { return ctx_; }

 private:
  explicit Krb5Context(krb5_context ctx) : ctx_(ctx) {}
  void reset() {
    if (ctx_ != nullptr) krb5_free_context(std::exchange(ctx_, nullptr));
  }
  krb5_context ctx_ = nullptr;
};

// Owner of a handle `T` freed by `Free(ctx, handle)`; borrows the context.
template <typename T, void (*Free)(krb5_context, T)>
class Krb5Handle {
 public:
  explicit Krb5Handle(krb5_context ctx) : ctx_(ctx) {}
  Krb5Handle(krb5_context ctx, T handle) : ctx_(ctx), handle_(handle) {}
  Krb5Handle(const Krb5Handle&) = delete;
  Krb5Handle& operator=(const Krb5Handle&) = delete;
  Krb5Handle(Krb5Handle&& o) noexcept : ctx_(o.ctx_), handle_(std::exchange(o.handle_, T{})) {}
  Krb5Handle& operator=(Krb5Handle&& o) noexcept {
    if (this != &o) {
      reset();
      ctx_ = o.ctx_;
      handle_ = std::exchange(o.handle_, T{});
    }
    return *this;
  }
  ~Krb5Handle() { reset(); }

  T get() const { return handle_; }
  T* out() {
    reset();
    return &handle_;
  }
  T release() { return std::exchange(handle_, T{}); }
  explicit operator bool() const { return handle_ != T{}; }
  void reset() {
    if (handle_ != T{}) Free(ctx_, std::exchange(handle_, T{}));
  }

 private:
  krb5_context ctx_;
  T handle_{};
};

namespace krb5_detail {
inline void closeCcache(krb5_context c, krb5_ccache h) { krb5_cc_close(c, h); }
// Destroys the cache (not just closes it): used for MEMORY caches holding secrets.
inline void destroyCcache(krb5_context c, krb5_ccache h) { krb5_cc_destroy(c, h); }
inline void closeKeytab(krb5_context c, krb5_keytab h) { krb5_kt_close(c, h); }
inline void freePrincipal(krb5_context c, krb5_principal h) { krb5_free_principal(c, h); }
inline void freeCreds(krb5_context c, krb5_creds* h) { krb5_free_creds(c, h); }
inline void freeString(krb5_context c, char* h) { krb5_free_unparsed_name(c, h); }
}  // namespace krb5_detail

using Krb5Ccache = Krb5Handle<krb5_ccache, krb5_detail::closeCcache>;
using Krb5DestroyingCcache = Krb5Handle<krb5_ccache, krb5_detail::destroyCcache>;
using Krb5Keytab = Krb5Handle<krb5_keytab, krb5_detail::closeKeytab>;
using Krb5Principal = Krb5Handle<krb5_principal, krb5_detail::freePrincipal>;
using Krb5Creds = Krb5Handle<krb5_creds*, krb5_detail::freeCreds>;
using Krb5String = Krb5Handle<char*, krb5_detail::freeString>;

// Contents of a caller-allocated krb5_creds (krb5_get_init_creds_* fill one in place);
// krb5_free_cred_contents zeroes the session key. Borrows the context.
class Krb5CredContents {
 public:
  explicit Krb5CredContents(krb5_context ctx) : ctx_(ctx) {}
  Krb5CredContents(const Krb5CredContents&) = delete;
  Krb5CredContents& operator=(const Krb5CredContents&) = delete;
  Krb5CredContents(Krb5CredContents&&) = delete;
  Krb5CredContents& operator=(Krb5CredContents&&) = delete;
  ~Krb5CredContents() { krb5_free_cred_contents(ctx_, &creds_); }
  krb5_creds* get() { return &creds_; }

 private:
  krb5_context ctx_;
  krb5_creds creds_{};
};

}  // namespace gssgate
