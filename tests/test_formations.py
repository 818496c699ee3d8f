"""Formations Heroku accepts and a budget that tells the truth (issue 17, §1 and §7).

The tier rule lives in the plan table; `budget`, `plan`, `deploy` (dry run and offline plan
too) refuse a mixed formation with exit status 1 and a valid one at its price, and the launcher
logs the same line and starts anyway. Advice and the engine's after-release warning never name
a size of another tier than the app's other dynos. `--skip` adds to a profile's own list; an
unknown name is refused (exit 2) by `budget`, `plan`, `deploy` and `env`, and is a warning on a
dyno. A formation that drains no queue does not fit. The offline plan refuses a config without
a database or Redis as the online one does, with the one hint the settings engine gives too.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from appwrite_heroku.config import appetite, budget
from appwrite_heroku.config import plans as plan_table
from appwrite_heroku.dyno.sizing import MIB, choose_policy
from appwrite_heroku.errors import InputError
from appwrite_heroku.release.engine import DeployOptions, deploy
from documentation import docs_text, pages
from helpers import (
    ADDON_POSTGRES_URL,
    ADDON_REDIS_URL,
    CANARY_API_KEY,
    RecordingReporter,
    make_appwrite_app,
)
from lite import Launched, dyno_env, make_root
from services import Registry, free_port
from standins.clock import SkippingClock
from standins.heroku import HerokuStandIn
from surfaces import run_cli

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "heroku-config.json"
PLANS = ("--redis-plan", "heroku-redis:mini", "--db-plan", "heroku-postgresql:essential-0")
MIXED = "web=basic,worker=standard-2x"
MIX_LINE = ('web=basic,worker=standard-2x mixes the basic and production tiers, which Heroku '
            'refuses ("cannot mix")')
# Both one-tier formations that hold it, cheapest first: two basic dynos (queues on demand),
# or the production pair.
VALID = ("use web=basic,worker=basic ($14/month in dynos, $22/month in all; "
         "`heroku ps:type web=basic worker=basic`) or web=standard-1x,worker=standard-2x "
         "($75/month in dynos, $83/month in all; `heroku ps:type web=standard-1x "
         "worker=standard-2x`)")
FULL = appetite.background_set()  # every usable queue, usage stats off (app.json)


def sizes(*names: str) -> list[plan_table.DynoSize]:
    return [plan_table.dyno_size(name) for name in names]


# -- the rule -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("names", "accepted"), [
    (("basic", "basic"), True),
    (("eco", "eco"), True),
    (("standard-1x", "standard-2x"), True),
    (("standard-2x", "performance-m"), True),
    (("dyno-1c-0.5gb", "dyno-2c-1gb"), True),
    (("standard-2x",), True),
    (("basic", "standard-2x"), False),  # the Deploy button's formation before this change
    (("eco", "basic"), False),
    (("eco", "standard-1x"), False),
    (("basic", "performance-m"), False),
    (("standard-1x", "dyno-2c-1gb"), False),  # another generation of the platform
])
def test_the_tier_rule(names: tuple[str, ...], accepted: bool) -> None:
    assert plan_table.accepted(sizes(*names)) is accepted


def test_every_size_is_in_the_tier_heroku_puts_it() -> None:
    tiers = {name: size.tier for name, size in plan_table.DYNO_SIZES.items()}
    assert tiers == {"eco": "eco", "basic": "basic", "standard-1x": "production",
                     "standard-2x": "production", "performance-m": "production",
                     "dyno-1c-0.5gb": "fir", "dyno-2c-1gb": "fir"}


def test_the_button_and_every_profile_are_formations_heroku_accepts() -> None:
    app_json = json.loads((ROOT / "app.json").read_text())
    assert plan_table.accepted(sizes(*(d["size"] for d in app_json["formation"].values())))
    for profile in budget.PROFILES.values():
        specs = profile.setup().specs
        assert plan_table.accepted(s.size for s in specs), profile.name
        assert budget.tier_problem(specs) is None and profile.budget().fits


_COMMAND = re.compile(r"heroku ps:(?:type|resize|scale) ((?:[a-z]+=[A-Za-z0-9.:-]+ ?)+)")


def test_every_command_the_docs_give_keeps_one_tier() -> None:
    """What users are told to run: each `heroku ps:type|resize|scale` names sizes of one tier,
    and every formation the docs recommend is accepted."""
    for path in pages():
        text = " ".join(path.read_text().split())
        for match in _COMMAND.finditer(text):
            named = [item.split("=")[1].split(":")[-1] for item in match.group(1).split()]
            named = [n for n in named if not n.isdigit()]
            assert plan_table.accepted(sizes(*named)), (path.name, match.group(0))
    readme = " ".join(docs_text().split())
    assert "an eco web dyno sleeps after 30 min without traffic" in readme
    assert "one 1,000-hour pool a month (two dynos all month need ~1,460 h)" in readme


# -- refused everywhere, with a valid formation and its price ------------------------------------

def test_budget_refuses_a_mixed_formation_naming_a_valid_one_and_its_price() -> None:
    done = run_cli(["budget", "--formation", MIXED, *PLANS])
    assert done.status == 1, done.text
    assert f"  does not fit: {MIX_LINE}" in done.out.splitlines()
    assert done.out.splitlines()[-1] == f"  {VALID}"
    as_json = run_cli(["budget", "--formation", MIXED, *PLANS, "--json"])
    data = json.loads(as_json.out)
    assert as_json.status == 1 and not data["fits"] and data["problems"] == [MIX_LINE]
    assert data["advice"] == VALID
    readme = " ".join(docs_text().split())
    command = f"appwrite-heroku budget --formation {MIXED} {' '.join(PLANS)}"
    assert f"(`{command}` answers `{VALID.split(' `heroku')[0]} …)`)" in readme


def test_offline_plan_refuses_a_recorded_mixed_formation(tmp_path: Path) -> None:
    config = json.loads(EXAMPLE.read_text())
    config[budget.PLANS_VAR] = ("redis=heroku-redis:mini,db=heroku-postgresql:essential-0,"
                                + MIXED)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    done = run_cli(["plan", "--config-from", str(path)])
    assert done.status == 1, done.text
    errors = [line for line in done.err.splitlines() if line.startswith("error: ")]
    assert errors == [f"error: {MIX_LINE}: {VALID}"]


def _online(standin: HerokuStandIn, registry: Registry, clock: SkippingClock, app: str,
            **options: object) -> tuple[int, RecordingReporter]:
    reporter = RecordingReporter()
    env = {"HEROKU_API_KEY": CANARY_API_KEY, "HEROKU_API_URL": standin.url,
           "HEROKU_REGISTRY_URL": registry.url}
    result = deploy(DeployOptions(app=app, build="none", api_timeout=2, retry_backoff=0.05,
                                  **options),  # type: ignore[arg-type]
                    reporter, env=env, clock=clock.clock)
    return result.exit_status, reporter


@pytest.mark.parametrize("dry_run", [True, False])
def test_plan_and_deploy_refuse_a_mixed_formation_before_any_write(
        heroku_standin: HerokuStandIn, registry: Registry, skipping_clock: SkippingClock,
        dry_run: bool) -> None:
    heroku_standin.create_app("mixed-app", addons=[
        {"service": "heroku-redis", "plan": "mini", "config_vars": {"REDIS_URL": ADDON_REDIS_URL}},
        {"service": "heroku-postgresql", "plan": "essential-0",
         "config_vars": {"DATABASE_URL": ADDON_POSTGRES_URL}},
    ], formation={"web": {"quantity": 1, "size": "basic"},
                  "worker": {"quantity": 1, "size": "standard-2x"}})
    status, reporter = _online(heroku_standin, registry, skipping_clock, "mixed-app",
                               dry_run=dry_run)
    assert status == 1, reporter.text
    errors = [line for line in reporter.lines if line.startswith("error: ")]
    assert errors == [f"error: {MIX_LINE}: {VALID}"]
    assert all(r.method == "GET" for r in heroku_standin.requests)


def test_the_launcher_logs_a_mixed_formation_and_sizes_anyway() -> None:
    record = f"redis=heroku-redis:mini,db=heroku-postgresql:essential-0,{MIXED}"
    valid = record.replace("web=basic", "web=standard-1x")
    mixed = choose_policy(512 * MIB, "web", FULL, {budget.PLANS_VAR: record})
    assert not mixed.fits
    assert mixed.refusal == f"{MIX_LINE}: {VALID}"
    # Sized as the valid formation of the same memory is: the tier is no reason to shrink.
    sized = choose_policy(512 * MIB, "web", FULL, {budget.PLANS_VAR: valid})
    assert sized.fits and mixed.settings == sized.settings
    assert mixed.bridge_ceiling == sized.bridge_ceiling


def test_a_real_worker_dyno_warns_and_runs_on_a_mixed_formation_and_an_unknown_skip(
        tmp_path: Path, mariadb, redis_plain) -> None:  # type: ignore[no-untyped-def]
    env = dyno_env(make_root(tmp_path, memory_max=str(1024 * MIB)), database_url=mariadb.url,
                   redis_url=redis_plain.url, bridge_port=free_port(),
                   APPWRITE_LITE_PLANS=f"redis=heroku-redis:mini,db=jawsdb:leopard,{MIXED}",
                   APPWRITE_LITE_SKIP="worker-webhooks,worker-webhook")
    launched = Launched("worker", env)
    try:
        launched.wait_for_line("[worker-stats-usage] worker-stats-usage: consuming")
        line = launched.wait_for_line("warning: web=basic,worker=standard-2x mixes")
        assert line.endswith("(sized anyway)") and "use web=basic,worker=basic" in line
        unknown = launched.wait_for_line("warning: APPWRITE_LITE_SKIP names 'worker-webhook'")
        assert f"not an entry point of this image ({tmp_path / 'bin'})" in unknown
        launched.wait_for_line("skipping worker-webhooks: left out by APPWRITE_LITE_SKIP")
        assert launched.stop() == 0
    finally:
        launched.kill_session()


# -- advice never mixes tiers ---------------------------------------------------------------------

# Every queue always on: what no basic worker dyno holds (queues on demand fit two basic dynos).
ALWAYS_ON = {"APPWRITE_LITE_QUEUE_MODE": "always-on"}
PRODUCTION = ("use web=standard-1x,worker=standard-2x ($75/month in dynos, $83/month in all; "
              "`heroku ps:type web=standard-1x worker=standard-2x`)")


def test_advice_to_a_basic_app_moves_every_process_type_in_one_line() -> None:
    """Before: `heroku ps:type worker=standard-2x` to an app whose web dyno is basic."""
    specs = budget.parse_formation("web=basic,worker=basic")
    chosen = budget.choose(specs, plan_table.addon_plan("heroku-redis:mini"),
                           plan_table.addon_plan("heroku-postgresql:essential-0"), FULL,
                           user_settings=ALWAYS_ON)
    line = budget.advice(chosen, FULL)
    assert "`heroku ps:type worker=standard-2x`" not in line
    assert line == (f"{PRODUCTION}, or stay on basic sizes and leave queues out with "
                     "APPWRITE_LITE_SKIP")
    # Within its tier, one size changes and the command names only it.
    production = budget.choose(budget.parse_formation("web=standard-1x,worker=standard-1x"),
                               chosen.redis_plan, chosen.db_plan, FULL, user_settings=ALWAYS_ON)
    assert budget.advice(production, FULL) == (
        "choose dyno size standard-2x for worker ($50/month; "
        "`heroku ps:type worker=standard-2x`)")


def test_eco_is_judged_with_its_caveats_never_advised() -> None:
    done = run_cli(["budget", "--formation", "web=eco,worker=eco", *PLANS, "--skip",
                    ",".join(budget.MINIMAL_SKIP)])
    assert done.status == 0, done.text
    assert ("  note: eco: the web dyno sleeps after 30 min without traffic, and every eco dyno "
            "of the account draws on one 1,000-hour pool a month (two dynos all month need "
            "~1,460 h)") in done.out.splitlines()
    full = run_cli(["budget", "--formation", "web=eco,worker=eco", *PLANS, "--set",
                    "APPWRITE_LITE_QUEUE_MODE=always-on"])
    assert full.status == 1 and "eco" not in full.out.splitlines()[-1]


# -- nothing drains the queues ---------------------------------------------------------------------

def test_a_formation_without_a_worker_dyno_does_not_fit() -> None:
    done = run_cli(["budget", "--formation", "web=basic", *PLANS, "--skip",
                    ",".join(budget.MINIMAL_SKIP)])
    assert done.status == 1, done.text
    assert ("  does not fit: nothing drains the queues: web=basic has no worker dyno and is not "
            "all-in-one, so the jobs Appwrite queues would grow in Redis (25 MB on "
            "heroku-redis:mini) until it refuses writes") in done.out.splitlines()
    assert done.out.splitlines()[-1] == (
        "  choose a worker dyno basic ($7/month; `heroku ps:scale worker=1:basic`)")
    every = run_cli(["budget", "--formation", "web=basic", *PLANS])  # queues on demand
    assert every.status == 1 and every.out.splitlines()[-1] == (
        "  choose a worker dyno basic ($7/month; `heroku ps:scale worker=1:basic`)")
    always = run_cli(["budget", "--formation", "web=basic", *PLANS, "--set",
                      "APPWRITE_LITE_QUEUE_MODE=always-on"])
    assert always.status == 1 and always.out.splitlines()[-1].startswith(
        "  use web=standard-1x,worker=standard-2x ($75/month in dynos, $83/month in all; "
        "`heroku ps:type web=standard-1x` then `heroku ps:scale worker=1:standard-2x`)")
    alone = run_cli(["budget", "--profile", "all-in-one"])
    assert alone.status == 0, alone.text


# -- --skip ----------------------------------------------------------------------------------------

def _processes(out: str) -> set[str]:
    """What the budget counts as running: its processes, and its queue workers on demand."""
    dynos = json.loads(out)["dynos"]
    return ({p["name"] for d in dynos for p in d["processes"]}
            | {name for d in dynos for name in d["queues_on_demand"]})


def test_skip_applies_together_with_a_profile() -> None:
    plain = run_cli(["budget", "--profile", "default", "--json"])
    skipped = run_cli(["budget", "--profile", "default", "--skip", "worker-webhooks", "--json"])
    assert plain.status == skipped.status == 0
    assert "worker-webhooks" in _processes(plain.out)
    assert "worker-webhooks" not in _processes(skipped.out)
    minimal = run_cli(["budget", "--profile", "minimal", "--skip", "worker-audits", "--json"])
    names = _processes(minimal.out)
    assert "worker-audits" not in names and "worker-messaging" not in names
    assert "worker-mails" in names


UNKNOWN = ("names 'worker-mail', which is not an entry point of Appwrite 1.9.6: use "
           "comma-separated names from doctor, install, interval, ")


def test_budget_refuses_an_unknown_skip_name_in_one_line() -> None:
    done = run_cli(["budget", "--profile", "minimal", "--skip", "worker-audits,worker-mail"])
    assert done.status == 2 and done.out == ""
    assert done.err.count("\n") == 1 and f"--skip {UNKNOWN}" in done.err
    assert "worker-webhooks" in done.err  # every valid name is listed
    two = run_cli(["budget", "--profile", "minimal", "--skip", "b,a"])
    assert "names 'a', 'b', which are not entry points" in two.err


def _config_file(tmp_path: Path, **extra: str) -> Path:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**json.loads(EXAMPLE.read_text()), **extra}))
    return path


@pytest.mark.parametrize("how", ["file", "--config"])
def test_plan_refuses_an_unknown_skip_name(tmp_path: Path, how: str) -> None:
    if how == "file":
        argv = ["plan", "--config-from", str(_config_file(tmp_path,
                                                          APPWRITE_LITE_SKIP="worker-mail"))]
    else:
        argv = ["plan", "--config-from", str(_config_file(tmp_path)), "--config",
                "APPWRITE_LITE_SKIP=worker-mail"]
    done = run_cli(argv)
    assert done.status == 2, done.text
    assert done.err.count("\n") == 1 and f"APPWRITE_LITE_SKIP {UNKNOWN}" in done.err
    assert "Plan for" not in done.out  # nothing planned


def test_deploy_refuses_an_unknown_skip_name_in_the_apps_config(
        heroku_standin: HerokuStandIn, registry: Registry,
        skipping_clock: SkippingClock) -> None:
    app = make_appwrite_app(heroku_standin, "skip")
    heroku_standin.app(app).config_vars["APPWRITE_LITE_SKIP"] = "worker-mail"
    with pytest.raises(InputError, match=re.escape(f"APPWRITE_LITE_SKIP {UNKNOWN}")):
        _online(heroku_standin, registry, skipping_clock, app, dry_run=False)
    assert all(r.method == "GET" for r in heroku_standin.requests)


def test_env_refuses_an_unknown_skip_name(tmp_path: Path) -> None:
    done = run_cli(["env", "--from", str(_config_file(tmp_path,
                                                      APPWRITE_LITE_SKIP=" worker-mail "))])
    assert done.status == 2 and done.out == ""
    assert f"APPWRITE_LITE_SKIP {UNKNOWN}" in done.err
    fine = run_cli(["env", "--from", str(_config_file(
        tmp_path, APPWRITE_LITE_SKIP=",".join(budget.MINIMAL_SKIP)))])
    assert fine.status == 0, fine.text


def test_the_skip_rule_is_one_function_with_the_listing_it_is_given() -> None:
    assert appetite.unknown_skip(("worker-mails",), appetite.ENTRY_POINTS_1_9_6) is None
    line = appetite.unknown_skip(("worker",), ("worker-mails",), of="this image (/x/bin)")
    assert line == ("APPWRITE_LITE_SKIP names 'worker', which is not an entry point of this "
                    "image (/x/bin): use comma-separated names from worker-mails")
    with pytest.raises(InputError, match="worker-typo"):
        appetite.background_for({"APPWRITE_LITE_SKIP": "worker-typo"})


# -- the offline plan says what the online one says ------------------------------------------------

@pytest.mark.parametrize(("drop", "lacks"), [
    ("DATABASE_URL", "a database add-on (heroku addons:create heroku-postgresql:essential-0 "
                     "-a my-appwrite)"),
    ("REDIS_URL", "a Redis add-on (heroku addons:create heroku-redis:mini -a my-appwrite)"),
])
def test_offline_plan_without_an_addon_is_refused_as_online(tmp_path: Path, drop: str,
                                                            lacks: str) -> None:
    config = json.loads(EXAMPLE.read_text())
    config.pop(drop)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    done = run_cli(["plan", "--config-from", str(path)])
    assert done.status == 2, done.text
    # The online preflight's words (test_release_scenarios: "heroku addons:create … -a APP").
    assert done.err == f"appwrite-heroku: error: app my-appwrite lacks {lacks}\n"
    assert done.out == ""  # refused before the plan, and its budget, are shown


def test_one_database_hint(tmp_path: Path) -> None:
    """`env` (and a dyno's log) named `heroku addons:create jawsdb-maria` while `plan` named
    Heroku Postgres: both now name the plan the Deploy button attaches."""
    config = json.loads(EXAMPLE.read_text())
    config.pop("DATABASE_URL")
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    env = run_cli(["env", "--from", str(path)])
    plan = run_cli(["plan", "--config-from", str(path)])
    hints = re.findall(r"heroku addons:create [a-z:0-9-]+", env.err + plan.err)
    assert hints == ["heroku addons:create heroku-postgresql:essential-0"] * 2


def test_offline_plan_does_not_judge_a_database_it_has_no_plans_for(tmp_path: Path) -> None:
    """ClearDB (MySQL) was judged as Heroku Postgres essential-0 behind PgBouncer."""
    config = json.loads(EXAMPLE.read_text())
    config.pop("DATABASE_URL")
    config["CLEARDB_DATABASE_URL"] = ("mysql://b1c2d3:cleardbpassw0rd@us-cdbr-east.cleardb.com/"
                                      "heroku_0a1b2c3d?reconnect=true")
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    done = run_cli(["plan", "--config-from", str(path)])
    assert done.status == 0, done.text
    assert "  budget" not in done.out and "PgBouncer" not in done.out  # no verdict, no table
    assert ("warning: CLEARDB_DATABASE_URL is set: this tool's plan table has no plan for it, "
            "so its connection limit is unknown and the budget is not checked") in done.err


def test_an_app_without_dynos_is_told_which_to_scale(
        heroku_standin: HerokuStandIn, registry: Registry,
        skipping_clock: SkippingClock) -> None:
    """Before its first release an app has no formation; afterwards Heroku runs only web, so a
    deploy judged on the default profile says how to get its worker dyno."""
    heroku_standin.create_app("fresh-app", addons=[
        {"service": "heroku-redis", "plan": "mini", "config_vars": {"REDIS_URL": ADDON_REDIS_URL}},
        {"service": "heroku-postgresql", "plan": "essential-0",
         "config_vars": {"DATABASE_URL": ADDON_POSTGRES_URL}}])
    status, reporter = _online(heroku_standin, registry, skipping_clock, "fresh-app",
                               dry_run=True)
    assert status == 0, reporter.text
    assert ("warning: the app runs no dynos yet, so the budget judges "
            "web=basic,worker=basic; after the first release Heroku starts only "
            "web: run `heroku ps:scale web=1:basic worker=1:basic -a fresh-app`"
            ) in reporter.lines
