"""Benchmark of the Redis bridge against a TLS-only proxy and a direct TLS connection.

    python3 benchmarks/bridge.py [--requests N] [--rounds R] [--only appwrite,pipelined,memory]
                                 [--clients 1,16,64] [--baseline SRC] [--save F] [--compare F]
    python3 benchmarks/bridge.py --table BEFORE.json AFTER.json

One TLS + password redis-server (self-signed, like Heroku's Key-Value Store) is measured with
`redis-benchmark` through (a) the bridge (`appwrite-heroku redis-bridge`, no password on the
client), in both modes: plain (one upstream connection per client) and multiplexed (all
clients over a few upstream connections), (b) TLS-only proxies doing the same hop, stunnel
and HAProxy (with its default thread per CPU, and with one thread like the bridge; the client
sends the password itself: they cannot inject AUTH), and (c) redis-benchmark straight to the
TLS port.
It prints requests/s at `-P 16 -c 50` (SET and GET) with the proxy's CPU time per request
during them, the p50 latency of unpipelined GET from one client, and the resident memory of
each proxy process with 500 idle client connections (and how many upstream connections the
server holds for them).

Every figure is the median of `--rounds` runs, rounds interleaved across the targets so a
noisy neighbour hurts all of them alike. Everything binds 127.0.0.1 on free ports. The
password is random per run and lives only as long as the throwaway server; redis-benchmark
has no way to read it from the environment, so (b) and (c) pass it with `-a`.

`appwrite` measures what Appwrite's API workers do (issue 18): one unpipelined command at a
time on each of 1, 16 or 64 connections (`--clients`), the commands Appwrite 1.9.6 sends per
API request, captured with MONITOR against the real Appwrite serving document gets, lists and
creates and an end user's account reads: ~12-15 commands a request, 85-90 % `HGET` of its
cache (keys ~100 bytes), one `LPUSH` of a ~600-byte job (usage stats, audits), the rate
limiter's `GET`, and on writes by end users (not API keys) its `MULTI`/`INCR`/`EXPIRE`/`EXEC`
(phpredis waits for each reply). It prints each path's p50/p99 latency of a round trip, what
that adds to a direct TLS connection's, requests/s, and the proxy's CPU time per command over
`HGET`, `LPUSH` (600 B), `GET`, `SET`, `INCR` and `EXPIRE`; with php-cli and phpredis, also the
rate limiter's five round trips timed by phpredis itself (`bridge_ratelimit.php`).

`--baseline SRC` adds the bridge run from another source tree (e.g. `git archive` of an older
commit unpacked, its `src/`) as further targets, measured interleaved with this checkout's in
the same run, so a change is compared on the same machine load. `--save F` writes the medians
as JSON; `--compare F` prints them beside this run's. `--table BEFORE AFTER` runs nothing:
it prints two saved runs side by side for each bridge mode (the before/after table of
docs/redis-bridge.md), with the BEFORE tree's figures from the AFTER run too when that run
measured it as `--baseline`, which is the fairer comparison on a machine whose load changes.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import harness  # noqa: F401  (puts tests/ and the Appwrite stand-in on sys.path)

from services import RedisServer, free_port, start_redis, wait_for_port

IDLE_CONNECTIONS = 500
HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"
# What Appwrite sends per API request (MONITOR, see the docstring), as redis-benchmark commands:
# its cache read, a queued job, and the rate limiter's and the usual small commands.
APPWRITE_KEY = "default-cache-127.0.0.1:_1::collection:_metadata:database_1_collection___rand_int__"
APPWRITE_COMMANDS: list[tuple[str, list[str]]] = [
    ("HGET", ["HGET", APPWRITE_KEY, APPWRITE_KEY + ":4c7106573ef454d80c08c17a866ae02a"]),
    ("LPUSH", ["LPUSH", "utopia-queue.queue.v1-stats-usage", "j" * 600]),
    ("GET", ["GET", "abuse__ip:203.0.113.7,url:example/v1/x__rand_int__"]),
    ("SET", ["SET", "key:__rand_int__", "xxx"]),
    ("INCR", ["INCR", "counter:__rand_int__"]),
    ("EXPIRE", ["EXPIRE", "counter:__rand_int__", "60"]),
]


@dataclass
class Target:
    name: str
    port: int
    client_args: list[str]  # redis-benchmark flags to reach it (auth, TLS)
    pid: int | None  # the proxy process whose memory is measured (None: direct)
    results: dict[str, list[float]] = field(default_factory=dict)
    password: str | None = None  # what a client must send itself (None: the bridge logs in)
    tls: bool = False  # the client speaks TLS (direct only)

    def add(self, key: str, value: float) -> None:
        self.results.setdefault(key, []).append(value)

    def median(self, key: str) -> float:
        return statistics.median(self.results[key])

    def medians(self) -> dict[str, float]:
        return {key: self.median(key) for key in self.results}


def run_benchmark(target: Target, args: list[str]) -> dict[str, dict[str, float]]:
    """Runs redis-benchmark in CSV mode; returns {test: {column: value}}."""
    done = subprocess.run(
        ["redis-benchmark", "-h", "127.0.0.1", "-p", str(target.port), *target.client_args,
         "--csv", *args],
        check=True, capture_output=True, text=True, timeout=600,
    )
    rows = csv.DictReader(io.StringIO(done.stdout))
    return {row["test"]: {k: float(v) for k, v in row.items() if k != "test"} for row in rows}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def connections_to(pid: int, port: int) -> int:
    """How many established TCP connections process ``pid`` holds to ``port`` on loopback: its
    sockets' inodes, found in /proc/net/tcp with that remote port. The server's own count
    would include the other targets' connections, which all run at once."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue  # closed meanwhile
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            remote_port = int(fields[2].rsplit(":", 1)[1], 16)
            if remote_port == port and fields[3] == "01" and fields[9] in inodes:
                count += 1
    return count


def idle_rss(target: Target, password: str | None, server_port: int) -> float:
    """RSS (MB) of the proxy with 500 client connections open and logged in, doing nothing;
    also records how many connections it holds to the server meanwhile."""
    assert target.pid is not None
    time.sleep(2)
    target.add("rss_idle", rss_kib(target.pid) / 1024)
    sockets = []
    try:
        for _ in range(IDLE_CONNECTIONS):
            sock = socket.create_connection(("127.0.0.1", target.port), timeout=30)
            hello = b"PING\r\n" if password is None else f"AUTH {password}\r\nPING\r\n".encode()
            sock.sendall(hello)
            sockets.append(sock)
        for sock in sockets:
            expected = b"+PONG\r\n" if password is None else b"+OK\r\n+PONG\r\n"
            got = b""
            while len(got) < len(expected):
                chunk = sock.recv(64)
                if not chunk:
                    raise RuntimeError(f"{target.name} closed an idle connection")
                got += chunk
            if got != expected:
                raise RuntimeError(f"{target.name} answered {got!r}")
        time.sleep(2)  # let the bridge trim its heap after the burst (it waits 0.5 s)
        target.add("upstream", connections_to(target.pid, server_port))
        return rss_kib(target.pid) / 1024
    finally:
        for sock in sockets:
            sock.close()


def start_process(argv: list[str], port: int, env: dict[str, str] | None = None,
                  log: Path | None = None) -> subprocess.Popen[bytes]:
    out = open(log, "ab") if log else subprocess.DEVNULL
    proc = subprocess.Popen(argv, env=env, stdout=out, stderr=out)
    wait_for_port(port)
    return proc


def start_bridges(server: RedisServer, work: Path, sources: list[tuple[str, Path]],
                  procs: list[subprocess.Popen[bytes]]) -> list[Target]:
    """The bridge as the `redis-bridge` command runs it (its own process, URL from the
    environment), in both modes, from each source tree."""
    targets = []
    for suffix, src in sources:
        for name, mode in (("bridge", "plain"), ("bridge multiplexed", "multiplex")):
            port = free_port()
            env = dict(os.environ, APPWRITE_REDIS_BRIDGE_UPSTREAM=server.url,
                       APPWRITE_REDIS_BRIDGE_MODE=mode, PYTHONPATH=str(src))
            proc = start_process([sys.executable, "-m", "appwrite_heroku.dyno.bridge",
                                  "--listen", f"127.0.0.1:{port}"], port, env,
                                 work / f"bridge-{mode}{suffix.strip()}.log")
            procs.append(proc)
            targets.append(Target(name + suffix, port, [], proc.pid))
    return targets


def start_proxies(server: RedisServer, work: Path, password: str,
                  procs: list[subprocess.Popen[bytes]]) -> list[Target]:
    """TLS-only proxies doing the same hop, without AUTH injection: stunnel and HAProxy (one
    thread per CPU by default; the bridge is one thread, so HAProxy is also run with one)."""
    auth = ["-a", password]
    targets = []
    port = free_port()
    conf = work / "stunnel.conf"
    conf.write_text(
        "foreground = yes\npid =\nsyslog = no\ndebug = 3\n"
        f"output = {work / 'stunnel.log'}\n"
        "[redis]\nclient = yes\n"
        f"accept = 127.0.0.1:{port}\nconnect = 127.0.0.1:{server.port}\n"
        "verifyChain = no\nverifyPeer = no\n"
    )
    proc = start_process(["stunnel4", str(conf)], port)
    procs.append(proc)
    targets.append(Target("stunnel", port, auth, proc.pid, password=password))
    for name, threads in (("haproxy", ""), ("haproxy 1 thread", "  nbthread 1\n")):
        port = free_port()
        conf = work / f"haproxy-{len(targets)}.cfg"
        conf.write_text(
            f"global\n  maxconn 4096\n{threads}"
            "defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 1h\n"
            "  timeout server 1h\n"
            f"listen redis\n  bind 127.0.0.1:{port}\n"
            f"  server up 127.0.0.1:{server.port} ssl verify none\n"
        )
        proc = start_process(["haproxy", "-db", "-f", str(conf)], port,
                             log=work / "haproxy.log")
        procs.append(proc)
        targets.append(Target(name, port, auth, proc.pid, password=password))
    return targets


# -- the measures ----------------------------------------------------------------------------


def pipelined(target: Target, requests: int) -> None:
    before = cpu_seconds(target.pid) if target.pid is not None else 0.0
    result = run_benchmark(target, ["-t", "set,get", "-P", "16", "-c", "50", "-n", str(requests)])
    target.add("set_rps", result["SET"]["rps"])
    target.add("get_rps", result["GET"]["rps"])
    if target.pid is not None:  # CPU time barely depends on what else the machine runs
        used = cpu_seconds(target.pid) - before
        target.add("cpu_us", used / (2 * requests) * 1e6)


def latency(target: Target) -> None:
    result = run_benchmark(target, ["-t", "get", "-c", "1", "-n", "20000"])
    target.add("p50", result["GET"]["p50_latency_ms"])


def appwrite(target: Target, clients: int, per_command: int, admin: Any) -> None:
    """Appwrite's commands, one at a time on each of ``clients`` connections: HGET's
    latencies and requests/s, the proxy's CPU per command over the whole mix."""
    before = cpu_seconds(target.pid) if target.pid is not None else 0.0
    for label, command in APPWRITE_COMMANDS:
        result = run_benchmark(target, ["-c", str(clients), "-n", str(per_command),
                                        "-r", "100000", *command])
        row = next(iter(result.values()))
        if label == "HGET":
            target.add(f"c{clients}_rps", row["rps"])
            target.add(f"c{clients}_p50", row["p50_latency_ms"])
            target.add(f"c{clients}_p99", row["p99_latency_ms"])
    admin.flushall()  # the queued jobs: 600 B each
    if target.pid is not None:
        used = cpu_seconds(target.pid) - before
        target.add(f"c{clients}_cpu_us", used / (len(APPWRITE_COMMANDS) * per_command) * 1e6)


def rate_limiter(target: Target, clients: int, count: int) -> None:
    """The rate limiter's five round trips, timed by phpredis in ``clients`` PHP processes."""
    config = {"host": "127.0.0.1", "port": target.port, "tls": target.tls,
              "password": target.password, "count": count}
    procs = []
    for n in range(clients):
        proc = subprocess.Popen(["php", str(HERE / "bridge_ratelimit.php")],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert proc.stdin is not None
        proc.stdin.write(json.dumps({**config, "key": f"abuse__bench__{n}"}) + "\n")
        proc.stdin.flush()
        procs.append(proc)
    latencies: list[float] = []
    for proc in procs:
        out, _ = proc.communicate(timeout=300)
        latencies += [us / 1000 for us in json.loads(out)["latencies_us"]]
    latencies.sort()
    target.add(f"rl{clients}_p50", latencies[len(latencies) // 2])
    target.add(f"rl{clients}_p99", latencies[int(len(latencies) * 0.99)])


def has_phpredis() -> bool:
    if shutil.which("php") is None:
        return False
    modules = subprocess.run(["php", "-m"], capture_output=True, text=True).stdout.split()
    return "redis" in modules


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200_000,
                        help="requests per pipelined run (default 200000)")
    parser.add_argument("--rounds", type=int, default=5, help="runs per figure (default 5)")
    parser.add_argument("--only", default="appwrite,pipelined,memory",
                        help="measures to run (default: appwrite,pipelined,memory)")
    parser.add_argument("--clients", default="1,16,64",
                        help="connections for the appwrite measure (default 1,16,64)")
    parser.add_argument("--round-trips", type=int, default=5000,
                        help="appwrite measure: commands per command kind and run")
    parser.add_argument("--baseline", type=Path, metavar="SRC",
                        help="also measure the bridge from this source tree (its src/)")
    parser.add_argument("--targets", default="",
                        help="comma-separated target names to keep (default: all)")
    parser.add_argument("--save", type=Path, help="write the medians as JSON")
    parser.add_argument("--compare", type=Path, help="print them beside a saved run's")
    parser.add_argument("--table", type=Path, nargs=2, metavar=("BEFORE", "AFTER"),
                        help="print two saved runs side by side, measuring nothing")
    options = parser.parse_args()
    if options.table:
        before, after = (json.loads(path.read_text()) for path in options.table)
        print_before_after(before, after)
        return 0
    for tool in ("redis-server", "redis-benchmark", "stunnel4", "haproxy"):
        if not shutil.which(tool):
            print(f"{tool} is missing: run `bash .ci/run` (or apt-get install redis-server "
                  "redis-tools stunnel4 haproxy) first", file=sys.stderr)
            return 2
    only = set(options.only.split(","))
    clients = [int(c) for c in options.clients.split(",") if c]

    password = secrets.token_hex(16)
    work = Path(tempfile.mkdtemp(prefix="bridge-bench-"))
    procs: list[subprocess.Popen[bytes]] = []
    server = start_redis(work / "redis", tls=True, password=password)
    try:
        sources = [("", SRC)]
        if options.baseline:
            sources.append((" (baseline)", options.baseline.resolve()))
        targets = start_bridges(server, work, sources, procs)
        targets += start_proxies(server, work, password, procs)
        targets.append(Target("direct TLS", server.port, ["--tls", "--insecure", "-a", password],
                              None, password=password, tls=True))
        if options.targets:
            keep = set(options.targets.split(","))
            targets = [t for t in targets if t.name in keep]
        admin = server.client()
        measures: list[tuple[str, Callable[[Target], None]]] = []
        if "appwrite" in only:
            for count in clients:
                measures.append((f"appwrite -c {count}",
                                 lambda t, c=count: appwrite(t, c, options.round_trips, admin)))
            if has_phpredis():
                for count in (1, 16):
                    measures.append((f"rate limiter x{count}",
                                     lambda t, c=count: rate_limiter(t, c, 300)))
        if "pipelined" in only:
            measures += [("pipelined", lambda t: pipelined(t, options.requests)),
                         ("latency", latency)]
        for round_no in range(options.rounds):
            for label, measure in measures:
                for target in targets:
                    print(f"round {round_no + 1}/{options.rounds}: {label} via {target.name}",
                          file=sys.stderr)
                    measure(target)
        if "memory" in only:
            for target in targets:
                if target.pid is not None:
                    target.add("rss", idle_rss(target, target.password, server.port))
        medians = {t.name: t.medians() for t in targets}
        if options.save:
            options.save.write_text(json.dumps({"about": about(options.rounds),
                                                "medians": medians}, indent=1))
        saved = json.loads(options.compare.read_text()) if options.compare else None
        print_tables(medians, clients, saved, about(options.rounds))
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


# -- printing --------------------------------------------------------------------------------


def about(rounds: int) -> str:
    return (f"redis-benchmark {redis_version()}, {os.cpu_count()} CPU(s), Python "
            f"{sys.version.split()[0]}, median of {rounds} round(s)")


def fmt(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def print_tables(medians: dict[str, dict[str, float]], clients: list[int],
                 saved: dict[str, Any] | None, line: str) -> None:
    print()
    print(line)
    if saved:
        print(f"compared with a saved run: {saved['about']}")
    direct = medians.get("direct TLS", {})
    for count in clients:
        if not any(f"c{count}_p50" in m for m in medians.values()):
            continue
        print()
        print(f"Appwrite's pattern, one command at a time on each of {count} connection(s): "
              "HGET latency and req/s, proxy CPU per command over HGET/LPUSH/GET/SET/INCR/EXPIRE")
        print()
        print("| path | p50 ms | p99 ms | added p50 ms | added p99 ms | HGET req/s "
              "| CPU µs/command |" + (" saved p50 | saved added p50 | saved CPU µs |"
                                       if saved else ""))
        print("|---|---:|---:|---:|---:|---:|---:|" + ("---:|---:|---:|" if saved else ""))
        for name, m in medians.items():
            row = appwrite_row(m, direct, count)
            extra = ""
            if saved:
                old = saved["medians"].get(name, {})
                old_direct = saved["medians"].get("direct TLS", {})
                before = appwrite_row(old, old_direct, count) if old else None
                cells = (before[0], before[2], before[5]) if before else (None,) * 3
                extra = " " + " | ".join(fmt(v) for v in cells) + " |"
            print(f"| {name} | " + " | ".join(
                fmt(v, 0 if i == 4 else 2 if i == 5 else 3) for i, v in enumerate(row))
                + " |" + extra)
    print_rate_limiter(medians, saved)
    print_pipelined(medians, saved)


def appwrite_row(m: dict[str, float], direct: dict[str, float], count: int,
                 ) -> tuple[float | None, ...]:
    p50, p99 = m.get(f"c{count}_p50"), m.get(f"c{count}_p99")
    d50, d99 = direct.get(f"c{count}_p50"), direct.get(f"c{count}_p99")
    return (p50, p99,
            None if p50 is None or d50 is None else p50 - d50,
            None if p99 is None or d99 is None else p99 - d99,
            m.get(f"c{count}_rps"), m.get(f"c{count}_cpu_us"))


def print_rate_limiter(medians: dict[str, dict[str, float]], saved: dict[str, Any] | None,
                       ) -> None:
    if not any("rl1_p50" in m for m in medians.values()):
        return
    print()
    print("Appwrite's rate limiter through phpredis (GET, MULTI, INCR, EXPIRE, EXEC: five round "
          "trips), ms per check")
    print()
    print("| path | 1 client p50 | p99 | 16 clients p50 | p99 |"
          + (" saved 1 p50 | saved 16 p50 |" if saved else ""))
    print("|---|---:|---:|---:|---:|" + ("---:|---:|" if saved else ""))
    for name, m in medians.items():
        cells = [m.get(k) for k in ("rl1_p50", "rl1_p99", "rl16_p50", "rl16_p99")]
        extra = ""
        if saved:
            old = saved["medians"].get(name, {})
            extra = f" {fmt(old.get('rl1_p50'))} | {fmt(old.get('rl16_p50'))} |"
        print(f"| {name} | " + " | ".join(fmt(c) for c in cells) + " |" + extra)


def print_pipelined(medians: dict[str, dict[str, float]], saved: dict[str, Any] | None) -> None:
    if not any("set_rps" in m or "rss" in m for m in medians.values()):
        return
    print()
    print("| path | SET req/s -P 16 -c 50 | GET req/s -P 16 -c 50 | proxy CPU µs/request "
          f"| GET p50 ms (-c 1) | RSS MB, {IDLE_CONNECTIONS} idle conns "
          "| upstream conns for them |" + (" saved CPU µs/request | saved RSS MB |"
                                            if saved else ""))
    print("|---|---:|---:|---:|---:|---:|---:|" + ("---:|---:|" if saved else ""))
    for name, m in medians.items():
        extra = ""
        if saved:
            old = saved["medians"].get(name, {})
            extra = f" {fmt(old.get('cpu_us'), 2)} | {fmt(old.get('rss'), 1)} |"
        print(f"| {name} | {fmt(m.get('set_rps'), 0)} | {fmt(m.get('get_rps'), 0)} | "
              f"{fmt(m.get('cpu_us'), 2)} | {fmt(m.get('p50'))} | {fmt(m.get('rss'), 1)} | "
              f"{fmt(m.get('upstream'), 0)} |" + extra)


# The before/after table's rows: (label, key in a run's medians, digits).
BEFORE_AFTER_ROWS = [
    ("1 connection: p50 ms", "c1_p50", 3),
    ("1 connection: CPU µs/command", "c1_cpu_us", 1),
    ("16 connections: p50 ms", "c16_p50", 3),
    ("16 connections: p99 ms", "c16_p99", 3),
    ("16 connections: HGET req/s", "c16_rps", 0),
    ("16 connections: CPU µs/command", "c16_cpu_us", 1),
    ("64 connections: p50 ms", "c64_p50", 3),
    ("64 connections: p99 ms", "c64_p99", 3),
    ("64 connections: HGET req/s", "c64_rps", 0),
    ("64 connections: CPU µs/command", "c64_cpu_us", 1),
    ("rate limiter, 1 client: p50 ms", "rl1_p50", 3),
    ("rate limiter, 16 clients: p50 ms", "rl16_p50", 3),
    ("pipelined: CPU µs/request", "cpu_us", 2),
    (f"RSS MB, {IDLE_CONNECTIONS} idle connections", "rss", 1),
    ("upstream connections for them", "upstream", 0),
]


def print_before_after(before: dict[str, Any], after: dict[str, Any]) -> None:
    """Each bridge mode's figures in the BEFORE run, in the AFTER run (and the BEFORE tree's
    in that same run, when it measured it as --baseline), and AFTER against the fairer of the
    two BEFOREs."""
    print(f"BEFORE: {before['about']}")
    print(f"AFTER: {after['about']}")
    for mode in ("bridge", "bridge multiplexed"):
        old = before["medians"].get(mode, {})
        new = after["medians"].get(mode, {})
        rerun = after["medians"].get(f"{mode} (baseline)", {})
        print()
        print(f"| {'plain' if mode == 'bridge' else 'multiplexed'} | before | before, "
              "re-run beside after | after | after / before |")
        print("|---|---:|---:|---:|---:|")
        for label, key, digits in BEFORE_AFTER_ROWS:
            if key not in old and key not in new:
                continue
            base = rerun.get(key, old.get(key))
            ratio = (f"{new[key] / base:.2f}x" if key in new and base else "n/a")
            print(f"| {label} | {fmt(old.get(key), digits)} | {fmt(rerun.get(key), digits)} "
                  f"| {fmt(new.get(key), digits)} | {ratio} |")


def redis_version() -> str:
    out = subprocess.run(["redis-benchmark", "--version"], capture_output=True, text=True).stdout
    return out.split()[1] if out.split() else "?"


if __name__ == "__main__":
    sys.exit(main())
