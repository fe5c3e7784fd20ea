"""Verifying gssgate-proxy's signed identity assertion (`X-Gssgate-Assertion`).

The proxy signs a JWT (EdDSA/Ed25519 or ES256/P-256, `kid` = RFC 7638 thumbprint) with claims
iss, sub (the local user name, = X-Remote-User), aud, iat, nbf, exp (exp - iat <= 60 s), jti
and principal (user@REALM). Its public keys are at the proxy's admin listener,
`/.well-known/jwks.json`.

    jwks = gssgate.JwksClient("http://127.0.0.1:9901/.well-known/jwks.json")
    ident = gssgate.verify_assertion(token, jwks=jwks, audience="gssgate")
    ident.user, ident.principal

Only EdDSA and ES256 are accepted, and only with a key of the matching type (no `none`, no
HMAC with a public key as secret).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_pem_public_key

from .errors import InvalidAssertionError

ALGORITHMS = ("EdDSA", "ES256")
MAX_LIFETIME = 60  # seconds; the proxy never signs longer
REQUIRED_CLAIMS = ("iss", "sub", "aud", "iat", "nbf", "exp", "jti", "principal")


@dataclass(frozen=True)
class Identity:
    """A verified assertion: `user` (sub, the local name), `principal` (user@REALM), and all
    `claims`."""

    user: str
    principal: str
    claims: Mapping[str, Any] = field(repr=False)

    @property
    def realm(self) -> str:
        return self.principal.rpartition("@")[2]


def _key_alg(key) -> str:
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "EdDSA"
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return "ES256"
    raise InvalidAssertionError("assertion keys must be Ed25519 or EC P-256 public keys",
                                "key_type")


def load_public_key(source) -> Any:
    """A public key from PEM text/bytes, a path to a PEM file (public, or a private key whose
    public half is used), or a cryptography key object."""
    if isinstance(source, (ed25519.Ed25519PublicKey, ec.EllipticCurvePublicKey)):
        return source
    if isinstance(source, (ed25519.Ed25519PrivateKey, ec.EllipticCurvePrivateKey)):
        return source.public_key()
    if isinstance(source, Path) or (isinstance(source, str) and "-----BEGIN" not in source):
        source = Path(source).read_bytes()
    if isinstance(source, str):
        source = source.encode()
    try:
        key = load_pem_public_key(source)
    except ValueError:
        try:
            key = load_pem_private_key(source, password=None).public_key()
        except (ValueError, TypeError) as e:
            raise InvalidAssertionError(f"not a PEM public or private key: {e}",
                                        "key_type") from None
    _key_alg(key)
    return key


class JwksClient:
    """The proxy's JWKS, fetched over HTTP and cached.

    Keys are cached for `ttl` seconds. A token with an unknown `kid` (the proxy restarted with
    a new random key) triggers a refetch, at most once per `min_refetch_interval` seconds so a
    flood of forged kids cannot make us hammer the proxy. Thread-safe."""

    def __init__(self, url: str, ttl: float = 300.0, min_refetch_interval: float = 10.0,
                 timeout: float = 3.0):
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"JWKS URL must be http:// or https://, not {url!r}")
        self.url = url
        self.ttl = ttl
        self.min_refetch_interval = min_refetch_interval
        self.timeout = timeout
        self._lock = threading.Lock()  # guards _keys, _fetched_at
        self._keys: dict[str, Any] = {}
        self._fetched_at: float | None = None
        self.fetches = 0  # for tests and metrics

    def _fetch(self) -> None:
        self.fetches += 1
        self._fetched_at = time.monotonic()
        try:
            with urllib.request.urlopen(self.url, timeout=self.timeout) as resp:
                doc = json.loads(resp.read(1 << 20))
        except (OSError, ValueError) as e:
            raise InvalidAssertionError(f"cannot fetch the JWKS from {self.url}: {e}",
                                        "jwks_unavailable") from None
        self._keys = keys_from_jwks(doc)

    def key(self, kid: str) -> Any:
        with self._lock:
            now = time.monotonic()
            stale = self._fetched_at is None or now - self._fetched_at > self.ttl
            if stale or (kid not in self._keys and
                         now - self._fetched_at >= self.min_refetch_interval):
                try:
                    self._fetch()
                except InvalidAssertionError:
                    if not self._keys:
                        raise
                    # Keep serving the cached keys while the proxy's admin port is away.
            key = self._keys.get(kid)
        if key is None:
            raise InvalidAssertionError("assertion signed with an unknown key", "unknown_kid")
        return key


def keys_from_jwks(doc: Mapping[str, Any]) -> dict[str, Any]:
    """{kid: public key} of a JWKS document; keys of other types are skipped."""
    out = {}
    for jwk in doc.get("keys", []) if isinstance(doc, Mapping) else []:
        try:
            k = jwt.PyJWK(jwk)
        except (jwt.PyJWTError, ValueError, KeyError, TypeError):
            continue
        try:
            _key_alg(k.key)
        except InvalidAssertionError:
            continue
        if jwk.get("kid"):
            out[jwk["kid"]] = k.key
    return out


def verify_assertion(token: str, jwks: "JwksClient | Mapping | str | None" = None,
                     key=None, audience: str | list[str] = "gssgate",
                     issuer: str | None = "gssgate", leeway: float = 5.0) -> Identity:
    """Verifies an `X-Gssgate-Assertion` JWT and returns the Identity in it.

    Give either `jwks` (a JwksClient, a JWKS URL, or a JWKS document as a dict) or `key` (see
    load_public_key). `issuer=None` skips the issuer check. `leeway` (seconds) allows for clock
    skew. Raises InvalidAssertionError with a stable `.reason`."""
    if (jwks is None) == (key is None):
        raise ValueError("verify_assertion needs exactly one of jwks= or key=")
    if not token or not isinstance(token, str) or len(token) > 16384:
        raise InvalidAssertionError("no assertion or an oversized one", "malformed")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise InvalidAssertionError("assertion is not a JWT", "malformed") from None
    alg = header.get("alg")
    if alg not in ALGORITHMS:
        raise InvalidAssertionError(f"assertion algorithm {str(alg)[:20]!r} is not accepted",
                                    "algorithm")
    if key is not None:
        pub = load_public_key(key)
    else:
        if isinstance(jwks, str):
            jwks = JwksClient(jwks)
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidAssertionError("assertion has no kid", "unknown_kid")
        if isinstance(jwks, JwksClient):
            pub = jwks.key(kid)
        else:
            pub = keys_from_jwks(jwks).get(kid)
            if pub is None:
                raise InvalidAssertionError("assertion signed with an unknown key", "unknown_kid")
    if _key_alg(pub) != alg:
        raise InvalidAssertionError("assertion algorithm does not match the key", "algorithm")
    try:
        claims = jwt.decode(token, pub, algorithms=[alg], audience=audience, issuer=issuer,
                            leeway=leeway,
                            options={"require": list(REQUIRED_CLAIMS),
                                     "verify_iss": issuer is not None})
    except jwt.ExpiredSignatureError:
        raise InvalidAssertionError("assertion expired", "expired") from None
    except jwt.ImmatureSignatureError:
        raise InvalidAssertionError("assertion not yet valid", "not_yet_valid") from None
    except jwt.InvalidAudienceError:
        raise InvalidAssertionError("assertion is for another audience", "audience") from None
    except jwt.InvalidIssuerError:
        raise InvalidAssertionError("assertion from another issuer", "issuer") from None
    except jwt.MissingRequiredClaimError as e:
        raise InvalidAssertionError(f"assertion lacks the {e.claim!r} claim",
                                    "missing_claim") from None
    except jwt.InvalidSignatureError:
        raise InvalidAssertionError("assertion signature does not verify", "signature") from None
    except jwt.PyJWTError as e:
        raise InvalidAssertionError(f"assertion invalid: {type(e).__name__}", "malformed") \
            from None
    exp, iat = claims["exp"], claims["iat"]
    if not all(isinstance(v, (int, float)) for v in (exp, iat, claims["nbf"])):
        raise InvalidAssertionError("assertion times are not numbers", "malformed")
    if exp - iat > MAX_LIFETIME or iat > time.time() + leeway:
        raise InvalidAssertionError("assertion lifetime exceeds 60 s or it was issued in the "
                                    "future", "lifetime")
    sub, principal = claims["sub"], claims["principal"]
    if not isinstance(sub, str) or not sub or not isinstance(principal, str) or not principal:
        raise InvalidAssertionError("assertion sub/principal are not names", "malformed")
    return Identity(user=sub, principal=principal, claims=claims)
