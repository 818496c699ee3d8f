"""Appwrite 1.9.6's appetite: the connections and memory each of its processes can take.

Every Appwrite process keeps pools of its own, sized by a handful of `_APP_*` knobs; queue
consumers and publishers open their own Redis connections; Swoole forks workers per server. This
module says, for each process a dyno runs, the most database and Redis connections it can hold
and the memory it needs, for given knobs. The budget adds them up against the plans' limits.

Every number is read from Appwrite 1.9.6 and the libraries its composer.lock pins
(utopia-php/pools 1.0.5, utopia-php/queue 0.21.1, utopia-php/database 6.0.0, utopia-php/abuse
1.4.1); each carries its file:line. Memory figures are measurements of the real Appwrite 1.9.6
under the launcher (benchmarks/real_appwrite.py), each saying which; the connection
figures stay the worst case read from the sources. Pure data and functions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from ..display import quoted
from ..errors import InputError
from . import inputs
from .wiring import ON_WORDS

# --- Appwrite's knobs and their code defaults ---------------------------------------------------

CONNECTIONS_MAX = "_APP_CONNECTIONS_MAX"
POOL_CLIENTS = "_APP_POOL_CLIENTS"
CPU_NUM = "_APP_CPU_NUM"
WORKER_PER_CORE = "_APP_WORKER_PER_CORE"
WORKERS_NUM = "_APP_WORKERS_NUM"
MAX_COROUTINES = "_APP_WORKER_MAX_COROUTINES"
POOL_ADAPTER = "_APP_POOL_ADAPTER"
KNOB_KEYS = (CPU_NUM, WORKER_PER_CORE, WORKERS_NUM, CONNECTIONS_MAX, POOL_CLIENTS, MAX_COROUTINES)
# The most each knob may be set to (docs/bad-input.md): above anything a dyno can run — the
# largest dyno host has 96 CPUs, MySQL caps max_connections at 100,000 — so that a value with a
# few digits too many is a one-line refusal, not a budget of billions of processes.
KNOB_HIGHEST = {CPU_NUM: 256, WORKER_PER_CORE: 256, WORKERS_NUM: 256, CONNECTIONS_MAX: 100_000,
                POOL_CLIENTS: 1_000, MAX_COROUTINES: 100_000}

DEFAULT_CONNECTIONS_MAX = 151  # app/init/registers.php:244 getEnv('_APP_CONNECTIONS_MAX', 151)
DEFAULT_POOL_CLIENTS = 14  # app/init/registers.php:245 getEnv('_APP_POOL_CLIENTS', 14)
DEFAULT_WORKER_PER_CORE = 6  # app/init/registers.php:247; app/http.php:59
DEFAULT_MAX_COROUTINES = 1  # app/init/registers.php:252; app/worker.php:80
DEFAULT_QUEUE_WORKERS = 1  # app/worker.php:78 getEnv('_APP_WORKERS_NUM', 1)
# `_APP_CPU_NUM` defaults to swoole_cpu_num() (registers.php:247, http.php:59,
# realtime.php:362): the HOST's CPUs on a dyno (`nproc` reads 8 on basic/standard, 96 on Fir).
HOST_CPUS_ON_A_DYNO = 8


@dataclass(frozen=True)
class Knobs:
    """The values Appwrite's processes read for their sizing, as PHP sees them (integers)."""

    connections_max: int = DEFAULT_CONNECTIONS_MAX
    pool_clients: int = DEFAULT_POOL_CLIENTS
    cpu_num: int = HOST_CPUS_ON_A_DYNO
    worker_per_core: int = DEFAULT_WORKER_PER_CORE
    workers_num: int | None = None  # unset: queue workers take 1, realtime takes the product
    max_coroutines: int = DEFAULT_MAX_COROUTINES

    @classmethod
    def from_settings(cls, settings: Mapping[str, str],
                      host_cpus: int = HOST_CPUS_ON_A_DYNO) -> Knobs:
        """Knobs from `_APP_*` values; a value that is not a positive whole number is refused
        (PHP would read it as 0 and divide by it: registers.php:245-248)."""
        def read(key: str, default: int | None) -> int | None:
            raw = (settings.get(key) or "").strip()
            if not raw:
                return default
            return inputs.whole(raw, key, 1, KNOB_HIGHEST[key],
                                "Appwrite reads it with (int): 0 divides by zero or runs "
                                "nothing; set it in range, or unset it")

        return cls(
            connections_max=read(CONNECTIONS_MAX, DEFAULT_CONNECTIONS_MAX) or 1,
            pool_clients=read(POOL_CLIENTS, DEFAULT_POOL_CLIENTS) or 1,
            cpu_num=read(CPU_NUM, host_cpus) or 1,
            worker_per_core=read(WORKER_PER_CORE, DEFAULT_WORKER_PER_CORE) or 1,
            workers_num=read(WORKERS_NUM, None),
            max_coroutines=read(MAX_COROUTINES, DEFAULT_MAX_COROUTINES) or 1,
        )

    def settings(self) -> dict[str, str]:
        chosen = {
            CPU_NUM: str(self.cpu_num), WORKER_PER_CORE: str(self.worker_per_core),
            CONNECTIONS_MAX: str(self.connections_max), MAX_COROUTINES: str(self.max_coroutines),
        }
        if self.workers_num is not None:
            chosen[WORKERS_NUM] = str(self.workers_num)
        if self.pool_clients != DEFAULT_POOL_CLIENTS:
            chosen[POOL_CLIENTS] = str(self.pool_clients)
        return chosen


def swoole_workers(knobs: Knobs) -> int:
    """`_APP_CPU_NUM x _APP_WORKER_PER_CORE`: the API's workers (app/http.php:59,65) and the
    divisor of every pool (registers.php:247)."""
    return knobs.cpu_num * knobs.worker_per_core


def pool_size(knobs: Knobs) -> int:
    """P, the size of each pool in every process (app/init/registers.php:244-252):
    max(1, (int)((CONNECTIONS_MAX / POOL_CLIENTS) / (CPU_NUM x WORKER_PER_CORE))), then at least
    `_APP_WORKER_MAX_COROUTINES`. PHP's `/` is float division and (int) truncates."""
    per_worker = int((knobs.connections_max / knobs.pool_clients) / swoole_workers(knobs))
    return max(max(1, per_worker), knobs.max_coroutines)


def pubsub_pool_size(knobs: Knobs) -> int:
    """The pubsub pool holds one subscribed connection plus room for publishes:
    max(2, P) (app/init/registers.php:338-341)."""
    return max(2, pool_size(knobs))


def realtime_workers(knobs: Knobs) -> int:
    """`_APP_WORKERS_NUM` if set (non-zero), else CPU_NUM x WORKER_PER_CORE
    (app/realtime.php:361-362)."""
    return knobs.workers_num or swoole_workers(knobs)


def queue_children(knobs: Knobs) -> int:
    """Processes each queue worker forks: `_APP_WORKERS_NUM`, default 1 (app/worker.php:78;
    utopia-php/queue 0.21.1 src/Queue/Adapter/Swoole.php:40-44 spawns that many)."""
    return knobs.workers_num or DEFAULT_QUEUE_WORKERS


def connections_max_for(pool: int, knobs: Knobs) -> int:
    """The `_APP_CONNECTIONS_MAX` that makes the pool formula give exactly `pool` (at
    `_APP_WORKER_MAX_COROUTINES` ≤ pool): (pool x CLIENTS x WORKERS / CLIENTS) / WORKERS."""
    return pool * knobs.pool_clients * swoole_workers(knobs)


# --- what each process can reach ---------------------------------------------------------------

# Database pools (registers.php:187-217): `console`, `database_db_main` (the `database` group with
# the one DSN `db_main`), `logs`. `documentsdb`/`vectorsdb` default to hosts (`mongodb`,
# `postgresql`) that do not exist on Heroku and serve only those database types: not counted.
DB_CONSOLE, DB_MAIN, DB_LOGS = "console", "database_db_main", "logs"
# Redis pools (registers.php:218-241): `publisher` (a utopia-php/queue connection, :362-369),
# `pubsub` (:357-361), `cache_redis_main` (:371-379), `lock` (:384-385).
R_PUBLISHER, R_PUBSUB, R_CACHE, R_LOCK = "publisher", "pubsub", "cache_redis_main", "lock"
ALL_DB = (DB_CONSOLE, DB_MAIN, DB_LOGS)
ALL_REDIS = (R_PUBLISHER, R_PUBSUB, R_CACHE, R_LOCK)


@dataclass(frozen=True)
class Reach:
    """The pools (and other connections) one kind of Appwrite process can open.

    Pools are per OS process, filled lazily and never shrunk (utopia-php/pools 1.0.5
    src/Pools/Pool.php:72-76 starts empty, :249-300 creates on demand up to the size): a process
    that has once used a pool at its peak keeps that many connections. The model counts each
    reached pool at its full size: the worst case."""

    db: tuple[str, ...]
    redis: tuple[str, ...]
    basis: str
    # `redis` resource (app/init/resources.php:200-212) or realtime's getRedis()
    # (app/realtime.php:230-251): a pconnect per request/coroutine, capped by nothing in
    # Appwrite. Counted as P (one per request a worker serves at once while its pools serve
    # P); MULTI…EXEC on it (utopia-php/abuse 1.4.1 TimeLimit/Redis.php:72-75,91-94) needs a
    # dedicated upstream while it runs.
    per_request_redis: bool = False
    # utopia-php/queue consumers: a blocking receive connection and a command connection
    # (app/worker.php:73-77; queue 0.21.1 Connection/Redis.php:41-45 bRPopLPush, :82-86 brPop).
    queue_connections: int = 0
    subscribes: bool = False  # holds one pubsub connection in SUBSCRIBE (realtime.php:628-633)


_R = Reach
REACH: dict[str, Reach] = {
    # The API's Swoole master runs onStart: createDatabase for `logs` and `console`
    # (app/http.php:290-303), through DatabaseFactory, which caches in Redis.
    "api-master": _R((DB_CONSOLE, DB_LOGS), (R_CACHE,), "app/http.php:290-303"),
    # Any API request can reach every pool: DB through dbForPlatform/dbForProject/getLogsDB
    # (app/init/resources.php:153-182), queues through publishers (:72-151), realtime events
    # through the pubsub pool (src/Appwrite/Messaging/Adapter/Realtime.php:77), locks (:215-217).
    "api-worker": _R(ALL_DB, ALL_REDIS, "app/init/resources.php:72-219", per_request_redis=True),
    # One task worker (app/http.php:71) syncs domains from `rules` (app/http.php:640-650).
    "api-task": _R((DB_CONSOLE,), (R_CACHE,), "app/http.php:71,640-650"),
    # Realtime's master (onStart, app/realtime.php:436-497): the stats document via getConsoleDB.
    "realtime-master": _R((DB_CONSOLE,), (R_CACHE,), "app/realtime.php:436-497"),
    # Realtime workers: console and project DBs (app/realtime.php:114-200), cache (:205-225),
    # publisher (usage, events: :90-110, :297-305), the subscribed pubsub (:628-633), getRedis.
    "realtime-worker": _R((DB_CONSOLE, DB_MAIN), (R_PUBLISHER, R_PUBSUB, R_CACHE),
                          "app/realtime.php:90-251,297-305,628-633", per_request_redis=True,
                          subscribes=True),
    # The parent of a queue worker only forks and waits (queue 0.21.1 Adapter/Swoole.php:40-57);
    # its two queue connections connect lazily (Connection/Redis.php:193-210), in the children.
    "queue-parent": _R((), (), "utopia-php/queue 0.21.1 src/Queue/Adapter/Swoole.php:40-80"),
    # Queue workers (children), by entry point; every one: 2 queue connections, console + cache.
    "worker-audits": _R((DB_CONSOLE, DB_MAIN), (R_CACHE,),
                        "src/Appwrite/Platform/Workers/Audits.php (getAudit)", queue_connections=2),
    "worker-certificates": _R((DB_CONSOLE,), (R_CACHE, R_PUBLISHER, R_PUBSUB),
                              "src/Appwrite/Platform/Workers/Certificates.php (publishers, "
                              "queueForRealtime)", queue_connections=2),
    "worker-databases": _R((DB_CONSOLE, DB_MAIN), (R_CACHE, R_PUBSUB),
                           "src/Appwrite/Platform/Modules/Databases/Workers/Databases.php "
                           "(dbForProject, queueForRealtime)", queue_connections=2),
    "worker-deletes": _R(ALL_DB, (R_CACHE, R_PUBLISHER),
                         "src/Appwrite/Platform/Workers/Deletes.php (getLogsDB, publishers)",
                         queue_connections=2),
    "worker-mails": _R((DB_CONSOLE,), (R_CACHE,), "src/Appwrite/Platform/Workers/Mails.php",
                       queue_connections=2),
    "worker-messaging": _R((DB_CONSOLE, DB_MAIN), (R_CACHE, R_PUBLISHER),
                           "src/Appwrite/Platform/Workers/Messaging.php", queue_connections=2),
    "worker-migrations": _R((DB_CONSOLE, DB_MAIN), (R_CACHE, R_PUBLISHER, R_PUBSUB),
                            "src/Appwrite/Platform/Workers/Migrations.php", queue_connections=2),
    "worker-stats-resources": _R(ALL_DB, (R_CACHE,),
                                 "src/Appwrite/Platform/Workers/StatsResources.php",
                                 queue_connections=2),
    "worker-stats-usage": _R(ALL_DB, (R_CACHE,), "src/Appwrite/Platform/Workers/StatsUsage.php",
                             queue_connections=2),
    "worker-webhooks": _R((DB_CONSOLE,), (R_CACHE, R_PUBLISHER),
                          "src/Appwrite/Platform/Workers/Webhooks.php", queue_connections=2),
    # Tasks: one `php app/cli.php TASK` process each (bin/TASK), pools from app/cli.php:57-237.
    "maintenance": _R((DB_CONSOLE,), (R_CACHE, R_PUBLISHER),
                      "src/Appwrite/Platform/Tasks/Maintenance.php:31-34"),
    "interval": _R((DB_CONSOLE, DB_MAIN), (R_CACHE, R_PUBLISHER),
                   "src/Appwrite/Platform/Tasks/Interval.php:30-32"),
    "schedule-messages": _R((DB_CONSOLE, DB_MAIN), (R_CACHE, R_PUBLISHER),
                            "src/Appwrite/Platform/Tasks/ScheduleBase.php:46-53"),
    "stats-resources": _R((DB_CONSOLE,), (R_CACHE, R_PUBLISHER),
                          "src/Appwrite/Platform/Tasks/StatsResources.php:44-46"),
}
# An entry point this table does not know (another Appwrite version): every pool, the safe side.
UNKNOWN_QUEUE = _R(ALL_DB, ALL_REDIS, "not in the 1.9.6 table: every pool counted",
                   queue_connections=2)
UNKNOWN_TASK = _R(ALL_DB, ALL_REDIS, "not in the 1.9.6 table: every pool counted")

# --- memory (MiB per process) ------------------------------------------------------------------

# PSS (a process tree's real share of RAM, what a dyno's limit counts) of each kind of process,
# from the real Appwrite 1.9.6 run from its own sources under the launcher. A later benchmark
# reproduces them; until then each names the measurement it comes from.
MEASURED = "real Appwrite 1.9.6 under the launcher, 2026-12-07: benchmarks/real_appwrite.py"
# The web dyno's API workers swept (docs/performance.md, The web dyno against bare Appwrite).
SWEEP = ("benchmarks/lite_vs_bare.py --sweep (real Appwrite 1.9.6 under the launcher, the "
         "web dyno's API with 3-8 workers)")
# The real Appwrite 1.9.6 worker dyno (512 MB cgroup, on-demand queues) under the launcher with
# every queue given jobs: benchmarks/real_appwrite.py ("every queue busy"), and the queues
# helper's run of 15-25 jobs on each on-demand queue (docs/launcher.md, Queue workers on demand).
BUSY = ("real Appwrite 1.9.6 worker dyno, every queue busy: benchmarks/real_appwrite.py and "
        "docs/launcher.md, Queue workers on demand")
MEMORY_MIB: dict[str, tuple[int, str]] = {
    "launcher": (23, f"measured: launcher with its Redis bridge thread, 23 MiB ({MEASURED})"),
    "supervisord": (15, f"measured: 15 MiB ({MEASURED})"),
    "nginx": (3, f"measured: master + worker, 3 MiB ({MEASURED})"),
    "pgbouncer": (3, f"measured: 3 MiB ({MEASURED}); counted on every dyno, PostgreSQL or "
                     "not: the dyno rows do not know the database, and 3 MiB is the safe side"),
    # The API server under the launcher, swept from 3 to 8 workers after every worker served
    # the console's and a server's calls, reads and writes, and the document mix (SWEEP): its
    # PSS less its workers' own memory (USS) came out at 159-161 MiB on every row — master,
    # manager, task worker and the pages all of them share —, and each worker adds its USS.
    "api-master": (160, f"measured: the API server's PSS less its workers' USS, 159-161 MiB "
                        f"with 3, 4, 5, 6 or 8 workers: master, manager, task worker and the "
                        f"pages they all share ({SWEEP})"),
    "api-task": (0, f"measured: inside the API master's 160 MiB ({SWEEP})"),
    "api-worker": (40, f"measured: a served API worker's own memory (USS): 24-29 MiB after "
                       f"console and server reads and writes and the document mix, 38-42 MiB "
                       f"where every worker also served the console's sign-up and project "
                       f"creation: the larger ({SWEEP}; one never hit costs almost nothing)"),
    # With one worker (`_APP_WORKERS_NUM=1`, what a web dyno runs) Swoole's base mode runs the
    # realtime server as one process (no manager): measured whole, the worker inside it.
    "realtime-single": (48, f"measured: the realtime server with one worker, one process, "
                            f"42-47 MiB PSS beside the loaded API, no websocket client ({SWEEP})"),
    "realtime-inside": (0, f"measured: inside the one-process realtime server's 48 MiB "
                           f"({SWEEP})"),
    "realtime-master": (38, f"measured: the realtime server with one worker, idle, 38 MiB "
                            f"(55 MiB alone, 4 processes) ({MEASURED})"),
    # Realtime's workers were measured idle only: each counts as a served API worker (both are
    # Swoole workers with Appwrite loaded), on top of the measured server: the safe side.
    "realtime-worker": (50, f"measured as an API worker that has served requests, 50 MiB; "
                            f"realtime's own were measured idle only ({MEASURED})"),
    "queue-worker": (66, f"measured: `php app/worker.php NAME`, parent + its one child, 59-64 "
                         f"MiB each beside others (71 alone) ({MEASURED}); 61-66 MiB on a real "
                         f"worker dyno with every queue busy ({BUSY}): the largest"),
    "queue-child": (24, "estimate: each child beyond the first (_APP_WORKERS_NUM > 1, never "
                        "measured), forked from a loaded parent and sharing its pages"),
    "task": (78, f"measured: `php app/cli.php TASK` (maintenance, interval, schedule-messages), "
                 f"74 MiB each idle ({MEASURED}); 73-78 MiB on a real worker dyno with every "
                 f"queue busy ({BUSY}): the largest"),
}


# --- the process set ---------------------------------------------------------------------------

# The entry points in 1.9.6's image that matter here (bin/ in the 1.9.6 tree): what
# `select_background` sees on a dyno.
ENTRY_POINTS_1_9_6 = (
    "doctor", "install", "interval", "maintenance", "migrate", "realtime", "schedule-executions",
    "schedule-functions", "schedule-messages", "stats-resources", "upgrade", "worker-audits",
    "worker-builds", "worker-certificates", "worker-databases", "worker-deletes",
    "worker-executions", "worker-functions", "worker-mails", "worker-messaging",
    "worker-migrations", "worker-screenshots", "worker-stats-resources", "worker-stats-usage",
    "worker-webhooks",
)


def background_set(entry_points: Iterable[str] = ENTRY_POINTS_1_9_6,
                   skip: Iterable[str] = (), *, usage_stats: bool = False) -> tuple[str, ...]:
    """The queue workers and tasks a worker dyno runs: processes.select_background's choice.
    `usage_stats` False (the Lite default) leaves out the stats-resources pair."""
    from .processes import select_background

    return select_background(list(entry_points), frozenset(skip),
                             usage_stats=usage_stats).chosen


def usage_stats_on(config: Mapping[str, str]) -> bool:
    """`_APP_USAGE_STATS` as a dyno will see it: the Lite default (off) unless set by hand."""
    from .processes import usage_stats_enabled
    from .settings import LITE_DEFAULTS

    return usage_stats_enabled({**LITE_DEFAULTS, **config})


SKIP_VAR = "APPWRITE_LITE_SKIP"
ALL_IN_WEB_VAR = "APPWRITE_LITE_ALL_IN_WEB"


def skipped(config: Mapping[str, str]) -> tuple[str, ...]:
    """The entry points the user left out (`APPWRITE_LITE_SKIP`, comma-separated), in order;
    read the same by the launcher, the budget and the release engine."""
    return tuple(name.strip() for name in (config.get(SKIP_VAR) or "").split(",")
                 if name.strip())


def unknown_skip(names: Iterable[str], entry_points: Iterable[str],
                 source: str = SKIP_VAR, of: str = "Appwrite 1.9.6") -> str | None:
    """The one line for skip names that are not entry points (None when all are): a typo
    would otherwise leave the process running while the budget counted it out. `of` names
    where the valid names come from (the pinned release's list, or a dyno's own bin/)."""
    known = list(entry_points)
    unknown = sorted({name for name in names} - set(known))
    if not unknown:
        return None
    listed = ", ".join(quoted(name) for name in unknown)
    what = "is not an entry point" if len(unknown) == 1 else "are not entry points"
    return (f"{source} names {listed}, which {what} of {of}: use comma-separated names "
            f"from {', '.join(sorted(known))}")


def checked_skip(config: Mapping[str, str], source: str = SKIP_VAR) -> tuple[str, ...]:
    """`skipped(config)`, refused (one line, exit 2) when a name is not one of the pinned
    Appwrite's entry points: the rule `budget --skip`, `plan`, `deploy` and `env` share."""
    names = skipped(config)
    problem = unknown_skip(names, ENTRY_POINTS_1_9_6, source)
    if problem:
        raise InputError(problem)
    return names


def background_for(config: Mapping[str, str]) -> tuple[str, ...]:
    """The background set this config gives (its skip list, checked, and usage stats): one
    reading for the budget, the release engine and the plan."""
    return background_set(skip=checked_skip(config), usage_stats=usage_stats_on(config))


def runs_all_in_web(config: Mapping[str, str]) -> bool:
    """Whether the web dyno runs the workers too (`APPWRITE_LITE_ALL_IN_WEB`)."""
    return (config.get(ALL_IN_WEB_VAR) or "").strip().lower() in ON_WORDS


# --- the database's size and query rate before anyone uses it ----------------------------------

# Collections created at first boot (app/http.php:300-303 createDatabase for `logs` and
# `console`; only entries whose `$collection` is METADATA, :249-251): counted in
# app/config/collections.php:31-32 (console = platform + common, `files` unset at :15) from
# app/config/collections/platform.php (15 collections, 66 indexes) and common.php (17, 78);
# logs.php has one (3 indexes). Each project adds projects.php (12, 61) + common.php (17, 78).
# Every database also gets `_metadata` (utopia-php/database 6.0.0 Database.php:1599).
CONSOLE_COLLECTIONS, CONSOLE_INDEXES = 32, 144
LOGS_COLLECTIONS, LOGS_INDEXES = 1, 3
PROJECT_COLLECTIONS, PROJECT_INDEXES = 29, 139
# MariaDB adapter (utopia-php/database 6.0.0 Adapter/MariaDB.php:160-213): a collection is two
# tables, `name` (PRIMARY, _uid, _created_at, _updated_at + its own indexes) and `name_perms`
# (PRIMARY, _index1, _permission). An empty InnoDB table takes one 16 KiB page for its data and
# one per secondary index (InnoDB's default page size): 7 pages + one per own index.
INNODB_PAGE_KIB = 16
_PAGES_PER_COLLECTION = 7


def first_boot_tables() -> int:
    """Tables Appwrite creates before the first project: collections and `_metadata`, x2."""
    return 2 * (CONSOLE_COLLECTIONS + 1 + LOGS_COLLECTIONS + 1)


def project_tables() -> int:
    return 2 * (PROJECT_COLLECTIONS + 1)


def first_boot_kib() -> int:
    """The least storage the empty schema takes on MariaDB/MySQL (InnoDB pages, above)."""
    pages = (_PAGES_PER_COLLECTION * (CONSOLE_COLLECTIONS + 1 + LOGS_COLLECTIONS + 1)
             + CONSOLE_INDEXES + LOGS_INDEXES)
    return pages * INNODB_PAGE_KIB


def project_kib() -> int:
    return (_PAGES_PER_COLLECTION * (PROJECT_COLLECTIONS + 1) + PROJECT_INDEXES) * INNODB_PAGE_KIB


# Queries an idle installation makes, at least one per timer tick:
IDLE_QUERIES_PER_HOUR = {
    "api task worker": 3600 // 30,  # domain sync every DOMAIN_SYNC_TIMER=30 s (http.php:38,645)
    "realtime master": 3600 // 5,  # stats document every 5 s (realtime.php:472-495)
    "schedule-messages": 3600 // 3,  # UPDATE_TIMER=3 s (ScheduleMessages.php:14, Base:99)
    "interval": 3600 // 120,  # domain verification, 120 s default (Interval.php:78-86)
}


# --- per-process figures -----------------------------------------------------------------------

@dataclass(frozen=True)
class ProcessFigure:
    """One kind of process on a dyno: `count` of them, each holding at most `db` database and
    `redis` Redis connections (Appwrite side), `dedicated` of which need an upstream of their
    own in multiplexed mode, and `memory_mib` of memory."""

    name: str
    program: str  # the supervised program it belongs to (api, realtime, worker-mails, …)
    count: int
    db: int
    redis: int
    dedicated: int
    memory_mib: int
    basis: str
    uncapped: bool = False  # Appwrite caps one of its connections nowhere; the figure counts P
    queue: int = 0  # of `redis`, the plain queue connections (a consumer's two); the rest pooled

    @property
    def total_db(self) -> int:
        return self.db * self.count

    @property
    def total_redis(self) -> int:
        return self.redis * self.count

    @property
    def total_dedicated(self) -> int:
        return self.dedicated * self.count

    @property
    def total_memory_mib(self) -> int:
        return self.memory_mib * self.count


def _appetite(reach: Reach, knobs: Knobs) -> tuple[int, int, int]:
    """(database, Redis, dedicated-upstream) connections of one process with this reach."""
    size = pool_size(knobs)
    db = size * len(reach.db)
    redis = sum(pubsub_pool_size(knobs) if pool == R_PUBSUB else size for pool in reach.redis)
    dedicated = 0
    if reach.per_request_redis:
        redis += size
        dedicated += size  # MULTI…EXEC on each at once, at worst
    redis += reach.queue_connections
    dedicated += 1 if reach.queue_connections else 0  # the blocking receive
    dedicated += 1 if reach.subscribes else 0
    return db, redis, dedicated


def _figure(name: str, program: str, kind: str, count: int, reach: Reach, knobs: Knobs,
            memory: str) -> ProcessFigure:
    db, redis, dedicated = _appetite(reach, knobs)
    mib, memory_basis = MEMORY_MIB[memory]
    return ProcessFigure(name=name, program=program, count=count, db=db, redis=redis,
                         dedicated=dedicated, memory_mib=mib,
                         basis=f"{kind}: {reach.basis}; memory: {memory_basis}",
                         uncapped=reach.per_request_redis, queue=reach.queue_connections)


def http_processes(knobs: Knobs, realtime_knobs: Knobs | None = None) -> list[ProcessFigure]:
    """The API server and the realtime server of a web (or all) dyno."""
    rt = realtime_knobs or knobs
    # Realtime's connections are counted for its master and its workers alike (the safe side);
    # its memory once when the server is one process (Swoole's base mode with one worker).
    single = realtime_workers(rt) == 1
    return [
        _figure("api master+manager", "api", "api-master", 1, REACH["api-master"], knobs,
                "api-master"),
        _figure("api worker", "api", "api-worker", swoole_workers(knobs), REACH["api-worker"],
                knobs, "api-worker"),
        _figure("api task worker", "api", "api-task", 1, REACH["api-task"], knobs, "api-task"),
        _figure("realtime master+manager", "realtime", "realtime-master", 1,
                REACH["realtime-master"], rt, "realtime-single" if single else "realtime-master"),
        _figure("realtime worker", "realtime", "realtime-worker", realtime_workers(rt),
                REACH["realtime-worker"], rt, "realtime-inside" if single else "realtime-worker"),
    ]


def queue_worker_processes(name: str, knobs: Knobs) -> list[ProcessFigure]:
    """One queue worker: its parent with the first child (measured together), and each further
    child (`_APP_WORKERS_NUM` > 1). The parent only forks and waits (utopia-php/queue 0.21.1
    Adapter/Swoole.php:40-57); its children hold the connections."""
    reach = REACH.get(name, UNKNOWN_QUEUE)
    kind = name if name in REACH else "unknown"
    figures = [_figure(name, name, kind, 1, reach, knobs, "queue-worker")]
    more = queue_children(knobs) - 1
    if more:
        figures.append(_figure(f"{name} more children", name, kind, more, reach, knobs,
                               "queue-child"))
    return figures


def background_processes(names: Sequence[str], knobs: Knobs) -> list[ProcessFigure]:
    """Queue workers and tasks that run all the time."""
    figures = []
    for name in names:
        if name.startswith("worker-") or name == "worker":
            figures += queue_worker_processes(name, knobs)
        else:
            reach = REACH.get(name, UNKNOWN_TASK)
            figures.append(_figure(name, name, name if name in REACH else "unknown", 1, reach,
                                   knobs, "task"))
    return figures


# The dispatcher (dyno/queues.py) polls the on-demand queues' lists with one plain connection
# to the local Redis bridge, as Appwrite's own processes do: LLEN only, a shared upstream.
DISPATCHER = "queue dispatcher"
DISPATCHER_MIB = 6  # its thread and XML-RPC client inside the launcher, measured (below)


def on_demand_processes(names: Sequence[str], knobs: Knobs, slots: int) -> list[ProcessFigure]:
    """At most `slots` of the on-demand queue workers run at once: counted as that many of the
    costliest of them (each figure the largest any of them has), and the dispatcher's own
    connection. No on-demand queue: nothing."""
    if not names:
        return []
    workers = [queue_worker_processes(name, knobs) for name in names]

    def total(figures: list[ProcessFigure], attribute: str) -> int:
        return sum(getattr(f, attribute) for f in figures)

    running = min(max(1, slots), len(names))
    costliest = ProcessFigure(
        name=f"on-demand worker ({len(names)} queues)",
        program="on-demand", count=running,
        db=max(total(w, "total_db") for w in workers),
        redis=max(total(w, "total_redis") for w in workers),
        dedicated=max(total(w, "total_dedicated") for w in workers),
        memory_mib=max(total(w, "total_memory_mib") for w in workers),
        basis=f"the costliest of {', '.join(names)}, each figure at its largest; "
              f"memory: {MEMORY_MIB['queue-worker'][1]}",
        queue=max(total(w, "queue") for w in workers))
    dispatcher = ProcessFigure(
        name=DISPATCHER, program="launcher", count=1, db=0, redis=1, dedicated=0,
        memory_mib=DISPATCHER_MIB,
        basis="LLEN of each on-demand queue's two lists (dyno/queues.py); memory: measured, "
              f"the launcher's PSS on a worker dyno with the dispatcher and bridge, 26.3-28.8 "
              f"MiB ({BUSY}), less the launcher's own 23 MiB, rounded up")
    return [costliest, dispatcher]


def fixed_processes(role: str) -> list[ProcessFigure]:
    """Our own processes: they hold no Appwrite connection (the bridge is counted upstream)."""
    names = ["launcher", "supervisord", "pgbouncer"] + (["nginx"] if role in ("web", "all")
                                                          else [])
    return [ProcessFigure(name=n, program=n, count=1, db=0, redis=0, dedicated=0,
                          memory_mib=MEMORY_MIB[n][0], basis=f"memory: {MEMORY_MIB[n][1]}")
            for n in names]
