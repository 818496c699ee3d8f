"""The budget: Appwrite's appetite on every dyno against the attached plans' limits.

Heroku's small plans refuse clients past a fixed number (Redis mini: 20, Postgres essential-0:
20, JawsDB kitefin: 10). This module adds up appetite.py's per-process figures per dyno and for
the whole formation, says whether that fits the plans with headroom, and chooses Appwrite's
sizing knobs so that it does. Both the launcher (at boot, for its own dyno) and the release
engine (before a release, for all of them) call it, so they cannot disagree. Pure functions over
dataclasses, no I/O; the `budget` command (commands/budget.py) prints it.

One module per job, each importing only those below it (pyproject.toml's contract):
judgement (the release engine's, before it writes) > heroku_app (an app as Heroku describes it)
> profiles | advice (what to choose instead) | table (the budget as lines) > choice (the knobs)
| record (an app's dynos and plans, and their one-line record) > model (dynos, totals, what
does not fit). This package's namespace is their public names, which callers use.

Every figure comes twice: what Appwrite opens (to the bridge and to PgBouncer on 127.0.0.1) and
what reaches the add-on ("upstream"). Redis: the multiplexed bridge (dyno/redis/pool.py, the
launcher's mode) shares a few upstream connections for ordinary commands and gives a connection
that blocks, subscribes or WATCHes one of its own while it needs it, under a ceiling this
module chooses per dyno; the plain bridge opens one upstream per Appwrite connection.
PostgreSQL: PgBouncer (pooler.py) on every dyno opens at most its share of the plan. MySQL-family
add-ons get no pooler: Appwrite's own count reaches the add-on.
"""

from __future__ import annotations

from .advice import (
    NOT_ADVISED,
    advice,
    floor_memory,
    floor_slots,
    one_tier_formations,
    refusal,
    size_in_tier,
    too_small,
)
from .choice import (
    MAX_API_WORKERS,
    MAX_POOL,
    cheapest_fit,
    choose,
    user_knobs,
)
from .heroku_app import (
    DB_URL_SERVICES,
    dyno_specs,
    offline_setup,
    setup_from_platform,
)
from .judgement import (
    Judgement,
    judge,
    judge_setup,
)
from .model import (
    CURRENT_MODE,
    HEADROOM_DB,
    HEADROOM_REDIS,
    MAX_UPSTREAM_VAR,
    MEMORY_USABLE,
    MODE_VAR,
    RELEASE_BRIDGE_CEILING,
    ROLES,
    Budget,
    DynoBudget,
    DynoKnobs,
    DynoSpec,
    Wiring,
    ceiling_for,
    drains,
    dyno_budget,
    dyno_usd,
    evaluate,
    formation_text,
    tier_problem,
)
from .profiles import (
    DEFAULT_PROFILE,
    MINIMAL_SKIP,
    PROFILES,
    Profile,
    default_specs,
)
from .record import (
    PLANS_VAR,
    Setup,
    parse_formation,
    parse_record,
)
from .table import (
    render,
    verdict,
)

__all__ = [
    "CURRENT_MODE",
    "DB_URL_SERVICES",
    "DEFAULT_PROFILE",
    "HEADROOM_DB",
    "HEADROOM_REDIS",
    "MAX_API_WORKERS",
    "MAX_POOL",
    "MAX_UPSTREAM_VAR",
    "MEMORY_USABLE",
    "MINIMAL_SKIP",
    "MODE_VAR",
    "NOT_ADVISED",
    "PLANS_VAR",
    "PROFILES",
    "RELEASE_BRIDGE_CEILING",
    "ROLES",
    "Budget",
    "DynoBudget",
    "DynoKnobs",
    "DynoSpec",
    "Judgement",
    "Profile",
    "Setup",
    "Wiring",
    "advice",
    "ceiling_for",
    "cheapest_fit",
    "choose",
    "default_specs",
    "drains",
    "dyno_budget",
    "dyno_specs",
    "dyno_usd",
    "evaluate",
    "floor_memory",
    "floor_slots",
    "formation_text",
    "judge",
    "judge_setup",
    "offline_setup",
    "one_tier_formations",
    "parse_formation",
    "parse_record",
    "refusal",
    "render",
    "setup_from_platform",
    "size_in_tier",
    "tier_problem",
    "too_small",
    "user_knobs",
    "verdict",
]
