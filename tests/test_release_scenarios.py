"""The release engine end to end against the Heroku stand-in, the real local registry and
images the engine builds itself with buildah (FROM scratch + a static busybox)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from appwrite_heroku.config.budget import DEFAULT_PROFILE, PLANS_VAR
from appwrite_heroku.release.engine import DeployResult
from appwrite_heroku.release.tag_guard import RELEASE_VAR
from helpers import (
    ADDON_JAWSDB_URL,
    ADDON_REDIS_URL,
    CANARIES,
    CANARY_API_KEY,
    lite_source,
    make_appwrite_app,
)
from helpers import ReleaseEnv as Env
from services import Registry, have, isolated_env
from standins.clock import SkippingClock
from standins.heroku import HerokuStandIn

pytestmark = pytest.mark.skipif(not have("buildah"), reason="buildah is installed by .ci/run")

@pytest.fixture
def source(tmp_path: Path) -> Path:
    return lite_source(tmp_path / "src")


def make_app(standin: HerokuStandIn, **kwargs: object) -> str:
    return make_appwrite_app(standin, "aw", **kwargs)


@pytest.fixture
def env(heroku_standin: HerokuStandIn, registry: Registry, tmp_path: Path,
        skipping_clock: SkippingClock) -> Env:
    return Env(heroku_standin, registry, tmp_path, skipping_clock.clock)


def current_images(standin: HerokuStandIn, app: str) -> dict[str, str]:
    return dict(standin.app(app).images)


def test_first_deploy_then_same_tag_is_a_green_noop(env: Env, source: Path) -> None:
    app = make_app(env.standin)
    result, reporter = env.run(app, source, tag="v1.0.0")
    assert result.exit_status == 0, reporter.text
    assert result.healthy is True
    assert set(result.image_ids) == {"web", "worker", "release"}
    assert current_images(env.standin, app) == result.image_ids
    config = env.standin.app(app).config_vars
    # The record travels in the image: no config var for it, the label says what runs.
    assert RELEASE_VAR not in config
    assert env.running_record(app) == "tag=v1.0.0 appwrite=1.9.6 commit=0123abc"
    openssl_key = config["_APP_OPENSSL_KEY_V1"]
    assert len(openssl_key) >= 32 and openssl_key not in reporter.text
    assert config["_APP_DOMAIN"] == f"{app}.herokuapp.com"
    # exactly one config PATCH and one formation PATCH
    assert len(env.standin.api_requests("PATCH", r"/config-vars$")) == 1
    assert len(env.standin.api_requests("PATCH", r"/formation$")) == 1
    assert env.standin.app(app).current_release()["status"] == "succeeded"
    assert "Running release command" in reporter.text  # the release phase was streamed

    releases_before = len(env.standin.app(app).releases)
    requests_before = len(env.standin.requests)
    again, reporter = env.run(app, source, tag="v1.0.0")
    assert again.exit_status == 0 and again.summary.startswith("no-op")
    assert len(env.standin.app(app).releases) == releases_before
    writes = [r for r in env.standin.requests[requests_before:] if r.method != "GET"]
    assert writes == []
    assert len(env.standin.requests) - requests_before <= 3
    assert env.standin.app(app).config_vars["_APP_OPENSSL_KEY_V1"] == openssl_key


def test_forced_rebuild_of_identical_source_makes_no_release(env: Env, source: Path) -> None:
    app = make_app(env.standin)
    first, _ = env.run(app, source, tag="v1.0.0")
    assert first.exit_status == 0
    releases_before = len(env.standin.app(app).releases)
    result, reporter = env.run(app, source, tag="v1.0.0", force=True)
    assert result.exit_status == 0, reporter.text
    assert result.image_ids == first.image_ids  # --timestamp 0: identical source, identical ID
    assert "no new release" in result.summary
    assert len(env.standin.app(app).releases) == releases_before


def test_config_only_change(env: Env, source: Path) -> None:
    app = make_app(env.standin)
    assert env.run(app, source, tag="v1.0.0")[0].exit_status == 0
    openssl_key = env.standin.app(app).config_vars["_APP_OPENSSL_KEY_V1"]
    images = current_images(env.standin, app)
    # The user asks for one more setting of their own; the images stay as they are.
    result, reporter = env.run(app, source, tag="v1.0.1", build="none",
                               extra_config={"_APP_CONSOLE_WHITELIST_ROOT": "disabled"})
    assert result.exit_status == 0, reporter.text
    assert "_APP_CONSOLE_WHITELIST_ROOT" in result.changed_config_keys
    assert current_images(env.standin, app) == images
    config = env.standin.app(app).config_vars
    assert config["_APP_CONSOLE_WHITELIST_ROOT"] == "disabled"
    assert config["_APP_OPENSSL_KEY_V1"] == openssl_key
    assert len(env.standin.api_requests("PATCH", r"/config-vars$")) == 2


def test_release_phase_failure_is_red_and_previous_release_stays(env: Env,
                                                                 source: Path) -> None:
    app = make_app(env.standin)
    first, _ = env.run(app, source, tag="v1.0.0")
    assert first.exit_status == 0
    openssl_key = env.standin.app(app).config_vars["_APP_OPENSSL_KEY_V1"]
    env.standin.app(app).release_phase_outcome = "fail"  # fails images not seen passing
    (source / "marker.txt").write_text("two\n")
    result, reporter = env.run(app, source, tag="v1.1.0")
    assert result.exit_status == 1, reporter.text
    assert "FAILED" in result.summary and "release phase" in result.summary
    assert current_images(env.standin, app) == first.image_ids
    current = env.standin.app(app).current_release()
    assert current["status"] == "succeeded"
    config = env.standin.app(app).config_vars
    assert config["_APP_OPENSSL_KEY_V1"] == openssl_key
    # settings unchanged: the image release alone failed, so v1.0.0's release is still the
    # current one and nothing needed rolling back
    assert result.rolled_back is False and "still current" in result.summary
    assert env.running_record(app).startswith("tag=v1.0.0 ")


def test_failed_image_release_after_a_config_release_rolls_both_back(env: Env,
                                                                     source: Path) -> None:
    app = make_app(env.standin)
    assert env.run(app, source, tag="v1.0.0")[0].exit_status == 0
    env.standin.app(app).release_phase_outcome = "fail"  # fails images not seen passing
    (source / "marker.txt").write_text("two\n")
    result, reporter = env.run(app, source, tag="v1.1.0",
                               extra_config={"_APP_SMTP_HOST": "smtp.example.com"})
    assert result.exit_status == 1, reporter.text
    # the config written for v1.1.0 went back with the rollback, to the release before it
    assert result.rolled_back is True
    assert "_APP_SMTP_HOST" not in env.standin.app(app).config_vars
    assert env.running_record(app).startswith("tag=v1.0.0 ")
    assert any("Rollback" in line for line in reporter.lines)


def test_health_failure_rolls_back(env: Env, source: Path) -> None:
    app = make_app(env.standin)
    first, _ = env.run(app, source, tag="v1.0.0")
    assert first.exit_status == 0
    env.standin.app(app).health_status = 503
    (source / "marker.txt").write_text("three\n")
    result, reporter = env.run(app, source, tag="v1.2.0", health_timeout=2)
    assert result.exit_status == 1, reporter.text
    assert result.healthy is False and result.rolled_back is True
    assert "rolled back" in result.summary
    assert current_images(env.standin, app) == first.image_ids
    assert env.running_record(app).startswith("tag=v1.0.0 ")


def test_custom_domain_set_by_hand_is_health_checked_under_that_domain(env: Env,
                                                                      source: Path) -> None:
    # Appwrite's router protection answers 403 to any Host but `_APP_DOMAIN`: asking with the
    # herokuapp.com name would roll back a good release.
    app = make_app(env.standin)
    env.standin.app(app).custom_domains.append("api.example.org")
    env.standin.app(app).config_vars["_APP_DOMAIN"] = "api.example.org"
    result, reporter = env.run(app, source, tag="v1.0.0")
    assert result.exit_status == 0, reporter.text
    assert result.healthy is True and result.rolled_back is False
    assert env.standin.app(app).config_vars["_APP_DOMAIN"] == "api.example.org"
    hosts = {r.headers.get("host", r.headers.get("Host")) for r in env.standin.router_requests}
    assert "api.example.org" in hosts


def test_older_tag_is_refused_unless_forced(env: Env, source: Path) -> None:
    from appwrite_heroku.errors import InputError

    app = make_app(env.standin)
    assert env.run(app, source, tag="v2.0.0")[0].exit_status == 0
    releases = len(env.standin.app(app).releases)
    with pytest.raises(InputError, match=r"older than the running v2\.0\.0"):
        env.run(app, source, tag="v1.9.9")
    with pytest.raises(InputError, match="does not match the release pattern"):
        env.run(app, source, tag="nightly")
    assert len(env.standin.app(app).releases) == releases
    assert env.standin.requests[-1].method == "GET"


def test_429_storm_and_5xx_bursts_are_retried(env: Env, source: Path) -> None:
    app = make_app(env.standin)
    env.standin.inject("429", count=3, path=r"/config-vars$", retry_after=0.2)
    env.standin.inject("429", count=2, path=r"/releases", method="GET")
    env.standin.inject("503", count=2, path=r"/formation$", method="PATCH")
    env.standin.inject("500", count=2, path=r"^/apps/[^/]+$")
    result, reporter = env.run(app, source, tag="v1.0.0")
    assert result.exit_status == 0, reporter.text
    assert len([r for r in env.standin.requests if r.status == 429]) == 5
    assert current_images(env.standin, app) == result.image_ids


def test_rate_limit_pool_empty_is_honoured(env: Env, source: Path) -> None:
    app = make_app(env.standin)
    assert env.run(app, source, tag="v1.0.0")[0].exit_status == 0
    # A pool of 3 tokens refilled at 4 a second. Every answer says `RateLimit-Remaining: 2` or
    # less, so the client waits one token's refill time (0.8 s: 3.2 tokens here) before each
    # next call: the pool never runs dry and Heroku never has to answer 429. Without that
    # pacing the deploy's calls come in a burst, empty the pool and get 429s (then retries).
    env.standin.set_rate_limit(size=3, refill_per_second=4)
    before = len(env.standin.requests)
    result, reporter = env.run(app, source, tag="v1.0.1", build="none")
    assert result.exit_status == 0, reporter.text
    assert "images are identical" in result.summary  # v1.0.0's images, pushed again
    paced = env.standin.requests[before:]
    assert len(paced) > 3  # more calls than the pool holds: without pacing it would empty
    assert [(r.method, r.path) for r in paced if r.status == 429] == []


def test_dropped_connections_and_stalls_on_idempotent_calls(env: Env, source: Path) -> None:
    app = make_app(env.standin)
    env.standin.inject("drop", count=2, path=r"/config-vars$", method="GET")
    env.standin.inject("stall", count=1, path=r"/releases", method="GET", seconds=3)
    env.standin.inject("drop", count=1, path=r"/formation$", method="PATCH")
    result, reporter = env.run(app, source, tag="v1.0.0")
    assert result.exit_status == 0, reporter.text
    assert current_images(env.standin, app) == result.image_ids


def test_platform_failure_after_retries_is_exit_3(env: Env, source: Path) -> None:
    from appwrite_heroku.errors import PlatformError

    app = make_app(env.standin)
    env.standin.inject("503", count=50, path=r"^/apps/[^/]+$")
    with pytest.raises(PlatformError, match="503"):
        env.run(app, source, tag="v1.0.0", build="none", retry_backoff=0.01)


def test_cli_deploy_output_has_no_secret(env: Env, source: Path, tmp_path: Path) -> None:
    app = make_app(env.standin)
    command = [sys.executable, "-m", "appwrite_heroku", "deploy", "--app", app, "--tag",
               "v3.0.0", "--build", "buildah", "--source-dir", str(source),
               "--health-timeout", "5", "--release-timeout", "30"]
    process_env = {**isolated_env(tmp_path), **env.environ()}
    # buildah's default storage would be shared: point it at this test's directory.
    process_env["CONTAINERS_STORAGE_CONF"] = str(_storage_conf(tmp_path))
    done = subprocess.run(command, capture_output=True, text=True, env=process_env,
                          timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    for canary in CANARIES:
        assert canary not in done.stdout and canary not in done.stderr
    assert "released v" in done.stdout
    assert env.standin.schema_violations == []
    # bad input: one line, exit 2
    bad = subprocess.run([sys.executable, "-m", "appwrite_heroku", "deploy", "--app", app,
                          "--tag", "v0.1.0", "--build", "none"], capture_output=True,
                         text=True, env=process_env, timeout=60)
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1 and "older than the running v3.0.0" in bad.stderr
    assert CANARY_API_KEY not in bad.stderr + bad.stdout


def _storage_conf(tmp_path: Path) -> Path:
    conf = tmp_path / "storage.conf"
    conf.write_text(
        "[storage]\n"
        'driver = "vfs"\n'
        f'runroot = "{tmp_path / "cs-runroot"}"\n'
        f'graphroot = "{tmp_path / "cs-root"}"\n')
    return conf


def test_plan_with_network_writes_nothing(env: Env, source: Path) -> None:
    app = make_app(env.standin)
    config_before = dict(env.standin.app(app).config_vars)
    result, reporter = env.run(app, source, tag="v1.0.0", dry_run=True)
    assert result.exit_status == 0
    assert all(r.method == "GET" for r in env.standin.requests)
    assert "+ _APP_OPENSSL_KEY_V1=****" in reporter.text
    assert ("release record: tag=v1.0.0 appwrite=1.9.6 commit=0123abc as the image label "
            "appwrite-lite.release (no config change)") in reporter.text
    assert RELEASE_VAR not in reporter.text
    assert result.changed_config_keys == []  # nothing written
    assert env.standin.app(app).config_vars == config_before
    shown = re.findall(r"^info: {5}[-+~] (\w+)", reporter.text, re.MULTILINE)
    assert result.planned_config_keys == sorted(shown)
    assert f"config vars ({len(shown)} change(s)" in reporter.text
    # The same deploy for real writes exactly the keys the plan named, and only those.
    written, reporter = env.run(app, source, tag="v1.0.0")
    assert written.exit_status == 0, reporter.text
    assert written.changed_config_keys == result.planned_config_keys
    config_after = env.standin.app(app).config_vars
    assert sorted(key for key in config_before.keys() | config_after.keys()
                  if config_before.get(key) != config_after.get(key)) == written.changed_config_keys


def test_waits_for_a_pending_release_before_judging(env: Env, source: Path) -> None:
    app = make_app(env.standin)
    first, _ = env.run(app, source, tag="v1.0.0")
    assert first.exit_status == 0
    # someone changes a config var by hand: the release phase of that release is running
    api = env.standin.app(app)
    api.pending_linger_seconds = 1.0
    api.config_vars["HAND_SET"] = "1"
    api.create_release("Set HAND_SET config vars", config=dict(api.config_vars))
    assert api.releases[-1]["status"] == "pending"
    result, reporter = env.run(app, source, tag="v1.0.0")
    assert result.exit_status == 0 and result.summary.startswith("no-op"), reporter.text
    assert "still pending; waiting" in reporter.text


def test_rollback_refused_when_the_captured_release_is_not_eligible(env: Env,
                                                                     source: Path) -> None:
    app = make_app(env.standin)
    assert env.run(app, source, tag="v1.0.0")[0].exit_status == 0
    current = env.standin.app(app).current_release()
    assert current is not None
    env.standin.app(app).expire_release(current["version"])
    env.standin.app(app).health_status = 500
    (source / "marker.txt").write_text("four\n")
    result, reporter = env.run(app, source, tag="v1.3.0", health_timeout=1)
    assert result.exit_status == 1 and result.rolled_back is False
    assert "refused" in result.summary and "heroku rollback" in result.summary, reporter.text


def test_release_timeout_is_red(env: Env, source: Path) -> None:
    app = make_app(env.standin)
    assert env.run(app, source, tag="v1.0.0")[0].exit_status == 0
    env.standin.app(app).pending_linger_seconds = 4.0
    (source / "marker.txt").write_text("five\n")
    result, reporter = env.run(app, source, tag="v1.4.0", release_timeout=2)
    assert result.exit_status == 1, reporter.text
    assert "did not finish within --release-timeout" in result.summary


def test_preflight_refuses_wrong_stack_and_missing_addons(env: Env, source: Path) -> None:
    from appwrite_heroku.errors import InputError

    env.standin.create_app("buildpack-app", stack="heroku-24")
    with pytest.raises(InputError, match="heroku stack:set container -a buildpack-app"):
        env.run("buildpack-app", source, tag="v1.0.0", build="none")
    env.standin.create_app("bare-app")
    wanted = f"heroku addons:create {DEFAULT_PROFILE.redis_plan} -a bare-app"
    with pytest.raises(InputError, match=re.escape(wanted)):
        env.run("bare-app", source, tag="v1.0.0", build="none")
    assert all(r.method == "GET" for r in env.standin.requests)


def test_platform_failure_after_the_config_write_undoes_it(env: Env, source: Path) -> None:
    app = make_app(env.standin)
    assert env.run(app, source, tag="v1.0.0")[0].exit_status == 0
    (source / "marker.txt").write_text("six\n")
    env.standin.inject("503", count=50, path=r"/formation$", method="PATCH")
    result, reporter = env.run(app, source, tag="v1.5.0", retry_backoff=0.01,
                               extra_config={"_APP_SMTP_HOST": "smtp.example.com"})
    assert result.exit_status == 3, reporter.text
    assert result.rolled_back is True
    assert "_APP_SMTP_HOST" not in env.standin.app(app).config_vars
    assert env.running_record(app).startswith("tag=v1.0.0 ")


def test_a_config_patch_applied_despite_timeouts_is_undone(env: Env, source: Path) -> None:
    app = make_app(env.standin)
    assert env.run(app, source, tag="v1.0.0")[0].exit_status == 0
    # every try stalls past the client's timeout, yet the platform applies the write
    env.standin.inject("stall", count=4, path=r"/config-vars$", method="PATCH", seconds=1.2)
    with_timeout = {"api_timeout": 1.0, "retry_backoff": 0.01}
    result, reporter = env.run(app, source, tag="v1.6.0", build="none",
                               extra_config={"_APP_SMTP_HOST": "smtp.example.com"},
                               **with_timeout)
    assert result.exit_status == 3, reporter.text
    assert result.rolled_back is True
    assert "_APP_SMTP_HOST" not in env.standin.app(app).config_vars


# -- the connection and memory budget -----------------------------------------------------------

def test_deploy_refused_before_any_write_when_nothing_fits(env: Env, source: Path) -> None:
    # What the Deploy button used to attach: Redis mini (20 clients) and JawsDB kitefin (10).
    env.standin.create_app("tight-app", addons=[
        {"service": "heroku-redis", "plan": "mini", "config_vars": {"REDIS_URL": ADDON_REDIS_URL}},
        {"service": "jawsdb-maria", "plan": "kitefin",
         "config_vars": {"JAWSDB_MARIA_URL": ADDON_JAWSDB_URL}},
    ], formation={"web": {"quantity": 1, "size": "basic"},
                  "worker": {"quantity": 1, "size": "basic"}})
    releases_before = len(env.standin.app("tight-app").releases)
    result, reporter = env.run("tight-app", source, tag="v1.0.0", build="none")
    assert result.exit_status == 1 and not result.rolled_back
    errors = [line for line in reporter.lines if line.startswith("error: ")]
    assert len(errors) == 1
    # Redis mini fits through the multiplexed bridge; MySQL has no pooler, so kitefin's 10
    # connections take Appwrite's own count: the line names the plan, its price, the dyno.
    assert "heroku-postgresql:essential-0 ($5/month) instead of jawsdb-maria:kitefin" \
        in errors[0]
    assert "heroku-redis:" not in errors[0].split(": choose ")[1]
    # Two basic dynos hold every queue (on demand): the dynos stay, only the plan changes.
    assert "ps:type" not in errors[0] and "standard" not in errors[0]
    assert result.summary.startswith("refused: ")
    # Nothing written: only GETs, no new release. The plan was shown, its budget as the
    # error line (the table only with --budget); the summary keeps the figures.
    assert all(r.method == "GET" for r in env.standin.requests)
    assert any(r.path.endswith("/addons") for r in env.standin.requests)
    assert len(env.standin.app("tight-app").releases) == releases_before
    assert "info:   config vars" in reporter.text and "on-demand worker" not in reporter.text
    assert not [line for line in reporter.lines if line.startswith("info:   budget")]
    assert result.budget.startswith("does not fit: ") and "jawsdb-maria:kitefin" in result.budget


def test_plans_are_recorded_once_and_the_plan_shows_the_budget(env: Env, source: Path) -> None:
    app = make_app(env.standin)
    planned, reporter = env.run(app, source, tag="v1.0.0", dry_run=True, build="none")
    assert planned.exit_status == 0
    record = DEFAULT_PROFILE.setup().record()
    assert f"+ {PLANS_VAR}={record[:40]}" in reporter.text  # long values are shortened
    assert PLANS_VAR in planned.planned_config_keys
    # After the diff, the budget's verdict in one line, and no table.
    verdicts = [line for line in reporter.lines if line.startswith("info:   budget")]
    assert verdicts == [f"info:   budget: {planned.budget} (the table: plan --budget)"]
    assert planned.budget.startswith("fits: web basic ") and "$22/month" in planned.budget
    assert reporter.lines.index(verdicts[0]) > reporter.lines.index("info:   formation: one "
                                                                      "docker-releases PATCH "
                                                                      "for web, worker, release")
    assert "Budget (multiplex bridge" not in reporter.text
    planned, reporter = env.run(app, source, tag="v1.0.0", dry_run=True, build="none",
                                budget_table=True)
    assert "info: Budget (multiplex bridge, PgBouncer on every dyno" in reporter.text
    assert reporter.lines[-1] == "info:   fits"
    result, _ = env.run(app, source, tag="v1.0.0")
    assert result.exit_status == 0, result.summary
    assert env.standin.app(app).config_vars[PLANS_VAR] == record
    result, _ = env.run(app, source, tag="v1.1.0", build="none", force=True)
    assert PLANS_VAR not in result.changed_config_keys  # unchanged: not written again


def test_unknown_plans_are_not_judged_but_said(env: Env, source: Path) -> None:
    app = make_app(env.standin)
    for addon in env.standin.app(app).addons:
        if addon.service == "heroku-redis":
            addon.plan = "premium-9"
    result, reporter = env.run(app, source, tag="v1.0.0", dry_run=True, build="none")
    assert result.exit_status == 0
    assert "heroku-redis:premium-9 is not in this tool's plan table" in reporter.text
    assert PLANS_VAR not in result.changed_config_keys


# -- what each deploy costs, and apps deployed before the record moved into the image --------

def test_each_deploy_costs_the_releases_and_requests_the_docs_give(env: Env,
                                                                   source: Path) -> None:
    app = make_app(env.standin)
    heroku = env.standin.app(app)

    def measured(**kwargs: object) -> tuple[DeployResult, int, int]:
        releases, requests = len(heroku.releases), len(env.standin.requests)
        result, reporter = env.run(app, source, **kwargs)
        assert result.exit_status == 0, reporter.text
        assert len(heroku.releases) - releases == len(result.releases)
        return result, len(result.releases), len(env.standin.requests) - requests

    _, made, _ = measured(tag="v1.0.0")
    assert made == 2  # the first deploy's settings, then its images
    images = current_images(env.standin, app)
    (source / "marker.txt").write_text("two\n")
    tagged, made, requests = measured(tag="v1.1.0")
    assert (made, requests <= 7) == (1, True), requests
    assert tagged.changed_config_keys == []
    assert "two releases" not in tagged.summary
    assert current_images(env.standin, app) != images
    _, made, requests = measured(tag="v1.1.0")
    assert (made, requests <= 3) == (0, True), requests

    # A setting changes: one config release, then one image release, in that order — the
    # config release restarts the running images (the old image, new settings).
    before = current_images(env.standin, app)
    (source / "marker.txt").write_text("three\n")
    changed, made, requests = measured(tag="v1.2.0",
                                       extra_config={"_APP_SMTP_HOST": "smtp.example.com"})
    assert made == 2 and changed.changed_config_keys == ["_APP_SMTP_HOST"]
    config_release, image_release = heroku.releases[-2:]
    assert config_release["description"].startswith("Set _APP_SMTP_HOST")
    assert heroku.find_release(config_release["id"]).images == before  # type: ignore[union-attr]
    assert image_release["description"].startswith("Deployed ")
    assert (f"two releases: config v{config_release['version']}, then images "
            f"v{image_release['version']}") in changed.summary
    assert requests <= 10


def test_an_app_deployed_with_the_record_in_a_config_var_upgrades(env: Env,
                                                                 tmp_path: Path) -> None:
    """An app as the engine before this one left it: images without the label, the record in
    the config var APPWRITE_LITE_RELEASE. (A Dockerfile.lite without the label makes the
    engine write exactly that.)"""
    app = make_app(env.standin)
    old = lite_source(tmp_path / "old", record=False)
    first, reporter = env.run(app, old, tag="v1.2.0")
    assert first.exit_status == 0, reporter.text
    assert "carries no appwrite-lite.release label" in reporter.text
    config = env.standin.app(app).config_vars
    assert config[RELEASE_VAR] == "tag=v1.2.0 appwrite=1.9.6 commit=0123abc"
    assert env.running_record(app) == ""

    new = lite_source(tmp_path / "new", "new\n")
    from appwrite_heroku.errors import InputError

    with pytest.raises(InputError, match=r"older than the running v1\.2\.0"):
        env.run(app, new, tag="v1.1.0")  # the config var still guards
    again, reporter = env.run(app, new, tag="v1.2.0")
    assert again.summary.startswith("no-op: v1.2.0"), reporter.text
    upgraded, reporter = env.run(app, new, tag="v1.3.0")
    assert upgraded.exit_status == 0, reporter.text
    assert len(upgraded.releases) == 1 and upgraded.changed_config_keys == []
    assert env.running_record(app) == "tag=v1.3.0 appwrite=1.9.6 commit=0123abc"
    assert "from the config var APPWRITE_LITE_RELEASE" in reporter.text
    # the label now wins over the config var it left behind
    with pytest.raises(InputError, match=r"older than the running v1\.3\.0"):
        env.run(app, new, tag="v1.2.5")
    # ... which goes with the next deploy that changes a setting anyway
    (new / "marker.txt").write_text("newer\n")
    retired, reporter = env.run(app, new, tag="v1.4.0",
                                extra_config={"_APP_SMTP_HOST": "smtp.example.com"})
    assert retired.exit_status == 0, reporter.text
    assert RELEASE_VAR in retired.changed_config_keys
    assert RELEASE_VAR not in env.standin.app(app).config_vars


def test_an_older_appwrite_is_refused_before_anything_is_built(
        env: Env, source: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from appwrite_heroku.config import versions
    from appwrite_heroku.errors import InputError

    # As if the tool had modelled three Appwrite versions (it knows only 1.9.6 today): the
    # engine's ordering of a deploy against the running version is what is tested here.
    monkeypatch.setattr(versions, "modelled", lambda: ("1.9.5", "1.9.6", "1.9.7"))
    app = make_app(env.standin)
    assert env.run(app, source, tag="v1.0.0")[0].exit_status == 0
    before = len(env.standin.requests)
    with pytest.raises(InputError, match=r"Appwrite 1\.9\.5, older than the running 1\.9\.6: "
                                         r"the data is already migrated"):
        env.run(app, source, tag="v1.1.0", appwrite_version="1.9.5")
    assert all(r.method == "GET" for r in env.standin.requests[before:])
    (source / "marker.txt").write_text("newer\n")
    upgraded, reporter = env.run(app, source, tag="v1.2.0", appwrite_version="1.9.7")
    assert upgraded.exit_status == 0, reporter.text
    assert "warning: Appwrite 1.9.6 -> 1.9.7: the release phase migrates" in reporter.text
    assert upgraded.healthy is True and "Appwrite 1.9.7" in upgraded.summary
