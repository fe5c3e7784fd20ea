"""Faults of the KDC and of its keys (issue 7, item 4): each test shows the degraded behaviour
(exact status, error text, time bound), then removes the fault and shows recovery, and that
the daemons stayed up.

| fault | degraded | recovery |
|---|---|---|
| KDC stopped (port closed) | sign-in with a ticket the client has: 200 (keytab only); redemption: `gssgatectl: KDC unreachable: ...`, one line, < 1 s | KDC back: the same handle redeems |
| KDC hung (SIGSTOP: port bound, never answers) | redemption fails at `kdc_timeout` (+ margin) with `KDC unreachable: no answer ... within 1500 ms`; `gssgate_broker_kdc_timeouts_total` moves; SIGTERM meanwhile: exit 0 within 3 s | SIGCONT: redeems |
| KDC slow (delaying TCP relay in front of it) | delay < `kdc_timeout`: redeems (slower); delay > it: fails at the deadline | no delay: redeems |
| KDC clock +10 min / -10 min (libfaketime) | the proxy answers 401 + `Negotiate` (never 500), the log says "skew" | clock right: 200 |
| keytab re-keyed (kvno+1) while the proxy runs | before SIGHUP new-kvno tickets are 401; keytab with old+new kvno + SIGHUP: both 200; new kvno only + SIGHUP: old 401, new 200 | — |

Without the broker's deadline a hung KDC holds a redemption for ~27 s (MIT krb5 1.20's retry
passes); the hung-KDC test bounds it at kdc_timeout + 1.5 s.

The KDC is the session realm's (conftest.py): every test puts it back (running, right clock,
not paused) in `kdc_restored`, also when it fails.
"""

from __future__ import annotations

import re
import shutil
import signal
import socket
import threading
import time
from pathlib import Path

import pytest

import proxytest
from proxytest import assert_clean_error, http_request, negotiate_token

pytest.register_assert_rewrite("broker_fixtures")  # before the import below
from broker_fixtures import (  # noqa: E402
    PG_SERVICE, REALM_NAME, assert_ctl_fails, ctl, klist, redeem_ctl, short_dir, tgt_bytes)
from echo_upstream import EchoUpstream  # noqa: E402

pytest_plugins = ["broker_fixtures"]

ALICE = f"alice@{REALM_NAME}"
PG_TICKET = f"{PG_SERVICE}@{REALM_NAME}"
KDC_TIMEOUT_MS = 1500
MARGIN = 1.5  # seconds of slack for process start-up on a loaded 2-core machine


@pytest.fixture
def kdc_restored(realm):
    """Yields the realm; afterwards the KDC runs again with the right clock, not paused."""
    yield realm
    if realm.running():
        try:
            realm.resume_kdc()
        except (AssertionError, ProcessLookupError):
            pass
    if not realm.running() or realm.kdc_env:
        realm.restart_kdc()


@pytest.fixture
def broker(broker_factory, pg_service):
    return broker_factory(kdc_timeout=f"{KDC_TIMEOUT_MS}ms",
                          admin_listen=f"127.0.0.1:{proxytest.free_port()}")


def deposit(grpc_api, b, user: str = "alice") -> str:
    """A fresh credential (so no service ticket is cached yet) and its handle."""
    reply = grpc_api.deposit(b.deposit, f"{user}@{REALM_NAME}",
                             tgt_bytes(proxytest.CCACHES[user]))
    assert reply.handle.startswith("gsh1.")
    return reply.handle


def timed_redeem(b, handle: str, out: Path):
    t0 = time.monotonic()
    res = redeem_ctl(b.backend, handle, out)
    return res, time.monotonic() - t0


def assert_redeems(b, handle: str, out: Path) -> None:
    res = redeem_ctl(b.backend, handle, out)
    assert res.returncode == 0, f"gssgatectl credential failed: {res.stderr}\n{b.log_tail(10)}"
    assert klist(out) == (ALICE, [PG_TICKET])


def broker_metric(b, name: str) -> float:
    port = int(b.config["admin_listen"].rsplit(":", 1)[1])
    text = http_request(port, path="/metrics").text
    m = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    assert m, f"{name} not in the broker's metrics:\n{text}"
    return float(m.group(1))


def assert_broker_serving(b) -> None:
    assert b.alive(), f"broker died; log:\n{b.log_tail()}"
    res = ctl("health", "--broker", b.backend)
    assert res.returncode == 0, res.stderr


# ------------------------------------------------------------------------------ KDC stopped
def test_kdc_stopped_signin_works_redemption_fails_fast_then_recovers(
        kdc_restored, broker, grpc_api, proxy, tmp_path):
    realm = kdc_restored
    p = proxy()
    # bob has a ticket for HTTP/localhost in his ccache (from this first sign-in).
    assert http_request(p.port, headers={"Authorization": "Negotiate " +
                                         negotiate_token("bob")}).status == 200
    handle = deposit(grpc_api, broker)
    realm.stop_kdc()

    # Signing in needs only the keytab: 200 with the KDC down.
    r = http_request(p.port, headers={"Authorization": "Negotiate " + negotiate_token("bob")})
    assert r.status == 200, r
    assert proxytest.upstream_header_values(r, "X-Remote-User") == ["bob"]

    # Redemption needs a TGS exchange: a clear, prompt, one-line error (connection refused).
    res, took = timed_redeem(broker, handle, tmp_path / "down.ccache")
    assert_ctl_fails(res, "KDC unreachable", "GSSGATE.TEST")
    assert res.stderr.startswith("gssgatectl: KDC unreachable: "), res.stderr
    assert took < 1.0 + MARGIN, f"redemption with the KDC stopped took {took:.1f} s"
    assert broker.wait_for_log(r"redeem failed.*KDC unreachable")
    assert_broker_serving(broker)

    realm.start_kdc()
    assert_redeems(broker, handle, tmp_path / "back.ccache")
    assert p.alive()


# ------------------------------------------------------------------------------ KDC hung
def test_kdc_hung_redemption_fails_at_the_deadline_then_recovers(
        kdc_restored, broker, grpc_api, tmp_path):
    realm = kdc_restored
    handle = deposit(grpc_api, broker)
    realm.pause_kdc()
    res, took = timed_redeem(broker, handle, tmp_path / "hung.ccache")
    assert_ctl_fails(res, "KDC unreachable", f"within {KDC_TIMEOUT_MS} ms")
    assert KDC_TIMEOUT_MS / 1000 - 0.1 <= took < KDC_TIMEOUT_MS / 1000 + MARGIN, \
        f"redemption with a hung KDC took {took:.1f} s (kdc_timeout {KDC_TIMEOUT_MS} ms)"
    assert broker_metric(broker, 'gssgate_broker_kdc_timeouts_total{reason="deadline"}') == 1
    assert broker_metric(broker, "gssgate_broker_kdc_requests_outstanding") == 1
    assert_broker_serving(broker)

    realm.resume_kdc()
    assert_redeems(broker, handle, tmp_path / "back.ccache")
    # The abandoned exchange got its (late) answer too and is gone.
    deadline = time.monotonic() + 5
    while broker_metric(broker, "gssgate_broker_kdc_requests_outstanding") != 0:
        assert time.monotonic() < deadline, "the timed-out KDC exchange never finished"
        time.sleep(0.05)


def test_broker_stops_cleanly_while_a_kdc_exchange_hangs(kdc_restored, broker, grpc_api,
                                                         tmp_path):
    """SIGTERM with a timed-out exchange still inside libkrb5: exit 0, promptly."""
    realm = kdc_restored
    handle = deposit(grpc_api, broker)
    realm.pause_kdc()
    res, _ = timed_redeem(broker, handle, tmp_path / "hung.ccache")
    assert_ctl_fails(res, "KDC unreachable")
    assert broker_metric(broker, "gssgate_broker_kdc_requests_outstanding") == 1
    t0 = time.monotonic()
    broker.stop()  # asserts exit status 0
    assert time.monotonic() - t0 < 3.0, "SIGTERM waited for the hung KDC exchange"


# ------------------------------------------------------------------------------ KDC slow
class SlowRelay:
    """A TCP relay in front of the KDC that holds every client->KDC chunk `delay` seconds."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.delay = 0.0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            try:
                kdc = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            threading.Thread(target=self._pump, args=(client, kdc, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(kdc, client, False), daemon=True).start()

    def _pump(self, src, dst, slow: bool) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if slow and self.delay:
                    time.sleep(self.delay)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self.closed = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes accept(); close() alone would not
        except OSError:
            pass
        self.sock.close()


def test_kdc_slow_within_and_beyond_the_deadline(kdc_restored, broker_factory, pg_service,
                                                 grpc_api, tmp_path):
    realm = kdc_restored
    relay = SlowRelay(realm.port)
    try:
        # The broker alone talks to the KDC through the relay (its own krb5.conf).
        conf = tmp_path / "krb5-relay.conf"
        conf.write_text(realm.krb5_conf.read_text().replace(
            f"127.0.0.1:{realm.port}", f"127.0.0.1:{relay.port}"))
        b = broker_factory(_start=False, kdc_timeout=f"{KDC_TIMEOUT_MS}ms")
        b.env = dict(b.env, KRB5_CONFIG=str(conf))
        b.start()

        relay.delay = 0.4  # below the deadline: slower, but it works
        res, took = timed_redeem(b, deposit(grpc_api, b), tmp_path / "slow.ccache")
        assert res.returncode == 0, res.stderr
        assert took >= 0.4, f"the relay's delay did not apply ({took:.2f} s)"
        assert klist(tmp_path / "slow.ccache") == (ALICE, [PG_TICKET])

        relay.delay = 4.0  # beyond it: a clean failure at the deadline
        res, took = timed_redeem(b, deposit(grpc_api, b), tmp_path / "slower.ccache")
        assert_ctl_fails(res, "KDC unreachable", f"within {KDC_TIMEOUT_MS} ms")
        assert took < KDC_TIMEOUT_MS / 1000 + MARGIN, f"took {took:.1f} s"
        assert_broker_serving(b)

        relay.delay = 0.0
        res, took = timed_redeem(b, deposit(grpc_api, b), tmp_path / "fast.ccache")
        assert res.returncode == 0, res.stderr
        assert klist(tmp_path / "fast.ccache") == (ALICE, [PG_TICKET])
    finally:
        relay.close()


# ------------------------------------------------------------------------------ clock skew
@pytest.mark.parametrize("offset", ["+10m", "-10m"])
def test_kdc_clock_off_by_ten_minutes_is_401_then_recovers(kdc_restored, proxy, tmp_path,
                                                           offset):
    realm = kdc_restored
    p = proxy()
    realm.restart_kdc(clock_offset=offset)
    key = f"carol-skew{offset}"
    proxytest.CCACHES[key] = realm.kinit("carol", tmp_path / "skewed.ccache")
    start = p.log_size()
    r = http_request(p.port, headers={"Authorization": "Negotiate " + negotiate_token(key)})
    assert r.status == 401, r
    assert any(v.strip() == "Negotiate" for v in r.header_values("WWW-Authenticate")), r.headers
    assert_clean_error(r)
    line = p.wait_for_log(r"skew", start=start)
    assert line, f"the proxy did not log clock skew as the reason; log:\n{p.log_tail(10)}"
    assert p.alive()

    realm.restart_kdc()  # the clock is right again; a fresh ticket works
    key = "carol-unskewed"
    proxytest.CCACHES[key] = realm.kinit("carol", tmp_path / "right.ccache")
    r = http_request(p.port, headers={"Authorization": "Negotiate " + negotiate_token(key)})
    assert r.status == 200, r
    assert proxytest.upstream_header_values(r, "X-Remote-User") == ["carol"]


# ------------------------------------------------------------------------------ keytab rotation
def test_keytab_rotated_to_a_new_kvno_while_running(kdc_restored, proxy, tmp_path):
    realm = kdc_restored
    spn, host = "HTTP/rotate.test", "HTTP@rotate.test"
    live = tmp_path / "live.keytab"  # the file the proxy is configured with
    realm.add_service(spn, tmp_path / "v1.keytab")
    old_kvno = realm.kvno(spn)
    shutil.copy(tmp_path / "v1.keytab", live)
    # The upstream on a Unix socket: under a parallel ctest run a TCP echo upstream once
    # answered garbage ("bad version", a 502) here — unexplained, see docs/faults.md; this test
    # is about keys, not the upstream.
    sockdir = short_dir("gsf-")
    echo = EchoUpstream(unix_path=str(sockdir / "echo.sock")).start()
    try:
        p = proxy(keytab=str(live), upstream=echo.url)
        _rotate(realm, p, spn, host, old_kvno, live, tmp_path)
    finally:
        echo.stop()
        shutil.rmtree(sockdir, ignore_errors=True)


def _rotate(realm, p, spn, host, old_kvno, live, tmp_path):

    def signin(ccache_key: str) -> int:
        tok = negotiate_token(ccache_key, service=host)
        return http_request(p.port, headers={"Authorization": "Negotiate " + tok}).status

    proxytest.CCACHES["alice-old-kvno"] = realm.kinit("alice", tmp_path / "old.ccache")
    assert signin("alice-old-kvno") == 200  # caches a ticket under the old kvno

    # The KDC re-keys; the proxy still has only the old key until the keytab is replaced.
    both = tmp_path / "both.keytab"
    shutil.copy(live, both)
    new_kvno = realm.rekey_service(spn, both)
    assert new_kvno == old_kvno + 1
    proxytest.CCACHES["alice-new-kvno"] = realm.kinit("alice", tmp_path / "new.ccache")
    assert signin("alice-new-kvno") == 401

    def replace_keytab(src: Path) -> None:
        start = p.log_size()
        tmp = tmp_path / "live.keytab.tmp"
        shutil.copy(src, tmp)
        tmp.rename(live)
        p.signal(signal.SIGHUP)
        assert p.wait_for_log(r"configuration reloaded", start=start), p.log_tail(10)

    # Overlap: old and new kvno in the keytab; tickets of both are accepted.
    replace_keytab(both)
    assert signin("alice-old-kvno") == 200
    assert signin("alice-new-kvno") == 200

    # The old key retired: only the new kvno.
    new_only = tmp_path / "new-only.keytab"
    realm.kadmin(f"ktadd -norandkey -k {new_only} {spn}")
    replace_keytab(new_only)
    assert signin("alice-old-kvno") == 401
    assert signin("alice-new-kvno") == 200
    assert p.alive()
