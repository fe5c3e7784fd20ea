#include "common/krb5_handles.h"

#include "absl/status/status.h"

namespace gssgate {

std::string krb5ErrorMessage(krb5_context ctx, krb5_error_code code) {
  const char* msg = krb5_get_error_message(ctx, code);
  std::string out = msg != nullptr ? msg : "unknown krb5 error";
  krb5_free_error_message(ctx, msg);
  return out;
}

absl::StatusOr<Krb5Context> Krb5Context::create() {
  krb5_context ctx = nullptr;
  krb5_error_code code = krb5_init_context(&ctx);
  if (code != 0) {
    // krb5_init_context fails mostly on an unreadable or malformed krb5.conf.
    return absl::FailedPreconditionError(
        "krb5_init_context failed: " + krb5ErrorMessage(nullptr, code) + " (error " +
        std::to_string(code) + "); check krb5.conf / KRB5_CONFIG");
  }
  return Krb5Context(ctx);
}

}  // namespace gssgate
