"""The bridge's multiplexed mode: many local connections over a few upstream ones.

Why: Appwrite 1.9.6 keeps at least one Redis connection per pool per PHP process for the
process' whole life (utopia-php/pools never shrinks; see /work/shared/facts/appwrite.md,
"Connection appetite"): at the smallest settings a web and a worker dyno hold ≥ 60, while
Heroku's ``mini`` plan admits 20. Almost all of them are idle at any moment.

Why by hand: the kept Redis proxies multiplex only what is stateless. twemproxy and Envoy's
Redis proxy refuse blocking pops and pub/sub, which Appwrite's queues (``BRPOP``) and realtime
(``SUBSCRIBE``) need. So the bridge does it:

- Ordinary commands from every client share a few upstream connections ("shared"); each
  shared connection keeps a FIFO of who asked, so each reply (framed by ``resp.ReplyScanner``)
  goes back to its client, in order.
- A client whose command needs the connection itself gets one of its own ("dedicated") for as
  long as it needs it: a blocking command until its reply, a transaction until EXEC/DISCARD
  (WATCH until EXEC/DISCARD/UNWATCH), a subscriber until it has unsubscribed from everything;
  a command that changes the connection for good (SELECT, HELLO, CLIENT SETNAME, RESET,
  MONITOR, ...) keeps it until the client closes. A returned connection serves the next one.
- A client moves between upstream connections only when every reply it waits for has come,
  so its replies never change order.
- Shared plus dedicated never exceed the ceiling (``max_upstream``). Past it a new dedicated
  need waits up to ``lease_wait`` seconds for one to come back, then that client gets a
  ``-ERR bridge: ...`` and is closed, and one log line (at most one per 5 s) says so.
- If an upstream connection dies, every client with a command in flight on it is closed
  (nothing is replayed: a command may or may not have run), never handed another's reply.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import TYPE_CHECKING, cast

from ..config.wiring import DEFAULT_SHARED, shared_for
from .resp import (
    SPECIAL,
    CommandReader,
    ProtocolError,
    ReplyScanner,
    Route,
    Subscriptions,
    auth_reply,
    pack_command,
    route_of,
    strip_hello_auth,
)

if TYPE_CHECKING:
    from .bridge import RedisBridge, _UpstreamSide

LEASE_WAIT = 5.0  # seconds a dedicated need waits for a free connection past the ceiling
IDLE_CLOSE = 30.0  # seconds an unused dedicated connection is kept for the next one
SLOW_READER_CLOSE = 10.0  # seconds a client may hold up a shared connection by not reading
# Bytes queued to one side before the other side stops reading: plain relay and multiplexer.
WRITE_HIGH_WATER = 256 * 1024

_QUIT_OK = b"+OK\r\n"
_DRAIN, _LEASE = 1, 2  # why a client waits


def ceiling_reply(limit: int, waited: float) -> bytes:
    return (f"-ERR bridge: all {limit} upstream connections busy for {waited:g}s "
            "(APPWRITE_REDIS_BRIDGE_MAX_UPSTREAM); see docs/troubleshooting.md\r\n").encode()


def protocol_error_reply(error: ProtocolError) -> bytes:
    return f"-ERR Protocol error: {error}\r\n".encode()


class Multiplexer:
    """The upstream connections of one bridge in multiplexed mode."""

    def __init__(self, bridge: RedisBridge, max_upstream: int, shared: int = DEFAULT_SHARED,
                 lease_wait: float = LEASE_WAIT) -> None:
        if max_upstream < 2:
            raise ValueError("the multiplexed bridge needs a ceiling of at least 2 upstream "
                             "connections (one shared, one for a blocking or pub/sub client)")
        self.bridge = bridge
        self.max_upstream = max_upstream
        self.shared_max = shared_for(max_upstream, shared)
        self.dedicated_max = max_upstream - self.shared_max
        self.lease_wait = lease_wait
        # ``SELECT n`` of the database the bridge logged in to changes nothing: answered here
        # (phpredis and redis-py send it when told a database, even 0).
        self.db = str(bridge.upstream.db or 0).encode()
        self.shared: list[_Link] = []
        self.idle: list[_Link] = []
        self.dedicated = 0  # dedicated connections open or opening (leased and idle)
        self.peak = 0  # most upstream connections at once
        self.ceiling_refusals = 0
        self.waits = 0  # dedicated needs that had to wait for a connection to come back
        self.slow_reader_close = SLOW_READER_CLOSE
        self._waiters: deque[_MuxClient] = deque()
        self._tasks: set[asyncio.Task[None]] = set()
        self._sweep: asyncio.TimerHandle | None = None

    @property
    def upstream(self) -> int:
        """Upstream connections open or opening now."""
        return len(self.shared) + self.dedicated

    # -- opening and forgetting connections
    def _open(self, holder: _MuxClient | None) -> _Link:
        link = _Link(self, holder)
        if holder is None:
            self.shared.append(link)
        else:
            self.dedicated += 1
        self.peak = max(self.peak, self.upstream)
        task = asyncio.get_running_loop().create_task(self._connect(link))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return link

    async def _connect(self, link: _Link) -> None:
        from .bridge import _drop_tracebacks, open_upstream

        try:
            side = await open_upstream(self.bridge)
        except asyncio.CancelledError:
            self._forget(link)
            raise
        except Exception as failure:
            self.bridge._refused(failure, link.clients())
            _drop_tracebacks(failure)
            self._forget(link)
            return
        if link.dead:
            side.release()
            return
        link.attach(side)

    def _forget(self, link: _Link) -> None:
        """The link is gone (failed, lost or closed): free its place under the ceiling."""
        if link.dead:
            return
        link.dead = True
        if link.shared:
            self.shared.remove(link)
        else:
            self.dedicated -= 1
            if link in self.idle:
                self.idle.remove(link)
        self.bridge._churn()
        while self._waiters and self.dedicated < self.dedicated_max:
            client = self._waiters.popleft()
            client.cancel_wait()
            client.leased(self._open(client))

    # -- shared connections
    def shared_link(self) -> _Link:
        """The shared connection with the fewest replies pending, or a new one while that
        one is busy and the count allows."""
        best: _Link | None = None
        for link in self.shared:
            if best is None or len(link.fifo) < len(best.fifo):
                best = link
        if best is None or (best.fifo and len(self.shared) < self.shared_max):
            best = self._open(None)
        return best

    # -- dedicated connections
    def lease(self, client: _MuxClient) -> None:
        """Gives ``client`` a connection of its own now, or when one is free (bounded)."""
        if self.idle:
            link = self.idle.pop()
            client.leased(link)
        elif self.dedicated < self.dedicated_max:
            client.leased(self._open(client))
        else:
            self.waits += 1
            self._waiters.append(client)
            client.wait_timer = asyncio.get_running_loop().call_later(
                self.lease_wait, self._expire, client)

    def _expire(self, client: _MuxClient) -> None:
        if client in self._waiters:
            self._waiters.remove(client)
        client.wait_timer = None
        self.ceiling_refusals += 1
        self.bridge._throttle.emit(
            "ceiling", logging.WARNING,
            f"all {self.max_upstream} upstream connections busy for {self.lease_wait:g}s "
            f"({self.dedicated} held by blocking, transaction or pub/sub clients): refused a "
            "client; raise APPWRITE_REDIS_BRIDGE_MAX_UPSTREAM if the plan admits more clients",
        )
        client.refuse(ceiling_reply(self.max_upstream, self.lease_wait))

    def unwait(self, client: _MuxClient) -> None:
        if client in self._waiters:
            self._waiters.remove(client)

    def give_back(self, link: _Link) -> None:
        """A clean dedicated connection: to the next waiter, else kept idle for a while."""
        link.holder = None
        link.subs = Subscriptions()
        while self._waiters:
            client = self._waiters.popleft()
            client.cancel_wait()
            if client.transport is not None:
                client.leased(link)
                return
        link.idle_since = time.monotonic()
        self.idle.append(link)
        if self._sweep is None:
            self._sweep = asyncio.get_running_loop().call_later(IDLE_CLOSE, self._sweep_idle)

    def _sweep_idle(self) -> None:
        self._sweep = None
        now = time.monotonic()
        for link in [x for x in self.idle if now - x.idle_since >= IDLE_CLOSE]:
            link.close()
        if self.idle:
            self._sweep = asyncio.get_running_loop().call_later(IDLE_CLOSE, self._sweep_idle)

    def close(self) -> None:
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
        for task in list(self._tasks):
            task.cancel()
        for client in list(self._waiters):
            client.cancel_wait()
        self._waiters.clear()
        for link in [*self.shared, *self.idle]:
            link.close()


class _Link:
    """One upstream connection in multiplexed mode: the ``client`` of an ``_UpstreamSide``.

    Shared: ``fifo`` holds, per command sent, the client its reply goes to. Dedicated:
    ``holder`` gets every byte, and ``subs`` follows the replies to know when it is clean.
    """

    __slots__ = ("blockers", "dead", "fifo", "flushing", "holder", "idle_since", "mux",
                 "pending", "raw", "reply", "scanner", "shared", "side", "stalled", "subs")

    def __init__(self, mux: Multiplexer, holder: _MuxClient | None) -> None:
        self.mux = mux
        self.holder = holder
        self.shared = holder is None
        self.side: _UpstreamSide | None = None
        self.pending: list[bytes] = []  # to send: at the end of this loop turn, or at login
        self.flushing = False
        self.fifo: deque[_MuxClient] = deque()
        self.scanner = ReplyScanner()
        self.subs = Subscriptions()
        self.reply = b""  # a dedicated connection's reply in progress (for ``subs``)
        self.raw = False  # pinned: relayed without framing until its client closes
        self.dead = False
        self.stalled: set[_MuxClient] = set()  # clients that stopped reading for our sake
        self.blockers: set[_MuxClient] = set()  # clients too slow to take our replies
        self.idle_since = 0.0

    def clients(self) -> list[_MuxClient]:
        """Everyone waiting for a reply here, once each."""
        found = dict.fromkeys(self.fifo)
        if self.holder is not None:
            found[self.holder] = None
        return list(found)

    def attach(self, side: _UpstreamSide) -> None:
        self.side = side
        side.client = self  # type: ignore[assignment]  # the _ClientSide interface
        self.flush()
        self.mux.bridge._churn()

    def send(self, data: bytes, client: _MuxClient) -> None:
        """Queues ``data``; everything queued in one turn of the event loop goes out in one
        write (one TLS record run, one system call) instead of one per client.

        Measured (redis-benchmark -P 16 -c 50, TLS upstream): 2.1 → 1.5 µs of the bridge's
        CPU per request, about what the plain relay costs."""
        side = self.side
        if side is None:
            self.pending.append(data)
            return  # sent once logged in
        if not self.flushing:
            if self.holder is not None or len(self.fifo) <= 1:
                # A connection of one client's own, or an idle shared one: nobody to batch
                # with, so no added latency (unpipelined GET p50 measured 0.135 ms queued,
                # 0.119 ms so, 0.103 ms through the plain relay; medians of 5 runs).
                side.send(data)
            else:
                self.pending.append(data)
                self.flushing = True
                asyncio.get_running_loop().call_soon(self.flush)
        else:
            self.pending.append(data)
        transport = side.transport
        if transport is not None and transport.get_write_buffer_size() > WRITE_HIGH_WATER:
            client.stall_for(self)  # until the transport's resume_writing

    def flush(self) -> None:
        self.flushing = False
        pending, side = self.pending, self.side
        if side is None or not pending:
            return
        data = pending[0] if len(pending) == 1 else b"".join(pending)
        pending.clear()
        side.send(data)

    def close(self) -> None:
        """Closes the connection (its ``connection_lost`` then forgets it)."""
        side = self.side
        if side is not None and side.transport is not None:
            side.transport.close()
            return
        self.mux._forget(self)

    # -- the _UpstreamSide's client interface
    def write(self, data: bytes) -> None:
        """Replies from the upstream."""
        holder = self.holder
        if not self.shared:
            if holder is None:  # idle, or its client has gone: nobody asked
                self.close()
                return
            if self.raw:
                holder.write(data)
                return
        try:
            ends = self.scanner.feed(data)
        except ProtocolError:
            self._desync()
            return
        if holder is not None:
            self._dedicated(holder, data, ends)
            return
        fifo, size, start, count, i = self.fifo, len(data), 0, len(ends), 0
        if len(fifo) < count + (ends[-1] < size if ends else 1):
            self._desync()  # more replies than questions: never guess whose they are
            return
        while i < count:
            client = fifo.popleft()
            j = i
            while j + 1 < count and fifo[0] is client:
                fifo.popleft()
                j += 1
            end = ends[j]
            client.deliver(data if start == 0 and end == size else data[start:end], j - i + 1)
            start, i = end, j + 1
        if start < size:
            fifo[0].deliver(data[start:] if start else data, 0)

    def _dedicated(self, holder: _MuxClient, data: bytes, ends: list[int]) -> None:
        holder.write(data)
        start = 0
        for end in ends:
            reply, self.reply = self.reply + data[start:end], b""
            self.subs.received(reply)
            start = end
        if start < len(data):
            self.reply += data[start:]
        if ends:
            holder.answered(self)

    def _desync(self) -> None:
        self.mux.bridge._throttle.emit(
            "desync", logging.WARNING,
            "an upstream connection answered more than was asked; closing it and its clients",
        )
        if self.side is not None and self.side.transport is not None:
            self.side.transport.abort()

    def upstream_lost(self) -> None:
        self.side = None
        clients = [c for c in self.clients() if c.transport is not None]
        self.fifo.clear()
        self.mux._forget(self)
        if clients:
            self.mux.bridge._throttle.emit(
                "lost", logging.INFO,
                f"upstream {self.mux.bridge.address} closed a connection; closing the "
                f"{len(clients)} client(s) waiting on it",
            )
        for client in clients:
            client.upstream_lost()
        for client in list(self.stalled):
            client.unstall(self)
        self.holder = None

    def pause_reading(self) -> None:
        """Upstream write buffer full: ``send`` makes each sender stop reading."""

    def resume_reading(self) -> None:
        for client in list(self.stalled):
            client.unstall(self)

    # -- a slow client stops this connection's reading
    def block(self, client: _MuxClient) -> None:
        self.blockers.add(client)
        if self.side is not None and self.side.transport is not None:
            self.side.transport.pause_reading()

    def unblock(self, client: _MuxClient) -> None:
        self.blockers.discard(client)
        if not self.blockers and self.side is not None and self.side.transport is not None:
            self.side.transport.resume_reading()


class _MuxClient(asyncio.Protocol):
    """A local client (Appwrite) in multiplexed mode."""

    __slots__ = ("_blocking", "_closed", "_reading", "_refused", "_slow_timer", "_stalled",
                 "backlog", "bridge", "lease", "link", "multi", "mux", "outstanding", "reader",
                 "transport", "wait_timer", "waiting", "watch")

    def __init__(self, bridge: RedisBridge, mux: Multiplexer) -> None:
        self.bridge = bridge
        self.mux = mux
        self.transport: asyncio.Transport | None = None
        self.reader = CommandReader()
        self.link: _Link | None = None  # where the replies come from now
        self.lease = False  # ``link`` is this client's own
        self.outstanding = 0  # replies still due on a shared ``link``
        self.backlog: deque[list[bytes]] = deque()
        self.waiting = 0  # _DRAIN or _LEASE: commands wait in ``backlog``
        self.wait_timer: asyncio.TimerHandle | None = None  # for a dedicated connection
        self._slow_timer: asyncio.TimerHandle | None = None  # for its own unread replies
        self.multi = False
        self.watch = False
        self._stalled: set[_Link] = set()
        self._blocking: _Link | None = None
        self._reading = True
        self._refused = False
        self._closed = False

    # -- lifecycle
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)
        self.transport = transport
        transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)
        self.bridge._links.add(self)
        self.bridge.accepted += 1

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self.bridge._links.discard(self)
        self.cancel_wait()
        self.mux.unwait(self)
        self.backlog.clear()
        self.resume_writing()  # no longer holds anything up
        for stalled in list(self._stalled):
            stalled.stalled.discard(self)
        self._stalled.clear()
        link, self.link = self.link, None
        if link is not None and self.lease and not link.dead:
            self.lease = False
            if self._clean(link) and link.side is not None:
                self.mux.give_back(link)
            else:
                link.holder = None  # what still comes is dropped with the connection
                link.close()
        self.transport = None

    def eof_received(self) -> bool | None:
        return None

    @property
    def upstream(self) -> asyncio.Transport | None:
        """The upstream connection now carrying this client's commands (for inspection)."""
        side = self.link.side if self.link is not None else None
        return side.transport if side is not None else None

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    # -- reading commands
    def data_received(self, data: bytes) -> None:
        if self._refused or self._closed:
            return
        try:
            commands = self.reader.feed(data)
        except ProtocolError as error:
            self.refuse(protocol_error_reply(error))
            return
        if not commands:
            return
        link = self.link
        if (self.reader.whole and not self.backlog and not self.waiting and not self.lease
                and link is not None and not link.dead):
            # The common case: whole commands, all for the shared connection in use. They
            # go as the client sent them.
            for command in commands:
                if command[0].upper() in SPECIAL:
                    break
            else:
                count = len(commands)
                self.outstanding += count
                link.fifo.extend([self] * count)
                link.send(data, self)
                return
        self.backlog.extend(commands)
        self._pump()

    def _pump(self) -> None:
        backlog = self.backlog
        while backlog and not self.waiting and not self._refused:
            args = backlog[0]
            if self.lease:
                if not self._send_own(args):
                    return
                backlog.popleft()
                continue
            route = route_of(args)
            if route is Route.SHARED:
                link = self.link
                if (link is None or link.dead or link.holder is not None
                        or (not self.outstanding and link.fifo)):
                    link = self.link = self.mux.shared_link()
                self.outstanding += 1
                link.fifo.append(self)
                link.send(pack_command(args), self)
                backlog.popleft()
                continue
            if self.outstanding:
                self._wait(_DRAIN)  # replies first, so the order holds
                return
            backlog.popleft()
            if route is Route.AUTH:
                self.write(auth_reply(args))
            elif (route is Route.PINNED and len(args) == 2 and args[1] == self.mux.db
                  and args[0].upper() == b"SELECT"):
                self.write(b"+OK\r\n")  # the database it is in already: nothing changes
            elif route is Route.PINNED and len(args) == 1 and args[0].upper() == b"RESET":
                # Nothing to reset on a shared connection (state would have pinned it);
                # forwarded, RESET would also log the upstream connection out.
                self.write(b"+RESET\r\n")
            elif route is Route.QUIT:
                self._quit()
                return
            else:
                backlog.appendleft(args)
                self._wait(_LEASE)
                self.mux.lease(self)
                return

    def _send_own(self, args: list[bytes]) -> bool:
        """One command on this client's own connection; False: wait for its replies."""
        link = self.link
        assert link is not None
        name = args[0].upper()
        if link.raw:
            if name == b"HELLO":
                args = strip_hello_auth(args)
            elif name == b"AUTH" and len(args) in (2, 3):
                # Replies on a relayed connection are not counted: the upstream's +OK to a
                # harmless UNWATCH stands in, in the AUTH's place (as bridge.AuthWatch does).
                args = [b"UNWATCH"]
            link.send(pack_command(args), self)
            return True
        route = route_of(args)
        if route in (Route.AUTH, Route.QUIT):
            if not link.subs.idle:
                self._wait(_DRAIN)
                return False
            if route is Route.AUTH:
                self.write(auth_reply(args))
            else:
                self._quit()
            return True
        if route is Route.PINNED or (self.multi and route is Route.SUBSCRIBE):
            link.raw = True  # from here on relayed as is, until the client closes
            if name == b"HELLO":
                args = strip_hello_auth(args)
        elif name == b"MULTI":
            self.multi = True
        elif name in (b"EXEC", b"DISCARD"):
            self.multi = self.watch = False
        elif name == b"WATCH":
            self.watch = True
        elif name == b"UNWATCH" and not self.multi:
            self.watch = False
        if not link.raw:
            link.subs.sent(args)
        link.send(pack_command(args), self)
        return True

    def _quit(self) -> None:
        self.backlog.clear()
        self._refused = True  # nothing more is read
        self.write(_QUIT_OK)
        if self.transport is not None:
            self.transport.close()

    # -- waiting (for replies, a dedicated connection, or a full upstream buffer)
    def _wait(self, why: int) -> None:
        self.waiting = why
        self._update_reading()

    def cancel_wait(self) -> None:
        if self.wait_timer is not None:
            self.wait_timer.cancel()
            self.wait_timer = None

    def leased(self, link: _Link) -> None:
        if self._closed:
            self.mux.give_back(link) if link.side is not None else link.close()
            return
        link.holder = self
        self.link, self.lease = link, True
        self.waiting = 0
        self._update_reading()
        self._pump()

    def stall_for(self, link: _Link) -> None:
        link.stalled.add(self)
        self._stalled.add(link)
        self._update_reading()

    def unstall(self, link: _Link) -> None:
        link.stalled.discard(self)
        self._stalled.discard(link)
        self._update_reading()

    def _update_reading(self) -> None:
        should = not self.waiting and not self._stalled
        if should != self._reading and self.transport is not None and not self._closed:
            self._reading = should
            if should:
                self.transport.resume_reading()
            else:
                self.transport.pause_reading()

    # -- replies
    def write(self, data: bytes) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(data)

    def deliver(self, data: bytes, replies: int) -> None:
        """Bytes of replies from a shared connection; ``replies`` of them are now whole."""
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(data)
        if replies:
            self.outstanding -= replies
            if not self.outstanding and self.waiting == _DRAIN:
                self.waiting = 0
                self._update_reading()
                self._pump()

    def _clean(self, link: _Link) -> bool:
        return (not link.raw and not self.multi and not self.watch and link.subs.clean
                and link.scanner.idle)

    def answered(self, link: _Link) -> None:
        """Whole replies came on this client's own connection: give it back when clean."""
        if self._clean(link):
            link.holder = None
            self.link, self.lease = None, False
            if self._blocking is link:
                link.unblock(self)
                self._blocking = None
            self.mux.give_back(link)
            if self.waiting == _DRAIN:
                self.waiting = 0
                self._update_reading()
            self._pump()
        elif self.waiting == _DRAIN and link.subs.idle:
            self.waiting = 0
            self._update_reading()
            self._pump()

    # -- backpressure: a client that cannot keep up stops its upstream's reading
    def pause_writing(self) -> None:
        link = self.link
        if link is not None and self._blocking is None:
            self._blocking = link
            link.block(self)
            if link.shared:  # everyone on it waits for this client: not for ever
                self._slow_timer = asyncio.get_running_loop().call_later(
                    self.mux.slow_reader_close, self._too_slow)

    def resume_writing(self) -> None:
        if self._blocking is not None:
            self._blocking.unblock(self)
            self._blocking = None
        if self._slow_timer is not None:
            self._slow_timer.cancel()
            self._slow_timer = None

    def _too_slow(self) -> None:
        """Closes a client that left its replies unread while others' replies queued behind
        them on a shared connection; what it leaves unread is dropped as it arrives."""
        self._slow_timer = None
        self.bridge._throttle.emit(
            "slow", logging.WARNING,
            f"a client read none of its replies for {self.mux.slow_reader_close:g}s while "
            "others waited behind them on a shared upstream connection; closed it",
        )
        if self.transport is not None:
            self.transport.abort()

    # -- endings
    def upstream_lost(self) -> None:
        """The connection carrying this client's commands died: close it, as in plain mode."""
        self._refused = True
        self.link, self.lease = None, False
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def refuse(self, reply: bytes) -> None:
        """One error, then the client is closed (after a moment to read it), like a client
        of the plain relay whose upstream could not be reached."""
        from .bridge import FAILED_CLIENT_GRACE

        if self._refused or self.transport is None or self.transport.is_closing():
            return
        self._refused = True
        self.backlog.clear()
        self.waiting = 0
        self.write(reply)
        self._stalled.clear()
        self._reading = True
        self.transport.resume_reading()  # read and drop, so closing does not reset
        asyncio.get_running_loop().call_later(FAILED_CLIENT_GRACE, self.transport.close)
