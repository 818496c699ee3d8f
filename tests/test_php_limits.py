"""Connection budgets measured on real services, not only modelled.

The model's worst case (config/budget/, the default profile: a web and a worker dyno) opened by
Appwrite-shaped PHP processes, each dyno through its own multiplexed bridge (at the ceiling the
budget chose) to a TLS Redis whose `maxclients` is Heroku Key-Value Store mini's 20, and through
its own PgBouncer (pooler.py, at the budget's share) to a Heroku-shaped PostgreSQL whose role
admits essential-0's 20: it fits, and the servers never see more than the model's upstream
figures. What "one more" means for each:
- Redis: one more connection needing an upstream of its own (a blocking pop, a subscription, a
  MULTI) than the dyno's ceiling holds beside its shared connections: the bridge refuses it
  with `-ERR bridge: all N upstream connections busy…` and one log line; the server refuses
  nothing.
- PostgreSQL: PgBouncer queues a client beyond its pool instead of refusing it: one more
  process is served, and the server still sees at most the pools.

The plain relay without a pooler (Appwrite-shaped processes to a MariaDB user limited like
JawsDB kitefin, 10) shows the problem those two solve: one process past the limits is refused
on both, in one clear line."""

from __future__ import annotations

import contextlib
import logging
import re
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import redis

from appwrite_heroku.config import budget, wiring
from appwrite_heroku.config.redis import parse_redis_url
from appwrite_heroku.dyno import pooler
from appwrite_heroku.dyno.bridge import BridgeThread
from helpers import CANARY_REDIS_PASSWORD
from php_clients import PhpClients, PhpProcess, ProcessLoad, total, wait_for
from services import (
    PG_BIN,
    MariaDB,
    PostgresAccount,
    RedisServer,
    _stop,
    free_port,
    start_redis,
    wait_for_port,
)

REDIS_MINI_CLIENTS = 20  # Heroku Key-Value Store `mini`: maxclients
JAWSDB_KITEFIN_CONNECTIONS = 10  # JawsDB Maria `kitefin`: max_user_connections
KITEFIN_USER = "kitefin_user"


def modelled_budget() -> budget.Budget:
    """The Deploy button's budget: what the launcher and the engine judge by."""
    return budget.DEFAULT_PROFILE.budget()


def modelled_worst_case(chosen: budget.Budget) -> dict[str, list[ProcessLoad]]:
    """The single source of the figures the multiplexed and pooled tests measure: per dyno,
    every Appwrite process that holds connections, with what the model says it holds at worst
    (appetite.ProcessFigure: database, pooled and queue Redis, dedicated needs)."""
    loads: dict[str, list[ProcessLoad]] = {}
    for dyno in chosen.dynos:
        for figure in dyno.processes:
            if not (figure.db or figure.redis):
                continue
            loads.setdefault(dyno.spec.role, []).extend(
                ProcessLoad(f"{dyno.spec.role} {figure.name} #{n}", db=figure.db,
                            redis_pool=figure.redis - figure.queue, redis_queue=figure.queue,
                            dedicated=figure.dedicated)
                for n in range(1, figure.count + 1))
    return loads


def plain_shapes() -> list[ProcessLoad]:
    """Three Appwrite-shaped processes for the plain relay and MariaDB without a pooler, where the
    plans' limits count every connection Appwrite opens (the model's worst case overruns them
    several times over: 70 Redis, 37 database). Shapes from Appwrite 1.9.6 at pool size 1
    (app/init/registers.php:244-252 with `_APP_CONNECTIONS_MAX` ≤ 27): a process that touches
    every pool holds 3 database connections (`console`, `database_db_main`, `logs`:
    registers.php:188-216) and, on Redis, pubsub 2 (:336-341), cache 1, lock 1 and the `redis`
    resource 1 (all pconnect, :323-330) plus the publisher's one plain connect (:362-369); a
    queue worker adds its own two plain connects (app/worker.php:75-76).
    """
    return [
        ProcessLoad("api worker", db=3, redis_pool=5, redis_queue=1),
        ProcessLoad("realtime worker", db=3, redis_pool=5, redis_queue=1),
        ProcessLoad("worker-mails", db=3, redis_pool=1, redis_queue=3),
    ]


# -- the plans' limits, on real servers ----------------------------------------------------------

@pytest.fixture(scope="module")
def redis_mini(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """Heroku-like Redis (TLS, ACL user, password) that takes 20 clients, as `mini` does."""
    server = start_redis(
        tmp_path_factory.mktemp("redis-mini"), tls=True, username="h",
        password=CANARY_REDIS_PASSWORD, extra=["--maxclients", str(REDIS_MINI_CLIENTS)],
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def kitefin(mariadb: MariaDB) -> Iterator[dict[str, Any]]:
    """A MariaDB user limited as JawsDB's kitefin plan is (error 1226 beyond the limit)."""
    password = f"kitefin-Pw-{secrets.token_hex(6)}"
    mariadb.root_sql(
        f"CREATE USER '{KITEFIN_USER}'@'%' IDENTIFIED BY '{password}' "
        f"WITH MAX_USER_CONNECTIONS {JAWSDB_KITEFIN_CONNECTIONS};"
        f"GRANT ALL ON `{mariadb.schema}`.* TO '{KITEFIN_USER}'@'%';"
    )
    yield {"host": "127.0.0.1", "port": mariadb.port, "schema": mariadb.schema,
           "user": KITEFIN_USER, "password": password}
    mariadb.root_sql(f"DROP USER '{KITEFIN_USER}'@'%';")


@pytest.fixture
def bridge(redis_mini: RedisServer) -> Iterator[BridgeThread]:
    """A fresh bridge per test, so each test's refusal line is its own (lines are throttled)."""
    thread = BridgeThread.start(parse_redis_url(redis_mini.url, "REDIS_URL"), mode="plain")
    yield thread
    thread.stop()


def redis_clients(server: RedisServer) -> int:
    """Clients connected to the upstream, not counting the one asking."""
    admin: redis.Redis = server.client()  # type: ignore[assignment]
    try:
        return int(admin.info("clients")["connected_clients"]) - 1
    finally:
        admin.close()


def rejected(server: RedisServer) -> int:
    admin: redis.Redis = server.client()  # type: ignore[assignment]
    try:
        return int(admin.info("stats")["rejected_connections"])
    finally:
        admin.close()


def db_connections(server: MariaDB) -> int:
    return int(server.root_sql(
        f"SELECT COUNT(*) FROM information_schema.processlist WHERE user = '{KITEFIN_USER}'"))


@pytest.fixture
def quiet(redis_mini: RedisServer, mariadb: MariaDB) -> Iterator[None]:
    """Both servers hold none of this module's connections before and after a test: closing
    is asynchronous on the server side, and a straggler would count against the limit."""
    def settled() -> None:
        wait_for(lambda: redis_clients(redis_mini) == 0, what="Redis without clients")
        wait_for(lambda: db_connections(mariadb) == 0, what="MariaDB without kitefin sessions")

    settled()
    yield
    settled()


def open_load(php_clients: PhpClients, load: ProcessLoad, bridge: BridgeThread,
              database: dict[str, Any]) -> PhpProcess:
    return php_clients.start(
        "hold", load.name, name=load.name, db=load.db, pool=load.redis_pool,
        queue=load.redis_queue, dedicated=load.dedicated, database=database,
        redis={"host": "127.0.0.1", "port": bridge.port},
    )


@dataclass
class Held:
    """What a set of processes got from the servers, all holding at once."""

    processes: list[PhpProcess]
    db_ids: list[int]
    redis_ids: list[int]
    refusals: list[tuple[str, str, str]]  # (process, kind, message)


def hold_all(php_clients: PhpClients, loads: list[ProcessLoad], bridge: BridgeThread,
             database: dict[str, Any]) -> Held:
    """Starts every process at once and waits until each holds what it could get."""
    processes = [open_load(php_clients, load, bridge, database) for load in loads]
    held = Held(processes, [], [], [])
    for process in processes:
        event = process.expect("held")
        held.db_ids += event["ids"]["db"]
        held.redis_ids += event["ids"]["redis"]
        held.refusals += [(process.name, r["kind"], r["message"]) for r in event["refusals"]]
    return held


def release(held: Held) -> list[int]:
    """Lets every process go; their exit statuses (1 for one that was refused something)."""
    for process in held.processes:
        process.tell("release")
    return [p.finish() for p in held.processes]


def test_shapes_that_fit_the_plans_fit_through_the_plain_relay(
    php_clients: PhpClients, bridge: BridgeThread, redis_mini: RedisServer, mariadb: MariaDB,
    kitefin: dict[str, Any], quiet: None, caplog: pytest.LogCaptureFixture,
) -> None:
    """Every modelled process holds every connection at the same time, each one a distinct
    server connection, with no refusal anywhere."""
    caplog.set_level(logging.INFO, logger="appwrite_heroku.dyno.bridge")
    loads = plain_shapes()
    db_total, redis_total = total(loads)
    assert db_total <= JAWSDB_KITEFIN_CONNECTIONS and redis_total <= REDIS_MINI_CLIENTS, (
        f"the model's worst case ({db_total} DB, {redis_total} Redis) exceeds the plans")
    rejected_before = rejected(redis_mini)
    held = hold_all(php_clients, loads, bridge, kitefin)
    try:
        assert held.refusals == []
        assert len(set(held.db_ids)) == db_total == db_connections(mariadb)
        assert len(set(held.redis_ids)) == redis_total
        assert bridge.call(lambda: bridge.bridge.active) == redis_total
    finally:
        assert release(held) == [0] * len(loads)
    assert rejected(redis_mini) == rejected_before
    assert "unavailable" not in caplog.text


def test_one_process_more_is_refused_in_one_clear_line(
    php_clients: PhpClients, bridge: BridgeThread, redis_mini: RedisServer, mariadb: MariaDB,
    kitefin: dict[str, Any], quiet: None, caplog: pytest.LogCaptureFixture,
) -> None:
    """The modelled processes, plus one holding exactly the headroom the model leaves (so the
    plans are full: the limits are where the plans say, nothing else takes a connection);
    then one process more, with one database and one Redis connection, is refused on both."""
    caplog.set_level(logging.INFO, logger="appwrite_heroku.dyno.bridge")
    loads = plain_shapes()
    db_total, redis_total = total(loads)
    headroom = ProcessLoad("headroom", db=JAWSDB_KITEFIN_CONNECTIONS - db_total,
                           redis_pool=REDIS_MINI_CLIENTS - redis_total)
    if headroom.db or headroom.redis:
        loads.append(headroom)
    rejected_before = rejected(redis_mini)
    held = hold_all(php_clients, loads, bridge, kitefin)
    try:
        assert held.refusals == []
        assert len(set(held.db_ids)) == JAWSDB_KITEFIN_CONNECTIONS
        assert len(set(held.redis_ids)) == REDIS_MINI_CLIENTS
        more = hold_all(php_clients, [ProcessLoad("one more", db=1, redis_pool=1)], bridge,
                        kitefin)
        one_more = more.processes[0]
        assert more.db_ids == [] and more.redis_ids == []
        refusals = {kind: message for _, kind, message in more.refusals}
        assert release(more) == [1]
    finally:
        assert release(held) == [0] * len(loads)

    # What the process sees (and would log): MariaDB's own words, and the bridge's.
    assert set(refusals) == {"database", "redis pool"}
    assert re.fullmatch(
        rf"SQLSTATE\[HY000\] \[1226\] User '{KITEFIN_USER}' has exceeded the "
        rf"'max_user_connections' resource \(current value: {JAWSDB_KITEFIN_CONNECTIONS}\)",
        refusals["database"]), refusals["database"]
    upstream = f"127.0.0.1:{redis_mini.port}"
    assert refusals["redis pool"].startswith(f"ERR bridge: upstream unavailable ({upstream}): ")
    lines = one_more.stderr.splitlines()
    assert len(lines) == 2 and all(line.startswith("one more: ") for line in lines), lines

    # The bridge's log: one line, naming the upstream and where its URL came from.
    refused_lines = [r.getMessage() for r in caplog.records
                     if r.name == "appwrite_heroku.dyno.bridge" and "unavailable" in r.getMessage()]
    assert len(refused_lines) == 1, refused_lines
    assert refused_lines[0].startswith(f"upstream unavailable ({upstream} from REDIS_URL): ")
    assert CANARY_REDIS_PASSWORD not in caplog.text + one_more.stderr
    assert kitefin["password"] not in one_more.stderr + repr(refusals)
    # The server itself refused it (not the bridge on its own).
    assert rejected(redis_mini) == rejected_before + 1


def test_a_worst_case_beyond_the_plans_is_refused_exactly_at_their_limits(
    php_clients: PhpClients, bridge: BridgeThread, redis_mini: RedisServer, mariadb: MariaDB,
    kitefin: dict[str, Any], quiet: None, caplog: pytest.LogCaptureFixture,
) -> None:
    """Twice the modelled set (a second dyno of it) does not fit: the servers accept exactly
    the plans' limits, every connection past them is refused, and the bridge logs that as one
    line, not one per refusal."""
    caplog.set_level(logging.INFO, logger="appwrite_heroku.dyno.bridge")
    loads = [replace(load, name=f"{load.name} #{copy}") for copy in (1, 2)
             for load in plain_shapes()]
    db_total, redis_total = total(loads)
    held = hold_all(php_clients, loads, bridge, kitefin)
    try:
        assert len(set(held.db_ids)) == min(db_total, JAWSDB_KITEFIN_CONNECTIONS)
        assert len(set(held.redis_ids)) == min(redis_total, REDIS_MINI_CLIENTS)
        kinds = [kind for _, kind, _ in held.refusals]
        assert kinds.count("database") == max(0, db_total - JAWSDB_KITEFIN_CONNECTIONS)
        assert len(kinds) - kinds.count("database") == max(0, redis_total - REDIS_MINI_CLIENTS)
        assert all("[1226]" in message for _, kind, message in held.refusals
                   if kind == "database")
        # The bridge's error; or, for a pooled socket that phpredis took back from a refused
        # pconnect and handed to the next one in the process, a read error once the bridge
        # closes it (the bridge keeps a refused client open for a second, dropping its bytes).
        bridge_error = f"ERR bridge: upstream unavailable (127.0.0.1:{redis_mini.port}): "
        reused_refused = f"read error on connection to 127.0.0.1:{bridge.port}"
        redis_messages = [m for _, kind, m in held.refusals if kind != "database"]
        assert all(m.startswith(bridge_error) or m == reused_refused for m in redis_messages)
        assert any(m.startswith(bridge_error) for m in redis_messages)
    finally:
        statuses = release(held)
    refused = {name for name, _, _ in held.refusals}
    assert statuses == [1 if p.name in refused else 0 for p in held.processes]
    lines = [r.getMessage() for r in caplog.records if "unavailable" in r.getMessage()]
    assert len(lines) == (1 if redis_total > REDIS_MINI_CLIENTS else 0), lines


def test_a_queue_worker_past_the_limit_first_sees_an_empty_queue(
    php_clients: PhpClients, bridge: BridgeThread, kitefin: dict[str, Any], quiet: None,
) -> None:
    """Where phpredis and redis-py part: an error reply makes phpredis return `false` (redis-py
    raises), and utopia-php/queue reads `false` from brPop as "no message". So a worker whose
    connection the bridge could not open upstream first loops as if its queue were empty; only
    its next brPop fails, with a read error, once the bridge has closed the refused client."""
    held = hold_all(php_clients, [ProcessLoad("full", db=0, redis_pool=REDIS_MINI_CLIENTS)],
                    bridge, kitefin)
    try:
        receive = php_clients.start("queue_receive", host="127.0.0.1", port=bridge.port,
                                    queue="v1-mails", rounds=2)
        first, second = receive.expect("received")["outcomes"]
        assert receive.finish() == 0
    finally:
        release(held)
    assert first["outcome"] == "none"
    assert first["last_error"].startswith("ERR bridge: upstream unavailable")
    assert second == {"outcome": "exception",
                      "message": f"read error on connection to 127.0.0.1:{bridge.port}"}


def test_the_bridge_line_names_the_client_limit(
    php_clients: PhpClients, bridge: BridgeThread, redis_mini: RedisServer,
    kitefin: dict[str, Any], quiet: None, caplog: pytest.LogCaptureFixture,
) -> None:
    """What a reader of the dyno's log needs: that the plan's client limit was most likely
    reached. Over TLS, Redis drops a connection beyond maxclients before the handshake without
    writing its error (redis/redis src/networking.c acceptCommonHandler), so the bridge names
    the likely cause from when the connection closed."""
    caplog.set_level(logging.INFO, logger="appwrite_heroku.dyno.bridge")
    held = hold_all(php_clients, [ProcessLoad("full", db=0, redis_pool=REDIS_MINI_CLIENTS)],
                    bridge, kitefin)
    try:
        more = hold_all(php_clients, [ProcessLoad("one more", db=0, redis_pool=1)], bridge,
                        kitefin)
        message = more.refusals[0][2]
        release(more)
    finally:
        release(held)
    for text in (message, caplog.text):
        assert "closed the connection during the TLS handshake" in text
        assert "client limit (maxclients)" in text
        assert "'max number of clients'" in text


@pytest.mark.parametrize("mode", ["plain", "multiplex"])
def test_both_modes_name_the_client_limit_over_tls(
    redis_mini: RedisServer, quiet: None, mode: str, caplog: pytest.LogCaptureFixture,
) -> None:
    """The same line and error in either mode, when others hold every client slot."""
    caplog.set_level(logging.INFO, logger="appwrite_heroku.dyno.bridge")
    holders = [redis_mini.client() for _ in range(REDIS_MINI_CLIENTS)]
    thread = BridgeThread.start(parse_redis_url(redis_mini.url, "REDIS_URL"), mode=mode)
    try:
        for holder in holders:
            holder.ping()
        local = redis.Redis(port=thread.port, socket_timeout=15)
        with pytest.raises(redis.exceptions.ResponseError) as refused:
            local.ping()
        local.close()
    finally:
        thread.stop()
        for holder in holders:
            holder.close()
    assert "during the TLS handshake: most often the plan's client limit (maxclients)" in str(
        refused.value)
    assert "client limit (maxclients)" in caplog.text
    assert CANARY_REDIS_PASSWORD not in caplog.text + str(refused.value)


def test_the_limit_fixtures_are_the_plans(redis_mini: RedisServer, mariadb: MariaDB,
                                          kitefin: dict[str, Any], tmp_path: Path) -> None:
    """The servers really carry the plans' limits (not the defaults of 10000 and 0)."""
    admin: redis.Redis = redis_mini.client(decode_responses=True)  # type: ignore[assignment]
    try:
        assert admin.config_get("maxclients") == {"maxclients": str(REDIS_MINI_CLIENTS)}
    finally:
        admin.close()
    limit = mariadb.root_sql(
        f"SELECT max_user_connections FROM mysql.user WHERE user = '{KITEFIN_USER}'")
    assert int(limit) == JAWSDB_KITEFIN_CONNECTIONS


# -- the model's worst case through the multiplexed bridge and PgBouncer ------------------------

LEASE_WAIT = 1.0  # seconds a dedicated need waits past the ceiling (5 on a dyno): a quick test


@dataclass
class Dyno:
    """One modelled dyno's way to the add-ons: its bridge and its PgBouncer."""

    role: str
    bridge: BridgeThread
    ceiling: int
    database: dict[str, Any]


def _postgres_watch(account: PostgresAccount) -> Any:
    from pdo import ServerWatch  # tests/standins/appwrite: on pytest's pythonpath

    return ServerWatch(account.superuser_psql(), account.user)


@pytest.fixture
def modelled_dynos(redis_mini: RedisServer, heroku_postgres: PostgresAccount,
                   tmp_path: Path) -> Iterator[dict[str, Dyno]]:
    """Every dyno of the button's budget: a multiplexed bridge at the ceiling the budget chose
    for it, and a PgBouncer from pooler.py's own files at the budget's share of the plan."""
    if not (PG_BIN / "postgres").exists() or shutil.which("pgbouncer") is None:
        pytest.skip("needs PostgreSQL and pgbouncer (.ci/run installs them)")
    chosen = modelled_budget()
    pool = chosen.pool()
    assert isinstance(pool, wiring.PoolSize)
    settings = {"_APP_DB_ADAPTER": "postgresql", "_APP_DB_HOST": "127.0.0.1",
                "_APP_DB_PORT": str(heroku_postgres.server.port),
                "_APP_DB_SCHEMA": heroku_postgres.database, "_APP_DB_USER": heroku_postgres.user,
                "_APP_DB_PASS": heroku_postgres.password}
    dynos: dict[str, Dyno] = {}
    started: list[subprocess.Popen[bytes]] = []
    try:
        for dyno in chosen.dynos:
            role = dyno.spec.role
            config = pooler.PoolerConfig(
                upstream=pooler.Upstream.from_settings(settings), listen_port=free_port(),
                pool=pool, directory=tmp_path / f"pgbouncer-{role}",
                run_as=pooler.unprivileged_user())
            pooler.write_files(config)
            started.append(subprocess.Popen(pooler.command("pgbouncer", config),
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            wait_for_port(config.listen_port)
            ceiling = dyno.ceiling(chosen.wiring)
            bridge = BridgeThread.start(parse_redis_url(redis_mini.url, "REDIS_URL"),
                                        mode="multiplex", max_upstream=ceiling,
                                        lease_wait=LEASE_WAIT)
            dynos[role] = Dyno(role, bridge, ceiling, {
                "driver": "pgsql", "host": "127.0.0.1", "port": config.listen_port,
                "schema": heroku_postgres.database, "user": heroku_postgres.user,
                "password": heroku_postgres.password})
        yield dynos
    finally:
        for held in dynos.values():
            held.bridge.stop()
        for proc in started:
            _stop(proc)
        wait_for(lambda: redis_clients(redis_mini) == 0, what="Redis without clients")


def _peak(bridge: BridgeThread) -> int:
    return int(bridge.call(lambda: bridge.bridge.mux.peak))


@contextlib.contextmanager
def holding(php_clients: PhpClients, loads: dict[str, list[ProcessLoad]],
            dynos: dict[str, Dyno]) -> Iterator[tuple[list[Held], list[int]]]:
    """Every modelled process of every dyno holds all it can at once, none refused; on leaving,
    all are let go and the list yielded second is filled with their exit statuses."""
    held = [hold_all(php_clients, loads[role], dynos[role].bridge, dynos[role].database)
            for role in loads]
    statuses: list[int] = []
    try:
        assert [r for h in held for r in h.refusals] == []
        yield held, statuses
    finally:
        statuses += [status for h in held for status in release(h)]


def test_the_modelled_worst_case_fits_through_the_multiplexed_bridge_and_pgbouncer(
    php_clients: PhpClients, modelled_dynos: dict[str, Dyno], redis_mini: RedisServer,
    heroku_postgres: PostgresAccount, quiet_redis: None, caplog: pytest.LogCaptureFixture,
) -> None:
    """Every modelled process of both dynos holds every connection at once, each dedicated
    need in its WATCH at the same time: nothing is refused, and the servers see at most the
    model's upstream figures (Redis: the sum of the ceilings; PostgreSQL: the pools)."""
    caplog.set_level(logging.INFO, logger="appwrite_heroku.dyno.bridge")
    chosen = modelled_budget()
    loads = modelled_worst_case(chosen)
    everything = [load for role in loads for load in loads[role]]
    assert total(everything) == (chosen.db, chosen.redis) == (32, 54)
    assert sum(load.dedicated for load in everything) == sum(d.dedicated for d in chosen.dynos)
    rejected_before = rejected(redis_mini)
    with _postgres_watch(heroku_postgres) as seen, \
            holding(php_clients, loads, modelled_dynos) as (held, statuses):
        assert len([i for h in held for i in h.db_ids]) == chosen.db
        redis_seen = redis_clients(redis_mini)
        peaks = {role: _peak(dyno.bridge) for role, dyno in modelled_dynos.items()}
    assert statuses == [0] * len(everything)
    # Redis: every dedicated need at once held its own upstream, under each dyno's ceiling.
    for dyno in chosen.dynos:
        role = dyno.spec.role
        assert dyno.dedicated < peaks[role] <= modelled_dynos[role].ceiling
    assert redis_seen <= sum(peaks.values()) <= chosen.upstream() == 12
    assert redis_seen > sum(d.dedicated for d in chosen.dynos)
    assert rejected(redis_mini) == rejected_before
    # PostgreSQL: 32 Appwrite connections, never more than the two pools on the server.
    assert 1 <= seen.peak <= chosen.db_upstream() == 14
    assert all(seen.tls)
    assert "busy" not in caplog.text
    print(f"\nserver-side peaks: Redis {redis_seen} clients (bridges {peaks}, ceilings "
          f"{ {r: d.ceiling for r, d in modelled_dynos.items()} }), PostgreSQL {seen.peak} "
          f"backends; Appwrite side {chosen.redis} Redis, {chosen.db} database")


def test_one_more_dedicated_need_is_refused_by_the_ceiling_and_one_more_client_is_queued(
    php_clients: PhpClients, modelled_dynos: dict[str, Dyno], redis_mini: RedisServer,
    heroku_postgres: PostgresAccount, quiet_redis: None, caplog: pytest.LogCaptureFixture,
) -> None:
    """With the modelled worst case held, one more process on the web dyno: its WATCH (a need
    for an upstream of its own) finds every connection under the ceiling taken and gets the
    bridge's refusal, logged as one line; its database connection is served by PgBouncer,
    and the server still sees at most the pools."""
    caplog.set_level(logging.INFO, logger="appwrite_heroku.dyno.bridge")
    chosen = modelled_budget()
    loads = modelled_worst_case(chosen)
    web = modelled_dynos["web"]
    rejected_before = rejected(redis_mini)
    with _postgres_watch(heroku_postgres) as seen, \
            holding(php_clients, loads, modelled_dynos) as (_, statuses):
        more = hold_all(php_clients, [ProcessLoad("one more", db=1, redis_pool=1,
                                                  dedicated=1)], web.bridge, web.database)
        one_more = more.processes[0]
        refusals = [(kind, message) for _, kind, message in more.refusals]
        assert len(more.db_ids) == 1  # served: PgBouncer queues, it does not refuse
        assert release(more) == [1]
    assert statuses == [0] * sum(len(v) for v in loads.values())
    assert refusals == [("redis dedicated",
                         f"ERR bridge: all {web.ceiling} upstream connections busy for "
                         f"{LEASE_WAIT:g}s (APPWRITE_REDIS_BRIDGE_MAX_UPSTREAM); see "
                         "docs/troubleshooting.md")]
    assert one_more.stderr.splitlines() == [
        f"one more: redis dedicated connection refused: {refusals[0][1]}"]
    busy = [r.getMessage() for r in caplog.records
            if r.name.startswith("appwrite_heroku.dyno.bridge") and "busy" in r.getMessage()]
    assert len(busy) == 1, busy
    assert f"all {web.ceiling} upstream connections busy" in busy[0]
    assert CANARY_REDIS_PASSWORD not in caplog.text + one_more.stderr
    assert rejected(redis_mini) == rejected_before  # the server itself refused nothing
    assert seen.peak <= chosen.db_upstream()


@pytest.fixture
def quiet_redis(redis_mini: RedisServer) -> None:
    """No client of an earlier test counts against the limit (modelled_dynos waits for its
    own bridges' connections to close when it stops them)."""
    wait_for(lambda: redis_clients(redis_mini) == 0, what="Redis without clients")
