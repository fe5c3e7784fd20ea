"""Adversarial suite, proxy side (issue 7, item 3 "Hard to fool, hard to break"), against the
real gssgate-proxy, a real MIT KDC (tests/realm) and the echo upstream.

Every case has an id naming the attack and asserts the exact answer: the status, what reached
the echo upstream (usually nothing), that the connection is closed where it must be, that no
error leaks GSS internals (proxytest.assert_clean_error) and that the proxy still serves a real
sign-in afterwards. The broker side is tests/integration/test_adversarial_broker.py.

Issue list → the test that proves it ("here" = this file):

  Request smuggling
    CL+TE, TE+CL                          test_proxy_framing.py::test_smuggling_framing_is_400
                                          [cl-then-te, te-then-cl],
                                          ::test_smuggled_second_request_never_reaches_upstream
    TE variants (gzip, gzip+chunked,      test_proxy_framing.py::test_smuggling_framing_is_400
      chunked twice, identity, two TE       [te-gzip, te-gzip-chunked, te-chunked-chunked,
      fields), TE on HTTP/1.0               te-identity, two-te-headers], ::test_chunked_on_http10_is_400
    more TE variants (xchunked, chunked   here: test_framing_is_refused[te-*]
      +identity, space before colon,
      vertical tab, NUL), TE_ with '_'    here: test_underscore_framing_names_are_dropped_not_obeyed
    duplicate / signed / listed / hex CL  test_proxy_framing.py::test_smuggling_framing_is_400
                                          [duplicate-equal-cl, conflicting-cl, cl-plus-sign,
                                          cl-list, cl-hex, cl-negative]
    overflowing CL                        here: test_framing_is_refused[cl-2^64, cl-20-digits, ...],
                                          test_content_length_above_the_body_limit_is_413
    chunk-size overflow                   here: test_bad_chunked_body[chunk-size-*]
    bad chunk extensions                  here: test_bad_chunked_body[chunk-ext-*]
    Upgrade: h2c, HTTP/2 preface          here: test_h2c_upgrade_is_not_performed,
                                          test_http2_prior_knowledge_preface_is_400
    obs-fold                              test_proxy_framing.py::test_smuggling_framing_is_400[obs-fold*]
  SPNEGO tokens
    empty, `60`, `60 84`, `60 40 06`,     here: test_bad_spnego_encapsulation
      `60 40 06 09` and more truncations
    deeply nested lengths                 here: test_bad_spnego_encapsulation[nested-*]
    NTLM (raw)                            test_proxy_auth.py::test_raw_ntlm_token_is_403_kerberos_required_not_a_401_loop
    NTLM in SPNEGO, NegoEx, IAKERB        here: test_other_mechanisms_are_401
    raw krb5 (no SPNEGO), replay          test_proxy_flood.py (raw_krb5, replayed), test_proxy_auth.py::test_replayed_token_is_401
  Acceptor names
    ticket for another keytab principal   test_proxy_auth.py::test_wrong_service_with_acceptor_pinned,
      with `acceptor` pinned → 401        here: test_acceptor_pinned_refuses_other_keytab_principal
    without `acceptor` both succeed       here: test_without_acceptor_every_keytab_principal_is_accepted
  Principal mapping
    root@REALM refused by default         here: test_root_is_refused_by_default,
                                          test_allow_privileged_local_names_exception
    alice/admin ≠ alice                   here: test_two_component_principal_is_not_its_first_component
                                          (and test_proxy_auth.py::test_principal_without_local_name_is_403)
    alice@OTHER.REALM ≠ alice@REALM       here: test_cross_realm_principal_is_not_the_local_user
                                          (a real cross-realm ticket from a second KDC)
    control bytes never raw in a header   here: test_principal_with_control_bytes_is_403_and_logged_escaped
      or log
  Client-supplied forwarding headers
    stripped/replaced                     test_proxy_headers.py::test_hop_by_hop_and_forwarded_headers
    never used for decisions              here: test_forwarded_headers_decide_nothing
  Credentials never forwarded
    Authorization (negotiate routes),     test_proxy_headers.py::test_hop_by_hop_and_forwarded_headers
      Proxy-Authorization
    Authorization: Negotiate on an        here: test_negotiate_authorization_never_reaches_upstream
      auth: none route
    session cookie                        test_session.py::test_cookie_is_stripped_before_the_upstream
"""

from __future__ import annotations

import base64
import time

import pytest

import proxytest
from proxytest import (RawConnection, RawResponseError, assert_clean_error, http_request,
                       negotiate_token, raw_http, upstream_header_values, upstream_headers)

REALM = proxytest.REALM_NAME
OTHER_REALM = "OTHER.TEST"

# DER encodings of OIDs, tag and length included.
SPNEGO_OID = bytes.fromhex("06062b0601050502")              # 1.3.6.1.5.5.2
KRB5_OID = bytes.fromhex("06092a864886f712010202")          # 1.2.840.113554.1.2.2
NTLM_OID = bytes.fromhex("060a2b06010401823702020a")        # 1.3.6.1.4.1.311.2.2.10
NEGOEX_OID = bytes.fromhex("060a2b06010401823702021e")      # 1.3.6.1.4.1.311.2.2.30
IAKERB_OID = bytes.fromhex("06062b0601050205")              # 1.3.6.1.5.2.5
NTLM_TYPE1 = base64.b64decode("TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAGAbEdAAAADw==")


def der(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        length = bytes([n])
    else:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(raw)]) + raw
    return bytes([tag]) + length + content


def spnego_init(mech_oids: list[bytes], mech_token: bytes | None) -> bytes:
    """RFC 4178 NegTokenInit offering `mech_oids`, optionally with an optimistic mechToken."""
    body = der(0xA0, der(0x30, b"".join(mech_oids)))
    if mech_token is not None:
        body += der(0xA2, der(0x04, mech_token))
    return der(0x60, SPNEGO_OID + der(0xA0, der(0x30, body)))


def negotiate(raw: bytes) -> dict[str, str]:
    return {"Authorization": "Negotiate " + base64.b64encode(raw).decode()}


def assert_serves_real_sign_in(p, user: str = "bob") -> None:
    """The proxy is up and still authenticates a real user afterwards."""
    assert p.alive(), f"proxy died:\n{p.log_tail()}"
    r = http_request(p.port, path="/after-attack",
                     headers={"Authorization": "Negotiate " + negotiate_token(user)})
    assert r.status == 200, r
    assert upstream_header_values(r, "X-Remote-User") == [user]


def closed_after(c: RawConnection) -> bool:
    return c.is_closed_by_peer(wait=5)


@pytest.fixture
def p(proxy):
    return proxy()


# =============================================================================== smuggling
def post(headers: bytes, body: bytes = b"", path: bytes = b"/public/smuggle",
         version: bytes = b"HTTP/1.1") -> bytes:
    return (b"POST " + path + b" " + version + b"\r\nHost: localhost\r\n" + headers + b"\r\n" +
            body)


# Header framing the proxy must refuse with 400 before anything goes upstream.
FRAMING_400 = {
    "cl-2^64": (b"Content-Length: 18446744073709551616\r\n", b"hello"),
    "cl-20-digits": (b"Content-Length: 99999999999999999999\r\n", b"hello"),
    "cl-leading-zeros-overflow": (b"Content-Length: 0000000000000000000005\r\n", b"hello"),
    "cl-empty": (b"Content-Length: \r\n", b""),
    "cl-inner-space": (b"Content-Length: 1 0\r\n", b"0123456789"),
    "cl-decimal-point": (b"Content-Length: 5.0\r\n", b"hello"),
    "cl-exponent": (b"Content-Length: 5e0\r\n", b"hello"),
    "cl-unicode-digit": ("Content-Length: \u0665\r\n".encode(), b"hello"),
    "cl-space-before-colon": (b"Content-Length : 5\r\n", b"hello"),
    "te-xchunked": (b"Transfer-Encoding: xchunked\r\n", b"0\r\n\r\n"),
    "te-chunked-identity": (b"Transfer-Encoding: chunked, identity\r\n", b"0\r\n\r\n"),
    "te-identity-chunked": (b"Transfer-Encoding: identity, chunked\r\n", b"0\r\n\r\n"),
    "te-chunked-semicolon": (b"Transfer-Encoding: chunked;q=1\r\n", b"0\r\n\r\n"),
    "te-quoted": (b'Transfer-Encoding: "chunked"\r\n', b"0\r\n\r\n"),
    "te-space-before-colon": (b"Transfer-Encoding : chunked\r\n", b"0\r\n\r\n"),
    "te-vertical-tab": (b"Transfer-Encoding: \x0bchunked\r\n", b"0\r\n\r\n"),
    "te-nul": (b"Transfer-Encoding: chunked\x00\r\n", b"0\r\n\r\n"),
    "te-empty": (b"Transfer-Encoding: \r\n", b""),
    "te-then-empty-cl": (b"Transfer-Encoding: chunked\r\nContent-Length: 0\r\n", b"0\r\n\r\n"),
    "bare-lf-header": (b"X-A: 1\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\n"),
}


@pytest.mark.parametrize("case", sorted(FRAMING_400))
def test_framing_is_refused(p, echo_upstream, case):
    headers, body = FRAMING_400[case]
    with RawConnection(p.port) as c:
        r = c.request(post(headers, body))
        assert r.status == 400, f"{case}: {r.status} {r.body[:200]!r}"
        assert_clean_error(r)
        assert r.closed or closed_after(c), f"{case}: connection left open after a framing 400"
    assert echo_upstream.requests == [], f"{case}: reached the upstream"
    assert_serves_real_sign_in(p)


def test_content_length_above_the_body_limit_is_413(proxy, echo_upstream):
    p = proxy(limits={"body_bytes": "1KiB"})
    with RawConnection(p.port) as c:
        r = c.request(post(b"Content-Length: 999999999999999999\r\n", b"x" * 100))
        assert r.status == 413, r
        assert_clean_error(r)
        assert r.closed or closed_after(c)
    assert echo_upstream.requests == []
    assert_serves_real_sign_in(p)


def test_underscore_framing_names_are_dropped_not_obeyed(p, echo_upstream):
    # "Transfer_Encoding" is not Transfer-Encoding to the proxy, but app servers that map '_'
    # to '-' (CGI, some WSGI/Rack stacks) would see a second framing header: it must not pass.
    r = raw_http(p.port, post(b"Content-Length: 5\r\nTransfer_Encoding: chunked\r\n"
                              b"Content_Length: 0\r\n", b"hello"))
    assert r.status == 200, r
    seen = r.json
    assert seen["body_len"] == 5 and seen["chunked"] is False, seen
    names = {k.lower().replace("_", "-") for k, _ in seen["headers"]}
    assert "transfer-encoding" not in names, seen["headers"]
    assert [v for k, v in seen["headers"] if k.lower().replace("_", "-") == "content-length"] \
        == ["5"], seen["headers"]
    assert len(echo_upstream.requests) == 1


# A chunked body that goes wrong after a valid header: the proxy has already chosen to forward,
# so the request must never complete at the upstream, the client gets 400 (or, when the error
# is only found while streaming, the connection closes), and nothing after it is parsed.
BAD_CHUNKED = {
    "chunk-size-2^64": b"10000000000000000\r\nhello\r\n0\r\n\r\n",
    "chunk-size-ff*18": b"ffffffffffffffffff\r\nhello\r\n0\r\n\r\n",
    "chunk-size-2^64+5-wraps-to-5": b"10000000000000005\r\nhello\r\n0\r\n\r\n",
    "chunk-size-0x-prefix": b"0x5\r\nhello\r\n0\r\n\r\n",
    "chunk-size-negative": b"-5\r\nhello\r\n0\r\n\r\n",
    "chunk-size-plus": b"+5\r\nhello\r\n0\r\n\r\n",
    "chunk-size-empty": b"\r\nhello\r\n0\r\n\r\n",
    "chunk-size-space-inside": b"5 5\r\nhello\r\n0\r\n\r\n",
    "chunk-bare-lf": b"5\nhello\n0\n\n",
    "chunk-data-longer-than-size": b"3\r\nhello\r\n0\r\n\r\n",
    "chunk-ext-empty-name": b"5;\r\nhello\r\n0\r\n\r\n",
    "chunk-ext-unterminated-quote": b'5;a="x\r\nhello\r\n0\r\n\r\n',
    "chunk-ext-bare-cr": b"5;a=b\rc\r\nhello\r\n0\r\n\r\n",
    "chunk-ext-nul": b"5;a\x00b\r\nhello\r\n0\r\n\r\n",
    "chunk-ext-lf-inside": b"5;a\nGET /public/smuggled HTTP/1.1\r\nhello\r\n0\r\n\r\n",
    "chunk-ext-100k": b"5;" + b"a" * 100_000 + b"\r\nhello\r\n0\r\n\r\n",
    "last-chunk-ext-smuggle": b"0;x\nGET /public/smuggled HTTP/1.1\r\nHost: x\r\n\r\n\r\n",
}


@pytest.mark.parametrize("case", sorted(BAD_CHUNKED))
def test_bad_chunked_body(proxy, echo_upstream, case):
    # (A parser still waiting for a CRLF that never comes gives up after timeouts.body.)
    p = proxy(timeouts={"body": "2s"})
    data = post(b"Transfer-Encoding: chunked\r\n", BAD_CHUNKED[case])
    with RawConnection(p.port, timeout=15) as c:
        c.send(data)
        try:
            r = c.response()
        except (RawResponseError, ConnectionError):
            r = None  # closed without an answer: acceptable only once streaming had begun
        if r is not None:
            assert r.status == 400, f"{case}: {r.status} {r.body[:200]!r}"
            assert_clean_error(r)
        assert (r is not None and r.closed) or closed_after(c), f"{case}: connection left open"
    time.sleep(0.2)  # a desynchronised upstream connection would show a second request now
    paths = [q["path"] for q in echo_upstream.requests]
    assert paths == [], f"{case}: upstream completed {paths}"
    assert_serves_real_sign_in(p)


def test_h2c_upgrade_is_not_performed(p, echo_upstream):
    # An h2c upgrade through a proxy that passes Upgrade (or answers 101 itself) would tunnel an
    # HTTP/2 connection to the upstream past every check (the "h2c smuggling" attack).
    req = (b"GET /private/h2c HTTP/1.1\r\nHost: localhost\r\n"
           b"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
           b"HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n")
    r = raw_http(p.port, req)
    assert r.status == 401, r  # an unauthenticated request is still an unauthenticated request
    assert echo_upstream.requests == []
    token = negotiate_token("alice").encode()
    with RawConnection(p.port) as c:
        r = c.request(req.replace(b"\r\n\r\n", b"\r\nAuthorization: Negotiate " + token +
                                  b"\r\n\r\n"))
        assert r.status == 200 and r.version == "HTTP/1.1", r
        # Still HTTP/1.1 on the same connection afterwards (nothing switched protocols).
        again = c.request(b"GET /public/after HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert again.status == 200, again
    seen = {k.lower() for k, _ in upstream_headers(r)}
    assert not seen & {"upgrade", "http2-settings"}, seen
    assert "h2c" not in " ".join(upstream_header_values(r, "Connection")).lower()
    assert [q["path"] for q in echo_upstream.requests] == ["/private/h2c", "/public/after"]


def test_http2_prior_knowledge_preface_is_400(p, echo_upstream):
    with RawConnection(p.port) as c:
        c.send(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        try:
            r = c.response()
            assert r.status in (400, 505), r
            assert_clean_error(r)
        except (RawResponseError, ConnectionError):
            pass  # closed without an answer is fine too
        assert closed_after(c)
    assert echo_upstream.requests == []
    assert_serves_real_sign_in(p)


# =============================================================================== SPNEGO tokens
def nested(depth: int, tag: int = 0x30) -> bytes:
    inner = b"\x05\x00"  # NULL
    for _ in range(depth):
        inner = der(tag, inner)
    return inner


BAD_TOKENS = {
    # header value → exact status
    "empty-scheme-only": ("Negotiate", 400),
    "empty-scheme-space": ("Negotiate    ", 400),
    "empty-base64-padding": ("Negotiate ====", 400),
    "60": (b"\x60", 400),
    "60-00": (b"\x60\x00", 400),
    "60-84": (b"\x60\x84", 400),
    "60-84-ffffffff": (b"\x60\x84\xff\xff\xff\xff" + b"\x06", 400),
    "60-85-too-many-length-bytes": (b"\x60\x85\x01\x00\x00\x00\x00", 400),
    "60-80-indefinite": (b"\x60\x80" + SPNEGO_OID + b"\x00\x00", 400),
    "60-40-06": (b"\x60\x40\x06", 400),
    "60-40-06-09": (b"\x60\x40\x06\x09", 400),
    "60-length-short-of-data": (b"\x60\x08" + SPNEGO_OID + b"\xa0\x00", 400),
    "60-oid-only": (der(0x60, SPNEGO_OID), 400),
    "60-oid-length-past-end": (b"\x60\x04\x06\x09\x2b\x06", 400),
    "60-non-minimal-length": (b"\x60\x81\x0a" + SPNEGO_OID + b"\xa0\x00", 400),
    "60-no-oid-first": (der(0x60, b"\x04\x02ab" + SPNEGO_OID), 400),
    "a1-resp-without-context": (der(0xA1, der(0x30, der(0xA0, b"\x0a\x01\x01"))), 400),
    # Well framed outside: the GSS library parses the inside and fails it (401), fast.
    "nested-spnego-4000-deep": (der(0x60, SPNEGO_OID + der(0xA0, nested(4000))), 401),
    "nested-spnego-a0-2000-deep": (der(0x60, SPNEGO_OID + nested(2000, 0xA0)), 401),
    "nested-outside-spnego": (nested(3000), 400),
}


@pytest.mark.parametrize("case", sorted(BAD_TOKENS))
def test_bad_spnego_encapsulation(p, echo_upstream, case):
    value, want = BAD_TOKENS[case]
    if isinstance(value, bytes):
        headers = negotiate(value)
    else:
        headers = {"Authorization": value}
    t0 = time.monotonic()
    r = http_request(p.port, path="/private/token", headers=headers)
    assert r.status == want, f"{case}: {r.status} {r.body[:200]!r}"
    assert time.monotonic() - t0 < 5, f"{case}: took {time.monotonic() - t0:.1f}s"
    assert_clean_error(r)
    assert echo_upstream.requests == []
    assert_serves_real_sign_in(p)


def iakerb_initial_token() -> bytes:
    # RFC 2743 framing with the IAKERB OID: a well-formed initial token of another mechanism.
    return der(0x60, IAKERB_OID + b"\x05\x01" + der(0x30, der(0xA0, b"\x1b\x0cGSSGATE.TEST")))


OTHER_MECHS = {
    "spnego-ntlm-only": lambda: spnego_init([NTLM_OID], NTLM_TYPE1),
    "spnego-negoex-only": lambda: spnego_init([NEGOEX_OID], b"NEGOEXTS" + b"\0" * 32),
    "spnego-iakerb-only": lambda: spnego_init([IAKERB_OID], None),
    "spnego-ntlm-then-negoex": lambda: spnego_init([NTLM_OID, NEGOEX_OID], None),
    "raw-iakerb": iakerb_initial_token,
}


@pytest.mark.parametrize("case", sorted(OTHER_MECHS))
def test_other_mechanisms_are_401(p, echo_upstream, case):
    r = http_request(p.port, path="/private/mech", headers=negotiate(OTHER_MECHS[case]()))
    assert r.status == 401, f"{case}: {r.status} {r.body[:200]!r}"
    assert any(v.strip().lower() == "negotiate" for v in r.header_values("WWW-Authenticate")), r
    assert_clean_error(r)
    assert echo_upstream.requests == []
    assert_serves_real_sign_in(p)


def test_spnego_offering_krb5_after_negoex_still_signs_in_with_krb5(p):
    # Control for the cases above: the restriction is to Kerberos, not to mechanism lists of
    # one: a real krb5 token with NegoEx listed first is negotiated down to Kerberos.
    raw = base64.b64decode(negotiate_token("carol"))
    assert raw[:1] == b"\x60"
    r = http_request(p.port, path="/ok", headers=negotiate(raw))
    assert r.status == 200, r
    assert upstream_header_values(r, "X-Remote-User") == ["carol"]


# =============================================================================== acceptor names
@pytest.fixture
def two_service_keytab(realm, tmp_path):
    both = tmp_path / "both.keytab"
    realm.add_service("HTTP/localhost", both)
    realm.add_service("HTTP/other.example", both)
    return both


def test_acceptor_pinned_refuses_other_keytab_principal(proxy, two_service_keytab,
                                                        echo_upstream):
    p = proxy(keytab=str(two_service_keytab), acceptor=f"HTTP/localhost@{REALM}")
    r = http_request(p.port, path="/pinned", headers={
        "Authorization": "Negotiate " + negotiate_token("alice", service="HTTP@other.example")})
    assert r.status == 401, r
    assert_clean_error(r)
    assert echo_upstream.requests == []
    assert_serves_real_sign_in(p)


def test_without_acceptor_every_keytab_principal_is_accepted(proxy, two_service_keytab):
    # Documented (README, `acceptor`): without it, a ticket for ANY principal in the keytab is
    # accepted, so a keytab shared with other services lets their tickets in too.
    p = proxy(keytab=str(two_service_keytab))
    for service in ("HTTP@localhost", "HTTP@other.example"):
        r = http_request(p.port, path="/any", headers={
            "Authorization": "Negotiate " + negotiate_token("alice", service=service)})
        assert r.status == 200, (service, r)
        assert upstream_header_values(r, "X-Remote-User") == ["alice"]


# =============================================================================== principal mapping
@pytest.fixture(scope="module")
def principals(realm, tmp_path_factory):
    """Extra users for this module: root, alice/admin, and one with control bytes."""
    d = tmp_path_factory.mktemp("adv-principals")
    names = {"root": "root", "alice/admin": "alice/admin", "ctl": "ctl\x1bname\x7f"}
    for key, name in names.items():
        if name not in realm.users:
            realm.add_user(name, f"{key}-password")
            proxytest.CCACHES[name] = realm.kinit(name, d / f"{key.replace('/', '_')}.ccache",
                                                  password=f"{key}-password")
    return names


def test_root_is_refused_by_default(proxy, principals, echo_upstream):
    p = proxy()
    r = http_request(p.port, path="/as-root",
                     headers={"Authorization": "Negotiate " + negotiate_token("root")})
    assert r.status == 403, r
    assert_clean_error(r)
    assert echo_upstream.requests == []
    assert p.wait_for_log(r"root@GSSGATE\.TEST refused: local name root may not be forwarded "
                          r"\(privileged_local_name\)")
    # (A session cookie minted while root was allowed: test_allow_privileged_local_names_exception.)
    assert_serves_real_sign_in(p)


def test_allow_privileged_local_names_exception(proxy, principals, echo_upstream):
    p = proxy(local_names={"allow_privileged": ["root"]}, session={"lifetime": "5m"})
    r = http_request(p.port, path="/as-root",
                     headers={"Authorization": "Negotiate " + negotiate_token("root")})
    assert r.status == 200, r
    assert upstream_header_values(r, "X-Remote-User") == ["root"]
    cookie = r.header("Set-Cookie").split(";", 1)[0]
    # Reloaded without the exception: root's existing cookie stops working at once.
    cfg = dict(p.config)
    cfg.pop("local_names")
    start = p.log_size()
    p.reload(cfg)
    assert p.wait_for_log(r"configuration reloaded", timeout=10, start=start), p.log_tail()
    r = http_request(p.port, path="/as-root-cookie", headers={"Cookie": cookie})
    assert r.status == 403, r
    assert_clean_error(r)
    assert [q["path"] for q in echo_upstream.requests] == ["/as-root"]


def test_two_component_principal_is_not_its_first_component(proxy, principals, echo_upstream):
    # MIT's DEFAULT auth_to_local maps only one-component principals of the default realm.
    p = proxy()
    r = http_request(p.port, path="/admin",
                     headers={"Authorization": "Negotiate " + negotiate_token("alice/admin")})
    assert r.status == 403, r
    assert_clean_error(r)
    assert echo_upstream.requests == []
    assert p.wait_for_log(r"alice/admin@GSSGATE\.TEST refused \(no_local_name\)")


def test_principal_with_control_bytes_is_403_and_logged_escaped(proxy, principals,
                                                               echo_upstream):
    p = proxy()
    raw_name = principals["ctl"]
    r = http_request(p.port, path="/ctl",
                     headers={"Authorization": "Negotiate " + negotiate_token(raw_name)})
    assert r.status == 403, r
    assert_clean_error(r)
    assert echo_upstream.requests == []
    log = p.log_path.read_bytes()
    assert b"\x1b" not in log and b"\x7f" not in log, "a raw control byte reached the log"
    assert p.wait_for_log(r"ctl\\x1bname\\x7f@GSSGATE\.TEST refused \(unsafe_principal\)"), \
        p.log_tail()
    assert_serves_real_sign_in(p)


@pytest.fixture(scope="module")
def other_realm(realm, tmp_path_factory):
    """A second KDC for OTHER.TEST with one-way trust OTHER.TEST → GSSGATE.TEST, and alice in
    it; yields (client krb5.conf, alice@OTHER.TEST's ccache)."""
    from gssgate_realm import Realm
    d = tmp_path_factory.mktemp("other-realm")
    other = Realm(d / "kdc", realm=OTHER_REALM)
    other.start()
    try:
        other.add_user("alice")
        cross = f"krbtgt/{REALM}@{OTHER_REALM}"
        for r in (realm, other):
            r.kadmin(f'addprinc -pw "cross-realm-password" {cross}')
        ccache = other.kinit("alice", d / "alice-other.ccache")
        # The client's view: both realms' KDCs and the direct path between them. The proxy
        # keeps the plain GSSGATE.TEST configuration (an acceptor needs no KDC).
        extra = d / "cross.conf"
        extra.write_text(f"[realms]\n    {OTHER_REALM} = {{\n        kdc = 127.0.0.1:{other.port}\n"
                         f"    }}\n[capaths]\n    {OTHER_REALM} = {{\n        {REALM} = .\n    }}\n")
        yield f"{realm.krb5_conf}:{extra}", ccache
    finally:
        other.stop()


def test_cross_realm_principal_is_not_the_local_user(proxy, other_realm, echo_upstream,
                                                     monkeypatch):
    conf, ccache = other_realm
    monkeypatch.setenv("KRB5_CONFIG", conf)
    monkeypatch.setitem(proxytest.CCACHES, f"alice@{OTHER_REALM}", ccache)
    token = negotiate_token(f"alice@{OTHER_REALM}")
    p = proxy()
    r = http_request(p.port, path="/xrealm", headers={"Authorization": f"Negotiate {token}"})
    # A real ticket: the KDCs trust each other, the proxy's key opened it...
    assert p.wait_for_log(rf"alice@{OTHER_REALM} refused \(no_local_name\)"), p.log_tail()
    # ...but alice@OTHER.TEST is not the local user alice.
    assert r.status == 403, r
    assert_clean_error(r)
    assert echo_upstream.requests == []
    # With a route allowing every realm and `realms` unset, still 403: the local name decides.
    p2 = proxy(routes=[{"path": "/", "auth": "negotiate", "allow": ["alice@*"]}])
    r = http_request(p2.port, path="/xrealm", headers={
        "Authorization": "Negotiate " + negotiate_token(f"alice@{OTHER_REALM}")})
    assert r.status == 403, r
    assert echo_upstream.requests == []


# =============================================================================== forwarding headers
FORWARDED_LIES = {
    "X-Forwarded-Proto": "https",
    "X-Forwarded-For": "10.0.0.1",
    "X-Forwarded-Host": "trusted.example",
    "X-Forwarded-Port": "443",
    "X-Forwarded-Ssl": "on",
    "X-Real-IP": "10.0.0.1",
    "Forwarded": "for=10.0.0.1;proto=https;host=trusted.example",
    "Front-End-Https": "on",
}


def test_forwarded_headers_decide_nothing(proxy, echo_upstream):
    p = proxy(session={"lifetime": "5m"})
    # 1. No sign-in: the claims of coming through a trusted TLS front end change nothing.
    r = http_request(p.port, path="/private", headers=FORWARDED_LIES)
    assert r.status == 401, r
    assert echo_upstream.requests == []
    # 2. The session cookie's Secure flag follows the real connection (plain here), not
    #    X-Forwarded-Proto / Forwarded: proto=https.
    r = http_request(p.port, path="/private", headers={
        **FORWARDED_LIES, "Authorization": "Negotiate " + negotiate_token("alice")})
    assert r.status == 200, r
    cookie = r.header("Set-Cookie")
    assert cookie and "secure" not in cookie.lower(), cookie
    # 3. The upstream gets the proxy's view of the connection only.
    assert upstream_header_values(r, "X-Forwarded-Proto") == ["http"]
    assert upstream_header_values(r, "X-Forwarded-For") == ["127.0.0.1"]
    assert upstream_header_values(r, "X-Forwarded-Host") == ["127.0.0.1:%d" % p.port]
    assert upstream_header_values(r, "Forwarded") == []
    for k in ("X-Forwarded-Port", "X-Forwarded-Ssl"):
        assert upstream_header_values(r, k) == [], k
    # 4. The logs name the real peer.
    assert "10.0.0.1" not in p.log_text()


def test_negotiate_authorization_never_reaches_upstream(proxy, echo_upstream):
    # On an auth: none route the proxy does not consume the token; forwarded unused, the
    # upstream could replay it to the proxy and sign in as the user (with her delegated
    # credential). A token sent there is dropped; the application's own schemes pass.
    p = proxy()
    token = negotiate_token("alice")
    r = http_request(p.port, path="/public/page", headers={"Authorization": f"Negotiate {token}"})
    assert r.status == 200, r
    assert upstream_header_values(r, "Authorization") == []
    assert token not in r.text
    # The token is still unused: it signs alice in once at the proxy (so nobody else could).
    r = http_request(p.port, path="/private", headers={"Authorization": f"Negotiate {token}"})
    assert r.status == 200, r
    r = http_request(p.port, path="/public/page", headers={"Authorization": "Bearer app-token"})
    assert upstream_header_values(r, "Authorization") == ["Bearer app-token"]
    r = http_request(p.port, path="/public/page",
                     headers={"Proxy-Authorization": f"Negotiate {token}"})
    assert upstream_header_values(r, "Proxy-Authorization") == []
    for q in echo_upstream.requests:
        assert all(token not in v for _, v in q["headers"]), q["headers"]
