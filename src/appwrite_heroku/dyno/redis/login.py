"""The bridge's own login to the upstream (``AUTH``, ``SELECT``), hidden from its clients, and
what to say when an upstream connection cannot be made. Pure, but for the TLS context.
"""

from __future__ import annotations

import asyncio
import socket
import ssl

from ...config.redis import RedisUpstream
from .resp import encode_command

REPLY_LIMIT = 64 * 1024  # a login reply longer than this is not Redis speaking


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
            if len(buffer) - pos > REPLY_LIMIT:
                raise HandshakeError("the upstream does not speak the Redis protocol")
            return None
        line = buffer[pos:end]
        if line.startswith(b"-"):
            raise HandshakeError(line[1:].decode("utf-8", "replace")[:200])
        if line != b"+OK":
            raise HandshakeError("the upstream does not speak the Redis protocol")
        pos = end + 2
    return pos


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
