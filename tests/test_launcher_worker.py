"""The worker role: discovered entry points under real supervisord; crash loops; the bridge."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from helpers import CANARY_DB_PASSWORD, CANARY_REDIS_PASSWORD
from lite import Launched, dyno_env, make_root, pids_alive, recorded_pids
from services import free_port
from waiting import wait_until

# With the Lite default _APP_USAGE_STATS=disabled: the stats-resources pair stays out. At boot
# only the tasks and worker-stats-usage start; the other queue workers wait for a job.
ALWAYS_1_9_6 = {"interval", "maintenance", "schedule-messages", "worker-stats-usage"}
ON_DEMAND_1_9_6 = {
    "worker-audits", "worker-certificates", "worker-databases", "worker-deletes",
    "worker-mails", "worker-messaging", "worker-migrations", "worker-webhooks",
}
EXPECTED_1_9_6 = ALWAYS_1_9_6 | ON_DEMAND_1_9_6
STATS_RESOURCES = {"stats-resources", "worker-stats-resources"}
SKIPPED_1_9_6 = {
    "worker-builds", "worker-functions", "worker-executions", "worker-screenshots",
    "schedule-functions", "schedule-executions",
}


def test_worker_role_runs_the_discovered_set_and_says_why_it_skips(
        tmp_path: Path, mariadb, redis_plain) -> None:
    env = dyno_env(make_root(tmp_path), database_url=mariadb.url, redis_url=redis_plain.url,
                   bridge_port=free_port())
    launched = Launched("worker", env)
    try:
        for name in ALWAYS_1_9_6:
            launched.wait_for_line(f"[{name}] {name}: consuming")
        on_demand = launched.wait_for_line("queue workers on demand (at most 1 at once")
        assert set(on_demand.split(": ", 1)[1].split(", ")) == ON_DEMAND_1_9_6
        assert "worker-certificates: runs on demand to drain its queue" in launched.output
        for name in SKIPPED_1_9_6:
            assert "executor" in launched.wait_for_line(f"skipping {name}:") or \
                name == "worker-screenshots"
        launched.wait_for_line("skipping worker-screenshots: takes Sites screenshots")
        for name in STATS_RESOURCES:
            assert "usage stats are disabled" in launched.wait_for_line(f"skipping {name}:")
        ran = set(recorded_pids(tmp_path / "records"))
        assert ran == ALWAYS_1_9_6  # no api/realtime/nginx, nothing skipped, no one-off task
        assert launched.stop() == 0
    finally:
        launched.kill_session()


def test_usage_stats_on_runs_the_stats_resources_task_beside_its_worker(
        tmp_path: Path, mariadb, redis_plain) -> None:
    env = dyno_env(make_root(tmp_path), database_url=mariadb.url, redis_url=redis_plain.url,
                   bridge_port=free_port(), _APP_USAGE_STATS="enabled",
                   APPWRITE_LITE_QUEUE_MODE="always-on")
    launched = Launched("worker", env)
    try:
        for name in EXPECTED_1_9_6 | STATS_RESOURCES:
            launched.wait_for_line(f"[{name}] {name}: consuming")
        assert set(recorded_pids(tmp_path / "records")) == EXPECTED_1_9_6 | STATS_RESOURCES
        assert launched.stop() == 0
    finally:
        launched.kill_session()


def test_single_worker_entry_point_replaces_the_per_queue_ones(
        tmp_path: Path, mariadb, redis_plain) -> None:
    names = ("worker", "schedule", "migrate", "realtime", "worker-mails", "worker-builds")
    env = dyno_env(make_root(tmp_path, names), database_url=mariadb.url,
                   redis_url=redis_plain.url, bridge_port=free_port())
    launched = Launched("worker", env)
    try:
        launched.wait_for_line("[worker] worker: consuming")
        launched.wait_for_line("[schedule] schedule: consuming")
        launched.wait_for_line("skipping worker-mails: the single `worker` entry point")
        assert set(recorded_pids(tmp_path / "records")) == {"worker", "schedule"}
        assert launched.stop() == 0
    finally:
        launched.kill_session()


def test_crash_loop_makes_the_launcher_exit_non_zero(tmp_path: Path, mariadb,
                                                     redis_plain) -> None:
    env = dyno_env(make_root(tmp_path, ("worker-mails", "worker-stats-usage")),
                   database_url=mariadb.url, redis_url=redis_plain.url,
                   bridge_port=free_port(), STANDIN_CRASH="worker-mails",
                   APPWRITE_LITE_QUEUE_MODE="always-on")
    launched = Launched("worker", env)
    try:
        status = launched.wait(timeout=60)
        assert status == 1
        assert "giving up so Heroku restarts the dyno: worker-mails" in launched.output
        assert "[worker-mails] worker-mails: crashing on purpose" in launched.output
        survivor = recorded_pids(tmp_path / "records")["worker-stats-usage"]
        # the healthy one is stopped too
        wait_until("worker-stats-usage has stopped", lambda: pids_alive([survivor]) == [],
                   timeout=5)
    finally:
        launched.kill_session()


def test_restart_counting_catches_a_slow_crash_loop(tmp_path: Path, mariadb,
                                                    redis_plain) -> None:
    """A program that dies after startsecs never turns FATAL in supervisord; the launcher
    counts its restarts instead."""
    env = dyno_env(make_root(tmp_path, ("worker-mails",)), database_url=mariadb.url,
                   redis_url=redis_plain.url, bridge_port=free_port(),
                   STANDIN_CRASH="worker-mails", STANDIN_CRASH_AFTER="2.2",
                   APPWRITE_LITE_QUEUE_MODE="always-on",
                   APPWRITE_LITE_CRASH_LIMIT="2", APPWRITE_LITE_CRASH_WINDOW="60")
    launched = Launched("worker", env)
    try:
        assert launched.wait(timeout=60) == 1
        assert "worker-mails restarted 2 times within 60 s" in launched.output
        assert "supervisord gave up" not in launched.output
    finally:
        launched.kill_session()


def test_tls_redis_with_password_is_bridged_and_appwrite_needs_no_password(
        tmp_path: Path, mariadb, redis_tls_acl) -> None:
    bridge_port = free_port()
    env = dyno_env(make_root(tmp_path, ("worker-stats-usage",)), database_url=mariadb.url,
                   redis_url=redis_tls_acl.url, bridge_port=bridge_port,
                   STANDIN_REDIS_CHECK="1")
    client = redis_tls_acl.client()
    client.delete("v1-stats-usage-standin")
    launched = Launched("worker", env)
    try:
        launched.wait_for_line("reached redis without a password")
        line = launched.wait_for_line(f"redis bridge: 127.0.0.1:{bridge_port} → REDIS_URL (TLS")
        # Multiplexed at the ceiling the same budget chose for this dyno (its sizing line).
        sizing = launched.wait_for_line("sizing: ")
        ceiling = re.search(r"upstream \d+ / (\d+) \(multiplex bridge", sizing)
        assert ceiling, sizing
        assert f"multiplexed, at most {ceiling.group(1)} upstream connections" in line
        assert client.lrange("v1-stats-usage-standin", 0, -1) == [b"drained"]
        assert launched.stop() == 0
        for secret in (CANARY_REDIS_PASSWORD, CANARY_DB_PASSWORD):
            assert secret not in launched.output
    finally:
        launched.kill_session()


def test_unwritable_storage_is_one_line_exit_2(tmp_path: Path, mariadb, redis_plain) -> None:
    import subprocess

    blocked = tmp_path / "storage-file"
    blocked.write_text("a file where the storage directory should be")
    env = dyno_env(make_root(tmp_path), database_url=mariadb.url, redis_url=redis_plain.url,
                   bridge_port=free_port(), APPWRITE_LITE_STORAGE_DIR=str(blocked))
    done = subprocess.run([sys.executable, "-m", "appwrite_heroku", "launch", "worker"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert "storage not writable by this user" in done.stderr
    assert "Dockerfile.lite" in done.stderr


def test_web_without_port_is_one_line_exit_2(tmp_path: Path, mariadb, redis_plain) -> None:
    import subprocess

    env = dyno_env(make_root(tmp_path), database_url=mariadb.url, redis_url=redis_plain.url,
                   bridge_port=free_port())
    env.pop("PORT", None)
    done = subprocess.run([sys.executable, "-m", "appwrite_heroku", "launch", "web"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.startswith("appwrite-heroku: error: PORT is not set")
    assert done.stderr.count("\n") == 1
