"""A local client's connection (Appwrite's), the same in both modes: what happens when it
opens, how it is written to, refused and closed. What is done with its bytes is the mode's
(``ClientRelay``: the plain relay's ``PlainClient``, the multiplexer's ``MuxClient``).

Why at the ``asyncio.Protocol`` level: a relay needs no Redis client library, and streams
add a copy and a task per direction per connection; a protocol costs nothing but its objects
while the connection is idle (Appwrite keeps hundreds of idle connections).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol, cast

from .upstream import WRITE_HIGH_WATER

FAILED_CLIENT_GRACE = 1.0  # seconds a refused client may still read its error before we close


class ClientRelay(Protocol):
    """What a mode does with one local connection."""

    def received(self, data: bytes) -> None:
        """Bytes the client sent."""

    def closed(self) -> None:
        """The client's connection is gone: let go of everything it held."""

    def writing_paused(self) -> None:
        """The client does not read its replies as fast as they come."""

    def writing_resumed(self) -> None:
        """It reads again."""


class Clients:
    """The local connections of one bridge, and what it counts of them."""

    def __init__(self, churn: Callable[[], None]) -> None:
        self.open: set[ClientConnection] = set()
        self.accepted = 0
        self.churn = churn  # a connection came or went: the heap may be trimmed


class ClientConnection(asyncio.Protocol):
    """One local connection. ``relay`` is made for it by the mode once it is open."""

    __slots__ = ("_clients", "_make_relay", "refused", "relay", "transport")

    def __init__(self, clients: Clients,
                 make_relay: Callable[[ClientConnection], ClientRelay]) -> None:
        self._clients = clients
        self._make_relay: Callable[[ClientConnection], ClientRelay] | None = make_relay
        self.transport: asyncio.Transport | None = None
        self.relay: ClientRelay | None = None
        self.refused = False  # an error was sent: what it sends now is dropped

    # -- asyncio's side
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses
        self.transport = transport
        transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)
        self._clients.open.add(self)
        self._clients.accepted += 1
        make, self._make_relay = self._make_relay, None
        assert make is not None
        self.relay = make(self)

    def data_received(self, data: bytes) -> None:
        relay = self.relay
        if relay is not None and not self.refused:
            relay.received(data)

    def eof_received(self) -> bool | None:
        return None  # Redis answers nothing after a client's EOF: close

    def connection_lost(self, exc: Exception | None) -> None:
        self._clients.open.discard(self)
        relay, self.relay = self.relay, None
        if relay is not None:
            relay.closed()
        self.transport = None

    def pause_writing(self) -> None:
        if self.relay is not None:
            self.relay.writing_paused()

    def resume_writing(self) -> None:
        if self.relay is not None:
            self.relay.writing_resumed()

    # -- the relay's side
    @property
    def open(self) -> bool:
        transport = self.transport
        return transport is not None and not transport.is_closing()

    def write(self, data: bytes) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(data)

    def refuse(self, reply: bytes) -> None:
        """One error, then the connection is closed, after a moment in which what the client
        sends is read and dropped, so that closing does not reset the connection before the
        client has read its error."""
        transport = self.transport
        if self.refused or transport is None or transport.is_closing():
            return
        self.refused = True
        transport.write(reply)
        transport.resume_reading()
        asyncio.get_running_loop().call_later(FAILED_CLIENT_GRACE, transport.close)

    def close(self) -> None:
        """Closes once what was written has gone."""
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def pause_reading(self) -> None:
        if self.transport is not None and not self.refused:
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.transport is not None:
            self.transport.resume_reading()
