"""Client of gssgate-broker's backend socket: redeem a handle for a service ticket and use it.

    broker = gssgate.Broker("unix:/run/gssgate/broker.sock")       # one per process is enough
    with broker.credential(handle, "postgres/db.example.com"):
        conn = psycopg2.connect(host="db.example.com", dbname="app", user="alice")
    # the connection stays authenticated; the ticket is gone from this process

The broker identifies the caller by the kernel (SO_PEERCRED); nothing is sent but the handle
and the service. Thread-safe: one Broker (one gRPC channel) serves every thread. Errors are the
typed exceptions of gssgate.errors, mapped from gRPC status codes as the C++ SDK maps them.
"""

from __future__ import annotations

import datetime as _dt
import errno
import os
import socket as _socket
from dataclasses import dataclass, field

import grpc

from . import errors
from ._ccache import ThreadCcacheScope, check_ccache_bytes
from ._proto import broker_pb2, broker_pb2_grpc

# The broker is local: retry a vanished socket quickly instead of gRPC's 1 s..120 s backoff.
_CHANNEL_OPTIONS = [
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 2000),
    ("grpc.max_receive_message_length", 64 << 20),
]

_BY_CODE = {
    grpc.StatusCode.NOT_FOUND: errors.HandleNotFoundError,
    grpc.StatusCode.PERMISSION_DENIED: errors.NotAllowedError,
    grpc.StatusCode.INVALID_ARGUMENT: errors.InvalidRequestError,
    grpc.StatusCode.FAILED_PRECONDITION: errors.ServiceUnknownError,
    grpc.StatusCode.UNAVAILABLE: errors.KdcUnavailableError,
    grpc.StatusCode.DEADLINE_EXCEEDED: errors.BrokerTimeoutError,
}

# grpc.health.v1.HealthCheckResponse.ServingStatus
_SERVING_STATUS = {0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING", 3: "SERVICE_UNKNOWN"}


def _socket_path(address: str) -> str | None:
    """The path of "unix:/abs", "unix:rel", "unix:///abs" or a bare "/abs"; else None."""
    if address.startswith("/"):
        return address
    if not address.startswith("unix:"):
        return None
    path = address[5:]
    if path.startswith("//"):
        path = path[2:]
        if not path.startswith("/"):
            return None
    return path or None


def _connect_failure(path: str) -> str:
    """Why connecting to the Unix socket fails, or "" when something accepts there."""
    try:
        with _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM) as s:
            s.setblocking(False)
            s.connect(path)
        return ""
    except BlockingIOError:
        return ""  # busy, but there
    except OSError as e:
        if e.errno == errno.EAGAIN:
            return ""
        return os.strerror(e.errno) if e.errno else str(e)


@dataclass
class RedeemedCredential:
    """What Redeem returned: `ccache` (MIT FILE format v4 bytes, holding only the service
    ticket), the client `principal` and when the ticket `expires_at` (UTC)."""

    ccache: bytearray = field(repr=False)
    principal: str
    expires_at: _dt.datetime

    def wipe(self) -> None:
        """Overwrites the bytes held here (Python may still have copies elsewhere)."""
        for i in range(len(self.ccache)):
            self.ccache[i] = 0
        del self.ccache[:]


class Credential:
    """A redeemed credential; `with` makes it the current thread's default ccache.

    Inside the block GSS-API users in this thread — libpq/psycopg2, python-gssapi with default
    credentials — authenticate as `principal`; other threads and KRB5CCNAME are untouched. On
    exit the thread's previous default is back and the ccache is wiped. One use: the bytes are
    wiped at the end of the block. Enter and leave it on the same thread (not across `await`).
    """

    def __init__(self, redeemed: RedeemedCredential, prefer_memory: bool = True):
        self._redeemed = redeemed
        self._prefer_memory = prefer_memory
        self._scope: ThreadCcacheScope | None = None
        self._used = False

    @property
    def principal(self) -> str:
        return self._redeemed.principal

    @property
    def expires_at(self) -> _dt.datetime:
        return self._redeemed.expires_at

    @property
    def ccache_name(self) -> str | None:
        """The thread's ccache name while the block runs (`FILE:/proc/self/fd/N`), else None."""
        return self._scope.name if self._scope else None

    def __enter__(self) -> "Credential":
        if self._used:
            raise errors.CredentialError("a gssgate Credential is used once: redeem again")
        self._used = True
        try:
            self._scope = ThreadCcacheScope(self._redeemed.ccache, self._prefer_memory)
        except BaseException:
            self._redeemed.wipe()
            raise
        return self

    def __exit__(self, *exc) -> None:
        scope, self._scope = self._scope, None
        try:
            if scope is not None:
                scope.exit()
        finally:
            self._redeemed.wipe()

    def write_file(self, path: str) -> str:
        """Writes the ccache to a new 0600 file (never overwrites, never follows a symlink) for
        a child process (`KRB5CCNAME=FILE:path`); returns that KRB5CCNAME value. The caller
        deletes the file. Call it before the `with` block, which wipes the bytes."""
        if self._used:
            raise errors.CredentialError("the credential was already used and wiped")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(self._redeemed.ccache)
        return f"FILE:{path}"


class Broker:
    """A client of the broker's backend socket (`listen` in its config).

    `address` is `unix:/path` (or a bare absolute path); `timeout` bounds every call (seconds).
    """

    def __init__(self, address: str, timeout: float = 5.0):
        path = _socket_path(address)
        if path is None:
            raise errors.InvalidRequestError(
                f"broker address must be unix:/path/to/socket, not {address!r}")
        self.address = f"unix:{path}"
        self.timeout = timeout
        self._path = path
        self._channel = grpc.insecure_channel(self.address, options=_CHANNEL_OPTIONS)
        self._stub = broker_pb2_grpc.CredentialBrokerStub(self._channel)
        self._health = self._channel.unary_unary(
            "/grpc.health.v1.Health/Check",
            request_serializer=_encode_health_request,
            response_deserializer=_decode_health_response)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> "Broker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Broker({self.address!r})"

    # ------------------------------------------------------------------------- calls
    def redeem(self, handle: str, service: str) -> RedeemedCredential:
        """Redeems `handle` for a ccache holding only a ticket for `service`
        ("postgres/db.example.com"). Raises a gssgate.errors.BrokerError subclass."""
        if not handle:
            raise errors.NoCredentialError("no credential handle (the client did not delegate)")
        try:
            resp = self._stub.Redeem(broker_pb2.RedeemRequest(handle=handle, service=service),
                                     timeout=self.timeout)
        except grpc.RpcError as e:
            raise self._error(e, "gssgate.v1.CredentialBroker/Redeem") from None
        if not resp.ccache:
            raise errors.BrokerError(f"broker at {self.address} returned an empty ccache",
                                     "INTERNAL")
        data = bytearray(resp.ccache)
        check_ccache_bytes(data)
        expires = _dt.datetime.fromtimestamp(resp.expires_at, _dt.timezone.utc)
        return RedeemedCredential(data, resp.principal, expires)

    def credential(self, handle: str, service: str, prefer_memory: bool = True) -> Credential:
        """Redeems now (errors are raised here) and returns a Credential to use with `with`."""
        return Credential(self.redeem(handle, service), prefer_memory)

    def revoke(self, handle: str) -> None:
        """Revokes the credential behind `handle` (e.g. at logout). OK for an unknown handle."""
        try:
            self._stub.Revoke(broker_pb2.RevokeRequest(handle=handle), timeout=self.timeout)
        except grpc.RpcError as e:
            raise self._error(e, "gssgate.v1.CredentialBroker/Revoke") from None

    def health(self, service: str = "") -> str:
        """grpc.health.v1 status: "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN" or "UNKNOWN"."""
        try:
            return self._health(service, timeout=self.timeout)
        except grpc.RpcError as e:
            if e.code() == grpc.StatusCode.NOT_FOUND:
                return "SERVICE_UNKNOWN"
            raise self._error(e, "grpc.health.v1.Health/Check") from None

    # ------------------------------------------------------------------------- errors
    def _error(self, e: grpc.RpcError, method: str) -> errors.BrokerError:
        code = e.code()
        msg = e.details() or ""
        name = code.name if code is not None else "UNKNOWN"
        if code == grpc.StatusCode.UNAVAILABLE:
            # The broker answers UNAVAILABLE itself when its KDC is down: only a socket nobody
            # answers on makes the broker "unreachable".
            why = _connect_failure(self._path)
            if why:
                return errors.BrokerUnreachableError(
                    f"broker unreachable at {self.address} ({why})")
        elif code == grpc.StatusCode.DEADLINE_EXCEEDED:
            return errors.BrokerTimeoutError(
                f"broker at {self.address} did not answer within {self.timeout * 1000:.0f} ms")
        elif code == grpc.StatusCode.UNIMPLEMENTED and not msg:
            return errors.BrokerError(
                f"{self.address} does not serve {method} (backends redeem on the broker's "
                f"`listen` socket, not `deposit_listen`)", name)
        if not msg:
            msg = f"broker at {self.address} returned {name}"
        if code == grpc.StatusCode.PERMISSION_DENIED and not msg.startswith("not allowed"):
            msg = f"not allowed: {msg}"  # as gssgatectl says it
        return _BY_CODE.get(code, errors.BrokerError)(msg, name)


def _encode_health_request(service: str) -> bytes:
    raw = service.encode()
    if not raw:
        return b""
    if len(raw) > 127:
        raise errors.InvalidRequestError("health service name too long")
    return b"\x0a" + bytes([len(raw)]) + raw  # field 1, length-delimited


def _decode_health_response(data: bytes) -> str:
    # HealthCheckResponse { ServingStatus status = 1; } -> b"\x08" varint (0..3) or empty
    if len(data) >= 2 and data[0] == 0x08:
        return _SERVING_STATUS.get(data[1], "UNKNOWN")
    return "UNKNOWN"
