"""Sizing: the dyno's memory limit (cgroup) and the app's plans in, Appwrite's knobs out.

Appwrite sizes its Swoole workers and pools from the *host's* CPU count (`_APP_CPU_NUM` defaults
to it), which on a dyno is the whole machine's, times `_APP_WORKER_PER_CORE` (default 6): dozens
of PHP workers on a 512 MB dyno, each with pools of its own. The policy here comes from the one
model in config/budget/: workers from the memory the dyno really has, then shrunk until every
dyno's worst case of connections fits the Redis and database plans. Pure functions, except
`read_memory_limit`, which reads two small cgroup files.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..config import budget, queues
from ..config.plans import DynoSize
from ..config.wiring import DEFAULT_PLAN_LIMIT, MUX
from ..errors import InputError

MIB = 1024 * 1024

# Used when no cgroup limit can be read: the smallest dyno there is.
DEFAULT_LIMIT = 512 * MIB
# cgroup v1 reports "no limit" as a huge number; anything above this counts as unlimited.
_UNLIMITED_ABOVE = 1 << 50


@dataclass(frozen=True)
class SizingPolicy:
    settings: dict[str, str]  # the dyno-wide `_APP_*` values chosen (user-set values kept)
    description: str  # log lines saying what was chosen and why
    program_env: dict[str, dict[str, str]] = field(default_factory=dict)  # program -> values
    fits: bool = True
    advice: str = ""  # when it does not fit: which plan or size would
    refusal: str = ""  # when it does not fit: the line plan/deploy would refuse with
    bridge_ceiling: int | None = None  # multiplexed: this dyno's max_upstream
    db_plan_limit: int = DEFAULT_PLAN_LIMIT  # the database plan's connections, for PgBouncer
    dynos: int = 2  # dynos sharing the plan (the formation recorded in APPWRITE_LITE_PLANS)
    queue_slots: int | None = None  # on-demand queue workers at once; None: all always on
    queue_options: queues.QueueOptions = field(default_factory=queues.QueueOptions)
    warnings: tuple[str, ...] = ()  # the user's queue knobs left at their defaults, and why


def read_memory_limit(cgroup_root: Path) -> int | None:
    """The container's memory limit in bytes (cgroup v2 `memory.max`, else v1), None if unknown."""
    for relative in ("memory.max", "memory/memory.limit_in_bytes", "memory.limit_in_bytes"):
        try:
            text = (cgroup_root / relative).read_text().strip()
        except OSError:
            continue
        if text == "max":
            return None
        if text.isdigit():
            value = int(text)
            return None if value >= _UNLIMITED_ABOVE else value
    return None


def setup_for(environ: Mapping[str, str], role: str,
              limit_mib: int) -> tuple[budget.Setup, str]:
    """The formation and plans this dyno sizes against: the release engine's record in
    `APPWRITE_LITE_PLANS` (what the Platform API said at deploy), else the default profile;
    this dyno's own entry takes the memory its cgroup really has."""
    recorded = (environ.get(budget.PLANS_VAR) or "").strip()
    setup, source = budget.DEFAULT_PROFILE.setup(), "the default profile's plans"
    if recorded:
        try:
            setup, source = budget.parse_record(recorded), budget.PLANS_VAR
        except InputError as error:  # a hand-edited record must not stop the dyno
            source = f"the default profile's plans ({error})"
    # This dyno's size as recorded (its tier and price count for the formation), with the
    # memory its cgroup really has; a role the record lacks takes the recorded tier.
    basis = "this dyno's cgroup limit"
    own = DynoSize(f"{limit_mib} MiB cgroup", limit_mib, 0.0, basis, setup.specs[0].size.tier)
    http = ("web", "all")
    specs = []
    for spec in setup.specs:
        mine = spec.role == role or (role in http and spec.role in http)
        if mine:
            specs.append(budget.DynoSpec(role, replace(spec.size, memory_mib=limit_mib,
                                                       basis=basis), 1))
            if spec.quantity > 1:
                specs.append(budget.DynoSpec(role, spec.size, spec.quantity - 1))
        elif not (role == "all" and spec.role == "worker"):  # role all runs the worker's part
            specs.append(spec)
    if not any(s.role == role for s in specs):
        specs.append(budget.DynoSpec(role, own, 1))
    return budget.Setup(tuple(specs), setup.redis_plan, setup.db_plan), source


def choose_policy(
    limit_bytes: int | None,
    role: str,
    background: Sequence[str],
    user_settings: Mapping[str, str],
    mode: str = budget.CURRENT_MODE,
) -> SizingPolicy:
    """The knobs for this dyno from the connection and memory model (config/budget/), judged with
    every dyno of the formation so that all of them together fit the plans. `background` are
    the queue workers and tasks a worker (or all) dyno runs. Values the user set always win.
    The policy also carries this dyno's Redis bridge ceiling and its PgBouncer's share of the
    database plan, so the bridge, the pooler and Appwrite's knobs come from one budget."""
    assumed = limit_bytes is None
    limit_mib = (limit_bytes or DEFAULT_LIMIT) // MIB
    # A bad queue knob must not stop the dyno: it is logged and left at its default.
    options, warnings = queues.options_or_defaults(user_settings)
    user_settings = {k: v for k, v in user_settings.items() if k not in queues.VARIABLES}
    user_settings.update(_queue_values(options))
    setup, source = setup_for(user_settings, role, limit_mib)
    chosen = budget.choose(setup.specs, setup.redis_plan, setup.db_plan, background, mode,
                           user_settings=user_settings)
    mine = next(d for d in chosen.dynos if d.spec.role == role)
    settings = dict(mine.settings)
    kept = chosen.kept  # budget.user_knobs(user_settings), as choose already found them
    for key in kept:
        settings[key] = user_settings[key].strip()
    limit_source = "no cgroup limit found, assuming" if assumed else "cgroup limit"
    values = " ".join(f"{k}={settings[k]}" for k in sorted(settings))
    description = (
        f"sizing: {limit_source} {limit_mib} MiB, role {role}, {len(background)} queue "
        f"worker(s)/task(s) on the worker role, plans {setup.redis_plan.name} + "
        f"{setup.db_plan.name} ({source}): "
        f"{values}; this dyno at worst {mine.db} database / {mine.redis} Redis connections, "
        f"upstream {chosen.db_upstream_of(mine)} / {mine.upstream(chosen.wiring)} "
        f"({chosen.mode} bridge{', PgBouncer' if chosen.pooled else ''}), "
        f"{mine.memory_mib} of {mine.memory_usable_mib} MiB; all dynos upstream "
        f"{chosen.db_upstream()}/{chosen.db_limit} database, "
        f"{chosen.upstream()}/{chosen.redis_limit} Redis"
    )
    if mine.slots is not None:
        description += (f"; queues on demand, at most {mine.slots} at once, stopped after "
                        f"{options.idle_seconds:g} s idle")
    if kept:
        description += f"; kept your own {', '.join(kept)}"
    advice = refusal = ""
    if not chosen.fits:
        advice = budget.advice(chosen, background)
        refusal = budget.refusal(chosen, background, "the plans")
        description += f"; does not fit: {'; '.join(chosen.problems())} — {advice}"
    return SizingPolicy(settings=settings, description=description,
                        program_env=mine.program_env, fits=chosen.fits, advice=advice,
                        refusal=refusal,
                        bridge_ceiling=(mine.ceiling(chosen.wiring)
                                        if chosen.mode == MUX else None),
                        db_plan_limit=setup.db_plan.connections, dynos=chosen.dyno_count,
                        queue_slots=mine.slots, queue_options=options, warnings=tuple(warnings))


def _queue_values(options: queues.QueueOptions) -> dict[str, str]:
    """Checked queue knobs back as the variables the budget reads."""
    values = {queues.MODE_VAR: options.mode}
    if options.slots is not None:
        values[queues.SLOTS_VAR] = str(options.slots)
    return values
