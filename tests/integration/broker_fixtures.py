"""Fixtures and helpers for the broker integration tests (test_broker.py, test_e2e_postgres.py).

Load it as a plugin from a test module (its fixtures then exist for the whole session):

    pytest_plugins = ["broker_fixtures"]
    from broker_fixtures import signin, redeem_ctl, ...   # plain helpers

* `BrokerProcess(config, workdir, env)` — a gssgate-broker ($GSSGATE_BROKER, default
  build/broker/gssgate-broker) started from a config dict; start() waits until both sockets
  accept connections; stop() sends SIGTERM and requires exit 0; restart().
* `broker_factory` fixture: `broker_factory(**overrides)` -> a running BrokerProcess whose
  sockets live in a short private directory (Unix socket paths are limited to 107 bytes, pytest's
  tmp_path is not short); overrides are deep-merged into base_broker_config() (None removes a
  key). At teardown every broker still running gets SIGTERM and must exit 0.
* `ctl(*args)` — runs gssgatectl ($GSSGATECTL, default build/client/gssgatectl).
* `redeem_ctl(backend_sock, handle, out, service=...)` — `gssgatectl credential`.
* `klist(path)` — (default principal, [server principals]) from `klist -c FILE:path`.
* `parse_ccache(bytes)` — a FILE ccache (v4) parsed: default principal and the credentials with
  their raw marshaled bytes (= krb5_marshal_credentials() output, what Deposit takes).
* `grpc_api` fixture (session): Python gRPC stubs generated at test time from
  proto/gssgate/v1/broker.proto with `python3 -m grpc_tools.protoc`; `.pb2`, `.pb2_grpc`,
  `.channel(path)`.
* `pg_service` fixture (session): makes sure postgres/localhost exists in the realm (the
  service the broker gets tickets for); PgCluster does the same without re-keying.
* `signin(proxy, user, client=..., delegate=...)` — one request through a proxy in front of the
  echo upstream; returns (status, headers the upstream saw, handle or None).
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "realm"))

import log_archive  # noqa: E402
import proxytest  # noqa: E402

PROTO_DIR = REPO / "proto"
BROKER_PROTO = PROTO_DIR / "gssgate" / "v1" / "broker.proto"
PG_SERVICE = "postgres/localhost"
REALM_NAME = "GSSGATE.TEST"
NOT_FOUND_MESSAGE = "handle not found or expired"


def broker_binary() -> str:
    return os.environ.get("GSSGATE_BROKER") or str(REPO / "build" / "broker" / "gssgate-broker")


def gssgatectl_binary() -> str:
    return os.environ.get("GSSGATECTL") or str(REPO / "build" / "client" / "gssgatectl")


def require_binaries() -> None:
    for what, path in (("gssgate-broker", broker_binary()), ("gssgatectl", gssgatectl_binary())):
        if not os.access(path, os.X_OK):
            pytest.fail(f"{what} not found at {path} (set GSSGATE_BROKER / GSSGATECTL or build it)")


def short_dir(prefix: str = "gsb-") -> Path:
    """A fresh 0700 directory with a short path, for Unix sockets."""
    return Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))


def krb5_env(realm, workdir: Path) -> dict[str, str]:
    """Environment for broker/gssgatectl: the realm's KRB5_CONFIG, no usable default ccache."""
    env = dict(os.environ)
    renv = realm.env()
    env["KRB5_CONFIG"] = renv["KRB5_CONFIG"]
    env["KRB5_KDC_PROFILE"] = renv["KRB5_KDC_PROFILE"]
    env["KRB5CCNAME"] = f"FILE:{workdir / 'no-such-ccache'}"
    for k in ("KRB5_TRACE", "KRB5_KTNAME", "GSSGATE_HANDLE"):
        env.pop(k, None)
    return env


# ------------------------------------------------------------------------------- the broker
def base_broker_config(sockdir: Path, name: str) -> dict:
    return {
        "listen": f"unix:{sockdir / (name + '-backend.sock')}",
        "deposit_listen": f"unix:{sockdir / (name + '-deposit.sock')}",
        "policy": [{"uid": "any", "services": ["postgres/*"]}],
        "log": {"level": "debug"},
    }


class BrokerStartError(AssertionError):
    pass


class BrokerProcess:
    def __init__(self, config: dict, workdir: Path, env: dict[str, str], name: str = "broker"):
        self.config = config
        self.workdir = Path(workdir)
        self.env = env
        self.name = name
        self.config_path = self.workdir / f"{name}.yaml"
        self.log_path = log_archive.log_path(self.workdir / f"{name}.log", name)
        self.proc: subprocess.Popen | None = None
        self._logf = None
        self.checked_exit = False

    @staticmethod
    def _path(value: str) -> str:
        return value[5:] if value.startswith("unix:") else value

    @property
    def backend_path(self) -> str:
        return self._path(self.config["listen"])

    @property
    def deposit_path(self) -> str:
        return self._path(self.config["deposit_listen"])

    @property
    def backend(self) -> str:
        return f"unix:{self.backend_path}"

    @property
    def deposit(self) -> str:
        return f"unix:{self.deposit_path}"

    def write_config(self, config: dict | None = None, text: str | None = None) -> None:
        if config is not None:
            self.config = config
        self.config_path.write_text(text if text is not None
                                    else proxytest.to_yaml(self.config) + "\n")

    def check_config(self, text: str | None = None) -> subprocess.CompletedProcess:
        self.write_config(text=text)
        return subprocess.run([broker_binary(), "--config", str(self.config_path),
                               "--check-config"], capture_output=True, text=True, env=self.env,
                              timeout=20)

    def start(self, wait_ready: bool = True, timeout: float = 10) -> "BrokerProcess":
        self.write_config()
        self.checked_exit = False
        self._logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen([broker_binary(), "--config", str(self.config_path)],
                                     stdin=subprocess.DEVNULL, stdout=self._logf,
                                     stderr=self._logf, env=self.env, cwd=self.workdir)
        if wait_ready:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        pending = [self.deposit_path, self.backend_path]
        last = ""
        while time.monotonic() < deadline:
            rc = self.proc.poll()
            if rc is not None:
                raise BrokerStartError(f"gssgate-broker exited with {rc} during start-up; "
                                       f"log:\n{self.log_tail()}")
            while pending:
                try:
                    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                        s.settimeout(1)
                        s.connect(pending[0])
                    pending.pop(0)
                except OSError as e:
                    last = f"{pending[0]}: {e}"
                    break
            if not pending:
                return
            time.sleep(0.02)
        raise BrokerStartError(f"gssgate-broker not ready within {timeout}s ({last}); "
                               f"log:\n{self.log_tail()}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_bytes(self) -> bytes:
        try:
            return self.log_path.read_bytes()
        except FileNotFoundError:
            return b""

    def log_tail(self, n: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-n:])

    def wait_for_log(self, pattern: str, timeout: float = 5, start: int = 0) -> str | None:
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            for line in self.log_text()[start:].splitlines():
                if rx.search(line):
                    return line
            if time.monotonic() > deadline:
                return None
            time.sleep(0.05)

    def log_size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except FileNotFoundError:
            return 0

    def stop(self, timeout: float = 10) -> int:
        """SIGTERM; the broker must exit 0 within `timeout` seconds."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"gssgate-broker did not exit within {timeout}s of SIGTERM; "
                                 f"log:\n{self.log_tail()}")
        finally:
            if self._logf is not None:
                self._logf.close()
                self._logf = None
        self.checked_exit = True
        assert rc == 0, f"gssgate-broker exited with {rc} after SIGTERM; log:\n{self.log_tail()}"
        return rc

    def restart(self) -> "BrokerProcess":
        self.stop()
        return self.start()

    def reload(self, config: dict) -> None:
        self.write_config(config)
        self.proc.send_signal(signal.SIGHUP)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self._logf is not None:
            self._logf.close()
            self._logf = None


class BrokerSet:
    """Starts brokers for one test (or module) and checks that each exits 0 on SIGTERM."""

    def __init__(self, realm, workdir: Path):
        self.realm = realm
        self.workdir = Path(workdir)
        self.sockdir = short_dir()
        self.env = krb5_env(realm, self.workdir)
        self.started: list[BrokerProcess] = []

    def __call__(self, _start: bool = True, _name: str | None = None, **overrides):
        name = _name or f"broker{len(self.started)}"
        cfg = proxytest.deep_merge(base_broker_config(self.sockdir, name), overrides)
        b = BrokerProcess(cfg, self.workdir, self.env, name=name)
        self.started.append(b)
        if _start:
            b.start()
        else:
            b.write_config()
        return b

    def close(self) -> list[str]:
        errors = []
        for b in self.started:
            if b.checked_exit or b.proc is None:
                continue
            try:
                b.stop()
            except AssertionError as e:
                errors.append(f"{b.name}: {e}")
        shutil.rmtree(self.sockdir, ignore_errors=True)
        return errors


@pytest.fixture
def broker_factory(realm, tmp_path):
    require_binaries()
    brokers = BrokerSet(realm, tmp_path)
    yield brokers
    errors = brokers.close()
    if errors:
        pytest.fail("\n".join(errors))


@pytest.fixture(scope="session")
def pg_service(realm, tmp_path_factory):
    """postgres/localhost exists in the KDC (adding it again later only exports its keys)."""
    if PG_SERVICE not in realm.services:
        realm.add_service(PG_SERVICE, tmp_path_factory.mktemp("pgsvc") / "postgres.keytab")
    return PG_SERVICE


# ------------------------------------------------------------------------------- gssgatectl
def ctl(*args, env: dict | None = None, timeout: float = 30,
        input: str | None = None, preexec=None) -> subprocess.CompletedProcess:
    e = dict(env if env is not None else os.environ)
    if env is None:
        e.pop("GSSGATE_HANDLE", None)
    return subprocess.run([gssgatectl_binary(), *[str(a) for a in args]], capture_output=True,
                          text=True, env=e, timeout=timeout, input=input,
                          stdin=None if input is not None else subprocess.DEVNULL,
                          preexec_fn=preexec)


def redeem_ctl(backend: str, handle: str, out: Path | None, service: str = PG_SERVICE,
               env: dict | None = None) -> subprocess.CompletedProcess:
    args = ["credential", "--broker", backend if backend.startswith("unix:") else
            f"unix:{backend}", "--service", service, "--handle", handle]
    if out is not None:
        args += ["--out", str(out)]
    return ctl(*args, env=env)


def assert_ctl_fails(res: subprocess.CompletedProcess, *needles: str) -> None:
    assert res.returncode != 0, f"gssgatectl succeeded: {res.stdout!r}"
    err = res.stderr.strip()
    assert len(err.splitlines()) == 1, f"expected one error line, got:\n{err}"
    for n in needles:
        assert n in err, f"{n!r} not in gssgatectl's error: {err!r}"
    assert res.stdout.strip() == "", res.stdout


def klist(path, env: dict | None = None) -> tuple[str, list[str]]:
    """(default principal, [ticket server principals]) of the FILE ccache at `path`."""
    e = dict(env or os.environ)
    res = subprocess.run(["klist", "-c", f"FILE:{path}"], capture_output=True, text=True,
                         env=e, timeout=10)
    assert res.returncode == 0, f"klist -c {path} failed: {res.stderr}"
    default = ""
    servers = []
    for line in res.stdout.splitlines():
        m = re.match(r"Default principal: (\S+)", line)
        if m:
            default = m.group(1)
            continue
        m = re.match(r"^\d\d/\d\d/\d\d\S* \S+\s+\d\d/\d\d/\d\d\S* \S+\s+(\S+)$", line.strip())
        if m:
            servers.append(m.group(1))
    return default, servers


# ------------------------------------------------------------------------------- ccache format
@dataclass
class CcacheCred:
    client: str
    server: str
    endtime: int
    is_skey: int
    ticket: bytes
    raw: bytes  # the credential in ccache v4 / krb5_marshal_credentials() format


class _Reader:
    def __init__(self, data: bytes):
        self.d = data
        self.i = 0

    def take(self, n: int) -> bytes:
        if self.i + n > len(self.d):
            raise ValueError("truncated ccache")
        b = self.d[self.i:self.i + n]
        self.i += n
        return b

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return struct.unpack(">H", self.take(2))[0]

    def u32(self) -> int:
        return struct.unpack(">I", self.take(4))[0]

    def data(self) -> bytes:
        return self.take(self.u32())

    def principal(self) -> str:
        self.u32()  # name type
        n = self.u32()
        realm = self.data().decode()
        comps = [self.data().decode() for _ in range(n)]
        return "/".join(comps) + "@" + realm


def parse_ccache(data: bytes) -> tuple[str, list[CcacheCred]]:
    r = _Reader(data)
    if r.u16() != 0x0504:
        raise ValueError("not a version 4 ccache")
    r.take(r.u16())  # header tags
    default = r.principal()
    creds = []
    while r.i < len(r.d):
        start = r.i
        client = r.principal()
        server = r.principal()
        r.u16()  # enctype
        r.data()  # key
        r.u32()  # authtime
        r.u32()  # starttime
        endtime = r.u32()
        r.u32()  # renew_till
        is_skey = r.u8()
        r.u32()  # flags
        for _ in range(r.u32()):  # addresses
            r.u16()
            r.data()
        for _ in range(r.u32()):  # authdata
            r.u16()
            r.data()
        ticket = r.data()
        r.data()  # second ticket
        creds.append(CcacheCred(client, server, endtime, is_skey, ticket, r.d[start:r.i]))
    return default, creds


def real_creds(creds: list[CcacheCred]) -> list[CcacheCred]:
    """Without the krb5 configuration entries (X-CACHECONF:)."""
    return [c for c in creds if not c.server.endswith("@X-CACHECONF:")]


def tgt_bytes(ccache_path) -> bytes:
    """The marshaled krbtgt/REALM@REALM credential from a kinit'ed ccache."""
    _, creds = parse_ccache(Path(ccache_path).read_bytes())
    for c in creds:
        if c.server == f"krbtgt/{REALM_NAME}@{REALM_NAME}":
            return c.raw
    raise AssertionError(f"no TGT in {ccache_path}")


# ------------------------------------------------------------------------------- gRPC (Python)
class GrpcApi:
    def __init__(self, pb2, pb2_grpc):
        self.pb2 = pb2
        self.pb2_grpc = pb2_grpc

    @staticmethod
    def channel(path: str):
        import grpc
        path = path[5:] if path.startswith("unix:") else path
        return grpc.insecure_channel(f"unix:{path}")

    def deposit(self, path: str, principal: str, tgt: bytes, timeout: float = 10):
        with self.channel(path) as ch:
            stub = self.pb2_grpc.CredentialDepositStub(ch)
            reply = stub.Deposit(self.pb2.DepositRequest(principal=principal, tgt=tgt),
                                 timeout=timeout)
            log_archive.record_secret(reply.handle)
            return reply

    def redeem(self, path: str, handle: str, service: str = PG_SERVICE, timeout: float = 10):
        with self.channel(path) as ch:
            stub = self.pb2_grpc.CredentialBrokerStub(ch)
            return stub.Redeem(self.pb2.RedeemRequest(handle=handle, service=service),
                               timeout=timeout)

    def list(self, path: str, timeout: float = 10):
        with self.channel(path) as ch:
            return self.pb2_grpc.CredentialAdminStub(ch).List(self.pb2.ListRequest(),
                                                               timeout=timeout)

    def code_of(self, fn, *args, **kw):
        """The grpc.StatusCode a call fails with (OK when it succeeds) and the details."""
        import grpc
        try:
            fn(*args, **kw)
            return grpc.StatusCode.OK, ""
        except grpc.RpcError as e:
            return e.code(), e.details()


@pytest.fixture(scope="session")
def grpc_api(tmp_path_factory):
    import importlib.util
    missing = [m for m in ("grpc", "grpc_tools") if importlib.util.find_spec(m) is None]
    if missing:
        pytest.fail(f"python3-grpcio / python3-grpc-tools missing ({', '.join(missing)}); "
                    f"run scripts/install-deps.sh")
    out = tmp_path_factory.mktemp("grpc_stubs")
    res = subprocess.run([sys.executable, "-m", "grpc_tools.protoc", f"-I{PROTO_DIR}",
                          f"--python_out={out}", f"--grpc_python_out={out}", str(BROKER_PROTO)],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, f"grpc_tools.protoc failed:\n{res.stderr}"
    sys.path.insert(0, str(out))
    try:
        from gssgate.v1 import broker_pb2, broker_pb2_grpc
    finally:
        sys.path.remove(str(out))
    return GrpcApi(broker_pb2, broker_pb2_grpc)


# ------------------------------------------------------------------------------- handles
def handle_parts(handle: str) -> tuple[str, bytes]:
    """("gsh1.", raw bytes = key_id[4] | nonce[12] | ciphertext | tag[16])."""
    prefix, _, body = handle.partition(".")
    raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    return prefix + ".", raw


def make_handle(prefix: str, raw: bytes) -> str:
    return prefix + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def seal_handle(key_id: int, key: bytes, credential_id: bytes, principal: str,
                expires_at: int) -> str:
    """A handle sealed exactly as common/handle_codec.cc does (for tests that hold the key)."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    kid = struct.pack(">I", key_id)
    plain = credential_id + struct.pack(">Q", expires_at) + principal.encode()
    nonce = os.urandom(12)
    sealed = AESGCM(key).encrypt(nonce, plain, b"gssgate handle v1|" + kid)
    return make_handle("gsh1.", kid + nonce + sealed)


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# ------------------------------------------------------------------------------- sign-in
def signin(proxy, user: str, client: str = "curl", delegate: bool = True, path: str = "/"):
    """One request as `user` through `proxy` (in front of the echo upstream). Returns (status,
    upstream headers as a list of pairs, the X-Gssgate-Credential handle or None)."""
    if client == "curl":
        r = proxytest.curl_negotiate(proxy.url(path), user, delegate=delegate)
        assert r.returncode == 0, r.stderr
        status, body = r.status, r.body
    else:
        hdr = proxytest.auth_header(user, delegate=delegate)
        resp = proxytest.http_request(proxy.port, path=path, headers=hdr)
        status, body = resp.status, resp.body
    if status != 200:
        return status, [], None
    import json
    seen = [(k, v) for k, v in json.loads(body)["headers"]]
    handles = [v for k, v in seen if k.lower() == "x-gssgate-credential"]
    assert len(handles) <= 1, seen
    return status, seen, handles[0] if handles else None


def header(seen: list[tuple[str, str]], name: str) -> list[str]:
    return [v for k, v in seen if k.lower() == name.lower()]


# ------------------------------------------------------------------------------- e2e helpers
def start_delegating_proxy(realm, workdir: Path, upstream: str, broker, name: str,
                           admin_port: int | None = None, **overrides) -> proxytest.ProxyProcess:
    """A gssgate-proxy in front of `upstream` that deposits with `broker`; base_config plus
    `overrides`. Retries with new ports when another process took the chosen ones."""
    for _ in range(3):
        cfg = proxytest.base_config(realm, upstream)
        if admin_port:
            cfg["admin_listen"] = f"127.0.0.1:{admin_port}"
        cfg["broker"] = broker.deposit
        cfg["timeouts"] = {"drain": "5s", "broker": "3s"}
        cfg = proxytest.deep_merge(cfg, overrides)
        p = proxytest.ProxyProcess(cfg, workdir, proxytest.proxy_env(realm, workdir), name=name)
        try:
            return p.start()
        except proxytest.ProxyStartError:
            p.kill()
            if "in use" not in p.log_text().lower():
                raise
            p.log_path.write_text("")
            admin_port = None
    raise AssertionError(f"{name}: no free port after 3 attempts")


def start_pg(realm, tmp_path_factory, users: list[str]):
    """A GSSAPI-only PostgreSQL cluster with a role per user (stop it with .stop())."""
    from pg_cluster import PG_BIN, PgCluster
    if not (PG_BIN / "postgres").exists():
        pytest.fail(f"PostgreSQL 15 is not installed ({PG_BIN}); run scripts/install-deps.sh")
    cluster = PgCluster(tmp_path_factory.mktemp("pg"), realm)
    cluster.start(roles=users)
    return cluster
