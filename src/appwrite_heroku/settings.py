"""The settings engine: Heroku config vars in, Appwrite `_APP_*` settings out.

Pure functions over a mapping of config vars; no network, no environment, no clock.
CONTRACT (used by the launcher, the release engine and the Action; keep these names):

    derive(config, *, hostname=None, bridge_port=DEFAULT_BRIDGE_PORT) -> Derivation

raises ``InputError`` for malformed input (the message names the variable, never a secret)
and reports a JawsDB placeholder as ``Derivation.not_ready`` rather than an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import quote, unquote, urlsplit

from .errors import InputError

DEFAULT_BRIDGE_PORT = 6379


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

    `source` names the variable for error messages; the URL itself is never echoed.
    """
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as error:
        raise InputError(f"{source} is not a valid Redis URL ({error}); "
                         "expected redis[s]://[user:password@]host:port[/db]") from None
    if parts.scheme not in ("redis", "rediss"):
        raise InputError(f"{source} must start with redis:// or rediss://")
    if not parts.hostname:
        raise InputError(f"{source} has no host; expected redis[s]://[user:password@]host:port")
    path = parts.path.strip("/")
    if path and not path.isdigit():
        raise InputError(f"{source} has a database path that is not a number")
    return RedisUpstream(
        source=source,
        host=parts.hostname,
        port=port or 6379,
        tls=parts.scheme == "rediss",
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
        db=int(path or 0),
    )


@dataclass
class Derivation:
    settings: dict[str, str]  # every `_APP_*` Appwrite should see
    redis_upstream: RedisUpstream | None  # None when no Redis add-on is attached
    warnings: list[str] = field(default_factory=list)
    not_ready: list[str] = field(default_factory=list)  # e.g. a JawsDB placeholder, by var name
    secret_keys: frozenset[str] = frozenset()  # keys of `settings` whose values are secret
    missing_secrets: list[str] = field(default_factory=list)  # e.g. _APP_OPENSSL_KEY_V1 absent


def derive(
    config: Mapping[str, str],
    *,
    hostname: str | None = None,
    bridge_port: int = DEFAULT_BRIDGE_PORT,
) -> Derivation:
    raise NotImplementedError
