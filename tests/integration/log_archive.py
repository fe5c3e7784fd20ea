"""The suite's daemon logs and the secrets the suite handled, kept for the no-secrets scan.

When GSSGATE_TEST_LOG_DIR is set (ctest sets it for every integration test), every
gssgate-proxy and gssgate-broker a test starts writes its log there instead of into its temp
dir, and the helpers that see a secret (the Negotiate tokens the clients make, the handles,
assertions and cookies the echo upstream receives, the cookies a response sets, the handles a
deposit returns) append it to secrets-<pid>.txt there. `log_scan.py`, run by ctest after all
integration tests, then fails if any log holds any of them or anything shaped like one.
"""

import itertools
import os
import re
import threading
from pathlib import Path

_DIR = os.environ.get("GSSGATE_TEST_LOG_DIR")
_lock = threading.Lock()
_counter = itertools.count()


def log_path(default: Path, name: str) -> Path:
    """Where a daemon called `name` should write its log: `default` unless archiving."""
    if not _DIR:
        return default
    d = Path(_DIR)
    d.mkdir(parents=True, exist_ok=True)
    test = os.environ.get("PYTEST_CURRENT_TEST", "").split(" ")[0]
    test = re.sub(r"[^A-Za-z0-9_.-]+", "_", test)[:80] or "session"
    return d / f"{test}-{name}-{os.getpid()}-{next(_counter)}.log"


def record_secret(value) -> None:
    """Remembers a secret the suite handled (long enough to be unambiguous)."""
    if not _DIR or value is None:
        return
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    value = value.strip()
    if len(value) < 16 or "\n" in value:
        return
    with _lock:
        Path(_DIR).mkdir(parents=True, exist_ok=True)
        with open(Path(_DIR) / f"secrets-{os.getpid()}.txt", "a", encoding="latin-1") as f:
            f.write(value + "\n")


def record_cookie_values(header_value: str) -> None:
    """Records the value of every name=value pair in a Cookie or Set-Cookie header."""
    for part in header_value.split(";"):
        if "=" in part:
            record_secret(part.split("=", 1)[1])
