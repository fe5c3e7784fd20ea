"""Database connections as the request's user, with the credential the user delegated.

    from gssgate.django import user_db
    with user_db(request, host="db.example.com", dbname="app") as conn:   # psycopg2
        with conn.cursor() as cur:
            cur.execute("select current_user")

The handle in X-Gssgate-Credential is redeemed at the broker for a ticket for the database
service only, the ticket is the thread's default just for the connect (libpq authenticates
then), and wiped straight after; the connection is closed when the block ends.
"""

from __future__ import annotations

import contextlib

from ..errors import NoCredentialError
from . import conf

NO_CREDENTIAL = ("no delegated credential: the user signed in without delegating a ticket "
                 "(curl --negotiate --delegation always; browsers need a delegation policy)")


def _identity(request):
    ident = getattr(request, "gssgate", None)
    if ident is None:
        raise NoCredentialError("the request is not signed in through gssgate (no verified "
                                "assertion; is GssgateMiddleware installed?)")
    if not ident.credential_handle:
        raise NoCredentialError(NO_CREDENTIAL)
    return ident


def _service(service: str | None, host: str | None) -> str:
    return service or conf.get().db_service or f"postgres/{host or 'localhost'}"


@contextlib.contextmanager
def user_credential(request, service: str):
    """The request's delegated credential for `service` as this thread's default ccache."""
    ident = _identity(request)
    with conf.broker().credential(ident.credential_handle, service) as cred:
        yield cred


@contextlib.contextmanager
def user_db(request, service: str | None = None, **connect_kwargs):
    """A psycopg2 connection as the request's user (user= defaults to the verified name).

    `service` defaults to GSSGATE_DB_SERVICE, else postgres/<host>. Raises NoCredentialError
    without a delegated credential, gssgate.errors.BrokerError subclasses for broker refusals
    and psycopg2 errors for the database's."""
    import psycopg2

    ident = _identity(request)
    connect_kwargs.setdefault("user", ident.user)
    with user_credential(request, _service(service, connect_kwargs.get("host"))):
        conn = psycopg2.connect(**connect_kwargs)
    try:
        yield conn
    finally:
        conn.close()


@contextlib.contextmanager
def user_connection(request, alias: str = "as_user", service: str | None = None):
    """Django's own connection `alias` (ENGINE postgresql, no PASSWORD) opened as the request's
    user: `with user_connection(request) as conn: Model.objects.using("as_user")...`.

    The alias's USER is set for this thread only and restored afterwards; the connection is
    closed at the end, so use the alias only inside this block."""
    from django.db import connections

    ident = _identity(request)
    conn = connections[alias]
    saved = conn.settings_dict
    conn.close()
    conn.settings_dict = {**saved, "USER": ident.user, "PASSWORD": ""}
    try:
        with user_credential(request, _service(service, saved.get("HOST"))):
            conn.ensure_connection()
        yield conn
    finally:
        conn.close()
        conn.settings_dict = saved
