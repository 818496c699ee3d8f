"""Heroku's dyno sizes and the add-on plans Appwrite Lite can use: their limits and prices.

A table, not a guess at run time: the release engine learns which plans an app has from the
Platform API (`GET /apps/{app}/addons`), and this table says what those plans allow. Figures come
from /work/shared/facts/heroku.md ("Dynos", "Add-on plan limits", researched 2026-11); a figure
that research did not settle carries its basis in `basis` and, for prices, `price_verified=False`.
Pure data and lookups; no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import InputError

REDIS = "redis"
DATABASE = "database"


@dataclass(frozen=True)
class DynoSize:
    name: str  # as `heroku ps:type` takes it (lower case)
    memory_mib: int
    price_usd: float  # per month, one dyno
    basis: str
    one_per_type: bool = False  # eco/basic: one dyno per process type


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


_DYNO_BASIS = "heroku.md, Dynos: memory per size and approximate monthly prices"
DYNO_SIZES: dict[str, DynoSize] = {size.name: size for size in (
    DynoSize("eco", 512, 5.0, _DYNO_BASIS + " (eco: $5 buys a pool of hours)", True),
    DynoSize("basic", 512, 7.0, _DYNO_BASIS, True),
    DynoSize("standard-1x", 512, 25.0, _DYNO_BASIS),
    DynoSize("standard-2x", 1024, 50.0, _DYNO_BASIS),
    # Fir generation sizes (heroku.md, last line of the plan limits section).
    DynoSize("dyno-1c-0.5gb", 512, 25.0, "heroku.md, Fir sizes"),
    DynoSize("dyno-2c-1gb", 1024, 50.0, "heroku.md, Fir sizes"),
    DynoSize("performance-m", 2560, 250.0,
             "memory: heroku.md, Dynos; price $250 is Heroku's list price as remembered, "
             "not in the 2026-11 research"),
)}

_H = "heroku.md, Add-on plan limits"
ADDON_PLANS: dict[str, AddonPlan] = {plan.name: plan for plan in (
    AddonPlan("heroku-redis:mini", REDIS, 20, 25, 3.0, True, _H),
    AddonPlan("heroku-redis:premium-0", REDIS, 40, 50, 15.0, False,
              _H + " (limits); price $15 as remembered, the research left it open"),
    AddonPlan("heroku-redis:premium-1", REDIS, 80, 100, 30.0, False,
              _H + " (limits); price $30 as remembered, the research left it open"),
    AddonPlan("heroku-redis:premium-2", REDIS, 200, 250, 60.0, True, _H),
    AddonPlan("jawsdb-maria:kitefin", DATABASE, 10, 5, 0.0, True,
              _H + " (third-party source for connections and queries)", 3600, "mariadb"),
    AddonPlan("jawsdb:kitefin", DATABASE, 10, 5, 0.0, True,
              _H + " (third-party source for connections and queries)", 3600, "mysql"),
    AddonPlan("jawsdb-maria:leopard", DATABASE, 15, 1024, 10.0, False,
              _H + " (third-party source; one source says $50)", None, "mariadb"),
    AddonPlan("jawsdb:leopard", DATABASE, 15, 1024, 10.0, False,
              _H + " (third-party source; one source says $50)", None, "mysql"),
    AddonPlan("heroku-postgresql:essential-0", DATABASE, 20, 1024, 5.0, True, _H, None,
              "postgresql"),
    AddonPlan("heroku-postgresql:essential-1", DATABASE, 20, 10 * 1024, 9.0, True, _H, None,
              "postgresql"),
    AddonPlan("heroku-postgresql:essential-2", DATABASE, 40, 32 * 1024, 20.0, False,
              _H + " (limits); price $20 as remembered, the research left it open", None,
              "postgresql"),
)}

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


def addon_plan(name: str, kind: str | None = None) -> AddonPlan:
    """A plan by its `service:plan` name; one line naming the known ones if unknown."""
    key = name.strip().lower()
    plan = ADDON_PLANS.get(key)
    if plan is None or (kind is not None and plan.kind != kind):
        known = [p.name for p in ADDON_PLANS.values() if kind is None or p.kind == kind]
        what = {REDIS: "Redis plan", DATABASE: "database plan"}.get(kind or "", "add-on plan")
        raise InputError(f"unknown {what} {name!r}: known plans are {', '.join(known)}")
    return plan


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
