#!/usr/bin/env python3
"""Fails if any log the integration suite produced holds a secret.

    log_scan.py DIR            scan DIR (GSSGATE_TEST_LOG_DIR); exit 1 on a finding
    log_scan.py --reset DIR    empty DIR (run before the suite)
    log_scan.py --self-test    prove the scanner finds what it must

Two nets (see log_archive.py): every secret the suite recorded (Negotiate tokens the clients
made, handles, assertions, cookies, Basic credentials), matched exactly; and shapes no log line
may have whatever the test was: a GSS token in base64, a Negotiate/Basic Authorization value,
a broker handle (gsh1.), a JWT, a session cookie value, a PEM private key. A finding is
reported by file, line number and a hash of the match, never the secret itself.
"""

import hashlib
import re
import shutil
import sys
import tempfile
from pathlib import Path

SHAPES = {
    "gss_token_base64": re.compile(rb"YII[A-Za-z0-9+/]{40,}"),
    "negotiate_value": re.compile(rb"Negotiate\s+[A-Za-z0-9+/]{16,}"),
    "basic_value": re.compile(rb"Basic\s+[A-Za-z0-9+/]{8,}={0,2}(?![A-Za-z0-9+/])"),
    "broker_handle": re.compile(rb"gsh1\.[A-Za-z0-9_-]{16,}"),
    "jwt": re.compile(rb"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"),
    "session_cookie": re.compile(rb"gssgate_session=[A-Za-z0-9_-]{16,}"),
    "private_key_pem": re.compile(rb"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
}


# Runs of base64/base64url/handle characters: a secret in a line is one of these (matching the
# runs against a set keeps the scan linear in the size of the logs, whatever the secret count).
TOKEN = re.compile(rb"[A-Za-z0-9+/_.-]{16,}")


def digest(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()[:12]


def scan(directory: Path) -> tuple[list[str], int, int]:
    secrets: set[bytes] = set()
    for f in directory.glob("secrets-*.txt"):
        for line in f.read_bytes().splitlines():
            if len(line.strip().rstrip(b"=")) >= 16:
                secrets.add(line.strip().rstrip(b"="))
    logs = sorted(p for p in directory.glob("*.log") if p.is_file())
    findings = []
    for log in logs:
        for number, line in enumerate(log.read_bytes().splitlines(), 1):
            for name, rx in SHAPES.items():
                for m in rx.finditer(line):
                    findings.append(f"{log.name}:{number}: {name} (sha256 {digest(m.group())})")
            for run in set(TOKEN.findall(line)):
                for s in [s for s in (run, run.rstrip(b".")) if s in secrets][:1]:
                    findings.append(f"{log.name}:{number}: a recorded secret (sha256 {digest(s)})")
    return findings, len(logs), len(secrets)


def self_test() -> int:
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        (d / "secrets-1.txt").write_text("s3cret-value-of-32-bytes-xxxxxxxx\n")
        bad = [
            b"info [proxy] token YIIB" + b"A" * 60,
            b"debug Authorization: Negotiate oRQwEqADCgEAoQsGCSqGSIb3EgECAg==",
            b"Basic YWxpY2U6cGFzc3dvcmQ=",
            b"handle gsh1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            b"assertion eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhbGljZSJ9.c2ln",
            b"Cookie: gssgate_session=AbCdEfGhIjKlMnOpQrStUv",
            b"-----BEGIN PRIVATE KEY-----",
            b"x s3cret-value-of-32-bytes-xxxxxxxx y",
        ]
        for i, line in enumerate(bad):
            (d / f"t{i}.log").write_bytes(b"clean line\n" + line + b"\n")
        (d / "clean.log").write_bytes(
            b"info [audit] redeem: uid=0 pid=1 principal=alice@GSSGATE.TEST "
            b"service=postgres/localhost credential=NQ1VLc460_AJmSfS4rnRhA tgt=false\n"
            b"info [access] request: client=127.0.0.1 method=GET path=/ status=401 auth=-\n")
        findings, _, _ = scan(d)
        flagged = {f.split(":", 1)[0] for f in findings}
        missed = [f"t{i}.log" for i in range(len(bad)) if f"t{i}.log" not in flagged]
        if missed or "clean.log" in flagged:
            print(f"self-test failed: missed {missed}, findings {findings}")
            return 1
        if any(b"s3cret" in f.encode() for f in findings):
            print("self-test failed: a finding shows the secret")
            return 1
    print("log_scan self-test: every shape and a recorded secret found; clean lines pass")
    return 0


def main(argv: list[str]) -> int:
    if argv[1:] == ["--self-test"]:
        return self_test()
    if len(argv) == 3 and argv[1] == "--reset":
        shutil.rmtree(argv[2], ignore_errors=True)
        Path(argv[2]).mkdir(parents=True)
        return 0
    if len(argv) != 2:
        print(__doc__)
        return 2
    directory = Path(argv[1])
    findings, logs, secrets = scan(directory)
    print(f"scanned {logs} log file(s) in {directory} for {secrets} recorded secret(s) "
          f"and {len(SHAPES)} shapes")
    if logs == 0:
        print("nothing to scan: the integration tests wrote no logs "
              "(is GSSGATE_TEST_LOG_DIR reaching them?)")
        return 1
    # Every test that runs a proxy signs somebody in, so proxy logs without a single recorded
    # secret mean the recording broke (and the exact-match net with it).
    proxy_marks = (b"gssgate-proxy ", b"[access] request:", b'"logger":"access"')
    proxies = [p for p in directory.glob("*.log")
               if any(m in p.read_bytes() for m in proxy_marks)]
    if secrets == 0 and proxies:
        print("proxy logs but no recorded secrets: is log_archive.record_secret still called?")
        return 1
    for f in findings[:200]:
        print(f)
    if findings:
        print(f"{len(findings)} finding(s): a log holds a secret")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
