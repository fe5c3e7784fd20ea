"""Settings of the gssgate Django example (examples/django/README.md). Everything site-specific
comes from the environment so the demo and the tests can point it at their own realm."""

import os
import secrets
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# The gssgate package from this repository (an installed one wins if present).
sys.path.append(str(HERE.parents[2] / "python"))

SECRET_KEY = os.environ.get("EXAMPLE_SECRET_KEY") or secrets.token_urlsafe(32)
DEBUG = False
ALLOWED_HOSTS = ["localhost", "127.0.0.1"]
ROOT_URLCONF = "gssgate_example.urls"
WSGI_APPLICATION = "gssgate_example.wsgi.application"
USE_TZ = True

INSTALLED_APPS = ["django.contrib.auth", "django.contrib.contenttypes"]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "gssgate.django.middleware.GssgateMiddleware",
]
AUTHENTICATION_BACKENDS = ["gssgate.django.backends.GssgateBackend"]

# Django's own tables (auth users) live in SQLite; the user's data is in PostgreSQL, reached
# as the user (views.py). EXAMPLE_STATE_DIR must be private to the app.
STATE_DIR = Path(os.environ.get("EXAMPLE_STATE_DIR") or HERE.parent / "state")
DATABASES = {
    "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(STATE_DIR / "app.sqlite3")},
    # Django's own connection as the signed-in user (gssgate.django.user_connection): no
    # password, no persistent connection; USER is set per request.
    "as_user": {
        "ENGINE": "django.db.backends.postgresql",
        "HOST": os.environ.get("EXAMPLE_PG_HOST", "localhost"),
        "PORT": os.environ.get("EXAMPLE_PG_PORT", "5432"),
        "NAME": os.environ.get("EXAMPLE_PG_DBNAME", "postgres"),
        "USER": "",
        "PASSWORD": "",
        "CONN_MAX_AGE": 0,
        "OPTIONS": {"connect_timeout": 10},
    },
}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

# gssgate (docs/python.md): the proxy's JWKS (or its assertion key file), the broker's backend
# socket, and the database service the broker gives tickets for.
GSSGATE_JWKS_URL = os.environ.get("GSSGATE_JWKS_URL") or None
GSSGATE_ASSERTION_KEY_FILE = os.environ.get("GSSGATE_ASSERTION_KEY_FILE") or None
GSSGATE_AUDIENCE = os.environ.get("GSSGATE_AUDIENCE", "gssgate")
GSSGATE_BROKER_SOCKET = os.environ.get("GSSGATE_BROKER_SOCKET")
GSSGATE_DB_SERVICE = os.environ.get("GSSGATE_DB_SERVICE", "postgres/localhost")

# The PostgreSQL the page queries as the signed-in user (host must match the service's host).
EXAMPLE_PG = {
    "host": os.environ.get("EXAMPLE_PG_HOST", "localhost"),
    "port": int(os.environ.get("EXAMPLE_PG_PORT", "5432")),
    "dbname": os.environ.get("EXAMPLE_PG_DBNAME", "postgres"),
    "connect_timeout": 10,
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "loggers": {"gssgate": {"handlers": ["stderr"], "level": "INFO"},
                "django.server": {"handlers": ["stderr"], "level": "INFO"}},
}
