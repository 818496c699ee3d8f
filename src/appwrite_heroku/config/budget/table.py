"""The budget as text: the table (the `budget` command; `plan --budget`) and the verdict in
one line (what `plan` and `deploy` say after the diff)."""

from __future__ import annotations

from .. import queues
from ..appetite import first_boot_kib, first_boot_tables, project_kib, project_tables
from ..wiring import MUX, PLAIN, PoolSize, shared_for
from .model import HEADROOM_DB, HEADROOM_REDIS, MAX_UPSTREAM_VAR, Budget


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


def verdict(budget: Budget) -> str:
    """The budget in one line: fits or not, each dyno's memory, the connections that reach
    each plan against what it takes (headroom kept), the price."""
    dynos = ", ".join(
        f"{f'{d.spec.quantity} x ' if d.spec.quantity > 1 else ''}{d.spec.role} "
        f"{d.spec.size.name} {d.memory_mib} of {d.memory_usable_mib} MiB" for d in budget.dynos)
    problems = budget.problems()
    return (("fits" if not problems else "does not fit: " + "; ".join(problems))
            + f": {dynos}; Redis {budget.upstream()} of {budget.redis_limit} clients "
            f"({budget.redis_plan.name}), database {budget.db_upstream()} of {budget.db_limit} "
            f"connections ({budget.db_plan.name}); ${budget.monthly_usd():g}/month")


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
