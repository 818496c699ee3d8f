"""The bridge as a server: it listens on loopback and hands every connection to its mode
(``Relay``): the plain relay (``plain``) or the multiplexer (``mux`` over a ``pool``).
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
from collections.abc import Callable
from typing import Protocol

from ...clock import SYSTEM, Clock
from ...config.redis import RedisUpstream
from ...config.wiring import DEFAULT_MAX_UPSTREAM, MODES, MUX
from .client import ClientConnection, Clients
from .events import Events, log
from .mux import Multiplexer
from .plain import PlainRelay
from .pool import LEASE_WAIT, Pool
from .upstream import CONNECT_TIMEOUT, Connector, Upstream

TRIM_DELAY = 0.5  # seconds after a connection opens or closes before the heap is trimmed


class Relay(Protocol):
    """A mode: what is done with the local connections."""

    def describe(self) -> str:
        """How it relays, for the log."""

    def new_client(self) -> ClientConnection:
        """The protocol for a connection just accepted."""

    def upstreams(self) -> list[Upstream]:
        """Every open upstream connection (for inspection)."""

    def close(self) -> None:
        """Closes what the mode holds of its own."""


class RedisBridge:
    """Listens on loopback and bridges every connection to ``upstream``."""

    def __init__(
        self, upstream: RedisUpstream, *, host: str = "127.0.0.1", port: int = 0,
        ca_file: str | None = None, connect_timeout: float = CONNECT_TIMEOUT,
        mode: str = "plain", max_upstream: int | None = None,
        lease_wait: float = LEASE_WAIT, clock: Clock = SYSTEM,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode {mode!r} is not one of {', '.join(MODES)}")
        self.mode = mode
        self.upstream = upstream
        self.host = host
        self.port = port
        self.connector = Connector(upstream, ca_file, connect_timeout)
        self.address = self.connector.address  # never the URL: that has the password
        self.events = Events(self.address, upstream.source, upstream.password, clock.monotonic)
        self.clients = Clients(self._churn)
        self.mux: Pool | None = None
        self.relay: Relay
        if mode == MUX:
            self.mux = Pool(self.connector, self.events, self._churn,
                            max_upstream or DEFAULT_MAX_UPSTREAM, lease_wait=lease_wait,
                            monotonic=clock.monotonic)
            self.relay = Multiplexer(self.connector, self.events, self.clients, self.mux)
        else:
            self.relay = PlainRelay(self.connector, self.events, self.clients)
        self._server: asyncio.AbstractServer | None = None
        self._trim = _heap_trimmer()
        self._trim_pending: asyncio.TimerHandle | None = None

    @property
    def active(self) -> int:
        """Client connections open right now."""
        return len(self.clients.open)

    @property
    def accepted(self) -> int:
        return self.clients.accepted

    @property
    def upstream_failures(self) -> int:
        return self.events.upstream_failures

    def upstreams(self) -> list[Upstream]:
        return self.relay.upstreams()

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

    async def start(self) -> None:
        """Binds the listening socket; afterwards ``port`` is the real port."""
        raise_fd_limit()
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self.relay.new_client, self.host, self.port,
                                                backlog=1024)
        self.port = int(self._server.sockets[0].getsockname()[1])
        if self._trim is not None:
            self._trim()  # what importing and compiling left behind
        log.info("listening on %s:%d, upstream %s%s (from %s), %s", self.host, self.port,
                 self.address, " over TLS" if self.upstream.tls else "", self.upstream.source,
                 self.relay.describe())

    async def close(self) -> None:
        """Stops accepting and closes every connection (in-flight commands are cut)."""
        if self._trim_pending is not None:
            self._trim_pending.cancel()
            self._trim_pending = None
        if self._server is not None:
            self._server.close()
        for conn in list(self.clients.open):
            conn.abort()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        # Let the transports' connection_lost callbacks run before returning.
        for _ in range(3):
            await asyncio.sleep(0)
        self.relay.close()
        for _ in range(3):
            await asyncio.sleep(0)


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
