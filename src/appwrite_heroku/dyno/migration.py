"""The release role: run Appwrite's `migrate` task exactly when the release upgrades Appwrite.

How the previous version is known: after every successful release the launcher stores the
Appwrite version it released in one row of the table `appwrite_heroku_release`, in Appwrite's own
database. The next release compares that with the image's version:

- no row and no Appwrite tables: a first deploy; Appwrite creates its schema at first boot, so
  nothing to migrate (the row is written);
- no row but Appwrite tables exist: installed before this marker existed; migrate to be safe;
- same version: nothing to do (config changes and restarts release too);
- older version: `migrate`, and the row is updated only if it succeeded;
- newer version: a downgrade, which Appwrite cannot do: the release fails.

Versions are ordered by the one rule (`config.versions`): `1.9.6-rc1` comes before `1.9.6`, so
moving from a release candidate to its release migrates; a version that is no version (`latest`)
is one line naming where it came from, never a bare ValueError.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..config import versions

FIRST_DEPLOY = "first-deploy"
UP_TO_DATE = "up-to-date"
MIGRATE = "migrate"
REFUSE = "refuse"


@dataclass(frozen=True)
class Decision:
    action: str
    reason: str


CURRENT = ("APPWRITE_LITE_APPWRITE_VERSION", "build the image from Dockerfile.lite with "
           "APPWRITE_VERSION set to a release such as 1.9.6")
PREVIOUS = ("the version recorded in appwrite_heroku_release", "delete that table's row to "
            "record the next release afresh")


def decide(previous: str | None, current: str, appwrite_installed: bool) -> Decision:
    """What the release role does; ``InputError`` when either version is no version."""
    now = versions.version(current, *CURRENT)
    if previous is None:
        if appwrite_installed:
            return Decision(MIGRATE, f"Appwrite tables exist but no release marker: migrating "
                                     f"to {current} to be safe")
        return Decision(FIRST_DEPLOY, f"first deploy of Appwrite {current}: Appwrite creates its "
                                      "schema at first boot, nothing to migrate")
    before = versions.version(previous, *PREVIOUS)
    if before == now:
        return Decision(UP_TO_DATE, f"Appwrite {current} already released: nothing to migrate")
    if before < now:
        return Decision(MIGRATE, f"upgrading Appwrite {previous} → {current}: running migrate")
    return Decision(REFUSE, f"Appwrite {previous} was released before and this image has "
                            f"{current}: Appwrite cannot migrate down; deploy {previous} or "
                            "newer")
