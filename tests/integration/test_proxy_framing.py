"""Request framing (request-smuggling defences) and header size limits
(docs/proxy-contract.md: "Framing → 400", limits.header_bytes → 431)."""

import time

import pytest

from proxytest import (RawConnection, RawResponseError, http_request, negotiate_token,
                       raw_http)

# Each case: the header block after the request line (without the final empty line), and the
# bytes that follow. All go to a public route so that authentication plays no part.
SMUGGLING = {
    "cl-then-te": (b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
                   b"0\r\n\r\n"),
    "te-then-cl": (b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
                   b"0\r\n\r\n"),
    "te-gzip": (b"Transfer-Encoding: gzip\r\n", b"hello"),
    "te-gzip-chunked": (b"Transfer-Encoding: gzip, chunked\r\n", b"0\r\n\r\n"),
    "te-chunked-chunked": (b"Transfer-Encoding: chunked, chunked\r\n", b"0\r\n\r\n"),
    "te-identity": (b"Transfer-Encoding: identity\r\n", b""),
    "two-te-headers": (b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
                       b"0\r\n\r\n"),
    "duplicate-equal-cl": (b"Content-Length: 5\r\nContent-Length: 5\r\n", b"hello"),
    "conflicting-cl": (b"Content-Length: 5\r\nContent-Length: 6\r\n", b"hello!"),
    "cl-plus-sign": (b"Content-Length: +5\r\n", b"hello"),
    "cl-list": (b"Content-Length: 5, 5\r\n", b"hello"),
    "cl-hex": (b"Content-Length: 0x5\r\n", b"hello"),
    "cl-negative": (b"Content-Length: -1\r\n", b""),
    "obs-fold": (b"X-Folded: first\r\n  continued\r\n", b""),
    "obs-fold-tab": (b"X-Folded: first\r\n\tcontinued\r\n", b""),
}


def request_bytes(extra_headers: bytes, body: bytes, version: bytes = b"HTTP/1.1",
                  path: bytes = b"/public/smuggle") -> bytes:
    return (b"POST " + path + b" " + version + b"\r\nHost: localhost\r\n" + extra_headers +
            b"\r\n" + body)


def assert_still_serving(p):
    r = http_request(p.port, path="/public/after")
    assert r.status == 200, r
    assert p.alive()


@pytest.fixture
def public_proxy(proxy):
    return proxy()


@pytest.mark.parametrize("case", sorted(SMUGGLING))
def test_smuggling_framing_is_400(public_proxy, echo_upstream, case):
    headers, body = SMUGGLING[case]
    r = raw_http(public_proxy.port, request_bytes(headers, body))
    assert r.status == 400, f"{case}: {r.status} {r.body[:200]!r}"
    assert echo_upstream.requests == [], f"{case}: request reached the upstream"
    assert_still_serving(public_proxy)


def test_chunked_on_http10_is_400(public_proxy, echo_upstream):
    r = raw_http(public_proxy.port,
                 request_bytes(b"Transfer-Encoding: chunked\r\n", b"5\r\nhello\r\n0\r\n\r\n",
                               version=b"HTTP/1.0"))
    assert r.status == 400, r
    assert echo_upstream.requests == []
    assert_still_serving(public_proxy)


def test_smuggling_on_negotiate_route_is_400(public_proxy, echo_upstream):
    token = negotiate_token("alice").encode()
    r = raw_http(public_proxy.port, request_bytes(
        b"Authorization: Negotiate " + token + b"\r\nContent-Length: 5\r\n"
        b"Transfer-Encoding: chunked\r\n", b"0\r\n\r\n", path=b"/private"))
    assert r.status == 400, r
    assert echo_upstream.requests == []


def test_smuggled_second_request_never_reaches_upstream(public_proxy, echo_upstream):
    # Classic CL.TE: if the proxy used Content-Length and the upstream chunked (or the other
    # way round) the upstream would see a second request "GET /public/smuggled".
    smuggled = b"GET /public/smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
    body = b"0\r\n\r\n" + smuggled
    data = request_bytes(b"Content-Length: %d\r\nTransfer-Encoding: chunked\r\n" % len(body),
                         body)
    with RawConnection(public_proxy.port) as c:
        c.send(data)
        r = c.response()
        assert r.status == 400
        try:
            extra = c.response()
            assert extra.status == 400, f"smuggled request got {extra.status}"
        except (RawResponseError, OSError):
            pass  # connection closed after the 400: fine
    paths = [q["path"] for q in echo_upstream.requests]
    assert "/public/smuggled" not in paths
    assert paths == []


def test_chunked_body_content_is_never_parsed_as_a_request(public_proxy, echo_upstream):
    # The body of a chunked request on an authenticated route holds bytes that look like a
    # second request. Re-chunked correctly, the upstream sees one request whose body is
    # exactly these bytes; a proxy that terminates the chunked body early would let the
    # upstream parse them as an unauthenticated request to /private/admin.
    inner = (b"GET /private/admin HTTP/1.1\r\nHost: localhost\r\n"
             b"X-Remote-User: root\r\n\r\n")
    token = negotiate_token("bob").encode()
    data = (b"POST /private/upload HTTP/1.1\r\nHost: localhost\r\n"
            b"Authorization: Negotiate " + token + b"\r\nTransfer-Encoding: chunked\r\n\r\n" +
            b"%x\r\n" % len(inner) + inner + b"\r\n0\r\n\r\n")
    with RawConnection(public_proxy.port) as c:
        r = c.request(data)
    time.sleep(0.3)  # give a desynchronised upstream connection time to show itself
    seen = [(q["path"], dict((k.lower(), v) for k, v in q["headers"]).get("x-remote-user"))
            for q in echo_upstream.requests]
    assert seen == [("/private/upload", "bob")], f"upstream saw {seen}"
    assert r.status == 200, r
    assert r.json["body_len"] == len(inner), r.json


def test_well_formed_bodies_pass(public_proxy, echo_upstream):
    # Controls: the same requests with correct framing are forwarded.
    r = raw_http(public_proxy.port, request_bytes(b"Content-Length: 5\r\n", b"hello"))
    assert r.status == 200, r
    assert r.json["body_len"] == 5 and r.json["chunked"] is False
    r = raw_http(public_proxy.port, request_bytes(
        b"Transfer-Encoding: chunked\r\n", b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"))
    assert r.status == 200, r
    assert r.json["body_len"] == 11 and r.json["chunked"] is True
    r = raw_http(public_proxy.port, request_bytes(b"Transfer-Encoding: Chunked\r\n",
                                                  b"0\r\n\r\n"))
    assert r.status == 200, "Transfer-Encoding values are case-insensitive (RFC 9112 7)"
    r = raw_http(public_proxy.port, b"GET /public/x HTTP/1.0\r\nHost: localhost\r\n\r\n")
    assert r.status == 200, r
    assert len(echo_upstream.requests) == 4


def header_of_total_size(total: int, fixed: bytes) -> bytes:
    """Filler headers so that request line + headers (incl. final CRLF) is `total` bytes."""
    request_line = b"GET /big-header HTTP/1.1\r\n"
    base = request_line + b"Host: localhost\r\n" + fixed + b"\r\n"
    left = total - len(base)
    per_line_overhead = len(b"X-Fill-00: \r\n")
    lines = max(1, -(-left // (8000 + per_line_overhead)))
    content = left - lines * per_line_overhead
    if content < lines:
        raise ValueError("cannot pad exactly")
    filler = b""
    for i in range(lines):
        n = content // lines + (1 if i < content % lines else 0)
        filler += b"X-Fill-%02d: " % i + b"a" * n + b"\r\n"
    data = request_line + b"Host: localhost\r\n" + fixed + filler + b"\r\n"
    assert len(data) == total, (len(data), total)
    return data


def test_60k_header_with_token_is_accepted(public_proxy, echo_upstream):
    token = negotiate_token("alice").encode()
    data = header_of_total_size(60 * 1024, b"Authorization: Negotiate " + token + b"\r\n")
    r = raw_http(public_proxy.port, data)
    assert r.status == 200, r
    seen = r.json
    assert dict((k.lower(), v) for k, v in seen["headers"])["x-remote-user"] == "alice"
    fill = sum(len(v) for k, v in seen["headers"] if k.lower().startswith("x-fill-"))
    assert fill > 55 * 1024


def test_70k_header_is_431(public_proxy, echo_upstream):
    token = negotiate_token("alice").encode()
    data = header_of_total_size(70 * 1024, b"Authorization: Negotiate " + token + b"\r\n")
    try:
        r = raw_http(public_proxy.port, data)
    except (RawResponseError, ConnectionError) as e:
        pytest.fail(f"no 431 response, connection dropped: {e}")
    assert r.status == 431, r
    # On a public route too.
    data = header_of_total_size(70 * 1024, b"").replace(b"GET /big-header",
                                                           b"GET /public/big-header")
    r = raw_http(public_proxy.port, data)
    assert r.status == 431, r
    assert echo_upstream.requests == []
    assert_still_serving(public_proxy)


def test_header_limit_is_configurable(proxy, echo_upstream):
    p = proxy(limits={"header_bytes": "8KiB"})
    ok = header_of_total_size(7 * 1024, b"").replace(b"GET /big-header", b"GET /public/ok-hdr")
    assert raw_http(p.port, ok).status == 200
    big = header_of_total_size(9 * 1024, b"").replace(b"GET /big-header", b"GET /public/big")
    assert raw_http(p.port, big).status == 431


def test_slow_header_is_cut_off(proxy, echo_upstream):
    # timeouts.header: a client that never finishes its header (slowloris) loses the connection.
    p = proxy(timeouts={"header": "1s"})
    with RawConnection(p.port) as c:
        c.send(b"GET /public/slowloris HTTP/1.1\r\nHost: localhost\r\nX-A: 1\r\n")
        t0 = time.monotonic()
        closed = False
        status = None
        try:
            c.sock.settimeout(4)
            data = c.sock.recv(65536)
            closed = True
            if data.startswith(b"HTTP/1.1 "):
                status = int(data[9:12])
        except ConnectionError:
            closed = True
        except OSError:
            pass
        elapsed = time.monotonic() - t0
    assert closed, "connection still open 4 s after an incomplete header (timeouts.header 1s)"
    assert elapsed < 3, f"cut off only after {elapsed:.1f}s"
    assert status in (None, 408), status
    assert echo_upstream.requests == []


def test_idle_keepalive_connection_is_closed(proxy):
    p = proxy(timeouts={"idle": "1s"})
    with RawConnection(p.port) as c:
        r = c.request(b"GET /public/a HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert r.status == 200 and not r.closed
        t0 = time.monotonic()
        assert c.is_closed_by_peer(wait=4), "idle connection not closed (timeouts.idle 1s)"
        assert time.monotonic() - t0 < 3
