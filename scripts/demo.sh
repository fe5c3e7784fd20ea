#!/usr/bin/env bash
# The demo: a throw-away Kerberos realm on loopback, gssgate-proxy in front of a demo upstream
# that echoes what it received, and curl signing in with Negotiate.
# Usage (as root on Debian 12):  scripts/demo.sh        (installs, builds, runs, cleans up)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
py=/usr/bin/python3

"$root/scripts/install-deps.sh"
GSSGATE_TARGETS="gssgate-proxy" "$root/scripts/build.sh"

work="$(mktemp -d /tmp/gssgate-demo.XXXXXX)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  "$py" "$root/tests/realm/gssgate_realm.py" down "$work" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "1. A demo realm GSSGATE.TEST on loopback (MIT KDC), users alice and bob"
"$py" "$root/tests/realm/gssgate_realm.py" up "$work" --users alice,bob \
  --service "HTTP/localhost=$work/http.keytab"
# shellcheck disable=SC1091
source "$work/env.sh"

step "2. A demo upstream app (echoes the request it received as JSON)"
"$py" "$root/tests/integration/echo_upstream.py" --port 0 >"$work/upstream.port" 2>"$work/upstream.log" &
pids+=($!)
for _ in $(seq 50); do [[ -s $work/upstream.port ]] && break; sleep 0.1; done
up_port="$(head -1 "$work/upstream.port")"
echo "upstream on 127.0.0.1:$up_port"

step "3. gssgate-proxy in front of it"
port="$(free_port)"; admin="$(free_port)"
cat >"$work/proxy.yaml" <<YAML
listen: 127.0.0.1:$port
upstream: http://127.0.0.1:$up_port
keytab: $work/http.keytab
admin_listen: 127.0.0.1:$admin
routes:
  - path: /public
    auth: none
  - path: /
    auth: negotiate
YAML
cat "$work/proxy.yaml"
"$root/build/proxy/gssgate-proxy" --config "$work/proxy.yaml" 2>"$work/proxy.log" &
pids+=($!)
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$admin/readyz" >/dev/null && break; sleep 0.1; done

show() { "$py" -c 'import json,sys; d=json.load(sys.stdin); print("  upstream saw:", d["method"], d["path"]); [print("   ", k+":", v) for k,v in d["headers"]]'; }

step "4. Without a Kerberos ticket: 401 + WWW-Authenticate: Negotiate"
kdestroy -A 2>/dev/null || true
curl -s -o /dev/null -D - "http://localhost:$port/app" | sed -n '1p;/WWW-Authenticate/p'

step "5. alice gets a ticket (kinit) and signs in with curl --negotiate"
echo alice-password | kinit alice >/dev/null
klist | sed -n '1,2p'
curl -s --negotiate -u : "http://localhost:$port/app" -H 'X-Remote-User: mallory' | show
echo "  (the client's forged X-Remote-User: mallory was removed; the proxy set the real one)"

step "6. A public route needs no ticket and carries no identity"
kdestroy -A
curl -s "http://localhost:$port/public/info" | show

step "Proxy log"
cat "$work/proxy.log"
printf '\nDemo done: alice was signed in by Kerberos; the app got X-Remote-User: alice.\n'
