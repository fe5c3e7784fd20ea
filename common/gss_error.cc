#include "common/gss_error.h"

#include "common/gss_handles.h"

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

}  // namespace

std::string gssErrorMessage(OM_uint32 major, OM_uint32 minor, gss_OID mech) {
  std::string text = displayAll(major, GSS_C_GSS_CODE, GSS_C_NO_OID);
  if (text.empty()) text = "GSS major status " + std::to_string(major);
  if (minor != 0) {
    std::string minorText = displayAll(minor, GSS_C_MECH_CODE, mech);
    if (minorText.empty()) minorText = "minor status " + std::to_string(minor);
    text += " (" + minorText + ")";
  }
  return text;
}

}  // namespace gssgate
