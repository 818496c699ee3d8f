"""The database: which add-on's URL the dyno uses (JawsDB Maria, JawsDB, ClearDB or Heroku
Postgres), JawsDB's placeholder while it provisions, the URL parsed into Appwrite's adapter and
`_APP_DB_*` settings, with every credential Appwrite 1.9.6 could not carry refused; and the
database Appwrite keeps its tables in, as the Lite image's patch names it.

Pure functions over the config mapping. Messages name variables, never their values: the URLs
carry credentials.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from ..errors import InputError, NotReadyError
from . import plans
from .inputs import present, service_url

# Precedence when several are attached: the MariaDB flavour first (Appwrite's own engine), then
# MySQL add-ons, then Heroku Postgres (whose three extensions the release phase checks).
DATABASE_VARS = ("JAWSDB_MARIA_URL", "JAWSDB_URL", "CLEARDB_DATABASE_URL", "DATABASE_URL")
_JAWSDB_VARS = frozenset({"JAWSDB_MARIA_URL", "JAWSDB_URL"})
_ADAPTERS = {
    "mysql": ("mysql", 3306),
    "mariadb": ("mariadb", 3306),
    "postgres": ("postgresql", 5432),
    "postgresql": ("postgresql", 5432),
}
# Appwrite 1.9.6 builds `db_main=mariadb://USER:PASS@HOST:PORT/SCHEMA` without encoding, splits
# the list on `,` and `=`, parses it with PHP parse_url (authority ends at / ? #, user and pass
# split on : and @, [ ] mean IPv6) and then url-decodes it (`%xx` and `+` change meaning).
_DSN_BREAKERS = frozenset("@:/?#[],=+%")
_DSN_BREAKERS_TEXT = "@ : / ? # [ ] , = + % or whitespace"
# A database or host name is also an SQL identifier (the release marker's table is qualified by
# it) and a PgBouncer configuration word: quotes and backticks there would be read as syntax.
_NAME_BREAKERS = _DSN_BREAKERS | frozenset("'\"`\\;")
_NAME_BREAKERS_TEXT = "@ : / ? # [ ] , = + % ' \" ` \\ ; or whitespace"
_CREDENTIAL_RESETS = {
    "JAWSDB_MARIA_URL": "reset the credentials in the JawsDB Maria dashboard "
    "(`heroku addons:open jawsdb-maria`)",
    "JAWSDB_URL": "reset the credentials in the JawsDB dashboard (`heroku addons:open jawsdb`)",
    "CLEARDB_DATABASE_URL": "reset the credentials in the ClearDB dashboard "
    "(`heroku addons:open cleardb`)",
    "DATABASE_URL": "rotate them (`heroku pg:credentials:rotate DATABASE_URL`)",
}
# JawsDB fills its URL with a placeholder for a few minutes after provisioning. Its exact text is
# not published, so both free text about provisioning and template-like URLs count as one.
_PLACEHOLDER_WORDS = re.compile(
    r"placeholder|pending|provision|not[ _-]?ready|being (created|set ?up)|creating|wait",
    re.IGNORECASE,
)
_TEMPLATE_HOSTS = frozenset({"host", "hostname", "placeholder", "pending", "example.com"})


@dataclass(frozen=True)
class Database:
    """A database add-on's connection. Holds a secret: never print it."""

    source: str
    adapter: str  # the `_APP_DB_ADAPTER` value: mariadb, mysql or postgresql
    host: str
    port: int
    schema: str
    user: str
    password: str

    def settings(self) -> dict[str, str]:
        return {
            "_APP_DB_ADAPTER": self.adapter,
            "_APP_DB_HOST": self.host,
            "_APP_DB_PORT": str(self.port),
            "_APP_DB_SCHEMA": self.schema,
            "_APP_DB_USER": self.user,
            "_APP_DB_PASS": self.password,
        }


def is_jawsdb_placeholder(value: str) -> bool:
    """True for what JawsDB holds while the database is still being created: a blank, free text
    about provisioning, or a template URL whose host is a word like `hostname`. Words are only
    looked for outside URLs, so random credentials can never make a real URL look pending."""
    text = value.strip()
    if not text:
        return True
    if "://" not in text:
        return bool(_PLACEHOLDER_WORDS.search(text))
    try:
        host = (urlsplit(text).hostname or "").lower()
    except ValueError:
        return False
    return host in _TEMPLATE_HOSTS


def _dsn_safe(text: str, breakers: frozenset[str] = _DSN_BREAKERS) -> bool:
    return not any(char in breakers or char.isspace() or not char.isprintable()
                   for char in text)


def parse_database_url(url: str, source: str) -> Database:
    """`mysql://`, `mariadb://`, `postgres://` or `postgresql://` `user:password@host[:port]/schema`
    with percent-encoded credentials; a query string (`?reconnect=true`) is ignored.

    Raises `NotReadyError` for a JawsDB placeholder and `InputError` for anything malformed or
    any credential Appwrite 1.9.6 would mangle; messages never contain the value.
    """
    expected = "expected mysql://user:password@host:3306/schema"
    if source in _JAWSDB_VARS and is_jawsdb_placeholder(url):
        raise NotReadyError(
            f"{source} still holds JawsDB's placeholder: the database is being created; "
            "wait a few minutes, then restart the dynos (`heroku ps:restart`)"
        )
    parts, port, hostname = service_url(url, source, "database", expected)
    scheme = parts.scheme.lower()
    if scheme not in _ADAPTERS:
        raise InputError(
            f"{source} must start with mysql://, mariadb://, postgres:// or postgresql://"
        )
    adapter, default_port = _ADAPTERS[scheme]
    if source == "JAWSDB_MARIA_URL":
        adapter = "mariadb"  # JawsDB Maria hands out mysql:// URLs for a MariaDB server
    if not hostname:
        raise InputError(f"{source} has no host; {expected}")
    schema = unquote(parts.path.lstrip("/"))
    if not schema or "/" in schema:
        raise InputError(f"{source} has no database name after the host; {expected}")
    if parts.username is None or not parts.username:
        raise InputError(f"{source} has no user name; {expected}")
    user = unquote(parts.username)
    password = unquote(parts.password or "")
    fix = _CREDENTIAL_RESETS.get(source, "change the credentials")
    for label, text in (("user name", user), ("password", password)):
        if not _dsn_safe(text):
            raise InputError(
                f"{source} has a {label} with a character Appwrite 1.9.6 cannot carry (one of "
                f"{_DSN_BREAKERS_TEXT}; it puts credentials un-encoded into a connection URL); "
                f"{fix} until it has none"
            )
    if not _dsn_safe(schema, _NAME_BREAKERS) or not _dsn_safe(hostname, _NAME_BREAKERS):
        raise InputError(f"{source} has a host or database name with a character Appwrite "
                         f"1.9.6 cannot carry or SQL would read as syntax (one of "
                         f"{_NAME_BREAKERS_TEXT})")
    return Database(source, adapter, hostname,
                    port if port is not None else default_port, schema, user, password)


def database_candidates(config: Mapping[str, str]) -> list[str]:
    return [name for name in DATABASE_VARS if present(config, name)]


def derive(config: Mapping[str, str]) -> tuple[dict[str, str], list[str], list[str]]:
    """The `_APP_DB_*` settings of the database add-on that wins, the warnings, and the
    variables still not ready (a JawsDB placeholder: reported, not an error)."""
    names = database_candidates(config)
    if not names:
        return {}, [
            "no database add-on (JawsDB Maria, JawsDB, ClearDB or Heroku Postgres) is attached; "
            f"Appwrite cannot start without one (`{plans.attach_command(plans.DATABASE)}`)"
        ], []
    warnings: list[str] = []
    if len(names) > 1:
        warnings.append(
            f"several database URLs are set ({', '.join(names)}); using {names[0]} "
            f"(order: {', '.join(DATABASE_VARS)})"
        )
    try:
        database = parse_database_url(present(config, names[0]) or "", names[0])
    except NotReadyError as error:
        return {}, [*warnings, str(error)], [names[0]]
    if database.adapter == "postgresql":
        warnings.append(
            f"{names[0]} is PostgreSQL: Appwrite 1.9.6 creates the extensions postgis, vector "
            "and pg_trgm at its first boot; the release phase tries them first and names any "
            "the database refuses (docs/settings.md)"
        )
    return database.settings(), warnings, []


# Appwrite 1.9.6's own default for APP_DATABASE (app/init/constants.php:181).
APPWRITE_DEFAULT_DATABASE = "appwrite"
# utopia-php/database 6.0.0 Adapter::filter (src/Database/Adapter.php:1328-1337), applied by
# Adapter::setDatabase (Adapter.php:171-176) to the name before any SQL sees it.
_ADAPTER_FILTER = re.compile(r"[^A-Za-z0-9_\-]")


def appwrite_database(settings: Mapping[str, str]) -> str:
    """The database (MySQL family) or schema (PostgreSQL) Appwrite keeps its tables in, in the
    Lite image: the rule `patch-appwrite` puts into APP_DATABASE (see dyno/patches.py).

    `System::getEnv('_APP_DB_SCHEMA', 'appwrite')` is `getenv() ?: 'appwrite'` (utopia-php/system
    0.10.2 System.php:698-701), so unset, empty and "0" all mean `appwrite`; the adapter then
    drops every character outside [A-Za-z0-9_-].
    """
    raw = settings.get("_APP_DB_SCHEMA", "")
    name = raw if raw not in ("", "0") else APPWRITE_DEFAULT_DATABASE
    return _ADAPTER_FILTER.sub("", name)


__all__ = [
    "APPWRITE_DEFAULT_DATABASE",
    "DATABASE_VARS",
    "Database",
    "appwrite_database",
    "database_candidates",
    "derive",
    "is_jawsdb_placeholder",
    "parse_database_url",
]
