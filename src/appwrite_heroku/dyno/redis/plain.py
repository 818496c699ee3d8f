"""The plain relay: one upstream connection per local connection, bytes relayed both ways as
they come; only a client's own credentials are kept from the upstream (``credentials``).
"""

from __future__ import annotations

import asyncio

from .client import ClientConnection, Clients
from .credentials import CredentialFilter
from .events import Events, drop_tracebacks
from .resp import ProtocolError, error_reply
from .upstream import Connector, Upstream


class PlainRelay:
    """Every client gets an upstream connection of its own."""

    def __init__(self, connector: Connector, events: Events, clients: Clients) -> None:
        self.connector = connector
        self.events = events
        self.clients = clients

    def describe(self) -> str:
        return "plain relay"

    def new_client(self) -> ClientConnection:
        return ClientConnection(self.clients, lambda conn: PlainClient(self, conn))

    def upstreams(self) -> list[Upstream]:
        """Every open upstream connection (for inspection)."""
        found = []
        for conn in self.clients.open:
            relay = conn.relay
            if isinstance(relay, PlainClient) and relay.upstream is not None:
                found.append(relay.upstream)
        return found

    def close(self) -> None:
        """Nothing of its own: each client's connection goes with it."""


class PlainClient:
    """A local client and its upstream connection. Reading waits for the upstream's login."""

    __slots__ = ("_connecting", "_early", "_filter", "conn", "relay", "transport", "upstream")

    def __init__(self, relay: PlainRelay, conn: ClientConnection) -> None:
        self.relay = relay
        self.conn: ClientConnection | None = conn
        self.transport = conn.transport  # replies are written here directly
        self.upstream: Upstream | None = None
        self._filter = CredentialFilter()
        self._early: list[bytes] = []  # bytes read before the upstream login finished
        conn.pause_reading()
        self._connecting: asyncio.Task[None] | None = (
            asyncio.get_running_loop().create_task(self._connect()))

    async def _connect(self) -> None:
        try:
            upstream = await self.relay.connector.open()
        except asyncio.CancelledError:
            raise
        except Exception as failure:  # every failure becomes a Redis error for this client
            self._connecting = None
            if self.conn is not None:
                self.conn.refuse(self.relay.events.refused(failure))
            drop_tracebacks(failure)
            return
        self._connecting = None
        conn = self.conn
        if conn is None or not conn.open:
            upstream.close()
            return
        self.upstream = upstream
        upstream.attach(self)
        self.relay.clients.churn()
        if self._early:
            early, self._early = b"".join(self._early), []
            self.received(early)
        conn.resume_reading()

    # -- ClientRelay
    def received(self, data: bytes) -> None:
        upstream = self.upstream
        if upstream is None:
            # Not logged in upstream yet (uvloop starts reading despite pause_reading in
            # connection_made): keep this chunk and stop reading until the login is done.
            if self.conn is not None and self._connecting is not None:
                self._early.append(data)
                self.conn.pause_reading()
            return
        credentials = self._filter
        if not credentials.active:
            upstream.send(data)  # the common case: a client that sent no credentials
            return
        try:
            upstream.send(credentials.feed(data))
        except ProtocolError as error:
            if self.conn is not None:
                self.conn.refuse(error_reply(f"ERR Protocol error: {error}"))

    def closed(self) -> None:
        self.conn = self.transport = None
        if self._connecting is not None:
            self._connecting.cancel()
            self._connecting = None
        upstream, self.upstream = self.upstream, None
        if upstream is not None:
            upstream.close()
            self.relay.clients.churn()

    def writing_paused(self) -> None:
        if self.upstream is not None:
            self.upstream.pause_reading()

    def writing_resumed(self) -> None:
        if self.upstream is not None:
            self.upstream.resume_reading()

    # -- UpstreamListener
    def upstream_data(self, data: bytes) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(data)

    def upstream_lost(self) -> None:
        """The upstream went away: close the client (after what it has been sent) so it
        reconnects. Nothing is replayed: a command may or may not have run upstream."""
        self.upstream = None
        conn = self.conn
        if conn is not None and conn.open:
            self.relay.events.lost(1)
            conn.refused = True  # what it still sends is dropped
            conn.close()

    def upstream_paused(self) -> None:
        if self.conn is not None:
            self.conn.pause_reading()

    def upstream_resumed(self) -> None:
        if self.conn is not None:
            self.conn.resume_reading()
