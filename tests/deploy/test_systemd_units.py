"""packaging/systemd: the units verify, are sandboxed as promised, and the sysusers file makes
the users and the group the units name.

`systemd-analyze verify` and `systemd-analyze security --offline=yes` work without a running
systemd (this runs in containers and CI). verify checks that ExecStart's program exists, so it
runs on copies whose programs are the built binaries.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from deploytest import ROOT, broker_binary, gssgatectl_binary, proxy_binary

UNITS = ROOT / "packaging" / "systemd"
SYSTEMD_ANALYZE = shutil.which("systemd-analyze") or "/usr/bin/systemd-analyze"

# systemd-analyze security rates 0 (locked down) to 10 (unprotected); < 2 is its "OK". What
# keeps both units above 1: they need the network (clients, KDC), Unix sockets, and no
# PrivateUsers= (the broker's policy reads callers' uids with SO_PEERCRED, which a private user
# namespace maps to "nobody"; the proxy's CAP_NET_BIND_SERVICE would not apply to host ports).
MAX_EXPOSURE = {"gssgate-broker": 1.9, "gssgate-proxy": 1.9}


def directives(unit: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in unit.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        out.setdefault(key.strip(), []).append(value.strip())
    return out


def systemd_analyze() -> str:
    if not Path(SYSTEMD_ANALYZE).exists():
        pytest.fail("systemd-analyze not found: apt install systemd (scripts/install-deps.sh)")
    return SYSTEMD_ANALYZE


@pytest.fixture
def built_units(tmp_path):
    """Copies of the units whose programs are this build's binaries (paths without spaces)."""
    binaries = {"/usr/bin/gssgate-proxy": proxy_binary(), "/usr/bin/gssgate-broker": broker_binary(),
                "/usr/bin/gssgatectl": gssgatectl_binary()}
    binaries = {k: os.path.abspath(v) for k, v in binaries.items()}
    for unit in UNITS.glob("*.service"):
        text = unit.read_text()
        for installed, built in binaries.items():
            text = text.replace(installed + " ", built + " ")
        (tmp_path / unit.name).write_text(text)
    return tmp_path


@pytest.mark.parametrize("name", ["gssgate-broker", "gssgate-proxy"])
def test_unit_verifies(name, built_units):
    unit = built_units / f"{name}.service"
    p = subprocess.run([systemd_analyze(), "verify", str(unit)], capture_output=True, text=True,
                       timeout=60)
    # Only lines about our unit count (the host's own units may have unrelated complaints).
    ours = [line for line in (p.stdout + p.stderr).splitlines() if f"{name}.service" in line]
    assert p.returncode == 0 and not ours, p.stdout + p.stderr


def test_verify_catches_a_broken_unit(built_units):
    """The verify test above can fail: an unknown directive or a missing program is reported."""
    unit = built_units / "gssgate-broker.service"
    unit.write_text(unit.read_text().replace("ProtectSystem=strict", "ProtectSystm=strict")
                    .replace(os.path.abspath(broker_binary()) + " ",
                             "/nonexistent/gssgate-broker "))
    p = subprocess.run([systemd_analyze(), "verify", str(unit)], capture_output=True, text=True,
                       timeout=60)
    text = p.stdout + p.stderr
    assert "ProtectSystm" in text
    assert "/nonexistent/gssgate-broker" in text


@pytest.mark.parametrize("name", sorted(MAX_EXPOSURE))
def test_security_exposure(name):
    p = subprocess.run([systemd_analyze(), "security", "--offline=yes", "--no-pager",
                        str(UNITS / f"{name}.service")], capture_output=True, text=True,
                       timeout=60)
    m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", p.stdout + p.stderr)
    assert m, p.stdout + p.stderr
    assert float(m.group(1)) <= MAX_EXPOSURE[name], p.stdout


@pytest.mark.parametrize("name", ["gssgate-broker", "gssgate-proxy"])
def test_sandboxing_directives(name):
    d = directives(UNITS / f"{name}.service")
    for key, value in {"ProtectSystem": "strict", "NoNewPrivileges": "yes", "PrivateTmp": "yes",
                       "ProtectHome": "yes", "PrivateDevices": "yes", "UMask": "0077",
                       "ExecReload": "/bin/kill -HUP $MAINPID"}.items():
        assert d.get(key) == [value], key
    assert "PrivateUsers" not in d  # see MAX_EXPOSURE
    assert "DynamicUser" not in d   # stable users own the keytab, keys and store
    assert d["ExecStart"][0].endswith(f"/{name} --config /etc/gssgate/{name[8:]}.yaml")
    assert any("--check-config" in v for v in d["ExecStartPre"])


def test_broker_user_sockets_and_capabilities():
    b = directives(UNITS / "gssgate-broker.service")
    assert b["User"] == ["gssgate-broker"]
    assert b["Group"] == ["gssgate"]         # the deposit socket's group
    assert b["RuntimeDirectory"] == ["gssgate"]
    assert b["CapabilityBoundingSet"] == [""] and b["AmbientCapabilities"] == [""]
    p = directives(UNITS / "gssgate-proxy.service")
    assert p["User"] == ["gssgate-proxy"]
    assert p["SupplementaryGroups"] == ["gssgate"]
    # One capability, only for ports below 1024, only as an ambient capability of that user.
    assert p["AmbientCapabilities"] == ["CAP_NET_BIND_SERVICE"]
    assert p["CapabilityBoundingSet"] == ["CAP_NET_BIND_SERVICE"]
    assert p["Environment"] == ["KRB5RCACHEDIR=/var/lib/gssgate-proxy"]
    assert p["StateDirectory"] == ["gssgate-proxy"]


def test_sysusers_creates_the_users_the_units_name(tmp_path):
    sysusers = shutil.which("systemd-sysusers") or "/usr/bin/systemd-sysusers"
    (tmp_path / "etc").mkdir()
    p = subprocess.run([sysusers, f"--root={tmp_path}", str(UNITS / "gssgate.sysusers.conf")],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    passwd = {line.split(":")[0]: line.split(":") for line in
              (tmp_path / "etc" / "passwd").read_text().splitlines()}
    groups = {line.split(":")[0]: line.split(":") for line in
              (tmp_path / "etc" / "group").read_text().splitlines()}
    for user in ("gssgate-broker", "gssgate-proxy"):
        assert user in passwd and int(passwd[user][2]) > 0
        assert passwd[user][6] == "/usr/sbin/nologin"
    assert "gssgate-proxy" in groups["gssgate"][3].split(",")
    assert "gssgate-broker" not in groups["gssgate"][3].split(",")
