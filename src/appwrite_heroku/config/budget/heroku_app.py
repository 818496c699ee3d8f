"""An app as Heroku describes it — the Platform API's add-ons and formation, or, offline, its
config vars — turned into the Setup the budget judges."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from ...errors import InputError
from .. import plans as plan_table
from ..appetite import runs_all_in_web
from ..database import database_candidates
from ..heroku_types import RUNNING_TYPES
from ..plans import AddonPlan
from .model import ROLES, DynoSpec, formation_text
from .profiles import DEFAULT_PROFILE, default_specs
from .record import PLANS_VAR, Setup, parse_record


def dyno_specs(formation: Sequence[Mapping[str, Any]], all_in_web: bool,
               ) -> tuple[list[DynoSpec], list[str]]:
    """The running dynos of `GET /apps/{app}/formation`, and one line for each size this
    tool's plan table does not know (those dynos are left out: what to do is the caller's)."""
    specs, unknown = [], []
    for item in formation:
        kind = str(item.get("type") or "")
        quantity = int(item.get("quantity") or 0)
        if kind not in RUNNING_TYPES or quantity < 1:
            continue
        try:
            size = plan_table.dyno_size(str(item.get("size") or ""))
        except InputError as error:
            unknown.append(str(error))
            continue
        specs.append(DynoSpec("all" if kind == "web" and all_in_web else kind, size, quantity))
    return specs, unknown


def setup_from_platform(addons: Sequence[Mapping[str, Any]],
                        formation: Sequence[Mapping[str, Any]], all_in_web: bool,
                        ) -> tuple[Setup | None, list[str]]:
    """The Setup of a real app from `GET /apps/{app}/addons` and `/formation`. Unknown plans
    give warnings (and None): the engine cannot judge what it does not know."""
    warnings: list[str] = []
    found: dict[str, AddonPlan] = {}
    for addon in addons:
        service = str((addon.get("addon_service") or {}).get("name") or "")
        kind = plan_table.SERVICES.get(service)
        name = str((addon.get("plan") or {}).get("name") or "")
        if kind is None or kind in found:
            continue
        try:
            found[kind] = plan_table.addon_plan(name, kind)
        except InputError:
            warnings.append(f"add-on plan {name} is not in this tool's plan table: its "
                            "connection limit is unknown, so the budget is not checked")
    specs, unknown_sizes = dyno_specs(formation, all_in_web)
    if unknown_sizes:
        warnings.append(f"{unknown_sizes[0]}; the budget is not checked")
        return None, warnings
    if not specs:  # before the first release: judged as the dynos the app should get
        specs = list(default_specs(all_in_web))
        scale = " ".join(f"{'web' if s.role == 'all' else s.role}={s.quantity}:{s.size.name}"
                         for s in specs)
        warnings.append(f"the app runs no dynos yet, so the budget judges "
                        f"{formation_text(specs)}; after the first release Heroku starts only "
                        f"web: run `heroku ps:scale {scale} -a APP`")
    if plan_table.REDIS not in found or plan_table.DATABASE not in found:
        return None, warnings
    order = {r: i for i, r in enumerate(ROLES)}
    specs.sort(key=lambda s: order[s.role])
    return Setup(tuple(specs), found[plan_table.REDIS], found[plan_table.DATABASE]), warnings


# Which add-on a database URL var comes from, and the plan `heroku addons:create SERVICE`
# gives without one: the service's smallest. Which var the dyno uses is database.py's choice.
DB_URL_SERVICES = {"DATABASE_URL": ("heroku-postgresql", "heroku-postgresql:essential-0"),
                   "JAWSDB_MARIA_URL": ("jawsdb-maria", "jawsdb-maria:kitefin"),
                   "JAWSDB_URL": ("jawsdb", "jawsdb:kitefin")}


def offline_setup(config: Mapping[str, str]) -> tuple[Setup | None, str]:
    """For a plan without an account: the recorded APPWRITE_LITE_PLANS, else the default
    profile's dynos and Redis with the database the config names (its service's smallest plan,
    said so: nothing offline tells the plan), and what was judged, as a noun phrase ("does not
    fit ..."). None, with why, when the database is one this table has no plans for: the
    budget is then not checked, as online."""
    recorded = (config.get(PLANS_VAR) or "").strip()
    if recorded:
        return parse_record(recorded), f"the dynos and plans {PLANS_VAR} records"
    setup = replace(DEFAULT_PROFILE.setup(), specs=default_specs(runs_all_in_web(config)))
    chosen = next(iter(database_candidates(config)), None)
    if chosen not in DB_URL_SERVICES:
        what = f"{chosen} is set" if chosen else "the database is set by hand (_APP_DB_HOST)"
        return None, (f"{what}: this tool's plan table has no plan for it, so its connection "
                      "limit is unknown and the budget is not checked")
    service, plan = DB_URL_SERVICES[chosen]
    setup = replace(setup, db_plan=plan_table.addon_plan(plan, plan_table.DATABASE))
    return setup, (f"the default profile's dynos and Redis plan with {plan} for {chosen} "
                   f"(assumed: the smallest {service} plan)")
