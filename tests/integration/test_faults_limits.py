"""Descriptor exhaustion (issue 7, item 4): the proxy runs with `ulimit -n 256` (RLIMIT_NOFILE
256, soft and hard) and 1,000 clients connect at once, each asking for a response that takes
0.5 s upstream. The proxy must not crash or spin, must answer every client or close its
connection within a bound, and must serve normally (a Negotiate sign-in) promptly once the
clients are gone.

Existing coverage this file does not repeat: test_proxy_flood.py (4,000 bad tokens on 4
keep-alive connections: statuses and memory), test_proxy_streaming.py (500 requests on one
connection).

| setting | degraded | recovery |
|---|---|---|
| `limits.max_connections: 64` (2 x 64 + 64 reserved <= 256) | connections beyond 64 are closed at accept (`gssgate_proxy_connections_refused_total`), those accepted all get 200, no 5xx | a sign-in: 200 within 1 s |
| default `max_connections` (10000, above the descriptor limit) | a start-up warning; accept fails with EMFILE and the proxy backs off (50 ms) instead of spinning; clients wait in the backlog and are served as descriptors free up; upstream connects that find no descriptor are 502; only 200/502 | a sign-in: 200 within 1 s |

"Not spinning" is measured: the proxy's CPU time (utime+stime from /proc) while saturated, and
while idle afterwards.
"""

from __future__ import annotations

import asyncio
import collections
import os
import resource
import time

import pytest

import proxytest
from proxytest import http_request, negotiate_token

CLIENTS = 1000
NOFILE = 256
UPSTREAM_DELAY = 0.5
CLIENT_TIMEOUT = 40.0  # a client that gets neither a response nor a close by then: "hung"
TICKS = os.sysconf("SC_CLK_TCK")


def _limit_nofile():
    resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, NOFILE))


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


async def _one_client(port: int, results: collections.Counter) -> None:
    t0 = time.monotonic()
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port), timeout=CLIENT_TIMEOUT)
    except (OSError, asyncio.TimeoutError):
        results["connect_failed"] += 1
        return
    try:
        writer.write(f"GET /public/slow?delay={UPSTREAM_DELAY} HTTP/1.1\r\nHost: x\r\n"
                     f"Connection: close\r\n\r\n".encode())
        await writer.drain()
        left = CLIENT_TIMEOUT - (time.monotonic() - t0)
        data = await asyncio.wait_for(reader.read(), timeout=max(left, 0.1))
        if not data:
            results["closed"] += 1
        elif data.startswith(b"HTTP/1.1 "):
            results[int(data[9:12])] += 1
        else:
            results["garbage"] += 1
    except (ConnectionError, OSError):
        results["closed"] += 1
    except asyncio.TimeoutError:
        results["hung"] += 1
    finally:
        writer.close()


def flood(port: int, pid: int) -> tuple[collections.Counter, float, float]:
    """Runs the 1,000 clients; returns (outcome counts, wall seconds, proxy CPU seconds)."""
    results: collections.Counter = collections.Counter()
    cpu0, t0 = cpu_seconds(pid), time.monotonic()

    async def main():
        await asyncio.gather(*(_one_client(port, results) for _ in range(CLIENTS)))

    asyncio.run(main())
    return results, time.monotonic() - t0, cpu_seconds(pid) - cpu0


def assert_recovers(p) -> None:
    """Idle afterwards (no spinning), and a real sign-in is served promptly."""
    time.sleep(0.5)
    cpu0 = cpu_seconds(p.proc.pid)
    time.sleep(1.0)
    idle = cpu_seconds(p.proc.pid) - cpu0
    assert idle < 0.1, f"the proxy used {idle:.2f} s of CPU in 1 s with no clients (spinning?)"
    t0 = time.monotonic()
    r = http_request(p.port, headers={"Authorization": "Negotiate " + negotiate_token("alice")})
    took = time.monotonic() - t0
    assert r.status == 200, r
    assert proxytest.upstream_header_values(r, "X-Remote-User") == ["alice"]
    assert took < 1.0, f"the first sign-in after the flood took {took:.2f} s"
    assert p.alive()


def metric(p, name: str) -> int:
    import re
    text = http_request(p.admin_port, path="/metrics").text
    m = re.search(rf"^{re.escape(name)} (\d+)$", text, re.M)
    assert m, f"{name} missing from /metrics"
    return int(m.group(1))


@pytest.fixture(scope="module", autouse=True)
def enough_client_descriptors():
    """The 1,000 clients live in this process: raise its own soft limit (not the proxy's)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = CLIENTS + 1024  # the clients, the echo upstream's side of each, pytest itself
    if soft != resource.RLIM_INFINITY and soft < want:
        if hard != resource.RLIM_INFINITY and hard < want:
            pytest.skip(f"RLIMIT_NOFILE hard limit {hard} < {want}: cannot run {CLIENTS} "
                        f"clients in the test process")
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.fixture
def limited_proxy(proxy):
    def start(**overrides):
        p = proxy(_start=False, **overrides)
        p.preexec_fn = _limit_nofile
        p.start()
        with open(f"/proc/{p.proc.pid}/limits") as f:
            assert any(line.startswith("Max open files") and f" {NOFILE} " in line
                       for line in f), "RLIMIT_NOFILE was not applied"
        return p
    return start


def test_max_connections_within_the_descriptor_limit(limited_proxy):
    # 2 * 64 + 64 reserved = 192 <= 256: every accepted client can have its upstream connection.
    p = limited_proxy(limits={"max_connections": 64})
    assert "RLIMIT_NOFILE" not in p.log_text()
    results, wall, cpu = flood(p.port, p.proc.pid)
    print(f"flood: {dict(results)} in {wall:.1f} s, proxy CPU {cpu:.2f} s")
    assert p.alive(), f"the proxy died; log:\n{p.log_tail()}"
    assert results["hung"] == 0 and results["connect_failed"] == 0, results
    assert set(results) <= {200, "closed"}, f"unexpected outcomes: {results}"
    assert results[200] >= 64, results
    refused = metric(p, "gssgate_proxy_connections_refused_total")
    assert refused >= results["closed"] > 0, (refused, results)
    assert cpu < 0.5 * wall, f"{cpu:.1f} s of proxy CPU in {wall:.1f} s"
    assert open_fds(p.proc.pid) < NOFILE
    assert_recovers(p)


def _ubsan_vptr_checks(binary: str) -> bool:
    with open(binary, "rb") as f:
        return b"__ubsan_handle_dynamic_type_cache_miss" in f.read()


# UBSan's vptr check probes the memory it inspects through a pipe; with every descriptor in use
# the pipe cannot be made, and it reports a false "invalid vptr" (seen in Beast's parser
# constructor) and stops the process. The Release run covers this test; the ASan run skips it.
@pytest.mark.skipif(_ubsan_vptr_checks(proxytest.proxy_binary()),
                    reason="UBSan's vptr check needs a free descriptor; see the comment above")
def test_descriptor_limit_below_max_connections(limited_proxy):
    p = limited_proxy()  # max_connections 10000 > 256 descriptors: accept() hits EMFILE
    assert p.wait_for_log(r"warn.*limits.max_connections 10000 needs up to 20064 open files.*"
                          r"RLIMIT_NOFILE is 256"), "no start-up warning about the fd limit"
    start = p.log_size()
    results, wall, cpu = flood(p.port, p.proc.pid)
    print(f"flood: {dict(results)} in {wall:.1f} s, proxy CPU {cpu:.2f} s")
    assert p.alive(), f"the proxy died; log:\n{p.log_tail()}"
    assert results["hung"] == 0, results
    assert set(results) <= {200, 502, "closed", "connect_failed"}, \
        f"unexpected outcomes: {results}"
    assert results[200] >= 100, results
    assert cpu < 0.5 * wall, f"{cpu:.1f} s of proxy CPU in {wall:.1f} s (spinning on EMFILE?)"
    assert p.wait_for_log(r"accept failed: Too many open files", start=start), \
        "the descriptor shortage was not logged"
    # Logged, but not once per 50 ms retry: at most one line per 5 s.
    lines = [ln for ln in p.log_text()[start:].splitlines() if "accept failed" in ln]
    assert len(lines) <= wall / 5 + 2, f"{len(lines)} 'accept failed' lines in {wall:.1f} s"
    assert_recovers(p)
