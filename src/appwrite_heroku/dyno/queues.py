"""The queue dispatcher: Appwrite's queue workers started when their list holds a job.

Each queue worker holds ~60 MiB and waits on an empty Redis list almost all the time; a 512 MB
worker dyno cannot hold nine of them (benchmarks/real_appwrite.py). So an on-demand
worker (config/queues.py says which) is a supervisord program with autostart=false, and this
thread in the launcher watches its two lists (LLEN, pipelined, every POLL_SECONDS, through the
same local Redis bridge Appwrite uses), starts the worker when a job waits, and stops it once both
lists have stayed empty for the idle time. At most `slots` run at once (the budget's choice for
this dyno's memory); queues that wait for a slot get one in the order they began waiting, and a
running worker yields its slot to a waiting queue once it has had its turn (TURN_SECONDS),
between two jobs, so no queue starves. Starting and stopping go through supervisord's XML-RPC on
its unix socket. `Dispatch` is the pure part: observations in, actions out.

A stop never loses a job. An idle worker is stopped only with both its lists empty of its own
jobs, and a worker giving its turn away is stopped between jobs; only one that never pauses is
asked to stop with a job in hand, after LONG_TURNS turns, and a utopia-php/queue 0.21.1 worker
told to stop finishes the jobs it holds before it exits (the child's SIGTERM handler only closes
the consumer, src/Queue/Adapter/Swoole.php:67-70; consume() waits for the jobs in flight,
:97-120), for which supervisord gives an on-demand worker up to an hour
(supervision.ON_DEMAND_STOP_WAIT).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import xmlrpc.client
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hiredis

from ..clock import SYSTEM, Clock
from ..config import queues
from .redis.resp import encode_command

POLL_SECONDS = 0.5
# How long a worker keeps its slot while other queues wait, before it yields it between jobs;
# a worker that never shows a gap between jobs is asked to stop after LONG_TURNS turns: it
# finishes the jobs it holds first, so a queue that always has work cannot starve the others.
TURN_SECONDS = 10.0
LONG_TURNS = 3
# supervisord states in which a program holds its memory (supervisor.states.ProcessStates).
HOLDS_A_SLOT = frozenset({"STARTING", "RUNNING", "BACKOFF", "STOPPING"})
START, STOP = "start", "stop"


@dataclass(frozen=True)
class Lists:
    """One look at a queue's two lists."""

    waiting: int
    processing: int


@dataclass(frozen=True)
class Action:
    kind: str  # START | STOP
    program: str
    reason: str


@dataclass
class _Queue:
    program: str
    queue: str
    baseline: int = 0  # processing entries that are not this dyno's worker's (seen while off)
    last_busy: float = 0.0
    started_at: float = 0.0
    waiting_since: float | None = None
    own: int = 0  # jobs of ours in flight at the last look
    waiting: int = 0


@dataclass
class Dispatch:
    """Which on-demand workers to start and stop, from what the lists and supervisord say.

    Deterministic and free of I/O: `tick` takes one observation of every queue's lists and of
    every program's supervisord state at time `now`, and returns what to do."""

    programs: Mapping[str, str]  # program -> its queue
    slots: int
    idle_seconds: float
    turn_seconds: float = TURN_SECONDS
    _queues: dict[str, _Queue] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self._queues = {p: _Queue(p, q) for p, q in self.programs.items()}

    def tick(self, lists: Mapping[str, Lists], states: Mapping[str, str],
             now: float) -> list[Action]:
        occupied = {p for p in self._queues if states.get(p, "STOPPED") in HOLDS_A_SLOT}
        stopping = {p for p in occupied if states.get(p) == "STOPPING"}
        for program, state in self._queues.items():
            self._observe(state, lists.get(state.queue, Lists(0, 0)), program in occupied, now)
        actions = self._idle_stops(occupied - stopping, now)
        stopping |= {a.program for a in actions}
        waiters = sorted((q for q in self._queues.values() if q.waiting_since is not None),
                         key=lambda q: (q.waiting_since, q.program))
        free = max(0, self.slots - len(occupied))
        for waiter in waiters[:free]:
            waiter.started_at = waiter.last_busy = now
            waiter.waiting_since = None
            actions.append(Action(START, waiter.program,
                                  f"{waiter.waiting} job(s) waiting in {waiter.queue}"))
        short = len(waiters[free:]) - len(stopping)
        if short > 0:
            actions += self._yields(waiters[free:][:short], occupied - stopping, now)
        return actions

    def _observe(self, queue: _Queue, seen: Lists, on: bool, now: float) -> None:
        if on:
            queue.baseline = min(queue.baseline, seen.processing)
            queue.own = seen.processing - queue.baseline
        else:  # nothing of ours runs: whatever is in flight belongs to another dyno (or died)
            queue.baseline, queue.own = seen.processing, 0
        queue.waiting = seen.waiting
        if seen.waiting or queue.own:
            queue.last_busy = now
        if seen.waiting and not on:
            queue.waiting_since = queue.waiting_since if queue.waiting_since is not None else now
        else:
            queue.waiting_since = None

    def _idle_stops(self, running: Iterable[str], now: float) -> list[Action]:
        actions = []
        for program in sorted(running):
            queue = self._queues[program]
            idle = now - queue.last_busy
            if not (queue.waiting or queue.own) and idle >= self.idle_seconds:
                actions.append(Action(STOP, program, f"idle {idle:.0f} s: {queue.queue} and its "
                                                     "processing list are empty"))
        return actions

    def _yields(self, waiters: Sequence[_Queue], running: Iterable[str],
                now: float) -> list[Action]:
        """Workers that make way for queues waiting for a slot: idle ones first, then those
        that have had their turn and hold no job, then (longest running first) those that have
        held their slot LONG_TURNS turns without a pause: they finish their jobs, then exit."""
        candidates = []
        for program in running:
            queue = self._queues[program]
            ran = now - queue.started_at
            if queue.own == 0 and not queue.waiting:
                candidates.append((0, queue.started_at, program, "no job in flight"))
            elif queue.own == 0 and ran >= self.turn_seconds:
                candidates.append((1, queue.started_at, program,
                                   f"had its turn ({ran:.0f} s), no job in flight"))
            elif ran >= LONG_TURNS * self.turn_seconds:
                candidates.append((2, queue.started_at, program,
                                   f"had its turn ({ran:.0f} s) without a pause: it finishes "
                                   "the jobs it holds first"))
        actions = []
        for waiter, (_, _, program, why) in zip(waiters, sorted(candidates), strict=False):
            waited = now - (waiter.waiting_since or now)
            actions.append(Action(STOP, program, f"gives its slot to {waiter.program} "
                                                 f"(waiting {waited:.0f} s): {why}"))
        return actions


# --- the edges: Redis and supervisord ---------------------------------------------------------

class RedisLists:
    """LLEN of every list in one round trip, over one plain connection (reconnected on
    failure). hiredis, already the bridge's parser, packs and reads RESP."""

    def __init__(self, host: str, port: int, timeout: float = 2.0) -> None:
        self._address = (host, port)
        self._timeout = timeout
        self._socket: socket.socket | None = None

    def lengths(self, keys: Sequence[str]) -> list[int]:
        if self._socket is None:
            self._socket = socket.create_connection(self._address, timeout=self._timeout)
        try:
            self._socket.sendall(b"".join(encode_command(b"LLEN", key.encode()) for key in keys))
            reader = hiredis.Reader()
            replies: list[object] = []
            while len(replies) < len(keys):
                chunk = self._socket.recv(65536)
                if not chunk:
                    raise ConnectionError("Redis closed the connection")
                reader.feed(chunk)
                while (reply := reader.gets()) is not False:
                    replies.append(reply)
        except (OSError, hiredis.ProtocolError):
            self.close()
            raise
        return [reply if isinstance(reply, int) else 0 for reply in replies]

    def close(self) -> None:
        if self._socket is not None:
            with contextlib.suppress(OSError):
                self._socket.close()
            self._socket = None


class Supervisord:
    """supervisord's XML-RPC on its unix socket (supervisor's own transport, whose socket gets
    a timeout here: a call never hangs the dispatcher)."""

    def __init__(self, socket_path: Path, rpc_names: Mapping[str, str],
                 timeout: float = 5.0) -> None:
        from supervisor.xmlrpc import SupervisorTransport, UnixStreamHTTPConnection

        class Connection(UnixStreamHTTPConnection):  # type: ignore[misc]
            def connect(self) -> None:
                super().connect()
                self.sock.settimeout(timeout)

        def connection() -> UnixStreamHTTPConnection:
            made = Connection("localhost")
            made.socketfile = str(socket_path)
            return made

        self._names = dict(rpc_names)  # program -> group:name
        self._transport = SupervisorTransport(None, None, f"unix://{socket_path}")
        self._transport._get_connection = connection
        self._proxy = xmlrpc.client.ServerProxy("http://127.0.0.1", transport=self._transport)

    def states(self) -> dict[str, str]:
        infos: list[dict[str, Any]] = self._call("getAllProcessInfo")
        return {str(info["name"]): str(info["statename"]) for info in infos}

    def apply(self, action: Action) -> None:
        """Start or stop without waiting; a program already in that state is no error."""
        try:
            self._call("startProcess" if action.kind == START else "stopProcess",
                       self._names[action.program], False)
        except xmlrpc.client.Fault as fault:
            if fault.faultCode not in (60, 70):  # ALREADY_STARTED, NOT_RUNNING
                raise

    def _call(self, method: str, *args: object) -> Any:
        try:
            return getattr(self._proxy.supervisor, method)(*args)
        except xmlrpc.client.Fault:
            raise
        except Exception:
            # The transport keeps one connection; after a failed call (supervisord not up yet,
            # a timeout) it is in no state to carry the next: the next call opens a new one.
            self._transport.close()
            raise

    def close(self) -> None:
        self._transport.close()


class Dispatcher:
    """The thread: look, decide, act, every POLL_SECONDS until stopped; every action logged."""

    def __init__(self, dispatch: Dispatch, lists: RedisLists, control: Supervisord,
                 log: Callable[[str], None], clock: Clock = SYSTEM,
                 poll: float = POLL_SECONDS) -> None:
        self._dispatch, self._lists, self._control = dispatch, lists, control
        self._log, self._clock, self._poll = log, clock, poll
        self._keys = {q: queues.list_keys(q) for q in sorted(set(dispatch.programs.values()))}
        self._stop = threading.Event()
        self._trouble: str | None = None
        self._thread = threading.Thread(target=self._run, name="queue-dispatcher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Before supervisord stops: nothing is started during the shutdown."""
        self._stop.set()
        self._thread.join(timeout=5)
        self._lists.close()
        self._control.close()

    def _run(self) -> None:
        while not self._stop.wait(self._poll):
            try:
                self.step()
            except Exception as error:  # the thread must outlive any one look
                self._say_trouble(f"queues: cannot look at the queues now "
                                  f"({type(error).__name__}: {error}); retrying")

    def step(self) -> list[Action]:
        keys = [key for pair in self._keys.values() for key in pair]
        found = self._lists.lengths(keys)
        lists = {queue: Lists(found[2 * i], found[2 * i + 1])
                 for i, queue in enumerate(self._keys)}
        actions = self._dispatch.tick(lists, self._control.states(), self._clock.monotonic())
        for action in actions:
            verb = "starting" if action.kind == START else "stopping"
            self._log(f"queues: {verb} {action.program}: {action.reason}")
            self._control.apply(action)
        if self._trouble:
            self._log("queues: watching the queues again")
            self._trouble = None
        return actions

    def _say_trouble(self, line: str) -> None:
        if self._trouble != line:  # once per outage, not every half second
            self._log(line)
            self._trouble = line
