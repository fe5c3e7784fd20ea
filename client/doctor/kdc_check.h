// The KDC checks of gssgatectl doctor, done with the proxy's keytab itself: an AS exchange as
// the service principal (is the KDC reachable, does it accept the keytab's key, how far apart
// are the clocks), then a TGS request for the same principal (the KDC's current kvno, the
// ok_as_delegate flag, and whether the keytab decrypts the ticket as the proxy would).
//
//   KdcFindings f = checkKdc({.keytab = cfg.keytab, .principal = "HTTP/www@EX.COM",
//                             .keytab_kvno = 3, .broker_configured = true});
//   report.add(f.kdc); report.add(f.skew); report.add(f.kvno); report.add(f.delegate);
//
// Nothing is written anywhere (MEMORY ccache, destroyed); no key or ticket is printed.
// Thread-safety: no shared state (one krb5 context per call).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "client/doctor/doctor_report.h"

namespace gssgate::client {

struct KdcCheckInput {
  std::string keytab;              // path of the FILE keytab
  std::string principal;           // full principal name, e.g. "HTTP/www.example.com@EXAMPLE.COM"
  uint32_t keytab_kvno = 0;        // the keytab's highest kvno for it
  bool broker_configured = false;  // ok_as_delegate matters only with a broker
  // Other principals of the keytab, tried for a TGT when `principal` is unknown as a client
  // (Active Directory: an SPN that is not the account's sign-in name).
  std::vector<std::string> other_principals;
};

struct KdcFindings {
  CheckResult kdc;       // "kdc"
  CheckResult skew;      // "clock-skew"
  CheckResult kvno;      // "kvno"
  CheckResult delegate;  // "ok-as-delegate"
};

KdcFindings checkKdc(const KdcCheckInput& input);

// --- pure parts (unit-tested without a KDC) ---

// What a failed AS exchange (krb5 error `code`, its library text `message`) means. `realm` is
// the principal's realm. Checks that could not run are kSkip.
KdcFindings explainAsFailure(int32_t code, std::string_view message, const KdcCheckInput& input,
                             std::string_view realm);

// `kdc_minus_local`: the KDC's time minus ours, seconds; `allowed`: krb5.conf clockskew.
CheckResult evaluateSkew(int64_t kdc_minus_local, int64_t allowed);

// `decrypt_error` empty: the keytab decrypted the KDC's fresh ticket.
CheckResult evaluateKvno(const KdcCheckInput& input, uint32_t kdc_kvno,
                         std::string_view decrypt_error);

CheckResult evaluateOkAsDelegate(std::string_view principal, bool ok_as_delegate,
                                 bool broker_configured);

}  // namespace gssgate::client
