"""PgBouncer as the launcher configures it, between Appwrite-shaped PDO clients and a
Heroku-shaped PostgreSQL (TLS only, an owner limited to the plan's 20 connections).

The load is the modelled worst case of a web and a worker dyno at the smallest settings: 34 PHP
processes, each keeping one connection (Appwrite's pools never shrink) and running transactions
the way utopia-php/database's Postgres adapter does.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from appwrite_heroku.config import wiring
from appwrite_heroku.dyno import pooler
from pdo import ServerWatch, run_pdo_clients
from services import PG_BIN, PostgresAccount, _stop, free_port, wait_for_port

PLAN_LIMIT = 20  # the fixture account's CONNECTION LIMIT, as essential-0 admits
WORST_CASE_CLIENTS = 34  # web + worker dyno at the floor settings (shared/facts/appwrite.md)
TRANSACTIONS = 5

pytestmark = [pytest.mark.services, pytest.mark.skipif(
    not Path(PG_BIN / "postgres").exists() or shutil.which("pgbouncer") is None,
    reason="needs PostgreSQL 15 and pgbouncer (.ci/run installs them)")]


def settings_for(account: PostgresAccount) -> dict[str, str]:
    return {"_APP_DB_ADAPTER": "postgresql", "_APP_DB_HOST": "127.0.0.1",
            "_APP_DB_PORT": str(account.server.port), "_APP_DB_SCHEMA": account.database,
            "_APP_DB_USER": account.user, "_APP_DB_PASS": account.password}


def watch(account: PostgresAccount) -> ServerWatch:
    return ServerWatch(account.superuser_psql(), account.user)


@pytest.fixture
def bouncer(heroku_postgres: PostgresAccount, tmp_path: Path) -> Iterator[pooler.PoolerConfig]:
    """PgBouncer from the pooler's own files, sized for a web + worker formation."""
    config = pooler.PoolerConfig(
        upstream=pooler.Upstream.from_settings(settings_for(heroku_postgres)),
        listen_port=free_port(), pool=wiring.server_pool_size(PLAN_LIMIT, 2, 5),
        directory=tmp_path / "pgbouncer", run_as=pooler.unprivileged_user(),
    )
    pooler.write_files(config)
    log = open(tmp_path / "pgbouncer.log", "ab")
    proc = subprocess.Popen(pooler.command("pgbouncer", config), stdout=log, stderr=log)
    try:
        wait_for_port(config.listen_port)
        yield config
    finally:
        _stop(proc)
        log.close()


def test_worst_case_is_served_and_the_server_sees_at_most_the_pool(
        heroku_postgres: PostgresAccount, bouncer: pooler.PoolerConfig) -> None:
    with watch(heroku_postgres) as seen:
        load = run_pdo_clients(host="127.0.0.1", port=bouncer.listen_port,
                               dbname=heroku_postgres.database, user=heroku_postgres.user,
                               password=heroku_postgres.password, clients=WORST_CASE_CLIENTS,
                               transactions=TRANSACTIONS, hold_ms=50, setup=True)
    assert load.refused == [] and load.errors == []
    assert load.connected == WORST_CASE_CLIENTS
    assert load.committed == WORST_CASE_CLIENTS * TRANSACTIONS
    rows = heroku_postgres.server.sql("SELECT count(*) FROM standin_docs",
                                      database=heroku_postgres.database)
    assert int(rows) == WORST_CASE_CLIENTS * TRANSACTIONS
    # 34 clients held their connections throughout; the server never saw more than the pool
    # (7 = the dyno's share of 20 with 5 kept free), and it did see the pool in use.
    assert 2 <= seen.peak <= bouncer.pool.max_db_connections == 7
    assert all(seen.tls)  # server_tls_sslmode=require: every server connection is TLS


def test_without_the_pooler_the_plan_refuses_past_its_limit(
        heroku_postgres: PostgresAccount) -> None:
    with watch(heroku_postgres) as seen:
        # One connection every 20 ms: the limit, not a burst of half-started backends, decides.
        load = run_pdo_clients(host="127.0.0.1", port=heroku_postgres.server.port,
                               dbname=heroku_postgres.database, user=heroku_postgres.user,
                               password=heroku_postgres.password, clients=WORST_CASE_CLIENTS,
                               transactions=1, hold_ms=0, stagger_ms=20, setup=True)
    assert load.connected == PLAN_LIMIT
    assert len(load.refused) == WORST_CASE_CLIENTS - PLAN_LIMIT
    for message in load.refused:
        assert "too many connections for role" in message
    assert seen.peak == PLAN_LIMIT
    # the words the troubleshooting guide tells users to look for
    guide = (Path(__file__).parent.parent / "docs" / "troubleshooting.md").read_text()
    assert 'too many connections for role "' in guide


def test_the_pooler_still_checks_appwrite_s_password(
        heroku_postgres: PostgresAccount, bouncer: pooler.PoolerConfig) -> None:
    load = run_pdo_clients(host="127.0.0.1", port=bouncer.listen_port,
                           dbname=heroku_postgres.database, user=heroku_postgres.user,
                           password="not-" + heroku_postgres.password, clients=1)
    assert load.connected == 0
    assert "authentication failed" in load.refused[0]


def test_a_session_level_set_outlives_its_client_as_the_pooler_docs_warn(
        heroku_postgres: PostgresAccount, tmp_path: Path) -> None:
    """The caveat in pooler.py and the troubleshooting guide, shown: Appwrite's adapter sets
    statement_timeout with a session-level SET outside transactions; through transaction
    pooling another client's statement can run under it."""
    config = pooler.PoolerConfig(
        upstream=pooler.Upstream.from_settings(settings_for(heroku_postgres)),
        listen_port=free_port(), pool=wiring.pool_of(1), directory=tmp_path / "pgbouncer",
        run_as=pooler.unprivileged_user())
    pooler.write_files(config)
    proc = subprocess.Popen(pooler.command("pgbouncer", config), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        wait_for_port(config.listen_port)

        def psql(sql: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                ["psql", "-X", "-At", "-h", "127.0.0.1", "-p", str(config.listen_port),
                 "-U", heroku_postgres.user, "-d", heroku_postgres.database, "-c", sql],
                env={"PGPASSWORD": heroku_postgres.password, "PATH": "/usr/bin:/bin"},
                capture_output=True, text=True, timeout=30)

        assert psql("SELECT pg_sleep(0.3)").returncode == 0  # no timeout of its own
        assert psql("SET statement_timeout = '100ms'").returncode == 0  # one client, gone
        stray = psql("SELECT pg_sleep(0.3)")  # another client, the same server connection
        assert "canceling statement due to statement timeout" in stray.stderr
        guide = (Path(__file__).parent.parent / "docs" / "troubleshooting.md").read_text()
        assert "canceling statement due to statement timeout" in guide
    finally:
        _stop(proc)
