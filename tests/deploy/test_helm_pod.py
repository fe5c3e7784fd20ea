"""The chart's pod, run on this machine: the real proxy and broker started from the configs the
chart renders, an echo server as "the app", and the chart's uids, gids and socket modes.

It proves the permission model the chart sets up, end to end: a delegated sign-in reaches the
app with a handle; the app's uid, with the pod's fsGroup, redeems it on the backend socket for
a PostgreSQL ticket; another uid is refused by policy; without the fsGroup the socket refuses
the connection; and the app can never use the deposit socket. (The test runs as root so that
it can take the app's uid and the daemons can give their sockets to other groups.)
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from deploytest import (ROOT, broker_binary, config_files, gssgatectl_binary, one, proxy_binary,
                        render, unix_path)

sys.path.insert(0, str(ROOT / "tests" / "realm"))
sys.path.insert(0, str(ROOT / "tests" / "integration"))
from echo_upstream import EchoUpstream  # noqa: E402
from gssgate_realm import Realm  # noqa: E402

APP_UID = 54321          # the app's uid and gid (no such account needed)
OTHER_UID = 54322        # another process in the pod that is not the app
FS_GROUP = 54330         # the pod's fsGroup: the backend socket's group
PROXY_GID = 54331        # the proxy's (and broker's) group: the deposit socket's group

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to take other uids")


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class Daemon:
    def __init__(self, cmd: list[str], log: Path, env: dict):
        self.log = log
        self._f = open(log, "wb")
        self.proc = subprocess.Popen(cmd, stdout=self._f, stderr=subprocess.STDOUT, env=env)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._f.close()
        return self.proc.returncode


@pytest.fixture(scope="module")
def pod(tmp_path_factory):
    work = tmp_path_factory.mktemp("pod")
    realm = Realm(work / "realm")
    realm.start()
    realm.add_user("alice")
    keytab = realm.add_service("HTTP/localhost", work / "http.keytab")
    realm.add_service("postgres/localhost", work / "postgres.keytab")
    alice_cc = realm.kinit("alice", work / "alice.ccache")
    upstream = EchoUpstream(port=0)
    upstream.start()

    docs = render(sets=[
        "replicaCount=1", f"app.port={upstream.port}", f"proxy.port={free_port()}",
        f"proxy.adminPort={free_port()}", f"app.uid={APP_UID}", f"app.gid={APP_UID}",
        f"podSecurityContext.fsGroup={FS_GROUP}", f"proxy.runAsGroup={PROXY_GID}",
        "proxy.log.format=text", "broker.log.format=text",
    ])
    # The pod's file system, under one short directory (Unix socket paths are short).
    root = Path(tempfile.mkdtemp(prefix="gsp-", dir="/tmp"))
    root.chmod(0o755)

    def local(text: str) -> str:
        for prefix in ("/etc/gssgate/", "/run/", "/var/lib/gssgate/"):
            text = text.replace(prefix, f"{root}{prefix}")
        return text.replace("0.0.0.0:", "127.0.0.1:")  # loopback only on a test machine

    _, _, proxy_text, broker_text = config_files(docs)
    proxy_cfg, broker_cfg = yaml.safe_load(local(proxy_text)), yaml.safe_load(local(broker_text))
    (root / "proxy.yaml").write_text(local(proxy_text))
    (root / "broker.yaml").write_text(local(broker_text))
    keys = one(docs, "Secret", "-keys")["data"]
    for path, key in ((proxy_cfg["session"]["key_file"], "session.keys"),
                      (proxy_cfg["assertion"]["key_file"], "assertion.pem")):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_bytes(base64.b64decode(keys[key]))
        Path(path).chmod(0o600)
    Path(proxy_cfg["keytab"]).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(keytab, proxy_cfg["keytab"])
    Path(proxy_cfg["replay_cache"].removeprefix("file2:")).parent.mkdir(parents=True)
    # The socket directories are emptyDirs: world-writable directories, as Kubernetes makes them.
    for address in (broker_cfg["listen"], broker_cfg["deposit_listen"]):
        d = Path(unix_path(address)).parent
        d.mkdir(parents=True, exist_ok=True)
        d.chmod(0o777)
        d.parent.chmod(0o755)
    krb5 = root / "krb5.conf"
    shutil.copy(realm.env()["KRB5_CONFIG"], krb5)
    krb5.chmod(0o644)
    env = dict(os.environ, KRB5_CONFIG=str(krb5), KRB5CCNAME=f"FILE:{root}/no-ccache")
    env.pop("KRB5_KTNAME", None)

    broker = Daemon([broker_binary(), "--config", str(root / "broker.yaml")], root / "broker.log",
                    env)
    proxy = Daemon([proxy_binary(), "--config", str(root / "proxy.yaml")], root / "proxy.log",
                   dict(env, KRB5RCACHEDIR=str(root)))
    admin = proxy_cfg["admin_listen"]

    def ready() -> bool:
        assert broker.alive(), broker.log.read_text()
        assert proxy.alive(), proxy.log.read_text()
        try:
            return (Path(unix_path(broker_cfg["listen"])).exists() and
                    urllib.request.urlopen(f"http://{admin}/readyz", timeout=2).status == 200)
        except OSError:
            return False

    wait_for(ready, "broker socket and proxy /readyz")
    info = {"root": root, "proxy_cfg": proxy_cfg, "broker_cfg": broker_cfg, "env": env,
            "alice_cc": alice_cc, "upstream": upstream, "broker": broker, "proxy": proxy}
    yield info
    assert proxy.stop() == 0, proxy.log.read_text()
    assert broker.stop() == 0, broker.log.read_text()
    upstream.stop()
    realm.stop()
    shutil.rmtree(root, ignore_errors=True)


def _sign_in(pod, delegate: bool) -> dict:
    """A Negotiate request (python-gssapi, SPNEGO) as alice; returns the app's view of it."""
    flags = "[gssapi.RequirementFlag.delegate_to_peer]" if delegate else "[]"
    token = subprocess.run(
        ["/usr/bin/python3", "-c",
         "import base64, gssapi; print(base64.b64encode(gssapi.SecurityContext("
         "name=gssapi.Name('HTTP@localhost', gssapi.NameType.hostbased_service), "
         f"mech=gssapi.OID.from_int_seq('1.3.6.1.5.5.2'), flags={flags}, "
         "usage='initiate').step()).decode())"],
        capture_output=True, text=True, check=True,
        env=dict(pod["env"], KRB5CCNAME=f"FILE:{pod['alice_cc']}")).stdout.strip()
    listen = pod["proxy_cfg"]["listen"]
    req = urllib.request.Request(f"http://{listen}/", headers={"Authorization": f"Negotiate {token}"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 200
        seen = json.loads(resp.read())
    return {k.lower(): v for k, v in seen["headers"]}


def _as(uid: int, gid: int, groups: list[int]):
    def drop():
        os.setgroups(groups)
        os.setgid(gid)
        os.setuid(uid)
    return drop


def _ctl(pod, args: list[str], uid: int, groups: list[int], tmp: Path) -> subprocess.CompletedProcess:
    env = dict(pod["env"], TMPDIR=str(tmp))
    if "ASAN_OPTIONS" in env:  # ASan pass: another uid may not read the LSan suppressions
        env["ASAN_OPTIONS"] += ":detect_leaks=0"
    return subprocess.run([gssgatectl_binary(), *args], capture_output=True, text=True,
                          timeout=30, env=env, preexec_fn=_as(uid, uid, groups))


def _app_dir(pod, uid: int) -> Path:
    """A private directory of `uid` inside the pod's root (removed with it)."""
    d = Path(tempfile.mkdtemp(prefix="app-", dir=pod["root"]))
    os.chown(d, uid, uid)
    return d


def _handle_file(pod, handle: str, uid: int) -> tuple[Path, Path]:
    d = _app_dir(pod, uid)
    f = d / "handle"
    f.write_text(handle)
    os.chown(f, uid, uid)
    f.chmod(0o600)
    return d, f


def test_delegated_sign_in_reaches_the_app_with_a_handle_it_can_redeem(pod):
    headers = _sign_in(pod, delegate=True)
    assert headers["x-remote-user"] == "alice"
    assert headers["x-remote-principal"] == "alice@GSSGATE.TEST"
    handle = headers["x-gssgate-credential"]
    d, f = _handle_file(pod, handle, APP_UID)
    backend = pod["broker_cfg"]["listen"]
    out = d / "ccache"
    p = _ctl(pod, ["credential", "--broker", backend, "--service", "postgres/localhost",
                   "--handle-file", str(f), "--out", str(out)], APP_UID, [FS_GROUP], d)
    assert p.returncode == 0, p.stderr
    assert f"KRB5CCNAME=FILE:{out}" in p.stdout
    assert out.stat().st_uid == APP_UID and out.stat().st_mode & 0o777 == 0o600
    klist = subprocess.run(["klist", "-c", str(out)], capture_output=True, text=True,
                           env=pod["env"])
    assert "postgres/localhost@GSSGATE.TEST" in klist.stdout
    assert "krbtgt/" not in klist.stdout  # policy: no TGT for the app


def test_another_uid_in_the_pod_is_refused_by_policy(pod):
    handle = _sign_in(pod, delegate=True)["x-gssgate-credential"]
    d, f = _handle_file(pod, handle, OTHER_UID)
    p = _ctl(pod, ["credential", "--broker", pod["broker_cfg"]["listen"], "--service",
                   "postgres/localhost", "--handle-file", str(f)], OTHER_UID, [FS_GROUP], d)
    assert p.returncode == 1
    assert f"not granted to uid {OTHER_UID}" in p.stderr


def test_without_the_fs_group_the_backend_socket_refuses(pod):
    d = _app_dir(pod, APP_UID)
    p = _ctl(pod, ["health", "--broker", pod["broker_cfg"]["listen"]], APP_UID, [], d)
    assert p.returncode == 1
    assert "Permission denied" in p.stderr


def test_the_app_cannot_use_the_deposit_socket(pod):
    d = _app_dir(pod, APP_UID)
    deposit = pod["broker_cfg"]["deposit_listen"]
    p = _ctl(pod, ["list", "--broker", deposit], APP_UID, [FS_GROUP], d)
    assert p.returncode == 1
    assert "Permission denied" in p.stderr
    # The proxy's group can (the control: the socket itself works).
    ok = _ctl(pod, ["health", "--broker", deposit], APP_UID + 100, [PROXY_GID], d)
    assert ok.returncode == 0, ok.stderr


def test_sign_in_without_delegation_has_no_handle(pod):
    headers = _sign_in(pod, delegate=False)
    assert headers["x-remote-user"] == "alice"
    assert "x-gssgate-credential" not in headers
