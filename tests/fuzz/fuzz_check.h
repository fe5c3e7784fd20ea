// The oracle of a fuzz target: FUZZ_CHECK(cond, what) aborts with a message when `cond` is
// false, in every build type (unlike assert(), which NDEBUG removes), so that libFuzzer and
// the corpus regression tests both report the input as a failure.
//
//   FUZZ_CHECK(reparsed.is_done(), "upstream bytes are not one complete request");
#pragma once

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(cond, what)                                                                 \
  do {                                                                                         \
    if (!(cond)) {                                                                             \
      std::fprintf(stderr, "%s:%d: fuzz oracle violated: %s (%s)\n", __FILE__, __LINE__, what, \
                   #cond);                                                                     \
      std::abort();                                                                            \
    }                                                                                          \
  } while (0)
