"""GssgateMiddleware: trusts gssgate-proxy's identity headers only with a valid signed assertion.

    MIDDLEWARE = [...,   # after SessionMiddleware/AuthenticationMiddleware if you use them
                  "gssgate.django.middleware.GssgateMiddleware", ...]
    AUTHENTICATION_BACKENDS = ["gssgate.django.backends.GssgateBackend"]

Per request:
* no identity header at all (no X-Remote-User, X-Gssgate-Assertion, X-Gssgate-Credential) →
  untouched: the request is anonymous (or whatever AuthenticationMiddleware found);
* any of them present → X-Gssgate-Assertion must verify (signature, kid, iss, aud, nbf/exp,
  lifetime ≤ 60 s) **and** its `sub` must equal X-Remote-User when that is present; otherwise
  the answer is **403** and the view never runs — a forged header is refused loudly, not
  downgraded to anonymous, so a misconfigured deployment (app reachable without the proxy) is
  noticed at once. The reason is logged (logger "gssgate"), never the token;
* verified → request.user is the Django User named `sub` (created when new, unless
  GSSGATE_CREATE_UNKNOWN_USER = False, then 403), and request.gssgate is a RequestIdentity
  (user, principal, claims, credential_handle). Nothing is stored in the session: every request
  proves itself.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Mapping

from django.contrib import auth
from django.contrib.auth.models import AnonymousUser
from django.http import HttpResponseForbidden

from ..errors import InvalidAssertionError
from . import conf

log = logging.getLogger("gssgate")


@dataclass(frozen=True)
class RequestIdentity:
    user: str
    principal: str
    claims: Mapping[str, Any] = field(repr=False)
    credential_handle: str | None = field(default=None, repr=False)

    @property
    def has_credential(self) -> bool:
        return bool(self.credential_handle)


def _refuse(request, reason: str, detail: str) -> HttpResponseForbidden:
    log.warning("gssgate: refused identity headers from %s: %s (%s)",
                request.META.get("REMOTE_ADDR", "?"), detail, reason)
    return HttpResponseForbidden("403 Forbidden: the identity headers could not be verified\n",
                                 content_type="text/plain")


class GssgateMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        conf.get()  # fail at start-up on bad settings (ImproperlyConfigured)

    def __call__(self, request):
        refusal = self.authenticate(request)
        if refusal is not None:
            return refusal
        return self.get_response(request)

    def authenticate(self, request):
        """None when the request may proceed; else the 403 response."""
        c = conf.get()
        request.gssgate = None
        if not hasattr(request, "user"):  # no AuthenticationMiddleware (no sessions): anonymous
            request.user = AnonymousUser()
        meta = request.META
        user_hdr = meta.pop(c.user_meta, None)
        token = meta.pop(c.assertion_meta, None)
        handle = meta.pop(c.credential_meta, None)
        if user_hdr is None and token is None and handle is None:
            return None
        if not token:
            return _refuse(request, "missing", "identity headers without X-Gssgate-Assertion")
        try:
            ident = c.verify(token.strip())
        except InvalidAssertionError as e:
            return _refuse(request, e.reason, str(e))
        if user_hdr is not None and user_hdr.strip() != ident.user:
            return _refuse(request, "subject_mismatch",
                           "X-Remote-User differs from the assertion's subject")
        request._gssgate_verified_user = ident.user
        user = auth.authenticate(request, remote_user=ident.user)
        if user is None:
            return _refuse(request, "no_user", f"no active Django user {ident.user!r} (or "
                           "GssgateBackend is not in AUTHENTICATION_BACKENDS)")
        request.user = user
        request._cached_user = user
        # Verified: keep the header for code that reads it (now it is the verified name).
        meta[c.user_meta] = ident.user
        request.gssgate = RequestIdentity(ident.user, ident.principal, ident.claims,
                                          handle.strip() if handle else None)
        return None
