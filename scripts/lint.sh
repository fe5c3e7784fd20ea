#!/usr/bin/env bash
# Lints gssgate's own C++ code: clang-format (.clang-format) and clang-tidy (.clang-tidy) over
# the *.h / *.cc files git knows about, never build trees or generated *.pb.* files.
# Exits non-zero if any file is misformatted or has a clang-tidy finding.
#
# Usage: scripts/lint.sh [options] [PATH...]
#   PATH...            only files under these paths (default: the whole repository)
#   --format-only      only check formatting (fast; needs no build)
#   --fix-format       rewrite files with clang-format -i, then exit (no clang-tidy)
#   --tidy-only        only run clang-tidy
#   -p, --build DIR    build tree whose compile_commands.json clang-tidy uses (default: build);
#                      configure it first, e.g. cmake -S . -B build -G Ninja
#   -j, --jobs N       parallel clang-tidy processes (default: nproc)
# Environment: CLANG_FORMAT, CLANG_TIDY override the tools (default: the -14 versions).
#
# Examples: scripts/lint.sh --format-only
#           scripts/lint.sh -p build-unit common tests/unit
#           scripts/lint.sh --fix-format common
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

mode=all
build=build
jobs="$(nproc)"
paths=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --format-only) mode=format ;;
    --fix-format) mode=fix ;;
    --tidy-only) mode=tidy ;;
    -p | --build)
      [[ $# -ge 2 ]] || { echo "lint.sh: $1 needs a directory" >&2; exit 2; }
      build="$2"
      shift
      ;;
    -j | --jobs)
      [[ $# -ge 2 ]] || { echo "lint.sh: $1 needs a number" >&2; exit 2; }
      jobs="$2"
      shift
      ;;
    -h | --help)
      sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
      exit 0
      ;;
    -*) echo "lint.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
    *) paths+=("$1") ;;
  esac
  shift
done

pick_tool() {  # pick_tool VAR name-14 name
  local override="${!1:-}"
  if [[ -n "$override" ]]; then echo "$override"; return; fi
  if command -v "$2" >/dev/null; then echo "$2"; return; fi
  if command -v "$3" >/dev/null; then echo "$3"; return; fi
  echo "lint.sh: neither $2 nor $3 found (apt-get install clang-format clang-tidy)" >&2
  exit 2
}

# Our sources: tracked and new (not ignored) files, minus build trees and generated code.
mapfile -t files < <(
  git ls-files --cached --others --exclude-standard -- "${paths[@]}" |
    grep -E '\.(h|cc)$' |
    grep -Ev '(^|/)build[^/]*/|\.pb\.(h|cc)$|(^|/)third_party/' |
    sort -u
)
existing=()
for f in "${files[@]}"; do
  [[ -f "$f" ]] && existing+=("$f")
done
files=("${existing[@]}")
if [[ ${#files[@]} == 0 ]]; then
  echo "lint.sh: no *.h / *.cc files under: ${paths[*]:-.}" >&2
  exit 2
fi

status=0

if [[ $mode == fix ]]; then
  fmt="$(pick_tool CLANG_FORMAT clang-format-14 clang-format)"
  "$fmt" -i --style=file "${files[@]}"
  echo "lint: formatted ${#files[@]} files"
  exit 0
fi

if [[ $mode == all || $mode == format ]]; then
  fmt="$(pick_tool CLANG_FORMAT clang-format-14 clang-format)"
  bad=()
  for f in "${files[@]}"; do
    if ! "$fmt" --dry-run -Werror --style=file "$f" 2>/dev/null; then bad+=("$f"); fi
  done
  if [[ ${#bad[@]} -gt 0 ]]; then
    # Show the first few diagnostics, then the list of files to fix.
    "$fmt" --dry-run -Werror --style=file "${bad[@]}" 2>&1 | head -n 40 >&2 || true
    printf 'lint: clang-format: %d file(s) need formatting (scripts/lint.sh --fix-format PATH):\n' \
      "${#bad[@]}" >&2
    printf '  %s\n' "${bad[@]}" >&2
    status=1
  else
    echo "lint: clang-format: ${#files[@]} files OK"
  fi
fi

if [[ $mode == all || $mode == tidy ]]; then
  tidy="$(pick_tool CLANG_TIDY clang-tidy-14 clang-tidy)"
  db="$build/compile_commands.json"
  if [[ ! -f "$db" ]]; then
    echo "lint.sh: $db not found; configure first: cmake -S . -B $build -G Ninja" >&2
    exit 2
  fi
  # Only translation units the build compiles (headers are checked through them; see
  # HeaderFilterRegex in .clang-tidy).
  mapfile -t in_db < <(python3 - "$db" "$root" <<'EOF'
import json, os, sys
db, root = sys.argv[1], sys.argv[2]
for entry in json.load(open(db)):
    path = os.path.normpath(os.path.join(entry.get("directory", ""), entry["file"]))
    if path.startswith(root + os.sep):
        print(os.path.relpath(path, root))
EOF
  )
  declare -A compiled=()
  for f in "${in_db[@]}"; do compiled["$f"]=1; done
  units=()
  skipped=()
  for f in "${files[@]}"; do
    [[ $f == *.cc ]] || continue
    if [[ -n "${compiled[$f]:-}" ]]; then units+=("$f"); else skipped+=("$f"); fi
  done
  if [[ ${#skipped[@]} -gt 0 ]]; then
    echo "lint: clang-tidy: ${#skipped[@]} file(s) not in $db, not checked: ${skipped[*]}" >&2
  fi
  if [[ ${#units[@]} -gt 0 ]]; then
    outdir="$(mktemp -d)"
    trap 'rm -rf "$outdir"' EXIT
    export tidy build outdir
    start=$SECONDS
    # One clang-tidy per file, N at a time; each file's findings are printed in one piece.
    # -Wno-unknown-warning-option: the database holds GCC's flags, which clang may not know.
    if ! printf '%s\0' "${units[@]}" | xargs -0 -n 1 -P "$jobs" bash -c '
        f="$1"; log="$outdir/$(echo "$f" | tr / _).log"; t=$SECONDS
        if "$tidy" -p "$build" --quiet --extra-arg=-Wno-unknown-warning-option "$f" >"$log" 2>&1
        then echo "  ok    $f ($((SECONDS - t))s)"
        else echo "  FAIL  $f ($((SECONDS - t))s)"; grep -v " warnings\? generated\.$" "$log"; exit 1
        fi' _; then
      echo "lint: clang-tidy: findings above ($((SECONDS - start))s)" >&2
      status=1
    else
      echo "lint: clang-tidy: ${#units[@]} files OK ($((SECONDS - start))s)"
    fi
  fi
fi

exit "$status"
