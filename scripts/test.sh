#!/usr/bin/env bash
# The whole test suite: installs dependencies, builds with warnings as errors, runs ctest
# (unit + integration against a real KDC + the fuzz corpora), then again under ASan+UBSan, then
# the concurrency tests under TSan, then every fuzz target for a while (docs/fuzzing.md).
# Usage (as root on Debian 12):  scripts/test.sh
#   GSSGATE_SKIP_ASAN=1   skip the ASan+UBSan pass (quicker local runs)
#   GSSGATE_SKIP_TSAN=1   skip the TSan pass
#   GSSGATE_SKIP_FUZZ=1   skip the libFuzzer pass
#   GSSGATE_FUZZ_SECONDS  seconds per fuzz target (default 60)
#   GSSGATE_SKIP_LINT=1   skip the clang-format check
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
jobs="$(nproc)"

scripts/install-deps.sh

if [[ "${GSSGATE_SKIP_LINT:-0}" != 1 && -x scripts/lint.sh ]]; then
  echo "== clang-format check"
  scripts/lint.sh --format-only
fi

echo "== build (Release, -Werror)"
GSSGATE_BUILD_DIR="$root/build" scripts/build.sh -DCMAKE_BUILD_TYPE=Release
echo "== tests"
(cd build && ctest --output-on-failure -j"$jobs" --timeout 600)

if [[ "${GSSGATE_SKIP_ASAN:-0}" != 1 ]]; then
  echo "== build (ASan+UBSan)"
  # -g1: line tables are all ASan reports need, and full debug info of Beast's templates
  # doubles the build time on CI's 2 cores.
  GSSGATE_BUILD_DIR="$root/build-asan" scripts/build.sh -DCMAKE_BUILD_TYPE=Debug \
    -DCMAKE_CXX_FLAGS_DEBUG="-O0 -g1" -DGSSGATE_SANITIZE=asan -DGSSGATE_BUILD_BENCH=OFF
  echo "== tests under ASan+UBSan"
  export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1:detect_stack_use_after_return=0"
  export LSAN_OPTIONS="suppressions=$root/tests/lsan.supp:print_suppressions=0"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
  (cd build-asan && ctest --output-on-failure -j"$jobs" --timeout 900)
fi

if [[ "${GSSGATE_SKIP_TSAN:-0}" != 1 ]]; then
  echo "== build (TSan)"
  # The proxy and the unit tests of common/, proxy/ and broker/ (CMakePresets.json "tsan").
  # gRPC-based tests (client_unit_tests, test_broker.py) are left out: gRPC's C++ templates,
  # inlined into our instrumented code, synchronise through Debian's uninstrumented
  # libgrpc/abseil, and TSan reports thousands of false races there (docs/fuzzing.md).
  GSSGATE_BUILD_DIR="$root/build-tsan" \
    GSSGATE_TARGETS="gssgate-proxy unit_tests proxy_unit_tests broker_unit_tests" \
    scripts/build.sh -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" \
    -DGSSGATE_SANITIZE=tsan -DGSSGATE_BUILD_BENCH=OFF
  echo "== unit and concurrency tests under TSan"
  (
    export TSAN_OPTIONS="suppressions=$root/tests/tsan.supp:halt_on_error=1:second_deadlock_stack=1:ignore_noninstrumented_modules=1"
    unset ASAN_OPTIONS LSAN_OPTIONS UBSAN_OPTIONS
    cd build-tsan
    # PathologicalPatternsAreFast asserts a time bound that TSan's slowdown breaks.
    tests/unit/unit_tests --gtest_brief=1 --gtest_filter=-GlobMatch.PathologicalPatternsAreFast
    tests/unit/proxy_unit_tests --gtest_brief=1
    tests/unit/broker_unit_tests --gtest_brief=1
    ctest --output-on-failure -j"$jobs" --timeout 900 \
      -R '^integration\.(test_proxy_flood|test_proxy_lifecycle|test_session)$'
  )
fi

if [[ "${GSSGATE_SKIP_FUZZ:-0}" != 1 ]]; then
  echo "== fuzz (libFuzzer, ${GSSGATE_FUZZ_SECONDS:-60}s per target)"
  # Two targets at a time on CI's two cores: every target still gets its full time.
  scripts/fuzz.sh --seconds "${GSSGATE_FUZZ_SECONDS:-60}" --parallel "$jobs"
fi
