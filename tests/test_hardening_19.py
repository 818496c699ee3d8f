"""Named regressions for issue 19 ("Hardening, round two"): each finding as a newcomer or a
hostile user met it on landed main, through the surface they used. Every test here failed on
that main; the property tests (test_properties.py) widen each class over every surface.

Names the fixes brought in are imported inside the tests that use them, so that against the
old code each test fails for its own finding, not for an import."""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from appwrite_heroku.action import runner
from appwrite_heroku.config import database, inputs, marker, redis, settings
from appwrite_heroku.config.user_config import parse_config
from appwrite_heroku.dyno import bridge, launcher, migration
from appwrite_heroku.errors import InputError
from appwrite_heroku.release import tag_guard
from appwrite_heroku.release.engine import Endpoints
from appwrite_heroku.secrecy import Redactor
from documentation import README, docs_text, section
from helpers import (
    ADDON_REDIS_URL,
    CANARY_API_KEY,
    CANARY_DB_PASSWORD,
    CANARY_REDIS_PASSWORD,
    make_appwrite_app,
)
from services import MariaDBAccount, mariadb_root_sql
from standins.heroku import HerokuStandIn
from surfaces import leaked, run_action, run_cli

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "heroku-config.json"
EXAMPLE_CONFIG: dict[str, str] = json.loads(EXAMPLE.read_text())
MB = 1 << 20
GENEROUS = 20.0  # seconds for an answer to 1 MB of input (it takes well under one)


def write_config(tmp_path: Path, config: dict[str, str] | str, name: str = "c.json") -> str:
    path = tmp_path / name
    path.write_text(config if isinstance(config, str) else json.dumps(config))
    return str(path)


def one_line_exit_2(outcome: object, *secrets: str) -> str:
    """The refusal's one line (after checking there is exactly one, and no secret in it)."""
    status, out, err = outcome.status, outcome.out, outcome.err  # type: ignore[attr-defined]
    assert status == 2, (out[-2000:], err[-2000:])
    assert len(err.strip().splitlines()) == 1, err[-2000:]
    assert "Traceback" not in out + err
    assert leaked(out + err, secrets) == []
    return str(err.strip())


def _at_most_2_gib() -> None:
    """A process that reads without end (the old `env --from /dev/zero`) hits this, not the
    machine's memory."""
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))


def within_deadline(argv: list[str], env: dict[str, str] | None = None,
                    ) -> subprocess.CompletedProcess[str]:
    """A process with a deadline and a memory ceiling: an input that takes forever fails the
    test at the deadline instead of hanging it."""
    full = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONPATH": os.environ.get("PYTHONPATH", ""), **(env or {})}
    return subprocess.run([sys.executable, *argv], capture_output=True, timeout=GENEROUS,
                          cwd=ROOT, env=full, text=True, preexec_fn=_at_most_2_gib)


def action_env(**values: str) -> dict[str, str]:
    env = {"INPUT_APP": "my-app", "INPUT_HEROKU-API-KEY": CANARY_API_KEY, "INPUT_BUILD": "none",
           "INPUT_DRY-RUN": "true", "GITHUB_REF": "refs/tags/v1.0.0",
           "GITHUB_SHA": "0123abc" * 5 + "01234", "HEROKU_API_URL": "http://127.0.0.1:9"}
    env.update({f"INPUT_{name.upper()}": value for name, value in values.items()})
    return env


def bad_input_annotation(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith("::error title=Bad input")]


# -- 1. linear time on any input; sizes bounded at every surface ------------------------------

@pytest.mark.slow
def test_the_secret_shape_recogniser_answers_a_1_mb_value_at_once() -> None:
    """The URL-userinfo pattern was retried from every letter of a long run: 27 s at 100 KB."""
    code = ("from appwrite_heroku.secrecy import is_secret_value, secret_parts, Redactor\n"
            "for shape in ('a', 'a://', 'x:y', '?pass', '-----BEGIN A'):\n"
            "    value = shape * (1048576 // len(shape))\n"
            "    is_secret_value(value); secret_parts(value)\n"
            "    Redactor([value]).redact(value[:4096])\n")
    assert within_deadline(["-c", code]).returncode == 0


@pytest.mark.slow
def test_env_from_dev_zero_answers_at_once_with_exit_2() -> None:
    done = within_deadline(["-m", "appwrite_heroku", "env", "--from", "/dev/zero"])
    assert done.returncode == 2, done.stderr[-500:]
    assert done.stderr.count("\n") == 1 and "larger than 256 KB" in done.stderr


@pytest.mark.parametrize("command", [["env", "--from"], ["plan", "--config-from"]])
def test_a_config_file_over_256_kb_is_refused_naming_it(tmp_path: Path,
                                                        command: list[str]) -> None:
    path = write_config(tmp_path, {"A": "x" * (300 * 1024)})
    line = one_line_exit_2(run_cli([*command, path]))
    assert command[1] in line and "256 KB" in line


@pytest.mark.slow
def test_a_1_mb_config_value_is_refused_by_plan_at_once(tmp_path: Path) -> None:
    # Through a file of arguments: 1 MB is more than one argv string may be.
    code = ("import sys; from appwrite_heroku.cli import main\n"
            f"sys.exit(main(['plan', '--config-from', {str(EXAMPLE)!r}, '--config', "
            "'NOTE=' + 'a' * 1048576]))\n")
    done = within_deadline(["-c", code])
    assert done.returncode == 2, done.stderr[-500:]
    assert done.stderr.count("\n") == 1 and "NOTE" in done.stderr and "32 KB" in done.stderr


def test_config_vars_over_32_kb_together_are_refused(tmp_path: Path) -> None:
    config = {**EXAMPLE_CONFIG, **{f"NOTE_{n}": "x" * 4000 for n in range(9)}}
    line = one_line_exit_2(run_cli(["env", "--from", write_config(tmp_path, config)]))
    assert "32 KB" in line


@pytest.mark.slow
def test_the_actions_1_mb_config_input_is_bad_input_at_once(tmp_path: Path) -> None:
    code = ("import io, sys; from appwrite_heroku.action import runner\n"
            f"env = {action_env(config='NOTE=')!r}\n"
            "env['INPUT_CONFIG'] += 'a' * 1048576\n"
            "out = io.StringIO(); status = runner.run(env, out)\n"
            "print(out.getvalue()); sys.exit(status)\n")
    done = within_deadline(["-c", code])
    assert done.returncode == 2, done.stderr[-500:]
    assert any("input config" in line for line in bad_input_annotation(done.stdout))


def test_the_bridges_1_mb_upstream_url_is_refused_at_once() -> None:
    url = "rediss://:" + "a" * MB + "@h:1"
    args = argparse.Namespace(listen="127.0.0.1:6399", upstream=None, ca_file=None, mode=None,
                              max_upstream=None)
    start = time.monotonic()
    with pytest.raises(InputError, match=r"APPWRITE_REDIS_BRIDGE_UPSTREAM is longer than 32 KB"):
        bridge.check_arguments(args, {bridge.UPSTREAM_ENV: url})
    assert time.monotonic() - start < GENEROUS


# -- 2. a backtick in the database name never reaches SQL -------------------------------------

@pytest.mark.parametrize("name", ["d`x", "d'x", 'd"x', "d\\x", "d;x"])
def test_quotes_and_backticks_in_a_database_name_are_refused(name: str) -> None:
    url = f"mysql://u:{CANARY_DB_PASSWORD}@h.rds.amazonaws.com:3306/{name}"
    with pytest.raises(InputError, match="JAWSDB_MARIA_URL has a host or database name") as caught:
        database.parse_database_url(url, "JAWSDB_MARIA_URL")
    assert CANARY_DB_PASSWORD not in str(caught.value) and name not in str(caught.value)


def test_the_release_marker_is_kept_in_a_database_whose_name_holds_a_backtick(
        jawsdb_account: MariaDBAccount) -> None:
    """The one quoting helper, against a real MariaDB: even a name with a backtick (which
    the input rule refuses first) stays one identifier. The old code built
    `` `we`ird`.`appwrite_heroku_release` ``: a syntax error, or worse."""
    from appwrite_heroku.dyno import database

    weird = "we`ird"
    mariadb_root_sql(jawsdb_account.server, f"CREATE DATABASE IF NOT EXISTS `we``ird`; GRANT ALL "
                     f"ON `we``ird`.* TO '{jawsdb_account.user}'@'%'")
    target = database.DatabaseTarget(
        adapter="mariadb", host="127.0.0.1", port=jawsdb_account.server.port,
        user=jawsdb_account.user, password=jawsdb_account.password,
        schema=jawsdb_account.database, app_database=weird)
    connection = database.connect(target)
    try:
        assert database.read_marker(connection, target) is None
        database.write_marker(connection, target, "1.9.6")
        assert database.read_marker(connection, target) == "1.9.6"
    finally:
        connection.close()
    assert database.identifier(weird, postgres=False) == "`we``ird`"
    assert database.identifier('a"b', postgres=True) == '"a""b"'


# -- 3. the OpenSSL key cannot be "changed" silently ------------------------------------------

@pytest.mark.parametrize("value", ["new-key-value-0000", ""])
def test_changing_or_blanking_the_openssl_key_is_bad_input(value: str) -> None:
    done = run_cli(["plan", "--config-from", str(EXAMPLE), "--config",
                    f"_APP_OPENSSL_KEY_V1={value}"])
    line = one_line_exit_2(done, EXAMPLE_CONFIG["_APP_OPENSSL_KEY_V1"])
    assert "_APP_OPENSSL_KEY_V1" in line and done.out == ""
    assert "set but blank" not in done.err


def test_the_openssl_key_may_be_brought_to_an_app_without_one(tmp_path: Path) -> None:
    config = {k: v for k, v in EXAMPLE_CONFIG.items() if k != "_APP_OPENSSL_KEY_V1"}
    done = run_cli(["plan", "--config-from", write_config(tmp_path, config), "--config",
                    "_APP_OPENSSL_KEY_V1=brought-from-an-earlier-install-0000"])
    assert done.status == 0, done.err
    assert "+ _APP_OPENSSL_KEY_V1=****" in done.out
    same = run_cli(["plan", "--config-from", str(EXAMPLE), "--config",
                    f"_APP_OPENSSL_KEY_V1={EXAMPLE_CONFIG['_APP_OPENSSL_KEY_V1']}"])
    assert same.status == 0, same.err


def test_deploy_refuses_a_new_openssl_key_before_writing(
        heroku_standin: HerokuStandIn) -> None:
    app = make_appwrite_app(heroku_standin, "key")
    heroku_standin.app(app).config_vars["_APP_OPENSSL_KEY_V1"] = "the-apps-own-key-00000000"
    releases = len(heroku_standin.app(app).releases)
    done = run_cli(["deploy", "-a", app, "--build", "none", "--config",
                    "_APP_OPENSSL_KEY_V1=another-key-000000000"],
                   env={"HEROKU_API_KEY": CANARY_API_KEY, "HEROKU_API_URL": heroku_standin.url})
    assert done.status == 2 and "_APP_OPENSSL_KEY_V1 would change" in done.err, done.err
    assert len(heroku_standin.app(app).releases) == releases
    assert heroku_standin.app(app).config_vars["_APP_OPENSSL_KEY_V1"] == (
        "the-apps-own-key-00000000")


# -- 4. the engine's own variables cannot be overwritten ---------------------------------------

@pytest.mark.parametrize("name", ["APPWRITE_LITE_MANAGED", "APPWRITE_LITE_PLANS",
                                  "APPWRITE_LITE_RELEASE"])
def test_reserved_names_are_refused_before_anything_is_shown(name: str, tmp_path: Path) -> None:
    done = run_cli(["plan", "--config-from", str(EXAMPLE), "--config", f"{name}=x"])
    assert name in one_line_exit_2(done) and done.out == ""
    action = run_action(action_env(config=f"{name}: x\n"), tmp_path)
    assert action.status == 2 and any(name in line for line in
                                      bad_input_annotation(action.stdout))


@pytest.mark.parametrize("extra", [{"APPWRITE_LITE_PLANS": "x"}, {"_APP_CPU_NUM": "99999"}])
def test_a_bad_record_or_sizing_value_in_the_file_is_refused_before_the_plan(
        extra: dict[str, str], tmp_path: Path) -> None:
    done = run_cli(["plan", "--config-from", write_config(tmp_path, {**EXAMPLE_CONFIG,
                                                                     **extra})])
    assert next(iter(extra)) in one_line_exit_2(done) and done.out == ""


def test_the_reserved_names_are_the_engines_own() -> None:
    from appwrite_heroku.config.budget import PLANS_VAR

    assert set(inputs.RESERVED) == {marker.MARKER_VAR, tag_guard.RELEASE_VAR, PLANS_VAR}
    assert inputs.OPENSSL_KEY == marker.OPENSSL_KEY


# -- 5. one version rule -----------------------------------------------------------------------

@pytest.mark.parametrize("version", ["latest", "1.4.0", "99.0.0", "1.9.6-rc1"])
def test_unmodelled_appwrite_versions_are_refused_with_the_modelled_list(
        version: str, tmp_path: Path) -> None:
    line = one_line_exit_2(run_cli(["plan", "--config-from", str(EXAMPLE),
                                    "--appwrite-version", version]))
    assert "1.9.6" in line and "modelled" in line
    action = run_action(action_env(**{"appwrite-version": version}), tmp_path)
    assert action.status == 2 and any("modelled" in line for line in
                                      bad_input_annotation(action.stdout))


def test_a_release_candidate_to_its_release_migrates() -> None:
    assert migration.decide("1.9.6-rc1", "1.9.6", True).action == migration.MIGRATE


def test_the_release_role_names_a_version_that_is_none_in_one_line() -> None:
    with pytest.raises(InputError, match="APPWRITE_LITE_APPWRITE_VERSION 'latest'"):
        migration.decide("1.9.6", "latest", True)


@pytest.mark.parametrize("text", ["v1.0.0", "1.9.6-rc1", "v1.0.0\n", "v٣.0.0", "latest",
                                  "1.9.6+build.1"])
def test_the_tag_guard_orders_by_the_same_rule(text: str) -> None:
    from appwrite_heroku.config import versions

    assert tag_guard.semver_key(text) == versions.parse(text)


# -- 6. refused, not silently changed -----------------------------------------------------------

@pytest.mark.parametrize("value", [f" {ADDON_REDIS_URL}", f"{ADDON_REDIS_URL}\r",
                                   f"{ADDON_REDIS_URL}\n"])
def test_space_or_cr_around_redis_url_is_refused(value: str, tmp_path: Path) -> None:
    config = {**EXAMPLE_CONFIG, "REDIS_URL": value}
    line = one_line_exit_2(run_cli(["env", "--from", write_config(tmp_path, config)]),
                           CANARY_REDIS_PASSWORD)
    assert "REDIS_URL" in line


def test_a_newline_after_the_bridges_upstream_url_is_refused() -> None:
    with pytest.raises(InputError, match=bridge.UPSTREAM_ENV):
        bridge.upstream_from(None, {bridge.UPSTREAM_ENV: ADDON_REDIS_URL + "\n"})


def test_a_newline_after_heroku_api_key_is_refused() -> None:
    done = run_cli(["plan", "-a", "my-app"], env={"HEROKU_API_KEY": CANARY_API_KEY + "\n",
                                                  "HEROKU_API_URL": "http://127.0.0.1:9"})
    assert "HEROKU_API_KEY" in one_line_exit_2(done, CANARY_API_KEY)


def test_a_key_twice_in_a_json_file_is_refused(tmp_path: Path) -> None:
    path = write_config(tmp_path, '{"NOTE": "one", "NOTE": "two"}')
    assert "NOTE" in one_line_exit_2(run_cli(["env", "--from", path]))


def test_config_twice_on_the_command_line_is_refused() -> None:
    done = run_cli(["plan", "--config-from", str(EXAMPLE), "--config", "NOTE=1",
                    "--config", "NOTE=2"])
    assert "NOTE" in one_line_exit_2(done) and done.out == ""


@pytest.mark.parametrize("text", ["NOTE: one\nNOTE: two\n", "NOTE=one\nNOTE=two\n"])
def test_a_key_twice_in_the_actions_config_is_refused(text: str, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="NOTE"):
        parse_config(text, "input config")
    assert run_action(action_env(config=text), tmp_path).status == 2


def test_a_process_type_twice_in_formation_is_refused() -> None:
    done = run_cli(["budget", "--formation", "web=basic,web=standard-2x", "--redis-plan",
                    "heroku-redis:mini", "--db-plan", "heroku-postgresql:essential-0"])
    assert "web" in one_line_exit_2(done)


def test_a_password_in_a_redis_query_string_is_refused_not_ignored() -> None:
    with pytest.raises(InputError, match="query string"):
        redis.parse_redis_url(f"rediss://h.example.com:1?password={CANARY_REDIS_PASSWORD}",
                               "REDIS_URL")


@pytest.mark.parametrize("name", ["../../Evil App", "host=db;password=Cnry00000"])
def test_a_bad_heroku_app_name_in_a_config_file_is_refused(name: str, tmp_path: Path) -> None:
    """Found by the large property run: a name shaped like a secret was quoted unmasked."""
    config = {**EXAMPLE_CONFIG, "HEROKU_APP_NAME": name}
    line = one_line_exit_2(run_cli(["plan", "--config-from", write_config(tmp_path, config)]),
                           "Cnry00000")
    assert "HEROKU_APP_NAME" in line


# -- 7. numbers: one rule, with upper bounds ---------------------------------------------------

def test_a_39_digit_bridge_ceiling_is_refused() -> None:
    with pytest.raises(InputError, match="from 2 to 10000"):
        bridge.bridge_options({}, "multiplex", "9" * 39)


def test_a_39_digit_connections_max_is_refused_by_budget() -> None:
    done = run_cli(["budget", "--profile", "default", "--set",
                    "_APP_CONNECTIONS_MAX=" + "9" * 39])
    assert "_APP_CONNECTIONS_MAX" in one_line_exit_2(done)


@pytest.mark.parametrize("value", ["\u0661\u0660", "1_0", " 10", "1e1", "0x10"])
def test_health_timeout_is_read_by_the_one_number_rule(value: str, tmp_path: Path) -> None:
    done = run_cli(["deploy", "-a", "my-app", "--health-timeout", value])
    assert done.status == 2 and "--health-timeout" in done.err
    if value.strip() == value:  # the Action trims its inputs, as the actions toolkit does
        action = run_action(action_env(**{"health-timeout": value}), tmp_path)
        assert action.status == 2 and any("health-timeout" in line for line in
                                          bad_input_annotation(action.stdout))


def test_listen_port_0_is_refused() -> None:
    with pytest.raises(InputError, match="--listen"):
        bridge.parse_listen("127.0.0.1:0")


@pytest.mark.parametrize("url", ["http://127.0.0.1:0", "https://h.example.com:0/x",
                                 "http://[::1]:0", "http://user:pw@h.example.com"])
def test_api_url_with_port_0_is_refused(url: str) -> None:
    with pytest.raises(InputError, match="HEROKU_API_URL"):
        Endpoints.from_env({"HEROKU_API_URL": url})


@pytest.mark.parametrize("url", ["http://[::1]:8080", "https://[2001:db8::1]/api"])
def test_an_ipv6_api_url_is_taken(url: str) -> None:
    assert Endpoints.from_env({"HEROKU_API_URL": url}).api_url == url


def test_a_twenty_digit_redis_database_is_refused() -> None:
    with pytest.raises(InputError, match="0 to 15"):
        redis.parse_redis_url("redis://h:1/" + "9" * 20, "REDIS_URL")


# -- 8. checked early, and a status that is the real one ----------------------------------------

def _dyno_environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    storage = tmp_path / "storage"
    storage.mkdir(exist_ok=True)
    return {"REDIS_URL": "redis://127.0.0.1:1",
            "JAWSDB_MARIA_URL": f"mysql://u:{CANARY_DB_PASSWORD}@127.0.0.1:1/db",
            "_APP_OPENSSL_KEY_V1": "k" * 32, "_APP_EXECUTOR_SECRET": "e" * 32,
            "APPWRITE_LITE_STORAGE_DIR": str(storage), "APPWRITE_LITE_DB_ATTEMPTS": "3",
            "APPWRITE_LITE_DB_DELAY": "3", **extra}


def test_port_0_is_reported_before_the_database_wait(tmp_path: Path) -> None:
    log = launcher.Log(Redactor())
    start = time.monotonic()
    with pytest.raises(InputError, match="PORT"):
        launcher.run_role("web", _dyno_environment(tmp_path, PORT="0"), log, threading.Event())
    assert time.monotonic() - start < 2.0  # the database wait alone would take 6 s


def test_the_bridge_port_may_not_be_the_web_port(tmp_path: Path) -> None:
    env = _dyno_environment(tmp_path, PORT="6379", APPWRITE_LITE_BRIDGE_PORT="6379")
    with pytest.raises(InputError, match="APPWRITE_LITE_BRIDGE_PORT"):
        launcher.Layout.from_env(env, "web")


def test_an_unwritable_github_output_keeps_the_real_status(tmp_path: Path) -> None:
    # A tag outside the pattern: refused inside the engine, after which the outputs are due.
    env = {**action_env(**{"tag-pattern": "release-*"}),
           "GITHUB_OUTPUT": str(tmp_path / "no" / "such" / "f"),
           "GITHUB_STEP_SUMMARY": str(tmp_path / "no" / "such" / "s")}
    out = io.StringIO()
    status = runner.run(env, out)
    assert status == 2  # the refusal's status, not a crash's
    warnings = [line for line in out.getvalue().splitlines() if line.startswith("::warning")]
    assert len(warnings) == 2 and all("cannot write" in line for line in warnings)


# -- 9. messages that say what they mean -------------------------------------------------------

def test_the_cloudcube_hint_is_not_masked(tmp_path: Path) -> None:
    config = {**{k: v for k, v in EXAMPLE_CONFIG.items() if not k.startswith("BUCKETEER_")},
              "CLOUDCUBE_URL": "https://cloud-cube.s3.amazonaws.com/",
              "CLOUDCUBE_ACCESS_KEY_ID": "a", "CLOUDCUBE_SECRET_ACCESS_KEY": "b"}
    line = one_line_exit_2(run_cli(["env", "--from", write_config(tmp_path, config)]))
    assert "CLOUDCUBE_URL" in line and "****" not in line


@pytest.mark.parametrize(("document", "said"), [("null", "null"), ("[1]", "a list"),
                                                ('{"A": null}', "null"),
                                                ('{"A": true}', "true or false")])
def test_errors_speak_json_not_python(document: str, said: str, tmp_path: Path) -> None:
    line = one_line_exit_2(run_cli(["env", "--from", write_config(tmp_path, document)]))
    assert said in line
    assert not re.search(r"NoneType|JSON list|JSON bool|JSON dict|\bdict\b", line)


@pytest.mark.parametrize(("name", "example"), [
    ("HEROKU_REGISTRY_URL", "https://registry.heroku.com"),
    ("HEROKU_ROUTER_URL", "http://127.0.0.1:8080")])
def test_each_url_error_gives_its_own_example(name: str, example: str) -> None:
    with pytest.raises(InputError) as caught:
        Endpoints.from_env({name: "ftp://x"})
    assert example in str(caught.value) and "api.heroku.com" not in str(caught.value)


def test_the_budget_speaks_of_postgresql_dynos_and_prices_plainly() -> None:
    default = run_cli(["budget", "--profile", "default"]).out
    assert "(MariaDB" not in default and "PostgreSQL" in default
    one = run_cli(["budget", "--formation", "all=standard-2x", "--redis-plan",
                   "heroku-redis:mini", "--db-plan", "heroku-postgresql:essential-0"]).out
    assert "x 1 dyno)" in one and "1 dynos" not in one
    plain = run_cli(["budget", "--profile", "default", "--bridge", "plain"]).out
    assert "price unverified)" in plain and "(price unverified))" not in plain


# -- 10. a newcomer's path ----------------------------------------------------------------------

def test_the_first_command_installs_into_a_virtual_environment() -> None:
    first = re.search(r"## Quick start.*?```sh\n(.*?)\n```", README.read_text(), re.S)
    assert first and first.group(1).startswith("python3 -m venv .venv && . .venv/bin/activate")


def test_troubleshooting_names_only_options_that_exist() -> None:
    text = (ROOT / "docs" / "troubleshooting.md").read_text()
    assert "--mux" not in text and "default 18" not in text
    for line in re.findall(r"appwrite-heroku budget [^\n#`]*", text):
        done = run_cli(line.split()[1:])
        assert done.status in (0, 1), (line, done.err)


def test_the_docs_do_not_say_plan_and_deploy_help_agree() -> None:
    assert "prints the same list" not in docs_text()
    assert run_cli(["plan", "--help"]).out != run_cli(["deploy", "--help"]).out


def test_the_docs_tell_contributors_about_shared_and_a_fast_subset() -> None:
    contributing = section("contributing")
    # The fast lane is what contributors are offered first, before CI's `bash .ci/run`.
    assert "../shared" in contributing and 'python3 -m pytest -m "not slow"' in contributing
    assert contributing.index('pytest -m "not slow"') < contributing.index("bash .ci/run")
    assert "APPWRITE_HEROKU_SHARED" in contributing


@pytest.mark.slow
def test_a_test_that_needs_shared_skips_with_its_reason_without_it(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["APPWRITE_HEROKU_SHARED"] = str(tmp_path / "nowhere")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
         "tests/test_settings.py::test_packaged_list_matches_the_shared_one",
         "tests/test_standin_heroku_state.py::test_schema_matching"],
        capture_output=True, text=True, timeout=120, cwd=ROOT, env=env)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "2 skipped" in done.stdout and "../shared" in done.stdout, done.stdout[-3000:]


# -- 11. the console belongs to its owner -------------------------------------------------------

def test_app_json_asks_for_the_console_owners_email() -> None:
    env = json.loads((ROOT / "app.json").read_text())["env"]
    entry = env["_APP_CONSOLE_WHITELIST_EMAILS"]
    assert entry.get("required", True) is True and "generator" not in entry
    assert "console.php:45" in entry["description"] and "first" in entry["description"]


def test_plan_warns_when_the_console_is_open_to_anyone(tmp_path: Path) -> None:
    config = {k: v for k, v in EXAMPLE_CONFIG.items() if k != "_APP_CONSOLE_WHITELIST_EMAILS"}
    done = run_cli(["plan", "--config-from", write_config(tmp_path, config)])
    assert done.status == 0, done.err
    assert "whoever signs up first" in done.err
    owned = run_cli(["plan", "--config-from", str(EXAMPLE)])
    assert "whoever signs up first" not in owned.err


@pytest.mark.parametrize("value", ["Owner@Example.com", "a@x.com, b@y.com"])
def test_an_owner_address_appwrite_can_never_match_is_named(value: str) -> None:
    warnings = settings.console_warnings({"_APP_CONSOLE_WHITELIST_EMAILS": value})
    assert len(warnings) == 1 and "can never match" in warnings[0]


def test_the_action_warns_when_the_console_is_open_to_anyone(
        heroku_standin: HerokuStandIn, tmp_path: Path) -> None:
    app = make_appwrite_app(heroku_standin, "own")
    env = {**action_env(app=app), "HEROKU_API_URL": heroku_standin.url,
           "HEROKU_ROUTER_URL": heroku_standin.router_url}
    done = run_action(env, tmp_path)
    assert done.status == 0, done.stdout[-3000:]
    assert any(line.startswith("::warning") and "whoever signs up first" in line
               for line in done.stdout.splitlines())
    heroku_standin.app(app).config_vars["_APP_CONSOLE_WHITELIST_EMAILS"] = "me@example.com"
    again = run_action(env, tmp_path)
    assert not any("whoever signs up first" in line for line in again.stdout.splitlines())
