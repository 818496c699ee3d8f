"""Appwrite's own clients in the tests: Debian's php-cli with phpredis (the Redis client
Appwrite uses) and PDO (pdo_mysql), each script a separate OS process as in Appwrite.

The one place that knows how to start them and collect what they say. The protocol (see
tests/php/lib.php): the script reads its configuration as one JSON line on stdin (passwords
never reach argv or the environment), reports JSON event lines on stdout, and waits for
go-ahead words on later stdin lines. A test waits for events, or for a state it can observe on
a server, never for a fixed time.
"""

from __future__ import annotations

import functools
import json
import os
import queue
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

PHP_DIR = Path(__file__).parent / "php"
NEEDED_EXTENSIONS = ("redis", "pdo_mysql")
_EXIT = object()  # put on an event queue when the script's stdout ends


@functools.lru_cache(maxsize=1)
def _php_and_missing() -> tuple[str | None, tuple[str, ...]]:
    php = shutil.which("php")
    if php is None:
        return None, NEEDED_EXTENSIONS
    modules = subprocess.run([php, "-m"], capture_output=True, text=True, timeout=30).stdout
    have = {line.strip().lower() for line in modules.splitlines()}
    return php, tuple(name for name in NEEDED_EXTENSIONS if name not in have)


def require_php() -> str:
    """The php binary with phpredis and pdo_mysql, or a skip (a failure under CI, where
    .ci/run installs php-cli, php-redis and php-mysql)."""
    php, missing = _php_and_missing()
    if php is None or missing:
        message = f"php-cli with {', '.join(missing) or 'php'} is not installed"
        if os.environ.get("CI"):
            pytest.fail(f"{message}: CI must install php-cli php-redis php-mysql")
        pytest.skip(message)
    assert php is not None
    return php


@dataclass(frozen=True)
class ProcessLoad:
    """One Appwrite process's connections, Appwrite-shaped: database pool connections, pooled
    Redis connections (``pconnect``: cache, lock, pubsub, the ``redis`` resource) and queue
    connections (plain ``connect``, never AUTH: publisher pool, a worker's two)."""

    name: str
    db: int
    redis_pool: int
    redis_queue: int = 0
    # Of the Redis connections, those that need an upstream of their own from the multiplexed
    # bridge at once (a blocking receive, a subscription, a rate limiter's MULTI): each holds
    # a WATCH, which the bridge routes like them (redis.commands.Route.WATCH), without blocking
    # the PHP process.
    dedicated: int = 0

    @property
    def redis(self) -> int:
        return self.redis_pool + self.redis_queue


def total(loads: Iterable[ProcessLoad]) -> tuple[int, int]:
    """(database, Redis) connections of a set of processes."""
    loads = list(loads)
    return sum(p.db for p in loads), sum(p.redis for p in loads)


class PhpProcess:
    """A running client script. ``expect`` returns its next event; an ``error`` event or an
    early exit fails the test with what the script wrote to stderr."""

    def __init__(self, name: str, proc: subprocess.Popen[str]) -> None:
        self.name = name
        self.proc = proc
        self.events: queue.Queue[Any] = queue.Queue()
        self._stderr: list[str] = []
        self._readers = [
            threading.Thread(target=self._read_stdout, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                self.events.put(json.loads(line))
            except json.JSONDecodeError:
                self.events.put({"event": "garbage", "line": line.rstrip("\n")})
        self.events.put(_EXIT)

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self._stderr.append(line)

    @property
    def stderr(self) -> str:
        """What the script wrote to stderr so far (complete once it has exited)."""
        return "".join(self._stderr)

    def expect(self, event: str, timeout: float = 15.0) -> dict[str, Any]:
        """The next event, which must be ``event``."""
        try:
            got = self.events.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"{self.name}: no {event!r} within {timeout}s") from None
        if got is _EXIT:
            self.proc.wait(timeout)
            self._join_readers()
            raise AssertionError(f"{self.name} exited ({self.proc.returncode}) before "
                                 f"{event!r}: {self.stderr.strip()}")
        if got.get("event") != event:
            raise AssertionError(f"{self.name}: expected {event!r}, got {got}; "
                                 f"stderr: {self.stderr.strip()}")
        return dict(got)

    def tell(self, word: str) -> None:
        """A go-ahead word for the script's ``await_word``."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(word + "\n")
        self.proc.stdin.flush()

    def finish(self, timeout: float = 15.0) -> int:
        """Waits for the script to end; returns its exit status (stderr is then complete)."""
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            try:
                self.proc.stdin.close()
            except BrokenPipeError:
                pass
        status = self.proc.wait(timeout)
        self._join_readers()
        return status

    def _join_readers(self) -> None:
        for reader in self._readers:
            reader.join(5)

    def stop(self) -> int:
        """SIGTERM for a script that never ends by itself (a subscriber); its status."""
        if self.proc.poll() is None:
            self.proc.terminate()
        return self.finish()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.finish()


class PhpClients:
    """Starts client scripts and makes sure none outlives the test."""

    def __init__(self, php: str) -> None:
        self.php = php
        self.started: list[PhpProcess] = []

    def start(self, script: str, label: str | None = None, /, **config: Any) -> PhpProcess:
        """Runs tests/php/``script``.php with ``config`` as its first stdin line; ``label``
        names the process in failures."""
        path = PHP_DIR / f"{script}.php"
        if not path.is_file():
            raise FileNotFoundError(path)
        proc = subprocess.Popen(
            [self.php, "-d", "display_errors=stderr", "-d", "log_errors=0", str(path)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, bufsize=1, cwd=PHP_DIR,
        )
        process = PhpProcess(label or script, proc)
        self.started.append(process)
        process.tell(json.dumps(config))
        return process

    def run(self, script: str, label: str | None = None, /, **config: Any,
            ) -> list[dict[str, Any]]:
        """Runs a script to its end; returns its events (an ``error`` event fails the test)."""
        process = self.start(script, label, **config)
        status = process.finish(30.0)
        events = self.drain(process)
        errors = [e for e in events if e.get("event") in ("error", "garbage")]
        if status != 0 or errors:
            raise AssertionError(f"{process.name} ended with {status}: {errors} "
                                 f"{process.stderr.strip()}")
        return events

    @staticmethod
    def drain(process: PhpProcess) -> list[dict[str, Any]]:
        """Every event not yet taken with ``expect``."""
        events: list[dict[str, Any]] = []
        while True:
            try:
                got = process.events.get_nowait()
            except queue.Empty:
                return events
            if got is not _EXIT:
                events.append(got)

    def close(self) -> None:
        for process in self.started:
            process.kill()


def by_event(events: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Events keyed by their name (each script reports each name once)."""
    return {e["event"]: e for e in events}


def wait_for(condition: Callable[[], bool], timeout: float = 15.0,
             what: str = "condition") -> None:
    """Polls a state observable on a server (e.g. how many clients are blocked) until it
    holds: the test waits for a fact, not for a fixed time."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout}s")
        time.sleep(0.005)

