"""Django integration of gssgate (docs/python.md):

* `gssgate.django.middleware.GssgateMiddleware` — verifies X-Gssgate-Assertion, refuses (403)
  identity headers that do not verify, sets request.user and request.gssgate;
* `gssgate.django.backends.GssgateBackend` — creates/fetches the User for a verified name;
* `user_db(request, **psycopg2_kwargs)` — a psycopg2 connection as the request's user;
  `user_connection(request, alias)` — the same for a Django DATABASES alias;
  `user_credential(request, service)` — the raw per-thread credential scope.
"""

from .db import user_connection, user_credential, user_db

__all__ = ["user_db", "user_connection", "user_credential"]
