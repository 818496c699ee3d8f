"""Pure parts of the release engine: tag guard, release record, config diff and plan text."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appwrite_heroku.config.budget import DEFAULT_PROFILE, MINIMAL_SKIP
from appwrite_heroku.config.marker import OPENSSL_KEY
from appwrite_heroku.config.settings import derive
from appwrite_heroku.errors import InputError
from appwrite_heroku.release.engine import missing_addons, small_dynos
from appwrite_heroku.release.plan import Plan, diff, full_patch, render
from appwrite_heroku.release.tag_guard import (
    RELEASE_VAR,
    ReleaseRecord,
    check_tag,
    decide,
    make_record,
    parse_record,
    semver_key,
)

BASE = {
    "REDIS_URL": "rediss://:pw-redis-0000@ec2-1-2-3-4.compute-1.amazonaws.com:12345",
    "JAWSDB_MARIA_URL": "mysql://user:pw-db-0000@host.rds.amazonaws.com:3306/schema",
}


# -- tag guard ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("older", "newer"), [
    ("v1.0.0", "v1.0.1"), ("v1.9.9", "v1.10.0"), ("v1.0.0-rc.1", "v1.0.0"),
    ("v1.0.0-alpha", "v1.0.0-alpha.1"), ("v1.0.0-alpha.1", "v1.0.0-beta"),
    ("v1.0.0-rc.2", "v1.0.0-rc.10"), ("1.2.3", "v2.0.0"),
])
def test_semver_order(older: str, newer: str) -> None:
    a, b = semver_key(older), semver_key(newer)
    assert a is not None and b is not None and a < b


@pytest.mark.parametrize("tag", ["latest", "v1", "v1.2", "v01.2.3", "release-1.2.3"])
def test_not_semver(tag: str) -> None:
    assert semver_key(tag) is None


def running(tag: str, appwrite: str = "1.9.6", commit: str | None = "abc") -> ReleaseRecord:
    return ReleaseRecord(tag, appwrite, commit)


def test_same_tag_same_version_is_noop_only_when_the_release_succeeded() -> None:
    args = dict(appwrite="1.9.6", commit="abc", force=False, pattern="v*")
    assert decide(tag="v1.0.0", running=running("v1.0.0"), running_ok=True,
                  **args).action == "noop"  # type: ignore[arg-type]
    assert decide(tag="v1.0.0", running=running("v1.0.0"), running_ok=False,
                  **args).action == "deploy"  # type: ignore[arg-type]
    # another Appwrite version or a moved tag (other commit) is a deploy
    assert decide(tag="v1.0.0", running=running("v1.0.0", "1.9.5"), running_ok=True,
                  **args).action == "deploy"  # type: ignore[arg-type]
    assert decide(tag="v1.0.0", running=running("v1.0.0", commit="def"), running_ok=True,
                  **args).action == "deploy"  # type: ignore[arg-type]


def test_force_redeploys_the_same_tag() -> None:
    decision = decide(tag="v1.0.0", appwrite="1.9.6", commit="abc", running=running("v1.0.0"),
                      running_ok=True, force=True, pattern="v*")
    assert decision.action == "deploy"


def test_older_tag_refused_unless_forced() -> None:
    with pytest.raises(InputError, match=r"older than the running v2\.0\.0.*--force"):
        decide(tag="v1.9.0", appwrite="1.9.6", commit=None, running=running("v2.0.0"),
               running_ok=True, force=False, pattern="v*")
    decision = decide(tag="v1.9.0", appwrite="1.9.6", commit=None, running=running("v2.0.0"),
                      running_ok=True, force=True, pattern="v*")
    assert decision.action == "deploy" and "older" in decision.warnings[0]


def test_pattern() -> None:
    check_tag("v1.2.3", "v*")
    check_tag(None, "v*")  # no tag: a manual deploy of the working tree
    with pytest.raises(InputError, match="does not match the release pattern 'v\\*'"):
        check_tag("main", "v*")
    check_tag("release-7", "release-*")


def test_record_round_trip_and_garbage() -> None:
    record = make_record("v1.2.3", "1.9.6", "0123abc")
    assert record.format() == "tag=v1.2.3 appwrite=1.9.6 commit=0123abc"
    assert parse_record(record.format()) == record
    assert parse_record(None) is None and parse_record("") is None
    assert parse_record("garbage") is None
    assert parse_record("appwrite=1.9.6") == ReleaseRecord(None, "1.9.6", None)
    with pytest.raises(InputError):
        make_record("v1 2", "1.9.6", None)


@given(st.from_regex(r"v(0|[1-9][0-9]{0,3})\.(0|[1-9][0-9]{0,3})\.(0|[1-9][0-9]{0,3})",
                     fullmatch=True),
       st.from_regex(r"[0-9a-f]{7,40}", fullmatch=True))
def test_record_round_trips_any_semver(tag: str, commit: str) -> None:
    record = make_record(tag, "1.9.6", commit)
    assert parse_record(record.format()) == record


# -- config patch and diff ----------------------------------------------------------------------

def test_full_patch_generates_secrets_and_records_the_release() -> None:
    config = dict(BASE)
    derivation = derive(config, hostname="my-app.herokuapp.com")
    generated = {key: "g" * 64 for key in derivation.missing_secrets}
    patch = full_patch(config, derivation, generated, {}, "tag=v1 appwrite=1.9.6")
    assert patch[OPENSSL_KEY] == "g" * 64
    assert patch[RELEASE_VAR] == "tag=v1 appwrite=1.9.6"
    assert patch["_APP_DOMAIN"] == "my-app.herokuapp.com"
    # applying the patch and planning again yields nothing: one PATCH converges
    applied = {**config, **{k: v for k, v in patch.items() if v is not None}}
    again = full_patch(applied, derive(applied, hostname="my-app.herokuapp.com"),
                       {}, {}, "tag=v1 appwrite=1.9.6")
    assert again == {}


@given(st.text(min_size=1, max_size=40).filter(lambda s: "\0" not in s))
def test_existing_openssl_key_is_never_touched(value: str) -> None:
    config = {**BASE, OPENSSL_KEY: "existing-key-0000"}
    derivation = derive(config, hostname="my-app.herokuapp.com")
    patch = full_patch(config, derivation, {OPENSSL_KEY: value}, {OPENSSL_KEY: value}, None)
    assert OPENSSL_KEY not in patch


def test_patch_has_no_noop_entries() -> None:
    config = {**BASE, "FOO": "bar"}
    derivation = derive(config, hostname="my-app.herokuapp.com")
    patch = full_patch(config, derivation, {}, {"FOO": "bar"}, None)
    assert "FOO" not in patch


def test_diff_masks_secrets_and_classifies() -> None:
    current = {"A": "1", "B_PASSWORD": "old-secret-1", "GONE": "x"}
    patch = {"A": "2", "B_PASSWORD": "new-secret-2", "GONE": None, "NEW": "n",
             "_APP_DB_PASS": "derived-secret"}
    changes = {c.key: c for c in diff(current, patch, {"_APP_DB_PASS"})}
    assert changes["A"].kind == "change" and not changes["A"].secret
    assert changes["GONE"].kind == "remove"
    assert changes["NEW"].kind == "add"
    assert changes["B_PASSWORD"].secret and changes["_APP_DB_PASS"].secret
    text = "\n".join(render(Plan(app="a", config_changes=list(changes.values()),
                                 images={"web": "x"})))
    for secret in ("old-secret-1", "new-secret-2", "derived-secret"):
        assert secret not in text
    assert "~ A: 1 -> 2" in text and "- GONE" in text and "+ NEW=n" in text
    assert "~ B_PASSWORD: **** -> ****" in text and "+ _APP_DB_PASS=****" in text
    assert "formation: one docker-releases PATCH for web" in text


def test_render_noop_and_long_values() -> None:
    assert render(Plan(app="a", noop="v1 running"))[-1] == "  nothing to do: v1 running"
    line = render(Plan(app="a", config_changes=diff({}, {"M": "x" * 500})))[2]
    assert len(line) < 120 and "(500 chars)" in line


# -- preflight judgements -----------------------------------------------------------------------

def test_missing_addons() -> None:
    assert missing_addons(BASE) == []
    assert missing_addons({"HEROKU_REDIS_MAROON_URL": "x", "DATABASE_URL": "y"}) == []
    missing = missing_addons({})
    # The plans the Deploy button attaches (the default profile), not ones that cannot fit.
    assert DEFAULT_PROFILE.redis_plan in missing[0] and DEFAULT_PROFILE.db_plan in missing[1]


def test_small_dynos_come_from_the_memory_model() -> None:
    formation = [{"type": "web", "size": "Basic", "quantity": 1},
                 {"type": "worker", "size": "Basic", "quantity": 1},
                 {"type": "release", "size": "basic", "quantity": 0}]
    # Both dynos' processes fit 512 MB at the smallest sizing, the queues on demand; every
    # queue always on does not.
    assert small_dynos(formation) == []
    always = {"APPWRITE_LITE_QUEUE_MODE": "always-on"}
    (worker,) = small_dynos(formation, always)
    # No basic size holds it, and a basic web dyno beside a standard-2x worker is a formation
    # Heroku refuses: every process type moves, in one command, at its price.
    assert worker.startswith("worker (basic: needs ")
    assert worker.endswith("no basic size holds it: move every process type to "
                           "web=standard-1x,worker=standard-2x ($75/month in dynos; "
                           "`heroku ps:type web=standard-1x worker=standard-2x`))")
    production = [{**item, "size": "Standard-1X"} for item in formation]
    (worker,) = small_dynos(production, always)  # within its tier: the one size to change
    assert worker.endswith("standard-1x: needs 869 MiB, 460 usable; use standard-2x)")
    fewer = {"APPWRITE_LITE_SKIP": ",".join(MINIMAL_SKIP), **always}
    assert small_dynos(formation, fewer) == []
    # One dyno for everything: the minimal set still needs more than 512 MB.
    (all_in_one,) = small_dynos(formation[:1], {**fewer, "APPWRITE_LITE_ALL_IN_WEB": "true"})
    assert all_in_one.startswith("all (basic")


def test_an_empty_secret_shows_as_empty_not_masked() -> None:
    # Behind the bridge Appwrite is told no Redis password: `****` would suggest one.
    changes = diff({}, {"_APP_REDIS_PASS": "", "_APP_DB_PASS": "s3cret-value"},
                   {"_APP_REDIS_PASS", "_APP_DB_PASS"})
    text = "\n".join(render(Plan(app="a", config_changes=changes)))
    assert "+ _APP_REDIS_PASS=''" in text and "+ _APP_DB_PASS=****" in text
