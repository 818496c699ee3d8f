"""Promotion end to end: staging and production apps on the Heroku stand-in, both apps'
repositories in the REAL local registry (images the engine builds with buildah), copied by the
engine blob by blob or by cross-repository mount, released on production with production's
own config, release phase, health check and rollback."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from appwrite_heroku.errors import InputError
from appwrite_heroku.release.engine import DeployResult
from appwrite_heroku.release.tag_guard import RELEASE_LABEL
from helpers import CANARIES, CANARY_API_KEY, RecordingReporter, lite_source, make_appwrite_app
from helpers import ReleaseEnv as Env
from services import Registry, have, isolated_env
from standins.clock import SkippingClock
from standins.heroku import HerokuStandIn
from standins.images import V2S2, ImageBuilder
from standins.registry_proxy import RegistryProxy

pytestmark = pytest.mark.skipif(not have("buildah"), reason="buildah is installed by .ci/run")

STAGING_SHA = "5ba9e5ba9e5ba9e5ba9e5ba9e5ba9e5ba9e5ba9e"


@pytest.fixture
def env(heroku_standin: HerokuStandIn, registry: Registry, tmp_path: Path,
        skipping_clock: SkippingClock) -> Env:
    return Env(heroku_standin, registry, tmp_path, skipping_clock.clock)


@pytest.fixture
def source(tmp_path: Path) -> Path:
    return lite_source(tmp_path / "src", "staged\n")


@pytest.fixture(scope="module")
def builder() -> Iterator[ImageBuilder]:
    with ImageBuilder() as images:
        yield images


def staged(env: Env, source: Path, **kwargs: object) -> tuple[str, str]:
    """A staging app deployed from `main` (untagged) and a production app deployed earlier."""
    staging = make_appwrite_app(env.standin, "stg")
    production = make_appwrite_app(env.standin, "prd")
    old = lite_source(source.parent / "old", "production's own\n")
    result, reporter = env.run(production, old, tag="v1.0.0", **kwargs)
    assert result.exit_status == 0, reporter.text
    result, reporter = env.run(staging, source, tag=None, commit=STAGING_SHA)
    assert result.exit_status == 0, reporter.text
    return staging, production


def promote(env: Env, staging: str, production: str, **kwargs: object
            ) -> tuple[DeployResult, RecordingReporter]:
    options: dict[str, object] = {"promote_from": staging, "tag": "v1.1.0",
                                  "commit": STAGING_SHA, **kwargs}
    return env.run(production, Path("/nonexistent"), **options)


def raw(registry: Registry, app: str, kind: str, what: str) -> tuple[bytes, str]:
    """A manifest's bytes and digest, or (what="config") the config blob's bytes."""
    headers = {"Accept": V2S2, **registry.auth_header()}
    manifest = requests.get(f"{registry.url}/v2/{app}/{kind}/manifests/latest",
                            headers=headers, timeout=10)
    manifest.raise_for_status()
    if what == "manifest":
        return manifest.content, manifest.headers["Docker-Content-Digest"]
    digest = manifest.json()["config"]["digest"]
    blob = requests.get(f"{registry.url}/v2/{app}/{kind}/blobs/{digest}", headers=headers,
                        timeout=10)
    blob.raise_for_status()
    return blob.content, digest


def snapshot(env: Env, app: str) -> tuple[object, ...]:
    heroku = env.standin.app(app)
    return (heroku.releases, dict(heroku.config_vars), dict(heroku.images),
            *(raw(env.registry, app, kind, "manifest") for kind in ("web", "worker", "release")))


def writes_to(env: Env, app: str, since: int) -> list[str]:
    """Platform API writes to `app` among the requests from number `since` on."""
    return [f"{r.method} {r.path}" for r in env.standin.requests[since:]
            if r.method != "GET" and f"/apps/{app}/" in r.path + "/"]


def test_promotion_releases_staging_images_byte_for_byte(env: Env, source: Path) -> None:
    staging, production = staged(env, source)
    production_config = dict(env.standin.app(production).config_vars)
    staging_before = snapshot(env, staging)
    releases, requests_before = len(env.standin.app(production).releases), len(
        env.standin.requests)
    result, reporter = promote(env, staging, production)
    assert result.exit_status == 0, reporter.text
    assert result.healthy is True and result.summary.startswith("promoted v")
    assert f"from {staging} (v1.1.0; Appwrite 1.9.6, commit {STAGING_SHA[:12]})" in \
        result.summary
    # The images production runs are staging's, to the byte: same IDs, same config blobs,
    # same manifests (and so the same manifest digests).
    running = dict(env.standin.app(production).images)
    assert running == env.standin.app(staging).images == result.image_ids
    for kind in ("web", "worker", "release"):
        for what in ("manifest", "config"):
            assert raw(env.registry, production, kind, what) == raw(env.registry, staging,
                                                                    kind, what)
    assert env.running_record(production) == f"appwrite=1.9.6 commit={STAGING_SHA}"
    # production keeps its own add-ons and config; one release, no config write
    assert env.standin.app(production).config_vars == production_config
    assert len(env.standin.app(production).releases) - releases == 1 == len(result.releases)
    # per repository (web, worker, release): the config and the marker layer are mounted, the
    # busybox layer production's own images brought is there already
    assert f"blobs: 6 mounted from {staging}, 0 copied, 3 already there" in reporter.text
    # staging was only read
    assert snapshot(env, staging) == staging_before
    assert writes_to(env, staging, requests_before) == []
    assert len(env.standin.requests) - requests_before <= 9
    # and promoting again is a green no-op
    requests_before = len(env.standin.requests)
    again, reporter = promote(env, staging, production)
    assert again.exit_status == 0 and again.summary.startswith("no-op: production already runs")
    assert len(env.standin.requests) - requests_before <= 5 and again.releases == []


def test_without_mounts_blobs_are_copied_and_the_ids_still_match(
        env: Env, source: Path, registry: Registry) -> None:
    staging, production = staged(env, source)
    with RegistryProxy(registry) as proxy:
        env.registry_url = proxy.url
        result, reporter = promote(env, staging, production)
    assert result.exit_status == 0, reporter.text
    assert f"blobs: 0 mounted from {staging}, 6 copied, 3 already there" in reporter.text
    mounts = [seen for seen in proxy.requests if seen.method == "POST"]
    assert mounts and all("mount" not in seen.query for seen in mounts)  # the registry refused
    assert dict(env.standin.app(production).images) == dict(env.standin.app(staging).images)


def test_failed_release_phase_on_production_rolls_back_production_only(
        env: Env, source: Path) -> None:
    staging, production = staged(env, source)
    before = dict(env.standin.app(production).images)
    staging_before, requests_before = snapshot(env, staging), len(env.standin.requests)
    env.standin.app(production).release_phase_outcome = "fail"  # images it has not run fail
    result, reporter = promote(env, staging, production,
                               extra_config={"_APP_SMTP_HOST": "smtp.example.com"})
    assert result.exit_status == 1, reporter.text
    assert "release phase" in result.summary and result.rolled_back is True
    assert dict(env.standin.app(production).images) == before
    assert "_APP_SMTP_HOST" not in env.standin.app(production).config_vars
    assert env.standin.app(production).current_release()["status"] == "succeeded"
    # settings unchanged: the failed image release never became current, nothing to undo
    again, reporter = promote(env, staging, production)
    assert again.exit_status == 1 and again.rolled_back is False, reporter.text
    assert "is still current (nothing to roll back)" in again.summary
    assert dict(env.standin.app(production).images) == before
    assert snapshot(env, staging) == staging_before
    assert writes_to(env, staging, requests_before) == []


def test_refused_when_staging_last_release_failed(env: Env, source: Path) -> None:
    staging, production = staged(env, source)
    env.standin.app(staging).release_phase_outcome = "fail"
    (source / "marker.txt").write_text("broken\n")
    failed, _ = env.run(staging, source, tag=None, commit=STAGING_SHA)
    assert failed.exit_status == 1
    before = len(env.standin.requests)
    result, reporter = promote(env, staging, production)
    assert result.exit_status == 1 and result.summary.startswith("refused: staging's newest "
                                                                 "release v")
    assert "failed" in result.summary
    assert [line for line in reporter.lines if line.startswith("error: ")] == [
        f"error: {result.summary.removeprefix('refused: ')}"]
    assert {r.method for r in env.standin.requests[before:]} == {"GET"}


@pytest.fixture
def three_modelled_versions(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if the tool had modelled 1.9.5 and 1.9.7 beside 1.9.6 (today it knows only 1.9.6):
    what is tested is how promotion orders the two apps' versions."""
    from appwrite_heroku.config import versions

    monkeypatch.setattr(versions, "modelled", lambda: ("1.9.5", "1.9.6", "1.9.7"))


@pytest.mark.usefixtures("three_modelled_versions")
def test_refused_when_staging_runs_an_older_appwrite_than_production(env: Env,
                                                                    source: Path) -> None:
    staging = make_appwrite_app(env.standin, "stg")
    production = make_appwrite_app(env.standin, "prd")
    newer = lite_source(source.parent / "newer", "1.9.7\n")
    assert env.run(production, newer, tag="v1.0.0", appwrite_version="1.9.7")[0].exit_status == 0
    assert env.run(staging, source, tag=None, commit=STAGING_SHA)[0].exit_status == 0
    production_before, requests_before = snapshot(env, production), len(env.standin.requests)
    with pytest.raises(InputError, match=r"staging has Appwrite 1\.9\.6, older than the "
                                         r"running 1\.9\.7.*cannot migrate down"):
        promote(env, staging, production)
    assert snapshot(env, production) == production_before
    assert writes_to(env, production, requests_before) == []


@pytest.mark.usefixtures("three_modelled_versions")
def test_an_upgrade_runs_production_release_phase_and_waits_for_the_new_version(
        env: Env, source: Path) -> None:
    staging = make_appwrite_app(env.standin, "stg")
    production = make_appwrite_app(env.standin, "prd")
    older = lite_source(source.parent / "older", "1.9.5\n")
    assert env.run(production, older, tag="v1.0.0", appwrite_version="1.9.5")[0].exit_status == 0
    assert env.run(staging, source, tag=None, commit=STAGING_SHA)[0].exit_status == 0
    result, reporter = promote(env, staging, production)
    assert result.exit_status == 0, reporter.text
    assert ("Appwrite 1.9.5 -> 1.9.6: production's release phase migrates its data, with the "
            "release image copied from staging") in reporter.text
    assert "Running release command" in reporter.text  # production's own release phase ran
    assert result.healthy is True and "Appwrite 1.9.6" in result.summary


def test_refused_when_staging_images_differ_between_process_types(
        env: Env, source: Path, builder: ImageBuilder) -> None:
    staging, production = staged(env, source)
    # Someone released another worker image on staging, of another Appwrite version.
    tag = builder.build(f"localhost/{staging}-odd:latest", "odd",
                        labels={RELEASE_LABEL: "appwrite=1.9.5"})
    odd = builder.push(env.registry, tag, staging, "worker")
    response = requests.patch(
        f"{env.standin.url}/apps/{staging}/formation", timeout=10,
        json={"updates": [{"type": "worker", "docker_image": odd.image_id}]},
        headers={"Accept": "application/vnd.heroku+json; version=3.docker-releases",
                 "Authorization": f"Bearer {CANARY_API_KEY}"})
    assert response.status_code == 200
    env.clock.sleep(10)  # its release phase runs on the stand-in's clock: let it succeed
    assert env.standin.app(staging).current_release()["status"] == "succeeded"
    production_before = snapshot(env, production)
    with pytest.raises(InputError, match=r"different Appwrite versions \(release 1\.9\.6, "
                                         r"web 1\.9\.6, worker 1\.9\.5\)"):
        promote(env, staging, production)
    assert snapshot(env, production) == production_before


def test_refused_when_the_tag_names_another_commit_than_staging_runs(env: Env,
                                                                     source: Path) -> None:
    staging, production = staged(env, source)
    before = snapshot(env, production)
    with pytest.raises(InputError, match=r"staging runs commit 5ba9e5ba9e5b, not "
                                         r"0123abc.*deploy that commit to staging first"):
        promote(env, staging, production, commit="0123abc")
    assert snapshot(env, production) == before
    forced, reporter = promote(env, staging, production, commit="0123abc", force=True)
    assert forced.exit_status == 0, reporter.text
    assert "promoting commit 5ba9e5ba9e5b, not 0123abc (--force)" in reporter.text


def test_cli_promote(env: Env, source: Path, tmp_path: Path) -> None:
    staging, production = staged(env, source)
    command = [sys.executable, "-m", "appwrite_heroku", "promote", "--from", staging, "--to",
               production, "--tag", "v1.1.0", "--health-timeout", "5"]
    process_env = {**isolated_env(tmp_path), **env.environ()}
    done = subprocess.run(command, capture_output=True, text=True, env=process_env, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "promoted v" in done.stdout and "healthy" in done.stdout
    for canary in CANARIES:
        assert canary not in done.stdout + done.stderr
    assert dict(env.standin.app(production).images) == dict(env.standin.app(staging).images)
    # bad input: one line, exit 2, nothing written
    for args, words in ((["--from", production, "--to", production], "both name"),
                        (["--from", "Not_An_App", "--to", production], "--from"),
                        (["--from", "no-such-app", "--to", production],
                         "no app 'no-such-app'")):
        bad = subprocess.run([sys.executable, "-m", "appwrite_heroku", "promote", *args],
                             capture_output=True, text=True, env=process_env, timeout=60)
        assert bad.returncode == 2, bad.stderr
        assert bad.stderr.count("\n") == 1 and words in bad.stderr, bad.stderr
