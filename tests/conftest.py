"""Shared fixtures: real services, started once per session where that is safe; and the lanes.

Only pytest, Hypothesis and the standard library are imported here: each fixture imports what
it starts (services, stand-ins, their schemas) when a test asks for it, so a run that needs
none of them (the fast lane, one file of pure rules) does not pay for them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, settings

import lanes

if TYPE_CHECKING:
    from php_clients import PhpClients
    from services import MariaDB, MariaDBAccount, PostgresAccount, PostgreSQL, RedisServer, Registry
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
# one, or in a module marked `pytestmark = pytest.mark.services`, is marked `services`, and
# every `services` test is `slow`: `python3 -m pytest -m "not slow"` (the fast lane,
# docs/contributing.md) runs the rest with nothing but the Python packages (tests/lanes.py).
SERVICE_FIXTURES = frozenset({
    "redis_plain", "redis_password", "redis_tls_acl", "mariadb", "jawsdb_account",
    "postgresql", "heroku_postgres", "postgres_owner", "registry", "heroku_standin",
    "php_clients", "redis_server",
})
# Modules that start a service of their own, without one of those fixtures, and do not say so
# themselves yet (test_bridge_mux_php.py: redis-server and php-cli).
SERVICE_MODULES = frozenset({"test_bridge_mux_php"})


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--check-fast-lane", action="store_true",
        help="prove the fast lane needs no service: refuse to run with root's privileges or "
             "with a service program on PATH (tests/lanes.py), and fail any test that skips "
             "(.ci/run)")


def pytest_configure(config: pytest.Config) -> None:
    if not config.getoption("--check-fast-lane"):
        return
    found = lanes.services_on_path(os.environ.get("PATH", ""))
    if found:
        shown = sorted(found.items())[:5]
        raise pytest.UsageError(
            f"--check-fast-lane needs a PATH without the services, but it finds {len(found)} "
            "of their programs (" + ", ".join(f"{name} in {where}" for name, where in shown)
            + "): PATH=$(python3 tests/lanes.py DIR) makes one")
    if lanes.privileged():
        raise pytest.UsageError(
            "--check-fast-lane runs without root's privileges: runuser -u nobody -- python3 "
            "-m pytest ..., or setpriv --bounding-set -all ... where nobody cannot read the "
            "interpreter (see .ci/run)")


def pytest_report_header(config: pytest.Config) -> str | None:
    if not config.getoption("--check-fast-lane"):
        return None
    return (f"fast-lane check: uid {os.geteuid()} without privileges, no service program on "
            "PATH; a test that skips or starts a process fails")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        module = getattr(getattr(item, "module", None), "__name__", "")
        if SERVICE_FIXTURES & set(getattr(item, "fixturenames", ())) or module in SERVICE_MODULES:
            item.add_marker(pytest.mark.services)
        if item.get_closest_marker("services") is not None:
            item.add_marker(pytest.mark.slow)


# -- a fast test starts no process ------------------------------------------------------------
# The running test's starts (program names), or None while the running test is slow or none
# runs. An audit hook sees every way Python starts a process, the libraries' ways included.
_spawned: list[str] | None = None


def _audit(event: str, args: tuple[object, ...]) -> None:
    if _spawned is not None and event in lanes.SPAWN_EVENTS:
        _spawned.append(lanes.spawned_program(event, args))


sys.addaudithook(_audit)


def pytest_runtest_setup(item: pytest.Item) -> None:
    global _spawned
    _spawned = None if item.get_closest_marker("slow") else []


def pytest_runtest_teardown(item: pytest.Item) -> None:
    global _spawned
    _spawned = None


def _lane_failure(report: pytest.TestReport, item: pytest.Item) -> str | None:
    """Why a test that passed or skipped fails its lane, if it does."""
    if report.when == "call" and _spawned:
        return (f"{item.nodeid} is in the fast lane but started a process "
                f"({', '.join(dict.fromkeys(_spawned))}): mark it @pytest.mark.slow "
                "(tests/lanes.py)")
    if (report.skipped and not hasattr(report, "wasxfail")
            and item.config.getoption("--check-fast-lane")):
        reason = str(report.longrepr[2] if isinstance(report.longrepr, tuple)
                     else report.longrepr)
        if not lanes.declared_missing_skip(reason):
            return (f"{item.nodeid} skipped in the fast-lane check ({reason}): a fast test "
                    "must run without services or root; mark it @pytest.mark.slow")
    return None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failing test in a module that defines `failure_logs()` (the processes it started,
    tailed and masked) gets them in its report: what failed, seen from the other side. A test
    that breaks its lane's rules fails, saying which."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    broken = None if report.failed else _lane_failure(report, item)
    if broken is not None:
        report.outcome, report.longrepr = "failed", broken
    logs = getattr(getattr(item, "module", None), "failure_logs", None)
    text = logs() if report.failed and callable(logs) else ""
    if text:
        report.sections.append((f"processes ({call.when})", text))


# -- services ---------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def redis_plain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    from services import start_redis

    server = start_redis(tmp_path_factory.mktemp("redis-plain"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_password(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    from helpers import CANARY_REDIS_PASSWORD
    from services import start_redis

    server = start_redis(tmp_path_factory.mktemp("redis-pw"), password=CANARY_REDIS_PASSWORD)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_tls_acl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """Like Heroku Key-Value Store: TLS with a self-signed certificate, a user and password."""
    from helpers import CANARY_REDIS_PASSWORD
    from services import start_redis

    server = start_redis(
        tmp_path_factory.mktemp("redis-tls"), tls=True, username="h",
        password=CANARY_REDIS_PASSWORD,
    )
    yield server
    server.stop()


@pytest.fixture(scope="session")
def mariadb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MariaDB]:
    from helpers import CANARY_DB_PASSWORD
    from services import start_mariadb

    server = start_mariadb(
        tmp_path_factory.mktemp("mariadb"), user="jaws_user", password=CANARY_DB_PASSWORD,
        schema="appwrite_db",
    )
    yield server
    server.stop()


@pytest.fixture
def jawsdb_account(mariadb: MariaDB) -> MariaDBAccount:
    """A fresh JawsDB-shaped account (one generated-name database, capped connections)."""
    from helpers import CANARY_DB_PASSWORD
    from services import create_jawsdb_account

    return create_jawsdb_account(mariadb, password=CANARY_DB_PASSWORD)


@pytest.fixture(scope="session")
def postgresql() -> Iterator[PostgreSQL]:
    from services import start_postgresql

    server = start_postgresql()
    yield server
    server.stop()


@pytest.fixture
def heroku_postgres(postgresql: PostgreSQL) -> PostgresAccount:
    """A fresh Heroku-Postgres-shaped account: owner of one database, nothing more, who may
    create the extensions Appwrite needs (Heroku's allow list)."""
    from helpers import CANARY_DB_PASSWORD
    from services import create_heroku_postgres_account

    return create_heroku_postgres_account(postgresql, password=CANARY_DB_PASSWORD)


@pytest.fixture
def postgres_owner(postgresql: PostgreSQL) -> PostgresAccount:
    """The same owner under stock PostgreSQL rules: trusted extensions only."""
    from helpers import CANARY_DB_PASSWORD
    from services import create_heroku_postgres_account

    return create_heroku_postgres_account(postgresql, password=CANARY_DB_PASSWORD,
                                          allow_listed=None)


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    from helpers import CANARY_API_KEY
    from services import start_registry

    server = start_registry(tmp_path_factory.mktemp("registry"), api_key=CANARY_API_KEY)
    yield server
    server.stop()


@pytest.fixture
def php_clients() -> Iterator[PhpClients]:
    """Appwrite's own PHP clients as separate processes (tests/php_clients.py)."""
    from php_clients import PhpClients, require_php

    clients = PhpClients(require_php())
    try:
        yield clients
    finally:
        clients.close()


# -- stand-ins (in-process HTTP servers on loopback) ------------------------------------------

@pytest.fixture
def skipping_clock() -> SkippingClock:
    """The stand-in's and an in-process engine's clock: the engine's waits move it on instead of
    sleeping (for anything else it is real time)."""
    from standins.clock import SkippingClock

    return SkippingClock()


@pytest.fixture
def heroku_standin(registry: Registry, skipping_clock: SkippingClock) -> Iterator[HerokuStandIn]:
    """A fresh Heroku API + router stand-in per test, checking images against `registry`."""
    from helpers import CANARY_API_KEY
    from standins.heroku import HerokuStandIn

    with HerokuStandIn(api_key=CANARY_API_KEY, registry=registry,
                       clock=skipping_clock.monotonic) as standin:
        yield standin


@pytest.fixture
def heroku_api_standin(skipping_clock: SkippingClock) -> Iterator[HerokuStandIn]:
    """The same stand-in without a registry, for tests that push no image (only the schema's
    `sha256:<64 hex>` form of image IDs is checked)."""
    from helpers import CANARY_API_KEY
    from standins.heroku import HerokuStandIn

    with HerokuStandIn(api_key=CANARY_API_KEY, clock=skipping_clock.monotonic) as standin:
        yield standin


@pytest.fixture
def github() -> Iterator[GitHubStandIn]:
    """A fresh GitHub API stand-in per test that accepts `CANARY_GITHUB_TOKEN`."""
    from helpers import CANARY_GITHUB_TOKEN
    from standins.github import GitHubStandIn

    with GitHubStandIn(token=CANARY_GITHUB_TOKEN) as standin:
        yield standin
