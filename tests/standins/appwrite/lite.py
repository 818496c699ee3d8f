"""Test harness for the launcher: a stand-in Appwrite root and a launcher run as a real process.

`make_root` lays out what the launcher discovers in the image (bin dir of entry points, a `php`
interpreter, the code dir, console files, storage, a cgroup memory limit) under a temp dir, each
entry point a wrapper around `entry.py`.
"""

from __future__ import annotations

import configparser
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

ENTRY = Path(__file__).with_name("entry.py")
CANARY_OPENSSL_KEY = "canary-openssl-key-9d8c7b6a5f4e3d2c"
CANARY_EXECUTOR_SECRET = "canary-executor-secret-1a2b3c4d5e6f"

# Appwrite 1.9.6's /usr/local/bin (tasks, realtime and one script per queue worker).
BIN_1_9_6 = (
    "doctor", "install", "interval", "maintenance", "migrate", "realtime", "schedule-executions",
    "schedule-functions", "schedule-messages", "stats-resources", "upgrade",
    "worker-audits", "worker-builds", "worker-certificates", "worker-databases", "worker-deletes",
    "worker-executions", "worker-functions", "worker-mails", "worker-messaging",
    "worker-migrations", "worker-screenshots", "worker-stats-resources", "worker-stats-usage",
    "worker-webhooks",
)


def _wrapper(path: Path, name: str) -> None:
    path.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{ENTRY}" {name} "$@"\n')
    path.chmod(0o755)


def make_root(tmp: Path, entry_points: Iterable[str] = BIN_1_9_6,
              memory_max: str | None = str(512 * 1024 * 1024)) -> dict[str, str]:
    """Lays out a stand-in image under `tmp`; returns the APPWRITE_LITE_* variables for it."""
    bin_dir, code, console = tmp / "bin", tmp / "code", tmp / "html" / "console"
    for directory in (bin_dir, code / "app", console / "_app", tmp / "storage", tmp / "records",
                      tmp / "cgroup"):
        directory.mkdir(parents=True, exist_ok=True)
    for name in entry_points:
        _wrapper(bin_dir / name, name)
    _wrapper(tmp / "php", "php")
    (console / "index.html").write_text("<!doctype html><title>Appwrite console</title>")
    (console / "_app" / "app.js").write_text("console.log('stand-in console');")
    if memory_max is not None:
        (tmp / "cgroup" / "memory.max").write_text(memory_max + "\n")
    return {
        "APPWRITE_LITE_BIN_DIR": str(bin_dir),
        "APPWRITE_LITE_CODE_DIR": str(code),
        "APPWRITE_LITE_CONSOLE_ROOT": str(tmp / "html"),
        "APPWRITE_LITE_STORAGE_DIR": str(tmp / "storage"),
        "APPWRITE_LITE_CGROUP_ROOT": str(tmp / "cgroup"),
        "APPWRITE_LITE_PHP": str(tmp / "php"),
        "APPWRITE_LITE_LISTEN": "127.0.0.1",
        "STANDIN_RECORD_DIR": str(tmp / "records"),
    }


def dyno_env(root_vars: dict[str, str], *, database_url: str, redis_url: str,
             bridge_port: int, **extra: str) -> dict[str, str]:
    """A dyno's environment: Heroku's config vars plus the stand-in layout."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("_APP_", "APPWRITE_LITE_", "STANDIN_"))}
    env.update(root_vars)
    env.update({
        "JAWSDB_URL": database_url,
        "REDIS_URL": redis_url,
        "_APP_OPENSSL_KEY_V1": CANARY_OPENSSL_KEY,
        "_APP_EXECUTOR_SECRET": CANARY_EXECUTOR_SECRET,
        "_APP_DOMAIN": "lite-test.herokuapp.com",
        "APPWRITE_LITE_BRIDGE_PORT": str(bridge_port),
        "APPWRITE_LITE_DB_DELAY": "0.2",
        "PYTHONUNBUFFERED": "1",
    })
    env.update(extra)
    return env


class Launched:
    """`appwrite-heroku launch ROLE` as a real child process, its output collected."""

    def __init__(self, role: str, env: dict[str, str]) -> None:
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "appwrite_heroku", "launch", role], env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for_line(self, text: str, timeout: float = 20) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if text in line:
                    return line
            if self.proc.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.05)
        raise AssertionError(f"no line with {text!r} in:\n{self.output}")

    def wait(self, timeout: float) -> int:
        status = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=5)
        return status

    def terminate(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM as Heroku sends it, wait, then clean up whatever is left of the session."""
        self.terminate()
        try:
            return self.wait(timeout=timeout)
        finally:
            self.kill_session()

    def session_pids(self) -> list[int]:
        """Every live process in the launcher's session (it was started as a session leader)."""
        found = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[3]) == self.proc.pid and fields[0] != "Z":
                found.append(int(stat.parent.name))
        return found

    def kill_session(self) -> None:
        """Last-resort cleanup of what this test started: the launcher's whole session."""
        for pid in self.session_pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.proc.poll() is None:
            self.proc.wait()


def pids_alive(pids: Iterable[int]) -> list[int]:
    alive = []
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        # A zombie awaiting its parent counts as gone.
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.append(pid)
    return alive


def recorded_pids(records: Path) -> dict[str, int]:
    return {p.stem: int(p.read_text()) for p in records.glob("*.pid") if p.read_text().strip()}


def stand_in_programs(supervisord_conf: Path, root: Path) -> set[str]:
    """The supervisord programs that run the stand-in Appwrite laid out under `root` (each
    records its pid when it starts): every program but the launcher's own (nginx, PgBouncer)."""
    parser = configparser.RawConfigParser(strict=False)
    parser.read(supervisord_conf)
    return {section.removeprefix("program:") for section in parser.sections()
            if section.startswith("program:")
            and parser.get(section, "command", fallback="").startswith(str(root))}


def command_lines(pids: Iterable[int]) -> dict[int, str]:
    """Each process's command line, its arguments joined by spaces. Left out: a process gone
    since, and one with none to read (a zombie; a child still between fork and exec)."""
    found = {}
    for pid in pids:
        try:
            raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if raw:
            found[pid] = raw.replace(b"\0", b" ").decode(errors="replace").strip()
    return found


def secrets_seen(texts: Mapping[str, str], secrets: Iterable[str]) -> list[str]:
    """`where: secret` for each secret found in each text (named by where it was read)."""
    return [f"{where}: {secret}" for where, text in texts.items() for secret in secrets
            if secret in text]
