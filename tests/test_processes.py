"""Which entry points a worker dyno runs, discovered from the image's bin directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from appwrite_heroku.config.processes import (
    background_programs,
    http_programs,
    list_entry_points,
    missing_always,
    role_from_dyno,
    select_background,
    unpaired_stats_resources,
    usage_stats_enabled,
)
from lite import BIN_1_9_6


def test_1_9_6_runs_every_queue_but_functions_sites_and_screenshots() -> None:
    selection = select_background(list(BIN_1_9_6))
    assert "worker-stats-usage" in selection.chosen
    assert set(selection.skipped) == {
        "worker-builds", "worker-functions", "worker-executions", "worker-screenshots",
        "schedule-functions", "schedule-executions",
    }
    assert not {"migrate", "install", "upgrade", "doctor", "realtime"} & set(selection.chosen)
    assert {"maintenance", "interval", "schedule-messages", "stats-resources",
            "worker-stats-resources"} <= set(selection.chosen)
    assert not missing_always(selection)
    assert unpaired_stats_resources(selection) is None


def test_usage_stats_off_leaves_out_the_stats_resources_pair_but_not_usage() -> None:
    selection = select_background(list(BIN_1_9_6), usage_stats=False)
    assert not {"stats-resources", "worker-stats-resources"} & set(selection.chosen)
    assert "usage stats are disabled" in selection.skipped["stats-resources"]
    assert "usage stats are disabled" in selection.skipped["worker-stats-resources"]
    assert "worker-stats-usage" in selection.chosen
    assert unpaired_stats_resources(selection) is None


@pytest.mark.parametrize(("value", "enabled"), [
    (None, True), ("enabled", True), ("disabled", False), ("", False), ("Enabled", False),
])
def test_usage_stats_read_as_appwrite_reads_it(value: str | None, enabled: bool) -> None:
    settings = {} if value is None else {"_APP_USAGE_STATS": value}
    assert usage_stats_enabled(settings) is enabled


@pytest.mark.parametrize(("left_out", "warning"), [
    ("worker-stats-resources", "queue will grow"), ("stats-resources", "stay idle"),
])
def test_half_of_the_stats_resources_pair_is_warned_about(left_out: str, warning: str) -> None:
    selection = select_background(list(BIN_1_9_6), frozenset({left_out}))
    assert warning in (unpaired_stats_resources(selection) or "")


def test_single_worker_version() -> None:
    selection = select_background(["worker", "schedule", "migrate", "worker-audits"])
    assert selection.chosen == ("worker", "schedule")
    assert "single `worker`" in selection.skipped["worker-audits"]
    assert not missing_always(selection)


def test_a_version_without_usage_consumer_is_flagged() -> None:
    assert missing_always(select_background(["worker-audits", "worker-mails"]))


def test_discovery_lists_only_executables(tmp_path: Path) -> None:
    (tmp_path / "worker-mails").write_text("#!/bin/sh\n")
    (tmp_path / "worker-mails").chmod(0o755)
    (tmp_path / "README").write_text("not a program")
    (tmp_path / "worker-dir").mkdir()
    assert list_entry_points(tmp_path) == ["worker-mails"]
    assert list_entry_points(tmp_path / "absent") == []


def test_programs_carry_no_secrets_only_ports(tmp_path: Path) -> None:
    programs = http_programs(php="php", bin_dir=tmp_path, code_dir=tmp_path / "code",
                             api_port=9501, realtime_port=9502)
    assert programs[0].command == ("php", "app/http.php")
    assert programs[0].env == {"PORT": "9501"}
    assert programs[1].env == {"PORT": "9502", "_APP_POOL_ADAPTER": "swoole"}
    assert programs[1].command == ("php", "app/realtime.php")  # no wrapper in this bin dir
    background = background_programs(select_background(["worker-mails"]), tmp_path, tmp_path)
    assert background[0].command == (str(tmp_path / "worker-mails"),)
    assert background[0].env == {}


def test_user_can_leave_workers_out() -> None:
    selection = select_background(list(BIN_1_9_6), frozenset({"worker-webhooks", "absent"}))
    assert "worker-webhooks" not in selection.chosen
    assert selection.skipped["worker-webhooks"] == "left out by APPWRITE_LITE_SKIP"
    assert "absent" not in selection.skipped


@pytest.mark.parametrize(("dyno", "role"), [
    ("web.1", "web"), ("worker.12", "worker"), ("release.4521", "release"),
    ("run.9876", None), ("scheduler.1", None), ("", None), (None, None), ("webby.1", None),
])
def test_role_from_dyno(dyno: str | None, role: str | None) -> None:
    assert role_from_dyno(dyno) == role
