"""The real services the suite relies on start and behave like Heroku's add-ons."""

from __future__ import annotations

import pymysql
import pytest
import redis
import requests

from helpers import CANARY_REDIS_PASSWORD
from services import MariaDB, RedisServer, Registry


def test_tls_acl_redis_refuses_anonymous_and_accepts_the_user(redis_tls_acl: RedisServer) -> None:
    anonymous = redis.Redis(host="127.0.0.1", port=redis_tls_acl.port, ssl=True,
                            ssl_cert_reqs="none")
    with pytest.raises(redis.AuthenticationError):
        anonymous.ping()
    assert redis.Redis.from_url(redis_tls_acl.url, ssl_cert_reqs="none").ping()


def test_password_redis_needs_auth(redis_password: RedisServer) -> None:
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(host="127.0.0.1", port=redis_password.port).ping()
    assert redis.Redis(host="127.0.0.1", port=redis_password.port,
                       password=CANARY_REDIS_PASSWORD).ping()


def test_mariadb_user_can_use_its_schema(mariadb: MariaDB) -> None:
    conn = pymysql.connect(host="127.0.0.1", port=mariadb.port, user=mariadb.user,
                           password=mariadb.password, database=mariadb.schema)
    with conn.cursor() as cur:
        cur.execute("SELECT DATABASE()")
        assert cur.fetchone() == (mariadb.schema,)
    conn.close()


def test_registry_wants_heroku_style_auth(registry: Registry) -> None:
    assert requests.get(f"{registry.url}/v2/", timeout=5).status_code == 401
    assert requests.get(f"{registry.url}/v2/", headers=registry.auth_header(),
                        timeout=5).status_code == 200
