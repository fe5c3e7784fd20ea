"""Builds MIT FILE ccache (v4) bytes with a made-up service ticket, for hermetic tests: enough
for GSS-API to name the default principal (no KDC is ever asked)."""

from __future__ import annotations

import struct
import time


def _data(b: bytes) -> bytes:
    return struct.pack(">I", len(b)) + b


def _principal(name: str) -> bytes:
    comps, _, realm = name.rpartition("@")
    parts = comps.split("/")
    return struct.pack(">II", 1, len(parts)) + _data(realm.encode()) + b"".join(
        _data(p.encode()) for p in parts)


def fake_ccache(client: str, server: str = "postgres/localhost", lifetime: int = 3600) -> bytes:
    realm = client.rpartition("@")[2]
    now = int(time.time())
    header = struct.pack(">H", 0x0504) + struct.pack(">H", 12) + struct.pack(">HH", 1, 8) + \
        b"\0" * 8
    cred = (_principal(client) + _principal(f"{server}@{realm}")
            + struct.pack(">H", 18) + _data(b"k" * 32)          # aes256 key
            + struct.pack(">IIII", now, now, now + lifetime, 0)  # auth, start, end, renew
            + b"\0" + struct.pack(">I", 0)                       # is_skey, flags
            + struct.pack(">I", 0) + struct.pack(">I", 0)        # addresses, authdata
            + _data(b"not-a-real-ticket") + _data(b""))
    return header + _principal(client) + cred
