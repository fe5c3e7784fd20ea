#!/usr/bin/python3
"""Broker benchmark: deposit and redeem latency (first redemption = a TGS exchange with the
KDC; cached = the service ticket is reused), and how many stored credentials fit in the
broker's memory.

    /usr/bin/python3 bench/broker_bench.py [--fill 100000] [--build build]

Starts a throw-away realm (alice; postgres/localhost) and gssgate-broker (memory store) in a
temp dir, runs build/bench/gssgate-broker-bench, reads the broker's VmRSS before and after the
fill, and prints the figures. Everything runs on loopback / Unix sockets and is cleaned up.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "realm"))
from gssgate_realm import Realm  # noqa: E402


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=str(REPO / "build"))
    ap.add_argument("--fill", type=int, default=100000)
    ap.add_argument("--deposits", type=int, default=2000)
    ap.add_argument("--first", type=int, default=200)
    ap.add_argument("--cached", type=int, default=5000)
    args = ap.parse_args()
    build = Path(args.build)
    with tempfile.TemporaryDirectory(prefix="gssgate-bbench.") as tmp:
        tmp = Path(tmp)
        realm = Realm(tmp / "realm").start()
        realm.add_user("alice", "alice-password")
        realm.kadmin("addprinc -randkey postgres/localhost")
        cc = tmp / "alice.ccache"
        realm.kinit("alice", cc)
        env = dict(os.environ, **realm.env(ccache=cc))
        run = tmp / "run"
        run.mkdir(mode=0o700)
        cfg = tmp / "broker.yaml"
        cfg.write_text(f"""listen: unix:{run}/broker.sock
deposit_listen: unix:{run}/deposit.sock
policy:
  - uid: any
    services: ["postgres/*"]
limits:
  max_credentials: {args.fill + args.deposits + 1000}
log:
  level: warn
""")
        broker = subprocess.Popen([str(build / "broker/gssgate-broker"), "--config", str(cfg)],
                                  env=env, stderr=open(tmp / "broker.log", "w"))
        try:
            for _ in range(100):
                if (run / "deposit.sock").exists() and (run / "broker.sock").exists():
                    break
                time.sleep(0.05)
            time.sleep(0.2)
            idle = rss_kib(broker.pid)
            common = [str(build / "bench/gssgate-broker-bench"),
                      "--deposit", f"unix:{run}/deposit.sock",
                      "--backend", f"unix:{run}/broker.sock"]
            out = subprocess.run(common + ["--deposits", str(args.deposits), "--first",
                                           str(args.first), "--cached", str(args.cached)],
                                 env=env, capture_output=True, text=True, check=False)
            if out.returncode != 0:
                print(out.stdout, out.stderr)
                return 1
            lat = json.loads(out.stdout)
            before = rss_kib(broker.pid)
            fill = subprocess.run(common + ["--deposits", "0", "--first", "0", "--cached", "0",
                                            "--fill", str(args.fill)],
                                  env=env, capture_output=True, text=True, check=False)
            after = rss_kib(broker.pid)
            filled = json.loads(fill.stdout) if fill.returncode == 0 else {}
        finally:
            broker.terminate()
            broker.wait(10)
            realm.stop()
    per_cred = (after - before) * 1024 / max(1, args.fill)
    print(f"deposit          p50 {lat['deposit']['p50_us']:8.1f} us   p99 {lat['deposit']['p99_us']:8.1f} us   (n={lat['deposit']['n']})")
    print(f"redeem, first    p50 {lat['redeem_first']['p50_us']:8.1f} us   p99 {lat['redeem_first']['p99_us']:8.1f} us   (TGS exchange with the KDC)")
    print(f"redeem, cached   p50 {lat['redeem_cached']['p50_us']:8.1f} us   p99 {lat['redeem_cached']['p99_us']:8.1f} us   (target p99 < 1000 us)")
    print(f"broker RSS: idle {idle/1024:.1f} MiB; {args.fill} more credentials "
          f"{before/1024:.1f} -> {after/1024:.1f} MiB = {per_cred:.0f} B each "
          f"(TGT {lat['tgt_bytes']} B marshaled)")
    total_for_100k = (before + per_cred * 100000 / 1024) / 1024
    print(f"100k credentials ~ {total_for_100k:.0f} MiB RSS (target < 500); "
          f"{100 * 1024 * 1024 / max(per_cred, 1):.0f} credentials per 100 MiB; "
          f"fill took {filled.get('fill_seconds', 0)} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
