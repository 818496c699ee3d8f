"""Redis's config vars (config/redis.py): URL forms, the choice between add-ons, what Appwrite
is told, and percent-encoded credentials surviving a round trip."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appwrite_heroku.config import redis
from appwrite_heroku.config.redis import RedisUpstream, parse_redis_url
from appwrite_heroku.errors import InputError

REDIS_FORMS = [
    # url, host, port, tls, username, password, db, needs_bridge
    ("redis://127.0.0.1:6379", "127.0.0.1", 6379, False, None, None, 0, False),
    ("redis://h.example.com", "h.example.com", 6379, False, None, None, 0, False),
    ("redis://h:7000/3", "h", 7000, False, None, None, 3, False),
    ("rediss://:p4ss@ec2-3-91-1-2.compute-1.amazonaws.com:12345",
     "ec2-3-91-1-2.compute-1.amazonaws.com", 12345, True, None, "p4ss", 0, True),
    ("redis://:secret@h:6380", "h", 6380, False, None, "secret", 0, True),
    ("rediss://h:6380", "h", 6380, True, None, None, 0, True),
    ("redis://appwrite:p%40ss%3Aw%2Fd@h:1", "h", 1, False, "appwrite", "p@ss:w/d", 0, True),
    ("REDISS://user:pw@H.Example.com:2", "h.example.com", 2, True, "user", "pw", 0, True),
    ("redis://[::1]:6379", "::1", 6379, False, None, None, 0, False),
    ("redis://h:1/15", "h", 1, False, None, None, 15, False),
]


@pytest.mark.parametrize(("url", "host", "port", "tls", "user", "password", "db", "bridge"),
                         REDIS_FORMS)
def test_redis_url_forms(url: str, host: str, port: int, tls: bool, user: str | None,
                         password: str | None, db: int, bridge: bool) -> None:
    upstream = parse_redis_url(url, "REDIS_URL")
    assert (upstream.host, upstream.port, upstream.tls) == (host, port, tls)
    assert (upstream.username, upstream.password, upstream.db) == (user, password, db)
    assert upstream.needs_bridge is bridge
    assert parse_redis_url(upstream.url(), "X") == RedisUpstream("X", host, port, tls, user,
                                                                  password, db)


@pytest.mark.parametrize("url", [
    "", "localhost:6379", "http://h:6379", "redis://", "redis://:pw@:6379", "redis://h:notaport",
    "redis://h:99999", "redis://h/abc", "redis://[::1:6379", "mysql://u:p@h/db",
    "  redis://h:1  ", "redis://h:1\r", "redis://h:1/16", "redis://h:1/" + "9" * 20,
    "redis://h:1?password=x", "redis://h:1/0#x",
])
def test_malformed_redis_urls_are_input_errors(url: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_redis_url(url, "REDISCLOUD_URL")
    assert "REDISCLOUD_URL" in str(caught.value)


def test_redis_choice_order_and_warning() -> None:
    config = {
        "HEROKU_REDIS_RED_URL": "redis://red:1",
        "HEROKU_REDIS_AMBER_URL": "redis://amber:1",
        "REDISCLOUD_URL": "redis://cloud:1",
    }
    upstream, warnings = redis.choose_redis(config)
    assert upstream is not None and upstream.source == "REDISCLOUD_URL"
    assert len(warnings) == 1 and "using REDISCLOUD_URL" in warnings[0]
    assert "HEROKU_REDIS_AMBER_URL, HEROKU_REDIS_RED_URL" in warnings[0]

    config["REDIS_URL"] = "redis://main:1"
    assert redis.choose_redis(config)[0].source == "REDIS_URL"  # type: ignore[union-attr]
    config["APPWRITE_REDIS_URL"] = "redis://mine:1"
    upstream, warnings = redis.choose_redis(config)
    assert upstream is not None and upstream.host == "mine"
    assert warnings == []  # the user chose explicitly

    colors_only = {"HEROKU_REDIS_RED_URL": "redis://red:1", "HEROKU_REDIS_AMBER_URL": "redis://a:1"}
    assert redis.choose_redis(colors_only)[0].source == "HEROKU_REDIS_AMBER_URL"  # type: ignore[union-attr]


def test_same_redis_under_two_names_is_not_a_conflict_and_blanks_are_absent() -> None:
    config = {"REDIS_URL": "rediss://:pw@h:1", "HEROKU_REDIS_GOLD_URL": "rediss://:pw@h:1",
              "APPWRITE_REDIS_URL": "  "}
    upstream, warnings = redis.choose_redis(config)
    assert upstream is not None and upstream.source == "REDIS_URL"
    assert warnings == []
    assert redis.choose_redis({"REDIS_URL": ""}) == (None, [])


def test_redis_settings_bridge_or_direct() -> None:
    tls = parse_redis_url("rediss://:pw@h:12345", "REDIS_URL")
    assert redis.redis_settings(tls, 6390) == {
        "_APP_REDIS_HOST": "127.0.0.1", "_APP_REDIS_PORT": "6390",
        "_APP_REDIS_USER": "", "_APP_REDIS_PASS": "",
    }
    plain = parse_redis_url("redis://cache.internal:6380", "REDIS_URL")
    assert redis.redis_settings(plain, 6390) == {
        "_APP_REDIS_HOST": "cache.internal", "_APP_REDIS_PORT": "6380",
        "_APP_REDIS_USER": "", "_APP_REDIS_PASS": "",
    }


# --- property tests -------------------------------------------------------------------------------

_texts = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(user=_texts, password=_texts, tls=st.booleans(), db=st.integers(0, 15))
def test_redis_credentials_survive_percent_encoding_round_trip(user: str, password: str,
                                                               tls: bool, db: int) -> None:
    scheme = "rediss" if tls else "redis"
    url = f"{scheme}://{quote(user, safe='')}:{quote(password, safe='')}@h.example.com:6380/{db}"
    upstream = parse_redis_url(url, "REDIS_URL")
    assert (upstream.username or "", upstream.password) == (user, password)
    again = parse_redis_url(upstream.url(), "REDIS_URL")
    assert again == upstream
