#!/usr/bin/env bash
# The demo: a throw-away Kerberos realm on loopback, a PostgreSQL that accepts only GSSAPI,
# gssgate-broker, gssgate-proxy in front of a demo app, and curl signing in with Negotiate and
# delegation — the app then queries PostgreSQL *as the user* without ever holding a TGT; then
# the same with the Django example app on the Python SDK (examples/django).
# Usage (as root on Debian 12):  scripts/demo.sh        (installs, builds, runs, cleans up)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
py=/usr/bin/python3

"$root/scripts/install-deps.sh"
GSSGATE_TARGETS="gssgate-proxy gssgate-broker gssgatectl" "$root/scripts/build.sh"

work="$(mktemp -d /tmp/gssgate-demo.XXXXXX)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  "$py" "$root/tests/realm/pg_cluster.py" down "$work/pg" >/dev/null 2>&1 || true
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

step "2. PostgreSQL 15 that accepts only GSSAPI (pg_hba: one 'gss' line), roles alice and bob"
"$py" "$root/tests/realm/pg_cluster.py" up "$work/pg" --realm-dir "$work" --roles alice,bob
pg_port="$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["port"])' "$work/pg/pg.json")"
grep -v '^#' "$work/pg/pg.json" | "$py" -c 'import json,sys; print("  pg_hba.conf:", json.load(sys.stdin).get("hba",""))'

step "3. gssgate-broker: keeps delegated tickets, hands out postgres/* tickets only"
mkdir -m 0700 "$work/run"
cat >"$work/broker.yaml" <<YAML
listen: unix:$work/run/broker.sock
deposit_listen: unix:$work/run/deposit.sock
policy:
  - uid: any
    services: ["postgres/*"]
YAML
cat "$work/broker.yaml"
"$root/build/broker/gssgate-broker" --config "$work/broker.yaml" 2>"$work/broker.log" &
pids+=($!)

step "4. The demo app: redeems the handle with gssgatectl, runs SELECT current_user with psql"
"$py" "$root/examples/demo_app/demo_app.py" --port 0 --broker "unix:$work/run/broker.sock" \
  --gssgatectl "$root/build/client/gssgatectl" \
  --conninfo "host=localhost port=$pg_port dbname=postgres" >"$work/app.port" 2>"$work/app.log" &
pids+=($!)
for _ in $(seq 50); do [[ -s $work/app.port ]] && break; sleep 0.1; done
app_port="$(head -1 "$work/app.port")"

step "5. gssgate-proxy in front of the app"
port="$(free_port)"; admin="$(free_port)"
cat >"$work/proxy.yaml" <<YAML
listen: 127.0.0.1:$port
upstream: http://127.0.0.1:$app_port
keytab: $work/http.keytab
admin_listen: 127.0.0.1:$admin
broker: unix:$work/run/deposit.sock
YAML
cat "$work/proxy.yaml"
"$root/build/proxy/gssgate-proxy" --config "$work/proxy.yaml" 2>"$work/proxy.log" &
pids+=($!)
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$admin/readyz" >/dev/null && break; sleep 0.1; done

show() { "$py" -c 'import json,sys; d=json.load(sys.stdin); [print("   ", k+":", v) for k,v in d.items()]'; }

step "6. Without a Kerberos ticket: 401 + WWW-Authenticate: Negotiate"
kdestroy -A 2>/dev/null || true
curl -s -o /dev/null -D - "http://localhost:$port/" | sed -n '1p;/WWW-Authenticate/p'

step "7. alice: kinit, then curl --negotiate --delegation always"
echo alice-password | kinit -f alice >/dev/null
curl -s --negotiate -u : --delegation always -c "$work/alice.cookies" "http://localhost:$port/" \
  -H 'X-Remote-User: mallory' | show
echo "  (the forged X-Remote-User: mallory was stripped by the proxy)"

step "7b. alice again with only her session cookie (ticket destroyed): no GSS call, no deposit"
kdestroy -A
curl -s -b "$work/alice.cookies" "http://localhost:$port/" | show
curl -s "http://127.0.0.1:$admin/metrics" | grep -E '^gssgate_proxy_(gss_accept_calls_total|auth_total\{reason="session"\})' | sed 's/^/    /'

step "8. bob, the same way"
echo bob-password | kinit -f bob >/dev/null
curl -s --negotiate -u : --delegation always "http://localhost:$port/" | show

step "9. Signed in without delegation: authenticated, but no database access"
curl -s --negotiate -u : "http://localhost:$port/" | show
kdestroy -A

step "10. The Django example (examples/django, Python SDK) behind a second proxy: alice's page"
port2="$(free_port)"; admin2="$(free_port)"
EXAMPLE_STATE_DIR="$work/django" GSSGATE_JWKS_URL="http://127.0.0.1:$admin2/.well-known/jwks.json" \
  GSSGATE_BROKER_SOCKET="unix:$work/run/broker.sock" EXAMPLE_PG_PORT="$pg_port" \
  "$py" "$root/examples/django/serve.py" --port 0 >"$work/django.port" 2>"$work/django.log" &
pids+=($!)
for _ in $(seq 100); do [[ -s $work/django.port ]] && break; sleep 0.1; done
cat >"$work/proxy2.yaml" <<YAML
listen: 127.0.0.1:$port2
upstream: http://127.0.0.1:$(head -1 "$work/django.port")
keytab: $work/http.keytab
admin_listen: 127.0.0.1:$admin2
broker: unix:$work/run/deposit.sock
YAML
"$root/build/proxy/gssgate-proxy" --config "$work/proxy2.yaml" 2>"$work/proxy2.log" &
pids+=($!)
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$admin2/readyz" >/dev/null && break; sleep 0.1; done
echo alice-password | kinit -f alice >/dev/null
curl -s --negotiate -u : --delegation always "http://localhost:$port2/" \
  | sed -n 's/.*<h1>\(.*\)<\/h1>.*/    \1/p; s/.*<tr><th>\(.*\)<\/th><td[^>]*>\(.*\)<\/td><\/tr>.*/    \1: \2/p' | cut -c1-90
echo "  a forged X-Remote-User sent straight to the app (bypassing the proxy):"
printf '    HTTP %s\n' "$(curl -s -o /dev/null -w '%{http_code}' -H 'X-Remote-User: alice' \
  "http://127.0.0.1:$(head -1 "$work/django.port")/")"
kdestroy -A

step "Broker audit log"
grep -E 'deposit|redeem' "$work/broker.log" || true
step "Proxy log"
cat "$work/proxy.log"
printf '\nDemo done: each user signed in with Kerberos, and the apps (the stdlib demo app and the\nDjango example) queried PostgreSQL as that user with a postgres/localhost ticket from the\nbroker (tgt=false: they never saw a TGT).\n'
