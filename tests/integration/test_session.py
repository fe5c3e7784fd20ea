"""Session cookie, signed assertion (JWT + JWKS), logout, deny/realm rules and browser pages
of gssgate-proxy (issue 4), against a real KDC, with python-gssapi clients and, where a
credential is involved, a real gssgate-broker and gssgatectl.

What is checked, and how it would show if it broke:
* After a Negotiate sign-in the response sets `gssgate_session` (Path=/, Max-Age <= lifetime,
  HttpOnly, SameSite=Lax; no Secure without TLS). A request with only that cookie is served
  with no gss_accept_sec_context call (admin /metrics) and no broker RPC (broker audit log),
  and its own freshly minted handle redeems.
* The cookie never reaches the upstream; other cookies do.
* Tampered, truncated, garbage, foreign-key and expired cookies are ignored: 401 Negotiate,
  never 500, the daemon stays up.
* X-Gssgate-Assertion verifies with PyJWT against the admin JWKS (EdDSA by default, ES256 or
  Ed25519 from a key file); claims; tampering, another key, expiry and a wrong audience fail.
* session.key_file survives a restart and rotates ("new\\nold").
* Logout clears the cookie, revokes the session (a copy of the cookie stops working) and the
  broker credential (its handles stop redeeming).
* deny/realms answer 403, for a Negotiate sign-in and for a cookie alike.
* Browsers (Accept: text/html) get an HTML 401; with `fallback` it refreshes to that URL;
  `unauthorized_page` replaces the built-in page.

Run: GSSGATE_PROXY=... GSSGATE_BROKER=... /usr/bin/python3 -m pytest -q test_session.py
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import re
import subprocess
import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

import proxytest
from proxytest import (RawConnection, assert_clean_error, http_request, negotiate_token,
                       proxy_binary, upstream_header_values)
from proxytest import proxy_metrics as metrics

pytest.register_assert_rewrite("broker_fixtures")  # before the import below
from broker_fixtures import (  # noqa: E402
    NOT_FOUND_MESSAGE, PG_SERVICE, REALM_NAME, assert_ctl_fails, ctl, klist, redeem_ctl)

# Fixtures: broker_factory, pg_service.
pytest_plugins = ["broker_fixtures"]

COOKIE = "gssgate_session"
ALICE = f"alice@{REALM_NAME}"
BOB = f"bob@{REALM_NAME}"
HTML_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
NTLM_TYPE1 = "TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAGAbEdAAAADw=="


# ------------------------------------------------------------------------------- helpers
def parse_set_cookie(value: str) -> tuple[str, str, dict[str, str | None]]:
    """("name", "value", {lower-case attribute: value or None})."""
    parts = [p.strip() for p in value.split(";")]
    name, _, val = parts[0].partition("=")
    attrs: dict[str, str | None] = {}
    for p in parts[1:]:
        k, eq, v = p.partition("=")
        attrs[k.strip().lower()] = v.strip() if eq else None
    return name.strip(), val.strip(), attrs


def session_cookie(resp) -> tuple[str, dict[str, str | None]]:
    """The value and attributes of the one session Set-Cookie in `resp`."""
    ours = [parse_set_cookie(v) for v in resp.header_values("Set-Cookie")]
    ours = [c for c in ours if c[0] == COOKIE]
    assert len(ours) == 1, f"expected one {COOKIE} Set-Cookie, got {resp.header_values('Set-Cookie')}"
    return ours[0][1], ours[0][2]


def sign_in(p, user: str = "alice", path: str = "/", delegate: bool = False, headers=None):
    """One Negotiate request; returns (response, cookie value or None)."""
    hdrs = {"Authorization": "Negotiate " + negotiate_token(user, delegate=delegate)}
    hdrs.update(headers or {})
    r = http_request(p.port, path=path, headers=hdrs)
    cookies = [parse_set_cookie(v) for v in r.header_values("Set-Cookie")]
    values = [c[1] for c in cookies if c[0] == COOKIE]
    return r, (values[0] if values else None)


def with_cookie(p, value: str, path: str = "/", headers=None, name: str = COOKIE):
    hdrs = {"Cookie": f"{name}={value}"}
    hdrs.update(headers or {})
    return http_request(p.port, path=path, headers=hdrs)


def gss_calls(m: dict[str, float]) -> float:
    return m["gssgate_proxy_gss_accept_calls_total"]


def auth_count(m: dict[str, float], reason: str) -> float:
    return m.get(f'gssgate_proxy_auth_total{{reason="{reason}"}}', 0.0)


def assert_challenge(r) -> None:
    assert r.status == 401, (r.status, r.text)
    assert any(v.strip().lower() == "negotiate" for v in r.header_values("WWW-Authenticate")), \
        r.headers
    assert_clean_error(r)


def assertion_of(resp) -> str:
    values = upstream_header_values(resp, "X-Gssgate-Assertion")
    assert len(values) == 1, f"expected one assertion upstream, got {values}"
    return values[0]


def jwks_of(p) -> dict:
    r = http_request(p.admin_port, path="/.well-known/jwks.json")
    assert r.status == 200, r
    assert (r.header("Content-Type") or "").startswith("application/json"), r.headers
    return r.json


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def b64url_json(segment: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def tampered_char(value: str, index: int) -> str:
    c = value[index]
    return value[:index] + ("B" if c == "A" else "A") + value[index + 1:]


def key_line() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def write_private(path: Path, text: str | bytes) -> Path:
    data = text.encode() if isinstance(text, str) else text
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return path


def check_config(p) -> subprocess.CompletedProcess:
    return subprocess.run([proxy_binary(), "--config", str(p.config_path), "--check-config"],
                          capture_output=True, text=True, env=p.env, timeout=20)


# ------------------------------------------------------------------------------- the cookie
def test_secure_always_marks_the_cookie_secure_on_a_plain_listener(proxy):
    """TLS terminated in front of the proxy (an ingress): session.secure: always."""
    p = proxy(session={"lifetime": "10m", "secure": "always"})
    r, _ = sign_in(p, "alice")
    assert r.status == 200, r
    _, attrs = session_cookie(r)
    assert "secure" in attrs, attrs
    r = with_cookie(p, "x", path="/.gssgate/logout")
    assert "secure" in r.header("Set-Cookie").lower()


def test_cookie_issued_then_served_without_gss(proxy, echo_upstream):
    p = proxy(session={"lifetime": "10m"})
    r, value = sign_in(p, "alice", path="/app/one")
    assert r.status == 200, r
    value, attrs = session_cookie(r)
    assert re.fullmatch(r"[A-Za-z0-9_-]{40,}", value), value
    assert attrs.get("path") == "/", attrs
    assert "httponly" in attrs, attrs
    assert (attrs.get("samesite") or "").lower() == "lax", attrs
    assert "secure" not in attrs, "Secure on a plain-HTTP listener: the cookie would never return"
    assert "domain" not in attrs, attrs
    max_age = int(attrs["max-age"])
    assert 590 <= max_age <= 600, max_age
    assert "alice" not in base64.urlsafe_b64decode(value + "==").decode("latin-1")

    before = metrics(p)
    conn = http.client.HTTPConnection("127.0.0.1", p.port, timeout=10)
    try:
        for i in range(3):
            r2 = http_request(p.port, path=f"/app/{i}", conn=conn,
                              headers={"Cookie": f"{COOKIE}={value}"})
            assert r2.status == 200, r2
            assert upstream_header_values(r2, "X-Remote-User") == ["alice"]
            assert upstream_header_values(r2, "X-Remote-Principal") == [ALICE]
            assert upstream_header_values(r2, "Authorization") == []
            assert r2.header_values("Set-Cookie") == [], "a cookie request must not re-issue"
            assert r2.header("WWW-Authenticate") is None
    finally:
        conn.close()
    after = metrics(p)
    assert gss_calls(after) == gss_calls(before), "a cookie request called gss_accept_sec_context"
    assert auth_count(after, "session") == auth_count(before, "session") + 3
    assert auth_count(after, "ok") == auth_count(before, "ok")
    # Each user gets their own session.
    rb, bob_cookie = sign_in(p, "bob")
    assert rb.status == 200 and bob_cookie and bob_cookie != value
    assert upstream_header_values(with_cookie(p, bob_cookie), "X-Remote-User") == ["bob"]
    assert len(echo_upstream.requests) == 1 + 3 + 1 + 1


def test_session_lifetime_zero_sets_no_cookie(proxy):
    p = proxy(session={"lifetime": 0})
    r, value = sign_in(p, "alice")
    assert r.status == 200 and value is None and r.header_values("Set-Cookie") == [], r.headers
    # Nor is a cookie from elsewhere honoured, and the logout path is an ordinary path.
    q = proxy(session={"lifetime": "5m"})
    _, other = sign_in(q, "alice")
    assert other
    assert_challenge(with_cookie(p, other))
    assert_challenge(http_request(p.port, path="/.gssgate/logout"))


def test_cookie_is_stripped_before_the_upstream(proxy, echo_upstream):
    p = proxy(session={"lifetime": "5m"})
    r, value = sign_in(p, "alice", headers={"Cookie": f"theme=dark; {COOKIE}=stale; lang=en"})
    assert r.status == 200 and value
    # The sign-in request itself: a stale cookie of ours is removed, the others pass.
    assert upstream_header_values(r, "Cookie") == ["theme=dark; lang=en"]
    # A cookie request: ours removed, a name that merely starts the same is kept.
    r = http_request(p.port, path="/x", headers={
        "Cookie": f"theme=dark; {COOKIE}={value}; {COOKIE}2=keep; lang=en"})
    assert r.status == 200, r
    assert upstream_header_values(r, "X-Remote-User") == ["alice"]
    assert upstream_header_values(r, "Cookie") == [f"theme=dark; {COOKIE}2=keep; lang=en"]
    # Ours alone: no Cookie header at all upstream.
    r = with_cookie(p, value, path="/y")
    assert r.status == 200 and upstream_header_values(r, "Cookie") == []
    # Quoted and oddly spaced.
    r = http_request(p.port, path="/q", headers={"Cookie": f'a=1;  {COOKIE} = "{value}" ;b=2'})
    assert r.status == 200, r
    assert upstream_header_values(r, "Cookie") == ["a=1; b=2"]
    # Several Cookie header fields (HTTP/2-style splitting, sent by some clients).
    with RawConnection(p.port) as c:
        resp = c.request((f"GET /multi HTTP/1.1\r\nHost: localhost\r\nCookie: a=1\r\n"
                          f"Cookie: {COOKIE}={value}; b=2\r\nCookie: c=3\r\n\r\n").encode())
    assert resp.status == 200, resp
    assert sorted(upstream_header_values(resp, "Cookie")) == ["a=1", "b=2", "c=3"]
    # On an auth: none route too (the cookie is a credential wherever it goes).
    r = http_request(p.port, path="/public/x", headers={"Cookie": f"{COOKIE}={value}; z=9"})
    assert r.status == 200, r
    assert upstream_header_values(r, "Cookie") == ["z=9"]
    assert upstream_header_values(r, "X-Remote-User") == []
    assert upstream_header_values(r, "X-Gssgate-Assertion") == []
    for seen in echo_upstream.requests:
        for k, v in seen["headers"]:
            assert value not in v, f"the session cookie reached the upstream in {k}"


def test_bad_cookies_are_ignored_with_a_challenge(proxy, echo_upstream, tmp_path):
    p = proxy(session={"lifetime": "5m"})
    r, good = sign_in(p, "alice")
    assert r.status == 200 and good
    # A genuine cookie made with another key (another proxy's key file).
    keys = write_private(tmp_path / "other.keys", key_line() + "\n")
    q = proxy(session={"lifetime": "5m", "key_file": str(keys)})
    _, foreign = sign_in(q, "alice")
    assert foreign
    raw = base64.urlsafe_b64decode(good + "=" * (-len(good) % 4))
    bad = {
        "flipped_middle": tampered_char(good, len(good) // 2),
        "flipped_first": tampered_char(good, 0),
        "flipped_last_byte": b64url(raw[:-1] + bytes([raw[-1] ^ 1])),
        "truncated_half": good[:len(good) // 2],
        "truncated_one_byte": b64url(raw[:-1]),
        "extended": b64url(raw + b"\0"),
        "empty": "",
        "garbage": "%%%not-a-cookie%%%",
        "random_bytes": b64url(os.urandom(len(raw))),
        "padded": good + "==",
        "quoted_garbage": '"abc"',
        "huge": "A" * 8000,
        "foreign_key": foreign,
    }
    before = metrics(p)
    served = len(echo_upstream.requests)
    for name, value in bad.items():
        r = with_cookie(p, value)
        assert r.status == 401, (name, r.status, r.text)
        assert_challenge(r)
        assert r.header_values("Set-Cookie") == [], name
    # The right value under another name is not a session cookie.
    assert_challenge(with_cookie(p, good, name=f"{COOKIE}2"))
    assert_challenge(with_cookie(p, good, name="GSSGATE_SESSION"))
    assert p.alive()
    assert len(echo_upstream.requests) == served
    after = metrics(p)
    assert auth_count(after, "session") == auth_count(before, "session")
    assert after.get('gssgate_proxy_responses_total{code="500"}', 0) == 0
    # The genuine cookie still works; a bad one before it does not shadow it in another field.
    assert with_cookie(p, good).status == 200
    with RawConnection(p.port) as c:
        resp = c.request((f"GET / HTTP/1.1\r\nHost: localhost\r\nCookie: {COOKIE}=garbage\r\n"
                          f"Cookie: {COOKIE}={good}\r\n\r\n").encode())
    assert resp.status == 200, resp
    # With a bad cookie *and* a valid Negotiate token, the token signs the user in.
    r = http_request(p.port, headers={"Cookie": f"{COOKIE}={bad['flipped_middle']}",
                                      "Authorization": "Negotiate " + negotiate_token("bob")})
    assert r.status == 200 and upstream_header_values(r, "X-Remote-User") == ["bob"]


def test_cookie_and_assertion_expire(proxy):
    p = proxy(session={"lifetime": "2s"}, assertion={"lifetime": "1s"})
    r, value = sign_in(p, "alice")
    t0 = time.time()
    assert r.status == 200 and value, r
    _, attrs = session_cookie(r)
    assert 1 <= int(attrs["max-age"]) <= 2, attrs
    token = assertion_of(r)
    key = jwt.PyJWK(jwks_of(p)["keys"][0]).key
    claims = jwt.decode(token, key, algorithms=["EdDSA"], audience="gssgate", leeway=5)
    assert claims["exp"] - claims["iat"] == 1, claims
    assert with_cookie(p, value).status == 200  # still inside its lifetime
    time.sleep(max(0.0, t0 + 3.1 - time.time()))
    assert_challenge(with_cookie(p, value))
    with pytest.raises(jwt.ExpiredSignatureError):
        jwt.decode(token, key, algorithms=["EdDSA"], audience="gssgate")
    assert p.alive()
    # A fresh request gets a fresh (valid) assertion, not the cached expired one.
    r, _ = sign_in(p, "alice")
    assert r.status == 200
    fresh = assertion_of(r)
    assert fresh != token
    jwt.decode(fresh, key, algorithms=["EdDSA"], audience="gssgate", leeway=1)


# ------------------------------------------------------------------------------- the assertion
def test_assertion_verifies_against_the_jwks(proxy):
    p = proxy(assertion={"issuer": "https://gssgate.test", "audience": "payroll"})
    r, value = sign_in(p, "alice", headers={"X-Gssgate-Assertion": "forged.by.client"})
    assert r.status == 200, r
    token = assertion_of(r)  # exactly one: the client's was dropped
    jwks = jwks_of(p)
    assert len(jwks["keys"]) == 1, jwks
    jwk = jwks["keys"][0]
    assert (jwk["kty"], jwk["crv"], jwk["alg"], jwk["use"]) == ("OKP", "Ed25519", "EdDSA", "sig")
    assert "d" not in jwk, "the JWKS must not publish the private key"
    header = jwt.get_unverified_header(token)
    assert header == {"alg": "EdDSA", "typ": "JWT", "kid": jwk["kid"]}, header
    # RFC 7638 thumbprint.
    canon = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": jwk["x"]}, separators=(",", ":"))
    assert jwk["kid"] == b64url(hashlib.sha256(canon.encode()).digest())

    # PyJWKClient fetches the JWKS from the admin listener, as a backend would.
    client = jwt.PyJWKClient(f"http://127.0.0.1:{p.admin_port}/.well-known/jwks.json")
    signing_key = client.get_signing_key_from_jwt(token)
    now = time.time()
    claims = jwt.decode(token, signing_key.key, algorithms=["EdDSA"], audience="payroll",
                        issuer="https://gssgate.test",
                        options={"require": ["exp", "iat", "nbf", "sub", "jti", "iss", "aud"]})
    assert claims["sub"] == "alice"
    assert claims["principal"] == ALICE
    assert claims["aud"] == "payroll" and claims["iss"] == "https://gssgate.test"
    assert 0 < claims["exp"] - claims["iat"] <= 60
    assert claims["nbf"] == claims["iat"]
    assert abs(claims["iat"] - now) < 10
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", claims["jti"]), claims["jti"]

    # A cookie request carries one too, for the same user.
    r2 = with_cookie(p, value, path="/x")
    assert r2.status == 200
    c2 = jwt.decode(assertion_of(r2), signing_key.key, algorithms=["EdDSA"], audience="payroll")
    assert (c2["sub"], c2["principal"]) == ("alice", ALICE)
    # Another user's assertion names that user.
    rb, _ = sign_in(p, "bob")
    cb = jwt.decode(assertion_of(rb), signing_key.key, algorithms=["EdDSA"], audience="payroll")
    assert (cb["sub"], cb["principal"]) == ("bob", BOB)
    # Unauthenticated routes get none.
    assert upstream_header_values(http_request(p.port, path="/public/x"),
                                  "X-Gssgate-Assertion") == []

    # What a backend must refuse.
    with pytest.raises(jwt.InvalidAudienceError):
        jwt.decode(token, signing_key.key, algorithms=["EdDSA"], audience="gssgate")
    with pytest.raises(jwt.InvalidIssuerError):
        jwt.decode(token, signing_key.key, algorithms=["EdDSA"], audience="payroll",
                   issuer="someone-else")
    h, payload, sig = token.split(".")
    forged_claims = dict(b64url_json(payload), sub="bob", principal=BOB)
    forged = ".".join([h, b64url(json.dumps(forged_claims).encode()), sig])
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(forged, signing_key.key, algorithms=["EdDSA"], audience="payroll")
    flipped = ".".join([h, payload, tampered_char(sig, 5)])
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(flipped, signing_key.key, algorithms=["EdDSA"], audience="payroll")
    # Signed by another key under the proxy's kid.
    other = ed25519.Ed25519PrivateKey.generate()
    impostor = jwt.encode(dict(claims), other, algorithm="EdDSA", headers={"kid": jwk["kid"]})
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(impostor, signing_key.key, algorithms=["EdDSA"], audience="payroll")
    # alg "none".
    unsigned = jwt.encode(dict(claims), None, algorithm="none")
    with pytest.raises(jwt.InvalidTokenError):
        jwt.decode(unsigned, signing_key.key, algorithms=["EdDSA"], audience="payroll")


@pytest.mark.parametrize("kind", ["es256", "ed25519"])
def test_assertion_key_file(proxy, tmp_path, kind):
    if kind == "es256":
        key = ec.generate_private_key(ec.SECP256R1())
        alg = "ES256"
    else:
        key = ed25519.Ed25519PrivateKey.generate()
        alg = "EdDSA"
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    key_file = write_private(tmp_path / f"{kind}.pem", pem)
    p = proxy(assertion={"key_file": str(key_file)})
    r, _ = sign_in(p, "carol")
    assert r.status == 200, r
    token = assertion_of(r)
    assert jwt.get_unverified_header(token)["alg"] == alg
    # Verifies with *our* public key: the proxy signs with the configured file.
    claims = jwt.decode(token, key.public_key(), algorithms=[alg], audience="gssgate",
                        issuer="gssgate")
    assert (claims["sub"], claims["principal"]) == ("carol", f"carol@{REALM_NAME}")
    jwk = jwks_of(p)["keys"][0]
    assert jwk["alg"] == alg and "d" not in jwk
    if kind == "es256":
        nums = key.public_key().public_numbers()
        assert (jwk["kty"], jwk["crv"]) == ("EC", "P-256")
        assert jwk["x"] == b64url(nums.x.to_bytes(32, "big"))
        assert jwk["y"] == b64url(nums.y.to_bytes(32, "big"))
        # The JOSE signature is raw r||s (64 bytes), not DER.
        sig = base64.urlsafe_b64decode(token.split(".")[2] + "==")
        assert len(sig) == 64
    else:
        raw = key.public_key().public_bytes(serialization.Encoding.Raw,
                                            serialization.PublicFormat.Raw)
        assert (jwk["kty"], jwk["crv"], jwk["x"]) == ("OKP", "Ed25519", b64url(raw))
    jwt.decode(token, jwt.PyJWK(jwk).key, algorithms=[alg], audience="gssgate")


def test_unusable_key_files_fail_the_config_check(proxy, tmp_path):
    from cryptography.hazmat.primitives.asymmetric import rsa
    rsa_pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())
    cases = {
        "rsa_assertion": ({"assertion": {"key_file": str(write_private(tmp_path / "rsa.pem",
                                                                        rsa_pem))}},
                          "assertion.key_file"),
        "missing_assertion": ({"assertion": {"key_file": str(tmp_path / "absent.pem")}},
                              "assertion.key_file"),
        "bad_session_keys": ({"session": {"key_file": str(write_private(
            tmp_path / "bad.keys", key_line() + "\nnot-a-key\n"))}}, "bad.keys:2: expected a key"),
        "empty_session_keys": ({"session": {"key_file": str(write_private(
            tmp_path / "empty.keys", "# none\n"))}}, "no key"),
        "missing_page": ({"unauthorized_page": str(tmp_path / "absent.html")},
                         "unauthorized_page"),
    }
    for name, (overrides, needle) in cases.items():
        p = proxy(_start=False, _name=f"check_{name}", **overrides)
        res = check_config(p)
        assert res.returncode != 0, f"{name}: accepted\n{res.stdout}{res.stderr}"
        assert needle in res.stderr, f"{name}: {res.stderr!r}"
        assert "Traceback" not in res.stderr and "terminate" not in res.stderr, name


# ------------------------------------------------------------------------------- rotation
def test_session_key_file_survives_restart_and_rotates(proxy, tmp_path):
    old, new = key_line(), key_line()
    keys = write_private(tmp_path / "session.keys", f"# session keys\n{old}\n")
    cfg = {"session": {"lifetime": "10m", "key_file": str(keys)}}
    p1 = proxy(_name="run1", **cfg)
    r, c_old = sign_in(p1, "alice")
    assert r.status == 200 and c_old
    p1.terminate_and_check()

    # Same file after a restart: the cookie still signs in, with no GSS call.
    p2 = proxy(_name="run2", **cfg)
    r = with_cookie(p2, c_old)
    assert r.status == 200 and upstream_header_values(r, "X-Remote-User") == ["alice"], r
    assert gss_calls(metrics(p2)) == 0
    p2.terminate_and_check()

    # Rotation: new key first, old kept. Old cookies open; new ones are sealed with the new key.
    write_private(keys, f"{new}\n{old}\n")
    p3 = proxy(_name="run3", **cfg)
    assert with_cookie(p3, c_old).status == 200
    r, c_new = sign_in(p3, "bob")
    assert r.status == 200 and c_new
    p3.terminate_and_check()

    # Only the old key: the new cookie is foreign, the old one still fine.
    write_private(keys, f"{old}\n")
    p4 = proxy(_name="run4", **cfg)
    assert_challenge(with_cookie(p4, c_new))
    assert with_cookie(p4, c_old).status == 200
    p4.terminate_and_check()

    # A different key file: every earlier cookie is ignored.
    write_private(keys, f"{key_line()}\n")
    p5 = proxy(_name="run5", **cfg)
    assert_challenge(with_cookie(p5, c_old))
    assert_challenge(with_cookie(p5, c_new))
    assert p5.alive()


def test_generated_session_key_does_not_survive_restart(proxy):
    p1 = proxy(_name="gen1", session={"lifetime": "10m"})
    _, cookie = sign_in(p1, "alice")
    assert cookie and with_cookie(p1, cookie).status == 200
    p1.terminate_and_check()
    p2 = proxy(_name="gen2", session={"lifetime": "10m"})
    assert_challenge(with_cookie(p2, cookie))


# ------------------------------------------------------------------------------- logout
def test_logout_clears_and_revokes_the_session(proxy, echo_upstream):
    p = proxy(session={"lifetime": "10m"})
    _, c1 = sign_in(p, "alice")
    _, c2 = sign_in(p, "alice")  # a second session (another browser) of the same user
    assert c1 and c2 and c1 != c2
    assert with_cookie(p, c1).status == 200
    served = len(echo_upstream.requests)

    r = with_cookie(p, c1, path="/.gssgate/logout")
    assert r.status == 200, r
    name, value, attrs = parse_set_cookie(r.header("Set-Cookie"))
    assert (name, value) == (COOKIE, ""), r.header("Set-Cookie")
    assert attrs.get("max-age") == "0" and attrs.get("path") == "/" and "httponly" in attrs
    assert r.header("Clear-Site-Data") is None  # the app's own cookies are not ours to clear
    assert "no-store" in (r.header("Cache-Control") or "")
    assert len(echo_upstream.requests) == served, "the logout request reached the upstream"

    # The browser dropped it, but a copy of the cookie no longer works either.
    assert_challenge(with_cookie(p, c1))
    assert_challenge(with_cookie(p, c1, path="/other"))
    # Only that session ended.
    r = with_cookie(p, c2)
    assert r.status == 200 and upstream_header_values(r, "X-Remote-User") == ["alice"]
    # Logging out again, or without a cookie, still answers (and clears); a browser gets a page.
    r = with_cookie(p, c1, path="/.gssgate/logout", headers={"Accept": HTML_ACCEPT})
    assert r.status == 200 and r.header("Content-Type").startswith("text/html")
    assert "Signed out" in r.text
    assert parse_set_cookie(r.header("Set-Cookie"))[2].get("max-age") == "0"
    r = http_request(p.port, path="/.gssgate/logout")
    assert r.status == 200 and parse_set_cookie(r.header("Set-Cookie"))[1] == ""
    # A new sign-in after logout works.
    r, c3 = sign_in(p, "alice")
    assert r.status == 200 and c3 and with_cookie(p, c3).status == 200
    assert p.alive()


def test_logout_works_without_a_route_covering_its_path(proxy):
    p = proxy(session={"lifetime": "10m"}, routes=[{"path": "/app", "auth": "negotiate"}])
    r, cookie = sign_in(p, "alice", path="/app")
    assert r.status == 200 and cookie
    r = with_cookie(p, cookie, path="/.gssgate/logout")
    assert r.status == 200, r
    assert_challenge(with_cookie(p, cookie, path="/app"))


def test_cross_site_logout_is_refused_and_the_session_stays(proxy):
    """A link on another site must not sign the user out (the Lax cookie rides along)."""
    p = proxy(session={"lifetime": "10m"})
    r, cookie = sign_in(p, "alice")
    assert r.status == 200 and cookie
    r = with_cookie(p, cookie, path="/.gssgate/logout", headers={"Sec-Fetch-Site": "cross-site"})
    assert r.status == 403, r
    assert "Set-Cookie" not in {k for k, _ in r.headers}
    assert with_cookie(p, cookie).status == 200
    # Same-origin logout works.
    r = with_cookie(p, cookie, path="/.gssgate/logout", headers={"Sec-Fetch-Site": "same-origin"})
    assert r.status == 200
    assert_challenge(with_cookie(p, cookie))
    assert metrics(p).get('gssgate_proxy_auth_total{reason="logout"}') == 1


def test_stale_cookie_of_the_same_name_does_not_hide_a_valid_one(proxy):
    p = proxy(session={"lifetime": "10m"})
    r, cookie = sign_in(p, "alice")
    assert r.status == 200 and cookie
    r = http_request(p.port, headers={"Cookie": f"{COOKIE}=stale-garbage; other=1; {COOKIE}={cookie}"})
    assert r.status == 200, r


def test_custom_cookie_name_and_logout_path(proxy, echo_upstream):
    p = proxy(session={"lifetime": "10m", "cookie_name": "app_sso", "logout_path": "/bye"})
    r = http_request(p.port, headers={"Authorization": "Negotiate " + negotiate_token("alice")})
    assert r.status == 200
    name, value, _ = parse_set_cookie(r.header("Set-Cookie"))
    assert name == "app_sso" and value
    r = http_request(p.port, headers={"Cookie": f"{COOKIE}={value}; app_sso={value}"})
    assert r.status == 200 and upstream_header_values(r, "Cookie") == [f"{COOKIE}={value}"]
    assert_challenge(http_request(p.port, headers={"Cookie": f"{COOKIE}={value}"}))
    # The default logout path is an ordinary (authenticated) path now; /bye logs out.
    r = http_request(p.port, path="/.gssgate/logout", headers={"Cookie": f"app_sso={value}"})
    assert r.status == 200 and r.json["path"] == "/.gssgate/logout"
    r = http_request(p.port, path="/bye", headers={"Cookie": f"app_sso={value}"})
    assert r.status == 200 and parse_set_cookie(r.header("Set-Cookie"))[:2] == ("app_sso", "")
    assert_challenge(http_request(p.port, headers={"Cookie": f"app_sso={value}"}))


# ------------------------------------------------------------------------------- with a broker
def deposits(broker) -> list[str]:
    return [ln for ln in broker.log_text().splitlines() if re.search(r"\bdeposit: ", ln)]


def test_cookie_mints_handles_without_broker_rpc_and_logout_revokes(broker_factory, proxy,
                                                                    pg_service, tmp_path):
    b = broker_factory()
    p = proxy(broker=b.deposit, timeouts={"broker": "3s"}, session={"lifetime": "10m"})
    r, cookie = sign_in(p, "alice", delegate=True)
    assert r.status == 200 and cookie, r
    h1 = upstream_header_values(r, "X-Gssgate-Credential")
    assert len(h1) == 1 and h1[0].startswith("gsh1."), h1
    assert b.wait_for_log(r"\bdeposit: ")
    assert len(deposits(b)) == 1

    before = metrics(p)
    r2 = with_cookie(p, cookie, path="/db")
    assert r2.status == 200, r2
    h2 = upstream_header_values(r2, "X-Gssgate-Credential")
    assert len(h2) == 1 and h2[0].startswith("gsh1.") and h2[0] != h1[0], (h1, h2)
    assert upstream_header_values(r2, "X-Remote-User") == ["alice"]
    after = metrics(p)
    assert gss_calls(after) == gss_calls(before)
    assert after['gssgate_proxy_broker_deposits_total{outcome="ok"}'] == 1

    # The locally minted handle is as good as the broker's own.
    out = tmp_path / "minted.ccache"
    res = redeem_ctl(b.backend, h2[0], out)
    assert res.returncode == 0, res.stderr
    assert klist(out) == (ALICE, [f"{PG_SERVICE}@{REALM_NAME}"])
    # One credential at the broker, one deposit in its audit log: the cookie request made none.
    time.sleep(0.2)
    assert len(deposits(b)) == 1, deposits(b)
    listing = ctl("list", "--broker", b.deposit)
    assert listing.returncode == 0, listing.stderr
    rows = [ln for ln in listing.stdout.splitlines() if ALICE in ln]
    assert len(rows) == 1, listing.stdout

    # Logout revokes the credential: neither handle redeems any more.
    start = b.log_size()
    r = with_cookie(p, cookie, path="/.gssgate/logout")
    assert r.status == 200 and parse_set_cookie(r.header("Set-Cookie"))[2]["max-age"] == "0"
    assert b.wait_for_log(rf"revoke: .*principal={re.escape(ALICE)}", start=start), b.log_tail()
    for h in (h1[0], h2[0]):
        assert_ctl_fails(redeem_ctl(b.backend, h, tmp_path / "late.ccache"), NOT_FOUND_MESSAGE)
    assert_challenge(with_cookie(p, cookie))
    listing = ctl("list", "--broker", b.deposit)
    assert listing.returncode == 0 and ALICE not in listing.stdout, listing.stdout
    assert len(deposits(b)) == 1


def test_cookie_without_delegation_carries_no_handle(broker_factory, proxy):
    b = broker_factory()
    p = proxy(broker=b.deposit, session={"lifetime": "10m"})
    r, cookie = sign_in(p, "bob", delegate=False)
    assert r.status == 200 and cookie
    r = with_cookie(p, cookie)
    assert r.status == 200 and upstream_header_values(r, "X-Gssgate-Credential") == []
    assert deposits(b) == []


def test_cookie_with_a_credential_after_a_restart_signs_in_again(broker_factory, proxy, tmp_path):
    """The broker's handle key lives only in the proxy's memory: after a restart a cookie that
    names a credential is not served without one (session_stale); Negotiate deposits anew."""
    b = broker_factory()
    keys = write_private(tmp_path / "session.keys", key_line() + "\n")
    cfg = {"broker": b.deposit, "session": {"lifetime": "10m", "key_file": str(keys)}}
    p1 = proxy(_name="cred1", **cfg)
    r, with_cred = sign_in(p1, "alice", delegate=True)
    assert r.status == 200 and with_cred and upstream_header_values(r, "X-Gssgate-Credential")
    r, without = sign_in(p1, "bob", delegate=False)
    assert r.status == 200 and without
    p1.terminate_and_check()
    p2 = proxy(_name="cred2", **cfg)
    assert_challenge(with_cookie(p2, with_cred))
    assert auth_count(metrics(p2), "session_stale") == 1
    assert with_cookie(p2, without).status == 200  # no credential: nothing is lost
    r, fresh = sign_in(p2, "alice", delegate=True)
    assert r.status == 200 and fresh and upstream_header_values(r, "X-Gssgate-Credential")
    r = with_cookie(p2, fresh)
    assert r.status == 200 and upstream_header_values(r, "X-Gssgate-Credential")
    assert len(deposits(b)) == 2


# ------------------------------------------------------------------------------- deny / realms
def test_deny_and_realms_refuse_with_403(proxy, echo_upstream):
    p = proxy(session={"lifetime": "10m"}, routes=[
        {"path": "/deny", "auth": "negotiate", "deny": ["bob@*"]},
        {"path": "/realm", "auth": "negotiate", "realms": ["OTHER.REALM"]},
        {"path": "/ours", "auth": "negotiate", "realms": [REALM_NAME],
         "allow": [f"*@{REALM_NAME}"], "deny": [f"carol@{REALM_NAME}"]},
        {"path": "/public", "auth": "none"},
        {"path": "/", "auth": "negotiate"},
    ])

    def go(user, path):
        return sign_in(p, user, path=path)

    r, cookie = go("bob", "/deny/x")
    assert r.status == 403, r
    assert r.header("WWW-Authenticate") is None and cookie is None
    assert_clean_error(r)
    assert go("alice", "/deny/x")[0].status == 200
    r, cookie = go("alice", "/realm")
    assert r.status == 403 and cookie is None
    assert go("alice", "/ours/a")[0].status == 200
    assert go("carol", "/ours/a")[0].status == 403
    assert go("bob", "/ours/a")[0].status == 200
    m = metrics(p)
    assert auth_count(m, "denied") == 2 and auth_count(m, "realm_not_allowed") == 1, m

    # The same rules hold for a session cookie made on an open route.
    _, bob = go("bob", "/")
    _, alice = go("alice", "/")
    _, carol = go("carol", "/")
    assert bob and alice and carol
    assert with_cookie(p, bob, path="/deny/y").status == 403
    assert with_cookie(p, alice, path="/deny/y").status == 200
    assert with_cookie(p, alice, path="/realm/y").status == 403
    assert with_cookie(p, carol, path="/ours/y").status == 403
    assert with_cookie(p, bob, path="/ours/y").status == 200
    assert with_cookie(p, bob, path="/").status == 200  # the session itself is intact
    allowed = [(q["path"], dict((k.lower(), v) for k, v in q["headers"])["x-remote-user"])
               for q in echo_upstream.requests]
    assert allowed == [("/deny/x", "alice"), ("/ours/a", "alice"), ("/ours/a", "bob"),
                       ("/", "bob"), ("/", "alice"), ("/", "carol"), ("/deny/y", "alice"),
                       ("/ours/y", "bob"), ("/", "bob")], allowed
    assert p.alive()


# ------------------------------------------------------------------------------- browser pages
def test_browser_gets_html_401_and_fallback_refresh(proxy, echo_upstream):
    fallback = "https://login.example.test/start?from=gssgate&x=1"
    p = proxy(routes=[{"path": "/sso", "auth": "negotiate", "fallback": fallback},
                      {"path": "/", "auth": "negotiate"}])
    r = http_request(p.port, path="/page", headers={"Accept": HTML_ACCEPT})
    assert r.status == 401
    assert any(v.strip() == "Negotiate" for v in r.header_values("WWW-Authenticate"))
    assert r.header("Content-Type").startswith("text/html"), r.headers
    assert r.text.startswith("<!DOCTYPE html>") and "kinit" in r.text
    assert "http-equiv=\"refresh\"" not in r.text
    # An API client gets one line of text.
    r = http_request(p.port, path="/page", headers={"Accept": "application/json"})
    assert r.status == 401 and r.header("Content-Type").startswith("text/plain")
    assert "<html" not in r.text
    # With a fallback: a meta refresh to it (HTML-escaped), and still the Negotiate challenge so
    # that a browser that does have a ticket signs in instead.
    r = http_request(p.port, path="/sso/app", headers={"Accept": HTML_ACCEPT})
    assert r.status == 401
    assert any(v.strip() == "Negotiate" for v in r.header_values("WWW-Authenticate"))
    escaped = fallback.replace("&", "&amp;")
    assert f'<meta http-equiv="refresh" content="0; url={escaped}">' in r.text, r.text
    assert f'href="{escaped}"' in r.text
    r = http_request(p.port, path="/sso/app")
    assert r.status == 401 and "refresh" not in r.text and fallback not in r.text
    # NTLM from a browser on a fallback route: 403 page that links to the fallback.
    r = http_request(p.port, path="/sso/app", headers={"Accept": HTML_ACCEPT,
                                                       "Authorization": f"Negotiate {NTLM_TYPE1}"})
    assert r.status == 403 and r.header("WWW-Authenticate") is None
    assert "Kerberos required" in r.text and f'href="{escaped}"' in r.text
    # A browser with a ticket is signed in as usual.
    r, _ = sign_in(p, "alice", path="/sso/app", headers={"Accept": HTML_ACCEPT})
    assert r.status == 200 and upstream_header_values(r, "X-Remote-User") == ["alice"]
    assert len(echo_upstream.requests) == 1


def test_unauthorized_page_file_replaces_the_built_in_page(proxy, tmp_path):
    page = ("<!doctype html><title>Acme sign-in</title>\n<p>Acme: call x1234 "
            "\u2013 marker-7f3a</p>\n")
    page_file = tmp_path / "401.html"
    page_file.write_text(page, encoding="utf-8")
    p = proxy(unauthorized_page=str(page_file),
              routes=[{"path": "/sso", "auth": "negotiate", "fallback": "/login"},
                      {"path": "/", "auth": "negotiate"}])
    for path in ("/", "/sso/x"):
        r = http_request(p.port, path=path, headers={"Accept": HTML_ACCEPT})
        assert r.status == 401
        assert any(v.strip() == "Negotiate" for v in r.header_values("WWW-Authenticate"))
        assert r.header("Content-Type").startswith("text/html")
        assert r.body == page.encode("utf-8"), (path, r.text)
    r = http_request(p.port, path="/", headers={"Accept": "*/*"})
    assert r.status == 401 and "marker-7f3a" not in r.text
    assert r.header("Content-Type").startswith("text/plain")


def test_a_key_removed_by_sighup_stops_its_cookies_at_once(proxy, tmp_path):
    """Rotation's last step (drop the old key, SIGHUP) ends the old cookies immediately, even
    ones a worker has already decrypted and cached."""
    old, new = key_line(), key_line()
    keys = write_private(tmp_path / "rot.keys", old + "\n")
    p = proxy(session={"lifetime": "10m", "key_file": str(keys)})
    r, cookie = sign_in(p, "alice")
    assert r.status == 200 and cookie
    for _ in range(4):  # both workers see (and cache) it
        assert with_cookie(p, cookie).status == 200
    write_private(keys, new + "\n" + old + "\n")  # step 1: new key first, old still opens
    start = p.log_size()
    p.reload()
    assert p.wait_for_log("configuration reloaded", start=start), p.log_tail()
    assert with_cookie(p, cookie).status == 200
    write_private(keys, new + "\n")  # step 2: old key dropped
    start = p.log_size()
    p.reload()
    assert p.wait_for_log("configuration reloaded", start=start), p.log_tail()
    for _ in range(4):
        assert_challenge(with_cookie(p, cookie))
    assert p.alive()
