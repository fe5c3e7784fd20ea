#!/usr/bin/python3
"""A throw-away MIT Kerberos realm on loopback, for tests, benchmarks and the demo (k5test style).

Library use (pytest fixtures, scripts):

    from gssgate_realm import Realm
    realm = Realm(tmpdir)                 # everything lives inside tmpdir
    realm.start()                         # krb5kdc on 127.0.0.1:<random port>, ~1 s
    realm.add_user("alice", "alice-password")
    realm.add_service("HTTP/localhost", tmpdir / "http.keytab")
    realm.kinit("alice", tmpdir / "alice.ccache")
    env = realm.env(ccache=tmpdir / "alice.ccache")   # KRB5_CONFIG, KRB5CCNAME, ...
    ...
    realm.stop()                          # also runs at interpreter exit

Faults (tests/integration/test_faults_kdc.py): realm.stop_kdc() / start_kdc() (same port),
pause_kdc() / resume_kdc() (SIGSTOP: a hung KDC), restart_kdc(clock_offset="+10m") (libfaketime),
rekey_service(spn, keytab) (kvno + 1, appended to the keytab), kvno(spn).

Command line (used by the C++ GoogleTest fixture, bench/ and the demo):

    /usr/bin/python3 tests/realm/gssgate_realm.py up DIR --users alice,bob \
        --service HTTP/localhost=DIR/http.keytab [--kinit]
    . DIR/env.sh            # or read DIR/env.json / DIR/env.list (KEY=VALUE lines)
    /usr/bin/python3 tests/realm/gssgate_realm.py kinit DIR alice [CCACHE]
    /usr/bin/python3 tests/realm/gssgate_realm.py down DIR

`up` leaves krb5kdc running in the background (pid in DIR/kdc.pid) and exits; passwords are
`<user>-password`. `down` stops it. Only 127.0.0.1 is ever used; the port is random.

Realm: GSSGATE.TEST. The KDC speaks TCP (udp_preference_limit = 0); no DNS is consulted
(dns_lookup_kdc/realm = false, rdns = false, dns_canonicalize_hostname = false,
qualify_shortname = "" so that `HTTP@localhost` stays `HTTP/localhost`).
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

REALM = "GSSGATE.TEST"
MASTER_PASSWORD = "gssgate-master-key"

KRB5KDC = shutil.which("krb5kdc", path="/usr/sbin:/usr/bin:/sbin:/bin") or "/usr/sbin/krb5kdc"
KDB5_UTIL = shutil.which("kdb5_util", path="/usr/sbin:/usr/bin:/sbin:/bin") or "/usr/sbin/kdb5_util"
KADMIN_LOCAL = (shutil.which("kadmin.local", path="/usr/sbin:/usr/bin:/sbin:/bin")
                or "/usr/sbin/kadmin.local")
KINIT = shutil.which("kinit", path="/usr/bin:/bin:/usr/sbin") or "/usr/bin/kinit"
# libfaketime (Debian package faketime), for a KDC whose clock is off (restart_kdc).
FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"

# Domains whose host-based services belong to the realm. `other.example` is used by tests for a
# service principal that exists in the KDC but is missing from the proxy's keytab.
HOST_DOMAINS = ["localhost", ".localhost", "other.example", ".example", ".test"]


class RealmError(RuntimeError):
    """A krb5 tool failed or the KDC did not come up; the message includes the tool's stderr."""


def default_password(user: str) -> str:
    return f"{user}-password"


def _free_port() -> int:
    """A port that is free on 127.0.0.1 for both TCP and UDP right now."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                    u.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RealmError("could not find a free loopback port")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours counts as dead.
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except OSError:
        return False


def _is_krb5kdc(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv0 = f.read().split(b"\0", 1)[0]
        return os.path.basename(argv0) == b"krb5kdc"
    except OSError:
        return False


def _kill_and_wait(pid: int, timeout: float = 5.0) -> None:
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:  # reap if it is our child
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    return
            except ChildProcessError:
                pass
            if not _pid_alive(pid):
                return
            time.sleep(0.02)


class Realm:
    """A KDC for GSSGATE.TEST whose configuration, database, stash, logs and replay cache all
    live in `workdir`."""

    def __init__(self, workdir, realm: str = REALM):
        self.workdir = Path(workdir).resolve()
        self.realm = realm
        self.port: int | None = None
        self.krb5_conf = self.workdir / "krb5.conf"
        self.kdc_conf = self.workdir / "kdc.conf"
        self.db_dir = self.workdir / "db"
        self.rcache_dir = self.workdir / "rcache"
        self.pid_file = self.workdir / "kdc.pid"
        self.kdc_log = self.workdir / "kdc.log"
        self.kdc_stderr = self.workdir / "kdc.stderr"
        self.default_ccache = self.workdir / "default.ccache"
        self.users: dict[str, str] = {}
        self.services: dict[str, list[str]] = {}  # spn -> keytab paths
        self._proc: subprocess.Popen | None = None
        self._pid: int | None = None
        self._atexit_registered = False
        # Extra environment for krb5kdc only (e.g. libfaketime's LD_PRELOAD/FAKETIME, set by
        # restart_kdc(clock_offset=...)).
        self.kdc_env: dict[str, str] = {}

    # ---------------------------------------------------------------- configuration files
    def _write_configs(self) -> None:
        assert self.port is not None
        w = self.workdir
        domain_lines = "\n".join(f"    {d} = {self.realm}" for d in HOST_DOMAINS)
        self.krb5_conf.write_text(f"""\
[libdefaults]
    default_realm = {self.realm}
    dns_lookup_kdc = false
    dns_lookup_realm = false
    dns_canonicalize_hostname = false
    qualify_shortname = ""
    rdns = false
    udp_preference_limit = 0
    forwardable = true
    ticket_lifetime = 10h
    renew_lifetime = 1d
    default_ccache_name = FILE:{self.default_ccache}

[realms]
    {self.realm} = {{
        kdc = 127.0.0.1:{self.port}
        admin_server = 127.0.0.1:{self.port}
        default_domain = localhost
        auth_to_local = DEFAULT
    }}

[domain_realm]
{domain_lines}

[logging]
    kdc = FILE:{self.kdc_log}
    admin_server = FILE:{w / 'kadmin.log'}
    default = FILE:{w / 'krb5lib.log'}
""")
        self.kdc_conf.write_text(f"""\
[kdcdefaults]
    kdc_listen = 127.0.0.1:{self.port}
    kdc_tcp_listen = 127.0.0.1:{self.port}

[realms]
    {self.realm} = {{
        database_name = {self.db_dir / 'principal'}
        key_stash_file = {self.db_dir / 'stash'}
        acl_file = {w / 'kadm5.acl'}
        kdc_listen = 127.0.0.1:{self.port}
        kdc_tcp_listen = 127.0.0.1:{self.port}
        max_life = 10h
        max_renewable_life = 1d
        master_key_type = aes256-cts-hmac-sha1-96
        supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal
        default_principal_flags = +preauth
    }}

[logging]
    kdc = FILE:{self.kdc_log}
    admin_server = FILE:{w / 'kadmin.log'}
""")
        (w / "kadm5.acl").write_text("")

    # ---------------------------------------------------------------- environment
    def env(self, ccache=None) -> dict[str, str]:
        """Variables a krb5 program needs to use this realm (merge into os.environ for
        subprocesses). KRB5CCNAME is `ccache` (a path or a TYPE:residual name) or the realm's
        default ccache file."""
        if ccache is None:
            ccname = f"FILE:{self.default_ccache}"
        else:
            ccache = str(ccache)
            ccname = ccache if ":" in ccache.split("/", 1)[0] else f"FILE:{ccache}"
        return {
            "KRB5_CONFIG": str(self.krb5_conf),
            "KRB5_KDC_PROFILE": str(self.kdc_conf),
            "KRB5CCNAME": ccname,
            "KRB5RCACHEDIR": str(self.rcache_dir),
        }

    def _run(self, argv: list[str], input: str | None = None, what: str | None = None,
             env: dict | None = None, timeout: float = 30) -> subprocess.CompletedProcess:
        full_env = dict(os.environ)
        full_env.update(self.env())
        if env:
            full_env.update(env)
        full_env.pop("KRB5_TRACE", None)
        try:
            res = subprocess.run(argv, input=input, capture_output=True, text=True,
                                 env=full_env, timeout=timeout, cwd=self.workdir)
        except FileNotFoundError as e:
            raise RealmError(f"{argv[0]} not found (install krb5-kdc, krb5-admin-server, "
                             f"krb5-user): {e}") from e
        except subprocess.TimeoutExpired as e:
            raise RealmError(f"{what or argv[0]} timed out after {timeout}s: "
                             f"{shlex.join(argv)}") from e
        # kadmin.local -q exits 0 even when the query fails; its errors go to stderr.
        failed = res.returncode != 0
        if argv[0] == KADMIN_LOCAL and any(
                line and not line.startswith(("WARNING: no policy specified",
                                              "Authenticating as principal",
                                              "No policy specified"))
                for line in res.stderr.splitlines()):
            failed = True
        if failed:
            raise RealmError(
                f"{what or os.path.basename(argv[0])} failed (exit {res.returncode}): "
                f"{shlex.join(argv)}\n--- stderr ---\n{res.stderr.strip()}\n"
                f"--- stdout ---\n{res.stdout.strip()}")
        return res

    def kadmin(self, query: str) -> str:
        """Runs one kadmin.local query; raises RealmError (with stderr) when it fails."""
        return self._run([KADMIN_LOCAL, "-r", self.realm, "-q", query],
                         what=f"kadmin.local '{query.split()[0]}'").stdout

    # ---------------------------------------------------------------- lifecycle
    def start(self, detach: bool = False, attempts: int = 5) -> "Realm":
        """Creates the database (once) and starts krb5kdc. `detach` leaves the KDC running when
        this Python process exits (used by the CLI's `up`)."""
        if self.running():
            return self
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.db_dir.mkdir(exist_ok=True)
        self.rcache_dir.mkdir(exist_ok=True, mode=0o700)
        created = (self.db_dir / "principal").exists()
        last_err = ""
        for _ in range(attempts):
            self.port = _free_port()
            self._write_configs()
            if not created:
                self._run([KDB5_UTIL, "-r", self.realm, "create", "-s", "-P", MASTER_PASSWORD],
                          what="kdb5_util create")
                created = True
            try:
                self._launch(detach)
                break
            except _PortInUse as e:
                last_err = str(e)
                continue
        else:
            raise RealmError(f"krb5kdc could not bind a loopback port after {attempts} "
                             f"attempts:\n{last_err}")
        if not detach and not self._atexit_registered:
            atexit.register(self.stop)
            self._atexit_registered = True
        return self

    def _launch(self, detach: bool) -> None:
        full_env = dict(os.environ)
        full_env.update(self.env())
        full_env.update(self.kdc_env)
        self.pid_file.unlink(missing_ok=True)
        with open(self.kdc_stderr, "wb") as err:
            proc = subprocess.Popen(
                [KRB5KDC, "-n", "-r", self.realm, "-P", str(self.pid_file)],
                stdin=subprocess.DEVNULL, stdout=err, stderr=err, env=full_env,
                cwd=self.workdir, start_new_session=True, close_fds=True)
        self._proc = proc
        self._pid = proc.pid
        # krb5kdc -n writes the pid file too; make sure it is there even if it does not.
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            rc = proc.poll()
            if rc is not None:
                out = self.kdc_stderr.read_text(errors="replace")
                log = self.kdc_log.read_text(errors="replace") if self.kdc_log.exists() else ""
                self._proc = self._pid = None
                text = f"{out}\n{log[-2000:]}"
                if "in use" in text.lower():
                    raise _PortInUse(text)
                raise RealmError(f"krb5kdc exited with {rc} during start-up\n--- stderr ---\n"
                                 f"{out.strip()}\n--- kdc.log (tail) ---\n{log[-2000:].strip()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    pass
                break
            except OSError:
                time.sleep(0.02)
        else:
            _kill_and_wait(proc.pid)
            self._proc = self._pid = None
            raise RealmError(f"krb5kdc did not accept TCP connections on 127.0.0.1:{self.port} "
                             f"within 15 s; see {self.kdc_log}")
        self.pid_file.write_text(f"{proc.pid}\n")
        if detach:
            # Forget the Popen object so that nothing reaps or kills it when we exit.
            self._proc = None

    def running(self) -> bool:
        return self._pid is not None and _pid_alive(self._pid)

    def stop(self) -> None:
        """Stops the KDC (SIGTERM, then SIGKILL) and waits until it is gone. Idempotent."""
        pid = self._pid
        if pid is None and self.pid_file.exists():
            try:
                pid = int(self.pid_file.read_text().strip())
            except ValueError:
                pid = None
            if pid is not None and not _is_krb5kdc(pid):
                pid = None
        if pid is not None:
            _kill_and_wait(pid)
        if self._proc is not None:
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        self._proc = None
        self._pid = None
        self.pid_file.unlink(missing_ok=True)

    # ---------------------------------------------------------------- faults (tests)
    def stop_kdc(self) -> None:
        """Stops krb5kdc but keeps the realm (database, port, configs): clients then get
        "connection refused" at once. start_kdc()/restart_kdc() bring it back on the same port."""
        self.stop()

    def start_kdc(self) -> None:
        """Starts krb5kdc again on the same port (after stop_kdc())."""
        if self.running():
            return
        assert self.port is not None, "start() the realm first"
        self._launch(detach=False)

    def restart_kdc(self, clock_offset: str | None = None) -> None:
        """Restarts krb5kdc on the same port; with `clock_offset` (libfaketime syntax such as
        "+10m" or "-10m") the KDC's clock runs that far off, without it the clock is right."""
        self.stop()
        self.kdc_env = {}
        if clock_offset is not None:
            if not os.path.exists(FAKETIME_LIB):
                raise RealmError(f"{FAKETIME_LIB} missing (install faketime: "
                                 f"scripts/install-deps.sh)")
            # Only the wall clock moves: krb5kdc's own timers keep the real monotonic clock.
            self.kdc_env = {"LD_PRELOAD": FAKETIME_LIB, "FAKETIME": clock_offset,
                            "FAKETIME_DONT_FAKE_MONOTONIC": "1", "FAKETIME_NO_CACHE": "1"}
        self.start_kdc()

    def pause_kdc(self) -> None:
        """SIGSTOP: the port stays bound and connections are accepted by the kernel, but no
        request is ever answered (a hung KDC). resume_kdc() undoes it."""
        assert self._pid is not None, "KDC not running"
        os.kill(self._pid, signal.SIGSTOP)

    def resume_kdc(self) -> None:
        assert self._pid is not None, "KDC not running"
        os.kill(self._pid, signal.SIGCONT)

    def rekey_service(self, spn: str, keytab_path) -> int:
        """Gives `spn` a new random key (kvno + 1) and appends it to `keytab_path` (which keeps
        its older keys). Returns the new kvno."""
        keytab_path = Path(keytab_path).resolve()
        self.kadmin(f"ktadd -k {keytab_path} {spn}")
        return self.kvno(spn)

    def kvno(self, spn: str) -> int:
        """The KDC's current key version number of `spn`."""
        out = self.kadmin(f"getprinc {spn}")
        m = re.search(r"Key: vno (\d+)", out)
        if not m:
            raise RealmError(f"no key version in getprinc {spn}:\n{out}")
        return int(m.group(1))

    # ---------------------------------------------------------------- principals
    def add_user(self, name: str, password: str | None = None) -> str:
        password = password if password is not None else default_password(name)
        if any(c in password for c in "\"\\\n"):
            raise ValueError("password must not contain quotes, backslashes or newlines")
        self.kadmin(f'addprinc -pw "{password}" {name}')
        self.users[name] = password
        return f"{name}@{self.realm}" if "@" not in name else name

    def add_service(self, spn: str, keytab_path) -> Path:
        """Creates `spn` with a random key (unless it exists) and appends its keys to
        `keytab_path` (created if missing)."""
        keytab_path = Path(keytab_path).resolve()
        keytab_path.parent.mkdir(parents=True, exist_ok=True)
        if spn not in self.services:
            self.kadmin(f"addprinc -randkey {spn}")
            self.services[spn] = []
            self.kadmin(f"ktadd -k {keytab_path} {spn}")
        else:
            # Existing principal: export the current keys without changing them.
            self.kadmin(f"ktadd -norandkey -k {keytab_path} {spn}")
        self.services[spn].append(str(keytab_path))
        return keytab_path

    def kinit(self, user: str, ccache_path, password: str | None = None,
              forwardable: bool = True) -> Path:
        """Gets a TGT for `user` into the FILE ccache at `ccache_path`."""
        if password is None:
            password = self.users.get(user, default_password(user))
        ccache_path = Path(ccache_path).resolve()
        argv = [KINIT, "-c", f"FILE:{ccache_path}", "-f" if forwardable else "-F", user]
        self._run(argv, input=password + "\n", what=f"kinit {user}",
                  env={"KRB5CCNAME": f"FILE:{ccache_path}"})
        return ccache_path

    def principal(self, name: str) -> str:
        return name if "@" in name else f"{name}@{self.realm}"

    def describe(self) -> dict:
        return {
            "realm": self.realm,
            "kdc": f"127.0.0.1:{self.port}",
            "kdc_port": self.port,
            "kdc_pid": self._pid,
            "workdir": str(self.workdir),
            "krb5_config": str(self.krb5_conf),
            "kdc_profile": str(self.kdc_conf),
            "rcache_dir": str(self.rcache_dir),
            "users": {u: {"principal": self.principal(u), "password": p}
                      for u, p in self.users.items()},
            "services": {s: k for s, k in self.services.items()},
            "env": self.env(),
        }


class _PortInUse(RealmError):
    pass


# -------------------------------------------------------------------- CLI
def _cmd_up(args) -> int:
    d = Path(args.dir).resolve()
    d.mkdir(parents=True, exist_ok=True)
    state_file = d / "realm.json"
    if (d / "kdc.pid").exists():
        try:
            pid = int((d / "kdc.pid").read_text())
        except ValueError:
            pid = -1
        if pid > 0 and _pid_alive(pid) and _is_krb5kdc(pid):
            print(f"gssgate_realm: a KDC is already running for {d} (pid {pid}); "
                  f"run 'down' first", file=sys.stderr)
            return 1
    realm = Realm(d)
    try:
        realm.start(detach=True)
        users = [u for u in (args.users or "").split(",") if u]
        for u in users:
            realm.add_user(u, default_password(u))
        for spec in args.service or []:
            spn, sep, keytab = spec.partition("=")
            if not sep or not spn or not keytab:
                raise RealmError(f"--service wants SPN=KEYTAB, got '{spec}'")
            realm.add_service(spn, keytab)
        ccaches = {}
        if args.kinit:
            for u in users:
                ccaches[u] = str(realm.kinit(u, d / f"{u}.ccache"))
    except Exception:
        realm.stop()
        raise
    info = realm.describe()
    info["ccaches"] = ccaches
    env = realm.env()
    (d / "env.json").write_text(json.dumps(info, indent=2) + "\n")
    lines = [f"export {k}={shlex.quote(v)}" for k, v in env.items()]
    lines += [f"export GSSGATE_REALM={shlex.quote(realm.realm)}",
              f"export GSSGATE_KDC_PORT={realm.port}"]
    (d / "env.sh").write_text("\n".join(lines) + "\n")
    (d / "env.list").write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    state_file.write_text(json.dumps({"pid": realm._pid, "port": realm.port}) + "\n")
    print(f"realm {realm.realm} up: kdc 127.0.0.1:{realm.port} pid {realm._pid}; "
          f"source {d / 'env.sh'}")
    return 0


def _cmd_down(args) -> int:
    d = Path(args.dir).resolve()
    pid_file = d / "kdc.pid"
    if not pid_file.exists():
        print(f"gssgate_realm: no KDC pid file in {d}; nothing to stop")
        return 0
    try:
        pid = int(pid_file.read_text().strip())
    except ValueError:
        pid = -1
    if pid > 0 and _pid_alive(pid):
        if not _is_krb5kdc(pid):
            print(f"gssgate_realm: pid {pid} from {pid_file} is not krb5kdc; not killing it",
                  file=sys.stderr)
            pid_file.unlink(missing_ok=True)
            return 1
        _kill_and_wait(pid)
        if _pid_alive(pid):
            print(f"gssgate_realm: krb5kdc pid {pid} did not exit", file=sys.stderr)
            return 1
    pid_file.unlink(missing_ok=True)
    print(f"realm in {d} down")
    return 0


def _cmd_kinit(args) -> int:
    d = Path(args.dir).resolve()
    info = json.loads((d / "env.json").read_text())
    realm = Realm(d, info["realm"])
    realm.port = info["kdc_port"]
    ccache = args.ccache or str(d / f"{args.user}.ccache")
    password = args.password
    if password is None:
        password = info["users"].get(args.user, {}).get("password",
                                                        default_password(args.user))
    path = realm.kinit(args.user, ccache, password=password)
    print(f"KRB5CCNAME=FILE:{path}")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="gssgate_realm.py",
                                description="Throw-away MIT KDC on loopback for tests.")
    sub = p.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("up", help="create and start a realm in DIR (KDC keeps running)")
    up.add_argument("dir")
    up.add_argument("--users", default="", help="comma-separated user names "
                    "(password <user>-password)")
    up.add_argument("--service", action="append", metavar="SPN=KEYTAB",
                    help="service principal with a random key, exported to KEYTAB "
                    "(repeatable)")
    up.add_argument("--kinit", action="store_true",
                    help="also get a TGT for each user into DIR/<user>.ccache")
    up.set_defaults(func=_cmd_up)
    down = sub.add_parser("down", help="stop the realm's KDC")
    down.add_argument("dir")
    down.set_defaults(func=_cmd_down)
    ki = sub.add_parser("kinit", help="get a TGT for USER into CCACHE (default DIR/USER.ccache)")
    ki.add_argument("dir")
    ki.add_argument("user")
    ki.add_argument("ccache", nargs="?")
    ki.add_argument("--password")
    ki.set_defaults(func=_cmd_kinit)
    args = p.parse_args(argv)
    try:
        return args.func(args)
    except RealmError as e:
        print(f"gssgate_realm: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
