"""Named regressions for issue 10 ("Hardening"): each finding as a hostile or careless user
met it on landed main, run through the same surfaces the user used. The property tests
(test_properties.py) generalise each one over every input surface."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest

from appwrite_heroku.action import runner
from appwrite_heroku.action.workflow import ActionsReporter, summary_markdown
from appwrite_heroku.cli import build_parser
from appwrite_heroku.config import database, inputs, redis, settings
from appwrite_heroku.config.user_config import parse_config
from appwrite_heroku.errors import InputError
from appwrite_heroku.release.engine import DeployResult
from appwrite_heroku.secrecy import MASK, Redactor, is_secret
from helpers import ADDON_POSTGRES_URL, ADDON_REDIS_URL, CANARY_API_KEY, make_appwrite_app
from standins.clock import SkippingClock
from standins.heroku import HerokuStandIn
from surfaces import (
    OUR_COMMANDS,
    command_lines,
    leaked,
    run_action,
    run_cli,
    runner_commands,
)

ROOT = Path(__file__).resolve().parent.parent
# The Deploy button's add-ons: an offline plan judges them at their smallest plans, which fit.
GOOD_ADDONS = {"REDIS_URL": ADDON_REDIS_URL, "DATABASE_URL": ADDON_POSTGRES_URL}


def write_config(tmp_path: Path, config: dict[str, str], name: str = "config.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(config))
    return str(path)


def one_line_exit_2(outcome: object, *secrets: str) -> None:
    status, out, err = outcome.status, outcome.out, outcome.err  # type: ignore[attr-defined]
    assert status == 2, (out, err)
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in out + err
    assert leaked(out + err, secrets) == []


def action_env(**inputs_: str) -> dict[str, str]:
    env = {"INPUT_APP": "my-app", "INPUT_HEROKU-API-KEY": CANARY_API_KEY,
           "INPUT_BUILD": "none", "INPUT_DRY-RUN": "true",
           "GITHUB_REF": "refs/tags/v1.0.0", "GITHUB_SHA": "0123abc" * 5 + "01234",
           "HEROKU_API_URL": "http://127.0.0.1:9"}
    env.update({f"INPUT_{name.upper()}": value for name, value in inputs_.items()})
    return env


# -- 1. an API key with a newline or non-ASCII: one line, exit 2, never the key --------------

@pytest.mark.parametrize("key", ["k\nx-canary-key-0001", "kéy-canary-key-0002",
                                 "canary key with spaces 0003"])
def test_api_key_that_no_header_can_carry_is_one_line_exit_2(key: str) -> None:
    done = run_cli(["plan", "-a", "myapp"], env={"HEROKU_API_KEY": key,
                                                 "HEROKU_API_URL": "http://127.0.0.1:9"})
    one_line_exit_2(done, key, *key.split("\n"))
    assert "HEROKU_API_KEY holds a character an HTTP header cannot carry" in done.err


@pytest.mark.slow
def test_api_key_with_newline_as_a_process_prints_no_traceback() -> None:
    key = "k\nx-canary-key-0001"
    done = subprocess.run([sys.executable, "-m", "appwrite_heroku", "plan", "-a", "myapp"],
                          capture_output=True, text=True, timeout=60, cwd=ROOT,
                          env={"PATH": "/usr/bin:/bin", "HEROKU_API_KEY": key,
                               "HEROKU_API_URL": "http://127.0.0.1:9"})
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert leaked(done.stdout + done.stderr, [key, "x-canary-key-0001"]) == []


@pytest.mark.parametrize("key", ["k\nx-canary-key-0001", "kéy-canary-key-0002"])
def test_action_refuses_such_a_key_as_bad_input(tmp_path: Path, key: str) -> None:
    done = run_action(action_env(**{"heroku-api-key": key}), tmp_path)
    assert done.status == 2
    assert "unexpected" not in done.stdout + done.summary
    errors = [line for line in done.stdout.splitlines() if line.startswith("::error")]
    assert len(errors) == 1 and errors[0].startswith("::error title=Bad input::")
    printed = "\n".join(line for line in done.stdout.splitlines()
                        if not line.startswith("::add-mask::"))
    assert leaked(printed + done.summary + done.outputs, [key, "x-canary-key-0001"]) == []


def test_redactor_masks_every_encoding_a_message_can_carry() -> None:
    secret = "k\nx/é%+ \"canary\""
    redactor = Redactor([secret])
    carriers = [secret, repr(secret), json.dumps(secret), json.dumps(secret, ensure_ascii=False),
                quote(secret, safe=""), quote(secret), repr(secret.encode()),
                f"Invalid header value {('Bearer ' + secret).encode()!r}",
                secret.replace("%", "%25").replace("\n", "%0A")]
    for text in carriers:
        assert "canary" not in redactor.redact(text), text


# -- 2. secrets by name or shape; masks only for what is secret ----------------------------

SHAPED = {
    "_APP_SMS_PROVIDER": "sms://user:canary-sms-secret@twilio",
    "_APP_EXPERIMENT_LOGGING_CONFIG": "sentry://canary-sentry-key@project",
    "SMTP_PASSWD": "canary-passwd-value",
    "MY_ENDPOINT": "ftp://me:canary-ftp-password@files.example.com/",
    "SOME_DSN_PARAMS": "host=db;password=canary-param-password",
}
SHAPED_SECRETS = ["canary-sms-secret", "canary-sentry-key", "canary-passwd-value",
                  "canary-ftp-password", "canary-param-password"]


@pytest.mark.parametrize(("name", "value"), list(SHAPED.items()))
def test_secret_recognised_by_name_or_shape(name: str, value: str) -> None:
    assert is_secret(name, value)


@pytest.mark.parametrize(("name", "value"), [("_APP_SMTP_SECURE", "tls"), ("FEATURE", "true"),
                                             ("_APP_DOMAIN", "x.example.com"),
                                             ("HOMEPAGE", "https://example.com/a@b")])
def test_plain_values_are_not_secret(name: str, value: str) -> None:
    assert not is_secret(name, value)


def test_env_masks_secrets_by_shape(tmp_path: Path) -> None:
    done = run_cli(["env", "--from", write_config(tmp_path, {**GOOD_ADDONS, **SHAPED})])
    assert done.status == 0, done.err
    assert leaked(done.text, SHAPED_SECRETS) == []
    assert f"_APP_SMS_PROVIDER={MASK}" in done.out
    assert f"_APP_EXPERIMENT_LOGGING_CONFIG={MASK}" in done.out


def test_plan_masks_secrets_by_shape(tmp_path: Path) -> None:
    config = ["--config", *[f"{k}={v}" for k, v in SHAPED.items()]]
    args = ["plan", "--config-from", write_config(tmp_path, GOOD_ADDONS), "-a", "my-app"]
    for pair in config[1:]:
        args += ["--config", pair]
    done = run_cli(args)
    assert done.status == 0, done.err
    assert leaked(done.text, SHAPED_SECRETS) == []
    assert f"+ _APP_SMS_PROVIDER={MASK}" in done.out and f"+ MY_ENDPOINT={MASK}" in done.out


def test_action_masks_shaped_secrets_and_not_common_words(tmp_path: Path) -> None:
    config = "\n".join(f"{k}: '{v}'" for k, v in SHAPED.items())
    config += "\n_APP_SMTP_SECURE: tls\nFEATURE_FLAG: 'true'\nSHORT_TOKEN: ok\n"
    # The API refuses connections: the engine's retries wait on a clock that skips.
    done = run_action(action_env(config=config), tmp_path, SkippingClock().clock)
    masked = [line.removeprefix("::add-mask::") for line in done.stdout.splitlines()
              if line.startswith("::add-mask::")]
    for secret in SHAPED_SECRETS:
        assert any(secret in value for value in masked), secret
    assert not {"true", "tls", "ok"} & set(masked)


# -- 3. `##[` anywhere in a line is a runner command ----------------------------------------

def test_action_reporter_neutralises_mid_line_old_style_commands() -> None:
    out = __import__("io").StringIO()
    reporter = ActionsReporter(out)
    reporter.info("step 3/9 : RUN echo done ##[error]forged annotation")
    reporter.info("  ::warning::forged too")
    assert runner_commands(out.getvalue()) == []
    assert "##[error]forged annotation" in out.getvalue()  # shown as written, not executed


def test_plan_prints_no_runner_command_from_config_values(tmp_path: Path) -> None:
    config = {**GOOD_ADDONS, "BANNER": "hello ##[error]forged", "MULTI": "a\n::error::forged\nb"}
    done = run_cli(["plan", "--config-from", write_config(tmp_path, GOOD_ADDONS), "-a", "my-app",
                    "--config", f"BANNER={config['BANNER']}",
                    "--config", f"MULTI={config['MULTI']}"])
    assert done.status == 0, done.err
    assert command_lines(done.out) == [] and command_lines(done.err) == []
    assert '+ MULTI="a\\n::error::forged\\nb"' in done.out


@pytest.mark.slow
def test_env_prints_no_runner_command_and_stays_shell_readable(tmp_path: Path) -> None:
    value = "x ##[error]forged\n::error::forged"
    done = run_cli(["env", "--from", write_config(tmp_path, {**GOOD_ADDONS,
                                                             "_APP_CUSTOM_BANNER": value})])
    assert command_lines(done.out) == [] and command_lines(done.err) == []
    line = next(line for line in done.out.splitlines() if line.startswith("_APP_CUSTOM_BANNER="))
    shell = subprocess.run(["bash", "-c", f"{line}; printf %s \"$_APP_CUSTOM_BANNER\""],
                           capture_output=True, text=True, check=True)
    assert shell.stdout == value


def test_action_config_values_never_become_commands(tmp_path: Path) -> None:
    config = "BANNER: 'x ##[error]forged'\n"
    done = run_action(action_env(config=config, build="podman ##[warning]x"), tmp_path)
    assert done.status == 2
    assert set(runner_commands(done.stdout)) <= OUR_COMMANDS
    assert "warning" not in runner_commands(done.stdout)


# -- 4. junk input crashes --------------------------------------------------------------------

def test_plan_config_from_a_binary_file_is_bad_input(tmp_path: Path) -> None:
    path = tmp_path / "binary.json"
    path.write_bytes(b"\xff\xfe\x00binary\x80")
    done = run_cli(["plan", "--config-from", str(path)])
    one_line_exit_2(done)
    assert "not UTF-8" in done.err


@pytest.mark.parametrize("command", [["env", "--from"], ["plan", "--config-from"]])
def test_deeply_nested_json_is_bad_input(tmp_path: Path, command: list[str]) -> None:
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    one_line_exit_2(run_cli([*command, str(path)]))
    path.write_text('{"A": ' + "[" * 100_000 + "]" * 100_000 + "}")
    one_line_exit_2(run_cli([*command, str(path)]))


@pytest.mark.slow  # PyYAML composes 50,000 levels before refusing: seconds of CPU
def test_deeply_nested_yaml_config_is_bad_input() -> None:
    with pytest.raises(InputError):
        parse_config("A: " + "[" * 50_000 + "]" * 50_000)


def test_unparseable_url_in_an_unrelated_var_is_harmless(tmp_path: Path) -> None:
    config = {**GOOD_ADDONS, "SOME_WEBHOOK_URL": "http://[::1", "OTHER_URL": "http://h:99999/"}
    path = write_config(tmp_path, config)
    assert run_cli(["plan", "--config-from", path, "-a", "my-app"]).status == 0
    assert run_cli(["env", "--from", path]).status == 0


def test_unparseable_url_in_action_config_is_not_an_unexpected_error(tmp_path: Path) -> None:
    done = run_action(action_env(config="SOME_WEBHOOK_URL: 'http://[::1'\n"),
                      tmp_path, SkippingClock().clock)
    assert "unexpected" not in done.stdout + done.summary
    assert done.status == 3  # the API URL refuses connections: the run got past the config


# -- 5. silent changes ---------------------------------------------------------------------------

def test_newline_in_database_password_is_refused_not_dropped() -> None:
    with pytest.raises(InputError, match="line break"):
        database.parse_database_url("mysql://u:pa\nss@h.example.com:3306/db", "JAWSDB_URL")
    with pytest.raises(InputError, match="line break"):
        redis.parse_redis_url("rediss://:pa\tss@h.example.com:1", "REDIS_URL")


@pytest.mark.parametrize(("name", "url"), [("REDIS_URL", "redis://:pw@h.example.com:0"),
                                           ("JAWSDB_URL", "mysql://u:pw@h.example.com:0/db")])
def test_port_zero_is_refused_not_replaced_by_the_default(name: str, url: str) -> None:
    with pytest.raises(InputError, match="port 0"):
        settings.derive({**GOOD_ADDONS, name: url} if name == "REDIS_URL"
                        else {"REDIS_URL": ADDON_REDIS_URL, name: url})


# -- 6. unchecked values ---------------------------------------------------------------------

@pytest.mark.parametrize("pair", ["KEY\n=1", "KÉY=1", "K-Y=1", "=1"])
def test_cli_config_key_rule_is_the_actions(tmp_path: Path, pair: str) -> None:
    done = run_cli(["plan", "--config-from", write_config(tmp_path, GOOD_ADDONS), "-a", "my-app",
                    "--config", pair])
    one_line_exit_2(done)
    key = pair.partition("=")[0]
    with pytest.raises(InputError):
        parse_config(json.dumps({key: "1"}))


def test_app_domain_from_config_is_checked_before_it_is_copied(tmp_path: Path) -> None:
    for bad in ("x\n##[error]boom", "https://x.example.com/", "x y.example.com"):
        path = write_config(tmp_path, {**GOOD_ADDONS, "_APP_DOMAIN": bad})
        for argv in (["env", "--from", path], ["plan", "--config-from", path]):
            done = run_cli(argv)
            one_line_exit_2(done)
            assert "_APP_DOMAIN must be a host name" in done.err
    derived = settings.derive({**GOOD_ADDONS, "_APP_DOMAIN": "appwrite.example.com"})
    assert derived.settings["_APP_DOMAIN_TARGET"] == "appwrite.example.com"


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "0", "1e400"])
def test_deploy_refuses_timeouts_that_are_not_finite_positive(value: str) -> None:
    done = run_cli(["deploy", "-a", "my-app", "--health-timeout", value])
    one_line_exit_2(done)
    with pytest.raises(InputError):
        inputs.seconds(value, "input health-timeout")


def test_plan_refuses_a_path_as_app_name(tmp_path: Path) -> None:
    done = run_cli(["plan", "--config-from", write_config(tmp_path, GOOD_ADDONS),
                    "-a", "../../Evil App"])
    one_line_exit_2(done)
    assert "is not a Heroku app name" in done.err


@pytest.mark.parametrize(("name", "value"), [("HEROKU_API_URL", "api.heroku.com"),
                                             ("HEROKU_REGISTRY_URL", "http://[::1"),
                                             ("HEROKU_ROUTER_URL", "http://h/\n##[error]x")])
def test_endpoint_overrides_in_the_environment_are_checked(name: str, value: str) -> None:
    done = run_cli(["plan", "-a", "my-app"], env={"HEROKU_API_KEY": CANARY_API_KEY, name: value})
    one_line_exit_2(done, CANARY_API_KEY)
    assert f"{name} must be an http(s) URL" in done.err


@pytest.mark.parametrize(("name", "value"), [("APPWRITE_LITE_CRASH_LIMIT", "nan"),
                                             ("APPWRITE_LITE_DB_ATTEMPTS", "inf"),
                                             ("APPWRITE_LITE_DB_DELAY", "1e999"),
                                             ("APPWRITE_LITE_BRIDGE_PORT", "0"),
                                             # full-width digits: str.isdigit() says yes
                                             ("APPWRITE_LITE_BRIDGE_PORT", "\uff16\uff13")])
def test_launcher_numbers_must_be_finite_and_in_range(name: str, value: str) -> None:
    from appwrite_heroku.dyno.launcher import Layout

    with pytest.raises(InputError, match=name):
        Layout.from_env({name: value}, "web")


class _PendingThenChanged:
    """A client whose app has a pending release that changes the config: the config read
    after it (the one preflight makes, after waiting) holds a NUL."""

    def __init__(self) -> None:
        self.settled = False

    def get_app(self, app: str) -> dict[str, object]:
        return {"stack": {"name": "container"}, "web_url": f"https://{app}.herokuapp.com/"}

    def config_vars(self, app: str) -> dict[str, str]:
        return {**GOOD_ADDONS, "HAND_SET": "a\0b"} if self.settled else dict(GOOD_ADDONS)

    def newest_release(self, app: str) -> dict[str, object]:
        return {"id": "r1", "version": 1, "status": "succeeded" if self.settled else "pending"}

    def release(self, app: str, release_id: str) -> dict[str, object]:
        self.settled = True
        return {"id": release_id, "version": 1, "status": "succeeded"}

    def formation(self, app: str) -> list[dict[str, object]]:
        return []  # nothing released yet: the record is looked for in the config vars


def test_config_read_after_a_pending_release_is_checked_like_the_first() -> None:
    from appwrite_heroku.release import engine
    from helpers import RecordingReporter

    client = _PendingThenChanged()
    run = engine._Run(engine.DeployOptions(app="my-app"), RecordingReporter(),
                      engine.Endpoints(None, "https://api.heroku.com", "https://r", None),
                      client=client)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="the config vars of my-app: config var HAND_SET"):
        engine._preflight(run, client)  # type: ignore[arg-type]


# -- 7. one readiness, one status -----------------------------------------------------------

def test_jawsdb_placeholder_is_exit_1_for_plan_env_and_deploy(
        tmp_path: Path, heroku_standin: HerokuStandIn) -> None:
    config = {"REDIS_URL": ADDON_REDIS_URL, "JAWSDB_URL": "placeholder (being provisioned)"}
    path = write_config(tmp_path, config)
    assert run_cli(["plan", "--config-from", path]).status == 1
    assert run_cli(["env", "--from", path]).status == 1
    app = make_appwrite_app(heroku_standin, "ready")
    heroku_standin.app(app).config_vars.pop("DATABASE_URL")
    heroku_standin.app(app).config_vars["JAWSDB_URL"] = config["JAWSDB_URL"]
    env = {"HEROKU_API_KEY": CANARY_API_KEY, "HEROKU_API_URL": heroku_standin.url,
           "HEROKU_ROUTER_URL": heroku_standin.router_url}
    plan = run_cli(["plan", "-a", app, "--build", "none"], env=env)
    deploy = run_cli(["deploy", "-a", app, "--build", "none"], env=env)
    dry = run_cli(["deploy", "--dry-run", "-a", app, "--build", "none"], env=env)
    assert (plan.status, deploy.status, dry.status) == (1, 1, 1), (plan.err, deploy.err)
    assert plan.err.splitlines()[-1] == deploy.err.splitlines()[-1]


# -- 8. help and dry-run wording ------------------------------------------------------------

def _help(command: str) -> str:
    return run_cli([command, "--help"]).out


def test_help_lists_only_the_options_each_command_uses() -> None:
    plan, deploy = _help("plan"), _help("deploy")
    for unused in ("--health-timeout", "--release-timeout", "--no-rollback", "--source-dir",
                   "--dry-run"):
        assert unused not in plan
    assert "--config-from" not in deploy and "--config-from" in plan


def test_every_option_has_help_and_its_default() -> None:
    parser = build_parser()
    subparsers = next(action for action in parser._actions if action.dest == "command")
    for name, sub in subparsers.choices.items():  # type: ignore[attr-defined]
        for action in sub._actions:
            if action.dest == "help":
                continue
            assert action.help, f"{name} {action.option_strings or action.dest} has no help"
            if action.option_strings and not action.required:
                assert "default" in action.help, f"{name} {action.option_strings}: no default"


def test_action_dry_run_summary_and_outputs_read_as_a_plan() -> None:
    result = DeployResult(exit_status=0, planned_config_keys=["_APP_DOMAIN"],
                          summary="dry run: 1 config change(s) planned; nothing written")
    text = summary_markdown("my-app", "v1.0.0", result, dry_run=True)
    assert "✅" not in text and "release:" not in text and "dry run" in text
    assert "`_APP_DOMAIN`" in text and "nothing written" in text
    assert runner.outputs_of(result)["changed-config-keys"] == ""
