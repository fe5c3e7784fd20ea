// Small string helpers (Debian's Abseil has its own string_view type, so absl/strings is not
// used with std::string_view; these fill the gap).
//
//   std::string msg = strCat(file, ":", line, ": ", text);
//   auto trimmed = trimAscii("  x ");  // "x"
//
// Thread-safety: pure functions.
#pragma once

#include <fmt/format.h>

#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace gssgate {

template <typename... Args>
std::string strCat(const Args&... args) {
  std::string out;
  (fmt::format_to(std::back_inserter(out), "{}", args), ...);
  return out;
}

std::string_view trimAscii(std::string_view s);
std::string toLowerAscii(std::string_view s);
bool equalsIgnoreCase(std::string_view a, std::string_view b);
std::string join(const std::vector<std::string>& parts, std::string_view sep);
// Splits on `sep`, trimming ASCII whitespace from each part; keeps empty parts.
std::vector<std::string_view> splitTrimmed(std::string_view s, char sep);

// The message of a Status as std::string (Debian's Abseil string_view is not std's).
inline std::string messageOf(const absl::Status& status) {
  return {status.message().data(), status.message().size()};
}

}  // namespace gssgate
