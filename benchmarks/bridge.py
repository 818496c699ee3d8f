"""Benchmark of the Redis bridge against a TLS-only proxy and a direct TLS connection.

    python3 benchmarks/bridge.py [--requests N] [--rounds R]

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
"""

from __future__ import annotations

import argparse
import csv
import io
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

from services import free_port, start_redis, wait_for_port

IDLE_CONNECTIONS = 500


@dataclass
class Target:
    name: str
    port: int
    client_args: list[str]  # redis-benchmark flags to reach it (auth, TLS)
    pid: int | None  # the proxy process whose memory is measured (None: direct)
    results: dict[str, list[float]] = field(default_factory=dict)

    def add(self, key: str, value: float) -> None:
        self.results.setdefault(key, []).append(value)

    def median(self, key: str) -> float:
        return statistics.median(self.results[key])


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


def idle_rss(target: Target, password: str | None, admin: Any) -> float:
    """RSS (MB) of the proxy with 500 client connections open and logged in, doing nothing;
    also records how many connections the server holds meanwhile (less ``admin``'s own)."""
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
        target.add("upstream", int(admin.info("clients")["connected_clients"]) - 1)
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200_000,
                        help="requests per pipelined run (default 200000)")
    parser.add_argument("--rounds", type=int, default=5, help="runs per figure (default 5)")
    options = parser.parse_args()
    for tool in ("redis-server", "redis-benchmark", "stunnel4", "haproxy"):
        if not shutil.which(tool):
            print(f"{tool} is missing: run `bash .ci/run` (or apt-get install redis-server "
                  "redis-tools stunnel4 haproxy) first", file=sys.stderr)
            return 2

    password = secrets.token_hex(16)
    work = Path(tempfile.mkdtemp(prefix="bridge-bench-"))
    procs: list[subprocess.Popen[bytes]] = []
    server = start_redis(work / "redis", tls=True, password=password)
    try:
        auth = ["-a", password]
        targets: list[Target] = []

        # (a) the bridge, as the launcher runs it: its own process, URL from the environment.
        for name, mode in (("bridge", "plain"), ("bridge multiplexed", "multiplex")):
            port = free_port()
            env = dict(os.environ, APPWRITE_REDIS_BRIDGE_UPSTREAM=server.url,
                       APPWRITE_REDIS_BRIDGE_MODE=mode)
            proc = start_process([sys.executable, "-m", "appwrite_heroku.dyno.bridge",
                                  "--listen", f"127.0.0.1:{port}"], port, env,
                                 work / f"bridge-{mode}.log")
            procs.append(proc)
            targets.append(Target(name, port, [], proc.pid))

        # (b) TLS-only proxies: the same hop, no AUTH injection.
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
        targets.append(Target("stunnel", port, auth, proc.pid))

        # HAProxy runs one thread per CPU by default; the bridge is one thread, so HAProxy is
        # also measured with one.
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
            targets.append(Target(name, port, auth, proc.pid))

        # (c) straight to the TLS upstream.
        targets.append(Target("direct TLS", server.port, ["--tls", "--insecure", *auth], None))

        measures: list[tuple[str, Callable[[Target], None]]] = []

        def pipelined(target: Target) -> None:
            before = cpu_seconds(target.pid) if target.pid is not None else 0.0
            result = run_benchmark(target, ["-t", "set,get", "-P", "16", "-c", "50",
                                            "-n", str(options.requests)])
            target.add("set_rps", result["SET"]["rps"])
            target.add("get_rps", result["GET"]["rps"])
            if target.pid is not None:  # CPU time barely depends on what else the machine runs
                used = cpu_seconds(target.pid) - before
                target.add("cpu_us", used / (2 * options.requests) * 1e6)

        def latency(target: Target) -> None:
            result = run_benchmark(target, ["-t", "get", "-c", "1", "-n", "20000"])
            target.add("p50", result["GET"]["p50_latency_ms"])

        measures += [("pipelined", pipelined), ("latency", latency)]
        for round_no in range(options.rounds):
            for label, measure in measures:
                for target in targets:
                    print(f"round {round_no + 1}/{options.rounds}: {label} via {target.name}",
                          file=sys.stderr)
                    measure(target)
        for target in targets:
            if target.pid is not None:
                with_password = None if target.name.startswith("bridge") else password
                target.add("rss", idle_rss(target, with_password, server.client()))

        print_table(targets)
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


def print_table(targets: list[Target]) -> None:
    by_name = {t.name: t for t in targets}
    bridges = [by_name["bridge"], by_name["bridge multiplexed"]]
    print()
    print(f"redis-benchmark {redis_version()}, {os.cpu_count()} CPU(s), Python "
          f"{sys.version.split()[0]}, median of {len(bridges[0].results['p50'])} round(s)")
    print()
    print("| path | SET req/s -P 16 -c 50 | GET req/s -P 16 -c 50 | proxy CPU µs/request "
          f"| GET p50 ms (-c 1) | RSS MB, {IDLE_CONNECTIONS} idle conns "
          "| upstream conns for them |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for t in targets:
        rss = f"{t.median('rss'):.1f}" if "rss" in t.results else "n/a"
        upstream = f"{t.median('upstream'):.0f}" if "upstream" in t.results else "n/a"
        cpu = f"{t.median('cpu_us'):.2f}" if "cpu_us" in t.results else "n/a"
        print(f"| {t.name} | {t.median('set_rps'):,.0f} | {t.median('get_rps'):,.0f} | {cpu} | "
              f"{t.median('p50'):.3f} | {rss} | {upstream} |")
    print()
    for bridge in bridges:
        for proxy in ("stunnel", "haproxy", "haproxy 1 thread"):
            other = by_name[proxy]
            ratio_set = bridge.median("set_rps") / other.median("set_rps")
            ratio_get = bridge.median("get_rps") / other.median("get_rps")
            added = bridge.median("p50") - other.median("p50")
            print(f"{bridge.name} vs {proxy}: {ratio_set:.2f}x SET, {ratio_get:.2f}x GET req/s "
                  f"(target >= 0.8x); p50 {added:+.3f} ms (target <= +0.3 ms)")
        print(f"{bridge.name} RSS with {IDLE_CONNECTIONS} idle connections: "
              f"{bridge.median('rss'):.1f} MB (target <= 40 MB); "
              f"{bridge.median('rss_idle'):.1f} MB before any connection, so "
              f"{(bridge.median('rss') - bridge.median('rss_idle')) * 1024 / IDLE_CONNECTIONS:.0f}"
              " KiB per bridged connection")


def redis_version() -> str:
    out = subprocess.run(["redis-benchmark", "--version"], capture_output=True, text=True).stdout
    return out.split()[1] if out.split() else "?"


if __name__ == "__main__":
    sys.exit(main())
