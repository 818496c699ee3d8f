"""Appwrite's own Redis client (phpredis) through the multiplexing bridge, in Appwrite's patterns,
against a TLS Redis that admits 20 clients, like Heroku's mini plan: 10 queue workers blocked in
brPop (plain connect, no AUTH), one realtime subscriber and 50 pooled connections doing cache
and rate-limit traffic at once. Every one is served, and the server itself never holds more
connections than the bridge's ceiling (polled with INFO clients, checked with CLIENT LIST)."""

from __future__ import annotations

import json
import queue
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from appwrite_heroku.config.redis import parse_redis_url
from appwrite_heroku.config.wiring import DEFAULT_MAX_UPSTREAM
from appwrite_heroku.dyno.bridge import BridgeThread
from helpers import CANARY_REDIS_PASSWORD
from services import RedisServer, start_redis

SCRIPT = Path(__file__).parent / "php" / "mux_appwrite.php"
MAXCLIENTS = 20  # Heroku Key-Value Store mini

pytestmark = pytest.mark.skipif(shutil.which("php") is None, reason="php-cli not installed")


class PhpClient:
    """One PHP process: configuration in on stdin, JSON events out on stdout."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.proc = subprocess.Popen(["php", str(SCRIPT)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.say(json.dumps(config))

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.events.put(json.loads(line))
        self.events.put({"event": "exit"})

    def say(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def event(self, name: str, timeout: float = 60.0) -> dict[str, Any]:
        got = self.events.get(timeout=timeout)
        if got["event"] != name:
            stderr = self.proc.stderr.read() if got["event"] == "exit" else ""  # type: ignore[union-attr]
            raise AssertionError(f"expected {name!r}, got {got} {stderr}")
        return got

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


def probe(server: RedisServer) -> redis.Redis:
    """A connection of the test's own, named so that it is not counted."""
    return server.client(client_name="probe")  # type: ignore[return-value]


class ClientCount:
    """The most connections the server held at once, less the test's own, polled with
    CLIENT LIST."""

    def __init__(self, server: RedisServer) -> None:
        self.admin = probe(server)
        self.most = 0
        self.client_list_at_most = ""  # the CLIENT LIST seen at the most, for a failure
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.is_set():
            listing = self.admin.execute_command("CLIENT", "LIST")
            text = listing.decode() if isinstance(listing, bytes) else str(listing)
            bridged = [line for line in text.splitlines() if " name=probe " not in line]
            if len(bridged) > self.most:
                self.most, self.client_list_at_most = len(bridged), "\n".join(bridged)
            time.sleep(0.01)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join(5)
        return self.most


@pytest.fixture
def mini_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = start_redis(tmp_path / "redis", tls=True, username="h",
                         password=CANARY_REDIS_PASSWORD,
                         extra=["--maxclients", str(MAXCLIENTS)])
    yield server
    server.stop()


def test_appwrite_workers_subscriber_and_fifty_pooled_clients_fit_a_twenty_client_redis(
    mini_redis: RedisServer,
) -> None:
    ceiling = DEFAULT_MAX_UPSTREAM  # 18: the poller below takes one more of the 20
    bridge = BridgeThread.start(parse_redis_url(mini_redis.url, "REDIS_URL"), mode="multiplex",
                                max_upstream=ceiling)
    count = ClientCount(mini_redis)
    prefix = f"mux:{uuid.uuid4()}"
    base = {"host": "127.0.0.1", "port": bridge.port, "prefix": prefix}
    admin = probe(mini_redis)
    processes: list[PhpClient] = []
    try:
        workers = [PhpClient({**base, "role": "worker", "queue": "v1-mails"}) for _ in range(10)]
        processes += workers
        for worker in workers:
            worker.event("started")
        deadline = time.monotonic() + 30
        while admin.info("clients")["blocked_clients"] < 10:
            assert time.monotonic() < deadline, "the workers are not all blocked in brPop"
            time.sleep(0.05)

        channel = f"{prefix}:realtime"
        subscriber = PhpClient({**base, "role": "subscriber", "channel": channel, "messages": 20})
        processes.append(subscriber)
        assert subscriber.event("pinged")["reply"]  # truthy, all realtime.php:630 asks
        deadline = time.monotonic() + 30
        while admin.pubsub_numsub(channel)[0][1] != 1:
            assert time.monotonic() < deadline, "the subscriber never subscribed"
            time.sleep(0.05)

        caches = [PhpClient({**base, "role": "cache", "n": n, "requests": 100})
                  for n in range(50)]
        processes += caches
        for cache in caches:
            assert cache.event("ready")["ping"] is True
        for cache in caches:
            cache.say("go")  # all fifty at once

        # Meanwhile: the API enqueues jobs and publishes realtime events (through the bridge).
        api = redis.Redis(port=bridge.port, protocol=2)
        for n in range(20):
            api.publish(channel, json.dumps({"n": n}))
        for n in range(10):
            api.lpush("utopia-queue.queue.v1-mails", json.dumps({"id": n}))

        done = [cache.event("done", timeout=120) for cache in caches]
        served = sorted(worker.event("served", timeout=60)["job"] for worker in workers)
        received = subscriber.event("received", timeout=60)["sequence"]
        most = count.stop()
        peak = bridge.bridge.mux.peak  # type: ignore[union-attr]
        refusals = bridge.bridge.mux.ceiling_refusals  # type: ignore[union-attr]
        print(f"\nphpredis scenario: 61 PHP processes (71 Redis connections), upstream "
              f"clients at most {most} on the server (bridge peak {peak}, ceiling {ceiling}, "
              f"server maxclients {MAXCLIENTS}); {refusals} ceiling refusal(s)")
        assert served == list(range(10))
        assert received == list(range(20))
        assert [d["wrong"] for d in done] == [0] * 50
        assert most <= ceiling and peak <= ceiling, count.client_list_at_most
        assert refusals == 0
        assert int(admin.get(f"{prefix}:success") or 0) == 10
    finally:
        count.stop()
        for process in processes:
            process.stop()
        bridge.stop()


def test_the_same_clients_through_the_plain_relay_overrun_the_twenty(
    mini_redis: RedisServer,
) -> None:
    """The control: without multiplexing, 25 pooled clients alone are more than the server
    admits (one upstream connection each), and the refusal reaches phpredis."""
    bridge = BridgeThread.start(parse_redis_url(mini_redis.url, "REDIS_URL"), mode="plain")
    base = {"host": "127.0.0.1", "port": bridge.port, "prefix": f"plain:{uuid.uuid4()}"}
    processes = [PhpClient({**base, "role": "cache", "n": n, "requests": 1}) for n in range(25)]
    try:
        events = [p.event("ready") for p in processes]
        refused = [e["error"] for e in events if e["ping"] is not True]
        # Over TLS, redis-server closes a client past maxclients without a readable error.
        assert len(refused) == 25 - MAXCLIENTS
        assert all(e.startswith("ERR bridge: upstream unavailable") for e in refused), refused
        assert bridge.bridge.upstream_failures == 25 - MAXCLIENTS
    finally:
        for process in processes:
            process.stop()
        bridge.stop()


def test_resp3_and_select_clients_share_upstream_connections_under_a_mini_plan(
    mini_redis: RedisServer,
) -> None:
    """Clients that change their connection's state without needing one of their own: 25
    redis-py clients speaking RESP3 (HELLO 3 on every connection, redis-py 8's default) and
    25 phpredis processes whose pool SELECTs database 1, all at once, with the rate
    limiter's MULTI/EXEC in every round. They used to pin an upstream connection each (50 >
    20); now they all fit the shared connections, far below the ceiling."""
    ceiling = DEFAULT_MAX_UPSTREAM
    bridge = BridgeThread.start(parse_redis_url(mini_redis.url, "REDIS_URL"), mode="multiplex",
                                max_upstream=ceiling)
    count = ClientCount(mini_redis)
    prefix = f"sessions:{uuid.uuid4()}"
    base = {"host": "127.0.0.1", "port": bridge.port, "prefix": prefix}
    processes: list[PhpClient] = []
    errors: list[BaseException] = []

    def resp3_client(n: int) -> None:
        try:
            client = redis.Redis(port=bridge.port, protocol=3, client_name=f"app-{n}")
            assert client.client_info()["resp"] == "3"
            for i in range(60):
                key = f"{prefix}:resp3:{n}"
                client.hset(key, mapping={"i": i, "n": n})
                assert client.hgetall(key) == {b"i": str(i).encode(), b"n": str(n).encode()}
                with client.pipeline(transaction=True) as pipe:
                    assert pipe.incr(f"{key}:limit").expire(f"{key}:limit", 60).execute() == [
                        i + 1, True]
            client.close()
        except BaseException as error:
            errors.append(error)

    try:
        caches = [PhpClient({**base, "role": "cache", "n": n, "requests": 60, "db": 1})
                  for n in range(25)]
        processes += caches
        for cache in caches:
            assert cache.event("ready")["ping"] is True
        threads = [threading.Thread(target=resp3_client, args=(n,)) for n in range(25)]
        for cache in caches:
            cache.say("go")
        for thread in threads:
            thread.start()
        done = [cache.event("done", timeout=120) for cache in caches]
        for thread in threads:
            thread.join(120)
        most = count.stop()
        pool = bridge.bridge.mux
        assert pool is not None
        print(f"\nRESP3 and SELECT clients: 25 + 25 clients, upstream clients at most {most} "
              f"on the server (bridge peak {pool.peak}, ceiling {ceiling})")
        assert errors == []
        assert [d["wrong"] for d in done] == [0] * 25
        assert most <= pool.shared_max and pool.peak <= pool.shared_max, count.client_list_at_most
        assert pool.ceiling_refusals == 0 and pool.dedicated == 0
        in_db1 = mini_redis.client(db=1, client_name="probe")
        assert in_db1.exists(*(f"{prefix}:cache:{n}" for n in range(25))) == 25
        assert probe(mini_redis).exists(f"{prefix}:cache:0") == 0  # not in database 0
    finally:
        count.stop()
        for process in processes:
            process.stop()
        bridge.stop()
