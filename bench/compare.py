#!/usr/bin/python3
"""One-shot benchmark: gssgate-proxy against nginx and Apache httpd + mod_auth_gssapi.

    /usr/bin/python3 bench/compare.py [--quick] [--proxy build/proxy/gssgate-proxy]

In one run, on 127.0.0.1 only, with random free ports and everything in a temp dir, it starts a
throw-away Kerberos realm (tests/realm/gssgate_realm.py; kinit alice), a fast upstream (nginx,
`return 200 "ok"`), and measures against that same upstream, with gssgate-loadgen:

  a  upstream direct                        keep-alive GETs
  b  nginx as plain reverse proxy           keep-alive GETs
  c  gssgate-proxy, `auth: none` route      keep-alive GETs
  d  gssgate-proxy, `auth: negotiate`       a fresh SPNEGO token on every request
  e  Apache httpd + mod_auth_gssapi         a fresh SPNEGO token on every request (mod_proxy)
  f  gssgate-proxy, session cookie          keep-alive GETs carrying one valid session cookie
  g  Apache + GssapiUseSessions             keep-alive GETs carrying its session cookie

and prints req/s, p50, p99, errors, server CPU per request, the ratios c/b (target >= 0.8),
d/e (target >= 2), f/c (target >= 0.9) and f/g (target >= 2), gssgate's CPU per handshake in d
(target <= 100 us) and its RSS. All of these run closed-loop, i.e. saturated. Then a latency
section runs a and f again open-loop at a fixed moderate rate (--latency-rate, 5000 req/s) and
prints the p99 latency the proxy adds on the cookie path (f minus a, target < 1 ms) without the
queueing of a saturated machine. Every process it starts is stopped on exit (normal, error,
Ctrl-C or SIGTERM). See bench/README.md.
"""

from __future__ import annotations

import argparse
import atexit
import base64
import json
import math
import grp
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import benchlib
from benchlib import (PROCS, REPO, BenchError, boost, children_of, cpu_busy_fraction,
                      free_port, http_get, log, proc_cpu_us, proc_status_kib, tail,
                      wait_for_port)

benchlib.set_log_prefix("compare")
NGINX = shutil.which("nginx", path="/usr/sbin:/usr/bin:/sbin") or "/usr/sbin/nginx"
APACHE = shutil.which("apache2", path="/usr/sbin:/usr/bin:/sbin") or "/usr/sbin/apache2"
APACHE_MODULES = Path("/usr/lib/apache2/modules")

TARGET_PUBLIC_RATIO = 0.8
TARGET_NEGOTIATE_RATIO = 2.0
TARGET_CPU_US = 100.0
TARGET_COOKIE_PUBLIC_RATIO = 0.9
TARGET_COOKIE_APACHE_RATIO = 2.0
TARGET_COOKIE_ADDED_P99_US = 1000.0
# The fixed-rate latency phases use this many connections whatever --connections says, so
# their figures compare across runs; at a moderate rate few are busy at once anyway.
LATENCY_CONNECTIONS = 16
# An open-loop phase whose 2xx rate fell this far below the schedule did not keep up: its
# latencies are queueing, not service time.
LATENCY_KEPT_UP = 0.97


# ------------------------------------------------------------------------------- the setup

class Bench:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.dir = workdir
        self.realm_dir = workdir / "realm"
        self.realm_env: dict[str, str] = {}
        self.base_env = benchlib.base_env()
        self.upstream_port = 0
        self.nginx_proxy_port = 0
        self.nginx_proxy_proc: subprocess.Popen | None = None
        self.gssgate_port = 0
        self.gssgate_admin_port = 0
        self.gssgate_proc: subprocess.Popen | None = None
        self.gssgate_error: str | None = None
        self.apache_port = 0
        self.apache_proc: subprocess.Popen | None = None
        self.broker_proc: subprocess.Popen | None = None
        self.broker_log: Path | None = None
        self.apache_error: str | None = None

    # --- realm
    def start_realm(self) -> None:
        realm = benchlib.start_realm(self.realm_dir, self.base_env)
        self.realm_name = realm.name
        self.realm_env = realm.env
        self.client_env = realm.client_env
        self.keytab = realm.keytab
        log(f"realm {self.realm_name} up, alice has a TGT")

    # --- nginx
    def _nginx(self, name: str, port: int, workers: str, body: str) -> subprocess.Popen:
        return benchlib.start_nginx(NGINX, self.dir / name, name, port, workers, body,
                                    self.base_env)

    def start_upstream(self) -> None:
        self.upstream_port = free_port()
        self._nginx("upstream", self.upstream_port, str(self.args.upstream_workers), f"""
  server {{
    listen 127.0.0.1:{self.upstream_port} reuseport;
    location / {{ default_type text/plain; return 200 "ok"; }}
  }}""")
        log(f"upstream nginx on 127.0.0.1:{self.upstream_port}")

    def start_nginx_proxy(self) -> None:
        self.nginx_proxy_port = free_port()
        self.nginx_proxy_proc = self._nginx("nginx-proxy", self.nginx_proxy_port,
                                            str(self.args.server_workers), f"""
  upstream backend {{
    server 127.0.0.1:{self.upstream_port};
    keepalive 256;
  }}
  server {{
    listen 127.0.0.1:{self.nginx_proxy_port};
    location / {{
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_buffering on;
    }}
  }}""")
        log(f"nginx reverse proxy on 127.0.0.1:{self.nginx_proxy_port}")

    # --- gssgate
    def start_gssgate(self) -> None:
        proxy = Path(self.args.proxy)
        if not proxy.is_absolute():
            proxy = REPO / proxy
        if not os.access(proxy, os.X_OK):
            self.gssgate_error = f"{proxy} not found (build it: ninja -C build gssgate-proxy)"
            log(self.gssgate_error)
            return
        d = self.dir / "gssgate"
        (d / "rcache").mkdir(parents=True)
        broker_line = ""
        if self.args.delegate:
            try:
                broker_line = f"broker: unix:{self.start_broker(d)}\n"
            except BenchError as e:
                self.gssgate_error = str(e)
                log(self.gssgate_error)
                return
        self.gssgate_port = free_port()
        self.gssgate_admin_port = free_port()
        conf = d / "gssgate.yaml"
        threads = self.args.server_workers if self.args.server_workers != "auto" else 0
        conf.write_text(f"""# generated by bench/compare.py
listen: 127.0.0.1:{self.gssgate_port}
upstream: http://127.0.0.1:{self.upstream_port}
keytab: {self.keytab}
admin_listen: 127.0.0.1:{self.gssgate_admin_port}
threads: {threads}
{broker_line}routes:
  - path: /public
    auth: none
  - path: /
    auth: negotiate
log:
  level: {self.args.proxy_log_level}
  access: {"true" if self.args.proxy_access_log else "false"}
""")
        env = dict(self.base_env)
        env.update(self.realm_env)
        env.pop("KRB5CCNAME", None)
        env["KRB5RCACHEDIR"] = str(d / "rcache")
        log_path = d / "proxy.log"
        check = subprocess.run([str(proxy), "--config", str(conf), "--check-config"], env=env,
                               capture_output=True, text=True, timeout=30)
        if check.returncode != 0:
            self.gssgate_error = (f"gssgate-proxy --check-config failed ({check.returncode}): "
                                  + (check.stderr or check.stdout).strip()[:2000])
            log(self.gssgate_error)
            return
        proc = PROCS.start("gssgate-proxy", [str(proxy), "--config", str(conf)], env, log_path)
        try:
            wait_for_port(self.gssgate_port, proc, "gssgate-proxy", log_path)
            self._wait_ready(proc, log_path)
            status, body = http_get(f"http://127.0.0.1:{self.gssgate_port}/public/")
            if status != 200:
                raise BenchError(f"gssgate public route answered {status}: {body[:200]!r}")
            status, _ = http_get(f"http://127.0.0.1:{self.gssgate_port}/")
            if status != 401:
                raise BenchError(f"gssgate negotiate route without a token answered {status}, "
                                 "expected 401")
        except BenchError as e:
            self.gssgate_error = str(e)
            log(self.gssgate_error)
            PROCS.stop(proc)
            return
        self.gssgate_proc = proc
        self.gssgate_log = log_path
        log(f"gssgate-proxy on 127.0.0.1:{self.gssgate_port} (pid {proc.pid})")

    def start_broker(self, d: Path) -> Path:
        """gssgate-broker (memory store) for delegated sign-ins; returns its deposit socket."""
        broker = Path(self.args.broker)
        if not broker.is_absolute():
            broker = REPO / broker
        if not os.access(broker, os.X_OK):
            raise BenchError(f"{broker} not found (build it: ninja -C build gssgate-broker)")
        deposit = d / "deposit.sock"
        conf = d / "broker.yaml"
        conf.write_text(f"""# generated by bench/compare.py
listen: unix:{d / 'backend.sock'}
deposit_listen: unix:{deposit}
policy:
  - uid: any
    services: ["postgres/*"]
log:
  level: warn
""")
        env = dict(self.base_env)
        env.update(self.realm_env)
        env.pop("KRB5CCNAME", None)
        log_path = d / "broker.log"
        proc = PROCS.start("gssgate-broker", [str(broker), "--config", str(conf)], env, log_path)
        deadline = time.monotonic() + 15
        while not deposit.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                PROCS.stop(proc)
                raise BenchError(f"gssgate-broker did not start:\n{tail(log_path)}")
            time.sleep(0.05)
        self.broker_proc = proc
        self.broker_log = log_path
        log(f"gssgate-broker (pid {proc.pid}), deposit socket {deposit}")
        return deposit

    def _wait_ready(self, proc: subprocess.Popen, log_path: Path) -> None:
        benchlib.wait_ready(self.gssgate_admin_port, proc, log_path)

    # --- Apache
    def start_apache(self) -> None:
        d = self.dir / "apache"
        d.mkdir(mode=0o755)
        for sub in ("logs", "run", "rcache", "deleg"):
            (d / sub).mkdir(mode=0o755)
        # Apache's children run as `User` when started as root, so they get their own copies of
        # the keytab and krb5.conf in a directory they can traverse.
        keytab = d / "http.keytab"
        shutil.copy(self.keytab, keytab)
        krb5_conf = d / "krb5.conf"
        shutil.copy(self.realm_env["KRB5_CONFIG"], krb5_conf)
        user_lines = ""
        if os.geteuid() == 0:
            user, group = "www-data", "www-data"
            try:
                pwd.getpwnam(user)
                grp.getgrnam(group)
            except KeyError:
                user, group = "nobody", "nogroup"
            uid, gid = pwd.getpwnam(user).pw_uid, grp.getgrnam(group).gr_gid
            for p in (keytab, d / "rcache", d / "logs", d / "run", d / "deleg"):
                os.chown(p, uid, gid)
            os.chmod(keytab, 0o600)
            user_lines = f"User {user}\nGroup {group}\n"
        os.chmod(self.dir, 0o755)  # mkdtemp made it 0700; the children must reach apache/
        self.apache_port = free_port()
        threads = int(self.args.apache_threads)
        procs = int(self.args.apache_processes)
        conf = d / "httpd.conf"
        mods = ["mpm_event", "authn_core", "authz_core", "authz_user", "auth_gssapi", "proxy",
                "proxy_http", "session", "session_cookie"]
        session_key = base64.b64encode(os.urandom(32)).decode()
        # With --delegate, Apache stores each delegated credential as a ccache file (its
        # equivalent of gssgate's deposit with the broker).
        deleg_line = f"  GssapiDelegCcacheDir {d / 'deleg'}\n" if self.args.delegate else ""
        load = "\n".join(f"LoadModule {m}_module {APACHE_MODULES}/mod_{m}.so" for m in mods)
        conf.write_text(f"""# generated by bench/compare.py
ServerRoot {d}
ServerName localhost
Listen 127.0.0.1:{self.apache_port}
PidFile {d}/run/httpd.pid
DefaultRuntimeDir {d}/run
Mutex file:{d}/run default
ErrorLog {d}/logs/error.log
LogLevel warn
{user_lines}{load}
StartServers {procs}
ServerLimit {procs}
ThreadsPerChild {threads}
ThreadLimit {threads}
MaxRequestWorkers {procs * threads}
MinSpareThreads {threads}
MaxSpareThreads {procs * threads}
MaxConnectionsPerChild 0
KeepAlive On
MaxKeepAliveRequests 0
KeepAliveTimeout 60
Timeout 30
<Location />
  AuthType GSSAPI
  AuthName "gssgate bench"
  GssapiCredStore keytab:{keytab}
  GssapiAllowedMech krb5
{deleg_line}  GssapiUseSessions On
  GssapiSessionKey key:{session_key}
  Session On
  SessionCookieName gssapi_session path=/;httponly
  Require valid-user
</Location>
ProxyPass / http://127.0.0.1:{self.upstream_port}/
ProxyPassReverse / http://127.0.0.1:{self.upstream_port}/
""")
        env = dict(self.base_env)
        env["KRB5_CONFIG"] = str(krb5_conf)
        env["KRB5RCACHEDIR"] = str(d / "rcache")
        env["KRB5_KTNAME"] = f"FILE:{keytab}"
        syntax = subprocess.run([APACHE, "-f", str(conf), "-t"], env=env, capture_output=True,
                                text=True, timeout=30)
        if syntax.returncode != 0:
            self.apache_error = f"apache2 -t failed: {(syntax.stderr or syntax.stdout).strip()}"
            log(self.apache_error)
            return
        log_path = d / "logs" / "stdout.log"
        proc = PROCS.start("apache2", [APACHE, "-f", str(conf), "-DFOREGROUND"], env, log_path)
        try:
            wait_for_port(self.apache_port, proc, "apache2", d / "logs" / "error.log")
            status, _ = http_get(f"http://127.0.0.1:{self.apache_port}/")
            if status != 401:
                raise BenchError(f"Apache without a token answered {status}, expected 401")
        except BenchError as e:
            self.apache_error = str(e)
            log(self.apache_error)
            PROCS.stop(proc)
            return
        self.apache_proc = proc
        self.apache_log = d / "logs" / "error.log"
        log(f"apache2 + mod_auth_gssapi on 127.0.0.1:{self.apache_port} (pid {proc.pid})")

    def session_cookie(self, url: str, name: str) -> str:
        """Signs in once with curl --negotiate and returns 'name=value' from Set-Cookie."""
        res = subprocess.run(["curl", "-s", "-o", "/dev/null", "-D", "-", "--negotiate", "-u", ":",
                              url], env=self.client_env, capture_output=True, text=True,
                             timeout=30)
        for line in res.stdout.splitlines():
            if line.lower().startswith("set-cookie:"):
                pair = line.split(":", 1)[1].strip().split(";", 1)[0]
                if pair.startswith(name + "="):
                    return pair
        raise BenchError(f"no {name} cookie from {url} (curl exit {res.returncode}): "
                         f"{res.stdout[:300]!r}")

    # --- load
    def loadgen(self, url: str, mode: str, cpu_pids: list[int], tokens: int = 0,
                duration: float | None = None, warmup: float | None = None,
                headers: list[str] | None = None, rate: float = 0,
                connections: int | None = None) -> dict:
        """One gssgate-loadgen run; closed loop, or open loop at `rate` req/s if given."""
        a = self.args
        argv = [str(a.loadgen), "--url", url,
                "--connections", str(connections if connections is not None else a.connections),
                "--threads", str(a.loadgen_threads),
                "--duration", str(duration if duration is not None else a.duration),
                "--warmup", str(warmup if warmup is not None else a.warmup),
                "--json", "--mode", mode]
        if rate:
            argv += ["--rate", f"{rate:g}"]
        if mode == "negotiate":
            argv += ["--spn", "HTTP@localhost", "--tokens", str(tokens)]
            if a.delegate:
                argv.append("--delegate")
        for pid in cpu_pids:
            argv += ["--cpu-pid", str(pid)]
        for h in headers or []:
            argv += ["--header", h]
        proc = subprocess.Popen(argv, env=self.client_env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
        boost(proc.pid, PROCS.nice)
        try:
            stdout, stderr = proc.communicate(timeout=a.duration + a.warmup + 600)
        finally:
            if proc.poll() is None:  # interrupted or timed out: never leave it running
                proc.kill()
                proc.wait()
        res = subprocess.CompletedProcess(argv, proc.returncode, stdout, stderr)
        out = None
        if res.stdout.strip():
            try:
                out = json.loads(res.stdout)
            except ValueError:
                pass
        if res.returncode not in (0, 3) or out is None:
            detail = f"; responses: {errors_text(out)}" if out else ""
            raise BenchError(f"gssgate-loadgen failed ({res.returncode}): "
                             f"{res.stderr.strip()}{detail}")
        if res.stderr.strip():
            out["stderr"] = res.stderr.strip()
        return out


# ------------------------------------------------------------------------------- reporting

PHASES = [
    ("a", "upstream direct (nginx)"),
    ("b", "nginx reverse proxy"),
    ("c", "gssgate, auth: none"),
    ("d", "gssgate, Negotiate/req"),
    ("e", "Apache+mod_auth_gssapi, Negotiate/req"),
    ("f", "gssgate, session cookie"),
    ("g", "Apache+mod_auth_gssapi, session cookie"),
]


def server_cpu_per_req(result: dict) -> float | None:
    cpu = [c["cpu_us"] for c in result.get("cpu", []) if c.get("cpu_us") is not None]
    if not cpu or not result.get("requests"):
        return None
    return sum(cpu) / result["requests"]


def fmt(v, spec: str = ".0f", none: str = "-") -> str:
    return none if v is None else format(v, spec)


def errors_text(r: dict) -> str:
    if not r.get("errors"):
        return "0"
    parts = [f"{code}x{n}" for code, n in r["status"].items() if not code.startswith("2")]
    parts += [f"{k}x{n}" for k, n in r["socket_errors"].items()]
    return f"{r['errors']} ({', '.join(parts)})"


def median_result(runs: list[dict]) -> dict:
    """The run with the median ok_rps (a real run, so its latencies belong together)."""
    ordered = sorted(runs, key=lambda r: r["ok_rps"])
    return ordered[(len(ordered) - 1) // 2]


def ratio(a: float | None, b: float | None) -> float | None:
    return None if not a or not b else a / b


def verdict(value: float | None, target: float, higher_is_better: bool) -> str:
    if value is None:
        return "n/a"
    ok = value >= target if higher_is_better else value <= target
    return "PASS" if ok else "MISS"


def median_by_p99(runs: list[dict]) -> dict:
    """The run with the median p99: at a fixed rate every run has the same req/s."""
    ordered = sorted(runs, key=lambda r: r["latency_us"]["p99"])
    return ordered[(len(ordered) - 1) // 2]


def kept_up(r: dict, rate: float) -> bool:
    return r["ok_rps"] >= LATENCY_KEPT_UP * rate


def latency_report(latency: dict, args: argparse.Namespace, summary: dict) -> list[str]:
    """The fixed-rate section: a and f open loop at --latency-rate; p99 added by the proxy."""
    rate = args.latency_rate
    lines = ["", f"fixed-rate latency: open loop at {rate:g} req/s, {LATENCY_CONNECTIONS} "
             "connections, latency from each request's scheduled send time (not saturated)"]
    hdr = (f"{'':2}{'phase':40}{'req/s':>10}{'p50 us':>9}{'p90 us':>9}{'p99 us':>9}"
           f"{'p99.9 us':>10}{'max us':>9}{'late':>7}  errors")
    lines.append(hdr)
    lines.append("-" * len(hdr) + "-" * 10)
    section: dict = {"rate": rate, "connections": LATENCY_CONNECTIONS, "phases": {}}
    titles = dict(PHASES)
    for key in ("a", "f"):
        runs = latency.get(key)
        title = titles[key]
        if isinstance(runs, str) or not runs:
            lines.append(f"{key:2}{title:40}  not run: {runs or 'skipped'}")
            section["phases"][key] = {"title": title, "error": runs or "skipped"}
            continue
        r = median_by_p99(runs)
        lat = r["latency_us"]
        note = "" if kept_up(r, rate) else "  (did not keep up: queueing)"
        lines.append(f"{key:2}{title:40}{r['ok_rps']:>10.0f}{lat['p50']:>9}{lat['p90']:>9}"
                     f"{lat['p99']:>9}{lat['p999']:>10}{lat['max']:>9}"
                     f"{r.get('late_starts', 0):>7}  {errors_text(r)}{note}")
        if len(runs) > 1:
            lines.append(f"{'':42}rounds p99: " + ", ".join(
                str(x["latency_us"]["p99"]) for x in runs))
        section["phases"][key] = {"title": title, "median": r, "rounds": runs,
                                  "kept_up": kept_up(r, rate)}

    def p(key, q):
        return section["phases"][key].get("median", {}).get("latency_us", {}).get(q)

    added = p("f", "p99") - p("a", "p99") if p("f", "p99") is not None and \
        p("a", "p99") is not None else None
    added_p50 = p("f", "p50") - p("a", "p50") if added is not None else None
    section.update({"added_p50_us": added_p50, "added_p99_us": added,
                    "target_added_p99_us": TARGET_COOKIE_ADDED_P99_US})
    summary["latency"] = section
    summary["ratios"]["gssgate_cookie_added_p99_us_at_rate"] = added
    lines.append("")
    lines.append(f"p99 added by the proxy on the cookie path at {rate:g} req/s (f - a) "
                 f"{fmt(added, '.0f'):>6} us  target < {TARGET_COOKIE_ADDED_P99_US:g} us  "
                 f"{verdict(added, TARGET_COOKIE_ADDED_P99_US, False)}"
                 f"   (p50 added: {fmt(added_p50, '.0f')} us)")
    if any(not ph.get("kept_up", True) for ph in section["phases"].values()):
        lines.append("  a phase fell below the scheduled rate: lower --latency-rate, its figures "
                     "are queueing")
    return lines


def report(results: dict, latency: dict, extras: dict,
           args: argparse.Namespace) -> tuple[str, dict]:
    lines = []
    lines.append(f"gssgate bench: {args.connections} connections, {args.loadgen_threads} loadgen "
                 f"thread(s), {args.duration:g} s windows after {args.warmup:g} s warm-up, "
                 f"{args.rounds} round(s), {os.cpu_count()} CPUs, "
                 f"{extras.get('background_cpu_busy', 0) * 100:.0f}% busy before the run"
                 + (f", nice {args.nice}" if args.nice else "")
                 + (", delegation on" if args.delegate else ""))
    lines.append("")
    hdr = (f"{'':2}{'phase':40}{'req/s':>10}{'p50 us':>9}{'p99 us':>9}{'max us':>9}"
           f"{'srv CPU us/req':>16}{'window s':>10}  errors")
    lines.append(hdr)
    lines.append("-" * len(hdr) + "-" * 10)
    summary: dict = {"phases": {}, "ratios": {}, "gssgate": extras}
    for key, title in PHASES:
        runs = results.get(key)
        if isinstance(runs, str) or not runs:
            lines.append(f"{key:2}{title:40}  not run: {runs or 'skipped'}")
            summary["phases"][key] = {"title": title, "error": runs or "skipped"}
            continue
        r = median_result(runs)
        cpu = server_cpu_per_req(r)
        lines.append(f"{key:2}{title:40}{r['ok_rps']:>10.0f}{r['latency_us']['p50']:>9}"
                     f"{r['latency_us']['p99']:>9}{r['latency_us']['max']:>9}"
                     f"{fmt(cpu, '.1f'):>16}{r['elapsed_s']:>10.2f}  {errors_text(r)}")
        if len(runs) > 1:
            lines.append(f"{'':42}rounds: " + ", ".join(f"{x['ok_rps']:.0f}" for x in runs))
        summary["phases"][key] = {"title": title, "median": r, "rounds": runs,
                                  "server_cpu_us_per_req": cpu}

    def rps(key):
        p = summary["phases"].get(key, {})
        return p.get("median", {}).get("ok_rps")

    pub = ratio(rps("c"), rps("b"))
    neg = ratio(rps("d"), rps("e"))
    cpu_d = summary["phases"].get("d", {}).get("server_cpu_us_per_req")
    summary["ratios"] = {"gssgate_public_over_nginx_proxy": pub,
                         "gssgate_negotiate_over_apache_negotiate": neg,
                         "gssgate_cpu_us_per_handshake": cpu_d}
    lines.append("")
    lines.append(f"gssgate public / nginx proxy          {fmt(pub, '.2f'):>8}   "
                 f"target >= {TARGET_PUBLIC_RATIO}   {verdict(pub, TARGET_PUBLIC_RATIO, True)}")
    lines.append(f"gssgate negotiate / Apache negotiate  {fmt(neg, '.2f'):>8}   "
                 f"target >= {TARGET_NEGOTIATE_RATIO}   "
                 f"{verdict(neg, TARGET_NEGOTIATE_RATIO, True)}")
    lines.append(f"gssgate CPU per handshake (d)         {fmt(cpu_d, '.1f'):>8}us "
                 f"target <= {TARGET_CPU_US:g} us {verdict(cpu_d, TARGET_CPU_US, False)}")
    cookie_pub = ratio(rps("f"), rps("c"))
    cookie_apache = ratio(rps("f"), rps("g"))

    def p99(key):
        return summary["phases"].get(key, {}).get("median", {}).get("latency_us", {}).get("p99")

    added = p99("f") - p99("a") if p99("f") is not None and p99("a") is not None else None
    summary["ratios"].update({"gssgate_cookie_over_gssgate_public": cookie_pub,
                              "gssgate_cookie_over_apache_cookie": cookie_apache,
                              "gssgate_cookie_added_p99_us": added})
    lines.append(f"gssgate cookie / gssgate public       {fmt(cookie_pub, '.2f'):>8}   "
                 f"target >= {TARGET_COOKIE_PUBLIC_RATIO}   "
                 f"{verdict(cookie_pub, TARGET_COOKIE_PUBLIC_RATIO, True)}")
    lines.append(f"gssgate cookie / Apache cookie        {fmt(cookie_apache, '.2f'):>8}   "
                 f"target >= {TARGET_COOKIE_APACHE_RATIO}   "
                 f"{verdict(cookie_apache, TARGET_COOKIE_APACHE_RATIO, True)}")
    # Closed loop, so mostly queueing on a machine the load generator shares; the fixed-rate
    # section below is the figure to judge against the target.
    lines.append(f"p99 added, cookie path (f - a), saturated {fmt(added, '.0f'):>5}us "
                 f"(target < {TARGET_COOKIE_ADDED_P99_US:g} us is judged at a fixed rate below)")
    if extras.get("pid"):
        def mib(kib):
            return "-" if kib is None else f"{kib / 1024:.1f} MiB"
        lines.append(f"gssgate RSS: idle {mib(extras.get('rss_idle_kib'))}, after the "
                     f"negotiate phase {mib(extras.get('rss_after_kib'))}, peak (VmHWM) "
                     f"{mib(extras.get('rss_peak_kib'))}")
        if args.delegate:
            lines.append(f"gssgate broker deposits in d: {extras.get('deposits_ok', '-')} ok, "
                         f"{extras.get('deposits_failed', '-')} failed (each a delegated "
                         "sign-in: handshake + TGT extraction + deposit RPC)")
        if extras.get("log_warnings"):
            lines.append(f"gssgate log: {extras['log_warnings']} warning/error lines "
                         f"(see {extras.get('log')})")
    if args.latency_rate and latency:
        lines += latency_report(latency, args, summary)
    errs = [k for k, p in summary["phases"].items()
            if p.get("median") and any(r.get("errors") for r in p["rounds"])]
    errs += [f"{k} (fixed rate)" for k, p in summary.get("latency", {}).get("phases", {}).items()
             if p.get("median") and any(r.get("errors") for r in p["rounds"])]
    if errs:
        lines.append("")
        lines.append(f"ERRORS in phase(s) {', '.join(errs)}: their figures include failed "
                     "requests; see the errors column.")
    return "\n".join(lines), summary


# ------------------------------------------------------------------------------- main

def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--proxy", default="build/proxy/gssgate-proxy",
                   help="gssgate-proxy binary (relative to the repo root unless absolute)")
    p.add_argument("--loadgen", default="build/bench/gssgate-loadgen",
                   help="gssgate-loadgen binary (relative to the repo root unless absolute)")
    p.add_argument("--duration", type=float, default=10.0, help="seconds per phase (10)")
    p.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds per phase (2)")
    p.add_argument("--quick", action="store_true", help="3 s phases after 1 s warm-up")
    p.add_argument("--connections", type=int, default=16, help="concurrency (16)")
    p.add_argument("--loadgen-threads", type=int, default=1, help="loadgen threads (1)")
    p.add_argument("--rounds", type=int, default=1,
                   help="repeat all phases N times, interleaved; report the median (1)")
    p.add_argument("--server-workers", default="auto",
                   help="nginx proxy worker_processes and gssgate threads (auto = cores)")
    p.add_argument("--upstream-workers", default="1", help="upstream nginx workers (1)")
    p.add_argument("--apache-processes", default="2", help="Apache event MPM processes (2)")
    p.add_argument("--apache-threads", default="32", help="threads per Apache process (32)")
    p.add_argument("--tokens", type=int, default=0,
                   help="tokens per negotiate phase (default: sized from a calibration run)")
    p.add_argument("--calibration-tokens", type=int, default=2000,
                   help="tokens for the calibration run of each negotiate phase (2000)")
    p.add_argument("--max-tokens", type=int, default=250000,
                   help="cap on a phase's token pool; ~1.1 KB each (250000)")
    p.add_argument("--delegate", action="store_true",
                   help="negotiate phases request delegation (costs a TGS-REQ per token); "
                        "gssgate then deposits with a gssgate-broker, Apache writes "
                        "GssapiDelegCcacheDir files")
    p.add_argument("--broker", default="build/broker/gssgate-broker",
                   help="gssgate-broker binary, for --delegate (build/broker/gssgate-broker)")
    p.add_argument("--proxy-access-log", action="store_true",
                   help="keep gssgate's access log on (off by default: nginx and Apache run "
                        "without one here, so the comparison stays like for like)")
    p.add_argument("--proxy-log-level", default="warn",
                   help="gssgate log.level (warn; nginx and Apache log no requests either)")
    p.add_argument("--only", default="abcdefg", help="phases to run, e.g. 'bcd' (abcdefg)")
    p.add_argument("--latency-rate", type=float, default=5000.0, metavar="R",
                   help="after the saturated phases, run a and f again open loop at R req/s "
                        f"with {LATENCY_CONNECTIONS} connections for the p99 the proxy adds; "
                        "0 skips it (5000)")
    p.add_argument("--wait-idle", type=float, default=0.0, metavar="SECONDS",
                   help="wait up to SECONDS for other processes to use less than "
                        "--idle-threshold of the CPUs before starting (0)")
    p.add_argument("--idle-threshold", type=float, default=0.15, help="(0.15)")
    p.add_argument("--nice", type=int, default=0,
                   help="run this script and everything it starts at this nice value, e.g. "
                        "-10 (root) to keep other processes from skewing a busy machine (0)")
    p.add_argument("--json", metavar="FILE", help="also write all results as JSON to FILE")
    p.add_argument("--keep", action="store_true", help="keep the temp dir (configs, logs)")
    a = p.parse_args()
    if a.latency_rate < 0:
        p.error("--latency-rate must be >= 0")
    if a.quick:
        a.duration, a.warmup = 3.0, 1.0
    a.loadgen = Path(a.loadgen) if Path(a.loadgen).is_absolute() else REPO / a.loadgen
    return a


def main() -> int:
    args = parse_args()
    if not os.access(args.loadgen, os.X_OK):
        print(f"compare: {args.loadgen} not found; build it: ninja -C build gssgate-loadgen",
              file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, benchlib.on_signal)
    signal.signal(signal.SIGINT, benchlib.on_signal)
    signal.signal(signal.SIGHUP, benchlib.on_signal)
    atexit.register(PROCS.stop_all)

    if args.nice:
        if args.nice < 0 and os.geteuid() != 0:
            log(f"--nice {args.nice} needs root; ignored")
        else:
            PROCS.nice = args.nice
            log(f"servers and load generator run at nice {args.nice} (process and autogroup)")
    busy = cpu_busy_fraction()
    deadline = time.monotonic() + args.wait_idle
    while busy > args.idle_threshold and time.monotonic() < deadline:
        log(f"waiting for the machine to calm down: {busy * 100:.0f}% busy")
        time.sleep(4)
        busy = cpu_busy_fraction()
    log(f"CPU already busy before starting: {busy * 100:.0f}% of {os.cpu_count()} CPUs"
        + ("  -- other processes will skew every figure"
           + ("" if PROCS.nice else "; as root, --nice -10 shields the run from them")
           if busy > args.idle_threshold else ""))
    workdir = Path(tempfile.mkdtemp(prefix="gssgate-bench-"))
    if args.keep:
        log(f"work dir {workdir} (kept)")
    else:
        PROCS.cleanups.insert(0, lambda: shutil.rmtree(workdir, ignore_errors=True))

    bench = Bench(args, workdir)
    bench.start_realm()
    bench.start_upstream()
    phases = set(args.only)
    if "b" in phases:
        bench.start_nginx_proxy()
    if phases & {"c", "d", "f"}:
        bench.start_gssgate()
    if phases & {"e", "g"}:
        bench.start_apache()

    extras: dict = {"background_cpu_busy": round(busy, 3)}
    if bench.gssgate_proc:
        time.sleep(0.5)
        extras["pid"] = bench.gssgate_proc.pid
        extras["rss_idle_kib"] = proc_status_kib(bench.gssgate_proc.pid, "VmRSS")
        extras["log"] = str(bench.gssgate_log)

    results: dict[str, list | str] = {}
    latency: dict[str, list | str] = {}  # the fixed-rate runs of a and f
    total = args.duration + args.warmup

    def record(key: str, fn, store: dict | None = None, label: str = ""):
        store = results if store is None else store
        if key not in phases:
            return
        if isinstance(store.get(key), str):
            return
        try:
            r = fn()
        except BenchError as e:
            store[key] = str(e)
            log(f"phase {key}{label}: {e}")
            return
        store.setdefault(key, []).append(r)
        log(f"phase {key}{label}: {r['ok_rps']:.0f} req/s ok, p50 {r['latency_us']['p50']} us, "
            f"p99 {r['latency_us']['p99']} us, errors {errors_text(r)}"
            + (f", late starts {r['late_starts']}" if "late_starts" in r else ""))

    def record_latency() -> None:
        """a and f again, open loop at --latency-rate: latency without saturation."""
        if not args.latency_rate:
            return
        label = f" at {args.latency_rate:g} req/s"
        fixed = {"rate": args.latency_rate, "connections": LATENCY_CONNECTIONS}
        record("a", lambda: bench.loadgen(f"{up}/", "plain", [], **fixed), latency, label)
        if "f" not in phases:
            return
        if not bench.gssgate_proc:
            latency["f"] = bench.gssgate_error or "gssgate-proxy not started"
            return
        gp = bench.gssgate_proc
        try:
            cookie = bench.session_cookie(f"http://localhost:{bench.gssgate_port}/",
                                          "gssgate_session")
        except BenchError as e:
            latency["f"] = str(e)
            return
        record("f", lambda: bench.loadgen(f"http://127.0.0.1:{bench.gssgate_port}/", "plain",
                                          [gp.pid], headers=[f"Cookie: {cookie}"], **fixed),
               latency, label)

    token_rates: dict[str, float] = {}

    def tokens_for(key: str, url: str) -> int:
        """Pool size for a negotiate phase: (warmup + duration) at the rate this server did in a
        short calibration run (or in the previous round), +30%. A pool that runs out early
        only shortens the window, which the loadgen reports; it never skews the rate."""
        if args.tokens:
            return args.tokens
        if key not in token_rates:
            probe = bench.loadgen(url, "negotiate", [], tokens=args.calibration_tokens,
                                  duration=30, warmup=0)
            token_rates[key] = probe["ok_rps"] or probe["rps"]
            log(f"phase {key}: calibration {probe['ok_rps']:.0f} handshakes/s "
                f"({errors_text(probe)} errors)")
        return int(min(args.max_tokens, max(2000, math.ceil(total * token_rates[key] * 1.3))))

    def remember_rate(key: str) -> None:
        runs = results.get(key)
        if runs and not isinstance(runs, str):
            token_rates[key] = max(token_rates.get(key, 0), runs[-1]["ok_rps"])

    up = f"http://127.0.0.1:{bench.upstream_port}"
    for rnd in range(args.rounds):
        if args.rounds > 1:
            log(f"round {rnd + 1}/{args.rounds}")
        record("a", lambda: bench.loadgen(f"{up}/", "plain", []))
        if bench.nginx_proxy_proc:
            record("b", lambda: bench.loadgen(
                f"http://127.0.0.1:{bench.nginx_proxy_port}/", "plain",
                children_of(bench.nginx_proxy_proc.pid) + [bench.nginx_proxy_proc.pid]))
        if bench.gssgate_proc:
            gp = bench.gssgate_proc
            record("c", lambda: bench.loadgen(f"http://127.0.0.1:{bench.gssgate_port}/public/",
                                              "plain", [gp.pid]))
            cpu0 = proc_cpu_us(gp.pid)
            url_d = f"http://127.0.0.1:{bench.gssgate_port}/"
            # With --delegate the broker's CPU is part of each sign-in: count it too.
            d_pids = [gp.pid] + ([bench.broker_proc.pid] if bench.broker_proc else [])
            record("d", lambda: bench.loadgen(url_d, "negotiate", d_pids,
                                              tokens=tokens_for("d", url_d)))
            remember_rate("d")
            cpu1 = proc_cpu_us(gp.pid)
            extras["rss_after_kib"] = proc_status_kib(gp.pid, "VmRSS")
            if args.delegate:
                try:
                    _, text = http_get(f"http://127.0.0.1:{bench.gssgate_admin_port}/metrics")
                    for line in text.decode().splitlines():
                        if line.startswith("gssgate_proxy_broker_deposits_total{"):
                            outcome = line.split('"')[1]
                            extras[f"deposits_{outcome}"] = int(float(line.rsplit(" ", 1)[1]))
                except OSError:
                    pass
            extras["rss_peak_kib"] = proc_status_kib(gp.pid, "VmHWM")
            if cpu0 is not None and cpu1 is not None:
                extras.setdefault("cpu_us_phase_d_incl_warmup", []).append(cpu1 - cpu0)
            if gp.poll() is not None:
                results["d"] = results.get("d") or f"gssgate-proxy died ({gp.returncode})"
            if "f" in phases:
                try:
                    cookie = bench.session_cookie(f"http://localhost:{bench.gssgate_port}/",
                                                  "gssgate_session")
                    record("f", lambda: bench.loadgen(
                        f"http://127.0.0.1:{bench.gssgate_port}/", "plain", [gp.pid],
                        headers=[f"Cookie: {cookie}"]))
                except BenchError as e:
                    results["f"] = str(e)
        else:
            for key in phases & {"c", "d", "f"}:
                results[key] = bench.gssgate_error or "gssgate-proxy not started"
        if bench.apache_proc:
            ap = bench.apache_proc
            url_e = f"http://127.0.0.1:{bench.apache_port}/"
            record("e", lambda: bench.loadgen(url_e, "negotiate", [ap.pid] + children_of(ap.pid),
                                              tokens=tokens_for("e", url_e)))
            remember_rate("e")
            if "g" in phases:
                try:
                    cookie = bench.session_cookie(f"http://localhost:{bench.apache_port}/",
                                                  "gssapi_session")
                    record("g", lambda: bench.loadgen(
                        f"http://127.0.0.1:{bench.apache_port}/", "plain",
                        [ap.pid] + children_of(ap.pid), headers=[f"Cookie: {cookie}"]))
                except BenchError as e:
                    results["g"] = str(e)
        else:
            for key in phases & {"e", "g"}:
                results[key] = bench.apache_error or "apache not started"
        record_latency()

    if bench.gssgate_proc:
        try:
            text = bench.gssgate_log.read_text(errors="replace").splitlines()
            bad = [l for l in text if any(w in l.lower() for w in ("warn", "error", "critical"))]
            extras["log_warnings"] = len(bad)
            extras["log_sample"] = bad[:10]
        except OSError:
            pass
        if bench.gssgate_proc.poll() is not None:
            extras["exited"] = bench.gssgate_proc.returncode

    text, summary = report(results, latency, extras, args)
    print(text)
    if extras.get("log_sample"):
        print("gssgate log (first warning/error lines):")
        for l in extras["log_sample"]:
            print("   ", l[:300])
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2) + "\n")
    every = list(results.values()) + list(latency.values())
    failed = any(isinstance(v, str) for v in every)
    errored = any(not isinstance(v, str) and any(r.get("errors") for r in v) for v in every)
    return 1 if failed else 3 if errored else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as e:
        print(f"compare: {e}", file=sys.stderr)
        sys.exit(1)
