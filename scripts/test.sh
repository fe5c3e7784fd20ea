#!/usr/bin/env bash
# The whole test suite: installs dependencies, builds with warnings as errors, runs ctest
# (unit + integration against a real KDC), then again under ASan+UBSan.
# Usage (as root on Debian 12):  scripts/test.sh
#   GSSGATE_SKIP_ASAN=1   skip the sanitizer pass (quicker local runs)
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
