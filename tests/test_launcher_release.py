"""The release role against a real MariaDB: migrate only when upgrading, marker kept there."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pymysql
import pytest

from helpers import CANARY_DB_PASSWORD, CANARY_REDIS_PASSWORD
from lite import CANARY_OPENSSL_KEY, dyno_env, make_root
from services import free_port


@pytest.fixture
def db(mariadb):
    connection = pymysql.connect(host="127.0.0.1", port=mariadb.port, user=mariadb.user,
                                 password=mariadb.password, database=mariadb.schema,
                                 autocommit=True)
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS appwrite_heroku_release, _console_projects")
    yield connection
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS appwrite_heroku_release, _console_projects")
    connection.close()


def marker(connection) -> str | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT appwrite_version FROM appwrite_heroku_release WHERE id = 1")
        row = cursor.fetchone()
    return row[0] if row else None


def release(tmp_path: Path, mariadb, redis, version: str, *, role: tuple[str, ...] = ("release",),
            **extra: str):
    env = dyno_env(make_root(tmp_path), database_url=mariadb.url, redis_url=redis.url,
                   bridge_port=free_port(), APPWRITE_LITE_APPWRITE_VERSION=version, **extra)
    done = subprocess.run([sys.executable, "-m", "appwrite_heroku", "launch", *role],
                          env=env, capture_output=True, text=True, timeout=60)
    migrations = tmp_path / "records" / "migrate.log"
    ran = migrations.read_text().count("migrate ran") if migrations.exists() else 0
    return done, ran


def test_first_deploy_migrates_nothing_and_records_the_version(tmp_path, mariadb, redis_plain,
                                                               db) -> None:
    done, ran = release(tmp_path, mariadb, redis_plain, "1.9.6")
    assert done.returncode == 0, done.stdout + done.stderr
    assert ran == 0
    assert "first deploy of Appwrite 1.9.6" in done.stdout
    assert marker(db) == "1.9.6"


def test_same_version_again_is_a_no_op(tmp_path, mariadb, redis_plain, db) -> None:
    release(tmp_path / "a", mariadb, redis_plain, "1.9.6")
    done, ran = release(tmp_path / "b", mariadb, redis_plain, "1.9.6")
    assert done.returncode == 0 and ran == 0
    assert "already released" in done.stdout


def test_upgrade_runs_migrate_then_records(tmp_path, mariadb, redis_plain, db) -> None:
    release(tmp_path / "a", mariadb, redis_plain, "1.9.5")
    done, ran = release(tmp_path / "b", mariadb, redis_plain, "1.9.6")
    assert done.returncode == 0, done.stdout + done.stderr
    assert ran == 1
    assert "upgrading Appwrite 1.9.5 → 1.9.6" in done.stdout
    assert "[migrate] migrate: done with status 0" in done.stdout
    assert marker(db) == "1.9.6"
    # The migrate task saw the derived settings, not the add-on URL.
    log = (tmp_path / "b" / "records" / "migrate.log").read_text()
    assert "_APP_DB_HOST=127.0.0.1" in log


def test_failed_migrate_fails_the_release_and_keeps_the_marker(tmp_path, mariadb, redis_plain,
                                                                db) -> None:
    release(tmp_path / "a", mariadb, redis_plain, "1.9.5")
    done, ran = release(tmp_path / "b", mariadb, redis_plain, "1.9.6",
                        STANDIN_MIGRATE_STATUS="4")
    assert done.returncode == 1 and ran == 1
    assert "migrate failed with status 4" in done.stdout
    assert marker(db) == "1.9.5"


def test_downgrade_is_refused(tmp_path, mariadb, redis_plain, db) -> None:
    release(tmp_path / "a", mariadb, redis_plain, "1.9.6")
    done, ran = release(tmp_path / "b", mariadb, redis_plain, "1.9.5")
    assert done.returncode == 1 and ran == 0
    assert "cannot migrate down" in done.stdout
    assert marker(db) == "1.9.6"


def test_existing_install_without_marker_migrates(tmp_path, mariadb, redis_plain, db) -> None:
    with db.cursor() as cursor:
        cursor.execute("CREATE TABLE _console_projects (id INT)")
    done, ran = release(tmp_path, mariadb, redis_plain, "1.9.6")
    assert done.returncode == 0 and ran == 1
    assert "no release marker" in done.stdout


def test_unreachable_database_bounded_retries_then_one_line(tmp_path, mariadb,
                                                            redis_plain) -> None:
    url = mariadb.url.replace(str(mariadb.port), str(free_port()))
    done, ran = release(tmp_path, mariadb, redis_plain, "1.9.6", JAWSDB_URL=url,
                        APPWRITE_LITE_DB_ATTEMPTS="3", APPWRITE_LITE_DB_DELAY="0.1")
    assert done.returncode == 1 and ran == 0
    assert done.stdout.count("database: attempt") == 3
    assert done.stderr.strip().count("\n") == 0
    assert "database not ready after 3 attempts" in done.stderr
    assert "Traceback" not in done.stderr
    assert CANARY_DB_PASSWORD not in done.stdout + done.stderr


PLACEHOLDER = "mysql://username:password@hostname:3306/database"


def test_jawsdb_placeholder_waits_then_says_so(tmp_path, mariadb, redis_plain) -> None:
    done, _ = release(tmp_path, mariadb, redis_plain, "1.9.6", JAWSDB_URL=PLACEHOLDER,
                      APPWRITE_LITE_DB_ATTEMPTS="2", APPWRITE_LITE_DB_DELAY="0.1")
    assert done.returncode == 1
    assert "JAWSDB_URL still holds the add-on's placeholder" in done.stdout
    assert "Heroku restarts the dyno when the add-on is ready" in done.stderr


def test_missing_openssl_key_is_one_line_exit_2(tmp_path, mariadb, redis_password) -> None:
    done, _ = release(tmp_path, mariadb, redis_password, "1.9.6", _APP_OPENSSL_KEY_V1="")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "_APP_OPENSSL_KEY_V1 missing" in done.stderr
    assert "never generated on a dyno" in done.stderr
    for secret in (CANARY_DB_PASSWORD, CANARY_REDIS_PASSWORD, CANARY_OPENSSL_KEY):
        assert secret not in done.stdout + done.stderr


def test_greeting_probe_against_real_servers(mariadb, redis_plain) -> None:
    """The long-lived roles check the server's greeting without logging in."""
    from appwrite_heroku.dyno.database import greeting

    assert greeting("127.0.0.1", mariadb.port) is None
    assert greeting("127.0.0.1", free_port()) == "ConnectionRefusedError"
    # Redis does not greet first: not mistaken for a database.
    assert greeting("127.0.0.1", redis_plain.port, timeout=0.5) == "TimeoutError"


def test_registry_release_image_finds_its_role_in_dyno(tmp_path, mariadb, redis_plain,
                                                       db) -> None:
    # Images pushed through the registry run their CMD (`launch`, no role) in every process
    # type, the release phase included: the role comes from Heroku's DYNO.
    done, ran = release(tmp_path, mariadb, redis_plain, "1.9.6", role=(), DYNO="release.7")
    assert done.returncode == 0, done.stdout + done.stderr
    assert ran == 0 and "first deploy of Appwrite 1.9.6" in done.stdout
    assert marker(db) == "1.9.6"


def test_no_role_and_no_dyno_role_is_one_line_exit_2(tmp_path, mariadb, redis_plain) -> None:
    done, ran = release(tmp_path, mariadb, redis_plain, "1.9.6", role=(), DYNO="run.4321")
    assert done.returncode == 2 and ran == 0
    assert done.stderr.count("\n") == 1 and "DYNO='run.4321'" in done.stderr
    assert "Traceback" not in done.stderr
