// gssgate C++ SDK: redeem a credential handle at the broker and use it as the user.
//
//   #include "gssgate/client.h"
//   gssgate::client::BrokerClient broker("unix:/run/gssgate/broker.sock");
//   auto cred = broker.redeem(handleFromHeader, "postgres/db.example.com");
//   if (!cred.ok()) return cred.status();
//   auto scope = gssgate::client::ScopedCredential::create(*cred);
//   // ... libpq in this thread authenticates as cred->principal until *scope is destroyed
//
// Link the CMake target `gssgate_client`. The pieces, each in its own header:
//   BrokerClient      the broker's gRPC API with deadlines and mapped errors (broker_client.h)
//   ScopedCredential  a redeemed ccache as this thread's GSS default (scoped_credential.h)
//   writeCcacheFile / privateTempCcachePath   ccache files for child processes (ccache_file.h)
#pragma once

#include "gssgate/broker_client.h"      // IWYU pragma: export
#include "gssgate/ccache_file.h"        // IWYU pragma: export
#include "gssgate/scoped_credential.h"  // IWYU pragma: export
