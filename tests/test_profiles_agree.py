"""One memory model, one set of defaults: the docs' cost, profile and sizing tables, app.json,
the engine's warning and the launcher's sizing all say what the budget (config/budget/) says."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from appwrite_heroku.config import appetite, budget
from appwrite_heroku.config import plans as plan_table
from appwrite_heroku.config.wiring import MUX, PLAIN, shared_for
from appwrite_heroku.dyno.sizing import MIB, choose_policy
from appwrite_heroku.release.engine import missing_addons, small_dynos
from documentation import section, table_after

ROOT = Path(__file__).resolve().parent.parent
MIRROR = Path("/work/.mirror/appwrite+appwrite/repo")
APP_JSON = json.loads((ROOT / "app.json").read_text())


def dollars(text: str) -> float:
    match = re.search(r"\$(\d+(?:\.\d+)?)", text)
    assert match, text
    return float(match.group(1))


def test_the_buttons_cost_table_is_the_default_profile_and_app_json() -> None:
    rows = table_after(section("deploy-button"), "| What | Plan |")
    profile = budget.DEFAULT_PROFILE
    setup = profile.setup()
    by_what = {row[0].split(":")[0]: row for row in rows}
    web, worker = setup.specs
    assert by_what["`web` dyno"][1].startswith(web.size.name)
    assert dollars(by_what["`web` dyno"][3]) == web.size.price_usd
    assert by_what["`worker` dyno"][1].startswith(worker.size.name)
    assert dollars(by_what["`worker` dyno"][3]) == worker.size.price_usd
    redis_row = next(r for r in rows if "REDIS_URL" in r[0])
    db_row = next(r for r in rows if "DATABASE_URL" in r[0])
    assert redis_row[1] == f"`{setup.redis_plan.name}`"
    assert dollars(redis_row[3]) == setup.redis_plan.price_usd
    assert db_row[1] == f"`{setup.db_plan.name}`"
    assert dollars(db_row[3]) == setup.db_plan.price_usd
    total = next(r for r in rows if r[0] == "**Total**")
    assert dollars(total[3]) == profile.budget().monthly_usd()
    # The figures the Why column quotes are the model's.
    chosen = profile.budget()
    web_dyno, worker_dyno = chosen.dynos
    assert f"{web_dyno.memory_mib} MiB" in by_what["`web` dyno"][2]
    assert f"{worker_dyno.memory_mib} MiB" in by_what["`worker` dyno"][2]
    assert f"{chosen.upstream()} Redis clients at worst through the multiplexed bridge " \
           f"({chosen.redis} on Appwrite's side; mini takes {setup.redis_plan.connections})" \
        in redis_row[2]
    assert f"{chosen.db_upstream()} connections at worst through PgBouncer ({chosen.db} on " \
           f"Appwrite's side; essential-0 takes {setup.db_plan.connections})" in db_row[2]
    assert chosen.mode == MUX and chosen.pooled
    queues = [n for n in profile.background() if n.startswith("worker-")]
    assert f"every queue worker Appwrite can use on Heroku ({len(queues)}) and " \
           f"{len(profile.background()) - len(queues)} tasks" in by_what["`worker` dyno"][0]
    # app.json creates exactly that.
    assert APP_JSON["addons"] == [setup.redis_plan.name, setup.db_plan.name]
    assert APP_JSON["formation"] == {s.role: {"quantity": s.quantity, "size": s.size.name}
                                     for s in setup.specs}



def test_the_readmes_small_cost_table_is_the_buttons() -> None:
    """The README's costs (section costs) are the deploy guide's table, row for row and price
    for price: the model's, by the test above."""
    full = {row[0].split(":")[0]: row for row in table_after(section("deploy-button"),
                                                             "| What | Plan |")}
    small = table_after(section("costs"), "| What | Plan | Per month |")
    assert [row[0] for row in small] == ["`web` dyno", "`worker` dyno",
                                         "Heroku Key-Value Store (`REDIS_URL`)",
                                         "Heroku Postgres (`DATABASE_URL`)", "**Total**"]
    for what, plan, price in small:
        assert (full[what][1], dollars(full[what][3])) == (plan, dollars(price)), what
    assert dollars(small[-1][2]) == budget.DEFAULT_PROFILE.budget().monthly_usd()

@pytest.mark.parametrize("name", sorted(budget.PROFILES))
def test_the_profiles_table_is_the_model(name: str) -> None:
    rows = {row[0].split()[0].strip("`"): row
            for row in table_after(section("deploy-button"), "| Profile | Dynos |")}
    assert set(rows) == set(budget.PROFILES)
    profile = budget.PROFILES[name]
    row = rows[name]
    chosen = profile.budget()
    assert row[1].replace(" ", "") == profile.formation
    assert row[2] == f"`{profile.redis_plan}`" and row[3] == f"`{profile.db_plan}`"
    assert row[5] == f"{chosen.db} / {chosen.db_upstream()} of {chosen.db_limit}"
    assert row[6] == f"{chosen.redis} / {chosen.upstream()} of {chosen.redis_limit}"
    memory = ", ".join(f"{d.memory_mib} of {d.memory_usable_mib} MiB" for d in chosen.dynos)
    assert row[7] == memory
    assert dollars(row[8]) == chosen.monthly_usd()
    assert chosen.fits


def test_the_profiles_skip_list_in_the_docs_is_the_models() -> None:
    text = section("deploy-button")
    assert f"APPWRITE_LITE_SKIP={','.join(budget.MINIMAL_SKIP)}" in text


def test_the_budget_figures_in_the_docs_are_the_models() -> None:
    text = " ".join(section("deploy-button").split())
    default = budget.DEFAULT_PROFILE
    setup = default.setup()
    chosen = default.budget()
    web, worker = chosen.dynos
    # Why two basic dynos hold every queue: on demand, `slots` at once; always on would not.
    assert f"at most as many at once as the dyno's memory holds ({worker.slots} on a basic " \
           "dyno;" in text
    always = budget.choose(setup.specs, setup.redis_plan, setup.db_plan, default.background(),
                           user_settings={"APPWRITE_LITE_QUEUE_MODE": "always-on"})
    assert not always.fits
    assert f"needs {always.dynos[1].memory_mib} MiB on the worker dyno" in text
    assert "standard-2x" in budget.advice(always, default.background())
    stats = budget.choose(setup.specs, setup.redis_plan, setup.db_plan,
                          appetite.background_set(usage_stats=True))
    assert f"{stats.dynos[1].memory_mib} of {stats.dynos[1].memory_usable_mib} MiB" in text
    assert not stats.fits
    assert f"`minimal` runs fewer queues on the same dynos, at the same " \
           f"${budget.PROFILES['minimal'].budget().monthly_usd():g}" in text
    # The plain bridge's figure and the plan it needs.
    plain = default.budget(PLAIN)
    assert not plain.fits
    assert f"the default's {plain.upstream()} clients at the smallest sizing want " \
           "`heroku-redis:premium-0`" in text
    assert "heroku-redis:premium-0" in budget.advice(plain, default.background())
    # The ceilings, the pools and what is kept free.
    for dyno in (web, worker):
        ceiling = dyno.ceiling(chosen.wiring)
        assert f"{dyno.spec.role} {ceiling} ({shared_for(ceiling)} + {dyno.dedicated})" in text
    share = chosen.db_upstream_of(web)
    assert f"{share} per dyno on essential-0 with two dynos" in text
    assert f"Kept free: {budget.HEADROOM_DB} database connections" in text
    assert f"and {budget.HEADROOM_REDIS} Redis clients" in text
    assert f"ceiling {budget.RELEASE_BRIDGE_CEILING}" in text
    # JawsDB: what the MySQL family gets without a pooler.
    assert f"{appetite.first_boot_tables()} tables" in text
    assert f"{appetite.first_boot_kib():,} KiB" in text
    assert f"adds {appetite.project_tables()} tables ({appetite.project_kib():,}" in text
    assert f"about {2070:,} queries an hour" in text
    assert chosen.idle_queries_per_hour() == 2070
    floor_web = budget.dyno_budget(budget.DynoSpec("web", plan_table.dyno_size("basic")),
                                   budget.DynoKnobs(appetite.Knobs(cpu_num=1, worker_per_core=1,
                                                                   workers_num=1,
                                                                   connections_max=14)), ())
    assert f"one web dyno alone holds {floor_web.db} at the smallest sizing" in text
    # Every figure with the command that prints it.
    for command in ("appwrite-heroku budget --profile default",
                    "appwrite-heroku budget --profile default --bridge plain",
                    "appwrite-heroku budget --profile default --set "
                    "APPWRITE_LITE_QUEUE_MODE=always-on"):
        assert f"`{command}`" in text


@pytest.mark.slow
@pytest.mark.skipif(not MIRROR.is_dir(), reason="the Appwrite mirror is a workstation copy")
def test_the_docs_installer_default_is_appwrites() -> None:
    text = " ".join(section("deploy-button").split())
    cited = re.search(r"`(src/Appwrite/Platform/Tasks/Install\.php):(\d+)` at tag 1\.9\.6: "
                      r"`([^`]*)", text)
    assert cited and "defaults to MongoDB" in text
    source = subprocess.run(["git", "-C", str(MIRROR), "show", f"1.9.6:{cited.group(1)}"],
                            capture_output=True, text=True, check=True).stdout.splitlines()
    line = source[int(cited.group(2)) - 1]
    assert cited.group(3).split("…")[0].rstrip(", ") in line and "'mongodb'" in line


def test_the_launchers_sizing_table_is_what_the_launcher_chooses() -> None:
    rows = table_after(section("launcher"), "| Dyno memory | Role |")
    full = appetite.background_set()
    minimal = budget.PROFILES["all-in-one"]
    for row in rows:
        mib = {"512 MB": 512, "1 GB": 1024, "2.5 GB": 2560}[
            re.match(r"(512 MB|1 GB|2\.5 GB)", row[0]).group(1)]  # type: ignore[union-attr]
        role = row[1]
        env: dict[str, str] = {}
        background = full
        if "all-in-one" in row[0]:
            env = {budget.PLANS_VAR: minimal.setup().record()}
            background = minimal.background()
        policy = choose_policy(mib * MIB, role, background, env)
        if row[2].startswith("does not fit"):
            assert not policy.fits
            needs = re.search(r"(\d+) MiB", row[2]).group(1)  # type: ignore[union-attr]
            assert f"needs {needs} MiB" in policy.description
            continue
        assert policy.fits, policy.description
        cpu, per_core = row[2].split(" \N{MULTIPLICATION SIGN} ")
        assert (policy.settings["_APP_CPU_NUM"], policy.settings["_APP_WORKER_PER_CORE"]) == (
            cpu, per_core)
        realtime = policy.program_env.get("realtime", {}).get(
            "_APP_WORKERS_NUM", policy.settings.get("_APP_WORKERS_NUM"))
        if role in ("web", "all"):
            assert row[3] == realtime
        if role in ("worker", "all"):
            assert row[4] == policy.settings["_APP_WORKERS_NUM"]
            assert row[5] == str(policy.queue_slots)
        else:
            assert row[5] == "—" and policy.queue_slots is None
        knobs = appetite.Knobs.from_settings(policy.settings)
        assert row[6] == f"{appetite.pool_size(knobs)} ({policy.settings['_APP_CONNECTIONS_MAX']})"


def test_the_engines_advice_and_warning_follow_the_model() -> None:
    default = budget.DEFAULT_PROFILE
    missing = " ".join(missing_addons({}))
    assert default.redis_plan in missing and default.db_plan in missing
    button = [{"type": k, "quantity": v["quantity"], "size": v["size"]}
              for k, v in APP_JSON["formation"].items()]
    assert small_dynos(button) == []  # the button's dynos are never "too small"
