"""Sizing policy: cgroup limit and the app's plans in, Appwrite's knobs out — from the budget's
model, for the dyno sizes Heroku sells."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appwrite_heroku.config import appetite, budget
from appwrite_heroku.config.wiring import MUX, PLAIN
from appwrite_heroku.dyno.sizing import MIB, choose_policy, read_memory_limit, setup_for

FULL = appetite.background_set(usage_stats=True)  # every queue, stats-resources too
RECORD_MINI = ("redis=heroku-redis:mini,db=heroku-postgresql:essential-2,"
               "web=standard-1x,worker=standard-2x")


def swoole_total(settings: dict[str, str]) -> int:
    return int(settings["_APP_CPU_NUM"]) * int(settings["_APP_WORKER_PER_CORE"])


def test_web_policy_matches_the_default_profile_budget() -> None:
    # No record: the default profile's plans; the web dyno takes what the profile's budget
    # gives its web dyno (same model, same answer).
    chosen = budget.DEFAULT_PROFILE.budget()
    policy = choose_policy(512 * MIB, "web", budget.DEFAULT_PROFILE.background(), {})
    expected = next(d for d in chosen.dynos if d.spec.role == "web")
    assert policy.settings == expected.settings
    # The bridge's ceiling and PgBouncer's share come from the same budget.
    assert f"({MUX} bridge, PgBouncer)" in policy.description
    assert policy.bridge_ceiling == expected.ceiling(chosen.wiring) == 9
    assert (policy.db_plan_limit, policy.dynos) == (20, 2)
    assert policy.program_env == {"realtime": {"_APP_POOL_ADAPTER": "swoole"}}
    assert policy.fits
    assert "cgroup limit 512 MiB" in policy.description
    assert "the default profile's plans" in policy.description


def test_the_chosen_pool_size_is_what_appwrite_computes() -> None:
    policy = choose_policy(1024 * MIB, "worker", list(FULL), {})
    knobs = appetite.Knobs.from_settings(policy.settings)
    assert appetite.pool_size(knobs) == 1
    assert policy.settings["_APP_WORKERS_NUM"] in ("1", "2")


def test_a_recorded_plan_that_cannot_fit_is_logged_with_advice() -> None:
    # Redis mini through the plain bridge (the user's choice): one upstream per connection.
    env = {budget.PLANS_VAR: RECORD_MINI, budget.MODE_VAR: "plain"}
    policy = choose_policy(512 * MIB, "web", FULL, env)
    assert f"({PLAIN} bridge" in policy.description and policy.bridge_ceiling is None
    assert not policy.fits
    assert "heroku-redis:premium-0" in policy.advice
    assert "does not fit" in policy.description
    # Still the smallest knobs: a dyno that boots on a tight plan does the least harm.
    assert swoole_total(policy.settings) == 1


def test_all_role_on_a_big_dyno_fits_the_minimal_set() -> None:
    profile = budget.PROFILES["all-in-one"]
    env = {budget.PLANS_VAR: profile.setup().record(), "APPWRITE_LITE_ALL_IN_WEB": "true"}
    policy = choose_policy(1024 * MIB, "all", list(profile.background()), env)
    assert policy.fits, policy.description
    assert policy.program_env["realtime"]["_APP_WORKERS_NUM"] == "2"
    assert policy.dynos == 1 and policy.bridge_ceiling == 15
    assert policy.settings["_APP_WORKER_PER_CORE"] == "6"  # the knee (budget.MAX_API_WORKERS)
    assert policy.queue_slots == 2  # what the API past its knee would not use: two queues


def test_user_values_win_and_are_named() -> None:
    policy = choose_policy(512 * MIB, "web", FULL, {"_APP_WORKER_PER_CORE": "6",
                                                   "_APP_CPU_NUM": " "})
    assert policy.settings["_APP_WORKER_PER_CORE"] == "6"
    assert policy.settings["_APP_CPU_NUM"] == "1"  # blank is not a choice
    assert "kept your own _APP_WORKER_PER_CORE" in policy.description
    # Six API workers at the default pool do not fit 512 MB: the log says so.
    assert not policy.fits and "web needs" in policy.description


def test_unknown_limit_assumes_the_smallest_dyno() -> None:
    policy = choose_policy(None, "web", FULL, {})
    assert policy.settings == choose_policy(512 * MIB, "web", FULL, {}).settings
    assert "no cgroup limit found, assuming 512 MiB" in policy.description


def test_own_dyno_takes_the_cgroup_limit_the_others_the_record() -> None:
    setup, source = setup_for({budget.PLANS_VAR: RECORD_MINI}, "web", 2560)
    assert source == budget.PLANS_VAR
    web, worker = setup.specs
    assert (web.role, web.size.memory_mib) == ("web", 2560)
    assert (worker.role, worker.size.name) == ("worker", "standard-2x")
    all_setup, _ = setup_for({budget.PLANS_VAR: RECORD_MINI}, "all", 1024)
    assert [(s.role, s.size.memory_mib) for s in all_setup.specs] == [("all", 1024)]


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=256, max_value=16 * 1024), st.sampled_from(["web", "worker", "all"]),
       st.integers(min_value=0, max_value=len(FULL)))
def test_caps_always_positive_and_fit_when_said_to(limit_mib: int, role: str,
                                                   queues: int) -> None:
    background = list(FULL[:queues])
    policy = choose_policy(limit_mib * MIB, role, background, {})
    knobs = appetite.Knobs.from_settings(policy.settings)
    assert 1 <= appetite.swoole_workers(knobs) <= budget.MAX_API_WORKERS
    assert 1 <= appetite.pool_size(knobs) <= budget.MAX_POOL
    if policy.fits:
        assert "does not fit" not in policy.description


@pytest.mark.parametrize(("files", "expected"), [
    ({"memory.max": "536870912\n"}, 512 * MIB),
    ({"memory.max": "max\n"}, None),
    ({"memory/memory.limit_in_bytes": "1073741824"}, 1024 * MIB),
    ({"memory.limit_in_bytes": "9223372036854771712"}, None),  # v1 "unlimited"
    ({}, None),
    ({"memory.max": "garbage"}, None),
])
def test_read_memory_limit(tmp_path: Path, files: dict[str, str], expected: int | None) -> None:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert read_memory_limit(tmp_path) == expected


def test_a_malformed_record_falls_back_to_the_defaults_and_says_so() -> None:
    policy = choose_policy(512 * MIB, "web", FULL, {budget.PLANS_VAR: "redis=nope"})
    default = choose_policy(512 * MIB, "web", FULL, {})
    assert policy.settings == default.settings
    assert "the default profile's plans (unknown Redis plan 'nope'" in policy.description
