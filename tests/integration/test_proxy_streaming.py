"""Keep-alive, streamed bodies both ways, upstream failures and unix-socket upstreams."""

import hashlib
import http.client
import os
import time

from echo_upstream import EchoUpstream, big_body_sha256
from proxytest import (closed_port, http_request, negotiate_token, upstream_header_values)

MiB = 1 << 20


def test_500_requests_on_one_keepalive_connection(proxy, echo_upstream):
    p = proxy()
    conn = http.client.HTTPConnection("127.0.0.1", p.port, timeout=10)
    try:
        conn.connect()
        sock = conn.sock
        local = sock.getsockname()
        for i in range(500):
            r = http_request(p.port, path=f"/public/ka/{i}", conn=conn)
            assert r.status == 200, (i, r)
            assert r.json["path"] == f"/public/ka/{i}"
            assert not r.closed, f"proxy closed the keep-alive connection after request {i}"
            assert conn.sock is sock and sock.getsockname() == local, \
                f"connection was re-opened at request {i}"
    finally:
        conn.close()
    assert len(echo_upstream.requests) == 500


def test_authenticated_requests_on_one_connection(proxy):
    p = proxy()
    conn = http.client.HTTPConnection("127.0.0.1", p.port, timeout=10)
    try:
        conn.connect()
        sock = conn.sock
        users = ["alice", "bob", "carol"] * 7
        for i, user in enumerate(users):
            r = http_request(p.port, path=f"/k/{i}", conn=conn,
                             headers={"Authorization": "Negotiate " + negotiate_token(user)})
            assert r.status == 200, (i, r)
            assert upstream_header_values(r, "X-Remote-User") == [user]
            assert conn.sock is sock
        # Per-request authentication: a request without a token on the same connection is 401
        # (no identity carried over from the previous request).
        r = http_request(p.port, path="/k/none", conn=conn)
        assert r.status == 401
    finally:
        conn.close()


def _chunks(total: int, size: int, digest):
    block = os.urandom(size)
    sent = 0
    while sent < total:
        piece = block[: min(size, total - sent)]
        digest.update(piece)
        sent += len(piece)
        yield piece


def test_chunked_upload_streams_to_upstream(proxy):
    p = proxy()
    total = 8 * MiB + 12345
    digest = hashlib.sha256()
    r = http_request(p.port, method="PUT", path="/public/upload",
                     body=_chunks(total, 256 * 1024, digest), encode_chunked=True,
                     headers={"Content-Type": "application/octet-stream"}, timeout=30)
    assert r.status == 200, r
    seen = r.json
    assert seen["chunked"] is True, "chunked request body must be forwarded chunked"
    assert upstream_header_values(r, "Content-Length") == []
    assert seen["body_len"] == total
    assert seen["body_sha256"] == digest.hexdigest()


def test_chunked_upload_on_negotiate_route(proxy):
    p = proxy()
    total = 3 * MiB
    digest = hashlib.sha256()
    r = http_request(p.port, method="POST", path="/upload",
                     body=_chunks(total, 100_000, digest), encode_chunked=True,
                     headers={"Authorization": "Negotiate " + negotiate_token("alice")},
                     timeout=30)
    assert r.status == 200, r
    assert r.json["body_len"] == total
    assert r.json["body_sha256"] == digest.hexdigest()
    assert upstream_header_values(r, "X-Remote-User") == ["alice"]


def test_content_length_upload_keeps_length(proxy):
    p = proxy()
    body = os.urandom(4 * MiB)
    r = http_request(p.port, method="POST", path="/public/cl", body=body, timeout=30)
    assert r.status == 200, r
    assert r.json["chunked"] is False
    assert upstream_header_values(r, "Content-Length") == [str(len(body))]
    assert r.json["body_sha256"] == hashlib.sha256(body).hexdigest()


def test_large_streamed_response(proxy):
    p = proxy()
    n = 24 * MiB + 7
    conn = http.client.HTTPConnection("127.0.0.1", p.port, timeout=30)
    try:
        conn.request("GET", f"/public/big?bytes={n}")
        r = conn.getresponse()
        assert r.status == 200
        digest = hashlib.sha256()
        got = 0
        while True:
            piece = r.read(256 * 1024)
            if not piece:
                break
            digest.update(piece)
            got += len(piece)
        assert got == n
        assert digest.hexdigest() == big_body_sha256(n)
        assert r.getheader("X-Body-Sha256") == big_body_sha256(n)
        # The connection is still usable afterwards.
        conn.request("GET", "/public/after-big")
        r2 = conn.getresponse()
        assert r2.status == 200
        r2.read()
    finally:
        conn.close()


def test_body_limit_is_413(proxy, echo_upstream):
    p = proxy(limits={"body_bytes": "1MiB"})
    r = http_request(p.port, method="POST", path="/public/too-big", body=b"x" * (2 * MiB),
                     timeout=15)
    assert r.status == 413, r
    assert echo_upstream.requests == []
    r = http_request(p.port, method="POST", path="/public/fits", body=b"x" * (MiB // 2))
    assert r.status == 200


def test_upstream_down_is_502(proxy):
    p = proxy(upstream=f"http://127.0.0.1:{closed_port()}")
    t0 = time.monotonic()
    r = http_request(p.port, path="/public/x")
    assert r.status == 502, r
    assert time.monotonic() - t0 < 4
    r = http_request(p.port, path="/y", headers={"Authorization": "Negotiate " + negotiate_token("alice")})
    assert r.status == 502, r
    assert p.alive()


def test_upstream_slow_is_504(proxy, echo_upstream):
    p = proxy(timeouts={"upstream_response": "1s"})
    t0 = time.monotonic()
    r = http_request(p.port, path="/public/slow?delay=3", timeout=10)
    elapsed = time.monotonic() - t0
    assert r.status == 504, r
    assert 0.8 <= elapsed < 2.8, f"504 after {elapsed:.2f}s, expected about 1s"
    # A fast request afterwards is fine.
    assert http_request(p.port, path="/public/slow?delay=0.1").status == 200


def test_unix_socket_upstream(proxy, tmp_path):
    sock = tmp_path / "echo.sock"
    with EchoUpstream(unix_path=str(sock)) as up:
        p = proxy(upstream=f"unix:{sock}")
        r = http_request(p.port, path="/via-unix",
                         headers={"Authorization": "Negotiate " + negotiate_token("bob")})
        assert r.status == 200, r
        assert r.json["path"] == "/via-unix"
        assert upstream_header_values(r, "X-Remote-User") == ["bob"]
        r = http_request(p.port, method="POST", path="/public/unix-body", body=b"z" * 100000)
        assert r.status == 200 and r.json["body_len"] == 100000
        assert len(up.requests) == 2
        p.terminate_and_check()


def test_unix_socket_upstream_missing_is_502(proxy, tmp_path):
    p = proxy(upstream=f"unix:{tmp_path / 'nobody-listens.sock'}")
    r = http_request(p.port, path="/public/x")
    assert r.status == 502, r
