"""Signs assertions the way gssgate-proxy does (common/jwt_signer.cc), for the tests."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519


def b64u(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


class Signer:
    def __init__(self, alg: str = "EdDSA"):
        self.alg = alg
        if alg == "EdDSA":
            self.key = ed25519.Ed25519PrivateKey.generate()
            from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
            x = self.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
            self.jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64u(x)}
            canon = {"crv": "Ed25519", "kty": "OKP", "x": self.jwk["x"]}
        else:
            self.key = ec.generate_private_key(ec.SECP256R1())
            n = self.key.public_key().public_numbers()
            self.jwk = {"kty": "EC", "crv": "P-256", "x": b64u(n.x.to_bytes(32, "big")),
                        "y": b64u(n.y.to_bytes(32, "big"))}
            canon = {"crv": "P-256", "kty": "EC", "x": self.jwk["x"], "y": self.jwk["y"]}
        self.kid = b64u(hashlib.sha256(json.dumps(canon, separators=(",", ":"))
                                       .encode()).digest())
        self.jwk.update(kid=self.kid, use="sig", alg=alg)

    def jwks(self) -> dict:
        return {"keys": [self.jwk]}

    def sign(self, sub: str = "alice", principal: str | None = None, lifetime: int = 60,
             iat: float | None = None, kid: str | None = None, **overrides) -> str:
        now = int(time.time() if iat is None else iat)
        claims = {"iss": "gssgate", "sub": sub, "aud": "gssgate", "iat": now, "nbf": now,
                  "exp": now + lifetime, "jti": b64u(os.urandom(12)),
                  "principal": principal or f"{sub}@GSSGATE.TEST"}
        claims.update(overrides)
        claims = {k: v for k, v in claims.items() if v is not None}
        return jwt.encode(claims, self.key, algorithm=self.alg,
                          headers={"kid": kid or self.kid, "typ": "JWT"})
