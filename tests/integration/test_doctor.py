"""`gssgatectl doctor` against a real MIT KDC, a real gssgate-broker and real files: one fully
healthy deployment where every check is ok, then each check against a deliberately broken setup,
asserting the FAIL/warn line and its fix.

How the faults are made (all honest, none simulated inside gssgatectl):
* stale kvno: the keytab is exported, then the principal is re-keyed with kadmin.local
  `cpw -randkey` (what happens when someone runs ktadd without -norandkey elsewhere);
* KDC unreachable: a second realm of our own whose krb5kdc is stopped;
* clock skew: gssgatectl runs under libfaketime (`faketime -f +10m`), i.e. on a host whose
  clock is ten minutes ahead of the KDC's — the KDC itself is untouched;
* unreadable keytab / unwritable replay directory: gssgatectl runs as `nobody` via setpriv (as
  root every file is readable and every directory writable);
* broker faults: a broker never started (sockets missing), SIGKILLed (stale socket files), and
  sockets chmod'ed after start.
Each test uses its own service principal (HTTP/doctor-*.test), keytab and temp dirs."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

import proxytest

pytest.register_assert_rewrite("broker_fixtures")  # before the import below
from broker_fixtures import gssgatectl_binary, krb5_env, short_dir  # noqa: E402
from gssgate_realm import Realm  # noqa: E402

pytest_plugins = ["broker_fixtures"]

LINE = re.compile(r"^(ok|warn|FAIL|skip)\s+(\S+): (.*)$")
NOBODY = 65534


class Doctor:
    """One run of gssgatectl doctor, parsed."""

    def __init__(self, res: subprocess.CompletedProcess):
        self.res = res
        self.rc = res.returncode
        self.lines: list[tuple[str, str, str]] = []
        for line in res.stdout.splitlines():
            m = LINE.match(line)
            if m:
                self.lines.append((m.group(1), m.group(2), m.group(3)))
            else:
                assert line.startswith("doctor: "), f"unexpected output line: {line!r}"

    def __repr__(self):
        return f"exit {self.rc}\n{self.res.stdout}\n{self.res.stderr}"

    def of(self, check: str) -> list[tuple[str, str]]:
        return [(v, t) for v, c, t in self.lines if c == check]

    def one(self, check: str) -> tuple[str, str]:
        found = self.of(check)
        assert len(found) == 1, f"expected one '{check}' line:\n{self}"
        return found[0]

    def expect(self, check: str, verdict: str, *needles: str) -> str:
        v, text = self.one(check)
        assert v == verdict, f"'{check}' is {v}, expected {verdict}:\n{self}"
        for n in needles:
            assert n in text, f"{n!r} not in the '{check}' line:\n{self}"
        return text


class Deployment:
    """A proxy config (not running: doctor only reads it), optionally a broker, and the
    environment doctor runs in."""

    def __init__(self, realm, tmp_path: Path, name: str):
        self.realm = realm
        self.dir = tmp_path
        self.spn = f"HTTP/{name}.test"
        self.principal = f"{self.spn}@{realm.realm}"
        self.keytab = tmp_path / f"{name}.keytab"
        self.rcache_dir = tmp_path / "rcache"
        self.rcache_dir.mkdir(mode=0o700)
        self.env = krb5_env(realm, tmp_path)
        self.env.pop("KRB5RCACHEDIR", None)
        self.env.pop("KRB5RCACHENAME", None)
        self.config = {
            "listen": f"127.0.0.1:{proxytest.free_port()}",
            "upstream": "http://127.0.0.1:9",
            "keytab": str(self.keytab),
            "acceptor": self.principal,
            "replay_cache": f"file2:{self.rcache_dir}/rc",
        }
        self.proxy_config = tmp_path / "proxy.yaml"

    def add_service(self, ok_as_delegate: bool = True) -> "Deployment":
        self.realm.add_service(self.spn, self.keytab)
        os.chmod(self.keytab, 0o600)
        if ok_as_delegate:
            self.realm.kadmin(f"modprinc +ok_as_delegate {self.spn}")
        return self

    def run(self, *extra, proxy: bool = True, broker=None, prefix=(), env=None,
            proxy_broker: str | None = None, **config) -> Doctor:
        """Writes the proxy config (base + `config`; `proxy_broker` is its `broker` key) and
        runs doctor on it and, when given, on `broker`'s config."""
        cfg = proxytest.deep_merge(self.config, config)
        if proxy_broker is not None:
            cfg["broker"] = proxy_broker
        self.proxy_config.write_text(proxytest.to_yaml(cfg) + "\n")
        args = []
        if proxy:
            args += ["--proxy-config", str(self.proxy_config)]
        if broker is not None:
            broker.write_config()
            args += ["--broker-config", str(broker.config_path)]
        res = subprocess.run([*prefix, gssgatectl_binary(), "doctor", *args, *map(str, extra)],
                             capture_output=True, text=True, env=env or self.env, timeout=60,
                             stdin=subprocess.DEVNULL)
        d = Doctor(res)
        assert d.rc in (0, 1), f"doctor exited {d.rc}:\n{d}"
        assert d.rc == (1 if any(v == "FAIL" for v, _, _ in d.lines) else 0), d
        assert res.stderr == "", d
        return d


@pytest.fixture
def deploy(realm, tmp_path, request):
    name = "doctor-" + re.sub(r"[^a-z0-9]+", "-", request.node.name.lower())[:40].strip("-")
    return Deployment(realm, tmp_path, name)


def key_hexes(keytab: Path, env) -> list[str]:
    """The key bytes klist -K shows, so a test can assert doctor never prints them."""
    res = subprocess.run(["klist", "-k", "-K", "-t", str(keytab)], capture_output=True,
                         text=True, env=env, timeout=10)
    assert res.returncode == 0, res.stderr
    return re.findall(r"\(0x([0-9a-f]{16,})\)", res.stdout)


def world_open_dir() -> Path:
    d = short_dir("gsd-")
    os.chmod(d, 0o755)
    return d


def as_nobody() -> tuple[str, ...]:
    return ("setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups")


# ------------------------------------------------------------------------------- healthy
def test_healthy_deployment_every_check_ok(deploy, broker_factory, realm):
    deploy.add_service(ok_as_delegate=True)
    me = os.getuid()
    b = broker_factory(policy=[{"uid": me, "services": ["postgres/*"]}])
    d = deploy.run("--uid", me, "--service", "postgres/localhost", broker=b,
                   proxy_broker=b.deposit)
    assert d.rc == 0, d
    assert [v for v, _, _ in d.lines] == ["ok"] * len(d.lines), d
    checks = [c for _, c, _ in d.lines]
    for c in ("broker-config", "proxy-config", "keytab", "keytab-mode", "kdc", "clock-skew",
              "kvno", "ok-as-delegate", "replay-cache", "proxy-broker", "socket:listen",
              "broker:listen", "socket:deposit_listen", "broker:deposit_listen", "policy"):
        assert c in checks, f"no '{c}' line:\n{d}"
    d.expect("kdc", "ok", "reachable", deploy.principal)
    d.expect("kvno", "ok", "the KDC issues kvno")
    d.expect("ok-as-delegate", "ok", "has ok_as_delegate")
    d.expect("policy", "ok", f"uid {me} may redeem postgres/localhost (policy entry 1")
    d.expect("broker:deposit_listen", "ok", "SERVING")
    # Never key material, even with everything working.
    for key in key_hexes(deploy.keytab, deploy.env):
        assert key not in d.res.stdout.lower()

    # --json carries the same verdicts.
    res = subprocess.run([gssgatectl_binary(), "doctor", "--json", "--proxy-config",
                          str(deploy.proxy_config), "--broker-config", str(b.config_path)],
                         capture_output=True, text=True, env=deploy.env, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    doc = json.loads(res.stdout)
    assert doc["fail"] == 0 and doc["warn"] == 0
    assert {c["check"] for c in doc["checks"]} >= {"kdc", "kvno", "policy"}
    assert all(c["status"] == "ok" for c in doc["checks"]), doc


# ------------------------------------------------------------------------------- keytab
def test_keytab_missing(deploy):
    d = deploy.run()  # never exported
    assert d.rc == 1
    d.expect("keytab", "FAIL", f"cannot read keytab {deploy.keytab}", "No such file")
    assert "ktadd" in d.res.stdout
    d.expect("kdc", "skip")


def test_keytab_unreadable_by_the_proxy_user(deploy, tmp_path):
    deploy.add_service()
    conf_dir = world_open_dir()  # nobody can reach it: only the keytab's own mode stops it
    try:
        keytab = conf_dir / "http.keytab"
        shutil.copy(deploy.keytab, keytab)
        os.chmod(keytab, 0o600)  # root's
        deploy.proxy_config = conf_dir / "proxy.yaml"
        d = deploy.run(prefix=as_nobody(), keytab=str(keytab))
        d.expect("keytab", "FAIL", "Permission denied", f"checked as uid {NOBODY}")
        assert "readable by the user the proxy runs as" in d.res.stdout
    finally:
        shutil.rmtree(conf_dir, ignore_errors=True)


def test_keytab_world_readable_warns(deploy):
    deploy.add_service()
    os.chmod(deploy.keytab, 0o644)
    d = deploy.run()
    d.expect("keytab-mode", "warn", "mode 0644", "other users can read it")
    assert f"chmod 0600 {deploy.keytab}" in d.res.stdout
    assert d.rc == 0, "a warning must not fail the run"


def test_keytab_lacks_the_acceptor(deploy, realm):
    deploy.add_service()
    d = deploy.run(acceptor=f"HTTP/absent.test@{realm.realm}")
    d.expect("keytab", "FAIL", f"no key for the configured acceptor HTTP/absent.test@",
             deploy.principal)
    d.expect("kdc", "skip")
    # Without an acceptor it lists the HTTP/* principals it holds.
    d = deploy.run(acceptor=None)
    d.expect("keytab", "ok", deploy.principal, "accepts tickets for any of them")


def test_stale_kvno_after_rekey(deploy, realm):
    deploy.add_service()
    realm.kadmin(f"cpw -randkey {deploy.spn}")  # the KDC's key moves on, the keytab does not
    d = deploy.run()
    d.expect("kdc", "ok", "reachable")
    text = d.expect("kvno", "FAIL", f"keytab {deploy.keytab} has kvno 2 for {deploy.principal}",
                    "the key was changed after the keytab was exported")
    assert "ktadd -k" in d.res.stdout and "-norandkey" in d.res.stdout
    assert "msktutil --update" in d.res.stdout
    # Exporting again (without re-keying) fixes it.
    realm.kadmin(f"ktadd -norandkey -k {deploy.keytab} {deploy.spn}")
    d = deploy.run()
    d.expect("kvno", "ok")
    assert text


def test_principal_unknown_to_the_kdc(deploy, realm, tmp_path):
    # A keytab for a principal that exists in another realm database only: make one with the
    # same name in a second realm, export it, and ask our KDC.
    other = Realm(tmp_path / "other")
    other.start()
    try:
        other.add_service(deploy.spn, deploy.keytab)
    finally:
        other.stop()
    os.chmod(deploy.keytab, 0o600)
    d = deploy.run()
    d.expect("kdc", "FAIL", f"does not know {deploy.principal}", "wrong service name or realm")
    assert "addprinc -randkey" in d.res.stdout


def test_spn_unknown_but_another_keytab_principal_signs_in(deploy, realm):
    # Active Directory style: the keytab also holds an account that can sign in, and the SPN
    # is asked for with that account's TGT. (MIT cannot make an SPN that exists but cannot sign
    # in, so here the SPN was deleted after export, and the KDC says so on the TGS request.)
    account = f"host/{deploy.spn.split('/', 1)[1]}"
    realm.add_service(account, deploy.keytab)
    realm.add_service(deploy.spn, deploy.keytab)
    realm.kadmin(f"delprinc -force {deploy.spn}")
    os.chmod(deploy.keytab, 0o600)
    d = deploy.run()
    d.expect("keytab", "ok", deploy.principal)
    d.expect("kdc", "FAIL", f"does not know {deploy.principal}",
             f"(asked with a TGT of {account}@{realm.realm})")


# ------------------------------------------------------------------------------- KDC
def test_kdc_unreachable(deploy, tmp_path):
    other = Realm(tmp_path / "stopped")
    other.start()
    other.add_service(deploy.spn, deploy.keytab)
    other.stop()  # the realm's KDC is down
    os.chmod(deploy.keytab, 0o600)
    env = dict(deploy.env, KRB5_CONFIG=str(other.krb5_conf))
    d = deploy.run(env=env)
    d.expect("kdc", "FAIL", "cannot reach any KDC for realm GSSGATE.TEST")
    assert "start the KDC" in d.res.stdout
    for check in ("clock-skew", "kvno", "ok-as-delegate"):
        d.expect(check, "skip")


def faketime(offset: str) -> tuple[str, ...]:
    exe = shutil.which("faketime")
    if exe is None:
        pytest.fail("faketime not installed (Debian package faketime; scripts/install-deps.sh)")
    return (exe, "-f", offset)


def faketime_env(deploy) -> dict:
    """libfaketime is an LD_PRELOAD library; an ASan build of gssgatectl (scripts/test.sh)
    would refuse to start unless its runtime comes first, so that check is turned off."""
    env = dict(deploy.env)
    asan = env.get("ASAN_OPTIONS", "")
    env["ASAN_OPTIONS"] = (asan + ":" if asan else "") + "verify_asan_link_order=0"
    return env


def test_clock_skew_fails_beyond_the_allowed_skew(deploy):
    deploy.add_service()
    d = deploy.run(prefix=faketime("+10m"), env=faketime_env(deploy))
    d.expect("clock-skew", "FAIL", "ahead of the KDC's", "allowed: 300 s")
    d.expect("kdc", "ok")  # MIT retried with the KDC's time; the proxy's accepts would not
    assert "synchronise the clocks" in d.res.stdout


def test_clock_skew_warns_when_close(deploy):
    deploy.add_service()
    d = deploy.run(prefix=faketime("-90s"), env=faketime_env(deploy))
    d.expect("clock-skew", "warn", "behind the KDC's", "allowed: 300 s")
    assert d.rc == 0


def test_ok_as_delegate_matters_only_with_a_broker(deploy, tmp_path):
    deploy.add_service(ok_as_delegate=False)
    sockdir = short_dir()
    try:
        sock = sockdir / "deposit.sock"
        d = deploy.run(proxy_broker=f"unix:{sock}")
        d.expect("ok-as-delegate", "warn", "lacks ok_as_delegate", "will not delegate",
                 "X-Gssgate-Credential")
        assert f"modprinc +ok_as_delegate {deploy.principal}" in d.res.stdout
        d = deploy.run()
        d.expect("ok-as-delegate", "ok", "no `broker` is configured")
    finally:
        shutil.rmtree(sockdir, ignore_errors=True)


# ------------------------------------------------------------------------------- replay cache
def test_replay_cache_directory_missing_or_not_a_directory(deploy, tmp_path):
    deploy.add_service()
    d = deploy.run(replay_cache=f"file2:{tmp_path}/nope/rc")
    d.expect("replay-cache", "FAIL", "No such file or directory", "every sign-in would fail")
    assert "mkdir -m 0700" in d.res.stdout
    plain = tmp_path / "plain-file"
    plain.write_text("x")
    d = deploy.run(replay_cache=f"file2:{plain}/rc")
    d.expect("replay-cache", "FAIL", "every sign-in would fail")
    # Without `replay_cache`, KRB5RCACHEDIR decides.
    env = dict(deploy.env, KRB5RCACHEDIR=str(tmp_path / "missing"))
    d = deploy.run(env=env, replay_cache=None)
    d.expect("replay-cache", "FAIL", "KRB5RCACHEDIR", str(tmp_path / "missing"))
    d = deploy.run(replay_cache="none:")
    d.expect("replay-cache", "warn", "replay protection is off")


def test_replay_cache_not_writable_by_the_proxy_user(deploy):
    conf_dir = world_open_dir()
    try:
        rc_dir = conf_dir / "rc"
        rc_dir.mkdir(mode=0o755)  # root's, not writable by nobody
        deploy.proxy_config = conf_dir / "proxy.yaml"
        d = deploy.run(prefix=as_nobody(), replay_cache=f"file2:{rc_dir}/rc")
        d.expect("replay-cache", "FAIL", f"cannot create a file in {rc_dir}", "Permission denied",
                 f"checked as uid {NOBODY}")
        # As root the same directory is fine, and nothing is left behind.
        d = deploy.run(replay_cache=f"file2:{rc_dir}/rc")
        d.expect("replay-cache", "ok", "is writable")
        assert list(rc_dir.iterdir()) == []
    finally:
        shutil.rmtree(conf_dir, ignore_errors=True)


# ------------------------------------------------------------------------------- broker
def test_broker_sockets_missing_when_the_broker_never_started(deploy, broker_factory):
    b = broker_factory(_start=False)
    d = deploy.run(proxy=False, broker=b)
    d.expect("broker-config", "ok")
    d.expect("socket:listen", "FAIL", f"{b.backend_path} is missing")
    d.expect("socket:deposit_listen", "FAIL", "is missing")
    d.expect("broker:listen", "skip")
    assert "start gssgate-broker" in d.res.stdout


def test_broker_not_running_leaves_stale_sockets(deploy, broker_factory):
    b = broker_factory()
    b.kill()  # SIGKILL: the socket files stay behind
    b.checked_exit = True
    d = deploy.run(proxy=False, broker=b)
    d.expect("socket:listen", "ok")
    d.expect("broker:listen", "FAIL", "does not answer", "Connection refused")
    d.expect("broker:deposit_listen", "FAIL", "does not answer")
    assert "stale" in d.res.stdout


def test_broker_socket_wrong_mode_and_owner(deploy, broker_factory):
    b = broker_factory(sockets={"listen": {"owner": NOBODY, "group": NOBODY}})
    d = deploy.run(proxy=False, broker=b)
    d.expect("socket:listen", "ok", f"owner uid {NOBODY}, group gid {NOBODY}")
    os.chmod(b.deposit_path, 0o666)
    os.chmod(b.backend_path, 0o600)
    os.chown(b.backend_path, 0, 0)
    d = deploy.run(proxy=False, broker=b)
    d.expect("socket:deposit_listen", "FAIL",
             "any local user can connect to the deposit socket")
    d.expect("socket:listen", "FAIL", "mode 0600 (configured 0660)",
             f"owner uid 0 (configured {NOBODY})", f"group gid 0 (configured {NOBODY})")
    d.expect("broker:listen", "ok", "SERVING")
    assert f"chmod 0660 {b.backend_path}" in d.res.stdout
    assert f"chown {NOBODY} {b.backend_path}" in d.res.stdout


def test_proxy_pointing_at_the_backend_socket(deploy, broker_factory):
    deploy.add_service()
    b = broker_factory()
    d = deploy.run(broker=b, proxy_broker=b.backend)
    d.expect("proxy-broker", "FAIL", "the broker's backend socket (`listen`)")
    assert f"broker: unix:{b.deposit_path}" in d.res.stdout


def test_proxy_config_alone_checks_its_broker_socket(deploy, broker_factory):
    deploy.add_service()
    b = broker_factory()
    d = deploy.run(proxy_broker=b.deposit)
    d.expect("proxy-broker", "ok", f"{b.deposit_path} is a socket")
    d.expect("broker:deposit_listen", "ok", "SERVING")
    b.stop()
    d = deploy.run(proxy_broker=b.deposit)
    d.expect("proxy-broker", "FAIL", f"{b.deposit_path} is missing")
    d.expect("broker:deposit_listen", "skip")


def test_broker_socket_not_connectable_by_the_caller(deploy, broker_factory):
    conf_dir = world_open_dir()
    try:
        b = broker_factory(listen=f"unix:{conf_dir}/backend.sock",
                           deposit_listen=f"unix:{conf_dir}/deposit.sock")
        b.config_path = conf_dir / "broker.yaml"
        d = deploy.run(proxy=False, broker=b, prefix=as_nobody())
        d.expect("socket:listen", "ok", "mode 0660")
        d.expect("broker:listen", "FAIL", "Permission denied")
        assert f"uid {NOBODY} may not connect" in d.res.stdout
    finally:
        shutil.rmtree(conf_dir, ignore_errors=True)


def test_policy_granting_and_not(deploy, broker_factory):
    me = os.getuid()
    b = broker_factory(_start=False, policy=[{"uid": me + 4242, "services": ["postgres/*"]},
                                             {"uid": "any", "services": ["ldap/*"]}])
    d = deploy.run("--uid", me, "--service", "postgres/localhost", proxy=False, broker=b)
    d.expect("policy", "FAIL", f"no policy entry grants postgres/localhost to uid {me}")
    assert f'- uid: {me}  services: ["postgres/*"]' in d.res.stdout
    d = deploy.run("--uid", me + 4242, "--service", "postgres/localhost", proxy=False, broker=b)
    d.expect("policy", "ok", "policy entry 1")
    d = deploy.run("--uid", me, "--service", "ldap/dir.test", proxy=False, broker=b)
    d.expect("policy", "ok", "policy entry 2: uid any -> ldap/*")
    d = deploy.run(proxy=False, broker=b)
    d.expect("policy", "ok", f"entry 1: uid {me + 4242} -> postgres/*; entry 2: uid any -> ldap/*")
    b.config.pop("policy")
    d = deploy.run(proxy=False, broker=b)
    d.expect("policy", "warn", "policy is empty")


# ------------------------------------------------------------------------------- usage
def test_usage_errors_and_bad_configs(deploy, tmp_path):
    res = subprocess.run([gssgatectl_binary(), "doctor"], capture_output=True, text=True,
                         env=deploy.env, timeout=10)
    assert res.returncode == 2 and "--proxy-config" in res.stderr
    res = subprocess.run([gssgatectl_binary(), "doctor", "--broker-config", "/x", "--uid",
                          "no-such-user-xyz", "--service", "postgres/x"],
                         capture_output=True, text=True, env=deploy.env, timeout=10)
    assert res.returncode == 2 and "no such user" in res.stderr
    res = subprocess.run([gssgatectl_binary(), "doctor", "--help"], capture_output=True,
                         text=True, env=deploy.env, timeout=10)
    assert res.returncode == 0 and "ok-as-delegate" in res.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("listen: 127.0.0.1:1\nupstream: http://127.0.0.1:2\nkeytab: /k\nbogus: 1\n")
    d = Doctor(subprocess.run([gssgatectl_binary(), "doctor", "--proxy-config", str(bad)],
                              capture_output=True, text=True, env=deploy.env, timeout=10))
    assert d.rc == 1
    d.expect("proxy-config", "FAIL", "bogus")
    d.expect("keytab", "skip")
