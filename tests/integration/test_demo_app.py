"""examples/demo_app/demo_app.py against a real KDC and the GSSAPI-only PostgreSQL, with a fake
gssgatectl (the real one needs the broker) that hands out copies of kinit'ed ccaches.

What is checked: no handle -> 200 + a clear error; a handle -> gssgatectl is run with the handle
in a 0600 file (never argv), its KRB5CCNAME is used by psql as X-Remote-User, the ccache is
deleted afterwards; gssgatectl's stderr becomes the error; concurrent requests for different
users do not mix credentials; HTTP/1.1 keep-alive works; handles never reach the log."""

from __future__ import annotations

import concurrent.futures
import http.client
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pg_cluster import PG_BIN, PgCluster

ROOT = Path(__file__).resolve().parents[2]
DEMO_APP = ROOT / "examples" / "demo_app" / "demo_app.py"
sys.path.insert(0, str(DEMO_APP.parent))
import demo_app  # noqa: E402

BROKER = "unix:/run/gssgate-test/no-broker.sock"
HANDLES = {"alice": "h-alice-5ecret-0001", "bob": "h-bob-5ecret-0002"}

FAKE_GSSGATECTL = textwrap.dedent('''\
    #!/usr/bin/python3
    """Fake gssgatectl for test_demo_app.py: `credential` copies the ccache that the handle maps
    to (config file in $FAKE_GSSGATECTL_CONFIG) to --out and prints KRB5CCNAME=FILE:<out>."""
    import json, os, shutil, stat, sys, tempfile
    cfg = json.load(open(os.environ["FAKE_GSSGATECTL_CONFIG"]))
    argv = sys.argv[1:]
    opts = {}
    i = 1
    while i < len(argv):
        opts[argv[i]] = argv[i + 1] if i + 1 < len(argv) else None
        i += 2
    handle = None
    record = {"argv": argv, "env_handle": "GSSGATE_HANDLE" in os.environ}
    if "--handle-file" in opts:
        st = os.stat(opts["--handle-file"])
        record["handle_file_mode"] = stat.S_IMODE(st.st_mode)
        handle = open(opts["--handle-file"]).read().strip()
    elif "--handle" in opts:
        handle = opts["--handle"]
    else:
        handle = os.environ.get("GSSGATE_HANDLE")
    record["handle"] = handle
    def fail(msg, code=1):
        record["result"] = msg
        with open(cfg["log"], "a") as f:
            f.write(json.dumps(record) + "\\n")
        if msg:
            print(msg, file=sys.stderr)
        sys.exit(code)
    if not argv or argv[0] != "credential":
        fail("gssgatectl: unknown command", 2)
    if opts.get("--broker") != cfg["broker"] or opts.get("--service") != cfg["service"]:
        fail(f"gssgatectl: unexpected --broker/--service: {opts}", 2)
    if handle == "silent-failure":
        fail("", 4)
    if handle == "prints-nothing":
        fail(None, 0)
    src = cfg["handles"].get(handle or "")
    if src is None:
        fail("gssgatectl: handle expired or unknown", 3)
    out = opts.get("--out") or tempfile.mkstemp(prefix="fake-cc-")[1]
    shutil.copyfile(src, out)
    os.chmod(out, 0o600)
    record["result"] = "ok"
    record["out"] = out
    with open(cfg["log"], "a") as f:
        f.write(json.dumps(record) + "\\n")
    print(f"KRB5CCNAME=FILE:{out}")
''')


@pytest.fixture(scope="module")
def pg(realm, tmp_path_factory):
    if not (PG_BIN / "postgres").exists():
        pytest.fail(f"PostgreSQL 15 is not installed ({PG_BIN}); run scripts/install-deps.sh")
    cluster = PgCluster(tmp_path_factory.mktemp("pg"), realm)
    cluster.start(roles=["alice", "bob", "carol"])
    yield cluster
    cluster.stop()


class App:
    def __init__(self, proc, port, log_path, calls_path):
        self.proc, self.port, self.log_path, self.calls_path = proc, port, log_path, calls_path

    def request(self, path="/", headers=None, conn=None):
        c = conn or http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        c.request("GET", path, headers=headers or {})
        r = c.getresponse()
        body = r.read()
        if conn is None:
            c.close()
        ctype = r.getheader("Content-Type", "")
        return r.status, (json.loads(body) if ctype == "application/json" else body)

    def calls(self) -> list[dict]:
        if not self.calls_path.exists():
            return []
        return [json.loads(ln) for ln in self.calls_path.read_text().splitlines() if ln]

    def log(self) -> str:
        return self.log_path.read_text()


@pytest.fixture(scope="module")
def app_factory(realm, pg, tmp_path_factory):
    d = tmp_path_factory.mktemp("demo_app")
    fake = d / "gssgatectl"
    fake.write_text(FAKE_GSSGATECTL)
    fake.chmod(0o755)
    started = []

    def start(gssgatectl=str(fake), name=None):
        name = name or f"app{len(started)}"
        calls = d / f"{name}.calls.jsonl"
        cfg = d / f"{name}.json"
        cfg.write_text(json.dumps({
            "log": str(calls), "broker": BROKER, "service": "postgres/localhost",
            "handles": {HANDLES[u]: str(realm.ccaches[u]) for u in HANDLES}}))
        env = dict(os.environ)
        env["FAKE_GSSGATECTL_CONFIG"] = str(cfg)
        env["GSSGATE_HANDLE"] = "must-not-be-used"
        log_path = d / f"{name}.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                ["/usr/bin/python3", str(DEMO_APP), "--port", "0", "--broker", BROKER,
                 "--gssgatectl", gssgatectl, "--conninfo", pg.conninfo()],
                stdout=subprocess.PIPE, stderr=log, env=env, text=True)
        line = proc.stdout.readline()
        if not line.strip().isdigit():
            proc.kill()
            pytest.fail(f"demo_app did not print its port: {line!r}\n{log_path.read_text()}")
        app = App(proc, int(line), log_path, calls)
        started.append(app)
        return app

    yield start
    for a in started:
        if a.proc.poll() is None:
            a.proc.send_signal(15)
            assert a.proc.wait(timeout=10) == 0, a.log()


@pytest.fixture(scope="module")
def app(app_factory):
    return app_factory(name="main")


def auth_headers(user, handle=None):
    h = {"X-Remote-User": user}
    if handle:
        h["X-Gssgate-Credential"] = handle
    return h


def test_no_handle_gives_200_and_says_how_to_delegate(app):
    before = len(app.calls())
    status, body = app.request("/", auth_headers("alice"))
    assert status == 200
    assert body == {"remote_user": "alice", "db_user": None, "session_user": None,
                    "error": demo_app.NO_HANDLE_ERROR}
    assert "--delegation always" in body["error"]
    assert len(app.calls()) == before, "gssgatectl must not run without a handle"


def test_handle_connects_to_postgres_as_the_user(app, realm, pg):
    original = Path(realm.ccaches["alice"]).read_bytes()
    n = len(app.calls())
    status, body = app.request("/whoami", auth_headers("alice", HANDLES["alice"]))
    assert status == 200, body
    assert body == {"remote_user": "alice", "db_user": "alice", "session_user": "alice",
                    "error": None}
    call = app.calls()[n]
    # gssgatectl got the handle from a 0600 file, not argv and not the environment.
    assert call["handle"] == HANDLES["alice"]
    assert call["handle_file_mode"] == 0o600
    assert not call["env_handle"]
    assert not any(HANDLES["alice"] in a for a in call["argv"])
    assert call["argv"][:5] == ["credential", "--broker", BROKER, "--service",
                                "postgres/localhost"]
    # The ccache and the private temp dir are gone; the source ccache was not touched.
    assert not Path(call["out"]).exists()
    assert not Path(call["out"]).parent.exists()
    assert Path(realm.ccaches["alice"]).read_bytes()[:len(original)] == original
    assert 'identity="alice@GSSGATE.TEST" method=gss' in pg.log_text()


def test_user_is_checked_by_postgres(app):
    """A handle for alice's credential with X-Remote-User: bob cannot log in as bob."""
    status, body = app.request("/", auth_headers("bob", HANDLES["alice"]))
    assert status == 502
    assert body["db_user"] is None
    assert 'GSSAPI authentication failed for user "bob"' in body["error"]
    assert not Path(app.calls()[-1]["out"]).exists()


def test_gssgatectl_error_becomes_the_error(app):
    status, body = app.request("/", auth_headers("alice", "h-expired-0003"))
    assert status == 502
    assert body == {"remote_user": "alice", "db_user": None, "session_user": None,
                    "error": "gssgatectl: handle expired or unknown"}


def test_gssgatectl_silent_failure_and_missing_output(app):
    status, body = app.request("/", auth_headers("alice", "silent-failure"))
    assert status == 502 and body["error"] == "gssgatectl failed with exit status 4"
    status, body = app.request("/", auth_headers("alice", "prints-nothing"))
    assert status == 502 and body["error"] == "gssgatectl printed no KRB5CCNAME"


def test_missing_gssgatectl(app_factory, tmp_path):
    a = app_factory(gssgatectl=str(tmp_path / "no-gssgatectl"), name="missing")
    status, body = a.request("/", auth_headers("alice", HANDLES["alice"]))
    assert status == 502
    assert body["error"].startswith("gssgatectl not found")


def test_handle_without_remote_user(app):
    status, body = app.request("/", {"X-Gssgate-Credential": HANDLES["alice"]})
    assert status == 200
    assert body["db_user"] is None and "X-Remote-User" in body["error"]


def test_remote_user_cannot_inject_conninfo(app):
    status, body = app.request("/", auth_headers("alice dbname=template1 user=alice",
                                                 HANDLES["alice"]))
    assert status == 502, body
    assert body["db_user"] is None


def test_concurrent_users_keep_their_own_credentials(app):
    jobs = [u for _ in range(4) for u in ("alice", "bob")]
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as ex:
        results = list(ex.map(lambda u: (u, app.request("/", auth_headers(u, HANDLES[u]))),
                              jobs))
    for user, (status, body) in results:
        assert status == 200, body
        assert body["db_user"] == user and body["session_user"] == user, body


def test_keep_alive_and_healthz(app):
    conn = http.client.HTTPConnection("127.0.0.1", app.port, timeout=30)
    try:
        assert app.request("/healthz", conn=conn) == (200, b"ok\n")
        status, body = app.request("/", auth_headers("bob", HANDLES["bob"]), conn=conn)
        assert status == 200 and body["db_user"] == "bob"
        status, body = app.request("/", auth_headers("bob"), conn=conn)
        assert status == 200 and body["db_user"] is None
    finally:
        conn.close()


def test_handles_never_logged(app):
    app.request("/", auth_headers("alice", HANDLES["alice"]))
    time.sleep(0.1)
    log = app.log()
    assert "credential=yes" in log
    for h in HANDLES.values():
        assert h not in log


def test_quote_conninfo():
    q = demo_app.quote_conninfo
    assert q("alice") == "alice"
    assert q("a b") == "'a b'"
    assert q("o'k\\") == "'o\\'k\\\\'"
    assert q("") == "''"
    assert demo_app.ccache_path("FILE:/tmp/x") == "/tmp/x"
    assert demo_app.ccache_path("/tmp/y") == "/tmp/y"
    assert demo_app.ccache_path("KEYRING:persistent:0") is None
