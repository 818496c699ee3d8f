"""Supervision: a real supervisord per dyno, configured per role, and the launcher watching it.

supervisord restarts a child that dies; what it does not do is give up on a crash loop in a way
Heroku notices. The launcher therefore watches supervisord over its XML-RPC socket and exits
non-zero when a program turns FATAL or keeps restarting, so Heroku restarts the whole dyno.
Each program's output reaches the launcher through a FIFO and leaves on stdout (Heroku's log
drain) as `[program] line`, with every known secret masked.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import shlex
import signal
import subprocess
import sys
import threading
import time
import xmlrpc.client
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import InputError
from .processes import Program
from .router import render_template

# Heroku sends SIGTERM and then SIGKILL 30 s later: every program gets TERM, then KILL after
# this many seconds, and the launcher keeps a margin for supervisord itself.
STOP_WAIT_SECONDS = 10
SHUTDOWN_DEADLINE = 25.0
_MAX_PARTIAL_LINE = 16 * 1024


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
        "autostart=true",
        "autorestart=true",
        f"startsecs={program.startsecs}",
        "startretries=3",
        f"priority={program.priority}",
        "stopsignal=TERM",
        f"stopwaitsecs={STOP_WAIT_SECONDS}",
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


def render_supervisord(runtime_dir: Path, programs: Iterable[Program]) -> str:
    sections = [
        program_section(program, log_fifo(runtime_dir, program.name)) for program in programs
    ]
    return render_template("supervisord.conf.tmpl", {
        "RUNTIME": str(runtime_dir),
        "PROGRAMS": "\n\n" + "\n\n".join(sections) + "\n",
    })


def log_fifo(runtime_dir: Path, name: str) -> Path:
    return runtime_dir / "logs" / f"{name}.fifo"


class LogPump:
    """Reads every program's FIFO and writes `[name] line` to `emit`.

    A thread with `selectors` rather than a reader per program: one thread keeps the launcher's
    memory flat however many programs run. The launcher also holds each FIFO's write end open so
    that a restarting program never makes the read end hit end-of-file and spin.
    """

    def __init__(self, fifos: Mapping[str, Path], emit: Callable[[str], None]) -> None:
        self._emit = emit
        self._selector = selectors.DefaultSelector()
        self._held: list[int] = []
        self._partial: dict[str, bytes] = {}
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

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for key, _ in self._selector.select(timeout=0.2):
                self._drain(key.fd, key.data)

    def _drain(self, fd: int, name: str) -> None:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            return
        data = self._partial[name] + chunk
        *lines, rest = data.split(b"\n")
        if len(rest) > _MAX_PARTIAL_LINE:
            lines.append(rest)
            rest = b""
        self._partial[name] = rest
        for line in lines:
            self._emit(f"[{name}] {line.decode('utf-8', 'replace').rstrip()}")

    def stop(self) -> None:
        """Drains what is buffered, then closes every FIFO end."""
        self._stop.set()
        self._thread.join(timeout=2)
        for key in list(self._selector.get_map().values()):
            with contextlib.suppress(OSError):
                self._drain(key.fd, key.data)
        for name, rest in self._partial.items():
            if rest:
                self._emit(f"[{name}] {rest.decode('utf-8', 'replace').rstrip()}")
        self._selector.close()
        for fd in self._held:
            with contextlib.suppress(OSError):
                os.close(fd)


class CrashWatch:
    """Pure bookkeeping over supervisord's process list: is anything crash-looping?"""

    def __init__(self, policy: CrashPolicy) -> None:
        self._policy = policy
        self._last_start: dict[str, int] = {}
        self._starts: dict[str, deque[float]] = {}

    def observe(self, infos: Iterable[Mapping[str, Any]], now: float) -> str | None:
        """The reason to give up, or None while everything is healthy."""
        for info in infos:
            name = str(info["name"])
            if info["statename"] == "FATAL":
                return f"{name} kept exiting right after start and supervisord gave up on it"
            start = int(info.get("start") or 0)
            if start and self._last_start.get(name) not in (None, start):
                starts = self._starts.setdefault(name, deque())
                starts.append(now)
                while starts and now - starts[0] > self._policy.window:
                    starts.popleft()
                if len(starts) >= self._policy.limit:
                    return (f"{name} restarted {len(starts)} times within "
                            f"{int(self._policy.window)} s")
            if start:
                self._last_start[name] = start
        return None


class _UnixTransport(xmlrpc.client.Transport):
    """XML-RPC over supervisord's unix socket (its HTTP server is not on a TCP port)."""

    def __init__(self, socket_path: Path) -> None:
        super().__init__()
        self._socket_path = str(socket_path)

    def make_connection(self, host: Any) -> Any:
        import http.client
        import socket

        path = self._socket_path

        class _Connection(http.client.HTTPConnection):
            def connect(self) -> None:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.settimeout(5)
                self.sock.connect(path)

        return _Connection("localhost")


class Supervisor:
    """One supervisord child of the launcher: started, watched, stopped."""

    def __init__(
        self,
        runtime_dir: Path,
        programs: list[Program],
        env: Mapping[str, str],
        emit: Callable[[str], None],
        policy: CrashPolicy | None = None,
    ) -> None:
        self.runtime_dir = runtime_dir
        self.programs = programs
        self._env = dict(env)
        self._emit = emit
        self._watch = CrashWatch(policy or CrashPolicy())
        self._process: subprocess.Popen[bytes] | None = None
        self._pump: LogPump | None = None
        self._known_pids: set[int] = set()
        self.config_path = runtime_dir / "supervisord.conf"

    def start(self) -> None:
        socket_path = self.runtime_dir / "supervisor.sock"
        if len(str(socket_path)) > 100:  # AF_UNIX paths stop at 107 bytes
            raise InputError(f"runtime directory path too long for a unix socket: "
                             f"{self.runtime_dir}; set APPWRITE_LITE_RUNTIME_DIR to a short one")
        self.runtime_dir.mkdir(parents=True, exist_ok=True)
        (self.runtime_dir / "logs").mkdir(exist_ok=True)
        self.config_path.write_text(render_supervisord(self.runtime_dir, self.programs))
        self._pump = LogPump(
            {p.name: log_fifo(self.runtime_dir, p.name) for p in self.programs}, self._emit,
        )
        self._pump.start()
        self._process = subprocess.Popen(
            [sys.executable, "-m", "supervisor.supervisord", "-c", str(self.config_path)],
            env=self._env, stdin=subprocess.DEVNULL,
        )

    def _rpc(self) -> Any:
        transport = _UnixTransport(self.runtime_dir / "supervisor.sock")
        return xmlrpc.client.ServerProxy("http://localhost", transport=transport)

    def process_infos(self) -> list[dict[str, Any]]:
        infos: list[dict[str, Any]] = self._rpc().supervisor.getAllProcessInfo()
        self._known_pids.update(int(i["pid"]) for i in infos if i.get("pid"))
        return infos

    def watch(self, stopping: threading.Event, interval: float = 0.5) -> str | None:
        """Blocks until `stopping` is set (returns None) or something is wrong (the reason)."""
        assert self._process is not None
        while not stopping.wait(interval):
            if self._process.poll() is not None:
                return f"supervisord exited unexpectedly with status {self._process.returncode}"
            try:
                infos = self.process_infos()
            except (OSError, xmlrpc.client.Error):
                continue  # still starting up
            reason = self._watch.observe(infos, time.monotonic())
            if reason:
                return reason
        return None

    def stop(self, deadline: float = SHUTDOWN_DEADLINE) -> None:
        """TERM to supervisord (which stops every program by process group), KILL past the
        deadline, so the dyno is empty well before Heroku's own 30 s SIGKILL."""
        process = self._process
        if process is not None and process.poll() is None:
            with contextlib.suppress(OSError, xmlrpc.client.Error):
                self.process_infos()
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=deadline)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                # supervisord did not finish: its programs run in their own process groups.
                for pid in self._known_pids:
                    with contextlib.suppress(OSError):
                        os.killpg(pid, signal.SIGKILL)
        if self._pump is not None:
            self._pump.stop()
