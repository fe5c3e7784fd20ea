"""GssgateBackend: RemoteUserBackend that authenticates only names GssgateMiddleware verified.

Listed in AUTHENTICATION_BACKENDS. It creates the User for a new name (username = the
assertion's `sub`, the proxy's X-Remote-User) unless GSSGATE_CREATE_UNKNOWN_USER is False.
Called any other way — e.g. by Django's own RemoteUserMiddleware with a bare header — it
authenticates nobody.
"""

from __future__ import annotations

from django.contrib.auth.backends import RemoteUserBackend

from . import conf


class GssgateBackend(RemoteUserBackend):
    @property
    def create_unknown_user(self) -> bool:  # RemoteUserBackend reads this attribute
        return conf.get().create_unknown_user

    def authenticate(self, request, remote_user=None):
        if request is None or not remote_user or \
                getattr(request, "_gssgate_verified_user", None) != remote_user:
            return None
        return super().authenticate(request, remote_user)

    def clean_username(self, username: str) -> str:
        return username  # the proxy already mapped the principal with auth_to_local
