// Makes Beast's fields::equal_range() pair usable in a range-for:
//
//   for (const auto& f : fieldRange(req.equal_range(http::field::content_length))) ...
//
// Thread-safety: a view over the caller's fields.
#pragma once

#include <utility>

namespace gssgate::proxy {

template <typename It>
struct FieldRange {
  std::pair<It, It> p;
  It begin() const { return p.first; }
  It end() const { return p.second; }
};

template <typename It>
FieldRange<It> fieldRange(std::pair<It, It> p) {
  return {p};
}

}  // namespace gssgate::proxy
