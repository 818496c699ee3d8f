"""Appwrite's queues: which Redis lists each queue worker drains, and which workers run on demand.

Nine queue workers and three tasks hold ~805 MiB on a worker dyno (benchmarks/real_appwrite.py),
more than a 512 MB dyno has, yet each queue worker waits on an empty list almost all the time.
So a queue's worker may stay stopped until its list holds a job: the dyno's dispatcher
(dyno/queues.py) watches the lists named here and starts the worker, and the budget counts only
as many on-demand workers at once as the dyno's memory holds ("slots"). Both read this module,
so they cannot disagree about a queue's keys or a worker's kind. Pure functions and data.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ..display import quoted
from ..errors import InputError
from . import inputs
from .processes import ALWAYS

# utopia-php/queue 0.21.1 (the version Appwrite 1.9.6's composer.lock pins, commit abc5173f):
# Appwrite builds its consumer without a namespace (app/worker.php:73-82), so the adapter's
# default applies (src/Queue/Adapter/Swoole.php:32, src/Queue/Queue.php:9); its publishers use
# the same (app/init/resources.php:88-151, `new Queue(NAME)`).
NAMESPACE = "utopia-queue"
# A worker's queue at 1.9.6 (app/worker.php:62-66): `_APP_QUEUE_NAME` when set, else
# `database_db_main` for `databases*`, else `v1-<name>` (the name `bin/worker-NAME` passes:
# `exec php /usr/src/code/app/worker.php NAME`).
QUEUE_NAME_VAR = "_APP_QUEUE_NAME"
DATABASES_QUEUE = "database_db_main"
WORKER_PREFIX = "worker-"

ON_DEMAND, ALWAYS_ON = "on-demand", "always-on"
MODES = (ON_DEMAND, ALWAYS_ON)
MODE_VAR = "APPWRITE_LITE_QUEUE_MODE"
SLOTS_VAR = "APPWRITE_LITE_QUEUE_SLOTS"
IDLE_VAR = "APPWRITE_LITE_QUEUE_IDLE"
VARIABLES = (MODE_VAR, SLOTS_VAR, IDLE_VAR)
# How long a started worker stays after both its lists emptied. A real queue worker starts in
# 0.31-0.40 s (measured on Appwrite 1.9.6's mails, databases and webhooks workers): a minute
# keeps a busy queue's worker warm between bursts without holding a slot long once it is done.
DEFAULT_IDLE_SECONDS = 60.0
MAX_SLOTS = 64


def worker_name(entry_point: str) -> str | None:
    """The name `bin/worker-NAME` hands to app/worker.php (None: not a per-queue worker)."""
    if not entry_point.startswith(WORKER_PREFIX) or entry_point == WORKER_PREFIX:
        return None
    return entry_point.removeprefix(WORKER_PREFIX)


def queue_name(entry_point: str, settings: Mapping[str, str] | None = None) -> str | None:
    """The queue the entry point's worker drains, as app/worker.php:62-66 names it."""
    name = worker_name(entry_point)
    if name is None:
        return None
    override = ((settings or {}).get(QUEUE_NAME_VAR) or "").strip()
    if override:
        return override
    if name.startswith("databases"):
        return DATABASES_QUEUE
    return "v1-" + name.lower()


def list_keys(queue: str) -> tuple[str, str]:
    """The Redis lists of a queue (utopia-php/queue 0.21.1 src/Queue/Broker/Redis.php): jobs
    waiting, `{ns}.queue.{name}` (BRPOP, :57; LPUSH by publishers, :161-163), and in flight,
    `{ns}.processing.{name}` (the job's pid pushed after the pop, :96; removed on commit or
    reject, :109, :119)."""
    return f"{NAMESPACE}.queue.{queue}", f"{NAMESPACE}.processing.{queue}"


@dataclass(frozen=True)
class QueueOptions:
    """The user's queue knobs: how queue workers run, how many on-demand ones may run at once
    (None: the budget's choice), and how long a worker stays once its lists are empty."""

    mode: str = ON_DEMAND
    slots: int | None = None
    idle_seconds: float = DEFAULT_IDLE_SECONDS

    @property
    def on_demand(self) -> bool:
        return self.mode == ON_DEMAND


def options_from(config: Mapping[str, str]) -> QueueOptions:
    """The queue knobs from config vars; one line naming a bad one (exit 2 in plan/deploy)."""
    mode = (config.get(MODE_VAR) or "").strip().lower() or ON_DEMAND
    if mode not in MODES:
        raise InputError(f"{MODE_VAR} must be {' or '.join(MODES)}, not {quoted(mode)}: "
                         f"{ALWAYS_ON} runs every queue worker all the time (a bigger dyno)")
    raw_slots = (config.get(SLOTS_VAR) or "").strip()
    slots = None
    if raw_slots:
        if not inputs.whole_number(raw_slots) or not 1 <= int(raw_slots) <= MAX_SLOTS:
            raise InputError(f"{SLOTS_VAR} must be a whole number from 1 to {MAX_SLOTS}, not "
                             f"{quoted(raw_slots)}: how many on-demand queue workers may run "
                             "at once (unset: as many as the dyno's memory holds)")
        slots = int(raw_slots)
    raw_idle = (config.get(IDLE_VAR) or "").strip()
    idle = DEFAULT_IDLE_SECONDS
    if raw_idle:
        idle = inputs.seconds(raw_idle, IDLE_VAR)
    return QueueOptions(mode, slots, idle)


def options_or_defaults(config: Mapping[str, str]) -> tuple[QueueOptions, list[str]]:
    """On a dyno a bad knob must not stop the dyno: each bad one is left at its default, with a
    warning line to log."""
    warnings = []
    kept = dict(config)
    for name in VARIABLES:
        try:
            options_from({name: config.get(name, "")})
        except InputError as error:
            warnings.append(f"{error}; using the default")
            kept.pop(name, None)
    return options_from(kept), warnings


def always_on(entry_point: str, options: QueueOptions) -> bool:
    """Whether a background entry point runs all the time: tasks (they are timers, not
    consumers), the queues that always have work (`worker-stats-usage`: every API request
    queues a usage event, app/controllers/shared/api.php), a single all-queues `worker`, and
    every queue worker when the user chose `always-on`."""
    return (worker_name(entry_point) is None or entry_point in ALWAYS
            or not options.on_demand)


def split(background: Iterable[str], options: QueueOptions) -> tuple[tuple[str, ...],
                                                                      tuple[str, ...]]:
    """(always-on, on-demand) entry points of a background set, each in the set's order."""
    names = tuple(background)
    return (tuple(n for n in names if always_on(n, options)),
            tuple(n for n in names if not always_on(n, options)))


CERTIFICATES = "worker-certificates"
CERTIFICATE_EMAIL_VARS = ("_APP_EMAIL_CERTIFICATES", "_APP_SYSTEM_SECURITY_EMAIL_ADDRESS")


def certificates_note(chosen: Iterable[str], settings: Mapping[str, str]) -> str | None:
    """Why worker-certificates runs (on demand) though its jobs fail, when they will.

    A custom domain added in Appwrite queues a job to verify it and issue a LetsEncrypt
    certificate. Appwrite 1.9.6 builds that resource only with a security e-mail
    (app/worker.php:42-49: `_APP_EMAIL_CERTIFICATES`, else `_APP_SYSTEM_SECURITY_EMAIL_ADDRESS`,
    else it throws), and every job injects it (src/Appwrite/Platform/Workers/Certificates.php:62),
    so each fails and is recorded as failed. On Heroku that is the right outcome: the router
    terminates TLS, so a custom domain's certificate comes from Heroku, never from Appwrite.
    The worker still runs, on demand, so that its list is drained rather than left to grow in a
    25 MB Redis; it costs nothing while the list is empty."""
    if CERTIFICATES not in chosen:
        return None
    if any((settings.get(name) or "").strip() for name in CERTIFICATE_EMAIL_VARS):
        return None
    return (f"{CERTIFICATES}: runs on demand to drain its queue, but without "
            f"{CERTIFICATE_EMAIL_VARS[0]} Appwrite 1.9.6 refuses every certificate job "
            "(app/worker.php:42-49); on Heroku the router terminates TLS, so give a custom "
            "domain its certificate with `heroku domains:add` (Automated Certificate "
            "Management), not through Appwrite")
