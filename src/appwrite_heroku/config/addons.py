"""Heroku add-on config vars, one parser per add-on, each returning Appwrite `_APP_*` pieces.

Pure functions over the config mapping. Messages name variables, never their values: add-on
values carry credentials. The settings engine (`settings.derive`) combines the pieces.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from ..errors import InputError, NotReadyError
from .inputs import addon_vars, exact, present, service_url, whole_number

# --- Database ----------------------------------------------------------------------------------

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


# --- Storage -----------------------------------------------------------------------------------

BUCKETEER_VARS = ("BUCKETEER_AWS_ACCESS_KEY_ID", "BUCKETEER_AWS_SECRET_ACCESS_KEY",
                  "BUCKETEER_AWS_REGION", "BUCKETEER_BUCKET_NAME")
CLOUDCUBE_VARS = ("CLOUDCUBE_URL", "CLOUDCUBE_ACCESS_KEY_ID", "CLOUDCUBE_SECRET_ACCESS_KEY")
_S3_REGION_IN_HOST = re.compile(r"(?:^|\.)s3[.-]([a-z0-9-]+)\.amazonaws\.com$")
_REGION = re.compile(r"[a-z]{2}(-gov)?-[a-z]+-[0-9]")


def bucketeer_settings(config: Mapping[str, str]) -> dict[str, str] | None:
    """Bucketeer is a plain AWS bucket: Appwrite's `s3` device without an endpoint."""
    if not any(present(config, name) for name in BUCKETEER_VARS):
        return None
    values = addon_vars(config, BUCKETEER_VARS, "Bucketeer")
    region = values["BUCKETEER_AWS_REGION"]
    if not _REGION.fullmatch(region):
        raise InputError("BUCKETEER_AWS_REGION is not an AWS region name like us-east-1")
    return {
        "_APP_STORAGE_DEVICE": "s3",
        "_APP_STORAGE_S3_ACCESS_KEY": values["BUCKETEER_AWS_ACCESS_KEY_ID"],
        "_APP_STORAGE_S3_SECRET": values["BUCKETEER_AWS_SECRET_ACCESS_KEY"],
        "_APP_STORAGE_S3_REGION": region,
        "_APP_STORAGE_S3_BUCKET": values["BUCKETEER_BUCKET_NAME"],
    }


def cloudcube_settings(config: Mapping[str, str]) -> tuple[dict[str, str], list[str]] | None:
    """Cloudcube grants a key prefix (the "cube") in a shared bucket, not a bucket.

    Appwrite 1.9.6's `s3` device with `_APP_STORAGE_S3_ENDPOINT` set builds its root as
    `<_APP_STORAGE_S3_BUCKET>/<storage path>` under that endpoint, so the bucket host as the
    endpoint and the cube name as the "bucket" put every object under the cube's prefix.
    """
    if not any(present(config, name) for name in CLOUDCUBE_VARS):
        return None
    values = addon_vars(config, CLOUDCUBE_VARS, "Cloudcube")
    try:
        parts = urlsplit(values["CLOUDCUBE_URL"])
        host = (parts.hostname or "").lower()
    except ValueError:
        host, parts = "", urlsplit("")
    cube = parts.path.strip("/")
    if parts.scheme != "https" or not host.endswith(".amazonaws.com") or not cube or "/" in cube:
        # No example URL here: the value is secret (a `*_URL`), so an example that shares a
        # piece with it would print masked.
        raise InputError(
            "CLOUDCUBE_URL is not a cube URL: the https scheme, a host under amazonaws.com, "
            "then the cube's name as its one path segment, as the Cloudcube add-on sets it"
        )
    warnings: list[str] = []
    match = _S3_REGION_IN_HOST.search(host)
    if match and match.group(1) != "external-1":
        region = match.group(1)
    else:
        region = "us-east-1"  # the global endpoint `<bucket>.s3.amazonaws.com` is us-east-1
        if not host.startswith("cloud-cube."):
            warnings.append(
                "CLOUDCUBE_URL does not name its AWS region; assuming us-east-1. If uploads "
                "fail with a region error, set _APP_STORAGE_S3_REGION by hand"
            )
    return {
        "_APP_STORAGE_DEVICE": "s3",
        "_APP_STORAGE_S3_ACCESS_KEY": values["CLOUDCUBE_ACCESS_KEY_ID"],
        "_APP_STORAGE_S3_SECRET": values["CLOUDCUBE_SECRET_ACCESS_KEY"],
        "_APP_STORAGE_S3_REGION": region,
        "_APP_STORAGE_S3_ENDPOINT": f"https://{host}",
        "_APP_STORAGE_S3_BUCKET": cube,
    }, warnings


# --- Mail --------------------------------------------------------------------------------------

MAILGUN_VARS = ("MAILGUN_SMTP_SERVER", "MAILGUN_SMTP_LOGIN", "MAILGUN_SMTP_PASSWORD")
SENDGRID_HOST = "smtp.sendgrid.net"


def _smtp_port(value: str | None, source: str, default: int) -> int:
    if value is None:
        return default
    if not whole_number(value) or not 0 < int(value) < 65536:
        raise InputError(f"{source} is not a port number from 1 to 65535")
    return int(value)


def mailgun_settings(config: Mapping[str, str]) -> dict[str, str] | None:
    if not any(present(config, name) for name in (*MAILGUN_VARS, "MAILGUN_SMTP_PORT")):
        return None
    values = addon_vars(config, MAILGUN_VARS, "Mailgun")
    port = _smtp_port(exact(config, "MAILGUN_SMTP_PORT"), "MAILGUN_SMTP_PORT", 587)
    login = values["MAILGUN_SMTP_LOGIN"]
    domain = exact(config, "MAILGUN_DOMAIN") or login.rpartition("@")[2]
    settings = {
        "_APP_SMTP_HOST": values["MAILGUN_SMTP_SERVER"],
        "_APP_SMTP_PORT": str(port),
        "_APP_SMTP_SECURE": "ssl" if port == 465 else "tls",
        "_APP_SMTP_USERNAME": login,
        "_APP_SMTP_PASSWORD": values["MAILGUN_SMTP_PASSWORD"],
    }
    if domain and "@" in login:
        # Mailgun only relays mail from its own domain; Appwrite's default sender is not.
        settings["_APP_SYSTEM_EMAIL_ADDRESS"] = f"noreply@{domain}"
    return settings


def sendgrid_settings(config: Mapping[str, str]) -> tuple[dict[str, str], list[str]] | None:
    api_key = exact(config, "SENDGRID_API_KEY")
    username, password = exact(config, "SENDGRID_USERNAME"), exact(config, "SENDGRID_PASSWORD")
    if api_key:
        username, password = "apikey", api_key  # SendGrid's SMTP relay: literal user "apikey"
    elif username or password:
        if not (username and password):
            raise InputError("SENDGRID_USERNAME and SENDGRID_PASSWORD must both be set "
                             "(or set SENDGRID_API_KEY)")
    else:
        return None
    warning = ("SendGrid only sends from a verified sender: set _APP_SYSTEM_EMAIL_ADDRESS to an "
               "address verified in SendGrid")
    warnings = [] if present(config, "_APP_SYSTEM_EMAIL_ADDRESS") else [warning]
    return {
        "_APP_SMTP_HOST": SENDGRID_HOST,
        "_APP_SMTP_PORT": "587",
        "_APP_SMTP_SECURE": "tls",
        "_APP_SMTP_USERNAME": username or "",
        "_APP_SMTP_PASSWORD": password or "",
    }, warnings


__all__ = [
    "DATABASE_VARS",
    "Database",
    "bucketeer_settings",
    "cloudcube_settings",
    "database_candidates",
    "is_jawsdb_placeholder",
    "mailgun_settings",
    "parse_database_url",
    "sendgrid_settings",
]
