"""The real Appwrite 1.9.6 under the launcher: the figures the budget model needs, measured.

Runs the release phase, then the launcher's web and worker dynos around the real Appwrite tree
(`tests/real_lite.py`: a patched copy of /opt/appwrite, PHP 8.4 + Swoole from /opt/aw-php) on
Heroku-shaped add-ons: PostgreSQL 15 with TLS only and a 20-connection owner (essential-0)
through each dyno's PgBouncer, Redis with TLS, an ACL user and `maxclients 20` (mini) through
each dyno's multiplexed bridge. Prints, per dyno and per process kind, PSS (what a dyno's memory
limit counts: pages shared between forked processes once) at rest, after a request load and with
every queue given a job; the add-ons' connections (CLIENT LIST upstream, pg_stat_activity) and
each dyno's share of them; SIGTERM → exit per dyno. With on-demand queue workers in the launcher
(`APPWRITE_LITE_QUEUE_MODE`, config/queues.py) it also measures a job on a stopped queue until
done (cold) against the same on a running one (warm). Where the real tree is absent it says why
and exits 0.

    python3 benchmarks/real_appwrite.py [--settle 20] [--requests 240] [--concurrency 6]
                                        [--queue-mode on-demand|always-on]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import importlib
import json
import os
import re
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import harness  # noqa: F401  (puts tests/ and the Appwrite stand-in on sys.path)

from helpers import CANARY_DB_PASSWORD, CANARY_REDIS_PASSWORD
from real_lite import (
    DB_CONNECTIONS,
    REDIS_MAXCLIENTS,
    WEB_MEMORY,
    WORKER_MEMORY,
    Api,
    Dyno,
    classify,
    dyno_env,
    memory_by_kind,
    postgres_backends,
    prepare_tree,
    redis_clients,
    unavailable,
    wait_until,
)
from services import create_heroku_postgres_account, free_port, start_postgresql, start_redis

OWNER = "owner@bench.example"
PASSWORD = "Bench-console-pw-7e21"
PROJECT = "bench"
NAMESPACE = "utopia-queue"  # utopia-php/queue 0.21.1's default (src/Queue/Queue.php:9)


def queue_feature() -> ModuleType | None:
    """The launcher's on-demand queue workers, when this checkout has them (config/queues.py
    with APPWRITE_LITE_QUEUE_MODE); None on a launcher that runs every queue worker always."""
    try:
        module = importlib.import_module("appwrite_heroku.config.queues")
    except ImportError:
        return None
    return module if hasattr(module, "MODE_VAR") and hasattr(module, "ON_DEMAND") else None


def queue_of(entry_point: str) -> str:
    """The Redis queue a `worker-NAME` entry point drains (app/worker.php:62-66 at 1.9.6)."""
    feature = queue_feature()
    if feature is not None:
        return str(feature.queue_name(entry_point))
    name = entry_point.removeprefix("worker-")
    return "database_db_main" if name.startswith("databases") else f"v1-{name}"


# --- the add-ons seen from each dyno ------------------------------------------------------------


def _socket_inodes(pids: Iterable[int]) -> set[str]:
    inodes = set()
    for pid in pids:
        try:
            for fd in os.scandir(f"/proc/{pid}/fd"):
                target = os.readlink(fd.path)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        except OSError:
            continue
    return inodes


def tcp_connections(pids: Iterable[int], remote_port: int) -> int:
    """Established TCP connections held by `pids` to `remote_port` on loopback."""
    inodes = _socket_inodes(pids)
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "01" and fields[9] in inodes \
                    and int(fields[2].rsplit(":", 1)[1], 16) == remote_port:
                count += 1
    return count


@dataclass
class Deployment:
    """One app: add-ons, the tree, and its dynos, with the ports each dyno's plumbing uses."""

    work: Path
    tree: Any
    postgres: Any
    account: Any
    redis: Any
    probe: Any
    port: int
    extra: dict[str, str]
    worker_memory: int = WORKER_MEMORY
    dynos: dict[str, Dyno] = field(default_factory=dict)
    bridge_ports: dict[str, int] = field(default_factory=dict)

    def addons(self) -> dict[str, str]:
        return {"DATABASE_URL": self.account.url, "REDIS_URL": self.redis.url}

    def start(self, name: str, role: str, memory: int, **extra: str) -> Dyno:
        bridge = free_port()
        env = dyno_env(self.tree, self.work, memory=memory, addons=self.addons(),
                       bridge_port=bridge, **self.extra, **extra)
        self.bridge_ports[name] = bridge
        self.dynos[name] = Dyno(role, env, name=name)
        return self.dynos[name]

    def pgbouncer_port(self, name: str) -> int | None:
        match = re.search(r"pgbouncer on 127\.0\.0\.1:(\d+)", self.dynos[name].output)
        return int(match.group(1)) if match else None

    def connections(self) -> dict[str, Any]:
        """Upstream totals (the add-ons' view) and, per dyno, upstream and Appwrite-side."""
        redis = redis_clients(self.probe)
        pg = postgres_backends(self.postgres.sql, self.account.user)
        result: dict[str, Any] = {"redis upstream": sum(redis.values()), "redis by command":
                                  redis, "postgres upstream": sum(pg.values()),
                                  "postgres by state": pg}
        for name, dyno in self.dynos.items():
            if dyno.proc.poll() is not None:
                continue
            kinds = classify(dyno.proc.pid, dyno.programs())
            php = [pid for kind, pid in kinds if kind not in (
                "launcher+bridge", "supervisord", "nginx", "pgbouncer")]
            bouncer = [pid for kind, pid in kinds if kind == "pgbouncer"]
            pg_port = self.pgbouncer_port(name)
            result[name] = {
                "redis upstream (bridge)": tcp_connections([dyno.proc.pid], self.redis.port),
                "redis Appwrite-side": tcp_connections(php, self.bridge_ports[name]),
                "postgres upstream (PgBouncer)": tcp_connections(bouncer,
                                                                 self.postgres.port),
                "postgres Appwrite-side": tcp_connections(php, pg_port) if pg_port else 0,
            }
        return result


# --- memory ------------------------------------------------------------------------------------


def snapshot(deployment: Deployment) -> dict[str, dict[str, dict[str, int]]]:
    """PSS/RSS/USS (KiB) and process counts per kind, per running dyno."""
    return {name: memory_by_kind(dyno.proc.pid, dyno.programs())
            for name, dyno in deployment.dynos.items() if dyno.proc.poll() is None}


def total_pss(table: Mapping[str, Mapping[str, int]]) -> int:
    return sum(row["pss"] for row in table.values())


def print_memory(title: str, snapshots: Mapping[str, Mapping[str, Any]]) -> None:
    """One table per dyno: a column per moment, a row per process kind (PSS MiB, processes)."""
    moments = list(snapshots)
    dynos = sorted({name for shot in snapshots.values() for name in shot})
    print(f"\n== {title}: PSS MiB per process kind (processes)")
    for dyno in dynos:
        kinds = sorted({kind for shot in snapshots.values() for kind in shot.get(dyno, {})})
        header = f"{dyno + ' dyno':<34}" + "".join(f"{m:>26}" for m in moments)
        print(header)
        for kind in kinds:
            cells = []
            for moment in moments:
                row = snapshots[moment].get(dyno, {}).get(kind)
                cells.append(f"{row['pss'] / 1024:>19.1f} ({row['procs']:>2})" if row
                             else f"{'—':>26}")
            print(f"  {kind:<32}" + "".join(cells))
        totals = []
        for moment in moments:
            table = snapshots[moment].get(dyno)
            procs = sum(r["procs"] for r in table.values()) if table else 0
            totals.append(f"{total_pss(table) / 1024:>19.1f} ({procs:>2})" if table
                          else f"{'—':>26}")
        print(f"  {'TOTAL (PSS of the tree)':<32}" + "".join(totals))


class PeakSampler(threading.Thread):
    """Samples every dyno's PSS total and the add-ons' connections until stopped; keeps the
    snapshot of each dyno's largest total."""

    def __init__(self, deployment: Deployment, every: float = 1.0) -> None:
        super().__init__(daemon=True)
        self.deployment, self.every = deployment, every
        self.stopping = threading.Event()
        self.peak: dict[str, dict[str, dict[str, int]]] = {}
        self.connections: dict[str, int] = {"redis upstream": 0, "postgres upstream": 0}

    def run(self) -> None:
        while not self.stopping.is_set():
            for name, table in snapshot(self.deployment).items():
                if total_pss(table) > total_pss(self.peak.get(name, {})):
                    self.peak[name] = table
            try:
                seen = self.deployment.connections()
            except Exception:
                seen = {}
            for key in self.connections:
                self.connections[key] = max(self.connections[key], int(seen.get(key, 0)))
            self.stopping.wait(self.every)

    def stop(self) -> None:
        self.stopping.set()
        self.join(30)


# --- what a user does --------------------------------------------------------------------------


def console_and_project(port: int) -> tuple[Api, Api]:
    """The console owner signs up and logs in, creates a team, a project and an API key: the
    console's own calls. Returns (console session, server with the key)."""
    console = Api(port)
    console.expect(201, "POST", "/account", {"userId": "unique()", "email": OWNER,
                                             "password": PASSWORD, "name": "Owner"})
    console.keep_session(console.call("POST", "/account/sessions/email",
                                      {"email": OWNER, "password": PASSWORD}))
    team = console.expect(201, "POST", "/teams", {"teamId": "unique()", "name": "Bench"})
    console.expect(201, "POST", "/projects", {"projectId": PROJECT, "name": "Bench",
                                              "teamId": team["$id"]})
    scopes = ["databases.read", "databases.write", "collections.read", "collections.write",
              "attributes.read", "attributes.write", "documents.read", "documents.write"]
    key = console.expect(201, "POST", f"/projects/{PROJECT}/keys",
                         {"keyId": "unique()", "name": "bench", "scopes": scopes})
    server = Api(port, project=PROJECT, key=key["secret"])
    server.expect(201, "POST", "/databases", {"databaseId": "main", "name": "Main"})
    server.expect(201, "POST", "/databases/main/collections",
                  {"collectionId": "notes", "name": "Notes", "permissions": ['read("any")']})
    return console, server


def attribute_latency(server: Api, key: str, dynos: tuple[Dyno, ...]) -> float:
    """Seconds from creating an attribute (the API queues a job on database_db_main) until the
    worker dyno's worker-databases has made it `available`."""
    path = "/databases/main/collections/notes/attributes"
    started = time.monotonic()
    server.expect(202, "POST", f"{path}/string", {"key": key, "size": 64, "required": False})
    wait_until(f"attribute {key} available",
               lambda: server.expect(200, "GET", f"{path}/{key}")["status"] == "available",
               timeout=120, every=0.05, dynos=dynos)
    return time.monotonic() - started


def load(console: Api, server: Api, requests: int, concurrency: int) -> dict[str, int]:
    """`requests` API calls at `concurrency`, a console and a project mix: session reads,
    document writes and reads. Returns status code counts."""
    port = console.port
    calls: list[Callable[[Api, Api], Any]] = [
        lambda c, s: c.call("GET", "/account"),
        lambda c, s: s.call("POST", "/databases/main/collections/notes/documents",
                            {"documentId": "unique()", "data": {"title": "load"}}),
        lambda c, s: s.call("GET", "/databases/main/collections/notes/documents"),
        lambda c, s: c.call("GET", f"/projects/{PROJECT}"),
    ]
    local = threading.local()

    def one(index: int) -> int:
        if not hasattr(local, "apis"):  # one keep-alive session per thread, as a browser has
            local.apis = (Api(port, cookie=console.cookie),
                          Api(port, project=PROJECT, key=server.key))
        return int(calls[index % len(calls)](*local.apis).status_code)

    counts: dict[str, int] = {}
    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        for status in pool.map(one, range(requests)):
            counts[str(status)] = counts.get(str(status), 0) + 1
    return counts


def queue_every_worker(deployment: Deployment, workers: Iterable[str]) -> dict[str, str]:
    """One job on every queue worker's list, as a publisher enqueues it (utopia-php/queue
    0.21.1 Broker/Redis.php:152-164). Its payload is empty: the worker boots, takes it, fails it
    (recorded in `{ns}.failed.{queue}`), as for any job it cannot do; what is measured is the
    worker's memory once it has taken a job. Returns entry point → queue."""
    queues = {worker: queue_of(worker) for worker in workers}
    for queue in queues.values():
        job = {"pid": uuid.uuid4().hex, "queue": queue, "timestamp": int(time.time()),
               "payload": {}}
        deployment.probe.lpush(f"{NAMESPACE}.queue.{queue}", json.dumps(job))
    return queues


def queues_drained(deployment: Deployment, queues: Iterable[str]) -> bool:
    return all(deployment.probe.llen(f"{NAMESPACE}.queue.{q}") == 0
               and deployment.probe.llen(f"{NAMESPACE}.processing.{q}") == 0 for q in queues)


def sigterm_all(deployment: Deployment) -> dict[str, tuple[int | None, float, int]]:
    """SIGTERM to every dyno at once, as Heroku stops an app's dynos: (status, seconds to
    exit, processes left behind) per dyno."""
    results: dict[str, tuple[int | None, float, int]] = {}

    def stop(name: str, dyno: Dyno) -> None:
        status, took, left = dyno.stop_timed(timeout=40)
        results[name] = (status, took, len(left))

    threads = [threading.Thread(target=stop, args=item) for item in deployment.dynos.items()
               if item[1].proc.poll() is None]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


# --- the run -----------------------------------------------------------------------------------


def programs_started(dyno: Dyno) -> list[str]:
    line = dyno.wait_for_line(f"role {dyno.role}: starting ", timeout=120)
    return line.split("starting ", 1)[1].split(", ")


def wait_running(dyno: Dyno, timeout: float) -> float:
    """Seconds from exec until supervisord reports every program RUNNING (always-on ones)."""
    programs = programs_started(dyno)

    def running() -> bool:
        return all(f"success: {name} entered RUNNING" in dyno.output
                   or ("queues: " in dyno.output and name.startswith("worker-"))
                   for name in programs)

    wait_until(f"the {dyno.name} dyno's programs RUNNING", running, timeout, dynos=(dyno,))
    return time.monotonic() - dyno.started


def boot(deployment: Deployment, queue_extra: dict[str, str]) -> dict[str, float]:
    """Release phase, then both dynos at once, as Heroku starts them after a release."""
    figures: dict[str, float] = {}
    release = deployment.start("release", "release", WEB_MEMORY)
    if release.wait(timeout=180) != 0:
        raise SystemExit(f"release phase failed:\n{release.tail(40)}")
    figures["release phase, exec → exit"] = time.monotonic() - release.started
    del deployment.dynos["release"]
    web = deployment.start("web", "web", WEB_MEMORY, PORT=str(deployment.port))
    worker = deployment.start("worker", "worker", deployment.worker_memory, **queue_extra)
    api = Api(deployment.port)
    wait_until("$PORT accepting", lambda: _accepting(deployment.port), 60, every=0.01,
               dynos=(web,))
    figures["web: exec → $PORT accepting"] = time.monotonic() - web.started
    wait_until("GET /v1/health/version", lambda: api.call("GET", "/health/version").ok, 90,
               every=0.05, dynos=(web,))
    figures["web: exec → first 200 (health) through $PORT"] = time.monotonic() - web.started
    figures["worker: exec → programs RUNNING"] = wait_running(worker, 120)
    return figures


def _accepting(port: int) -> bool:
    import socket

    with socket.socket() as probe:
        probe.settimeout(0.05)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def queue_workers(dyno: Dyno) -> list[str]:
    """The queue workers the worker dyno runs, always or on demand, from the launcher's lines
    (`queue workers and schedulers: …`, or `… always on: …` and `… on demand (…): …`)."""
    dyno.wait_for_line("[launcher] queue workers")
    names: list[str] = []
    for line in dyno.lines:
        if line.startswith("[launcher] queue workers"):
            names += [n for n in line.rsplit(": ", 1)[1].split(", ") if n.startswith("worker-")]
    return names


def measure(deployment: Deployment, args: argparse.Namespace) -> dict[str, Any]:
    """Rest, cold/warm queue, load, every queue busy: snapshots and figures."""
    out: dict[str, Any] = {"memory": {}, "connections": {}, "figures": {}}
    web, worker = deployment.dynos["web"], deployment.dynos["worker"]
    time.sleep(args.settle)  # a measurement window, not a wait for an event: "at rest"
    out["memory"]["at rest"] = snapshot(deployment)
    out["connections"]["at rest"] = deployment.connections()
    console, server = console_and_project(deployment.port)
    running = {kind for kind, _ in classify(worker.proc.pid, worker.programs())}
    state = "stopped: cold" if "queue databases" not in running else "running: warm"
    out["figures"][f"1st attribute job, worker-databases {state}, request → available (s)"] = \
        attribute_latency(server, "title", (web, worker))
    out["figures"]["2nd attribute job, worker-databases running, request → available (s)"] = \
        attribute_latency(server, "body", (web, worker))
    started = time.monotonic()
    out["figures"]["load status codes"] = load(console, server, args.requests,
                                               args.concurrency)
    out["figures"]["load wall time (s)"] = time.monotonic() - started
    time.sleep(5)  # the same window after the load
    out["memory"]["after load"] = snapshot(deployment)
    out["connections"]["after load"] = deployment.connections()
    sampler = PeakSampler(deployment)
    sampler.start()
    queues = queue_every_worker(deployment, queue_workers(worker))
    started = time.monotonic()
    wait_until("every queue drained", lambda: queues_drained(deployment, queues.values()),
               180, every=0.2, dynos=(web, worker))
    out["figures"]["every queue given a job → all taken (s)"] = time.monotonic() - started
    time.sleep(args.busy_hold)
    sampler.stop()
    out["memory"]["every queue busy (peak)"] = sampler.peak
    out["connections"]["every queue busy (peak upstream)"] = sampler.connections
    out["figures"]["queue workers running at the peak"] = sum(
        1 for kind in sampler.peak.get("worker", {}) if kind.startswith("queue "))
    return out


def report(boot_figures: Mapping[str, float], measured: Mapping[str, Any],
           stops: Mapping[str, tuple[int | None, float, int]], deployment: Deployment,
           mode: str) -> None:
    print(f"real Appwrite 1.9.6 under the launcher; queue workers: {mode}; "
          f"Redis maxclients {REDIS_MAXCLIENTS} (+1 for this probe), Postgres role limit "
          f"{DB_CONNECTIONS}; web cgroup {WEB_MEMORY >> 20} MiB, worker "
          f"{deployment.worker_memory >> 20} MiB")
    for name, dyno in deployment.dynos.items():
        line = next((ln for ln in dyno.lines if "[launcher] sizing:" in ln), "")
        print(f"model, {name}: {line.split('sizing: ', 1)[-1]}")
    print("\n== boot")
    for key, value in boot_figures.items():
        print(f"  {key}: {value:.2f} s")
    print_memory("memory", measured["memory"])
    print("\n== connections (upstream = what the add-on counts)")
    for moment, seen in measured["connections"].items():
        print(f"  {moment}: {json.dumps(seen)}")
    print("\n== figures")
    for key, value in measured["figures"].items():
        print(f"  {key}: {value if not isinstance(value, float) else round(value, 2)}")
    print("\n== SIGTERM → exit (all dynos at once)")
    for name, (status, took, left) in stops.items():
        print(f"  {name}: {took:.1f} s, exit status {status}, processes left {left}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settle", type=float, default=20,
                        help="seconds after boot (and 5 after the load) before measuring")
    parser.add_argument("--requests", type=int, default=240)
    parser.add_argument("--concurrency", type=int, default=6)
    parser.add_argument("--busy-hold", type=float, default=5,
                        help="seconds to keep sampling once every queue's job is taken")
    parser.add_argument("--queue-mode", choices=("on-demand", "always-on"), default=None,
                        help="with on-demand queue workers in the launcher (default: its own)")
    parser.add_argument("--worker-mib", type=int, default=WORKER_MEMORY >> 20,
                        help="the worker dyno's cgroup limit (default: app.json's worker size)")
    args = parser.parse_args()
    reason = unavailable()
    if reason is not None:
        print(f"not run: {reason}")
        return 0
    feature = queue_feature()
    queue_extra: dict[str, str] = {}
    mode = "every queue worker always on (this launcher has no on-demand mode)"
    if feature is not None:
        chosen = args.queue_mode or feature.ON_DEMAND
        queue_extra[feature.MODE_VAR] = chosen
        mode = chosen
    elif args.queue_mode == "on-demand":
        print("note: --queue-mode on-demand ignored: the launcher has no on-demand queue workers")
    with tempfile.TemporaryDirectory(prefix="bench-real-appwrite-") as temp:
        return run(Path(temp), args, queue_extra, mode)


def run(work: Path, args: argparse.Namespace, queue_extra: dict[str, str], mode: str) -> int:
    postgres = start_postgresql()
    redis = start_redis(work / "redis", tls=True, username="h", password=CANARY_REDIS_PASSWORD,
                        maxclients=REDIS_MAXCLIENTS + 1)
    account = create_heroku_postgres_account(postgres, password=CANARY_DB_PASSWORD,
                                             connection_limit=DB_CONNECTIONS)
    # No _APP_STORAGE_LIMIT: the Lite's own default (the installer's 30000000) applies.
    deployment = Deployment(work, prepare_tree(work), postgres, account, redis,
                            redis.client(single_connection_client=True),
                            free_port(), {}, worker_memory=args.worker_mib << 20)
    try:
        figures = boot(deployment, queue_extra)
        measured = measure(deployment, args)
        stops = sigterm_all(deployment)
        report(figures, measured, stops, deployment, mode)
        return 0
    except (AssertionError, SystemExit) as error:
        print(f"failed: {str(error)[:2000]}")
        for name, dyno in deployment.dynos.items():
            print(f"--- {name} dyno, last 40 lines ---\n{dyno.tail(40)}")
        return 1
    finally:
        for dyno in deployment.dynos.values():
            dyno.kill_session()
        redis.stop()
        postgres.stop()


if __name__ == "__main__":
    raise SystemExit(main())
