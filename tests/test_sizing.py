"""Sizing policy: cgroup limits in, Swoole caps out — for the dyno sizes Heroku sells."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appwrite_heroku.sizing import (
    FIXED_OVERHEAD_MIB,
    MIB,
    QUEUE_WORKER_MIB,
    SWOOLE_WORKER_MIB,
    choose_policy,
    read_memory_limit,
)


def swoole_total(settings: dict[str, str]) -> int:
    return int(settings["_APP_CPU_NUM"]) * int(settings["_APP_WORKER_PER_CORE"])


@pytest.mark.parametrize(("limit_mib", "cpu", "per_core", "workers"), [
    (512, "1", "3", "1"),    # eco/basic/standard-1x
    (1024, "2", "3", "1"),   # standard-2x
    (2560, "2", "8", "2"),   # performance-m
])
def test_web_policy_per_dyno_size(limit_mib: int, cpu: str, per_core: str,
                                  workers: str) -> None:
    policy = choose_policy(limit_mib * MIB, "web", 0, {})
    assert policy.settings == {"_APP_CPU_NUM": cpu, "_APP_WORKER_PER_CORE": per_core,
                               "_APP_WORKERS_NUM": workers}
    assert f"cgroup limit {limit_mib} MiB" in policy.description


def test_512_mib_web_fits_with_room_for_both_servers() -> None:
    policy = choose_policy(512 * MIB, "web", 0, {})
    # API and realtime each get this many workers.
    used = FIXED_OVERHEAD_MIB + 2 * swoole_total(policy.settings) * SWOOLE_WORKER_MIB
    assert used <= 512


def test_all_role_on_512_mib_shrinks_to_one_worker_per_server() -> None:
    policy = choose_policy(512 * MIB, "all", 13, {})
    assert swoole_total(policy.settings) == 1
    assert "13 queue worker(s)" in policy.description


def test_worker_role_keeps_swoole_minimal() -> None:
    policy = choose_policy(512 * MIB, "worker", 13, {})
    assert swoole_total(policy.settings) == 1


def test_user_values_win_and_are_named() -> None:
    policy = choose_policy(512 * MIB, "web", 0, {"_APP_WORKER_PER_CORE": "6",
                                                  "_APP_CPU_NUM": " "})
    assert policy.settings["_APP_WORKER_PER_CORE"] == "6"
    assert policy.settings["_APP_CPU_NUM"] == "1"  # blank is not a choice
    assert "kept your own _APP_WORKER_PER_CORE" in policy.description


def test_unknown_limit_assumes_the_smallest_dyno() -> None:
    policy = choose_policy(None, "web", 0, {})
    assert policy.settings == choose_policy(512 * MIB, "web", 0, {}).settings
    assert "no cgroup limit found, assuming 512 MiB" in policy.description


@given(st.integers(min_value=256, max_value=64 * 1024), st.sampled_from(["web", "all"]),
       st.integers(min_value=0, max_value=20))
def test_caps_always_positive_and_bounded(limit_mib: int, role: str, queues: int) -> None:
    settings = choose_policy(limit_mib * MIB, role, queues, {}).settings
    total = swoole_total(settings)
    assert 1 <= total <= 16
    if total > 1:  # beyond the floor of one worker each, it fits the memory
        spent = FIXED_OVERHEAD_MIB + queues * QUEUE_WORKER_MIB
        assert spent + 2 * total * SWOOLE_WORKER_MIB <= limit_mib + 2 * SWOOLE_WORKER_MIB


def test_reads_cgroup_v2(tmp_path: Path) -> None:
    (tmp_path / "memory.max").write_text("536870912\n")
    assert read_memory_limit(tmp_path) == 512 * MIB


def test_reads_cgroup_v2_unlimited(tmp_path: Path) -> None:
    (tmp_path / "memory.max").write_text("max\n")
    assert read_memory_limit(tmp_path) is None


def test_reads_cgroup_v1(tmp_path: Path) -> None:
    (tmp_path / "memory").mkdir()
    (tmp_path / "memory" / "memory.limit_in_bytes").write_text("1073741824\n")
    assert read_memory_limit(tmp_path) == 1024 * MIB


def test_cgroup_v1_unlimited_is_a_huge_number(tmp_path: Path) -> None:
    (tmp_path / "memory.limit_in_bytes").write_text("9223372036854771712\n")
    assert read_memory_limit(tmp_path) is None


def test_no_cgroup_files(tmp_path: Path) -> None:
    assert read_memory_limit(tmp_path) is None
