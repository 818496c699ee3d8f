"""What a client's command needs from the upstream connection it runs on, and the connection
state a client may set (its protocol, database and name), which the multiplexer keeps per
client so that changing it pins nothing. Pure functions over argument lists.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import NamedTuple

from .resp import error_reply


class Route(IntEnum):
    """What a command needs."""

    SHARED = 0  # any connection in the client's session, one reply
    SESSION = 1  # SELECT, HELLO: forwarded, and the client's session follows if it succeeds
    AUTH = 2  # the client's own credentials: answered by the bridge (the upstream is logged in)
    NAME = 3  # CLIENT SETNAME / GETNAME: kept per client, answered by the bridge
    RESET = 4  # answered by the bridge: the client's session and name back to the start
    QUIT = 5  # answered by the bridge, then the client is closed
    MULTI = 6  # a transaction: queued by the bridge, sent whole at EXEC
    WATCH = 7  # a connection of its own until EXEC, DISCARD or UNWATCH
    BLOCKING = 8  # may wait for minutes: a connection of its own until it returns
    SUBSCRIBE = 9  # pub/sub: a connection of its own until unsubscribed from everything
    PINNED = 10  # changes the connection for good (MONITOR, CLIENT TRACKING...): its own, for life


_BLOCKING = frozenset({
    b"BLPOP", b"BRPOP", b"BRPOPLPUSH", b"BLMOVE", b"BLMPOP", b"BZPOPMIN", b"BZPOPMAX",
    b"BZMPOP", b"WAIT", b"WAITAOF",
})
_SUBSCRIBE = frozenset({b"SUBSCRIBE", b"PSUBSCRIBE", b"SSUBSCRIBE"})
_PINNED = frozenset({
    b"MONITOR", b"READONLY", b"READWRITE", b"ASKING", b"SYNC", b"PSYNC", b"REPLCONF",
})
# CLIENT subcommands that change what the connection does or answers later; the others
# (SETINFO, ID, INFO, LIST, KILL, ...) only read or label it and run on a shared connection.
_CLIENT_PINNED = frozenset({b"REPLY", b"TRACKING", b"CACHING", b"NO-EVICT", b"NO-TOUCH"})
_STREAM_READS = frozenset({b"XREAD", b"XREADGROUP"})
_SIMPLE = {b"SELECT": Route.SESSION, b"HELLO": Route.SESSION, b"AUTH": Route.AUTH,
           b"QUIT": Route.QUIT, b"MULTI": Route.MULTI, b"WATCH": Route.WATCH}

# Every command name for which ``route_of`` may answer something else than SHARED: a pipeline
# with none of them goes to a shared connection without a closer look.
SPECIAL = frozenset(_BLOCKING | _SUBSCRIBE | _PINNED | _STREAM_READS | set(_SIMPLE)
                    | {b"CLIENT", b"RESET"})


def route_of(args: Sequence[bytes]) -> Route:
    """The route of one command, from its name and, for a few, an argument."""
    name = args[0].upper()
    simple = _SIMPLE.get(name)
    if simple is not None:
        return simple
    if name in _BLOCKING:
        return Route.BLOCKING
    if name in _SUBSCRIBE:
        return Route.SUBSCRIBE
    if name in _PINNED:
        return Route.PINNED
    if name == b"RESET":  # with arguments: the upstream's arity error, which changes nothing
        return Route.RESET if len(args) == 1 else Route.SHARED
    if name == b"CLIENT":
        return _client_route(args)
    if name in _STREAM_READS:
        for arg in args[1:]:
            upper = arg.upper()
            if upper == b"BLOCK":
                return Route.BLOCKING
            if upper == b"STREAMS":
                break
    return Route.SHARED


def _client_route(args: Sequence[bytes]) -> Route:
    sub = args[1].upper() if len(args) > 1 else b""
    if (sub == b"SETNAME" and len(args) == 3) or (sub == b"GETNAME" and len(args) == 2):
        return Route.NAME
    return Route.PINNED if sub in _CLIENT_PINNED else Route.SHARED


# -- the client's own credentials ------------------------------------------------------------

AUTH_ARITY = b"-ERR wrong number of arguments for 'auth' command\r\n"
OK = b"+OK\r\n"


def auth_reply(args: Sequence[bytes]) -> bytes:
    """What Redis would answer a well-formed ``AUTH`` (the bridge's own login is in force)."""
    return OK if len(args) in (2, 3) else AUTH_ARITY


def is_credential(args: Sequence[bytes]) -> bool:
    """``AUTH`` or ``HELLO``: a command that may carry the client's credentials."""
    return len(args[0]) in (4, 5) and args[0].upper() in (b"AUTH", b"HELLO")


def carries_credentials(args: Sequence[bytes]) -> bool:
    """``AUTH``, or ``HELLO`` with an AUTH clause: the client has a password."""
    name = args[0].upper()
    return name == b"AUTH" or (name == b"HELLO" and any(a.upper() == b"AUTH" for a in args[2:]))


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


def without_credentials(args: list[bytes]) -> list[bytes]:
    """What goes upstream for a command a client sent: a well-formed ``AUTH`` becomes
    ``UNWATCH``, whose ``+OK`` stands in for the answer in its place among the replies (it
    changes nothing unless the client had WATCHed keys); ``HELLO`` loses its AUTH clause."""
    name = args[0].upper()
    if name == b"AUTH" and len(args) in (2, 3):
        return [b"UNWATCH"]
    if name == b"HELLO":
        return strip_hello_auth(args)
    return args


# -- the connection state a client sets ----------------------------------------------------------


class Session(NamedTuple):
    """What a connection answers in: its RESP version and its database. A tuple, compared
    with a shared link's ``tail`` before every command sent there."""

    protocol: int = 2
    db: int = 0


@dataclass(frozen=True, slots=True)
class Hello:
    """A well-formed ``HELLO``: the protocol it asks for (None: unchanged), the name it sets
    (None: unchanged), and the command that goes upstream (credentials and name cut)."""

    protocol: int | None
    name: bytes | None
    forward: list[bytes]


def parse_hello(args: Sequence[bytes]) -> Hello | bytes:
    """``HELLO [protover [AUTH user pass] [SETNAME name]]``, or the error Redis would answer
    (redis/redis src/networking.c helloCommand), which changes nothing."""
    if len(args) == 1:
        return Hello(None, None, [b"HELLO"])
    try:
        protocol = int(args[1])
    except ValueError:
        return error_reply("ERR Protocol version is not an integer or out of range")
    if protocol not in (2, 3):
        return error_reply("NOPROTO unsupported protocol version")
    name: bytes | None = None
    i = 2
    while i < len(args):
        option, more = args[i].upper(), len(args) - 1 - i
        if option == b"AUTH" and more >= 2:
            i += 3
        elif option == b"SETNAME" and more >= 1:
            name = args[i + 1]
            i += 2
        else:
            text = args[i].decode("utf-8", "replace")[:64]
            return error_reply(f"ERR Syntax error in HELLO option '{text}'")
    if name is not None and not valid_name(name):
        return NAME_ERROR
    return Hello(protocol, name, [b"HELLO", args[1]])


def parse_select(args: Sequence[bytes]) -> int | None:
    """The database a well-formed ``SELECT`` asks for; None for one the upstream will refuse
    as it is (arity, not a number), which changes nothing."""
    if len(args) != 2 or not args[1].lstrip(b"-").isdigit():
        return None
    return int(args[1])


NAME_ERROR = error_reply(
    "ERR Client names cannot contain spaces, newlines or special characters.")


def valid_name(name: bytes) -> bool:
    """Redis' rule for client names: printable ASCII without spaces (or empty: no name)."""
    return all(33 <= byte <= 126 for byte in name)
