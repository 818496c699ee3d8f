"""Shared fixtures: real services, started once per session where that is safe."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from helpers import CANARY_API_KEY, CANARY_DB_PASSWORD, CANARY_GITHUB_TOKEN, CANARY_REDIS_PASSWORD
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
from standins.clock import SkippingClock
from standins.github import GitHubStandIn
from standins.heroku import HerokuStandIn

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

# Fixtures that start a Debian-packaged service or tool (.ci/run installs them). A test using
# one, or in a module marked `pytestmark = pytest.mark.services`, is marked `services`:
# `python3 -m pytest -m "not services"` runs the rest with nothing but the Python packages
# (docs/contributing.md).
SERVICE_FIXTURES = frozenset({
    "redis_plain", "redis_password", "redis_tls_acl", "mariadb", "jawsdb_account",
    "postgresql", "heroku_postgres", "postgres_owner", "registry", "heroku_standin",
    "php_clients",
})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SERVICE_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.services)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failing test in a module that defines `failure_logs()` (the processes it started,
    tailed and masked) gets them in its report: what failed, seen from the other side."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    logs = getattr(getattr(item, "module", None), "failure_logs", None)
    text = logs() if report.failed and callable(logs) else ""
    if text:
        report.sections.append((f"processes ({call.when})", text))


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


@pytest.fixture
def skipping_clock() -> SkippingClock:
    """The stand-in's and an in-process engine's clock: the engine's waits move it on instead of
    sleeping (for anything else it is real time)."""
    return SkippingClock()


@pytest.fixture
def heroku_standin(registry: Registry, skipping_clock: SkippingClock) -> Iterator[HerokuStandIn]:
    """A fresh Heroku API + router stand-in per test, checking images against `registry`."""
    with HerokuStandIn(api_key=CANARY_API_KEY, registry=registry,
                       clock=skipping_clock.monotonic) as standin:
        yield standin


@pytest.fixture
def heroku_api_standin(skipping_clock: SkippingClock) -> Iterator[HerokuStandIn]:
    """The same stand-in without a registry, for tests that push no image (only the schema's
    `sha256:<64 hex>` form of image IDs is checked)."""
    with HerokuStandIn(api_key=CANARY_API_KEY, clock=skipping_clock.monotonic) as standin:
        yield standin


@pytest.fixture
def github() -> Iterator[GitHubStandIn]:
    """A fresh GitHub API stand-in per test that accepts `CANARY_GITHUB_TOKEN`."""
    with GitHubStandIn(token=CANARY_GITHUB_TOKEN) as standin:
        yield standin
