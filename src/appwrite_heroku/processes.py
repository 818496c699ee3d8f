"""Which Appwrite processes a dyno runs: discovered from the image, chosen per role.

Appwrite's set of entry points changes between versions (one script per queue worker at 1.9.x,
a single `worker` on later versions), so the set is read from the image's bin directory at boot
rather than written down here. Pure functions over a list of file names, plus `list_entry_points`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

ROLES = ("web", "worker", "all", "release")


def role_from_dyno(dyno: str | None) -> str | None:
    """`web.1` → web, `worker.2` → worker, `release.1234` → release; anything else → None.

    Images released through the container registry run their Dockerfile CMD for every process
    type, release phase included, so one image serves all of them only if it can tell which
    dyno it is in: Heroku names it in `DYNO`.
    """
    process_type = (dyno or "").partition(".")[0]
    return process_type if process_type in ("web", "worker", "release") else None

# Entry points that need the Functions/Sites executor (the Docker socket): impossible on Heroku.
_NEEDS_EXECUTOR = {
    "worker-builds": "builds Functions/Sites deployments, which need the executor (Docker socket)",
    "worker-functions": "runs Functions, which need the executor (Docker socket)",
    "worker-executions": "records Function executions; Functions need the executor (Docker socket)",
    "worker-screenshots": "takes Sites screenshots with a headless browser service",
    "schedule-functions": "schedules Functions, which need the executor (Docker socket)",
    "schedule-executions": "schedules Function executions, which need the executor (Docker socket)",
}
# Long-running tasks (not queue workers) worth running on a worker dyno.
_SCHEDULERS = ("maintenance", "interval", "schedule-messages", "schedule")
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
                      ) -> Selection:
    """The queue workers and schedulers a worker dyno runs, and why the others are left out.

    A single `worker` (all queues in one process) wins over the per-queue scripts when present.
    `left_out` are names the user chose not to run (`APPWRITE_LITE_SKIP`), e.g. to save memory.
    """
    names = set(entry_points) - left_out
    skipped: dict[str, str] = {
        name: "left out by APPWRITE_LITE_SKIP" for name in left_out if name in entry_points
    }
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


def missing_always(selection: Selection) -> bool:
    """True when nothing drains the usage-stats queue (it would grow in Redis without bound)."""
    return not any(name in selection.chosen for name in ALWAYS)


def background_programs(selection: Selection, bin_dir: Path, code_dir: Path) -> list[Program]:
    return [
        Program(name=name, command=(str(bin_dir / name),), directory=str(code_dir),
                startsecs=2, priority=300)
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
        Program(name="realtime", command=realtime_command, directory=str(code_dir),
                env={"PORT": str(realtime_port)}, startsecs=2, priority=200),
    ]
