"""Sizing: the dyno's memory limit (cgroup) in, Swoole worker caps out.

Appwrite sizes its Swoole pools from the *host's* CPU count (`_APP_CPU_NUM` defaults to it), which
on a dyno is the whole machine's, and multiplies it by `_APP_WORKER_PER_CORE` (default 6): dozens
of PHP workers on a 512 MB dyno. The policy here derives the caps from the memory the dyno really
has. Pure functions, except `read_memory_limit`, which reads two small cgroup files.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

MIB = 1024 * 1024

# Used when no cgroup limit can be read: the smallest dyno there is.
DEFAULT_LIMIT = 512 * MIB
# cgroup v1 reports "no limit" as a huge number; anything above this counts as unlimited.
_UNLIMITED_ABOVE = 1 << 50

# Estimates (resident memory, MiB) behind the policy. An Appwrite Swoole worker holds the whole
# framework and its opcache; the queue workers are long-running PHP processes of their own.
SWOOLE_WORKER_MIB = 64
QUEUE_WORKER_MIB = 40
# Launcher + supervisord + nginx + the Swoole master/manager processes of each HTTP server.
FIXED_OVERHEAD_MIB = 96

SIZING_KEYS = ("_APP_CPU_NUM", "_APP_WORKER_PER_CORE", "_APP_WORKERS_NUM")


@dataclass(frozen=True)
class SizingPolicy:
    settings: dict[str, str]  # the `_APP_*` values chosen (user-set values already kept)
    description: str  # one log line saying what was chosen and why


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


def choose_policy(
    limit_bytes: int | None,
    role: str,
    queue_workers: int,
    user_settings: Mapping[str, str],
) -> SizingPolicy:
    """Caps for the dyno: the memory left after fixed costs, split into Swoole workers.

    `queue_workers` is how many queue-worker programs share the dyno (role `all`); each one costs
    memory the HTTP servers cannot have. Values the user set themselves always win.
    """
    assumed = limit_bytes is None
    limit_mib = (limit_bytes or DEFAULT_LIMIT) // MIB
    http_servers = 2 if role in ("web", "all") else 0  # the API and the realtime server
    budget = limit_mib - FIXED_OVERHEAD_MIB - queue_workers * QUEUE_WORKER_MIB
    if http_servers:
        per_server = max(1, budget // (SWOOLE_WORKER_MIB * http_servers))
        per_server = min(per_server, 16)
    else:
        per_server = 1
    cpu_num = 1 if per_server <= 4 else 2
    per_core = max(1, per_server // cpu_num)
    # Queue workers: a second process per queue only when the memory clearly allows it.
    workers_num = 2 if limit_mib >= 2048 else 1
    chosen = {
        "_APP_CPU_NUM": str(cpu_num),
        "_APP_WORKER_PER_CORE": str(per_core),
        "_APP_WORKERS_NUM": str(workers_num),
    }
    kept = [key for key in SIZING_KEYS if user_settings.get(key, "").strip()]
    for key in kept:
        chosen[key] = user_settings[key].strip()
    source = "no cgroup limit found, assuming" if assumed else "cgroup limit"
    description = (
        f"sizing: {source} {limit_mib} MiB, role {role}, {queue_workers} queue worker(s): "
        f"_APP_CPU_NUM={chosen['_APP_CPU_NUM']} "
        f"_APP_WORKER_PER_CORE={chosen['_APP_WORKER_PER_CORE']} "
        f"_APP_WORKERS_NUM={chosen['_APP_WORKERS_NUM']} "
        f"(estimate {SWOOLE_WORKER_MIB} MiB per Swoole worker, {QUEUE_WORKER_MIB} MiB per queue "
        f"worker, {FIXED_OVERHEAD_MIB} MiB fixed)"
    )
    if kept:
        description += f"; kept your own {', '.join(kept)}"
    return SizingPolicy(settings=chosen, description=description)
