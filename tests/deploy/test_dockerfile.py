"""The Dockerfile, checked without a container engine (there is none here or in CI).

The strong check: every shared library the built binaries load (`ldd`) belongs to a Debian
package (`dpkg -S`) that the runtime stage installs — so adding a dependency without adding its
runtime package to the image fails here, not at the first `docker run`.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from deploytest import ROOT, broker_binary, gssgatectl_binary, proxy_binary

DOCKERFILE = ROOT / "Dockerfile"
# Packages every debian:12-slim image has (Priority: required, or needed by apt itself).
BASE_IMAGE_PACKAGES = {"libc6", "libgcc-s1", "libstdc++6"}
BINARIES = ("gssgate-proxy", "gssgate-broker", "gssgatectl")
# A sanitizer build (scripts/test.sh's second pass) links the sanitizer runtimes, which a
# release image does not have; CMake says when the binaries are such a build.
SANITIZER_LIBS = re.compile(r"lib(asan|ubsan|tsan|lsan)\.so")


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out: list[tuple[str, str]] = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#") or not line:
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        word, _, rest = current.partition(" ")
        out.append((word.upper(), rest.strip()))
        current = ""
    assert not current, "Dockerfile ends in a continuation line"
    return out


def stages(text: str) -> list[dict]:
    result: list[dict] = []
    for ins, args in instructions(text):
        if ins == "FROM":
            m = re.fullmatch(r"(\S+)(?:\s+AS\s+(\S+))?", args, re.IGNORECASE)
            assert m, args
            result.append({"image": m.group(1), "name": m.group(2), "steps": []})
        else:
            assert result, f"{ins} before FROM"
            result[-1]["steps"].append((ins, args))
    return result


def apt_packages(run_args: str) -> list[str]:
    """Packages named by `apt-get install` in one RUN command."""
    words = shlex.split(run_args)
    pkgs: list[str] = []
    for i, w in enumerate(words):
        if w == "install" and i > 0 and words[i - 1] == "apt-get":
            for p in words[i + 1:]:
                if p in ("&&", ";", "||"):
                    break
                if not p.startswith("-"):
                    pkgs.append(p)
    return pkgs


@pytest.fixture(scope="module")
def parsed():
    return stages(DOCKERFILE.read_text())


@pytest.fixture(scope="module")
def runtime(parsed):
    return parsed[-1]


@pytest.fixture(scope="module")
def runtime_packages(runtime):
    pkgs = [p for ins, args in runtime["steps"] if ins == "RUN" for p in apt_packages(args)]
    assert pkgs, "the runtime stage installs no packages"
    return pkgs


def test_two_stages_on_debian_12(parsed):
    assert [s["image"] for s in parsed] == ["debian:12", "debian:12-slim"]
    build = parsed[0]
    assert build["name"] == "build"
    runs = " ".join(args for ins, args in build["steps"] if ins == "RUN")
    # The build stage uses the project's own dependency script and builds the three programs.
    assert "scripts/install-deps.sh --build-only" in runs
    for b in BINARIES:
        assert b in runs
    assert "-DGSSGATE_BUILD_TESTS=OFF" in runs


def test_runtime_stage_is_minimal_and_non_root(runtime, runtime_packages):
    steps = runtime["steps"]
    # Only the three binaries come from the build stage.
    copies = [args for ins, args in steps if ins == "COPY"]
    assert len(copies) == 1 and copies[0].startswith("--from=build ")
    sources = copies[0].split()[1:-1]
    assert sorted(Path(s).name for s in sources) == sorted(BINARIES)
    assert copies[0].split()[-1] == "/usr/bin/"
    assert not [args for ins, args in steps if ins == "ADD"]
    # No compilers, headers or shells-as-entrypoint in the image.
    assert not [p for p in runtime_packages if p.endswith("-dev") or p in
                ("build-essential", "cmake", "g++", "gcc", "ninja-build", "curl", "wget")]
    users = [args for ins, args in steps if ins == "USER"]
    assert len(users) == 1
    user = users[0].split(":")[0]
    assert user not in ("root", "0") and int(user) > 0
    # The uid is a real account (created with that uid in the same stage), not a dangling id.
    runs = " ".join(args for ins, args in steps if ins == "RUN")
    assert re.search(rf"useradd\b[^&]*--uid {user}\b", runs)
    # USER comes after everything that needs root.
    assert [ins for ins, _ in steps].index("USER") > max(
        i for i, (ins, _) in enumerate(steps) if ins == "RUN")
    for ins in ("CMD", "ENTRYPOINT"):
        for _, args in ((i, a) for i, a in steps if i == ins):
            assert isinstance(json.loads(args), list), f"{ins} must be exec form (no shell)"
    assert "rm -rf /var/lib/apt/lists/*" in runs


def _ldd_libraries(path: str) -> set[str]:
    p = subprocess.run(["ldd", path], capture_output=True, text=True, check=True, timeout=60)
    libs = set()
    for line in p.stdout.splitlines():
        m = re.search(r"=>\s+(/\S+)", line)
        if m:
            libs.add(m.group(1))
        elif line.strip().startswith("/"):  # the dynamic loader
            libs.add(line.split()[0])
    assert libs, p.stdout
    return libs


def _candidates(lib: str) -> list[str]:
    """The path, its real path, and their /usr-merged alternatives (Debian 12 ships /lib as a
    link to /usr/lib, but dpkg knows each file under one of the two names only)."""
    out = [lib, os.path.realpath(lib)]
    for c in list(out):
        out.append(c[4:] if c.startswith("/usr/lib/") else "/usr" + c if c.startswith("/lib")
                   else c)
    return list(dict.fromkeys(out))


def _owning_packages(libs: set[str]) -> dict[str, str]:
    """lib path -> Debian package, with one `dpkg -S` call for all of them."""
    paths = sorted({c for lib in libs for c in _candidates(lib)})
    p = subprocess.run(["dpkg", "-S", *paths], capture_output=True, text=True, timeout=120)
    owner: dict[str, str] = {}
    for line in p.stdout.splitlines():
        pkgs, _, path = line.partition(": ")
        owner[path.strip()] = pkgs.split(",")[0].split(":")[0].strip()
    result = {}
    for lib in libs:
        found = [owner[c] for c in _candidates(lib) if c in owner]
        assert found, f"no Debian package owns {lib} (tried {_candidates(lib)})"
        result[lib] = found[0]
    return result


def test_runtime_packages_cover_every_shared_library(runtime_packages):
    libs = set()
    for b in (proxy_binary(), broker_binary(), gssgatectl_binary()):
        libs |= _ldd_libraries(b)
    if os.environ.get("GSSGATE_SANITIZE"):
        libs = {lib for lib in libs if not SANITIZER_LIBS.search(Path(lib).name)}
    needed: dict[str, set[str]] = {}
    for lib, pkg in _owning_packages(libs).items():
        needed.setdefault(pkg, set()).add(Path(lib).name)
    missing = {p: sorted(libs) for p, libs in needed.items()
               if p not in runtime_packages and p not in BASE_IMAGE_PACKAGES}
    assert not missing, (f"the Dockerfile's runtime stage lacks packages the binaries load: "
                         f"{missing}")
    # And nothing listed is unused (a library dropped from the build should leave the image).
    unused = set(runtime_packages) - set(needed) - {"ca-certificates"}
    assert not unused, f"runtime packages no binary loads: {sorted(unused)}"


def test_runtime_packages_exist(runtime_packages):
    """A misspelt package fails here: each must be a known (here: installed) Debian package."""
    for p in runtime_packages:
        q = subprocess.run(["dpkg-query", "-W", "-f=${Status}", p], capture_output=True,
                           text=True, timeout=60)
        assert q.returncode == 0 and "install ok installed" in q.stdout, p


def test_dockerignore_keeps_build_trees_out():
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    for pattern in (".git", "build*/", ".cache/", "**/node_modules/"):
        assert pattern in ignored


def test_cmake_install_puts_the_three_programs_in_bin(tmp_path):
    """The build stage's `cmake --install /build --prefix /out/usr --strip`, on this build."""
    build = os.environ.get("GSSGATE_BUILD_DIR") or str(Path(proxy_binary()).parents[1])
    p = subprocess.run(["cmake", "--install", build, "--prefix", "/usr", "--strip"],
                       capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, DESTDIR=str(tmp_path)))
    assert p.returncode == 0, p.stdout + p.stderr
    installed = sorted(f.name for f in (tmp_path / "usr" / "bin").iterdir())
    assert installed == sorted(BINARIES)
    for b in BINARIES:
        v = subprocess.run([str(tmp_path / "usr" / "bin" / b), "--version"], capture_output=True,
                           text=True, timeout=30)
        assert v.returncode == 0 and "0.1.0" in v.stdout, v.stdout + v.stderr
