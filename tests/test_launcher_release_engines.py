"""The release role end to end on both add-on engines: JawsDB Maria (one generated-name
database) and Heroku Postgres (owner of one database, TLS only), each reached through the
add-on's own config var. Appwrite's tables, where a test needs them, are made by Appwrite's
first-boot statements through PHP (tests/php/first_boot.php), not by hand."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pymysql
import pytest

from helpers import CANARY_DB_PASSWORD
from lite import dyno_env, make_root
from services import MariaDBAccount, PostgresAccount, free_port
from shared_tree import patchable_tree

ROOT = Path(__file__).resolve().parent.parent
PHP_DIR = Path(__file__).parent / "php"


@dataclass
class Addon:
    var: str  # the config var the add-on sets
    url: str
    marker: Callable[[], str | None]  # the recorded version, read with plain SQL
    settings: dict[str, str]  # Appwrite's _APP_DB_* for a PHP first boot


def _mysql_marker(account: MariaDBAccount) -> str | None:
    connection = pymysql.connect(host="127.0.0.1", port=account.server.port, user=account.user,
                                 password=account.password, database=account.database)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT appwrite_version FROM appwrite_heroku_release WHERE id = 1")
            row = cursor.fetchone()
    except pymysql.err.ProgrammingError:
        return None
    finally:
        connection.close()
    return row[0] if row else None


def _postgres_marker(account: PostgresAccount) -> str | None:
    exists = account.server.sql("SELECT to_regclass('public.appwrite_heroku_release')",
                                database=account.database)
    if not exists:
        return None
    value = account.server.sql("SELECT appwrite_version FROM public.appwrite_heroku_release "
                               "WHERE id = 1", database=account.database)
    return value or None


@pytest.fixture(params=["jawsdb-maria", "heroku-postgres"])
def addon(request: pytest.FixtureRequest) -> Addon:
    if request.param == "jawsdb-maria":
        account: MariaDBAccount = request.getfixturevalue("jawsdb_account")
        return Addon("JAWSDB_MARIA_URL", account.url, lambda: _mysql_marker(account), {
            "_APP_DB_ADAPTER": "mariadb", "_APP_DB_HOST": "127.0.0.1",
            "_APP_DB_PORT": str(account.server.port), "_APP_DB_USER": account.user,
            "_APP_DB_PASS": account.password, "_APP_DB_SCHEMA": account.database})
    pg: PostgresAccount = request.getfixturevalue("heroku_postgres")
    return Addon("DATABASE_URL", pg.url, lambda: _postgres_marker(pg), {
        "_APP_DB_ADAPTER": "postgresql", "_APP_DB_HOST": "127.0.0.1",
        "_APP_DB_PORT": str(pg.server.port), "_APP_DB_USER": pg.user,
        "_APP_DB_PASS": pg.password, "_APP_DB_SCHEMA": pg.database})


def release(tmp_path: Path, addon: Addon, redis_url: str, version: str, **extra: str
            ) -> tuple[subprocess.CompletedProcess[str], int]:
    env = dyno_env(make_root(tmp_path), database_url="", redis_url=redis_url,
                   bridge_port=free_port(), APPWRITE_LITE_APPWRITE_VERSION=version,
                   **{addon.var: addon.url}, **extra)
    done = subprocess.run([sys.executable, "-m", "appwrite_heroku", "launch", "release"],
                          env=env, capture_output=True, text=True, timeout=60)
    migrations = tmp_path / "records" / "migrate.log"
    ran = migrations.read_text().count("migrate ran") if migrations.exists() else 0
    assert CANARY_DB_PASSWORD not in done.stdout + done.stderr
    return done, ran


def test_first_deploy_records_the_version(tmp_path, addon, redis_plain) -> None:
    done, ran = release(tmp_path, addon, redis_plain.url, "1.9.6")
    assert done.returncode == 0, done.stdout + done.stderr
    assert ran == 0 and "first deploy of Appwrite 1.9.6" in done.stdout
    assert "keeps no release marker" not in done.stdout
    assert addon.marker() == "1.9.6"


def test_same_version_again_is_a_no_op(tmp_path, addon, redis_plain) -> None:
    release(tmp_path / "a", addon, redis_plain.url, "1.9.6")
    done, ran = release(tmp_path / "b", addon, redis_plain.url, "1.9.6")
    assert done.returncode == 0 and ran == 0, done.stdout + done.stderr
    assert "Appwrite 1.9.6 already released" in done.stdout
    assert addon.marker() == "1.9.6"


def test_upgrade_runs_migrate_then_records(tmp_path, addon, redis_plain) -> None:
    release(tmp_path / "a", addon, redis_plain.url, "1.9.5")
    assert addon.marker() == "1.9.5"
    done, ran = release(tmp_path / "b", addon, redis_plain.url, "1.9.6")
    assert done.returncode == 0, done.stdout + done.stderr
    assert ran == 1 and "upgrading Appwrite 1.9.5 → 1.9.6" in done.stdout
    assert addon.marker() == "1.9.6"
    log = (tmp_path / "b" / "records" / "migrate.log").read_text()
    assert "_APP_DB_HOST=127.0.0.1" in log  # the derived settings, not the add-on URL


def test_failed_migrate_keeps_the_old_marker(tmp_path, addon, redis_plain) -> None:
    release(tmp_path / "a", addon, redis_plain.url, "1.9.5")
    done, ran = release(tmp_path / "b", addon, redis_plain.url, "1.9.6",
                        STANDIN_MIGRATE_STATUS="3")
    assert done.returncode == 1 and ran == 1
    assert addon.marker() == "1.9.5"


def test_appwrite_booted_before_any_marker_is_migrated(tmp_path, addon, redis_plain) -> None:
    """Appwrite's own first boot (patched image, real PHP) made its tables; the release role
    finds them where they are and migrates to be safe."""
    code = tmp_path / "code"
    patchable_tree(code)
    subprocess.run([sys.executable, "-m", "appwrite_heroku", "patch-appwrite", str(code)],
                   check=True, capture_output=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("_APP_")}
    boot = subprocess.run(["php", str(PHP_DIR / "first_boot.php"),
                           str(code / "app" / "init" / "constants.php"), "--keep-going"],
                          env={**env, **addon.settings}, capture_output=True, text=True,
                          timeout=120)
    assert '"step":"console table","ok":true' in boot.stdout, boot.stdout + boot.stderr
    done, ran = release(tmp_path / "release", addon, redis_plain.url, "1.9.6")
    assert done.returncode == 0, done.stdout + done.stderr
    assert ran == 1 and "Appwrite tables exist but no release marker" in done.stdout
    assert addon.marker() == "1.9.6"


@pytest.mark.slow
def test_drivers_stay_out_of_the_long_lived_roles() -> None:
    """The web and worker roles never log in: neither driver is imported by the launcher."""
    code = ("import sys, appwrite_heroku.cli, appwrite_heroku.dyno.launcher, "
            "appwrite_heroku.dyno.database, appwrite_heroku.config.settings; "
            "print(sorted({'pg8000', 'pymysql'} & set(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "[]"


def test_first_deploy_on_postgres_warns_about_refused_extensions(tmp_path, postgres_owner,
                                                                 redis_plain) -> None:
    """Stock PostgreSQL rules refuse postgis to a database owner: the release log says so
    before Appwrite's first boot fails on it."""
    addon = Addon("DATABASE_URL", postgres_owner.url, lambda: _postgres_marker(postgres_owner),
                  {})
    done, _ = release(tmp_path, addon, redis_plain.url, "1.9.6")
    assert done.returncode == 0, done.stdout + done.stderr
    assert ("release: warning: Appwrite's first boot will fail: it cannot create the "
            'extension postgis: permission denied to create extension "postgis"') in done.stdout
    assert addon.marker() == "1.9.6"
