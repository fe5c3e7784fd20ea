"""The do-it-yourself pykerberos view, rewritten on gssgate (docs/python.md, "Migrating").

GET / → a page with the signed-in user and, from PostgreSQL *as that user*, current_user and
version(). `?format=json` (or Accept: application/json) answers JSON:
    {"remote_user": "alice", "principal": "alice@REALM", "current_user": "alice",
     "version": "PostgreSQL 15...", "error": null}
"""

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.utils.html import escape

import gssgate
from gssgate.django import user_connection, user_db

import psycopg2

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>gssgate example</title></head>
<body><h1>Hello, {user}</h1><table>
<tr><th>Kerberos principal</th><td>{principal}</td></tr>
<tr><th>PostgreSQL current_user</th><td id="current_user">{current_user}</td></tr>
<tr><th>PostgreSQL version()</th><td id="version">{version}</td></tr>
</table>{error}</body></html>
"""


def healthz(request):
    return HttpResponse("ok\n", content_type="text/plain")


def index(request):
    ident = request.gssgate  # set by GssgateMiddleware: verified, or None
    result = {"remote_user": ident.user if ident else None,
              "principal": ident.principal if ident else None,
              "current_user": None, "version": None, "error": None}
    status = 200
    if ident is None:
        result["error"] = "not signed in: open this page through gssgate-proxy"
        status = 401
    else:
        try:
            with user_db(request, **settings.EXAMPLE_PG) as conn:
                with conn.cursor() as cur:
                    cur.execute("select current_user, version()")
                    result["current_user"], result["version"] = cur.fetchone()
        except gssgate.NoCredentialError as e:
            result["error"] = str(e)
        except gssgate.GssgateError as e:   # HandleNotFoundError, NotAllowedError, ...
            result["error"] = f"{type(e).__name__}: {e}"
            status = 502
        except psycopg2.Error as e:
            result["error"] = "database: " + (str(e).strip().splitlines() or ["error"])[0]
            status = 502
    if request.GET.get("format") == "json" or \
            "application/json" in request.META.get("HTTP_ACCEPT", ""):
        return JsonResponse(result, status=status)
    err = f'<p id="error">{escape(result["error"])}</p>' if result["error"] else ""
    return HttpResponse(PAGE.format(user=escape(result["remote_user"] or "stranger"),
                                    principal=escape(result["principal"] or "-"),
                                    current_user=escape(result["current_user"] or "-"),
                                    version=escape(result["version"] or "-"), error=err),
                        status=status)


def orm(request):
    """The same through Django's own connection (DATABASES["as_user"]), as JSON."""
    if request.gssgate is None:
        return JsonResponse({"error": "not signed in"}, status=401)
    try:
        with user_connection(request, "as_user") as conn:
            with conn.cursor() as cur:
                cur.execute("select current_user")
                return JsonResponse({"current_user": cur.fetchone()[0], "error": None})
    except gssgate.GssgateError as e:
        return JsonResponse({"current_user": None, "error": f"{type(e).__name__}: {e}"},
                            status=502)
