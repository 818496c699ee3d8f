"""Shared fixtures: real services, started once per session where that is safe."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

sys.path.insert(0, str(Path(__file__).parent))

from php_clients import php_clients  # noqa: F401  (the fixture, for every test file)
from services import (
    MariaDB,
    MariaDBAccount,
    PostgresAccount,
    PostgreSQL,
    RedisServer,
    Registry,
    create_heroku_postgres_account,
    create_jawsdb_account,
    start_mariadb,
    start_postgresql,
    start_redis,
    start_registry,
)

# Property tests: CI runs a fixed, bounded set (derandomize = the same examples every run, no
# example database); `APPWRITE_HEROKU_FUZZ=large` runs a random, much larger set locally.
# Example counts per test are scaled by `fuzz_examples()` in test_properties.py.
_PROPERTY_CHECKS = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                    HealthCheck.data_too_large, HealthCheck.filter_too_much]
settings.register_profile("ci", derandomize=True, database=None, deadline=None,
                          suppress_health_check=_PROPERTY_CHECKS, print_blob=True)
settings.register_profile("large", derandomize=False, database=None, deadline=None,
                          suppress_health_check=_PROPERTY_CHECKS, print_blob=True)
settings.load_profile("large" if os.environ.get("APPWRITE_HEROKU_FUZZ") == "large" else "ci")

CANARY_REDIS_PASSWORD = "canary-redis-Pw-7f3a9c1e"
CANARY_DB_PASSWORD = "canary-db-Pw-5b2d8e4f"
CANARY_API_KEY = "canary-heroku-key-0c9e7a3b-1d2f-4a5b"


@pytest.fixture(scope="session")
def redis_plain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = start_redis(tmp_path_factory.mktemp("redis-plain"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_password(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = start_redis(tmp_path_factory.mktemp("redis-pw"), password=CANARY_REDIS_PASSWORD)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_tls_acl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """Like Heroku Key-Value Store: TLS with a self-signed certificate, a user and password."""
    server = start_redis(
        tmp_path_factory.mktemp("redis-tls"), tls=True, username="h",
        password=CANARY_REDIS_PASSWORD,
    )
    yield server
    server.stop()


@pytest.fixture(scope="session")
def mariadb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MariaDB]:
    server = start_mariadb(
        tmp_path_factory.mktemp("mariadb"), user="jaws_user", password=CANARY_DB_PASSWORD,
        schema="appwrite_db",
    )
    yield server
    server.stop()


@pytest.fixture
def jawsdb_account(mariadb: MariaDB) -> MariaDBAccount:
    """A fresh JawsDB-shaped account (one generated-name database, capped connections)."""
    return create_jawsdb_account(mariadb, password=CANARY_DB_PASSWORD)


@pytest.fixture(scope="session")
def postgresql() -> Iterator[PostgreSQL]:
    server = start_postgresql()
    yield server
    server.stop()


@pytest.fixture
def heroku_postgres(postgresql: PostgreSQL) -> PostgresAccount:
    """A fresh Heroku-Postgres-shaped account: owner of one database, nothing more, who may
    create the extensions Appwrite needs (Heroku's allow list)."""
    return create_heroku_postgres_account(postgresql, password=CANARY_DB_PASSWORD)


@pytest.fixture
def postgres_owner(postgresql: PostgreSQL) -> PostgresAccount:
    """The same owner under stock PostgreSQL rules: trusted extensions only."""
    return create_heroku_postgres_account(postgresql, password=CANARY_DB_PASSWORD,
                                          allow_listed=None)


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    server = start_registry(tmp_path_factory.mktemp("registry"), api_key=CANARY_API_KEY)
    yield server
    server.stop()


from standins.heroku import HerokuStandIn  # noqa: E402


@pytest.fixture
def heroku_standin(registry: Registry) -> Iterator[HerokuStandIn]:
    """A fresh Heroku API + router stand-in per test, checking images against `registry`."""
    with HerokuStandIn(api_key=CANARY_API_KEY, registry=registry) as standin:
        yield standin


# What Heroku Key-Value Store and JawsDB Maria put in config vars (hosts unreachable on purpose:
# the release side never connects to them; the dyno side's tests use the real services above).
ADDON_REDIS_URL = f"rediss://:{CANARY_REDIS_PASSWORD}@ec2-3-1-2-3.compute-1.amazonaws.com:12345"
ADDON_JAWSDB_URL = (f"mysql://u1x2y3:{CANARY_DB_PASSWORD}"
                    "@abc.cbetxkdyhwsb.us-east-1.rds.amazonaws.com:3306/dbname1")
ADDON_POSTGRES_URL = (f"postgres://u4v5w6:{CANARY_DB_PASSWORD}"
                      "@ec2-3-4-5-6.compute-1.amazonaws.com:5432/d7e8f9")
_app_counter = iter(range(1_000_000))


def make_appwrite_app(standin: HerokuStandIn, prefix: str = "aw", **kwargs: object) -> str:
    """A container app on the stand-in with the Deploy button's add-on plans and dyno sizes
    (the default profile of budget.py: plans whose limits Appwrite's worst case fits); a fresh
    name each call so tests never share state."""
    from appwrite_heroku.budget import DEFAULT_PROFILE

    name = f"{prefix}-{int(time.time()) % 100000}-{next(_app_counter)}"
    redis_service, redis_plan = DEFAULT_PROFILE.redis_plan.split(":")
    db_service, db_plan = DEFAULT_PROFILE.db_plan.split(":")
    sizes = dict(item.split("=") for item in DEFAULT_PROFILE.formation.split(","))
    standin.create_app(
        name, addons=[
            {"service": redis_service, "plan": redis_plan,
             "config_vars": {"REDIS_URL": ADDON_REDIS_URL}},
            {"service": db_service, "plan": db_plan,
             "config_vars": {"DATABASE_URL": ADDON_POSTGRES_URL}},
        ], formation={kind: {"quantity": 1, "size": size} for kind, size in sizes.items()},
        **kwargs)  # type: ignore[arg-type]
    return name
