"""Metrics, access log, audit log, JSON lines and log levels of both daemons (issue 5), and
scaling out: a session that lands on a replica whose broker lacks its credential (issue 5, 6).
Real KDC, real gssgate-proxy and gssgate-broker, python-gssapi and curl clients.

What is checked, and how it would show if it broke:
* Proxy /metrics: requests by route and status, auth outcomes, rejections by reason, handshake,
  upstream, request and deposit histograms and the upstream idle gauge move by exactly what a
  known sequence of requests implies; the text is well-formed Prometheus (HELP/TYPE for every
  family, cumulative buckets, _count == +Inf bucket).
* Broker /metrics (admin_listen): deposits, redemptions by outcome, handles refused, stored
  credentials and latency counts move; /healthz and /readyz answer.
* Access log: one line per request with client, method, path (never the query), route, status,
  bytes, duration, auth method and principal; in JSON mode every line of both daemons is a JSON
  object and the access/audit fields are its members.
* Log level follows the config and a SIGHUP.
* Two replicas sharing the session key, each with its own broker: the cookie from A opens on B;
  a delegated session from A on B is challenged again (401 Negotiate, counted session_stale),
  re-delegates to B's broker and gets a handle that redeems at B — never a hard failure.

Run: GSSGATE_PROXY=... GSSGATE_BROKER=... GSSGATECTL=... /usr/bin/python3 -m pytest -q \
     test_observability.py
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import time

import pytest

import proxytest
from proxytest import http_request, negotiate_token, upstream_header_values

pytest.register_assert_rewrite("broker_fixtures")  # before the import below
from broker_fixtures import (  # noqa: E402
    NOT_FOUND_MESSAGE, REALM_NAME, assert_ctl_fails, ctl, redeem_ctl)

pytest_plugins = ["broker_fixtures"]

ALICE = f"alice@{REALM_NAME}"
COOKIE = "gssgate_session"
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (-?[0-9.e+-]+|\+Inf|NaN)$')


# ------------------------------------------------------------------------------- helpers
def scrape(port: int) -> dict[str, float]:
    """Parses /metrics strictly: every sample belongs to a family announced by HELP and TYPE."""
    r = http_request(port, path="/metrics")
    assert r.status == 200, r
    assert r.header("Content-Type").startswith("text/plain; version=0.0.4"), r.headers
    families: dict[str, str] = {}
    helped: set[str] = set()
    out: dict[str, float] = {}
    for line in r.text.splitlines():
        if line.startswith("# HELP "):
            helped.add(line.split(" ")[2])
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in ("counter", "gauge", "histogram"), line
            families[name] = kind
            continue
        m = SAMPLE.match(line)
        assert m, f"malformed sample line: {line!r}"
        name = m.group(1)
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        family = name if name in families else base
        assert family in families and family in helped, f"{name} has no HELP/TYPE"
        key = name + (m.group(2) or "")
        assert key not in out, f"duplicate series {key}"
        out[key] = float(m.group(3))
    # Histograms: cumulative buckets ending in +Inf == _count.
    for name, kind in families.items():
        if kind != "histogram":
            continue
        buckets = [(k, v) for k, v in out.items() if k.startswith(name + "_bucket{")]
        assert buckets, name
        values = [v for _, v in buckets]
        assert values == sorted(values), f"{name} buckets not cumulative: {buckets}"
        assert buckets[-1][0].endswith('le="+Inf"}') and buckets[-1][1] == out[name + "_count"]
    return out


def scrape_when(port: int, key: str, want: float, timeout: float = 5) -> dict[str, float]:
    """Scrapes until `key` reaches `want`: a request is counted just after its response is
    written, so a client can read the response a moment before the counters move."""
    deadline = time.time() + timeout
    while True:
        m = scrape(port)
        if m.get(key, 0.0) >= want or time.time() > deadline:
            return m
        time.sleep(0.02)


def delta(after: dict, before: dict, key: str) -> float:
    return after.get(key, 0.0) - before.get(key, 0.0)


def access_lines(p) -> list[str]:
    return [ln for ln in p.log_text().splitlines() if "[access] request:" in ln]


def fields(line: str) -> dict[str, str]:
    """key=value pairs of a text LogEvent line (values may be "quoted")."""
    return {k: v.strip('"') for k, v in re.findall(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)', line)}


def cookie_of(resp) -> str | None:
    for v in resp.header_values("Set-Cookie"):
        name, _, rest = v.partition("=")
        if name == COOKIE:
            return rest.split(";", 1)[0]
    return None


# ------------------------------------------------------------------------------- metrics
def test_proxy_metrics_move_with_requests(proxy):
    p = proxy(routes=[{"path": "/app", "auth": "negotiate"}, {"path": "/public", "auth": "none"}],
              session={"lifetime": "10m"})
    before = scrape(p.admin_port)
    r = http_request(p.port, path="/app/x")  # no header: 401
    assert r.status == 401
    r = http_request(p.port, path="/app/x",
                     headers={"Authorization": "Negotiate " + negotiate_token("alice")})
    assert r.status == 200
    cookie = cookie_of(r)
    assert cookie
    r = http_request(p.port, path="/app/y", headers={"Cookie": f"{COOKIE}={cookie}"})
    assert r.status == 200
    assert http_request(p.port, path="/public/z").status == 200
    assert http_request(p.port, path="/elsewhere").status == 404
    key = "gssgate_proxy_request_duration_seconds_count"
    after = scrape_when(p.admin_port, key, before.get(key, 0) + 5)

    assert delta(after, before, 'gssgate_proxy_requests_total{route="/app",code="401"}') == 1
    assert delta(after, before, 'gssgate_proxy_requests_total{route="/app",code="200"}') == 2
    assert delta(after, before, 'gssgate_proxy_requests_total{route="/public",code="200"}') == 1
    assert delta(after, before, 'gssgate_proxy_requests_total{route="",code="404"}') == 1
    assert delta(after, before, 'gssgate_proxy_responses_total{code="200"}') == 3
    assert delta(after, before, 'gssgate_proxy_auth_total{reason="no_header"}') == 1
    assert delta(after, before, 'gssgate_proxy_auth_total{reason="ok"}') == 1
    assert delta(after, before, 'gssgate_proxy_auth_total{reason="session"}') == 1
    assert delta(after, before, 'gssgate_proxy_rejections_total{reason="no_route"}') == 1
    assert delta(after, before, 'gssgate_proxy_rejections_total{reason="no_header"}') == 1
    assert delta(after, before, "gssgate_proxy_gss_accept_seconds_count") == 1
    assert delta(after, before, "gssgate_proxy_gss_accept_calls_total") == 1
    assert delta(after, before, "gssgate_proxy_upstream_response_seconds_count") == 3
    assert delta(after, before, "gssgate_proxy_request_duration_seconds_count") == 5
    assert delta(after, before, "gssgate_proxy_request_duration_seconds_sum") > 0
    used = (delta(after, before, 'gssgate_proxy_upstream_connections_total{kind="new"}')
            + delta(after, before, 'gssgate_proxy_upstream_connections_total{kind="reused"}'))
    assert used == 3
    assert after["gssgate_proxy_upstream_idle_connections"] >= 1
    assert after["gssgate_proxy_broker_deposit_seconds_count"] == 0  # no broker configured


def test_admin_endpoints_of_the_proxy(proxy):
    p = proxy()
    assert http_request(p.admin_port, path="/healthz").text == "ok\n"
    assert http_request(p.admin_port, path="/readyz").text == "ready\n"
    assert http_request(p.admin_port, path="/nope").status == 404
    assert http_request(p.admin_port, method="POST", path="/metrics", body=b"").status == 405
    jwks = json.loads(http_request(p.admin_port, path="/.well-known/jwks.json").text)
    assert jwks["keys"] and "d" not in jwks["keys"][0]  # public part only


def test_broker_metrics_move_with_deposits_and_redemptions(broker_factory, proxy, pg_service,
                                                           tmp_path):
    admin = proxytest.free_port()
    b = broker_factory(admin_listen=f"127.0.0.1:{admin}")
    assert http_request(admin, path="/healthz").text == "ok\n"
    assert http_request(admin, path="/readyz").text == "ready\n"
    p = proxy(broker=b.deposit, timeouts={"broker": "3s"})
    before = scrape(admin)
    assert before["gssgate_broker_stored_credentials"] == 0
    pbefore = scrape(p.admin_port)

    r = http_request(p.port, headers={
        "Authorization": "Negotiate " + negotiate_token("alice", delegate=True)})
    assert r.status == 200
    (handle,) = upstream_header_values(r, "X-Gssgate-Credential")
    res = redeem_ctl(b.backend, handle, tmp_path / "pg.ccache")
    assert res.returncode == 0, res.stderr
    assert_ctl_fails(redeem_ctl(b.backend, handle[:-4] + "AAAA", tmp_path / "x.ccache"),
                     NOT_FOUND_MESSAGE)
    assert_ctl_fails(redeem_ctl(b.backend, handle, tmp_path / "y.ccache",
                                service="HTTP/localhost"), "not allowed")
    after = scrape(admin)
    key = "gssgate_proxy_request_duration_seconds_count"
    pafter = scrape_when(p.admin_port, key, pbefore.get(key, 0) + 1)

    assert delta(after, before, 'gssgate_broker_deposits_total{outcome="ok"}') == 1
    assert delta(after, before, 'gssgate_broker_redemptions_total{outcome="ok"}') == 1
    assert delta(after, before, 'gssgate_broker_redemptions_total{outcome="not_found"}') == 1
    assert delta(after, before, 'gssgate_broker_redemptions_total{outcome="denied"}') == 1
    assert delta(after, before, "gssgate_broker_handles_refused_total") == 1
    assert after["gssgate_broker_stored_credentials"] == 1
    assert delta(after, before, "gssgate_broker_deposit_seconds_count") == 1
    assert delta(after, before, "gssgate_broker_redeem_seconds_count") == 3
    assert delta(pafter, pbefore, 'gssgate_proxy_broker_deposits_total{outcome="ok"}') == 1
    assert delta(pafter, pbefore, "gssgate_proxy_broker_deposit_seconds_count") == 1

    # Revocation empties the store; the gauge follows.
    assert ctl("revoke", "--broker", b.backend, "--handle", handle).returncode == 0
    after2 = scrape(admin)
    assert after2["gssgate_broker_stored_credentials"] == 0
    assert delta(after2, after, "gssgate_broker_revocations_total") == 1


def test_broker_admin_listen_is_validated(broker_factory):
    b = broker_factory(_start=False)
    for bad in ("localhost:9000", "127.0.0.1", "127.0.0.1:99999"):
        res = b.check_config(text=f"listen: {b.config['listen']}\n"
                                  f"deposit_listen: {b.config['deposit_listen']}\n"
                                  f"admin_listen: {bad}\n")
        assert res.returncode == 1 and "admin_listen" in res.stderr, (bad, res.stderr)


# ------------------------------------------------------------------------------- access log
def test_access_log_has_one_line_per_request_with_its_fields(proxy):
    p = proxy(session={"lifetime": "10m"})
    start = len(access_lines(p))
    http_request(p.port, path="/a?token=querysecretvalue")
    r = http_request(p.port, path="/b", headers={
        "Authorization": "Negotiate " + negotiate_token("alice")})
    assert r.status == 200
    http_request(p.port, path="/c", headers={"Cookie": f"{COOKIE}={cookie_of(r)}"})
    http_request(p.port, path="/public/d", method="HEAD")
    proxytest.raw_http(p.port, b"GET /e HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
                               b"Transfer-Encoding: chunked\r\n\r\n")
    deadline = time.time() + 5
    while len(access_lines(p)) - start < 5 and time.time() < deadline:
        time.sleep(0.05)
    lines = access_lines(p)[start:]
    assert len(lines) == 5, lines
    f = [fields(ln) for ln in lines]
    assert [x["path"] for x in f] == ["/a", "/b", "/c", "/public/d", "-"]  # /e: unparsable
    assert [x["status"] for x in f] == ["401", "200", "200", "200", "400"]
    assert [x["auth"] for x in f] == ["-", "negotiate", "session", "none", "-"]
    assert [x["principal"] for x in f] == ["-", ALICE, ALICE, "-", "-"]
    assert [x["route"] for x in f] == ["/", "/", "/", "/public", "-"]
    assert [x["method"] for x in f[:4]] == ["GET", "GET", "GET", "HEAD"]
    assert f[0]["reason"] == "no_header" and f[4]["reason"]  # the proxy's own answers say why
    assert "reason" not in f[1] and "reason" not in f[2]
    for x in f:
        assert x["client"] == "127.0.0.1"
        assert float(x["duration_ms"]) >= 0 and int(x["bytes"]) >= 0
    assert int(f[1]["bytes"]) > 0
    assert "querysecretvalue" not in p.log_text()


def test_access_log_can_be_turned_off_and_ignores_the_level(proxy):
    quiet = proxy(log={"level": "error", "format": "text"})
    http_request(quiet.port)
    off = proxy(log={"level": "debug", "format": "text", "access": False})
    http_request(off.port)
    time.sleep(0.2)
    assert len(access_lines(quiet)) == 1  # access lines do not depend on log.level
    assert "[proxy]" not in quiet.log_text()  # but the rest does
    assert access_lines(off) == []


def test_json_lines_for_both_daemons(broker_factory, proxy, pg_service, tmp_path):
    b = broker_factory(log={"level": "debug", "format": "json"})
    p = proxy(broker=b.deposit, timeouts={"broker": "3s"},
              log={"level": "debug", "format": "json"})
    r = http_request(p.port, headers={
        "Authorization": "Negotiate " + negotiate_token("alice", delegate=True)})
    assert r.status == 200
    (handle,) = upstream_header_values(r, "X-Gssgate-Credential")
    assert redeem_ctl(b.backend, handle, tmp_path / "pg.ccache").returncode == 0
    assert b.wait_for_log(r'"event":"redeem"')
    p.terminate_and_check()
    b.stop()
    for d in (p, b):
        for line in d.log_text().splitlines():
            obj = json.loads(line)  # every line is one JSON object
            assert {"ts", "level", "logger"} <= obj.keys(), line
            assert ("msg" in obj) != ("event" in obj), line
    access = [json.loads(ln) for ln in p.log_text().splitlines() if '"logger":"access"' in ln]
    assert access and access[0]["event"] == "request"
    assert isinstance(access[0]["status"], int) and access[0]["principal"] == ALICE
    assert isinstance(access[0]["duration_ms"], float)
    audit = [json.loads(ln) for ln in b.log_text().splitlines() if '"logger":"audit"' in ln]
    events = {a["event"]: a for a in audit}
    assert events["deposit"]["principal"] == ALICE and isinstance(events["deposit"]["uid"], int)
    assert events["redeem"]["tgt"] is False and events["redeem"]["service"] == pg_service


def test_log_level_follows_config_and_sighup(proxy):
    p = proxy(log={"level": "warn", "format": "text"})
    hdr = {"Authorization": "Negotiate " + negotiate_token("alice")}
    assert http_request(p.port, headers=hdr).status == 200
    time.sleep(0.2)
    assert "authenticated alice" not in p.log_text()
    cfg = dict(p.config)
    cfg["log"] = {"level": "info", "format": "text"}
    start = p.log_size()
    p.reload(cfg)
    assert p.wait_for_log("configuration reloaded", start=start)
    assert http_request(p.port, headers={
        "Authorization": "Negotiate " + negotiate_token("alice")}).status == 200
    assert p.wait_for_log(r"authenticated alice@", start=start), p.log_tail()


def test_broker_log_level_follows_sighup(broker_factory):
    b = broker_factory(log={"level": "warn"})
    b.config["log"] = {"level": "debug"}
    start = b.log_size()
    b.reload(b.config)
    # The reload line itself is info: shown only because the new level applies.
    assert b.wait_for_log("configuration reloaded", start=start), b.log_tail()


# ------------------------------------------------------------------------------- scale-out
def test_session_on_a_replica_without_the_credential_re_delegates(broker_factory, proxy,
                                                                  pg_service, tmp_path):
    keyfile = tmp_path / "session.keys"
    keyfile.write_text(base64.b64encode(os.urandom(32)).decode() + "\n")
    keyfile.chmod(0o600)
    ba = broker_factory(_name="brokerA")
    bb = broker_factory(_name="brokerB")
    common = {"session": {"lifetime": "10m", "key_file": str(keyfile)},
              "timeouts": {"broker": "3s", "drain": "5s"}}
    pa = proxy(_name="replicaA", broker=ba.deposit, **common)
    pb = proxy(_name="replicaB", broker=bb.deposit, **common)

    # A session without a credential opens on any replica that shares the key.
    r = http_request(pa.port, headers={"Authorization": "Negotiate " + negotiate_token("bob")})
    plain = cookie_of(r)
    assert r.status == 200 and plain
    r = http_request(pb.port, headers={"Cookie": f"{COOKIE}={plain}"})
    assert r.status == 200 and upstream_header_values(r, "X-Remote-User") == ["bob"]

    # alice signs in on A with delegation: her credential is at broker A only.
    r = http_request(pa.port, headers={
        "Authorization": "Negotiate " + negotiate_token("alice", delegate=True)})
    cookie = cookie_of(r)
    assert r.status == 200 and cookie
    (handle_a,) = upstream_header_values(r, "X-Gssgate-Credential")
    before = scrape(pb.admin_port)

    # Her next request lands on B: challenged again (not a 403/500, not served without her
    # credential), the cookie being genuine but its credential unknown here.
    r = http_request(pb.port, headers={"Cookie": f"{COOKIE}={cookie}"})
    assert r.status == 401 and r.header("WWW-Authenticate") == "Negotiate", r
    proxytest.assert_clean_error(r)
    key = 'gssgate_proxy_auth_total{reason="session_stale"}'
    after = scrape_when(pb.admin_port, key, before.get(key, 0) + 1)
    assert delta(after, before, 'gssgate_proxy_auth_total{reason="session_stale"}') == 1

    # The browser answers the challenge (delegating again): B deposits with its own broker.
    r = http_request(pb.port, headers={
        "Cookie": f"{COOKIE}={cookie}",
        "Authorization": "Negotiate " + negotiate_token("alice", delegate=True)})
    assert r.status == 200, r
    (handle_b,) = upstream_header_values(r, "X-Gssgate-Credential")
    new_cookie = cookie_of(r)
    assert new_cookie and new_cookie != cookie
    assert redeem_ctl(bb.backend, handle_b, tmp_path / "b.ccache").returncode == 0
    assert_ctl_fails(redeem_ctl(ba.backend, handle_b, tmp_path / "x.ccache"), NOT_FOUND_MESSAGE)
    assert redeem_ctl(ba.backend, handle_a, tmp_path / "a.ccache").returncode == 0

    # From now on B serves her from the new cookie alone, with a handle minted locally.
    r = http_request(pb.port, headers={"Cookie": f"{COOKIE}={new_cookie}"})
    assert r.status == 200
    (handle_b2,) = upstream_header_values(r, "X-Gssgate-Credential")
    assert redeem_ctl(bb.backend, handle_b2, tmp_path / "b2.ccache").returncode == 0
    for replica in (pa, pb):
        assert replica.proc.poll() is None  # nobody crashed


def test_sighup_does_not_reset_counters(proxy):
    p = proxy()
    http_request(p.port)
    before = scrape_when(p.admin_port, 'gssgate_proxy_requests_total{route="/",code="401"}', 1)
    p.proc.send_signal(signal.SIGHUP)
    assert p.wait_for_log("configuration reloaded")
    after = scrape(p.admin_port)
    assert after['gssgate_proxy_requests_total{route="/",code="401"}'] == \
        before['gssgate_proxy_requests_total{route="/",code="401"}'] == 1
