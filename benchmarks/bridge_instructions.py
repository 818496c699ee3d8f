"""What the Redis bridge costs per round trip, in instructions (callgrind), stable on a busy
machine where CPU time per command moves by ±20 % from run to run.

    python3 benchmarks/bridge_instructions.py [--modes plain,multiplex] [--loops uvloop,asyncio]
                                              [--baseline SRC] [--trips 300,1300]

The bridge runs as `python3 -m appwrite_heroku.dyno.bridge` under `valgrind --tool=callgrind`
in front of a TLS + password redis-server, and one client sends Appwrite's commands one at a
time (HGET of its cache, LPUSH of a 600-byte job, GET, SET, INCR, EXPIRE: see bridge.py),
waiting for each reply, as an API worker does. It runs twice, with the two numbers of round
trips `--trips` names; the difference of the bridge's instruction counts (user space: Python,
OpenSSL, the event loop), divided by the difference of round trips, is the cost of one round
trip with start-up, logins and shutdown taken out. `--loops asyncio` hides uvloop from the
bridge (as an image without it runs); `--baseline SRC` measures another source tree too (e.g.
`git archive` of an older commit unpacked, its `src/`).
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import harness  # noqa: F401  (puts tests/ on sys.path)

from services import RedisServer, free_port, start_redis

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"
KEY = b"default-cache-127.0.0.1:_1::collection:_metadata:database_1_collection_"
COMMANDS = [
    [b"HGET", KEY, KEY + b":4c7106573ef454d80c08c17a866ae02a"],
    [b"LPUSH", b"utopia-queue.queue.v1-stats-usage", b"j" * 600],
    [b"GET", b"abuse__ip:203.0.113.7,url:example/v1/x"],
    [b"SET", b"key:1", b"xxx"],
    [b"INCR", b"counter:1"],
    [b"EXPIRE", b"counter:1", b"60"],
]
# Runs the bridge's command with uvloop hidden, so that it takes asyncio's own loop.
WITHOUT_UVLOOP = ("import runpy, sys; sys.modules['uvloop'] = None; "
                  "runpy.run_module('appwrite_heroku.dyno.bridge', run_name='__main__')")


def encode(args: list[bytes]) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)


def round_trips(port: int, count: int) -> None:
    """One connection, one command at a time, each reply read whole before the next."""
    with socket.create_connection(("127.0.0.1", port), timeout=120) as sock:
        for i in range(count):
            sock.sendall(encode(COMMANDS[i % len(COMMANDS)]))
            reply = b""
            while not reply.endswith(b"\r\n"):  # every reply here is one line
                chunk = sock.recv(4096)
                if not chunk:
                    raise RuntimeError("the bridge closed the connection")
                reply += chunk
            if reply.startswith(b"-"):
                raise RuntimeError(f"the bridge answered {reply!r}")


def wait_for_bridge(port: int, proc: subprocess.Popen[bytes], timeout: float = 300) -> None:
    """Valgrind starts Python slowly: wait for the port (connecting costs both runs alike)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the bridge exited under valgrind")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"the bridge did not listen on {port} in {timeout:g}s")


def instructions(server: RedisServer, work: Path, src: Path, mode: str, loop: str,
                 trips: int) -> int:
    """The bridge process' instructions over its whole life, serving `trips` round trips."""
    port = free_port()
    out = work / f"callgrind.{mode}.{loop}.{trips}.{secrets.token_hex(4)}"
    entry = ["-c", WITHOUT_UVLOOP] if loop == "asyncio" else ["-m", "appwrite_heroku.dyno.bridge"]
    env = dict(os.environ, APPWRITE_REDIS_BRIDGE_UPSTREAM=server.url,
               APPWRITE_REDIS_BRIDGE_MODE=mode, PYTHONPATH=str(src))
    proc = subprocess.Popen(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable,
         *entry, "--listen", f"127.0.0.1:{port}"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_bridge(port, proc)
        round_trips(port, trips)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(300)
    match = re.search(r"^(?:summary|totals): (\d+)", out.read_text(), re.M)
    if match is None:
        raise RuntimeError(f"no total in {out}")
    return int(match.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", default="plain,multiplex")
    parser.add_argument("--loops", default="uvloop,asyncio")
    parser.add_argument("--trips", default="300,1300",
                        help="the two numbers of round trips (default 300,1300)")
    parser.add_argument("--baseline", type=Path, metavar="SRC",
                        help="also measure the bridge from this source tree (its src/)")
    options = parser.parse_args()
    if not shutil.which("valgrind"):
        print("valgrind is missing: apt-get install valgrind", file=sys.stderr)
        return 2
    low, high = (int(n) for n in options.trips.split(","))
    sources = [("this tree", SRC)]
    if options.baseline:
        sources.append(("baseline", options.baseline.resolve()))
    work = Path(tempfile.mkdtemp(prefix="bridge-callgrind-"))
    server = start_redis(work / "redis", tls=True, password=secrets.token_hex(16))
    try:
        print("| source | mode | loop | instructions per round trip |")
        print("|---|---|---|---:|")
        for name, src in sources:
            for mode in options.modes.split(","):
                for loop in options.loops.split(","):
                    counts = [instructions(server, work, src, mode, loop, n) for n in (low, high)]
                    per_trip = (counts[1] - counts[0]) / (high - low)
                    print(f"| {name} | {mode} | {loop} | {per_trip:,.0f} |", flush=True)
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
