"""The Helm chart helm/gssgate: lint, schema, and what the rendered objects promise.

Rendered with the default values and with ci/full-values.yaml (every option on). The configs
the chart renders are checked by the REAL daemons (`--check-config`), and the broker is started
from its rendered config and probed with the exact command of the chart's exec probe.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from deploytest import (CHART, FULL_VALUES, all_of, broker_binary, config_files, containers,
                        gssgatectl_binary, helm, mounts, one, pod_spec, proxy_binary, render,
                        template_args, unix_path, volume_for_path, volumes)

VARIANTS = {"default": None, "full": FULL_VALUES}


@pytest.fixture(scope="module", params=list(VARIANTS))
def variant(request):
    docs = render(values_file=VARIANTS[request.param])
    return request.param, docs


def _deployment(docs):
    return one(docs, "Deployment")


# ------------------------------------------------------------------------ lint and schema
@pytest.mark.parametrize("values", [None, FULL_VALUES], ids=["default", "full"])
def test_helm_lint_strict(values):
    args = ["lint", "--strict", str(CHART)] + (["-f", str(values)] if values else [])
    p = helm(*args)
    assert "0 chart(s) failed" in p.stdout


@pytest.mark.parametrize("setting, message", [
    ("replicaCount=two", "replicaCount"),
    ("no_such_value=1", "no_such_value"),
    ("proxy.port=0", "proxy.port"),
    ("broker.store=disk", "broker.store"),
    ("podSecurityContext.runAsNonRoot=false", "runAsNonRoot"),
    ("proxy.routes[0].auth=kerberos", "auth"),
    ("broker.handleTtl=soon", "handleTtl"),
    ("proxy.log.level=verbose", "level"),
])
def test_schema_rejects_bad_values(setting, message):
    p = helm(*template_args(sets=[setting]), check=False)
    assert p.returncode != 0, f"--set {setting} was accepted"
    assert message in p.stderr


@pytest.mark.parametrize("setting, message", [
    ("app.uid=10002", "app.uid must differ"),
    ("app.gid=10001", "app.gid must differ"),
    ("proxy.runAsGroup=10000", "proxy.runAsGroup must differ"),
    ("broker.handleKey.enabled=true", "needs replicaCount 1"),
])
def test_template_refuses_id_clashes(setting, message):
    p = helm(*template_args(sets=[setting]), check=False)
    assert p.returncode != 0
    assert message in p.stderr


# ------------------------------------------------------------------------ pod layout
def test_three_containers_and_only_the_proxy_is_reachable(variant):
    name, docs = variant
    c = containers(_deployment(docs))
    app = "django" if name == "full" else "app"
    assert set(c) == {"gssgate-proxy", "gssgate-broker", app}
    assert {p["name"] for p in c["gssgate-proxy"]["ports"]} == {"http", "admin"}
    assert "ports" not in c[app]
    # The broker publishes a port only for its opt-in metrics listener.
    if name == "full":
        assert [p["name"] for p in c["gssgate-broker"]["ports"]] == ["broker-admin"]
    else:
        assert "ports" not in c["gssgate-broker"]
    svc = one(docs, "Service")
    assert [p["targetPort"] for p in svc["spec"]["ports"]] == ["http"]
    assert svc["spec"]["selector"] == _deployment(docs)["spec"]["selector"]["matchLabels"]


def test_keytab_and_keys_are_mounted_only_where_needed(variant):
    name, docs = variant
    dep = _deployment(docs)
    vols = volumes(dep)
    c = containers(dep)
    app = c["django" if name == "full" else "app"]
    keytab_secret = "webapp-http-keytab" if name == "full" else "rel-gssgate-keytab"
    keytab_vols = [n for n, v in vols.items()
                   if v.get("secret", {}).get("secretName") == keytab_secret]
    assert keytab_vols == ["keytab"]
    assert "keytab" in mounts(c["gssgate-proxy"])
    assert "keytab" not in mounts(c["gssgate-broker"])
    # The app mounts no Secret at all (no keytab, no cookie/assertion key).
    secret_vols = {n for n, v in vols.items() if "secret" in v or "projected" in v}
    assert secret_vols == {"keytab", "proxy-keys"}
    assert not secret_vols & set(mounts(app))
    assert "proxy-keys" not in mounts(c["gssgate-broker"])
    # The daemons' configs point into those mounts.
    proxy_cfg, broker_cfg, _, _ = config_files(docs)
    assert volume_for_path(c["gssgate-proxy"], proxy_cfg["keytab"]) == "keytab"
    assert volume_for_path(c["gssgate-proxy"], proxy_cfg["session"]["key_file"]) == "proxy-keys"
    assert volume_for_path(c["gssgate-proxy"], proxy_cfg["assertion"]["key_file"]) == "proxy-keys"
    # Several replicas: each broker makes its own handle key (see test_handle_key_secret).
    assert "handle_key_file" not in broker_cfg
    # krb5.conf: proxy and broker; the app only when asked (full values ask).
    for daemon in ("gssgate-proxy", "gssgate-broker"):
        env = {e["name"]: e.get("value") for e in c[daemon]["env"]}
        assert volume_for_path(c[daemon], env["KRB5_CONFIG"]) == "krb5"
    assert ("krb5" in mounts(app)) == (name == "full")


def test_sockets_are_shared_through_separate_empty_dirs(variant):
    name, docs = variant
    dep = _deployment(docs)
    c = containers(dep)
    app = c["django" if name == "full" else "app"]
    proxy, broker = c["gssgate-proxy"], c["gssgate-broker"]
    proxy_cfg, broker_cfg, _, _ = config_files(docs)
    backend = unix_path(broker_cfg["listen"])
    deposit = unix_path(broker_cfg["deposit_listen"])
    # The backend socket: broker and app share one emptyDir; the proxy cannot see it.
    vb = volume_for_path(broker, backend)
    assert vb is not None and volume_for_path(app, backend) == vb
    assert mounts(app)[vb] == mounts(broker)[vb]
    assert vb not in mounts(proxy)
    # The deposit socket: broker and proxy share another emptyDir; the app cannot see it.
    vd = volume_for_path(broker, deposit)
    assert vd is not None and vd != vb and volume_for_path(proxy, deposit) == vd
    assert vd not in mounts(app)
    for v in (vb, vd):
        assert "emptyDir" in volumes(dep)[v]
    # Everyone agrees on the addresses.
    assert proxy_cfg["broker"] == broker_cfg["deposit_listen"]
    app_env = {e["name"]: e.get("value") for e in app["env"]}
    assert app_env["GSSGATE_BROKER"] == broker_cfg["listen"]
    assert proxy_cfg["upstream"] == f"http://127.0.0.1:{app_env['PORT']}"
    # Socket groups: the backend socket to the pod's fsGroup (the app has it as a supplementary
    # group), the deposit socket to the proxy's group (which the app does not have).
    psc = pod_spec(dep)["securityContext"]
    assert broker_cfg["sockets"]["listen"] == {"mode": "0660", "group": str(psc["fsGroup"])}
    proxy_gid = proxy["securityContext"]["runAsGroup"]
    assert broker_cfg["sockets"]["deposit_listen"] == {"mode": "0660", "group": str(proxy_gid)}
    assert broker["securityContext"]["runAsGroup"] == proxy_gid
    assert app["securityContext"]["runAsGroup"] != proxy_gid
    # The broker grants redemptions to the app's uid, and only that uid.
    assert [p["uid"] for p in broker_cfg["policy"]] == [str(app["securityContext"]["runAsUser"])]


def test_probes(variant):
    _, docs = variant
    c = containers(_deployment(docs))
    proxy, broker = c["gssgate-proxy"], c["gssgate-broker"]
    proxy_cfg, broker_cfg, _, _ = config_files(docs)
    admin_port = int(proxy_cfg["admin_listen"].rsplit(":", 1)[1])
    ports = {p["name"]: p["containerPort"] for p in proxy["ports"]}
    assert ports["admin"] == admin_port
    assert ports["http"] == int(proxy_cfg["listen"].rsplit(":", 1)[1])
    assert proxy["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "admin"}
    assert proxy["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "admin"}
    for probe in ("livenessProbe", "readinessProbe"):
        cmd = broker[probe]["exec"]["command"]
        assert cmd[:2] == ["gssgatectl", "health"]
        assert cmd[cmd.index("--broker") + 1] == broker_cfg["listen"]


def test_security_contexts(variant):
    name, docs = variant
    dep = _deployment(docs)
    psc = pod_spec(dep)["securityContext"]
    assert psc["runAsNonRoot"] is True and psc["fsGroup"] > 0
    assert psc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod_spec(dep)["automountServiceAccountToken"] is False
    uids = set()
    for cname, c in containers(dep).items():
        sc = c["securityContext"]
        assert sc["runAsNonRoot"] is True, cname
        assert sc["runAsUser"] > 0, cname
        assert sc["allowPrivilegeEscalation"] is False, cname
        assert sc["privileged"] is False, cname
        assert sc["capabilities"] == {"drop": ["ALL"]}, cname
        assert sc["seccompProfile"] == {"type": "RuntimeDefault"}, cname
        # The full values relax only readOnlyRootFilesystem of the app, and only that.
        expect_ro = not (name == "full" and cname == "django")
        assert sc["readOnlyRootFilesystem"] is expect_ro, cname
        uids.add(sc["runAsUser"])
    assert len(uids) == 3, "proxy, broker and app must run as three different uids"


def test_writable_paths_are_volumes(variant):
    name, docs = variant
    dep = _deployment(docs)
    c = containers(dep)
    proxy_cfg, broker_cfg, _, _ = config_files(docs)
    proxy = c["gssgate-proxy"]
    rcache_file = proxy_cfg["replay_cache"].removeprefix("file2:")
    v = volume_for_path(proxy, rcache_file)
    assert v and "emptyDir" in volumes(dep)[v]
    env = {e["name"]: e.get("value") for e in proxy["env"]}
    assert volume_for_path(proxy, env["KRB5RCACHEDIR"]) == v
    for cname in ("gssgate-proxy", "gssgate-broker"):
        tmp = volume_for_path(c[cname], "/tmp/x")
        assert tmp and "emptyDir" in volumes(dep)[tmp], cname
    if name == "full":
        store = broker_cfg["store"].removeprefix("dir:")
        sv = volume_for_path(c["gssgate-broker"], store)
        assert sv and volumes(dep)[sv]["emptyDir"]["medium"] == "Memory"
        # The broker creates the store dir itself (0700); the emptyDir is its parent.
        assert mounts(c["gssgate-broker"])[sv] != store
    else:
        assert broker_cfg["store"] == "memory"


def test_config_change_rolls_pods():
    a = _deployment(render())["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
    b = _deployment(render(sets=["broker.handleTtl=7m"]))
    assert b["spec"]["template"]["metadata"]["annotations"]["checksum/config"] != a


# ------------------------------------------------------------------------ other objects
def test_default_objects():
    docs = render()
    kinds = sorted(d["kind"] for d in docs)
    assert kinds == sorted(["ConfigMap", "ConfigMap", "Deployment", "NetworkPolicy",
                            "PodDisruptionBudget", "Secret", "Service", "ServiceAccount"])
    assert not all_of(docs, "Ingress")
    labels = _deployment(docs)["spec"]["template"]["metadata"]["labels"]
    pdb = one(docs, "PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    np = one(docs, "NetworkPolicy")
    assert np["spec"]["policyTypes"] == ["Ingress"]
    assert np["spec"]["ingress"] == [{"ports": [{"port": "http", "protocol": "TCP"}]}]
    proxy_cfg, broker_cfg, _, _ = config_files(docs)
    assert "admin_listen" not in broker_cfg  # opt-in only
    assert proxy_cfg["session"]["secure"] == "auto"


def test_generated_keys_are_well_formed():
    docs = render()
    data = one(docs, "Secret", "-keys")["data"]
    session = base64.b64decode(data["session.keys"]).decode()
    assert len(base64.b64decode(session.strip(), validate=True)) == 32
    pem = base64.b64decode(data["assertion.pem"]).decode()
    assert pem.startswith("-----BEGIN PRIVATE KEY-----")
    assert "handle.key" not in data  # off by default (several replicas)
    # Two renders (two installs) never share a key.
    again = one(render(), "Secret", "-keys")["data"]
    assert again["session.keys"] != data["session.keys"]
    assert again["assertion.pem"] != data["assertion.pem"]


SINGLE = ["replicaCount=1", "broker.handleKey.enabled=true", "broker.store=dir"]


def test_handle_key_secret_for_a_single_replica():
    docs = render(sets=SINGLE)
    handle = base64.b64decode(one(docs, "Secret", "-keys")["data"]["handle.key"]).decode()
    assert re.fullmatch(r"[0-9a-f]{64}", handle)
    dep = _deployment(docs)
    c = containers(dep)
    _, broker_cfg, _, _ = config_files(docs)
    assert volume_for_path(c["gssgate-broker"], broker_cfg["handle_key_file"]) == "broker-keys"
    assert "broker-keys" not in mounts(c["gssgate-proxy"])
    assert "broker-keys" not in mounts(c["app"])
    assert volumes(dep)["broker-keys"]["secret"]["secretName"] == "rel-gssgate-keys"
    own = render(sets=SINGLE + ["broker.handleKey.existingSecret=my-handle"])
    assert volumes(_deployment(own))["broker-keys"]["secret"]["secretName"] == "my-handle"
    assert "handle.key" not in one(own, "Secret", "-keys")["data"]


def test_full_values_objects():
    docs = render(values_file=FULL_VALUES)
    assert not [d for d in all_of(docs, "Secret")], "existing Secrets named: nothing generated"
    vols = volumes(_deployment(docs))
    names = [s["secret"]["name"] for s in vols["proxy-keys"]["projected"]["sources"]]
    assert names == ["webapp-session", "webapp-assertion"]
    assert "broker-keys" not in vols
    ing = one(docs, "Ingress")
    ann = ing["metadata"]["annotations"]
    assert ann["nginx.ingress.kubernetes.io/affinity"] == "cookie"
    assert ann["nginx.ingress.kubernetes.io/session-cookie-name"] == "gssgate_route"
    assert ing["spec"]["ingressClassName"] == "nginx"
    backend = ing["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": "webapp", "port": {"name": "http"}}
    proxy_cfg, broker_cfg, _, _ = config_files(docs)
    assert proxy_cfg["session"]["secure"] == "always"  # TLS ends at the Ingress
    assert proxy_cfg["limits"] == {"header_bytes": "128KiB"}  # extraConfig merged
    assert broker_cfg["admin_listen"] == "0.0.0.0:9912"
    assert broker_cfg["sweep_interval"] == "10s"
    np = one(docs, "NetworkPolicy")
    assert np["spec"]["policyTypes"] == ["Ingress", "Egress"]
    admin_rule = np["spec"]["ingress"][1]
    assert {p["port"] for p in admin_rule["ports"]} == {"admin", "broker-admin"}
    assert one(docs, "PodDisruptionBudget")["spec"] == {
        "minAvailable": 2, "selector": _deployment(docs)["spec"]["selector"]}
    krb5 = one(docs, "ConfigMap", "-krb5")["data"]["krb5.conf"]
    assert "kdc = dc1.example.com" in krb5


def test_cookie_affinity_can_be_turned_off():
    docs = render(values_file=FULL_VALUES, sets=["ingress.cookieAffinity.enabled=false"])
    ann = one(docs, "Ingress")["metadata"].get("annotations") or {}
    assert not any("affinity" in k for k in ann)


# ------------------------------------------------------------------------ the real daemons
def _materialise(text: str, root: Path) -> str:
    """Moves the pod's absolute paths under `root` (short, for Unix sockets)."""
    for prefix in ("/etc/gssgate/", "/run/", "/var/lib/gssgate/"):
        text = text.replace(prefix, f"{root}{prefix}")
    return text


def _write_pod_files(root: Path, proxy_cfg: dict, broker_cfg: dict, keytab: Path) -> None:
    def put(path: str, data: bytes, mode: int = 0o600) -> None:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        p.chmod(mode)

    put(proxy_cfg["keytab"], keytab.read_bytes())
    put(proxy_cfg["session"]["key_file"], base64.b64encode(os.urandom(32)) + b"\n")
    key = subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519"], check=True,
                         capture_output=True).stdout
    put(proxy_cfg["assertion"]["key_file"], key)
    if "handle_key_file" in broker_cfg:
        put(broker_cfg["handle_key_file"], os.urandom(32).hex().encode())
    for address in (broker_cfg["listen"], broker_cfg["deposit_listen"]):
        Path(unix_path(address)).parent.mkdir(parents=True, exist_ok=True)
    if "replay_cache" in proxy_cfg:
        Path(proxy_cfg["replay_cache"].removeprefix("file2:")).parent.mkdir(parents=True,
                                                                           exist_ok=True)
    if broker_cfg.get("store", "memory").startswith("dir:"):
        Path(broker_cfg["store"][4:]).parent.mkdir(parents=True, exist_ok=True)


@pytest.fixture(scope="module")
def keytab(tmp_path_factory):
    """A real keytab for HTTP/localhost@GSSGATE.TEST from the test realm's KDC."""
    import sys
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "realm"))
    from gssgate_realm import Realm
    d = tmp_path_factory.mktemp("realm")
    realm = Realm(d)
    realm.start()
    path = realm.add_service("HTTP/localhost", d / "http.keytab")
    yield path
    realm.stop()


@pytest.fixture
def root():
    """A short directory for the pod's paths (Unix socket paths are limited to 108 bytes)."""
    d = Path(tempfile.mkdtemp(prefix="gsh-", dir="/tmp"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


def _pod(values_file, sets, root: Path):
    docs = render(values_file=values_file, sets=sets)
    proxy_cfg, broker_cfg, proxy_text, broker_text = config_files(docs)
    proxy_text, broker_text = _materialise(proxy_text, root), _materialise(broker_text, root)
    (root / "proxy.yaml").write_text(proxy_text)
    (root / "broker.yaml").write_text(broker_text)
    krb5 = one(docs, "ConfigMap", "-krb5")["data"]["krb5.conf"]
    (root / "krb5.conf").write_text(krb5)
    env = dict(os.environ, KRB5_CONFIG=str(root / "krb5.conf"),
               KRB5RCACHEDIR=str(root / "rcache"))
    return docs, root, yaml.safe_load(proxy_text), yaml.safe_load(broker_text), env


# The full values' acceptor belongs to EXAMPLE.COM; the test keytab is the test realm's.
CHECK_VARIANTS = {
    "default": (None, []),
    "full": (FULL_VALUES, ["kerberos.acceptor=HTTP/localhost@GSSGATE.TEST"]),
    "single": (None, SINGLE),
}


@pytest.mark.parametrize("which", list(CHECK_VARIANTS))
def test_rendered_configs_pass_the_daemons_check_config(which, keytab, root):
    values_file, sets = CHECK_VARIANTS[which]
    _, root, proxy_cfg, broker_cfg, env = _pod(values_file, sets, root)
    _write_pod_files(root, proxy_cfg, broker_cfg, keytab)
    p = subprocess.run([proxy_binary(), "--config", str(root / "proxy.yaml"), "--check-config"],
                       capture_output=True, text=True, env=env, timeout=30)
    assert p.returncode == 0, p.stderr
    assert "config OK" in p.stdout
    b = subprocess.run([broker_binary(), "--config", str(root / "broker.yaml"), "--check-config"],
                       capture_output=True, text=True, env=env, timeout=30)
    if b.returncode != 0 and "admin_listen" in b.stderr and "admin_listen" in broker_cfg:
        # A gssgate-broker without the (opt-in) admin listener: everything else must pass.
        text = (root / "broker.yaml").read_text()
        (root / "broker.yaml").write_text(re.sub(r"(?m)^admin_listen:.*\n", "", text))
        b = subprocess.run([broker_binary(), "--config", str(root / "broker.yaml"),
                            "--check-config"], capture_output=True, text=True, env=env, timeout=30)
    assert b.returncode == 0, b.stderr
    assert "config OK" in b.stdout


def test_check_config_catches_a_key_the_proxy_does_not_know(keytab, root):
    """The check above can fail: a chart emitting an unknown key is caught by the daemon."""
    _, root, proxy_cfg, broker_cfg, env = _pod(None, ["proxy.extraConfig.no_such_key=1"], root)
    _write_pod_files(root, proxy_cfg, broker_cfg, keytab)
    p = subprocess.run([proxy_binary(), "--config", str(root / "proxy.yaml"), "--check-config"],
                       capture_output=True, text=True, env=env, timeout=30)
    assert p.returncode == 1
    assert "no_such_key" in p.stderr


def test_broker_from_rendered_config_answers_the_chart_probe(keytab, root):
    """Starts the real broker from the rendered broker.yaml and runs the chart's exec probe."""
    gid = os.getgid()
    docs, root, proxy_cfg, broker_cfg, env = _pod(
        None, [f"podSecurityContext.fsGroup={gid + 20000}", f"proxy.runAsGroup={gid + 20001}"],
        root)
    _write_pod_files(root, proxy_cfg, broker_cfg, keytab)
    log = open(root / "broker.log", "wb")
    proc = subprocess.Popen([broker_binary(), "--config", str(root / "broker.yaml")],
                            stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        backend = Path(unix_path(broker_cfg["listen"]))
        deposit = Path(unix_path(broker_cfg["deposit_listen"]))
        deadline = time.monotonic() + 15
        while not (backend.exists() and deposit.exists()) and time.monotonic() < deadline:
            assert proc.poll() is None, (root / "broker.log").read_text()
            time.sleep(0.05)
        assert backend.exists() and deposit.exists(), (root / "broker.log").read_text()
        # Modes and groups as rendered (this test runs as root, so chgrp to any gid works).
        assert backend.stat().st_mode & 0o777 == 0o660
        assert backend.stat().st_gid == gid + 20000
        assert deposit.stat().st_mode & 0o777 == 0o660
        assert deposit.stat().st_gid == gid + 20001
        probe = containers(_deployment(docs))["gssgate-broker"]["readinessProbe"]["exec"]["command"]
        assert probe[0] == "gssgatectl"
        cmd = [gssgatectl_binary()] + [_materialise(a, root) for a in probe[1:]]
        ok = None
        while time.monotonic() < deadline:
            ok = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=10)
            if ok.returncode == 0:
                break
            time.sleep(0.1)
        assert ok is not None and ok.returncode == 0, ok.stderr
        assert "SERVING" in ok.stdout
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        log.close()
    # With the broker gone, the same probe fails (the kubelet would restart the container).
    bad = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=15)
    assert bad.returncode != 0


def test_extra_config_overrides_with_false_and_zero():
    docs = render(sets=['proxy.extraConfig.session.lifetime=0',
                        'proxy.extraConfig.basic.enabled=false',
                        'broker.extraConfig.policy[0].uid=1000',
                        'broker.extraConfig.policy[0].services[0]=postgres/db',
                        'broker.extraConfig.policy[0].allow_tgt=false'])
    proxy_cfg, broker_cfg, _, _ = config_files(docs)
    assert proxy_cfg["session"]["lifetime"] == 0           # sprig's merge would keep "1h"
    assert proxy_cfg["session"]["key_file"].endswith("/session.keys")  # siblings kept
    assert proxy_cfg["basic"] == {"enabled": False}
    assert broker_cfg["policy"] == [{"uid": 1000, "services": ["postgres/db"],
                                     "allow_tgt": False}]


# ------------------------------------------------------------------------ the README's snippet
def _readme_blocks():
    text = (CHART / "README.md").read_text()
    blocks = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", text, re.S)]
    patch = next(b for b in blocks if "spec" in b)
    proxy_cfg = next(b for b in blocks if "upstream" in b)
    broker_cfg = next(b for b in blocks if "deposit_listen" in b)
    return patch, proxy_cfg, broker_cfg


def test_readme_sidecar_snippet_keeps_the_charts_rules():
    patch, proxy_cfg, broker_cfg = _readme_blocks()
    dep = {"spec": patch["spec"]}
    c = containers(dep)
    app, proxy, broker = c["myapp"], c["gssgate-proxy"], c["gssgate-broker"]
    backend = unix_path(broker_cfg["listen"])
    deposit = unix_path(broker_cfg["deposit_listen"])
    assert volume_for_path(app, backend) == volume_for_path(broker, backend) == "broker-socket"
    assert volume_for_path(proxy, deposit) == volume_for_path(broker, deposit) == "deposit-socket"
    assert "broker-socket" not in mounts(proxy) and "deposit-socket" not in mounts(app)
    assert volume_for_path(proxy, proxy_cfg["keytab"]) == "keytab"
    assert {"keytab", "proxy-keys", "broker-keys"}.isdisjoint(mounts(app))
    assert "keytab" not in mounts(broker)
    assert proxy_cfg["broker"] == broker_cfg["deposit_listen"]
    psc = pod_spec(dep)["securityContext"]
    assert broker_cfg["sockets"]["listen"]["group"] == str(psc["fsGroup"])
    assert broker_cfg["sockets"]["deposit_listen"]["group"] == str(
        proxy["securityContext"]["runAsGroup"]) == str(broker["securityContext"]["runAsGroup"])
    assert broker_cfg["policy"][0]["uid"] == app["securityContext"]["runAsUser"]
    for name in ("gssgate-proxy", "gssgate-broker"):
        sc = c[name]["securityContext"]
        assert sc["readOnlyRootFilesystem"] and sc["runAsNonRoot"]
        assert sc["allowPrivilegeEscalation"] is False and sc["capabilities"] == {"drop": ["ALL"]}


def test_readme_sidecar_configs_pass_check_config(keytab, root):
    _, proxy_cfg, broker_cfg = _readme_blocks()
    proxy_text = _materialise(yaml.safe_dump(proxy_cfg), root)
    broker_text = _materialise(yaml.safe_dump(broker_cfg), root)
    (root / "proxy.yaml").write_text(proxy_text)
    (root / "broker.yaml").write_text(broker_text)
    pc, bc = yaml.safe_load(proxy_text), yaml.safe_load(broker_text)
    _write_pod_files(root, pc, bc, keytab)
    env = dict(os.environ, KRB5RCACHEDIR=str(root))
    for exe, cfg in ((proxy_binary(), "proxy.yaml"), (broker_binary(), "broker.yaml")):
        p = subprocess.run([exe, "--config", str(root / cfg), "--check-config"],
                           capture_output=True, text=True, env=env, timeout=30)
        assert p.returncode == 0, f"{cfg}: {p.stderr}"
