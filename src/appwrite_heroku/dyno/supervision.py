"""Supervision: a real supervisord per dyno, configured per role, and the launcher watching it.

supervisord restarts a child that dies; what it does not do is give up on a crash loop in a way
Heroku notices. The launcher therefore reads supervisord's own log (its stdout, a pipe) and exits
non-zero when a program turns FATAL or keeps restarting, so Heroku restarts the whole dyno.
Reading the log rather than polling XML-RPC keeps `xmlrpc`/`http.client` out of the launcher's
memory; supervisord's `spawned:` and `gave up:` lines have kept their wording since 3.x.
Each program's output reaches the launcher through a FIFO and leaves on stdout (Heroku's log
drain) as `[program] line`, with every known secret masked.
"""

from __future__ import annotations

import contextlib
import os
import re
import selectors
import shlex
import signal
import socket
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

from ..clock import SYSTEM, Clock
from ..config.processes import Program
from ..errors import InputError
from .router import render_template

# Heroku sends SIGTERM and then SIGKILL 30 s later. Every program gets TERM at once (one group:
# supervisord stops groups one after another, waiting for each, which took the real worker dyno
# 17-25 s), then KILL after this many seconds: a queue worker finishes its job in flight first
# (utopia-php/queue 0.21.1 Adapter/Swoole.php:67-70 closes the consumer, :120 waits for running
# jobs). The launcher keeps a margin for supervisord and PgBouncer, which stops after the rest.
STOP_WAIT_SECONDS = 20
SHUTDOWN_DEADLINE = 25.0
# A queue worker the dispatcher stops (dyno/queues.py) finishes the jobs it holds however long
# they take, within reason: killing it would leave its job in the processing list for good.
# At the dyno's shutdown the launcher's deadline applies to everyone.
ON_DEMAND_STOP_WAIT = 3600
# The group every program but PgBouncer belongs to: signalled together at shutdown.
GROUP = "appwrite"
_MAX_PARTIAL_LINE = 16 * 1024
# How long the log pump lets programs' output gather after a read (see LogPump._run).
GATHER_SECONDS = 0.05


class Child(Protocol):
    """What the launcher uses of a child process: `subprocess.Popen`'s shape."""

    stdout: IO[bytes] | None

    @property
    def returncode(self) -> int | None: ...

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...

    def send_signal(self, sig: int) -> None: ...

    def kill(self) -> None: ...


# Starts a child as `subprocess.Popen(argv, **options)` would: the launcher's one way to spawn,
# so that a test can stand a small program of its own in for supervisord or `migrate`.
Spawn = Callable[..., Child]


@dataclass(frozen=True)
class CrashPolicy:
    """A program restarting `limit` times within `window` seconds counts as a crash loop."""

    limit: int = 5
    window: float = 120.0


def program_section(program: Program, log_path: Path) -> str:
    lines = [
        f"[program:{program.name}]",
        f"command={shlex.join(program.command)}",
        f"directory={program.directory}",
        f"autostart={'false' if program.on_demand else 'true'}",
        "autorestart=true",
        f"startsecs={program.startsecs}",
        "startretries=3",
        f"priority={program.priority}",
        "stopsignal=TERM",
        f"stopwaitsecs={ON_DEMAND_STOP_WAIT if program.on_demand else STOP_WAIT_SECONDS}",
        "stopasgroup=true",
        "killasgroup=true",
        "redirect_stderr=true",
        f"stdout_logfile={log_path}",
        "stdout_logfile_maxbytes=0",
        "stdout_logfile_backups=0",
    ]
    if program.env:
        # Only non-secret per-program values (PORT); secrets come from supervisord's environment.
        pairs = ",".join(f'{key}="{value}"' for key, value in sorted(program.env.items()))
        lines.append(f"environment={pairs}")
    return "\n".join(lines)


def group_section(programs: Iterable[Program]) -> str:
    """One group for every program that may stop together: supervisord's shutdown stops a
    group's members at once (ProcessGroup.stop_all) but one group after another, waiting for
    each. Its priority puts it after PgBouncer at start and before it at shutdown."""
    members = [p.name for p in programs if not p.stops_last]
    if not members:
        return ""
    return f"[group:{GROUP}]\nprograms={','.join(members)}\npriority=999"


def rpc_name(program: Program) -> str:
    """The name supervisord's XML-RPC knows the program by (`group:name`)."""
    return program.name if program.stops_last else f"{GROUP}:{program.name}"


def render_supervisord(runtime_dir: Path, programs: Iterable[Program]) -> str:
    programs = list(programs)
    sections = [
        program_section(program, log_fifo(runtime_dir, program.name)) for program in programs
    ]
    group = group_section(programs)
    if group:
        sections.append(group)
    return render_template("supervisord.conf.tmpl", {
        "RUNTIME": str(runtime_dir),
        "PROGRAMS": "\n\n" + "\n\n".join(sections) + "\n",
    })


def log_fifo(runtime_dir: Path, name: str) -> Path:
    return runtime_dir / "logs" / f"{name}.fifo"


class LogPump:
    """Reads every program's FIFO and writes `[name] line` to `emit`, the lines of one read
    joined by newlines in one call.

    A thread with `selectors` rather than a reader per program: one thread keeps the launcher's
    memory flat however many programs run. The launcher also holds each FIFO's write end open so
    that a restarting program never makes the read end hit end-of-file and spin.
    """

    def __init__(self, fifos: Mapping[str, Path], emit: Callable[[str], None],
                 gather: float = GATHER_SECONDS) -> None:
        self._emit = emit
        self._gather = gather
        self._selector = selectors.DefaultSelector()
        self._held: list[int] = []
        self._partial: dict[str, bytes] = {}
        self._handlers: dict[str, Callable[[str], None]] = {}
        self._stop = threading.Event()
        for name, path in fifos.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.exists():
                os.mkfifo(path, 0o600)
            read_fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
            self._held.append(read_fd)
            self._held.append(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
            self._selector.register(read_fd, selectors.EVENT_READ, name)
            self._partial[name] = b""
        self._thread = threading.Thread(target=self._run, name="log-pump", daemon=True)

    def add_stream(self, fd: int, name: str, handler: Callable[[str], None]) -> None:
        """Another stream (a pipe) whose lines go to `handler` as they are; before `start()`."""
        os.set_blocking(fd, False)
        self._selector.register(fd, selectors.EVENT_READ, name)
        self._partial[name] = b""
        self._handlers[name] = handler

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            ready = self._selector.select(timeout=0.2)
            for key, _ in ready:
                self._drain(key.fd, key.data)
            if ready:
                # Let output gather before the next read: Appwrite's API prints one span per
                # request, and a wake-up per request cost this thread ~0.15 ms of CPU each and
                # the Redis bridge, which shares the interpreter, a GIL hand-over each (issue 18,
                # docs/performance.md). A FIFO holds 64 KiB, over 1 MB/s at this pause.
                self._stop.wait(self._gather)

    def _drain(self, fd: int, name: str) -> None:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            return
        if not chunk:  # a pipe's writer is gone (FIFOs never end: we hold their write ends)
            self._selector.unregister(fd)
            chunk = b"\n" if self._partial[name] else b""
        data = self._partial[name] + chunk
        *lines, rest = data.split(b"\n")
        if len(rest) > _MAX_PARTIAL_LINE:
            lines.append(rest)
            rest = b""
        self._partial[name] = rest
        handler = self._handlers.get(name)
        texts = [line.decode("utf-8", "replace").rstrip() for line in lines]
        if handler is not None:
            for text in texts:
                handler(text)
        elif texts:
            # One emit (one masking pass, one write) per read rather than per line: Appwrite's
            # API prints ~13 lines per request (its span of each), and the launcher's stdout
            # shares the interpreter with the Redis bridge.
            self._emit("\n".join(f"[{name}] {text}" for text in texts))

    def stop(self) -> None:
        """Drains what is buffered, then closes every FIFO end."""
        self._stop.set()
        self._thread.join(timeout=2)
        for key in list(self._selector.get_map().values()):
            with contextlib.suppress(OSError, KeyError):
                self._drain(key.fd, key.data)
        for name, rest in self._partial.items():
            if rest and name not in self._handlers:
                self._emit(f"[{name}] {rest.decode('utf-8', 'replace').rstrip()}")
        self._selector.close()
        for fd in self._held:
            with contextlib.suppress(OSError):
                os.close(fd)


_SPAWNED = re.compile(r"spawned: '(?P<name>[^']+)' with pid (?P<pid>\d+)")
_STOPPED = re.compile(r"stopped: (?P<name>\S+) \(")
_GAVE_UP = re.compile(r"gave up: (?P<name>\S+) entered FATAL state")


class CrashWatch:
    """Pure bookkeeping over supervisord's log lines: is anything crash-looping?"""

    def __init__(self, policy: CrashPolicy) -> None:
        self._policy = policy
        self._starts: dict[str, deque[float]] = {}
        self._asked: set[str] = set()  # stopped on request: its next start is not a restart
        self._pids: dict[str, int] = {}

    @property
    def pids(self) -> set[int]:
        """The latest pid of every program (each leads its own process group)."""
        return set(self._pids.values())

    def observe(self, line: str, now: float) -> str | None:
        """The reason to give up, or None while everything is healthy."""
        gave_up = _GAVE_UP.search(line)
        if gave_up:
            return (f"{gave_up['name']} kept exiting right after start and supervisord gave "
                    "up on it")
        stopped = _STOPPED.search(line)
        if stopped:
            self._asked.add(stopped["name"])
            return None
        spawned = _SPAWNED.search(line)
        if not spawned:
            return None
        name = spawned["name"]
        self._pids[name] = int(spawned["pid"])
        if name not in self._starts or name in self._asked:
            # The first start, and a start after a requested stop (the queue dispatcher's),
            # are not restarts.
            self._starts.setdefault(name, deque())
            self._asked.discard(name)
            return None
        starts = self._starts[name]
        starts.append(now)
        while starts and now - starts[0] > self._policy.window:
            starts.popleft()
        if len(starts) >= self._policy.limit:
            return f"{name} restarted {len(starts)} times within {int(self._policy.window)} s"
        return None


class Supervisor:
    """One supervisord child of the launcher: started, watched, stopped. `spawn` starts it and
    `clock` times its restarts: a test may stand in a program of its own and a clock of its own."""

    def __init__(
        self,
        runtime_dir: Path,
        programs: list[Program],
        env: Mapping[str, str],
        emit: Callable[[str], None],
        policy: CrashPolicy | None = None,
        *,
        spawn: Spawn = subprocess.Popen,
        clock: Clock = SYSTEM,
    ) -> None:
        self.runtime_dir = runtime_dir
        self.programs = programs
        self._env = dict(env)
        self._emit = emit
        self._watch = CrashWatch(policy or CrashPolicy())
        self._spawn, self._clock = spawn, clock
        self._process: Child | None = None
        self._pump: LogPump | None = None
        self._failure: str | None = None
        self._failed = threading.Event()
        self.config_path = runtime_dir / "supervisord.conf"

    @property
    def socket_path(self) -> Path:
        return self.runtime_dir / "supervisor.sock"

    def start(self) -> None:
        if len(str(self.socket_path)) > 100:  # AF_UNIX paths stop at 107 bytes
            raise InputError(f"runtime directory path too long for a unix socket: "
                             f"{self.runtime_dir}; set APPWRITE_LITE_RUNTIME_DIR to a short one")
        (self.runtime_dir / "logs").mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(render_supervisord(self.runtime_dir, self.programs))
        self._pump = LogPump(
            {p.name: log_fifo(self.runtime_dir, p.name) for p in self.programs}, self._emit,
        )
        self._process = self._spawn(
            [sys.executable, "-m", "supervisor.supervisord", "-c", str(self.config_path)],
            env=self._env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        assert self._process.stdout is not None
        self._pump.add_stream(self._process.stdout.fileno(), "supervisord", self._on_line)
        self._pump.start()

    def _on_line(self, line: str) -> None:
        self._emit(f"[supervisord] {line}")
        if "supervisord started with pid" in line:
            self._wake()
        reason = self._watch.observe(line, self._clock.monotonic())
        if reason and self._failure is None:
            self._failure = reason
            self._failed.set()

    def _wake(self) -> None:
        """supervisord spawns programs only after its first one-second poll; a connection to
        its socket ends that poll at once, so $PORT is bound a second earlier."""
        with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX) as conn:
            conn.settimeout(1)
            conn.connect(str(self.socket_path))

    def watch(self, stopping: threading.Event, interval: float = 0.2) -> str | None:
        """Blocks until `stopping` is set (returns None) or something is wrong (the reason)."""
        assert self._process is not None
        while not stopping.wait(interval):
            if self._failed.is_set():
                return self._failure
            if self._process.poll() is not None:
                return f"supervisord exited unexpectedly with status {self._process.returncode}"
        return None

    def stop(self, deadline: float = SHUTDOWN_DEADLINE) -> None:
        """TERM to supervisord (which stops every program by process group), KILL past the
        deadline, so the dyno is empty well before Heroku's own 30 s SIGKILL."""
        process = self._process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=deadline)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                # supervisord did not finish: its programs run in their own process groups.
                for pid in self._watch.pids:
                    with contextlib.suppress(OSError):
                        os.killpg(pid, signal.SIGKILL)
        if self._pump is not None:
            self._pump.stop()
            self._pump = None  # a second stop() finds nothing left to do
        if process is not None and process.stdout is not None:
            process.stdout.close()
