#!/usr/bin/python3
"""Runs the example under a multi-threaded WSGI server (Django's ThreadedWSGIServer: one thread
per connection) on 127.0.0.1; creates its SQLite tables first. Prints the port when ready.

    EXAMPLE_STATE_DIR=/tmp/x GSSGATE_JWKS_URL=http://127.0.0.1:9901/.well-known/jwks.json \
    GSSGATE_BROKER_SOCKET=unix:/run/gssgate/broker.sock EXAMPLE_PG_PORT=5432 \
        /usr/bin/python3 examples/django/serve.py --port 0

In production run gssgate_example.wsgi:application under any threaded WSGI server (gunicorn
--threads, uWSGI, mod_wsgi); the per-thread credential scope is made for exactly that.
"""

import argparse
import os
import signal
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gssgate_example.settings")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()

    import django
    from django.conf import settings
    from django.core.management import call_command
    from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler

    django.setup()
    Path(settings.STATE_DIR).mkdir(mode=0o700, parents=True, exist_ok=True)
    call_command("migrate", verbosity=0, interactive=False)
    from gssgate_example.wsgi import application

    srv = ThreadedWSGIServer((args.host, args.port), WSGIRequestHandler)
    srv.daemon_threads = True
    srv.set_app(application)

    def stop(*_):
        threading.Thread(target=srv.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(srv.server_address[1], flush=True)
    try:
        srv.serve_forever(poll_interval=0.2)
    finally:
        srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
