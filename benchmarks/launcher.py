"""Launcher benchmark: exec → `$PORT` accepting, and the launcher's own resident memory.

Runs `appwrite-heroku launch web` as a real process against real MariaDB and a TLS + password
Redis (so the in-process Redis bridge runs), with stand-in Appwrite servers behind real nginx and
supervisord. Prints the figures; targets: ≤ 1 s to `$PORT` accepting, ≤ 40 MB launcher RSS.

    python3 benchmarks/launcher.py [--runs 3]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path

import harness  # noqa: F401  (puts tests/ and the Appwrite stand-in on sys.path)

from lite import Launched, dyno_env, make_root
from services import free_port, start_mariadb, start_redis


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def accepting(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.05):
            return True
    except OSError:
        return False


def one_run(work: Path, db_url: str, redis_url: str) -> tuple[float, float, float, float]:
    port = free_port()
    env = dyno_env(make_root(work), database_url=db_url, redis_url=redis_url,
                   bridge_port=free_port(), PORT=str(port))
    launched = Launched("web", env)
    try:
        while not accepting(port):
            if launched.proc.poll() is not None:
                raise SystemExit(f"launcher exited:\n{launched.output}")
            time.sleep(0.002)
        to_port = time.monotonic() - launched.started
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        while True:
            try:
                with opener.open(f"http://127.0.0.1:{port}/v1/health/version", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.005)
        to_api = time.monotonic() - launched.started
        launched.wait_for_line("redis bridge: 127.0.0.1:")
        time.sleep(3)  # settled: log pump, watch loop and bridge all running
        launcher_rss = rss_mib(launched.proc.pid)
        supervisord = [pid for pid in launched.session_pids()
                       if b"supervisord" in Path(f"/proc/{pid}/cmdline").read_bytes()]
        supervisord_rss = rss_mib(supervisord[0]) if supervisord else float("nan")
        return to_port, to_api, launcher_rss, supervisord_rss
    finally:
        launched.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-launcher-") as temp:
        work = Path(temp)
        db = start_mariadb(work / "db", user="bench", password="bench-db-pw-0000",
                           schema="appwrite")
        redis = start_redis(work / "redis", tls=True, username="h",
                            password="bench-redis-pw-0000")
        try:
            results = [one_run(work / f"run{i}", db.url, redis.url) for i in range(args.runs)]
        finally:
            redis.stop()
            db.stop()
    to_port, to_api, launcher, supervisord = zip(*results, strict=True)
    print(f"runs: {args.runs} (role web, TLS+password Redis → bridge in the launcher)")
    print(f"exec → $PORT accepting: median {statistics.median(to_port):.3f} s, "
          f"max {max(to_port):.3f} s (target ≤ 1 s)")
    print(f"exec → first 200 from the stand-in API through nginx: median "
          f"{statistics.median(to_api):.3f} s")
    print(f"launcher RSS incl. bridge: median {statistics.median(launcher):.1f} MiB, "
          f"max {max(launcher):.1f} MiB (target ≤ 40 MB)")
    print(f"supervisord RSS (separate process, for reference): median "
          f"{statistics.median(supervisord):.1f} MiB")


if __name__ == "__main__":
    main()
