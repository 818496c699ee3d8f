"""Each add-on's config vars, parsed: table-driven forms plus property tests on URL handling."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appwrite_heroku.config import mail, redis, storage
from appwrite_heroku.config.database import is_jawsdb_placeholder, parse_database_url
from appwrite_heroku.config.redis import RedisUpstream, parse_redis_url
from appwrite_heroku.errors import InputError, NotReadyError

# --- Redis -------------------------------------------------------------------------------------

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


# --- Database ----------------------------------------------------------------------------------

DATABASE_FORMS = [
    # source, url, adapter, host, port, schema, user, password
    ("JAWSDB_MARIA_URL", "mysql://u1:p1@h1.rds.amazonaws.com:3306/s1",
     "mariadb", "h1.rds.amazonaws.com", 3306, "s1", "u1", "p1"),
    ("JAWSDB_URL", "mysql://u2:p2@h2/s2", "mysql", "h2", 3306, "s2", "u2", "p2"),
    ("CLEARDB_DATABASE_URL", "mysql://b1:c2@us-cdbr-east.cleardb.com/heroku_0a1b?reconnect=true",
     "mysql", "us-cdbr-east.cleardb.com", 3306, "heroku_0a1b", "b1", "c2"),
    ("DATABASE_URL", "postgres://u3:p3@ec2-1-2-3-4.compute-1.amazonaws.com:5432/d3",
     "postgresql", "ec2-1-2-3-4.compute-1.amazonaws.com", 5432, "d3", "u3", "p3"),
    ("DATABASE_URL", "postgresql://u4:p4@h4/d4", "postgresql", "h4", 5432, "d4", "u4", "p4"),
    ("DATABASE_URL", "mariadb://u5:p5@h5:3307/d5", "mariadb", "h5", 3307, "d5", "u5", "p5"),
    ("DATABASE_URL", "MySQL://u6:pa$$w0rd!*@h6/d6", "mysql", "h6", 3306, "d6", "u6", "pa$$w0rd!*"),
    ("DATABASE_URL", "mysql://u7:%24ecret%21@h7/d7", "mysql", "h7", 3306, "d7", "u7", "$ecret!"),
]


@pytest.mark.parametrize(("source", "url", "adapter", "host", "port", "schema", "user",
                          "password"), DATABASE_FORMS)
def test_database_url_forms(source: str, url: str, adapter: str, host: str, port: int,
                            schema: str, user: str, password: str) -> None:
    database = parse_database_url(url, source)
    assert database.settings() == {
        "_APP_DB_ADAPTER": adapter, "_APP_DB_HOST": host, "_APP_DB_PORT": str(port),
        "_APP_DB_SCHEMA": schema, "_APP_DB_USER": user, "_APP_DB_PASS": password,
    }


@pytest.mark.parametrize("url", [
    "", "mysql://", "mysql://u:p@/db", "mysql://u:p@h", "mysql://u:p@h/", "mongodb://u:p@h/db",
    "mysql://:p@h/db", "mysql://u:p@h:port/db", "mysql://u:p@h/a/b", "just some text",
    "mysql://u:p@[h/db",
])
def test_malformed_database_urls_are_input_errors(url: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_database_url(url, "CLEARDB_DATABASE_URL")
    assert "CLEARDB_DATABASE_URL" in str(caught.value)


@pytest.mark.parametrize("character", list("@:/?#[],=+% \t"))
def test_password_appwrite_cannot_carry_is_a_clear_error(character: str) -> None:
    password = f"Sekr{character}tValue99"
    url = f"mysql://user:{quote(password, safe='')}@h/db"
    with pytest.raises(InputError) as caught:
        parse_database_url(url, "JAWSDB_URL")
    message = str(caught.value)
    assert "JAWSDB_URL" in message and "heroku addons:open jawsdb" in message
    assert password not in message and quote(password, safe="") not in message
    assert "Sekr" not in message


def test_postgres_fix_names_credential_rotation() -> None:
    with pytest.raises(InputError, match="pg:credentials:rotate"):
        parse_database_url("postgres://u:a%2Cb@h/d", "DATABASE_URL")


@pytest.mark.parametrize("value", [
    "", "   ", "placeholder", "Your JawsDB database is being provisioned",
    "mysql://username:password@hostname:3306/database", "mysql://user:pass@host/default_schema",
    "pending",
])
def test_jawsdb_placeholder_is_not_ready(value: str) -> None:
    assert is_jawsdb_placeholder(value)
    with pytest.raises(NotReadyError) as caught:
        parse_database_url(value, "JAWSDB_MARIA_URL")
    assert "JAWSDB_MARIA_URL" in str(caught.value)


@pytest.mark.parametrize("value", [
    "mysql://abec58g5wbufie13:gx929roht4t2edut@migae5o25m2psr4q.cbetxkdyhwsb.us-east-1.rds."
    "amazonaws.com:3306/e5yg48m9itqa2gxv",
    "mysql://u:p@h:badport/db",
    "mysql://waitpending:creatingplaceholder@provisioning.rds.amazonaws.com/notready",
    "not a url at all",
])
def test_real_or_malformed_jawsdb_url_is_not_a_placeholder(value: str) -> None:
    assert not is_jawsdb_placeholder(value)


def test_placeholder_words_elsewhere_are_malformed_not_pending() -> None:
    with pytest.raises(InputError):
        parse_database_url("placeholder", "DATABASE_URL")


# --- property tests ----------------------------------------------------------------------------

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


_safe_password = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Z", "C"),
                  exclude_characters="@:/?#[],=+%"),
    min_size=1, max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(user=_safe_password, password=_texts)
def test_database_credentials_survive_round_trip_or_fail_cleanly(user: str, password: str) -> None:
    password += "Zq9Xw7Kp"  # a tail no message could contain by chance
    url = f"mysql://{quote(user, safe='')}:{quote(password, safe='')}@db.example.com:3306/s"
    try:
        database = parse_database_url(url, "DATABASE_URL")
    except InputError as error:
        assert any(c in "@:/?#[],=+%" or c.isspace() or not c.isprintable() for c in password)
        assert "Zq9Xw7Kp" not in str(error)
        return
    assert (database.user, database.password) == (user, password)


_junk = st.one_of(
    st.text(max_size=80),
    st.builds(lambda scheme, rest: f"{scheme}://{rest}",
              st.sampled_from(["redis", "rediss", "mysql", "postgres", "http", ""]),
              st.text(max_size=60)),
)
CANARY = "CanarySecretValue-93f1"


@settings(max_examples=400, deadline=None)
@given(junk=_junk, position=st.integers(0, 3))
def test_malformed_input_only_raises_our_error_without_the_secret(junk: str, position: int) -> None:
    # Put a canary password where a password may go, then mangle around it.
    url = junk[:position] + f":{CANARY}@" + junk[position:] if position else junk
    for parse in (parse_redis_url, parse_database_url):
        try:
            parse(url, "DATABASE_URL")
        except (InputError, NotReadyError) as error:
            assert CANARY not in str(error)
            assert "DATABASE_URL" in str(error)


# --- storage and mail --------------------------------------------------------------------------

BUCKETEER = {
    "BUCKETEER_AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "BUCKETEER_AWS_SECRET_ACCESS_KEY": "s3cr3t",
    "BUCKETEER_AWS_REGION": "eu-west-1", "BUCKETEER_BUCKET_NAME": "bucketeer-1234",
}


def test_bucketeer_is_the_s3_device_without_endpoint() -> None:
    assert storage.bucketeer_settings(BUCKETEER) == {
        "_APP_STORAGE_DEVICE": "s3", "_APP_STORAGE_S3_ACCESS_KEY": "AKIAEXAMPLE",
        "_APP_STORAGE_S3_SECRET": "s3cr3t", "_APP_STORAGE_S3_REGION": "eu-west-1",
        "_APP_STORAGE_S3_BUCKET": "bucketeer-1234",
    }
    assert storage.bucketeer_settings({}) is None


def test_partial_bucketeer_names_what_is_missing() -> None:
    partial = {k: v for k, v in BUCKETEER.items() if k != "BUCKETEER_BUCKET_NAME"}
    with pytest.raises(InputError, match="BUCKETEER_BUCKET_NAME"):
        storage.bucketeer_settings(partial)
    with pytest.raises(InputError, match="BUCKETEER_AWS_REGION"):
        storage.bucketeer_settings({**BUCKETEER, "BUCKETEER_AWS_REGION": "mars"})


@pytest.mark.parametrize(("url", "endpoint", "cube", "region", "warns"), [
    ("https://cloud-cube.s3.amazonaws.com/abc123", "https://cloud-cube.s3.amazonaws.com",
     "abc123", "us-east-1", False),
    ("https://cloud-cube-eu.s3.eu-west-1.amazonaws.com/zz9/", "https://cloud-cube-eu.s3.eu-west-1"
     ".amazonaws.com", "zz9", "eu-west-1", False),
    ("https://cloud-cube-jp.s3.amazonaws.com/q1", "https://cloud-cube-jp.s3.amazonaws.com", "q1",
     "us-east-1", True),
])
def test_cloudcube_puts_objects_under_the_cube_prefix(url: str, endpoint: str, cube: str,
                                                      region: str, warns: bool) -> None:
    result = storage.cloudcube_settings({
        "CLOUDCUBE_URL": url, "CLOUDCUBE_ACCESS_KEY_ID": "AKIACUBE",
        "CLOUDCUBE_SECRET_ACCESS_KEY": "cubesecret",
    })
    assert result is not None
    settings_, warnings = result
    assert settings_ == {
        "_APP_STORAGE_DEVICE": "s3", "_APP_STORAGE_S3_ACCESS_KEY": "AKIACUBE",
        "_APP_STORAGE_S3_SECRET": "cubesecret", "_APP_STORAGE_S3_REGION": region,
        "_APP_STORAGE_S3_ENDPOINT": endpoint, "_APP_STORAGE_S3_BUCKET": cube,
    }
    assert bool(warnings) is warns


@pytest.mark.parametrize("url", ["http://cloud-cube.s3.amazonaws.com/a",
                                 "https://cloud-cube.s3.amazonaws.com/", "not a url",
                                 "https://example.com/abc", "https://cloud-cube.s3.amazonaws.com/a/b"])
def test_bad_cloudcube_url(url: str) -> None:
    with pytest.raises(InputError, match="CLOUDCUBE_URL"):
        storage.cloudcube_settings({"CLOUDCUBE_URL": url, "CLOUDCUBE_ACCESS_KEY_ID": "k",
                                   "CLOUDCUBE_SECRET_ACCESS_KEY": "s"})


MAILGUN = {
    "MAILGUN_SMTP_SERVER": "smtp.mailgun.org", "MAILGUN_SMTP_PORT": "587",
    "MAILGUN_SMTP_LOGIN": "postmaster@app123.mailgun.org", "MAILGUN_SMTP_PASSWORD": "mgpw",
}


@pytest.mark.parametrize(("extra", "port", "secure", "sender"), [
    ({}, "587", "tls", "noreply@app123.mailgun.org"),
    ({"MAILGUN_SMTP_PORT": "465"}, "465", "ssl", "noreply@app123.mailgun.org"),
    ({"MAILGUN_SMTP_PORT": ""}, "587", "tls", "noreply@app123.mailgun.org"),
    ({"MAILGUN_DOMAIN": "mg.example.com"}, "587", "tls", "noreply@mg.example.com"),
])
def test_mailgun(extra: dict[str, str], port: str, secure: str, sender: str) -> None:
    assert mail.mailgun_settings({**MAILGUN, **extra}) == {
        "_APP_SMTP_HOST": "smtp.mailgun.org", "_APP_SMTP_PORT": port, "_APP_SMTP_SECURE": secure,
        "_APP_SMTP_USERNAME": "postmaster@app123.mailgun.org", "_APP_SMTP_PASSWORD": "mgpw",
        "_APP_SYSTEM_EMAIL_ADDRESS": sender,
    }


def test_mailgun_bad_port_and_missing_password() -> None:
    with pytest.raises(InputError, match="MAILGUN_SMTP_PORT"):
        mail.mailgun_settings({**MAILGUN, "MAILGUN_SMTP_PORT": "smtp"})
    with pytest.raises(InputError, match="MAILGUN_SMTP_PASSWORD"):
        mail.mailgun_settings({k: v for k, v in MAILGUN.items() if "PASSWORD" not in k})


@pytest.mark.parametrize(("config", "user", "password"), [
    ({"SENDGRID_API_KEY": "SG.key"}, "apikey", "SG.key"),
    ({"SENDGRID_USERNAME": "app1@heroku.com", "SENDGRID_PASSWORD": "legacy"}, "app1@heroku.com",
     "legacy"),
    ({"SENDGRID_API_KEY": "SG.key", "SENDGRID_USERNAME": "u", "SENDGRID_PASSWORD": "p"},
     "apikey", "SG.key"),
])
def test_sendgrid(config: dict[str, str], user: str, password: str) -> None:
    result = mail.sendgrid_settings(config)
    assert result is not None
    settings_, warnings = result
    assert settings_ == {
        "_APP_SMTP_HOST": "smtp.sendgrid.net", "_APP_SMTP_PORT": "587", "_APP_SMTP_SECURE": "tls",
        "_APP_SMTP_USERNAME": user, "_APP_SMTP_PASSWORD": password,
    }
    assert warnings and "_APP_SYSTEM_EMAIL_ADDRESS" in warnings[0]


def test_sendgrid_half_legacy_is_an_error_and_nothing_is_none() -> None:
    with pytest.raises(InputError, match="SENDGRID_PASSWORD"):
        mail.sendgrid_settings({"SENDGRID_USERNAME": "u"})
    assert mail.sendgrid_settings({}) is None
    assert mail.mailgun_settings({}) is None
