"""Appwrite's own Redis client (phpredis, in separate php-cli processes) through the bridge to
a TLS + ACL Redis, in the patterns Appwrite 1.9.6 uses (each PHP script cites its source)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator

import pytest
import redis

from appwrite_heroku.config.redis import parse_redis_url
from appwrite_heroku.dyno.bridge import BridgeThread
from php_clients import PhpClients, by_event, wait_for
from services import RedisServer


@pytest.fixture(scope="module")
def bridge(redis_tls_acl: RedisServer) -> Iterator[BridgeThread]:
    """The bridge as the launcher runs it (a thread), in front of Heroku-like Redis."""
    thread = BridgeThread.start(parse_redis_url(redis_tls_acl.url, "REDIS_URL"))
    yield thread
    thread.stop()


@pytest.fixture
def upstream(redis_tls_acl: RedisServer) -> Iterator[redis.Redis]:
    """A redis-py client straight to the upstream, to look at what Appwrite's clients did."""
    client: redis.Redis = redis_tls_acl.client(decode_responses=True)  # type: ignore[assignment]
    yield client
    client.close()


def where(bridge: BridgeThread) -> dict[str, object]:
    """What Appwrite is told behind the bridge: loopback, the bridge's port, no password."""
    return {"host": "127.0.0.1", "port": bridge.port}


def key() -> str:
    return f"php-{uuid.uuid4().hex[:12]}"


@pytest.mark.parametrize("password", ["", "appwrite-side-Pw-3c1d"],
                         ids=["no password (as the launcher sets it)", "hand-set password"])
def test_a_pooled_pconnect_does_what_appwrite_does_with_it(
    php_clients: PhpClients, bridge: BridgeThread, upstream: redis.Redis, password: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """pconnect + read timeout -1 (+ AUTH only with a password, answered by the bridge), a
    binary-safe value, the rate limiter's MULTI/EXEC, a 9000-command pipeline whose replies
    come back in order, and (without a password) phpredis handing its pooled socket, checked
    with an ECHO, back to the next pconnect in the process."""
    caplog.set_level(logging.INFO, logger="appwrite_heroku.dyno.bridge")
    prefix, size = key(), 3000
    events = by_event(php_clients.run("redis_pool", **where(bridge), prefix=prefix,
                                      password=password, pipeline=size))
    assert events["connected"]["ping"] == "appwrite"
    assert events["get"]["same"] is True
    multi = events["multi"]
    assert multi["replies"] == [[1, True], [2, True], [True, True]]
    assert multi["value"] == "7" and 0 < multi["ttl"] <= 60
    pipeline = events["pipeline"]
    assert pipeline["replies"] == 3 * size
    assert pipeline["counts"] == list(range(1, size + 1))
    assert pipeline["values"] == [f"value-{i}" for i in range(size)]
    assert upstream.get(f"{prefix}:counter") == str(size)
    if not password:
        reused = events["reused"]
        assert reused["client_id"] == events["connected"]["client_id"], "pooled socket reused"
        assert reused["other_id"] != reused["client_id"]
    assert "unavailable" not in caplog.text


@pytest.mark.parametrize("mode", ["plain", "multiplex"])
def test_a_reused_pooled_socket_with_a_hand_set_password(
    php_clients: PhpClients, redis_tls_acl: RedisServer, mode: str,
) -> None:
    """Only with `_APP_REDIS_PASS` set by hand (the launcher sets it empty behind the bridge):
    realtime's getRedis() pconnects + AUTHs once per coroutine, reusing phpredis's pool, so
    the AUTH comes mid-stream (after phpredis's ECHO liveness check) and is answered without
    the client's password reaching the upstream."""
    thread = BridgeThread.start(parse_redis_url(redis_tls_acl.url, "REDIS_URL"), mode=mode)
    try:
        events = by_event(php_clients.run("redis_pool", **where(thread), prefix=key(),
                                          password="appwrite-side-Pw-3c1d", pipeline=1))
    finally:
        thread.stop()
    assert "error" not in events["reused"], events["reused"]
    assert events["reused"]["client_id"] == events["connected"]["client_id"]


def test_a_queue_connection_pops_blocks_times_out_and_stays_usable(
    php_clients: PhpClients, bridge: BridgeThread, upstream: redis.Redis,
) -> None:
    """connect without AUTH; brPop on an empty queue returns [] after its timeout (1 s;
    Appwrite waits 2) and the same connection still serves; brPop, bRPopLPush and lRem as
    utopia-php/queue uses them."""
    name = key()
    events = by_event(php_clients.run("redis_queue", **where(bridge), queue=name, timeout=1))
    empty = events["empty_pop"]
    assert empty["reply"] == []
    assert empty["seconds"] >= 0.9, "brPop must block for its timeout, not return at once"
    popped = events["popped"]
    assert popped["list"] == name and popped["job"]["payload"] == {"n": 1}
    moved = events["moved"]
    assert moved["moved"] == "job-a" and moved["processing"] == ["job-a"]
    assert moved["removed"] == 1 and moved["left"] == ["job-b"]
    assert moved["processing_after"] == 0
    assert upstream.exists(name, f"{name}.processing") == 0


def test_subscriber_process_gets_a_publisher_process_messages_in_order(
    php_clients: PhpClients, bridge: BridgeThread, upstream: redis.Redis,
) -> None:
    """The realtime server subscribes in one process; an API worker publishes from another."""
    channel, count = key(), 500
    subscriber = php_clients.start("pubsub_subscriber", **where(bridge), channel=channel,
                                   messages=count)
    assert subscriber.expect("pinged")["reply"] == "1"  # phpredis sends ping(true) as PING 1
    wait_for(lambda: upstream.pubsub_numsub(channel) == [(channel, 1)],
             what="the subscriber's SUBSCRIBE reaching Redis")
    published = by_event(php_clients.run("pubsub_publisher", **where(bridge), channel=channel,
                                         messages=count))
    assert published["published"]["receivers"] == [1]
    received = subscriber.expect("received")
    assert received["channel"] == channel
    assert received["sequence"] == list(range(count))
    subscriber.stop()


def test_a_dozen_worker_processes_blocked_at_once_each_get_exactly_one_job(
    php_clients: PhpClients, bridge: BridgeThread, upstream: redis.Redis,
) -> None:
    """Twelve queue workers, each with its own two connections, all blocked in brPop at the
    same time; a publisher process enqueues twelve jobs; each worker serves exactly one."""
    name, workers = key(), 12
    blocked_before = int(upstream.info("clients")["blocked_clients"])
    started = [php_clients.start("queue_worker", f"worker-{i}", **where(bridge), name=name,
                                 jobs=1) for i in range(workers)]
    pids = {w.expect("started")["pid"] for w in started}
    assert len(pids) == workers, "separate processes"
    wait_for(lambda: int(upstream.info("clients")["blocked_clients"]) - blocked_before
             == workers, what="all twelve workers blocked in BRPOP")
    published = by_event(php_clients.run("queue_publisher", **where(bridge), name=name,
                                         jobs=workers))["published"]["pids"]
    served = [w.expect("served")["jobs"] for w in started]
    assert all(len(jobs) == 1 for jobs in served), served
    assert sorted(jobs[0]["pid"] for jobs in served) == sorted(published)
    assert all(w.finish() == 0 for w in started)
    namespace = "utopia-queue"
    assert upstream.llen(f"{namespace}.queue.{name}") == 0
    assert upstream.llen(f"{namespace}.processing.{name}") == 0
    assert upstream.get(f"{namespace}.stats.{name}.success") == str(workers)
    assert upstream.get(f"{namespace}.stats.{name}.processing") == "0"
