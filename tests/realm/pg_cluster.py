#!/usr/bin/python3
"""A throw-away PostgreSQL 15 cluster that accepts only GSSAPI logins from a gssgate_realm.Realm.

Library use (pytest fixtures, scripts):

    from gssgate_realm import Realm
    from pg_cluster import PgCluster
    realm = Realm(tmp / "realm"); realm.start(); realm.add_user("alice"); ...
    pg = PgCluster(tmp / "pg", realm)
    pg.start(roles=["alice", "bob"])      # ~0.5 s (first ever: +1.5 s initdb): see below
    pg.conninfo("alice")                  # "host=localhost port=P dbname=postgres user=alice"
    env = realm.env(ccache=realm.kinit("alice", tmp / "alice.ccache"))
    subprocess.run(["psql", pg.conninfo("alice"), "-c", "select current_user"], env=...)
    pg.psql("select 1", user="alice", ccache=...)   # convenience: CompletedProcess
    pg.stop()                             # pg_ctl stop -m fast + remove; also atexit

Command line (the demo, bench/, ad-hoc use), after `gssgate_realm.py up REALMDIR`:

    /usr/bin/python3 tests/realm/pg_cluster.py up DIR --realm-dir REALMDIR --roles alice,bob
    cat DIR/pg.json          # port, conninfo, per-role conninfo, data dir, log, ...
    /usr/bin/python3 tests/realm/pg_cluster.py down DIR

What it sets up (docs: FIELD-NOTES "PostgreSQL that accepts only GSSAPI"):
* service principal `postgres/localhost` in the realm; its keytab is exported to
  WORKDIR/postgres.keytab and copied to a postgres-owned 0600 file that `krb_server_keyfile`
  names;
* `initdb` as the `postgres` OS user (when running as root; otherwise as the current user);
* postgresql.auto.conf (read last, so it wins): listen_addresses='127.0.0.1', a random free
  port, unix_socket_directories inside the data directory, krb_server_keyfile, fsync off
  (test data only), log_connections;
* pg_hba.conf with exactly one line:
      host all all 127.0.0.1/32 gss include_realm=0 krb_realm=GSSGATE.TEST
  (no trust, no local lines). include_realm=0 makes the role name the principal without the
  realm, and PostgreSQL refuses a login whose role does not match the ticket's principal;
* the roles (LOGIN, no password) are created in single-user mode (`postgres --single`) before
  the server starts, so no trust line is ever needed.

Where the files live: the postgres user must be able to traverse every directory above the
data directory, and pytest's temp dirs (like `mktemp -d`) sit below 0700 root-owned
directories that pytest re-tightens at every session start, so loosening them would be racy.
So the cluster lives in a fresh 0711 directory gssgate-pg-XXXXXXXX in $GSSGATE_PG_RUNDIR, else
/dev/shm (tmpfs: copying the data directory there takes ~0.2 s, to /tmp 1-2 s on a busy box),
else /tmp; WORKDIR/pg is a symlink to it. stop() copies the server log to
WORKDIR/pg-server.log and removes the directory. WORKDIR itself holds only root's files
(postgres.keytab, pg.json, pg-server.log).

initdb (~1.5 s) runs once per machine and PostgreSQL build: its pristine output is kept in
/var/tmp/gssgate-pg-template/ (root-owned, made under a lock, renamed into place when
complete) and each cluster copies it with `cp -a`. GSSGATE_PG_TEMPLATE=0 runs initdb every time.

Environment: GSSGATE_PG_BIN (default /usr/lib/postgresql/15/bin), GSSGATE_PG_RUNDIR,
GSSGATE_PG_TEMPLATE, GSSGATE_PG_TEMPLATE_DIR; KRB5_TRACE_PG=FILE traces the server's krb5.
"""

from __future__ import annotations

import argparse
import atexit
import fcntl
import json
import os
import pwd
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gssgate_realm import Realm, RealmError  # noqa: E402

PG_BIN = Path(os.environ.get("GSSGATE_PG_BIN", "/usr/lib/postgresql/15/bin"))
PSQL = shutil.which("psql") or str(PG_BIN / "psql")
SERVICE = "postgres/localhost"
PG_OS_USER = "postgres"
TEMPLATE_ROOT = Path(os.environ.get("GSSGATE_PG_TEMPLATE_DIR", "/var/tmp/gssgate-pg-template"))


class PgError(RuntimeError):
    """A PostgreSQL tool failed or the server did not come up; the message has the details."""


def _free_tcp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _quote_conninfo(value: str) -> str:
    if value and not any(c in value for c in " '\\\t\n"):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class _Identity:
    """Who runs the PostgreSQL programs: the `postgres` OS user when we are root (initdb and
    postgres refuse to run as root), else ourselves."""

    def __init__(self):
        if os.geteuid() == 0:
            try:
                pw = pwd.getpwnam(PG_OS_USER)
            except KeyError as e:
                raise PgError(f"running as root but there is no '{PG_OS_USER}' OS user "
                              f"(install postgresql-15)") from e
            self.uid, self.gid, self.name, self.home = pw.pw_uid, pw.pw_gid, pw.pw_name, pw.pw_dir
            self.groups = os.getgrouplist(pw.pw_name, pw.pw_gid)
            self.switch = True
        else:
            self.uid, self.gid = os.geteuid(), os.getegid()
            self.name = pwd.getpwuid(self.uid).pw_name
            self.home = os.environ.get("HOME", "/")
            self.groups = os.getgroups()
            self.switch = False

    def popen_kwargs(self) -> dict:
        if not self.switch:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": self.groups}

    def chown(self, path: Path) -> None:
        if self.switch:
            os.chown(path, self.uid, self.gid)

    def can_traverse(self, path: Path) -> bool:
        """Whether every directory from / down to `path` (inclusive) is searchable for us."""
        p = Path("/")
        for part in path.parts[1:] + ("",):
            try:
                st = os.stat(p)
            except OSError:
                return False
            if self.uid == 0:
                pass
            elif st.st_uid == self.uid:
                if not st.st_mode & stat.S_IXUSR:
                    return False
            elif st.st_gid in self.groups or st.st_gid == self.gid:
                if not st.st_mode & stat.S_IXGRP:
                    return False
            elif not st.st_mode & stat.S_IXOTH:
                return False
            if part:
                p = p / part
        return True


class PgCluster:
    """A PostgreSQL cluster for `realm` (a started gssgate_realm.Realm) whose only way in is
    GSSAPI from 127.0.0.1. See the module docstring."""

    def __init__(self, workdir, realm: Realm, service: str = SERVICE):
        self.workdir = Path(workdir).resolve()
        self.realm = realm
        self.service = service
        self.host = service.split("/", 1)[1] if "/" in service else "localhost"
        self.port: int | None = None
        self.roles: list[str] = []
        self.keytab = self.workdir / "postgres.keytab"     # root's copy (from kadmin ktadd)
        self.base: Path | None = None      # the directory postgres can reach (see _choose_base)
        self.pid: int | None = None
        self._ident: _Identity | None = None
        self._atexit_registered = False
        self._last_log: Path | None = None

    # ------------------------------------------------------------------ paths
    @property
    def data_dir(self) -> Path:
        assert self.base is not None, "not started"
        return self.base / "data"

    @property
    def server_keytab(self) -> Path:
        assert self.base is not None, "not started"
        return self.base / "postgres.keytab"

    @property
    def log_path(self) -> Path:
        if self.base is not None and (self.base / "server.log").exists():
            return self.base / "server.log"
        return self._last_log or self.workdir / "pg-server.log"

    @property
    def socket_dir(self) -> Path:
        return self.data_dir

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    # ------------------------------------------------------------------ client side
    def conninfo(self, user: str | None = None, dbname: str = "postgres") -> str:
        """libpq connection string; host=localhost so that libpq asks for postgres/localhost."""
        assert self.port is not None, "not started"
        s = f"host={self.host} port={self.port} dbname={_quote_conninfo(dbname)}"
        if user is not None:
            s += f" user={_quote_conninfo(user)}"
        return s

    def client_env(self, ccache=None, base: dict | None = None) -> dict:
        """Environment for a libpq client: os.environ (or `base`) + the realm's krb5 variables
        with KRB5CCNAME = `ccache` (a path or TYPE:residual). PG* variables are removed."""
        env = dict(os.environ if base is None else base)
        for k in list(env):
            if k.startswith("PG"):
                del env[k]
        env.update(self.realm.env(ccache=ccache))
        return env

    def psql(self, sql: str, user: str, ccache=None, extra: str = "", timeout: float = 30,
             env: dict | None = None) -> subprocess.CompletedProcess:
        """Runs `psql -XAtw -c SQL` as `user` with `ccache` (never prompts for a password)."""
        e = self.client_env(ccache)
        if env:
            e.update(env)
        argv = [PSQL, "-X", "-A", "-t", "-w", "-v", "ON_ERROR_STOP=1",
                f"{self.conninfo(user)} connect_timeout=10 {extra}".strip(), "-c", sql]
        return subprocess.run(argv, capture_output=True, text=True, env=e, timeout=timeout)

    # ------------------------------------------------------------------ server side
    def _server_env(self) -> dict:
        assert self.base is not None
        env = {
            "PATH": f"{PG_BIN}:/usr/bin:/bin",
            "LANG": "C", "LC_ALL": "C",
            "HOME": str(self.base),
            "KRB5_CONFIG": str(self.base / "krb5.conf"),
            "KRB5RCACHEDIR": str(self.base / "rcache"),
            "KRB5_KTNAME": f"FILE:{self.server_keytab}",
            "KRB5CCNAME": f"FILE:{self.base / 'no-such-ccache'}",
        }
        if os.environ.get("KRB5_TRACE_PG"):
            env["KRB5_TRACE"] = os.environ["KRB5_TRACE_PG"]
        return env

    def _run(self, argv: list[str], what: str, input: str | None = None,
             timeout: float = 60) -> subprocess.CompletedProcess:
        assert self._ident is not None and self.base is not None
        try:
            res = subprocess.run(argv, input=input, capture_output=True, text=True,
                                 env=self._server_env(), cwd=self.base, timeout=timeout,
                                 stdin=None if input is not None else subprocess.DEVNULL,
                                 **self._ident.popen_kwargs())
        except FileNotFoundError as e:
            raise PgError(f"{argv[0]} not found (install postgresql-15): {e}") from e
        except subprocess.TimeoutExpired as e:
            raise PgError(f"{what} timed out after {timeout}s: {shlex.join(argv)}") from e
        if res.returncode != 0:
            raise PgError(f"{what} failed (exit {res.returncode}): {shlex.join(argv)}\n"
                          f"--- stderr ---\n{res.stderr.strip()}\n"
                          f"--- stdout ---\n{res.stdout.strip()}")
        return res

    def _choose_base(self) -> None:
        """Makes a fresh 0711 directory for the cluster that the postgres user can reach, in
        the first of $GSSGATE_PG_RUNDIR, /dev/shm (tmpfs, if it has room), /tmp that it can
        traverse, and links WORKDIR/pg to it."""
        ident = self._ident
        assert ident is not None
        candidates = []
        if os.environ.get("GSSGATE_PG_RUNDIR"):
            candidates.append(Path(os.environ["GSSGATE_PG_RUNDIR"]))
        else:
            try:
                st = os.statvfs("/dev/shm")
                if st.f_bavail * st.f_frsize >= (512 << 20):
                    candidates.append(Path("/dev/shm"))
            except OSError:
                pass
            candidates.append(Path("/tmp"))
        for c in candidates:
            if c.is_dir() and os.access(c, os.W_OK | os.X_OK) and ident.can_traverse(c):
                break
        else:
            raise PgError(f"none of {', '.join(map(str, candidates))} is writable by us and "
                          f"traversable by the {ident.name} OS user (set GSSGATE_PG_RUNDIR)")
        self.base = Path(tempfile.mkdtemp(prefix="gssgate-pg-", dir=c))
        os.chmod(self.base, 0o711)
        link = self.workdir / "pg"
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(self.base)

    def _write_file(self, path: Path, text: str | bytes, mode: int) -> None:
        path.unlink(missing_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(text.encode() if isinstance(text, str) else text)
        os.chmod(path, mode)
        self._ident.chown(path)

    def _export_keytab(self) -> None:
        realm = self.realm
        if self.service in realm.services and self.keytab.exists():
            pass  # this workdir already holds the current keys
        else:
            self.keytab.unlink(missing_ok=True)
            try:
                realm.add_service(self.service, self.keytab)
            except RealmError as e:
                if "already exists" not in str(e):
                    raise
                # Created by an earlier run against this realm: export without re-keying.
                realm.services.setdefault(self.service, [])
                realm.add_service(self.service, self.keytab)
        self._write_file(self.server_keytab, self.keytab.read_bytes(), 0o600)

    def _hba_line(self) -> str:
        return f"host all all 127.0.0.1/32 gss include_realm=0 krb_realm={self.realm.realm}"

    def _configure(self) -> None:
        assert self.port is not None
        sock = self.socket_dir / f".s.PGSQL.{self.port}"
        if len(str(sock)) > 100:
            raise PgError(f"unix socket path too long for PostgreSQL: {sock}")
        auto = self.data_dir / "postgresql.auto.conf"
        # postgresql.auto.conf is read last and overrides postgresql.conf; it is ours.
        self._write_file(auto, f"""\
# Written by tests/realm/pg_cluster.py
listen_addresses = '127.0.0.1'
port = {self.port}
unix_socket_directories = '{self.socket_dir}'
unix_socket_permissions = 0700
krb_server_keyfile = '{self.server_keytab}'
krb_caseins_users = off
password_encryption = 'scram-sha-256'
ssl = off
fsync = off
synchronous_commit = off
full_page_writes = off
shared_buffers = 16MB
max_connections = 50
log_connections = on
log_disconnections = off
log_line_prefix = '%m [%p] %q%u@%d '
logging_collector = off
""", 0o600)
        self._write_file(self.data_dir / "pg_hba.conf",
                         self._hba_line() + "\n", 0o600)  # the only line: no comments
        self._write_file(self.data_dir / "pg_ident.conf", "", 0o600)

    def _initdb(self, data_dir: Path) -> None:
        data_dir.mkdir(mode=0o700)
        self._ident.chown(data_dir)
        self._run([str(PG_BIN / "initdb"), "-D", str(data_dir), "-U", "postgres",
                   "-A", "reject", "-E", "UTF8", "--locale=C", "--no-sync", "--wal-segsize=1",
                   "--no-instructions"], what="initdb")

    def _template(self) -> Path | None:
        """A pristine initdb'd data directory, made once per machine and PostgreSQL build and
        copied (cp -a, ~0.1 s) instead of running initdb (~1.7 s) for every cluster. Lives in
        TEMPLATE_ROOT; GSSGATE_PG_TEMPLATE=0 disables it. Returns None when it cannot be used
        safely (e.g. the directory exists but is not ours)."""
        if os.environ.get("GSSGATE_PG_TEMPLATE", "1") == "0":
            return None
        ident = self._ident
        assert ident is not None
        try:
            st = os.stat(PG_BIN / "postgres")
            key = f"pg{st.st_size}-{int(st.st_mtime)}-u{ident.uid}"
            root = TEMPLATE_ROOT
            root.mkdir(mode=0o711, exist_ok=True)
            rst = os.lstat(root)
            if (not stat.S_ISDIR(rst.st_mode) or rst.st_uid != os.geteuid()
                    or rst.st_mode & 0o022):
                return None
            os.chmod(root, 0o711)
            ready = root / key / "data" / "PG_VERSION"
            if ready.exists():
                return root / key / "data"
            with open(root / f"{key}.lock", "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                if ready.exists():
                    return root / key / "data"
                tmp = Path(tempfile.mkdtemp(prefix=f"{key}.tmp", dir=root))
                try:
                    os.chmod(tmp, 0o711)
                    self._initdb(tmp / "data")
                    os.rename(tmp, root / key)   # atomic: a template is complete or absent
                except BaseException:
                    shutil.rmtree(tmp, ignore_errors=True)
                    raise
            return root / key / "data"
        except OSError:
            return None

    def _single_user(self, statements: list[str]) -> None:
        if not statements:
            return
        script = "".join(s.replace("\n", " ").strip().rstrip(";") + ";\n" for s in statements)
        res = self._run([str(PG_BIN / "postgres"), "--single", "-D", str(self.data_dir),
                         "-c", "log_min_messages=warning", "postgres"],
                        what="postgres --single", input=script)
        errors = [ln for ln in res.stderr.splitlines() if "ERROR" in ln or "FATAL" in ln]
        if errors:
            raise PgError("postgres --single reported errors:\n" + res.stderr.strip()
                          + "\n--- input ---\n" + script)

    def _create_and_launch(self, roles: list[str], setup_sql: list[str],
                           attempts: int) -> None:
        base = self.base
        assert base is not None and self._ident is not None
        self._export_keytab()
        self._write_file(base / "krb5.conf", self.realm.krb5_conf.read_text(), 0o644)
        rc = base / "rcache"
        rc.mkdir(mode=0o700)
        self._ident.chown(rc)

        template = self._template()
        if template is not None:
            res = subprocess.run(["cp", "-a", str(template), str(self.data_dir)],
                                 capture_output=True, text=True)
            if res.returncode != 0:
                raise PgError(f"copying the initdb template {template} failed: "
                              f"{res.stderr.strip()}")
        else:
            self._initdb(self.data_dir)
        self.port = _free_tcp_port()
        self._configure()
        self._single_user([f"CREATE ROLE {_quote_ident(r)} LOGIN" for r in roles]
                          + setup_sql)
        self.roles = list(roles)

        log = base / "server.log"
        self._write_file(log, "", 0o600)
        last = ""
        for attempt in range(attempts):
            if attempt:
                self.port = _free_tcp_port()
                self._configure()
            try:
                self._run([str(PG_BIN / "pg_ctl"), "start", "-D", str(self.data_dir), "-w",
                           "-t", "30", "-s", "-l", str(log)], what="pg_ctl start")
                return
            except PgError as e:
                last = f"{e}\n--- server.log (tail) ---\n{self.log_text()[-3000:]}"
                if "in use" in last.lower() or "could not bind" in last.lower():
                    continue
                raise PgError(last) from None
        raise PgError(f"PostgreSQL could not bind a loopback port after {attempts} "
                      f"attempts:\n{last}")

    def start(self, roles=("alice", "bob"), setup_sql=(), detach: bool = False,
              attempts: int = 5) -> "PgCluster":
        """Creates a fresh cluster and starts the server on a free port (a no-op if running).

        roles: role names (LOGIN, no password) matching the realm's user principals without the
        realm. setup_sql: extra statements run in single-user mode after the roles (one
        statement per item, e.g. "CREATE DATABASE app OWNER alice"). `detach` leaves the server
        running when this Python process exits (used by the CLI's `up`)."""
        if self.running():
            return self
        if self.base is not None:
            self.stop()  # a leftover of stop(remove=False) or of a failed start
        self._ident = self._ident or _Identity()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._choose_base()
        try:
            self._create_and_launch(list(roles), list(setup_sql), attempts)
        except BaseException:
            self.stop()
            raise
        self.pid = self._read_pid()
        if not detach and not self._atexit_registered:
            atexit.register(self.stop)
            self._atexit_registered = True
        return self

    def _read_pid(self) -> int | None:
        try:
            return int((self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError, AssertionError):
            return None

    def running(self) -> bool:
        if self.base is None or self.pid is None:
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass
        return (self.data_dir / "postmaster.pid").exists()

    def stop(self, remove: bool = True) -> None:
        """Stops the server (pg_ctl stop -m fast; SIGQUIT to the postmaster if that fails) and,
        unless remove=False, deletes the cluster directory after copying the server log to
        WORKDIR/pg-server.log. Idempotent."""
        if self.base is None:
            return
        if (self.data_dir / "postmaster.pid").exists() and self._ident is not None:
            try:
                self._run([str(PG_BIN / "pg_ctl"), "stop", "-D", str(self.data_dir), "-m",
                           "fast", "-w", "-t", "20", "-s"], what="pg_ctl stop", timeout=30)
            except PgError:
                pid = self._read_pid()
                if pid:
                    try:
                        os.kill(pid, signal.SIGQUIT)
                    except ProcessLookupError:
                        pass
                    deadline = time.monotonic() + 10
                    while time.monotonic() < deadline:
                        try:
                            os.kill(pid, 0)
                        except ProcessLookupError:
                            break
                        time.sleep(0.05)
        self.pid = None
        if remove:
            src = self.base / "server.log"
            dst = self.workdir / "pg-server.log"
            try:
                if src.exists() and self.workdir.is_dir():
                    shutil.copyfile(src, dst)
                    self._last_log = dst
            except OSError:
                pass
            shutil.rmtree(self.base, ignore_errors=True)
            link = self.workdir / "pg"
            if link.is_symlink():
                link.unlink()
            self.base = None
            self.roles = []

    # ------------------------------------------------------------------ state
    def describe(self) -> dict:
        return {
            "host": self.host,
            "port": self.port,
            "pid": self.pid,
            "conninfo": self.conninfo(),
            "roles": {r: self.conninfo(r) for r in self.roles},
            "service": self.service,
            "realm": self.realm.realm,
            "hba": self._hba_line(),
            "base": str(self.base),
            "data_dir": str(self.data_dir),
            "keytab": str(self.server_keytab),
            "log": str(self.log_path),
            "workdir": str(self.workdir),
        }


# -------------------------------------------------------------------- CLI
def _realm_from_dir(realm_dir: Path) -> Realm:
    info_file = realm_dir / "env.json"
    if not info_file.exists():
        raise PgError(f"{info_file} not found: start the realm first with "
                      f"'gssgate_realm.py up {realm_dir}'")
    info = json.loads(info_file.read_text())
    realm = Realm(realm_dir, info["realm"])
    realm.port = info["kdc_port"]
    realm.users = {u: v["password"] for u, v in info.get("users", {}).items()}
    realm.services = {s: list(k) for s, k in info.get("services", {}).items()}
    return realm


def _cmd_up(args) -> int:
    d = Path(args.dir).resolve()
    state = d / "pg.json"
    if state.exists():
        old = json.loads(state.read_text())
        pid = old.get("pid")
        if pid and Path(old["data_dir"], "postmaster.pid").exists():
            try:
                os.kill(pid, 0)
                print(f"pg_cluster: a server is already running for {d} (pid {pid}); run "
                      f"'down' first", file=sys.stderr)
                return 1
            except ProcessLookupError:
                pass
    realm = _realm_from_dir(Path(args.realm_dir).resolve())
    t0 = time.monotonic()
    pg = PgCluster(d, realm)
    roles = [r for r in args.roles.split(",") if r]
    try:
        pg.start(roles=roles, setup_sql=args.sql or [], detach=True)
    except Exception:
        pg.stop()
        raise
    info = pg.describe()
    info["realm_dir"] = str(realm.workdir)
    state.write_text(json.dumps(info, indent=2) + "\n")
    print(f"postgres up: {pg.conninfo()} (roles {', '.join(roles) or 'none'}; pid {pg.pid}; "
          f"{time.monotonic() - t0:.1f} s); state in {state}")
    return 0


def _cmd_down(args) -> int:
    d = Path(args.dir).resolve()
    state = d / "pg.json"
    if not state.exists():
        print(f"pg_cluster: no {state}; nothing to stop")
        return 0
    info = json.loads(state.read_text())
    pg = PgCluster(d, Realm(Path(info.get("realm_dir", d))))
    pg._ident = _Identity()
    base = Path(info["base"])
    if base.is_dir() and base.name.startswith("gssgate-pg-"):
        pg.base = base
        pg.pid = info.get("pid")
        pg.stop()
    state.unlink()
    print(f"postgres in {d} down")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="pg_cluster.py",
                                description="Throw-away PostgreSQL accepting only GSSAPI.")
    sub = p.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("up", help="create and start a cluster in DIR (server keeps running)")
    up.add_argument("dir")
    up.add_argument("--realm-dir", required=True,
                    help="directory of a realm started with 'gssgate_realm.py up'")
    up.add_argument("--roles", default="alice,bob", help="comma-separated role names")
    up.add_argument("--sql", action="append", metavar="STATEMENT",
                    help="extra statement run in single-user mode after the roles "
                    "(repeatable)")
    up.set_defaults(func=_cmd_up)
    down = sub.add_parser("down", help="stop the cluster started in DIR")
    down.add_argument("dir")
    down.set_defaults(func=_cmd_down)
    args = p.parse_args(argv)
    try:
        return args.func(args)
    except (PgError, RealmError) as e:
        print(f"pg_cluster: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
