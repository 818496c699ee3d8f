"""The bridge's multiplexed mode: RESP framing (pure), then the multiplexer against a real TLS +
ACL redis-server, counting the upstream connections on the server itself.

tests/test_bridge_relay.py runs every relay test in this mode too; these are the cases that
only multiplexing has: sharing, the ceiling, dedicated connections coming and going, and what
happens to replies when a client or an upstream connection goes away mid-flight."""

from __future__ import annotations

import logging
import os
import random
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from hypothesis import given, settings
from hypothesis import strategies as st

from appwrite_heroku.config.redis import RedisUpstream, parse_redis_url
from appwrite_heroku.dyno.bridge import (
    MAX_UPSTREAM_ENV,
    MODE_ENV,
    BridgeOptions,
    BridgeThread,
    bridge_options,
)
from appwrite_heroku.dyno.redis.commands import Route, route_of
from appwrite_heroku.dyno.redis.pool import ceiling_reply
from appwrite_heroku.dyno.redis.resp import (
    CommandReader,
    ProtocolError,
    ReplyScanner,
    encode_command,
)
from appwrite_heroku.dyno.redis.subscriptions import Subscriptions
from appwrite_heroku.errors import InputError
from helpers import CANARY_REDIS_PASSWORD
from services import RedisServer, start_redis

# -- replies: boundaries only ------------------------------------------------------------------

# Nearly every test here runs a bridge against a real redis-server (docs/contributing.md).
pytestmark = pytest.mark.services
REPLIES = [b"+OK\r\n", b"-ERR no\r\n", b":-5\r\n", b"$-1\r\n", b"*-1\r\n", b"*0\r\n",
           b"$0\r\n\r\n", b"$5\r\na\r\nb\r\r\n", b"*2\r\n$1\r\n*\r\n*1\r\n:1\r\n",
           b"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$3\r\nhi!\r\n", b"$13\r\n$3\r\nabc\r\n*1\r\n\r\n",
           # RESP3: null, double, boolean, big number, verbatim and blob error, map, set, an
           # attribute before the reply it annotates
           b"_\r\n", b",1.5\r\n", b"#t\r\n", b"(12345678901234567890\r\n",
           b"=7\r\ntxt:a\r\n\r\n", b"!5\r\nERR x\r\n", b"%2\r\n+a\r\n:1\r\n$1\r\nb\r\n*1\r\n_\r\n",
           b"~2\r\n:1\r\n%0\r\n", b"|1\r\n+ttl\r\n:3\r\n$1\r\nv\r\n"]


def scan(stream: bytes, cuts: list[int]) -> list[int]:
    scanner, ends, start = ReplyScanner(), [], 0
    for cut in [*cuts, len(stream)]:
        ends += [start + end for end in scanner.feed(stream[start:cut])]
        start = cut
    assert scanner.idle
    return ends


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(REPLIES), min_size=1, max_size=30), st.data())
def test_reply_boundaries_do_not_depend_on_where_chunks_are_cut(
    replies: list[bytes], data: st.DataObject,
) -> None:
    stream = b"".join(replies)
    cuts = sorted(set(data.draw(st.lists(st.integers(1, max(1, len(stream) - 1)), max_size=12))))
    cuts = [c for c in cuts if c < len(stream)]
    expected, pos = [], 0
    for reply in replies:
        pos += len(reply)
        expected.append(pos)
    assert scan(stream, cuts) == expected


def test_a_big_bulk_streams_through_the_scanner_without_being_held() -> None:
    scanner = ReplyScanner()
    assert scanner.feed(b"$10485760\r\n" + b"x" * 1000) == []
    for _ in range(10239):
        assert scanner.feed(b"y" * 1024) == []
    assert scanner.feed(b"z" * 24 + b"\r\n+OK\r\n") == [26, 31]
    assert len(scanner._line) == 0 and scanner.idle


def test_the_scanner_refuses_what_is_not_resp() -> None:
    with pytest.raises(ProtocolError):
        ReplyScanner().feed(b"$x\r\n")
    with pytest.raises(ProtocolError):
        ReplyScanner().feed(b"?1\r\n")  # no such type
    # A RESP3 push answers no command: where nothing subscribes (a shared connection), one
    # would be taken for a reply, so it is refused; a dedicated connection passes it.
    push = b">3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nm\r\n"
    with pytest.raises(ProtocolError):
        ReplyScanner(pushes=False).feed(push)
    assert ReplyScanner().feed(push) == [len(push)]


# -- commands ----------------------------------------------------------------------------------

def read_all(chunks: list[bytes]) -> list[list[bytes]]:
    reader, out = CommandReader(), []
    for chunk in chunks:
        out += reader.feed(chunk)
    return out


def test_commands_come_out_whole_wherever_the_stream_is_cut() -> None:
    rng = random.Random(7)
    commands = [[b"SET", b"k%d" % i, rng.randbytes(rng.choice((0, 3, 300)))] for i in range(300)]
    stream = b"".join(encode_command(*c) for c in commands)
    for _ in range(20):
        cuts = sorted(rng.sample(range(1, len(stream)), 200))
        chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
        assert read_all(chunks) == commands


def test_whole_is_true_only_for_chunks_of_whole_commands() -> None:
    reader = CommandReader()
    get = encode_command(b"GET", b"k")
    reader.feed(get * 3)
    assert reader.whole
    reader.feed(get + get[:9])  # ends inside a command, at an argument boundary
    assert not reader.whole
    reader.feed(get[9:] + get)  # begins inside one
    assert not reader.whole
    reader.feed(get)
    assert reader.whole


def test_inline_commands() -> None:
    assert read_all([b"PING\r\n", b"SET k  v\r\nGET", b" k\n", b"\r\n", b"   \r\n"]) == [
        [b"PING"], [b"SET", b"k", b"v"], [b"GET", b"k"]]
    # inline, then RESP on a line of its own: both
    assert read_all([b"PING\r\n" + encode_command(b"GET", b"k")]) == [[b"PING"], [b"GET", b"k"]]
    with pytest.raises(ProtocolError, match="quoted"):
        read_all([b'SET k "a b"\r\n'])
    with pytest.raises(ProtocolError, match="too big"):
        read_all([b"x" * (64 * 1024 + 1)])


def test_empty_and_null_arrays_are_dropped_as_redis_does() -> None:
    assert read_all([b"*0\r\n*-1\r\n" + encode_command(b"PING")]) == [[b"PING"]]
    with pytest.raises(ProtocolError):
        read_all([b"*1\r\n:1\r\n"])  # not bulk strings: Redis closes such a connection
    with pytest.raises(ProtocolError):
        read_all([b"*1\r\n$x\r\n"])


@pytest.mark.parametrize(("command", "route"), [
    ([b"get", b"k"], Route.SHARED),
    ([b"CLIENT", b"SETINFO", b"LIB-NAME", b"x"], Route.SHARED),
    ([b"client", b"id"], Route.SHARED),
    ([b"CLIENT", b"setname", b"x"], Route.NAME), ([b"client", b"GETNAME"], Route.NAME),
    ([b"CLIENT", b"SETNAME"], Route.SHARED),  # the upstream's arity error
    ([b"CLIENT", b"REPLY", b"OFF"], Route.PINNED),
    ([b"CLIENT", b"TRACKING", b"on"], Route.PINNED),
    ([b"brpop", b"q", b"0"], Route.BLOCKING),
    ([b"BLMOVE", b"a", b"b", b"LEFT", b"RIGHT", b"0"], Route.BLOCKING),
    ([b"BZMPOP", b"1", b"1", b"z", b"MIN"], Route.BLOCKING),
    ([b"WAIT", b"1", b"0"], Route.BLOCKING),
    ([b"XREAD", b"COUNT", b"1", b"BLOCK", b"0", b"STREAMS", b"s", b"$"], Route.BLOCKING),
    ([b"XREAD", b"STREAMS", b"block", b"0"], Route.SHARED),  # a stream named "block"
    ([b"XREADGROUP", b"GROUP", b"g", b"c", b"block", b"10", b"STREAMS", b"s", b">"],
     Route.BLOCKING),
    ([b"MULTI"], Route.MULTI), ([b"watch", b"k"], Route.WATCH),
    ([b"EXEC"], Route.SHARED), ([b"UNWATCH"], Route.SHARED),
    ([b"SUBSCRIBE", b"c"], Route.SUBSCRIBE), ([b"ssubscribe", b"c"], Route.SUBSCRIBE),
    ([b"PSUBSCRIBE", b"c*"], Route.SUBSCRIBE), ([b"UNSUBSCRIBE"], Route.SHARED),
    ([b"SELECT", b"1"], Route.SESSION), ([b"hello", b"3"], Route.SESSION),
    ([b"RESET"], Route.RESET), ([b"RESET", b"x"], Route.SHARED), ([b"MONITOR"], Route.PINNED),
    ([b"auth", b"p"], Route.AUTH), ([b"QUIT"], Route.QUIT),
])
def test_routes(command: list[bytes], route: Route) -> None:
    assert route_of(command) is route


def message(*items: bytes | int | None) -> bytes:
    out = [b"*%d\r\n" % len(items)]
    for item in items:
        if item is None:
            out.append(b"$-1\r\n")
        elif isinstance(item, int):
            out.append(b":%d\r\n" % item)
        else:
            out.append(b"$%d\r\n%s\r\n" % (len(item), item))
    return b"".join(out)


def test_a_subscriber_is_clean_only_when_unsubscribed_from_everything_and_answered() -> None:
    subs = Subscriptions()
    subs.sent([b"SUBSCRIBE", b"a", b"b"])
    subs.sent([b"PSUBSCRIBE", b"p*"])
    assert not subs.clean
    for reply in (message(b"subscribe", b"a", 1), message(b"subscribe", b"b", 2),
                  message(b"psubscribe", b"p*", 3), message(b"message", b"a", b"hi"),
                  message(b"pmessage", b"p*", b"px", b"hi")):
        subs.received(reply)
    assert subs.idle and not subs.clean
    subs.sent([b"UNSUBSCRIBE"])  # all channels: one reply each, patterns stay
    subs.received(message(b"unsubscribe", b"a", 2))
    assert not subs.idle
    subs.received(message(b"unsubscribe", b"b", 1))
    assert subs.idle and not subs.clean
    subs.sent([b"PING"])
    subs.received(message(b"pong", b""))
    subs.sent([b"PUNSUBSCRIBE", b"p*"])
    subs.received(message(b"punsubscribe", b"p*", 0))
    assert subs.clean
    subs.sent([b"UNSUBSCRIBE"])  # nothing left: one reply with a null channel
    assert not subs.clean
    subs.received(message(b"unsubscribe", None, 0))
    assert subs.clean


def test_an_ordinary_reply_that_looks_like_a_confirmation_is_not_one() -> None:
    subs = Subscriptions()
    subs.sent([b"LRANGE", b"l", b"0", b"-1"])
    subs.received(message(b"subscribe", b"x", 1))  # a list that holds those three values
    assert subs.clean


def test_bridge_options_from_arguments_and_environment() -> None:
    assert bridge_options({}) == BridgeOptions("plain", None)
    assert bridge_options({MODE_ENV: "Multiplex", MAX_UPSTREAM_ENV: "12"}) == BridgeOptions(
        "multiplex", 12)
    assert bridge_options({MODE_ENV: "multiplex"}, max_upstream="7") == BridgeOptions(
        "multiplex", 7)
    assert bridge_options({MAX_UPSTREAM_ENV: "12"}) == BridgeOptions("plain", None)
    for environ in ({MODE_ENV: "pooled"}, {MODE_ENV: "multiplex", MAX_UPSTREAM_ENV: "1"},
                    {MODE_ENV: "multiplex", MAX_UPSTREAM_ENV: "lots"}):
        with pytest.raises(InputError) as caught:
            bridge_options(environ)
        assert "\n" not in str(caught.value)


# -- against a real server ---------------------------------------------------------------------

@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    """A server of its own per test, so that its client count is this test's alone."""
    server = start_redis(tmp_path / "redis", tls=True, username="h",
                         password=CANARY_REDIS_PASSWORD)
    yield server
    server.stop()


@pytest.fixture
def mux(server: RedisServer) -> Iterator[Callable[..., BridgeThread]]:
    started: list[BridgeThread] = []

    def start(max_upstream: int = 4, **kwargs: object) -> BridgeThread:
        upstream: RedisUpstream = parse_redis_url(server.url, "REDIS_URL")
        bridge = BridgeThread.start(upstream, connect_timeout=2.0, mode="multiplex",
                                    max_upstream=max_upstream, **kwargs)  # type: ignore[arg-type]
        started.append(bridge)
        return bridge

    yield start
    for bridge in started:
        bridge.stop()


def local(bridge: BridgeThread, **kwargs: object) -> redis.Redis:
    """A RESP2 client, like phpredis (redis-py 8 would say HELLO 3 and keep a connection)."""
    return redis.Redis(port=bridge.port, socket_timeout=20, protocol=2, **kwargs)  # type: ignore[arg-type]


def upstream_clients(server: RedisServer) -> int:
    """Connections the server holds, less the one asking."""
    admin = server.client()
    return int(admin.info("clients")["connected_clients"]) - 1  # type: ignore[attr-defined]


def wait_until(condition: Callable[[], object], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)


def state(bridge: BridgeThread) -> tuple[int, int, int]:
    """(shared, dedicated, idle dedicated) upstream connections."""
    m = bridge.bridge.mux
    assert m is not None
    return bridge.call(lambda: (len(m.shared), m.dedicated, len(m.idle)))  # type: ignore[no-any-return]


def exchange(bridge: BridgeThread, stream: bytes, expected: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", bridge.port), timeout=20) as sock:
        sock.sendall(stream)
        got = b""
        while len(got) < len(expected):
            chunk = sock.recv(1 << 20)
            if not chunk:
                break
            got += chunk
        return got


def test_two_hundred_clients_share_one_upstream_connection(
    server: RedisServer, mux: Callable[..., BridgeThread],
) -> None:
    bridge = mux(max_upstream=2)  # one shared connection, one for a dedicated need
    clients = [local(bridge) for _ in range(200)]
    for i, c in enumerate(clients):
        assert c.set(f"k{i}", i) is True
    assert [c.get(f"k{i}") for i, c in enumerate(clients)] == [str(i).encode()
                                                               for i in range(200)]
    assert upstream_clients(server) == 1
    assert bridge.bridge.mux.peak == 1  # type: ignore[union-attr]


def test_pipelines_from_many_clients_interleave_on_one_upstream_and_stay_ordered(
    server: RedisServer, mux: Callable[..., BridgeThread],
) -> None:
    bridge = mux(max_upstream=2)
    errors: list[BaseException] = []

    def run(n: int) -> None:
        try:
            c = local(bridge)
            for round_no in range(5):
                pipe = c.pipeline(transaction=False)
                values = [f"{n}:{round_no}:{i}:{'x' * random.randint(0, 3000)}"
                          for i in range(300)]
                for value in values:
                    pipe.echo(value)
                pipe.incr(f"count:{n}")
                assert pipe.execute() == [*[v.encode() for v in values], round_no + 1]
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert upstream_clients(server) == 1


def test_multi_mid_pipeline_keeps_order_and_gives_the_connection_back(
    server: RedisServer, mux: Callable[..., BridgeThread],
) -> None:
    bridge = mux()
    key = f"tx:{uuid.uuid4()}".encode()
    commands = [(b"SET", key, b"1"), (b"INCR", key), (b"MULTI",), (b"INCR", key), (b"GET", key),
                (b"EXEC",), (b"GET", key), (b"AUTH", b"whatever"), (b"INCR", key)]
    expected = (b"+OK\r\n:2\r\n+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n:3\r\n$1\r\n3\r\n"
                b"$1\r\n3\r\n+OK\r\n:4\r\n")
    stream = b"".join(encode_command(*c) for c in commands)
    assert exchange(bridge, stream, expected) == expected
    assert state(bridge) == (1, 0, 0)  # the transaction ran whole on the shared connection
    # WATCH holds a connection of its own until EXEC; then it is kept idle for the next.
    c = local(bridge)
    with c.pipeline(transaction=True) as pipe:
        pipe.watch(key)
        assert state(bridge)[1:] == (1, 0)
        assert pipe.get(key) == b"4"
        pipe.multi()
        pipe.set(key, b"5")
        assert pipe.execute() == [True]
    wait_until(lambda: state(bridge) == (1, 1, 1))
    assert c.get(key) == b"5"


def test_blocked_pops_hold_connections_to_the_ceiling_then_the_next_waits_and_is_refused(
    server: RedisServer, mux: Callable[..., BridgeThread], caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="appwrite_heroku.dyno.bridge")
    bridge = mux(max_upstream=4, lease_wait=1.0)  # 1 shared + 3 dedicated
    queue = f"q:{uuid.uuid4()}"
    results: list[object] = []

    def pop() -> None:
        try:
            results.append(local(bridge).brpop([queue], timeout=20))
        except redis.RedisError as error:
            results.append(error)

    workers = [threading.Thread(target=pop) for _ in range(3)]
    for worker in workers:
        worker.start()
    wait_until(lambda: server.client().info("clients")["blocked_clients"] == 3)  # type: ignore[attr-defined]
    # A fourth blocked pop: no connection left; it waits lease_wait, then one clear error.
    started = time.monotonic()
    with pytest.raises(redis.ResponseError, match=r"all 4 upstream connections busy for 1s"):
        local(bridge).brpop([queue], timeout=20)
    assert 0.9 < time.monotonic() - started < 5
    # Ordinary commands still flow over the shared connection meanwhile.
    producer = local(bridge)
    assert producer.ping() is True
    assert upstream_clients(server) == 4
    # A waiting need is served as soon as a connection comes back.
    late: list[object] = []
    waiter = threading.Thread(target=lambda: late.append(local(bridge).blpop([queue + "2"], 20)))
    m = bridge.bridge.mux
    assert m is not None
    waits = bridge.call(lambda: m.waits)
    waiter.start()
    wait_until(lambda: bridge.call(lambda: m.waits) == waits + 1)  # it waits for a connection
    producer.lpush(queue, "job")  # one worker returns, its connection goes to the waiter
    wait_until(lambda: server.client().info("clients")["blocked_clients"] == 3)  # type: ignore[attr-defined]
    producer.lpush(queue + "2", "late-job")
    waiter.join(10)
    assert late == [(queue.encode() + b"2", b"late-job")]
    producer.lpush(queue, "a", "b")
    for worker in workers:
        worker.join(10)
    assert sorted(r[1] for r in results) == [b"a", b"b", b"job"]  # type: ignore[index]
    assert bridge.bridge.mux.peak <= 4  # type: ignore[union-attr]
    lines = [r.getMessage() for r in caplog.records if "busy" in r.getMessage()]
    assert len(lines) == 1 and "APPWRITE_REDIS_BRIDGE_MAX_UPSTREAM" in lines[0]
    assert CANARY_REDIS_PASSWORD not in caplog.text


def test_a_client_gone_while_blocked_does_not_swallow_a_later_push(
    server: RedisServer, mux: Callable[..., BridgeThread],
) -> None:
    bridge = mux()
    queue = f"q:{uuid.uuid4()}"
    with socket.create_connection(("127.0.0.1", bridge.port)) as sock:
        sock.sendall(encode_command(b"BRPOP", queue.encode(), b"0"))
        wait_until(lambda: server.client().info("clients")["blocked_clients"] == 1)  # type: ignore[attr-defined]
    # Its upstream connection is closed, not handed on still blocked.
    wait_until(lambda: server.client().info("clients")["blocked_clients"] == 0)  # type: ignore[attr-defined]
    wait_until(lambda: state(bridge)[1] == 0)
    producer = local(bridge)
    producer.lpush(queue, "job")
    assert producer.llen(queue) == 1


def test_a_client_gone_with_replies_pending_leaves_the_shared_connection_in_step(
    server: RedisServer, mux: Callable[..., BridgeThread],
) -> None:
    bridge = mux(max_upstream=2)
    key = f"big:{uuid.uuid4()}"
    value = random.randbytes(1024 * 1024)
    other = local(bridge)
    other.set(key, value)
    for _ in range(5):
        with socket.create_connection(("127.0.0.1", bridge.port)) as sock:
            sock.sendall(encode_command(b"GET", key.encode()) * 20)  # 20 MB of replies
            sock.recv(1000)  # the start of the first, then gone
        # Another client's replies on the same upstream connection are its own.
        for i in range(50):
            assert other.echo(f"mine-{i}") == f"mine-{i}".encode()
        assert other.get(key) == value
    assert upstream_clients(server) == 1


def test_an_upstream_connection_lost_mid_flight_closes_its_clients_and_only_them(
    server: RedisServer, mux: Callable[..., BridgeThread],
) -> None:
    bridge = mux(max_upstream=2)
    assert server.proc is not None
    idle_client = local(bridge)
    assert idle_client.ping() is True
    socks = [socket.create_connection(("127.0.0.1", bridge.port), timeout=10) for _ in range(5)]
    os.kill(server.proc.pid, signal.SIGSTOP)  # commands now stay in flight
    try:
        for i, sock in enumerate(socks):
            sock.sendall(encode_command(b"ECHO", b"for-%d" % i))
        m = bridge.bridge.mux
        assert m is not None
        # All five sent on the shared connection, their replies awaited.
        wait_until(lambda: bridge.call(lambda: len(m.shared[0].fifo)) == len(socks))
        bridge.call(lambda: m.shared[0].upstream.abort())  # type: ignore[union-attr]
    finally:
        os.kill(server.proc.pid, signal.SIGCONT)
    for sock in socks:
        assert sock.recv(100) == b""  # closed, with no reply at all (none is theirs)
        sock.close()
    assert idle_client.ping() is True  # nothing was in flight for it: it carries on


def test_subscribers_keep_a_connection_until_unsubscribed_from_everything(
    server: RedisServer, mux: Callable[..., BridgeThread],
) -> None:
    bridge = mux(max_upstream=4)
    channel = f"ch:{uuid.uuid4()}"
    sub = local(bridge).pubsub()
    sub.subscribe(channel, channel + ":2")
    sub.psubscribe(channel + ":p*")
    for _ in range(3):
        assert sub.get_message(timeout=5)["type"] in ("subscribe", "psubscribe")  # type: ignore[index]
    publisher = local(bridge)
    assert publisher.publish(channel, "one") == 1
    assert sub.get_message(timeout=5)["data"] == b"one"  # type: ignore[index]
    sub.unsubscribe()
    for _ in range(2):
        assert sub.get_message(timeout=5)["type"] == "unsubscribe"  # type: ignore[index]
    assert state(bridge)[1:] == (1, 0)  # a pattern is left: still its own
    assert publisher.publish(channel + ":px", "two") == 1
    assert sub.get_message(timeout=5)["data"] == b"two"  # type: ignore[index]
    sub.punsubscribe()
    assert sub.get_message(timeout=5)["type"] == "punsubscribe"  # type: ignore[index]
    wait_until(lambda: state(bridge) == (1, 1, 1))  # given back
    assert publisher.publish(channel, "nobody") == 0
    sub.close()


def test_select_hello_and_client_names_keep_clients_on_shared_connections(
    server: RedisServer, mux: Callable[..., BridgeThread],
) -> None:
    """A client's database, RESP version and name are the client's own: the shared
    connection switches database and protocol before its commands, the bridge answers for
    the name, and nothing pins a connection."""
    bridge = mux()
    key = f"db:{uuid.uuid4()}"
    selected = local(bridge, db=2)  # SELECT 2 on connect
    selected.set(key, "in-2")
    plain = local(bridge)
    assert plain.get(key) is None
    assert server.client(db=2).get(key) == b"in-2"  # type: ignore[attr-defined]
    assert selected.client_info()["db"] == 2 and plain.client_info()["db"] == 0
    zero = local(bridge)
    assert zero.execute_command("select", "0") is True
    assert zero.get(key) is None
    resp3 = redis.Redis(port=bridge.port, protocol=3, password="ignored",  # HELLO 3 AUTH ...
                        client_name="resp3-app")  # HELLO 3 ... SETNAME
    assert resp3.get(key) is None and resp3.client_info()["user"] == "h"
    assert resp3.client_info()["resp"] == "3" and selected.client_info()["resp"] == "2"
    def name(client: redis.Redis) -> object:  # redis-py decodes it in RESP2 only
        got = client.client_getname()
        return got.decode() if isinstance(got, bytes) else got

    assert name(resp3) == "resp3-app" and name(selected) is None
    assert selected.client_setname("mine") and name(selected) == "mine"
    with pytest.raises(redis.ResponseError, match="cannot contain spaces"):
        selected.client_setname("two words")
    with pytest.raises(redis.ResponseError, match="DB index is out of range"):
        selected.execute_command("SELECT", "99999")
    assert selected.get(key) == b"in-2"  # still where it was
    assert state(bridge) == (1, 0, 0)  # one shared connection, nothing dedicated
    assert upstream_clients(server) == 1


def test_sessions_interleaved_on_one_shared_connection_get_their_own_replies(
    server: RedisServer, mux: Callable[..., BridgeThread],
) -> None:
    """Differential: RESP2 and RESP3 clients in databases 0, 1 and 3, each pipelining
    commands whose replies differ by protocol and database, all at once over one shared
    connection (max_upstream=2): each gets byte for byte what a connection of its own gets
    (but for HELLO's reply, which names the connection)."""
    import ssl

    bridge = mux(max_upstream=2)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    sessions = [(protocol, db) for protocol in (2, 3) for db in (0, 1, 3)]
    for db in (0, 1, 3):
        seed = server.client(db=db)
        seed.hset("h", mapping={"a": "1", "b": f"db{db}"})  # type: ignore[attr-defined]
        seed.set("where", f"db{db}")  # type: ignore[attr-defined]

    def script(protocol: int, db: int) -> bytes:
        steps = [encode_command(b"HELLO", b"%d" % protocol),
                 encode_command(b"SELECT", b"%d" % db)]
        for i in range(60):
            steps += [encode_command(b"GET", b"where"), encode_command(b"HGETALL", b"h"),
                      encode_command(b"GET", b"nothing"), encode_command(b"ECHO", b"%d" % i)]
        return b"".join(steps)

    def run(sock: socket.socket, stream: bytes) -> bytes:
        for start in range(0, len(stream), 977):  # cut anywhere, several commands a read
            sock.sendall(stream[start:start + 977])
        got = b""
        while not got.endswith(b"$2\r\n59\r\n"):
            chunk = sock.recv(1 << 16)
            assert chunk, got[-200:]
            got += chunk
        return got[ReplyScanner().feed(got)[0]:]  # after HELLO's reply

    expected = {}
    for protocol, db in sessions:
        with context.wrap_socket(socket.create_connection(("127.0.0.1", server.port))) as sock:
            sock.sendall(encode_command(b"AUTH", b"h", CANARY_REDIS_PASSWORD.encode()))
            assert sock.recv(5) == b"+OK\r\n"
            expected[(protocol, db)] = run(sock, script(protocol, db))
    got: dict[tuple[int, int], bytes] = {}
    errors: list[BaseException] = []

    def through_bridge(protocol: int, db: int) -> None:
        try:
            with socket.create_connection(("127.0.0.1", bridge.port), timeout=30) as sock:
                got[(protocol, db)] = run(sock, script(protocol, db))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=through_bridge, args=s) for s in sessions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    for session in sessions:
        assert got[session] == expected[session], session
    assert expected[(3, 1)] != expected[(2, 1)] and expected[(3, 1)] != expected[(3, 3)]
    assert bridge.bridge.mux.peak == 1 and state(bridge) == (1, 0, 0)  # type: ignore[union-attr]


def test_a_transaction_without_watch_runs_whole_on_a_shared_connection(
    server: RedisServer, mux: Callable[..., BridgeThread],
) -> None:
    """Appwrite's rate limiter (MULTI, INCR, EXPIRE, EXEC, each waiting for its reply) takes
    no connection of its own: the bridge answers +OK and +QUEUED and sends the block at EXEC,
    where Redis runs it in one piece among the other clients' commands."""
    bridge = mux(max_upstream=2)  # one shared connection, one dedicated: none is leased
    key = f"abuse:{uuid.uuid4()}".encode()
    errors: list[BaseException] = []

    def limiter(n: int) -> None:
        mine = b"%s:%d" % (key, n)
        try:
            with socket.create_connection(("127.0.0.1", bridge.port), timeout=30) as sock:
                for i in range(50):
                    for command, reply in ((encode_command(b"MULTI"), b"+OK\r\n"),
                                           (encode_command(b"INCR", mine), b"+QUEUED\r\n"),
                                           (encode_command(b"EXPIRE", mine, b"60"),
                                            b"+QUEUED\r\n")):
                        sock.sendall(command)
                        assert sock.recv(100) == reply
                    sock.sendall(encode_command(b"EXEC"))
                    want, got = b"*2\r\n:%d\r\n:1\r\n" % (i + 1), b""
                    while len(got) < len(want):
                        got += sock.recv(100)
                    assert got == want
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=limiter, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert state(bridge) == (1, 0, 0)
    # DISCARD is the bridge's; a command that must run on the transaction's own connection
    # moves it there, queued commands first; an error at queueing reaches EXEC as Redis'
    # EXECABORT (the one place the bridge's +QUEUED differs: Redis would answer the error).
    stream = b"".join([encode_command(b"MULTI"), encode_command(b"INCR", key),
                       encode_command(b"DISCARD"), encode_command(b"GET", key),
                       encode_command(b"MULTI"), encode_command(b"INCR", key),
                       encode_command(b"WATCH", key), encode_command(b"EXEC")])
    expected = (b"+OK\r\n+QUEUED\r\n+OK\r\n$-1\r\n+OK\r\n+QUEUED\r\n"
                b"-ERR WATCH inside MULTI is not allowed\r\n*1\r\n:1\r\n")
    assert exchange(bridge, stream, expected) == expected
    stream = b"".join([encode_command(b"MULTI"), encode_command(b"SET", key),
                       encode_command(b"EXEC")])
    reply = exchange(bridge, stream, b"+OK\r\n+QUEUED\r\n-EXECABORT")
    assert reply.startswith(b"+OK\r\n+QUEUED\r\n-EXECABORT Transaction discarded")
    # SELECT inside: the transaction goes to a connection of its own, relayed unparsed from
    # there on; the replies the bridge had given are not given twice.
    fresh = key + b":fresh"
    stream = b"".join([encode_command(b"MULTI"), encode_command(b"INCR", fresh),
                       encode_command(b"SELECT", b"0"), encode_command(b"EXEC"),
                       encode_command(b"ECHO", b"after")])
    expected = b"+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n:1\r\n+OK\r\n$5\r\nafter\r\n"
    assert exchange(bridge, stream, expected) == expected


def test_auth_on_a_relayed_connection_keeps_its_place_and_its_secret(
    server: RedisServer, mux: Callable[..., BridgeThread],
) -> None:
    """After CLIENT REPLY the client's connection is relayed as is: an AUTH there must
    still not reach the upstream (a wrong password would be refused) and its +OK must come
    between the replies around it."""
    bridge = mux()
    stream = b"".join([
        encode_command(b"CLIENT", b"REPLY", b"ON"), encode_command(b"SET", b"k", b"v"),
        encode_command(b"AUTH", b"someone", b"not-the-password"),
        encode_command(b"GET", b"k"), encode_command(b"ECHO", b"pinned"),
    ])
    expected = b"+OK\r\n+OK\r\n+OK\r\n$1\r\nv\r\n$6\r\npinned\r\n"
    assert exchange(bridge, stream, expected) == expected


def test_inline_auth_quit_and_protocol_errors(
    server: RedisServer, mux: Callable[..., BridgeThread],
) -> None:
    bridge = mux()
    expected = b"+PONG\r\n+OK\r\n$1\r\nv\r\n+OK\r\n+RESET\r\n$1\r\nv\r\n"
    stream = b"PING\r\nSET k v\r\n\r\nGET k\r\nAUTH x\r\nRESET\r\nGET k\r\n"
    assert exchange(bridge, stream, expected) == expected
    assert state(bridge)[1] == 0  # RESET of a client on a shared connection pins nothing
    # QUIT after pipelined commands: their replies, then +OK, then the connection closes.
    with socket.create_connection(("127.0.0.1", bridge.port), timeout=10) as sock:
        sock.sendall(encode_command(b"GET", b"k") + encode_command(b"QUIT")
                     + encode_command(b"GET", b"k"))
        got = b""
        while chunk := sock.recv(100):
            got += chunk
        assert got == b"$1\r\nv\r\n+OK\r\n"
    # What Redis would close a connection for closes the client, never the shared upstream.
    for bad in (b'SET k "a b"\r\n', b"*1\r\n:1\r\n", b"*2\r\n$3\r\nGET\r\n$x\r\n"):
        with socket.create_connection(("127.0.0.1", bridge.port), timeout=10) as sock:
            sock.sendall(bad)
            got = b""
            while chunk := sock.recv(100):
                got += chunk
            assert got.startswith(b"-ERR Protocol error"), got
    assert local(bridge).get("k") == b"v"
    assert upstream_clients(server) == 1


def test_ten_megabyte_values_beside_other_clients_on_one_upstream(
    server: RedisServer, mux: Callable[..., BridgeThread],
) -> None:
    bridge = mux(max_upstream=2)
    value = random.randbytes(10 * 1024 * 1024 + 3)
    errors: list[BaseException] = []

    def small(n: int) -> None:
        try:
            c = local(bridge)
            for i in range(200):
                assert c.echo(f"{n}-{i}") == f"{n}-{i}".encode()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=small, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    big = local(bridge)
    for i in range(3):
        big.set(f"big{i}", value)
        assert big.get(f"big{i}") == value
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert upstream_clients(server) == 1



def test_the_ceiling_error_is_the_one_troubleshooting_explains() -> None:
    text = (Path(__file__).parent.parent / "docs" / "troubleshooting.md").read_text()
    heading = '## Bridge ceiling — "ERR bridge: all N upstream connections busy"'
    assert heading in text
    body = text.split(heading, 1)[1].split("\n## ", 1)[0]
    assert "**Cause.**" in body and "**Fix.**" in body
    reply = ceiling_reply(11, 5.0).decode()  # the worker dyno's ceiling, as the page says
    assert reply.startswith("-ERR bridge: all 11 upstream connections busy for 5s")
    assert reply[1:].strip() in " ".join(body.split())  # quoted there word for word
    assert "docs/troubleshooting.md" in reply and MAX_UPSTREAM_ENV in reply


@pytest.mark.parametrize(("args", "environ", "named"), [
    (["--mode", "pooled"], {}, "--mode"),
    ([], {MODE_ENV: "pooled"}, MODE_ENV),
    (["--mode", "multiplex", "--max-upstream", "1"], {}, "--max-upstream"),
    ([], {MODE_ENV: "multiplex", MAX_UPSTREAM_ENV: "twenty"}, MAX_UPSTREAM_ENV),
])
def test_the_command_refuses_a_bad_mode_or_ceiling_in_one_line(
    args: list[str], environ: dict[str, str], named: str,
) -> None:
    env = {k: v for k, v in os.environ.items() if k not in (MODE_ENV, MAX_UPSTREAM_ENV)}
    env.update(environ)
    env["APPWRITE_REDIS_BRIDGE_UPSTREAM"] = f"redis://:{CANARY_REDIS_PASSWORD}@127.0.0.1:1"
    done = subprocess.run(["appwrite-heroku", "redis-bridge", "--listen", "127.0.0.1:6399",
                           *args], env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and named in done.stderr, done.stderr
    assert CANARY_REDIS_PASSWORD not in done.stderr + done.stdout


def client_script(rng: random.Random, me: str, steps: int) -> list[bytes]:
    """A random mix of what needs a shared, a leased and a pinned connection, on keys and
    channels of this client only, so that its replies do not depend on the others'."""
    key, lst, chan = f"{me}:k".encode(), f"{me}:l".encode(), f"{me}:c".encode()
    out: list[bytes] = []
    for _ in range(steps):
        kind = rng.random()
        if kind < 0.5:
            out.append(encode_command(*rng.choice([
                (b"INCR", key), (b"GET", key), (b"APPEND", key, rng.randbytes(rng.randint(0, 50))),
                (b"RPUSH", lst, b"x"), (b"LRANGE", lst, b"0", b"3"), (b"ECHO", b"e\r\n"),
                (b"STRLEN", key), (b"GET",), (b"SELECT", b"0")])))
        elif kind < 0.65:
            out += [encode_command(b"MULTI"), encode_command(b"INCR", key),
                    encode_command(b"LLEN", lst), encode_command(rng.choice([b"EXEC", b"DISCARD"]))]
        elif kind < 0.75:
            out += [encode_command(b"WATCH", key), encode_command(b"GET", key),
                    encode_command(rng.choice([b"UNWATCH", b"EXEC"]))]
        elif kind < 0.85:
            out.append(encode_command(b"BLPOP", f"{me}:empty".encode(), b"0.01"))
        else:
            out += [encode_command(b"SUBSCRIBE", chan, chan + b"2"),
                    encode_command(b"PING"), encode_command(b"UNSUBSCRIBE")]
    return out


def test_many_clients_mixing_every_kind_of_command_get_what_a_connection_of_their_own_gets(
    server: RedisServer, mux: Callable[..., BridgeThread],
) -> None:
    """Differential: each client's script through a multiplexed bridge with a small ceiling
    (so clients wait for connections) against the same script on a direct connection."""
    import ssl

    bridge = mux(max_upstream=4)  # 1 shared + 3 for 12 clients' transactions, pops and subs
    scripts = {f"c{n}": client_script(random.Random(n), f"diff{n}", 60) for n in range(12)}
    marker = encode_command(b"ECHO", b"end-of-script")
    ending = b"$13\r\nend-of-script\r\n"

    def run(sock: socket.socket, script: list[bytes], rng: random.Random) -> bytes:
        # Sent in pipelined bursts of 1-8 commands, reading between bursts.
        got, i = b"", 0
        stream = [*script, marker]
        while i < len(stream):
            burst = rng.randint(1, 8)
            sock.sendall(b"".join(stream[i:i + burst]))
            i += burst
            time.sleep(rng.random() * 0.002)  # jitter, to vary the interleaving: waits for nothing
        while not got.endswith(ending):
            chunk = sock.recv(1 << 16)
            assert chunk, f"closed after {got[-200:]!r}"
            got += chunk
        return got

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    direct: dict[str, bytes] = {}
    for name, script in scripts.items():
        with context.wrap_socket(socket.create_connection(("127.0.0.1", server.port))) as sock:
            sock.sendall(encode_command(b"AUTH", b"h", CANARY_REDIS_PASSWORD.encode()))
            assert sock.recv(5) == b"+OK\r\n"
            direct[name] = run(sock, script, random.Random(name))
    server.client().flushall()  # type: ignore[attr-defined]

    bridged: dict[str, bytes] = {}
    errors: list[BaseException] = []

    def through_bridge(name: str) -> None:
        try:
            with socket.create_connection(("127.0.0.1", bridge.port), timeout=30) as sock:
                bridged[name] = run(sock, scripts[name], random.Random(name))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=through_bridge, args=(name,)) for name in scripts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    for name in scripts:
        assert bridged[name] == direct[name], name
    m = bridge.bridge.mux
    assert m is not None
    assert m.peak <= 4 and m.ceiling_refusals == 0
    assert m.waits > 0  # the ceiling was reached, and waiting for it changed no reply


def test_a_client_that_stops_reading_holds_up_a_shared_connection_only_for_a_while(
    server: RedisServer, mux: Callable[..., BridgeThread], caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="appwrite_heroku.dyno.bridge")
    bridge = mux(max_upstream=2)  # one shared connection
    m = bridge.bridge.mux
    assert m is not None
    m.slow_reader_close = 1.0
    key = f"big:{uuid.uuid4()}"
    value = random.randbytes(1024 * 1024)
    other = local(bridge)
    other.set(key, value)
    with socket.create_connection(("127.0.0.1", bridge.port)) as stuck:
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        stuck.sendall(encode_command(b"GET", key.encode()) * 20)  # 20 MB it does not read
        # The shared connection stops reading for it (its slow-reader timer starts then).
        wait_until(lambda: bridge.call(lambda: bool(m.shared[0].blockers)))
        started = time.monotonic()
        assert other.echo("behind it") == b"behind it"  # queued behind those replies...
        waited = time.monotonic() - started
        assert 0.4 < waited < 5  # ...until the bridge gave up on the one not reading
        stuck.settimeout(10)
        received = 0
        while chunk := stuck.recv(1 << 20):
            received += len(chunk)
        assert received < 20 * len(value)  # closed, its remaining replies dropped
    assert other.get(key) == value  # the shared connection stayed in step
    assert upstream_clients(server) == 1
    assert len([r for r in caplog.records if "read none of its replies" in r.getMessage()]) == 1


def bulk(value: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(value), value)


def honest_step(rng: random.Random, me: bytes, n: int) -> tuple[bytes, bytes]:
    """One step whose reply is known in advance: (commands, expected replies)."""
    token = b"%s-%d" % (me, n)
    kind = rng.randrange(4)
    if kind == 0:
        return encode_command(b"ECHO", token), bulk(token)
    if kind == 1:
        return (encode_command(b"MULTI") + encode_command(b"ECHO", token)
                + encode_command(b"EXEC"), b"+OK\r\n+QUEUED\r\n*1\r\n" + bulk(token))
    if kind == 2:
        return encode_command(b"BLPOP", me + b":empty", b"0.01"), b"*-1\r\n"
    return (encode_command(b"SUBSCRIBE", token) + encode_command(b"UNSUBSCRIBE"),
            b"*3\r\n" + bulk(b"subscribe") + bulk(token) + b":1\r\n"
            + b"*3\r\n" + bulk(b"unsubscribe") + bulk(token) + b":0\r\n")


def test_clients_vanishing_at_random_points_disturb_no_one_and_leak_nothing(
    server: RedisServer, mux: Callable[..., BridgeThread],
) -> None:
    """Chaos: half the clients hang up at random points (mid-pipeline, in a transaction,
    blocked, subscribed) without reading; the others must get exactly their own replies, and
    afterwards no dedicated connection may stay held."""
    bridge = mux(max_upstream=6)
    errors: list[BaseException] = []

    def honest(n: int) -> None:
        rng = random.Random(n)
        try:
            with socket.create_connection(("127.0.0.1", bridge.port), timeout=30) as sock:
                for step in range(80):
                    commands, expected = [], []
                    for i in range(rng.randint(1, 4)):
                        c, e = honest_step(rng, b"h%d" % n, step * 10 + i)
                        commands.append(c)
                        expected.append(e)
                    sock.sendall(b"".join(commands))
                    want, got = b"".join(expected), b""
                    while len(got) < len(want):
                        chunk = sock.recv(1 << 16)
                        assert chunk, "closed"
                        got += chunk
                    assert got == want
        except BaseException as error:
            errors.append(error)

    def vanishing(n: int) -> None:
        rng = random.Random(1000 + n)
        try:
            for attempt in range(30):
                with socket.create_connection(("127.0.0.1", bridge.port), timeout=30) as sock:
                    stream = b"".join(honest_step(rng, b"v%d" % n, attempt * 10 + i)[0]
                                      for i in range(rng.randint(1, 5)))
                    cut = rng.randint(1, len(stream))
                    sock.sendall(stream[:cut])  # perhaps half a command
                    if rng.random() < 0.5:
                        time.sleep(rng.random() * 0.02)  # jitter: leaves before or after
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=honest, args=(n,)) for n in range(6)]
    threads += [threading.Thread(target=vanishing, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    m = bridge.bridge.mux
    assert m is not None

    def settled() -> bool:
        return bridge.call(lambda: bridge.bridge.active == 0 and m.dedicated == len(m.idle))
    wait_until(settled)
    assert m.peak <= 6 and m.ceiling_refusals == 0
    assert upstream_clients(server) <= 6


@pytest.mark.parametrize("mode", ["plain", "multiplex"])
def test_an_upstream_idle_timeout_closes_idle_clients_only_when_plain(
    tmp_path: Path, mode: str,
) -> None:
    """Heroku's Redis reportedly closes connections idle for 300 s; Appwrite's pooled
    connections idle that long. Plain, the bridge passes the close on to the client (whose
    next command fails); multiplexed, the client's connection is the bridge's, which opens
    a new upstream connection when it next needs one."""
    server = start_redis(tmp_path / "redis", tls=True, username="h",
                         password=CANARY_REDIS_PASSWORD, extra=["--timeout", "1"])
    bridge = BridgeThread.start(parse_redis_url(server.url, "REDIS_URL"), mode=mode)
    try:
        with socket.create_connection(("127.0.0.1", bridge.port), timeout=10) as sock:
            sock.sendall(encode_command(b"ECHO", b"one"))
            assert sock.recv(100) == b"$3\r\none\r\n"
            # The server drops the idle upstream connection, and the bridge sees it go.
            wait_until(lambda: not bridge.call(bridge.bridge.upstreams))
            try:
                sock.sendall(encode_command(b"ECHO", b"two"))
                reply = sock.recv(100)
            except ConnectionError:
                reply = b""
        assert reply == (b"$3\r\ntwo\r\n" if mode == "multiplex" else b"")
    finally:
        bridge.stop()
        server.stop()
