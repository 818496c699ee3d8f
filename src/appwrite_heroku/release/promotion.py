"""Promotion: the rules that decide whether the images running on a staging app may run on a
production app, unchanged. Pure functions over what the engine read from both apps.

A promotion copies bytes, never rebuilds, so what it can refuse is decided here, before anything
is written (the engine reads, this judges, the engine writes):

- staging's newest release must have succeeded: a failed or unfinished one means staging does
  not run what its last deploy meant it to (exit 1, like the failed release it points at);
- staging must run an image for every process type (web, worker, release), each carrying the
  release record (the `appwrite-lite.release` label), all of one Appwrite version: a release
  image of another version would migrate production's data for code that is not the code
  that then runs (exit 2);
- production's data must be able to follow: Appwrite migrates up in the release phase and
  never down, so staging's Appwrite may not be older than production's (exit 2; --force leaves
  it to production's release phase, which refuses while its database is newer). A newer one is
  migrated by production's own release phase, which runs the release image copied from
  staging;
- the tag being promoted must name what staging runs (its commit) and must not be older than
  production's (exit 2 unless --force), as the tag guard rules for a deploy.

Production already running staging's images is a green no-op.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..config.heroku_types import PROCESS_TYPES, Release
from ..errors import InputError
from .tag_guard import (
    RELEASE_LABEL,
    GuardDecision,
    ReleaseRecord,
    appwrite_move,
    check_tag,
    semver_key,
)


@dataclass(frozen=True)
class Source:
    """What the staging app runs, as read from Heroku and its registry."""

    app: str
    newest: Release | None  # its newest release
    images: dict[str, str]  # process type -> image ID it runs
    records: dict[str, ReleaseRecord | None]  # process type -> the record its image carries

    @property
    def record(self) -> ReleaseRecord | None:
        """The web image's record (check_source makes every type agree with it)."""
        return self.records.get("web")


def staging_refusal(source: Source) -> str | None:
    """Staging's newest release did not succeed: the reason, else None (exit 1)."""
    newest = source.newest
    if newest is None:
        return f"staging app {source.app} has no release yet: deploy it first, then promote"
    status = newest.get("status")
    if status == "succeeded":
        return None
    what = "is still pending (a deploy is running)" if status == "pending" else (
        f"{status}" if status != "failed" else "failed")
    return (f"staging's newest release v{newest.get('version')} on {source.app} {what}: "
            "promote only what staging runs after a successful release — fix or wait for "
            "staging, then promote")


def check_source(source: Source) -> None:
    """Every process type present, labelled, and of one Appwrite version (InputError)."""
    missing = [kind for kind in PROCESS_TYPES if kind not in source.images]
    if missing:
        raise InputError(f"staging app {source.app} runs no {' and no '.join(missing)} image: "
                         "deploy it with `appwrite-heroku deploy` (which releases web, worker "
                         "and release), then promote")
    unlabelled = [kind for kind in PROCESS_TYPES
                  if not getattr(source.records.get(kind), "appwrite", None)]
    if unlabelled:
        raise InputError(f"staging's {', '.join(unlabelled)} image carries no {RELEASE_LABEL} "
                         "label with its Appwrite version (built before this version of "
                         "appwrite-heroku, or by hand): deploy staging again, then promote")
    versions = {kind: record.appwrite for kind, record in source.records.items()
                if record is not None and kind in PROCESS_TYPES}
    if len(set(versions.values())) > 1:
        shown = ", ".join(f"{kind} {version}" for kind, version in sorted(versions.items()))
        raise InputError(f"staging's images are of different Appwrite versions ({shown}): "
                         "production's release phase would migrate for one and run another; "
                         "deploy staging again so all three are one build, then promote")


def judge(source: Source, *, production_images: Mapping[str, str],
          production: ReleaseRecord | None, production_ok: bool, tag: str | None,
          commit: str | None, force: bool, pattern: str) -> GuardDecision:
    """No-op, or promote with warnings; InputError for what may not be promoted."""
    check_tag(tag, pattern)
    check_source(source)
    staged = source.record
    assert staged is not None and staged.appwrite is not None  # check_source
    running = {kind: image for kind, image in production_images.items() if kind in source.images}
    if (running.get("web") and all(source.images[kind] == image for kind, image in
                                   running.items()) and production_ok and not force):
        return GuardDecision("noop", f"production already runs {source.app}'s images "
                             f"({_describe(staged)})")
    warnings = [*_version_warnings(staged.appwrite, production, force),
                *_tag_warnings(staged, production, tag=tag, commit=commit, force=force)]
    return GuardDecision("deploy", f"{_describe(production) if production else 'unrecorded'}"
                         f" -> {source.app}'s {_describe(staged)}", tuple(warnings))


def _describe(record: ReleaseRecord) -> str:
    return (f"{record.tag or 'untagged'}, Appwrite {record.appwrite or '?'}"
            + (f", commit {record.commit[:12]}" if record.commit else ""))


def _version_warnings(staged: str, production: ReleaseRecord | None, force: bool
                      ) -> list[str]:
    """Appwrite never migrates down (tag_guard.appwrite_move); unrecorded: said so."""
    if production is None or production.appwrite is None:
        return ["production's Appwrite version is not recorded: its release phase decides "
                "whether to migrate (and refuses to go down)"]
    moved = appwrite_move(staged, production, force=force, whose="staging")
    return [line.replace("the release phase migrates the data", "production's release phase "
                         "migrates its data, with the release image copied from staging")
            for line in moved]


def _tag_warnings(staged: ReleaseRecord, production: ReleaseRecord | None, *, tag: str | None,
                  commit: str | None, force: bool) -> list[str]:
    """The tag names what staging runs, and is not older than production's."""
    warnings: list[str] = []
    if commit and staged.commit and not (commit.startswith(staged.commit)
                                         or staged.commit.startswith(commit)):
        if not force:
            raise InputError(f"staging runs commit {staged.commit[:12]}, not {commit[:12]} that "
                             f"{tag or 'this run'} names: deploy that commit to staging first "
                             "(or pass --force to promote what staging runs anyway)")
        warnings.append(f"promoting commit {staged.commit[:12]}, not {commit[:12]} (--force)")
    running_tag = production.tag if production else None
    new_key, old_key = semver_key(tag or ""), semver_key(running_tag or "")
    if new_key is not None and old_key is not None and new_key < old_key:
        if not force:
            raise InputError(f"tag {tag} is older than production's {running_tag}: refusing to "
                             "go back; pass --force to promote it anyway")
        warnings.append(f"promoting {tag}, older than production's {running_tag} (--force)")
    return warnings
