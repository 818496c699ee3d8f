"""Redis: which add-on's URL the dyno uses (Heroku Key-Value Store, Redis Cloud, or our
override), the URL parsed, and what Appwrite is told (directly, or the local bridge).

Pure functions over the config mapping. Messages name variables, never their values: the URLs
carry credentials.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote, unquote

from ..errors import InputError
from . import plans
from .inputs import present, service_url, whole_number

REDIS_LAST_DB = 15  # Redis's default `databases 16`; Heroku's Key-Value Store has only 0
REDIS_OVERRIDE_VAR = "APPWRITE_REDIS_URL"
_REDIS_FIXED_ORDER = (REDIS_OVERRIDE_VAR, "REDIS_URL", "REDISCLOUD_URL")
_HEROKU_REDIS_COLOR = re.compile(r"^HEROKU_REDIS_[A-Z0-9]+_URL$")


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


def parse_redis_url(url: str, source: str) -> RedisUpstream:
    """`redis://` or `rediss://`, optional `user:password@` (percent-encoded), optional `/db`.

    `source` names the variable for error messages; no part of the URL is ever echoed.
    """
    expected = "expected redis[s]://[user:password@]host:port[/db]"
    parts, port, hostname = service_url(url, source, "Redis", expected)
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


def derive(config: Mapping[str, str],
           bridge_port: int) -> tuple[dict[str, str], RedisUpstream | None, list[str]]:
    """The Redis settings (through the bridge when the add-on needs TLS or a password), the
    upstream the bridge must reach (None without a Redis add-on), and the warnings."""
    upstream, warnings = choose_redis(config)
    if upstream is None:
        warnings.append(
            "no Redis add-on is attached; Appwrite cannot start without one "
            f"(`{plans.attach_command(plans.REDIS)}`)"
        )
        return {}, None, warnings
    if upstream.db and not upstream.needs_bridge:
        warnings.append(
            f"{upstream.source} names Redis database {upstream.db}, but Appwrite 1.9.6 "
            "always uses database 0"
        )
    return redis_settings(upstream, bridge_port), upstream, warnings


__all__ = [
    "REDIS_OVERRIDE_VAR",
    "RedisUpstream",
    "choose_redis",
    "derive",
    "parse_redis_url",
    "redis_candidates",
    "redis_settings",
]
