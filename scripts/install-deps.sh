#!/usr/bin/env bash
# Installs every build, test and benchmark dependency of gssgate from Debian 12's packages.
# Idempotent: packages already present are left alone; safe to run again.
# Usage (as root):  scripts/install-deps.sh            # build + tests
#                   scripts/install-deps.sh --bench    # + nginx, apache2/mod_auth_gssapi, wrk
set -euo pipefail

want_bench=0
for arg in "$@"; do
  case "$arg" in
    --bench) want_bench=1 ;;
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
  krb5-kdc krb5-admin-server krb5-user curl procps
  python3 python3-gssapi python3-pytest
  postgresql-15 postgresql-client-15 libpq-dev python3-psycopg2
  python3-grpcio python3-grpc-tools python3-protobuf python3-cryptography
)
bench_pkgs=(nginx-light apache2 libapache2-mod-auth-gssapi wrk)

pkgs=("${build_pkgs[@]}" "${test_pkgs[@]}")
if [[ $want_bench == 1 ]]; then pkgs+=("${bench_pkgs[@]}"); fi

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if [[ ${#missing[@]} == 0 ]]; then
  echo "install-deps: all ${#pkgs[@]} packages already installed"
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
echo "install-deps: done"
