"""The team's reference tree `shared/` (docs/contributing.md): Heroku's published Platform
API schema and Appwrite 1.9.6's variable list and constants.php, which some tests check the
project against. It is not part of this repository; it sits beside the clone (`../shared`), or
wherever `APPWRITE_HEROKU_SHARED` points.

A test that needs a file from it asks `shared_file()`: without the tree the test is skipped,
saying which file and where it was looked for — except under CI (`CI` set), where a missing
tree is a failure, since CI must lay it out. A CI that cannot have a file says so by naming it
in `APPWRITE_HEROKU_SHARED_MISSING` (space-separated, relative to the tree): GitHub's CI lays
out the public files (Appwrite's constants.php at 1.9.6, Heroku's schema at its commit) but not
the team's own variable list, so the tests of that one file are skipped there, saying why.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def shared_root() -> Path:
    return Path(os.environ.get("APPWRITE_HEROKU_SHARED") or ROOT.parent / "shared")


def shared_path(*parts: str) -> Path:
    """Where a file of the shared tree is (whether it exists or not)."""
    return shared_root().joinpath(*parts)


def shared_file(*parts: str) -> Path:
    """A file of the shared tree; the calling test skips (CI: fails) when it is absent."""
    path = shared_path(*parts)
    if not path.is_file():
        why = (f"{path} is not on this machine: this test needs the team's reference tree "
               "../shared (or APPWRITE_HEROKU_SHARED=DIR); see docs/contributing.md")
        declared = "/".join(parts) in os.environ.get("APPWRITE_HEROKU_SHARED_MISSING", "").split()
        if os.environ.get("CI") and not declared:
            pytest.fail(f"{why}; CI must lay shared/ beside the clone")
        pytest.skip(why + ("; this CI declares it missing (APPWRITE_HEROKU_SHARED_MISSING)"
                           if declared else ""))
    return path


def patchable_tree(code: Path) -> Path:
    """An Appwrite code directory with what `patch-appwrite` touches: 1.9.6's own
    constants.php from the shared tree, and an app/http.php holding only the text the
    dispatcher patch expects (the project's patch data; Appwrite's file is not in shared/ and is
    not copied into the project: test_patches.py checks the patch on the real one). Returns the
    constants file."""
    import shutil

    from appwrite_heroku.dyno.patches import PATCHES

    constants = code / "app" / "init" / "constants.php"
    constants.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shared_file("appwrite", "constants-1.9.6.php"), constants)
    dispatch = next(p for p in PATCHES if p.path == "app/http.php")
    (code / "app" / "http.php").write_text(f"<?php\n{dispatch.expected}        }}\n")
    return constants
