"""The Redis bridge: plain, password-less TCP on loopback ↔ TLS + password upstream.

Appwrite 1.9.6 speaks plain TCP to Redis and its queue connections never authenticate, while
Heroku's Key-Value Store takes only TLS (self-signed certificate) with a password. stunnel and
HAProxy can wrap TLS but cannot inject ``AUTH``, so this module does both: it opens upstream
connections, authenticates and selects the database there (hidden from the client), then
carries the client's commands. Two modes: ``plain`` (here) opens one upstream connection per
local connection and relays bytes both ways as they come (only a client's ``AUTH`` is
kept from the upstream: ``AuthWatch``); ``multiplex`` (``bridge_mux``) shares a
few upstream connections among all local ones under a ceiling, because Appwrite keeps far more
connections open than Heroku's smallest plans admit.

Why it is written by hand, at the ``asyncio.Protocol`` level: a relay of opaque bytes needs no
Redis client library, and streams add a copy and a task per direction per connection; protocols
relay with one callback per chunk and cost nothing but their objects while a connection is
idle (Appwrite keeps hundreds of idle connections). uvloop is used when importable (the
optional extra ``fast``).

CONTRACT (the launcher uses these names): ``RedisBridge`` (``start``/``port``/``close``),
``serve()`` (blocking, for the CLI) and ``BridgeThread`` (for a process that is not asyncio),
each taking ``mode=`` and ``max_upstream=``; ``config.wiring.bridge_options(environ)`` reads
both from ``APPWRITE_REDIS_BRIDGE_MODE`` and ``APPWRITE_REDIS_BRIDGE_MAX_UPSTREAM``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import logging
import os
import resource
import signal
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import hiredis

from ..arguments import OneLineParser
from ..config.inputs import whole_number
from ..config.redis import RedisUpstream, parse_redis_url
from ..config.wiring import (
    DEFAULT_MAX_UPSTREAM,
    DEFAULT_MODE,
    MAX_UPSTREAM_ENV,
    MODE_ENV,
    MODES,
    UPSTREAM_ENV,
    BridgeOptions,
    bridge_options,
)
from ..display import quoted, safe_line
from ..errors import InputError
from ..secrecy import Redactor
from .bridge_mux import LEASE_WAIT, WRITE_HIGH_WATER, Multiplexer, _MuxClient
from .resp import auth_reply, pack_command, strip_hello_auth

CONNECT_TIMEOUT = 10.0  # seconds for TCP + TLS + AUTH/SELECT to the upstream
FAILED_CLIENT_GRACE = 1.0  # seconds a refused client may still read its error before we close
PREFIX_LIMIT = 64 * 1024  # an AUTH/HELLO longer than this is not a credential: stop scanning
_TLS_RECORD_MAX = 16 * 1024  # the most plaintext one TLS record carries
_TLS_RECORD_TYPES = frozenset(range(20, 25))  # the first byte of every TLS record (RFC 8446 5.1)
KEEPALIVE_IDLE, KEEPALIVE_INTERVAL, KEEPALIVE_COUNT = 60, 15, 4  # dead upstream seen in ~2 min
TRIM_DELAY = 0.5  # seconds after a connection opens or closes before the heap is trimmed

log = logging.getLogger("appwrite_heroku.dyno.bridge")


# --------------------------------------------------------------------------------------------
# Functional core: RESP encoding, handshake replies, the client's AUTH/HELLO prefix.
# --------------------------------------------------------------------------------------------


def encode_command(*args: bytes) -> bytes:
    """One command as a RESP array of bulk strings (what every Redis client sends)."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        out.append(b"$%d\r\n%s\r\n" % (len(arg), arg))
    return b"".join(out)


def handshake_commands(upstream: RedisUpstream) -> list[bytes]:
    """What the bridge sends before relaying: ``AUTH [user] pass`` and ``SELECT db`` (not 0)."""
    commands: list[bytes] = []
    if upstream.password is not None or upstream.username:
        password = (upstream.password or "").encode()
        if upstream.username:
            commands.append(encode_command(b"AUTH", upstream.username.encode(), password))
        else:
            commands.append(encode_command(b"AUTH", password))
    if upstream.db:
        commands.append(encode_command(b"SELECT", str(upstream.db).encode()))
    return commands


class HandshakeError(Exception):
    """The upstream answered the bridge's own AUTH/SELECT with an error."""


def parse_handshake_replies(buffer: bytes, expected: int) -> int | None:
    """Checks the upstream's replies to the handshake; returns the bytes they use.

    ``None`` means more bytes are needed. Each reply to AUTH and SELECT is one line, ``+OK``
    or an error; anything else raises ``HandshakeError`` whose text is the server's (servers
    never echo the password back, and callers redact it anyway).
    """
    pos = 0
    for _ in range(expected):
        end = buffer.find(b"\r\n", pos)
        if end < 0:
            if len(buffer) - pos > PREFIX_LIMIT:
                raise HandshakeError("the upstream does not speak the Redis protocol")
            return None
        line = buffer[pos:end]
        if line.startswith(b"-"):
            raise HandshakeError(line[1:].decode("utf-8", "replace")[:200])
        if line != b"+OK":
            raise HandshakeError("the upstream does not speak the Redis protocol")
        pos = end + 2
    return pos


@dataclass(frozen=True)
class PrefixScan:
    """The result of scanning the start of a client's byte stream for its own credentials."""

    reply: bytes = b""  # answers to the client's AUTH commands, to send it right away
    forward: bytes = b""  # bytes for the upstream, in order, after those answers
    pending: bytes = b""  # an incomplete AUTH/HELLO: keep it, scan again with more bytes
    done: bool = False  # the prefix is over: relay every later byte without looking
    credentials: bool = False  # the client sent AUTH (or HELLO ... AUTH) in it


_INCOMPLETE = object()


def _read_line(data: bytes, pos: int) -> tuple[bytes, int] | None:
    end = data.find(b"\r\n", pos)
    if end < 0:
        return None
    return data[pos:end], end + 2


def _read_array(data: bytes, pos: int, limit: int | None) -> Any:
    """Parses a RESP array of bulk strings at ``pos``, reading at most ``limit`` items.

    Returns ``(items, count, end)``, ``_INCOMPLETE``, or ``None`` when the bytes are not such
    an array (then the upstream, not the bridge, should answer them).
    """
    header = _read_line(data, pos)
    if header is None:
        return _INCOMPLETE
    try:
        count = int(header[0][1:])
    except ValueError:
        return None
    if count <= 0:
        return None
    items: list[bytes] = []
    pos = header[1]
    for _ in range(count if limit is None else min(count, limit)):
        line = _read_line(data, pos)
        if line is None:
            return _INCOMPLETE
        if not line[0].startswith(b"$"):
            return None
        try:
            size = int(line[0][1:])
        except ValueError:
            return None
        if size < 0:
            return None
        end = line[1] + size
        if len(data) < end + 2:
            return _INCOMPLETE
        items.append(data[line[1]:end])
        pos = end + 2
    return items, count, pos


def scan_prefix(data: bytes) -> PrefixScan:
    """Answers the client's leading ``AUTH`` commands locally and strips ``AUTH`` from a
    leading ``HELLO``; stops at the first other command.

    The prefix is answered here because nothing is in flight yet, so a local reply cannot
    overtake an upstream one; for a client that sent credentials in it (``credentials``),
    ``AuthWatch`` takes over after it.
    """
    replies: list[bytes] = []
    pos, size = 0, len(data)
    while pos < size:
        if data[pos:pos + 1] == b"*":
            head = _read_array(data, pos, 1)
            if head is _INCOMPLETE:
                break
            if head is None or head[0][0].upper() not in (b"AUTH", b"HELLO"):
                return PrefixScan(b"".join(replies), data[pos:], done=True,
                                  credentials=bool(replies))
            full = _read_array(data, pos, None)
            if full is _INCOMPLETE:
                break
            if full is None:
                return PrefixScan(b"".join(replies), data[pos:], done=True,
                                  credentials=bool(replies))
            args, _, end = full
            if args[0].upper() == b"HELLO":
                stripped = strip_hello_auth(args)
                return PrefixScan(b"".join(replies), encode_command(*stripped) + data[end:],
                                  done=True,
                                  credentials=bool(replies) or len(stripped) < len(args))
            replies.append(auth_reply(args))
            pos = end
        else:
            # An inline command (telnet style): one line of words.
            line = _read_line(data, pos)
            if line is None:
                break
            words = line[0].split()
            if not words or words[0].upper() != b"AUTH":
                return PrefixScan(b"".join(replies), data[pos:], done=True,
                                  credentials=bool(replies))
            replies.append(auth_reply(words))
            pos = line[1]
    rest = data[pos:]
    if len(rest) > PREFIX_LIMIT:
        return PrefixScan(b"".join(replies), rest, done=True, credentials=bool(replies))
    return PrefixScan(b"".join(replies), b"", rest, done=False, credentials=bool(replies))


_UNWATCH = encode_command(b"UNWATCH")


class AuthWatch:
    """Follows a client's commands after its prefix, so that an ``AUTH`` (or ``HELLO ...
    AUTH``) anywhere in the stream never reaches the upstream with the client's credentials.

    Why: phpredis re-sends ``AUTH`` on a pooled socket it hands out again (after its ECHO
    liveness check), mid-stream; relayed, the upstream would refuse the client's password
    (and a right one could switch the connection's user).

    Why only after a prefix with credentials: a client with a password sends it first on a
    new connection (phpredis, redis-py, redis-cli), and one without (Appwrite behind the
    launcher, which gives it none) has nothing to re-send; following every command costs
    ~0.3 µs each (hiredis splitting a pipeline, ``benchmarks/bridge_parse.py``), a fifth of
    the relay's whole CPU per pipelined request, which connections without credentials so
    never pay (``benchmarks/bridge.py``: unchanged). A client that
    first sends credentials later in a connection has them relayed, as without the bridge.

    How: the commands are split by hiredis and a chunk without ``AUTH``/``HELLO`` is
    forwarded as it came. A
    well-formed ``AUTH`` is replaced by ``UNWATCH``, whose ``+OK`` from the upstream stands in
    for the answer: it comes in its place among the replies to a pipeline, which an answer
    written by the bridge itself could overtake (the plain relay does not count replies).
    ``UNWATCH`` changes nothing unless the client had ``WATCH``ed keys. An ``AUTH`` of the
    wrong arity authenticates nothing and is relayed for the upstream's own error.

    Limits (each relays the chunk as it came, as before this existed): an ``AUTH`` in a read
    that both begins and ends inside other commands (a pipeline of large values cut by the
    socket) or that began in an earlier read; a client sending non-canonical RESP or inline
    commands (``opaque``: nothing is looked at any more, as hiredis cannot read them).
    """

    __slots__ = ("_between", "_reader", "opaque")

    def __init__(self) -> None:
        self._reader = hiredis.Reader()
        self._between = True  # the last byte fed ended a command
        self.opaque = False

    def feed(self, data: bytes) -> bytes:
        """The bytes to forward for ``data``: ``data`` itself unless it holds a credential."""
        if self.opaque:
            return data
        reader = self._reader
        reader.feed(data)
        gets = reader.gets
        commands: list[list[bytes]] = []
        special = False
        try:
            command = gets()
            while command is not False:
                if type(command) is list and command and type(command[0]) is bytes:
                    commands.append(command)
                    name = command[0]
                    if len(name) in (4, 5) and name.upper() in (b"AUTH", b"HELLO"):
                        special = True
                else:  # not an array of bulk strings: Redis's business, not ours
                    self.opaque = True
                    return data
                command = gets()
        except (hiredis.ProtocolError, TypeError):
            self.opaque = True
            return data
        began = self._between
        try:
            self._between = bool(commands) and not reader.has_data() and data.endswith(
                pack_command(commands[-1]))
        except TypeError:
            self.opaque = True
            return data
        if not special:
            return data
        return _without_credentials(data, commands, began, self._between)


def _without_credentials(data: bytes, commands: list[list[bytes]], began: bool,
                         ended: bool) -> bytes:
    """``data`` with each ``AUTH`` replaced by ``UNWATCH`` and ``HELLO``'s AUTH clause cut,
    when the commands' bytes can be placed in it exactly (canonical RESP); else ``data``."""
    packed = [encode_command(*command) for command in commands]
    if began:
        body, whole = commands, b"".join(packed)
        if not data.startswith(whole):
            return data
        head, tail = b"", data[len(whole):]
    elif ended and len(commands) > 1:
        body, whole = commands[1:], b"".join(packed[1:])  # the first began in an earlier read
        if not data.endswith(whole):
            return data
        head, tail = data[:len(data) - len(whole)], b""
    else:
        return data
    out = [head]
    for command in body:
        name = command[0].upper()
        if name == b"AUTH" and len(command) in (2, 3):
            out.append(_UNWATCH)
        elif name == b"HELLO":
            out.append(encode_command(*strip_hello_auth(command)))
        else:
            out.append(encode_command(*command))
    out.append(tail)
    return b"".join(out)


def upstream_error_reply(address: str, reason: str) -> bytes:
    """The RESP error a client gets when the bridge cannot reach or log in to the upstream."""
    text = " ".join(reason.split()) or "unknown error"
    return f"-ERR bridge: upstream unavailable ({address}): {text}\r\n".encode()


class TlsClosed(ConnectionError):
    """The upstream closed a ``rediss://`` connection before the bridge had logged in."""

    def __init__(self, established: bool) -> None:
        super().__init__("the upstream closed the connection")
        self.established = established


class TlsUnanswered(TimeoutError):
    """A ``rediss://`` upstream sent nothing back to the TLS ClientHello in time."""


class NotTls(ConnectionError):
    """A ``rediss://`` upstream answered the TLS ClientHello in plain text."""


_CLIENT_LIMIT_HINT = ("most often the plan's client limit (maxclients), which Redis enforces "
                      "over TLS by closing without a word; see docs/troubleshooting.md, "
                      "'max number of clients'")
_PLAIN_HINT = "a plain (non-TLS) Redis? then use a redis:// URL instead of rediss://"


def describe_failure(error: BaseException) -> str:
    """A short reason for a failed upstream connection, from the error's type and text."""
    if isinstance(error, TlsClosed):
        # redis/redis src/networking.c acceptCommonHandler: past maxclients "for TLS
        # connections, no handshake was done yet so nothing is written" before closing.
        when = "right after the TLS handshake" if error.established else (
            "during the TLS handshake")
        return f"the upstream closed the connection {when}: {_CLIENT_LIMIT_HINT}"
    if isinstance(error, TlsUnanswered):
        return f"TLS failed: no answer to the TLS handshake in time ({_PLAIN_HINT})"
    if isinstance(error, NotTls):
        return f"TLS failed: the server answered in plain text, not TLS ({_PLAIN_HINT})"
    if isinstance(error, (asyncio.TimeoutError, TimeoutError)):
        return "no answer in time"
    if isinstance(error, HandshakeError):
        return f"login refused: {error}"
    if isinstance(error, ssl.SSLError):
        return f"TLS failed: {getattr(error, 'reason', None) or error}"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, socket.gaierror):
        return f"cannot resolve the host: {error.strerror or error}"
    if isinstance(error, UnicodeError):  # a name that is not even a valid DNS name
        return "cannot resolve the host: not a valid host name"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error) or type(error).__name__


def upstream_ssl_context(ca_file: str | None) -> ssl.SSLContext:
    """Heroku's Key-Value Store presents a self-signed certificate, so without a CA file the
    certificate is not verified (as Heroku documents for every client); with one, it is."""
    if ca_file:
        return ssl.create_default_context(cafile=ca_file)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def parse_listen(value: str) -> tuple[str, int]:
    """``HOST:PORT`` on loopback only: the bridge adds the password for whoever connects."""
    host, sep, port_text = value.rpartition(":")
    host = host.strip("[]")
    if not sep or not whole_number(port_text) or not 0 < int(port_text) < 65536:
        # Port 0 would make the OS choose one that nobody is told about.
        raise InputError(f"--listen {quoted(value)} is not HOST:PORT with a port from 1 to "
                         "65535; use e.g. --listen 127.0.0.1:6379")
    if host != "localhost":
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise InputError(
                f"--listen {quoted(value)} is not a loopback address; the bridge logs in for every "
                "client, so it listens on 127.0.0.1 (or ::1) only"
            )
    return host, int(port_text)


def raise_fd_limit() -> None:
    """Each bridged connection holds two descriptors; lift the soft limit to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    if soft != resource.RLIM_INFINITY and soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def _heap_trimmer() -> Callable[[], object] | None:
    """glibc's ``malloc_trim``, where there is one (not on musl).

    Why: each TLS handshake allocates and frees ~100 KiB inside OpenSSL, between the few KiB
    each connection keeps; glibc keeps those holes resident. Trimming after a burst of new
    connections gives back ~8 KiB per connection (4 MB of 500), measured.
    """
    try:
        import ctypes

        trim = ctypes.CDLL(None).malloc_trim
    except (ImportError, OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    return lambda: trim(0)


def _drop_tracebacks(error: BaseException | None) -> None:
    """A caught connection error's traceback holds the frames that hold the connection (and
    the inner task that holds the error): a cycle per refused client, freed only by the GC."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        error.__traceback__ = None
        error = error.__cause__ or error.__context__


class _Throttle:
    """At most one log line per interval per kind, with a count of the ones held back, so
    a restart of the upstream under 500 connections is one line, not 500."""

    def __init__(self, interval: float = 5.0) -> None:
        self._interval = interval
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def emit(self, kind: str, level: int, message: str) -> None:
        now = time.monotonic()
        if now - self._last.get(kind, -self._interval) < self._interval:
            self._held[kind] = self._held.get(kind, 0) + 1
            return
        held = self._held.pop(kind, 0)
        self._last[kind] = now
        log.log(level, message + (f" (and {held} more like it)" if held else ""))


# --------------------------------------------------------------------------------------------
# The relay: one _ClientSide and one _UpstreamSide per local connection.
# --------------------------------------------------------------------------------------------


def _keepalive(transport: asyncio.Transport) -> None:
    """TCP keepalive on the upstream connection: a worker blocked in ``BRPOP`` sends nothing
    for minutes, and without probes an upstream that vanished (failover, maintenance) would
    leave it waiting forever instead of being closed so that it reconnects."""
    sock = transport.get_extra_info("socket")
    if sock is None:
        return
    with contextlib.suppress(OSError, AttributeError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, KEEPALIVE_IDLE)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, KEEPALIVE_INTERVAL)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, KEEPALIVE_COUNT)


class _Tls:
    """TLS over ``ssl.MemoryBIO`` on a plain transport, instead of the event loop's own TLS.

    Why by hand: uvloop's and asyncio's TLS transports each keep a 256 KiB read buffer and
    more per connection (asyncio's is touched in full: 150 MB for 500 connections); an
    ``SSLObject`` fed from ``data_received`` costs only OpenSSL's own state, and the relay
    needs nothing else from TLS (no renegotiation in TLS 1.3, no half-close for Redis).
    """

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

    def feed(self, data: bytes) -> tuple[bytes, bytes, bool]:
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
        while True:
            # Ask for no more than can be there: read(n) allocates n bytes first, and a
            # fixed 64 KiB per small reply made each round trip cost page faults.
            size = min(incoming.pending + obj.pending(), _TLS_RECORD_MAX)
            if not size:
                break
            try:
                chunk = obj.read(size)
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


class _UpstreamSide(asyncio.Protocol):
    """The bridge's connection to the real Redis: TLS (optional), the login, then relaying.

    ``done`` gets ``None`` once logged in, or the error that prevented it (a value, not an
    exception, so a late failure after a timeout is never reported as unretrieved).
    """

    # Slots: 500 idle connections are 1000 of these objects; a __dict__ each adds up.
    __slots__ = ("_done", "_expected", "_handshake", "_heard", "_replies", "_tls", "client",
                 "transport")

    def __init__(self, handshake: list[bytes], done: asyncio.Future[BaseException | None],
                 tls: _Tls | None) -> None:
        self.transport: asyncio.Transport | None = None
        self.client: _ClientSide | None = None
        self._expected = len(handshake)
        self._handshake = b"".join(handshake)
        self._replies = b""
        self._done = done
        self._tls = tls
        self._heard = False  # any byte from the upstream yet

    @property
    def unanswered_tls(self) -> bool:
        """Still waiting for the first byte of the upstream's TLS handshake."""
        return self._tls is not None and not self._heard

    def _finish(self, error: BaseException | None) -> None:
        if not self._done.done():
            self._done.set_result(error)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses
        self.transport = transport
        transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)
        _keepalive(transport)
        if self._tls is not None:
            transport.write(self._tls.start())
        else:
            self._login()

    def _login(self) -> None:
        if self._expected:
            self.send(self._handshake)
        else:
            self._finish(None)

    def send(self, data: bytes) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return  # going away: the client is closed right after
        if self._tls is None:
            transport.write(data)
            return
        try:
            transport.write(self._tls.encrypt(data))
        except ssl.SSLError:  # TLS already shut down by the peer: close both sides
            transport.abort()

    def data_received(self, data: bytes) -> None:
        tls = self._tls
        if tls is not None:
            was_established = tls.established
            if not self._heard:
                self._heard = True
                if data and data[0] not in _TLS_RECORD_TYPES:  # e.g. "-ERR unknown command"
                    self._finish(NotTls("the server answered in plain text"))
                    assert self.transport is not None
                    self.transport.abort()
                    return
            try:
                data, reply, closed = tls.feed(data)
            except ssl.SSLError as error:
                self._finish(error)
                assert self.transport is not None
                self.transport.abort()
                return
            if reply:
                assert self.transport is not None
                self.transport.write(reply)
            if not was_established and tls.established:
                self._login()
            if closed:
                assert self.transport is not None
                self.transport.close()
            if not data:
                return
        if self.client is not None:
            self.client.write(data)
            return
        if self._done.done():
            return  # logged in, client not attached yet: Redis sends nothing unasked
        self._replies += data
        try:
            used = parse_handshake_replies(self._replies, self._expected)
        except HandshakeError as error:
            self._finish(error)
            return
        if used is not None:
            self._replies = b""
            self._finish(None)

    def eof_received(self) -> bool | None:
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if self._tls is not None and not self._done.done():
            self._finish(TlsClosed(self._tls.established))
        else:
            self._finish(exc or ConnectionResetError("the upstream closed the connection"))
        client, self.client = self.client, None
        if client is not None:
            client.upstream_lost()
        self.release()

    def release(self) -> None:
        """Closes the connection and breaks the transport ↔ protocol reference cycle now.

        Left to the cyclic GC, closed connections kept their OpenSSL state (~26 KiB each)
        resident long after a burst of traffic; and a connection abandoned while logging in
        is closed by the event loop without ``connection_lost``.
        """
        if self.transport is not None:
            self.transport.close()
        self.transport = None
        self._tls = None
        self.client = None

    def pause_writing(self) -> None:
        if self.client is not None:
            self.client.pause_reading()

    def resume_writing(self) -> None:
        if self.client is not None:
            self.client.resume_reading()


async def open_upstream(bridge: RedisBridge) -> _UpstreamSide:
    """One upstream connection, logged in (TLS, AUTH, SELECT) within the connect timeout.

    Raises what prevented it (``describe_failure`` words it); a half-made connection is
    closed first.
    """
    loop = asyncio.get_running_loop()
    done: asyncio.Future[BaseException | None] = loop.create_future()
    made: list[_UpstreamSide] = []  # so a timed-out half-made connection can be closed

    def factory() -> _UpstreamSide:
        tls = _Tls(bridge._ssl, bridge._server_hostname) if bridge._ssl else None
        made.append(_UpstreamSide(bridge._handshake, done, tls))
        return made[0]

    async def login() -> None:
        await loop.create_connection(factory, bridge.upstream.host, bridge.upstream.port)
        error = await done
        if error is not None:
            raise error

    try:
        await asyncio.wait_for(login(), bridge.connect_timeout)
    except (asyncio.TimeoutError, TimeoutError):
        side = made.pop() if made else None
        unanswered = side is not None and side.unanswered_tls
        if side is not None:
            side.release()
        if unanswered:
            raise TlsUnanswered() from None
        raise
    except BaseException:
        if made:
            made.pop().release()
        raise
    return made.pop()


class _ClientSide(asyncio.Protocol):
    """A local client (Appwrite). Reading waits until the upstream is logged in."""

    __slots__ = ("_connecting", "_early", "_failed", "_pending", "_scanning", "_send", "_watch",
                 "bridge", "transport", "upstream")

    def __init__(self, bridge: RedisBridge) -> None:
        self.bridge = bridge
        self.transport: asyncio.Transport | None = None
        self.upstream: asyncio.Transport | None = None
        self._send: Callable[[bytes], None] | None = None
        self._scanning = True
        self._pending = b""
        self._watch: AuthWatch | None = None  # once the client has sent credentials
        self._failed = False
        self._early: list[bytes] = []  # bytes read before the upstream login finished
        self._connecting: asyncio.Task[None] | None = None

    # -- lifecycle
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses
        self.transport = transport
        transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)
        transport.pause_reading()
        self.bridge._links.add(self)
        self.bridge.accepted += 1
        self._connecting = asyncio.get_running_loop().create_task(self._connect())

    async def _connect(self) -> None:
        try:
            upstream = await open_upstream(self.bridge)
        except asyncio.CancelledError:
            raise
        except Exception as failure:  # every failure becomes a Redis error for this client
            self._connecting = None
            self._refuse(failure)
            _drop_tracebacks(failure)
            return
        self._connecting = None
        assert upstream.transport is not None
        if self.transport is None or self.transport.is_closing():
            upstream.transport.close()
            return
        self.upstream = upstream.transport
        self._send = upstream.send
        upstream.client = self
        self.bridge._churn()
        if self._early:
            early, self._early = b"".join(self._early), []
            self.data_received(early)
        self.transport.resume_reading()

    def _refuse(self, error: BaseException) -> None:
        reply = self.bridge._refusal(error)
        if self.transport is None or self.transport.is_closing():
            return
        self._failed = True
        self.transport.write(reply)
        # Read (and drop) what the client sends for a moment, so closing does not reset the
        # connection before the client has read its error.
        self.transport.resume_reading()
        asyncio.get_running_loop().call_later(FAILED_CLIENT_GRACE, self.transport.close)

    def connection_lost(self, exc: Exception | None) -> None:
        self.bridge._links.discard(self)
        if self._connecting is not None:
            self._connecting.cancel()
            self._connecting = None
        upstream, self.upstream, self._send = self.upstream, None, None
        if upstream is not None:
            upstream.close()
            self.bridge._churn()
        self.transport = None

    def eof_received(self) -> bool | None:
        return None  # Redis answers nothing after a client's EOF: close both sides

    # -- relaying
    def data_received(self, data: bytes) -> None:
        if self._send is None:
            if self._failed or self.transport is None:
                return  # refused: the client's bytes are dropped
            # Not logged in upstream yet (uvloop starts reading despite pause_reading in
            # connection_made): keep this chunk and stop reading until the login is done.
            self._early.append(data)
            self.transport.pause_reading()
            return
        watch = self._watch
        if self._scanning:
            scan = scan_prefix(self._pending + data if self._pending else data)
            self._pending = scan.pending
            self._scanning = not scan.done
            if scan.credentials and watch is None:
                watch = self._watch = AuthWatch()
            if scan.reply and self.transport is not None:
                self.transport.write(scan.reply)
            if scan.forward:
                self._send(scan.forward if watch is None else watch.feed(scan.forward))
            return
        self._send(data if watch is None else watch.feed(data))

    def write(self, data: bytes) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(data)

    def upstream_lost(self) -> None:
        """The upstream went away: close the client (after what it has been sent) so it
        reconnects. Nothing is replayed: a command may or may not have run upstream."""
        self.upstream, self._send, self._failed = None, None, True  # drop what still comes in
        if self.transport is not None and not self.transport.is_closing():
            self.bridge._throttle.emit(
                "lost", logging.INFO,
                f"upstream {self.bridge.address} closed a connection; closing its client",
            )
            self.transport.close()

    # -- backpressure: a full buffer on one side stops reading on the other
    def pause_writing(self) -> None:
        if self.upstream is not None:
            self.upstream.pause_reading()

    def resume_writing(self) -> None:
        if self.upstream is not None:
            self.upstream.resume_reading()

    def pause_reading(self) -> None:
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.transport is not None and self.upstream is not None:
            self.transport.resume_reading()

    def abort(self) -> None:
        if self._connecting is not None:
            self._connecting.cancel()
        if self.upstream is not None:
            self.upstream.abort()
        if self.transport is not None:
            self.transport.abort()


# --------------------------------------------------------------------------------------------
# The library entries: RedisBridge (asyncio), serve() (blocking, CLI), BridgeThread.
# --------------------------------------------------------------------------------------------


class RedisBridge:
    """Listens on loopback and bridges every connection to ``upstream``."""

    def __init__(
        self, upstream: RedisUpstream, *, host: str = "127.0.0.1", port: int = 0,
        ca_file: str | None = None, connect_timeout: float = CONNECT_TIMEOUT,
        mode: str = "plain", max_upstream: int | None = None,
        lease_wait: float = LEASE_WAIT,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode {mode!r} is not one of {', '.join(MODES)}")
        self.mode = mode
        self.upstream = upstream
        self.connect_timeout = connect_timeout
        self.host = host
        self.port = port
        self.address = f"{upstream.host}:{upstream.port}"  # never the URL: that has the password
        self.accepted = 0
        self.upstream_failures = 0
        self._handshake = handshake_commands(upstream)
        self._ssl = upstream_ssl_context(ca_file) if upstream.tls else None
        self._server_hostname = upstream.host if upstream.tls else None
        self._redactor = Redactor([upstream.password or ""])
        self._throttle = _Throttle()
        self._links: set[Any] = set()  # _ClientSide (plain) or _MuxClient (multiplex)
        self.mux = (Multiplexer(self, max_upstream or DEFAULT_MAX_UPSTREAM,
                                lease_wait=lease_wait)
                    if mode == "multiplex" else None)
        self._server: asyncio.AbstractServer | None = None
        self._trim = _heap_trimmer()
        self._trim_pending: asyncio.TimerHandle | None = None

    def _refusal(self, error: BaseException) -> bytes:
        """Counts and logs (throttled) an upstream that could not be reached; returns the
        error reply for the client(s) that needed it."""
        self.upstream_failures += 1
        reason = self._redactor.redact(describe_failure(error))
        self._throttle.emit(
            "refused", logging.WARNING,
            f"upstream unavailable ({self.address} from {self.upstream.source}): {reason}",
        )
        return upstream_error_reply(self.address, reason)

    def _refused(self, error: BaseException, clients: Sequence[_MuxClient]) -> None:
        reply = self._refusal(error)
        for client in clients:
            client.refuse(reply)

    def _churn(self) -> None:
        """A connection logged in or closed: trim the heap shortly (at most twice a second,
        so steady churn still gets trimmed and a burst costs one trim)."""
        if self._trim is None or self._server is None or not self._server.is_serving():
            return
        if self._trim_pending is not None:
            return
        self._trim_pending = asyncio.get_running_loop().call_later(TRIM_DELAY, self._trim_now)

    def _trim_now(self) -> None:
        self._trim_pending = None
        if self._trim is not None:
            self._trim()

    @property
    def active(self) -> int:
        """Client connections open right now."""
        return len(self._links)

    async def start(self) -> None:
        """Binds the listening socket; afterwards ``port`` is the real port."""
        raise_fd_limit()
        loop = asyncio.get_running_loop()
        mux = self.mux
        factory: Callable[[], asyncio.Protocol] = (
            (lambda: _ClientSide(self)) if mux is None else (lambda: _MuxClient(self, mux)))
        self._server = await loop.create_server(factory, self.host, self.port, backlog=1024)
        self.port = int(self._server.sockets[0].getsockname()[1])
        if self._trim is not None:
            self._trim()  # what importing and compiling left behind
        log.info("listening on %s:%d, upstream %s%s (from %s), %s", self.host, self.port,
                 self.address, " over TLS" if self.upstream.tls else "", self.upstream.source,
                 "plain relay" if mux is None else
                 f"multiplexed over at most {mux.max_upstream} upstream connections")

    async def close(self) -> None:
        """Stops accepting and closes every connection (in-flight commands are cut)."""
        if self._trim_pending is not None:
            self._trim_pending.cancel()
            self._trim_pending = None
        if self._server is not None:
            self._server.close()
        for link in list(self._links):
            link.abort()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        # Let the transports' connection_lost callbacks run before returning.
        for _ in range(3):
            await asyncio.sleep(0)
        if self.mux is not None:
            self.mux.close()
            for _ in range(3):
                await asyncio.sleep(0)


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop when installed, asyncio otherwise. Both set TCP_NODELAY; with TLS done by the
    bridge itself uvloop measured only a few percent faster, so it stays optional."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


def _log_to_stderr() -> None:
    """The bridge's few lines (refused upstreams, lost connections) must reach the dyno's log
    whether it runs as its own command or as a thread of the launcher."""
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("redis-bridge: %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)


def serve(upstream: RedisUpstream, host: str, port: int, ca_file: str | None = None, *,
          mode: str = DEFAULT_MODE, max_upstream: int | None = None) -> int:
    """Runs the bridge until SIGTERM or SIGINT; returns the exit status."""
    _log_to_stderr()

    async def main() -> None:
        bridge = RedisBridge(upstream, host=host, port=port, ca_file=ca_file, mode=mode,
                             max_upstream=max_upstream)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await bridge.start()
        await stop.wait()
        log.info("stopping: closing %d connection(s)", bridge.active)
        await bridge.close()

    loop = new_event_loop()
    try:
        loop.run_until_complete(main())
    except OSError as error:  # e.g. the port is taken
        log.error("cannot listen on %s:%d: %s", host, port, error.strerror or error)
        return 1
    finally:
        loop.close()
    return 0


class BridgeThread:
    """A bridge on its own event loop in a daemon thread, for a caller that is not asyncio."""

    def __init__(self, bridge: RedisBridge, loop: asyncio.AbstractEventLoop,
                 thread: threading.Thread) -> None:
        self.bridge = bridge
        self.port = bridge.port
        self._loop = loop
        self._thread = thread

    @classmethod
    def start(cls, upstream: RedisUpstream, host: str = "127.0.0.1", port: int = 0,
              ca_file: str | None = None, *, connect_timeout: float = CONNECT_TIMEOUT,
              mode: str = DEFAULT_MODE, max_upstream: int | None = None,
              lease_wait: float = LEASE_WAIT) -> BridgeThread:
        """Returns once the bridge listens; raises ``OSError`` if it cannot bind.

        ``mode`` is ``"plain"`` (one upstream connection per client) or ``"multiplex"``
        (at most ``max_upstream`` upstream connections; ``bridge_mux``); ``bridge_options``
        reads both from the environment.
        """
        _log_to_stderr()
        loop = new_event_loop()
        bridge = RedisBridge(upstream, host=host, port=port, ca_file=ca_file,
                             connect_timeout=connect_timeout, mode=mode,
                             max_upstream=max_upstream, lease_wait=lease_wait)
        started: list[BaseException | None] = []
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(bridge.start())
            except BaseException as error:
                started.append(error)
                ready.set()
                loop.close()
                return
            started.append(None)
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(bridge.close())
                loop.close()

        thread = threading.Thread(target=run, name="redis-bridge", daemon=True)
        thread.start()
        ready.wait()
        if started[0] is not None:
            raise started[0]
        return cls(bridge, loop, thread)

    def call(self, function: Callable[[], Any], timeout: float = 5.0) -> Any:
        """Runs ``function`` on the bridge's loop and returns its result (for inspection)."""
        async def wrapped() -> Any:
            return function()
        return asyncio.run_coroutine_threadsafe(wrapped(), self._loop).result(timeout)

    def stop(self, timeout: float = 5.0) -> None:
        """Closes every connection and the loop; waits for the thread."""
        if self._thread.is_alive():
            with contextlib.suppress(RuntimeError):  # the loop already stopped
                self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout)


# --------------------------------------------------------------------------------------------
# The CLI: appwrite-heroku redis-bridge --listen 127.0.0.1:PORT [--upstream URL] [--ca-file F]
# --------------------------------------------------------------------------------------------


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Adds ``redis-bridge``."""
    parser = subparsers.add_parser(
        "redis-bridge",
        help="relay plain local Redis connections to a TLS + password Redis",
        description=(
            "Listen on loopback; for every connection, log in to the upstream Redis (TLS for "
            "rediss://, AUTH, SELECT) and relay. Give the upstream URL in the environment "
            f"variable {UPSTREAM_ENV} to keep its password out of the process list."
        ),
    )
    parser.add_argument("--listen", required=True, metavar="127.0.0.1:PORT",
                        help="loopback address and port to listen on")
    parser.add_argument("--upstream", metavar="URL",
                        help=f"redis[s]://[user:password@]host:port[/db] (default: ${UPSTREAM_ENV}"
                             "; prefer the variable: arguments are visible in ps)")
    parser.add_argument("--ca-file", metavar="FILE",
                        help="verify the upstream's certificate against this CA (default: "
                             "not verified, as Heroku's is self-signed)")
    parser.add_argument("--mode", metavar="plain|multiplex",
                        help="plain: one upstream connection per client; multiplex: clients "
                             f"share at most --max-upstream (default: ${MODE_ENV}, else "
                             f"{DEFAULT_MODE})")
    parser.add_argument("--max-upstream", metavar="N",
                        help="multiplex only: the most upstream connections at once (default: "
                             f"${MAX_UPSTREAM_ENV}, else {DEFAULT_MAX_UPSTREAM})")
    parser.set_defaults(func=_run_cli)


def upstream_from(argument: str | None, environ: Mapping[str, str]) -> RedisUpstream:
    """The upstream from ``--upstream`` or, failing that, the environment variable."""
    if argument:
        return parse_redis_url(argument, "--upstream")
    url = environ.get(UPSTREAM_ENV, "")
    if not url:
        raise InputError(f"no upstream: set {UPSTREAM_ENV} to the Redis URL (or pass --upstream)")
    return parse_redis_url(url, UPSTREAM_ENV)


def check_arguments(args: argparse.Namespace, environ: Mapping[str, str],
                    ) -> tuple[str, int, RedisUpstream, BridgeOptions]:
    """Every argument checked before anything listens: ``InputError`` (exit 2) otherwise."""
    host, port = parse_listen(args.listen)
    upstream = upstream_from(args.upstream, environ)
    options = bridge_options(environ, args.mode, args.max_upstream)
    if args.ca_file:
        try:
            upstream_ssl_context(args.ca_file)
        except (OSError, ssl.SSLError, ValueError) as error:
            raise InputError(f"--ca-file {quoted(args.ca_file)} is not a readable PEM "
                             f"certificate file ({getattr(error, 'strerror', None) or error})"
                             ) from None
    return host, port, upstream, options


def _run_cli(args: argparse.Namespace) -> int:
    host, port, upstream, options = check_arguments(args, os.environ)
    return serve(upstream, host, port, args.ca_file, mode=options.mode,
                 max_upstream=options.max_upstream)



def main(argv: Sequence[str] | None = None) -> int:
    """``python3 -m appwrite_heroku.dyno.bridge``: the same command without the other subcommands'
    imports (requests & co. cost ~20 MB resident, half the bridge's memory budget)."""
    parser: argparse.ArgumentParser = OneLineParser(prog="appwrite-heroku")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["redis-bridge", *(sys.argv[1:] if argv is None else argv)])
    try:
        status: int = args.func(args)
    except InputError as error:
        print(f"appwrite-heroku: error: {safe_line(str(error))}", file=sys.stderr)
        return error.exit_status
    return status


if __name__ == "__main__":
    sys.exit(main())
