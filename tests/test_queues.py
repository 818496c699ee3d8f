"""Queues on demand, the rules: Appwrite's queue names and keys (read against Appwrite's and
utopia-php/queue's own sources), the user's queue knobs, the budget's slots, and the
dispatcher's decisions (dyno/queues.Dispatch) against a simulated supervisord and queue workers.
The real thing, with Redis and supervisord, is tests/test_queue_dispatch.py."""

from __future__ import annotations

import random
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appwrite_heroku.config import appetite, budget, queues
from appwrite_heroku.config import plans as plan_table
from appwrite_heroku.dyno import sizing
from appwrite_heroku.dyno.queues import HOLDS_A_SLOT, LONG_TURNS, START, STOP, Dispatch, Lists
from appwrite_heroku.errors import InputError
from test_properties import fuzz_examples

APPWRITE = Path("/work/.mirror/appwrite+appwrite/repo")
QUEUE_LIB = Path("/work/.mirror/utopia-php+queue/repo")
QUEUE_0_21_1 = "abc5173ff7079118ebf5a22cb8008e8cf0a150e4"  # Appwrite 1.9.6's composer.lock
USABLE = appetite.background_set()
MIB = 1024 * 1024


def git_show(repo: Path, ref: str) -> str:
    return subprocess.run(["git", "--git-dir", str(repo), "show", ref], capture_output=True,
                          text=True, check=True).stdout


# -- names and keys -------------------------------------------------------------------------------

def test_queue_names_are_app_worker_phps() -> None:
    assert queues.queue_name("worker-mails") == "v1-mails"
    assert queues.queue_name("worker-stats-usage") == "v1-stats-usage"
    assert queues.queue_name("worker-databases") == "database_db_main"
    assert queues.queue_name("worker-mails", {"_APP_QUEUE_NAME": "custom"}) == "custom"
    assert queues.queue_name("maintenance") is None and queues.queue_name("worker") is None
    assert queues.list_keys("v1-mails") == ("utopia-queue.queue.v1-mails",
                                            "utopia-queue.processing.v1-mails")


@pytest.mark.slow
@pytest.mark.skipif(not APPWRITE.is_dir() or not QUEUE_LIB.is_dir(),
                    reason="the Appwrite and utopia-php/queue mirrors are a workstation copy")
def test_names_and_keys_are_read_from_the_sources() -> None:
    worker = git_show(APPWRITE, "1.9.6:app/worker.php").splitlines()
    assert "str_starts_with($workerName, 'databases')" in worker[61]
    assert "'database_db_main'" in worker[62] and "'v1-' . strtolower($workerName)" in worker[64]
    for name in ("mails", "databases", "stats-usage"):
        assert f"app/worker.php {name} " in git_show(APPWRITE, f"1.9.6:bin/worker-{name}")
    lock = git_show(APPWRITE, "1.9.6:composer.lock")
    assert f'"reference": "{QUEUE_0_21_1}"' in lock
    broker = git_show(QUEUE_LIB, f"{QUEUE_0_21_1}:src/Queue/Broker/Redis.php").splitlines()
    assert 'rightPopArray("{$queue->namespace}.queue.{$queue->name}"' in broker[56]
    assert 'leftPush("{$queue->namespace}.processing.{$queue->name}", $pid)' in broker[95]
    assert 'listRemove("{$queue->namespace}.processing.{$queue->name}", $pid)' in broker[108]
    swoole = git_show(QUEUE_LIB, f"{QUEUE_0_21_1}:src/Queue/Adapter/Swoole.php").splitlines()
    assert f"string $namespace = '{queues.NAMESPACE}'" in swoole[31]


def test_every_usable_queue_is_on_demand_but_the_usage_one() -> None:
    steady, on_demand = queues.split(USABLE, queues.QueueOptions())
    assert steady == ("worker-stats-usage", "interval", "maintenance", "schedule-messages")
    assert set(on_demand) == {"worker-audits", "worker-certificates", "worker-databases",
                              "worker-deletes", "worker-mails", "worker-messaging",
                              "worker-migrations", "worker-webhooks"}
    assert queues.split(USABLE, queues.QueueOptions(queues.ALWAYS_ON)) == (USABLE, ())
    assert queues.split(("worker", "schedule"), queues.QueueOptions()) == (
        ("worker", "schedule"), ())


def test_certificates_note_names_the_reason_unless_an_email_is_set() -> None:
    note = queues.certificates_note(USABLE, {})
    assert note and "app/worker.php:42-49" in note and "heroku domains:add" in note
    assert queues.certificates_note(USABLE, {"_APP_EMAIL_CERTIFICATES": "a@b.c"}) is None
    assert queues.certificates_note(("worker-mails",), {}) is None


# -- the knobs -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "value"), [
    (queues.MODE_VAR, "sometimes"), (queues.MODE_VAR, "on"), (queues.SLOTS_VAR, "0"),
    (queues.SLOTS_VAR, "65"), (queues.SLOTS_VAR, "²"), (queues.SLOTS_VAR, "2.5"),
    (queues.SLOTS_VAR, "-1"), (queues.IDLE_VAR, "0"), (queues.IDLE_VAR, "nan"),
    (queues.IDLE_VAR, "inf"), (queues.IDLE_VAR, "soon"), (queues.IDLE_VAR, "86401"),
])
def test_a_bad_knob_is_one_line_naming_it(name: str, value: str) -> None:
    with pytest.raises(InputError) as raised:
        queues.options_from({name: value})
    assert name in str(raised.value) and "\n" not in str(raised.value)
    # On a dyno: a warning, and the default.
    options, warnings = queues.options_or_defaults({name: value, queues.IDLE_VAR: "5"}
                                                   if name != queues.IDLE_VAR else {name: value})
    assert len(warnings) == 1 and name in warnings[0] and "using the default" in warnings[0]
    assert options == queues.options_from({queues.IDLE_VAR: "5"} if name != queues.IDLE_VAR
                                          else {})


def test_good_knobs() -> None:
    assert queues.options_from({}) == queues.QueueOptions(queues.ON_DEMAND, None, 60.0)
    assert queues.options_from({queues.MODE_VAR: " Always-On ", queues.SLOTS_VAR: "3",
                                queues.IDLE_VAR: "2.5"}) == queues.QueueOptions(
        queues.ALWAYS_ON, 3, 2.5)


@settings(max_examples=fuzz_examples(200))
@given(st.dictionaries(st.sampled_from(queues.VARIABLES),
                       st.one_of(st.text(max_size=8), st.integers(-5, 80).map(str),
                                 st.sampled_from(["on-demand", "always-on", "1e3", "٣"]))))
def test_any_knobs_are_options_or_one_line(config: dict[str, str]) -> None:
    try:
        options = queues.options_from(config)
    except InputError as error:
        assert "\n" not in str(error) and any(name in str(error) for name in config)
    else:
        assert options.mode in queues.MODES and options.idle_seconds > 0
        assert options.slots is None or 1 <= options.slots <= queues.MAX_SLOTS
    # A dyno never stops over them.
    options, warnings = queues.options_or_defaults(config)
    assert len(warnings) <= len(config)
    policy = sizing.choose_policy(512 * MIB, "worker", USABLE, config)
    assert policy.queue_options == options and len(policy.warnings) == len(warnings)


# -- the budget's slots -------------------------------------------------------------------------

def test_two_basic_dynos_hold_every_usable_queue_on_demand() -> None:
    chosen = budget.DEFAULT_PROFILE.budget()
    assert chosen.fits and budget.DEFAULT_PROFILE.formation == "web=basic,worker=basic"
    assert (chosen.redis_plan.name, chosen.db_plan.name) == ("heroku-redis:mini",
                                                              "heroku-postgresql:essential-0")
    worker = chosen.dynos[1]
    assert worker.on_demand == queues.split(USABLE, queues.QueueOptions())[1]
    row = next(p for p in worker.processes if p.program == "on-demand")
    assert row.count == worker.slots >= 1
    assert row.memory_mib == appetite.MEMORY_MIB["queue-worker"][0]
    dispatcher = next(p for p in worker.processes if p.name == appetite.DISPATCHER)
    assert (dispatcher.redis, dispatcher.dedicated, dispatcher.db) == (1, 0, 0)
    # One slot more would not fit the dyno's memory.
    more = budget.dyno_budget(worker.spec, budget.DynoKnobs(worker.dyno_knobs.knobs,
                                                            slots=worker.slots + 1), USABLE)
    assert more.memory_mib > more.memory_usable_mib


@pytest.mark.parametrize(("role", "plans"), [
    ("worker", {}),
    # One dyno for everything takes its memory for the API first; on Redis mini every slot's
    # blocking receive competes with the API's: bigger plans leave room for slots.
    ("all", {budget.PLANS_VAR: "redis=heroku-redis:premium-2,db=heroku-postgresql:essential-2,"
                               "all=performance-m"}),
])
def test_slots_shrink_with_memory(role: str, plans: dict[str, str]) -> None:
    found = []
    for mib in (512, 768, 1024, 2560):
        policy = sizing.choose_policy(mib * MIB, role, USABLE, plans)
        assert policy.queue_slots is not None and policy.queue_slots >= 1
        found.append(policy.queue_slots)
    assert found == sorted(found) and found[0] < found[-1]


def test_the_users_slots_win_and_are_judged() -> None:
    specs = budget.DEFAULT_PROFILE.setup().specs
    mini, essential = plan_table.addon_plan("heroku-redis:mini"), plan_table.addon_plan(
        "heroku-postgresql:essential-0")
    many = budget.choose(specs, mini, essential, USABLE, user_settings={queues.SLOTS_VAR: "6"})
    assert many.dynos[1].slots == 6 and not many.fits
    assert any("worker needs" in p for p in many.problems())
    with pytest.raises(InputError, match=queues.SLOTS_VAR):
        budget.choose(specs, mini, essential, USABLE, user_settings={queues.SLOTS_VAR: "x"})


# -- the dispatcher's decisions, simulated ------------------------------------------------------

TICK = 0.5


@dataclass
class Sim:
    """supervisord and utopia-php/queue workers, reduced to what the dispatcher sees: a started
    program is STARTING for a tick, then RUNNING and popping jobs; a stopped one takes no new
    job, finishes the one it holds, then is STOPPED a tick later."""

    programs: dict[str, str]  # program -> queue
    waiting: dict[str, list[tuple[str, int]]] = field(default_factory=dict)  # queue -> jobs
    state: dict[str, str] = field(default_factory=dict)
    job: dict[str, tuple[str, int] | None] = field(default_factory=dict)  # program -> in hand
    done: list[str] = field(default_factory=list)
    foreign: dict[str, int] = field(default_factory=dict)  # another dyno's entries in flight

    def __post_init__(self) -> None:
        for program, queue in self.programs.items():
            self.waiting.setdefault(queue, [])
            self.state[program] = "STOPPED"
            self.job[program] = None

    def lists(self) -> dict[str, Lists]:
        return {q: Lists(len(self.waiting[q]), self.foreign.get(q, 0) + sum(
            1 for p, j in self.job.items() if j is not None and self.programs[p] == q))
            for q in self.waiting}

    def apply(self, kind: str, program: str) -> None:
        if kind == START and self.state[program] in ("STOPPED", "EXITED"):
            self.state[program] = "STARTING"
        elif kind == STOP and self.state[program] in ("STARTING", "RUNNING"):
            self.state[program] = "STOPPING"

    def step(self) -> None:
        for program, state in self.state.items():
            queue, job = self.programs[program], self.job[program]
            if job is not None:
                pid, left = job
                self.job[program] = (pid, left - 1) if left > 1 else None
                if left <= 1:
                    self.done.append(pid)
                    if state == "RUNNING" and self.waiting[queue]:  # the next, at once
                        self.job[program] = self.waiting[queue].pop(0)
            elif state == "STOPPING":
                self.state[program] = "STOPPED"
            elif state == "STARTING":
                self.state[program] = "RUNNING"
            elif state == "RUNNING" and self.waiting[queue]:
                self.job[program] = self.waiting[queue].pop(0)


arrivals = st.lists(st.tuples(st.integers(0, 60), st.integers(0, 4), st.integers(1, 8)),
                    max_size=40)


@settings(max_examples=fuzz_examples(150))
@given(arrivals, st.integers(1, 3), st.integers(2, 5), st.sampled_from([1.0, 2.0, 5.0]),
       st.integers(0, 2))
def test_slots_are_kept_nothing_is_lost_and_idle_workers_stop(
        jobs: list[tuple[int, int, int]], slots: int, count: int, idle: float,
        foreign: int) -> None:
    programs = {f"worker-q{i}": f"v1-q{i}" for i in range(count)}
    sim = Sim(programs, foreign={"v1-q0": foreign})  # entries of another dyno, never ours
    dispatch = Dispatch(programs, slots, idle, turn_seconds=3.0)
    pids = []
    for tick in range(2000):
        for at, (when, index, ticks) in enumerate(jobs):
            if when == tick:
                pid = f"job{at}"
                sim.waiting[f"v1-q{index % count}"].append((pid, ticks))
                pids.append(pid)
        for action in dispatch.tick(sim.lists(), dict(sim.state), tick * TICK):
            if action.kind == STOP and "idle" in action.reason:
                assert sim.job[action.program] is None, action  # never idle with a job
            sim.apply(action.kind, action.program)
        assert sum(1 for s in sim.state.values() if s in HOLDS_A_SLOT) <= slots
        sim.step()
        settled = tick > 60 and not any(sim.waiting.values()) and all(
            s == "STOPPED" for s in sim.state.values())
        if settled:
            break
    assert settled, (sim.state, sim.waiting)  # everything done and every worker stopped
    assert sorted(sim.done) == sorted(pids)  # each job exactly once


def test_a_queue_that_always_has_work_does_not_starve_the_others() -> None:
    """One slot; v1-a gets a new job every tick, back to back, never a pause; v1-b one job.
    v1-a's worker is asked to stop after its long turn, finishes what it holds, and v1-b runs."""
    programs = {"worker-a": "v1-a", "worker-b": "v1-b"}
    sim = Sim(programs)
    dispatch = Dispatch(programs, 1, 60.0, turn_seconds=3.0)
    sim.waiting["v1-b"].append(("b", 1))
    reasons = []
    for tick in range(200):
        sim.waiting["v1-a"].append((f"a{tick}", 1))
        for action in dispatch.tick(sim.lists(), dict(sim.state), tick * TICK):
            reasons.append(action.reason)
            sim.apply(action.kind, action.program)
        sim.step()
        if "b" in sim.done:
            break
    assert "b" in sim.done
    assert tick * TICK <= (LONG_TURNS + 1) * 3.0 + 5
    assert any("without a pause: it finishes the jobs it holds first" in r for r in reasons)


def test_waiting_queues_get_slots_in_the_order_they_began_to_wait() -> None:
    programs = {f"worker-{c}": f"v1-{c}" for c in "abcd"}
    dispatch = Dispatch(programs, 1, 60.0)
    states = {p: "STOPPED" for p in programs}
    order = ["v1-c", "v1-a", "v1-d", "v1-b"]
    started = []
    lists = {q: Lists(0, 0) for q in programs.values()}
    for tick, queue in enumerate(order):
        lists[queue] = Lists(1, 0)
        for action in dispatch.tick(lists, states, float(tick)):
            if action.kind == START:
                started.append(action.program)
                states[action.program] = "RUNNING"
    assert started == ["worker-c"]
    # worker-c empties its list and is idle: it yields to the longest waiter, worker-a.
    lists["v1-c"] = Lists(0, 0)
    actions = dispatch.tick(lists, states, 10.0)
    assert [(a.kind, a.program) for a in actions] == [(STOP, "worker-c")]
    assert "gives its slot to worker-a" in actions[0].reason
    states["worker-c"] = "STOPPED"
    actions = dispatch.tick(lists, states, 11.0)
    assert [(a.kind, a.program) for a in actions] == [(START, "worker-a")]


def test_processing_entries_left_by_others_do_not_keep_a_worker_busy() -> None:
    """A pid another dyno (or a killed worker) left in the processing list is not this
    worker's job: it is counted while the worker is off and ignored after."""
    dispatch = Dispatch({"worker-a": "v1-a"}, 1, 5.0)
    states = {"worker-a": "STOPPED"}
    assert dispatch.tick({"v1-a": Lists(0, 2)}, states, 0.0) == []  # nothing waits: no start
    actions = dispatch.tick({"v1-a": Lists(1, 2)}, states, 1.0)
    assert [a.kind for a in actions] == [START]
    states["worker-a"] = "RUNNING"
    assert dispatch.tick({"v1-a": Lists(0, 3)}, states, 2.0) == []  # its own job in flight
    assert dispatch.tick({"v1-a": Lists(0, 2)}, states, 3.0) == []  # done; idle from now
    actions = dispatch.tick({"v1-a": Lists(0, 2)}, states, 8.5)
    assert [a.kind for a in actions] == [STOP] and "idle 6 s" in actions[0].reason


def test_random_long_run_keeps_every_promise() -> None:
    """A longer mixed load than the property's: 8 queues, 2 slots, bursts and quiet spells."""
    rng = random.Random(7)
    programs = {f"worker-q{i}": f"v1-q{i}" for i in range(8)}
    sim = Sim(programs)
    dispatch = Dispatch(programs, 2, 3.0, turn_seconds=4.0)
    pids = []
    for tick in range(6000):
        if tick < 4000 and rng.random() < 0.3:
            pid = f"j{tick}"
            sim.waiting[f"v1-q{rng.randrange(8)}"].append((pid, rng.randint(1, 6)))
            pids.append(pid)
        for action in dispatch.tick(sim.lists(), dict(sim.state), tick * TICK):
            sim.apply(action.kind, action.program)
        assert sum(1 for s in sim.state.values() if s in HOLDS_A_SLOT) <= 2
        sim.step()
    assert sorted(sim.done) == sorted(pids)
    assert all(s == "STOPPED" for s in sim.state.values())


@pytest.mark.slow
@pytest.mark.parametrize(("name", "value"), [(queues.SLOTS_VAR, "many"),
                                             (queues.MODE_VAR, "lazy"),
                                             (queues.IDLE_VAR, "-5")])
def test_plan_refuses_a_bad_queue_knob_in_one_line_exit_2(tmp_path: Path, name: str,
                                                          value: str) -> None:
    import json
    import sys

    example = json.loads((Path(__file__).resolve().parent.parent / "examples" /
                          "heroku-config.json").read_text())
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**example, name: value}))
    done = subprocess.run([sys.executable, "-m", "appwrite_heroku", "plan", "--config-from",
                           str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, (done.stdout, done.stderr)
    errors = [line for line in done.stderr.splitlines() if "error: " in line]
    assert len(errors) == 1 and name in errors[0] and repr(value) in errors[0]
    assert "Traceback" not in done.stderr
