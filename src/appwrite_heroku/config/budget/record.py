"""An app's dynos and plans (a Setup), and the one-line record of it the release engine keeps
in the `APPWRITE_LITE_PLANS` config var for the launcher, which cannot ask Heroku."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ...errors import InputError
from .. import plans as plan_table
from ..plans import AddonPlan
from .model import ROLES, DynoSpec, formation_text

PLANS_VAR = "APPWRITE_LITE_PLANS"
_ENTRY = re.compile(r"^(?:(\d+)x)?([a-z0-9.-]+)$")


@dataclass(frozen=True)
class Setup:
    """What the budget needs to know about an app: its dynos and its two plans."""

    specs: tuple[DynoSpec, ...]
    redis_plan: AddonPlan
    db_plan: AddonPlan
    skip: frozenset[str] = frozenset()

    def record(self) -> str:
        """The `APPWRITE_LITE_PLANS` value: `redis=PLAN,db=PLAN,web=SIZE,worker=SIZE`."""
        return (f"redis={self.redis_plan.name},db={self.db_plan.name},"
                f"{formation_text(self.specs)}")


def parse_formation(text: str) -> tuple[DynoSpec, ...]:
    """`web=standard-1x,worker=standard-2x` (`2xstandard-2x` for two dynos; `all=SIZE` for one dyno
    running everything)."""
    specs: dict[str, DynoSpec] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        role, sep, value = item.partition("=")
        role = role.strip().lower()
        match = _ENTRY.match(value.strip().lower())
        if not sep or role not in ROLES or not match:
            raise InputError(f"formation entry {item!r} is not ROLE=SIZE with ROLE one of "
                             f"{', '.join(ROLES)} (e.g. web=basic,worker=basic)")
        if role in specs:
            raise InputError(f"the formation gives {role} twice; give each process type once "
                             "(2xSIZE for two dynos of one type)")
        quantity = int(match.group(1) or 1)
        size = plan_table.dyno_size(match.group(2))
        if quantity < 1 or (size.one_per_type and quantity > 1):
            raise InputError(f"formation entry {item!r}: {size.name} runs one dyno per process "
                             "type" if quantity > 1 else f"formation entry {item!r}: at least 1")
        specs[role] = DynoSpec(role, size, quantity)
    if not specs:
        raise InputError("empty formation: give e.g. web=basic,worker=basic")
    if "all" in specs and len(specs) > 1:
        raise InputError("formation `all=SIZE` is one dyno running everything: give it alone")
    if "worker" in specs and "web" not in specs:
        raise InputError("a formation with a worker dyno needs a web dyno too (web=SIZE)")
    return tuple(specs[r] for r in ROLES if r in specs)


def parse_record(text: str) -> Setup:
    """An `APPWRITE_LITE_PLANS` value back into a Setup (one line naming what is wrong)."""
    redis = db = None
    dynos = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, _, value = item.partition("=")
        if key == "redis":
            redis = plan_table.addon_plan(value, plan_table.REDIS)
        elif key == "db":
            db = plan_table.addon_plan(value, plan_table.DATABASE)
        else:
            dynos.append(item)
    if redis is None or db is None or not dynos:
        raise InputError(f"{PLANS_VAR} must look like redis=PLAN,db=PLAN,web=SIZE[,worker=SIZE]"
                         " (the release engine writes it; unset it to use the defaults)")
    return Setup(parse_formation(",".join(dynos)), redis, db)
