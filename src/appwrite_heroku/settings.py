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
        raise NotImplementedError


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
