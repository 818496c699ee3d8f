"""Heroku's dyno sizes and the add-on plans Appwrite Lite can use: their limits and prices.

A table, not a guess at run time: the release engine learns which plans an app has from the
Platform API (`GET /apps/{app}/addons`), and this table says what those plans allow. Figures come
from Heroku's Dev Center and the add-ons' pages (researched 2026-11, each named in `basis`); a
figure that research did not settle says so in `basis` and, for prices, `price_verified=False`.
Pure data and lookups; no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..errors import InputError

REDIS = "redis"
DATABASE = "database"


# Dyno tiers (Dev Center, Dyno Types, "Mixing dyno types"): an app on eco dynos uses only eco,
# one on basic only basic; standard-1x, standard-2x and performance-* are the
# production tier and combine with each other. Fir sizes belong to another generation of the
# platform (the Platform API schema's dyno-size `generation`: cedar or fir), and an app has one
# generation, so they combine only with each other: a tier of their own here.
ECO, BASIC, PRODUCTION, FIR = "eco", "basic", "production", "fir"
TIERS = (ECO, BASIC, PRODUCTION, FIR)
# The refusal Heroku answers a mixed formation with, as the Deploy button shows it.
MIX_REFUSAL = 'which Heroku refuses ("cannot mix")'


@dataclass(frozen=True)
class DynoSize:
    name: str  # as `heroku ps:type` takes it (lower case)
    memory_mib: int
    price_usd: float  # per month, one dyno
    basis: str
    tier: str  # one of TIERS: the dynos of one app are all of one tier
    one_per_type: bool = False  # eco/basic: one dyno per process type
    caveat: str = ""  # what a user of this size must know beyond memory and price


@dataclass(frozen=True)
class AddonPlan:
    name: str  # `service:plan`, as the Platform API names it
    kind: str  # REDIS | DATABASE
    connections: int  # the most clients the plan accepts at once
    storage_mb: int
    price_usd: float  # per month
    price_verified: bool
    basis: str
    queries_per_hour: int | None = None  # a plan's query quota, where it has one
    adapter: str | None = None  # database plans: Appwrite's `_APP_DB_ADAPTER` for it


_DYNO_TYPES = "Heroku Dev Center, Dyno Types (devcenter.heroku.com/articles/dyno-types)"
_DYNO_BASIS = f"{_DYNO_TYPES}: memory per size and monthly prices"
# Dev Center, Dyno Types: eco's web dyno sleeps, and all of an account's eco dynos share one pool.
ECO_CAVEAT = ("eco: the web dyno sleeps after 30 min without traffic, and every eco dyno of "
              "the account draws on one 1,000-hour pool a month (two dynos all month need "
              "~1,460 h)")
DYNO_SIZES: dict[str, DynoSize] = {size.name: size for size in (
    DynoSize("eco", 512, 5.0, _DYNO_BASIS + " (eco: $5 buys a pool of hours)", ECO, True,
             ECO_CAVEAT),
    DynoSize("basic", 512, 7.0, _DYNO_BASIS, BASIC, True),
    DynoSize("standard-1x", 512, 25.0, _DYNO_BASIS, PRODUCTION),
    DynoSize("standard-2x", 1024, 50.0, _DYNO_BASIS, PRODUCTION),
    # Fir generation sizes; they run only in a Fir space, never on the Common Runtime where
    # the Deploy button creates apps.
    DynoSize("dyno-1c-0.5gb", 512, 25.0, f"{_DYNO_TYPES}: Fir sizes", FIR),
    DynoSize("dyno-2c-1gb", 1024, 50.0, f"{_DYNO_TYPES}: Fir sizes", FIR),
    DynoSize("performance-m", 2560, 250.0,
             f"memory: {_DYNO_TYPES}; price $250 is Heroku's list price as remembered, "
             "not in the 2026-11 research", PRODUCTION),
)}

# Each plan's limits as its provider publishes them (researched 2026-11).
_REDIS = ("Heroku Dev Center, Heroku Key-Value Store plans "
          "(devcenter.heroku.com/articles/heroku-redis)")
_PG = ("Heroku Dev Center, Heroku Postgres plans "
       "(devcenter.heroku.com/articles/heroku-postgres-plans)")
_JAWSDB = "JawsDB's plan pages (elements.heroku.com/addons/jawsdb-maria, .../jawsdb)"
ADDON_PLANS: dict[str, AddonPlan] = {plan.name: plan for plan in (
    AddonPlan("heroku-redis:mini", REDIS, 20, 25, 3.0, True, _REDIS),
    AddonPlan("heroku-redis:premium-0", REDIS, 40, 50, 15.0, False,
              _REDIS + " (limits); price $15 as remembered, the research left it open"),
    AddonPlan("heroku-redis:premium-1", REDIS, 80, 100, 30.0, False,
              _REDIS + " (limits); price $30 as remembered, the research left it open"),
    AddonPlan("heroku-redis:premium-2", REDIS, 200, 250, 60.0, True, _REDIS),
    AddonPlan("jawsdb-maria:kitefin", DATABASE, 10, 5, 0.0, True,
              _JAWSDB + " (third-party source for connections and queries)", 3600, "mariadb"),
    AddonPlan("jawsdb:kitefin", DATABASE, 10, 5, 0.0, True,
              _JAWSDB + " (third-party source for connections and queries)", 3600, "mysql"),
    AddonPlan("jawsdb-maria:leopard", DATABASE, 15, 1024, 10.0, False,
              _JAWSDB + " (third-party source; one source says $50)", None, "mariadb"),
    AddonPlan("jawsdb:leopard", DATABASE, 15, 1024, 10.0, False,
              _JAWSDB + " (third-party source; one source says $50)", None, "mysql"),
    AddonPlan("heroku-postgresql:essential-0", DATABASE, 20, 1024, 5.0, True, _PG, None,
              "postgresql"),
    AddonPlan("heroku-postgresql:essential-1", DATABASE, 20, 10 * 1024, 9.0, True, _PG, None,
              "postgresql"),
    AddonPlan("heroku-postgresql:essential-2", DATABASE, 40, 32 * 1024, 20.0, False,
              _PG + " (limits); price $20 as remembered, the research left it open", None,
              "postgresql"),
)}

# The plans the Deploy button attaches (app.json's `addons`, the default profile's plans): what
# every "attach one" hint names, so no two surfaces advise different add-ons.
BUTTON_PLANS = {REDIS: "heroku-redis:mini", DATABASE: "heroku-postgresql:essential-0"}

# The add-on services whose plans this table knows, by kind (anything else is not Appwrite's
# Redis or database, e.g. Bucketeer or Mailgun).
SERVICES = {"heroku-redis": REDIS, "jawsdb-maria": DATABASE, "jawsdb": DATABASE,
            "heroku-postgresql": DATABASE}


def dyno_size(name: str) -> DynoSize:
    """A size by any spelling Heroku uses (`Standard-2X`, `standard-2x`); one line if unknown."""
    key = name.strip().lower()
    if key not in DYNO_SIZES:
        raise InputError(f"unknown dyno size {name!r}: known sizes are "
                         f"{', '.join(DYNO_SIZES)}")
    return DYNO_SIZES[key]


def tiers_of(sizes: Iterable[DynoSize]) -> tuple[str, ...]:
    """The tiers a formation's sizes belong to, in TIERS order."""
    found = {size.tier for size in sizes}
    return tuple(tier for tier in TIERS if tier in found)


def accepted(sizes: Iterable[DynoSize]) -> bool:
    """Heroku's rule for one app's dynos: all of one tier (all eco, all basic, all production
    sizes, or all Fir sizes). The one rule every surface asks."""
    return len(tiers_of(sizes)) <= 1


def addon_plan(name: str, kind: str | None = None) -> AddonPlan:
    """A plan by its `service:plan` name; one line naming the known ones if unknown."""
    key = name.strip().lower()
    plan = ADDON_PLANS.get(key)
    if plan is None or (kind is not None and plan.kind != kind):
        known = [p.name for p in ADDON_PLANS.values() if kind is None or p.kind == kind]
        what = {REDIS: "Redis plan", DATABASE: "database plan"}.get(kind or "", "add-on plan")
        raise InputError(f"unknown {what} {name!r}: known plans are {', '.join(known)}")
    return plan


def attach_command(kind: str, app: str = "APP") -> str:
    """`heroku addons:create PLAN -a APP` for the Deploy button's plan of that kind: the one
    hint the settings engine, `plan` and `deploy` give when the add-on is missing."""
    return f"heroku addons:create {BUTTON_PLANS[kind]} -a {app}"


def plans_of(kind: str) -> list[AddonPlan]:
    """The known plans of one kind, cheapest first (then the most connections)."""
    return sorted((p for p in ADDON_PLANS.values() if p.kind == kind),
                  key=lambda p: (p.price_usd, -p.connections, p.name))


def price_text(plan: AddonPlan | DynoSize) -> str:
    """`$30/month`, `free`, `$30/month, price unverified`: callers put it in parentheses."""
    price = "free" if plan.price_usd == 0 else f"${plan.price_usd:g}/month"
    if isinstance(plan, AddonPlan) and not plan.price_verified:
        price += ", price unverified"
    return price
