// Normalises a request-target so that route matching and the upstream see the same path.
// Without it "/public/../admin" or "/%61dmin" could match a public route and then be resolved
// to a protected one by the upstream.
//
//   auto target = normalizeTarget(req.target());   // nullopt → 400
//   const Route* route = matchRoute(routes, pathOf(*target));
//
// Rules: origin-form only ("/..."; "*" is accepted for OPTIONS by the caller); %XX escapes
// of unreserved characters are decoded; escapes must be valid hex; encoded '/', '\', NUL and
// controls, raw '\', '#', controls, and "." / ".." segments are refused; runs of '/' collapse.
// The query string is kept byte for byte.
//
// Thread-safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace gssgate::proxy {

std::optional<std::string> normalizeTarget(std::string_view target);

// The path part of a (normalised) target: everything before '?'.
std::string_view pathOf(std::string_view target);

// The path used for route matching: pathOf() with ";params" removed from every segment, as
// servlet containers do ("/admin;jsessionid=x" is "/admin" to Tomcat, so it must match the
// "/admin" route here too).
std::string routePathOf(std::string_view target);

}  // namespace gssgate::proxy
