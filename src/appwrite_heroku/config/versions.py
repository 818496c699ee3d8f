"""Versions: how two are ordered, and which Appwrite versions this project has modelled.

One rule for every place that compares or accepts a version: the `--appwrite-version` and
Action input check (only a modelled version), the tag guard (release tags in semver order) and
the release role's migration decision (the released Appwrite version against the image's).
Order is semver precedence (semver.org, item 11): numbers compare as numbers, a pre-release
(`1.9.6-rc1`) comes before its release, build metadata (`+…`) does not count. Pure functions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

from ..display import quoted
from ..errors import InputError

_SEMVER = re.compile(
    r"v?(?P<major>0|[1-9][0-9]*)\.(?P<minor>0|[1-9][0-9]*)\.(?P<patch>0|[1-9][0-9]*)"
    r"(?:-(?P<pre>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z.-]+)?",
    re.ASCII,  # [0-9] only: int() would read "٣" as 3
)
_LONGEST = 128  # an image tag's limit; nothing longer is a version
_DATA = re.compile(r"appwrite-variables-(?P<version>.+)\.json")

# A pre-release identifier's sort key: numeric ones first, by value, then the others by text.
PreKey = tuple[tuple[int, int | str], ...]
_RELEASE: PreKey = ((2, 0),)  # a release sorts after every pre-release of its number


@dataclass(frozen=True, order=True)
class Version:
    """A semver version as a sort key (compare two with `<`, `==`)."""

    major: int
    minor: int
    patch: int
    pre: PreKey = _RELEASE


def parse(text: str) -> Version | None:
    """`1.9.6`, `v1.2.3-rc.1`, `1.0.0+build` → a Version; anything else → None."""
    match = _SEMVER.fullmatch(text) if len(text) <= _LONGEST else None
    if match is None:
        return None
    pre = match.group("pre")
    key = _RELEASE if pre is None else tuple(
        (0, int(part)) if part.isdigit() else (1, part) for part in pre.split("."))
    return Version(int(match.group("major")), int(match.group("minor")),
                   int(match.group("patch")), key)


def version(text: str, label: str, fix: str = "") -> Version:
    """A version that must be one (`label` names where it came from, `fix` what to do), else
    one line."""
    found = parse(text)
    if found is None:
        raise InputError(f"{label} {quoted(text)} is not a version like 1.9.6"
                         + (f"; {fix}" if fix else ""))
    return found


@cache
def modelled() -> tuple[str, ...]:
    """The Appwrite versions this project has read and modelled: those whose variable list is
    packaged (config/data/appwrite-variables-<version>.json), in version order."""
    names = (entry.name for entry in
             resources.files("appwrite_heroku.config").joinpath("data").iterdir())
    found = [match.group("version") for name in names if (match := _DATA.fullmatch(name))]
    return tuple(sorted(found, key=lambda text: version(text, "a packaged variable list")))


def modelled_appwrite(text: str, label: str) -> str:
    """An Appwrite version the project has modelled, else one line naming those it has."""
    if text not in modelled():
        raise InputError(f"{label} {quoted(text)} is not an Appwrite version this tool has "
                         f"modelled (its settings, processes and patch are read from each "
                         f"version's sources): use {' or '.join(modelled())}")
    return text
