"""Helpers for the deployment tests: the helm binary, chart rendering, rendered-object lookups,
and the paths of the built gssgate binaries.

    docs = render(values_file=FULL_VALUES, sets=["replicaCount=1"])
    dep = one(docs, "Deployment")
    proxy = containers(dep)["gssgate-proxy"]
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "gssgate"
FULL_VALUES = CHART / "ci" / "full-values.yaml"
RELEASE = "rel"


def helm_binary() -> str:
    """$GSSGATE_HELM (set by CMake), else .cache/helm/helm. Missing helm fails the test: a CI
    without helm must not pass the chart tests by skipping them."""
    path = os.environ.get("GSSGATE_HELM") or str(ROOT / ".cache" / "helm" / "helm")
    if not os.access(path, os.X_OK):
        pytest.fail(f"helm not found at {path}: run scripts/install-deps.sh (it installs helm into "
                    ".cache/helm) or configure with -DGSSGATE_HELM=/path/to/helm")
    return path


def binary(env_var: str, default: str) -> str:
    path = os.environ.get(env_var) or str(ROOT / "build" / default)
    if not os.access(path, os.X_OK):
        pytest.fail(f"{default} not found at {path} (set {env_var} or build it)")
    return path


def proxy_binary() -> str:
    return binary("GSSGATE_PROXY", "proxy/gssgate-proxy")


def broker_binary() -> str:
    return binary("GSSGATE_BROKER", "broker/gssgate-broker")


def gssgatectl_binary() -> str:
    return binary("GSSGATECTL", "client/gssgatectl")


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    # HELM_* homes in a throw-away place: no repository config or cache of the user's is read.
    env = dict(os.environ)
    for var in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"):
        env[var] = "/nonexistent/helm"
    p = subprocess.run([helm_binary(), *args], capture_output=True, text=True, env=env,
                       timeout=120)
    if check and p.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed ({p.returncode}):\n{p.stderr}")
    return p


def template_args(values_file: Path | None = None, sets: list[str] | None = None) -> list[str]:
    args = ["template", RELEASE, str(CHART), "--namespace", "ns"]
    if values_file:
        args += ["-f", str(values_file)]
    for s in sets or []:
        args += ["--set", s]
    return args


def render(values_file: Path | None = None, sets: list[str] | None = None) -> list[dict]:
    out = helm(*template_args(values_file, sets)).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def all_of(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d.get("kind") == kind]


def one(docs: list[dict], kind: str, name_suffix: str = "") -> dict:
    found = [d for d in all_of(docs, kind) if d["metadata"]["name"].endswith(name_suffix)]
    assert len(found) == 1, f"expected one {kind} *{name_suffix}, got {len(found)}"
    return found[0]


def pod_spec(dep: dict) -> dict:
    return dep["spec"]["template"]["spec"]


def containers(dep: dict) -> dict[str, dict]:
    return {c["name"]: c for c in pod_spec(dep)["containers"]}


def volumes(dep: dict) -> dict[str, dict]:
    return {v["name"]: v for v in pod_spec(dep)["volumes"]}


def mounts(container: dict) -> dict[str, str]:
    """volume name -> mount path"""
    return {m["name"]: m["mountPath"] for m in container.get("volumeMounts", [])}


def config_files(docs: list[dict]) -> tuple[dict, dict, str, str]:
    """(proxy.yaml, broker.yaml) parsed, and their texts, from the chart's config ConfigMap."""
    cm = one(docs, "ConfigMap", "-config")
    p, b = cm["data"]["proxy.yaml"], cm["data"]["broker.yaml"]
    return yaml.safe_load(p), yaml.safe_load(b), p, b


def unix_path(address: str) -> str:
    assert address.startswith("unix:/"), address
    return address[len("unix:"):]


def volume_for_path(container: dict, path: str) -> str | None:
    """Name of the container's volume whose mount contains `path` (longest mount wins)."""
    best = None
    for name, mount in mounts(container).items():
        if path == mount or path.startswith(mount.rstrip("/") + "/"):
            if best is None or len(mount) > len(mounts(container)[best]):
                best = name
    return best
