// The calling thread's krb5 context (MIT: a context must not be shared between threads).
// Created on first use in each thread, freed when the thread exits.
//
//   krb5_context ctx = threadKrb5Context();
//   if (ctx == nullptr) → krb5 configuration unusable
#pragma once

#include <krb5/krb5.h>

namespace gssgate {

krb5_context threadKrb5Context();

}  // namespace gssgate
