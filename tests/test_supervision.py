"""supervisord's config per role, crash-loop bookkeeping and the per-program log pump."""

from __future__ import annotations

import configparser
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from appwrite_heroku.clock import Clock
from appwrite_heroku.config.processes import Program
from appwrite_heroku.dyno.supervision import (
    CrashPolicy,
    CrashWatch,
    LogPump,
    Supervisor,
    render_supervisord,
    rpc_name,
)
from helpers import CANARY_REDIS_PASSWORD
from waiting import wait_until


def test_config_has_one_section_per_program_and_no_environment_secrets(tmp_path: Path) -> None:
    programs = [
        Program(name="api", command=("php", "app/http.php"), directory="/code",
                env={"PORT": "9501"}),
        Program(name="worker-mails", command=("/bin/worker mails",), directory="/code"),
    ]
    parser = configparser.RawConfigParser()
    parser.read_string(render_supervisord(tmp_path, programs))
    assert parser["program:api"]["command"] == "php app/http.php"
    assert parser["program:api"]["environment"] == 'PORT="9501"'
    assert parser["program:worker-mails"]["command"] == "'/bin/worker mails'"
    assert parser["program:worker-mails"]["stopasgroup"] == "true"
    assert int(parser["program:api"]["stopwaitsecs"]) < 30
    assert parser["program:api"]["stdout_logfile"] == str(tmp_path / "logs" / "api.fifo")
    assert parser["supervisord"]["nodaemon"] == "true"
    assert parser["program:api"]["autostart"] == "true"


def test_every_program_but_pgbouncer_stops_together_and_on_demand_ones_wait(
        tmp_path: Path) -> None:
    """supervisord stops one group after another and waits for each; one group is signalled at
    once. PgBouncer stays out of it: stopped after the others, it serves their last jobs."""
    programs = [
        Program(name="pgbouncer", command=("pgbouncer", "x.ini"), directory="/", priority=50,
                stops_last=True),
        Program(name="worker-mails", command=("w",), directory="/", on_demand=True),
        Program(name="maintenance", command=("m",), directory="/"),
    ]
    parser = configparser.RawConfigParser()
    parser.read_string(render_supervisord(tmp_path, programs))
    assert parser["group:appwrite"]["programs"] == "worker-mails,maintenance"
    assert int(parser["group:appwrite"]["priority"]) > int(parser["program:pgbouncer"]["priority"])
    assert parser["program:worker-mails"]["autostart"] == "false"
    assert parser["program:maintenance"]["autostart"] == "true"
    assert [rpc_name(p) for p in programs] == ["pgbouncer", "appwrite:worker-mails",
                                                "appwrite:maintenance"]


def spawned(name: str, pid: int) -> str:
    return f"2026-11-27 17:30:01,109 INFO spawned: '{name}' with pid {pid}"


def test_fatal_is_a_crash_loop() -> None:
    watch = CrashWatch(CrashPolicy())
    assert watch.observe(spawned("api", 10), 0) is None
    assert watch.observe("2026-11-27 INFO exited: api (exit status 3; not expected)", 1) is None
    reason = watch.observe("2026-11-27 17:30:07,001 INFO gave up: api entered FATAL state, "
                           "too many start retries too quickly", 2)
    assert reason and reason.startswith("api kept exiting")


def test_restarts_within_the_window_are_counted() -> None:
    watch = CrashWatch(CrashPolicy(limit=3, window=60))
    assert watch.observe(spawned("w", 1), 0) is None  # the first start is not a restart
    assert watch.observe(spawned("w", 2), 10) is None
    assert watch.observe(spawned("other", 3), 15) is None
    assert watch.observe(spawned("w", 4), 20) is None
    assert watch.observe(spawned("w", 5), 30) == "w restarted 3 times within 60 s"
    assert watch.pids == {3, 5}  # each program's latest: the ones a last-resort KILL targets


def test_a_start_after_a_requested_stop_is_not_a_restart() -> None:
    """The queue dispatcher stops and starts workers all day: supervisord logs `stopped:` for
    a stop it was asked for, and the next `spawned:` is no crash."""
    watch = CrashWatch(CrashPolicy(limit=2, window=60))
    assert watch.observe(spawned("worker-mails", 1), 0) is None
    for step in range(10):
        assert watch.observe("2026-12-08 INFO stopped: worker-mails (exit status 0)",
                             step + 0.5) is None
        assert watch.observe(spawned("worker-mails", 10 + step), step + 1.0) is None
    # A crash after that still counts.
    assert watch.observe("INFO exited: worker-mails (exit status 3; not expected)", 20) is None
    assert watch.observe(spawned("worker-mails", 50), 21) is None
    assert watch.observe(spawned("worker-mails", 51), 22) == \
        "worker-mails restarted 2 times within 60 s"


def test_restarts_spread_out_are_fine() -> None:
    watch = CrashWatch(CrashPolicy(limit=3, window=60))
    for step in range(10):
        assert watch.observe(spawned("w", step), step * 40.0) is None


def test_other_lines_are_ignored() -> None:
    watch = CrashWatch(CrashPolicy(limit=1, window=60))
    for line in ("INFO success: w entered RUNNING state", "[w] spawned: nothing", ""):
        assert watch.observe(line, 0) is None


def test_log_pump_prefixes_lines_and_survives_writer_restarts(tmp_path: Path) -> None:
    lines: list[str] = []
    fifo = tmp_path / "api.fifo"
    pump = LogPump({"api": fifo}, lines.append)
    pump.start()
    for count, text in enumerate((b"one\ntw", b"o\n", b"three\n"), start=1):
        writer = os.open(fifo, os.O_WRONLY)  # like a program restarted by supervisord
        os.write(writer, text)
        os.close(writer)
        # The pump has read this writer's bytes (one write under PIPE_BUF is read whole)
        # before the next writer opens: each restart is seen on its own.
        wait_until(f"line {count} from the pump", lambda count=count: len(lines) >= count)
    pump.stop()
    assert lines == ["[api] one", "[api] two", "[api] three"]


def test_log_pump_emits_the_lines_of_one_read_at_once_in_order(tmp_path: Path) -> None:
    """Appwrite prints a dozen lines per request: one emit (one masking pass, one write) per
    read, every line still prefixed, none lost or reordered, a partial line kept for later."""
    blocks: list[str] = []
    fifo = tmp_path / "api.fifo"
    pump = LogPump({"api": fifo}, blocks.append)
    pump.start()
    writer = os.open(fifo, os.O_WRONLY)
    os.write(writer, b"".join(f"line {n}\n".encode() for n in range(12)) + b"half")
    deadline = time.monotonic() + 5
    while not blocks and time.monotonic() < deadline:
        time.sleep(0.02)
    os.write(writer, b" done\n")
    os.close(writer)
    while len(blocks) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    pump.stop()
    assert blocks == ["\n".join(f"[api] line {n}" for n in range(12)), "[api] half done"]


def test_log_pump_gathers_what_arrives_while_it_pauses_and_stops_at_once(
        tmp_path: Path) -> None:
    """Appwrite prints a span per request: after a read the pump lets output gather, so that
    writes in the pause leave as one block (one wake-up, one GIL hand-over); stopping does
    not wait for the pause."""
    blocks: list[str] = []
    fifo = tmp_path / "api.fifo"
    pump = LogPump({"api": fifo}, blocks.append, gather=30.0)
    pump.start()
    writer = os.open(fifo, os.O_WRONLY)
    os.write(writer, b"first\n")
    wait_until("the first line", lambda: blocks == ["[api] first"])
    for n in range(3):  # three writes, as three requests' spans would come
        os.write(writer, f"span {n}\n".encode())
        # What is checked is that nothing happens (the pump reads no more while it pauses):
        # no event to wait on, so a bounded look. Without the pause each span leaves here.
        deadline = time.monotonic() + 0.2
        while time.monotonic() < deadline:
            assert blocks == ["[api] first"], "the pump read again during its pause"
            time.sleep(0.01)
    os.close(writer)
    started = time.monotonic()
    pump.stop()  # drains what the pause gathered
    assert time.monotonic() - started < 5
    assert blocks == ["[api] first", "[api] span 0\n[api] span 1\n[api] span 2"]


def test_a_block_of_lines_is_masked_as_its_lines_would_be(capsys: pytest.CaptureFixture[str],
                                                         ) -> None:
    from appwrite_heroku.dyno.launcher import Log
    from appwrite_heroku.secrecy import Redactor

    secret = "first-half-of-it\nsecond-half-of-it"
    log = Log(Redactor([secret, CANARY_REDIS_PASSWORD]))
    block = "\n".join(["[api] first-half-of-it", "[api] second-half-of-it",
                       f"[api] url rediss://h:{CANARY_REDIS_PASSWORD}@host:1"])
    log(block)
    out = capsys.readouterr().out
    for line in block.splitlines():
        log(line)
    assert capsys.readouterr().out == out
    assert out == "[api] ****\n[api] ****\n[api] url rediss://h:****@host:1\n"


# A stand-in for supervisord: its log lines for a program that keeps restarting (pids no
# process can have, since the supervisor's last resort KILLs each program's group), then
# either an exit or a wait for SIGKILL with SIGTERM ignored.
STAND_IN = r"""
import signal, sys
signal.signal(signal.SIGTERM, signal.SIG_IGN)
for pid in range(999999990, 999999996):
    print(f"2026-12-08 17:30:01,109 INFO spawned: 'api' with pid {pid}", flush=True)
if sys.argv[1] == "exit":
    sys.exit(0)
signal.pause()
"""


class Stepping:
    """A clock whose every reading is `step` seconds after the one before."""

    def __init__(self, step: float) -> None:
        self.now, self.step = 0.0, step

    def monotonic(self) -> float:
        self.now += self.step
        return self.now


@contextlib.contextmanager
def _supervise(tmp_path: Path, step: float, then: str) -> Iterator[tuple[Supervisor, list[Any]]]:
    children: list[subprocess.Popen[bytes]] = []

    def spawn(argv: list[str], **options: Any) -> subprocess.Popen[bytes]:
        assert argv[1:4] == ["-m", "supervisor.supervisord", "-c"]
        children.append(subprocess.Popen([sys.executable, "-c", STAND_IN, then], **options))
        return children[-1]

    clock = Clock(monotonic=Stepping(step).monotonic)
    supervisor = Supervisor(tmp_path / "run", [], {}, lambda line: None,
                            CrashPolicy(limit=5, window=60), spawn=spawn, clock=clock)
    supervisor.start()
    try:
        yield supervisor, children
    finally:
        supervisor.stop(deadline=0.2)


@pytest.mark.slow
def test_restarts_are_timed_on_the_injected_clock(tmp_path: Path) -> None:
    """Five restarts a second apart on the supervisor's clock are a crash loop; the same lines
    a hundred seconds apart are not, and the stand-in's exit is what ends the watch."""
    with _supervise(tmp_path / "near", 1.0, "wait") as (supervisor, _):
        assert supervisor.watch(threading.Event(), interval=0.01) == \
            "api restarted 5 times within 60 s"
    with _supervise(tmp_path / "far", 100.0, "exit") as (supervisor, _):
        assert supervisor.watch(threading.Event(), interval=0.01) == \
            "supervisord exited unexpectedly with status 0"


@pytest.mark.slow
def test_a_supervisord_that_ignores_term_is_killed_at_the_deadline(tmp_path: Path) -> None:
    with _supervise(tmp_path, 1.0, "wait") as (supervisor, children):
        assert supervisor.watch(threading.Event(), interval=0.01)
        started = time.monotonic()
        supervisor.stop(deadline=0.2)
        assert time.monotonic() - started < 5
        assert children[0].returncode == -signal.SIGKILL
