#!/usr/bin/python3
"""An HTTP/1.1 echo server to stand behind gssgate-proxy in tests.

Every request is answered with JSON describing exactly what arrived:

    {"method": "GET", "path": "/x?y=1", "version": "HTTP/1.1",
     "headers": [["Host", "..."], ...],      # order and case as received, duplicates kept
     "body_len": 0, "body_sha256": "...", "chunked": false,
     "conn": 3, "conn_requests": 1}           # connection number, requests on it so far

Special paths (matched on the last path segment, so /public/slow works too):
    /slow?delay=S     sleep S seconds, then answer
    /big?bytes=N      stream an N-byte body back with Transfer-Encoding: chunked
                      (content = big_body(N); header X-Body-Sha256 carries its sha256)
    /status?code=N    answer with status N (JSON body unless N is 1xx/204/304)

Chunked request bodies are decoded here (not by http.server); Content-Length bodies are read.

Library use:
    srv = EchoUpstream(port=0)            # or EchoUpstream(unix_path="/tmp/x.sock")
    srv.start(); srv.port; srv.url; srv.requests (list of the JSON dicts); srv.stop()
    EchoUpstream(tls_context=ctx)         # HTTPS (ctx: a server ssl.SSLContext); srv.url is
                                          # https://...; srv.tls_errors lists failed handshakes
                                          # (ssl error text), srv.sni_names the SNI each sent
CLI:
    /usr/bin/python3 echo_upstream.py [--port N | --unix PATH]   # prints "PORT" when ready
"""

from __future__ import annotations

import argparse
import hashlib
import http.server
import json
import os
import signal
import socket
import socketserver
import ssl
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import log_archive  # noqa: E402

BIG_BLOCK = bytes((i * 7 + 3) % 256 for i in range(65536))


def big_body_chunks(n: int, chunk: int = 65536):
    """The deterministic content of /big?bytes=n, as chunks."""
    left = n
    while left > 0:
        k = min(left, chunk, len(BIG_BLOCK))
        yield BIG_BLOCK[:k]
        left -= k


def big_body_sha256(n: int) -> str:
    h = hashlib.sha256()
    for c in big_body_chunks(n):
        h.update(c)
    return h.hexdigest()


class BadRequest(Exception):
    pass


class EchoHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "echo-upstream/1"
    sys_version = ""

    def version_string(self):
        return self.server_version
    timeout = 60  # socket timeout per read

    # Buffered writes, flushed once per response: header and body leave in one segment, so
    # Nagle + delayed ACK cannot add 40 ms per request.
    wbufsize = 256 * 1024

    def setup(self):
        super().setup()
        if self.connection.family in (socket.AF_INET, socket.AF_INET6):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.lock:
            self.server.conn_counter += 1
            self.conn_id = self.server.conn_counter
        self.conn_requests = 0

    def address_string(self):
        ca = self.client_address
        return ca[0] if isinstance(ca, tuple) and ca else "unix"

    def log_message(self, format, *args):  # noqa: A002 - quiet unless asked
        if self.server.verbose:
            sys.stderr.write("echo-upstream: " + (format % args) + "\n")

    def handle_expect_100(self):
        ok = super().handle_expect_100()
        self.wfile.flush()
        return ok

    # ---------------------------------------------------------------- body reading
    def _read_line(self) -> bytes:
        line = self.rfile.readline(65537)
        if len(line) > 65536:
            raise BadRequest("chunk line too long")
        if not line:
            raise BadRequest("connection closed in chunked body")
        return line

    def _read_body(self, h):
        """Returns (body_len, sha256 hex, chunked)."""
        te = [v for k, v in self.headers.items() if k.lower() == "transfer-encoding"]
        cl = [v for k, v in self.headers.items() if k.lower() == "content-length"]
        digest = hashlib.sha256()
        total = 0
        if te:
            if len(te) != 1 or te[0].strip().lower() != "chunked" or cl:
                raise BadRequest(f"unsupported framing TE={te} CL={cl}")
            while True:
                line = self._read_line()
                size_txt = line.split(b";", 1)[0].strip()
                try:
                    size = int(size_txt, 16)
                except ValueError:
                    raise BadRequest(f"bad chunk size {line!r}")
                if size == 0:
                    # trailers until the empty line
                    while self._read_line() not in (b"\r\n", b"\n"):
                        pass
                    break
                left = size
                while left:
                    data = self.rfile.read(min(left, 1 << 20))
                    if not data:
                        raise BadRequest("connection closed in chunk")
                    digest.update(data)
                    left -= len(data)
                    total += len(data)
                if self.rfile.read(2) != b"\r\n":
                    raise BadRequest("chunk not followed by CRLF")
            return total, digest.hexdigest(), True
        if cl:
            if len(set(cl)) != 1 or not cl[0].strip().isdigit():
                raise BadRequest(f"bad Content-Length {cl}")
            left = int(cl[0])
            while left:
                data = self.rfile.read(min(left, 1 << 20))
                if not data:
                    raise BadRequest("connection closed in body")
                digest.update(data)
                left -= len(data)
                total += len(data)
        return total, digest.hexdigest(), False

    # ---------------------------------------------------------------- dispatch
    def handle_one_request(self):
        # Same as the base class but dispatches every method to _serve().
        try:
            self.raw_requestline = self.rfile.readline(65537)
            if len(self.raw_requestline) > 65536:
                self.requestline = ""
                self.request_version = ""
                self.command = ""
                self.send_error(414)
                return
            if not self.raw_requestline:
                self.close_connection = True
                return
            if not self.parse_request():
                return
            self._serve()
            self.wfile.flush()
        except (socket.timeout, TimeoutError, ConnectionError, BrokenPipeError):
            self.close_connection = True

    def _serve(self):
        self.conn_requests += 1
        try:
            body_len, body_sha, chunked = self._read_body(self.headers)
        except BadRequest as e:
            self._send_json(400, {"error": str(e)}, close=True)
            return
        for k, v in self.headers.items():
            key = k.lower()
            if key in ("x-gssgate-credential", "x-gssgate-assertion", "authorization"):
                log_archive.record_secret(v.split(" ", 1)[-1])
            elif key == "cookie":
                log_archive.record_cookie_values(v)
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        # Special paths match on the last segment, so /slow and /public/slow both work.
        leaf = url.path.rsplit("/", 1)[-1]
        info = {
            "method": self.command,
            "path": self.path,
            "version": self.request_version,
            "headers": [[k, v] for k, v in self.headers.items()],
            "body_len": body_len,
            "body_sha256": body_sha,
            "chunked": chunked,
            "conn": self.conn_id,
            "conn_requests": self.conn_requests,
        }
        with self.server.lock:
            self.server.requests.append(info)
            self.server.inflight += 1
        try:
            if leaf == "slow":
                delay = float(query.get("delay", ["1"])[0])
                self.server.slow_started.set()
                time.sleep(delay)
                self._send_json(200, info)
            elif leaf == "big":
                self._send_big(int(query.get("bytes", ["0"])[0]))
            elif leaf == "status":
                self._send_json(int(query.get("code", ["200"])[0]), info)
            else:
                self._send_json(200, info)
        finally:
            with self.server.lock:
                self.server.inflight -= 1

    def _send_json(self, code: int, obj, close: bool = False):
        self.send_response(code)
        no_body = code < 200 or code in (204, 304)
        data = b"" if no_body else (json.dumps(obj) + "\n").encode()
        if not no_body:
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if data and self.command != "HEAD":
            self.wfile.write(data)

    def _send_big(self, n: int):
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("X-Body-Sha256", big_body_sha256(n))
        self.send_header("X-Body-Length", str(n))
        self.end_headers()
        if self.command == "HEAD":
            return
        for chunk in big_body_chunks(n):
            self.wfile.write(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
        self.wfile.write(b"0\r\n\r\n")


class _State:
    def _init_state(self, verbose: bool):
        self.lock = threading.Lock()
        self.requests: list[dict] = []
        self.conn_counter = 0
        self.inflight = 0
        self.slow_started = threading.Event()
        self.verbose = verbose
        self.tls_context: ssl.SSLContext | None = None
        self.tls_errors: list[str] = []
        self.sni_names: list[str | None] = []

    def finish_request(self, request, client_address):
        # TLS: the handshake runs here, in the connection's own thread (not in accept()), so
        # a client that stalls or fails it never blocks the others.
        if isinstance(request, ssl.SSLSocket):
            request.settimeout(10)
            try:
                request.do_handshake()
            except (OSError, ValueError) as e:
                with self.lock:
                    self.tls_errors.append(str(e))
                return
        super().finish_request(request, client_address)


class ThreadingTCPEcho(_State, socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def get_request(self):
        sock, addr = super().get_request()
        if self.tls_context is not None:
            sock = self.tls_context.wrap_socket(sock, server_side=True,
                                                do_handshake_on_connect=False)
        return sock, addr


class ThreadingUnixEcho(_State, socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    request_queue_size = 128


class EchoUpstream:
    """The echo server in a background thread of this process."""

    def __init__(self, port: int = 0, host: str = "127.0.0.1", unix_path: str | None = None,
                 verbose: bool = False, tls_context: ssl.SSLContext | None = None):
        """`tls_context` (TCP only): serve HTTPS with it; its sni_callback is replaced by one
        that records the SNI of every handshake in `sni_names`."""
        if unix_path:
            unix_path = str(unix_path)
            if os.path.exists(unix_path):
                os.unlink(unix_path)
            self.server = ThreadingUnixEcho(unix_path, EchoHandler)
            self.port = None
        else:
            self.server = ThreadingTCPEcho((host, port), EchoHandler)
            self.port = self.server.server_address[1]
        self.server._init_state(verbose)
        if tls_context is not None:
            if unix_path:
                raise ValueError("tls_context needs a TCP listener")
            state = self.server

            def record_sni(_sslobj, name, _ctx):
                with state.lock:
                    state.sni_names.append(name)
                return None

            tls_context.sni_callback = record_sni
            self.server.tls_context = tls_context
        self.host = host
        self.unix_path = unix_path
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self.unix_path:
            return f"unix:{self.unix_path}"
        scheme = "https" if self.server.tls_context is not None else "http"
        return f"{scheme}://{self.host}:{self.port}"

    @property
    def tls_errors(self) -> list[str]:
        with self.server.lock:
            return list(self.server.tls_errors)

    @property
    def sni_names(self) -> list[str | None]:
        with self.server.lock:
            return list(self.server.sni_names)

    @property
    def requests(self) -> list[dict]:
        with self.server.lock:
            return list(self.server.requests)

    @property
    def inflight(self) -> int:
        with self.server.lock:
            return self.server.inflight

    @property
    def slow_started(self) -> threading.Event:
        return self.server.slow_started

    def clear(self) -> None:
        with self.server.lock:
            self.server.requests.clear()
        self.server.slow_started.clear()

    def start(self) -> "EchoUpstream":
        self._thread = threading.Thread(target=self.server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True,
                                        name="echo-upstream")
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        if self._thread:
            self._thread.join(timeout=5)
        if self.unix_path and os.path.exists(self.unix_path):
            os.unlink(self.unix_path)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="HTTP/1.1 echo upstream for gssgate tests")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0 = random)")
    g.add_argument("--unix", help="listen on this unix socket path instead")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--verbose", action="store_true")
    args = p.parse_args(argv)
    srv = EchoUpstream(port=args.port, host=args.host, unix_path=args.unix,
                       verbose=args.verbose)
    print(args.unix if args.unix else srv.port, flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    srv.start()
    stop.wait()
    srv.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
