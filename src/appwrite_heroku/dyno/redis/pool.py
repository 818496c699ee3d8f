"""The multiplexer's upstream connections under a ceiling: a few shared ones, and dedicated
ones lent to a client for as long as it needs a connection of its own.

- Shared plus dedicated never exceed the ceiling (``max_upstream``). Past it a new dedicated
  need waits up to ``lease_wait`` seconds for one to come back, then that client gets a
  ``-ERR bridge: ...`` and is closed, and one log line (at most one per 5 s) says so.
- A returned connection serves the next need; an unused one is closed after ``IDLE_CLOSE``.
- Which sessions (RESP version, database) the upstream accepts is learnt from clients that
  asked for them; a link is only ever switched to one of those.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol

from ...config.wiring import DEFAULT_SHARED, shared_for
from .commands import Session
from .events import Events, drop_tracebacks
from .links import Link, LinkUser
from .upstream import Connector

LEASE_WAIT = 5.0  # seconds a dedicated need waits for a free connection past the ceiling
IDLE_CLOSE = 30.0  # seconds an unused dedicated connection is kept for the next one
SLOW_READER_CLOSE = 10.0  # seconds a client may hold up a shared connection by not reading


def ceiling_reply(limit: int, waited: float) -> bytes:
    return (f"-ERR bridge: all {limit} upstream connections busy for {waited:g}s "
            "(APPWRITE_REDIS_BRIDGE_MAX_UPSTREAM); see docs/troubleshooting.md\r\n").encode()


class Lessee(LinkUser, Protocol):
    """A client that needs a connection of its own."""

    def leased(self, link: Link) -> None:
        """Here it is (already in the client's session)."""

    def refuse(self, reply: bytes) -> None:
        """None came in time: one error, then the client is closed."""


class Pool:
    """The upstream connections of one multiplexed bridge."""

    def __init__(self, connector: Connector, events: Events, churn: Callable[[], None],
                 max_upstream: int, *, shared: int = DEFAULT_SHARED,
                 lease_wait: float = LEASE_WAIT, monotonic: Callable[[], float]) -> None:
        if max_upstream < 2:
            raise ValueError("the multiplexed bridge needs a ceiling of at least 2 upstream "
                             "connections (one shared, one for a blocking or pub/sub client)")
        self.connector = connector
        self.events = events
        self._churn = churn
        self._monotonic = monotonic
        self.max_upstream = max_upstream
        self.shared_max = shared_for(max_upstream, shared)
        self.dedicated_max = max_upstream - self.shared_max
        self.lease_wait = lease_wait
        self.slow_reader_close = SLOW_READER_CLOSE
        self.default_session = Session(2, connector.upstream.db)  # where a login leaves a link
        self.known_protocols = {2}
        self.known_dbs = {connector.upstream.db}
        self.shared: list[Link] = []
        self.idle: list[Link] = []
        self.dedicated = 0  # dedicated connections open or opening (leased and idle)
        self.peak = 0  # most upstream connections at once
        self.ceiling_refusals = 0
        self.waits = 0  # dedicated needs that had to wait for a connection to come back
        self._waiters: dict[Lessee, tuple[Session, asyncio.TimerHandle]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._sweep: asyncio.TimerHandle | None = None

    @property
    def upstream(self) -> int:
        """Upstream connections open or opening now."""
        return len(self.shared) + self.dedicated

    def churn(self) -> None:
        self._churn()

    # -- sessions
    def known(self, session: Session) -> bool:
        """Whether the upstream is known to accept ``session`` (a client switched to it)."""
        return session.protocol in self.known_protocols and session.db in self.known_dbs

    def learn(self, session: Session) -> None:
        self.known_protocols.add(session.protocol)
        self.known_dbs.add(session.db)

    # -- opening and forgetting connections
    def _open(self, holder: LinkUser | None) -> Link:
        link = Link(self, holder, self.default_session)
        if holder is None:
            self.shared.append(link)
        else:
            self.dedicated += 1
        self.peak = max(self.peak, self.upstream)
        task = asyncio.get_running_loop().create_task(self._connect(link))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return link

    async def _connect(self, link: Link) -> None:
        try:
            upstream = await self.connector.open()
        except asyncio.CancelledError:
            self.forget(link)
            raise
        except Exception as failure:
            reply = self.events.refused(failure)
            for user in link.users():
                user.lost(reply)
            drop_tracebacks(failure)
            self.forget(link)
            return
        if link.dead:
            upstream.close()
            return
        link.attach(upstream)

    def forget(self, link: Link) -> None:
        if link.dead:
            return
        link.dead = True
        if link.shared:
            self.shared.remove(link)
        else:
            self.dedicated -= 1
            if link in self.idle:
                self.idle.remove(link)
        self._churn()
        while self._waiters and self.dedicated < self.dedicated_max:
            client = next(iter(self._waiters))
            session = self._unwait(client)
            client.leased(self._prepared(self._open(client), session))

    # -- shared connections
    def shared_link(self, session: Session) -> Link:
        """The shared connection with the fewest replies pending (in ``session`` already,
        of those), or a new one while that one is busy and the count allows."""
        best: Link | None = None
        for link in self.shared:
            if best is None or len(link.fifo) < len(best.fifo) or (
                    len(link.fifo) == len(best.fifo) and link.tail == session
                    and best.tail != session):
                best = link
        if best is None or (best.fifo and len(self.shared) < self.shared_max):
            best = self._open(None)
        return best

    # -- dedicated connections
    def lease(self, client: Lessee, session: Session) -> None:
        """Gives ``client`` a connection of its own now, or when one is free (bounded)."""
        if self.idle:
            match = next((link for link in self.idle if link.tail == session), self.idle[-1])
            self.idle.remove(match)
            match.holder = client
            client.leased(self._prepared(match, session))
        elif self.dedicated < self.dedicated_max:
            client.leased(self._prepared(self._open(client), session))
        else:
            self.waits += 1
            timer = asyncio.get_running_loop().call_later(self.lease_wait, self._expire, client)
            self._waiters[client] = (session, timer)

    @staticmethod
    def _prepared(link: Link, session: Session) -> Link:
        link.prepare(session)
        return link

    def _expire(self, client: Lessee) -> None:
        self._unwait(client)
        self.ceiling_refusals += 1
        self.events.emit(
            "ceiling", logging.WARNING,
            f"all {self.max_upstream} upstream connections busy for {self.lease_wait:g}s "
            f"({self.dedicated} held by blocking, transaction or pub/sub clients): refused a "
            "client; raise APPWRITE_REDIS_BRIDGE_MAX_UPSTREAM if the plan admits more clients",
        )
        client.refuse(ceiling_reply(self.max_upstream, self.lease_wait))

    def _unwait(self, client: Lessee) -> Session:
        session, timer = self._waiters.pop(client)
        timer.cancel()
        return session

    def unwait(self, client: Lessee) -> None:
        """The client has gone: it waits no more."""
        if client in self._waiters:
            self._unwait(client)

    def give_back(self, link: Link) -> None:
        """A clean dedicated connection: to the next waiter, else kept idle for a while."""
        link.holder = None
        if self._waiters:
            client = next(iter(self._waiters))
            session = self._unwait(client)
            link.holder = client
            client.leased(self._prepared(link, session))
            return
        link.idle_since = self._monotonic()
        self.idle.append(link)
        if self._sweep is None:
            self._sweep = asyncio.get_running_loop().call_later(IDLE_CLOSE, self._sweep_idle)

    def _sweep_idle(self) -> None:
        self._sweep = None
        now = self._monotonic()
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
            self._unwait(client)
        for link in [*self.shared, *self.idle]:
            link.close()
