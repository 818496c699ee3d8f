"""Shared fixtures: real services, started once per session where that is safe."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from services import (
    MariaDB,
    RedisServer,
    Registry,
    start_mariadb,
    start_redis,
    start_registry,
)

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
