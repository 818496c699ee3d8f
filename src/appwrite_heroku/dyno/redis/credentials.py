"""What of a plain-relayed client's stream may reach the upstream: everything but the client's
own credentials.

Why: the bridge has logged the upstream connection in; a client's ``AUTH`` (redis-py or
redis-cli with a password, Appwrite with ``_APP_REDIS_PASS`` set by hand) would be refused
there (and a right one could switch the connection's user). phpredis also re-sends ``AUTH``
mid-stream, on a pooled socket it hands out again after its ECHO liveness check.

How: a well-formed ``AUTH`` goes upstream as ``UNWATCH``, whose ``+OK`` stands in for the
answer in its place among the replies (the plain relay does not count replies, so an answer
written by the bridge could overtake the upstream's); ``HELLO`` loses its AUTH clause; every
other command goes as it came (commands.without_credentials).

Who pays: the first commands of a connection are looked at until one that is neither
``AUTH`` nor ``HELLO`` (a client with a password sends it first: phpredis, redis-py,
redis-cli). A client that sent no credentials there is relayed without a look from then on:
Appwrite behind the launcher, which gives it none, never pays for parsing. One that did is
followed to its end; each command is split by the one command reader (hiredis: ~0.3 µs,
``benchmarks/bridge_parse.py``), and a chunk of whole commands without credentials still goes
as it came. A client that first sends credentials later in a connection has them relayed, as
without the bridge. Bytes that are not RESP (garbage, a protocol Redis will refuse) are left
for the upstream to answer: the filter stops and relays them as they came.
"""

from __future__ import annotations

from .commands import carries_credentials, is_credential, without_credentials
from .resp import CommandReader, ProtocolError, encode_command, peek_name

PREFIX_LIMIT = 64 * 1024  # a first command still unnamed after this many bytes is no credential
_CREDENTIALS = (b"AUTH", b"HELLO")
_KEEP_RAW = 64 * 1024  # raw bytes kept to relay as they came should the client stop being RESP


class CredentialFilter:
    """Feed it each chunk a client sends; it returns the bytes for the upstream, or raises
    ``ProtocolError`` for a stream it can no longer relay as it came."""

    __slots__ = ("_raw", "_reader", "active", "credentials", "prefix")

    def __init__(self) -> None:
        self._reader: CommandReader | None = None  # once a credential has been seen
        self._raw: bytes | None = b""  # since the last command boundary (None: too many)
        self.prefix = True  # still at the first commands of the connection
        self.credentials = False  # the client has sent some
        self.active = True  # False: everything goes as it came from now on

    def feed(self, data: bytes) -> bytes:
        if not self.active:
            return data
        if self._reader is None:
            return self._scan_prefix(data)
        return self._follow(data)

    def _scan_prefix(self, data: bytes) -> bytes:
        """Before any credential: hold back what may be one, until its name shows."""
        held = self._raw + data if self._raw else data
        name = peek_name(held)
        if name is None and len(held) <= PREFIX_LIMIT:
            self._raw = held
            return b""
        if name is None or name.upper() not in _CREDENTIALS:
            self.active = self.prefix = False  # the prefix is over, and it had none
            self._raw = b""
            return held
        self._reader = CommandReader()
        self._raw = b""
        return self._follow(held)

    def _follow(self, data: bytes) -> bytes:
        reader = self._reader
        assert reader is not None
        raw = self._raw
        try:
            commands = reader.feed(data)
        except ProtocolError:
            # Not RESP: Redis' business. Relay what the filter held and everything after it;
            # if it held too much to keep a copy, the client is refused instead (raised).
            if raw is None:
                raise
            self.active = False
            return raw + data
        self._raw = None if raw is None else raw + data
        if reader.between:
            self._raw = b""
        elif self._raw is not None and len(self._raw) > _KEEP_RAW:
            self._raw = None
        special = False
        for command in commands:
            if is_credential(command):
                special = True
                self.credentials = self.credentials or carries_credentials(command)
            else:
                self.prefix = False
        if not self.prefix and not self.credentials and reader.between:
            self.active = False
        if not special and reader.whole:
            return data
        return b"".join(encode_command(*without_credentials(c)) for c in commands)
