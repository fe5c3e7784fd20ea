"""Helpers for the gssgate-proxy integration tests (imported by conftest.py and the tests).

* `negotiate_token(user, service="HTTP@localhost", delegate=False)` — a fresh base64 SPNEGO
  token from python-gssapi, using the user's own ccache (never the process's KRB5CCNAME).
* `negotiate_start(...)` — the same, plus the client context (to check the mutual-auth reply).
* `http_request(...)` — one request with http.client; `Response` with status, headers, body, json.
* `proxy_metrics(p)` — the proxy's /metrics samples as a dict.
* `raw_http(port, bytes)` — sends exact bytes, parses one response (for framing tests).
* `curl_negotiate(url, user)` — `curl --negotiate -u :` with KRB5CCNAME in its env only.
* `ProxyProcess` — a running gssgate-proxy (started by the `proxy` fixture in conftest.py).
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import gssapi

import log_archive

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
DEFAULT_PROXY = REPO / "build" / "proxy" / "gssgate-proxy"
REALM_NAME = "GSSGATE.TEST"
SPNEGO = gssapi.OID.from_int_seq("1.3.6.1.5.5.2")

# Set by the session `realm` fixture: user -> ccache path, and the realm object.
CCACHES: dict[str, Path] = {}
REALM = None

IDENTITY_NAMES = {"x-remote-user", "x-remote-principal", "x-gssgate-credential",
                  "x-gssgate-assertion"}


def proxy_binary() -> str:
    return os.environ.get("GSSGATE_PROXY") or str(DEFAULT_PROXY)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def closed_port() -> int:
    """A loopback port with (very probably) nothing listening."""
    return free_port()


# ------------------------------------------------------------------------------- GSS client
def user_credentials(user: str) -> gssapi.Credentials:
    ccache = CCACHES[user]
    return gssapi.Credentials(usage="initiate", store={"ccache": f"FILE:{ccache}"})


def negotiate_start(user: str, service: str = "HTTP@localhost", delegate: bool = False):
    """Returns (client SecurityContext, base64 token) for `user` (a key of CCACHES)."""
    flags = gssapi.RequirementFlag.mutual_authentication
    if delegate:
        flags |= gssapi.RequirementFlag.delegate_to_peer
    ctx = gssapi.SecurityContext(
        name=gssapi.Name(service, gssapi.NameType.hostbased_service),
        usage="initiate", creds=user_credentials(user), mech=SPNEGO, flags=flags)
    token = ctx.step()
    text = base64.b64encode(token).decode()
    log_archive.record_secret(text)
    return ctx, text


def negotiate_token(user: str, service: str = "HTTP@localhost", delegate: bool = False) -> str:
    return negotiate_start(user, service, delegate)[1]


def auth_header(user: str, **kw) -> dict[str, str]:
    return {"Authorization": "Negotiate " + negotiate_token(user, **kw)}


def negotiate_reply_token(resp: "Response") -> str | None:
    """The base64 token of a `WWW-Authenticate: Negotiate <token>` response header."""
    for v in resp.header_values("WWW-Authenticate"):
        parts = v.strip().split(None, 1)
        if parts and parts[0].lower() == "negotiate" and len(parts) == 2:
            return parts[1].strip()
    return None


# ------------------------------------------------------------------------------- HTTP helpers
@dataclass
class Response:
    status: int
    reason: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    version: str = ""
    closed: bool = False  # the server closed the connection after this response

    def header(self, name: str) -> str | None:
        vals = self.header_values(name)
        return vals[0] if vals else None

    def header_values(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]

    @property
    def json(self):
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def upstream_headers(resp: Response) -> list[tuple[str, str]]:
    """The header list the echo upstream reported having received."""
    return [(k, v) for k, v in resp.json["headers"]]


def upstream_header_values(resp: Response, name: str) -> list[str]:
    return [v for k, v in upstream_headers(resp) if k.lower() == name.lower()]


def http_request(port: int, method: str = "GET", path: str = "/", headers=None, body=None,
                 timeout: float = 10, host: str = "127.0.0.1",
                 conn: http.client.HTTPConnection | None = None,
                 encode_chunked: bool = False) -> Response:
    """One request (on `conn` if given, else a fresh connection that is closed afterwards)."""
    own = conn is None
    if own:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=dict(headers or {}),
                     encode_chunked=encode_chunked)
        r = conn.getresponse()
        data = r.read()
        return Response(status=r.status, reason=r.reason, headers=list(r.getheaders()),
                        body=data, version=f"HTTP/{r.version / 10:.1f}",
                        closed=r.will_close)
    finally:
        if own:
            conn.close()


def proxy_metrics(p) -> dict[str, float]:
    """The proxy's /metrics (its admin listener) as {"name{labels}": value}."""
    out = {}
    for line in http_request(p.admin_port, path="/metrics").text.splitlines():
        if line and not line.startswith("#"):
            k, _, v = line.rpartition(" ")
            out[k] = float(v)
    return out


class RawResponseError(AssertionError):
    pass


def _read_response(sock: socket.socket, buf: bytearray, method: str = "GET") -> Response:
    def fill() -> bool:
        data = sock.recv(65536)
        if not data:
            return False
        buf.extend(data)
        return True

    while b"\r\n\r\n" not in buf:
        if not fill():
            raise RawResponseError(f"connection closed before a full response header; "
                                   f"got {bytes(buf[:200])!r}")
    head, _, rest = bytes(buf).partition(b"\r\n\r\n")
    del buf[:len(head) + 4]
    lines = head.decode("latin-1").split("\r\n")
    m = re.match(r"(HTTP/\d\.\d) (\d{3}) ?(.*)", lines[0])
    if not m:
        raise RawResponseError(f"bad status line {lines[0]!r}")
    headers = []
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers.append((k.strip(), v.strip()))
    resp = Response(status=int(m.group(2)), reason=m.group(3), headers=headers,
                    version=m.group(1))
    te = ",".join(resp.header_values("Transfer-Encoding")).lower()
    cl = resp.header("Content-Length")
    if method == "HEAD" or resp.status in (204, 304) or 100 <= resp.status < 200:
        body = b""
    elif "chunked" in te:
        body = bytearray()
        while True:
            while b"\r\n" not in buf:
                if not fill():
                    raise RawResponseError("closed in chunked response")
            line, _, _ = bytes(buf).partition(b"\r\n")
            del buf[:len(line) + 2]
            size = int(line.split(b";")[0], 16)
            if size == 0:
                while b"\r\n\r\n" not in buf and not buf.startswith(b"\r\n"):
                    if not fill():
                        break
                if buf.startswith(b"\r\n"):
                    del buf[:2]
                else:
                    idx = buf.find(b"\r\n\r\n")
                    del buf[:idx + 4]
                break
            while len(buf) < size + 2:
                if not fill():
                    raise RawResponseError("closed in chunk")
            body.extend(buf[:size])
            del buf[:size + 2]
        body = bytes(body)
    elif cl is not None:
        n = int(cl)
        while len(buf) < n:
            if not fill():
                raise RawResponseError("closed in body")
        body = bytes(buf[:n])
        del buf[:n]
    else:
        while fill():
            pass
        body = bytes(buf)
        buf.clear()
        resp.closed = True
    resp.body = body
    for value in resp.header_values("Set-Cookie"):
        log_archive.record_cookie_values(value.split(";", 1)[0])
    conn_hdr = ",".join(resp.header_values("Connection")).lower()
    if "close" in conn_hdr:
        resp.closed = True
    return resp


class RawConnection:
    """A plain TCP connection for sending exact bytes and reading responses."""

    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 10):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = bytearray()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def response(self, method: str = "GET") -> Response:
        return _read_response(self.sock, self.buf, method)

    def request(self, data: bytes, method: str = "GET") -> Response:
        self.send(data)
        return self.response(method)

    def is_closed_by_peer(self, wait: float = 2.0) -> bool:
        """True when the peer closed (EOF or reset) within `wait` seconds."""
        self.sock.settimeout(wait)
        try:
            data = self.sock.recv(1)
            return data == b""
        except socket.timeout:
            return False
        except ConnectionError:
            return True

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def raw_http(port: int, data: bytes, timeout: float = 10, method: str = "GET") -> Response:
    """Sends `data` verbatim on a new connection and returns the first response."""
    with RawConnection(port, timeout=timeout) as c:
        c.send(data)
        return c.response(method)


# ------------------------------------------------------------------------------- curl
@dataclass
class CurlResult:
    returncode: int
    status: int
    headers: list[tuple[str, str]]  # of the final response
    all_statuses: list[int]
    body: bytes
    stderr: str

    def header_values(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]

    @property
    def json(self):
        return json.loads(self.body)


def curl_negotiate(url: str, user: str, extra_args=(), timeout: float = 20,
                   delegate: bool = False) -> CurlResult:
    """`curl --negotiate -u :` as `user` (KRB5CCNAME set in curl's environment only).
    `url` should use host `localhost` (curl asks for HTTP@<host>); it is pinned to
    127.0.0.1 with --resolve."""
    curl = shutil.which("curl") or "/usr/bin/curl"
    m = re.match(r"https?://([^/:]+):(\d+)", url)
    # Headers (of every response, the 401 included) to stdout, the body to a temp file.
    with tempfile.NamedTemporaryFile(prefix="curl-body-", delete=False) as bf:
        body_path = bf.name
    args = [curl, "-sS", "--negotiate", "-u", ":", "-D", "-", "-o", body_path]
    if m:
        args += ["--resolve", f"{m.group(1)}:{m.group(2)}:127.0.0.1"]
    if delegate:
        args += ["--delegation", "always"]
    args += list(extra_args) + [url]
    env = dict(os.environ)
    env["KRB5CCNAME"] = f"FILE:{CCACHES[user]}"
    try:
        res = subprocess.run(args, capture_output=True, env=env, timeout=timeout)
        body = Path(body_path).read_bytes()
    finally:
        os.unlink(body_path)
    blocks = [b for b in res.stdout.decode("latin-1").split("\r\n\r\n") if b.strip()]
    statuses, headers = [], []
    for b in blocks:
        lines = b.strip("\r\n").split("\r\n")
        mm = re.match(r"HTTP/\S+ (\d{3})", lines[0])
        if not mm:
            continue
        statuses.append(int(mm.group(1)))
        headers = [(k.strip(), v.strip()) for k, _, v in
                   (ln.partition(":") for ln in lines[1:])]
    return CurlResult(res.returncode, statuses[-1] if statuses else 0, headers, statuses, body,
                      res.stderr.decode(errors="replace"))


# ------------------------------------------------------------------------------- YAML
def _yaml_scalar(v) -> str:
    if v is True:
        return "true"
    if v is False:
        return "false"
    if v is None:
        return "null"
    if isinstance(v, (int, float)):
        return str(v)
    return json.dumps(str(v))  # a JSON string is a valid YAML double-quoted scalar


def to_yaml(obj, indent: int = 0) -> str:
    """Block-style YAML for dicts/lists/scalars (enough for proxy configs)."""
    pad = "  " * indent
    out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(v, dict) and v:
                out.append(f"{pad}{k}:\n{to_yaml(v, indent + 1)}")
            elif isinstance(v, list) and v and any(isinstance(i, (dict, list)) for i in v):
                out.append(f"{pad}{k}:\n{to_yaml(v, indent + 1)}")
            elif isinstance(v, list):
                out.append(f"{pad}{k}: [{', '.join(_yaml_scalar(i) for i in v)}]")
            elif isinstance(v, dict):
                out.append(f"{pad}{k}: {{}}")
            else:
                out.append(f"{pad}{k}: {_yaml_scalar(v)}")
    elif isinstance(obj, list):
        for item in obj:
            if isinstance(item, dict):
                body = to_yaml(item, indent + 1).split("\n")
                first = body[0][len(pad) + 2:]
                out.append(f"{pad}- {first}")
                out.extend(body[1:])
            else:
                out.append(f"{pad}- {_yaml_scalar(item)}")
    else:
        out.append(pad + _yaml_scalar(obj))
    return "\n".join(line for line in "\n".join(out).split("\n") if line != "")


def deep_merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = v
    return out


# ------------------------------------------------------------------------------- the proxy
class ProxyStartError(AssertionError):
    pass


class ProxyProcess:
    """A gssgate-proxy started from a config dict; see the `proxy` fixture."""

    def __init__(self, config: dict, workdir: Path, env: dict[str, str], name: str = "proxy"):
        self.config = config
        self.workdir = workdir
        self.env = env
        self.name = name
        self.config_path = workdir / f"{name}.yaml"
        self.log_path = log_archive.log_path(workdir / f"{name}.log", name)
        self.proc: subprocess.Popen | None = None
        self.checked_exit = False
        self.preexec_fn = None  # run in the child before exec (e.g. resource limits)

    # ---- addresses
    @property
    def port(self) -> int:
        return int(self.config["listen"].rsplit(":", 1)[1])

    @property
    def admin_port(self) -> int | None:
        a = self.config.get("admin_listen")
        return int(a.rsplit(":", 1)[1]) if a else None

    def url(self, path: str = "/", host: str = "localhost") -> str:
        return f"http://{host}:{self.port}{path}"

    # ---- config
    def write_config(self, config: dict | None = None, text: str | None = None) -> None:
        if text is None:
            if config is not None:
                self.config = config
            text = to_yaml(self.config) + "\n"
        self.config_path.write_text(text)

    # ---- process
    def start(self, wait_ready: bool = True, timeout: float = 10) -> "ProxyProcess":
        self.write_config()
        self._logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen([proxy_binary(), "--config", str(self.config_path)],
                                     stdin=subprocess.DEVNULL, stdout=self._logf,
                                     stderr=self._logf, env=self.env, cwd=self.workdir,
                                     preexec_fn=self.preexec_fn)
        if wait_ready:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            rc = self.proc.poll()
            if rc is not None:
                raise ProxyStartError(f"gssgate-proxy exited with {rc} during start-up; "
                                      f"log:\n{self.log_tail()}")
            try:
                if self.admin_port:
                    r = http_request(self.admin_port, path="/readyz", timeout=1)
                    if r.status == 200:
                        return
                    last = f"/readyz {r.status}"
                else:
                    with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                        return
            except OSError as e:
                last = str(e)
            time.sleep(0.02)
        raise ProxyStartError(f"gssgate-proxy not ready within {timeout}s ({last}); "
                              f"log:\n{self.log_tail()}")

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, n: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-n:])

    def wait_for_log(self, pattern: str, timeout: float = 5, start: int = 0) -> str | None:
        """Waits until a log line (after byte offset `start`) matches regex `pattern`."""
        rx = re.compile(pattern, re.IGNORECASE)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.log_text()[start:].splitlines():
                if rx.search(line):
                    return line
            time.sleep(0.05)
        return None

    def log_size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except FileNotFoundError:
            return 0

    def signal(self, sig) -> None:
        self.proc.send_signal(sig)

    def reload(self, config: dict | None = None, text: str | None = None) -> None:
        self.write_config(config, text)
        self.signal(signal.SIGHUP)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def terminate_and_check(self, timeout: float = 10) -> int:
        """SIGTERM; the process must exit 0 within `timeout` seconds."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"gssgate-proxy did not exit within {timeout}s of SIGTERM; "
                                 f"log:\n{self.log_tail()}")
        finally:
            if getattr(self, "_logf", None) is not None:
                self._logf.close()
        self.checked_exit = True
        assert rc == 0, f"gssgate-proxy exited with {rc} after SIGTERM; log:\n{self.log_tail()}"
        return rc

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if getattr(self, "_logf", None) is not None:
            self._logf.close()


def assert_clean_error(resp: Response) -> None:
    """An error response must not leak GSS/krb5 internals to the client."""
    body = resp.text.lower()
    for word in ("gss_", "gssapi", "gss-api", "gss api", "krb5", "minor", "major", "keytab",
                 "traceback", "exception", "unspecified", "miscellaneous", "replay",
                 "checksum", "decrypt", "skew", "rcache", "ccache", "database"):
        assert word not in body, f"error body leaks '{word}': {resp.text!r}"
    assert len(resp.body) < 1024, f"error body unexpectedly long: {resp.text[:300]!r}"


# ------------------------------------------------------------------------------- configs
def base_config(realm, upstream_url: str) -> dict:
    return {
        "listen": f"127.0.0.1:{free_port()}",
        "admin_listen": f"127.0.0.1:{free_port()}",
        "upstream": upstream_url,
        "keytab": str(realm.http_keytab),
        "threads": 2,
        "routes": [
            {"path": "/public", "auth": "none"},
            {"path": "/", "auth": "negotiate"},
        ],
        "timeouts": {"drain": "5s"},
        "log": {"level": "debug", "format": "text"},
    }


def proxy_env(realm, workdir: Path) -> dict[str, str]:
    env = dict(os.environ)
    renv = realm.env()
    env["KRB5_CONFIG"] = renv["KRB5_CONFIG"]
    env["KRB5_KDC_PROFILE"] = renv["KRB5_KDC_PROFILE"]
    rc = workdir / "rcache"
    rc.mkdir(exist_ok=True, mode=0o700)
    env["KRB5RCACHEDIR"] = str(rc)  # each proxy its own replay cache
    env["KRB5CCNAME"] = f"FILE:{workdir / 'proxy-has-no-ccache'}"
    env.pop("KRB5_KTNAME", None)
    env.pop("KRB5_TRACE", None)
    return env
