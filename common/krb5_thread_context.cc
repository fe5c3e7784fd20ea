#include "common/krb5_thread_context.h"

#include <optional>

#include "common/krb5_handles.h"

namespace gssgate {

krb5_context threadKrb5Context() {
  thread_local std::optional<Krb5Context> ctx;
  if (!ctx) {
    auto created = Krb5Context::create();
    if (!created.ok()) return nullptr;
    ctx.emplace(std::move(*created));
  }
  return ctx->get();
}

}  // namespace gssgate
