"""What to choose when a budget does not fit: the dyno sizes (never mixing tiers, which
Heroku refuses) and plans that hold it, with prices and the commands, in one line."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from .. import plans as plan_table
from .. import queues
from ..appetite import Knobs
from ..plans import DynoSize
from ..wiring import POOL_SIZE_VAR, SWITCH_VAR
from .choice import cheapest_fit, choose
from .model import (
    MAX_UPSTREAM_VAR,
    MEMORY_USABLE,
    MODE_VAR,
    Budget,
    DynoKnobs,
    DynoSpec,
    Wiring,
    drains,
    dyno_budget,
    dyno_usd,
    formation_text,
)

# Judged like any size, never suggested: eco's $5 buys 1,000 hours a month shared by all of an
# account's eco dynos, less than two dynos running all month.
NOT_ADVISED = frozenset({"eco"})


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


def _wiring_settings(wiring: Wiring) -> dict[str, str]:
    """A Wiring back as the variables that name it (for re-running `choose`)."""
    values = {MODE_VAR: wiring.mode, SWITCH_VAR: "on" if wiring.pooled else "off"}
    if wiring.max_upstream is not None:
        values[MAX_UPSTREAM_VAR] = str(wiring.max_upstream)
    if wiring.pool_size is not None:
        values[POOL_SIZE_VAR] = str(wiring.pool_size)
    return values


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
