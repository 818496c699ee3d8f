"""RESP framing for the multiplexing bridge: where commands and replies begin and end, and
which upstream connection a command needs. Pure functions and small state machines, no I/O.

Why two parsers: commands are parsed with hiredis (C), because the multiplexer must see every
command's name to route it: splitting redis-benchmark's pipelines took ~0.3 µs per command
with hiredis against ~1.5 µs with a framer in Python (``benchmarks/bridge_parse.py``), while
the bridge's whole CPU cost per pipelined request is ~1.7 µs. Commands are forwarded as the
client sent them when a chunk holds only whole commands for a shared connection, else
re-packed (``hiredis.pack_command``). Replies must be forwarded byte for byte, and hiredis
reports neither where a reply ends nor whether it was ``+OK`` or ``$2 OK``; so replies are
framed by ``ReplyScanner``, in Python, which reads only headers and skips bulk bodies
(~0.2-0.4 µs per reply, same script) and so streams a 10 MB value through without holding it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from enum import IntEnum

import hiredis

PROTO_INLINE_MAX = 64 * 1024  # Redis' own limit for one inline command line
_CRLF = b"\r\n"


class ProtocolError(Exception):
    """Bytes that are not RESP: the text is a Redis-style message for the client."""


# --------------------------------------------------------------------------------------------
# Replies: boundaries only.
# --------------------------------------------------------------------------------------------


class ReplyScanner:
    """Finds where top-level RESP2 replies end in a stream fed chunk by chunk.

    ``feed`` returns the offsets (in that chunk) just past each reply completed in it; the
    bytes after the last offset belong to a reply still in progress. Bulk bodies are skipped
    by count, never copied. RESP3 types are refused: the multiplexer never scans a connection
    that said ``HELLO 3`` (such a client keeps its own connection, relayed unparsed).
    """

    __slots__ = ("_line", "_skip", "_stack")

    def __init__(self) -> None:
        self._line = b""  # a header line cut by the end of a chunk
        self._skip = 0  # bytes of a bulk body (and its CRLF) still to come
        self._stack: list[int] = []  # elements still expected by each open array

    @property
    def idle(self) -> bool:
        """True between replies."""
        return not (self._line or self._skip or self._stack)

    def _element_done(self) -> bool:
        stack = self._stack
        while stack:
            stack[-1] -= 1
            if stack[-1]:
                return False
            stack.pop()
        return True

    def feed(self, data: bytes) -> list[int]:
        ends: list[int] = []
        size = len(data)
        pos = 0
        if self._skip:
            pos = min(self._skip, size)
            self._skip -= pos
            if self._skip:
                return ends
            if self._element_done():
                ends.append(pos)
        base = 0  # offsets in ``data`` minus ``base`` are offsets in the chunk
        if self._line:  # (never together with a skip: a header is cut, or a body)
            base = len(self._line)
            data = self._line + data
            size = len(data)
            self._line = b""
        find, stack, append = data.find, self._stack, ends.append
        try:
            while pos < size:
                end = find(_CRLF, pos)
                if end < 0:
                    if size - pos > PROTO_INLINE_MAX:
                        raise ProtocolError("reply header line too long")
                    self._line = data[pos:]
                    break
                kind = data[pos]
                if kind == 36:  # $ bulk string
                    length = int(data[pos + 1:end])
                    pos = end + 2
                    if length >= 0:
                        pos += length + 2
                        if pos > size:
                            self._skip = pos - size
                            break
                elif kind == 42:  # * array
                    count = int(data[pos + 1:end])
                    pos = end + 2
                    if count > 0:
                        stack.append(count)
                        continue
                elif kind in (43, 45, 58):  # + status, - error, : integer
                    pos = end + 2
                else:
                    raise ProtocolError(f"unexpected reply type byte {data[pos:pos + 1]!r}")
                # One element is whole: it ends a reply unless an array still wants more.
                # (Inlined: this loop runs once per reply on the shared connections.)
                while stack:
                    stack[-1] -= 1
                    if stack[-1]:
                        break
                    stack.pop()
                else:
                    append(pos - base)
        except ValueError:
            raise ProtocolError("invalid length in a reply header") from None
        return ends


def decode_reply(data: bytes) -> object:
    """One whole reply as Python values (for the few a multiplexer must read: subscription
    confirmations). Errors come back as ``hiredis.ReplyError`` values, not raised."""
    reader = hiredis.Reader()
    reader.feed(data)
    return reader.gets()


# --------------------------------------------------------------------------------------------
# Commands: hiredis for RESP arrays, a few lines of Python for inline (telnet-style) ones.
# --------------------------------------------------------------------------------------------


class CommandReader:
    """Splits a client's byte stream into commands (each a list of bytes arguments).

    Inline commands (``PING\\r\\n``, what telnet sends) are accepted where the reader is
    between commands, if they hold no quotes; they are returned like RESP ones (and so
    forwarded re-packed as RESP). A stream that mixes the two inside one pipeline, or quotes
    an inline argument, gets a protocol error: no Redis client library does either, and
    guessing Redis' quoting rules wrong would send a shared connection another command.

    ``whole`` says whether the last chunk fed held whole RESP commands only, begun and ended
    at command boundaries: then its bytes can be forwarded as they came.
    """

    __slots__ = ("_between", "_inline", "_reader", "whole")

    def __init__(self) -> None:
        self._reader = hiredis.Reader()
        self._inline = b""
        self._between = True
        self.whole = False

    def feed(self, data: bytes) -> list[list[bytes]]:
        """The commands completed by ``data``; raises ``ProtocolError``."""
        commands: list[list[bytes]] = []
        began = self._between
        self.whole = False
        reader = self._reader
        # Not ``reader.has_data()``: hiredis consumes a type byte or an array's header before
        # the rest arrives, and then holds no data while inside a command.
        if self._inline or (began and data[:1] != b"*"):
            data = self._read_inline(data, commands)
            self._between = not self._inline
            if not data:
                return commands
            began = False
        reader.feed(data)
        gets = reader.gets
        try:
            while True:
                command = gets()
                if command is False:
                    break
                if type(command) is not list:
                    if command is None:
                        continue  # ``*-1``: Redis ignores it, and answers nothing
                    raise ProtocolError("expected an array of bulk strings")
                if command:  # ``*0``: ignored by Redis too
                    for arg in command:
                        if type(arg) is not bytes:  # Redis would close the connection
                            raise ProtocolError("expected '$', got something else")
                    commands.append(command)
        except hiredis.ProtocolError as error:
            raise ProtocolError(str(error)) from None
        # Ended between commands: nothing held, and the chunk ends with the last command (a
        # chunk ending inside a command ends with that command's first arguments instead).
        try:
            self._between = bool(commands) and not reader.has_data() and data.endswith(
                pack_command(commands[-1]))
        except TypeError:  # an argument that is not a bulk string: not forwarded as is
            self._between = False
        self.whole = began and self._between
        return commands

    def _read_inline(self, data: bytes, commands: list[list[bytes]]) -> bytes:
        data = self._inline + data if self._inline else data
        self._inline = b""
        pos, size = 0, len(data)
        while pos < size and data[pos:pos + 1] != b"*":
            end = data.find(b"\n", pos)
            if end < 0:
                if size - pos > PROTO_INLINE_MAX:
                    raise ProtocolError("too big inline request")
                self._inline = data[pos:]
                return b""
            line = data[pos:end]
            if b'"' in line or b"'" in line:
                raise ProtocolError("quoted inline commands are not supported by the bridge's "
                                    "multiplexed mode; send RESP")
            words = line.split()
            if words:  # an empty line gets no reply from Redis: forward nothing
                commands.append(words)
            pos = end + 1
        return data[pos:]

def pack_command(args: Sequence[bytes]) -> bytes:
    """One command as RESP, in C (hiredis' stub types the tuple too narrowly)."""
    packed: bytes = hiredis.pack_command(tuple(args))  # type: ignore[arg-type]
    return packed


# --------------------------------------------------------------------------------------------
# Routing: what a command needs from the upstream connection it runs on.
# --------------------------------------------------------------------------------------------


class Route(IntEnum):
    """What a command needs. Order matters only for readability."""

    SHARED = 0  # any connection, one reply: runs on a shared upstream
    AUTH = 1  # the client's own credentials: answered by the bridge (the upstream is logged in)
    QUIT = 2  # answered by the bridge, then the client is closed
    BLOCKING = 3  # may wait for minutes: a connection of its own until it returns
    TRANSACTION = 4  # MULTI/WATCH: a connection of its own until EXEC/DISCARD (/UNWATCH)
    SUBSCRIBE = 5  # pub/sub: a connection of its own until unsubscribed from everything
    PINNED = 6  # changes the connection for good (SELECT, HELLO, ...): its own, for life


_BLOCKING = frozenset({
    b"BLPOP", b"BRPOP", b"BRPOPLPUSH", b"BLMOVE", b"BLMPOP", b"BZPOPMIN", b"BZPOPMAX",
    b"BZMPOP", b"WAIT", b"WAITAOF",
})
_SUBSCRIBE = frozenset({b"SUBSCRIBE", b"PSUBSCRIBE", b"SSUBSCRIBE"})
_PINNED = frozenset({
    b"SELECT", b"HELLO", b"RESET", b"MONITOR", b"READONLY", b"READWRITE", b"ASKING",
    b"SYNC", b"PSYNC", b"REPLCONF",
})
# CLIENT subcommands that change what the connection does or answers later; the others
# (SETINFO, ID, INFO, LIST, KILL, ...) only read or label it and run on a shared connection.
_CLIENT_PINNED = frozenset({
    b"SETNAME", b"REPLY", b"TRACKING", b"CACHING", b"NO-EVICT", b"NO-TOUCH",
})
_STREAM_READS = frozenset({b"XREAD", b"XREADGROUP"})


# Every command name for which ``route_of`` may answer something else than SHARED: a pipeline
# with none of them goes to a shared connection without a closer look.
SPECIAL = _BLOCKING | _SUBSCRIBE | _PINNED | _STREAM_READS | {
    b"MULTI", b"WATCH", b"AUTH", b"QUIT", b"CLIENT"}


def route_of(args: Sequence[bytes]) -> Route:
    """The route of one command, from its name and, for a few, an argument."""
    name = args[0].upper()
    if name in _BLOCKING:
        return Route.BLOCKING
    if name in (b"MULTI", b"WATCH"):
        return Route.TRANSACTION
    if name in _SUBSCRIBE:
        return Route.SUBSCRIBE
    if name == b"AUTH":
        return Route.AUTH
    if name == b"QUIT":
        return Route.QUIT
    if name in _PINNED:
        return Route.PINNED
    if name == b"CLIENT":
        if len(args) > 1 and args[1].upper() in _CLIENT_PINNED:
            return Route.PINNED
        return Route.SHARED
    if name in _STREAM_READS:
        for arg in args[1:]:
            upper = arg.upper()
            if upper == b"BLOCK":
                return Route.BLOCKING
            if upper == b"STREAMS":
                break
    return Route.SHARED


AUTH_OK = b"+OK\r\n"
AUTH_ARITY = b"-ERR wrong number of arguments for 'auth' command\r\n"


def auth_reply(args: Sequence[bytes]) -> bytes:
    """What Redis would answer a well-formed ``AUTH`` (the bridge's own login is in force)."""
    return AUTH_OK if len(args) in (2, 3) else AUTH_ARITY


def strip_hello_auth(args: Sequence[bytes]) -> list[bytes]:
    """``HELLO 3 AUTH user pass SETNAME x`` → ``HELLO 3 SETNAME x``: the bridge's own
    credentials are already in force upstream, the client's must not reach it."""
    out: list[bytes] = []
    i = 0
    while i < len(args):
        if i > 0 and args[i].upper() == b"AUTH":
            i += 3
            continue
        out.append(args[i])
        i += 1
    return out


# --------------------------------------------------------------------------------------------
# Pub/sub: when a dedicated subscriber connection is clean again.
# --------------------------------------------------------------------------------------------

_PUSH_KINDS = frozenset({b"message", b"pmessage", b"smessage"})
_FAMILY = {
    b"subscribe": 0, b"unsubscribe": 0, b"psubscribe": 1, b"punsubscribe": 1,
    b"ssubscribe": 2, b"sunsubscribe": 2,
}
_UNSUBSCRIBE = {b"UNSUBSCRIBE": 0, b"PUNSUBSCRIBE": 1, b"SUNSUBSCRIBE": 2}
_SUBSCRIBE_FAMILY = {b"SUBSCRIBE": 0, b"PSUBSCRIBE": 1, b"SSUBSCRIBE": 2}


class Subscriptions:
    """Follows a dedicated connection's replies to know when it has no subscription left and
    no command unanswered, i.e. when it may serve someone else.

    Each command sent adds what its answer will be: a number of replies, or, for an
    ``UNSUBSCRIBE`` without arguments, "confirmations of that family until none is left"
    (Redis sends one per channel it drops). Channel names are taken from the confirmations
    themselves, so they are what the server holds when each reply is written.
    """

    __slots__ = ("_expect", "_names")

    def __init__(self) -> None:
        self._names: tuple[set[bytes], set[bytes], set[bytes]] = (set(), set(), set())
        # [n, family]: n more replies (n < 0: until the family has no name left); family
        # -1 for a command that is not pub/sub (its reply is never a confirmation).
        self._expect: deque[list[int]] = deque()

    @property
    def clean(self) -> bool:
        return not self._expect and not any(self._names)

    @property
    def idle(self) -> bool:
        """Every command sent has its replies."""
        return not self._expect

    def sent(self, args: Sequence[bytes]) -> None:
        name = args[0].upper()
        family = _UNSUBSCRIBE.get(name)
        if family is None:
            family = _SUBSCRIBE_FAMILY.get(name, -1)
        elif len(args) == 1:
            self._expect.append([-1, family])
            return
        self._expect.append([max(1, len(args) - 1) if family >= 0 else 1, family])

    def received(self, reply: bytes) -> None:
        """One whole reply, in order."""
        head = self._expect[0] if self._expect else None
        subscribed = any(self._names)
        if reply[:1] == b"*" and (subscribed or (head is not None and head[1] >= 0)):
            value = decode_reply(reply)
            kind = value[0] if isinstance(value, list) and len(value) >= 2 else None
            if isinstance(kind, bytes):
                kind = kind.lower()
                if subscribed and kind in _PUSH_KINDS:
                    return  # a published message: answers no command
                family = _FAMILY.get(kind)
                if (family is not None and head is not None and head[1] == family
                        and isinstance(value, list) and len(value) == 3):
                    channel = value[1]
                    names = self._names[family]
                    if not kind.endswith(b"unsubscribe"):
                        if isinstance(channel, bytes):
                            names.add(channel)
                    elif isinstance(channel, bytes):
                        names.discard(channel)
                    if head[0] < 0:  # unsubscribe from all: done when none is left
                        if channel is None or not names:
                            self._expect.popleft()
                        return
        if head is None:
            return
        if head[0] > 1:
            head[0] -= 1
        else:
            self._expect.popleft()
