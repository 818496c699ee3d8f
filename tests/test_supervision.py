"""supervisord's config per role, crash-loop bookkeeping and the per-program log pump."""

from __future__ import annotations

import configparser
import os
import time
from pathlib import Path

from appwrite_heroku.processes import Program
from appwrite_heroku.supervision import CrashPolicy, CrashWatch, LogPump, render_supervisord


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


def info(name: str, state: str = "RUNNING", start: int = 100) -> dict[str, object]:
    return {"name": name, "statename": state, "start": start}


def test_fatal_is_a_crash_loop() -> None:
    watch = CrashWatch(CrashPolicy())
    assert watch.observe([info("api")], 0) is None
    reason = watch.observe([info("api", "FATAL")], 1)
    assert reason and "api" in reason


def test_restarts_within_the_window_are_counted() -> None:
    watch = CrashWatch(CrashPolicy(limit=3, window=60))
    assert watch.observe([info("w", start=1)], 0) is None
    assert watch.observe([info("w", start=2)], 10) is None
    assert watch.observe([info("w", start=3)], 20) is None
    assert watch.observe([info("w", start=4)], 30) == "w restarted 3 times within 60 s"


def test_restarts_spread_out_are_fine() -> None:
    watch = CrashWatch(CrashPolicy(limit=3, window=60))
    for step in range(10):
        assert watch.observe([info("w", start=step + 1)], step * 40.0) is None


def test_log_pump_prefixes_lines_and_survives_writer_restarts(tmp_path: Path) -> None:
    lines: list[str] = []
    fifo = tmp_path / "api.fifo"
    pump = LogPump({"api": fifo}, lines.append)
    pump.start()
    for text in (b"one\ntw", b"o\n", b"three\n"):
        writer = os.open(fifo, os.O_WRONLY)  # like a program restarted by supervisord
        os.write(writer, text)
        os.close(writer)
        time.sleep(0.05)
    deadline = time.monotonic() + 5
    while len(lines) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    pump.stop()
    assert lines == ["[api] one", "[api] two", "[api] three"]
