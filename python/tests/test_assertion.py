import http.server
import json
import threading
import time

import jwt
import pytest

import gssgate
from gssgate import InvalidAssertionError, JwksClient, verify_assertion
from signing import Signer


@pytest.fixture(params=["EdDSA", "ES256"])
def signer(request):
    return Signer(request.param)


class JwksServer:
    def __init__(self, doc):
        self.doc = doc
        self.hits = 0
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.hits += 1
                body = json.dumps(outer.doc).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.srv.server_address[1]}/.well-known/jwks.json"

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


def test_valid_assertion_with_key_and_jwks_dict(signer):
    tok = signer.sign("alice")
    ident = verify_assertion(tok, key=signer.key.public_key())
    assert (ident.user, ident.principal, ident.realm) == ("alice", "alice@GSSGATE.TEST",
                                                          "GSSGATE.TEST")
    assert verify_assertion(tok, jwks=signer.jwks()).user == "alice"


def test_pem_key_file_public_or_private(signer, tmp_path):
    from cryptography.hazmat.primitives import serialization as s
    pub = tmp_path / "pub.pem"
    pub.write_bytes(signer.key.public_key().public_bytes(
        s.Encoding.PEM, s.PublicFormat.SubjectPublicKeyInfo))
    priv = tmp_path / "priv.pem"
    priv.write_bytes(signer.key.private_bytes(s.Encoding.PEM, s.PrivateFormat.PKCS8,
                                              s.NoEncryption()))
    tok = signer.sign("bob")
    assert verify_assertion(tok, key=str(pub)).user == "bob"
    assert verify_assertion(tok, key=priv).user == "bob"


@pytest.mark.parametrize("mutate,reason", [
    (lambda s: s.sign(aud="other"), "audience"),
    (lambda s: s.sign(iss="evil"), "issuer"),
    (lambda s: s.sign(iat=time.time() - 120), "expired"),
    (lambda s: s.sign(iat=time.time() + 120), "not_yet_valid"),
    (lambda s: s.sign(lifetime=3600), "lifetime"),
    (lambda s: s.sign(principal=None, jti=None), "missing_claim"),
    (lambda s: s.sign(kid="unknown-kid"), "unknown_kid"),
    (lambda s: s.sign()[:-4] + ("AAAA" if not s.sign().endswith("AAAA") else "BBBB"),
     "signature"),
    (lambda s: Signer(s.alg).sign(kid=s.kid), "signature"),   # another key, same kid
    (lambda s: "not.a.jwt", "malformed"),
    (lambda s: "", "malformed"),
])
def test_bad_assertions_are_refused(signer, mutate, reason):
    with pytest.raises(InvalidAssertionError) as e:
        verify_assertion(mutate(signer), jwks=signer.jwks())
    assert e.value.reason == reason, str(e.value)


def test_alg_none_and_hmac_with_public_key_are_refused(signer):
    claims = jwt.decode(signer.sign(), options={"verify_signature": False})
    none_tok = jwt.encode(claims, None, algorithm="none", headers={"kid": signer.kid})
    with pytest.raises(InvalidAssertionError) as e:
        verify_assertion(none_tok, jwks=signer.jwks())
    assert e.value.reason == "algorithm"
    # HS256 keyed with the public JWK's "x": the classic key-confusion forgery.
    hs = jwt.encode(claims, signer.jwk["x"].encode(), algorithm="HS256",
                    headers={"kid": signer.kid})
    with pytest.raises(InvalidAssertionError) as e:
        verify_assertion(hs, jwks=signer.jwks())
    assert e.value.reason == "algorithm"


def test_algorithm_must_match_key_type():
    ed, es = Signer("EdDSA"), Signer("ES256")
    with pytest.raises(InvalidAssertionError) as e:
        verify_assertion(ed.sign(), key=es.key.public_key())
    assert e.value.reason == "algorithm"


def test_small_clock_skew_is_allowed(signer):
    tok = signer.sign(iat=time.time() - 62)  # expired 2 s ago
    assert verify_assertion(tok, key=signer.key, leeway=5).user == "alice"
    with pytest.raises(InvalidAssertionError):
        verify_assertion(tok, key=signer.key, leeway=0)


def test_exactly_one_key_source():
    with pytest.raises(ValueError):
        verify_assertion("x")
    with pytest.raises(ValueError):
        verify_assertion("x", jwks={}, key="k")


def test_jwks_client_caches_and_refetches_unknown_kid_rate_limited(signer):
    srv = JwksServer(signer.jwks())
    try:
        jc = JwksClient(srv.url, ttl=300, min_refetch_interval=0.5)
        for _ in range(5):
            assert verify_assertion(signer.sign(), jwks=jc).user == "alice"
        assert srv.hits == 1
        # The proxy restarted with a new key: an unknown kid refetches (once).
        new = Signer(signer.alg)
        srv.doc = new.jwks()
        with pytest.raises(InvalidAssertionError):  # within min_refetch_interval: no refetch
            verify_assertion(new.sign(), jwks=jc)
        assert srv.hits == 1
        time.sleep(0.6)
        assert verify_assertion(new.sign(), jwks=jc).user == "alice"
        assert srv.hits == 2
        # A flood of forged kids costs at most one fetch per interval.
        for i in range(20):
            with pytest.raises(InvalidAssertionError) as e:
                verify_assertion(new.sign(kid=f"forged-{i}"), jwks=jc)
            assert e.value.reason == "unknown_kid"
        assert srv.hits <= 3
    finally:
        srv.close()


def test_jwks_unreachable_is_a_typed_error(signer):
    jc = JwksClient("http://127.0.0.1:9/.well-known/jwks.json", timeout=1)
    with pytest.raises(InvalidAssertionError) as e:
        verify_assertion(signer.sign(), jwks=jc)
    assert e.value.reason == "jwks_unavailable"


def test_public_api_names():
    for name in ("Broker", "verify_assertion", "HandleNotFoundError", "NotAllowedError",
                 "BrokerUnreachableError"):
        assert hasattr(gssgate, name)
