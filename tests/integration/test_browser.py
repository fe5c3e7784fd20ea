"""A real browser signs in: Debian's headless Chromium (tests/browser/negotiate_browser.mjs, driven
by playwright-core) does SPNEGO against gssgate-proxy with a user's ticket cache, as a user's
browser on a Kerberos-joined desktop does.

What Chromium 156 does (seen in its NetLog, which the driver reads): a request never carries
Negotiate unasked, not even the next page's; after the 401 it asks the GSS library for
`HTTP@localhost` (no port), drains the 401 and retries once with `Negotiate <token>` on the same
keep-alive connection. It never asks for mutual authentication. It uses the ticket only for hosts
in --auth-server-allowlist, and delegates the TGT only to hosts in the profile's
`auth.negotiate_delegate_whitelist` (Local State). It also fetches /favicon.ico after each page.
Playwright cannot see any of this: it gets the first attempt's headers and the final response.

`run_browser(urls, ccache, delegate=..., ...)` (a fixture) returns the driver's JSON: per URL the
status, body, response headers, what went over the wire (`exchanges`: status and the size of the
Authorization / Cookie header of each attempt; `negotiate`: SPN, principals and delegation flag
of each GSS context Chromium made) and the context's cookies (values never printed); with
`follow_ms` also the navigations a page started by itself (a meta refresh). The fixture fails the
test if any process of a run (node, Chromium and its helpers) outlives it.

Over TLS (a throw-away certificate from tlstest.py; Chromium is told to ignore that it does not
know the CA) Chromium signs in with delegation, stores the session cookie as HttpOnly, Secure,
SameSite=Lax and presents only that cookie on the next page.

Needs /usr/bin/chromium and tests/browser/node_modules (scripts/install-deps.sh installs both).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from proxytest import REPO, http_request
from tlstest import Pki

# Fixtures: broker_factory (the delegation test deposits into a real broker).
pytest_plugins = ["broker_fixtures"]

BROWSER_DIR = REPO / "tests" / "browser"
DRIVER = BROWSER_DIR / "negotiate_browser.mjs"
CHROMIUM = Path("/usr/bin/chromium")
REALM_NAME = "GSSGATE.TEST"
# Generous: on a 2-core box at load 8 a run takes 4-5 s (~1.3 s of CPU; most of it is loading
# playwright-core and starting Chromium, ~0.3 s per URL). For the launch and each navigation.
NAVIGATION_TIMEOUT_MS = 30_000
MARKER_ENV = "GSSGATE_BROWSER_RUN"


def require_browser() -> str:
    node = shutil.which("node")
    missing = []
    if node is None:
        missing.append("node")
    if not os.access(CHROMIUM, os.X_OK):
        missing.append(str(CHROMIUM))
    if not (BROWSER_DIR / "node_modules" / "playwright-core" / "package.json").is_file():
        missing.append("tests/browser/node_modules (playwright-core)")
    if missing:
        pytest.fail(f"browser test needs {', '.join(missing)}: run scripts/install-deps.sh")
    return node


def processes_with_marker(marker: str) -> list[int]:
    """Pids whose environment carries MARKER_ENV=marker: node, Chromium and all its children
    inherit it, so this finds exactly the processes one run started."""
    needle = f"{MARKER_ENV}={marker}".encode()
    pids = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        try:
            env = (d / "environ").read_bytes()
        except OSError:
            continue  # gone, or not ours to read
        if needle in env.split(b"\0"):
            pids.append(int(d.name))
    return pids


def kill_leftovers(marker: str) -> list[int]:
    """SIGKILLs what is left of one run (by pid); returns the pids it found."""
    left = processes_with_marker(marker)
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return left


class BrowserRunner:
    """Runs negotiate_browser.mjs; remembers every run so the fixture can check that no
    Chromium process outlived it."""

    def __init__(self, realm, workdir: Path):
        self.node = require_browser()
        self.realm = realm
        self.workdir = workdir
        self.markers: list[str] = []

    def __call__(self, urls: list[str], ccache: Path | None, delegate: bool = False,
                 allowlist: str | None = "localhost", ignore_https_errors: bool = False,
                 extra_env: dict[str, str] | None = None, follow_ms: int = 0) -> dict:
        """Visits `urls` in order in one fresh browser profile, as the owner of `ccache` (None:
        a ticket cache that does not exist). `follow_ms`: after each page loads, wait up to
        that long for the page to navigate on by itself (meta refresh) and report it in the
        result's `navigations`. Returns the driver's JSON (see its header)."""
        timeout = ((len(urls) + 1) * NAVIGATION_TIMEOUT_MS + len(urls) * follow_ms) / 1000 + 20
        marker = uuid.uuid4().hex
        self.markers.append(marker)
        profiles = self.workdir / f"browser-{marker[:8]}"
        profiles.mkdir(mode=0o700)
        env = dict(os.environ)
        for k in ("KRB5_TRACE", "KRB5_KTNAME", "KRB5_CLIENT_KTNAME", "http_proxy", "https_proxy",
                  "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
            env.pop(k, None)
        env["KRB5_CONFIG"] = self.realm.env()["KRB5_CONFIG"]
        env["KRB5CCNAME"] = f"FILE:{ccache if ccache else profiles / 'no-such-ccache'}"
        env[MARKER_ENV] = marker
        env.update(extra_env or {})
        request = {"urls": list(urls), "allowlist": allowlist, "delegate": delegate,
                   "ignoreHttpsErrors": ignore_https_errors, "followMs": follow_ms,
                   "timeoutMs": NAVIGATION_TIMEOUT_MS, "profileParent": str(profiles)}
        proc = subprocess.Popen([self.node, str(DRIVER)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                                cwd=BROWSER_DIR)
        try:
            out, err = proc.communicate(json.dumps(request).encode(), timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGTERM)  # the driver closes Chromium and its profile
            try:
                out, err = proc.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, err = proc.communicate()
            kill_leftovers(marker)
            pytest.fail(f"negotiate_browser did not finish in {timeout:.0f} s: "
                        f"{err.decode(errors='replace').strip()[-2000:]}")
        if proc.returncode != 0:
            kill_leftovers(marker)
            pytest.fail(f"negotiate_browser exited {proc.returncode}: "
                        f"{err.decode(errors='replace').strip()[-2000:]}")
        result = json.loads(out)
        assert not Path(result["profileDir"]).exists(), "the driver left its profile behind"
        return result

    def leftovers(self) -> list[int]:
        """Processes of any run still alive (after a grace period), killed; [] when clean."""
        deadline = time.monotonic() + 10
        while True:
            left = [pid for m in self.markers for pid in processes_with_marker(m)]
            if not left or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        return [pid for m in self.markers for pid in kill_leftovers(m)]


@pytest.fixture
def run_browser(realm, tmp_path):
    """run_browser(urls, ccache, delegate=False, allowlist="localhost", ...) -> dict."""
    runner = BrowserRunner(realm, tmp_path)
    yield runner
    left = runner.leftovers()
    assert not left, f"browser processes outlived their run (killed): {left}"


# ------------------------------------------------------------------------------- helpers
def upstream_saw(result: dict) -> dict[str, list[str]]:
    """The request headers the echo upstream received (lower-case name -> values)."""
    seen: dict[str, list[str]] = {}
    for k, v in json.loads(result["body"])["headers"]:
        seen.setdefault(k.lower(), []).append(v)
    return seen


def wire(result: dict) -> list[tuple[int | None, bool]]:
    """(status, carried Authorization) of each exchange of the navigation, from the NetLog."""
    return [(x["status"], x["authorization"] is not None) for x in result["exchanges"]]


def upstream_paths(echo_upstream) -> list[str]:
    return [r["path"] for r in echo_upstream.requests]


# ------------------------------------------------------------------------------- tests
def test_chromium_signs_in_with_negotiate(proxy, echo_upstream, realm, run_browser):
    p = proxy()
    out = run_browser([p.url("/app/whoami?x=1")], realm.ccaches["alice"])
    r = out["results"][0]
    assert r["error"] is None and r["status"] == 200, r
    seen = upstream_saw(r)
    assert json.loads(r["body"])["path"] == "/app/whoami?x=1"
    assert seen.get("x-remote-user") == ["alice"], seen
    assert seen.get("x-remote-principal") == [f"alice@{REALM_NAME}"], seen
    assert "authorization" not in seen, "the Negotiate token must not reach the upstream"
    assert "x-gssgate-credential" not in seen  # no broker configured
    # Chromium's dance: no token on the first request; the 401's challenge makes it ask the GSS
    # library for HTTP@localhost (no port) and retry once with Negotiate.
    assert wire(r) == [(401, False), (200, True)], r["exchanges"]
    assert r["authorizationRequests"] == 1
    [ctx] = r["negotiate"]
    assert ctx["spn"] == "HTTP@localhost" and ctx["error"] is None, ctx
    assert ctx["client"] == f"alice@{REALM_NAME}", ctx
    assert ctx["target"] == f"HTTP/localhost@{REALM_NAME}", ctx
    assert ctx["delegated"] is False and ctx["mutual"] is False, ctx
    # The 200 carries the proxy's mutual-auth token (the driver shows only the scheme).
    assert r["responseHeaders"].get("www-authenticate", "").startswith("Negotiate"), r
    # The page reached the upstream once, authenticated (its favicon may follow it).
    assert upstream_paths(echo_upstream).count("/app/whoami?x=1") == 1, upstream_paths(
        echo_upstream)
    assert f"authenticated alice@{REALM_NAME} as alice" in p.log_text()


def test_chromium_stays_signed_in_across_pages(proxy, echo_upstream, realm, run_browser):
    """Several pages in one browser context, all as bob. Chromium never sends Negotiate
    unasked, so every page after the first either repeats the 401 + Negotiate round or presents
    the proxy's session cookie (once the proxy sets one)."""
    p = proxy()
    urls = [p.url("/a"), p.url("/b"), p.url("/a")]
    out = run_browser(urls, realm.ccaches["bob"])
    for r in out["results"]:
        assert r["status"] == 200, r
        assert upstream_saw(r).get("x-remote-user") == ["bob"], r
        last = r["exchanges"][-1]
        assert last["status"] == 200, r["exchanges"]
        assert last["authorization"] is not None or last["cookie"] is not None, r["exchanges"]
    assert wire(out["results"][0]) == [(401, False), (200, True)]
    assert [json.loads(r["body"])["path"] for r in out["results"]] == ["/a", "/b", "/a"]
    assert [x for x in upstream_paths(echo_upstream) if x != "/favicon.ico"] == ["/a", "/b", "/a"]


def test_host_not_in_allowlist_gets_401(proxy, echo_upstream, realm, run_browser):
    """Without --auth-server-allowlist Chromium does not use the ticket for this host at all:
    no GSS call, no retry; the user sees the proxy's 401 page."""
    p = proxy()
    out = run_browser([p.url("/app")], realm.ccaches["alice"], allowlist=None)
    r = out["results"][0]
    assert r["status"] == 401, r
    assert r["responseHeaders"].get("www-authenticate") == "Negotiate", r
    assert wire(r) == [(401, False)], r["exchanges"]
    assert r["negotiate"] == []
    assert out["cookies"] == []
    assert echo_upstream.requests == []


def test_without_a_ticket_cache_gets_401(proxy, echo_upstream, run_browser):
    """An allowed host but no ticket: gss_init_sec_context fails, Chromium sends the request
    once more without credentials and shows the 401."""
    p = proxy()
    out = run_browser([p.url("/app")], None)
    r = out["results"][0]
    assert r["status"] == 401, r
    assert r["authorizationRequests"] == 0 and r["exchanges"][-1]["status"] == 401, r
    assert r["negotiate"] and all(n["error"] for n in r["negotiate"]), r["negotiate"]
    assert "No credentials were supplied" in r["negotiate"][0]["error"], r["negotiate"]
    assert out["cookies"] == []
    assert echo_upstream.requests == []


@pytest.mark.parametrize("delegate", [True, False], ids=["delegate", "no-delegation"])
def test_delegation_reaches_the_broker_only_when_allowed(broker_factory, proxy, realm,
                                                         run_browser, delegate):
    """With the host in auth.negotiate_delegate_whitelist Chromium forwards alice's TGT (the
    token grows by the KRB-CRED); the proxy deposits it with the broker and the upstream gets a
    handle. Without it the context has no delegation flag and the upstream no handle."""
    b = broker_factory()
    p = proxy(broker=b.deposit, timeouts={"broker": "5s"})
    out = run_browser([p.url("/app")], realm.ccaches["alice"], delegate=delegate)
    r = out["results"][0]
    assert r["status"] == 200, r
    [ctx] = r["negotiate"]
    assert ctx["delegated"] is delegate, ctx
    seen = upstream_saw(r)
    assert seen.get("x-remote-user") == ["alice"], seen
    handles = seen.get("x-gssgate-credential", [])
    if delegate:
        assert len(handles) == 1 and handles[0].startswith("gsh1."), seen
    else:
        assert handles == [], seen


# ------------------------------------------------------------------------------- over TLS
def gss_accept_calls(p) -> float:
    for line in http_request(p.admin_port, path="/metrics").text.splitlines():
        if line.startswith("gssgate_proxy_gss_accept_calls_total "):
            return float(line.split()[1])
    raise AssertionError("no gssgate_proxy_gss_accept_calls_total in /metrics")


def https_url(p, path: str) -> str:
    return f"https://localhost:{p.port}{path}"


def test_chromium_over_tls_with_delegation_then_rides_the_cookie(broker_factory, proxy, realm,
                                                                 run_browser, echo_upstream,
                                                                 tmp_path):
    """The issue's sign-in: Chromium signs in over TLS, delegating alice's TGT; the proxy
    deposits it and sets its session cookie (HttpOnly, Secure, SameSite=Lax); the next page
    goes out with the cookie only, and the proxy serves it without a GSS call — the upstream
    still gets alice and a (locally minted) credential handle."""
    leaf = Pki(tmp_path / "pki").leaf("server")
    b = broker_factory()
    p = proxy(broker=b.deposit, timeouts={"broker": "5s"}, session={"lifetime": "10m"},
              tls={"cert_file": str(leaf.cert), "key_file": str(leaf.key)})
    before = gss_accept_calls(p)
    out = run_browser([https_url(p, "/app/one"), https_url(p, "/app/two")],
                      realm.ccaches["alice"], delegate=True, ignore_https_errors=True)
    first, second = out["results"]

    assert first["error"] is None and first["status"] == 200, first
    assert wire(first) == [(401, False), (200, True)], first["exchanges"]
    [ctx] = first["negotiate"]
    assert ctx["spn"] == "HTTP@localhost" and ctx["error"] is None, ctx
    assert ctx["delegated"] is True, ctx
    seen1 = upstream_saw(first)
    assert seen1.get("x-remote-user") == ["alice"], seen1
    assert seen1.get("x-forwarded-proto") == ["https"], seen1
    h1 = seen1.get("x-gssgate-credential", [])
    assert len(h1) == 1 and h1[0].startswith("gsh1."), seen1

    [cookie] = [c for c in out["cookies"] if c["name"] == "gssgate_session"]
    assert cookie["httpOnly"] is True and cookie["secure"] is True, cookie
    assert cookie["sameSite"] == "Lax", cookie
    assert cookie["domain"] == "localhost" and cookie["path"] == "/", cookie

    assert second["error"] is None and second["status"] == 200, second
    assert len(second["exchanges"]) == 1, second["exchanges"]
    [x] = second["exchanges"]
    assert x["status"] == 200 and x["cookie"] is not None, x
    assert x["authorization"] is None, "the second page carried a Negotiate token"
    assert second["negotiate"] == [], second["negotiate"]
    seen2 = upstream_saw(second)
    assert json.loads(second["body"])["path"] == "/app/two"
    assert seen2.get("x-remote-user") == ["alice"], seen2
    h2 = seen2.get("x-gssgate-credential", [])
    assert len(h2) == 1 and h2[0].startswith("gsh1."), seen2
    assert "authorization" not in seen2 and "cookie" not in seen2, seen2

    # One accept for the whole run (the first page); the cookie page and favicons made none,
    # and only the first page deposited with the broker (the second handle was minted locally).
    assert gss_accept_calls(p) - before == 1, "the cookie page called gss_accept_sec_context"
    assert h2 != h1
    assert b.wait_for_log(r"\bdeposit: "), b.log_tail()
    time.sleep(0.2)
    assert len([ln for ln in b.log_text().splitlines() if re.search(r"\bdeposit: ", ln)]) == 1
    assert [pth for pth in upstream_paths(echo_upstream) if pth != "/favicon.ico"] == [
        "/app/one", "/app/two"]


def test_chromium_without_kerberos_is_sent_to_the_fallback(proxy, echo_upstream, run_browser):
    """No ticket: the Negotiate retry fails inside Chromium, which shows the proxy's HTML 401;
    its meta refresh sends the browser on to the route's fallback (a host this test cannot
    resolve, so that navigation fails with a DNS error — what matters is that it was tried).
    The page's exact HTML is checked at the HTTP level in test_session.py."""
    fallback = "https://login.example.test/"
    p = proxy(routes=[{"path": "/sso", "auth": "negotiate", "fallback": fallback},
                      {"path": "/", "auth": "negotiate"}])
    out = run_browser([p.url("/sso/app")], None, follow_ms=5000)
    r = out["results"][0]
    assert r["status"] == 401, r
    assert r["responseHeaders"].get("content-type", "").startswith("text/html"), r
    # The 401 page's body, when DevTools could still fetch it before the refresh replaced the
    # document (a race the driver usually wins): its meta refresh names the fallback.
    if r["body"]:
        assert f'<meta http-equiv="refresh" content="0; url={fallback}">' in r["body"], r["body"]
    assert r["exchanges"][-1]["status"] == 401 and r["authorizationRequests"] == 0, r
    navs = r["navigations"]
    assert navs and navs[0]["url"] == fallback, navs
    assert navs[0]["error"] == "net::ERR_NAME_NOT_RESOLVED", navs
    assert out["cookies"] == []
    assert echo_upstream.requests == []
