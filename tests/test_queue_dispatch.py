"""Queue workers on demand, for real: the launcher's dispatcher, a real supervisord and a real
Redis, with stand-in queue workers that consume as utopia-php/queue 0.21.1 does (entry.py's
`consume`: BRPOP, the pid into the processing list, the work, LREM). Every wait polls for the
event it waits for, with a deadline."""

from __future__ import annotations

import json
import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from appwrite_heroku.config import appetite, queues
from helpers import CANARY_REDIS_PASSWORD
from lite import Launched, dyno_env, make_root, pids_alive, recorded_pids
from services import RedisServer, free_port, start_redis

ON_DEMAND = queues.split(appetite.background_set(), queues.QueueOptions())[1]


@pytest.fixture
def redis_server(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A Redis of this test's own: the queue lists and the stand-ins' records start empty."""
    server = start_redis(tmp_path / "redis")
    yield server
    server.stop()


def until(check: Callable[[], object], timeout: float, what: str,
          launched: Launched | None = None) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.02)
    log = "\n".join(launched.lines[-80:]) if launched else ""
    raise AssertionError(f"timed out after {timeout} s waiting for {what}\n{log}")


def push(client, entry_point: str, seconds: float = 0.0) -> str:  # type: ignore[no-untyped-def]
    """A job as Appwrite's publisher writes it (utopia-php/queue 0.21.1 Broker/Redis.php:152-163:
    LPUSH of {pid, queue, timestamp, payload})."""
    queue = queues.queue_name(entry_point)
    assert queue
    pid = uuid.uuid4().hex
    client.lpush(queues.list_keys(queue)[0], json.dumps(
        {"pid": pid, "queue": queue, "timestamp": int(time.time()),
         "payload": {"seconds": seconds}}))
    return pid


def done(client) -> list[dict[str, object]]:  # type: ignore[no-untyped-def]
    return [json.loads(raw) for raw in client.lrange("standin.done", 0, -1)]


def events(client) -> list[dict[str, object]]:  # type: ignore[no-untyped-def]
    return [json.loads(raw) for raw in client.lrange("standin.events", 0, -1)]


def lists_empty(client) -> bool:  # type: ignore[no-untyped-def]
    return all(client.llen(key) == 0 for name in ON_DEMAND
               for key in queues.list_keys(queues.queue_name(name) or ""))


def launch(tmp_path: Path, mariadb, redis: RedisServer, **extra: str) -> Launched:  # type: ignore[no-untyped-def]
    env = dyno_env(make_root(tmp_path), database_url=mariadb.url, redis_url=redis.url,
                   bridge_port=free_port(), **extra)
    launched = Launched("worker", env)
    launched.wait_for_line("queue workers on demand", timeout=60)
    return launched


def test_a_job_on_a_cold_queue_starts_its_worker_through_the_tls_bridge(
        tmp_path: Path, mariadb) -> None:
    """As on Heroku: TLS Redis with a user and password, Appwrite and the dispatcher on the
    local multiplexed bridge. Nothing runs for v1-mails until a job arrives."""
    redis = start_redis(tmp_path / "redis", tls=True, username="h",
                        password=CANARY_REDIS_PASSWORD)
    client = redis.client()
    launched = launch(tmp_path, mariadb, redis)
    try:
        launched.wait_for_line("[worker-stats-usage] worker-stats-usage: consuming")
        assert "worker-mails" not in recorded_pids(tmp_path / "records")
        started = time.monotonic()
        pid = push(client, "worker-mails")
        until(lambda: any(d["pid"] == pid for d in done(client)), 20, "the job done")
        latency = time.monotonic() - started
        print(f"cold queue: job pushed → done in {latency:.2f} s")
        assert latency < 5
        line = launched.wait_for_line("queues: starting worker-mails")
        assert "1 job(s) waiting in v1-mails" in line
        assert [d["worker"] for d in done(client)] == ["worker-mails"]
        assert lists_empty(client)
        assert CANARY_REDIS_PASSWORD not in launched.output
        assert launched.stop() == 0
    finally:
        launched.kill_session()
        redis.stop()


def test_an_idle_worker_stops_but_never_with_a_job_in_flight(tmp_path: Path, mariadb,
                                                             redis_server: RedisServer) -> None:
    client = redis_server.client()
    launched = launch(tmp_path, mariadb, redis_server, APPWRITE_LITE_QUEUE_IDLE="1")
    try:
        # A job that works 3 s: three times the idle time, with both lists "empty" of waiting
        # jobs the whole while; its pid sits in the processing list.
        pid = push(client, "worker-deletes", seconds=3)
        until(lambda: client.llen("utopia-queue.processing.v1-deletes"), 20, "the job taken",
              launched)
        worker = recorded_pids(tmp_path / "records")["worker-deletes"]
        stopped = launched.wait_for_line("queues: stopping worker-deletes", timeout=20)
        assert "idle" in stopped and "v1-deletes and its processing list are empty" in stopped
        finished = [d for d in done(client) if d["pid"] == pid]
        assert finished, "stopped before its job was done"
        lines = launched.lines
        assert lines.index(next(x for x in lines if f"worker-deletes: done {pid}" in x)) < \
            lines.index(stopped)
        until(lambda: not pids_alive([worker]), 20, "the worker gone")
        assert lists_empty(client)
        # It comes back for the next job.
        again = push(client, "worker-deletes")
        until(lambda: any(d["pid"] == again for d in done(client)), 20, "the next job done")
        assert launched.stop() == 0
    finally:
        launched.kill_session()


def max_at_once(records: list[dict[str, object]]) -> int:
    """The most stand-in workers alive at the same time, from their start and exit records."""
    running, most = set(), 0
    for record in sorted(records, key=lambda r: float(r["at"])):  # type: ignore[arg-type]
        if record["event"] == "start":
            running.add(record["worker"])
        else:
            running.discard(record["worker"])
        most = max(most, len(running))
    return most


def test_every_queue_busy_at_once_keeps_to_the_slots_and_loses_nothing(
        tmp_path: Path, mariadb, redis_server: RedisServer) -> None:
    client = redis_server.client()
    launched = launch(tmp_path, mariadb, redis_server, APPWRITE_LITE_QUEUE_SLOTS="2",
                      APPWRITE_LITE_QUEUE_IDLE="1", APPWRITE_LITE_QUEUE_MODE="lazy")
    try:
        # A bad knob on a dyno is a warning and its default, never a dyno that stops.
        warning = launched.wait_for_line("warning: APPWRITE_LITE_QUEUE_MODE must be")
        assert "'lazy'" in warning and "using the default" in warning
        launched.wait_for_line("[worker-stats-usage] worker-stats-usage: consuming")
        pids = {push(client, name, seconds=0.3) for name in ON_DEMAND for _ in range(3)}
        assert len(pids) == 3 * len(ON_DEMAND) == 24
        until(lambda: {d["pid"] for d in done(client)} >= pids, 120, "every job done")
        finished = [d["pid"] for d in done(client)]
        assert sorted(finished) == sorted(pids)  # each exactly once: none lost, none twice
        assert {d["worker"] for d in done(client)} == set(ON_DEMAND)
        on_demand = [e for e in events(client) if e["worker"] in ON_DEMAND]
        assert max_at_once(on_demand) <= 2
        assert lists_empty(client)
        assert launched.stop() == 0
    finally:
        launched.kill_session()


def test_sigterm_with_every_program_busy_exits_well_inside_30_s_and_finishes_jobs(
        tmp_path: Path, mariadb, redis_server: RedisServer) -> None:
    """Every queue always on and each with a 2 s job in flight when Heroku's SIGTERM comes:
    one group, signalled at once, so the dyno is down in about the longest job."""
    client = redis_server.client()
    launched = launch_always_on(tmp_path, mariadb, redis_server)
    try:
        for name in ON_DEMAND:
            launched.wait_for_line(f"[{name}] {name}: consuming")
        pids = {push(client, name, seconds=2) for name in ON_DEMAND}
        until(lambda: all(client.llen(queues.list_keys(queues.queue_name(n) or "")[1])
                          for n in ON_DEMAND), 20, "every job in flight")
        started = time.monotonic()
        status = launched.stop(timeout=30)
        took = time.monotonic() - started
        print(f"SIGTERM → exit with {len(ON_DEMAND) + 4} programs busy: {took:.2f} s")
        assert status == 0 and took < 10
        assert {d["pid"] for d in done(client)} == pids
        assert "SIGTERM to every program at once" in launched.output
    finally:
        launched.kill_session()


def launch_always_on(tmp_path: Path, mariadb, redis: RedisServer) -> Launched:  # type: ignore[no-untyped-def]
    env = dyno_env(make_root(tmp_path, memory_max=str(2048 * 1024 * 1024)),
                   database_url=mariadb.url, redis_url=redis.url, bridge_port=free_port(),
                   APPWRITE_LITE_QUEUE_MODE="always-on")
    return Launched("worker", env)


def test_the_dispatcher_outlives_a_supervisord_that_is_not_up_yet(
        tmp_path: Path, redis_server: RedisServer) -> None:
    """The dispatcher may look before supervisord's socket exists; a failed XML-RPC call must
    not leave it stuck on a broken connection (or kill its thread): once supervisord is up, a
    job waiting starts its worker."""
    import os

    from appwrite_heroku.config.processes import Program
    from appwrite_heroku.dyno import queues as dispatch
    from appwrite_heroku.dyno.supervision import Supervisor, rpc_name

    root = make_root(tmp_path, ("worker-mails",))
    program = Program(name="worker-mails",
                      command=(f"{root['APPWRITE_LITE_BIN_DIR']}/worker-mails",),
                      directory=str(tmp_path), startsecs=1, on_demand=True)
    runtime = Path(os.environ.get("TMPDIR", "/tmp")) / f"q-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "_APP_REDIS_HOST": "127.0.0.1", "_APP_REDIS_PORT": str(redis_server.port),
           "STANDIN_RECORD_DIR": root["STANDIN_RECORD_DIR"]}
    lines: list[str] = []
    supervisor = Supervisor(runtime, [program], env, lines.append)
    dispatcher = dispatch.Dispatcher(
        dispatch.Dispatch({"worker-mails": "v1-mails"}, 1, 60.0),
        dispatch.RedisLists("127.0.0.1", redis_server.port),
        dispatch.Supervisord(supervisor.socket_path, {"worker-mails": rpc_name(program)}),
        lines.append, poll=0.1)
    client = redis_server.client()
    try:
        dispatcher.start()
        pid = push(client, "worker-mails")
        until(lambda: any("cannot look at the queues now" in x for x in lines), 10,
              "a failed look while supervisord is down")
        supervisor.start()
        until(lambda: any(d["pid"] == pid for d in done(client)), 30,
              "the job done once supervisord is up\n" + "\n".join(lines))
        assert any("queues: watching the queues again" in x for x in lines)
    finally:
        dispatcher.stop()
        supervisor.stop()
        shutil.rmtree(runtime, ignore_errors=True)
