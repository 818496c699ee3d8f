"""When a dedicated subscriber connection is clean again: no subscription left and every
command answered, so that it may serve someone else. Follows the connection's replies in
RESP2 (arrays) and RESP3 (pushes)."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

from .resp import decode_reply

_AGGREGATES = (b"*", b">")  # a confirmation or a message: an array in RESP2, a push in RESP3
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
        if reply[:1] in _AGGREGATES and (subscribed or (head is not None and head[1] >= 0)):
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
