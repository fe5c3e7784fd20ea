#include "common/gss_handles.h"

#include "common/secure_wipe.h"

namespace gssgate {

void GssBuffer::reset() {
  if (buf_.value != nullptr) {
    secureWipe(buf_.value, buf_.length);
    OM_uint32 minor = 0;
    gss_release_buffer(&minor, &buf_);
  }
  buf_ = {0, nullptr};
}

}  // namespace gssgate
