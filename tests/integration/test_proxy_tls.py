"""TLS on the listener, https:// upstreams and HTTP Basic (TLS only) of gssgate-proxy, against
a real KDC, with curl, python `ssl` clients and a TLS echo upstream (echo_upstream.py with a
server context). Certificates come from a throw-away PKI made per module (tlstest.py).

What is checked, and how it would show if it broke:
* Negotiate over TLS (curl --negotiate --cacert): 200, the identity reaches the upstream with
  X-Forwarded-Proto: https, the session cookie has Secure (and HttpOnly, SameSite=Lax), and a
  request with only the cookie is served with no gss_accept_sec_context call.
  Large headers and bodies both ways cross many TLS records intact.
* Versions and suites: TLS 1.1 is refused by the server (protocol_version alert), TLS 1.2
  negotiates only forward-secret AEAD suites (RSA key exchange or CBC offers fail),
  `min_version: "1.3"` refuses a TLS 1.2-only client. Every refused handshake, plain HTTP,
  garbage and a stalled handshake (header timeout) count in
  gssgate_proxy_tls_handshake_failures_total; the daemon stays up; a connection still in its
  handshake does not delay SIGTERM.
* The proxy ends a TLS connection with close_notify, so an EOF-delimited body (HTTP/1.0
  client) cannot be truncated unnoticed.
* SIGHUP rotates the certificate for new connections while an open keep-alive connection keeps
  working; a broken certificate/key on reload keeps the running one. A plain connection opened
  before a reload that turns on tls + basic is never offered Basic.
* A missing certificate or key file, or a key that does not match, fails start-up and
  --check-config with one line naming the key and the file; so do the other tls/basic/
  upstream_tls config errors.
* https:// upstream: works with the right CA (SNI = the URL host or upstream_tls.server_name,
  no SNI for an IP address; connections pooled); the wrong CA, a wrong server_name, the system
  trust store, an expired certificate or a plain-HTTP upstream give a clean 502, a silent one a
  504, and the proxy stays up; a reload that changes the CA is not bypassed by pooled
  connections.
* Basic (only with tls): a 401 offers Negotiate and Basic realm="..."; the right password signs
  in (identity upstream, Secure session cookie); a wrong password and an unknown user get the
  same answer; malformed credentials a 400; an unreachable KDC gives 503; without
  `basic.enabled` only Negotiate is offered and a Basic header is not accepted.

Run: GSSGATE_PROXY=... /usr/bin/python3 -m pytest -q -p no:cacheprovider test_proxy_tls.py
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest

import proxytest
from echo_upstream import EchoUpstream, big_body_sha256
from proxytest import (assert_clean_error, auth_header, curl_negotiate, free_port, http_request,
                       proxy_binary, proxy_env, upstream_header_values)
from proxytest import proxy_metrics as metrics
from tlstest import Pki, client_context, peer_serial, server_context

REALM_NAME = "GSSGATE.TEST"
COOKIE = "gssgate_session"
BASIC_CHALLENGE = 'Basic realm="gssgate", charset="UTF-8"'
FAILURES = "gssgate_proxy_tls_handshake_failures_total"


# ------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def tls_proxy(proxy, pki):
    """tls_proxy(leaf=None, **overrides) -> a running proxy with a TLS listener (default leaf:
    RSA, localhost + 127.0.0.1, signed by CA "main")."""

    def start(leaf=None, tls=None, **overrides):
        leaf = leaf or pki.leaf("server", rsa_key=True)
        t = {"cert_file": str(leaf.cert), "key_file": str(leaf.key)}
        t.update(tls or {})
        return proxy(tls=t, **overrides)

    return start


@pytest.fixture
def tls_upstream(pki):
    """An HTTPS echo upstream on 127.0.0.1 with a certificate for localhost + 127.0.0.1."""
    srv = EchoUpstream(tls_context=server_context(pki.leaf("upstream"))).start()
    yield srv
    srv.stop()


# ------------------------------------------------------------------------------- helpers
def ctx_for(pki, **kw) -> ssl.SSLContext:
    return client_context(pki.ca_file("main"), **kw)


def https_request(p, ctx: ssl.SSLContext, path: str = "/", headers=None, method: str = "GET",
                  conn: http.client.HTTPSConnection | None = None, body=None
                  ) -> proxytest.Response:
    own = conn is None
    if own:
        conn = http.client.HTTPSConnection("127.0.0.1", p.port, context=ctx, timeout=20)
    try:
        return http_request(p.port, method=method, path=path, headers=headers, conn=conn,
                            body=body)
    finally:
        if own:
            conn.close()


def handshake(port: int, ctx: ssl.SSLContext, host: str = "127.0.0.1") -> ssl.SSLSocket:
    """A completed TLS connection (caller closes it); raises ssl.SSLError on failure."""
    raw = socket.create_connection((host, port), timeout=10)
    try:
        return ctx.wrap_socket(raw, server_hostname=host)
    except BaseException:
        raw.close()
        raise


def handshake_error(port: int, ctx: ssl.SSLContext) -> ssl.SSLError:
    with pytest.raises(ssl.SSLError) as ei:
        handshake(port, ctx).close()
    return ei.value


def wait_metric(p, name: str, at_least: float, timeout: float = 5) -> float:
    """The metric once it reached `at_least` (handshake failures are counted asynchronously)."""
    deadline = time.monotonic() + timeout
    while True:
        v = metrics(p).get(name, 0.0)
        if v >= at_least or time.monotonic() > deadline:
            return v
        time.sleep(0.05)


def parse_set_cookie(value: str) -> tuple[str, str, dict[str, str | None]]:
    parts = [x.strip() for x in value.split(";")]
    name, _, val = parts[0].partition("=")
    attrs: dict[str, str | None] = {}
    for x in parts[1:]:
        k, eq, v = x.partition("=")
        attrs[k.strip().lower()] = v.strip() if eq else None
    return name.strip(), val.strip(), attrs


def session_cookie(headers: list[tuple[str, str]]) -> tuple[str, dict[str, str | None]]:
    ours = [parse_set_cookie(v) for k, v in headers if k.lower() == "set-cookie"]
    ours = [c for c in ours if c[0] == COOKIE]
    assert len(ours) == 1, f"expected one {COOKIE} Set-Cookie, got {headers}"
    return ours[0][1], ours[0][2]


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def curl(args: list[str], timeout: float = 20) -> subprocess.CompletedProcess:
    return subprocess.run([shutil.which("curl") or "/usr/bin/curl", "-sS", *args],
                          capture_output=True, timeout=timeout)


def run_proxy(*args, env=None, timeout=20) -> subprocess.CompletedProcess:
    return subprocess.run([proxy_binary(), *args], capture_output=True, text=True, env=env,
                          timeout=timeout)


def https_url(p, path: str = "/") -> str:
    return f"https://localhost:{p.port}{path}"


# ------------------------------------------------------------------------------- Negotiate
def test_negotiate_over_tls_sets_secure_cookie_then_cookie_is_enough(tls_proxy, pki,
                                                                     echo_upstream):
    p = tls_proxy(session={"lifetime": "10m"})
    r = curl_negotiate(https_url(p, "/app/one?x=1"), "alice",
                       extra_args=["--cacert", str(pki.ca_file()),
                                   "-H", "X-Forwarded-Proto: http"])
    assert r.returncode == 0, r.stderr
    assert r.all_statuses[-1] == 200, (r.all_statuses, r.stderr)
    seen = {k.lower(): v for k, v in r.json["headers"]}
    assert r.json["path"] == "/app/one?x=1"
    assert [v for k, v in r.json["headers"] if k.lower() == "x-forwarded-proto"] == ["https"]
    assert seen.get("x-remote-user") == "alice", seen
    assert seen.get("x-remote-principal") == f"alice@{REALM_NAME}", seen
    assert seen.get("x-forwarded-proto") == "https", "client's X-Forwarded-Proto not replaced"
    assert "authorization" not in seen
    value, attrs = session_cookie(r.headers)
    assert "secure" in attrs, f"no Secure on a TLS listener: {attrs}"
    assert "httponly" in attrs and (attrs.get("samesite") or "").lower() == "lax", attrs
    assert attrs.get("path") == "/"

    # The cookie alone, over TLS, on one keep-alive connection: no GSS call, no new cookie.
    before = metrics(p)
    ctx = ctx_for(pki)
    conn = http.client.HTTPSConnection("127.0.0.1", p.port, context=ctx, timeout=10)
    try:
        for i in range(2):
            r2 = https_request(p, ctx, path=f"/app/{i}", conn=conn,
                               headers={"Cookie": f"{COOKIE}={value}"})
            assert r2.status == 200, r2
            assert upstream_header_values(r2, "X-Remote-User") == ["alice"]
            assert upstream_header_values(r2, "X-Forwarded-Proto") == ["https"]
            assert upstream_header_values(r2, "Cookie") == []
            assert r2.header_values("Set-Cookie") == []
    finally:
        conn.close()
    after = metrics(p)
    assert after["gssgate_proxy_gss_accept_calls_total"] == \
        before["gssgate_proxy_gss_accept_calls_total"], "a cookie request called GSS"
    assert after[FAILURES] == before[FAILURES] == 0
    # Logout over TLS clears the cookie with the same attributes (Secure included).
    r3 = https_request(p, ctx, path="/.gssgate/logout", headers={"Cookie": f"{COOKIE}={value}"})
    assert r3.status == 200
    cleared, cattrs = session_cookie(r3.headers)
    assert cleared == "" and cattrs.get("max-age") == "0" and "secure" in cattrs, cattrs
    assert len(echo_upstream.requests) == 3


def test_python_negotiate_over_tls_and_public_route(tls_proxy, pki, echo_upstream):
    p = tls_proxy()
    ctx = ctx_for(pki)
    r = https_request(p, ctx, path="/", headers={"Accept": "*/*"})
    assert r.status == 401 and r.header_values("WWW-Authenticate") == ["Negotiate"], r.headers
    assert_clean_error(r)
    r = https_request(p, ctx, path="/x", headers=auth_header("bob"))
    assert r.status == 200 and upstream_header_values(r, "X-Remote-User") == ["bob"]
    r = https_request(p, ctx, path="/public/y")
    assert r.status == 200 and upstream_header_values(r, "X-Remote-User") == []
    assert upstream_header_values(r, "X-Forwarded-Proto") == ["https"]
    # TLS records are at most 16 KiB: a large header block, a streamed request body and a
    # chunked response body cross many of them.
    r = https_request(p, ctx, path="/public/h", headers={"X-Big": "b" * 40_000})
    assert r.status == 200 and upstream_header_values(r, "X-Big") == ["b" * 40_000]
    body = os.urandom(1_500_000)
    r = https_request(p, ctx, path="/public/up", method="POST", headers={"Content-Type":
                                                                        "application/x-test"},
                      body=body)
    assert r.status == 200 and r.json["body_len"] == len(body)
    assert r.json["body_sha256"] == hashlib.sha256(body).hexdigest()
    r = https_request(p, ctx, path="/public/big?bytes=3000000")
    assert r.status == 200 and hashlib.sha256(r.body).hexdigest() == big_body_sha256(3_000_000)


# ------------------------------------------------------------------------------- versions
TLS11_CLIENT = dict(minimum=ssl.TLSVersion.TLSv1, maximum=ssl.TLSVersion.TLSv1_1,
                    ciphers="DEFAULT:@SECLEVEL=0")


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1:DeprecationWarning")
def test_protocol_versions_and_suites(tls_proxy, pki):
    p = tls_proxy()
    # TLS 1.1: the server answers with a protocol_version alert (the client could speak it).
    err = handshake_error(p.port, ctx_for(pki, **TLS11_CLIENT))
    assert "PROTOCOL_VERSION" in str(err).upper() or "UNSUPPORTED_PROTOCOL" in str(err).upper(), err
    assert "NO_PROTOCOLS_AVAILABLE" not in str(err).upper(), f"client-side refusal: {err}"
    # TLS 1.2: forward-secret AEAD only.
    with handshake(p.port, ctx_for(pki, maximum=ssl.TLSVersion.TLSv1_2)) as s:
        name, version, _ = s.cipher()
        assert version == "TLSv1.2", s.cipher()
        assert name.startswith(("ECDHE-", "DHE-")), s.cipher()
        assert "GCM" in name or "CHACHA20" in name, s.cipher()
    tls12 = dict(maximum=ssl.TLSVersion.TLSv1_2)
    # RSA key exchange (no forward secrecy), AEAD: refused.
    handshake_error(p.port, ctx_for(pki, ciphers="AES128-GCM-SHA256:AES256-GCM-SHA384", **tls12))
    # Forward secret, but CBC: refused.
    handshake_error(p.port, ctx_for(pki, ciphers="ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES256-SHA384:"
                                                 "ECDHE-RSA-AES128-SHA256", **tls12))
    # TLS 1.3 works by default.
    with handshake(p.port, ctx_for(pki)) as s:
        assert s.version() == "TLSv1.3"
    assert wait_metric(p, FAILURES, 3) == 3
    assert p.alive()


def test_min_version_13_refuses_a_tls12_client(tls_proxy, pki, echo_upstream):
    p = tls_proxy(tls={"min_version": "1.3"})
    err = handshake_error(p.port, ctx_for(pki, maximum=ssl.TLSVersion.TLSv1_2))
    assert "PROTOCOL_VERSION" in str(err).upper(), err
    r = curl([f"https://localhost:{p.port}/public/x", "--resolve",
              f"localhost:{p.port}:127.0.0.1", "--cacert", str(pki.ca_file()), "--tls-max", "1.2",
              "-o", "/dev/null", "-w", "%{http_code}"])
    assert r.returncode != 0 and r.stdout.decode() in ("", "000"), r
    with handshake(p.port, ctx_for(pki)) as s:
        assert s.version() == "TLSv1.3"
    r = https_request(p, ctx_for(pki), path="/public/x")
    assert r.status == 200
    assert wait_metric(p, FAILURES, 2) == 2


def test_plain_http_to_the_tls_port_gets_no_http_answer(tls_proxy, pki, echo_upstream):
    p = tls_proxy()
    with socket.create_connection(("127.0.0.1", p.port), timeout=5) as s:
        s.sendall(b"GET /public/x HTTP/1.1\r\nHost: localhost\r\n\r\n")
        data = b""
        try:
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        except (socket.timeout, ConnectionResetError):
            pass
    assert not data.startswith(b"HTTP/"), f"an HTTP answer on a TLS port: {data[:80]!r}"
    assert wait_metric(p, FAILURES, 1) == 1
    assert p.alive()
    assert echo_upstream.requests == []
    assert https_request(p, ctx_for(pki), path="/public/x").status == 200


def test_handshake_garbage_is_counted_and_survived(tls_proxy, pki):
    p = tls_proxy()
    payloads = [
        os.urandom(512),
        b"\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00",           # a ClientHello cut short
        b"\x16\x03\x03\xff\xff" + b"\x00" * 64,                   # absurd record length
        b"\x80\x2e\x01\x00\x02\x00\x15\x00\x00\x00\x10" + b"\x00" * 37,  # SSLv2 hello
    ]
    for data in payloads:
        with socket.create_connection(("127.0.0.1", p.port), timeout=5) as s:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
            try:
                while s.recv(4096):
                    pass
            except (socket.timeout, ConnectionResetError):
                pass
    assert wait_metric(p, FAILURES, len(payloads)) == len(payloads)
    assert p.alive()
    with handshake(p.port, ctx_for(pki)):
        pass
    time.sleep(0.2)
    assert metrics(p)[FAILURES] == len(payloads), "a good handshake counted as a failure"


def test_stalled_client_handshake_times_out(tls_proxy, pki):
    """Half a ClientHello, then silence: the header timeout ends the handshake."""
    p = tls_proxy(timeouts={"header": "1s"})
    with socket.create_connection(("127.0.0.1", p.port), timeout=10) as s:
        s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
        t0 = time.monotonic()
        try:
            closed = s.recv(4096) == b""
        except ConnectionResetError:
            closed = True
        took = time.monotonic() - t0
    assert closed and 0.5 < took < 5, (closed, took)
    assert wait_metric(p, FAILURES, 1) == 1
    assert p.alive()


def test_idle_tls_handshake_does_not_hold_up_sigterm(tls_proxy):
    """A client that opened a TCP connection and sent nothing yet (a pre-connect, a scanner) is
    idle like a plain keep-alive connection: SIGTERM must not wait for it."""
    p = tls_proxy(timeouts={"drain": "8s", "header": "8s"})
    with socket.create_connection(("127.0.0.1", p.port), timeout=10):
        time.sleep(0.2)  # accepted, the handshake read is pending
        t0 = time.monotonic()
        p.terminate_and_check(timeout=15)
        took = time.monotonic() - t0
    assert took < 3, (f"SIGTERM took {took:.1f} s with one connection in its TLS handshake; "
                      f"log:\n{p.log_tail(5)}")


# ------------------------------------------------------------------------------- rotation
def test_sighup_rotates_the_certificate(tls_proxy, pki, tmp_path, echo_upstream):
    first, second = pki.leaf("rot-a", rsa_key=True), pki.leaf("rot-b", rsa_key=True)
    live_cert, live_key = tmp_path / "live.crt", tmp_path / "live.key"
    shutil.copy(first.cert, live_cert)
    shutil.copy(first.key, live_key)
    p = tls_proxy(tls={"cert_file": str(live_cert), "key_file": str(live_key)})
    ctx = ctx_for(pki)
    old = http.client.HTTPSConnection("127.0.0.1", p.port, context=ctx, timeout=10)
    try:
        assert https_request(p, ctx, path="/public/1", conn=old).status == 200
        old_sock = old.sock
        assert peer_serial(old_sock) == first.serial

        # Renewed certificate: new connections get it, the open one keeps working.
        shutil.copy(second.cert, live_cert)
        shutil.copy(second.key, live_key)
        mark = p.log_size()
        p.signal(signal.SIGHUP)
        assert p.wait_for_log(r"configuration reloaded", start=mark), p.log_tail()
        with handshake(p.port, ctx) as s:
            assert peer_serial(s) == second.serial, "new connection did not get the new cert"
        r = https_request(p, ctx, path="/public/2", conn=old)
        assert r.status == 200 and old.sock is old_sock, "the open connection was dropped"
        assert peer_serial(old.sock) == first.serial

        # A broken pair on reload (key of another certificate): refused, the running one stays.
        shutil.copy(first.cert, live_cert)
        mark = p.log_size()
        p.signal(signal.SIGHUP)
        line = p.wait_for_log(r"reload refused", start=mark)
        assert line, p.log_tail()
        assert str(live_key) in line and "tls.key_file" in line, line
        assert p.alive()
        with handshake(p.port, ctx) as s:
            assert peer_serial(s) == second.serial
        assert https_request(p, ctx, path="/public/3", conn=old).status == 200
    finally:
        old.close()


# ------------------------------------------------------------------------------- bad files
@pytest.mark.parametrize("case", ["missing-cert", "missing-key", "mismatched-key", "garbage-cert",
                                  "key-as-cert"])
def test_unusable_certificate_or_key_fails_start_up(proxy, pki, tmp_path, case):
    good = pki.leaf("server", rsa_key=True)
    other = pki.leaf("other-key")
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all\n"
                       "-----END CERTIFICATE-----\n")
    cert, key = str(good.cert), str(good.key)
    if case == "missing-cert":
        cert = str(tmp_path / "no-such.crt")
        named, key_name = cert, "tls.cert_file"
    elif case == "missing-key":
        key = str(tmp_path / "no-such.key")
        named, key_name = key, "tls.key_file"
    elif case == "mismatched-key":
        key = str(other.key)
        named, key_name = key, "tls.key_file"
    elif case == "garbage-cert":
        cert = str(garbage)
        named, key_name = cert, "tls.cert_file"
    else:
        cert = str(good.key)
        named, key_name = cert, "tls.cert_file"
    p = proxy(_start=False, tls={"cert_file": cert, "key_file": key})
    for args in (["--check-config", "--config", str(p.config_path)],
                 ["--config", str(p.config_path)]):
        r = run_proxy(*args, env=p.env)
        assert r.returncode == 1, (args, r.returncode, r.stdout, r.stderr)
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1, lines
        assert named in lines[0] and key_name in lines[0], lines[0]
        assert lines[0].startswith(str(p.config_path)), lines[0]
        assert "config OK" not in r.stdout
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", p.port), timeout=0.5).close()


BAD_CONFIGS = {
    # name: (config overrides, text that must appear in the error line)
    "basic-without-tls": ({"basic": {"enabled": True}}, "basic.enabled"),
    "tls-min-version": ({"tls": {"min_version": "1.1"}}, "min_version"),
    "tls-without-key": ({"tls": {"key_file": None}}, "key_file"),
    "upstream-tls-for-http": ({"upstream_tls": {"server_name": "localhost"}}, "upstream_tls"),
    "basic-realm-quote": ({"basic": {"enabled": True, "realm": 'a"b'}}, "basic.realm"),
    "upstream-ca-missing": ({"upstream": "https://localhost:9",
                             "upstream_tls": {"ca_file": "/nonexistent/gssgate-ca.pem"}},
                            "/nonexistent/gssgate-ca.pem"),
}


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_tls_and_basic_config_errors(proxy, pki, case):
    overrides, needle = BAD_CONFIGS[case]
    leaf = pki.leaf("server", rsa_key=True)
    base = {"tls": {"cert_file": str(leaf.cert), "key_file": str(leaf.key)}}
    if case == "basic-without-tls":
        base = {}
    p = proxy(_start=False, **proxytest.deep_merge(base, overrides))
    r = run_proxy("--check-config", "--config", str(p.config_path), env=p.env)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert needle in r.stderr, r.stderr
    assert "config OK" not in r.stdout


def test_basic_with_tls_passes_the_config_check(proxy, pki):
    leaf = pki.leaf("server", rsa_key=True)
    p = proxy(_start=False, tls={"cert_file": str(leaf.cert), "key_file": str(leaf.key)},
              basic={"enabled": True})
    r = run_proxy("--check-config", "--config", str(p.config_path), env=p.env)
    assert r.returncode == 0, r.stderr


# ------------------------------------------------------------------------------- EOF framing
def read_to_eof(port: int, ctx: ssl.SSLContext, request: bytes) -> tuple[bytes, str]:
    """Sends `request` on a new TLS connection and reads until the server ends it; returns
    (bytes, how it ended: "close_notify" or the ssl error)."""
    # Python sets OP_IGNORE_UNEXPECTED_EOF by default (OpenSSL 3): a TCP FIN without
    # close_notify would then look like a clean end. Clear it to see the difference.
    ctx.options &= ~ssl.OP_IGNORE_UNEXPECTED_EOF
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    with ctx.wrap_socket(raw, server_hostname="127.0.0.1", suppress_ragged_eofs=False) as s:
        s.sendall(request)
        data = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    return data, "close_notify"
                data += chunk
        except ssl.SSLError as e:
            return data, f"{type(e).__name__}: {e}"


def test_connection_end_is_a_tls_close_notify(tls_proxy, pki, echo_upstream):
    """An HTTP/1.0 client and a chunked upstream response: the proxy delimits the body by
    closing. Over TLS that end must be a close_notify alert, or the client cannot tell the end
    of the body from a truncation by an attacker (RFC 8446 6.1; RFC 9112 9.8 "incomplete
    close"). The same for any response the proxy closes the connection after."""
    p = tls_proxy()
    ctx = ctx_for(pki)
    n = 100_000
    data, end = read_to_eof(p.port, ctx, f"GET /public/big?bytes={n} HTTP/1.0\r\n"
                                         f"Host: localhost\r\n\r\n".encode())
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 200"), head[:100]
    assert hashlib.sha256(body).hexdigest() == big_body_sha256(n), len(body)
    assert end == "close_notify", f"EOF-delimited body ended without close_notify: {end}"
    # A 400 the proxy answers with Connection: close.
    data, end = read_to_eof(p.port, ctx, b"GET /public/x HTTP/1.1\r\nHost: a\r\n"
                                         b"Content-Length: 1\r\nContent-Length: 2\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 400"), data[:100]
    assert end == "close_notify", f"Connection: close response ended without close_notify: {end}"


def test_http10_client_with_curl(tls_proxy, pki, echo_upstream):
    p = tls_proxy()
    n = 100_000
    out = Path(p.workdir) / "big.bin"
    r = curl(["-0", "--cacert", str(pki.ca_file()), "--resolve", f"localhost:{p.port}:127.0.0.1",
              "-o", str(out), f"https://localhost:{p.port}/public/big?bytes={n}"])
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    assert hashlib.sha256(out.read_bytes()).hexdigest() == big_body_sha256(n)


# ------------------------------------------------------------------------------- https upstream
def test_https_upstream_with_the_right_ca(proxy, pki, tls_upstream):
    p = proxy(upstream=f"https://localhost:{tls_upstream.port}",
              upstream_tls={"ca_file": str(pki.ca_file())})
    # One client connection (one worker thread, one upstream pool): the TLS connection to the
    # upstream is reused for the second request.
    conn = http.client.HTTPConnection("127.0.0.1", p.port, timeout=10)
    try:
        r = http_request(p.port, path="/app", headers=auth_header("alice"), conn=conn)
        assert r.status == 200, r
        assert upstream_header_values(r, "X-Remote-User") == ["alice"]
        first_conn = r.json["conn"]
        r = http_request(p.port, path="/public/x", conn=conn)
        assert r.status == 200 and r.json["conn"] == first_conn, "upstream TLS conn not reused"
    finally:
        conn.close()
    assert tls_upstream.sni_names == ["localhost"], tls_upstream.sni_names
    assert tls_upstream.tls_errors == []
    # Bodies both ways through the TLS upstream connection.
    body = os.urandom(1_000_000)
    r = http_request(p.port, method="POST", path="/public/up", body=body, timeout=20)
    assert r.status == 200 and r.json["body_sha256"] == hashlib.sha256(body).hexdigest()
    r = http_request(p.port, path="/public/big?bytes=2000000", timeout=20)
    assert r.status == 200 and hashlib.sha256(r.body).hexdigest() == big_body_sha256(2_000_000)
    # server_name overrides the URL host for verification and SNI.
    p2 = proxy(upstream=f"https://127.0.0.1:{tls_upstream.port}",
               upstream_tls={"ca_file": str(pki.ca_file()), "server_name": "localhost"})
    assert http_request(p2.port, path="/public/y").status == 200
    assert tls_upstream.sni_names[-1] == "localhost", tls_upstream.sni_names
    assert tls_upstream.tls_errors == []


def test_https_upstream_by_ip_address_sends_no_ip_sni(proxy, pki, tls_upstream):
    """https://127.0.0.1:port: the certificate's IP SAN is verified; SNI carries host names
    only (RFC 6066 3: "Literal IPv4 and IPv6 addresses are not permitted")."""
    p = proxy(upstream=f"https://127.0.0.1:{tls_upstream.port}",
              upstream_tls={"ca_file": str(pki.ca_file())})
    assert http_request(p.port, path="/public/y").status == 200
    assert tls_upstream.sni_names == [None], tls_upstream.sni_names


def test_upstream_trust_change_on_reload_applies_to_pooled_connections(proxy, pki,
                                                                      tls_upstream):
    """A SIGHUP that replaces upstream_tls.ca_file (trust withdrawn) must not leave
    connections verified under the old trust in the pool: the next request is checked anew."""
    p = proxy(upstream=f"https://localhost:{tls_upstream.port}",
              upstream_tls={"ca_file": str(pki.ca_file())})
    conn = http.client.HTTPConnection("127.0.0.1", p.port, timeout=10)
    try:
        assert http_request(p.port, path="/public/1", conn=conn).status == 200
        cfg = dict(p.config)
        cfg["upstream_tls"] = {"ca_file": str(pki.ca_file("other"))}
        mark = p.log_size()
        p.reload(cfg)
        assert p.wait_for_log(r"configuration reloaded", start=mark), p.log_tail()
        r = http_request(p.port, path="/public/2", conn=conn)
        assert r.status == 502, ("a pooled upstream connection verified with the old CA was "
                                 f"used after the reload: {r.status}")
    finally:
        conn.close()


def test_https_upstream_that_never_answers_the_handshake_is_504(proxy, pki):
    """An upstream that accepts TCP but never speaks TLS: the connect deadline covers the
    handshake."""
    with socket.socket() as lsock:
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(16)  # the kernel completes the TCP handshake; nobody reads
        port = lsock.getsockname()[1]
        p = proxy(upstream=f"https://localhost:{port}",
                  upstream_tls={"ca_file": str(pki.ca_file())},
                  timeouts={"upstream_connect": "1s"})
        t0 = time.monotonic()
        r = http_request(p.port, path="/public/x", timeout=15)
        took = time.monotonic() - t0
    assert r.status == 504, (r.status, r.text)
    assert took < 6, took
    assert_clean_error(r)
    assert p.alive()


@pytest.mark.parametrize("case", ["wrong-ca", "wrong-server-name", "system-store"])
def test_https_upstream_verification_failures_give_502(proxy, pki, tls_upstream, case):
    ut = {"ca_file": str(pki.ca_file())}
    if case == "wrong-ca":
        ut = {"ca_file": str(pki.ca_file("other"))}
    elif case == "wrong-server-name":
        ut["server_name"] = "other.example"
    elif case == "system-store":
        ut = {}
    p = proxy(upstream=f"https://localhost:{tls_upstream.port}", **({"upstream_tls": ut}
                                                                      if ut else {}))
    for path in ("/public/a", "/public/b"):
        r = http_request(p.port, path=path)
        assert r.status == 502, (r.status, r.text)
        assert_clean_error(r)
        assert "certificate" not in r.text.lower() and "ssl" not in r.text.lower(), r.text
    assert tls_upstream.requests == [], "a request reached an unverified upstream"
    assert p.alive()
    assert p.wait_for_log(r"upstream .*connect failed"), p.log_tail()
    if case == "wrong-server-name":
        assert "other.example" in tls_upstream.sni_names, tls_upstream.sni_names


def test_https_upstream_expired_or_plain_gives_502(proxy, pki, echo_upstream):
    expired = EchoUpstream(tls_context=server_context(pki.leaf("expired", days=(-30, -1))))
    expired.start()
    try:
        p = proxy(upstream=f"https://localhost:{expired.port}",
                  upstream_tls={"ca_file": str(pki.ca_file())})
        r = http_request(p.port, path="/public/x")
        assert r.status == 502, r
        assert expired.requests == []
    finally:
        expired.stop()
    # A plain-HTTP server behind an https:// upstream URL.
    p = proxy(upstream=f"https://localhost:{echo_upstream.port}",
              upstream_tls={"ca_file": str(pki.ca_file())})
    r = http_request(p.port, path="/public/x")
    assert r.status == 502, r
    assert_clean_error(r)
    assert p.alive()


# ------------------------------------------------------------------------------- Basic
def test_basic_challenge_and_sign_in(tls_proxy, pki, echo_upstream):
    p = tls_proxy(basic={"enabled": True}, session={"lifetime": "10m"})
    ctx = ctx_for(pki)
    r = https_request(p, ctx, path="/app", headers={"Accept": "*/*"})
    assert r.status == 401
    assert r.header_values("WWW-Authenticate") == ["Negotiate", BASIC_CHALLENGE], r.headers
    # curl with a password: Basic, checked with the KDC, then the keytab.
    res = curl(["-u", "alice:alice-password", "--cacert", str(pki.ca_file()),
                "--resolve", f"localhost:{p.port}:127.0.0.1", "-D", "-",
                f"https://localhost:{p.port}/app/basic"])
    assert res.returncode == 0, res.stderr
    head, _, body = res.stdout.decode("latin-1").partition("\r\n\r\n")
    assert head.startswith("HTTP/1.1 200"), head
    headers = [(k.strip(), v.strip()) for k, _, v in
               (ln.partition(":") for ln in head.split("\r\n")[1:])]
    seen = {k.lower(): v for k, v in json.loads(body)["headers"]}
    assert seen.get("x-remote-user") == "alice", seen
    assert seen.get("x-remote-principal") == f"alice@{REALM_NAME}", seen
    assert "authorization" not in seen, "the password reached the upstream"
    value, attrs = session_cookie(headers)
    assert "secure" in attrs and "httponly" in attrs, attrs
    assert "alice-password" not in p.log_text()
    assert p.wait_for_log(r"authenticated alice@GSSGATE.TEST as alice \(Basic\)")
    # The cookie from a Basic sign-in works like any other.
    r = https_request(p, ctx, path="/app/2", headers={"Cookie": f"{COOKIE}={value}"})
    assert r.status == 200 and upstream_header_values(r, "X-Remote-User") == ["alice"]
    # Negotiate still works next to Basic.
    r = https_request(p, ctx, path="/app/3", headers=auth_header("bob"))
    assert r.status == 200 and upstream_header_values(r, "X-Remote-User") == ["bob"]
    # A user name with a realm is accepted; another realm is not.
    r = https_request(p, ctx, path="/app/4", headers=basic(f"carol@{REALM_NAME}", "carol-password"))
    assert r.status == 200 and upstream_header_values(r, "X-Remote-User") == ["carol"]
    r = https_request(p, ctx, path="/app/5", headers=basic("carol@OTHER.TEST", "carol-password"))
    assert r.status == 401


def test_basic_failures_look_the_same(tls_proxy, pki, echo_upstream):
    p = tls_proxy(basic={"enabled": True, "realm": "Acme Intranet"})
    ctx = ctx_for(pki)
    answers = []
    for user, password in [("alice", "wrong-password"), ("nosuchuser", "alice-password"),
                           ("bob", "alice-password")]:
        r = https_request(p, ctx, path="/app", headers=basic(user, password))
        assert r.status == 401, (user, r.status, r.text)
        assert_clean_error(r)
        answers.append((r.status, r.header_values("WWW-Authenticate"),
                        r.header("Content-Type"), r.body, r.header_values("Set-Cookie")))
    assert answers[0] == answers[1] == answers[2], answers
    assert answers[0][1] == ["Negotiate", 'Basic realm="Acme Intranet", charset="UTF-8"']
    text = p.log_text()
    assert "wrong-password" not in text and "alice-password" not in text
    # Malformed Basic credentials are a 400.
    r = https_request(p, ctx, path="/app", headers={"Authorization": "Basic !!!not-base64"})
    assert r.status == 400, r
    r = https_request(p, ctx, path="/app", headers={
        "Authorization": "Basic " + base64.b64encode(b"no-colon").decode()})
    assert r.status == 400, r
    assert echo_upstream.requests == []
    assert p.alive()


def test_basic_not_enabled_offers_and_accepts_only_negotiate(tls_proxy, pki, echo_upstream):
    p = tls_proxy()
    ctx = ctx_for(pki)
    r = https_request(p, ctx, path="/app")
    assert r.status == 401 and r.header_values("WWW-Authenticate") == ["Negotiate"], r.headers
    r = https_request(p, ctx, path="/app", headers=basic("alice", "alice-password"))
    assert r.status == 401 and r.header_values("WWW-Authenticate") == ["Negotiate"], r.headers
    assert echo_upstream.requests == []


def test_plain_connection_is_never_offered_basic_after_a_reload_to_tls(proxy, pki,
                                                                        echo_upstream):
    """A keep-alive plain-HTTP connection opened before a SIGHUP that turns on tls + basic stays
    plain: it must not be offered (nor accept) Basic, or a browser would send the password in
    clear text on it."""
    p = proxy()
    leaf = pki.leaf("server", rsa_key=True)
    conn = http.client.HTTPConnection("127.0.0.1", p.port, timeout=10)
    try:
        r = http_request(p.port, path="/public/x", conn=conn)
        assert r.status == 200
        cfg = proxytest.deep_merge(p.config, {
            "tls": {"cert_file": str(leaf.cert), "key_file": str(leaf.key)},
            "basic": {"enabled": True}})
        mark = p.log_size()
        p.reload(cfg)
        assert p.wait_for_log(r"configuration reloaded", start=mark), p.log_tail()
        # New connections speak TLS now and offer Basic.
        r = https_request(p, ctx_for(pki), path="/app")
        assert r.header_values("WWW-Authenticate") == ["Negotiate", BASIC_CHALLENGE]
        # The old plain connection: Negotiate only.
        r = http_request(p.port, path="/app", conn=conn)
        assert r.status == 401
        assert r.header_values("WWW-Authenticate") == ["Negotiate"], \
            f"Basic offered on a plain-HTTP connection: {r.header_values('WWW-Authenticate')}"
        r = http_request(p.port, path="/app", conn=conn, headers=basic("alice", "alice-password"))
        assert r.status == 401, (r.status, r.text)
    finally:
        conn.close()
    assert echo_upstream.requests[-1]["path"] == "/public/x"


def test_basic_with_the_kdc_down_is_503(realm, pki, echo_upstream, tmp_path):
    """The proxy's krb5.conf names a KDC port nobody listens on: Basic cannot be checked (503),
    Negotiate (no KDC needed by an acceptor) still works."""
    conf = Path(realm.env()["KRB5_CONFIG"]).read_text()
    dead = re.sub(r"kdc = 127\.0\.0\.1:\d+", f"kdc = 127.0.0.1:{free_port()}", conf)
    assert dead != conf
    dead_conf = tmp_path / "krb5-dead-kdc.conf"
    dead_conf.write_text(dead)
    env = proxy_env(realm, tmp_path)
    env["KRB5_CONFIG"] = str(dead_conf)
    leaf = pki.leaf("server", rsa_key=True)
    cfg = proxytest.deep_merge(proxytest.base_config(realm, echo_upstream.url), {
        "tls": {"cert_file": str(leaf.cert), "key_file": str(leaf.key)},
        "basic": {"enabled": True}})
    p = proxytest.ProxyProcess(cfg, tmp_path, env, name="dead-kdc")
    p.start()
    try:
        ctx = ctx_for(pki)
        t0 = time.monotonic()
        r = https_request(p, ctx, path="/app", headers=basic("alice", "alice-password"))
        assert r.status == 503, (r.status, r.text)
        assert time.monotonic() - t0 < 15
        assert_clean_error(r)
        assert r.header_values("WWW-Authenticate") == []
        r = https_request(p, ctx, path="/app", headers=auth_header("alice"))
        assert r.status == 200, r
        assert p.wait_for_log(r"KDC unavailable"), p.log_tail()
    finally:
        p.terminate_and_check()
