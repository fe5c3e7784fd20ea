"""Helpers shared by the bench/ scripts (compare.py, soak.py): processes that are all stopped on
exit or on a signal, free loopback ports, waiting for a server, /proc readings, and the
throw-away realm, nginx upstream and gssgate-proxy readiness that every benchmark needs.

    import benchlib
    benchlib.set_log_prefix("soak")
    signal.signal(signal.SIGTERM, benchlib.on_signal); atexit.register(benchlib.PROCS.stop_all)
    realm = benchlib.start_realm(workdir / "realm", base_env)   # kinit alice; realm.client_env
    proc = benchlib.PROCS.start("name", argv, env, log_path)    # own session, stopped at exit

Only 127.0.0.1 is ever used. Not thread-safe: one script, one main thread.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
REALM_SCRIPT = REPO / "tests" / "realm" / "gssgate_realm.py"
PYTHON = "/usr/bin/python3"

_PREFIX = "bench"


def set_log_prefix(prefix: str) -> None:
    global _PREFIX
    _PREFIX = prefix


class BenchError(RuntimeError):
    pass


def log(msg: str) -> None:
    print(f"[{_PREFIX}] {msg}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------- processes

def boost(pid: int, nice: int) -> None:
    """Runs pid's session at `nice`. Linux schedules sessions as "autogroups" that share the
    CPUs equally whatever the nice values inside them, so the autogroup's own nice is what
    counts against other sessions' work; the process nice is set too, for kernels without
    autogroups. Best effort: needs root for negative values."""
    if not nice:
        return
    try:
        Path(f"/proc/{pid}/autogroup").write_text(f"{nice}\n")
    except OSError:
        pass
    try:
        os.setpriority(os.PRIO_PROCESS, pid, nice)
    except OSError:
        pass


class Processes:
    """Every process (group) this script starts; all are stopped by stop_all(), which runs at
    exit and on SIGINT/SIGTERM. Each child leads its own session, so a server's workers are
    stopped together with it, and each server is one scheduling autogroup (see boost())."""

    def __init__(self) -> None:
        self.procs: list[tuple[str, subprocess.Popen]] = []
        self.cleanups: list = []
        self.nice = 0

    def start(self, name: str, argv: list[str], env: dict, log_path: Path,
              cwd: Path | None = None) -> subprocess.Popen:
        out = open(log_path, "ab")
        try:
            proc = subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        finally:
            out.close()
        self.procs.append((name, proc))
        boost(proc.pid, self.nice)
        return proc

    def stop(self, proc: subprocess.Popen, timeout: float = 10.0) -> None:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        # Workers may outlive their parent for a moment; the group id is still ours.
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if proc.poll() is None:
            proc.wait(timeout=5)

    def stop_all(self) -> None:
        for _, proc in reversed(self.procs):
            try:
                self.stop(proc)
            except Exception as e:  # keep cleaning up the rest
                log(f"stopping pid {proc.pid}: {e}")
        self.procs.clear()
        for fn in reversed(self.cleanups):
            try:
                fn()
            except Exception as e:
                log(f"cleanup: {e}")
        self.cleanups.clear()


PROCS = Processes()


def on_signal(signum, _frame):
    raise SystemExit(128 + signum)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, name: str, log_path: Path,
                  timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"{name} exited with status {proc.returncode} during startup:\n"
                             + tail(log_path))
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise BenchError(f"{name} did not listen on 127.0.0.1:{port} within {timeout} s:\n"
                     + tail(log_path))


def http_get(url: str, headers: dict | None = None, timeout: float = 5.0) -> tuple[int, bytes]:
    req = urllib.request.Request(url, headers=headers or {})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return f"(no log at {path})"
    return "\n".join("    " + l for l in text[-lines:])


def children_of(pid: int) -> list[int]:
    """Direct children of pid (nginx/Apache workers)."""
    kids = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            try:
                kids += [int(x) for x in (task / "children").read_text().split()]
            except OSError:
                pass
    except OSError:
        pass
    return kids


def proc_status_kib(pid: int, field: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def proc_cpu_us(pid: int) -> int | None:
    """utime+stime of pid in microseconds (clock ticks, so 10 ms resolution)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    ticks = int(fields[11]) + int(fields[12])  # fields 14 and 15 of the full line
    return ticks * 1_000_000 // os.sysconf("SC_CLK_TCK")


def cpu_busy_fraction(interval: float = 1.0) -> float:
    """Share of all CPUs busy over `interval` (from /proc/stat): what other processes use
    before the benchmark starts, since they compete with every phase."""
    def sample():
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + fields[4]  # idle + iowait
        return sum(fields[:8]), idle
    t0, i0 = sample()
    time.sleep(interval)
    t1, i1 = sample()
    return 0.0 if t1 == t0 else 1.0 - (i1 - i0) / (t1 - t0)


# ------------------------------------------------------------------------------- the world

@dataclass
class RealmInfo:
    """A running throw-away realm (tests/realm/gssgate_realm.py) with alice's TGT."""
    dir: Path
    name: str
    env: dict          # KRB5_CONFIG, KRB5_KDC_PROFILE, ...
    client_env: dict   # base env + realm env + KRB5CCNAME of alice
    keytab: Path       # HTTP/localhost
    ccache: Path


def start_realm(realm_dir: Path, base_env: dict) -> RealmInfo:
    """Starts the realm in realm_dir (created), kinit alice; `down` runs at exit even if `up`
    failed half-way (it may have started the KDC)."""
    if not REALM_SCRIPT.exists():
        raise BenchError(f"{REALM_SCRIPT} is missing")
    realm_dir.mkdir()
    keytab = realm_dir / "http.keytab"
    argv = [PYTHON, str(REALM_SCRIPT), "up", str(realm_dir), "--users", "alice",
            "--service", f"HTTP/localhost={keytab}", "--kinit"]
    res = subprocess.run(argv, env=base_env, capture_output=True, text=True, timeout=60)
    PROCS.cleanups.append(lambda: stop_realm(realm_dir, base_env))
    if res.returncode != 0:
        raise BenchError(f"realm setup failed ({' '.join(argv)}):\n{res.stdout}{res.stderr}")
    info = json.loads((realm_dir / "env.json").read_text())
    realm_env = dict(info["env"])
    ccache = Path(info.get("ccaches", {}).get("alice", realm_dir / "alice.ccache"))
    if not ccache.exists():  # older realm script: kinit explicitly
        subprocess.run([PYTHON, str(REALM_SCRIPT), "kinit", str(realm_dir), "alice",
                        str(ccache)], env=base_env, check=True, timeout=60)
    client_env = dict(base_env)
    client_env.update(realm_env)
    client_env["KRB5CCNAME"] = f"FILE:{ccache}"
    return RealmInfo(dir=realm_dir, name=info.get("realm", "GSSGATE.TEST"), env=realm_env,
                     client_env=client_env, keytab=keytab, ccache=ccache)


def stop_realm(realm_dir: Path, base_env: dict) -> None:
    if (realm_dir / "kdc.pid").exists():
        subprocess.run([PYTHON, str(REALM_SCRIPT), "down", str(realm_dir)],
                       env=base_env, capture_output=True, timeout=30)


def base_env() -> dict:
    """This process's environment without Kerberos settings or HTTP proxies."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith("KRB5") and k not in ("http_proxy", "HTTP_PROXY")}


def nginx_conf(d: Path, workers: str, body: str, worker_connections: int = 4096,
               generator: str = "bench/compare.py") -> str:
    return f"""# generated by {generator}
worker_processes {workers};
daemon off;
master_process on;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections {worker_connections}; }}
http {{
  access_log off;
  client_body_temp_path {d}/tmp;
  proxy_temp_path {d}/tmp;
  fastcgi_temp_path {d}/tmp;
  uwsgi_temp_path {d}/tmp;
  scgi_temp_path {d}/tmp;
  keepalive_requests 1000000;
  keepalive_timeout 120s;
{body}
}}
"""


def start_nginx(nginx: str, d: Path, name: str, port: int, workers: str, body: str,
                env: dict, **conf_kw) -> subprocess.Popen:
    """nginx in d (created) with the given server blocks, started and listening on port."""
    (d / "tmp").mkdir(parents=True)
    conf = d / "nginx.conf"
    conf.write_text(nginx_conf(d, workers, body, **conf_kw))
    log_path = d / "stdout.log"
    proc = PROCS.start(name, [nginx, "-c", str(conf), "-p", str(d)], env, log_path)
    wait_for_port(port, proc, name, d / "error.log")
    return proc


def wait_ready(admin_port: int, proc: subprocess.Popen, log_path: Path,
               timeout: float = 15.0) -> None:
    """Waits for gssgate-proxy's admin /readyz to say 200."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"gssgate-proxy exited ({proc.returncode}):\n{tail(log_path)}")
        try:
            status, _ = http_get(f"http://127.0.0.1:{admin_port}/readyz", timeout=1)
            if status == 200:
                return
            last = status
        except OSError as e:
            last = e
        time.sleep(0.05)
    raise BenchError(f"gssgate-proxy /readyz not 200 within {timeout:g} s (last: {last})")
