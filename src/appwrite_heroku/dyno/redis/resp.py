"""RESP, the Redis protocol, as the bridge needs it: one encoder, one command reader and one
reply framer, for RESP2 and RESP3. Pure: bytes in, values out, no I/O.

Why two parsers, one per direction: commands are split by hiredis (C), because the multiplexer
must see every command's name to route it: splitting redis-benchmark's pipelines took ~0.3 µs
per command with hiredis against ~1.5 µs with a framer in Python (``benchmarks/
bridge_parse.py``). A chunk of whole commands is forwarded as the client sent it; otherwise
each command goes as its canonical encoding. Replies must be forwarded byte for byte, and
hiredis reports neither where a reply ends nor whether it was ``+OK`` or ``$2 OK``; so replies
are framed by ``ReplyScanner``, in Python, which reads only headers and skips bulk bodies, and
so streams a 10 MB value through without holding it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import hiredis

PROTO_INLINE_MAX = 64 * 1024  # Redis' own limit for one inline command line (and a header)
_CRLF = b"\r\n"


class ProtocolError(Exception):
    """Bytes that are not RESP: the text is a Redis-style message for the client."""


# hiredis' stub types the tuple as a 1-tuple; it takes any length.
_pack = cast(Callable[[tuple[bytes, ...]], bytes], hiredis.pack_command)


def encode_command(*args: bytes) -> bytes:
    """One command as RESP: an array of bulk strings, what every Redis client sends."""
    return _pack(args)


# --------------------------------------------------------------------------------------------
# Commands: hiredis for RESP arrays, a few lines of Python for inline (telnet-style) ones.
# --------------------------------------------------------------------------------------------


class CommandReader:
    """Splits a client's byte stream into commands (each a list of bytes arguments).

    Inline commands (``PING\\r\\n``, what telnet sends) are accepted where the reader is
    between commands, if they hold no quotes; they are returned like RESP ones. A stream that
    mixes the two inside one pipeline, or quotes an inline argument, gets a protocol error: no
    Redis client library does either, and guessing Redis' quoting rules wrong would send a
    shared connection another command.

    After ``feed``: ``whole`` says whether that chunk held whole RESP commands only, begun and
    ended at command boundaries, so that its bytes can be forwarded as they came; ``between``
    whether the stream so far ends at a command boundary.
    """

    __slots__ = ("_between", "_inline", "_reader", "whole")

    def __init__(self) -> None:
        self._reader = hiredis.Reader()
        self._inline = b""
        self._between = True
        self.whole = False

    @property
    def between(self) -> bool:
        return self._between

    def feed(self, data: bytes) -> list[list[bytes]]:
        """The commands completed by ``data``; raises ``ProtocolError``."""
        commands: list[list[bytes]] = []
        began = self._between
        self.whole = False
        # Not ``reader.has_data()``: hiredis consumes a type byte or an array's header before
        # the rest arrives, and then holds no data while inside a command.
        if self._inline or (began and data[:1] != b"*"):
            data = self._read_inline(data, commands)
            self._between = not self._inline
            if not data:
                return commands
            began = False
        reader = self._reader
        reader.feed(data)
        gets = reader.gets
        try:
            while (command := gets()) is not False:
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
        self._between = bool(commands) and not reader.has_data() and data.endswith(
            _pack(tuple(commands[-1])))
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
                raise ProtocolError("quoted inline commands are not supported by the bridge; "
                                    "send RESP")
            words = line.split()
            if words:  # an empty line gets no reply from Redis: forward nothing
                commands.append(words)
            pos = end + 1
        return data[pos:]


def peek_name(data: bytes) -> bytes | None:
    """The name of the command ``data`` begins with, as soon as it can be told (``None``
    until then): enough to know that a long command is no credential without waiting for the
    rest of it. ``b""`` when ``data`` begins with nothing that names a command."""
    if not data.startswith(b"*"):  # an inline command: its first word, once its line is whole
        end = data.find(b"\n")
        if end < 0:
            return None if len(data) <= PROTO_INLINE_MAX else b""
        words = data[:end].split()
        return words[0] if words else b""
    header = data.find(_CRLF)
    if header < 0:
        return None if len(data) < 16 else b""
    count = data[1:header]
    if not count.isdigit() or len(count) > 12 or not int(count):
        return b""  # ``*-1``, ``*0``, ``*x``: no command (Redis ignores or refuses them)
    length_end = data.find(_CRLF, header + 2)
    if length_end < 0:
        return None if len(data) - header < 16 else b""
    length = data[header + 3:length_end]
    if data[header + 2:header + 3] != b"$" or not length.isdigit() or len(length) > 12:
        return b""
    start = length_end + 2
    end = start + int(length)
    if len(data) < end:
        return None if end - start <= PROTO_INLINE_MAX else b""
    return data[start:end]


# --------------------------------------------------------------------------------------------
# Replies: boundaries only.
# --------------------------------------------------------------------------------------------

# What each RESP2/RESP3 type byte starts: a line that is the whole element, a length and a
# body, or an aggregate of elements (a map counts two per entry; an attribute is followed by
# the element it annotates, and is no element of its own).
_LINE, _BODY, _AGGREGATE, _MAP, _ATTRIBUTE, _PUSH = range(6)
_KINDS: dict[int, int] = {
    ord("+"): _LINE, ord("-"): _LINE, ord(":"): _LINE, ord("_"): _LINE, ord(","): _LINE,
    ord("#"): _LINE, ord("("): _LINE,
    ord("$"): _BODY, ord("!"): _BODY, ord("="): _BODY,
    ord("*"): _AGGREGATE, ord("~"): _AGGREGATE, ord("%"): _MAP, ord("|"): _ATTRIBUTE,
    ord(">"): _PUSH,
}


class ReplyScanner:
    """Finds where top-level replies end in a stream fed chunk by chunk.

    ``feed`` returns the offsets (in that chunk) just past each reply completed in it; the
    bytes after the last offset belong to a reply still in progress. Bulk bodies are skipped
    by count, never copied. RESP2 and RESP3: a shared connection may speak either (a client's
    ``HELLO 3`` changes the protocol of what it is sent). A RESP3 push (``>``) answers no
    command: where ``pushes`` is False (a shared connection, where nothing subscribes) one is
    a protocol error, never counted as a reply.
    """

    __slots__ = ("_line", "_skip", "_stack", "pushes")

    def __init__(self, pushes: bool = True) -> None:
        self._line = b""  # a header line cut by the end of a chunk
        self._skip = 0  # bytes of a bulk body (and its CRLF) still to come
        self._stack: list[int] = []  # elements still expected by each open aggregate
        self.pushes = pushes

    @property
    def idle(self) -> bool:
        """True between replies."""
        return not (self._line or self._skip or self._stack)

    def feed(self, data: bytes) -> list[int]:
        if self._skip or self._line:
            return self._resume(data)
        return self._scan(data, 0, 0, [])

    def _resume(self, data: bytes) -> list[int]:
        """A chunk that begins inside a reply: the rest of a bulk body, or of a header."""
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
            self._line = b""
        return self._scan(data, pos, base, ends)

    def _scan(self, data: bytes, pos: int, base: int, ends: list[int]) -> list[int]:
        find, stack, append, kinds, size = data.find, self._stack, ends.append, _KINDS, len(data)
        try:
            while pos < size:
                end = find(_CRLF, pos)
                if end < 0:
                    if size - pos > PROTO_INLINE_MAX:
                        raise ProtocolError("reply header line too long")
                    self._line = data[pos:]
                    break
                kind = kinds[data[pos]]
                if kind == _BODY:
                    length = int(data[pos + 1:end])
                    pos = end + 2
                    if length >= 0:
                        pos += length + 2
                        if pos > size:
                            self._skip = pos - size
                            break
                elif kind == _LINE:
                    pos = end + 2
                else:
                    count = int(data[pos + 1:end])
                    if kind == _PUSH and not stack and not self.pushes:
                        raise ProtocolError("a push message where none was expected")
                    pos = end + 2
                    if kind == _MAP:
                        count *= 2
                    elif kind == _ATTRIBUTE:
                        count = count * 2 + 1  # the attribute's pairs, then what it annotates
                    if count > 0:
                        stack.append(count)
                        continue
                # One element is whole: it ends a reply unless an aggregate still wants more.
                # (Inlined: this loop runs once per reply on the shared connections.)
                while stack:
                    stack[-1] -= 1
                    if stack[-1]:
                        break
                    stack.pop()
                else:
                    append(pos - base)
        except (ValueError, KeyError):
            raise ProtocolError("invalid reply header") from None
        return ends

    def _element_done(self) -> bool:
        stack = self._stack
        while stack:
            stack[-1] -= 1
            if stack[-1]:
                return False
            stack.pop()
        return True


def decode_reply(data: bytes) -> object:
    """One whole reply as Python values (for the few the bridge must read: subscription
    confirmations). Errors come back as ``hiredis.ReplyError`` values, not raised."""
    reader = hiredis.Reader()
    reader.feed(data)
    return reader.gets()


# --------------------------------------------------------------------------------------------
# Replies the bridge writes itself.
# --------------------------------------------------------------------------------------------

OK = b"+OK\r\n"


def error_reply(text: str) -> bytes:
    """A RESP error, on one line whatever ``text`` holds."""
    return b"-" + " ".join(text.split()).encode() + _CRLF


def bulk_reply(value: bytes | None, protocol: int) -> bytes:
    """A bulk string, or the null of the client's protocol."""
    if value is None:
        return b"_\r\n" if protocol == 3 else b"$-1\r\n"
    return b"$%d\r\n%s\r\n" % (len(value), value)
