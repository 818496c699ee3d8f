"""What the bridge tells the dyno's log, and counts: at most one line per kind every few
seconds, with a count of the ones held back, so that a restart of the upstream under 500
connections is one line, not 500. Never the password: upstreams are named ``host:port`` and
the variable their URL came from, and the server's words are redacted anyway.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from ...secrecy import Redactor
from .login import describe_failure, upstream_error_reply

LOGGER = "appwrite_heroku.dyno.bridge"  # the name tests and operators know the lines by
log = logging.getLogger(LOGGER)
INTERVAL = 5.0  # seconds between two lines of one kind


class Events:
    """The bridge's log lines (throttled per kind) and its failure count."""

    def __init__(self, address: str, source: str, password: str | None,
                 monotonic: Callable[[], float], interval: float = INTERVAL) -> None:
        self.address = address
        self.source = source
        self.upstream_failures = 0
        self._redactor = Redactor([password or ""])
        self._monotonic = monotonic
        self._interval = interval
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def emit(self, kind: str, level: int, message: str) -> None:
        now = self._monotonic()
        if now - self._last.get(kind, -self._interval) < self._interval:
            self._held[kind] = self._held.get(kind, 0) + 1
            return
        held = self._held.pop(kind, 0)
        self._last[kind] = now
        log.log(level, message + (f" (and {held} more like it)" if held else ""))

    def refused(self, error: BaseException) -> bytes:
        """An upstream connection could not be made: counts it, says so (throttled), and
        returns the error reply for the client(s) that needed it."""
        self.upstream_failures += 1
        reason = self._redactor.redact(describe_failure(error))
        self.emit("refused", logging.WARNING,
                  f"upstream unavailable ({self.address} from {self.source}): {reason}")
        return upstream_error_reply(self.address, reason)

    def lost(self, clients: int) -> None:
        """The upstream closed a connection that ``clients`` client(s) waited on."""
        self.emit("lost", logging.INFO,
                  f"upstream {self.address} closed a connection; closing the {clients} "
                  "client(s) waiting on it")


def drop_tracebacks(error: BaseException | None) -> None:
    """A caught connection error's traceback holds the frames that hold the connection (and
    the inner task that holds the error): a cycle per refused client, freed only by the GC."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        error.__traceback__ = None
        error = error.__cause__ or error.__context__
