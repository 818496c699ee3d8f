"""Pure rules of the release record and of promotion: where the record is read from, when the
legacy config var goes, what the formation and a release say, and what may be promoted."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appwrite_heroku.errors import InputError
from appwrite_heroku.release.heroku_api import release_addons, running_images
from appwrite_heroku.release.plan import retire_legacy_record
from appwrite_heroku.release.promotion import Source, check_source, judge, staging_refusal
from appwrite_heroku.release.tag_guard import (
    RELEASE_VAR,
    ReleaseRecord,
    appwrite_move,
    running_record,
    semver_key,
)
from test_properties import fuzz_examples

ID = {kind: "sha256:" + digit * 64 for kind, digit in (("web", "a"), ("worker", "a"),
                                                        ("release", "a"), ("other", "b"))}


# -- the record ---------------------------------------------------------------------------------

def test_the_label_wins_then_the_config_var_then_nothing() -> None:
    label, var = "tag=v2.0.0 appwrite=1.9.6 commit=abc", "tag=v1.0.0 appwrite=1.9.6"
    assert running_record(label, var) == (ReleaseRecord("v2.0.0", "1.9.6", "abc"),
                                          "the image label appwrite-lite.release")
    # an empty label (a heroku.yml build) or none (an older image): the config var says
    for empty in ("", None):
        assert running_record(empty, var) == (ReleaseRecord("v1.0.0", "1.9.6", None),
                                              f"the config var {RELEASE_VAR}")
    assert running_record(None, None) == (None, "nothing recorded")


def test_the_legacy_record_goes_only_with_a_patch_made_anyway() -> None:
    config = {RELEASE_VAR: "tag=v1.0.0 appwrite=1.9.6", "A": "1"}
    assert retire_legacy_record(config, {}) == {}  # never a release of its own
    assert retire_legacy_record(config, {"A": "2"}) == {"A": "2", RELEASE_VAR: None}
    assert retire_legacy_record({"A": "1"}, {"A": "2"}) == {"A": "2"}
    written = {RELEASE_VAR: "tag=v2 appwrite=1.9.6"}  # a Build API build writes its own
    assert retire_legacy_record(config, written) == written


def test_running_images_from_a_docker_releases_formation() -> None:
    formation: list[Any] = [
        {"type": "web", "docker_image": {"id": ID["web"]}},
        {"type": "worker", "docker_image": None},  # scaled, never released
        {"type": "clock", "docker_image": {"id": "sha256:short"}},  # not an image ID
        {"type": "release"},  # the plain variant says nothing
    ]
    assert running_images(formation) == {"web": ID["web"]}


def test_release_addons_shape_the_plan_names_as_the_addons_list() -> None:
    release: Any = {"addon_plan_names": ["heroku-redis:mini", "heroku-postgresql:essential-0",
                                         "garbage"]}
    assert release_addons(release) == [
        {"addon_service": {"name": "heroku-redis"}, "plan": {"name": "heroku-redis:mini"}},
        {"addon_service": {"name": "heroku-postgresql"},
         "plan": {"name": "heroku-postgresql:essential-0"}}]
    assert release_addons(None) is None and release_addons({"version": 3}) is None


# -- promotion ----------------------------------------------------------------------------------

def record(appwrite: str = "1.9.6", commit: str | None = "5ba9e5b", tag: str | None = None
           ) -> ReleaseRecord:
    return ReleaseRecord(tag, appwrite, commit)


def source(status: str = "succeeded", **records: ReleaseRecord | None) -> Source:
    kinds = records or {"web": record(), "worker": record(), "release": record()}
    return Source("my-staging", {"status": status, "version": 12},  # type: ignore[typeddict-item]
                  {kind: ID[kind] for kind in kinds}, dict(kinds))


def decide(staging: Source, production: ReleaseRecord | None = record("1.9.6", "0ld"), *,
           running: dict[str, str] | None = None, tag: str | None = "v2.0.0",
           commit: str | None = "5ba9e5b", force: bool = False) -> Any:
    return judge(staging, production_images=running or {"web": ID["other"]},
                 production=production, production_ok=True, tag=tag, commit=commit,
                 force=force, pattern="v*")


def test_staging_release_must_have_succeeded() -> None:
    assert staging_refusal(source()) is None
    assert "v12 on my-staging failed" in str(staging_refusal(source("failed")))
    assert "still pending" in str(staging_refusal(source("pending")))
    assert "has no release yet" in str(staging_refusal(Source("my-staging", None, {}, {})))


def test_every_process_type_labelled_and_of_one_version() -> None:
    check_source(source())
    with pytest.raises(InputError, match="runs no release image"):
        check_source(source(web=record(), worker=record()))
    with pytest.raises(InputError, match=r"staging's worker image carries no "
                                         r"appwrite-lite\.release label"):
        check_source(source(web=record(), worker=None, release=record()))
    with pytest.raises(InputError, match=r"different Appwrite versions \(release 1\.9\.5, "
                                         r"web 1\.9\.6, worker 1\.9\.6\)"):
        check_source(source(web=record(), worker=record(), release=record("1.9.5")))


def test_production_running_staging_images_is_a_noop() -> None:
    same = {"web": ID["web"], "worker": ID["worker"]}
    assert decide(source(), running=same).action == "noop"
    assert decide(source(), running=same, force=True).action == "deploy"


def test_appwrite_never_goes_down_unless_forced_to_the_release_phase() -> None:
    with pytest.raises(InputError, match=r"staging has Appwrite 1\.9\.6, older than the "
                                         r"running 1\.9\.7.*cannot migrate down"):
        decide(source(), record("1.9.7"))
    forced = decide(source(), record("1.9.7"), force=True)
    assert "the release phase refuses if the database is newer" in forced.warnings[0]
    upgrade = decide(source(), record("1.9.5"))
    assert upgrade.action == "deploy"
    assert "Appwrite 1.9.5 -> 1.9.6: production's release phase migrates" in upgrade.warnings[0]
    unknown = decide(source(), None)
    assert unknown.action == "deploy" and "not recorded" in unknown.warnings[0]


def test_the_tag_must_name_what_staging_runs_and_not_go_back() -> None:
    with pytest.raises(InputError, match="staging runs commit 5ba9e5b, not 0123abc"):
        decide(source(), commit="0123abc")
    forced = decide(source(), commit="0123abc", force=True)
    assert "promoting commit 5ba9e5b, not 0123abc (--force)" in forced.warnings
    assert decide(source(), commit="5ba9e5b5ba9e5b").action == "deploy"  # a longer SHA of it
    assert decide(source(), commit=None).action == "deploy"  # nothing to compare
    production = record("1.9.6", "0ld", tag="v3.0.0")
    with pytest.raises(InputError, match=r"tag v2\.0\.0 is older than production's v3\.0\.0"):
        decide(source(), production)
    with pytest.raises(InputError, match="does not match the release pattern"):
        decide(source(), tag="nightly")


versions = st.builds("{}.{}.{}".format, *(st.integers(0, 12),) * 3)


@settings(max_examples=fuzz_examples(100))
@given(versions, versions, st.booleans())
def test_a_promotion_never_takes_appwrite_down_unawares(staged: str, running: str,
                                                         force: bool) -> None:
    staging = source(web=record(staged), worker=record(staged), release=record(staged))
    older = semver_key(staged) < semver_key(running)  # type: ignore[operator]
    try:
        decision = decide(staging, record(running), force=force)
    except InputError as error:
        assert older and not force and "cannot migrate down" in str(error)
        return
    assert decision.action == "deploy"
    assert not older or any("(--force)" in warning for warning in decision.warnings)


def test_a_deploy_of_an_older_appwrite_is_refused_before_the_build() -> None:
    running = record("1.9.6")
    assert appwrite_move("1.9.6", running, force=False) == []
    assert appwrite_move("1.9.7", None, force=False) == []  # nothing recorded: first deploy
    assert appwrite_move("2.0.0", running, force=False) == [
        "Appwrite 1.9.6 -> 2.0.0: the release phase migrates the data"]
    with pytest.raises(InputError, match=r"this deploy has Appwrite 1\.9\.5, older"):
        appwrite_move("1.9.5", running, force=False, whose="this deploy")
    assert "cannot order" in appwrite_move("nightly", running, force=False)[0]
