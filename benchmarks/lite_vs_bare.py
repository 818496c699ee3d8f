"""What the web dyno costs Appwrite: the real Appwrite 1.9.6 under the launcher against bare
`php app/http.php` with the same knobs, one after the other in one run (issue 18). Both stay up
and each step runs on one, then on the other (`--rounds N` repeats that), so that whatever else
the shared machine runs weighs on both alike.

(a) Lite: `appwrite-heroku launch web` (nginx on `$PORT`, the multiplexed Redis bridge to a TLS
Redis with an ACL user and `maxclients 20`, PgBouncer to a TLS PostgreSQL whose owner takes 20
connections, the launcher's own sizing) after the release phase, as `tests/real_lite.py` runs it.
(b) Bare: the same patched tree's `php app/http.php` with the environment the Lite's API master
really got (read from /proc: every `_APP_*` value, the sizing knobs included), only Redis, the
database and `PORT` replaced: a plain local redis-server, and the same PostgreSQL server directly
(its own database and owner; libpq's default sslmode, so TLS as on Heroku, without PgBouncer).
Both run the Lite's patched copy of the tree (dyno/patches.py): with the Lite's settings
(`_APP_RISKY_WORKERS_PERCENT=100`) Appwrite 1.9.6's own dispatcher drops requests once the app's
domain is synced (see the dispatcher patch), bare or not. Every request carries `Host` on its
second line, as nginx and Heroku's router send it (what that dispatcher reads).

Each target gets one project, database and collection (a string attribute, made available by
one `php app/worker.php databases` run during set-up only) and 100 documents, then a 5 s warm-up
and steps of `--seconds` at each concurrency: 60 % get a document, 20 % list documents, 20 %
create one, with an API key and the headers Heroku's router sends. The load generator is `wrk`
(C, one thread, the mix in a Lua script; Debian's package, .ci/run installs it): on a 2-CPU
machine shared with Appwrite, a Python generator's own CPU would take a third of a core at these
rates and bend the figures; wrk's CPU is printed beside the rest. No queue worker runs during
the load (the jobs the API queues wait in Redis), for either target.

Printed per step: requests/s, p50/p95/p99, errors (any non-2xx answer and socket error, by
status), CPU per process group (cores: CPU seconds / wall seconds) and how busy the whole machine
was; then the Lite/bare ratios, and memory (PSS) per process kind after the load.

`--sweep 2,3,4,6,8`: the Lite alone, its web dyno restarted with each API worker count
(`_APP_CPU_NUM=1`, `_APP_WORKER_PER_CORE=N`, set as a user would; the launcher keeps them), steps
at `--sweep-concurrency` (16,48), after a broad warm-up (every worker serves console and server
reads and writes): throughput, p95/p99, errors, each API worker's own memory (USS: what the
budget's MEMORY_MIB["api-worker"] counts), the API server's PSS less its workers' USS
(MEMORY_MIB["api-master"]), the dyno's PSS, the add-ons' connections at their peak. The knee is
where more workers stop adding throughput or start hurting p99.

    python3 benchmarks/lite_vs_bare.py [--seconds 20] [--steps 4,16,48]
    python3 benchmarks/lite_vs_bare.py --sweep 2,3,4,6,8 [--sweep-concurrency 16,48]
    python3 benchmarks/lite_vs_bare.py --count [--steps 4] [--seconds 10]

`--count`: what one request makes the parts do, on each target in turn: the Redis commands its
server saw (MONITOR), by name, per request; then the API workers' system calls per request
(strace -c, which slows them: a count, not a timing); and which API environment variables
differ between the two (names only).

Where the real Appwrite or wrk is absent it says why and exits 0.
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import contextlib
import json
import os
import resource
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import harness  # noqa: F401  (puts tests/ and the Appwrite stand-in on sys.path)
from real_appwrite import PROJECT, console_and_project

from helpers import CANARY_DB_PASSWORD, CANARY_REDIS_PASSWORD
from real_lite import (
    DB_CONNECTIONS,
    PHP,
    REDIS_MAXCLIENTS,
    ROUTER_HEADERS,
    WEB_MEMORY,
    Api,
    Dyno,
    classify,
    dyno_env,
    memory_by_kind,
    memory_kib,
    postgres_backends,
    prepare_tree,
    redis_clients,
    tree_pids,
    unavailable,
    wait_until,
)
from services import (
    create_heroku_postgres_account,
    free_port,
    start_postgresql,
    start_redis,
)

DOCUMENTS = 100
COLLECTION = "/databases/main/collections/notes"
WARMUP_SECONDS = 5
TICKS = os.sysconf("SC_CLK_TCK")
MIB = 1024


# --- the load: wrk and its Lua script ------------------------------------------------------------

LUA = r"""
local ids = {@IDS@}
local base = "/v1@COLLECTION@/documents"
local body = '{"documentId":"unique()","data":{"title":"load"}}'
local headers = "@HEADERS@"
local threads = {}
local function raw(method, path, payload)
  local length = payload and ("Content-Length: " .. #payload .. "\r\n") or ""
  return method .. " " .. path .. " HTTP/1.1\r\n" .. headers .. length .. "\r\n" .. (payload or "")
end
function setup(thread) table.insert(threads, thread) end
function init(args) codes = {}; math.randomseed(42) end
function request()
  local r = math.random(100)
  if r <= 60 then return raw("GET", base .. "/" .. ids[math.random(#ids)]) end
  if r <= 80 then return raw("GET", base) end
  return raw("POST", base, body)
end
function response(status, headers, body)
  local k = tostring(status)
  codes[k] = (codes[k] or 0) + 1
end
function done(summary, latency, requests)
  local all, parts = {}, {}
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("codes")) do all[k] = (all[k] or 0) + v end
  end
  for k, v in pairs(all) do parts[#parts + 1] = string.format('"%s":%d', k, v) end
  local e = summary.errors
  io.write(string.format('WRK {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,' ..
    '"write":%d,"timeout":%d,"p50":%d,"p95":%d,"p99":%d,"max":%d,"codes":{%s}}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max,
    table.concat(parts, ",")))
end
"""


def lua_script(ids: list[str], key: str) -> str:
    """The request mix for wrk, each request written out with `Host` on its second line as
    nginx and Heroku's router send it (Appwrite's dispatcher reads the Host there:
    app/http.php:116-121; wrk's own formatter orders headers at random), then the router's
    headers and the key."""
    headers = {**ROUTER_HEADERS, "X-Appwrite-Project": PROJECT, "X-Appwrite-Key": key,
               "Content-Type": "application/json"}
    ordered = [("Host", headers.pop("Host")), *headers.items()]
    text = "".join(f"{name}: {value}\\r\\n" for name, value in ordered)
    return (LUA.replace("@IDS@", ",".join(f'"{i}"' for i in ids))
            .replace("@COLLECTION@", COLLECTION).replace("@HEADERS@", text))


@dataclass
class Result:
    """One step's figures (latencies in ms), CPU in cores per process group."""

    concurrency: int
    seconds: float
    requests: int
    p50: float
    p95: float
    p99: float
    codes: dict[str, int]
    socket_errors: int
    cpu: dict[str, float] = field(default_factory=dict)
    machine_busy: float = 0.0

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def errors(self) -> int:
        return self.socket_errors + sum(n for code, n in self.codes.items()
                                        if not code.startswith("2"))


def run_wrk(port: int, script: Path, concurrency: int, seconds: float) -> tuple[Result, float]:
    """One step of wrk (one thread); its result and its own CPU seconds."""
    command = ["wrk", "-t1", f"-c{concurrency}", f"-d{seconds:g}s", "--timeout", "30s",
               "-s", str(script), f"http://127.0.0.1:{port}"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(command, capture_output=True, timeout=seconds + 60).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    text = out.decode(errors="replace")
    line = next((ln for ln in text.splitlines() if ln.startswith("WRK ")), None)
    if line is None:
        raise SystemExit(f"wrk printed no summary:\n{text[-2000:]}")
    data = json.loads(line[4:])
    errors = data["connect"] + data["read"] + data["write"] + data["timeout"]
    result = Result(concurrency, data["duration_us"] / 1e6, data["requests"],
                    data["p50"] / 1000, data["p95"] / 1000, data["p99"] / 1000,
                    {str(k): int(v) for k, v in data["codes"].items()}, errors)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return result, cpu


# --- CPU and memory of what a target runs ---------------------------------------------------------


def ticks(pid: int) -> int:
    """utime + stime of one process, clock ticks."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0
    return int(fields[11]) + int(fields[12])


def machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


Groups = Callable[[], dict[str, list[int]]]


class CpuMeter:
    """CPU of each process group between `start` and `stop` (pids looked up at both)."""

    def __init__(self, groups: Groups) -> None:
        self.groups = groups
        self.before: dict[int, int] = {}
        self.machine = (0, 0)

    def start(self) -> None:
        self.before = {pid: ticks(pid) for pids in self.groups().values() for pid in pids}
        self.machine = machine_ticks()

    def stop(self, seconds: float) -> tuple[dict[str, float], float]:
        cores = {}
        for group, pids in self.groups().items():
            used = sum(ticks(pid) - self.before.get(pid, 0) for pid in pids)
            cores[group] = used / TICKS / seconds
        busy, total = machine_ticks()
        share = (busy - self.machine[0]) / max(1, total - self.machine[1])
        return cores, share


def lite_group(kind: str) -> str:
    if kind.startswith("api"):
        return "appwrite api"
    if kind.startswith("realtime"):
        return "appwrite realtime"
    return kind if kind in ("launcher+bridge", "nginx", "pgbouncer", "supervisord") else "other"


# --- the two targets -----------------------------------------------------------------------------


@dataclass
class Services:
    """The add-ons and the patched tree both targets share (each its own database and Redis)."""

    work: Path
    tree: Any
    postgres: Any
    stack: contextlib.ExitStack

    def service_groups(self, redis_pid: int) -> dict[str, list[int]]:
        pg = self.postgres.proc.pid if self.postgres.proc else 0
        return {"redis-server": [redis_pid], "postgres": tree_pids(pg)[1:]}


class Target:
    """Something serving Appwrite's API on `port`; subclasses start and stop it."""

    name = "?"
    port = 0

    def groups(self) -> dict[str, list[int]]:
        raise NotImplementedError

    def api_environ(self) -> dict[str, str]:
        raise NotImplementedError

    def api_workers(self) -> list[int]:
        raise NotImplementedError

    def memory(self) -> dict[str, dict[str, int]]:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError


class Lite(Target):
    """The web dyno (after a release phase on the first boot) on Heroku-shaped add-ons."""

    name = "Lite"

    def __init__(self, services: Services, account: Any, redis: Any, **extra: str) -> None:
        self.services, self.account, self.redis = services, account, redis
        self.port = free_port()
        addons = {"DATABASE_URL": account.url, "REDIS_URL": redis.url}
        self.env = dyno_env(services.tree, services.work, memory=WEB_MEMORY, addons=addons,
                            bridge_port=free_port(), PORT=str(self.port), **extra)
        self.dyno = Dyno("web", self.env, name="web")
        wait_until("the web dyno's first 200 through $PORT",
                   lambda: Api(self.port).call("GET", "/health/version").ok, 120,
                   every=0.1, dynos=(self.dyno,))

    def sizing(self) -> str:
        line = next((ln for ln in self.dyno.lines if "[launcher] sizing:" in ln), "")
        return line.split("sizing: ", 1)[-1]

    def kinds(self) -> list[tuple[str, int]]:
        return classify(self.dyno.proc.pid, self.dyno.programs())

    def groups(self) -> dict[str, list[int]]:
        found: dict[str, list[int]] = {}
        for kind, pid in self.kinds():
            found.setdefault(lite_group(kind), []).append(pid)
        redis_pid = self.redis.proc.pid if self.redis.proc else 0
        return {**found, **self.services.service_groups(redis_pid)}

    def api_environ(self) -> dict[str, str]:
        master = next(pid for kind, pid in self.kinds() if kind == "api master")
        return read_environ(master)

    def api_workers(self) -> list[int]:
        return [pid for kind, pid in self.kinds() if kind == "api worker"]

    def memory(self) -> dict[str, dict[str, int]]:
        return memory_by_kind(self.dyno.proc.pid, self.dyno.programs())

    def stop(self) -> None:
        self.dyno.stop_timed(timeout=40)


def release_phase(services: Services, account: Any, redis: Any) -> None:
    addons = {"DATABASE_URL": account.url, "REDIS_URL": redis.url}
    env = dyno_env(services.tree, services.work, memory=WEB_MEMORY, addons=addons,
                   bridge_port=free_port())
    release = Dyno("release", env, name="release")
    if release.wait(timeout=180) != 0:
        raise SystemExit(f"release phase failed:\n{release.tail(40)}")


def read_environ(pid: int) -> dict[str, str]:
    """A process's environment (it holds secrets: never printed)."""
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    pairs = (item.decode(errors="replace").partition("=") for item in raw if b"=" in item)
    return {key: value for key, _, value in pairs}


class Bare(Target):
    """`php app/http.php` with the Lite API's own environment, Redis and database swapped for a
    plain local Redis and the PostgreSQL server directly."""

    name = "bare"

    def __init__(self, services: Services, lite_env: Mapping[str, str], account: Any,
                 redis: Any) -> None:
        self.services, self.redis = services, redis
        self.port = free_port()
        env = {k: v for k, v in lite_env.items() if not k.startswith("SUPERVISOR_")}
        env.update({
            "PORT": str(self.port),
            "_APP_REDIS_HOST": "127.0.0.1", "_APP_REDIS_PORT": str(redis.port),
            "_APP_REDIS_USER": "", "_APP_REDIS_PASS": "",
            "_APP_DB_HOST": "127.0.0.1", "_APP_DB_PORT": str(services.postgres.port),
            "_APP_DB_USER": account.user, "_APP_DB_PASS": account.password,
            "_APP_DB_SCHEMA": account.database,
        })
        self.env = env
        log = (services.work / "bare-http.log").open("ab")
        self.proc = subprocess.Popen([str(PHP), "app/http.php"], cwd=services.tree.code_dir,
                                     env=env, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        wait_until("bare http.php's first 200", lambda: self._healthy(), 120, every=0.1)

    def _healthy(self) -> bool:
        if self.proc.poll() is not None:
            raise SystemExit(f"bare http.php exited ({self.proc.returncode}): see "
                             f"{self.services.work / 'bare-http.log'}")
        return Api(self.port).call("GET", "/health/version").ok

    def groups(self) -> dict[str, list[int]]:
        return {"appwrite api": tree_pids(self.proc.pid),
                **self.services.service_groups(self.redis.proc.pid if self.redis.proc else 0)}

    def api_environ(self) -> dict[str, str]:
        return dict(self.env)

    def api_workers(self) -> list[int]:
        # Master, manager, task worker (forked first), then the event workers (see classify).
        return [int(pid) for pid in tree_pids(self.proc.pid)[3:]]

    def memory(self) -> dict[str, dict[str, int]]:
        table: dict[str, dict[str, int]] = {}
        for index, pid in enumerate(tree_pids(self.proc.pid)):
            kind = "api master" if index == 0 else "api process"
            row = table.setdefault(kind, {"procs": 0, "rss": 0, "pss": 0, "uss": 0})
            row["procs"] += 1
            for key, value in memory_kib(pid).items():
                row[key] += value
        return table

    def stop(self) -> None:
        stop_group(self.proc)


def stop_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to a process group this script started, then SIGKILL after 20 s."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


# --- set-up of one target ------------------------------------------------------------------------


@contextlib.contextmanager
def databases_worker(target: Target, tree: Any, work: Path) -> Iterator[None]:
    """One `php app/worker.php databases` with the target's API environment, for the set-up's
    attribute job only."""
    env = {k: v for k, v in target.api_environ().items() if not k.startswith("SUPERVISOR_")}
    log = (work / f"{target.name}-worker.log").open("ab")
    proc = subprocess.Popen([str(PHP), "app/worker.php", "databases"], cwd=tree.code_dir,
                            env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        yield
    finally:
        stop_group(proc)


@dataclass
class Prepared:
    """What set-up made: the console session, the API key, the documents, the wrk script."""

    console: Api
    key: str
    ids: list[str]
    script: Path


def set_up(target: Target, services: Services) -> Prepared:
    """Project, key, database, collection with a `title` attribute, 100 documents."""
    console, server = console_and_project(target.port)
    path = f"{COLLECTION}/attributes"
    with databases_worker(target, services.tree, services.work):
        server.expect(202, "POST", f"{path}/string", {"key": "title", "size": 64,
                                                      "required": False})
        wait_until("the title attribute available",
                   lambda: server.expect(200, "GET", f"{path}/title")["status"] == "available",
                   timeout=120, every=0.1)
    ids = [server.expect(201, "POST", f"{COLLECTION}/documents",
                         {"documentId": "unique()", "data": {"title": f"doc {n}"}})["$id"]
           for n in range(DOCUMENTS)]
    assert server.key is not None
    script = services.work / f"mix-{target.name}.lua"
    script.write_text(lua_script(ids, server.key))
    return Prepared(console, server.key, ids, script)


# What the console and a server do besides the document mix: every API worker that has served
# these holds their code paths' memory (the broad warm-up of the sweep, before memory is read).
CONSOLE_CALLS = ("/account", "/teams", "/projects", f"/projects/{PROJECT}",
                 f"/projects/{PROJECT}/keys")
SERVER_CALLS = ("/databases", "/databases/main", f"{COLLECTION}", f"{COLLECTION}/attributes",
                f"{COLLECTION}/indexes", f"{COLLECTION}/documents")


def broad_warm_up(port: int, prepared: Prepared, workers: int, passes: int = 4) -> None:
    """Every console and server call above and a team, a key and a collection created,
    2 x `workers` at once, `passes` times: Appwrite's
    dispatcher hands each to an idle worker, so every worker serves most of them. Any answer
    but the expected one fails the run."""
    local = threading.local()

    def calls(index: int) -> None:
        if not hasattr(local, "apis"):
            local.apis = (Api(port, cookie=prepared.console.cookie),
                          Api(port, project=PROJECT, key=prepared.key))
        console, server = local.apis
        for path in CONSOLE_CALLS:
            console.expect(200, "GET", path)
        for path in SERVER_CALLS:
            server.expect(200, "GET", path)
        server.expect(201, "POST", f"{COLLECTION}/documents",
                      {"documentId": "unique()", "data": {"title": "warm"}})
        # What the console writes besides sign-up and project creation (once per app).
        console.expect(201, "POST", "/teams", {"teamId": "unique()", "name": "Warm"})
        console.expect(201, "POST", f"/projects/{PROJECT}/keys",
                       {"keyId": "unique()", "name": "warm", "scopes": ["databases.read"]})
        server.expect(201, "POST", "/databases/main/collections",
                      {"collectionId": "unique()", "name": "Warm"})

    with concurrent.futures.ThreadPoolExecutor(2 * workers) as pool:
        list(pool.map(calls, range(2 * workers * passes)))


def one_step(target: Target, script: Path, concurrency: int, seconds: float) -> Result:
    """One wrk run with the CPU of the target's process groups over it."""
    meter = CpuMeter(target.groups)
    meter.start()
    result, wrk_cpu = run_wrk(target.port, script, concurrency, seconds)
    result.cpu, result.machine_busy = meter.stop(result.seconds)
    result.cpu["wrk"] = wrk_cpu / result.seconds
    print(f"  {target.name} c{concurrency}: {result.rate:.1f} req/s, p95 {result.p95:.0f} ms, "
          f"errors {result.errors} {result.codes}, machine {result.machine_busy:.0%}",
          flush=True)
    return result


def merged(results: list[Result]) -> Result:
    """Rounds of one step as one: requests, time and answers summed, each percentile the
    median of the rounds', CPU averaged over the time."""
    def median(values: list[float]) -> float:
        return sorted(values)[len(values) // 2]

    seconds = sum(r.seconds for r in results)
    codes: dict[str, int] = {}
    for r in results:
        for code, n in r.codes.items():
            codes[code] = codes.get(code, 0) + n
    cpu = {g: sum(r.cpu.get(g, 0) * r.seconds for r in results) / seconds
           for g in {g for r in results for g in r.cpu}}
    return Result(results[0].concurrency, seconds, sum(r.requests for r in results),
                  median([r.p50 for r in results]), median([r.p95 for r in results]),
                  median([r.p99 for r in results]), codes,
                  sum(r.socket_errors for r in results), cpu,
                  sum(r.machine_busy * r.seconds for r in results) / seconds)


def load_steps(targets: list[tuple[Target, Path]], steps: list[int], seconds: float,
               rounds: int = 1) -> dict[str, list[Result]]:
    """A warm-up of each target (not counted), then each step on every target in turn, so
    that whatever else the machine runs weighs on all of them alike; `rounds` times."""
    for target, script in targets:
        run_wrk(target.port, script, steps[0], WARMUP_SECONDS)
    found: dict[str, dict[int, list[Result]]] = {t.name: {c: [] for c in steps}
                                                 for t, _ in targets}
    for _ in range(rounds):
        for concurrency in steps:
            for target, script in targets:
                found[target.name][concurrency].append(
                    one_step(target, script, concurrency, seconds))
    return {name: [merged(by_step[c]) for c in steps] for name, by_step in found.items()}


# --- output --------------------------------------------------------------------------------------


def codes_text(result: Result) -> str:
    bad = {c: n for c, n in sorted(result.codes.items()) if not c.startswith("2")}
    parts = [f"{n}x{c}" for c, n in bad.items()]
    if result.socket_errors:
        parts.append(f"{result.socket_errors} socket")
    return ", ".join(parts) or "0"


def print_steps(name: str, results: list[Result]) -> None:
    print(f"\n== {name}")
    print(f"  {'c':>3} {'req/s':>8} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'requests':>9} "
          f"{'errors':>8}  machine busy")
    for r in results:
        print(f"  {r.concurrency:>3} {r.rate:>8.1f} {r.p50:>7.1f} {r.p95:>7.1f} {r.p99:>7.1f} "
              f"{r.requests:>9} {codes_text(r):>8}  {r.machine_busy:.0%}")
    groups = sorted({g for r in results for g in r.cpu}, key=lambda g: -max(
        r.cpu.get(g, 0) for r in results))
    print("  CPU, cores (CPU s / wall s), and ms of CPU per request:")
    for group in groups:
        cells = "".join(f"  c{r.concurrency}: {r.cpu.get(group, 0):.2f} "
                        f"({1000 * r.cpu.get(group, 0) / max(r.rate, 0.001):.2f} ms)"
                        for r in results)
        print(f"    {group:<18}{cells}")


def print_ratios(lite: list[Result], bare: list[Result]) -> None:
    print("\n== Lite / bare")
    print("| concurrency | Lite req/s | bare req/s | ratio | Lite p50 | bare p50 | Lite p95 | "
          "bare p95 | p95 ratio | Lite p99 | bare p99 | errors Lite / bare |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for a, b in zip(lite, bare, strict=True):
        print(f"| {a.concurrency} | {a.rate:.0f} | {b.rate:.0f} | {a.rate / b.rate:.2f}x | "
              f"{a.p50:.0f} ms | {b.p50:.0f} ms | {a.p95:.0f} ms | {b.p95:.0f} ms | "
              f"{a.p95 / b.p95:.2f}x | {a.p99:.0f} ms | {b.p99:.0f} ms | "
              f"{a.errors} / {b.errors} |")


def print_memory(name: str, table: Mapping[str, Mapping[str, int]]) -> None:
    total = sum(row["pss"] for row in table.values())
    print(f"\n== {name}: PSS MiB after the load (processes), total {total / MIB:.1f}")
    for kind, row in sorted(table.items()):
        print(f"  {kind:<26} {row['pss'] / MIB:>7.1f} ({row['procs']}), USS "
              f"{row['uss'] / MIB:.1f}")


# --- the runs ------------------------------------------------------------------------------------


def redis_for_lite(work: Path) -> Any:
    return start_redis(work / "redis-lite", tls=True, username="h",
                       password=CANARY_REDIS_PASSWORD, maxclients=REDIS_MAXCLIENTS + 1)


def account_for(services: Services, limit: int = DB_CONNECTIONS) -> Any:
    return create_heroku_postgres_account(services.postgres, password=CANARY_DB_PASSWORD,
                                          connection_limit=limit)


def compare(services: Services, args: argparse.Namespace) -> None:
    """Lite and bare side by side, each step on one then the other."""
    steps = [int(s) for s in args.steps.split(",")]
    redis = services.stack.enter_context(stopping(redis_for_lite(services.work)))
    account = account_for(services)
    release_phase(services, account, redis)
    lite = Lite(services, account, redis, **dict(args.env))
    services.stack.callback(lite.stop)
    print(f"Lite sizing: {lite.sizing()}")
    environ = lite.api_environ()
    plain = services.stack.enter_context(stopping(start_redis(services.work / "redis-bare")))
    bare = Bare(services, environ, account_for(services, limit=-1), plain)
    services.stack.callback(bare.stop)
    targets = [(target, set_up(target, services).script) for target in (lite, bare)]
    results = load_steps(targets, steps, args.seconds, args.rounds)
    knobs = " ".join(f"{k}={environ[k]}" for k in sorted(environ) if k in (
        "_APP_CPU_NUM", "_APP_WORKER_PER_CORE", "_APP_CONNECTIONS_MAX", "_APP_WORKERS_NUM",
        "_APP_WORKER_MAX_COROUTINES", "_APP_POOL_CLIENTS"))
    print(f"\nboth targets: {knobs}; {args.rounds} x {args.seconds:g} s per step, wrk -t1, "
          "60 % get, 20 % list, 20 % create")
    print_steps("Lite: the web dyno", results[lite.name])
    print_steps("bare: php app/http.php", results[bare.name])
    print_ratios(results[lite.name], results[bare.name])
    print_memory("Lite", lite.memory())
    print_memory("bare", bare.memory())


# --- --count: what one API request makes each part do ------------------------------------------


def redis_commands(redis: Any, port: int, script: Path, concurrency: int,
                   seconds: float) -> tuple[int, collections.Counter[str]]:
    """Requests served and the Redis commands the server saw meanwhile (MONITOR), by name."""
    names: collections.Counter[str] = collections.Counter()
    done = threading.Event()

    def watch() -> None:
        with redis.client().monitor() as monitor:
            for event in monitor.listen():
                if done.is_set():
                    return
                names[event["command"].split(" ", 1)[0].upper()] += 1

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    wait_until("MONITOR listening",
               lambda: redis_clients(redis.client()).get("monitor", 0) >= 1, 10, every=0.05)
    result, _ = run_wrk(port, script, concurrency, seconds)
    done.set()
    redis.client().ping()  # an event, so that the watcher sees `done`
    watcher.join(timeout=10)
    return result.requests, names


def syscalls(pids: list[int], port: int, script: Path, concurrency: int,
             seconds: float) -> tuple[int, dict[str, tuple[int, int]]]:
    """Requests served and the system calls of `pids` meanwhile (strace -c): name → (calls,
    errors). strace slows what it traces: count, do not time, with it."""
    handle, name = tempfile.mkstemp(prefix="strace-", suffix=".txt")
    os.close(handle)
    out = Path(name)
    command = ["strace", "-c", "-f", "-o", str(out), *(f"-p{pid}" for pid in pids)]
    tracer = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_until("strace attached", lambda: all(
        f"TracerPid:\t{tracer.pid}" in Path(f"/proc/{pid}/status").read_text()
        for pid in pids), 10, every=0.05)
    result, _ = run_wrk(port, script, concurrency, seconds)
    tracer.send_signal(signal.SIGINT)
    tracer.wait(timeout=30)
    table: dict[str, tuple[int, int]] = {}
    for line in out.read_text().splitlines():
        parts = line.split()
        if len(parts) >= 5 and parts[0][0].isdigit() and parts[-1] != "total":
            errors = int(parts[4]) if len(parts) == 6 else 0
            table[parts[-1]] = (int(parts[3]), errors)
    out.unlink()
    return result.requests, table


def print_counts(target: Target, redis: Any, script: Path, args: argparse.Namespace) -> None:
    concurrency = int(args.steps.split(",")[0])
    requests, names = redis_commands(redis, target.port, script, concurrency, args.seconds)
    total = sum(names.values())
    print(f"\n== {target.name}, c{concurrency}: {total / requests:.2f} Redis commands per "
          f"request ({requests} requests)")
    print("    " + ", ".join(f"{n} {c / requests:.2f}" for n, c in names.most_common()))
    if shutil.which("strace") is None:
        print("    (no strace: system calls not counted)")
        return
    requests, table = syscalls(target.api_workers(), target.port, script, concurrency,
                               args.seconds)
    calls = sum(c for c, _ in table.values())
    print(f"  the API workers' system calls: {calls / requests:.1f} per request ({requests} "
          "requests, under strace)")
    ordered = sorted(table.items(), key=lambda item: -item[1][0])
    print("    " + ", ".join(f"{n} {c / requests:.1f}" + (f" ({e / requests:.1f} failed)" if e
                                                           else "") for n, (c, e) in ordered
                             if c / requests >= 0.5))


def count(services: Services, args: argparse.Namespace) -> None:
    """Redis commands and the API workers' system calls per request, Lite then bare."""
    redis = services.stack.enter_context(stopping(redis_for_lite(services.work)))
    account = account_for(services)
    release_phase(services, account, redis)
    lite = Lite(services, account, redis, **dict(args.env))
    services.stack.callback(lite.stop)
    environ = lite.api_environ()
    plain = services.stack.enter_context(stopping(start_redis(services.work / "redis-bare")))
    bare = Bare(services, environ, account_for(services, limit=-1), plain)
    services.stack.callback(bare.stop)
    scripts = [set_up(target, services).script for target in (lite, bare)]
    same = sorted(k for k in set(environ) | set(bare.env) if environ.get(k) == bare.env.get(k))
    differ = sorted(k for k in set(environ) | set(bare.env) if k not in same)
    print(f"API environments: {len(same)} variables alike; differ (values not printed): "
          f"{' '.join(differ)}")
    for target, redis_server, script in ((lite, redis, scripts[0]), (bare, plain, scripts[1])):
        run_wrk(target.port, script, 4, WARMUP_SECONDS)
        print_counts(target, redis_server, script, args)


class PeakConnections(threading.Thread):
    """The add-ons' connections at their peak while a step runs (Redis CLIENT LIST and
    pg_stat_activity of the owner), sampled every half second."""

    def __init__(self, probe: Any, postgres: Any, role: str) -> None:
        super().__init__(daemon=True)
        self.probe, self.postgres, self.role = probe, postgres, role
        self.halt = threading.Event()
        self.redis = self.db = 0

    def run(self) -> None:
        while not self.halt.is_set():
            with contextlib.suppress(Exception):
                self.redis = max(self.redis, sum(redis_clients(self.probe).values()))
                self.db = max(self.db, sum(postgres_backends(self.postgres.sql,
                                                             self.role).values()))
            self.halt.wait(0.5)

    def stop(self) -> tuple[int, int]:
        self.halt.set()
        self.join(10)
        return self.redis, self.db


@dataclass
class SweepRow:
    workers: int
    results: list[Result]
    api_pss: float  # MiB, the API server's whole tree
    worker_pss: list[float]  # MiB, each API worker
    worker_uss: list[float]
    dyno_pss: float
    redis_peak: int
    db_peak: int
    sizing: str


def sweep_one(services: Services, account: Any, redis: Any, workers: int,
              prepared: dict[str, Any], args: argparse.Namespace) -> SweepRow:
    steps = [int(s) for s in args.sweep_concurrency.split(",")]
    lite = Lite(services, account, redis, **{**dict(args.env), "_APP_CPU_NUM": "1",
                                             "_APP_WORKER_PER_CORE": str(workers)})
    try:
        if "set-up" not in prepared:
            prepared["set-up"] = set_up(lite, services)
        made: Prepared = prepared["set-up"]
        peaks = PeakConnections(prepared["probe"], services.postgres, account.user)
        peaks.start()
        broad_warm_up(lite.port, made, workers)
        results = load_steps([(lite, made.script)], steps, args.seconds, args.rounds)[lite.name]
        redis_peak, db_peak = peaks.stop()
        table = lite.memory()
        kinds = lite.kinds()
        served = [memory_kib(pid) for kind, pid in kinds if kind == "api worker"]
        api = sum(row["pss"] for kind, row in table.items() if kind.startswith("api"))
        return SweepRow(workers, results, api / MIB, [m["pss"] / MIB for m in served],
                        [m["uss"] / MIB for m in served],
                        sum(row["pss"] for row in table.values()) / MIB, redis_peak, db_peak,
                        lite.sizing())
    finally:
        lite.stop()


def print_sweep(rows: list[SweepRow]) -> None:
    print("\n== API workers sweep (Lite web dyno, 512 MiB cgroup)")
    steps = [r.concurrency for r in rows[0].results]
    head = "".join(f" | c{c} req/s | c{c} p95 | c{c} p99 | c{c} errors" for c in steps)
    print(f"| API workers{head} | API PSS MiB | per worker PSS / USS MiB | API less workers' "
          "USS MiB | dyno PSS MiB | Redis / Postgres peak |")
    print("|---" * (1 + 4 * len(steps) + 5) + "|")
    for row in rows:
        cells = "".join(f" | {r.rate:.0f} | {r.p95:.0f} ms | {r.p99:.0f} ms | {r.errors}"
                        for r in row.results)
        pss = sum(row.worker_pss) / max(1, len(row.worker_pss))
        uss = sum(row.worker_uss) / max(1, len(row.worker_uss))
        print(f"| {row.workers}{cells} | {row.api_pss:.0f} | {pss:.1f} / {uss:.1f} | "
              f"{row.api_pss - sum(row.worker_uss):.0f} | {row.dyno_pss:.0f} | "
              f"{row.redis_peak} / {row.db_peak} |")
    for row in rows:
        print(f"  {row.workers} workers, launcher: {row.sizing}")


def sweep(services: Services, args: argparse.Namespace) -> None:
    redis = services.stack.enter_context(stopping(redis_for_lite(services.work)))
    account = account_for(services)
    release_phase(services, account, redis)
    prepared: dict[str, Any] = {"probe": redis.client(single_connection_client=True)}
    rows = []
    for workers in [int(n) for n in args.sweep.split(",")]:
        rows.append(sweep_one(services, account, redis, workers, prepared, args))
        print_sweep(rows)


@contextlib.contextmanager
def stopping(server: Any) -> Iterator[Any]:
    try:
        yield server
    finally:
        server.stop()


def _pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError("expected KEY=VALUE")
    return key, value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20, help="per step (default 20)")
    parser.add_argument("--steps", default="4,16,48", help="concurrencies (default 4,16,48)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="times each step runs per target, interleaved (default 1)")
    parser.add_argument("--sweep", default="", help="API worker counts to sweep, e.g. 2,3,4,6,8 "
                        "(the Lite alone; default: compare Lite and bare)")
    parser.add_argument("--sweep-concurrency", default="16,48",
                        help="concurrencies of the sweep (default 16,48)")
    parser.add_argument("--count", action="store_true",
                        help="instead of the load steps: Redis commands and the API workers' "
                        "system calls per request, at the first of --steps for --seconds")
    parser.add_argument("--env", action="append", default=[], type=_pair, metavar="KEY=VALUE",
                        help="a config var of the Lite's app (bare gets what its API then sees)")
    args = parser.parse_args()
    reason = unavailable() or (None if shutil.which("wrk") else
                               "wrk is not installed (Debian's `wrk`, in .ci/run's apt list)")
    if reason is not None:
        print(f"not run: {reason}")
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-lite-vs-bare-") as temp, \
            contextlib.ExitStack() as stack:
        work = Path(temp)
        postgres = start_postgresql()
        stack.callback(postgres.stop)
        services = Services(work, prepare_tree(work), postgres, stack)
        (sweep if args.sweep else count if args.count else compare)(services, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
