"""Which refs may be released, and the record of what is running.

The record (``tag=v1.2.3 appwrite=1.9.6 commit=<sha>``) travels inside the image, as the label
``appwrite-lite.release`` that ``Dockerfile.lite`` sets from a build argument: reading it back
(through the image ID Heroku reports for the formation, then the registry's config blob) costs
no release, where writing a config var restarts every dyno. What runs is then described by the
image that runs, rolled back with it, and carried along when an image is promoted.

Apps deployed before the label existed have the record in the config var
``APPWRITE_LITE_RELEASE`` instead: it is read when the running image has no label (and is still
written for ``--build heroku``, whose builds take no per-deploy build argument). Pure functions.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass

from ..errors import InputError

RELEASE_VAR = "APPWRITE_LITE_RELEASE"  # the config var (apps deployed before the label)
RELEASE_LABEL = "appwrite-lite.release"  # the image label (Dockerfile.lite)
RELEASE_BUILD_ARG = "APPWRITE_LITE_RELEASE"  # the build argument that fills the label
_SEMVER = re.compile(
    r"^v?(?P<major>0|[1-9]\d*)\.(?P<minor>0|[1-9]\d*)\.(?P<patch>0|[1-9]\d*)"
    r"(?:-(?P<pre>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z.-]+)?$",
    re.ASCII,  # \d is any Unicode digit otherwise, and int() reads "٣" as 3
)
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


def running_record(label: str | None, config_var: str | None,
                   ) -> tuple[ReleaseRecord | None, str]:
    """What runs, and where that was read: the running image's label wins; an image without
    one (built before the label existed, or by Heroku from heroku.yml) falls back to the config
    var that earlier deploys wrote."""
    from_label = parse_record(label)
    if from_label is not None:
        return from_label, f"the image label {RELEASE_LABEL}"
    from_var = parse_record(config_var)
    if from_var is not None:
        return from_var, f"the config var {RELEASE_VAR}"
    return None, "nothing recorded"


def make_record(tag: str | None, appwrite: str, commit: str | None) -> ReleaseRecord:
    for name, value in (("tag", tag), ("appwrite version", appwrite), ("commit", commit)):
        if value is not None and not _RECORD_VALUE.match(value):
            raise InputError(f"the {name} {value!r} contains spaces or '=': use a plain ref name")
    return ReleaseRecord(tag, appwrite, commit)


def semver_key(tag: str) -> tuple[int, int, int, tuple[tuple[int, int | str], ...]] | None:
    """A sort key following semver precedence (pre-releases sort before their release)."""
    match = _SEMVER.match(tag)
    if not match:
        return None
    pre = match.group("pre")
    # A release (no pre-release) sorts after all its pre-releases: give it an infinite marker.
    pre_key: tuple[tuple[int, int | str], ...]
    if pre is None:
        pre_key = ((2, 0),)
    else:
        pre_key = tuple((0, int(p)) if p.isdigit() else (1, p) for p in pre.split("."))
    return (int(match.group("major")), int(match.group("minor")), int(match.group("patch")),
            pre_key)


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


def appwrite_move(new: str | None, running: ReleaseRecord | None, *, force: bool,
                  whose: str = "this release") -> list[str]:
    """The engine's side of the migration decision, from the recorded versions: Appwrite
    migrates up in the release phase and never down, so a release older than what runs is
    refused before anything is written (the data is migrated already). --force leaves it to
    the release phase, which reads the version from the database and refuses there."""
    old = running.appwrite if running else None
    if new is None or old is None or new == old:
        return []
    new_key, old_key = semver_key(new), semver_key(old)
    if new_key is None or old_key is None:
        return [f"cannot order Appwrite {new} against the running {old}: the release phase "
                "decides whether to migrate"]
    if new_key > old_key:
        return [f"Appwrite {old} -> {new}: the release phase migrates the data"]
    if not force:
        raise InputError(f"{whose} has Appwrite {new}, older than the running {old}: the data "
                         f"is already migrated to {old} and Appwrite cannot migrate down — "
                         f"release Appwrite {old} or newer (--force leaves it to the release "
                         "phase, which refuses while the database is newer)")
    return [f"releasing Appwrite {new}, older than the running {old} (--force): the release "
            "phase refuses if the database is newer"]
