"""The multiplexed mode: many local connections over a few upstream ones.

Why: Appwrite 1.9.6 keeps at least one Redis connection per pool per PHP process for the
process' whole life (utopia-php/pools never shrinks; see /work/shared/facts/appwrite.md,
"Connection appetite"): at the smallest settings a web and a worker dyno hold ≥ 60, while
Heroku's ``mini`` plan admits 20. Almost all of them are idle at any moment.

Why by hand: the kept Redis proxies multiplex only what is stateless. twemproxy and Envoy's
Redis proxy refuse blocking pops and pub/sub, which Appwrite's queues (``BRPOP``) and realtime
(``SUBSCRIBE``) need. So the bridge does it:

- Ordinary commands from every client share a few upstream connections (``links``); each
  reply goes back to its client, in order.
- What a client sets on its connection (RESP version with ``HELLO``, database with
  ``SELECT``, name with ``CLIENT SETNAME``) is kept per client: a shared connection switches
  to the client's session before its commands, and the bridge answers the name itself.
- A transaction without ``WATCH`` is answered by the bridge (``+OK``, ``+QUEUED``) and sent
  whole at ``EXEC`` on a shared connection: Redis runs it in one piece however it interleaves
  with other clients' commands (utopia-php/abuse 1.4.1's rate limiter sends one per request
  of an end user: src/Abuse/Adapters/TimeLimit/Redis.php:72-75).
- A client whose command needs the connection itself gets one of its own ("dedicated") for
  as long as it needs it: a blocking command until its reply, ``WATCH`` until EXEC/DISCARD/
  UNWATCH, a subscriber until it has unsubscribed from everything; a command that changes the
  connection for good (MONITOR, CLIENT TRACKING, ...) keeps it until the client closes.
- A client moves between upstream connections only when every reply it waits for has come,
  so its replies never change order.
- If an upstream connection dies, every client with a command in flight on it is closed
  (nothing is replayed: a command may or may not have run), never handed another's reply.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from enum import Enum

from .client import ClientConnection, Clients
from .commands import (
    NAME_ERROR,
    OK,
    SPECIAL,
    Hello,
    Route,
    Session,
    auth_reply,
    parse_hello,
    parse_select,
    route_of,
    valid_name,
    without_credentials,
)
from .events import Events
from .links import Link
from .pool import Pool
from .resp import CommandReader, ProtocolError, bulk_reply, encode_command, error_reply
from .upstream import Connector, Upstream

QUEUE_LIMIT = 1024 * 1024  # bytes of a transaction kept by the bridge; past it, a connection
_QUEUED = b"+QUEUED\r\n"


class State(Enum):
    """Where a client's next command goes (and whether the bridge reads more of them)."""

    SHARED = "commands go to a shared connection"
    QUEUEING = "inside MULTI: commands are kept until EXEC"
    DRAINING = "waits for the replies due before the next command"
    LEASING = "waits for a connection of its own"
    LEASED = "on a connection of its own"
    OWN_DRAINING = "on its own connection, waits for the replies due there"
    RELAYED = "on a connection of its own, relayed unparsed until it closes"
    CLOSED = "refused, quit or gone: reads nothing more"


S = State
_SHARED, _DRAINING, _CLOSED = S.SHARED, S.DRAINING, S.CLOSED  # read on every command
TRANSITIONS: dict[State, frozenset[State]] = {
    S.SHARED: frozenset({S.QUEUEING, S.DRAINING, S.LEASING, S.CLOSED}),
    S.QUEUEING: frozenset({S.SHARED, S.LEASING, S.CLOSED}),
    S.DRAINING: frozenset({S.SHARED, S.CLOSED}),
    S.LEASING: frozenset({S.LEASED, S.CLOSED}),
    S.LEASED: frozenset({S.SHARED, S.OWN_DRAINING, S.RELAYED, S.CLOSED}),
    S.OWN_DRAINING: frozenset({S.LEASED, S.SHARED, S.CLOSED}),
    S.RELAYED: frozenset({S.CLOSED}),
    S.CLOSED: frozenset(),
}
_READING = frozenset({S.SHARED, S.QUEUEING, S.LEASED, S.RELAYED})
_QUIT_OK = b"+OK\r\n"


def protocol_error_reply(error: ProtocolError) -> bytes:
    return error_reply(f"ERR Protocol error: {error}")


class Multiplexer:
    """Clients over the links of one ``Pool``."""

    def __init__(self, connector: Connector, events: Events, clients: Clients, pool: Pool,
                 ) -> None:
        self.connector = connector
        self.events = events
        self.clients = clients
        self.pool = pool

    def describe(self) -> str:
        return f"multiplexed over at most {self.pool.max_upstream} upstream connections"

    def new_client(self) -> ClientConnection:
        return ClientConnection(self.clients, lambda conn: MuxClient(self.pool, conn))

    def upstreams(self) -> list[Upstream]:
        """Every open upstream connection (for inspection)."""
        links = [*self.pool.shared, *self.pool.idle]
        for conn in self.clients.open:
            relay = conn.relay
            if isinstance(relay, MuxClient) and relay.own and relay.link is not None:
                links.append(relay.link)
        return [link.upstream for link in links if link.upstream is not None]

    def close(self) -> None:
        self.pool.close()


class SessionProbe:
    """The reply to a client's ``SELECT`` or ``HELLO`` of a session the upstream is not yet
    known to accept: the client's session follows if it is no error."""

    __slots__ = ("_client", "_first", "_hello", "_target")

    def __init__(self, client: MuxClient, target: Session, hello: Hello | None) -> None:
        self._client = client
        self._target = target
        self._hello = hello
        self._first = b""

    def deliver(self, data: bytes, replies: int) -> None:
        if not self._first:
            self._first = data[:1]
        if replies:
            self._client.probed(self._target, self._hello, self._first != b"-")
        self._client.deliver(data, replies)

    def lost(self, reply: bytes | None) -> None:
        self._client.lost(reply)


class MuxClient:
    """A local client (Appwrite) in multiplexed mode: a ``ClientRelay`` for its connection,
    a ``LinkUser`` for the links that carry its commands, a ``Lessee`` of the pool.

    Its ``state`` says where its next command goes; ``TRANSITIONS`` lists the moves. Commands
    read while it cannot send them wait in ``backlog`` (and reading stops).
    """

    __slots__ = ("_blocking", "_reading", "_slow_timer", "_stalled", "backlog", "conn", "link",
                 "multi", "name", "outstanding", "own", "pool", "queued", "queued_size",
                 "reader", "session", "state", "transport", "watch")

    def __init__(self, pool: Pool, conn: ClientConnection) -> None:
        self.pool = pool
        self.conn: ClientConnection | None = conn
        self.transport = conn.transport  # replies are written here directly: once per reply
        self.state = S.SHARED
        self.reader = CommandReader()
        self.session = pool.default_session
        self.name: bytes | None = None  # CLIENT SETNAME, kept here
        self.link: Link | None = None  # where the replies come from now
        self.own = False  # ``link`` is this client's own (LEASED, OWN_DRAINING, RELAYED)
        self.outstanding = 0  # replies still due on a shared ``link``
        self.backlog: deque[list[bytes]] = deque()
        self.queued: list[list[bytes]] | None = None  # a transaction kept by the bridge
        self.queued_size = 0
        self.multi = False  # own link: inside MULTI
        self.watch = False  # own link: keys WATCHed
        self._stalled: set[Link] = set()
        self._blocking: Link | None = None
        self._slow_timer: asyncio.TimerHandle | None = None
        self._reading = True

    def _enter(self, state: State) -> None:
        if state not in TRANSITIONS[self.state]:
            raise RuntimeError(f"multiplexer: no move from {self.state.name} to {state.name}")
        self.state = state
        self._update_reading()

    # -- ClientRelay: reading commands
    def received(self, data: bytes) -> None:
        state = self.state
        if state is _CLOSED:
            return
        reader = self.reader
        try:
            commands = reader.feed(data)
        except ProtocolError as error:
            self.refuse(protocol_error_reply(error))
            return
        if not commands:
            return
        link = self.link
        if (state is _SHARED and reader.whole and not self.backlog and link is not None
                and not link.dead):
            # The common case: whole ordinary commands for the shared link in use. They go
            # as the client sent them.
            for command in commands:
                if command[0].upper() in SPECIAL:
                    break
            else:
                count = len(commands)
                self.outstanding += count
                link.submit(data, self, count, self.session, self)
                return
        self.backlog.extend(commands)
        self._pump()

    def _pump(self) -> None:
        backlog = self.backlog
        while backlog:
            state = self.state
            if state is S.SHARED:
                done = self._on_shared(backlog[0])
            elif state is S.QUEUEING:
                done = self._on_queueing(backlog[0])
            elif state is S.LEASED:
                done = self._on_leased(backlog[0])
            elif state is S.RELAYED:
                done = self._on_relayed(backlog[0])
            else:
                return
            if not done:
                return
            backlog.popleft()

    def _on_shared(self, args: list[bytes]) -> bool:
        route = route_of(args)
        if route is Route.SHARED:
            self._to_shared(encode_command(*args), self)
            return True
        if route is Route.SESSION:
            return self._session(args)
        if self.outstanding:  # what the bridge answers comes after the replies due
            self._enter(S.DRAINING)
            return False
        if route is Route.AUTH:
            self.write(auth_reply(args))
        elif route is Route.NAME:
            self.write(self._name(args))
        elif route is Route.RESET:
            # Nothing else to reset on a shared connection (what would have needed it holds
            # a connection of its own); forwarded, RESET would log the upstream connection out.
            self.session, self.name = self.pool.default_session, None
            self.write(b"+RESET\r\n")
        elif route is Route.QUIT:
            self._quit()
            return False
        elif route is Route.MULTI:
            self.write(OK)
            self.queued, self.queued_size = [], 0
            self._enter(S.QUEUEING)
        else:  # WATCH, BLOCKING, SUBSCRIBE, PINNED: a connection of its own
            self._enter(S.LEASING)
            self.pool.lease(self, self.session)
            return False
        return True

    def _to_shared(self, data: bytes, sink: MuxClient | SessionProbe, skip: int = 0) -> Link:
        """Sends one command (or a transaction's block) on the shared link this client is
        on, moving to the best one when nothing is due on it."""
        link = self.link
        if link is None or link.dead or (not self.outstanding and (
                link.fifo or link.tail != self.session)):
            link = self.link = self.pool.shared_link(self.session)
        self.outstanding += 1
        link.submit(data, sink, 1, self.session, self, skip)
        return link

    def _session(self, args: list[bytes]) -> bool:
        """``SELECT`` or ``HELLO``: forwarded (its reply is the upstream's), and the client's
        session follows; at once if the upstream is known to accept it, else with the reply."""
        hello: Hello | None = None
        if args[0].upper() == b"SELECT":
            db = parse_select(args)
            if db is None:  # refused upstream as it is, changing nothing
                self._to_shared(encode_command(*args), self)
                return True
            target, forward = Session(self.session.protocol, db), args
        else:
            parsed = parse_hello(args)
            if isinstance(parsed, bytes):
                return self._answer(parsed)
            hello, forward = parsed, parsed.forward
            target = Session(parsed.protocol or self.session.protocol, self.session.db)
        if self.pool.known(target):
            self.probed(target, hello, True)
            self._to_shared(encode_command(*forward), self)
            return True
        if self.outstanding:
            self._enter(S.DRAINING)
            return False
        link = self._to_shared(encode_command(*forward), SessionProbe(self, target, hello))
        protocol, db = link.tail  # what the probe changes is not known until its reply
        link.tail = (protocol if target.protocol == self.session.protocol else None,
                     db if target.db == self.session.db else None)
        self._enter(S.DRAINING)
        return True

    def probed(self, target: Session, hello: Hello | None, ok: bool) -> None:
        """The upstream accepted a session (or not: then nothing changes)."""
        if not ok:
            return
        self.pool.learn(target)
        self.session = target
        if hello is not None and hello.name is not None:
            self.name = hello.name or None

    def _answer(self, reply: bytes) -> bool:
        """A reply of the bridge's own, after the replies due."""
        if self.outstanding:
            self._enter(S.DRAINING)
            return False
        self.write(reply)
        return True

    def _name(self, args: list[bytes]) -> bytes:
        """CLIENT GETNAME / SETNAME, answered from what this client set."""
        if args[1].upper() == b"GETNAME":
            return bulk_reply(self.name, self.session.protocol)
        if not valid_name(args[2]):
            return NAME_ERROR
        self.name = args[2] or None
        return OK

    def _on_queueing(self, args: list[bytes]) -> bool:
        """Inside MULTI: ordinary commands are kept (and answered +QUEUED) until EXEC, which
        sends ``MULTI … EXEC`` as one block; anything else falls back to a connection of its
        own, where the transaction so far is sent first (``leased``)."""
        queued = self.queued
        assert queued is not None
        name = args[0].upper()
        if len(args) == 1 and name in (b"EXEC", b"DISCARD"):
            self.queued = None
            self._enter(S.SHARED)
            if name == b"DISCARD":
                self.write(OK)
            else:
                block = b"".join([encode_command(b"MULTI"),
                                  *(encode_command(*c) for c in queued), encode_command(*args)])
                self._to_shared(block, self, skip=1 + len(queued))
            return True
        size = sum(len(arg) for arg in args)
        if route_of(args) in (Route.SHARED, Route.BLOCKING) and (
                self.queued_size + size <= QUEUE_LIMIT):
            queued.append(args)
            self.queued_size += size
            self.write(_QUEUED)
            return True
        self._enter(S.LEASING)
        self.pool.lease(self, self.session)
        return False

    # -- on a connection of its own
    def leased(self, link: Link) -> None:
        """From the pool: a connection of this client's own, in its session."""
        if self.state is S.CLOSED:
            if link.upstream is not None:
                self.pool.give_back(link)
            else:
                link.close()
            return
        link.holder = self
        self.link, self.own = link, True
        if self.queued is not None:  # a transaction the bridge had answered: sent first
            block = [[b"MULTI"], *self.queued]
            for command in block:
                link.subs.sent(command)
            link.skip += len(block)
            link.send_own(b"".join(encode_command(*c) for c in block), self)
            self.queued, self.multi = None, True
        self._enter(S.LEASED)
        self._pump()

    def _on_leased(self, args: list[bytes]) -> bool:
        link = self.link
        assert link is not None
        route = route_of(args)
        if route in (Route.AUTH, Route.QUIT, Route.NAME):  # answered after the replies due
            if not link.subs.idle:
                self._enter(S.OWN_DRAINING)
                return False
            if route is Route.QUIT:
                self._quit()
                return False
            self.write(auth_reply(args) if route is Route.AUTH else self._name(args))
            return True
        if route in (Route.PINNED, Route.SESSION, Route.RESET) or (
                self.multi and route is Route.SUBSCRIBE):
            self._enter(S.RELAYED)
            link.raw = True  # from here on relayed as is, until the client closes
            return self._on_relayed(args)
        name = args[0].upper()
        if name == b"MULTI":
            self.multi = True
        elif name in (b"EXEC", b"DISCARD"):
            self.multi = self.watch = False
        elif name == b"WATCH":
            self.watch = True
        elif name == b"UNWATCH" and not self.multi:
            self.watch = False
        link.subs.sent(args)
        link.send_own(encode_command(*args), self)
        return True

    def _on_relayed(self, args: list[bytes]) -> bool:
        """Replies on a relayed connection are not counted: the upstream's +OK to a harmless
        UNWATCH stands in for an AUTH's, in its place (commands.without_credentials)."""
        link = self.link
        assert link is not None
        link.send_own(encode_command(*without_credentials(args)), self)
        return True

    def _clean(self, link: Link) -> bool:
        return (not link.raw and not self.multi and not self.watch and link.subs.clean
                and link.scanner.idle and not link.skip)

    def answered(self, link: Link) -> None:
        """Whole replies came on this client's own connection: give it back when clean."""
        if self._clean(link):
            link.holder = None
            self.link, self.own = None, False
            if self._blocking is link:
                link.unblock(self)
                self._blocking = None
            self.pool.give_back(link)
            self._enter(S.SHARED)
            self._pump()
        elif self.state is S.OWN_DRAINING and link.subs.idle:
            self._enter(S.LEASED)
            self._pump()

    # -- LinkUser: replies
    def write(self, data: bytes) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(data)

    def deliver(self, data: bytes, replies: int) -> None:
        """Bytes of replies from a shared link; ``replies`` of them are now whole."""
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(data)
        if replies:
            self.outstanding -= replies
            if not self.outstanding and self.state is _DRAINING:
                self._enter(S.SHARED)
                self._pump()

    def lost(self, reply: bytes | None) -> None:
        """The link carrying this client's commands died (close it, as in plain mode) or
        could not be made (refuse it with ``reply``)."""
        if reply is not None:
            self.refuse(reply)
            return
        self.link, self.own = None, False
        self._close_state()
        if self.conn is not None:
            self.conn.close()

    def _quit(self) -> None:
        self._close_state()
        self.write(_QUIT_OK)
        if self.conn is not None:
            self.conn.close()

    def _close_state(self) -> None:
        self.backlog.clear()
        if self.state is not S.CLOSED:
            self._enter(S.CLOSED)

    def refuse(self, reply: bytes) -> None:
        """One error, then the client is closed (after a moment to read it), like a client
        of the plain relay whose upstream could not be reached."""
        conn = self.conn
        if self.state is S.CLOSED or conn is None or not conn.open:
            return
        self._close_state()
        self._stalled.clear()
        conn.refuse(reply)

    # -- ClientRelay: the connection is gone
    def closed(self) -> None:
        self.state = S.CLOSED
        self.pool.unwait(self)
        self.backlog.clear()
        self.writing_resumed()  # no longer holds anything up
        for stalled in list(self._stalled):
            stalled.stalled.discard(self)
        self._stalled.clear()
        link, self.link = self.link, None
        if link is not None and self.own and not link.dead:
            self.own = False
            if self._clean(link) and link.upstream is not None:
                self.pool.give_back(link)
            else:
                link.holder = None  # what still comes is dropped with the connection
                link.close()
        self.conn = None
        self.transport = None

    # -- flow control
    def stall(self, link: Link) -> None:
        link.stalled.add(self)
        self._stalled.add(link)
        self._update_reading()

    def unstall(self, link: Link) -> None:
        link.stalled.discard(self)
        self._stalled.discard(link)
        self._update_reading()

    def _update_reading(self) -> None:
        should = self.state in _READING and not self._stalled
        conn = self.conn
        if should != self._reading and conn is not None and self.state is not S.CLOSED:
            self._reading = should
            if should:
                conn.resume_reading()
            else:
                conn.pause_reading()

    def writing_paused(self) -> None:
        """The client does not read: the link its replies come from stops reading too."""
        link = self.link
        if link is not None and self._blocking is None:
            self._blocking = link
            link.block(self)
            if link.shared:  # everyone on it waits for this client: not for ever
                self._slow_timer = asyncio.get_running_loop().call_later(
                    self.pool.slow_reader_close, self._too_slow)

    def writing_resumed(self) -> None:
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
        self.pool.events.emit(
            "slow", logging.WARNING,
            f"a client read none of its replies for {self.pool.slow_reader_close:g}s while "
            "others waited behind them on a shared upstream connection; closed it",
        )
        if self.conn is not None:
            self.conn.abort()
