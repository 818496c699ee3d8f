"""The two lanes of the suite: the fast lane (`python3 -m pytest -m "not slow"`) runs in-process,
without root and without any of the services `.ci/run` installs; the `slow` lane is the rest.

What makes a test slow (tests/conftest.py applies the rules): it needs a Debian-packaged service
or tool (the `services` marker, which implies `slow`), it starts a process, or it takes long (an
explicit `slow` marker). The first two are enforced, not trusted: a test outside the slow lane
that starts a process fails, naming the program; and `--check-fast-lane` (what `.ci/run` runs,
as `nobody`, with `PATH` from `path_without_services`) refuses to start with root's privileges
or with any service program on `PATH`, and fails a fast test that skips for want of one.

Standard library only: conftest.py and `.ci/run` import it before anything else.
"""

from __future__ import annotations

import fnmatch
import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

# The programs of the services the suite starts and of their packages (README, Contributing:
# "Which tests need which services"), as name patterns: each package's helpers go too.
SERVICE_PROGRAMS = (
    "redis-*", "*mariadb*", "*mysql*", "wsrep_*", "postgres*", "pg_*", "initdb", "psql",
    "pgbouncer", "nginx*", "haproxy*", "stunnel*", "caddy", "supervisor*",
    "echo_supervisord_conf", "*registry*", "htpasswd", "buildah", "skopeo", "podman",
    "docker*", "php*", "busybox", "moto_server",
)

# Audit events (Python's `sys.audit` table) of a process being started.
SPAWN_EVENTS = frozenset({
    "subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork",
    "os.forkpty",
})


def spawned_program(event: str, args: tuple[object, ...]) -> str:
    """The program an audit event starts, by name only (an argv may hold a secret)."""
    if event == "subprocess.Popen" and len(args) > 1:
        executable, argv = args[0], args[1]
        first = executable or (argv[0] if isinstance(argv, (list, tuple)) and argv else argv)
        return os.path.basename(os.fsdecode(first)) if isinstance(first, (str, bytes)) else "?"
    if event in {"os.exec", "os.posix_spawn", "os.spawn"} and args:
        path = args[1] if event == "os.spawn" and len(args) > 1 else args[0]
        return os.path.basename(os.fsdecode(path)) if isinstance(path, (str, bytes)) else "?"
    return event  # os.system's command line, a fork: say what happened, not what it ran


def is_service_program(name: str) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in SERVICE_PROGRAMS)


def _programs(path: str) -> Iterator[Path]:
    """Every executable file `PATH` finds, in its order (a name may come twice)."""
    for entry in path.split(os.pathsep):
        folder = Path(entry or ".")
        if folder.is_dir():
            for program in sorted(folder.iterdir()):
                if program.is_file() and os.access(program, os.X_OK):
                    yield program


def services_on_path(path: str) -> dict[str, str]:
    """Each service program `PATH` would find, and where."""
    found: dict[str, str] = {}
    for program in _programs(path):
        if is_service_program(program.name):
            found.setdefault(program.name, str(program))
    return found


def privileged() -> bool:
    """Whether this process holds any of root's powers: an effective capability (Linux; a root
    without any, as `setpriv` leaves it, holds none) or, where that cannot be read, uid 0."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return os.geteuid() == 0
    effective = next((line.split()[1] for line in status.splitlines()
                      if line.startswith("CapEff:")), None)
    return os.geteuid() == 0 if effective is None else int(effective, 16) != 0


def declared_missing_skip(reason: str) -> bool:
    """A skip the fast lane allows: a reference-tree file this CI declares it cannot have
    (tests/shared_tree.py), which no user or PATH would change."""
    return "APPWRITE_HEROKU_SHARED_MISSING" in reason


def path_without_services(directory: Path, environ: Mapping[str, str] = os.environ) -> str:
    """A `PATH` of one directory holding a link to every program the current `PATH` finds,
    except the service tools: what the fast lane may use (python3, sh, git, ...)."""
    directory.mkdir(parents=True, exist_ok=True)
    for program in _programs(environ.get("PATH") or os.defpath):
        link = directory / program.name
        if not (is_service_program(program.name) or link.is_symlink()):
            link.symlink_to(program.absolute())
    return str(directory)


if __name__ == "__main__":
    # `.ci/run`: python3 tests/lanes.py DIR  ->  prints the PATH for the fast-lane check.
    print(path_without_services(Path(sys.argv[1])))
