#!/usr/bin/python3
"""gssgate demo application: a backend behind gssgate-proxy that connects to PostgreSQL *as the
signed-in user*, with the user's delegated Kerberos credential, without ever holding a TGT.

On every request (any path except /healthz) it reads two headers the proxy sets:
  X-Remote-User         the user's local name (the proxy removes any client-sent copy)
  X-Gssgate-Credential  a broker handle, present only when the client delegated a credential

With a handle it
  1. writes the handle to a 0600 file in a private 0700 temp dir (never argv, never a log),
  2. runs `gssgatectl credential --broker unix:SOCK --service postgres/localhost
     --handle-file FILE --out DIR/ccache`, which prints KRB5CCNAME=FILE:/path to a ccache
     holding only a postgres/localhost service ticket,
  3. runs psql with that KRB5CCNAME (in the child's environment only: KRB5CCNAME is
     process-wide, so a threaded server must never set it on itself) and
     `--conninfo` + ` user=<X-Remote-User>` to execute `select current_user, session_user`,
  4. deletes the ccache and the temp dir, and answers with JSON:
       {"remote_user": "alice", "db_user": "alice", "session_user": "alice", "error": null}

Without a handle it answers 200 with db_user null and an error telling how to delegate.
gssgatectl or psql failing gives 502 with their one-line error in "error".
/healthz answers 200 "ok" without touching the broker or the database.

    /usr/bin/python3 examples/demo_app/demo_app.py --port 0 \
        --broker unix:/run/gssgate/backend.sock --gssgatectl build/client/gssgatectl \
        --conninfo "host=localhost port=5432 dbname=postgres"
    # prints the port on stdout when ready; logs one line per request on stderr.
    # --unix PATH listens on a Unix socket instead (prints PATH).
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import shutil
import signal
import socketserver
import subprocess
import sys
import tempfile
import threading
import time

NO_HANDLE_ERROR = "no delegated credential: sign in with curl --negotiate --delegation always"
QUERY = "select current_user, session_user"
FIELD_SEP = "\x1f"


class AppError(Exception):
    """A step failed; the message is what the client sees (no tokens, no handles)."""


def quote_conninfo(value: str) -> str:
    """A libpq conninfo value, quoted so that a user name cannot add parameters."""
    if value and not any(c in value for c in " '\\\t\n\r\f\v="):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def first_line(text: str, limit: int = 500) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return (lines[-1] if lines else "")[:limit]


def ccache_path(ccname: str) -> str | None:
    """The file behind a FILE: (or type-less) ccache name, else None."""
    kind, sep, rest = ccname.partition(":")
    if not sep:
        return ccname if ccname.startswith("/") else None
    if kind == "FILE":
        return rest
    return None


class DemoApp:
    def __init__(self, broker: str | None, gssgatectl: str, conninfo: str, psql: str,
                 service: str = "postgres/localhost", timeout: float = 20.0):
        self.broker = broker
        self.gssgatectl = gssgatectl
        self.conninfo = conninfo.strip()
        self.psql = psql
        self.service = service
        self.timeout = timeout

    def _child_env(self) -> dict:
        env = dict(os.environ)
        env.pop("GSSGATE_HANDLE", None)
        env.pop("KRB5CCNAME", None)
        return env

    def redeem(self, handle: str, workdir: str) -> str:
        """Runs gssgatectl; returns the KRB5CCNAME it printed."""
        if not self.broker:
            raise AppError("the demo app was started without --broker")
        handle_file = os.path.join(workdir, "handle")
        fd = os.open(handle_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(handle)
        argv = [self.gssgatectl, "credential", "--broker", self.broker,
                "--service", self.service, "--handle-file", handle_file,
                "--out", os.path.join(workdir, "ccache")]
        try:
            res = subprocess.run(argv, capture_output=True, text=True, env=self._child_env(),
                                 stdin=subprocess.DEVNULL, timeout=self.timeout)
        except FileNotFoundError:
            raise AppError(f"gssgatectl not found at {self.gssgatectl}") from None
        except PermissionError:
            raise AppError(f"gssgatectl at {self.gssgatectl} is not executable") from None
        except subprocess.TimeoutExpired:
            raise AppError(f"gssgatectl timed out after {self.timeout:g} s") from None
        finally:
            os.unlink(handle_file)
        if res.returncode != 0:
            raise AppError(first_line(res.stderr)
                           or f"gssgatectl failed with exit status {res.returncode}")
        for line in res.stdout.splitlines():
            if line.startswith("KRB5CCNAME="):
                ccname = line.split("=", 1)[1].strip()
                if ccname:
                    return ccname
        raise AppError("gssgatectl printed no KRB5CCNAME")

    def query(self, ccname: str, user: str) -> tuple[str, str]:
        env = self._child_env()
        env["KRB5CCNAME"] = ccname
        for k in ("PGPASSWORD", "PGPASSFILE", "PGUSER", "PGSERVICE"):
            env.pop(k, None)
        conninfo = f"{self.conninfo} user={quote_conninfo(user)}"
        argv = [self.psql, "-X", "-A", "-t", "-w", "-q", "-F", FIELD_SEP,
                "-v", "ON_ERROR_STOP=1", conninfo, "-c", QUERY]
        try:
            res = subprocess.run(argv, capture_output=True, text=True, env=env,
                                 stdin=subprocess.DEVNULL, timeout=self.timeout)
        except FileNotFoundError:
            raise AppError(f"psql not found at {self.psql}") from None
        except subprocess.TimeoutExpired:
            raise AppError(f"psql timed out after {self.timeout:g} s") from None
        if res.returncode != 0:
            raise AppError(first_line(res.stderr) or f"psql failed with exit status "
                           f"{res.returncode}")
        row = res.stdout.strip("\n").split("\n")[-1].split(FIELD_SEP)
        if len(row) != 2:
            raise AppError(f"unexpected psql output: {res.stdout.strip()[:200]!r}")
        return row[0], row[1]

    def handle(self, remote_user: str | None, handle: str | None) -> tuple[int, dict]:
        result = {"remote_user": remote_user, "db_user": None, "session_user": None,
                  "error": None}
        if not handle:
            result["error"] = NO_HANDLE_ERROR
            return 200, result
        if not remote_user:
            result["error"] = "no X-Remote-User header: is the app behind gssgate-proxy?"
            return 200, result
        workdir = tempfile.mkdtemp(prefix="gssgate-demo-app-")  # 0700
        ccname = None
        try:
            ccname = self.redeem(handle, workdir)
            result["db_user"], result["session_user"] = self.query(ccname, remote_user)
            return 200, result
        except AppError as e:
            result["error"] = str(e)
            return 502, result
        finally:
            path = ccache_path(ccname) if ccname else None
            if path:
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    pass
                except OSError as e:
                    print(f"demo_app: could not delete ccache {path}: {e}", file=sys.stderr)
            shutil.rmtree(workdir, ignore_errors=True)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "gssgate-demo-app/1"
    sys_version = ""
    timeout = 60

    def version_string(self):
        return self.server_version
    app: DemoApp  # set on the subclass made in make_server
    user_header = "X-Remote-User"
    credential_header = "X-Gssgate-Credential"

    def address_string(self):
        return self.client_address[0] if isinstance(self.client_address, tuple) else "unix"

    def log_request(self, code="-", size="-"):
        pass  # one line per request is logged in _serve

    def log_message(self, fmt, *args):
        sys.stderr.write(f"demo_app: {self.address_string()} {fmt % args}\n")

    def _send(self, status: int, body: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _discard_body(self) -> bool:
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            self._send(411, b'{"error": "send a Content-Length body"}\n', "application/json")
            return False
        try:
            n = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            n = -1
        if n < 0:
            self.close_connection = True
            self._send(400, b'{"error": "bad Content-Length"}\n', "application/json")
            return False
        while n > 0:
            chunk = self.rfile.read(min(n, 65536))
            if not chunk:
                self.close_connection = True
                return False
            n -= len(chunk)
        return True

    def _header(self, name: str) -> tuple[str | None, bool]:
        values = self.headers.get_all(name) or []
        if len(values) > 1:
            return None, False
        return (values[0].strip() if values else None), True

    def _serve(self) -> None:
        t0 = time.monotonic()
        if not self._discard_body():
            return
        if self.path.split("?", 1)[0] == "/healthz":
            self._send(200, b"ok\n", "text/plain")
            return
        remote_user, ok1 = self._header(self.user_header)
        handle, ok2 = self._header(self.credential_header)
        if not (ok1 and ok2):
            status, result = 400, {"remote_user": None, "db_user": None, "session_user": None,
                                   "error": "duplicate identity headers"}
        else:
            status, result = self.app.handle(remote_user, handle)
        body = (json.dumps(result) + "\n").encode()
        self._send(status, body, "application/json")
        sys.stderr.write(
            f"demo_app: {self.command} {self.path.split('?', 1)[0]} -> {status} "
            f"remote_user={remote_user or '-'} credential={'yes' if handle else 'no'} "
            f"db_user={result.get('db_user') or '-'} {1000 * (time.monotonic() - t0):.0f} ms"
            + (f" error={result['error']!r}" if result.get("error") else "") + "\n")

    do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = _serve


class _TCPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class _UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def make_server(app: DemoApp, host: str = "127.0.0.1", port: int = 0,
                unix_path: str | None = None, user_header: str = "X-Remote-User",
                credential_header: str = "X-Gssgate-Credential"):
    handler = type("DemoHandler", (Handler,), {"app": app, "user_header": user_header,
                                               "credential_header": credential_header})
    if unix_path:
        try:
            os.unlink(unix_path)
        except FileNotFoundError:
            pass
        return _UnixServer(unix_path, handler)
    return _TCPServer((host, port), handler)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="demo_app.py", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="TCP port (0 = random; printed)")
    p.add_argument("--unix", metavar="PATH", help="listen on a Unix socket instead")
    p.add_argument("--broker", metavar="unix:PATH", default=os.environ.get("GSSGATE_BROKER"),
                   help="the broker's backend socket (passed to gssgatectl)")
    p.add_argument("--gssgatectl", default=shutil.which("gssgatectl") or "gssgatectl",
                   help="path to gssgatectl")
    p.add_argument("--psql", default=shutil.which("psql") or "/usr/bin/psql")
    p.add_argument("--conninfo", default="host=localhost port=5432 dbname=postgres",
                   help="libpq conninfo without user= (user= comes from X-Remote-User)")
    p.add_argument("--service", default="postgres/localhost",
                   help="the service to ask the broker a ticket for")
    p.add_argument("--user-header", default="X-Remote-User")
    p.add_argument("--credential-header", default="X-Gssgate-Credential")
    p.add_argument("--timeout", type=float, default=20.0,
                   help="seconds allowed for gssgatectl and for psql")
    args = p.parse_args(argv)
    if args.broker and not args.broker.startswith("unix:"):
        p.error("--broker wants unix:PATH")
    if "user=" in args.conninfo.replace(" ", ""):
        p.error("--conninfo must not contain user= (it comes from X-Remote-User)")

    app = DemoApp(args.broker, args.gssgatectl, args.conninfo, args.psql, args.service,
                  args.timeout)
    try:
        srv = make_server(app, args.host, args.port, args.unix, args.user_header,
                          args.credential_header)
    except OSError as e:
        print(f"demo_app: cannot listen: {e}", file=sys.stderr)
        return 1

    def stop(*_):
        threading.Thread(target=srv.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(args.unix if args.unix else srv.server_address[1], flush=True)
    sys.stderr.write(f"demo_app: listening on "
                     f"{args.unix or f'{args.host}:{srv.server_address[1]}'}; broker "
                     f"{args.broker or '(none)'}; service {args.service}; {args.conninfo}\n")
    sys.stderr.flush()
    try:
        srv.serve_forever(poll_interval=0.2)
    finally:
        srv.server_close()
        if args.unix:
            try:
                os.unlink(args.unix)
            except OSError:
                pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
