"""The bridge against real redis-server upstreams (TLS + ACL user, password only, no auth),
driven by redis-py, raw sockets and the `appwrite-heroku redis-bridge` command. Every test that
starts a bridge runs in both modes, plain relay and multiplexed (`mode`)."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import logging
import os
import random
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from appwrite_heroku.config.redis import RedisUpstream, parse_redis_url
from appwrite_heroku.dyno.bridge import (
    MODE_ENV,
    UPSTREAM_ENV,
    BridgeThread,
    RedisBridge,
    new_event_loop,
)
from appwrite_heroku.dyno.redis.client import ClientConnection
from appwrite_heroku.dyno.redis.links import Link
from appwrite_heroku.dyno.redis.mux import MuxClient
from appwrite_heroku.dyno.redis.plain import PlainClient
from appwrite_heroku.dyno.redis.resp import encode_command
from appwrite_heroku.dyno.redis.upstream import Upstream
from helpers import CANARY_REDIS_PASSWORD
from services import RedisServer, free_port, make_self_signed_cert, start_redis, wait_for_port

# Nearly every test here runs a bridge against a real redis-server (docs/contributing.md).
pytestmark = pytest.mark.services
WRONG_PASSWORD = "canary-wrong-Pw-91d0c4aa"


def upstream_of(server: RedisServer, db: int = 0) -> RedisUpstream:
    return parse_redis_url(f"{server.url}/{db}", "REDIS_URL")


# Generous, so that these tests are about behaviour in both modes (blocking pops and
# subscribers keep a connection of their own); tests/test_bridge_mux.py holds the ceiling.
MUX_CEILING = 300


@pytest.fixture(params=["plain", "multiplex"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def mode_options(mode: str) -> dict[str, object]:
    """BridgeThread/RedisBridge keyword arguments for a mode."""
    if mode == "plain":
        return {"mode": mode}
    return {"mode": mode, "max_upstream": MUX_CEILING}


@pytest.fixture
def bridge_to(mode: str) -> Iterator[object]:
    """Starts bridges (in a thread, as the launcher may) and stops them after the test."""
    started: list[BridgeThread] = []

    def start(upstream: RedisUpstream, ca_file: str | None = None) -> BridgeThread:
        bridge = BridgeThread.start(upstream, ca_file=ca_file, connect_timeout=1.0,
                                    **mode_options(mode))  # type: ignore[arg-type]
        started.append(bridge)
        return bridge

    yield start
    for bridge in started:
        bridge.stop()


def client(port: int, **kwargs: object) -> redis.Redis:
    return redis.Redis(host="127.0.0.1", port=port, socket_timeout=30, **kwargs)  # type: ignore[arg-type]


def wait_until(condition: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)


# -- the hidden login, per kind of upstream ----------------------------------------------------

@pytest.mark.parametrize("kind", ["redis_tls_acl", "redis_password", "redis_plain"])
def test_clients_without_credentials_reach_every_kind_of_upstream(
    kind: str, request: pytest.FixtureRequest, bridge_to: object,
) -> None:
    server: RedisServer = request.getfixturevalue(kind)
    bridge = bridge_to(upstream_of(server))  # type: ignore[operator]
    local = client(bridge.port)
    key = f"bridge:{kind}:{uuid.uuid4()}"
    assert local.set(key, b"v\r\n\x00") is True
    assert server.client().get(key) == b"v\r\n\x00"  # type: ignore[attr-defined]
    info = local.client_info()
    assert info["user"] == (server.username or "default")
    assert info["db"] == 0


def test_the_database_from_the_url_is_selected(redis_tls_acl: RedisServer,
                                               bridge_to: object) -> None:
    bridge = bridge_to(upstream_of(redis_tls_acl, db=3))  # type: ignore[operator]
    local = client(bridge.port)
    key = f"bridge:db3:{uuid.uuid4()}"
    local.set(key, "x")
    assert local.client_info()["db"] == 3
    direct = redis_tls_acl.client(db=3)
    assert direct.get(key) == b"x"  # type: ignore[attr-defined]
    assert redis_tls_acl.client().get(key) is None  # type: ignore[attr-defined]


def test_clients_that_send_their_own_auth_still_work(redis_tls_acl: RedisServer,
                                                     bridge_to: object) -> None:
    bridge = bridge_to(upstream_of(redis_tls_acl))  # type: ignore[operator]
    for extra in ({"password": "anything"}, {"username": "app", "password": "anything"},
                  {"username": "app", "password": "anything", "protocol": 3}):
        local = client(bridge.port, **extra)
        assert local.ping() is True
        assert local.client_info()["user"] == "h"
    # redis-cli sends AUTH then the command on one connection.
    done = subprocess.run(
        ["redis-cli", "-p", str(bridge.port), "--no-auth-warning", "--user", "x", "--pass",
         "whatever", "PING"], capture_output=True, text=True, timeout=30,
        env={**os.environ},
    )
    assert done.stdout.strip() == "PONG", done.stderr


# -- what Appwrite does: pipelines, pub/sub, blocking pops, big values -----------------------

def test_pipelines_and_transactions(redis_tls_acl: RedisServer, bridge_to: object) -> None:
    bridge = bridge_to(upstream_of(redis_tls_acl))  # type: ignore[operator]
    local = client(bridge.port)
    key = f"bridge:pipe:{uuid.uuid4()}"
    pipe = local.pipeline(transaction=False)
    for i in range(2000):
        pipe.rpush(key, i)
    pipe.lrange(key, 0, -1)
    results = pipe.execute()
    assert results[:2000] == list(range(1, 2001))
    assert results[-1] == [str(i).encode() for i in range(2000)]
    tx = local.pipeline(transaction=True)
    tx.incr(f"{key}:n").incr(f"{key}:n").get(f"{key}:n")
    assert tx.execute() == [1, 2, b"2"]


def test_pubsub_fans_out_to_many_subscribers(redis_tls_acl: RedisServer,
                                             bridge_to: object) -> None:
    bridge = bridge_to(upstream_of(redis_tls_acl))  # type: ignore[operator]
    channel = f"bridge:realtime:{uuid.uuid4()}"
    subscribers = []
    for _ in range(60):
        pubsub = client(bridge.port).pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe(channel)
        assert pubsub.get_message(timeout=5) is None  # the subscribe confirmation, consumed
        subscribers.append(pubsub)
    publisher = client(bridge.port)
    wait_until(lambda: publisher.pubsub_numsub(channel)[0][1] == 60)
    for i in range(50):
        assert publisher.publish(channel, f"event-{i}") == 60
    for pubsub in subscribers:
        got = []
        while len(got) < 50:
            message = pubsub.get_message(timeout=10)
            assert message is not None, f"a subscriber got only {len(got)} messages"
            got.append(message["data"])
        assert got == [f"event-{i}".encode() for i in range(50)]
        pubsub.close()


def test_brpop_hands_work_between_connections(redis_tls_acl: RedisServer,
                                              bridge_to: object) -> None:
    bridge = bridge_to(upstream_of(redis_tls_acl))  # type: ignore[operator]
    queue = f"bridge:queue:{uuid.uuid4()}"
    results: list[object] = []

    def worker() -> None:
        results.append(client(bridge.port).brpop([queue], timeout=30))

    workers = [threading.Thread(target=worker) for _ in range(5)]
    for thread in workers:
        thread.start()
    producer = client(bridge.port)
    wait_until(lambda: producer.info("clients")["blocked_clients"] >= 5)
    # A window that proves a negative (not a wait for an event): they stay blocked, nothing
    # times out or is answered early.
    time.sleep(0.3)
    assert results == []
    for i in range(5):
        producer.lpush(queue, f"job-{i}")
    for thread in workers:
        thread.join(10)
    assert sorted(r[1] for r in results) == [f"job-{i}".encode() for i in range(5)]  # type: ignore[index]


def test_ten_megabyte_values_pass_both_ways(redis_tls_acl: RedisServer,
                                            bridge_to: object) -> None:
    bridge = bridge_to(upstream_of(redis_tls_acl))  # type: ignore[operator]
    local = client(bridge.port)
    key = f"bridge:big:{uuid.uuid4()}"
    value = random.randbytes(10 * 1024 * 1024 + 7)
    local.set(key, value)
    assert local.get(key) == value
    assert redis_tls_acl.client().strlen(key) == len(value)  # type: ignore[attr-defined]
    local.delete(key)


def test_a_slow_reader_does_not_make_the_bridge_buffer_everything(
    redis_tls_acl: RedisServer, bridge_to: object,
) -> None:
    bridge = bridge_to(upstream_of(redis_tls_acl))  # type: ignore[operator]
    key = f"bridge:slow:{uuid.uuid4()}"
    value = random.randbytes(10 * 1024 * 1024)
    client(bridge.port).set(key, value)
    with socket.create_connection(("127.0.0.1", bridge.port)) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        sock.sendall(encode_command(b"GET", key.encode()) * 8)  # 80 MB of replies

        def upstream_paused() -> bool:
            return any(u.transport is not None and not u.transport.is_reading()
                       for u in bridge.bridge.upstreams())

        # Reading nothing, the client pushes back: the bridge stops reading the upstream (if it
        # never did, this times out), and holds what it had read by then, no more.
        wait_until(lambda: bridge.call(upstream_paused))

        def buffered() -> int:
            return sum(conn.transport.get_write_buffer_size()
                       for conn in bridge.bridge.clients.open if conn.transport is not None)

        held = bridge.call(buffered)
        assert held < 4 * 1024 * 1024, f"the bridge holds {held} bytes for a slow client"
        received, expected = 0, 8 * (len(value) + len(b"$10485760\r\n\r\n"))
        while received < expected:
            chunk = sock.recv(1 << 20)
            assert chunk
            received += len(chunk)
        assert received == expected
    client(bridge.port).delete(key)


# -- byte-for-byte identity with a direct connection -------------------------------------------

def random_commands(rng: random.Random, count: int, prefix: bytes) -> list[bytes]:
    keys = [prefix + b"k%d" % i for i in range(12)]
    lists, hashes = [prefix + b"l%d" % i for i in range(3)], [prefix + b"h%d" % i for i in range(3)]
    sets, zsets = [prefix + b"s%d" % i for i in range(3)], [prefix + b"z%d" % i for i in range(3)]

    def value() -> bytes:
        return rng.randbytes(rng.choice((0, 1, 5, 40, 300)))

    makers = [
        lambda: (b"SET", rng.choice(keys), value()),
        lambda: (b"GET", rng.choice(keys)),
        lambda: (b"INCR", rng.choice(keys)),  # also WRONGTYPE / not-an-integer errors
        lambda: (b"INCRBY", rng.choice(keys), b"%d" % rng.randint(-99, 99)),
        lambda: (b"APPEND", rng.choice(keys), value()),
        lambda: (b"STRLEN", rng.choice(keys)),
        lambda: (b"GETRANGE", rng.choice(keys), b"0", b"%d" % rng.randint(-5, 50)),
        lambda: (b"DEL", rng.choice(keys), rng.choice(lists)),
        lambda: (b"EXISTS", *rng.sample(keys, 3)),
        lambda: (b"TYPE", rng.choice(keys + lists + hashes)),
        lambda: (b"MSET", rng.choice(keys), value(), rng.choice(keys), value()),
        lambda: (b"MGET", *rng.sample(keys, 4)),
        lambda: (b"LPUSH", rng.choice(lists), value()),
        lambda: (b"RPUSH", rng.choice(lists + keys), value(), value()),
        lambda: (b"LPOP", rng.choice(lists)),
        lambda: (b"LRANGE", rng.choice(lists), b"0", b"-1"),
        lambda: (b"LLEN", rng.choice(lists)),
        lambda: (b"HSET", rng.choice(hashes), b"f%d" % rng.randint(0, 9), value()),
        lambda: (b"HGET", rng.choice(hashes), b"f%d" % rng.randint(0, 9)),
        lambda: (b"HGETALL", rng.choice(hashes)),
        lambda: (b"HDEL", rng.choice(hashes), b"f%d" % rng.randint(0, 9)),
        lambda: (b"HINCRBY", rng.choice(hashes), b"n", b"3"),
        lambda: (b"SADD", rng.choice(sets), b"m%d" % rng.randint(0, 9)),
        lambda: (b"SREM", rng.choice(sets), b"m%d" % rng.randint(0, 9)),
        lambda: (b"SCARD", rng.choice(sets)),
        lambda: (b"SISMEMBER", rng.choice(sets), b"m%d" % rng.randint(0, 9)),
        lambda: (b"ZADD", rng.choice(zsets), b"%d" % rng.randint(0, 50),
                 b"m%d" % rng.randint(0, 9)),
        lambda: (b"ZINCRBY", rng.choice(zsets), b"1.5", b"m%d" % rng.randint(0, 9)),
        lambda: (b"ZRANGE", rng.choice(zsets), b"0", b"-1", b"WITHSCORES"),
        lambda: (b"ECHO", value()),
        lambda: (b"PING",),
        lambda: (b"NOSUCHCOMMAND", value()),
        lambda: (b"GET",),  # wrong number of arguments
    ]
    return [encode_command(*rng.choice(makers)()) for _ in range(count)]


def replies_for(sock: socket.socket, commands: list[bytes], rng: random.Random) -> bytes:
    """Sends the commands in random-sized pieces (from a second thread) and returns every
    byte of the replies, up to and including the reply to a final ECHO marker."""
    marker = b"end-of-commands-5f0c2a"  # the same for both runs: its reply is compared too
    stream = b"".join(commands) + encode_command(b"ECHO", marker)
    ending = b"$%d\r\n%s\r\n" % (len(marker), marker)
    cuts = sorted(rng.sample(range(1, len(stream)), 3000))

    def send() -> None:
        start = 0
        for cut in [*cuts, len(stream)]:
            sock.sendall(stream[start:cut])
            start = cut

    sender = threading.Thread(target=send)
    sender.start()
    received = bytearray()
    while not received.endswith(ending):
        chunk = sock.recv(1 << 16)
        assert chunk, "connection closed early"
        received += chunk
    sender.join()
    return bytes(received)


def test_ten_thousand_random_commands_reply_byte_for_byte_as_directly(tmp_path: Path,
                                                                      mode: str) -> None:
    server = start_redis(tmp_path / "redis", tls=True, username="h",
                         password=CANARY_REDIS_PASSWORD)
    bridge = BridgeThread.start(upstream_of(server), **mode_options(mode))  # type: ignore[arg-type]
    try:
        commands = random_commands(random.Random(20261127), 10_000, b"cmp:")
        admin = server.client()

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        with context.wrap_socket(socket.create_connection(("127.0.0.1", server.port))) as direct:
            direct.sendall(encode_command(b"AUTH", b"h", CANARY_REDIS_PASSWORD.encode()))
            assert direct.recv(16) == b"+OK\r\n"
            expected = replies_for(direct, commands, random.Random(1))
        admin.flushall()  # type: ignore[attr-defined]
        with socket.create_connection(("127.0.0.1", bridge.port)) as bridged:
            got = replies_for(bridged, commands, random.Random(2))
        assert len(expected) > 100_000
        assert got == expected
    finally:
        bridge.stop()
        server.stop()


# -- upstream trouble --------------------------------------------------------------------------

def test_an_upstream_restart_closes_clients_which_reconnect_and_continue(tmp_path: Path,
                                                                         mode: str) -> None:
    server = start_redis(tmp_path / "redis", tls=True, username="h",
                         password=CANARY_REDIS_PASSWORD)
    bridge = BridgeThread.start(upstream_of(server), **mode_options(mode))  # type: ignore[arg-type]
    try:
        local = client(bridge.port)
        blocked = client(bridge.port)
        assert local.incr("n") == 1
        outcome: list[BaseException | object] = []

        def wait_forever() -> None:
            try:
                outcome.append(blocked.brpop(["never"], timeout=0))
            except BaseException as error:
                outcome.append(error)

        waiter = threading.Thread(target=wait_forever)
        waiter.start()
        wait_until(lambda: local.info("clients")["blocked_clients"] == 1)

        server.stop()
        waiter.join(10)
        # The in-flight blocking pop is not replayed or left hanging: its connection is
        # closed (redis-py then reconnects once by itself and meets the bridge's error).
        assert len(outcome) == 1
        error = outcome[0]
        assert isinstance(error, redis.ConnectionError) or (
            isinstance(error, redis.ResponseError) and "upstream unavailable" in str(error)
        ), repr(error)
        with pytest.raises((redis.ConnectionError, redis.ResponseError)):
            local.get("n")  # the old connection was closed; a new one cannot log in
        wait_until(lambda: bridge.call(lambda: bridge.bridge.active) == 0)

        server.start()  # same port, empty data
        assert local.incr("n") == 1
        assert blocked.ping() is True
        assert bridge.bridge.upstream_failures >= 1
    finally:
        bridge.stop()
        server.stop()


def test_refused_upstream_gets_a_redis_error_and_the_bridge_keeps_serving(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, mode: str,
) -> None:
    port = free_port()
    upstream = parse_redis_url(f"rediss://h:{CANARY_REDIS_PASSWORD}@127.0.0.1:{port}", "REDIS_URL")
    caplog.set_level(logging.INFO, logger="appwrite_heroku.dyno.bridge")
    bridge = BridgeThread.start(upstream, **mode_options(mode))  # type: ignore[arg-type]
    try:
        for _ in range(3):
            with pytest.raises(redis.ResponseError) as caught:
                client(bridge.port).ping()
            assert str(caught.value) == (
                f"bridge: upstream unavailable (127.0.0.1:{port}): connection refused")
        wait_until(lambda: bridge.call(lambda: bridge.bridge.active) == 0)
        server = start_redis(tmp_path / "redis", tls=True, username="h",
                             password=CANARY_REDIS_PASSWORD, port=port)
        try:
            assert client(bridge.port).ping() is True
        finally:
            server.stop()
    finally:
        bridge.stop()
    refusals = [r.getMessage() for r in caplog.records if "unavailable" in r.getMessage()]
    assert len(refusals) == 1, "one line, not one per connection"  # throttled
    assert f"127.0.0.1:{port}" in refusals[0] and "REDIS_URL" in refusals[0]
    assert CANARY_REDIS_PASSWORD not in caplog.text


@pytest.mark.parametrize("case", ["wrong password", "plain server, TLS client",
                                  "unknown CA", "unresolvable host", "database out of range"])
def test_upstream_failures_become_redis_errors(
    case: str, redis_password: RedisServer, redis_plain: RedisServer, redis_tls_acl: RedisServer,
    tmp_path: Path, caplog: pytest.LogCaptureFixture, bridge_to: object,
) -> None:
    caplog.set_level(logging.INFO, logger="appwrite_heroku.dyno.bridge")
    ca_file = None
    if case == "wrong password":
        url, reason = f"redis://:{WRONG_PASSWORD}@127.0.0.1:{redis_password.port}", "WRONGPASS"
    elif case == "plain server, TLS client":
        # redis-server waits for the end of a line that a ClientHello mostly lacks (or, when
        # its random bytes hold one, answers "-ERR unknown command"): TLS failed either way.
        url, reason = f"rediss://:{WRONG_PASSWORD}@127.0.0.1:{redis_plain.port}", "TLS failed"
    elif case == "unknown CA":
        other, _ = make_self_signed_cert(tmp_path, "other")
        ca_file = str(other)
        url, reason = redis_tls_acl.url, "CERTIFICATE_VERIFY_FAILED"
    elif case == "unresolvable host":
        # A name that fails before any DNS query is sent: tests never leave loopback.
        url, reason = f"redis://:{WRONG_PASSWORD}@bad..name.invalid:6379", "cannot resolve"
    else:
        # A URL may name databases 0-15 only; a server with fewer (Heroku's has one) refuses
        # the SELECT itself: an upstream naming 99 stands for that.
        url, reason = redis_tls_acl.url, "DB index is out of range"
    upstream = parse_redis_url(url, "REDIS_URL")
    if case == "database out of range":
        upstream = dataclasses.replace(upstream, db=99)
    bridge = bridge_to(upstream, ca_file)  # type: ignore[operator]
    with pytest.raises(redis.ResponseError, match=f"bridge: upstream unavailable.*{reason}"):
        client(bridge.port).ping()
    wait_until(lambda: bridge.call(lambda: bridge.bridge.active) == 0)
    assert WRONG_PASSWORD not in caplog.text and CANARY_REDIS_PASSWORD not in caplog.text
    assert reason in caplog.text
    if case == "plain server, TLS client":
        assert "use a redis:// URL instead of rediss://" in caplog.text


def test_a_ca_file_verifies_the_upstream_certificate(redis_tls_acl: RedisServer,
                                                     bridge_to: object) -> None:
    cert = redis_tls_acl.directory / "localhost.crt"  # the server's own self-signed cert
    upstream = parse_redis_url(
        f"rediss://h:{CANARY_REDIS_PASSWORD}@localhost:{redis_tls_acl.port}", "REDIS_URL")
    bridge = bridge_to(upstream, str(cert))  # type: ignore[operator]
    assert client(bridge.port).ping() is True


# -- many connections, and nothing left behind -------------------------------------------------

def fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


async def ping(port: int, read: bool = True) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"PING\r\n")
    if read:
        assert await reader.readexactly(7) == b"+PONG\r\n"
    writer.close()
    await writer.wait_closed()


LOOPS = [pytest.param(new_event_loop, id="uvloop-if-installed"),
         pytest.param(asyncio.new_event_loop, id="asyncio")]


@pytest.mark.parametrize("loop_factory", LOOPS)
def test_a_thousand_connect_disconnect_cycles_leave_nothing_behind(
    redis_tls_acl: RedisServer, loop_factory: object, mode: str,
) -> None:
    kinds = (ClientConnection, PlainClient, Upstream, MuxClient, Link)

    def connection_objects() -> set[int]:
        return {id(o) for o in gc.get_objects() if isinstance(o, kinds)}

    before = connection_objects()

    async def scenario() -> None:
        bridge = RedisBridge(upstream_of(redis_tls_acl), **mode_options(mode))  # type: ignore[arg-type]
        await bridge.start()
        await ping(bridge.port)  # warm up whatever the loop allocates once
        deadline = time.monotonic() + 10
        while bridge.active and time.monotonic() < deadline:  # the warm-up client is gone
            await asyncio.sleep(0.01)
        fds, tasks = fd_count(), len(asyncio.all_tasks())
        for i in range(1000):
            # Every third client leaves without waiting for its reply, every seventh right
            # after connecting (while the bridge is still logging in upstream).
            if i % 7 == 0:
                _, writer = await asyncio.open_connection("127.0.0.1", bridge.port)
                writer.close()
                await writer.wait_closed()
            else:
                await ping(bridge.port, read=i % 3 != 0)
        # Multiplexed, the shared upstream connections stay open (the warm-up opened one;
        # a second may open while the first has replies pending), and only they.
        def shared() -> list[object]:
            return [] if bridge.mux is None else list(bridge.mux.shared)

        deadline = time.monotonic() + 10
        while ((bridge.active or fd_count() != fds + max(0, len(shared()) - 1))
               and time.monotonic() < deadline):
            await asyncio.sleep(0.05)
        assert bridge.accepted == 1001
        assert bridge.active == 0
        assert fd_count() == fds + max(0, len(shared()) - 1)
        assert len(asyncio.all_tasks()) == tasks
        kept = set()
        if bridge.mux is not None:
            assert 1 <= len(shared()) <= bridge.mux.shared_max and bridge.mux.dedicated == 0
            kept = {id(x) for link in bridge.mux.shared for x in (link, link.upstream)}
        # Freed by reference counting alone, not waiting in cycles for the GC (which is off).
        assert connection_objects() - before == kept
        await bridge.close()

    gc.disable()
    try:
        run(scenario(), loop_factory)
    finally:
        gc.enable()


@pytest.mark.parametrize("loop_factory", LOOPS)
def test_five_hundred_concurrent_connections(redis_tls_acl: RedisServer,
                                             loop_factory: object, mode: str) -> None:
    async def scenario() -> None:
        bridge = RedisBridge(upstream_of(redis_tls_acl), **mode_options(mode))  # type: ignore[arg-type]
        await bridge.start()
        connections = await asyncio.gather(
            *(asyncio.open_connection("127.0.0.1", bridge.port) for _ in range(500)))
        for _, writer in connections:
            writer.write(b"PING\r\n")
        replies = await asyncio.gather(*(reader.readexactly(7) for reader, _ in connections))
        assert replies == [b"+PONG\r\n"] * 500
        assert bridge.active == 500
        direct = redis_tls_acl.client()
        if bridge.mux is None:  # all 500 at once, each on its own upstream connection
            assert direct.info("clients")["connected_clients"] >= 500  # type: ignore[attr-defined]
        else:  # all 500 over the shared connections
            assert bridge.mux.peak <= bridge.mux.shared_max
        await bridge.close()
        assert bridge.active == 0
        for reader, writer in connections:
            assert await reader.read() == b""  # closed by the bridge
            writer.close()

    run(scenario(), loop_factory)


@pytest.mark.parametrize("loop_factory", LOOPS)
def test_big_values_and_pipelines_on_either_loop(redis_tls_acl: RedisServer,
                                                 loop_factory: object, mode: str) -> None:
    value = random.randbytes(10 * 1024 * 1024)
    key = f"bridge:loop:{uuid.uuid4()}".encode()

    async def scenario() -> None:
        bridge = RedisBridge(upstream_of(redis_tls_acl), **mode_options(mode))  # type: ignore[arg-type]
        await bridge.start()
        reader, writer = await asyncio.open_connection("127.0.0.1", bridge.port)
        writer.write(encode_command(b"AUTH", b"ignored") + encode_command(b"SET", key, value)
                     + encode_command(b"GET", key) * 3 + encode_command(b"DEL", key))
        expected = b"+OK\r\n+OK\r\n" + (b"$%d\r\n%s\r\n" % (len(value), value)) * 3 + b":1\r\n"
        assert await reader.readexactly(len(expected)) == expected
        writer.close()
        await bridge.close()

    run(scenario(), loop_factory)


def run(coroutine: object, loop_factory: object = new_event_loop) -> None:
    """Runs on the loop the bridge would use (uvloop when installed), or on plain asyncio:
    uvloop is optional, so both must work."""
    loop = loop_factory()  # type: ignore[operator]
    try:
        loop.run_until_complete(coroutine)  # type: ignore[arg-type]
    finally:
        loop.close()


# -- the command ------------------------------------------------------------------------------

def bridge_command(*args: str) -> list[str]:
    return ["appwrite-heroku", "redis-bridge", *args]


@pytest.mark.parametrize("entry", [["appwrite-heroku", "redis-bridge"],
                                   [sys.executable, "-m", "appwrite_heroku.dyno.bridge"]])
def test_the_command_serves_until_sigterm_and_never_prints_the_password(
    entry: list[str], redis_tls_acl: RedisServer, mode: str,
) -> None:
    port = free_port()
    env = {**os.environ, UPSTREAM_ENV: f"{redis_tls_acl.url}/1", MODE_ENV: mode}
    proc = subprocess.Popen([*entry, "--listen", f"127.0.0.1:{port}"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for_port(port)
        local = client(port)
        assert local.ping() is True
        assert local.client_info()["db"] == 1
        assert CANARY_REDIS_PASSWORD not in " ".join(proc.args)  # type: ignore[arg-type]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    out, err = proc.communicate()
    output = (out + err).decode()
    assert CANARY_REDIS_PASSWORD not in output
    assert f"127.0.0.1:{redis_tls_acl.port}" in output and UPSTREAM_ENV in output
    assert ("multiplexed over at most 18" if mode == "multiplex" else "plain relay") in output
    assert "Traceback" not in output
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


def test_the_command_refuses_a_non_loopback_address_in_one_line() -> None:
    env = {**os.environ, UPSTREAM_ENV: f"redis://:{CANARY_REDIS_PASSWORD}@127.0.0.1:1"}
    done = subprocess.run(bridge_command("--listen", "0.0.0.0:6379"), env=env,
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "loopback" in done.stderr
    assert CANARY_REDIS_PASSWORD not in done.stderr + done.stdout


def test_the_command_names_the_variable_when_no_upstream_is_given() -> None:
    env = {k: v for k, v in os.environ.items() if k != UPSTREAM_ENV}
    done = subprocess.run(bridge_command("--listen", "127.0.0.1:6399"), env=env,
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and UPSTREAM_ENV in done.stderr


def test_the_command_refuses_an_unusable_ca_file(tmp_path: Path) -> None:
    env = {**os.environ, UPSTREAM_ENV: "rediss://127.0.0.1:1"}
    not_pem = tmp_path / "ca.pem"
    not_pem.write_text("not a certificate\n")
    for path in (str(not_pem), str(tmp_path / "missing.pem")):
        done = subprocess.run(bridge_command("--listen", "127.0.0.1:6399", "--ca-file", path),
                              env=env, capture_output=True, text=True, timeout=30)
        assert done.returncode == 2
        assert done.stderr.count("\n") == 1 and "--ca-file" in done.stderr


def test_the_command_reports_a_taken_port_in_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**os.environ, UPSTREAM_ENV: "redis://127.0.0.1:1"}
        done = subprocess.run(bridge_command("--listen", f"127.0.0.1:{port}"), env=env,
                              capture_output=True, text=True, timeout=30)
    assert done.returncode == 1
    assert "cannot listen on" in done.stderr and "Traceback" not in done.stderr


def test_upstream_connections_probe_a_silent_upstream(redis_tls_acl: RedisServer,
                                                      bridge_to: object) -> None:
    """A worker blocked in BRPOP sends nothing for minutes: keepalive notices a vanished
    upstream so the worker's connection is closed and it reconnects."""
    bridge = bridge_to(upstream_of(redis_tls_acl))  # type: ignore[operator]
    local = client(bridge.port)
    assert local.ping() is True

    def options() -> list[tuple[int, int]]:
        found = []
        for upstream in bridge.bridge.upstreams():
            sock = upstream.socket
            found.append((sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
                          sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE)))
        return found

    assert bridge.call(options) == [(1, 60)]


def test_bridge_thread_lines_reach_stderr_in_a_host_process() -> None:
    """The launcher runs the bridge as a thread and sets up no logging of its own: a refused
    upstream must still show in the dyno's log (stderr), once, without the password."""
    import sys
    import textwrap

    dead = free_port()
    script = textwrap.dedent("""
        import os, redis
        from appwrite_heroku.dyno.bridge import BridgeThread
        from appwrite_heroku.config.redis import parse_redis_url
        upstream = parse_redis_url(os.environ["UPSTREAM"], "REDIS_URL")
        bridge = BridgeThread.start(upstream)
        try:
            redis.Redis(port=bridge.port).ping()
        except redis.ResponseError:
            pass
        bridge.stop()
    """)
    env = {**os.environ, "UPSTREAM": f"redis://:{CANARY_REDIS_PASSWORD}@127.0.0.1:{dead}"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    assert f"127.0.0.1:{dead}" in done.stderr and "redis-bridge:" in done.stderr
    assert CANARY_REDIS_PASSWORD not in done.stderr + done.stdout


def test_upstream_client_limit_reaches_the_client_as_that_error(tmp_path: Path,
                                                                bridge_to: object,
                                                                mode: str) -> None:
    """Heroku's `mini` plan takes 20 connections: the 21st client must learn why, in words
    the troubleshooting guide names, and the bridge keeps serving the others. Plain, each
    client is an upstream connection; multiplexed, each one that WATCHes (the others share
    one)."""
    server = start_redis(tmp_path / "redis", password=CANARY_REDIS_PASSWORD,
                         extra=["--maxclients", "2"])
    try:
        bridge = bridge_to(upstream_of(server))  # type: ignore[operator]
        first, second = client(bridge.port), client(bridge.port)
        assert first.ping() and second.ping()
        one_more = "PING"
        if mode == "multiplex":
            assert first.execute_command("WATCH", "still")  # the second upstream connection
            one_more = "WATCH"
        with pytest.raises(redis.ResponseError) as caught:
            client(bridge.port).execute_command(one_more, *(["still"] if one_more == "WATCH"
                                                            else []))
        assert "max number of clients reached" in str(caught.value)
        assert first.set("still", "served") and second.ping()
    finally:
        server.stop()
