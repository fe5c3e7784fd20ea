"""Broker faults (issue 7, item 4): the broker killed in the middle of a deposit, and its
credential store directory full or read-only. Each test shows the degraded behaviour (the user
is still signed in, without a handle; the right counters move; the broker stays up where it
can), then removes the fault and shows recovery (a new delegated sign-in deposits and its
handle redeems).

Existing coverage this file does not repeat (test_broker.py): broker socket absent
(`test_broker_down_user_still_signed_in_without_handle`), broker SIGKILLed between requests and
back within 2 s (`test_proxy_deposits_again_soon_after_a_broker_outage`), `max_credentials`
reached (`test_store_full_is_resource_exhausted_and_sign_in_still_works`).

| fault | degraded | recovery |
|---|---|---|
| broker SIGKILLed while a deposit RPC is in flight (it was SIGSTOPped first) | that sign-in: 200, no handle, promptly; proxy warns, `gssgate_proxy_broker_deposits_total{outcome="failed"}` +1 | broker restarted: next delegated sign-in gets a handle that redeems |
| store dir on a 64 KiB tmpfs, filled up | deposit refused (`No space left on device` in the audit log, no `*.tmp` left), sign-in 200 without handle; credentials already stored still redeem | space freed: deposits again |
| store dir remounted read-only | the same (`Read-only file system`) | remounted rw: deposits again |

The store tests mount a tmpfs, which needs root (CAP_SYS_ADMIN); without it they skip and say
why.
"""

from __future__ import annotations

import errno
import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

import proxytest
from proxytest import http_request

pytest.register_assert_rewrite("broker_fixtures")  # before the import below
from broker_fixtures import PG_SERVICE, REALM_NAME, header, klist, redeem_ctl, signin  # noqa: E402

pytest_plugins = ["broker_fixtures"]

ALICE = f"alice@{REALM_NAME}"
PG_TICKET = f"{PG_SERVICE}@{REALM_NAME}"


def proxy_metric(p, name: str) -> int:
    text = http_request(p.admin_port, path="/metrics").text
    m = re.search(rf"^{re.escape(name)} (\d+)$", text, re.M)
    return int(m.group(1)) if m else 0


FAILED = 'gssgate_proxy_broker_deposits_total{outcome="failed"}'
DEPOSITED = 'gssgate_proxy_broker_deposits_total{outcome="ok"}'


def assert_redeems(b, handle: str, out: Path) -> None:
    res = redeem_ctl(b.backend, handle, out)
    assert res.returncode == 0, f"gssgatectl credential failed: {res.stderr}\n{b.log_tail(10)}"
    assert klist(out) == (ALICE, [PG_TICKET])


def signed_in_without_handle(p, user: str = "alice") -> None:
    status, seen, handle = signin(p, user)
    assert status == 200, status
    assert header(seen, "X-Remote-User") == [user]
    assert handle is None, "a handle although the deposit cannot have succeeded"


# ------------------------------------------------------------------------------ kill -9
def test_broker_killed_mid_deposit(broker_factory, proxy, pg_service, tmp_path):
    b = broker_factory()
    p = proxy(broker=b.deposit, timeouts={"broker": "5s"})
    status, _, first = signin(p, "alice")
    assert status == 200 and first
    failed_before = proxy_metric(p, FAILED)

    # Freeze the broker so that the next deposit RPC is in flight, then kill it.
    b.proc.send_signal(signal.SIGSTOP)
    result = {}

    def delegated_signin():
        t0 = time.monotonic()
        result["signin"] = signin(p, "bob")
        result["done"] = time.monotonic()

    log_start = p.log_size()
    t = threading.Thread(target=delegated_signin)
    t.start()
    time.sleep(1.0)
    assert t.is_alive(), "the sign-in did not wait for the (frozen) broker"
    killed = time.monotonic()
    b.kill()  # SIGKILL (a stopped process dies too)
    t.join(timeout=15)
    assert not t.is_alive()
    status, seen, handle = result["signin"]
    assert status == 200 and header(seen, "X-Remote-User") == ["bob"]
    assert handle is None
    assert result["done"] - killed < 3.0, \
        f"the sign-in took {result['done'] - killed:.1f} s after the broker died"
    assert p.wait_for_log(r"warn.*broker did not take the delegated credential", start=log_start)
    assert proxy_metric(p, FAILED) == failed_before + 1
    assert p.alive()

    # Broker back (memory store: the old credential is gone): the next sign-in deposits again.
    b.start()
    deadline = time.monotonic() + 5
    handle = None
    while handle is None and time.monotonic() < deadline:
        _, _, handle = signin(p, "alice")
    assert handle, f"no deposit after the broker restarted; proxy log:\n{p.log_tail(10)}"
    assert_redeems(b, handle, tmp_path / "after.ccache")


# ------------------------------------------------------------------------------ store dir
def _mount_tmpfs(path: Path, size: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (store-full/read-only tests)")
    path.mkdir(mode=0o700)
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs",
                          str(path)], capture_output=True, text=True, timeout=10)
    if res.returncode != 0:
        pytest.skip(f"mount -t tmpfs is not permitted here: {res.stderr.strip()}")


@pytest.fixture
def small_store(tmp_path):
    d = tmp_path / "store"
    _mount_tmpfs(d, "64k")
    yield d
    subprocess.run(["umount", "-l", str(d)], capture_output=True, timeout=10)


def _fill(d: Path) -> Path:
    """Writes a file until the tmpfs is full (ENOSPC); returns it."""
    filler = d / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError as e:
        assert e.errno == errno.ENOSPC, e
    finally:
        os.close(fd)
    return filler


def _remount(d: Path, mode: str) -> None:
    res = subprocess.run(["mount", "-o", f"remount,{mode}", str(d)], capture_output=True,
                         text=True, timeout=10)
    assert res.returncode == 0, res.stderr


@pytest.mark.parametrize("fault", ["full", "read-only"])
def test_store_dir_full_or_read_only_then_recovers(broker_factory, proxy, pg_service,
                                                    small_store, tmp_path, fault):
    b = broker_factory(store=f"dir:{small_store}")
    p = proxy(broker=b.deposit)
    status, _, before = signin(p, "alice")
    assert status == 200 and before
    assert len(list(small_store.iterdir())) == 1

    if fault == "full":
        filler = _fill(small_store)
        reason = "No space left on device"
    else:
        _remount(small_store, "ro")
        reason = "Read-only file system"
    log_start = b.log_size()
    failed_before = proxy_metric(p, FAILED)
    signed_in_without_handle(p, "bob")
    line = b.wait_for_log(r"deposit failed", start=log_start)
    assert line and reason in line, f"expected '{reason}' in the audit line: {line!r}"
    assert proxy_metric(p, FAILED) == failed_before + 1
    assert not [f for f in small_store.iterdir() if f.name.endswith(".tmp")]
    assert b.alive()
    # What was stored before still redeems (the store keeps it in memory too).
    assert_redeems(b, before, tmp_path / "before.ccache")

    if fault == "full":
        filler.unlink()
    else:
        _remount(small_store, "rw")
    ok_before = proxy_metric(p, DEPOSITED)
    status, _, after = signin(p, "alice")
    assert status == 200 and after, f"no deposit after the store recovered:\n{b.log_tail(10)}"
    assert proxy_metric(p, DEPOSITED) == ok_before + 1
    assert_redeems(b, after, tmp_path / "after.ccache")
    assert len([f for f in small_store.iterdir() if not f.name.endswith(".tmp")]) == 2
