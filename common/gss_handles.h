// RAII owners for GSS-API handles. These are the only places that call gss_release_*.
//
//   gssgate::GssName name;
//   gss_import_name(&minor, &buf, GSS_C_NT_HOSTBASED_SERVICE, name.out());
//   use(name.get());  // released when `name` goes out of scope
//
// Thread-safety: an owner is a plain value; do not share one between threads without a lock.
// MIT allows different handles to be used from different threads concurrently.
#pragma once

#include <gssapi/gssapi.h>
#include <gssapi/gssapi_krb5.h>

#include <string>
#include <string_view>
#include <utility>

namespace gssgate {

// Generic move-only owner of a GSS handle `T` whose "empty" value is `Empty` and which is
// released by `Release(&minor, &handle)`.
template <typename T, T Empty, OM_uint32 (*Release)(OM_uint32*, T*)>
class GssHandle {
 public:
  GssHandle() = default;
  explicit GssHandle(T handle) : handle_(handle) {}
  GssHandle(const GssHandle&) = delete;
  GssHandle& operator=(const GssHandle&) = delete;
  GssHandle(GssHandle&& other) noexcept : handle_(std::exchange(other.handle_, Empty)) {}
  GssHandle& operator=(GssHandle&& other) noexcept {
    if (this != &other) {
      reset();
      handle_ = std::exchange(other.handle_, Empty);
    }
    return *this;
  }
  ~GssHandle() { reset(); }

  T get() const { return handle_; }
  // For output parameters: releases any current handle first.
  T* out() {
    reset();
    return &handle_;
  }
  // For in/out parameters (e.g. the context of a multi-leg gss_accept_sec_context).
  T* inout() { return &handle_; }
  // Gives up ownership.
  T release() { return std::exchange(handle_, Empty); }
  explicit operator bool() const { return handle_ != Empty; }
  void reset() {
    if (handle_ != Empty) {
      OM_uint32 minor = 0;
      Release(&minor, &handle_);
      handle_ = Empty;
    }
  }

 private:
  T handle_ = Empty;
};

namespace gss_detail {
inline OM_uint32 releaseContext(OM_uint32* minor, gss_ctx_id_t* ctx) {
  return gss_delete_sec_context(minor, ctx, GSS_C_NO_BUFFER);
}
}  // namespace gss_detail

using GssName = GssHandle<gss_name_t, GSS_C_NO_NAME, gss_release_name>;
using GssCred = GssHandle<gss_cred_id_t, GSS_C_NO_CREDENTIAL, gss_release_cred>;
using GssContext = GssHandle<gss_ctx_id_t, GSS_C_NO_CONTEXT, gss_detail::releaseContext>;
using GssOidSet = GssHandle<gss_OID_set, GSS_C_NO_OID_SET, gss_release_oid_set>;

// Owner of a gss_buffer_desc filled in by the GSS library (output tokens, display names).
// The contents are wiped before release because output tokens can hold key material.
class GssBuffer {
 public:
  GssBuffer() = default;
  GssBuffer(const GssBuffer&) = delete;
  GssBuffer& operator=(const GssBuffer&) = delete;
  GssBuffer(GssBuffer&& other) noexcept : buf_(std::exchange(other.buf_, {0, nullptr})) {}
  GssBuffer& operator=(GssBuffer&& other) noexcept {
    if (this != &other) {
      reset();
      buf_ = std::exchange(other.buf_, {0, nullptr});
    }
    return *this;
  }
  ~GssBuffer() { reset(); }

  gss_buffer_t out() {
    reset();
    return &buf_;
  }
  std::string_view view() const {
    return buf_.value == nullptr
               ? std::string_view{}
               : std::string_view(static_cast<const char*>(buf_.value), buf_.length);
  }
  std::string str() const { return std::string(view()); }
  size_t size() const { return buf_.length; }
  bool empty() const { return buf_.length == 0; }
  void reset();

 private:
  gss_buffer_desc buf_{0, nullptr};
};

// A non-owning gss_buffer_desc over caller memory (input tokens).
inline gss_buffer_desc gssInputBuffer(std::string_view bytes) {
  // gss_buffer_desc has a non-const `value` even for inputs; GSS never writes through it.
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-const-cast)
  return gss_buffer_desc{bytes.size(), const_cast<char*>(bytes.data())};
}

}  // namespace gssgate
