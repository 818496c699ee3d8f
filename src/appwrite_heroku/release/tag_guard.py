"""Which refs may be released, and the record of what is running.

What is deployed lives in the config var ``APPWRITE_LITE_RELEASE`` (``tag=v1.2.3
appwrite=1.9.6 commit=<sha>``), written in the same PATCH as the settings: docker-releases
PATCHes carry no description, and Heroku keeps config per release, so the record is rolled back
together with the release it describes. Pure functions only.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass

from ..config import versions
from ..errors import InputError

RELEASE_VAR = "APPWRITE_LITE_RELEASE"
_RECORD_VALUE = re.compile(r"^[^\s=]+$")


@dataclass(frozen=True)
class ReleaseRecord:
    tag: str | None
    appwrite: str | None
    commit: str | None

    def format(self) -> str:
        return " ".join(f"{name}={value}" for name, value in
                        (("tag", self.tag), ("appwrite", self.appwrite), ("commit", self.commit))
                        if value)


def parse_record(text: str | None) -> ReleaseRecord | None:
    """Reads a record back; unknown fields are ignored, a missing/garbled var is None."""
    if not text:
        return None
    fields: dict[str, str] = {}
    for part in text.split():
        name, sep, value = part.partition("=")
        if sep and value:
            fields[name] = value
    if not fields:
        return None
    return ReleaseRecord(fields.get("tag"), fields.get("appwrite"), fields.get("commit"))


def make_record(tag: str | None, appwrite: str, commit: str | None) -> ReleaseRecord:
    for name, value in (("tag", tag), ("appwrite version", appwrite), ("commit", commit)):
        if value is not None and not _RECORD_VALUE.match(value):
            raise InputError(f"the {name} {value!r} contains spaces or '=': use a plain ref name")
    return ReleaseRecord(tag, appwrite, commit)


def semver_key(tag: str) -> versions.Version | None:
    """A tag's sort key by the one version rule (`config.versions`: semver precedence,
    pre-releases before their release); None when the tag is no version."""
    return versions.parse(tag)


@dataclass(frozen=True)
class GuardDecision:
    action: str  # "deploy" | "noop"
    reason: str
    warnings: tuple[str, ...] = ()


def check_tag(tag: str | None, pattern: str) -> None:
    """Refuses a ref that does not match the release pattern (default ``v*``)."""
    if tag is None:
        return
    if not tag or not fnmatch.fnmatchcase(tag, pattern):
        raise InputError(f"tag {tag!r} does not match the release pattern {pattern!r}: push a "
                         f"tag like v1.2.3, or change the pattern (--tag-pattern)")


def decide(*, tag: str | None, appwrite: str, commit: str | None, running: ReleaseRecord | None,
           running_ok: bool, force: bool, pattern: str) -> GuardDecision:
    """Deploy, no-op, or refuse (``InputError``, exit 2) — before anything is built.

    ``running_ok``: the newest release succeeded, so the record describes what really runs
    (after a failed release the record may name a tag that never went live).
    """
    check_tag(tag, pattern)
    if running is None or tag is None:
        return GuardDecision("deploy", "nothing recorded as running" if running is None
                             else "no tag given: deploying the working tree")
    warnings: list[str] = []
    same_tag = running.tag == tag
    if (same_tag and running.appwrite == appwrite and running_ok
            and (commit is None or running.commit in (None, commit)) and not force):
        return GuardDecision("noop", f"{tag} with Appwrite {appwrite} is already running")
    new_key, old_key = semver_key(tag), semver_key(running.tag or "")
    if new_key is not None and old_key is not None:
        if new_key < old_key:
            if not force:
                raise InputError(
                    f"tag {tag} is older than the running {running.tag}: refusing to go back; "
                    "pass --force to release it anyway")
            warnings.append(f"releasing {tag}, older than the running {running.tag} (--force)")
    elif running.tag and not same_tag:
        warnings.append(f"cannot order {tag!r} against the running {running.tag!r} "
                        "(not semver): releasing anyway")
    if force and same_tag:
        return GuardDecision("deploy", f"{tag} again (--force)", tuple(warnings))
    return GuardDecision("deploy", f"{running.tag or 'untagged'} -> {tag}", tuple(warnings))
