"""The budget: Appwrite's appetite on every dyno against the attached plans' limits.

Heroku's small plans refuse clients past a fixed number (Redis mini: 20, Postgres essential-0:
20, JawsDB kitefin: 10). This module adds up appetite.py's per-process figures per dyno and for
the whole formation, says whether that fits the plans with headroom, and chooses Appwrite's
sizing knobs so that it does. Both the launcher (at boot, for its own dyno) and the release
engine (before a release, for all of them) call it, so they cannot disagree. It also holds the
three profiles this project recommends, the record of an app's plans in one config var, and the
`budget` command. Pure functions over dataclasses; the only I/O is the command's output.

Every figure comes twice: what Appwrite opens (to the bridge and to PgBouncer on 127.0.0.1) and
what reaches the add-on ("upstream"). Redis: the multiplexed bridge (dyno/redis/pool.py, the
launcher's mode) shares a few upstream connections for ordinary commands and gives a connection
that blocks, subscribes or WATCHes one of its own while it needs it, under a ceiling this
module chooses per dyno; the plain bridge opens one upstream per Appwrite connection.
PostgreSQL: PgBouncer (pooler.py) on every dyno opens at most its share of the plan. MySQL-family
add-ons get no pooler: Appwrite's own count reaches the add-on.
"""

from __future__ import annotations

import argparse
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from ..errors import InputError
from . import plans as plan_table
from . import queues
from .addons import database_candidates
from .appetite import (
    ENTRY_POINTS_1_9_6,
    IDLE_QUERIES_PER_HOUR,
    KNOB_KEYS,
    MEMORY_MIB,
    POOL_ADAPTER,
    SKIP_VAR,
    WORKERS_NUM,
    Knobs,
    ProcessFigure,
    background_for,
    background_processes,
    background_set,
    checked_skip,
    connections_max_for,
    first_boot_kib,
    first_boot_tables,
    fixed_processes,
    http_processes,
    on_demand_processes,
    project_kib,
    project_tables,
    runs_all_in_web,
)
from .heroku_types import RUNNING_TYPES
from .plans import AddonPlan, DynoSize
from .wiring import (
    DEFAULT_HEADROOM,
    MAX_UPSTREAM_ENV,
    MODE_ENV,
    MODES,
    MUX,
    PLAIN,
    POOL_SIZE_VAR,
    SWITCH_VAR,
    PoolSize,
    bridge_options,
    pool_of,
    pool_size_override,
    pooler_switch,
    server_pool_size,
    shared_for,
)

# Heroku swaps past the quota (R14): keep a tenth free for PHP's per-request peaks (estimate).
MEMORY_USABLE = 0.9

# --- headroom and the bridge -------------------------------------------------------------------

# Kept free of the dynos, one figure for the budget and for every dyno's PgBouncer: the release
# phase, which runs while the old dynos still hold theirs and goes to the add-on directly (the
# launcher's marker connection plus `migrate`'s pools, ~4), and one `heroku pg:psql` (pooler.py
# says how it was counted).
HEADROOM_DB = DEFAULT_HEADROOM
# The release phase's own bridge (multiplexed, at the smallest ceiling the bridge takes) and one
# `heroku redis:cli`.
RELEASE_BRIDGE_CEILING = 2
HEADROOM_REDIS = RELEASE_BRIDGE_CEILING + 1
# The bridge's own variables (named in wiring): a user's values win.
MODE_VAR, MAX_UPSTREAM_VAR = MODE_ENV, MAX_UPSTREAM_ENV
# What every dyno's bridge does unless the user says otherwise (launcher.py, release engine).
CURRENT_MODE = MUX


@dataclass(frozen=True)
class Wiring:
    """How Appwrite's connections reach the add-ons: the bridge's mode and a ceiling the user
    set, and PgBouncer (on for PostgreSQL unless switched off) with a pool size the user set."""

    mode: str = MUX
    max_upstream: int | None = None  # the user's APPWRITE_REDIS_BRIDGE_MAX_UPSTREAM
    pooled: bool = True  # only counts for a PostgreSQL plan
    pool_size: int | None = None  # the user's APPWRITE_LITE_PG_POOL_SIZE

    @classmethod
    def from_settings(cls, settings: Mapping[str, str], mode: str = CURRENT_MODE) -> Wiring:
        """The user's own bridge and pooler variables over `mode`; one line naming a bad one."""
        bridge = bridge_options(settings, default=mode)
        return cls(bridge.mode, bridge.max_upstream, pooler_switch(settings),
                   pool_size_override(settings))


def ceiling_for(dedicated: int) -> int:
    """The smallest ceiling whose dedicated part (the ceiling less the bridge pool's shared
    connections) holds `dedicated` needs at once: nothing ever waits for a connection."""
    ceiling = max(2, dedicated + 1)
    while ceiling - shared_for(ceiling) < dedicated:
        ceiling += 1
    return ceiling


# --- dynos, formation, plans -------------------------------------------------------------------

ROLES = ("web", "worker", "all")


@dataclass(frozen=True)
class DynoSpec:
    role: str  # web | worker | all (a web dyno with APPWRITE_LITE_ALL_IN_WEB)
    size: DynoSize
    quantity: int = 1


@dataclass(frozen=True)
class DynoKnobs:
    """What one dyno's processes read: the dyno-wide knobs, realtime's own `_APP_WORKERS_NUM`
    (a per-program value, so role `all` can size queues and realtime apart), and how many
    on-demand queue workers may run at once (the dispatcher's slots)."""

    knobs: Knobs
    realtime_workers: int | None = None  # None: realtime reads the dyno's knobs
    slots: int | None = None  # None: every queue worker runs all the time (always-on)

    def realtime_knobs(self) -> Knobs:
        if self.realtime_workers is None:
            return self.knobs
        return replace(self.knobs, workers_num=self.realtime_workers)


@dataclass
class DynoBudget:
    spec: DynoSpec
    dyno_knobs: DynoKnobs
    processes: list[ProcessFigure]
    settings: dict[str, str]  # the dyno-wide `_APP_*` sizing values
    program_env: dict[str, dict[str, str]]  # program -> its own extra values
    on_demand: tuple[str, ...] = ()  # queue workers the dispatcher starts, `slots` at once

    @property
    def db(self) -> int:
        return sum(p.total_db for p in self.processes)

    @property
    def redis(self) -> int:
        return sum(p.total_redis for p in self.processes)

    @property
    def dedicated(self) -> int:
        """Redis connections that need an upstream of their own at once, at worst."""
        return sum(p.total_dedicated for p in self.processes)

    def ceiling(self, wiring: Wiring) -> int:
        """The multiplexed bridge's ceiling on this dyno: the user's, else the smallest that
        serves every dedicated need at once."""
        return wiring.max_upstream or ceiling_for(self.dedicated)

    def upstream(self, wiring: Wiring) -> int:
        """The bridge's upstream connections on this dyno at worst."""
        if wiring.mode == PLAIN or not self.redis:
            return self.redis  # bridge.py: one upstream per accepted connection
        return self.ceiling(wiring)

    @property
    def memory_mib(self) -> int:
        return sum(p.total_memory_mib for p in self.processes)

    @property
    def slots(self) -> int | None:
        """On-demand queue workers at once on this dyno (None: all run all the time)."""
        return self.dyno_knobs.slots if self.spec.role in ("worker", "all") else None

    @property
    def memory_usable_mib(self) -> int:
        return math.floor(self.spec.size.memory_mib * MEMORY_USABLE)


def dyno_budget(spec: DynoSpec, dyno_knobs: DynoKnobs,
                background: Sequence[str]) -> DynoBudget:
    knobs = dyno_knobs.knobs
    processes = fixed_processes(spec.role)
    program_env: dict[str, dict[str, str]] = {}
    on_demand: tuple[str, ...] = ()
    if spec.role in ("web", "all"):
        processes += http_processes(knobs, dyno_knobs.realtime_knobs())
        # Realtime runs with the Swoole pool adapter, as Appwrite's compose runs it
        # (docker-compose.yml 1.9.6 line 282; registers.php:334 reads it).
        program_env["realtime"] = {POOL_ADAPTER: "swoole"}
        if dyno_knobs.realtime_workers is not None:
            program_env["realtime"][WORKERS_NUM] = str(dyno_knobs.realtime_workers)
    if spec.role in ("worker", "all"):
        if dyno_knobs.slots is None:
            processes += background_processes(background, knobs)
        else:
            steady, on_demand = queues.split(background, queues.QueueOptions())
            processes += background_processes(steady, knobs)
            processes += on_demand_processes(on_demand, knobs, dyno_knobs.slots)
    return DynoBudget(spec=spec, dyno_knobs=dyno_knobs, processes=processes,
                      settings=knobs.settings(), program_env=program_env, on_demand=on_demand)


@dataclass
class Budget:
    dynos: list[DynoBudget]
    redis_plan: AddonPlan
    db_plan: AddonPlan
    wiring: Wiring = field(default_factory=Wiring)
    kept: list[str] = field(default_factory=list)  # knobs the user set themselves
    user_settings: dict[str, str] = field(default_factory=dict)  # their values
    queue_settings: dict[str, str] = field(default_factory=dict)  # their queue knobs (queues.py)

    @property
    def mode(self) -> str:
        return self.wiring.mode

    @property
    def db(self) -> int:
        """Database connections on Appwrite's side (to PgBouncer when pooled)."""
        return sum(d.db * d.spec.quantity for d in self.dynos)

    @property
    def redis(self) -> int:
        """Redis connections on Appwrite's side (to the bridge)."""
        return sum(d.redis * d.spec.quantity for d in self.dynos)

    def upstream(self, mode: str | None = None) -> int:
        """Redis connections reaching the add-on: the sum of every dyno's bridge at worst."""
        wiring = self.wiring if mode is None else replace(self.wiring, mode=mode)
        return sum(d.upstream(wiring) * d.spec.quantity for d in self.dynos)

    @property
    def dyno_count(self) -> int:
        return sum(d.spec.quantity for d in self.dynos)

    @property
    def pooled(self) -> bool:
        """PgBouncer on every dyno: a PostgreSQL plan with the pooler not switched off."""
        return self.wiring.pooled and self.db_plan.adapter == "postgresql"

    def pool(self) -> PoolSize | str:
        """Each dyno's PgBouncer server pool, or why the plan leaves none."""
        if self.wiring.pool_size is not None:
            return pool_of(self.wiring.pool_size)
        try:
            return server_pool_size(self.db_plan.connections, self.dyno_count,
                                           HEADROOM_DB)
        except InputError as error:
            return str(error)

    def db_upstream_of(self, dyno: DynoBudget) -> int:
        """One dyno's database connections reaching the add-on."""
        pool = self.pool() if self.pooled else None
        if isinstance(pool, PoolSize):
            return min(dyno.db, pool.max_db_connections) if dyno.db else 0
        return dyno.db

    def db_upstream(self) -> int:
        return sum(self.db_upstream_of(d) * d.spec.quantity for d in self.dynos)

    @property
    def db_limit(self) -> int:
        return self.db_plan.connections - HEADROOM_DB

    @property
    def redis_limit(self) -> int:
        return self.redis_plan.connections - HEADROOM_REDIS

    @property
    def specs(self) -> tuple[DynoSpec, ...]:
        return tuple(d.spec for d in self.dynos)

    def problems(self) -> list[str]:
        """What does not fit, one phrase each; empty when everything does."""
        return self.formation_problems() + self.capacity_problems()

    def formation_problems(self) -> list[str]:
        """What no sizing can mend: a formation Heroku refuses, or one that drains no queue."""
        mixed = tier_problem(self.specs)
        found = [mixed] if mixed else []
        if not drains(self.specs):
            found.append(f"nothing drains the queues: {formation_text(self.specs)} has no "
                         "worker dyno and is not all-in-one, so the jobs Appwrite queues "
                         f"would grow in Redis ({self.redis_plan.storage_mb} MB on "
                         f"{self.redis_plan.name}) until it refuses writes")
        return found

    def capacity_problems(self) -> list[str]:
        """What the plans and dyno memory cannot hold: what `choose` shrinks the knobs for."""
        return self.db_problems() + self.redis_problems() + self.memory_problems()

    @property
    def holds(self) -> bool:
        """The plans and dynos hold the worst case (whatever the formation's own problems)."""
        return not self.capacity_problems()

    def db_problems(self) -> list[str]:
        """The database plan's: connections reaching it, storage, query quota."""
        found = []
        pool = self.pool() if self.pooled else None
        if isinstance(pool, str):
            found.append(pool)
        elif self.db_upstream() > self.db_limit:
            found.append(f"{self.db_upstream()} database connections > {self.db_limit} "
                         f"({self.db_plan.name} takes {self.db_plan.connections}, "
                         f"{HEADROOM_DB} kept free)")
        if self.db_plan.storage_mb * 1024 < first_boot_kib():
            found.append(f"Appwrite's empty schema takes at least {first_boot_kib()} KiB "
                         f"({first_boot_tables()} tables) > {self.db_plan.storage_mb} MB "
                         f"({self.db_plan.name})")
        quota = self.db_plan.queries_per_hour
        if quota is not None and self.idle_queries_per_hour() > quota:
            found.append(f"idle background queries ({self.idle_queries_per_hour()}/hour) > "
                         f"{quota}/hour ({self.db_plan.name})")
        return found

    def redis_problems(self) -> list[str]:
        """The Redis plan's and the bridges': upstream clients, dedicated needs per ceiling."""
        found = []
        upstream = self.upstream()
        if upstream > self.redis_limit:
            found.append(f"{upstream} Redis connections upstream ({self.mode} bridge) > "
                         f"{self.redis_limit} ({self.redis_plan.name} takes "
                         f"{self.redis_plan.connections}, {HEADROOM_REDIS} kept free)")
        if self.mode == MUX:
            for dyno in self.dynos:
                ceiling = dyno.ceiling(self.wiring)
                room = ceiling - shared_for(ceiling)
                if dyno.redis and dyno.dedicated > room:
                    found.append(f"{MAX_UPSTREAM_VAR}={ceiling} on the {dyno.spec.role} dyno "
                                 f"leaves {room} connections for {dyno.dedicated} blocking, "
                                 "subscribed or transaction clients at once: the bridge "
                                 "refuses the rest")
        return found

    def memory_problems(self) -> list[str]:
        found = []
        for dyno in self.dynos:
            if dyno.memory_mib > dyno.memory_usable_mib:
                found.append(f"{dyno.spec.role} needs {dyno.memory_mib} MiB > "
                             f"{dyno.memory_usable_mib} MiB usable on "
                             f"{dyno.spec.size.name} ({dyno.spec.size.memory_mib} MB)")
        return found

    def idle_queries_per_hour(self) -> int:
        """Queries the timers of an idle installation make (IDLE_QUERIES_PER_HOUR)."""
        total = 0
        for dyno in self.dynos:
            names = {p.name.removesuffix("+manager") for p in dyno.processes}
            total += dyno.spec.quantity * sum(
                rate for name, rate in IDLE_QUERIES_PER_HOUR.items() if name in names)
        return total

    @property
    def fits(self) -> bool:
        return not self.problems()

    def monthly_usd(self) -> float:
        dynos = sum(d.spec.size.price_usd * d.spec.quantity for d in self.dynos)
        return dynos + self.redis_plan.price_usd + self.db_plan.price_usd

    def as_dict(self) -> dict[str, Any]:
        """The budget for `--json` and for other tools (e.g. tests that open the worst case)."""
        return {
            "fits": self.fits,
            "mode": self.mode,
            "pooled": self.pooled,
            "problems": self.problems(),
            "plans": {
                "redis": {"name": self.redis_plan.name,
                          "connections": self.redis_plan.connections,
                          "price_usd": self.redis_plan.price_usd},
                "database": {"name": self.db_plan.name, "connections": self.db_plan.connections,
                             "price_usd": self.db_plan.price_usd},
            },
            "headroom": {"database": HEADROOM_DB, "redis": HEADROOM_REDIS},
            "totals": {"database": self.db, "database_upstream": self.db_upstream(),
                       "redis": self.redis, "redis_upstream": self.upstream(),
                       "upstream_plain": self.upstream(PLAIN),
                       "upstream_multiplex": self.upstream(MUX)},
            "monthly_usd": self.monthly_usd(),
            "database_size": {"first_boot_kib": first_boot_kib(),
                              "first_boot_tables": first_boot_tables(),
                              "per_project_kib": project_kib(),
                              "per_project_tables": project_tables()},
            "idle_queries_per_hour": self.idle_queries_per_hour(),
            "kept_user_settings": self.kept,
            "dynos": [{
                "role": d.spec.role, "size": d.spec.size.name, "quantity": d.spec.quantity,
                "settings": d.settings, "program_env": d.program_env,
                "database": d.db, "database_upstream": self.db_upstream_of(d),
                "redis": d.redis, "redis_upstream": d.upstream(self.wiring),
                "redis_dedicated": d.dedicated,
                "bridge_max_upstream": (d.ceiling(self.wiring) if self.mode == MUX
                                        else None),
                "queue_slots": d.slots, "queues_on_demand": list(d.on_demand),
                "memory_mib": d.memory_mib, "memory_usable_mib": d.memory_usable_mib,
                "processes": [{**asdict(p), "total_db": p.total_db,
                               "total_redis": p.total_redis,
                               "total_dedicated": p.total_dedicated,
                               "total_memory_mib": p.total_memory_mib}
                              for p in d.processes],
            } for d in self.dynos],
        }


def evaluate(specs: Sequence[DynoSpec], knobs: Mapping[str, DynoKnobs], redis_plan: AddonPlan,
             db_plan: AddonPlan, background: Sequence[str],
             wiring: Wiring | None = None) -> Budget:
    """The budget of a formation with the given knobs per role."""
    return Budget(dynos=[dyno_budget(s, knobs[s.role], background) for s in specs],
                  redis_plan=redis_plan, db_plan=db_plan, wiring=wiring or Wiring())


# --- choosing the knobs ------------------------------------------------------------------------

MAX_API_WORKERS = 16
# Judged like any size, never suggested: eco's $5 buys 1,000 hours a month shared by all of an
# account's eco dynos, less than two dynos running all month.
NOT_ADVISED = frozenset({"eco"})
MAX_POOL = 3  # beyond three per pool a worker gains little; connections are dear


def _swoole_room(spec: DynoSpec, background: Sequence[str], slots: int | None) -> int:
    """How many Swoole workers (API + realtime) the dyno's memory holds beside the rest (one
    on-demand queue worker at the least, when queues run on demand)."""
    if spec.role == "worker":
        return 0
    floor = dyno_budget(spec, DynoKnobs(Knobs(cpu_num=1, worker_per_core=1, workers_num=1),
                                        realtime_workers=1, slots=slots),
                        background)
    per = MEMORY_MIB["api-worker"][0]
    spare = floor.memory_usable_mib - floor.memory_mib
    return 2 + max(0, spare // per)


def _knobs(shape: _Shape, pool: int, role: str) -> DynoKnobs:
    base = Knobs(cpu_num=1, worker_per_core=shape.api if role != "worker" else 1,
                 workers_num=1 if role != "web" else shape.realtime, max_coroutines=1)
    base = replace(base, connections_max=connections_max_for(pool, base))
    return DynoKnobs(base, realtime_workers=shape.realtime if role == "all" else None,
                     slots=shape.slots if role != "web" else None)


@dataclass
class _Shape:
    api: int
    realtime: int
    slots: int | None = None  # on-demand queue workers at once; None: all always on
    fixed_slots: bool = False  # the user's APPWRITE_LITE_QUEUE_SLOTS: never shrunk


def _slot_room(spec: DynoSpec, shape: _Shape, background: Sequence[str]) -> int:
    """The most on-demand queue workers this dyno's memory holds at once beside everything
    else (at least 1, at most one per on-demand queue)."""
    _, on_demand = queues.split(background, queues.QueueOptions())
    one = dyno_budget(spec, _knobs(replace(shape, slots=1), 1, spec.role), background)
    per = next((p.memory_mib for p in one.processes if p.program == "on-demand"), 0)
    if not per:
        return 1
    spare = one.memory_usable_mib - one.memory_mib
    return max(1, min(len(on_demand), 1 + spare // per))


def _shape(spec: DynoSpec, background: Sequence[str], options: queues.QueueOptions) -> _Shape:
    """A dyno's starting point: as many workers and slots as its memory holds."""
    slots = options.slots if options.on_demand else None
    room = _swoole_room(spec, background, slots or (1 if options.on_demand else None))
    realtime = max(1, room // 4) if room else 1
    api = min(MAX_API_WORKERS, max(1, room - realtime)) if room else 1
    shape = _Shape(api, realtime, slots, fixed_slots=slots is not None)
    if spec.role != "web" and options.on_demand and slots is None:
        shape.slots = _slot_room(spec, shape, background)
    return shape


def choose(specs: Sequence[DynoSpec], redis_plan: AddonPlan, db_plan: AddonPlan,
           background: Sequence[str], mode: str = CURRENT_MODE,
           user_settings: Mapping[str, str] | None = None) -> Budget:
    """The knobs for every dyno: as many workers (and on-demand queue slots) as memory holds,
    shrunk until the worst case fits the plans, then pools as large as still fit (at most
    MAX_POOL). Values the user set themselves replace the chosen ones afterwards, and the
    budget says whether those fit (their bridge mode and ceiling, PgBouncer pool size and queue
    knobs too)."""
    wiring = Wiring.from_settings(user_settings or {}, mode)
    options = queues.options_from(user_settings or {})
    shapes = {spec.role: _shape(spec, background, options) for spec in specs}

    def build(pool: int) -> Budget:
        knobs = {role: _knobs(shape, pool, role) for role, shape in shapes.items()}
        return evaluate(specs, knobs, redis_plan, db_plan, background, wiring)

    budget = build(1)
    while not budget.holds and _shrink(shapes):
        budget = build(1)
    if budget.holds:
        budget = _regrow_slots(shapes, build, budget, background)
        for pool in range(2, MAX_POOL + 1):
            bigger = build(pool)
            if not bigger.holds:
                break
            budget = bigger
    if user_settings:
        budget = _with_user_settings(budget, user_settings, background)
        budget.queue_settings = {k: user_settings[k] for k in queues.VARIABLES
                                 if (user_settings.get(k) or "").strip()}
    return budget


def _shrink(shapes: dict[str, _Shape]) -> bool:
    """One step down: an on-demand slot first (a queue that waits only waits), then whichever
    of API or realtime workers is the most numerous (realtime first on a tie: the API serves
    most requests)."""
    for shape in shapes.values():
        if shape.slots is not None and shape.slots > 1 and not shape.fixed_slots:
            shape.slots -= 1
            return True
    candidates = [(getattr(s, attribute), attribute == "realtime", s, attribute)
                  for s in shapes.values() for attribute in ("api", "realtime")
                  if getattr(s, attribute) > 1]
    if not candidates:
        return False
    _, _, shape, attribute = max(candidates, key=lambda c: (c[0], c[1]))
    setattr(shape, attribute, getattr(shape, attribute) - 1)
    return True


def _regrow_slots(shapes: dict[str, _Shape], build: Callable[[int], Budget], budget: Budget,
                  background: Sequence[str]) -> Budget:
    """Memory the shrinking freed (fewer API workers where connections bind) goes to more
    on-demand slots, as long as everything still fits."""
    _, on_demand = queues.split(background, queues.QueueOptions())
    for shape in shapes.values():
        while (shape.slots is not None and not shape.fixed_slots
               and shape.slots < len(on_demand)):
            shape.slots += 1
            bigger = build(1)
            if not bigger.holds:
                shape.slots -= 1
                break
            budget = bigger
    return budget


def user_knobs(settings: Mapping[str, str]) -> list[str]:
    return [key for key in KNOB_KEYS if (settings.get(key) or "").strip()]


def _with_user_settings(budget: Budget, user: Mapping[str, str],
                        background: Sequence[str]) -> Budget:
    kept = user_knobs(user)
    if not kept:
        return budget
    dynos = []
    for dyno in budget.dynos:
        merged = {**dyno.settings, **{k: user[k].strip() for k in kept}}
        knobs = Knobs.from_settings(merged)
        realtime = None if WORKERS_NUM in kept else dyno.dyno_knobs.realtime_workers
        dynos.append(dyno_budget(dyno.spec, DynoKnobs(knobs, realtime, dyno.dyno_knobs.slots),
                                 background))
    return Budget(dynos=dynos, redis_plan=budget.redis_plan, db_plan=budget.db_plan,
                  wiring=budget.wiring, kept=kept, user_settings={k: user[k] for k in kept})


def _wiring_settings(wiring: Wiring) -> dict[str, str]:
    """A Wiring back as the variables that name it (for re-running `choose`)."""
    values = {MODE_VAR: wiring.mode, SWITCH_VAR: "on" if wiring.pooled else "off"}
    if wiring.max_upstream is not None:
        values[MAX_UPSTREAM_VAR] = str(wiring.max_upstream)
    if wiring.pool_size is not None:
        values[POOL_SIZE_VAR] = str(wiring.pool_size)
    return values


def cheapest_fit(specs: Sequence[DynoSpec], background: Sequence[str], mode: str = CURRENT_MODE,
                 redis_plan: AddonPlan | None = None, db_plan: AddonPlan | None = None,
                 user_settings: Mapping[str, str] | None = None) -> Budget | None:
    """The cheapest known plans (keeping a given one) with which the formation fits."""
    redis_options = [redis_plan] if redis_plan else plan_table.plans_of(plan_table.REDIS)
    db_options = [db_plan] if db_plan else plan_table.plans_of(plan_table.DATABASE)
    best: Budget | None = None
    for redis in redis_options:
        for db in db_options:
            budget = choose(specs, redis, db, background, mode, user_settings)
            if budget.holds and (best is None or budget.monthly_usd() < best.monthly_usd()):
                best = budget
    return best


# --- formations Heroku accepts -----------------------------------------------------------------

def formation_text(specs: Sequence[DynoSpec]) -> str:
    """`web=basic,worker=basic` (`2xstandard-1x` for two dynos), as --formation takes it."""
    return ",".join(f"{s.role}={'' if s.quantity == 1 else f'{s.quantity}x'}{s.size.name}"
                    for s in specs)


def tier_problem(specs: Sequence[DynoSpec]) -> str | None:
    """The refusal of a formation whose sizes mix tiers (plans.accepted), None if it has none."""
    tiers = plan_table.tiers_of(s.size for s in specs)
    if len(tiers) <= 1:
        return None
    return (f"{formation_text(specs)} mixes the {' and '.join(tiers)} tiers, "
            f"{plan_table.MIX_REFUSAL}")


def drains(specs: Sequence[DynoSpec]) -> bool:
    """Whether some dyno consumes the queues: a worker dyno, or one that runs everything."""
    return any(s.role in ("worker", "all") for s in specs)


def dyno_usd(specs: Sequence[DynoSpec]) -> float:
    return sum(s.size.price_usd * s.quantity for s in specs)


def _process_type(spec: DynoSpec) -> str:
    return "web" if spec.role == "all" else spec.role


def floor_slots(options: queues.QueueOptions) -> int | None:
    """The fewest on-demand slots a dyno can run with: one, or the user's own count; None when
    every queue worker runs always-on."""
    return (options.slots or 1) if options.on_demand else None


def floor_memory(spec: DynoSpec, background: Sequence[str], slots: int | None = 1) -> int:
    """A dyno's memory at the smallest knobs (`slots` on-demand queue workers at once, None:
    all always on): what its size must hold whatever the plans."""
    floor = Knobs(cpu_num=1, worker_per_core=1, workers_num=1)
    knobs = DynoKnobs(floor, 1 if spec.role == "all" else None, slots)
    return dyno_budget(spec, knobs, background).memory_mib


def _usable(size: DynoSize) -> int:
    return math.floor(size.memory_mib * MEMORY_USABLE)


def size_in_tier(spec: DynoSpec, need_mib: int, tier: str) -> DynoSize | None:
    """The size a dyno takes in `tier`: its own when it is of that tier and holds `need_mib`;
    else the cheapest advised size there at least as large as asked, else the cheapest that
    holds it (None: none does). The refusal's advice and the engine's warning both ask this."""
    own = spec.size
    if own.tier == tier and _usable(own) >= need_mib:
        return own
    holding = [s for s in plan_table.DYNO_SIZES.values()
               if s.tier == tier and s.name not in NOT_ADVISED and _usable(s) >= need_mib
               and not (s.one_per_type and spec.quantity > 1)]
    larger = [s for s in holding if s.memory_mib >= own.memory_mib]
    choice = larger or holding
    return min(choice, key=lambda s: (s.price_usd, s.memory_mib)) if choice else None


def one_tier_formations(specs: Sequence[DynoSpec], background: Sequence[str],
                        slots: int | None = 1) -> list[tuple[DynoSpec, ...]]:
    """Formations Heroku accepts that hold every dyno's processes, one per tier the app could
    move to (never an unadvised one such as eco; Fir sizes only for an app already on Fir),
    cheapest first."""
    needs = [floor_memory(s, background, slots) for s in specs]
    generations = {s.size.tier == plan_table.FIR for s in specs}
    tiers = [t for t in plan_table.TIERS if (t == plan_table.FIR) in generations
             and any(z.tier == t and z.name not in NOT_ADVISED
                     for z in plan_table.DYNO_SIZES.values())]
    found = []
    for tier in tiers:
        sizes = [size_in_tier(s, need, tier) for s, need in zip(specs, needs, strict=True)]
        if all(sizes):
            found.append(tuple(replace(s, size=z) for s, z in zip(specs, sizes, strict=True)
                               if z is not None))
    return sorted(found, key=dyno_usd)


@dataclass(frozen=True)
class _Mended:
    """The formation advice starts from, and how to say it: each dyno resized in the app's one
    tier (`moves` empty), or every process type moved to a one-tier formation (`moves`, the
    cheapest first, the first of which is `specs`)."""

    specs: tuple[DynoSpec, ...]
    moves: tuple[tuple[DynoSpec, ...], ...] = ()


def _mend(specs: Sequence[DynoSpec], background: Sequence[str],
          slots: int | None) -> _Mended | None:
    tiers = plan_table.tiers_of(s.size for s in specs)
    if len(tiers) == 1:
        sizes = [size_in_tier(s, floor_memory(s, background, slots), tiers[0]) for s in specs]
        if all(sizes):
            return _Mended(tuple(replace(s, size=z) for s, z in zip(specs, sizes, strict=True)
                                 if z is not None))
    options = one_tier_formations(specs, background, slots)
    return _Mended(options[0], tuple(options[:2])) if options else None


def _resizes(asked: Sequence[DynoSpec], mended: Sequence[DynoSpec]) -> list[str]:
    """One phrase per dyno resized (or added) within its tier."""
    parts = []
    for spec in mended:
        size = spec.size
        before = next((a for a in asked if a.role == spec.role), None)
        if before is None:
            parts.append(f"a worker dyno {size.name} ({plan_table.price_text(size)}; "
                         f"`heroku ps:scale worker=1:{size.name}`)")
        elif before.size != size:
            kind = _process_type(spec)
            parts.append(f"dyno size {size.name} for {kind} ({plan_table.price_text(size)}; "
                         f"`heroku ps:type {kind}={size.name}`)")
    return parts


def _moves(asked: Sequence[DynoSpec], moves: Sequence[tuple[DynoSpec, ...]],
           plans_usd: float | None = None) -> str:
    """`FORMATION (prices; the commands)` for each one-tier formation, joined by `or`; the
    price in all (with the plans) when `plans_usd` is given."""
    roles = {a.role for a in asked}
    texts = []
    for option in moves:
        commands = ["heroku ps:type " + " ".join(f"{_process_type(s)}={s.size.name}"
                                                 for s in option if s.role in roles)]
        commands += [f"heroku ps:scale worker=1:{s.size.name}" for s in option
                     if s.role not in roles]
        price = f"${dyno_usd(option):g}/month in dynos"
        if plans_usd is not None:
            price += f", ${dyno_usd(option) + plans_usd:g}/month in all"
        texts.append(f"{formation_text(option)} ({price}; "
                     + " then ".join(f"`{c}`" for c in commands) + ")")
    return " or ".join(texts)


def _stay(asked: Sequence[DynoSpec], moved: Sequence[DynoSpec]) -> str:
    """For an app of one advised tier that the advice moves to another: the way to stay."""
    tiers = plan_table.tiers_of(s.size for s in asked)
    if (len(tiers) != 1 or plan_table.tiers_of(s.size for s in moved) == tiers
            or any(s.size.name in NOT_ADVISED for s in asked)):
        return ""
    return f", or stay on {tiers[0]} sizes and leave queues out with APPWRITE_LITE_SKIP"


def advice(budget: Budget, background: Sequence[str]) -> str:
    """One line: the formation and plans to choose (with their prices) so that it fits. Never
    a size from another tier than the app's other dynos: when no size of the app's tier holds
    a dyno (or the formation mixes tiers), every process type moves, in one command."""
    asked = budget.specs
    start = asked if drains(asked) else (*asked, DynoSpec("worker", asked[0].size))
    # The fewest on-demand slots the config allows (what the budget's own dynos were given).
    mended = _mend(start, background, floor_slots(queues.options_from(budget.queue_settings)))
    if mended is None:
        return ("no dyno size holds these processes: leave some out with APPWRITE_LITE_SKIP")
    specs = mended.specs
    parts = [] if mended.moves else _resizes(asked, specs)
    wiring = {**_wiring_settings(budget.wiring), **budget.queue_settings}
    sized = choose(specs, budget.redis_plan, budget.db_plan, background, budget.mode,
                   {**wiring, **budget.user_settings})
    db_ok, redis_ok = not sized.db_problems(), not sized.redis_problems()
    redis_plan, db_plan = budget.redis_plan, budget.db_plan
    if not (db_ok and redis_ok):
        fit = cheapest_fit(specs, background, budget.mode,
                           redis_plan=redis_plan if redis_ok else None,
                           db_plan=db_plan if db_ok else None, user_settings=wiring)
        if fit is None:
            return ("no known plan fits this formation: leave out queues with "
                    "APPWRITE_LITE_SKIP or run fewer dynos")
        for old, new in ((redis_plan, fit.redis_plan), (db_plan, fit.db_plan)):
            if new != old:
                parts.append(f"{new.name} ({plan_table.price_text(new)}) instead of {old.name}")
        redis_plan, db_plan = fit.redis_plan, fit.db_plan
    if sized.kept and not (db_ok and redis_ok):
        parts.append(f"or unset your own {', '.join(sized.kept)} to let the launcher choose")
    said = ["use " + _moves(asked, mended.moves, redis_plan.price_usd + db_plan.price_usd)
            + _stay(asked, mended.moves[0])] if mended.moves else []
    said += ["choose " + ", ".join(parts)] if parts else []
    return "; ".join(said) or ("your own sizing values do not fit: unset them to let the "
                               "launcher choose")


def refusal(budget: Budget, background: Sequence[str], plans: str = "these plans") -> str:
    """The one line that refuses a budget that does not fit, with what to choose instead: the
    `plan`/`deploy` refusal and the launcher's warning alike."""
    why = budget.formation_problems()
    capacity = budget.capacity_problems()
    if capacity:
        why.append(f"the worst case of Appwrite's processes does not fit {plans} "
                   f"({'; '.join(capacity)})")
    return f"{'; '.join(why)}: {advice(budget, background)}"


# --- the formation and plans as recorded in one config var ------------------------------------

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


# --- the profiles --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Profile:
    """A formation and plans this project recommends, with what it leaves out."""

    name: str
    description: str
    formation: str  # parse_formation syntax
    redis_plan: str
    db_plan: str
    skip: tuple[str, ...] = ()  # APPWRITE_LITE_SKIP
    usage_stats: bool = False  # _APP_USAGE_STATS as app.json sets it (off)

    def setup(self) -> Setup:
        return Setup(parse_formation(self.formation),
                     plan_table.addon_plan(self.redis_plan, plan_table.REDIS),
                     plan_table.addon_plan(self.db_plan, plan_table.DATABASE),
                     frozenset(self.skip))

    def background(self) -> tuple[str, ...]:
        return background_set(ENTRY_POINTS_1_9_6, self.skip, usage_stats=self.usage_stats)

    def budget(self, mode: str = CURRENT_MODE) -> Budget:
        setup = self.setup()
        return choose(setup.specs, setup.redis_plan, setup.db_plan, self.background(), mode)


# Left out by the minimal set: queues that only fill when their feature is used (webhooks:
# app/controllers/shared/api.php:842-848 publishes only for a project's webhook events) and the
# tasks that feed or schedule them. A feature used later needs its worker back.
MINIMAL_SKIP = ("worker-certificates", "worker-messaging", "worker-migrations",
                "worker-stats-resources", "worker-webhooks", "stats-resources", "interval",
                "schedule-messages")
# The smallest plans carry every profile: through the multiplexed bridge and PgBouncer the
# upstream connections fit Redis mini and Postgres essential-0. What sets the dynos is memory:
# every usable queue always on (9 queue workers, 3 tasks) measured ~805 MiB, more than a 512 MB
# dyno holds; on demand (queues.py) only the slots' workers run at once, and two basic dynos
# (one tier, as Heroku requires: plans.accepted) hold them.
_REDIS = plan_table.BUTTON_PLANS[plan_table.REDIS]
_DB = plan_table.BUTTON_PLANS[plan_table.DATABASE]
PROFILES: dict[str, Profile] = {p.name: p for p in (
    Profile("default", "the Deploy button: API and realtime on web, every queue Appwrite "
            "can use on Heroku on worker, on demand", "web=basic,worker=basic", _REDIS, _DB),
    Profile("all-in-one", "one dyno runs everything (APPWRITE_LITE_ALL_IN_WEB=true, "
            "worker=0), with the minimal queue set", "all=standard-2x", _REDIS, _DB,
            MINIMAL_SKIP),
    Profile("minimal", "web and worker dynos, only the queues every app fills (audits, "
            "databases, deletes, mails, stats-usage) and maintenance: the cheapest set "
            "that fits", "web=basic,worker=basic", _REDIS, _DB, MINIMAL_SKIP),
)}
DEFAULT_PROFILE = PROFILES["default"]


def default_specs(all_in_web: bool = False) -> tuple[DynoSpec, ...]:
    """The default profile's dynos (for an app whose formation is not known yet)."""
    specs = DEFAULT_PROFILE.setup().specs
    if not all_in_web:
        return specs
    return (DynoSpec("all", specs[0].size, specs[0].quantity),)


# --- the release engine's judgement --------------------------------------------------------------


@dataclass
class Judgement:
    """What the release engine learns before it writes anything."""

    budget: Budget | None  # None when a plan or size is unknown (not judged)
    record: str | None  # the APPWRITE_LITE_PLANS value to keep in config
    warnings: list[str] = field(default_factory=list)
    refusal: str | None = None  # one line when nothing fits


def judge(addons: Sequence[Mapping[str, Any]], formation: Sequence[Mapping[str, Any]],
          config: Mapping[str, str], mode: str = CURRENT_MODE) -> Judgement:
    """The budget of an app as the Platform API describes it, with the knobs its dynos will
    choose; a refusal line (naming the plan or size to choose, and its price) when even the
    smallest knobs do not fit."""
    setup, warnings = setup_from_platform(addons, formation, runs_all_in_web(config))
    if setup is None:
        return Judgement(None, None, warnings)
    budget, refusal = judge_setup(setup, config, mode)
    return Judgement(budget, setup.record(), warnings, refusal)


def judge_setup(setup: Setup, config: Mapping[str, str], mode: str = CURRENT_MODE,
                plans: str = "this app's plans") -> tuple[Budget, str | None]:
    """The budget of known dynos and plans with the knobs the config gives, and the refusal
    line (None when it fits): one judgement for a deploy and an offline plan alike."""
    background = background_for(config)
    budget = choose(setup.specs, setup.redis_plan, setup.db_plan, background, mode,
                    user_settings=config)
    return budget, None if budget.fits else refusal(budget, background, plans)


# Which add-on a database URL var comes from, and the plan `heroku addons:create SERVICE`
# gives without one: the service's smallest. Which var the dyno uses is addons.py's choice.
DB_URL_SERVICES = {"DATABASE_URL": ("heroku-postgresql", "heroku-postgresql:essential-0"),
                   "JAWSDB_MARIA_URL": ("jawsdb-maria", "jawsdb-maria:kitefin"),
                   "JAWSDB_URL": ("jawsdb", "jawsdb:kitefin")}


def offline_setup(config: Mapping[str, str]) -> tuple[Setup | None, str]:
    """For a plan without an account: the recorded APPWRITE_LITE_PLANS, else the default
    profile's dynos and Redis with the database the config names (its service's smallest plan,
    said so: nothing offline tells the plan). None, with why, when the database is one this
    table has no plans for: the budget is then not checked, as online."""
    recorded = (config.get(PLANS_VAR) or "").strip()
    if recorded:
        return parse_record(recorded), f"{PLANS_VAR} in the config"
    setup = replace(DEFAULT_PROFILE.setup(), specs=default_specs(runs_all_in_web(config)))
    chosen = next(iter(database_candidates(config)), None)
    if chosen not in DB_URL_SERVICES:
        what = f"{chosen} is set" if chosen else "the database is set by hand (_APP_DB_HOST)"
        return None, (f"{what}: this tool's plan table has no plan for it, so its connection "
                      "limit is unknown and the budget is not checked")
    service, plan = DB_URL_SERVICES[chosen]
    setup = replace(setup, db_plan=plan_table.addon_plan(plan, plan_table.DATABASE))
    return setup, (f"the default profile; {chosen} is set: assumed {plan}, the smallest "
                   f"{service} plan")


def too_small(specs: Sequence[DynoSpec], background: Sequence[str],
              options: queues.QueueOptions | None = None) -> list[str]:
    """Dynos whose processes do not fit their memory even at the smallest knobs (one on-demand
    queue worker at a time, unless the config says otherwise), each with the cheapest size of
    the app's tier that holds them, or, when none does, the formation every process type must
    move to: the engine's warning after a release."""
    slots = floor_slots(options or queues.QueueOptions())
    found = []
    for spec in specs:
        need = floor_memory(spec, background, slots)
        if need <= _usable(spec.size):
            continue
        bigger = size_in_tier(spec, need, spec.size.tier)
        if bigger is not None:
            fix = f"use {bigger.name}"
        else:
            moves = one_tier_formations(specs, background, slots)
            fix = (f"no {spec.size.tier} size holds it: move every process type to "
                   + _moves(specs, moves[:1]) if moves
                   else "none (leave processes out with APPWRITE_LITE_SKIP)")
        found.append(f"{spec.role} ({spec.size.name}: needs {need} MiB, "
                     f"{_usable(spec.size)} usable; {fix})")
    return found


# --- the command ---------------------------------------------------------------------------------

def render(budget: Budget, title: str = "Budget") -> list[str]:
    """The budget as lines: per process, per dyno, totals against the limits, the settings."""
    pooled = "PgBouncer on every dyno" if budget.pooled else "no pooler"
    lines = [f"{title} ({budget.mode} bridge, {pooled}; worst case of every process at once):"]
    for dyno in budget.dynos:
        quantity = f"{dyno.spec.quantity} x " if dyno.spec.quantity > 1 else ""
        lines.append(f"  {dyno.spec.role} dyno ({quantity}{dyno.spec.size.name}, "
                     f"{dyno.spec.size.memory_mib} MB):")
        lines.append(f"    {'process':<30} {'n':>3} {'db':>4} {'redis':>6} {'ded':>4} "
                     f"{'MiB':>6}")
        for p in dyno.processes:
            mark = "+" if p.uncapped else " "
            lines.append(f"    {p.name:<30} {p.count:>3} {p.total_db:>4} {p.total_redis:>5}"
                         f"{mark} {p.total_dedicated:>4} {p.total_memory_mib:>6}")
        lines.append(f"    {'dyno, Appwrite side':<30} {'':>3} {dyno.db:>4} {dyno.redis:>6} "
                     f"{dyno.dedicated:>4} {dyno.memory_mib:>6} "
                     f"(of {dyno.memory_usable_mib} usable)")
        lines.append(f"    {'dyno, upstream':<30} {'':>3} {budget.db_upstream_of(dyno):>4} "
                     f"{dyno.upstream(budget.wiring):>6}")
        settings = " ".join(f"{k}={v}" for k, v in sorted(dyno.settings.items()))
        lines.append(f"    settings: {settings}")
        if dyno.on_demand:
            lines.append(f"    queues on demand, at most {dyno.slots} at once "
                         f"({queues.SLOTS_VAR}), the rest wait their turn: "
                         f"{', '.join(dyno.on_demand)}")
        for program, env in sorted(dyno.program_env.items()):
            values = " ".join(f"{k}={v}" for k, v in sorted(env.items()))
            lines.append(f"    {program} only: {values}")
        if budget.mode == MUX and dyno.redis:
            lines.append(f"    redis bridge: multiplexed, {MAX_UPSTREAM_VAR}="
                         f"{dyno.ceiling(budget.wiring)} "
                         f"({shared_for(dyno.ceiling(budget.wiring))} shared + "
                         f"{dyno.dedicated} dedicated at worst)")
    pool = budget.pool() if budget.pooled else None
    if isinstance(pool, PoolSize):
        dynos = budget.dyno_count
        how = (f"PgBouncer: {pool.max_db_connections} server connections per dyno x "
               f"{dynos} dyno{'s' if dynos != 1 else ''}")
    else:
        how = "no pooler: Appwrite's own connections reach the add-on"
    lines.append(f"  database: Appwrite side {budget.db}, upstream {budget.db_upstream()} "
                 f"({how}) of {budget.db_limit} ({budget.db_plan.name}: "
                 f"{budget.db_plan.connections} connections, {HEADROOM_DB} kept free)")
    lines.append(f"  redis: Appwrite side {budget.redis}, upstream {budget.upstream()} "
                 f"({budget.mode} bridge; plain would be {budget.upstream(PLAIN)}) of "
                 f"{budget.redis_limit} ({budget.redis_plan.name}: "
                 f"{budget.redis_plan.connections} clients, {HEADROOM_REDIS} kept free)")
    lines.append(_size_line(budget))
    lines.append(f"  cost: ${budget.monthly_usd():g}/month (dynos + Redis + database)")
    for caveat in dict.fromkeys(d.spec.size.caveat for d in budget.dynos if d.spec.size.caveat):
        lines.append(f"  note: {caveat}")
    if budget.kept:
        lines.append(f"  kept your own {', '.join(budget.kept)}")
    lines.append("  '+': Appwrite caps that connection nowhere; counted as the pool size")
    problems = budget.problems()
    lines.append("  fits" if not problems else "  does not fit: " + "; ".join(problems))
    return lines


def _size_line(budget: Budget) -> str:
    """The empty schema's size is counted in InnoDB pages: said only of the MySQL family."""
    queries = f"idle queries at least {budget.idle_queries_per_hour()}/hour"
    if budget.db_plan.adapter == "postgresql":
        return (f"  database size: {first_boot_tables()} tables at first boot, "
                f"{project_tables()} more per project (their size on PostgreSQL is not "
                f"modelled); {queries}")
    return (f"  database size: at least {first_boot_kib()} KiB in {first_boot_tables()} tables"
            f" at first boot, {project_kib()} KiB in {project_tables()} more per project "
            f"(MariaDB/MySQL InnoDB pages); {queries}")


def _asked(args: argparse.Namespace) -> tuple[Setup, tuple[str, ...]]:
    """The formation, plans and skip list the options name: a profile's, each option replacing
    its part of it, and `--skip` added to the profile's own skip list."""
    profile: Profile | None = None
    if args.profile:
        profile = PROFILES.get(args.profile)
        if profile is None:
            raise InputError(f"unknown profile {args.profile!r}: known profiles are "
                             f"{', '.join(PROFILES)}")
    elif not (args.formation and args.redis_plan and args.db_plan):
        raise InputError("give --formation, --redis-plan and --db-plan, or --profile NAME")
    formation = args.formation or (profile.formation if profile else "")
    redis_plan = args.redis_plan or (profile.redis_plan if profile else "")
    db_plan = args.db_plan or (profile.db_plan if profile else "")
    # Read as a dyno reads the variable, checked against the pinned Appwrite's entry points.
    own = checked_skip({SKIP_VAR: args.skip or ""}, "--skip")
    left_out = profile.skip if profile else ()
    skip = left_out + tuple(name for name in own if name not in left_out)
    return Setup(parse_formation(formation), plan_table.addon_plan(redis_plan, plan_table.REDIS),
                 plan_table.addon_plan(db_plan, plan_table.DATABASE)), skip


def run(args: argparse.Namespace) -> int:
    setup, skip = _asked(args)
    background = background_set(ENTRY_POINTS_1_9_6, skip, usage_stats=args.usage_stats)
    mode = args.bridge  # argparse's choices=MODES already refused any other
    user = dict(pair for pair in (args.set or []))
    budget = choose(setup.specs, setup.redis_plan, setup.db_plan, background, mode,
                    user_settings=user)
    if args.json:
        data = budget.as_dict()
        data["advice"] = None if budget.fits else advice(budget, background)
        print(json.dumps(data, indent=2))
    else:
        for line in render(budget):
            print(line)
        if not budget.fits:
            print(f"  {advice(budget, background)}")
    return 0 if budget.fits else 1


SETTABLE = (*KNOB_KEYS, *queues.VARIABLES)


def _setting(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or key not in SETTABLE:
        raise argparse.ArgumentTypeError(f"expected one of {', '.join(SETTABLE)}=VALUE")
    return key, value


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Adds `budget`."""
    parser = subparsers.add_parser(
        "budget", help="connections and memory of Appwrite's processes against the plans",
        description="The worst case of Appwrite 1.9.6's database and Redis connections and "
                    "memory, per process and in total, against the plans' limits, with the "
                    "settings the launcher would choose. Exit 0: fits; 1: does not (plans or "
                    "memory too small, a formation that mixes dyno tiers, which Heroku "
                    "refuses, or one with nothing to drain the queues), with what to choose "
                    "and its price; 2: unknown plan, size or --skip name.")
    parser.add_argument("--formation", help="dynos, e.g. web=basic,worker=basic (or "
                        "all=SIZE), all of one tier (default: the profile's, else required)")
    parser.add_argument("--redis-plan", help="e.g. heroku-redis:mini (default: the profile's, "
                        "else required)")
    parser.add_argument("--db-plan", help="e.g. heroku-postgresql:essential-2 (default: the "
                        "profile's, else required)")
    parser.add_argument("--profile", help=f"one of {', '.join(PROFILES)} (default: none)")
    parser.add_argument("--skip", help="entry points left out, as APPWRITE_LITE_SKIP, added "
                        "to the profile's own (default: none)")
    parser.add_argument("--set", action="append", type=_setting, metavar="KNOB=VALUE",
                        help="a sizing value or queue knob of your own; it wins, as on a dyno "
                             "(default: none)")
    parser.add_argument("--bridge", choices=MODES, default=CURRENT_MODE,
                        help="how each dyno's Redis bridge relays: multiplex (what the "
                             "launcher runs) or plain, one upstream per Appwrite connection "
                             f"(default: {CURRENT_MODE})")
    parser.add_argument("--usage-stats", action="store_true",
                        help="count the stats-resources task and worker, as with "
                             "_APP_USAGE_STATS=enabled (default: off, as app.json sets it)")
    parser.add_argument("--json", action="store_true",
                        help="machine-readable output (default: a table)")
    parser.set_defaults(func=run)

