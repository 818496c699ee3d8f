"""The connection and memory model (config/budget/) and the plan table (plans.py): Appwrite 1.9.6's
formulas, the per-process figures, the choice of knobs, the profiles, and the `budget` command."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appwrite_heroku.config import appetite, budget, wiring
from appwrite_heroku.config import plans as plan_table
from appwrite_heroku.config.appetite import Knobs, pool_size, pubsub_pool_size
from appwrite_heroku.config.budget import DynoKnobs, DynoSpec
from appwrite_heroku.config.wiring import MUX, PLAIN, shared_for
from appwrite_heroku.dyno.redis.commands import Route, route_of
from appwrite_heroku.errors import InputError
from surfaces import Outcome, run_cli

MIRROR = Path("/work/.mirror/appwrite+appwrite/repo")
FULL = appetite.background_set(usage_stats=True)  # every queue, stats-resources too
BASIC = plan_table.dyno_size("basic")
STD1X = plan_table.dyno_size("standard-1x")
STD2X = plan_table.dyno_size("standard-2x")
MINI = plan_table.addon_plan("heroku-redis:mini")
ESSENTIAL0 = plan_table.addon_plan("heroku-postgresql:essential-0")
ESSENTIAL2 = plan_table.addon_plan("heroku-postgresql:essential-2")
KITEFIN = plan_table.addon_plan("jawsdb-maria:kitefin")
PLAIN_WIRING = budget.Wiring(mode=PLAIN)
MUX_WIRING = budget.Wiring(mode=MUX)
FLOOR = DynoKnobs(Knobs(cpu_num=1, worker_per_core=1, workers_num=1,
                        connections_max=14), realtime_workers=None)

positive = st.integers(min_value=1, max_value=400)


# -- Appwrite's formulas (app/init/registers.php:244-252, 338-341) ------------------------------

@pytest.mark.parametrize(("cm", "pc", "cpu", "per_core", "co", "expected"), [
    (151, 14, 8, 6, 1, 1),    # the code defaults on a dyno: 151/14/48 < 1
    (151, 14, 1, 1, 1, 10),   # one worker takes the whole 10.78 → 10
    (151, 14, 1, 2, 1, 5),
    (28, 14, 1, 2, 1, 1),
    (27, 14, 1, 1, 1, 1),     # the facts file's floor: CONNECTIONS_MAX ≤ 27 gives 1
    (28, 14, 1, 1, 1, 2),
    (14, 14, 1, 1, 4, 4),     # _APP_WORKER_MAX_COROUTINES raises it
])
def test_pool_size_table(cm: int, pc: int, cpu: int, per_core: int, co: int,
                         expected: int) -> None:
    knobs = Knobs(connections_max=cm, pool_clients=pc, cpu_num=cpu, worker_per_core=per_core,
                  max_coroutines=co)
    assert pool_size(knobs) == expected
    assert pubsub_pool_size(knobs) == max(2, expected)


@given(pool=st.integers(min_value=1, max_value=50), clients=positive,
       cpu=st.integers(min_value=1, max_value=96), per_core=st.integers(min_value=1, max_value=16))
def test_connections_max_for_gives_exactly_the_pool(pool: int, clients: int, cpu: int,
                                                    per_core: int) -> None:
    # PHP divides in floats and truncates: the chosen value must not land one below.
    base = Knobs(pool_clients=clients, cpu_num=cpu, worker_per_core=per_core)
    chosen = Knobs(connections_max=appetite.connections_max_for(pool, base), pool_clients=clients,
                   cpu_num=cpu, worker_per_core=per_core)
    assert pool_size(chosen) == pool


def test_worker_counts_follow_their_own_variables() -> None:
    knobs = Knobs(cpu_num=2, worker_per_core=3)
    assert appetite.swoole_workers(knobs) == 6
    assert appetite.realtime_workers(knobs) == 6  # realtime.php:361-362, unset → the product
    assert appetite.queue_children(knobs) == 1  # worker.php:78 default 1
    set_ = Knobs(cpu_num=2, worker_per_core=3, workers_num=2)
    assert appetite.realtime_workers(set_) == 2 and appetite.queue_children(set_) == 2


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5"])
def test_knobs_refuse_what_php_would_read_as_zero(value: str) -> None:
    with pytest.raises(InputError, match="_APP_POOL_CLIENTS"):
        Knobs.from_settings({"_APP_POOL_CLIENTS": value})


def test_unset_cpu_num_is_the_hosts() -> None:
    assert Knobs.from_settings({}).cpu_num == appetite.HOST_CPUS_ON_A_DYNO
    assert Knobs.from_settings({}, host_cpus=96).cpu_num == 96


# -- per-process figures ------------------------------------------------------------------------

def _dyno(role: str, knobs: DynoKnobs = FLOOR, background: tuple[str, ...] = FULL,
          size: plan_table.DynoSize = STD2X) -> budget.DynoBudget:
    return budget.dyno_budget(DynoSpec(role, size), knobs, background)


def test_floor_figures_per_dyno() -> None:
    web = _dyno("web")
    # 2 (API master: console+logs) + 3 (one API worker) + 1 (task) + 1 (realtime master)
    # + 2 (one realtime worker)
    assert web.db == 9
    # 1 + 6 (publisher, pubsub 2, cache, lock, per-request) + 1 + 1 + 5 (pubsub 2, cache,
    # publisher, getRedis)
    assert web.redis == 14
    worker = _dyno("worker")
    assert (worker.db, worker.redis) == (26, 49)
    # Ten queue consumers: 20 plain connections, 10 of them blocked in a receive.
    queues = [p for p in worker.processes if p.queue]
    assert len(queues) == 10
    assert sum(p.total_redis for p in queues) >= 20
    assert sum(p.total_dedicated for p in queues) == 10


def test_every_reached_pool_counts_its_size() -> None:
    knobs = DynoKnobs(Knobs(cpu_num=1, worker_per_core=1, connections_max=42), None)  # P = 3
    api = next(p for p in _dyno("web", knobs).processes if p.name == "api worker")
    assert (api.db, api.redis) == (3 * 3, 3 + 3 + 3 + 3 + 3)
    assert api.uncapped and api.dedicated == 3


def test_mux_upstream_is_the_ceiling_that_holds_every_dedicated_need() -> None:
    for role in ("web", "worker", "all"):
        dyno = _dyno(role)
        dedicated = sum(p.total_dedicated for p in dyno.processes)
        ceiling = dyno.ceiling(MUX_WIRING)
        # the bridge's pool keeps shared_for(ceiling) shared connections; the rest serves dedicated
        # needs: every one of them at once, and no ceiling one smaller would.
        assert ceiling - shared_for(ceiling) >= dedicated
        assert ceiling - 1 - shared_for(ceiling - 1) < dedicated
        assert dyno.upstream(MUX_WIRING) == ceiling
        assert dyno.upstream(MUX_WIRING) <= dyno.upstream(PLAIN_WIRING) == dyno.redis


def test_dedicated_figures_follow_the_bridges_routing() -> None:
    """appetite's `dedicated` per process against the bridge's route_of: a queue child's
    receive (BRPOP, queue 0.21.1 Broker/Redis.php:57 via Connection/Redis.php:84) and
    realtime's SUBSCRIBE (realtime.php:628-633) need their own upstream; publishing, caching
    and locking run on a shared one. The rate limiter's MULTI (abuse 1.4.1
    TimeLimit/Redis.php:72-75) is queued by the bridge and sent whole on a shared one, unless
    it holds a command that needs a connection of its own (never the limiter's): appetite
    still counts it dedicated, the worst case."""
    assert route_of([b"BRPOP", b"q", b"2"]) is Route.BLOCKING
    assert route_of([b"SUBSCRIBE", b"c"]) is Route.SUBSCRIBE
    assert route_of([b"MULTI"]) is Route.MULTI
    for ordinary in ([b"LPUSH", b"q", b"v"], [b"PUBLISH", b"c", b"m"], [b"GET", b"k"],
                     [b"SET", b"k", b"v", b"NX"], [b"LREM", b"q", b"0", b"v"]):
        assert route_of(ordinary) is Route.SHARED
    knobs = DynoKnobs(Knobs(cpu_num=1, worker_per_core=1, connections_max=42), None)  # P = 3
    figures = {p.name: p for p in _dyno("all", knobs).processes}
    assert figures["worker-mails"].dedicated == 1  # its one blocking receive
    assert figures["realtime worker"].dedicated == 1 + 3  # SUBSCRIBE + P MULTIs
    assert figures["api worker"].dedicated == 3  # P MULTIs
    assert figures["api master+manager"].dedicated == 0
    assert figures["maintenance"].dedicated == 0


def test_queue_children_multiply_only_the_children() -> None:
    """A queue worker was measured as its parent with one child; each further child
    (`_APP_WORKERS_NUM`) adds its own connections and a forked child's memory."""
    one = _dyno("worker")
    two = _dyno("worker", DynoKnobs(Knobs(cpu_num=1, worker_per_core=1, workers_num=2,
                                          connections_max=14), None))
    workers = [p for p in one.processes if p.queue]
    more = [p for p in two.processes if p.name.endswith(" more children")]
    assert [p.name for p in more] == [f"{p.name} more children" for p in workers]
    assert two.memory_mib - one.memory_mib == len(workers) * appetite.MEMORY_MIB["queue-child"][0]
    assert two.db == 2 * one.db - sum(
        p.total_db for p in one.processes if p.program in ("interval", "maintenance",
                                                           "schedule-messages",
                                                           "stats-resources"))


def test_unknown_entry_points_count_every_pool() -> None:
    dyno = _dyno("worker", background=("worker-something-new", "schedule"))
    child = next(p for p in dyno.processes if p.name == "worker-something-new")
    task = next(p for p in dyno.processes if p.name == "schedule")
    assert child.db == 3 and child.redis == 2 + 1 + 2 + 1 + 1
    assert task.db == 3 and "every pool" in task.basis


def test_realtime_runs_with_the_swoole_pool_and_its_own_workers_in_all() -> None:
    dyno = budget.dyno_budget(DynoSpec("all", STD2X),
                              DynoKnobs(FLOOR.knobs, realtime_workers=2), FULL)
    assert dyno.program_env["realtime"] == {"_APP_POOL_ADAPTER": "swoole",
                                            "_APP_WORKERS_NUM": "2"}
    realtime = next(p for p in dyno.processes if p.name == "realtime worker")
    assert realtime.count == 2


def test_every_figure_names_its_basis() -> None:
    source_line = re.compile(r"\.php(:\d+)?|src/Appwrite/|utopia-php/")
    for name, reach in appetite.REACH.items():
        assert source_line.search(reach.basis), name
    for name, (mib, basis) in appetite.MEMORY_MIB.items():
        assert mib >= 0 and re.match(r"(measured|estimate)", basis), name
        assert basis.startswith("estimate") or appetite.MEASURED in basis \
            or appetite.SWEEP in basis, name
    for dyno in (_dyno("web"), _dyno("worker"), _dyno("all")):
        for process in dyno.processes:
            assert "memory:" in process.basis, process.name
    for plan in plan_table.ADDON_PLANS.values():
        assert plan.basis and plan.connections > 0, plan.name
        assert plan.price_verified or "remembered" in plan.basis or "source" in plan.basis
    for size in plan_table.DYNO_SIZES.values():
        assert size.basis and size.memory_mib >= 512


@pytest.mark.slow
@pytest.mark.skipif(not MIRROR.is_dir(), reason="the Appwrite mirror is a workstation copy")
def test_numbers_match_the_1_9_6_sources() -> None:
    def show(path: str) -> str:
        return subprocess.run(["git", "-C", str(MIRROR), "show", f"1.9.6:{path}"],
                              capture_output=True, text=True, check=True).stdout

    registers = show("app/init/registers.php").splitlines()
    assert "getEnv('_APP_CONNECTIONS_MAX', 151)" in registers[243]
    assert "getEnv('_APP_POOL_CLIENTS', 14)" in registers[244]
    assert "_APP_WORKER_PER_CORE', 6" in registers[246]
    assert "_APP_WORKER_MAX_COROUTINES', 1" in registers[251]
    assert "max(2, $poolSize)" in registers[338]
    realtime = show("app/realtime.php").splitlines()
    assert "_APP_WORKERS_NUM" in realtime[360]
    worker = show("app/worker.php").splitlines()
    assert "new RedisConnection" in worker[74] and "new RedisConnection" in worker[75]
    assert "'_APP_WORKERS_NUM', 1" in worker[77]
    http = show("app/http.php").splitlines()
    assert "OPTION_TASK_WORKER_NUM => 1" in http[70]
    compose = show("docker-compose.yml").splitlines()
    assert "_APP_POOL_ADAPTER=swoole" in compose[281]

    def collections(name: str) -> tuple[int, int]:
        text, count, indexes, block = show(f"app/config/collections/{name}.php"), 0, 0, ""
        for chunk in re.split(r"\n    '[A-Za-z_]+' => \[", text)[1:]:
            block = chunk.split("\n", 2)[0] + chunk.split("\n", 2)[1]
            if "METADATA" in block:
                count += 1
                indexes += len(re.findall(r"'type' => Database::INDEX_", chunk))
        return count, indexes

    platform, common, projects = (collections(n) for n in ("platform", "common", "projects"))
    assert platform[0] + common[0] == appetite.CONSOLE_COLLECTIONS
    assert platform[1] + common[1] == appetite.CONSOLE_INDEXES
    assert projects[0] + common[0] == appetite.PROJECT_COLLECTIONS
    assert projects[1] + common[1] == appetite.PROJECT_INDEXES


# -- choosing and judging -----------------------------------------------------------------------

roles = st.sampled_from([("web", "worker"), ("all",)])
sizes = st.sampled_from(sorted(plan_table.DYNO_SIZES))
redis_plans = st.sampled_from([p.name for p in plan_table.plans_of(plan_table.REDIS)])
db_plans = st.sampled_from([p.name for p in plan_table.plans_of(plan_table.DATABASE)])


@settings(max_examples=80, deadline=None)
@given(roles, sizes, sizes, redis_plans, db_plans, st.sampled_from(MODES := (PLAIN, MUX)))
def test_choose_fits_when_it_says_so(role_set: tuple[str, ...], size_a: str, size_b: str,
                                     redis: str, db: str, mode: str) -> None:
    specs = [DynoSpec(role, plan_table.dyno_size(size))
             for role, size in zip(role_set, (size_a, size_b), strict=False)]
    chosen = budget.choose(specs, plan_table.addon_plan(redis), plan_table.addon_plan(db),
                           FULL, mode)
    # `choose` sizes for what the plans and memory hold; a formation Heroku refuses (mixed
    # tiers) is the budget's refusal, not a reason to shrink the knobs.
    assert chosen.fits == (chosen.holds and not chosen.formation_problems())
    if chosen.holds:
        assert chosen.db_upstream() <= chosen.db_limit
        if not chosen.pooled:
            assert chosen.db_upstream() == chosen.db
        assert chosen.upstream() <= chosen.redis_limit
        assert all(d.memory_mib <= d.memory_usable_mib for d in chosen.dynos)
        for dyno in chosen.dynos:
            assert 1 <= pool_size(dyno.dyno_knobs.knobs) <= budget.MAX_POOL
    else:
        # Not fitting means even the floor does not: no smaller knobs exist.
        floor = budget.evaluate(specs, {s.role: DynoKnobs(FLOOR.knobs, 1 if s.role == "all"
                                                          else None) for s in specs},
                                plan_table.addon_plan(redis), plan_table.addon_plan(db),
                                FULL, budget.Wiring(mode=mode))
        assert not floor.holds
        assert chosen.db <= floor.db or chosen.upstream() <= floor.upstream()


@settings(max_examples=40, deadline=None)
@given(sizes, db_plans)
def test_more_redis_clients_never_turn_a_fit_into_a_misfit(size: str, db: str) -> None:
    specs = [DynoSpec("web", BASIC), DynoSpec("worker", plan_table.dyno_size(size))]
    fitted = False
    for plan in sorted(plan_table.plans_of(plan_table.REDIS), key=lambda p: p.connections):
        fits = budget.choose(specs, plan, plan_table.addon_plan(db), FULL).fits
        assert fits or not fitted
        fitted = fitted or fits


def test_user_values_replace_the_chosen_ones_and_are_judged() -> None:
    specs = [DynoSpec("web", STD1X), DynoSpec("worker", STD2X)]
    chosen = budget.choose(specs, MINI, KITEFIN, FULL,
                           user_settings={"_APP_WORKER_PER_CORE": "6"})
    assert chosen.kept == ["_APP_WORKER_PER_CORE"]
    assert all(d.settings["_APP_WORKER_PER_CORE"] == "6" for d in chosen.dynos)
    assert not chosen.fits
    assert "_APP_WORKER_PER_CORE" in budget.advice(chosen, FULL)


def test_users_bridge_values_win_and_are_judged() -> None:
    specs = [DynoSpec("web", STD1X), DynoSpec("worker", STD2X)]
    background = budget.DEFAULT_PROFILE.background()
    plain = budget.choose(specs, MINI, ESSENTIAL0, background,
                          user_settings={budget.MODE_VAR: "plain"})
    assert plain.mode == PLAIN and not plain.fits
    # Every queue always on: nine blocking receives at once on the worker dyno.
    small = budget.choose(specs, MINI, ESSENTIAL0, background,
                          user_settings={budget.MAX_UPSTREAM_VAR: "4",
                                         "APPWRITE_LITE_QUEUE_MODE": "always-on"})
    assert all(d.ceiling(small.wiring) == 4 for d in small.dynos)
    assert any("MAX_UPSTREAM=4 on the worker dyno leaves 3 connections for 9" in p
               for p in small.problems())
    with pytest.raises(InputError, match=budget.MAX_UPSTREAM_VAR):
        budget.choose(specs, MINI, ESSENTIAL0, background,
                      user_settings={budget.MAX_UPSTREAM_VAR: "1"})
    by_hand = budget.choose(specs, MINI, ESSENTIAL0, background,
                            user_settings={"APPWRITE_LITE_PG_POOL_SIZE": "9"})
    assert by_hand.db_upstream() == 18 and not by_hand.fits


def test_pgbouncer_upstream_is_the_poolers_share_of_the_plan() -> None:
    specs = [DynoSpec("web", STD1X), DynoSpec("worker", STD2X)]
    background = budget.DEFAULT_PROFILE.background()
    chosen = budget.choose(specs, MINI, ESSENTIAL0, background)
    assert chosen.pooled
    share = wiring.server_pool_size(20, 2, budget.HEADROOM_DB).max_db_connections
    assert budget.HEADROOM_DB == wiring.DEFAULT_HEADROOM == 5
    assert [chosen.db_upstream_of(d) for d in chosen.dynos] == [share, share] == [7, 7]
    assert chosen.db > chosen.db_limit >= chosen.db_upstream()
    off = budget.choose(specs, MINI, ESSENTIAL0, background,
                        user_settings={"APPWRITE_LITE_PG_POOLER": "off"})
    assert not off.pooled and off.db_upstream() == off.db and not off.fits
    mysql = budget.choose(specs, MINI, plan_table.addon_plan("jawsdb:leopard"), background)
    assert not mysql.pooled and mysql.db_upstream() == mysql.db


def test_plain_mini_never_fits_every_queue_but_mux_does() -> None:
    # The facts file: no knob setting fits mini (20) with every queue and a plain bridge.
    specs = [DynoSpec("web", STD1X), DynoSpec("worker", STD2X)]
    plain = budget.choose(specs, MINI, ESSENTIAL2, FULL, PLAIN)
    assert not plain.fits and plain.upstream() > MINI.connections
    mux = budget.choose(specs, MINI, ESSENTIAL2, FULL, MUX)
    assert mux.fits, mux.problems()
    assert mux.upstream() <= MINI.connections - budget.HEADROOM_REDIS


def test_jawsdb_kitefin_fails_connections_storage_and_its_advice_names_a_price() -> None:
    kitefin = KITEFIN
    specs = [DynoSpec("web", STD1X), DynoSpec("worker", STD2X)]
    chosen = budget.choose(specs, MINI, kitefin, FULL)
    assert not chosen.pooled and chosen.db_upstream() == chosen.db  # no pooler for MySQL
    problems = " ".join(chosen.problems())
    assert "database connections" in problems and "empty schema" in problems
    line = budget.advice(chosen, FULL)
    assert "heroku-postgresql:essential-0 ($5/month) instead of jawsdb-maria:kitefin" in line
    assert "\n" not in line
    assert appetite.first_boot_tables() == 70 and appetite.project_tables() == 60
    assert appetite.first_boot_kib() > kitefin.storage_mb * 1024


# -- the profiles -------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(budget.PROFILES))
def test_every_profile_fits_with_the_cheapest_plans(name: str) -> None:
    profile = budget.PROFILES[name]
    chosen = profile.budget()
    assert chosen.fits and chosen.mode == MUX and chosen.pooled, chosen.problems()
    cheapest = budget.cheapest_fit(profile.setup().specs, profile.background())
    assert cheapest is not None
    assert (cheapest.redis_plan.name, cheapest.db_plan.name) == (profile.redis_plan,
                                                                 profile.db_plan)
    assert not profile.usage_stats and "stats-resources" not in profile.background()


def test_the_default_is_the_cheapest_set_running_every_usable_queue() -> None:
    """The button: every queue Appwrite can use on Heroku (usage stats off, as app.json sets
    it), on the cheapest formation Heroku accepts (one tier, on the Common Runtime where the
    button creates apps: no Fir sizes) and plans that hold it: two basic dynos, because the
    queue workers run on demand and only the slots' worth run at once."""
    profile = budget.DEFAULT_PROFILE
    usable = appetite.background_set(usage_stats=False)
    assert profile.background() == usable and "stats-resources" in FULL
    assert {n.removeprefix("worker-") for n in usable if n.startswith("worker-")} == {
        "audits", "certificates", "databases", "deletes", "mails", "messaging", "migrations",
        "stats-usage", "webhooks"}
    candidates = []
    sizes = [s for s in plan_table.DYNO_SIZES.values()
             if s.name not in budget.NOT_ADVISED and s.tier != plan_table.FIR]
    for web in sizes:
        for worker in sizes:
            specs = [DynoSpec("web", web), DynoSpec("worker", worker)]
            fit = budget.cheapest_fit(specs, usable)
            if fit is not None and plan_table.accepted([web, worker]):
                assert fit.fits, fit.problems()
                candidates.append(fit)
    best = min(candidates, key=lambda b: b.monthly_usd())
    chosen = profile.budget()
    assert best.monthly_usd() == chosen.monthly_usd() == 22 and chosen.fits
    assert profile.formation == "web=basic,worker=basic"
    assert budget.Setup(tuple(d.spec for d in best.dynos), best.redis_plan,
                        best.db_plan).record() == profile.setup().record()
    worker = chosen.dynos[1]
    assert worker.slots is not None and worker.slots >= 1
    # Every queue always on does not fit a 512 MB dyno: what on demand is for.
    always = budget.choose(profile.setup().specs, MINI, ESSENTIAL0, usable,
                           user_settings={"APPWRITE_LITE_QUEUE_MODE": "always-on"})
    assert always.dynos[1].slots is None
    assert always.problems() == [f"worker needs {always.dynos[1].memory_mib} MiB > 460 MiB "
                                 "usable on basic (512 MB)"]
    # ... and its advice keeps to one tier and to the user's always-on.
    assert "standard-1x,worker=standard-2x" in budget.advice(always, usable)
    cheapest = budget.PROFILES["minimal"].budget()
    assert cheapest.fits and cheapest.monthly_usd() == 22
    # With usage stats on, the stats-resources task (78 MiB measured) tips the basic worker
    # over at one slot: the budget says so rather than pretend.
    with_stats = budget.choose(profile.setup().specs, MINI, ESSENTIAL0, FULL)
    assert [p for p in with_stats.problems() if "worker needs" in p], with_stats.problems()


# -- records and formations ---------------------------------------------------------------------

@given(st.sampled_from(sorted(budget.PROFILES)), st.integers(min_value=1, max_value=3))
def test_record_round_trip(name: str, quantity: int) -> None:
    setup = budget.PROFILES[name].setup()
    specs = tuple(s if s.size.one_per_type else DynoSpec(s.role, s.size, quantity)
                  for s in setup.specs)
    setup = budget.Setup(specs, setup.redis_plan, setup.db_plan)
    assert budget.parse_record(setup.record()) == setup


@pytest.mark.parametrize(("text", "message"), [
    ("web=tiny", "unknown dyno size 'tiny'"),
    ("web=2xbasic", "one dyno per process type"),
    ("front=basic", "ROLE=SIZE"),
    ("all=basic,worker=basic", "give it alone"),
    ("worker=basic", "needs a web dyno"),
    ("", "empty formation"),
])
def test_bad_formations_are_one_line(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message) as caught:
        budget.parse_formation(text)
    assert "\n" not in str(caught.value)


def test_setup_from_the_platform_api_shapes() -> None:
    addons = [
        {"addon_service": {"name": "heroku-redis"}, "plan": {"name": "heroku-redis:mini"}},
        {"addon_service": {"name": "bucketeer"}, "plan": {"name": "bucketeer:hobbyist"}},
        {"addon_service": {"name": "heroku-postgresql"},
         "plan": {"name": "heroku-postgresql:essential-2"}},
    ]
    formation = [{"type": "web", "quantity": 1, "size": "Standard-1X"},
                 {"type": "worker", "quantity": 1, "size": "Standard-2X"},
                 {"type": "release", "quantity": 0, "size": "Standard-1X"}]
    setup, warnings = budget.setup_from_platform(addons, formation, all_in_web=False)
    assert warnings == [] and setup is not None
    assert setup.record() == ("redis=heroku-redis:mini,db=heroku-postgresql:essential-2,"
                              "web=standard-1x,worker=standard-2x")
    unknown = [{**addons[0], "plan": {"name": "heroku-redis:premium-9"}}, addons[2]]
    setup, warnings = budget.setup_from_platform(unknown, formation, all_in_web=False)
    assert setup is None and "premium-9" in warnings[0]


# -- the command --------------------------------------------------------------------------------

def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "appwrite_heroku", "budget", *args],
                          capture_output=True, text=True, timeout=60)


@pytest.mark.slow
def test_cli_fits_is_exit_0_and_prints_every_process() -> None:
    done = cli("--formation", "web=standard-1x,worker=standard-2x", "--redis-plan",
               "heroku-redis:mini", "--db-plan", "heroku-postgresql:essential-0")
    assert done.returncode == 0, done.stderr
    for name in ("api worker", "realtime worker", "worker-stats-usage", "on-demand worker",
                 "settings: _APP_CONNECTIONS_MAX=", "dyno, upstream", "PgBouncer",
                 "APPWRITE_REDIS_BRIDGE_MAX_UPSTREAM=9 (2 shared + 7 dedicated",
                 "database: Appwrite side 44, upstream 14", "redis: Appwrite side 78, upstream 16",
                 "queues on demand, at most 5 at once (APPWRITE_LITE_QUEUE_SLOTS), the rest wait "
                 "their turn: worker-audits, worker-certificates,", "fits"):
        assert name in done.stdout
    assert "stats-resources" not in done.stdout
    stats = cli("--profile", "default", "--usage-stats")
    assert "worker-stats-resources" in stats.stdout and " stats-resources " in stats.stdout


@pytest.mark.slow
def test_cli_misfit_is_exit_1_with_advice() -> None:
    done = cli("--formation", "web=basic,worker=basic", "--redis-plan", "heroku-redis:mini",
               "--db-plan", "jawsdb-maria:kitefin")
    assert done.returncode == 1
    assert "does not fit" in done.stdout and "choose " in done.stdout


@pytest.mark.slow
@pytest.mark.parametrize(("args", "named"), [
    (("--formation", "web=basic", "--redis-plan", "heroku-redis:giant", "--db-plan",
      "jawsdb:kitefin"), "heroku-redis:giant"),
    (("--formation", "web=huge", "--redis-plan", "heroku-redis:mini", "--db-plan",
      "jawsdb:kitefin"), "huge"),
    (("--formation", "web=basic", "--redis-plan", "heroku-postgresql:essential-0",
      "--db-plan", "jawsdb:kitefin"), "unknown Redis plan"),
    (("--profile", "cheapest"), "cheapest"),
])
def test_cli_unknown_values_are_exit_2_in_one_line(args: tuple[str, ...], named: str) -> None:
    done = cli(*args)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and named in done.stderr
    assert "known" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.slow
def test_cli_json_shape() -> None:
    done = cli("--profile", "minimal", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["fits"] is True and data["mode"] == "multiplex" and data["advice"] is None
    assert set(data["totals"]) == {"database", "database_upstream", "redis", "redis_upstream",
                                   "upstream_plain", "upstream_multiplex"}
    assert data["plans"]["redis"]["name"] == "heroku-redis:mini"
    assert data["totals"]["redis_upstream"] == sum(d["bridge_max_upstream"]
                                                   for d in data["dynos"])
    for dyno in data["dynos"]:
        assert {"role", "size", "settings", "database", "redis", "memory_mib",
                "processes"} <= set(dyno)
        assert sum(p["total_db"] for p in dyno["processes"]) == dyno["database"]
        for process in dyno["processes"]:
            assert {"name", "count", "db", "redis", "memory_mib", "basis"} <= set(process)
    assert data["totals"]["database"] == sum(d["database"] * d["quantity"]
                                             for d in data["dynos"])


@pytest.mark.slow
def test_cli_bridge_option_judges_mini() -> None:
    done = cli("--profile", "default", "--bridge", "multiplex", "--json")
    assert done.returncode == 0
    assert json.loads(done.stdout)["totals"]["redis_upstream"] <= 17
    plain = cli("--profile", "default", "--bridge", "plain")
    assert plain.returncode == 1 and "heroku-redis:premium-0" in plain.stdout
    bad = cli("--profile", "default", "--bridge", "mux")
    assert bad.returncode == 2 and "invalid choice" in bad.stderr


# -- `plan` shows the diff first, then the budget's verdict in one line -------------------------

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "heroku-config.json"
ASSUMED_POSTGRES = ("the default profile's dynos and Redis plan with "
                    "heroku-postgresql:essential-0 for DATABASE_URL (assumed: the smallest "
                    "heroku-postgresql plan)")


def plan(config: Path, *flags: str) -> Outcome:
    return run_cli(["plan", "--config-from", str(config), *flags])


def plan_config(config: dict[str, str], tmp_path: Path) -> tuple[Outcome, list[str]]:
    """`plan` over this config, and its `error:` lines."""
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    done = plan(path)
    return done, [line for line in done.err.splitlines() if line.startswith("error: ")]


def budget_lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("  budget")]


def test_offline_plan_ends_with_the_budgets_verdict_in_one_line() -> None:
    done = plan(EXAMPLE)
    assert done.status == 0, done.err
    lines = done.out.splitlines()
    # The diff and the images first; the verdict last, naming what it judged and assumed.
    assert lines.index("  images (built with docker):") < len(lines) - 1
    assert budget_lines(done.out) == [lines[-1]]
    verdict = lines[-1]
    assert verdict.startswith(f"  budget of {ASSUMED_POSTGRES}: fits: web basic ")
    assert ", worker basic " in verdict and " of 17 clients (heroku-redis:mini), database " \
        in verdict and " of 15 connections (heroku-postgresql:essential-0); $22/month" in verdict
    assert verdict.endswith("(the table: plan --budget)")
    assert "realtime worker" not in done.out  # the table is behind --budget


def test_offline_plan_with_budget_prints_the_table_after_the_verdict() -> None:
    done = plan(EXAMPLE, "--budget")
    assert done.status == 0, done.err
    lines = done.out.splitlines()
    verdict = lines.index(budget_lines(done.out)[0])
    assert lines[verdict + 1].startswith(f"Budget of {ASSUMED_POSTGRES} (multiplex bridge")
    assert "realtime worker" in done.out and lines[-1] == "  fits"


@pytest.mark.parametrize(("var", "plan_name"), [("JAWSDB_MARIA_URL", "jawsdb-maria:kitefin"),
                                                ("JAWSDB_URL", "jawsdb:kitefin")])
def test_offline_plan_judges_the_database_the_config_names(tmp_path: Path, var: str,
                                                           plan_name: str) -> None:
    config = json.loads(EXAMPLE.read_text())
    config.pop("DATABASE_URL")
    config[var] = "mysql://exampleuser:examplepassw0rd1@db.example.com:3306/exampleschema"
    done, errors = plan_config(config, tmp_path)
    assert done.status == 1
    # Not fitting, the verdict is the one error line: what was assumed, what to choose instead.
    assert budget_lines(done.out) == [] and len(errors) == 1
    assert f"does not fit the default profile's dynos and Redis plan with {plan_name} for " \
        f"{var} (assumed: the smallest " in errors[0]
    assert "heroku-postgresql:essential-0 ($5/month) instead of " + plan_name in errors[0]


def test_offline_plan_with_recorded_plans_that_cannot_fit_is_red(tmp_path: Path) -> None:
    config = json.loads(EXAMPLE.read_text())
    config[budget.PLANS_VAR] = ("redis=heroku-redis:mini,db=jawsdb-maria:kitefin,"
                                  "web=standard-1x,worker=standard-2x")
    done, errors = plan_config(config, tmp_path)
    assert done.status == 1
    assert len(errors) == 1 and f"the dynos and plans {budget.PLANS_VAR} records" in errors[0]
    assert "heroku-postgresql:essential-0 ($5/month)" in errors[0]


def test_advice_never_suggests_eco() -> None:
    specs = [DynoSpec("web", plan_table.dyno_size("eco")),
             DynoSpec("worker", plan_table.dyno_size("eco"))]
    chosen = budget.choose(specs, plan_table.addon_plan("heroku-redis:premium-1"), ESSENTIAL2,
                           FULL)
    line = budget.advice(chosen, FULL)
    # No eco size holds every queue, and a standard-2x worker beside an eco web dyno is a
    # formation Heroku refuses: both move, and eco is never what the advice names.
    assert line.startswith("use web=standard-1x,worker=standard-2x ($75/month in dynos, "
                           "$125/month in all; `heroku ps:type web=standard-1x "
                           "worker=standard-2x`)") and "eco" not in line
