"""pytest fixtures for the gssgate-proxy integration tests.

* `realm` (session): MIT KDC for GSSGATE.TEST on a random loopback port; users alice, bob,
  carol (password <user>-password) and dave/admin (no auth_to_local name); services
  HTTP/localhost (realm.http_keytab — the proxy's keytab) and HTTP/other.example
  (realm.other_keytab — a service the proxy's keytab lacks); a ccache per user
  (realm.ccaches[user]). Only KRB5_CONFIG and KRB5RCACHEDIR are set in this process's
  environment (the GSS library needs them to find the KDC); KRB5CCNAME points at a missing
  file so that nothing uses a default ccache by accident.
* `echo_upstream`: tests/integration/echo_upstream.py on a random port, in this process.
* `proxy`: factory; `proxy(routes=..., **config_overrides)` writes a YAML config (random
  listen/admin ports), starts $GSSGATE_PROXY (default build/proxy/gssgate-proxy), waits for
  /readyz and returns a ProxyProcess. At teardown each proxy still running gets SIGTERM and
  must exit 0 within 10 s.

Run:  /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "realm"))

import proxytest  # noqa: E402
from echo_upstream import EchoUpstream  # noqa: E402
from gssgate_realm import Realm  # noqa: E402
from proxytest import base_config, proxy_env  # noqa: E402

USERS = ["alice", "bob", "carol"]
NO_LOCALNAME_USER = "dave/admin"


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes more than a few seconds")


@pytest.fixture(scope="session")
def proxy_binary() -> str:
    path = proxytest.proxy_binary()
    if not os.access(path, os.X_OK):
        pytest.fail(f"gssgate-proxy not found at {path} (set GSSGATE_PROXY or build it)")
    return path


@pytest.fixture(scope="session")
def realm(tmp_path_factory):
    d = tmp_path_factory.mktemp("realm")
    r = Realm(d)
    r.start()
    for u in USERS + [NO_LOCALNAME_USER]:
        r.add_user(u)
    r.http_keytab = r.add_service("HTTP/localhost", d / "http.keytab")
    r.other_keytab = r.add_service("HTTP/other.example", d / "other.keytab")
    r.ccaches = {}
    for u in USERS + [NO_LOCALNAME_USER]:
        r.ccaches[u] = r.kinit(u, d / f"{u.replace('/', '_')}.ccache")
    proxytest.CCACHES.clear()
    proxytest.CCACHES.update(r.ccaches)
    proxytest.REALM = r
    saved = {k: os.environ.get(k) for k in ("KRB5_CONFIG", "KRB5RCACHEDIR", "KRB5CCNAME",
                                            "KRB5_KDC_PROFILE")}
    env = r.env()
    os.environ["KRB5_CONFIG"] = env["KRB5_CONFIG"]
    os.environ["KRB5_KDC_PROFILE"] = env["KRB5_KDC_PROFILE"]
    os.environ["KRB5RCACHEDIR"] = env["KRB5RCACHEDIR"]
    os.environ["KRB5CCNAME"] = f"FILE:{d / 'no-such-ccache'}"
    yield r
    r.stop()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture
def echo_upstream():
    srv = EchoUpstream().start()
    yield srv
    srv.stop()


@pytest.fixture
def proxy(realm, echo_upstream, tmp_path, proxy_binary):
    """Factory: proxy(**overrides) -> ProxyProcess (running and ready).

    Overrides are merged into the base config (dicts deep-merged, a value of None removes a
    key); `upstream` defaults to the echo upstream. `_start=False` returns it with its
    config written but not started; `_name` names its config/log files."""
    started: list[proxytest.ProxyProcess] = []

    def start(_start: bool = True, _name: str | None = None, **overrides):
        cfg = base_config(realm, echo_upstream.url)
        cfg = proxytest.deep_merge(cfg, overrides)
        name = _name or f"proxy{len(started)}"
        p = proxytest.ProxyProcess(cfg, tmp_path, proxy_env(realm, tmp_path), name=name)
        started.append(p)
        if not _start:
            p.write_config()
            return p
        for attempt in range(3):
            try:
                p.start()
                break
            except proxytest.ProxyStartError as e:
                p.kill()
                started_text = p.log_text().lower()
                if attempt < 2 and ("in use" in started_text or "bind" in started_text):
                    # Port race with another process: new ports, try again.
                    cfg["listen"] = f"127.0.0.1:{proxytest.free_port()}"
                    cfg["admin_listen"] = f"127.0.0.1:{proxytest.free_port()}"
                    p.config = cfg
                    p.log_path.write_text("")
                    continue
                raise e
        return p

    yield start

    errors = []
    for p in started:
        if p.checked_exit:
            continue
        try:
            p.terminate_and_check(timeout=10)
        except AssertionError as e:
            errors.append(f"{p.name}: {e}")
    if errors:
        pytest.fail("\n".join(errors))
