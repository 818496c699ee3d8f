"""The database add-ons' config vars (config/database.py): URL forms, credentials Appwrite
cannot carry, JawsDB's placeholder, and property tests on URL handling (both URL parsers share
inputs.service_url, so the leak test runs both)."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appwrite_heroku.config.database import is_jawsdb_placeholder, parse_database_url
from appwrite_heroku.config.redis import parse_redis_url
from appwrite_heroku.errors import InputError, NotReadyError

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


# --- property tests -------------------------------------------------------------------------------

_texts = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)


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
