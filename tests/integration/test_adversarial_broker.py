"""Adversarial suite, broker side (issue 7, item 3 "Hard to fool, hard to break"): the real
gssgate-broker against a real MIT KDC, driven over its Unix sockets by Python gRPC (and raw
bytes). The proxy side is tests/integration/test_adversarial_proxy.py.

Every case asserts the exact gRPC status, that nothing was stored (or exactly what was), that
the broker is still up and that a genuine deposit still redeems afterwards.

Issue list → the test that proves it ("here" = this file):

  forged TGT deposit                      here: test_forged_tgt[*] (a TGT whose ticket the KDC did
                                          not issue, or whose client was rewritten: the deposit
                                          parser cannot tell, the KDC refuses it at redemption)
                                          test_broker.py::test_deposit_validation [garbage, empty,
                                          truncated, service_ticket] (refused at deposit)
  expired TGT                             here: test_expired_tgt_is_refused_at_deposit,
                                          test_tgt_expiring_in_the_store_stops_redeeming,
                                          test_forged_tgt[endtime-extended]
  principal mismatch (says bob, is alice) test_broker.py::test_deposit_validation [claimed_as_bob,
                                          claimed_as_bob_short, claimed_other_realm],
                                          here: test_forged_tgt[client-rewritten-to-bob]
  oversized messages                      test_broker.py::test_deposit_validation [oversized],
                                          here: test_oversized_messages
  malformed messages over the raw socket  here: test_malformed_protobuf, test_raw_socket_garbage
  revocation racing 50 redemptions        here: test_revocation_racing_50_redemptions
  handles: forged/truncated/bit-flipped,  test_broker.py::test_forged_truncated_and_bit_flipped_handles_are_not_found,
    another user's                        ::test_alices_handle_cannot_yield_another_users_credential
"""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import threading
import time

import grpc
import pytest

pytest.register_assert_rewrite("broker_fixtures")  # before the import below
from broker_fixtures import (  # noqa: E402
    PG_SERVICE, REALM_NAME, ctl, parse_ccache, real_creds, tgt_bytes)

pytest_plugins = ["broker_fixtures"]

ALICE = f"alice@{REALM_NAME}"
BOB = f"bob@{REALM_NAME}"
TGT_SERVER = f"krbtgt/{REALM_NAME}@{REALM_NAME}"
OK, NOT_FOUND = grpc.StatusCode.OK, grpc.StatusCode.NOT_FOUND


def assert_healthy(b, api, realm, tmp_path) -> None:
    """Up, SERVING, and a genuine deposit of bob's TGT redeems."""
    assert b.alive(), f"broker died:\n{b.log_tail()}"
    res = ctl("health", "--broker", b.deposit)
    assert res.returncode == 0 and res.stdout.strip() == "SERVING", res
    dep = api.deposit(b.deposit, BOB, tgt_bytes(realm.ccaches["bob"]))
    out = api.redeem(b.backend, dep.handle)
    default, creds = parse_ccache(out.ccache)
    assert default == BOB and [c.server for c in real_creds(creds)] == \
        [f"{PG_SERVICE}@{REALM_NAME}"]


def stored(api, b) -> list[str]:
    return sorted(c.principal for c in api.list(b.deposit).credentials)


# ------------------------------------------------------------------------------- marshaled creds
def encode_principal(name: str) -> bytes:
    comps, _, realm = name.rpartition("@")
    parts = comps.split("/")
    out = struct.pack(">II", 1, len(parts)) + struct.pack(">I", len(realm)) + realm.encode()
    for p in parts:
        out += struct.pack(">I", len(p)) + p.encode()
    return out


def principal_length(raw: bytes, at: int) -> int:
    n = struct.unpack(">I", raw[at + 4:at + 8])[0]
    i = at + 8
    for _ in range(n + 1):  # realm, then the components
        i += 4 + struct.unpack(">I", raw[i:i + 4])[0]
    return i - at


def times_offset(raw: bytes) -> int:
    """Offset of authtime in a marshaled credential (after client, server, keyblock)."""
    i = principal_length(raw, 0)
    i += principal_length(raw, i)
    i += 2  # enctype
    i += 4 + struct.unpack(">I", raw[i:i + 4])[0]  # key
    return i


def with_endtime(raw: bytes, endtime: int) -> bytes:
    t = times_offset(raw) + 8  # authtime, starttime, endtime
    return raw[:t] + struct.pack(">I", endtime & 0xFFFFFFFF) + raw[t + 4:]


def forged_ticket(raw: bytes) -> bytes:
    """The ticket's enc-part cipher text altered: still a well-formed Ticket, not the KDC's."""
    ticket = parse_ccache_cred(raw).ticket
    at = raw.index(ticket)
    flipped = bytearray(ticket)
    flipped[-5] ^= 0x5A
    return raw[:at] + bytes(flipped) + raw[at + len(ticket):]


def parse_ccache_cred(raw: bytes):
    # A v4 ccache holding just this credential (header + default principal + cred).
    _, creds = parse_ccache(b"\x05\x04\x00\x00" + raw[:principal_length(raw, 0)] + raw)
    return creds[0]


def client_rewritten(raw: bytes, principal: str) -> bytes:
    return encode_principal(principal) + raw[principal_length(raw, 0):]


# ------------------------------------------------------------------------------- forged TGTs
FORGERIES = {
    # case: (claimed principal, bytes builder)
    "ticket-cipher-flipped": (ALICE, forged_ticket),
    "client-rewritten-to-bob": (BOB, lambda raw: client_rewritten(raw, BOB)),
    "endtime-extended": (ALICE, lambda raw: with_endtime(raw, int(time.time()) + 30 * 86400)),
}


@pytest.mark.parametrize("case", sorted(FORGERIES))
def test_forged_tgt(broker_factory, grpc_api, realm, pg_service, tmp_path, case):
    api = grpc_api
    b = broker_factory()
    claimed, build = FORGERIES[case]
    raw = build(tgt_bytes(realm.ccaches["alice"]))
    dep = api.deposit(b.deposit, claimed, raw)  # structurally a TGT: the parser cannot tell
    assert stored(api, b) == [claimed]
    code, details = api.code_of(api.redeem, b.backend, dep.handle)
    if case == "endtime-extended":
        # The KDC reads the real end time inside the ticket: still valid, so this works, and
        # the service ticket ends when the real TGT does, not 30 days out.
        assert code == OK, details
        out = api.redeem(b.backend, dep.handle)
        real_end = parse_ccache(realm.ccaches["alice"].read_bytes())[1]
        real_end = [c.endtime for c in real_creds(real_end) if c.server == TGT_SERVER][0]
        assert out.expires_at <= real_end, (out.expires_at, real_end)
    else:
        # The KDC refuses the TGS request; the caller gets one clean line, no ccache.
        assert code == grpc.StatusCode.UNAVAILABLE, (code, details)
        assert details.startswith(f"getting a ticket for {PG_SERVICE} failed: "), details
        assert details and "\n" not in details and len(details) < 300, details
        assert b.wait_for_log(r"redeem failed: .*principal=" + claimed.replace(".", r"\."))
    assert_healthy(b, api, realm, tmp_path)


# ------------------------------------------------------------------------------- expiry
@pytest.fixture
def short_tgt(realm, tmp_path):
    """A fresh TGT for carol that lives 4 seconds (kinit -l 4s), and its end time."""
    cc = tmp_path / "carol-short.ccache"
    env = {**os.environ, **realm.env(cc)}
    res = subprocess.run(["kinit", "-l", "4s", "-c", f"FILE:{cc}", "carol"],
                         input="carol-password\n", capture_output=True, text=True, env=env,
                         timeout=30)
    assert res.returncode == 0, res.stderr
    creds = real_creds(parse_ccache(cc.read_bytes())[1])
    tgt = [c for c in creds if c.server == TGT_SERVER][0]
    assert tgt.endtime - time.time() <= 5, "the KDC did not issue a short ticket"
    return tgt.raw, tgt.endtime


def wait_until(t: float) -> None:
    while time.time() < t:
        time.sleep(min(0.2, max(0.0, t - time.time())))


def test_expired_tgt_is_refused_at_deposit(broker_factory, grpc_api, realm, pg_service,
                                           tmp_path, short_tgt):
    api = grpc_api
    b = broker_factory()
    raw, end = short_tgt
    wait_until(end + 1.5)
    code, details = api.code_of(api.deposit, b.deposit, f"carol@{REALM_NAME}", raw)
    assert code == grpc.StatusCode.INVALID_ARGUMENT, (code, details)
    assert details == "deposited ticket has expired", details
    # Lying about the end time gets it stored, but the ticket inside knows: the KDC (which
    # honours a TGT for its clock skew past the end) issues a service ticket that has already
    # ended, and the broker must not hand that out as a success.
    dep = api.deposit(b.deposit, f"carol@{REALM_NAME}", with_endtime(raw, int(time.time()) + 3600))
    code, details = api.code_of(api.redeem, b.backend, dep.handle)
    assert code == NOT_FOUND, (code, details)
    assert details == "the user's credential has expired", details
    assert_healthy(b, api, realm, tmp_path)


def test_tgt_expiring_in_the_store_stops_redeeming(broker_factory, grpc_api, realm, pg_service,
                                                   tmp_path, short_tgt):
    api = grpc_api
    b = broker_factory(service_ticket_min_remaining="0s")
    raw, end = short_tgt
    if end - time.time() < 1.5:
        pytest.skip("machine too slow: the 4 s TGT is nearly gone already")
    dep = api.deposit(b.deposit, f"carol@{REALM_NAME}", raw)
    assert dep.expires_at <= end
    wait_until(end + 1.5)
    code, details = api.code_of(api.redeem, b.backend, dep.handle)
    assert code == NOT_FOUND, (code, details)
    assert_healthy(b, api, realm, tmp_path)


# ------------------------------------------------------------------------------- sizes and bytes
def raw_call(path: str, method: str, payload: bytes, timeout: float = 10):
    """A unary call whose request body is `payload` exactly (not necessarily protobuf)."""
    with grpc.insecure_channel(f"unix:{path}") as ch:
        call = ch.unary_unary(method, request_serializer=None, response_deserializer=None)
        try:
            call(payload, timeout=timeout)
            return OK, ""
        except grpc.RpcError as e:
            return e.code(), e.details()


def test_oversized_messages(broker_factory, grpc_api, realm, pg_service, tmp_path):
    api = grpc_api
    b = broker_factory(limits={"max_message_bytes": "16KiB"})
    big = "gsh1." + "A" * 20000
    code, _ = api.code_of(api.redeem, b.backend, big)
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED, code
    code, _ = api.code_of(api.redeem, b.backend, "gsh1.x", service="postgres/" + "a" * 20000)
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED, code
    code, _ = raw_call(b.deposit_path, "/gssgate.v1.CredentialDeposit/Deposit",
                       b"\x0a\x80\x80\x04" + b"a" * 65536)
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED, code
    # 15 KiB: under the limit, refused for what it is, not for its size.
    code, _ = api.code_of(api.redeem, b.backend, "gsh1." + "A" * 15000)
    assert code == NOT_FOUND, code
    assert stored(api, b) == []
    assert_healthy(b, api, realm, tmp_path)


MALFORMED = {
    "truncated-varint": b"\x0a\xff",
    "length-past-end": b"\x0a\x10abc",
    "wrong-wire-type": b"\x0d\x00\x00\x00\x00",
    "bad-utf8-string": b"\x0a\x02\xc3\x28\x12\x05gsh1.",
    "group-start-no-end": b"\x0b",
    "field-zero": b"\x00\x01",
    "deep-unknown-groups": b"\x1b" * 200 + b"\x1c" * 200,
    "10-byte-varint-overflow": b"\x18" + b"\xff" * 10 + b"\x01",
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
@pytest.mark.parametrize("method", ["/gssgate.v1.CredentialBroker/Redeem",
                                    "/gssgate.v1.CredentialDeposit/Deposit"])
def test_malformed_protobuf(broker_factory, grpc_api, realm, pg_service, tmp_path, case, method):
    api = grpc_api
    b = broker_factory()
    path = b.backend_path if "Broker" in method else b.deposit_path
    code, details = raw_call(path, method, MALFORMED[case])
    # gRPC refuses what does not parse (INTERNAL: "Failed to parse request"); what parses as
    # unknown fields is an empty request, refused by the broker's own validation.
    assert code in (grpc.StatusCode.INTERNAL, grpc.StatusCode.INVALID_ARGUMENT, NOT_FOUND), \
        (code, details)
    assert code != OK
    assert stored(api, b) == []
    assert_healthy(b, api, realm, tmp_path)


RAW_GARBAGE = {
    "http1-request": b"GET / HTTP/1.1\r\nHost: broker\r\n\r\n",
    "random-bytes": bytes(range(256)) * 16,
    "h2-preface-then-huge-frame": (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" +
                                   b"\xff\xff\xff\x00\x00\x00\x00\x00\x00" + b"x" * 4096),
    "h2-preface-then-bad-settings": (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" +
                                     b"\x00\x00\x05\x04\x00\x00\x00\x00\x00" + b"\x00" * 5),
    "h2-preface-only-then-hang-up": b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
}


@pytest.mark.parametrize("case", sorted(RAW_GARBAGE))
def test_raw_socket_garbage(broker_factory, grpc_api, realm, pg_service, tmp_path, case):
    api = grpc_api
    b = broker_factory()
    for path in (b.backend_path, b.deposit_path):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(10)
            s.connect(path)
            try:
                s.sendall(RAW_GARBAGE[case])
                s.shutdown(socket.SHUT_WR)
                while s.recv(65536):  # the broker answers (GOAWAY) or closes: either ends it
                    pass
            except (ConnectionError, socket.timeout):
                pass
    assert stored(api, b) == []
    assert_healthy(b, api, realm, tmp_path)


# ------------------------------------------------------------------------------- revocation race
def test_revocation_racing_50_redemptions(broker_factory, grpc_api, realm, pg_service, tmp_path):
    """25 redemptions start together with the revocation racing them, 25 more start only after
    Revoke has returned. Every one ends OK or NOT_FOUND; none that started after the revocation
    returned succeeds; the store is empty afterwards."""
    api = grpc_api
    b = broker_factory()
    dep = api.deposit(b.deposit, ALICE, tgt_bytes(realm.ccaches["alice"]))
    racing, after = 25, 25
    lock = threading.Lock()
    results: list[tuple[str, float, float, grpc.StatusCode, str]] = []
    first_done = threading.Event()
    revoked = threading.Event()
    revoke_returned = [0.0]
    start_racing = threading.Barrier(racing + 1)

    def redeem(group: str) -> None:
        if group == "racing":
            start_racing.wait(timeout=30)
        else:
            revoked.wait(timeout=60)
        t0 = time.monotonic()
        code, details = api.code_of(api.redeem, b.backend, dep.handle, timeout=30)
        t1 = time.monotonic()
        with lock:
            results.append((group, t0, t1, code, details))
        first_done.set()

    def revoke() -> None:
        start_racing.wait(timeout=30)
        first_done.wait(timeout=30)  # at least one redemption in before the revocation
        with grpc.insecure_channel(f"unix:{b.backend_path}") as ch:
            api.pb2_grpc.CredentialBrokerStub(ch).Revoke(
                api.pb2.RevokeRequest(handle=dep.handle), timeout=30)
        revoke_returned[0] = time.monotonic()
        revoked.set()

    threads = [threading.Thread(target=redeem, args=("racing",)) for _ in range(racing)]
    threads += [threading.Thread(target=redeem, args=("after",)) for _ in range(after)]
    threads.append(threading.Thread(target=revoke))
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "redemptions or the revocation hung"
    assert revoked.is_set() and len(results) == racing + after
    codes = {}
    for group, t0, _, code, details in results:
        assert code in (OK, NOT_FOUND), (group, code, details)
        codes[code] = codes.get(code, 0) + 1
        if t0 > revoke_returned[0]:
            assert code == NOT_FOUND, "a redemption started after the revocation succeeded"
    assert all(code == NOT_FOUND for g, _, _, code, _ in results if g == "after")
    assert codes.get(OK, 0) >= 1, codes  # the credential did work before the revocation
    assert stored(api, b) == []
    code, _ = api.code_of(api.redeem, b.backend, dep.handle)
    assert code == NOT_FOUND
    assert_healthy(b, api, realm, tmp_path)
