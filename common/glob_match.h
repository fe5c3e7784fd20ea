// Shell-style glob matching for principal names and service names: '*' matches any run of
// bytes (including '/' and '@'), '?' one byte; everything else matches itself, case-sensitively.
//
//   globMatch("*@EXAMPLE.COM", "alice@EXAMPLE.COM");   // true
//   globMatch("postgres/*", "HTTP/web");              // false
//
// Iterative with single-star backtracking: no recursion, linear in practice.
// Thread-safety: pure function.
#pragma once

#include <string_view>

namespace gssgate {

bool globMatch(std::string_view pattern, std::string_view text);

}  // namespace gssgate
