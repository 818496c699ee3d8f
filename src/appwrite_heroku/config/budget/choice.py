"""Choosing Appwrite's sizing knobs: as many workers and on-demand queue slots as each dyno's
memory holds, shrunk until the worst case fits the plans, then pools grown while it still fits;
the user's own values win and are judged as given."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from .. import plans as plan_table
from .. import queues
from ..appetite import KNOB_KEYS, MEMORY_MIB, WORKERS_NUM, Knobs, connections_max_for
from ..plans import AddonPlan
from .model import (
    CURRENT_MODE,
    Budget,
    DynoBudget,
    DynoKnobs,
    DynoSpec,
    Wiring,
    dyno_budget,
    evaluate,
)

# The knee: on the 2-CPU machine the sweeps ran on (docs/performance.md, The web dyno
# against bare Appwrite), 5-6 API workers served the most at concurrency 16 and 48; 8 no more
# (or less), with a worse p99. Heroku does not publish a shared dyno's CPU share; Fir sizes
# name 1-2 cores.
MAX_API_WORKERS = 6


MAX_POOL = 3  # beyond three per pool a worker gains little; connections are dear


def _swoole_room(spec: DynoSpec, background: Sequence[str],
                 slots: int | None) -> tuple[int, int]:
    """(API workers, realtime workers) the dyno's memory holds beside the rest (one on-demand
    queue worker at the least, when queues run on demand); (0, 0) on a worker dyno. Realtime
    takes a quarter of the Swoole workers at its own cost, the API as many as then fit at the
    measured cost of each (appetite.MEMORY_MIB), at most MAX_API_WORKERS."""
    if spec.role == "worker":
        return 0, 0

    def memory(api: int, realtime: int) -> DynoBudget:
        return dyno_budget(spec, DynoKnobs(Knobs(cpu_num=1, worker_per_core=api, workers_num=1),
                                           realtime_workers=realtime, slots=slots), background)

    floor = memory(1, 1)
    spare = floor.memory_usable_mib - floor.memory_mib
    realtime = max(1, (2 + spare // MEMORY_MIB["realtime-worker"][0]) // 4)
    api = 1
    while api < MAX_API_WORKERS and memory(api + 1, realtime).memory_mib <= \
            floor.memory_usable_mib:
        api += 1
    return api, realtime


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
    api, realtime = _swoole_room(spec, background, slots or (1 if options.on_demand else None))
    shape = _Shape(max(1, api), max(1, realtime), slots, fixed_slots=slots is not None)
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
