"""Appwrite's first boot on the databases Heroku's add-ons give, through Appwrite's own client.

tests/php/first_boot.php sends the statements Appwrite 1.9.6's database adapter sends to an
empty database (schema check, create, metadata and console tables named `database`.`table`)
through PHP's PDO opened as Appwrite opens it, with APP_DATABASE taken from the real
constants.php, patched or not. The settings come from the add-on URL through the settings
engine, as on a dyno. Then the launcher's own checks look where Appwrite put its tables.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pymysql
import pytest

from appwrite_heroku.config.settings import derive
from appwrite_heroku.dyno import database
from services import APPWRITE_EXTENSIONS, MariaDBAccount, PostgresAccount, mariadb_root_sql
from shared_tree import patchable_tree, shared_file

ROOT = Path(__file__).resolve().parent.parent
PHP_DIR = Path(__file__).parent / "php"


@pytest.fixture(scope="module")
def constants(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Appwrite 1.9.6's constants.php as shipped and as the Lite image patches it."""
    pinned = shared_file("appwrite", "constants-1.9.6.php")
    code = tmp_path_factory.mktemp("appwrite") / "code"
    patchable_tree(code)
    subprocess.run([sys.executable, "-m", "appwrite_heroku", "patch-appwrite", str(code)],
                   check=True, capture_output=True)
    return {"shipped": pinned, "patched": code / "app" / "init" / "constants.php"}


def settings_for(name: str, url: str) -> dict[str, str]:
    """What the launcher tells Appwrite for this add-on config var."""
    derivation = derive({name: url, "_APP_OPENSSL_KEY_V1": "x" * 32})
    return {k: v for k, v in derivation.settings.items() if k.startswith("_APP_DB_")}


def first_boot(constants: Path, settings: dict[str, str], *, keep_going: bool = False
               ) -> tuple[int, dict[str, Any]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("_APP_")}
    env.update(settings)  # Appwrite reads its settings from the environment
    done = subprocess.run(
        ["php", str(PHP_DIR / "first_boot.php"), str(constants),
         *(["--keep-going"] if keep_going else [])],
        env=env, capture_output=True, text=True, timeout=120)
    assert done.stderr == "", done.stderr
    return done.returncode, json.loads(done.stdout)


def steps(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {step["step"]: step for step in report["steps"]}


# --- MariaDB as JawsDB hands it out -------------------------------------------------------------


def test_jawsdb_user_is_confined_to_its_database(jawsdb_account: MariaDBAccount) -> None:
    """The fixture is what the test claims: no other database, capped connections."""
    connect = lambda: pymysql.connect(  # noqa: E731
        host="127.0.0.1", port=jawsdb_account.server.port, user=jawsdb_account.user,
        password=jawsdb_account.password, database=jawsdb_account.database)
    held = [connect() for _ in range(jawsdb_account.max_connections)]
    try:
        with pytest.raises(pymysql.err.OperationalError) as refused:
            connect()
        assert refused.value.args[0] == 1226  # max_user_connections exceeded
        with held[0].cursor() as cursor, pytest.raises(pymysql.err.OperationalError) as denied:
            cursor.execute("CREATE DATABASE other")
        assert denied.value.args[0] == 1044
    finally:
        for connection in held:
            connection.close()


def test_shipped_appwrite_cannot_boot_on_jawsdb(jawsdb_account: MariaDBAccount,
                                                 constants: dict[str, Path]) -> None:
    settings = settings_for("JAWSDB_MARIA_URL", jawsdb_account.url)
    status, report = first_boot(constants["shipped"], settings)
    assert status == 1 and report["database"] == "appwrite"
    failed = report["steps"][-1]
    assert failed["step"] == "create database" and not failed["ok"]
    assert (f"Access denied for user '{jawsdb_account.user}'@'%' to database 'appwrite'"
            in failed["error"])


def test_patched_appwrite_boots_in_the_jawsdb_database(jawsdb_account: MariaDBAccount,
                                                       constants: dict[str, Path]) -> None:
    settings = settings_for("JAWSDB_MARIA_URL", jawsdb_account.url)
    assert settings["_APP_DB_ADAPTER"] == "mariadb"
    assert settings["_APP_DB_SCHEMA"] == jawsdb_account.database
    status, report = first_boot(constants["patched"], settings)
    assert status == 0, report
    assert report["database"] == jawsdb_account.database
    assert steps(report)["exists"]["result"] is True  # so no CREATE DATABASE is sent
    assert "create database" not in steps(report)
    # The launcher looks where Appwrite put its tables.
    target = database.DatabaseTarget.from_settings(settings)
    assert target.app_database == jawsdb_account.database
    connection = database.connect(target)
    try:
        assert database.appwrite_installed(connection, target)
        with connection.cursor() as cursor:
            cursor.execute("SELECT table_name FROM information_schema.tables "
                           "WHERE table_schema = %s", (jawsdb_account.database,))
            tables = sorted(row[0] for row in cursor.fetchall())
    finally:
        connection.close()
    assert tables == ["_console__metadata", "_console__metadata_perms", "_console_projects",
                      "_console_projects_perms"]


def test_installed_check_is_false_on_an_empty_jawsdb(jawsdb_account: MariaDBAccount) -> None:
    target = database.DatabaseTarget.from_settings(
        settings_for("JAWSDB_URL", jawsdb_account.url))
    connection = database.connect(target)
    try:
        assert not database.appwrite_installed(connection, target)
        assert database.read_marker(connection, target) is None
        database.write_marker(connection, target, "1.9.6")
        assert database.read_marker(connection, target) == "1.9.6"
        assert not database.appwrite_installed(connection, target)  # the marker is not Appwrite
    finally:
        connection.close()


def test_tables_of_another_database_do_not_count(jawsdb_account: MariaDBAccount) -> None:
    """The check asks about Appwrite's database only, not anything the server holds."""
    mariadb_root_sql(jawsdb_account.server, "CREATE DATABASE IF NOT EXISTS elsewhere;"
                     "CREATE TABLE IF NOT EXISTS elsewhere._console_projects (id INT)")
    mariadb_root_sql(jawsdb_account.server, f"GRANT SELECT ON elsewhere.* TO "
                     f"'{jawsdb_account.user}'@'%'")
    target = database.DatabaseTarget.from_settings(
        settings_for("JAWSDB_URL", jawsdb_account.url))
    connection = database.connect(target)
    try:
        assert not database.appwrite_installed(connection, target)
    finally:
        connection.close()


# --- Heroku Postgres ------------------------------------------------------------------------------


def available_extensions(account: PostgresAccount) -> set[str]:
    names = ",".join(f"'{name}'" for name in APPWRITE_EXTENSIONS)
    out = account.server.sql(f"SELECT name FROM pg_available_extensions WHERE name IN ({names})")
    return set(out.split())


def untrusted_extensions(account: PostgresAccount) -> set[str]:
    """The available ones only a superuser may create under stock rules (postgis, and pgvector
    where it is installed: neither marks its control file `trusted`)."""
    names = ",".join(f"'{name}'" for name in APPWRITE_EXTENSIONS)
    out = account.server.sql("SELECT DISTINCT name FROM pg_available_extension_versions "
                             f"WHERE name IN ({names}) AND NOT trusted")
    return set(out.split())


def test_database_url_reaches_the_owner_over_tls(heroku_postgres: PostgresAccount) -> None:
    settings = settings_for("DATABASE_URL", heroku_postgres.url)
    assert settings == {
        "_APP_DB_ADAPTER": "postgresql", "_APP_DB_HOST": "127.0.0.1",
        "_APP_DB_PORT": str(heroku_postgres.server.port),
        "_APP_DB_SCHEMA": heroku_postgres.database, "_APP_DB_USER": heroku_postgres.user,
        "_APP_DB_PASS": heroku_postgres.password,
    }
    target = database.DatabaseTarget.from_settings(settings)
    assert target.speaks_postgres and target.app_database == heroku_postgres.database
    assert database.probe(target) is None
    connection = database.connect(target)
    try:
        cursor = connection.cursor()
        cursor.execute("SELECT current_user, current_database(), ssl FROM pg_stat_ssl "
                       "WHERE pid = pg_backend_pid()")
        assert cursor.fetchone() == [heroku_postgres.user, heroku_postgres.database, True]
    finally:
        connection.close()


def test_wrong_password_is_a_short_reason_without_secrets(
        heroku_postgres: PostgresAccount) -> None:
    settings = settings_for("DATABASE_URL", heroku_postgres.url)
    target = database.DatabaseTarget.from_settings({**settings, "_APP_DB_PASS": "wrong-pw"})
    reason = database.probe(target)
    assert reason == "DatabaseError 28P01"  # SQLSTATE invalid_password, nothing more


def test_appwrite_first_boot_as_heroku_postgres_owner(heroku_postgres: PostgresAccount,
                                                      constants: dict[str, Path]) -> None:
    settings = settings_for("DATABASE_URL", heroku_postgres.url)
    status, report = first_boot(constants["patched"], settings, keep_going=True)
    assert report["database"] == heroku_postgres.database  # a schema inside the database
    outcome = steps(report)
    for step in ("connect", "create schema", "extension postgis", "extension pg_trgm",
                 "collation", "metadata table", "metadata permissions table",
                 "collection lookup", "console table", "console permissions table",
                 "collection document"):
        assert outcome[step]["ok"], (step, outcome[step])
    # vector ships separately (postgresql-15-pgvector, not in Debian bookworm): where it is
    # missing, that one statement fails, and Appwrite's first boot with it.
    missing = set(APPWRITE_EXTENSIONS) - available_extensions(heroku_postgres)
    for extension in APPWRITE_EXTENSIONS:
        step = outcome[f"extension {extension}"]
        assert step["ok"] is (extension not in missing), step
        if extension in missing:
            assert f'extension "{extension}"' in step["error"] or (
                f"{extension}.control" in step["error"]), step
    assert (status == 0) is (not missing)
    # The extensions land in public, where Heroku installs them since August 2023.
    installed = heroku_postgres.server.sql(
        "SELECT string_agg(extname || ':' || extnamespace::regnamespace, ' ' ORDER BY extname) "
        "FROM pg_extension WHERE extname <> 'plpgsql'", database=heroku_postgres.database)
    assert installed.split() == sorted(f"{name}:public" for name in
                                       set(APPWRITE_EXTENSIONS) - missing)
    target = database.DatabaseTarget.from_settings(settings)
    connection = database.connect(target)
    try:
        assert database.appwrite_installed(connection, target)
    finally:
        connection.close()


def test_stock_postgres_owner_may_create_only_trusted_extensions(
        postgres_owner: PostgresAccount, constants: dict[str, Path]) -> None:
    """Without Heroku's allow list, postgis needs a superuser; pg_trgm is marked trusted."""
    settings = settings_for("DATABASE_URL", postgres_owner.url)
    status, report = first_boot(constants["patched"], settings, keep_going=True)
    assert status == 1
    outcome = steps(report)
    assert outcome["create schema"]["ok"] and outcome["extension pg_trgm"]["ok"]
    postgis = outcome["extension postgis"]
    if "postgis" in available_extensions(postgres_owner):
        assert 'permission denied to create extension "postgis"' in postgis["error"]
    else:
        assert not postgis["ok"]


def test_shipped_appwrite_also_boots_on_postgres(heroku_postgres: PostgresAccount,
                                                 constants: dict[str, Path]) -> None:
    """On PostgreSQL the owner may CREATE SCHEMA "appwrite": the patch only changes the name."""
    settings = settings_for("DATABASE_URL", heroku_postgres.url)
    _, report = first_boot(constants["shipped"], settings, keep_going=True)
    assert report["database"] == "appwrite"
    assert steps(report)["create schema"]["ok"] and steps(report)["console table"]["ok"]


def test_release_marker_stays_out_of_appwrites_schema(heroku_postgres: PostgresAccount,
                                                      constants: dict[str, Path]) -> None:
    """The release phase runs before Appwrite's first boot. Had it created Appwrite's schema,
    the adapter would see the schema and skip the extensions and the collation."""
    settings = settings_for("DATABASE_URL", heroku_postgres.url)
    target = database.DatabaseTarget.from_settings(settings)
    connection = database.connect(target)
    try:
        assert not database.appwrite_installed(connection, target)
        assert database.read_marker(connection, target) is None
        database.write_marker(connection, target, "1.9.5")
        database.write_marker(connection, target, "1.9.6")
        assert database.read_marker(connection, target) == "1.9.6"
        assert not database.appwrite_installed(connection, target)
    finally:
        connection.close()
    schemas = heroku_postgres.server.sql(
        "SELECT schema_name FROM information_schema.schemata WHERE schema_name = "
        f"'{heroku_postgres.database}'", database=heroku_postgres.database)
    assert schemas == ""
    _, report = first_boot(constants["patched"], settings, keep_going=True)
    assert steps(report)["exists"]["result"] is False
    assert steps(report)["create schema"]["ok"] and steps(report)["collation"]["ok"]


def test_a_failed_first_boot_leaves_a_schema_that_hides_the_extensions(
        postgres_owner: PostgresAccount, constants: dict[str, Path]) -> None:
    """Appwrite retries create() (app/http.php:224-244), but the adapter returns early once
    the schema exists: the extensions and the collation are never tried again, and the
    tables then fail on the missing collation. The fix is to drop the empty schema."""
    settings = settings_for("DATABASE_URL", postgres_owner.url)
    status, report = first_boot(constants["patched"], settings)
    assert status == 1 and report["steps"][-1]["step"].startswith("extension ")
    status, report = first_boot(constants["patched"], settings)
    assert status == 1
    assert steps(report)["exists"]["result"] is True
    assert not any(step.startswith("extension ") for step in steps(report))
    failed = report["steps"][-1]
    assert failed["step"] == "metadata table"
    assert 'collation "utf8_ci_ai" for encoding "UTF8" does not exist' in failed["error"]
    # The documented fix: once the extensions are allowed, drop the empty schema (as the
    # owner, without CASCADE) and boot again.
    server = postgres_owner.server
    server.sql(f"ALTER ROLE {postgres_owner.user} SET session_preload_libraries = 'pgextwlist'")
    server.sql(f"ALTER ROLE {postgres_owner.user} SET extwlist.extensions = "
               f"'{','.join(APPWRITE_EXTENSIONS)}'")
    owner = database.DatabaseTarget.from_settings(settings)
    connection = database.connect(owner)
    try:
        connection.cursor().execute(f'DROP SCHEMA "{postgres_owner.database}"')
    finally:
        connection.close()
    status, report = first_boot(constants["patched"], settings, keep_going=True)
    missing = set(APPWRITE_EXTENSIONS) - available_extensions(postgres_owner)
    assert {step for step, outcome in steps(report).items() if not outcome["ok"]} == {
        f"extension {name}" for name in missing}


def test_extension_preflight_names_each_refusal_and_leaves_nothing(
        postgres_owner: PostgresAccount, heroku_postgres: PostgresAccount) -> None:
    """The release role tries the three extensions in a rolled-back transaction."""
    for account in (postgres_owner, heroku_postgres):
        target = database.DatabaseTarget.from_settings(
            settings_for("DATABASE_URL", account.url))
        missing = set(APPWRITE_EXTENSIONS) - available_extensions(account)
        connection = database.connect(target)
        try:
            problems = database.postgres_extension_problems(connection)
        finally:
            connection.close()
        refused = {problem.split(":", 1)[0] for problem in problems}
        if account is postgres_owner:  # stock rules: postgis (and vector) need a superuser
            assert "postgis" in untrusted_extensions(account) | missing
            assert refused == untrusted_extensions(account) | missing
            if "postgis" not in missing:
                assert ('postgis: permission denied to create extension "postgis"'
                        in problems)
        else:  # allow-listed like Heroku: only what the server lacks
            assert refused == missing
        left = account.server.sql("SELECT count(*) FROM pg_extension WHERE extname <> 'plpgsql'",
                                  database=account.database)
        assert left == "0"
