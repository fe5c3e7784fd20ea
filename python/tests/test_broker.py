"""gssgate.Broker against an in-process fake broker (gRPC on a Unix socket)."""

import os
import shutil
import tempfile
import threading
import time
from concurrent import futures

import grpc
import pytest

import gssgate
from gssgate import errors
from gssgate._ccache import thread_default_ccache
from gssgate._proto import broker_pb2, broker_pb2_grpc
from ccache_fake import fake_ccache

HANDLES = {"h-alice": "alice@GSSGATE.TEST", "h-bob": "bob@GSSGATE.TEST"}


class FakeBroker(broker_pb2_grpc.CredentialBrokerServicer):
    def __init__(self):
        self.requests = []
        self.delay = 0.0

    def Redeem(self, request, context):
        self.requests.append((request.handle, request.service))
        if self.delay:
            time.sleep(self.delay)
        if request.service == "kdc/down":
            context.abort(grpc.StatusCode.UNAVAILABLE, "KDC unreachable: cannot contact any KDC")
        if request.service == "bad service":
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "bad service name")
        if request.service == "postgres/unknown":
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, "service not known to the KDC")
        if not request.service.startswith("postgres/"):
            context.abort(grpc.StatusCode.PERMISSION_DENIED,
                          f"not allowed: service {request.service} is not granted to uid "
                          f"{os.getuid()} by the broker's policy")
        principal = HANDLES.get(request.handle)
        if principal is None:
            context.abort(grpc.StatusCode.NOT_FOUND, "handle not found or expired")
        if request.handle == "h-empty":
            return broker_pb2.RedeemResponse()
        return broker_pb2.RedeemResponse(ccache=fake_ccache(principal, request.service),
                                         principal=principal,
                                         expires_at=int(time.time()) + 3600)

    def Revoke(self, request, context):
        HANDLES.pop(request.handle, None)
        return broker_pb2.RevokeResponse()


@pytest.fixture
def fake():
    d = tempfile.mkdtemp(prefix="gsb-", dir="/tmp")
    path = os.path.join(d, "b.sock")
    servicer = FakeBroker()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    broker_pb2_grpc.add_CredentialBrokerServicer_to_server(servicer, server)
    server.add_insecure_port(f"unix:{path}")
    server.start()
    servicer.path = path
    servicer.address = f"unix:{path}"
    yield servicer
    server.stop(0)
    shutil.rmtree(d, ignore_errors=True)


def test_redeem_returns_the_ccache_and_principal(fake):
    b = gssgate.Broker(fake.address)
    cred = b.redeem("h-alice", "postgres/localhost")
    assert cred.principal == "alice@GSSGATE.TEST"
    assert bytes(cred.ccache[:2]) == b"\x05\x04"
    assert cred.expires_at.timestamp() > time.time() + 3000
    assert fake.requests == [("h-alice", "postgres/localhost")]
    assert "h-alice" not in repr(cred) and "ccache" not in repr(cred)


@pytest.mark.parametrize("handle,service,exc,needle", [
    ("h-nope", "postgres/localhost", errors.HandleNotFoundError, "handle not found or expired"),
    ("h-alice", "HTTP/x", errors.NotAllowedError, "not allowed: service HTTP/x"),
    ("h-alice", "bad service", errors.InvalidRequestError, "bad service name"),
    ("h-alice", "postgres/unknown", errors.ServiceUnknownError, "not known"),
    ("h-alice", "kdc/down", errors.KdcUnavailableError, "KDC unreachable"),
])
def test_broker_refusals_are_typed(fake, handle, service, exc, needle):
    b = gssgate.Broker(fake.address)
    with pytest.raises(exc) as e:
        b.credential(handle, service)
    assert needle in str(e.value)
    assert isinstance(e.value, errors.BrokerError) and e.value.code == exc.code
    assert "h-nope" not in str(e.value)


def test_unreachable_broker(tmp_path):
    b = gssgate.Broker(f"unix:{tmp_path}/missing.sock", timeout=2)
    with pytest.raises(errors.BrokerUnreachableError) as e:
        b.redeem("h-alice", "postgres/localhost")
    assert str(e.value) == (f"broker unreachable at unix:{tmp_path}/missing.sock "
                            f"(No such file or directory)")
    # A stale socket file nobody listens on.
    import socket
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(tmp_path / "stale.sock"))
    s.close()
    with pytest.raises(errors.BrokerUnreachableError, match="Connection refused"):
        gssgate.Broker(str(tmp_path / "stale.sock"), timeout=2).redeem("h", "postgres/x")


def test_deadline(fake):
    fake.delay = 1.5
    with pytest.raises(errors.BrokerTimeoutError, match="did not answer within 300 ms"):
        gssgate.Broker(fake.address, timeout=0.3).redeem("h-alice", "postgres/localhost")


def test_bad_address_and_empty_answers(fake):
    with pytest.raises(errors.InvalidRequestError, match="unix:/path"):
        gssgate.Broker("http://127.0.0.1:1")
    with pytest.raises(errors.NoCredentialError):
        gssgate.Broker(fake.address).redeem("", "postgres/localhost")
    HANDLES["h-empty"] = "x@GSSGATE.TEST"
    with pytest.raises(errors.BrokerError, match="empty ccache"):
        gssgate.Broker(fake.address).redeem("h-empty", "postgres/localhost")


def test_revoke(fake):
    HANDLES["h-carol"] = "carol@GSSGATE.TEST"
    b = gssgate.Broker(fake.address)
    b.revoke("h-carol")
    with pytest.raises(errors.HandleNotFoundError):
        b.redeem("h-carol", "postgres/localhost")
    b.revoke("h-unknown")  # OK too


def test_credential_scope_sets_and_restores_the_thread_default(fake, monkeypatch):
    monkeypatch.setenv("KRB5CCNAME", "FILE:/nonexistent/gssgate-test")
    import gssapi
    before = thread_default_ccache()
    cred = gssgate.Broker(fake.address).credential("h-alice", "postgres/localhost")
    with cred as c:
        assert c.ccache_name.startswith("FILE:/proc/self/fd/")
        assert thread_default_ccache() == c.ccache_name
        assert str(gssapi.Credentials(usage="initiate").name) == "alice@GSSGATE.TEST"
        fd = int(c.ccache_name.rsplit("/", 1)[1])
    assert thread_default_ccache() == before
    assert c.ccache_name is None and len(cred._redeemed.ccache) == 0  # wiped
    with pytest.raises(OSError):
        os.fstat(fd)  # memfd closed
    with pytest.raises(errors.CredentialError, match="used once"):
        with cred:
            pass


def test_two_threads_two_users_never_mix(fake):
    b = gssgate.Broker(fake.address)
    import gssapi
    seen = {"alice": [], "bob": []}
    barrier = threading.Barrier(2)

    def run(user):
        for _ in range(50):
            with b.credential(f"h-{user}", "postgres/localhost"):
                barrier.wait(timeout=10)  # both threads hold their credential at once
                seen[user].append(str(gssapi.Credentials(usage="initiate").name))
                barrier.wait(timeout=10)

    ts = [threading.Thread(target=run, args=(u,)) for u in ("alice", "bob")]
    for t in ts:
        t.start()
    for t in ts:
        t.join(30)
    assert seen["alice"] == ["alice@GSSGATE.TEST"] * 50
    assert seen["bob"] == ["bob@GSSGATE.TEST"] * 50


def test_file_fallback_is_private_and_removed(fake):
    cred = gssgate.Broker(fake.address).credential("h-bob", "postgres/localhost",
                                                   prefer_memory=False)
    with cred as c:
        path = c.ccache_name[len("FILE:"):]
        assert (os.stat(path).st_mode & 0o777) == 0o600
        assert (os.stat(os.path.dirname(path)).st_mode & 0o777) == 0o700
    assert not os.path.exists(path) and not os.path.exists(os.path.dirname(path))


def test_scope_ended_on_another_thread_is_refused_and_wiped(fake):
    cred = gssgate.Broker(fake.address).credential("h-alice", "postgres/localhost")
    cred.__enter__()
    name = cred.ccache_name
    errs = []
    t = threading.Thread(target=lambda: errs.append(_exit(cred)))
    t.start()
    t.join()
    assert isinstance(errs[0], errors.CredentialError)
    fd = int(name.rsplit("/", 1)[1])
    assert os.fstat(fd).st_size == 0  # emptied, fd kept so its number is not reused
    from gssgate._ccache import _Libs
    _Libs.get().set_thread_default(None)  # this thread still named it: clean up, then close
    os.close(fd)


def _exit(cred):
    try:
        cred.__exit__(None, None, None)
    except Exception as e:  # noqa: BLE001
        return e
    return None


def test_write_file_for_a_child_process(fake, tmp_path):
    cred = gssgate.Broker(fake.address).credential("h-alice", "postgres/localhost")
    name = cred.write_file(str(tmp_path / "cc"))
    assert name == f"FILE:{tmp_path}/cc" and (os.stat(tmp_path / "cc").st_mode & 0o777) == 0o600
    with pytest.raises(FileExistsError):
        cred.write_file(str(tmp_path / "cc"))
