"""Command line, admin endpoints, SIGHUP reload and SIGTERM drain
(docs/proxy-contract.md, "Command line")."""

import http.client
import json
import re
import signal
import socket
import subprocess
import threading
import time

import pytest

from proxytest import (ProxyProcess, free_port, http_request, negotiate_token, proxy_binary,
                       proxy_env)


def run_proxy(*args, env=None, timeout=10):
    return subprocess.run([proxy_binary(), *args], capture_output=True, text=True, env=env,
                          timeout=timeout)


# ------------------------------------------------------------------------------ command line
def test_version(proxy_binary):
    r = run_proxy("--version")
    assert r.returncode == 0, r
    assert r.stdout.strip() == "gssgate-proxy 0.1.0", r.stdout


def test_unknown_option_exits_2_with_usage(proxy_binary):
    r = run_proxy("--no-such-option")
    assert r.returncode == 2, r
    assert "usage" in (r.stderr + r.stdout).lower()


def test_check_config_good(proxy, realm):
    p = proxy(_start=False)
    r = run_proxy("--check-config", "--config", str(p.config_path), env=p.env)
    assert r.returncode == 0, r.stderr
    assert f"config OK: {p.config_path}" in r.stdout + r.stderr
    # --check-config does not start serving.
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", p.port), timeout=0.5).close()


def test_check_config_minimal_required_keys(realm, tmp_path, proxy_binary):
    cfg = tmp_path / "min.yaml"
    cfg.write_text(f"listen: 127.0.0.1:{free_port()}\nupstream: http://127.0.0.1:9\n"
                   f"keytab: {realm.http_keytab}\n")
    r = run_proxy("--check-config", "--config", str(cfg))
    assert r.returncode == 0, r.stderr


BROKEN = {
    # name: (config text with {keytab}/{port} placeholders, key that must be named, line)
    "bad-listen": ("listen: not-a-host-port\nupstream: http://127.0.0.1:9\nkeytab: {keytab}\n",
                   "listen", 1),
    "bad-duration": ("listen: 127.0.0.1:{port}\nupstream: http://127.0.0.1:9\n"
                     "keytab: {keytab}\ntimeouts:\n  upstream_response: banana\n",
                     "timeouts.upstream_response", 5),
    "bad-upstream": ("listen: 127.0.0.1:{port}\nupstream: ftp://127.0.0.1:9\nkeytab: {keytab}\n",
                     "upstream", 2),
    "missing-upstream": ("listen: 127.0.0.1:{port}\nkeytab: {keytab}\n", "upstream", None),
    "missing-keytab-file": ("listen: 127.0.0.1:{port}\nupstream: http://127.0.0.1:9\n"
                            "keytab: /nonexistent/gssgate.keytab\n", "keytab", None),
    "bad-route-auth": ("listen: 127.0.0.1:{port}\nupstream: http://127.0.0.1:9\n"
                       "keytab: {keytab}\nroutes:\n  - path: /\n    auth: maybe\n",
                       "auth", 6),
    "bad-log-level": ("listen: 127.0.0.1:{port}\nupstream: http://127.0.0.1:9\n"
                      "keytab: {keytab}\nlog:\n  level: loud\n", "log.level", 5),
    "bad-size": ("listen: 127.0.0.1:{port}\nupstream: http://127.0.0.1:9\n"
                 "keytab: {keytab}\nlimits:\n  header_bytes: lots\n", "limits.header_bytes", 5),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_check_config_broken(realm, tmp_path, case, proxy_binary):
    text, key, line = BROKEN[case]
    cfg = tmp_path / f"{case}.yaml"
    cfg.write_text(text.format(keytab=realm.http_keytab, port=free_port()))
    r = run_proxy("--check-config", "--config", str(cfg))
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert lines, "no error line on stderr"
    named = [ln for ln in lines if f"'{key}" in ln or f"'{key}'" in ln or key in ln]
    assert named, f"no error line names key '{key}': {lines}"
    assert any(ln.startswith(str(cfg)) for ln in named), f"error line without FILE: {named}"
    if line is not None:
        assert any(ln.startswith(f"{cfg}:{line}:") for ln in named), \
            f"error line does not give line {line}: {named}"
    assert "config OK" not in r.stdout


def test_check_config_keytab_without_usable_key(realm, tmp_path, proxy_binary):
    empty = tmp_path / "empty.keytab"
    empty.write_bytes(b"\x05\x02")  # a valid, empty keytab
    cfg = tmp_path / "k.yaml"
    cfg.write_text(f"listen: 127.0.0.1:{free_port()}\nupstream: http://127.0.0.1:9\n"
                   f"keytab: {empty}\n")
    r = run_proxy("--check-config", "--config", str(cfg))
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "keytab" in r.stderr


def test_minimal_config_runs(realm, tmp_path, echo_upstream, proxy_binary):
    # Only the required keys; everything else defaults (one negotiate route for /).
    port = free_port()
    p = ProxyProcess({"listen": f"127.0.0.1:{port}", "upstream": echo_upstream.url,
                      "keytab": str(realm.http_keytab)}, tmp_path, proxy_env(realm, tmp_path),
                     name="minimal")
    p.start(wait_ready=True)
    try:
        r = http_request(port, path="/")
        assert r.status == 401
        r = http_request(port, path="/x", headers={"Authorization": "Negotiate " +
                                                   negotiate_token("alice")})
        assert r.status == 200
    finally:
        p.terminate_and_check()


# ------------------------------------------------------------------------------ admin
def test_admin_endpoints(proxy):
    p = proxy()
    r = http_request(p.admin_port, path="/healthz")
    assert r.status == 200 and r.text.strip() == "ok"
    r = http_request(p.admin_port, path="/readyz")
    assert r.status == 200 and r.text.strip() == "ready"
    http_request(p.port, path="/public/x")
    r = http_request(p.admin_port, path="/metrics")
    assert r.status == 200
    assert "text/plain" in (r.header("Content-Type") or "")
    samples = [ln for ln in r.text.splitlines() if ln and not ln.startswith("#")]
    assert samples, r.text
    assert all(re.match(r"^[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})? [-+0-9.eEInfa]+$", ln)
               for ln in samples), samples[:5]
    # The admin listener is not the proxy: no upstream forwarding there.
    r = http_request(p.admin_port, path="/public/x")
    assert r.status == 404


def test_json_log_format(proxy):
    p = proxy(log={"level": "debug", "format": "json"})
    token = negotiate_token("alice")
    assert http_request(p.port, headers={"Authorization": f"Negotiate {token}"}).status == 200
    assert http_request(p.port, headers={"Authorization": "Negotiate " + "QUJD" * 10}).status in (400, 401)
    p.terminate_and_check()
    lines = [ln for ln in p.log_text().splitlines() if ln.strip()]
    assert len(lines) >= 2
    for ln in lines:
        obj = json.loads(ln)  # one JSON object per line
        assert isinstance(obj, dict), ln
    assert token not in p.log_text()


# ------------------------------------------------------------------------------ SIGHUP
def _auth(user):
    return {"Authorization": "Negotiate " + negotiate_token(user)}


def _wait_until(pred, timeout=5.0, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(interval)
    return False


def test_sighup_good_config_applies_without_dropping_connections(proxy):
    p = proxy(routes=[{"path": "/public", "auth": "none"},
                      {"path": "/", "auth": "negotiate",
                       "allow": ["alice@GSSGATE.TEST", "bob@GSSGATE.TEST"]}])
    conn = http.client.HTTPConnection("127.0.0.1", p.port, timeout=10)
    try:
        conn.connect()
        sock = conn.sock
        assert http_request(p.port, path="/a", conn=conn, headers=_auth("bob")).status == 200

        new = dict(p.config)
        new["routes"] = [{"path": "/public", "auth": "none"},
                         {"path": "/", "auth": "negotiate", "allow": ["alice@GSSGATE.TEST"]}]
        p.reload(new)
        assert _wait_until(lambda: http_request(p.port, headers=_auth("bob")).status == 403), \
            f"new allow list not in force after SIGHUP; log:\n{p.log_tail()}"

        # The connection opened before the reload is still open and uses the new config.
        r = http_request(p.port, path="/b", conn=conn, headers=_auth("bob"))
        assert r.status == 403
        r = http_request(p.port, path="/c", conn=conn, headers=_auth("alice"))
        assert r.status == 200
        assert conn.sock is sock, "the keep-alive connection was dropped by the reload"
    finally:
        conn.close()
    assert p.alive()


def test_sighup_broken_config_is_refused(proxy):
    p = proxy(routes=[{"path": "/", "auth": "negotiate", "allow": ["alice@GSSGATE.TEST"]}])
    conn = http.client.HTTPConnection("127.0.0.1", p.port, timeout=10)
    try:
        conn.connect()
        sock = conn.sock
        assert http_request(p.port, conn=conn, headers=_auth("alice")).status == 200
        start = p.log_size()
        # Broken: a bad duration. Were it applied in part, bob would be allowed.
        broken = dict(p.config)
        broken["routes"] = [{"path": "/", "auth": "negotiate",
                             "allow": ["alice@GSSGATE.TEST", "bob@GSSGATE.TEST"]}]
        broken["timeouts"] = {"idle": "forever"}
        p.reload(broken)
        line = p.wait_for_log(r"refus", timeout=5, start=start)
        assert line, f"no 'refused' log line after a broken SIGHUP; log:\n{p.log_tail()}"
        assert p.alive()
        # Old config still in force, on the old and on new connections.
        assert http_request(p.port, conn=conn, headers=_auth("alice")).status == 200
        assert http_request(p.port, conn=conn, headers=_auth("bob")).status == 403
        assert conn.sock is sock
        assert http_request(p.port, headers=_auth("alice")).status == 200
        assert http_request(p.port, headers=_auth("bob")).status == 403
        # A later good reload still works.
        good = dict(broken)
        good["timeouts"] = {"idle": "30s"}
        good["routes"] = [{"path": "/", "auth": "none"}]
        p.reload(good)
        assert _wait_until(lambda: http_request(p.port, path="/z").status == 200)
    finally:
        conn.close()


def test_sighup_during_in_flight_requests(proxy, echo_upstream):
    # Requests in flight across a reload finish normally (with the configuration they started
    # with), while new connections on every worker pick up the new configuration.
    p = proxy(threads=2)
    results = []

    def slow(i):
        try:
            results.append(http_request(p.port, path=f"/public/slow?delay=1&i={i}", timeout=10))
        except Exception as e:  # noqa: BLE001
            results.append(e)

    threads = [threading.Thread(target=slow, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    assert _wait_until(lambda: echo_upstream.inflight >= 4, timeout=5)
    for n in range(3):
        new = dict(p.config)
        new["headers"] = {"remote_user": f"X-User-{n}"}
        p.reload(new)
        time.sleep(0.05)
        # New connections (spread over the workers) run on the new configuration.
        for _ in range(4):
            assert http_request(p.port, path="/public/fast").status == 200
    for t in threads:
        t.join(10)
    assert all(not isinstance(r, Exception) and r.status == 200 for r in results), results
    assert p.alive()
    r = http_request(p.port, path="/x", headers=_auth("alice"))
    assert r.status == 200
    assert dict((k.lower(), v) for k, v in r.json["headers"]).get("x-user-2") == "alice"


def test_sighup_reloads_keytab(proxy, realm, tmp_path):
    # Start with a keytab holding only HTTP/other.example: tickets for HTTP/localhost fail.
    kt = tmp_path / "reload.keytab"
    kt.write_bytes(realm.other_keytab.read_bytes())
    p = proxy(keytab=str(kt))
    assert http_request(p.port, headers=_auth("alice")).status == 401
    # Replace the keytab file with one that holds HTTP/localhost and SIGHUP.
    tmp = tmp_path / "reload.keytab.new"
    tmp.write_bytes(realm.http_keytab.read_bytes())
    tmp.rename(kt)
    p.signal(signal.SIGHUP)
    assert _wait_until(lambda: http_request(p.port, headers=_auth("alice")).status == 200), \
        f"keytab not reloaded; log:\n{p.log_tail()}"


# ------------------------------------------------------------------------------ SIGTERM
def test_sigterm_drains_in_flight_request(proxy, echo_upstream):
    p = proxy(timeouts={"drain": "10s"})
    # An idle keep-alive connection must not hold up the exit.
    idle = http.client.HTTPConnection("127.0.0.1", p.port, timeout=10)
    idle.request("GET", "/public/idle")
    assert idle.getresponse().read()

    result = {}

    def slow():
        try:
            result["resp"] = http_request(p.port, path="/public/slow?delay=2", timeout=15)
        except Exception as e:  # noqa: BLE001
            result["error"] = e

    t = threading.Thread(target=slow)
    t.start()
    assert echo_upstream.slow_started.wait(5), "slow request never reached the upstream"
    t_term = time.monotonic()
    p.signal(signal.SIGTERM)

    # New connections are refused while draining (the listener is closed).
    def refused():
        try:
            s = socket.create_connection(("127.0.0.1", p.port), timeout=0.5)
        except ConnectionRefusedError:
            return True
        except OSError:
            return False
        s.close()
        return False

    assert _wait_until(refused, timeout=1.5, interval=0.05), \
        "the proxy still accepts connections after SIGTERM"

    t.join(15)
    assert "error" not in result, f"in-flight request failed during drain: {result.get('error')}"
    assert result["resp"].status == 200, result["resp"]
    assert result["resp"].json["path"] == "/public/slow?delay=2"

    rc = p.proc.wait(timeout=10)
    elapsed = time.monotonic() - t_term
    assert rc == 0, f"exit {rc}; log:\n{p.log_tail()}"
    assert elapsed < 6, f"exit took {elapsed:.1f}s: idle keep-alive connection held the drain?"
    p.checked_exit = True
    p._logf.close()
    idle.close()

    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", p.port), timeout=1).close()


def test_sigterm_idle_exits_promptly(proxy):
    p = proxy()
    t0 = time.monotonic()
    p.terminate_and_check(timeout=10)
    assert time.monotonic() - t0 < 3
