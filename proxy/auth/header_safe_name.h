// Whether a principal or local name can be sent upstream in a header and read back as exactly
// the same bytes: not empty, no control bytes (CR/LF would split the header, NUL ends C
// strings), and no leading or trailing space — HTTP parsers strip those as optional
// whitespace, so " alice" would reach the app as "alice", another user.
//
//   if (!isHeaderSafeName(principal)) → 403 unsafe_principal
//
// Thread-safety: pure function.
#pragma once

#include <string_view>

namespace gssgate::proxy {

bool isHeaderSafeName(std::string_view name);

}  // namespace gssgate::proxy
