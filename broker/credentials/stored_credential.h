// One deposited user credential: the TGT (as krb5_marshal_credentials bytes, wiped when
// freed) and the service tickets obtained with it, cached until near their expiry.
//
// Thread-safety: immutable fields are set before the object is shared; `mu` guards the
// service ticket cache; `redemptions` is atomic.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "common/secure_wipe.h"

namespace gssgate::broker {

struct CachedServiceTicket {
  SecretString creds;  // marshaled krb5_creds of the service ticket
  int64_t expires_at = 0;
};

struct StoredCredential {
  std::string id;         // 16 random bytes
  std::string principal;  // client principal, unparsed
  SecretString tgt;       // marshaled krb5_creds
  int64_t deposited_at = 0;
  int64_t expires_at = 0;
  std::atomic<uint32_t> redemptions{0};

  std::mutex mu;  // guards service_tickets
  std::map<std::string, CachedServiceTicket> service_tickets;
};

}  // namespace gssgate::broker
