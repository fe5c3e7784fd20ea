#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan+UBSan, into build-fuzz/) and fuzzes each for N
# seconds, starting from the checked-in seeds. New interesting inputs go to a work dir, never
# into tests/fuzz/corpus/; a crash input is copied to the artifacts dir and the script exits 1.
# See docs/fuzzing.md.
#
# Usage: scripts/fuzz.sh [--seconds N] [--target NAME]... [--jobs N] [--parallel N] [--build-only]
#   --seconds N    per target (default 60); e.g. --seconds 3600 for a long run
#   --target NAME  only this target (repeatable); names are tests/fuzz/*_fuzz.cc without _fuzz.cc
#   --jobs N       libFuzzer -fork=N: N fuzzing processes per target (default 1)
#   --parallel N   fuzz N targets at the same time (default 1; CI uses the core count)
#   --build-only   build, run each seed corpus once, do not fuzz
# Env: GSSGATE_FUZZ_BUILD_DIR (build-fuzz), GSSGATE_FUZZ_WORK (build-fuzz/work: the grown
# corpora, kept between runs), GSSGATE_FUZZ_ARTIFACTS (build-fuzz/artifacts: crash inputs).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
seconds=60
jobs=1
parallel=1
build_only=0
targets=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --target) targets+=("$2"); shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    --build-only) build_only=1; shift ;;
    --parallel) parallel="$2"; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "fuzz.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
if [[ ${#targets[@]} -eq 0 ]]; then
  for f in "$root"/tests/fuzz/*_fuzz.cc; do
    n="$(basename "$f")"
    targets+=("${n%_fuzz.cc}")
  done
fi
build="${GSSGATE_FUZZ_BUILD_DIR:-$root/build-fuzz}"
work="${GSSGATE_FUZZ_WORK:-$build/work}"
artifacts="${GSSGATE_FUZZ_ARTIFACTS:-$build/artifacts}"

echo "== fuzz build (clang, libFuzzer + ASan + UBSan) in $build"
# Warnings are not errors here: the code is held to -Werror by the GCC builds, and clang's
# warning set differs.
CC=clang CXX=clang++ GSSGATE_BUILD_DIR="$build" \
  GSSGATE_TARGETS="$(printf '%s_fuzz ' "${targets[@]}")" \
  "$root/scripts/build.sh" -DGSSGATE_FUZZ=ON -DGSSGATE_WERROR=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DGSSGATE_BUILD_BENCH=OFF

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$root/tests/lsan.supp:print_suppressions=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
mkdir -p "$work" "$artifacts"
# One target: seed corpus only (--build-only) or a timed run. Writes ok/failed to
# $artifacts/<target>/status and its report to $artifacts/<target>/report.
run_one() {
  local t="$1"
  local bin="$build/tests/fuzz/${t}_fuzz"
  local seeds="$root/tests/fuzz/corpus/$t"
  local log="$artifacts/$t/fuzz.log"
  local report="$artifacts/$t/report"
  mkdir -p "$work/$t" "$artifacts/$t"
  if [[ $build_only == 1 ]]; then
    echo "== $t: seed corpus" >"$report"
    if "$bin" -runs=0 "$seeds" >"$log" 2>&1; then echo ok; else tail -30 "$log" >>"$report"; echo failed; fi \
      >"$artifacts/$t/status"
    return
  fi
  echo "== $t: fuzzed ${seconds}s (${jobs} job(s)); new inputs in $work/$t" >"$report"
  local args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=16384
              -artifact_prefix="$artifacts/$t/" -print_final_stats=1)
  [[ $jobs -gt 1 ]] && args+=(-fork="$jobs" -ignore_crashes=0)
  # The first corpus dir is where libFuzzer writes new inputs; the seeds are only read.
  if "$bin" "${args[@]}" "$work/$t" "$seeds" >"$log" 2>&1; then
    grep -E "stat::number_of_executed_units|cov:" "$log" | tail -2 >>"$report" || true
    echo ok >"$artifacts/$t/status"
  else
    {
      echo "!! $t failed; last lines of $log:"
      tail -40 "$log"
      ls "$artifacts/$t"/crash-* "$artifacts/$t"/leak-* "$artifacts/$t"/timeout-* \
        "$artifacts/$t"/oom-* 2>/dev/null || true
    } >>"$report"
    echo failed >"$artifacts/$t/status"
  fi
}

for t in "${targets[@]}"; do
  mkdir -p "$artifacts/$t"
  rm -f "$artifacts/$t/status"
  run_one "$t" &
  while [[ $(jobs -rp | wc -l) -ge $parallel ]]; do wait -n || true; done
done
wait
failed=()
for t in "${targets[@]}"; do
  cat "$artifacts/$t/report" 2>/dev/null || true
  [[ "$(cat "$artifacts/$t/status" 2>/dev/null)" == ok ]] || failed+=("$t")
done
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "fuzz.sh: failures in: ${failed[*]} (inputs in $artifacts/<target>/; keep each as a" \
    "seed in tests/fuzz/corpus/<target>/crash-<what> once fixed)" >&2
  exit 1
fi
echo "fuzz.sh: ${#targets[@]} target(s) ran without a finding"
