"""Pure decisions of the launcher: the release role's migrate rule, the child environment."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from appwrite_heroku.config import budget
from appwrite_heroku.dyno.launcher import (
    APPWRITE_STORAGE_1_9_6,
    appwrite_storage,
    bridge_choice,
    check_storage,
    child_environment,
)
from appwrite_heroku.dyno.migration import (
    FIRST_DEPLOY,
    MIGRATE,
    REFUSE,
    UP_TO_DATE,
    decide,
)
from appwrite_heroku.errors import InputError


@pytest.mark.parametrize(("previous", "current", "installed", "action"), [
    (None, "1.9.6", False, FIRST_DEPLOY),
    (None, "1.9.6", True, MIGRATE),
    ("1.9.6", "1.9.6", True, UP_TO_DATE),
    ("1.9.5", "1.9.6", True, MIGRATE),
    ("1.8.1", "1.9.6", True, MIGRATE),
    ("1.9.10", "1.9.6", True, REFUSE),  # numeric, not string, order
    ("2.0.0", "1.9.6", True, REFUSE),
    ("1.9.6-rc1", "1.9.6", True, MIGRATE),  # a release candidate comes before its release
    ("1.9.6", "1.9.6-rc1", True, REFUSE),
])
def test_decide(previous: str | None, current: str, installed: bool, action: str) -> None:
    assert decide(previous, current, installed).action == action


@pytest.mark.parametrize(("previous", "current", "named"), [
    ("1.9.6", "latest", "APPWRITE_LITE_APPWRITE_VERSION"),
    ("garbled", "1.9.6", "appwrite_heroku_release"),
])
def test_decide_names_a_version_that_is_none(previous: str, current: str, named: str) -> None:
    with pytest.raises(InputError, match=named):
        decide(previous, current, True)


def test_child_environment_drops_addon_urls_and_keeps_settings() -> None:
    env = child_environment(
        {"PATH": "/bin", "JAWSDB_URL": "mysql://u:p@h/s", "REDIS_URL": "rediss://x",
         "HEROKU_API_KEY": "k", "APPWRITE_REDIS_BRIDGE_UPSTREAM": "rediss://x",
         "_APP_DOMAIN": "hand.example"},
        {"_APP_DB_PASS": "p", "_APP_DOMAIN": "derived.example"},
    )
    assert env == {"PATH": "/bin", "_APP_DB_PASS": "p", "_APP_DOMAIN": "derived.example"}


def test_storage_check_creates_and_reports(tmp_path: Path) -> None:
    assert check_storage(APPWRITE_STORAGE_1_9_6, tmp_path / "storage") == []
    assert (tmp_path / "storage" / "uploads").is_dir()
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where a directory should be")
    assert len(check_storage(APPWRITE_STORAGE_1_9_6, blocked)) == len(APPWRITE_STORAGE_1_9_6)


MIRROR = Path("/work/.mirror/appwrite+appwrite/repo")


@pytest.mark.slow
def test_storage_is_where_appwrite_writes(tmp_path: Path) -> None:
    """The check reads Appwrite's own constants; 1.9.6's list when the file is absent."""
    assert appwrite_storage(tmp_path) == APPWRITE_STORAGE_1_9_6
    constants = tmp_path / "app" / "init" / "constants.php"
    constants.parent.mkdir(parents=True)
    constants.write_text("<?php\nconst APP_STORAGE_UPLOADS = '/storage/uploads';\n"
                         "const APP_STORAGE_NEW = '/storage/new-in-2x';\nconst APP_X = 1;\n")
    assert appwrite_storage(tmp_path) == ("/storage/uploads", "/storage/new-in-2x")
    if MIRROR.is_dir():
        source = subprocess.run(["git", "--git-dir", str(MIRROR), "show",
                                 "1.9.6:app/init/constants.php"], capture_output=True,
                                text=True, check=True).stdout
        constants.write_text(source)
        assert appwrite_storage(tmp_path) == APPWRITE_STORAGE_1_9_6


@pytest.mark.parametrize(("environ", "expected"), [
    ({}, ("multiplex", 11)),  # the launcher's mode, at the budget's ceiling
    ({"APPWRITE_REDIS_BRIDGE_MODE": ""}, ("multiplex", 11)),
    ({"APPWRITE_REDIS_BRIDGE_MAX_UPSTREAM": "15"}, ("multiplex", 15)),  # the user's ceiling
    ({"APPWRITE_REDIS_BRIDGE_MODE": "plain"}, ("plain", None)),
    ({"APPWRITE_REDIS_BRIDGE_MODE": "plain", "APPWRITE_REDIS_BRIDGE_MAX_UPSTREAM": "15"},
     ("plain", None)),
])
def test_bridge_choice_multiplexes_at_the_budgets_ceiling_unless_the_user_chose(
        environ: dict[str, str], expected: tuple[str, int | None]) -> None:
    assert bridge_choice(environ, 11) == expected
    assert budget.CURRENT_MODE == "multiplex"


def test_bridge_choice_names_a_bad_value() -> None:
    with pytest.raises(InputError, match="APPWRITE_REDIS_BRIDGE_MODE"):
        bridge_choice({"APPWRITE_REDIS_BRIDGE_MODE": "mux"}, 11)
