"""GssgateMiddleware + GssgateBackend + user_db preconditions, with Django's test client
against an in-memory SQLite database."""

import pytest

django = pytest.importorskip("django", reason="python3-django missing: scripts/install-deps.sh")

from signing import Signer  # noqa: E402

SIGNER = Signer("EdDSA")
OTHER = Signer("EdDSA")

from django.conf import settings  # noqa: E402

if not settings.configured:
    settings.configure(
        DEBUG=False, SECRET_KEY="test", ALLOWED_HOSTS=["*"], USE_TZ=True,
        INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes"],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        MIDDLEWARE=["gssgate.django.middleware.GssgateMiddleware"],
        AUTHENTICATION_BACKENDS=["gssgate.django.backends.GssgateBackend"],
        ROOT_URLCONF=__name__, DEFAULT_AUTO_FIELD="django.db.models.AutoField",
        GSSGATE_JWKS_URL=None, GSSGATE_ASSERTION_KEY_FILE=None,
    )
    django.setup()

from django.http import JsonResponse  # noqa: E402
from django.test import Client, override_settings  # noqa: E402
from django.urls import path  # noqa: E402

import gssgate  # noqa: E402
from gssgate.django import conf, user_db  # noqa: E402


def whoami(request):
    ident = request.gssgate
    return JsonResponse({"user": request.user.username if request.user.is_authenticated
                         else None, "principal": ident.principal if ident else None,
                         "handle": bool(ident and ident.credential_handle),
                         "meta_user": request.META.get("HTTP_X_REMOTE_USER")})


def db(request):
    try:
        with user_db(request, host="localhost"):
            pass
    except gssgate.NoCredentialError as e:
        return JsonResponse({"error": str(e)}, status=409)
    except gssgate.BrokerUnreachableError as e:
        return JsonResponse({"error": str(e)}, status=502)
    return JsonResponse({})


urlpatterns = [path("whoami", whoami), path("db", db)]


@pytest.fixture(autouse=True)
def setup_db(tmp_path):
    from django.core.management import call_command
    key = tmp_path / "assertion.pub"
    from cryptography.hazmat.primitives import serialization as s
    key.write_bytes(SIGNER.key.public_key().public_bytes(
        s.Encoding.PEM, s.PublicFormat.SubjectPublicKeyInfo))
    with override_settings(GSSGATE_ASSERTION_KEY_FILE=str(key),
                           GSSGATE_BROKER_SOCKET=f"unix:{tmp_path}/no-broker.sock"):
        call_command("migrate", verbosity=0, interactive=False, run_syncdb=True)
        yield
    conf.reset()


def get(path="/whoami", **headers):
    meta = {"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()}
    return Client().get(path, **meta)


def test_no_identity_headers_is_anonymous():
    r = get()
    assert r.status_code == 200 and r.json()["user"] is None and r.json()["principal"] is None


def test_verified_assertion_signs_in_and_creates_the_user():
    from django.contrib.auth.models import User
    r = get(**{"X-Remote-User": "alice", "X-Gssgate-Assertion": SIGNER.sign("alice"),
               "X-Gssgate-Credential": "gsh1.x"})
    assert r.status_code == 200, r.content
    assert r.json() == {"user": "alice", "principal": "alice@GSSGATE.TEST", "handle": True,
                        "meta_user": "alice"}
    assert User.objects.filter(username="alice").count() == 1
    get(**{"X-Remote-User": "alice", "X-Gssgate-Assertion": SIGNER.sign("alice")})
    assert User.objects.filter(username="alice").count() == 1  # fetched, not created again


@pytest.mark.parametrize("headers", [
    {"X-Remote-User": "alice"},                                          # forged, no assertion
    {"X-Remote-User": "alice", "X-Gssgate-Assertion": "garbage"},
    {"X-Remote-User": "alice", "X-Gssgate-Assertion": OTHER.sign("alice", kid=SIGNER.kid)},
    {"X-Remote-User": "admin", "X-Gssgate-Assertion": SIGNER.sign("alice")},  # someone else's
    {"X-Remote-User": "alice", "X-Gssgate-Assertion": SIGNER.sign("alice", aud="other")},
    {"X-Remote-User": "alice", "X-Gssgate-Assertion": SIGNER.sign("alice", iat=1)},
    {"X-Gssgate-Credential": "gsh1.stolen"},                               # handle alone
])
def test_unverified_identity_headers_are_refused(headers, caplog):
    from django.contrib.auth.models import User
    before = User.objects.count()
    r = get(**headers)
    assert r.status_code == 403
    assert b"could not be verified" in r.content
    assert User.objects.count() == before and not User.objects.filter(username="admin").exists()
    assert any("refused identity headers" in m for m in caplog.messages)
    for v in headers.values():
        assert all(v not in m for m in caplog.messages if len(v) > 20)  # no token logged


def test_assertion_alone_is_enough_and_header_is_set_to_the_verified_name():
    r = get(**{"X-Gssgate-Assertion": SIGNER.sign("bob")})
    assert r.status_code == 200 and r.json()["user"] == "bob" and r.json()["meta_user"] == "bob"


def test_unknown_users_refused_when_creation_is_off():
    with override_settings(GSSGATE_CREATE_UNKNOWN_USER=False):
        r = get(**{"X-Remote-User": "carol", "X-Gssgate-Assertion": SIGNER.sign("carol")})
    assert r.status_code == 403


def test_backend_alone_does_not_trust_a_bare_header():
    from django.contrib.auth import authenticate
    from django.test import RequestFactory
    req = RequestFactory().get("/", HTTP_X_REMOTE_USER="alice")
    assert authenticate(req, remote_user="alice") is None


def test_user_db_needs_a_delegated_credential():
    r = get("/db", **{"X-Remote-User": "alice", "X-Gssgate-Assertion": SIGNER.sign("alice")})
    assert r.status_code == 409 and "no delegated credential" in r.json()["error"]
    r = get("/db")
    assert r.status_code == 409 and "not signed in through gssgate" in r.json()["error"]
    r = get("/db", **{"X-Remote-User": "alice", "X-Gssgate-Assertion": SIGNER.sign("alice"),
                      "X-Gssgate-Credential": "gsh1.x"})
    assert r.status_code == 502 and "broker unreachable" in r.json()["error"]


def test_misconfiguration_fails_at_start():
    from django.core.exceptions import ImproperlyConfigured
    from gssgate.django.middleware import GssgateMiddleware
    with override_settings(GSSGATE_ASSERTION_KEY_FILE=None):
        with pytest.raises(ImproperlyConfigured, match="exactly one"):
            GssgateMiddleware(lambda r: None)
    with override_settings(GSSGATE_ASSERTION_KEY_FILE="/nonexistent.pem"):
        with pytest.raises(ImproperlyConfigured):
            GssgateMiddleware(lambda r: None)
