"""The budget's model: each dyno's processes added up (connections on Appwrite's side and
upstream, memory), the formation's totals, and what does not fit the plans, the dynos or
Heroku's rules for a formation. Pure dataclasses; the knobs come from choice.py."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from ...errors import InputError
from .. import plans as plan_table
from .. import queues
from ..appetite import (
    IDLE_QUERIES_PER_HOUR,
    POOL_ADAPTER,
    WORKERS_NUM,
    Knobs,
    ProcessFigure,
    background_processes,
    first_boot_kib,
    first_boot_tables,
    fixed_processes,
    http_processes,
    on_demand_processes,
    project_kib,
    project_tables,
)
from ..plans import AddonPlan, DynoSize
from ..wiring import (
    DEFAULT_HEADROOM,
    MAX_UPSTREAM_ENV,
    MODE_ENV,
    MUX,
    PLAIN,
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
    """The smallest ceiling whose dedicated part (the ceiling less the bridge pool's
    shared connections) holds `dedicated` needs at once: nothing ever waits for a connection."""
    ceiling = max(2, dedicated + 1)
    while ceiling - shared_for(ceiling) < dedicated:
        ceiling += 1
    return ceiling


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


def formation_text(specs: Sequence[DynoSpec]) -> str:
    """`web=basic,worker=basic` (`2xstandard-1x` for two dynos), as --formation takes it."""
    return ",".join(f"{s.role}={'' if s.quantity == 1 else f'{s.quantity}x'}{s.size.name}"
                    for s in specs)


def tier_problem(specs: Sequence[DynoSpec]) -> str | None:
    """The refusal of a formation whose sizes mix tiers (plans.accepted), None if it has none."""
    sizes = [s.size for s in specs]
    if plan_table.accepted(sizes):
        return None
    tiers = plan_table.tiers_of(sizes)
    return (f"{formation_text(specs)} mixes the {' and '.join(tiers)} tiers, "
            f"{plan_table.MIX_REFUSAL}")


def drains(specs: Sequence[DynoSpec]) -> bool:
    """Whether some dyno consumes the queues: a worker dyno, or one that runs everything."""
    return any(s.role in ("worker", "all") for s in specs)


def dyno_usd(specs: Sequence[DynoSpec]) -> float:
    return sum(s.size.price_usd * s.quantity for s in specs)
