"""The Redis bridge's front door: plain, password-less TCP on loopback ↔ TLS + password
upstream, as the ``redis-bridge`` command, ``serve()`` and ``BridgeThread``. Its parts are the
``dyno/redis/`` package (its docstring maps them).

Appwrite 1.9.6 speaks plain TCP to Redis and its queue connections never authenticate, while
Heroku's Key-Value Store takes only TLS (self-signed certificate) with a password. stunnel and
HAProxy can wrap TLS but cannot inject ``AUTH``, so the bridge does both: it opens upstream
connections, authenticates and selects the database there (hidden from the client), then
carries the client's commands. Two modes: ``plain`` opens one upstream connection per local
connection and relays bytes both ways as they come; ``multiplex`` shares a few upstream
connections among all local ones under a ceiling, because Appwrite keeps far more
connections open than Heroku's smallest plans admit.

CONTRACT (the launcher uses these names): ``RedisBridge`` (``start``/``port``/``close``),
``serve()`` (blocking, for the CLI) and ``BridgeThread`` (for a process that is not asyncio),
each taking ``mode=`` and ``max_upstream=``; ``config.wiring.bridge_options(environ)`` reads
both from ``APPWRITE_REDIS_BRIDGE_MODE`` and ``APPWRITE_REDIS_BRIDGE_MAX_UPSTREAM``. uvloop is
used when importable (the ``dyno`` extra and the Lite image's lock have it; ``fast`` alone).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import logging
import os
import signal
import ssl
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..arguments import OneLineParser
from ..config.inputs import whole_number
from ..config.redis import RedisUpstream, parse_redis_url
from ..config.wiring import (
    DEFAULT_MAX_UPSTREAM,
    DEFAULT_MODE,
    MAX_UPSTREAM_ENV,
    MODE_ENV,
    UPSTREAM_ENV,
    BridgeOptions,
    bridge_options,
)
from ..display import quoted, safe_line
from ..errors import InputError
from .redis.events import log
from .redis.login import upstream_ssl_context
from .redis.pool import LEASE_WAIT
from .redis.server import RedisBridge
from .redis.upstream import CONNECT_TIMEOUT

__all__ = ["MAX_UPSTREAM_ENV", "MODE_ENV", "UPSTREAM_ENV", "BridgeOptions", "BridgeThread",
           "RedisBridge", "bridge_options", "main", "new_event_loop", "parse_listen",
           "register", "serve", "upstream_from"]


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


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop when installed, asyncio otherwise. Both set TCP_NODELAY. uvloop takes a third
    fewer instructions per round trip (benchmarks/bridge_instructions.py); asyncio's loop
    stays the fallback, so that a Python without a uvloop wheel still runs the bridge."""
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
        (at most ``max_upstream`` upstream connections; ``redis.mux``); ``bridge_options``
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
