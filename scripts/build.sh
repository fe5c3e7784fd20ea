#!/usr/bin/env bash
# Configures and builds gssgate into build/ (or $GSSGATE_BUILD_DIR). Extra args go to cmake.
# Usage: scripts/build.sh [-DGSSGATE_SANITIZE=asan ...]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${GSSGATE_BUILD_DIR:-$root/build}"
cmake -S "$root" -B "$build" -G Ninja -DGSSGATE_WERROR=ON "$@" >/dev/null
ninja -C "$build" ${GSSGATE_TARGETS:-}
