"""Heroku add-on config vars, one parser per add-on, each returning Appwrite `_APP_*` pieces.

Pure functions over the config mapping. Messages name variables, never their values: add-on
values carry credentials. The settings engine (`settings.derive`) combines the pieces.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import SplitResult, quote, unquote, urlsplit

from ..errors import InputError, NotReadyError
from . import inputs
from .inputs import whole_number

# --- Redis -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RedisUpstream:
    """Where the real Redis is, as the bridge must reach it. Holds a secret: never print it."""

    source: str  # the config var it came from, e.g. "REDIS_URL"
    host: str
    port: int
    tls: bool
    username: str | None
    password: str | None
    db: int

    @property
    def needs_bridge(self) -> bool:
        """Appwrite 1.9.6 speaks neither TLS nor AUTH, so either one means a bridge."""
        return self.tls or bool(self.password) or bool(self.username)

    def url(self) -> str:
        """The upstream as a URL with percent-encoded credentials (secret)."""
        auth = ""
        if self.password is not None or self.username:
            user = quote(self.username or "", safe="")
            auth = f"{user}:{quote(self.password or '', safe='')}@"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'rediss' if self.tls else 'redis'}://{auth}{host}:{self.port}/{self.db}"


def _split_url(url: str, source: str, kind: str,
               expected: str) -> tuple[SplitResult, int | None, str | None]:
    """urlsplit, with a bad port or host turned into our one-line error. urllib's own messages
    can quote the URL (and so its password): they never reach the user."""
    text = url
    if len(text) > inputs.CONFIG_BYTES:
        raise InputError(f"{source} is longer than {inputs.CONFIG_BYTES // 1024} KB, more than "
                         f"Heroku holds for all of an app's config vars; {expected}")
    # urlsplit silently drops tabs and line breaks anywhere in a URL (bpo-43882): a password
    # with a raw newline would lose it. Refused here instead, as is any other control character
    # and a space or line break around the URL (taken as it is, never stripped).
    if any(char.isspace() or not char.isprintable() for char in text):
        raise InputError(f"{source} holds a space, line break or control character (also at "
                         f"its start or end); percent-encode it (%0A for a newline) or remove "
                         f"it; {expected}")
    try:
        parts = urlsplit(text)
        port = parts.port
        hostname = parts.hostname
    except ValueError:
        raise InputError(f"{source} is not a valid {kind} URL; {expected}") from None
    if port == 0:
        # `port or default` would quietly turn an explicit :0 into the default port.
        raise InputError(f"{source} names port 0; {expected}")
    return parts, port, hostname


def parse_redis_url(url: str, source: str) -> RedisUpstream:
    """`redis://` or `rediss://`, optional `user:password@` (percent-encoded), optional `/db`.

    `source` names the variable for error messages; no part of the URL is ever echoed.
    """
    expected = "expected redis[s]://[user:password@]host:port[/db]"
    parts, port, hostname = _split_url(url, source, "Redis", expected)
    if parts.scheme.lower() not in ("redis", "rediss"):
        raise InputError(f"{source} must start with redis:// or rediss://")
    if not hostname:
        raise InputError(f"{source} has no host; {expected}")
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        # `?password=…` is how some clients take a password; the bridge would not send it.
        raise InputError(f"{source} has a query string or fragment (?…, #…), which is not "
                         f"read; give the password as user info; {expected}")
    path = parts.path.strip("/")
    if path and (not whole_number(path) or int(path) > REDIS_LAST_DB):
        raise InputError(f"{source} has a database path that is not a number from 0 to "
                         f"{REDIS_LAST_DB} (Redis has 16 databases unless told otherwise); "
                         f"{expected}")
    return RedisUpstream(
        source=source,
        host=hostname,
        port=port if port is not None else 6379,
        tls=parts.scheme.lower() == "rediss",
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
        db=int(path or 0),
    )

REDIS_LAST_DB = 15  # Redis's default `databases 16`; Heroku's Key-Value Store has only 0
REDIS_OVERRIDE_VAR = "APPWRITE_REDIS_URL"
_REDIS_FIXED_ORDER = (REDIS_OVERRIDE_VAR, "REDIS_URL", "REDISCLOUD_URL")
_HEROKU_REDIS_COLOR = re.compile(r"^HEROKU_REDIS_[A-Z0-9]+_URL$")


def present(config: Mapping[str, str], name: str) -> str | None:
    """The value of `name` as it is, or None when unset or blank (app.json leaves blanks)."""
    value = config.get(name)
    if value is None or not value.strip():
        return None
    return value


def exact(config: Mapping[str, str], name: str) -> str | None:
    """An add-on's value as `present` gives it, refused when a space or line break surrounds
    it: Heroku keeps a config var exactly as it was set, so a stray newline was pasted, and
    quietly stripping it would leave the config saying one thing and Appwrite doing another."""
    value = present(config, name)
    if value is not None and value != value.strip():
        raise InputError(f"{name} has a space or line break at its start or end; set it again "
                         f"without (`heroku config:set {name}=...`)")
    return value


def redis_candidates(config: Mapping[str, str]) -> list[str]:
    """Redis URL variables that are set, best first: our override, REDIS_URL, REDISCLOUD_URL,
    then the `HEROKU_REDIS_<COLOR>_URL` ones alphabetically (a stable, documented choice)."""
    colors = sorted(name for name in config if _HEROKU_REDIS_COLOR.match(name))
    return [name for name in (*_REDIS_FIXED_ORDER, *colors) if present(config, name)]


def choose_redis(config: Mapping[str, str]) -> tuple[RedisUpstream | None, list[str]]:
    """The Redis the bridge (or Appwrite directly) must use, and a warning when several exist."""
    names = redis_candidates(config)
    if not names:
        return None, []
    chosen = names[0]
    upstream = parse_redis_url(present(config, chosen) or "", chosen)
    warnings: list[str] = []
    others = [name for name in names[1:] if present(config, name) != present(config, chosen)]
    if others and chosen != REDIS_OVERRIDE_VAR:
        warnings.append(
            f"several Redis URLs are set ({', '.join([chosen, *others])}); using {chosen}. "
            f"Set {REDIS_OVERRIDE_VAR} to the one Appwrite must use"
        )
    return upstream, warnings


def redis_settings(upstream: RedisUpstream, bridge_port: int) -> dict[str, str]:
    """What Appwrite is told. Appwrite 1.9.6 speaks neither TLS nor AUTH on every connection,
    so a TLS or password upstream is reached through the local bridge."""
    if upstream.needs_bridge:
        return {
            "_APP_REDIS_HOST": "127.0.0.1",
            "_APP_REDIS_PORT": str(bridge_port),
            "_APP_REDIS_USER": "",
            "_APP_REDIS_PASS": "",
        }
    return {
        "_APP_REDIS_HOST": upstream.host,
        "_APP_REDIS_PORT": str(upstream.port),
        "_APP_REDIS_USER": "",
        "_APP_REDIS_PASS": "",
    }


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
    parts, port, hostname = _split_url(url, source, "database", expected)
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


def _require_all(config: Mapping[str, str], names: tuple[str, ...], addon: str) -> dict[str, str]:
    missing = [name for name in names if not present(config, name)]
    if missing:
        raise InputError(
            f"the {addon} add-on's {', '.join(missing)} is missing; re-attach the add-on "
            f"(`heroku addons:attach`) or unset its other variables"
        )
    return {name: exact(config, name) or "" for name in names}


def bucketeer_settings(config: Mapping[str, str]) -> dict[str, str] | None:
    """Bucketeer is a plain AWS bucket: Appwrite's `s3` device without an endpoint."""
    if not any(present(config, name) for name in BUCKETEER_VARS):
        return None
    values = _require_all(config, BUCKETEER_VARS, "Bucketeer")
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
    values = _require_all(config, CLOUDCUBE_VARS, "Cloudcube")
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
    values = _require_all(config, MAILGUN_VARS, "Mailgun")
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
    "REDIS_OVERRIDE_VAR",
    "Database",
    "RedisUpstream",
    "bucketeer_settings",
    "choose_redis",
    "cloudcube_settings",
    "database_candidates",
    "exact",
    "is_jawsdb_placeholder",
    "mailgun_settings",
    "parse_database_url",
    "parse_redis_url",
    "present",
    "redis_candidates",
    "redis_settings",
    "sendgrid_settings",
]
