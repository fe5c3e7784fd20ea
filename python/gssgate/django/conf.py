"""gssgate settings for Django (all optional except one of the key sources):

    GSSGATE_JWKS_URL            the proxy's admin /.well-known/jwks.json        (or:)
    GSSGATE_ASSERTION_KEY_FILE  PEM public key (or the proxy's private key file) of the assertion
    GSSGATE_AUDIENCE            "gssgate"   expected aud (the proxy's assertion.audience)
    GSSGATE_ISSUER              "gssgate"   expected iss; None skips the check
    GSSGATE_LEEWAY              5           seconds of clock skew allowed
    GSSGATE_JWKS_TTL            300         seconds the JWKS is cached
    GSSGATE_BROKER_SOCKET       None        unix:/path of the broker's backend socket
    GSSGATE_BROKER_TIMEOUT      5           seconds per broker call
    GSSGATE_DB_SERVICE          None        e.g. "postgres/db.example.com" (default: postgres/<host>)
    GSSGATE_CREATE_UNKNOWN_USER True        create a Django User for a new verified name
    GSSGATE_USER_HEADER         "X-Remote-User"         header names as the proxy sends them
    GSSGATE_ASSERTION_HEADER    "X-Gssgate-Assertion"
    GSSGATE_CREDENTIAL_HEADER   "X-Gssgate-Credential"
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from .. import assertion
from ..broker import Broker


def _meta_key(header: str) -> str:
    return "HTTP_" + header.upper().replace("-", "_")


@dataclass(frozen=True)
class Conf:
    jwks: object          # JwksClient or None
    key: object           # public key or None
    audience: str
    issuer: str | None
    leeway: float
    broker_socket: str | None
    broker_timeout: float
    db_service: str | None
    create_unknown_user: bool
    user_meta: str
    assertion_meta: str
    credential_meta: str

    def verify(self, token: str) -> assertion.Identity:
        return assertion.verify_assertion(token, jwks=self.jwks, key=self.key,
                                          audience=self.audience, issuer=self.issuer,
                                          leeway=self.leeway)


_lock = threading.Lock()  # guards _cache
_cache: dict = {}


def _load() -> Conf:
    url = getattr(settings, "GSSGATE_JWKS_URL", None)
    key_file = getattr(settings, "GSSGATE_ASSERTION_KEY_FILE", None)
    if bool(url) == bool(key_file):
        raise ImproperlyConfigured("gssgate: set exactly one of GSSGATE_JWKS_URL and "
                                   "GSSGATE_ASSERTION_KEY_FILE")
    jwks = key = None
    try:
        if url:
            jwks = assertion.JwksClient(url, ttl=float(getattr(settings, "GSSGATE_JWKS_TTL", 300)))
        else:
            key = assertion.load_public_key(str(key_file))
    except (ValueError, OSError, assertion.InvalidAssertionError) as e:
        raise ImproperlyConfigured(f"gssgate: {e}") from None
    return Conf(
        jwks=jwks, key=key,
        audience=getattr(settings, "GSSGATE_AUDIENCE", "gssgate"),
        issuer=getattr(settings, "GSSGATE_ISSUER", "gssgate"),
        leeway=float(getattr(settings, "GSSGATE_LEEWAY", 5)),
        broker_socket=getattr(settings, "GSSGATE_BROKER_SOCKET", None),
        broker_timeout=float(getattr(settings, "GSSGATE_BROKER_TIMEOUT", 5)),
        db_service=getattr(settings, "GSSGATE_DB_SERVICE", None),
        create_unknown_user=bool(getattr(settings, "GSSGATE_CREATE_UNKNOWN_USER", True)),
        user_meta=_meta_key(getattr(settings, "GSSGATE_USER_HEADER", "X-Remote-User")),
        assertion_meta=_meta_key(getattr(settings, "GSSGATE_ASSERTION_HEADER",
                                         "X-Gssgate-Assertion")),
        credential_meta=_meta_key(getattr(settings, "GSSGATE_CREDENTIAL_HEADER",
                                          "X-Gssgate-Credential")),
    )


def get() -> Conf:
    """The settings, read once (reset() after changing them, e.g. in tests)."""
    with _lock:
        if "conf" not in _cache:
            _cache["conf"] = _load()
        return _cache["conf"]


def broker() -> Broker:
    """The process's Broker for GSSGATE_BROKER_SOCKET (one gRPC channel for all threads)."""
    c = get()
    if not c.broker_socket:
        raise ImproperlyConfigured("gssgate: GSSGATE_BROKER_SOCKET is not set")
    with _lock:
        b = _cache.get("broker")
        if b is None:
            b = _cache["broker"] = Broker(c.broker_socket, timeout=c.broker_timeout)
        return b


def reset() -> None:
    with _lock:
        b = _cache.pop("broker", None)
        _cache.clear()
    if b is not None:
        b.close()


try:  # settings changed in tests (override_settings) take effect
    from django.core.signals import setting_changed

    def _on_setting_changed(setting, **kwargs):
        if setting.startswith("GSSGATE_"):
            reset()

    setting_changed.connect(_on_setting_changed)
except ImportError:  # pragma: no cover
    pass
