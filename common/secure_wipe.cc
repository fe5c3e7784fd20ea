#include "common/secure_wipe.h"

#include <openssl/crypto.h>

namespace gssgate {

void secureWipe(void* data, std::size_t size) {
  if (data != nullptr && size != 0) OPENSSL_cleanse(data, size);
}

}  // namespace gssgate
