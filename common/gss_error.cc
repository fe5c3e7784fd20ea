#include "common/gss_error.h"

#include "common/gss_handles.h"
#include "common/krb5_handles.h"

namespace gssgate {
namespace {

// gss_display_status may return several messages per code; the loop collects all of them.
std::string displayAll(OM_uint32 code, int type, gss_OID mech) {
  std::string out;
  OM_uint32 context = 0;
  // Bound the loop: a misbehaving mechanism must not spin us forever.
  for (int i = 0; i < 16; ++i) {
    OM_uint32 minor = 0;
    GssBuffer msg;
    OM_uint32 major = gss_display_status(&minor, code, type, mech, &context, msg.out());
    if (GSS_ERROR(major)) break;
    if (!msg.empty()) {
      if (!out.empty()) out += "; ";
      out += msg.view();
    }
    if (context == 0) break;
  }
  return out;
}

// Text for a minor status that the GSS library did not hand out in this process, such as a raw
// krb5 code or one relayed from another process: gss_display_status rejects those
// (GSS_S_BAD_STATUS), but krb5's com_err tables explain them. The tables are registered by the
// first krb5_init_context, even when krb5.conf is unusable. "" if no table knows the code.
std::string krb5MinorText(OM_uint32 minor) {
  static const bool kTablesRegistered = Krb5Context::create().ok();
  static_cast<void>(kTablesRegistered);
  std::string text = krb5ErrorMessage(nullptr, static_cast<krb5_error_code>(minor));
  return text.starts_with("Unknown code") ? std::string() : text;
}

}  // namespace

std::string gssErrorMessage(OM_uint32 major, OM_uint32 minor, gss_OID mech) {
  std::string text = displayAll(major, GSS_C_GSS_CODE, GSS_C_NO_OID);
  if (text.empty()) text = "GSS major status " + std::to_string(major);
  if (minor != 0) {
    std::string minorText = displayAll(minor, GSS_C_MECH_CODE, mech);
    if (minorText.empty()) minorText = krb5MinorText(minor);
    if (minorText.empty()) minorText = "minor status " + std::to_string(minor);
    text += " (" + minorText + ")";
  }
  return text;
}

}  // namespace gssgate
