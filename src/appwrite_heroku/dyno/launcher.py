"""`appwrite-heroku launch web|worker|all|release`: the Lite image's entry point on a dyno.

At every boot: derive Appwrite's settings from the dyno's config vars, wait (bounded) for the
database, start the Redis bridge when Heroku's Redis needs TLS or a password, size the Swoole
pools from the cgroup memory limit, then hand the role's programs to supervisord and watch it.
The release role instead runs Appwrite's `migrate` when the release upgrades Appwrite.

Paths and tools are environment-configurable (`APPWRITE_LITE_*`) so tests can point the launcher
at stand-in Appwrite entry points; the defaults are the image's own paths.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..clock import SYSTEM, Clock
from ..config import appetite, budget, inputs, processes, queues, wiring
from ..config.wiring import UPSTREAM_ENV
from ..display import quoted, safe_line
from ..errors import AppwriteHerokuError, InputError, NotReadyError
from ..secrecy import Redactor, config_secrets, is_secret
from . import database, migration, pooler, router, sizing, supervision
from . import queues as dispatch

# Where Appwrite 1.9.6 writes files: fixed paths, no setting moves them (app/init/constants.php
# :77-84, APP_STORAGE_UPLOADS … APP_STORAGE_CONFIG). Read from the image's own constants.php at
# boot (another version may add one); this list when the file is absent.
APPWRITE_STORAGE_1_9_6 = ("/storage/uploads", "/storage/sites", "/storage/functions",
                          "/storage/builds", "/storage/cache", "/storage/imports",
                          "/storage/certificates", "/storage/config")
_STORAGE_CONSTANT = re.compile(r"^const APP_STORAGE_[A-Z_]+ = '(/storage/[^']+)';", re.M)


@dataclass(frozen=True)
class Layout:
    """Where Appwrite and our tools are; every field has an `APPWRITE_LITE_*` override."""

    bin_dir: Path
    code_dir: Path
    console_root: Path
    storage_root: Path  # tests only: re-roots Appwrite's fixed /storage paths (see below)
    cgroup_root: Path
    runtime_parent: Path | None
    php: str
    nginx: str
    listen_hosts: tuple[str, ...]
    realtime_idle: int
    bridge_port: int
    db_attempts: int
    db_delay: float
    crash_policy: supervision.CrashPolicy
    appwrite_version: str
    skip: frozenset[str]
    port: int | None = None  # `$PORT`, for the roles that serve HTTP (checked at boot, first)

    @classmethod
    def from_env(cls, env: Mapping[str, str], role: str) -> Layout:
        def number(name: str, default: str, low: float = 0, high: float = 86400) -> float:
            return inputs.number(env.get(name, default), name, low, high)

        def whole(name: str, default: str, low: int, high: int) -> int:
            return inputs.whole(env.get(name, default), name, low, high)

        bridge_port = inputs.port(env.get("APPWRITE_LITE_BRIDGE_PORT", "6379"),
                                  "APPWRITE_LITE_BRIDGE_PORT")
        port = _web_port(role, env)
        if port == bridge_port:
            raise InputError(f"APPWRITE_LITE_BRIDGE_PORT is {port}, the web port (PORT): the "
                             "Redis bridge and nginx cannot both listen there; unset "
                             "APPWRITE_LITE_BRIDGE_PORT or choose another port")

        # Web dynos must bind $PORT within 60 s (R10): their database wait stays shorter.
        attempts_default = "8" if role in ("web", "all") else "24"
        hosts = tuple(h.strip() for h in env.get("APPWRITE_LITE_LISTEN", "0.0.0.0,[::]")
                      .split(",") if h.strip())
        runtime = env.get("APPWRITE_LITE_RUNTIME_DIR")
        return cls(
            bin_dir=Path(env.get("APPWRITE_LITE_BIN_DIR", "/usr/local/bin")),
            code_dir=Path(env.get("APPWRITE_LITE_CODE_DIR", "/usr/src/code")),
            console_root=Path(env.get("APPWRITE_LITE_CONSOLE_ROOT", "/usr/share/nginx/html")),
            # Appwrite's storage paths are fixed (APPWRITE_STORAGE_1_9_6): on a dyno this stays
            # /storage. Kept only for the tests, which run the launcher where /storage is not
            # theirs to write: they point it at a temp dir.
            storage_root=Path(env.get("APPWRITE_LITE_STORAGE_DIR", "/storage")),
            cgroup_root=Path(env.get("APPWRITE_LITE_CGROUP_ROOT", "/sys/fs/cgroup")),
            runtime_parent=Path(runtime) if runtime else None,
            php=env.get("APPWRITE_LITE_PHP", "php"),
            nginx=env.get("APPWRITE_LITE_NGINX", "nginx"),
            listen_hosts=hosts,
            realtime_idle=whole("APPWRITE_LITE_REALTIME_IDLE",
                                str(router.DEFAULT_REALTIME_IDLE), 0, 86400),
            bridge_port=bridge_port,
            db_attempts=whole("APPWRITE_LITE_DB_ATTEMPTS", attempts_default, 1, 10000),
            db_delay=number("APPWRITE_LITE_DB_DELAY", "4"),
            crash_policy=supervision.CrashPolicy(
                limit=whole("APPWRITE_LITE_CRASH_LIMIT", "5", 1, 10000),
                window=number("APPWRITE_LITE_CRASH_WINDOW", "120"),
            ),
            appwrite_version=env.get("APPWRITE_LITE_APPWRITE_VERSION", "").strip(),
            skip=frozenset(appetite.skipped(env)),
            port=port,
        )


def _web_port(role: str, env: Mapping[str, str]) -> int | None:
    """`$PORT` for the roles that serve HTTP, checked before anything waits (the database wait
    can take half a minute: a bad PORT must not be reported after it)."""
    if role not in ("web", "all") or "PORT" not in env:
        return None
    return inputs.port(env["PORT"], "PORT")


def require_port(layout: Layout, role: str) -> int | None:
    """The web port of a role that serves HTTP, which Heroku always sets."""
    if role in ("web", "all") and layout.port is None:
        raise InputError("PORT is not set to a port number: Heroku sets it for web dynos; "
                         "set it yourself to run the web role elsewhere")
    return layout.port


class Log:
    """Launcher output on stdout, every known secret masked: one line, or a block of whole
    lines a program printed at once (LogPump), masked as its lines would be one by one (each
    line of a multi-line secret is a form of its own, Redactor.add)."""

    def __init__(self, redactor: Redactor) -> None:
        self.redactor = redactor
        self._lock = threading.Lock()

    def __call__(self, line: str) -> None:
        text = self.redactor.redact(line)
        with self._lock:
            sys.stdout.write(text + "\n")
            sys.stdout.flush()

    def launcher(self, line: str) -> None:
        """Our own lines quote config values: one line each, never a runner command."""
        self(safe_line(f"[launcher] {self.redactor.redact(line)}"))


def child_environment(
    environ: Mapping[str, str], settings: Mapping[str, str],
) -> dict[str, str]:
    """What Appwrite's processes see: the dyno's environment without add-on URLs and other
    secrets Appwrite does not read, plus the derived `_APP_*` settings."""
    env = {
        key: value for key, value in environ.items()
        if key.startswith("_APP_") or not is_secret(key, value)
    }
    env.pop(UPSTREAM_ENV, None)
    env.update(settings)
    return env


def appwrite_storage(code_dir: Path) -> tuple[str, ...]:
    """The directories Appwrite writes to: its APP_STORAGE_* constants, from the image's own
    app/init/constants.php, else 1.9.6's."""
    try:
        found = _STORAGE_CONSTANT.findall((code_dir / "app/init/constants.php").read_text())
    except (OSError, UnicodeDecodeError):
        found = []
    return tuple(found) or APPWRITE_STORAGE_1_9_6


def check_storage(paths: tuple[str, ...], root: Path = Path("/storage")) -> list[str]:
    """Which of Appwrite's storage directories Heroku's non-root user cannot write (created
    when missing). `root` stands for /storage (tests only, see Layout.storage_root)."""
    unwritable = []
    for absolute in paths:
        path = root / Path(absolute).relative_to("/storage")
        with contextlib.suppress(OSError):
            path.mkdir(parents=True, exist_ok=True)
        if not (path.is_dir() and os.access(path, os.W_OK | os.X_OK)):
            unwritable.append(str(path))
    return unwritable


def derive_settings(environ: Mapping[str, str], layout: Layout, log: Log) -> Any:
    """The settings engine's derivation, with its secrets registered for masking first."""
    from ..config.settings import derive

    derivation = derive(environ, bridge_port=layout.bridge_port)
    for value in derivation.secret_values():
        log.redactor.add(value)
    for warning in derivation.warnings:
        log.launcher(f"warning: {warning}")
    if derivation.missing_secrets:
        names = ", ".join(derivation.missing_secrets)
        raise InputError(
            f"{names} missing: set it once with `heroku config:set` (the Deploy button "
            "generates it) — it is never generated on a dyno, whose disk is wiped on restart, "
            "and a new key would make existing data unreadable"
        )
    return derivation


def bridge_choice(environ: Mapping[str, str], ceiling: int) -> tuple[str, int | None]:
    """The bridge's mode and ceiling: the user's APPWRITE_REDIS_BRIDGE_MODE and _MAX_UPSTREAM
    when set, else multiplexed (budget.CURRENT_MODE) at the ceiling the budget chose."""
    options = wiring.bridge_options(environ, default=budget.CURRENT_MODE)
    if options.mode != wiring.MUX:
        return options.mode, None
    return options.mode, options.max_upstream or ceiling


@contextlib.contextmanager
def redis_bridge(derivation: Any, layout: Layout, log: Log, environ: Mapping[str, str],
                 ceiling: int) -> Iterator[None]:
    """The in-process bridge (a thread, not a second interpreter: the launcher's memory stays
    within one Python process) when Appwrite cannot talk to Heroku's Redis directly;
    multiplexed at `ceiling` upstream connections (the budget's) unless the user chose."""
    upstream = derivation.redis_upstream
    if upstream is None or not upstream.needs_bridge:
        yield
        return
    mode, max_upstream = bridge_choice(environ, ceiling)
    bridge_module = importlib.import_module("appwrite_heroku.dyno.bridge")
    bridge = bridge_module.BridgeThread.start(upstream, host="127.0.0.1", port=layout.bridge_port,
                                              mode=mode, max_upstream=max_upstream)
    relay = (f"multiplexed, at most {max_upstream} upstream connections" if max_upstream
             else "plain, one upstream connection per client")
    log.launcher(f"redis bridge: 127.0.0.1:{bridge.port} → {upstream.source} "
                 f"({'TLS' if upstream.tls else 'plain'}"
                 f"{', authenticated' if upstream.password or upstream.username else ''}; "
                 f"{relay})")
    try:
        yield
    finally:
        bridge.stop(5)


def ipv6_available() -> bool:
    """Containers without IPv6 (a plain `docker run`) would make nginx fail on `[::]`."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


def http_and_router(
    layout: Layout, runtime_dir: Path, port: int, log: Log,
) -> list[processes.Program]:
    api_port, realtime_port = pooler.free_loopback_port(), pooler.free_loopback_port()
    hosts = layout.listen_hosts
    if any(h.startswith("[") for h in hosts) and not ipv6_available():
        hosts = tuple(h for h in hosts if not h.startswith("[")) or ("0.0.0.0",)
        log.launcher(f"no IPv6 in this container: listening on {', '.join(hosts)} only")
    config = router.RouterConfig(
        port=port, api_port=api_port, realtime_port=realtime_port,
        console_root=layout.console_root, runtime_dir=runtime_dir / "nginx",
        listen_hosts=hosts, realtime_idle_seconds=layout.realtime_idle,
        run_as=pwd.getpwuid(os.geteuid()).pw_name if os.geteuid() == 0 else None,
    )
    config_path = router.write_nginx(config)
    nginx = processes.Program(
        name="nginx", command=router.nginx_command(layout.nginx, config_path, config.runtime_dir),
        # First to start: Heroku's R10 only waits for $PORT, and nginx binds it in milliseconds.
        directory=str(config.runtime_dir), startsecs=1, priority=100,
    )
    return [*processes.http_programs(
        php=layout.php, bin_dir=layout.bin_dir, code_dir=layout.code_dir,
        api_port=api_port, realtime_port=realtime_port,
    ), nginx]


def worker_selection(layout: Layout, environ: Mapping[str, str],
                     settings: Mapping[str, str]) -> processes.Selection:
    """The queue workers and tasks of a worker dyno, chosen once per boot: the budget judges
    this set and a worker (or all) dyno starts it, so the two cannot differ."""
    return processes.select_background(
        processes.list_entry_points(layout.bin_dir), layout.skip,
        usage_stats=processes.usage_stats_enabled(child_environment(environ, settings)))


def background(layout: Layout, selection: processes.Selection, log: Log,
               policy: sizing.SizingPolicy, settings: Mapping[str, str],
               ) -> list[processes.Program]:
    for name, why in sorted(selection.skipped.items()):
        log.launcher(f"skipping {name}: {why}")
    # The image's own bin/ is the truth on a dyno: a name it lacks is a warning, not a crash.
    unknown = appetite.unknown_skip(layout.skip, processes.list_entry_points(layout.bin_dir),
                                    of=f"this image ({layout.bin_dir})")
    if unknown:
        log.launcher(f"warning: {unknown}")
    unpaired = processes.unpaired_stats_resources(selection)
    if unpaired:
        log.launcher(f"warning: {unpaired}")
    if processes.missing_always(selection):
        log.launcher(f"warning: no usage-stats consumer found in {layout.bin_dir}: the "
                     "v1-stats-usage queue will grow in Redis")
    steady, on_demand = queues.split(selection.chosen, policy.queue_options)
    if policy.queue_slots is None:
        steady, on_demand = selection.chosen, ()
    log.launcher(f"queue workers and schedulers always on: {', '.join(steady) or 'none'}")
    if on_demand:
        log.launcher(f"queue workers on demand (at most {policy.queue_slots} at once, each "
                     f"stopped after {policy.queue_options.idle_seconds:g} s idle): "
                     f"{', '.join(on_demand)}")
    note = queues.certificates_note(selection.chosen, settings)
    if note:
        log.launcher(note)
    return processes.background_programs(selection, layout.bin_dir, layout.code_dir,
                                         frozenset(on_demand))


def plan_programs(role: str, layout: Layout, runtime_dir: Path, environ: Mapping[str, str],
                  log: Log, selection: processes.Selection, policy: sizing.SizingPolicy,
                  settings: Mapping[str, str]) -> list[processes.Program]:
    programs: list[processes.Program] = []
    if role in ("worker", "all"):
        programs += background(layout, selection, log, policy, settings)
    port = require_port(layout, role)
    if port is not None:
        programs = http_and_router(layout, runtime_dir, port, log) + programs
    return programs


def run_role(role: str, environ: Mapping[str, str], log: Log, stopping: threading.Event, *,
             clock: Clock = SYSTEM, spawn: supervision.Spawn = subprocess.Popen) -> int:
    """Runs `role` until `stopping` is set or a program fails. Time and child processes come
    from `clock` and `spawn` (a test may pass its own); a signal cuts the database wait short."""
    layout = Layout.from_env(environ, role)
    require_port(layout, role)
    derivation = derive_settings(environ, layout, log)
    if role != "release":
        unwritable = check_storage(appwrite_storage(layout.code_dir), layout.storage_root)
        if unwritable:
            raise InputError(
                f"storage not writable by this user: {', '.join(unwritable)}; build the image "
                "from Dockerfile.lite (it makes /storage writable for Heroku's non-root user)")
    target = database.DatabaseTarget.from_settings(derivation.settings)
    database.wait_until_ready(
        target, attempts=layout.db_attempts, delay=layout.db_delay, log=log.launcher,
        not_ready_vars=list(derivation.not_ready),
        clock=Clock(clock.monotonic, lambda seconds: _interruptible_sleep(seconds, stopping)),
        log_in=role == "release",  # the release role logs in anyway; the others stay lean
    )
    if role == "release":
        # The release phase's own bridge: the smallest ceiling, kept free by the budget.
        with redis_bridge(derivation, layout, log, environ, budget.RELEASE_BRIDGE_CEILING):
            return release(layout, target, child_environment(environ, derivation.settings), log,
                           spawn)
    selection = worker_selection(layout, environ, derivation.settings)
    policy = size_dyno(role, layout, environ, selection, log)
    with redis_bridge(derivation, layout, log, environ, policy.bridge_ceiling or 2):
        return serve(role, layout, environ, derivation.settings, log, stopping, policy,
                     selection, clock=clock, spawn=spawn)


def size_dyno(role: str, layout: Layout, environ: Mapping[str, str],
              selection: processes.Selection, log: Log) -> sizing.SizingPolicy:
    """One budget for this dyno: Appwrite's knobs, the bridge's ceiling, PgBouncer's share.
    A web dyno judges the worker dyno's processes too (the same image everywhere)."""
    policy = sizing.choose_policy(
        sizing.read_memory_limit(layout.cgroup_root), role, selection.chosen, environ,
    )
    log.launcher(policy.description)
    for warning in policy.warnings:
        log.launcher(f"warning: {warning}")
    if not policy.fits:  # a dyno that exits would only crash-loop: say so, size anyway
        log.launcher(f"warning: {policy.refusal} (sized anyway)")
    return policy


def _interruptible_sleep(seconds: float, stopping: threading.Event) -> None:
    if stopping.wait(seconds):
        raise NotReadyError("stopped by a signal while waiting for the database")


def serve(role: str, layout: Layout, environ: Mapping[str, str], settings: Mapping[str, str],
          log: Log, stopping: threading.Event, policy: sizing.SizingPolicy,
          selection: processes.Selection, *, clock: Clock = SYSTEM,
          spawn: supervision.Spawn = subprocess.Popen) -> int:
    runtime_dir = Path(tempfile.mkdtemp(prefix="appwrite-lite-", dir=layout.runtime_parent))
    try:
        # PostgreSQL: PgBouncer first, and Appwrite's processes connect through it on loopback;
        # its server pool is this dyno's share of the plan the budget judged.
        pooled = pooler.for_dyno(role, settings, environ, runtime_dir, log.launcher,
                                 plan_limit=policy.db_plan_limit, dynos=policy.dynos,
                                 headroom=budget.HEADROOM_DB)
        settings = {**settings, **pooled.settings}
        programs = [*pooled.programs,
                    *plan_programs(role, layout, runtime_dir, environ, log, selection, policy,
                                   settings)]
        programs = [dataclasses.replace(p, env={**_own_values(policy.program_env, p.name,
                                                              environ), **p.env})
                    for p in programs]
        env = child_environment(environ, {**settings, **policy.settings})
        supervisor = supervision.Supervisor(runtime_dir, programs, env, log, layout.crash_policy,
                                            spawn=spawn, clock=clock)
        log.launcher(f"role {role}: starting "
                     f"{', '.join(p.name for p in programs if not p.on_demand)}")
        supervisor.start()
        log.launcher(f"supervisord config {supervisor.config_path}")
        dispatcher = queue_dispatcher(programs, policy, env, supervisor, log, clock)
        try:
            reason = supervisor.watch(stopping)
        finally:
            if dispatcher is not None:
                dispatcher.stop()
            if stopping.is_set():
                log.launcher("stopping: SIGTERM to every program at once")
            supervisor.stop()
        if reason:
            log.launcher(f"giving up so Heroku restarts the dyno: {reason}")
            return 1
        log.launcher("stopped")
        return 0
    finally:
        shutil.rmtree(runtime_dir, ignore_errors=True)


def queue_dispatcher(programs: list[processes.Program], policy: sizing.SizingPolicy,
                     env: Mapping[str, str], supervisor: supervision.Supervisor,
                     log: Log, clock: Clock = SYSTEM) -> dispatch.Dispatcher | None:
    """The thread that starts on-demand queue workers, when this dyno has any. It reaches Redis
    where Appwrite does (`_APP_REDIS_HOST/PORT`: the local bridge on a Heroku dyno)."""
    on_demand = [p for p in programs if p.on_demand]
    if not on_demand or policy.queue_slots is None:
        return None
    watched = {p.name: queues.queue_name(p.name, env) or p.name for p in on_demand}
    lists = dispatch.RedisLists(env.get("_APP_REDIS_HOST") or "127.0.0.1",
                                inputs.port(env.get("_APP_REDIS_PORT") or "6379",
                                            "_APP_REDIS_PORT"))
    control = dispatch.Supervisord(supervisor.socket_path,
                                   {p.name: supervision.rpc_name(p) for p in on_demand})
    dispatcher = dispatch.Dispatcher(
        dispatch.Dispatch(watched, policy.queue_slots, policy.queue_options.idle_seconds),
        lists, control, log.launcher, clock)
    dispatcher.start()
    return dispatcher


def _own_values(program_env: Mapping[str, dict[str, str]], program: str,
                environ: Mapping[str, str]) -> dict[str, str]:
    """A program's own sizing values (realtime's pool adapter and workers), except those the
    user set themselves: theirs win."""
    return {key: value for key, value in program_env.get(program, {}).items()
            if not environ.get(key, "").strip()}


def release(layout: Layout, target: database.DatabaseTarget, env: Mapping[str, str],
            log: Log, spawn: supervision.Spawn = subprocess.Popen) -> int:
    if not layout.appwrite_version:
        raise InputError("APPWRITE_LITE_APPWRITE_VERSION is not set: build the image from "
                         "Dockerfile.lite, which records the Appwrite version it is built on")
    if not (target.speaks_mysql or target.speaks_postgres):
        log.launcher(f"release: the {target.adapter} adapter keeps no release marker here; "
                     "run `migrate` yourself when upgrading")
        return 0
    if target.schema and target.app_database != target.schema:
        log.launcher(f"release: warning: Appwrite keeps its tables in {target.app_database!r}, "
                     f"not in the add-on's {target.schema!r} (Appwrite drops characters other "
                     "than letters, digits, _ and -)")
    connection = database.connect(target)
    try:
        previous = database.read_marker(connection, target)
        installed = database.appwrite_installed(connection, target)
        if target.speaks_postgres and not installed:
            for problem in database.postgres_extension_problems(connection):
                log.launcher(f"release: warning: Appwrite's first boot will fail: it cannot "
                             f"create the extension {problem} (see docs/troubleshooting.md)")
        decision = migration.decide(previous, layout.appwrite_version, installed)
        log.launcher(f"release: {decision.reason}")
        if decision.action == migration.REFUSE:
            return 1
        if decision.action == migration.MIGRATE:
            status = run_migrate(layout, env, log, spawn)
            if status != 0:
                log.launcher(f"release: migrate failed with status {status}; the previous "
                             "release stays live")
                return 1
        database.write_marker(connection, target, layout.appwrite_version)
        log.launcher(f"release: recorded Appwrite {layout.appwrite_version} as released")
        return 0
    finally:
        connection.close()


def run_migrate(layout: Layout, env: Mapping[str, str], log: Log,
                spawn: supervision.Spawn = subprocess.Popen) -> int:
    script = layout.bin_dir / "migrate"
    command = [str(script)] if os.access(script, os.X_OK) else [
        layout.php, "app/cli.php", "migrate"]
    process = spawn(
        command, cwd=layout.code_dir, env=dict(env), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )
    assert process.stdout is not None
    for raw in process.stdout:
        log(f"[migrate] {raw.decode('utf-8', 'replace').rstrip()}")
    return process.wait()


def _install_signal_handlers(stopping: threading.Event) -> Callable[[], None]:
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

    def handle(signum: int, _frame: object) -> None:
        stopping.set()

    for sig in previous:
        signal.signal(sig, handle)

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore


def launch(args: argparse.Namespace) -> int:
    environ = dict(os.environ)
    redactor = Redactor(config_secrets(environ))
    log = Log(redactor)
    stopping = threading.Event()
    restore = _install_signal_handlers(stopping)
    role = args.role or processes.role_from_dyno(environ.get("DYNO"))
    if role is None:
        restore()
        raise InputError(
            f"no role given and DYNO={quoted(environ.get('DYNO', ''))} names none: run "
            f"`appwrite-heroku launch {'|'.join(processes.ROLES)}`")
    if role == "web" and appetite.runs_all_in_web(environ):
        # One dyno for everything: heroku.yml's web command stays as it is.
        log.launcher("APPWRITE_LITE_ALL_IN_WEB is set: the web dyno runs the workers too")
        role = "all"
    try:
        return run_role(role, environ, log, stopping)
    except AppwriteHerokuError as error:
        # Masked here too: cli prints the message as it is.
        raise type(error)(redactor.redact(str(error))) from None
    finally:
        restore()


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Adds `launch ROLE`."""
    parser = subparsers.add_parser(
        "launch", help="run Appwrite's processes for a dyno role (the image's entry point)",
        description="Derive Appwrite's settings from the dyno's config vars, then run the "
                    "role: web (proxy on $PORT, API, realtime), worker (queue workers), all "
                    "(both), release (migrate when upgrading).",
    )
    parser.add_argument(
        "role", nargs="?", choices=processes.ROLES,
        help="default: the process type in $DYNO (web, worker or release), which is how one "
             "image pushed for every process type knows its part")
    parser.set_defaults(func=launch)
