"""Which Appwrite processes a dyno runs: discovered from the image, chosen per role.

Appwrite's set of entry points changes between versions (one script per queue worker at 1.9.x,
a single `worker` on later versions), so the set is read from the image's bin directory at boot
rather than written down here. Pure functions over a list of file names, plus `list_entry_points`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .heroku_types import PROCESS_TYPES

ROLES = ("web", "worker", "all", "release")


def role_from_dyno(dyno: str | None) -> str | None:
    """`web.1` → web, `worker.2` → worker, `release.1234` → release; anything else → None.

    Images released through the container registry run their Dockerfile CMD for every process
    type, release phase included, so one image serves all of them only if it can tell which
    dyno it is in: Heroku names it in `DYNO`.
    """
    process_type = (dyno or "").partition(".")[0]
    return process_type if process_type in PROCESS_TYPES else None

# Entry points that need the Functions/Sites executor (the Docker socket): impossible on Heroku.
_NEEDS_EXECUTOR = {
    "worker-builds": "builds Functions/Sites deployments, which need the executor (Docker socket)",
    "worker-functions": "runs Functions, which need the executor (Docker socket)",
    "worker-executions": "records Function executions; Functions need the executor (Docker socket)",
    "worker-screenshots": "takes Sites screenshots with a headless browser service",
    "schedule-functions": "schedules Functions, which need the executor (Docker socket)",
    "schedule-executions": "schedules Function executions, which need the executor (Docker socket)",
}
# Long-running tasks (not queue workers) worth running on a worker dyno. Appwrite's compose runs
# `stats-resources` beside them (docker-compose.yml:966 at 1.9.6); see `_STATS_RESOURCES`.
_SCHEDULERS = ("maintenance", "interval", "schedule-messages", "schedule", "stats-resources")
# The hourly resource count (src/Appwrite/Platform/Tasks/StatsResources.php:61-78 at 1.9.6) is
# the only publisher to the stats-resources queue, and only the `usage` routes read what its
# worker writes; with _APP_USAGE_STATS off those routes answer 501 (app/controllers/shared/
# api.php:1087-1093), so the pair runs together or not at all.
_STATS_RESOURCES = ("stats-resources", "worker-stats-resources")
_STATS_RESOURCES_OFF = ("usage stats are disabled (_APP_USAGE_STATS): the hourly resource count "
                        "feeds only the usage pages, which then answer 501")
# Queue consumers that must run whatever the settings: the usage-stats queue fills Redis otherwise.
ALWAYS = ("worker-stats-usage", "worker")


@dataclass(frozen=True)
class Program:
    """One supervised process. `env` holds only non-secret, per-program values (e.g. PORT)."""

    name: str
    command: tuple[str, ...]
    directory: str
    env: dict[str, str] = field(default_factory=dict)
    startsecs: int = 1
    priority: int = 100
    on_demand: bool = False  # started and stopped by the queue dispatcher, not at boot
    stops_last: bool = False  # stopped after the others (PgBouncer: their database path)


@dataclass(frozen=True)
class Selection:
    chosen: tuple[str, ...]  # entry point names to run, in a stable order
    skipped: dict[str, str]  # entry point name -> why it does not run


def list_entry_points(bin_dir: Path) -> list[str]:
    """Executable files in the image's bin directory (Appwrite's `sh` wrappers live there)."""
    try:
        entries = sorted(os.scandir(bin_dir), key=lambda entry: entry.name)
    except OSError:
        return []
    return [e.name for e in entries if e.is_file() and os.access(e.path, os.X_OK)]


def select_background(entry_points: list[str], left_out: frozenset[str] = frozenset(),
                      *, usage_stats: bool = True) -> Selection:
    """The queue workers and schedulers a worker dyno runs, and why the others are left out.

    A single `worker` (all queues in one process) wins over the per-queue scripts when present.
    `left_out` are names the user chose not to run (`APPWRITE_LITE_SKIP`), e.g. to save memory.
    `usage_stats` is `_APP_USAGE_STATS` read as Appwrite reads it: off leaves out the
    stats-resources pair (two processes and their connections) but never `worker-stats-usage`.
    """
    names = set(entry_points) - left_out
    skipped: dict[str, str] = {
        name: "left out by APPWRITE_LITE_SKIP" for name in left_out if name in entry_points
    }
    if not usage_stats:
        for name in _STATS_RESOURCES:
            if name in names:
                names.discard(name)
                skipped[name] = _STATS_RESOURCES_OFF
    if "worker" in names:
        workers = ["worker"]
        for name in sorted(n for n in names if n.startswith("worker-")):
            skipped[name] = "the single `worker` entry point already consumes every queue"
    else:
        workers = []
        for name in sorted(n for n in names if n.startswith("worker-")):
            if name in _NEEDS_EXECUTOR:
                skipped[name] = _NEEDS_EXECUTOR[name]
            else:
                workers.append(name)
    schedulers = []
    for name in sorted(names):
        if name in _NEEDS_EXECUTOR and not name.startswith("worker-"):
            skipped[name] = _NEEDS_EXECUTOR[name]
        elif name in _SCHEDULERS:
            schedulers.append(name)
    return Selection(chosen=tuple(workers + schedulers), skipped=skipped)


def usage_stats_enabled(settings: Mapping[str, str]) -> bool:
    """Appwrite's own test: anything but `enabled` (its default) turns the usage routes off
    (app/controllers/shared/api.php:1090 at 1.9.6)."""
    return settings.get("_APP_USAGE_STATS", "enabled") == "enabled"


def unpaired_stats_resources(selection: Selection) -> str | None:
    """A warning when only one of the stats-resources pair runs (left out by hand): the task
    without its worker grows a Redis list; the worker without its task idles."""
    running = [name for name in _STATS_RESOURCES if name in selection.chosen]
    if len(running) != 1:
        return None
    if running[0] == "stats-resources":
        return ("stats-resources runs without worker-stats-resources: its queue will grow in "
                "Redis; leave both out (APPWRITE_LITE_SKIP) or neither")
    return "worker-stats-resources runs without the stats-resources task: it will stay idle"


def missing_always(selection: Selection) -> bool:
    """True when nothing drains the usage-stats queue (it would grow in Redis without bound)."""
    return not any(name in selection.chosen for name in ALWAYS)


def background_programs(selection: Selection, bin_dir: Path, code_dir: Path,
                        on_demand: frozenset[str] = frozenset()) -> list[Program]:
    """One program per chosen entry point; those in `on_demand` wait for the dispatcher."""
    return [
        Program(name=name, command=(str(bin_dir / name),), directory=str(code_dir),
                startsecs=2, priority=300, on_demand=name in on_demand)
        for name in selection.chosen
    ]


def http_programs(
    *, php: str, bin_dir: Path, code_dir: Path, api_port: int, realtime_port: int,
) -> list[Program]:
    """The API (`php app/http.php`, the image's own CMD) and the realtime server, each on its
    own loopback port through the `PORT` variable both read."""
    realtime = bin_dir / "realtime"
    realtime_command: tuple[str, ...] = (
        (str(realtime),) if os.access(realtime, os.X_OK) else (php, "app/realtime.php")
    )
    return [
        Program(name="api", command=(php, "app/http.php"), directory=str(code_dir),
                env={"PORT": str(api_port)}, startsecs=2, priority=200),
        # Appwrite's compose runs realtime alone with the swoole pool adapter
        # (docker-compose.yml:282 at 1.9.6): its coroutines share pools within a worker.
        Program(name="realtime", command=realtime_command, directory=str(code_dir),
                env={"PORT": str(realtime_port), "_APP_POOL_ADAPTER": "swoole"},
                startsecs=2, priority=200),
    ]
