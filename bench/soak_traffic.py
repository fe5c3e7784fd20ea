#!/usr/bin/python3
"""Hostile traffic for bench/soak.py: malformed requests at a fixed rate and slowloris
connections, against gssgate-proxy on 127.0.0.1, for a fixed time; prints one JSON object.

    /usr/bin/python3 bench/soak_traffic.py --port 8080 --rate 100 --slowloris 50 \\
        --header-timeout 5 --duration 600 [--mint-sample]

Malformed kinds (each on a new connection, sent whole; the expected answer in brackets):
garbage base64 [400], random bytes as a token [400], a truncated real token [400], an NTLM
Type 1 message inside `Negotiate` [403] and as `NTLM` [403], Content-Length together with
Transfer-Encoding [400], a request line that is not HTTP [400], a header over
limits.header_bytes [431], no Authorization at all [401]. Any other status, a 5xx, a close
without an answer or a timeout counts as a failure.

Slowloris: each connection sends a request line and then one header line every
--drip seconds, never the blank line; the proxy's header timeout must close it. It counts how
long each lasted; one that outlives --header-timeout + --slack is a failure. A closed one is
replaced at once, so --slowloris connections are open all the time.

Also `idle` mode (used by soak.py as a library: open_idle/check_idle) for held keep-alive
connections. Single-threaded asyncio; only 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import socket
import sys
import time

NTLM_TYPE1 = base64.b64encode(
    b"NTLMSSP\x00\x01\x00\x00\x00\x07\x82\x08\xa2" + b"\x00" * 16).decode()


def malformed_kinds(port: int, header_bytes: int, sample_token: str) -> list[tuple]:
    """(name, raw request bytes, expected status)."""
    host = f"Host: 127.0.0.1:{port}\r\n"

    def get(auth: str | None, path: str = "/soak/bad") -> bytes:
        line = f"Authorization: {auth}\r\n" if auth is not None else ""
        return f"GET {path} HTTP/1.1\r\n{host}{line}\r\n".encode()

    random_token = base64.b64encode(random.randbytes(600)).decode()
    truncated = sample_token[: len(sample_token) // 2] if sample_token else random_token[:40]
    # Cut on a base64 quantum so it is valid base64 of a cut DER token (malformed, not base64).
    truncated = truncated[: len(truncated) // 4 * 4]
    # Bytes that only look like a GSS token may be refused as malformed (400) or, if they pass
    # the pre-check, by the acceptor (401): both are right, neither may be a 5xx.
    return [
        ("garbage_base64", get("Negotiate !!!not*base64!!!"), {400}),
        ("random_token", get(f"Negotiate {random_token}"), {400, 401}),
        ("truncated_token", get(f"Negotiate {truncated}"), {400, 401}),
        ("ntlm_in_negotiate", get(f"Negotiate {NTLM_TYPE1}"), {403}),
        ("ntlm_scheme", get(f"NTLM {NTLM_TYPE1}"), {403}),
        ("cl_and_te", (f"POST /soak/bad HTTP/1.1\r\n{host}Content-Length: 5\r\n"
                       "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n").encode(), {400}),
        ("not_http", b"HELLO there\r\n\r\n", {400}),
        # The bytes past the limit stay unread, so the close may reset the connection before
        # the 431 is read (RFC 9112 9.6): a reset is accepted here, nothing else.
        ("header_too_large", (f"GET /soak/bad HTTP/1.1\r\n{host}X-Pad: "
                              + "a" * (header_bytes + 1024) + "\r\n\r\n").encode(),
         {431, "reset"}),
        ("no_authorization", get(None), {401}),
    ]


async def read_status(reader: asyncio.StreamReader) -> int | None:
    """The status code of the first response, or None if the connection ended first."""
    line = await reader.readline()
    if not line:
        return None
    parts = line.split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
        return -1
    try:
        return int(parts[1])
    except ValueError:
        return -1


class Malformed:
    def __init__(self, port: int, kinds: list[tuple], timeout: float) -> None:
        self.port = port
        self.kinds = kinds
        self.timeout = timeout
        self.sent = 0
        self.statuses: dict[str, dict[str, int]] = {k[0]: {} for k in kinds}
        self.failures: dict[str, int] = {}
        self.examples: list[str] = []
        self.server_errors = 0

    def _fail(self, what: str) -> None:
        self.failures[what] = self.failures.get(what, 0) + 1
        if len(self.examples) < 10:
            self.examples.append(what)

    async def one(self, i: int) -> None:
        name, data, want = self.kinds[i % len(self.kinds)]
        self.sent += 1
        writer = None
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", self.port), self.timeout)
            writer.write(data)
            await writer.drain()
            status = await asyncio.wait_for(read_status(reader), self.timeout)
        except asyncio.TimeoutError:
            return self._fail(f"{name}: timeout")
        except ConnectionResetError as e:
            if "reset" not in want:
                return self._fail(f"{name}: {type(e).__name__}")
            status = "reset"
        except (ConnectionError, OSError) as e:
            return self._fail(f"{name}: {type(e).__name__}")
        finally:
            if writer is not None:
                writer.close()
        key = str(status)
        self.statuses[name][key] = self.statuses[name].get(key, 0) + 1
        if isinstance(status, int) and status >= 500:
            self.server_errors += 1
        if status not in want:
            self._fail(f"{name}: got {status}, want {sorted(map(str, want))}")

    async def run(self, rate: float, until: float) -> None:
        tasks: set[asyncio.Task] = set()
        t0 = time.monotonic()
        i = 0
        while True:
            due = t0 + i / rate
            if due >= until:
                break
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(self.one(i))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            i += 1
        if tasks:
            await asyncio.wait(tasks, timeout=self.timeout + 5)


class Slowloris:
    def __init__(self, port: int, header_timeout: float, slack: float, drip: float) -> None:
        self.port = port
        self.limit = header_timeout + slack
        self.drip = drip
        self.opened = 0
        self.cut = 0
        self.answered: dict[str, int] = {}  # a status line sent before closing (408, ...)
        self.lived: list[float] = []
        self.too_long = 0
        self.connect_failures = 0

    async def one(self, until: float) -> None:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        except OSError:
            self.connect_failures += 1
            await asyncio.sleep(0.5)
            return
        self.opened += 1
        start = time.monotonic()
        try:
            writer.write(f"GET /soak/slow HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n".encode())
            n = 0
            while time.monotonic() < until:
                # Wait for the drip interval or for the proxy to close or answer.
                try:
                    data = await asyncio.wait_for(reader.read(4096), self.drip)
                except asyncio.TimeoutError:
                    data = None
                if data is not None:
                    if data:
                        key = data.split(b" ", 2)[1].decode(errors="replace") \
                            if data.startswith(b"HTTP/") else "junk"
                        self.answered[key] = self.answered.get(key, 0) + 1
                    break  # closed (or answered and about to close)
                n += 1
                writer.write(f"X-Slow-{n}: {'x' * 8}\r\n".encode())
                await writer.drain()
            else:
                return  # the phase ended first: not a cut, not counted
            lived = time.monotonic() - start
            self.cut += 1
            self.lived.append(lived)
            if lived > self.limit:
                self.too_long += 1
        except (ConnectionError, OSError):
            lived = time.monotonic() - start
            self.cut += 1
            self.lived.append(lived)
            if lived > self.limit:
                self.too_long += 1
        finally:
            writer.close()

    async def keep(self, until: float) -> None:
        while time.monotonic() < until:
            await self.one(until)

    async def run(self, count: int, until: float) -> None:
        # Spread the starts over a header timeout so the cuts do not all come at once.
        async def staggered(k: int) -> None:
            await asyncio.sleep(random.random() * min(self.limit, 5.0))
            await self.keep(until)
        await asyncio.gather(*(staggered(k) for k in range(count)))


def mint_sample_token() -> str:
    """One real SPNEGO token for HTTP@localhost from KRB5CCNAME (to be truncated), or ""."""
    try:
        import gssapi
        ctx = gssapi.SecurityContext(
            name=gssapi.Name("HTTP@localhost", gssapi.NameType.hostbased_service),
            usage="initiate", mech=gssapi.OID.from_int_seq("1.3.6.1.5.5.2"))
        return base64.b64encode(ctx.step()).decode()
    except Exception:  # no python3-gssapi or no ticket: random bytes stand in
        return ""


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(round(p / 100 * len(s))) - 1))]


async def hostile(args: argparse.Namespace) -> dict:
    sample = mint_sample_token() if args.mint_sample else ""
    kinds = malformed_kinds(args.port, args.header_bytes, sample)
    mal = Malformed(args.port, kinds, args.timeout)
    slow = Slowloris(args.port, args.header_timeout, args.slack, args.drip)
    until = time.monotonic() + args.duration
    jobs = []
    if args.rate > 0:
        jobs.append(mal.run(args.rate, until))
    if args.slowloris > 0:
        jobs.append(slow.run(args.slowloris, until))
    await asyncio.gather(*jobs)
    return {
        "malformed": {"rate": args.rate, "sent": mal.sent, "statuses": mal.statuses,
                      "failures": mal.failures, "examples": mal.examples,
                      "server_errors": mal.server_errors,
                      "expected": {k[0]: sorted(map(str, k[2])) for k in kinds},
                      "truncated_real_token": bool(sample)},
        "slowloris": {"connections": args.slowloris, "opened": slow.opened, "cut": slow.cut,
                      "lived_p50_s": percentile(slow.lived, 50),
                      "lived_max_s": max(slow.lived) if slow.lived else None,
                      "limit_s": slow.limit, "too_long": slow.too_long,
                      "answered": slow.answered, "connect_failures": slow.connect_failures},
    }


# ------------------------------------------------------------------------------ idle (library)

def open_idle(port: int, count: int, path: str = "/public/idle", batch: int = 250,
              timeout: float = 30.0) -> tuple[list[socket.socket], dict[str, int]]:
    """Opens `count` keep-alive connections, each after one complete request and its whole
    response; returns the sockets (held open, idle) and the status counts."""
    socks: list[socket.socket] = []
    statuses: dict[str, int] = {}
    req = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    for start in range(0, count, batch):
        group = []
        for _ in range(min(batch, count - start)):
            s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
            s.sendall(req)
            group.append(s)
        for s in group:
            status = _read_response(s)
            key = str(status)
            statuses[key] = statuses.get(key, 0) + 1
            s.setblocking(False)
            socks.append(s)
    return socks, statuses


def _read_response(s: socket.socket) -> int | None:
    """Reads one response with a Content-Length body; returns its status (None: closed)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            return None
        buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = s.recv(65536)
        if not chunk:
            return None
        body += chunk
    return int(head.split(b" ", 2)[1])


def check_idle(socks: list[socket.socket]) -> int:
    """How many of `socks` are still open (no EOF, no reset, no unexpected bytes)."""
    alive = 0
    for s in socks:
        try:
            data = s.recv(1, socket.MSG_PEEK)
            if data:
                continue  # the proxy sent something unasked: not an idle keep-alive
        except BlockingIOError:
            alive += 1
        except OSError:
            pass
    return alive


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--rate", type=float, default=100.0, help="malformed requests/s (100)")
    p.add_argument("--slowloris", type=int, default=50, help="slowloris connections (50)")
    p.add_argument("--header-timeout", type=float, default=10.0,
                   help="the proxy's timeouts.header in seconds (10)")
    p.add_argument("--slack", type=float, default=3.0,
                   help="a slowloris connection may outlive the header timeout by this (3)")
    p.add_argument("--drip", type=float, default=1.0, help="seconds between header lines (1)")
    p.add_argument("--header-bytes", type=int, default=65536,
                   help="the proxy's limits.header_bytes (65536)")
    p.add_argument("--duration", type=float, default=60.0)
    p.add_argument("--timeout", type=float, default=10.0, help="per malformed request (10)")
    p.add_argument("--mint-sample", action="store_true",
                   help="mint one real token (KRB5CCNAME) for the truncated-token kind")
    p.add_argument("--out", help="write the JSON here instead of stdout")
    args = p.parse_args()
    try:
        import resource
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError):
        pass
    result = asyncio.run(hostile(args))
    text = json.dumps(result)
    if args.out:
        tmp = args.out + ".tmp"
        with open(tmp, "w") as f:
            f.write(text + "\n")
        os.replace(tmp, args.out)
    else:
        print(text, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
