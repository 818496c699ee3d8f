"""The budget: Appwrite's appetite on every dyno against the attached plans' limits.

Heroku's small plans refuse clients past a fixed number (Redis mini: 20, Postgres essential-0:
20, JawsDB kitefin: 10). This module adds up appetite.py's per-process figures per dyno and for
the whole formation, says whether that fits the plans with headroom, and chooses Appwrite's
sizing knobs so that it does. Both the launcher (at boot, for its own dyno) and the release
engine (before a release, for all of them) call it, so they cannot disagree. It also holds the
three profiles this project recommends, the record of an app's plans in one config var, and the
`budget` command. Pure functions over dataclasses; the only I/O is the command's output.

Every figure comes twice: what Appwrite opens (to the bridge and to PgBouncer on 127.0.0.1) and
what reaches the add-on ("upstream"). Redis: the multiplexed bridge (bridge_mux.py, the
launcher's mode) shares a few upstream connections for ordinary commands and gives a connection
that blocks, subscribes or opens MULTI one of its own while it needs it, under a ceiling this
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
    connections_max_for,
    first_boot_kib,
    first_boot_tables,
    fixed_processes,
    http_processes,
    on_demand_processes,
    project_kib,
    project_tables,
    runs_all_in_web,
    skipped,
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
    """The smallest ceiling whose dedicated part (the ceiling less bridge_mux's shared
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

    def problems(self) -> list[str]:
        """What does not fit, one phrase each; empty when everything does."""
        return self.db_problems() + self.redis_problems() + self.memory_problems()

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
    while not budget.fits and _shrink(shapes):
        budget = build(1)
    if budget.fits:
        budget = _regrow_slots(shapes, build, budget, background)
        for pool in range(2, MAX_POOL + 1):
            bigger = build(pool)
            if not bigger.fits:
                break
            budget = bigger
    if user_settings:
        budget = _with_user_settings(budget, user_settings, background)
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
            if not bigger.fits:
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
            if budget.fits and (best is None or budget.monthly_usd() < best.monthly_usd()):
                best = budget
    return best


def _smallest_size(mib: int) -> DynoSize | None:
    """The cheapest advised dyno size whose usable memory holds `mib` (None: none does); the
    refusal's advice and the after-release warning must name the same size."""
    fitting = [s for s in plan_table.DYNO_SIZES.values() if s.name not in NOT_ADVISED
               and math.floor(s.memory_mib * MEMORY_USABLE) >= mib]
    return min(fitting, key=lambda s: (s.price_usd, s.memory_mib)) if fitting else None


def advice(budget: Budget, background: Sequence[str]) -> str:
    """One line: which dyno size and plans to choose (with their prices) so that it fits."""
    specs = []
    parts = []
    for dyno in budget.dynos:
        spec = dyno.spec
        if dyno.memory_mib > dyno.memory_usable_mib:
            size = _smallest_size(dyno.memory_mib)
            if size is None:
                return (f"no dyno size holds the {spec.role} dyno's processes: leave some out "
                        "with APPWRITE_LITE_SKIP")
            process_type = "web" if spec.role == "all" else spec.role
            parts.append(f"dyno size {size.name} for {process_type} "
                         f"({plan_table.price_text(size)}; `heroku ps:type "
                         f"{process_type}={size.name}`)")
            spec = replace(spec, size=size)
        specs.append(spec)
    wiring = _wiring_settings(budget.wiring)
    sized = choose(specs, budget.redis_plan, budget.db_plan, background, budget.mode,
                   {**wiring, **budget.user_settings})
    db_ok, redis_ok = not sized.db_problems(), not sized.redis_problems()
    if not (db_ok and redis_ok):
        fit = cheapest_fit(specs, background, budget.mode,
                           redis_plan=budget.redis_plan if redis_ok else None,
                           db_plan=budget.db_plan if db_ok else None, user_settings=wiring)
        if fit is None:
            return ("no known plan fits this formation: leave out queues with "
                    "APPWRITE_LITE_SKIP or run fewer dynos")
        for old, new in ((budget.redis_plan, fit.redis_plan), (budget.db_plan, fit.db_plan)):
            if new != old:
                parts.append(f"{new.name} ({plan_table.price_text(new)}) instead of {old.name}")
    if sized.kept and not (db_ok and redis_ok):
        parts.append(f"or unset your own {', '.join(sized.kept)} to let the launcher choose")
    if not parts:
        return "your own sizing values do not fit: unset them to let the launcher choose"
    return "choose " + ", ".join(parts)


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
        parts = [f"redis={self.redis_plan.name}", f"db={self.db_plan.name}"]
        for spec in self.specs:
            quantity = "" if spec.quantity == 1 else f"{spec.quantity}x"
            parts.append(f"{spec.role}={quantity}{spec.size.name}")
        return ",".join(parts)


def parse_formation(text: str) -> tuple[DynoSpec, ...]:
    """`web=basic,worker=standard-2x` (`2xstandard-2x` for two dynos; `all=SIZE` for one dyno
    running everything)."""
    specs: dict[str, DynoSpec] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        role, sep, value = item.partition("=")
        role = role.strip().lower()
        match = _ENTRY.match(value.strip().lower())
        if not sep or role not in ROLES or not match:
            raise InputError(f"formation entry {item!r} is not ROLE=SIZE with ROLE one of "
                             f"{', '.join(ROLES)} (e.g. web=basic,worker=standard-2x)")
        quantity = int(match.group(1) or 1)
        size = plan_table.dyno_size(match.group(2))
        if quantity < 1 or (size.one_per_type and quantity > 1):
            raise InputError(f"formation entry {item!r}: {size.name} runs one dyno per process "
                             "type" if quantity > 1 else f"formation entry {item!r}: at least 1")
        specs[role] = DynoSpec(role, size, quantity)
    if not specs:
        raise InputError("empty formation: give e.g. web=basic,worker=standard-2x")
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
    if not specs:
        specs = list(default_specs(all_in_web))
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
# dyno holds; on demand (queues.py) only the slots' workers run at once, and two basic dynos do.
PROFILES: dict[str, Profile] = {p.name: p for p in (
    Profile("default", "the Deploy button: API and realtime on web, every queue Appwrite "
            "can use on Heroku on worker, on demand", "web=basic,worker=basic",
            "heroku-redis:mini", "heroku-postgresql:essential-0"),
    Profile("all-in-one", "one dyno runs everything (APPWRITE_LITE_ALL_IN_WEB=true, "
            "worker=0), with the minimal queue set", "all=standard-2x",
            "heroku-redis:mini", "heroku-postgresql:essential-0", MINIMAL_SKIP),
    Profile("minimal", "web and worker dynos, only the queues every app fills (audits, "
            "databases, deletes, mails, stats-usage) and maintenance: the cheapest set "
            "that fits", "web=basic,worker=basic", "heroku-redis:mini",
            "heroku-postgresql:essential-0", MINIMAL_SKIP),
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
    refusal = None
    if not budget.fits:
        refusal = (f"the worst case of Appwrite's processes does not fit {plans} "
                   f"({'; '.join(budget.problems())}): {advice(budget, background)}")
    return budget, refusal


# Which add-on a database URL var comes from, and the plan `heroku addons:create SERVICE`
# gives without one: the service's smallest. Which var the dyno uses is addons.py's choice.
DB_URL_SERVICES = {"DATABASE_URL": ("heroku-postgresql", "heroku-postgresql:essential-0"),
                   "JAWSDB_MARIA_URL": ("jawsdb-maria", "jawsdb-maria:kitefin"),
                   "JAWSDB_URL": ("jawsdb", "jawsdb:kitefin")}


def offline_setup(config: Mapping[str, str]) -> tuple[Setup, str]:
    """For a plan without an account: the recorded APPWRITE_LITE_PLANS, else the default
    profile's dynos and Redis with the database the config names (its service's smallest plan,
    said so: nothing offline tells the plan)."""
    recorded = (config.get(PLANS_VAR) or "").strip()
    if recorded:
        return parse_record(recorded), f"{PLANS_VAR} in the config"
    setup = replace(DEFAULT_PROFILE.setup(), specs=default_specs(runs_all_in_web(config)))
    source = "the default profile"
    chosen = next(iter(database_candidates(config)), None)
    if chosen in DB_URL_SERVICES:
        service, plan = DB_URL_SERVICES[chosen]
        setup = replace(setup, db_plan=plan_table.addon_plan(plan, plan_table.DATABASE))
        source += f"; {chosen} is set: assumed {plan}, the smallest {service} plan"
    return setup, source


def too_small(specs: Sequence[DynoSpec], background: Sequence[str],
              options: queues.QueueOptions | None = None) -> list[str]:
    """Dynos whose processes do not fit their memory even at the smallest knobs (one on-demand
    queue worker at a time, unless every queue runs always-on), each with the cheapest size
    that holds them: the engine's warning after a release."""
    floor = Knobs(cpu_num=1, worker_per_core=1, workers_num=1)
    options = options or queues.QueueOptions()
    slots = (options.slots or 1) if options.on_demand else None
    found = []
    for spec in specs:
        dyno = dyno_budget(spec, DynoKnobs(floor, 1 if spec.role == "all" else None, slots),
                           background)
        if dyno.memory_mib > dyno.memory_usable_mib:
            size = _smallest_size(dyno.memory_mib)
            better = size.name if size else "none (leave processes out with APPWRITE_LITE_SKIP)"
            found.append(f"{spec.role} ({spec.size.name}: needs {dyno.memory_mib} MiB, "
                         f"{dyno.memory_usable_mib} usable; use {better})")
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
        how = (f"PgBouncer: {pool.max_db_connections} server connections per dyno x "
               f"{budget.dyno_count} dynos")
    else:
        how = "no pooler: Appwrite's own connections reach the add-on"
    lines.append(f"  database: Appwrite side {budget.db}, upstream {budget.db_upstream()} "
                 f"({how}) of {budget.db_limit} ({budget.db_plan.name}: "
                 f"{budget.db_plan.connections} connections, {HEADROOM_DB} kept free)")
    lines.append(f"  redis: Appwrite side {budget.redis}, upstream {budget.upstream()} "
                 f"({budget.mode} bridge; plain would be {budget.upstream(PLAIN)}) of "
                 f"{budget.redis_limit} ({budget.redis_plan.name}: "
                 f"{budget.redis_plan.connections} clients, {HEADROOM_REDIS} kept free)")
    lines.append(f"  database size: at least {first_boot_kib()} KiB in {first_boot_tables()} tables"
                 f" at first boot, {project_kib()} KiB in {project_tables()} more per project "
                 f"(MariaDB); idle queries at least {budget.idle_queries_per_hour()}/hour")
    lines.append(f"  cost: ${budget.monthly_usd():g}/month (dynos + Redis + database)")
    if budget.kept:
        lines.append(f"  kept your own {', '.join(budget.kept)}")
    lines.append("  '+': Appwrite caps that connection nowhere; counted as the pool size")
    problems = budget.problems()
    lines.append("  fits" if not problems else "  does not fit: " + "; ".join(problems))
    return lines


def run(args: argparse.Namespace) -> int:
    if args.profile:
        profile = PROFILES.get(args.profile)
        if profile is None:
            raise InputError(f"unknown profile {args.profile!r}: known profiles are "
                             f"{', '.join(PROFILES)}")
        # Each of --formation, --redis-plan and --db-plan replaces the profile's own.
        formation = args.formation or profile.formation
        redis_plan = args.redis_plan or profile.redis_plan
        db_plan = args.db_plan or profile.db_plan
        skip = profile.skip
    elif not (args.formation and args.redis_plan and args.db_plan):
        raise InputError("give --formation, --redis-plan and --db-plan, or --profile NAME")
    else:
        formation, redis_plan, db_plan = args.formation, args.redis_plan, args.db_plan
        skip = skipped({SKIP_VAR: args.skip or ""})  # read as a dyno reads the variable
    setup = Setup(parse_formation(formation), plan_table.addon_plan(redis_plan, plan_table.REDIS),
                  plan_table.addon_plan(db_plan, plan_table.DATABASE))
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
                    "settings the launcher would choose. Exit 0: fits; 1: does not; 2: unknown "
                    "plan or size.")
    parser.add_argument("--formation", help="dynos, e.g. web=basic,worker=standard-2x (or "
                        "all=SIZE) (default: the profile's, else required)")
    parser.add_argument("--redis-plan", help="e.g. heroku-redis:mini (default: the profile's, "
                        "else required)")
    parser.add_argument("--db-plan", help="e.g. heroku-postgresql:essential-2 (default: the "
                        "profile's, else required)")
    parser.add_argument("--profile", help=f"one of {', '.join(PROFILES)} (default: none)")
    parser.add_argument("--skip", help="entry points left out, as APPWRITE_LITE_SKIP "
                        "(default: none)")
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

