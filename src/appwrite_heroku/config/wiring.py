"""How a dyno reaches its add-ons, as numbers both halves must agree on.

The launcher wires each dyno (the Redis bridge's mode and ceiling, PgBouncer's switch and pool)
and the release side's budget decides those same numbers before a deploy. Their variable names
and sizing rules live here, in `config`, so that neither half imports the other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..display import quoted
from ..errors import InputError
from . import inputs

# -- the Redis bridge (dyno/bridge.py, dyno/redis/) ------------------------------------------------

UPSTREAM_ENV = "APPWRITE_REDIS_BRIDGE_UPSTREAM"  # the Redis URL: its password stays out of argv
MODE_ENV = "APPWRITE_REDIS_BRIDGE_MODE"  # plain | multiplex
MAX_UPSTREAM_ENV = "APPWRITE_REDIS_BRIDGE_MAX_UPSTREAM"  # the ceiling in multiplexed mode
DEFAULT_MAX_UPSTREAM = 18  # Heroku's mini plan admits 20 clients; two left for redis-cli & co.
# The most a ceiling may be: far above any Heroku Redis plan's clients (premium-2: 200), low
# enough that a typo of extra digits is caught rather than taken.
MAX_MAX_UPSTREAM = 10_000
DEFAULT_SHARED = 2  # shared connections (fewer when the ceiling is small)
PLAIN, MUX = "plain", "multiplex"
MODES = (PLAIN, MUX)
DEFAULT_MODE = PLAIN  # the standalone `redis-bridge`; dynos multiplex (budget.CURRENT_MODE)


def shared_for(max_upstream: int, shared: int = DEFAULT_SHARED) -> int:
    """Shared connections under a ceiling: at most ``shared``, a quarter of the ceiling, at
    least one; the rest is left for dedicated needs (the budget sizes ceilings from this)."""
    return max(1, min(shared, max_upstream // 4))


@dataclass(frozen=True)
class BridgeOptions:
    """How the bridge relays: ``mode`` and, when multiplexing, the ceiling."""

    mode: str = DEFAULT_MODE
    max_upstream: int | None = None  # None: plain mode, or multiplex's default


def bridge_options(environ: Mapping[str, str], mode: str | None = None,
                   max_upstream: str | None = None, default: str = DEFAULT_MODE,
                   ) -> BridgeOptions:
    """The mode and ceiling from arguments, else ``APPWRITE_REDIS_BRIDGE_MODE`` and
    ``APPWRITE_REDIS_BRIDGE_MAX_UPSTREAM``, else ``default``; raises ``InputError`` naming a
    bad one. The bridge, the launcher and the budget all read the two variables here."""
    source = "--mode" if mode else MODE_ENV
    chosen = (mode or environ.get(MODE_ENV, "")).strip().lower() or default
    if chosen not in MODES:
        raise InputError(f"{source}={quoted(chosen)} is not a bridge mode; use plain or "
                         "multiplex")
    source, text = ("--max-upstream", max_upstream) if max_upstream is not None else (
        MAX_UPSTREAM_ENV, environ.get(MAX_UPSTREAM_ENV, "").strip())
    ceiling: int | None = None
    if text:
        ceiling = inputs.whole(text, source, 2, MAX_MAX_UPSTREAM,
                               "set it to the upstream connections this bridge may hold (e.g. "
                               "18 for Heroku's mini plan with one dyno), or unset it")
    return BridgeOptions(chosen, ceiling if chosen == MUX else None)


# -- PgBouncer (dyno/pooler.py) ------------------------------------------------------------------

SWITCH_VAR = "APPWRITE_LITE_PG_POOLER"
POOL_SIZE_VAR = "APPWRITE_LITE_PG_POOL_SIZE"
MAX_POOL_SIZE = 1_000  # Heroku Postgres' largest plans admit 500 connections
# The launcher passes the plan's own limit and the dyno count from the budget (the plans recorded
# in APPWRITE_LITE_PLANS); without them, Heroku Postgres essential-0 and essential-1, the
# smallest plans, admit 20 (Heroku Dev Center, Heroku Postgres plans). `APPWRITE_LITE_PG_POOL_SIZE`
# sets the pool by hand.
DEFAULT_PLAN_LIMIT = 20
# Kept free of the dynos' pools — the one database headroom, budget.HEADROOM_DB is this value:
# one `heroku pg:psql` session, and the release phase, which runs while the old dynos still hold
# their pools and goes to the add-on directly (the launcher's own check plus `migrate`'s
# console, project and logs pools and its `db` register, ~4: estimated from app/cli.php and
# registers.php, not measured).
DEFAULT_HEADROOM = 5
OFF_WORDS = ("0", "false", "no", "off", "disabled")
ON_WORDS = ("1", "true", "yes", "on", "enabled")


@dataclass(frozen=True)
class PoolSize:
    """Server connections one dyno's PgBouncer may open to the add-on."""

    default_pool_size: int
    reserve_pool_size: int
    max_db_connections: int  # the hard cap: default + reserve


def server_pool_size(plan_limit: int, dynos: int, headroom: int) -> PoolSize:
    """Each dyno's share of the plan's connections once `headroom` is kept free.

    One connection of each share is held back as PgBouncer's reserve (used after
    `reserve_pool_timeout` when clients queue) once the share is big enough to spare it;
    `max_db_connections` caps the sum, so a dyno never opens more than its share.
    """
    if plan_limit < 1 or dynos < 1 or headroom < 0:
        raise ValueError("plan_limit and dynos must be positive, headroom not negative")
    share = (plan_limit - headroom) // dynos
    if share < 1:
        raise InputError(
            f"the database plan's {plan_limit} connections leave none for {dynos} dyno(s) "
            f"after {headroom} kept free; set {POOL_SIZE_VAR} or use a bigger plan "
            "(`heroku addons:plans heroku-postgresql`)"
        )
    return pool_of(share)


def pool_of(share: int) -> PoolSize:
    reserve = 1 if share >= 4 else 0
    return PoolSize(share - reserve, reserve, share)


def pooler_enabled(settings: Mapping[str, str], environ: Mapping[str, str]) -> bool:
    """On for PostgreSQL unless switched off; MySQL-family add-ons get no pooler here."""
    if settings.get("_APP_DB_ADAPTER", "").strip().lower() != "postgresql":
        return False
    return pooler_switch(environ)


def pooler_switch(environ: Mapping[str, str]) -> bool:
    """`APPWRITE_LITE_PG_POOLER`: on unless switched off; one line for a word it is not."""
    raw = environ.get(SWITCH_VAR, "on").strip().lower() or "on"
    if raw in OFF_WORDS:
        return False
    if raw in ON_WORDS:
        return True
    raise InputError(f"{SWITCH_VAR} must be on or off, got {raw!r}")


def pool_size_for(role: str, environ: Mapping[str, str], *,
                  plan_limit: int = DEFAULT_PLAN_LIMIT, dynos: int | None = None,
                  headroom: int = DEFAULT_HEADROOM) -> PoolSize:
    """`APPWRITE_LITE_PG_POOL_SIZE` when set, else this dyno's share of `plan_limit`.

    Without a dyno count, the Lite formations: one web and one worker dyno, or the web dyno
    alone when it runs everything (role `all`).
    """
    size = pool_size_override(environ)
    if size is not None:
        return pool_of(size)
    count = dynos if dynos is not None else (1 if role == "all" else 2)
    return server_pool_size(plan_limit, count, headroom)


def pool_size_override(environ: Mapping[str, str]) -> int | None:
    """`APPWRITE_LITE_PG_POOL_SIZE`, the pool set by hand, when it is set."""
    raw = environ.get(POOL_SIZE_VAR, "").strip()
    if not raw:
        return None
    return inputs.whole(raw, POOL_SIZE_VAR, 1, MAX_POOL_SIZE,
                        "set the server connections each dyno's PgBouncer may open, or unset it")
