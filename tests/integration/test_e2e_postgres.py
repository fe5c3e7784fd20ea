"""The end-to-end story (issue 3, item 5): a user signs in through gssgate-proxy with a delegated
ticket, and the web app behind it queries PostgreSQL *as that user* over GSSAPI without ever
holding the user's TGT.

Everything is real: the KDC (conftest `realm`), a PostgreSQL 15 cluster whose pg_hba.conf
allows only `gss` (tests/realm/pg_cluster.py), gssgate-broker (policy: any uid ->
postgres/*), gssgate-proxy with `broker:` set, examples/demo_app/demo_app.py as the upstream
(it redeems X-Gssgate-Credential with gssgatectl and runs `select current_user` with psql), curl
--negotiate --delegation always and python-gssapi as clients. A second proxy in front of the
echo upstream deposits into the same broker, so tests can see real handles; and the C++ SDK
test (sdk_libpq_test) runs against the same broker and database.

The demo app is given a gssgatectl wrapper that runs the real one and records, for each ccache
it wrote, `klist` of it (never the handle): proof that the app never sees a TGT."""

from __future__ import annotations

import concurrent.futures
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

import grpc
import pytest

import proxytest

pytest.register_assert_rewrite("broker_fixtures")  # before the import below
from broker_fixtures import (  # noqa: E402
    NOT_FOUND_MESSAGE, PG_SERVICE, REALM_NAME, BrokerSet, assert_ctl_fails, gssgatectl_binary,
    redeem_ctl, require_binaries, signin, start_delegating_proxy, start_pg, tgt_bytes)
from echo_upstream import EchoUpstream

ROOT = Path(__file__).resolve().parents[2]
DEMO_APP = ROOT / "examples" / "demo_app" / "demo_app.py"
sys.path.insert(0, str(DEMO_APP.parent))
import demo_app  # noqa: E402

# Fixtures: grpc_api.
pytest_plugins = ["broker_fixtures"]

USERS = ["alice", "bob"]
DEFAULT_SDK_TEST = ROOT / "build" / "tests" / "integration" / "sdk_libpq_test"

CTL_WRAPPER = textwrap.dedent('''\
    #!/usr/bin/python3
    """Runs the real gssgatectl; records its exit status and `klist` of the ccache it wrote."""
    import json, os, stat, subprocess, sys
    res = subprocess.run([os.environ["E2E_REAL_GSSGATECTL"]] + sys.argv[1:],
                         capture_output=True, text=True)
    rec = {"rc": res.returncode, "stderr": res.stderr.strip()}
    for line in res.stdout.splitlines():
        if line.startswith("KRB5CCNAME=FILE:"):
            path = line.split(":", 1)[1]
            rec["mode"] = stat.S_IMODE(os.stat(path).st_mode)
            rec["klist"] = subprocess.run(["klist", "-c", "FILE:" + path], capture_output=True,
                                          text=True).stdout
    with open(os.environ["E2E_CTL_LOG"], "a") as f:
        f.write(json.dumps(rec) + "\\n")
    sys.stdout.write(res.stdout)
    sys.stderr.write(res.stderr)
    sys.exit(res.returncode)
''')


@pytest.fixture(scope="module")
def pg(realm, tmp_path_factory):
    cluster = start_pg(realm, tmp_path_factory, USERS)
    yield cluster
    cluster.stop()


@pytest.fixture(scope="module")
def world(realm, pg, tmp_path_factory):
    require_binaries()
    d = tmp_path_factory.mktemp("e2e")
    brokers = BrokerSet(realm, d)
    broker = brokers(_name="broker")
    wrapper = d / "gssgatectl-wrapper"
    wrapper.write_text(CTL_WRAPPER)
    wrapper.chmod(0o755)
    ctl_log = d / "gssgatectl-calls.jsonl"
    ctl_log.touch()
    env = dict(os.environ)
    env.update(E2E_REAL_GSSGATECTL=gssgatectl_binary(), E2E_CTL_LOG=str(ctl_log))
    env["KRB5CCNAME"] = f"FILE:{d / 'app-has-no-ccache'}"
    app_log = d / "demo_app.log"
    with open(app_log, "wb") as log:
        app = subprocess.Popen(
            ["/usr/bin/python3", str(DEMO_APP), "--port", "0", "--broker", broker.backend,
             "--gssgatectl", str(wrapper), "--conninfo", pg.conninfo()],
            stdout=subprocess.PIPE, stderr=log, env=env, text=True)
    line = app.stdout.readline()
    if not line.strip().isdigit():
        app.kill()
        brokers.close()
        pytest.fail(f"demo_app did not print its port: {line!r}\n{app_log.read_text()}")
    app_port = int(line)
    echo = EchoUpstream().start()
    proxies = []
    try:
        proxies.append(start_delegating_proxy(realm, d, f"http://127.0.0.1:{app_port}", broker,
                                              "proxy-app"))
        proxies.append(start_delegating_proxy(realm, d, echo.url, broker, "proxy-echo"))
    except BaseException:
        for p in proxies:
            p.kill()
        app.kill()
        echo.stop()
        brokers.close()
        raise
    w = SimpleNamespace(realm=realm, pg=pg, broker=broker, app_port=app_port, app=app,
                        app_log=app_log, ctl_log=ctl_log, proxy=proxies[0], echo_proxy=proxies[1],
                        dir=d)
    yield w
    errors = []
    for p in proxies:
        try:
            p.terminate_and_check(timeout=10)
        except AssertionError as e:
            errors.append(f"{p.name}: {e}")
    app.send_signal(signal.SIGTERM)
    try:
        if app.wait(timeout=10) != 0:
            errors.append(f"demo_app exited with {app.returncode}")
    except subprocess.TimeoutExpired:
        app.kill()
        errors.append("demo_app did not stop")
    echo.stop()
    errors += brokers.close()
    if errors:
        pytest.fail("\n".join(errors))


# ------------------------------------------------------------------------------- helpers
def curl_app(w, ccache: Path, delegate: bool = True, extra=()) -> tuple[int, dict]:
    """curl --negotiate through the app's proxy with `ccache` (KRB5CCNAME of curl only)."""
    port = w.proxy.port
    args = ["curl", "-sS", "--negotiate", "-u", ":", "--resolve", f"localhost:{port}:127.0.0.1",
            "-w", "\n%{http_code}", *extra]
    if delegate:
        args += ["--delegation", "always"]
    args.append(f"http://localhost:{port}/whoami")
    env = dict(os.environ)
    env["KRB5CCNAME"] = f"FILE:{ccache}"
    res = subprocess.run(args, capture_output=True, text=True, env=env, timeout=60)
    assert res.returncode == 0, res.stderr
    body, _, code = res.stdout.rpartition("\n")
    return int(code), json.loads(body) if body.strip().startswith("{") else {"raw": body}


def gssapi_app(w, user: str, delegate: bool = True) -> tuple[int, dict]:
    hdr = proxytest.auth_header(user, delegate=delegate)
    r = proxytest.http_request(w.proxy.port, path="/whoami", headers=hdr, timeout=60)
    return r.status, r.json


def direct_app(w, headers: dict) -> tuple[int, dict]:
    """A request straight to the demo app (as if some backend got these headers)."""
    c = http.client.HTTPConnection("127.0.0.1", w.app_port, timeout=60)
    try:
        c.request("GET", "/whoami", headers=headers)
        r = c.getresponse()
        return r.status, json.loads(r.read())
    finally:
        c.close()


def user_ccache(w, user: str, name: str) -> Path:
    """A private copy of the user's kinit'ed ccache (curl adds service tickets to it)."""
    dst = w.dir / f"{name}.ccache"
    shutil.copyfile(w.realm.ccaches[user], dst)
    dst.chmod(0o600)
    return dst


def ctl_calls(w) -> list[dict]:
    return [json.loads(ln) for ln in w.ctl_log.read_text().splitlines() if ln.strip()]


def pg_logins(w, user: str) -> int:
    return len(re.findall(rf'connection authenticated: identity="{user}@{REALM_NAME}" '
                          rf'method=gss', w.pg.log_text()))


def handle_for(w, user: str) -> str:
    _, _, h = signin(w.echo_proxy, user)
    assert h, f"no handle for {user}"
    return h


def expect_as(body: dict, user: str) -> None:
    assert body == {"remote_user": user, "db_user": user, "session_user": user,
                    "error": None}, body


# ------------------------------------------------------------------------------- the story
@pytest.mark.parametrize("client", ["curl", "gssapi"])
def test_alice_and_bob_query_postgres_as_themselves(world, client):
    for user in USERS:
        before = pg_logins(world, user)
        if client == "curl":
            status, body = curl_app(world, user_ccache(world, user, f"{user}-{client}"))
        else:
            status, body = gssapi_app(world, user)
        assert status == 200, body
        expect_as(body, user)
        assert pg_logins(world, user) == before + 1


def test_interleaved_concurrent_requests_never_cross(world):
    jobs = [(USERS[i % 2], i) for i in range(20)]
    ccaches = {i: user_ccache(world, user, f"conc-{i}-{user}") for user, i in jobs}
    calls_before = len(ctl_calls(world))
    redeems_before = len(re.findall(r"redeem: uid=", world.broker.log_text()))
    logins_before = {u: pg_logins(world, u) for u in USERS}

    def run(job):
        user, i = job
        return user, curl_app(world, ccaches[i])

    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=10) as ex:
        results = list(ex.map(run, jobs))
    elapsed = time.monotonic() - t0
    for user, (status, body) in results:
        assert status == 200, body
        expect_as(body, user)
    # Every request redeemed one credential of its own user, and only a service ticket.
    calls = ctl_calls(world)[calls_before:]
    assert len(calls) == 20 and all(c["rc"] == 0 and c["mode"] == 0o600 for c in calls), calls
    owners = sorted(re.search(r"Default principal: (\S+)", c["klist"]).group(1) for c in calls)
    assert owners == sorted([f"{u}@{REALM_NAME}" for u, _ in jobs])
    for c in calls:
        assert "krbtgt/" not in c["klist"], c["klist"]
        assert f"{PG_SERVICE}@{REALM_NAME}" in c["klist"]
    deadline = time.monotonic() + 5
    while len(re.findall(r"redeem: uid=", world.broker.log_text())) < redeems_before + 20 \
            and time.monotonic() < deadline:
        time.sleep(0.05)
    redeems = re.findall(r"redeem: uid=\d+ pid=\d+ principal=(\S+) service=(\S+) "
                         r"credential=\S+ tgt=(\w+)", world.broker.log_text())[redeems_before:]
    assert len(redeems) == 20
    assert all(svc == PG_SERVICE and tgt == "false" for _, svc, tgt in redeems), redeems
    assert sorted(p for p, _, _ in redeems) == owners
    for u in USERS:
        assert pg_logins(world, u) == logins_before[u] + 10
    print(f"20 concurrent delegated requests -> PostgreSQL in {elapsed:.2f} s")


def test_without_delegation_there_is_no_database_access(world):
    calls_before = len(ctl_calls(world))
    logins_before = {u: pg_logins(world, u) for u in USERS}
    deposits_before = world.broker.log_text().count("deposit: ")
    status, body = curl_app(world, user_ccache(world, "alice", "nodeleg"), delegate=False)
    assert status == 200
    assert body == {"remote_user": "alice", "db_user": None, "session_user": None,
                    "error": demo_app.NO_HANDLE_ERROR}
    assert "no delegated credential" in body["error"]
    # A client cannot supply a handle of its own either (the proxy strips the header).
    status, body = curl_app(world, user_ccache(world, "bob", "nodeleg-forged"), delegate=False,
                            extra=["-H", "X-Gssgate-Credential: gsh1.forged-by-the-client"])
    assert status == 200 and body["db_user"] is None and body["remote_user"] == "bob"
    assert body["error"] == demo_app.NO_HANDLE_ERROR
    status, body = gssapi_app(world, "alice", delegate=False)
    assert status == 200 and body["db_user"] is None
    assert len(ctl_calls(world)) == calls_before, "gssgatectl ran without a delegated credential"
    assert {u: pg_logins(world, u) for u in USERS} == logins_before
    assert world.broker.log_text().count("deposit: ") == deposits_before


def test_the_app_never_sees_a_tgt(world):
    status, body = curl_app(world, user_ccache(world, "bob", "notgt"))
    assert status == 200 and body["db_user"] == "bob"
    calls = ctl_calls(world)
    assert calls, "the demo app never ran gssgatectl"
    for c in calls:
        if c["rc"] == 0:
            assert "krbtgt/" not in c["klist"], c["klist"]
            tickets = [ln for ln in c["klist"].splitlines() if "@" in ln and "principal" not in ln]
            assert len(tickets) == 1 and f"{PG_SERVICE}@{REALM_NAME}" in tickets[0], c["klist"]
    log = world.broker.log_text()
    assert "tgt=false" in log and "tgt=true" not in log


def test_bad_handles_are_refused_and_never_reach_the_database(world):
    handle = handle_for(world, "alice")
    logins_before = pg_logins(world, "alice")
    for forged in (handle[:-6], handle[:-12] + ("A" if handle[-12] != "A" else "B") + handle[-11:],
                   "gsh1." + "A" * 80, "garbage"):
        status, body = direct_app(world, {"X-Remote-User": "alice",
                                          "X-Gssgate-Credential": forged})
        assert status == 502 and body["db_user"] is None, body
        assert body["error"] == f"gssgatectl: {NOT_FOUND_MESSAGE}", body
    assert pg_logins(world, "alice") == logins_before
    # The genuine handle works through the same path.
    status, body = direct_app(world, {"X-Remote-User": "alice", "X-Gssgate-Credential": handle})
    assert status == 200, body
    expect_as(body, "alice")


def test_alices_handle_cannot_yield_bobs_database_login(world):
    """The demo app trusts X-Remote-User for the role name; even so, alice's handle only ever
    yields alice's ticket, and PostgreSQL refuses it for role bob."""
    handle = handle_for(world, "alice")
    bob_before = pg_logins(world, "bob")
    status, body = direct_app(world, {"X-Remote-User": "bob", "X-Gssgate-Credential": handle})
    assert status == 502 and body["db_user"] is None, body
    assert 'GSSAPI authentication failed for user "bob"' in body["error"], body
    assert pg_logins(world, "bob") == bob_before
    last = ctl_calls(world)[-1]
    assert last["rc"] == 0 and f"Default principal: alice@{REALM_NAME}" in last["klist"]


def test_service_not_in_policy_is_permission_denied(world, grpc_api, tmp_path):
    handle = handle_for(world, "alice")
    res = redeem_ctl(world.broker.backend, handle, tmp_path / "x.ccache", service="HTTP/localhost")
    assert_ctl_fails(res, "not allowed")
    code, _ = grpc_api.code_of(grpc_api.redeem, world.broker.backend, handle, "HTTP/localhost")
    assert code == grpc.StatusCode.PERMISSION_DENIED


def test_backend_socket_cannot_deposit(world, grpc_api, realm):
    code, _ = grpc_api.code_of(grpc_api.deposit, world.broker.backend,
                               f"alice@{REALM_NAME}", tgt_bytes(realm.ccaches["alice"]))
    assert code == grpc.StatusCode.UNIMPLEMENTED


def test_cpp_sdk_two_threads_two_users_with_libpq(world):
    binary = os.environ.get("GSSGATE_SDK_LIBPQ_TEST") or str(DEFAULT_SDK_TEST)
    if not os.access(binary, os.X_OK):
        if os.environ.get("GSSGATE_SDK_LIBPQ_TEST"):
            pytest.fail(f"sdk_libpq_test not found at {binary}")
        pytest.skip(f"sdk_libpq_test not built ({binary}); build target sdk_libpq_test")
    env = dict(os.environ)
    env.update({
        "GSSGATE_TEST_BROKER": world.broker.backend,
        "GSSGATE_TEST_HANDLE_ALICE": handle_for(world, "alice"),
        "GSSGATE_TEST_HANDLE_BOB": handle_for(world, "bob"),
        "GSSGATE_TEST_CONNINFO": world.pg.conninfo(),
        "GSSGATE_TEST_ITERATIONS": "30",
        "KRB5_CONFIG": world.realm.env()["KRB5_CONFIG"],
        "KRB5CCNAME": f"FILE:{world.dir / 'sdk-has-no-ccache'}",
    })
    logins_before = {u: pg_logins(world, u) for u in USERS}
    res = subprocess.run([binary, "--gtest_brief=0"], capture_output=True, text=True, env=env,
                         timeout=120)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-4000:]
    assert "[  PASSED  ] 5 tests" in out and "SKIPPED" not in out, out[-4000:]
    for u in USERS:
        assert pg_logins(world, u) >= logins_before[u] + 30


def test_broker_restart_fails_old_handles_cleanly_and_new_signin_works(world):
    """Last in this module: it restarts the module's broker (memory store)."""
    old = handle_for(world, "alice")
    world.broker.restart()
    status, body = direct_app(world, {"X-Remote-User": "alice", "X-Gssgate-Credential": old})
    assert status == 502 and body["error"] == f"gssgatectl: {NOT_FOUND_MESSAGE}", body
    status, body = curl_app(world, user_ccache(world, "alice", "after-restart"))
    assert status == 200, body
    expect_as(body, "alice")
