"""Connections to the real Redis: TCP, TLS for ``rediss://``, the bridge's login, then bytes
both ways for whoever listens (a plain client or a multiplexer link: ``UpstreamListener``).

Why TLS over ``ssl.MemoryBIO`` on a plain transport instead of the event loop's TLS: uvloop's
and asyncio's TLS transports each keep a 256 KiB read buffer and more per connection
(asyncio's is touched in full: 150 MB for 500 connections); an ``SSLObject`` fed from
``data_received`` costs only OpenSSL's own state. Why a transport, not a socket of our own
read by a reader callback: tried, the callback path cost ~12,000 more instructions per round
trip under uvloop (callgrind), and an ``SSLSocket`` reading the socket itself makes two
``read`` calls per record (its header, then its body), one more system call per reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from typing import Protocol, cast

from ...config.redis import RedisUpstream
from .login import (
    NotTls,
    TlsClosed,
    TlsUnanswered,
    handshake_commands,
    parse_handshake_replies,
    upstream_ssl_context,
)

CONNECT_TIMEOUT = 10.0  # seconds for TCP + TLS + AUTH/SELECT to the upstream
KEEPALIVE_IDLE, KEEPALIVE_INTERVAL, KEEPALIVE_COUNT = 60, 15, 4  # dead upstream seen in ~2 min
WRITE_HIGH_WATER = 256 * 1024  # bytes queued upstream before the clients stop being read
_TLS_RECORD = 16 * 1024  # the most plaintext one TLS record carries
_TLS_RECORD_TYPES = frozenset(range(20, 25))  # the first byte of every TLS record (RFC 8446 5.1)


class UpstreamListener(Protocol):
    """Who an upstream connection reports to once logged in."""

    def upstream_data(self, data: bytes) -> None:
        """Bytes from the upstream (replies, published messages)."""

    def upstream_lost(self) -> None:
        """The connection failed or the upstream closed it; it is closed now."""

    def upstream_paused(self) -> None:
        """More than ``WRITE_HIGH_WATER`` bytes wait to go upstream: stop adding to them."""

    def upstream_resumed(self) -> None:
        """They have gone."""


class Upstream(asyncio.Protocol):
    """One upstream connection: TLS (optional), the login, then relaying for ``listener``.

    ``done`` gets ``None`` once logged in, or the error that prevented it (a value, not an
    exception, so a late failure after a timeout is never reported as unretrieved).
    """

    # Slots: 500 idle connections in plain mode are 500 of these; a __dict__ each adds up.
    __slots__ = ("_done", "_expected", "_handshake", "_replies", "heard", "listener", "tls",
                 "transport")

    def __init__(self, handshake: list[bytes], done: asyncio.Future[BaseException | None],
                 tls: Tls | None) -> None:
        self.transport: asyncio.Transport | None = None
        self.listener: UpstreamListener | None = None
        self._expected = len(handshake)
        self._handshake = b"".join(handshake)
        self._replies = b""
        self._done = done
        self.tls = tls
        self.heard = False  # any byte from the upstream yet

    @property
    def socket(self) -> socket.socket | None:
        """The connection's socket (for inspection), None once closed."""
        transport = self.transport
        return None if transport is None else transport.get_extra_info("socket")

    @property
    def buffered(self) -> int:
        """Bytes waiting to go upstream."""
        transport = self.transport
        return 0 if transport is None else transport.get_write_buffer_size()

    def attach(self, listener: UpstreamListener) -> None:
        """From now on ``listener`` gets every byte."""
        self.listener = listener

    def _finish(self, error: BaseException | None) -> None:
        if not self._done.done():
            self._done.set_result(error)

    # -- asyncio's side
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses
        self.transport = transport
        transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)
        _keepalive(transport.get_extra_info("socket"))
        if self.tls is not None:
            transport.write(self.tls.start())
        else:
            self._login()

    def _login(self) -> None:
        if self._expected:
            self.send(self._handshake)
        else:
            self._finish(None)

    def data_received(self, data: bytes) -> None:
        tls, listener = self.tls, self.listener
        if tls is not None:
            if listener is None or not tls.established:
                self._before_login(tls, data)
                return
            try:  # the common case, inlined: a reply, decrypted
                data, reply, closed = tls.feed(data)
            except ssl.SSLError:
                self._broken(None)
                return
            if reply or closed:
                self._tls_control(reply, closed)
            if not data:
                return
        if listener is not None:
            listener.upstream_data(data)
        elif not self._done.done():
            self._login_replies(data)
        # else: logged in, listener not attached yet: Redis sends nothing unasked

    def _before_login(self, tls: Tls, data: bytes) -> None:
        """TLS while the bridge logs in: the handshake, then the replies to its login."""
        if not self.heard:
            self.heard = True
            if data and data[0] not in _TLS_RECORD_TYPES:  # e.g. "-ERR unknown command"
                self._broken(NotTls("the server answered in plain text"))
                return
        was_established = tls.established
        try:
            data, reply, closed = tls.feed(data)
        except ssl.SSLError as error:
            self._broken(error)
            return
        self._tls_control(reply, closed)  # the handshake's last word before any data
        if not was_established and tls.established:
            self._login()
        if data:
            if self.listener is not None:
                self.listener.upstream_data(data)
            elif not self._done.done():
                self._login_replies(data)

    def _tls_control(self, reply: bytes, closed: bool) -> None:
        """What TLS itself has to say back (a handshake message), or the peer's close."""
        transport = self.transport
        if transport is None:
            return
        if reply:
            transport.write(reply)
        if closed:
            transport.close()

    def _broken(self, error: BaseException | None) -> None:
        if error is not None:
            self._finish(error)
        if self.transport is not None:
            self.transport.abort()

    def _login_replies(self, data: bytes) -> None:
        self.heard = True
        self._replies += data
        try:
            used = parse_handshake_replies(self._replies, self._expected)
        except Exception as error:  # HandshakeError: the server's refusal
            self._finish(error)
            return
        if used is not None:
            self._replies = b""
            self._finish(None)

    def eof_received(self) -> bool | None:
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if self.tls is not None and not self._done.done():
            self._finish(TlsClosed(self.tls.established))
        else:
            self._finish(exc or ConnectionResetError("the upstream closed the connection"))
        listener, self.listener = self.listener, None
        self.close()
        if listener is not None:
            listener.upstream_lost()

    def pause_writing(self) -> None:
        if self.listener is not None:
            self.listener.upstream_paused()

    def resume_writing(self) -> None:
        if self.listener is not None:
            self.listener.upstream_resumed()

    # -- the listener's side
    def send(self, data: bytes) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return  # going away: its listener learns of it from upstream_lost
        tls = self.tls
        if tls is None:
            transport.write(data)
            return
        try:
            transport.write(tls.encrypt(data))
        except ssl.SSLError:  # TLS already shut down by the peer: close both sides
            transport.abort()

    def pause_reading(self) -> None:
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.transport is not None:
            self.transport.resume_reading()

    def close(self) -> None:
        """Closes the connection (its listener is not told: it asked) and breaks the
        transport ↔ protocol reference cycle now.

        Left to the cyclic GC, closed connections kept their OpenSSL state (~26 KiB each)
        resident long after a burst of traffic; and a connection abandoned while logging in
        is closed by the event loop without ``connection_lost``.
        """
        if self.transport is not None:
            self.transport.close()
        self.transport = None
        self.tls = None
        self.listener = None

    def abort(self) -> None:
        """Closes the connection as if it had failed: its listener is told, soon."""
        if self.transport is not None:
            self.transport.abort()


class Tls:
    """TLS over ``ssl.MemoryBIO``: ciphertext in and out as bytes, on a socket of our own."""

    __slots__ = ("_in", "_obj", "_out", "established")

    def __init__(self, context: ssl.SSLContext, server_hostname: str | None) -> None:
        self._in = ssl.MemoryBIO()
        self._out = ssl.MemoryBIO()
        self._obj = context.wrap_bio(self._in, self._out, server_hostname=server_hostname)
        self.established = False

    def start(self) -> bytes:
        """The ClientHello."""
        self._handshake()
        return self._out.read()

    def _handshake(self) -> None:
        try:
            self._obj.do_handshake()
        except ssl.SSLWantReadError:
            return
        self.established = True

    def feed(self, data: bytes | memoryview) -> tuple[bytes, bytes, bool]:
        """Ciphertext in; (plaintext, ciphertext to send back, peer closed TLS) out.

        Raises ``ssl.SSLError`` when the peer's TLS is broken or refused.
        """
        self._in.write(data)
        if not self.established:
            self._handshake()
            if not self.established:
                return b"", self._out.read(), False
        obj, incoming = self._obj, self._in
        chunks: list[bytes] = []
        closed = False
        while incoming.pending:
            # One record at a time, asking for no more than can be there (its ciphertext is
            # longer than its plaintext, which is at most _TLS_RECORD): read(n) allocates n
            # bytes first, and a fixed 64 KiB per small reply made each round trip cost page
            # faults. A record decrypted is read whole, so nothing stays inside OpenSSL.
            try:
                chunk = obj.read(min(incoming.pending, _TLS_RECORD))
            except ssl.SSLWantReadError:
                break  # the rest of a record is still on its way
            except ssl.SSLZeroReturnError:
                closed = True
                break
            if not chunk:
                break
            chunks.append(chunk)
        reply = self._out.read() if self._out.pending else b""
        return (chunks[0] if len(chunks) == 1 else b"".join(chunks)), reply, closed

    def encrypt(self, data: bytes) -> bytes:
        self._obj.write(data)
        return self._out.read()


def _keepalive(sock: socket.socket | None) -> None:
    """TCP keepalive: a worker blocked in ``BRPOP`` sends nothing for minutes, and without
    probes an upstream that vanished (failover, maintenance) would leave it waiting forever
    instead of being closed so that it reconnects."""
    if sock is None:
        return
    with contextlib.suppress(OSError, AttributeError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, KEEPALIVE_IDLE)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, KEEPALIVE_INTERVAL)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, KEEPALIVE_COUNT)


class Connector:
    """Opens logged-in upstream connections: where, how (TLS, credentials) and how long to
    wait. Holds the password: never print it."""

    def __init__(self, upstream: RedisUpstream, ca_file: str | None = None,
                 connect_timeout: float = CONNECT_TIMEOUT) -> None:
        self.upstream = upstream
        self.connect_timeout = connect_timeout
        self.address = f"{upstream.host}:{upstream.port}"  # never the URL: that has the password
        self._handshake = handshake_commands(upstream)
        self._ssl = upstream_ssl_context(ca_file) if upstream.tls else None

    async def open(self) -> Upstream:
        """One upstream connection, logged in (TLS, AUTH, SELECT) within the connect timeout.

        Raises what prevented it (``login.describe_failure`` words it); a half-made
        connection is closed first.
        """
        loop = asyncio.get_running_loop()
        done: asyncio.Future[BaseException | None] = loop.create_future()
        made: list[Upstream] = []  # so that a timed-out half-made connection can be closed

        def factory() -> Upstream:
            tls = Tls(self._ssl, self.upstream.host) if self._ssl is not None else None
            made.append(Upstream(self._handshake, done, tls))
            return made[0]

        async def login() -> None:
            await loop.create_connection(factory, self.upstream.host, self.upstream.port)
            error = await done
            if error is not None:
                raise error

        try:
            await asyncio.wait_for(login(), self.connect_timeout)
        except (asyncio.TimeoutError, TimeoutError):
            upstream = made.pop() if made else None
            unanswered = upstream is not None and upstream.tls is not None and not upstream.heard
            if upstream is not None:
                upstream.close()
            if unanswered:
                raise TlsUnanswered() from None
            raise
        except BaseException:
            if made:
                made.pop().close()
            raise
        return made.pop()
