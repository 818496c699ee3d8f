"""Property tests over every input surface: `env`, `plan`, `deploy` (against the Heroku
stand-in), `launch` (settings stage), `redis-bridge` arguments and the Action's entrypoint with
arbitrary `INPUT_*` values and `GITHUB_REF`.

For any input: the exit status is one docs/reference.md documents, nothing raises (no traceback),
no canary secret is printed outside `--reveal` (raw, repr, JSON or percent-encoded), and no
line of output is a workflow command unless the Action wrote it.

CI runs each with a fixed seed and the example counts below (conftest's "ci" profile);
`APPWRITE_HEROKU_FUZZ=large` multiplies them by `APPWRITE_HEROKU_FUZZ_SCALE` (default 50) with
random seeds.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

from appwrite_heroku.cli import build_parser
from appwrite_heroku.config.appetite import Knobs
from appwrite_heroku.config.user_config import parse_config
from appwrite_heroku.config.wiring import pool_size_override
from appwrite_heroku.dyno import bridge, launcher
from appwrite_heroku.errors import AppwriteHerokuError, InputError
from appwrite_heroku.secrecy import Redactor, config_secrets
from helpers import CANARY_API_KEY, CANARY_GITHUB_TOKEN, make_appwrite_app
from services import Registry
from standins.github import GitHubStandIn
from standins.heroku import HerokuStandIn
from surfaces import (
    command_lines,
    environment,
    forged_commands,
    leaked,
    run_action,
    run_cli,
)

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_CONFIG = ROOT / "examples" / "heroku-config.json"
_SCALE = int(os.environ.get("APPWRITE_HEROKU_FUZZ_SCALE", "50")) if (
    os.environ.get("APPWRITE_HEROKU_FUZZ") == "large") else 1


def fuzz_examples(ci: int) -> int:
    """The CI count for a property, or that times the scale for the large local run."""
    return ci * _SCALE


# -- strategies ---------------------------------------------------------------------------------

# Text a user could type or paste: anything but NUL (no argv or environment can hold it),
# with the characters that broke things before made likely.
_NASTY = ["\n", "\r", "\t", "##[error]FORGED", "::error::FORGED", "::add-mask::", "%0A", "'",
          '"', "\\", "\n::warning::FORGED", " ##[group]FORGED", "::stop-commands::FORGED",
          "@", ":", "/", "[", "]", "=", "#", " ", "é", "\u2028", "\x85", "\x1b[31m", "%"]
any_char = st.characters(blacklist_characters="\0", blacklist_categories=("Cs",))
text = st.lists(st.one_of(st.text(any_char, max_size=6), st.sampled_from(_NASTY)),
                max_size=6).map("".join)
# Undecodable bytes from argv or the environment arrive as lone surrogates.
wild_text = st.one_of(text, st.text(st.characters(blacklist_characters="\0"), max_size=12))

# Secrets: a marker prefix so a leak is unmistakable, then anything.
canary = st.text(st.characters(blacklist_characters="\0*", blacklist_categories=("Cs",)),
                 min_size=5, max_size=14).map(lambda tail: f"Cnry{tail}")

SECRET_NAMES = ["SMTP_PASSWORD", "SMTP_PASSWD", "SENDGRID_API_KEY", "MAILGUN_SMTP_PASSWORD",
                "BUCKETEER_AWS_SECRET_ACCESS_KEY", "CLOUDCUBE_SECRET_ACCESS_KEY",
                "_APP_SMTP_PASSWORD", "_APP_OPENSSL_KEY_V1", "_APP_EXECUTOR_SECRET",
                "_APP_STORAGE_S3_SECRET", "_APP_VCS_GITHUB_PRIVATE_KEY", "MY_TOKEN",
                "_APP_DB_PASS", "_APP_REDIS_PASS", "SOME_CREDENTIALS"]
ADDON_URLS = ["REDIS_URL", "REDISCLOUD_URL", "HEROKU_REDIS_RED_URL", "APPWRITE_REDIS_URL",
              "JAWSDB_MARIA_URL", "JAWSDB_URL", "CLEARDB_DATABASE_URL", "DATABASE_URL"]
PLAIN_NAMES = ["_APP_DOMAIN", "HEROKU_APP_DEFAULT_DOMAIN_NAME", "APPWRITE_LITE_MANAGED",
               "BUCKETEER_AWS_REGION", "BUCKETEER_BUCKET_NAME", "BUCKETEER_AWS_ACCESS_KEY_ID",
               "CLOUDCUBE_URL", "CLOUDCUBE_ACCESS_KEY_ID", "MAILGUN_SMTP_SERVER",
               "MAILGUN_SMTP_PORT", "MAILGUN_SMTP_LOGIN", "MAILGUN_DOMAIN", "SENDGRID_USERNAME",
               "_APP_STORAGE_DEVICE", "_APP_SYSTEM_EMAIL_ADDRESS", "_APP_ENV", "HEROKU_APP_NAME",
               "APPWRITE_LITE_RELEASE", "_APP_REDIS_HOST", "_APP_DB_HOST", "_APP_CPU_NUM"]


def rarely(junk: st.SearchStrategy[str], valid: st.SearchStrategy[str],
           one_in: int = 10) -> st.SearchStrategy[str]:
    """Junk one time in `one_in`: a config with a dozen entries must sometimes be all valid."""
    # Hypothesis favours small integers: the junk is on the large side.
    return st.integers(1, one_in).flatmap(lambda roll: junk if roll == one_in else valid)


config_name = rarely(text, st.one_of(st.sampled_from(PLAIN_NAMES + ADDON_URLS),
                                     st.from_regex(r"\A[A-Z_][A-Z0-9_]{0,20}\Z")))
# A password an add-on really hands out (Appwrite 1.9.6 cannot carry @ : / ? # [ ] , = + %).
safe_canary = st.from_regex(r"\A[A-Za-z0-9_.~-]{5,14}\Z").map(lambda tail: f"Cnry{tail}")
scheme = st.sampled_from(["redis", "rediss", "mysql", "mariadb", "postgres", "sms", "https",
                          "sentry", "ftp", "http"])
host = st.one_of(st.sampled_from(["h.example.com", "127.0.0.1", "[::1]", "hostname",
                                  "ec2-1-2-3-4.compute-1.amazonaws.com", "[::1", ""]), text)
port = st.one_of(st.just(""), st.integers(0, 70000).map(lambda n: f":{n}"), text.map(":{}".format))
path = st.one_of(st.sampled_from(["", "/", "/0", "/db", "/appwrite?reconnect=true"]), text)


@st.composite
def secret_entry(draw: st.DrawFn) -> tuple[str, str, str]:
    """(name, value, the canary it holds) with the canary where the rules call it secret:
    under a secret name, as a URL's password or key, or as a credential parameter."""
    form = draw(st.sampled_from(["named", "url", "key-url", "param", "redis", "database"]))
    if form == "redis":
        secret = draw(safe_canary)
        name = draw(st.sampled_from(["REDIS_URL", "REDISCLOUD_URL", "HEROKU_REDIS_RED_URL"]))
        return name, f"rediss://:{secret}@ec2-1-2-3-4.compute-1.amazonaws.com:12345", secret
    if form == "database":
        secret = draw(safe_canary)
        name = draw(st.sampled_from(["JAWSDB_MARIA_URL", "JAWSDB_URL", "CLEARDB_DATABASE_URL"]))
        return name, f"mysql://u1x2:{secret}@abc.rds.amazonaws.com:3306/db1", secret
    secret = draw(canary)
    if form == "named":
        return draw(st.sampled_from(SECRET_NAMES)), secret, secret
    if form == "param":
        return draw(config_name), f"host=db;password={quote(secret, safe='')}", secret
    user = draw(st.sampled_from(["", "u", "h", "user"]))
    info = quote(secret, safe="") if form == "key-url" else f"{user}:{quote(secret, safe='')}"
    name = draw(st.one_of(st.sampled_from(ADDON_URLS), config_name))
    value = f"{draw(scheme)}://{info}@{draw(host)}{draw(port)}{draw(path)}"
    return name, value, secret


plain_entry = st.tuples(config_name, st.one_of(text, st.builds(
    lambda s, h, p, q: f"{s}://{h}{p}{q}", scheme, host, port, path)), st.none())


@st.composite
def config_with_canaries(draw: st.DrawFn) -> tuple[dict[str, str], list[str]]:
    entries = draw(st.lists(st.one_of(secret_entry(), plain_entry), max_size=8))
    if draw(st.integers(0, 3)) < 3:  # usually an app as the Deploy button leaves it, plus extras
        entries = [
            ("REDIS_URL", f"rediss://:{(r := draw(safe_canary))}@ec2-1-2.amazonaws.com:1", r),
            ("JAWSDB_MARIA_URL", f"mysql://u:{(d := draw(safe_canary))}@h.rds.com:3306/db", d),
            *entries]
    config: dict[str, str] = {}
    secrets: dict[str, str] = {}
    for name, value, secret in entries:
        config[name] = value
        if secret is not None:
            secrets[name] = secret
        else:
            secrets.pop(name, None)
    return config, list(secrets.values())


json_document = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), text),
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(text, inner, max_size=4)),
    max_leaves=12)


# -- checks -----------------------------------------------------------------------------------


def check_cli(done: object, secrets: list[str], statuses: set[int], *,
              reveal: bool = False) -> None:
    status, out, err = done.status, done.out, done.err  # type: ignore[attr-defined]
    event(f"exit status {status}")
    assert status in statuses, (status, out, err)
    assert "Traceback" not in out + err
    (out + err).encode("utf-8")  # what a real terminal or pipe must be able to take
    assert command_lines(out) == [], out
    assert command_lines(err) == [], err
    assert leaked(err if reveal else out + err, secrets) == []
    if status == 2:
        errors = [line for line in err.splitlines()
                  if re.match(r"appwrite-heroku( [a-z-]+)?: error: ", line)]
        assert len(errors) == 1 and err.splitlines()[-1] == errors[0], err


@contextlib.contextmanager
def config_file(content: bytes) -> Iterator[str]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.json"
        path.write_bytes(content)
        yield str(path)


def _json_bytes(config: dict[str, str]) -> bytes:
    return json.dumps(config).encode()


# -- env ----------------------------------------------------------------------------------------

@settings(max_examples=fuzz_examples(80))
@given(config_with_canaries(), st.booleans(), st.booleans(),
       st.one_of(st.none(), rarely(text, st.just("my-app.herokuapp.com"), 4)),
       st.one_of(st.none(), rarely(st.one_of(st.integers(-5, 70000).map(str), text),
                                   st.integers(1, 65535).map(str), 4)))
def test_env_any_config(case: tuple[dict[str, str], list[str]], as_json: bool, reveal: bool,
                        hostname: str | None, bridge_port: str | None) -> None:
    config, secrets = case
    with config_file(_json_bytes(config)) as path:
        argv = ["env", "--from", path]
        argv += ["--json"] if as_json else []
        argv += ["--reveal"] if reveal else []
        argv += ["--hostname", hostname] if hostname is not None else []
        argv += ["--bridge-port", bridge_port] if bridge_port is not None else []
        check_cli(run_cli(argv), secrets, {0, 1, 2}, reveal=reveal)


@settings(max_examples=fuzz_examples(40))
@given(st.one_of(st.binary(max_size=64), json_document.map(lambda d: json.dumps(d).encode()),
                 st.integers(1, 5000).map(lambda n: b'{"A":' + b"[" * n + b"]" * n + b"}")),
       st.sampled_from([["env", "--from"], ["plan", "--config-from"]]))
def test_env_and_plan_any_file(content: bytes, command: list[str]) -> None:
    with config_file(content) as path:
        check_cli(run_cli([*command, path]), [], {0, 1, 2})


# -- plan ---------------------------------------------------------------------------------------

# The whole numbers a user sets for Appwrite's sizing, the bridge and the pooler: digits that
# are not ASCII ("²", "٣", fullwidth ones) pass str.isdigit(); each is refused in one line.
number_text = st.one_of(
    st.sampled_from(["1", "2", "8", "0", "-1", "2.5", "²", "٣", "\uff11\uff12", "1²", " 4 "]),
    st.text(st.characters(whitelist_categories=("Nd", "No")), min_size=1, max_size=4), text)
sizing_vars = st.fixed_dictionaries({}, optional={
    **{name: number_text
       for name in ("_APP_WORKER_PER_CORE", "_APP_WORKERS_NUM", "_APP_CPU_NUM",
                    "_APP_POOL_CLIENTS", "_APP_CONNECTIONS_MAX", "_APP_WORKER_MAX_COROUTINES",
                    "APPWRITE_REDIS_BRIDGE_MAX_UPSTREAM", "APPWRITE_LITE_PG_POOL_SIZE",
                    "APPWRITE_LITE_QUEUE_SLOTS", "APPWRITE_LITE_QUEUE_IDLE")},
    "APPWRITE_LITE_QUEUE_MODE": st.one_of(st.sampled_from(["on-demand", "always-on", "On"]),
                                          text)})


@settings(max_examples=fuzz_examples(60))
@given(sizing_vars, st.sampled_from(["multiplex", "plain", ""]))
def test_plan_any_sizing_numbers(numbers: dict[str, str], mode: str) -> None:
    config = {**json.loads(EXAMPLE_CONFIG.read_text()), **numbers,
              "APPWRITE_REDIS_BRIDGE_MODE": mode}
    with config_file(_json_bytes(config)) as path:
        check_cli(run_cli(["plan", "--config-from", path]), [], {0, 1, 2})



def mostly(valid: st.SearchStrategy[str], junk: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Valid three times in four, so that examples also get past the first check."""
    return st.integers(0, 3).flatmap(lambda roll: junk if roll == 3 else valid)


app_name = mostly(st.sampled_from(["my-app", "appwrite-prod"]), wild_text)
flag_names = ["--app", "--tag", "--tag-pattern", "--commit", "--appwrite-version", "--build"]
tag = mostly(st.sampled_from(["v1.0.0", "v2.0.0-rc.1", "v0.9.0"]), wild_text)
config_pair = st.one_of(
    secret_entry().map(lambda e: (f"{e[0]}={e[1]}", e[2])),
    st.tuples(st.builds("{}={}".format, st.from_regex(r"\A[A-Z_][A-Z0-9_]{0,20}\Z"), text),
              st.none()),
    st.tuples(mostly(st.builds("{}={}".format, config_name, text), wild_text), st.none()))


@st.composite
def plan_arguments(draw: st.DrawFn) -> tuple[list[str], list[str]]:
    """Every option `plan` offers (and some it does not), each valid or not."""
    argv: list[str] = []
    secrets: list[str] = []
    corrupt = draw(st.sets(st.sampled_from(flag_names), min_size=1, max_size=2)) if draw(
        st.integers(0, 2)) == 2 else set()
    for flag, valid, junk in (
            ("--app", st.sampled_from(["my-app", "appwrite-prod"]), wild_text),
            ("--tag", st.sampled_from(["v1.0.0", "v2.0.0-rc.1", "v0.9.0"]), wild_text),
            ("--tag-pattern", st.just("v*"), text),
            ("--commit", st.just("abc1234"), wild_text),
            ("--appwrite-version", st.just("1.9.6"), wild_text),
            ("--build", st.sampled_from(["docker", "none"]), text)):
        if flag in corrupt:
            argv += [flag, draw(junk)]
        elif draw(st.booleans()):
            argv += [flag, draw(valid)]
    for pair, secret in draw(st.lists(config_pair, max_size=3)):
        argv += ["--config", pair]
        if secret is not None:
            secrets.append(secret)
    if draw(st.booleans()):
        argv.append("--force")
    if draw(st.integers(0, 9)) == 9:
        argv += [draw(st.sampled_from(["--health-timeout", "--dry-run", "--bogus"])), "nan"]
    return argv, secrets


@settings(max_examples=fuzz_examples(80))
@given(config_with_canaries(), plan_arguments())
def test_plan_any_config_and_options(case: tuple[dict[str, str], list[str]],
                                     arguments: tuple[list[str], list[str]]) -> None:
    config, secrets = case
    argv, option_secrets = arguments
    with config_file(_json_bytes(config)) as path:
        done = run_cli(["plan", "--config-from", path, *argv])
    check_cli(done, secrets + option_secrets, {0, 1, 2})


# -- deploy against the Heroku stand-in ---------------------------------------------------------

@pytest.fixture
def deploy_app(heroku_standin: HerokuStandIn) -> str:
    return make_appwrite_app(heroku_standin, "prop")


@settings(max_examples=fuzz_examples(20))
@given(config_with_canaries(), plan_arguments(), st.booleans(),
       st.sampled_from([CANARY_API_KEY, "wrong-key-0000-canary", "k\nnewline", "kéy"]))
def test_deploy_any_config_and_options(heroku_standin: HerokuStandIn, registry: Registry,
                                       deploy_app: str,
                                       case: tuple[dict[str, str], list[str]],
                                       arguments: tuple[list[str], list[str]], dry_run: bool,
                                       key: str) -> None:
    config, secrets = case
    argv, option_secrets = arguments
    app = heroku_standin.app(deploy_app)
    base = {k: v for k, v in app.config_vars.items() if k in ("REDIS_URL", "JAWSDB_MARIA_URL")}
    app.config_vars = {**base, **config}
    releases = len(app.releases)
    # `--build none` with no image pushed: the run ends before any write unless it is refused
    # earlier; every path up to there is exercised.
    if "--app" not in argv:
        argv = ["--app", deploy_app, *argv]
    elif argv[argv.index("--app") + 1] in ("my-app", "appwrite-prod"):
        argv[argv.index("--app") + 1] = deploy_app
    if "--build" in argv:
        argv[argv.index("--build") + 1] = "none"
    else:
        argv += ["--build", "none"]
    command = ["deploy", *(["--dry-run"] if dry_run else []), *argv]
    done = run_cli(command, env={"HEROKU_API_KEY": key, "HEROKU_API_URL": heroku_standin.url,
                                 "HEROKU_ROUTER_URL": heroku_standin.router_url,
                                 "HEROKU_REGISTRY_URL": registry.url})
    check_cli(done, [*secrets, *option_secrets, CANARY_API_KEY, "wrong-key-0000-canary"],
              {0, 1, 2, 3})
    assert len(app.releases) == releases  # nothing was released from a refused input


@st.composite
def promote_arguments(draw: st.DrawFn, staging: str, production: str
                      ) -> tuple[list[str], list[str]]:
    """Every option `promote` offers (and some it does not), each valid or not."""
    argv: list[str] = []
    secrets: list[str] = []
    for flag, valid, junk in (
            ("--from", st.sampled_from([staging, production, "no-such-app"]), wild_text),
            ("--to", st.sampled_from([production, staging]), wild_text),
            ("--tag", st.sampled_from(["v1.0.0", "v2.0.0-rc.1"]), wild_text),
            ("--tag-pattern", st.just("v*"), text),
            ("--commit", st.just("abc1234"), wild_text)):
        roll = draw(st.integers(0, 5))
        if roll == 5:
            argv += [flag, draw(junk)]
        elif roll or flag == "--from":
            argv += [flag, draw(valid)]
    for pair, secret in draw(st.lists(config_pair, max_size=2)):
        argv += ["--config", pair]
        if secret is not None:
            secrets.append(secret)
    for flag in ("--force", "--dry-run", "--no-rollback"):
        if draw(st.booleans()):
            argv.append(flag)
    if draw(st.integers(0, 9)) == 9:
        argv += [draw(st.sampled_from(["--health-timeout", "--build", "--bogus"])), "nan"]
    return argv, secrets


@pytest.fixture
def staging_app(heroku_standin: HerokuStandIn) -> str:
    return make_appwrite_app(heroku_standin, "stg")


@settings(max_examples=fuzz_examples(15))
@given(st.data())
def test_promote_any_options(heroku_standin: HerokuStandIn, registry: Registry,
                             deploy_app: str, staging_app: str, data: st.DataObject) -> None:
    """Two apps that run nothing yet: every promotion between them is refused, with one line,
    before anything is written to either."""
    argv, secrets = data.draw(promote_arguments(staging_app, deploy_app))
    requests = len(heroku_standin.requests)
    done = run_cli(["promote", *argv], env={
        "HEROKU_API_KEY": CANARY_API_KEY, "HEROKU_API_URL": heroku_standin.url,
        "HEROKU_ROUTER_URL": heroku_standin.router_url, "HEROKU_REGISTRY_URL": registry.url})
    check_cli(done, [*secrets, CANARY_API_KEY], {1, 2})
    assert [r for r in heroku_standin.requests[requests:] if r.method != "GET"] == []


# -- launch: the settings stage -------------------------------------------------------------------

launch_numbers = st.fixed_dictionaries({}, optional={
    name: st.one_of(st.sampled_from(["1", "0", "nan", "inf", "-3", "1e999", "6379"]), wild_text)
    for name in ("APPWRITE_LITE_BRIDGE_PORT", "APPWRITE_LITE_DB_ATTEMPTS", "APPWRITE_LITE_DB_DELAY",
                 "APPWRITE_LITE_CRASH_LIMIT", "APPWRITE_LITE_CRASH_WINDOW",
                 "APPWRITE_LITE_REALTIME_IDLE")})


@settings(max_examples=fuzz_examples(80))
@given(config_with_canaries(), launch_numbers,
       st.sampled_from(["web", "worker", "all", "release"]))
def test_launch_settings_stage_any_environment(case: tuple[dict[str, str], list[str]],
                                               numbers: dict[str, str], role: str) -> None:
    config, secrets = case
    environ = {**config, **numbers}
    redactor = Redactor(config_secrets(environ))  # as the launcher builds its own
    log = launcher.Log(redactor)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            layout = launcher.Layout.from_env(environ, role)
            launcher.derive_settings(environ, layout, log)
            message = ""
        except AppwriteHerokuError as error:
            message = str(error)
    printed = out.getvalue()
    printed.encode("utf-8")
    assert leaked(printed + message, secrets) == []
    assert command_lines(printed) == []
    assert "\n" not in message


# -- redis-bridge arguments ---------------------------------------------------------------------

@settings(max_examples=fuzz_examples(80))
@given(st.one_of(st.sampled_from(["127.0.0.1:0", "[::1]:6380", "localhost:1", "0.0.0.0:1"]),
                 wild_text),
       st.one_of(st.none(), secret_entry().map(lambda e: (e[1], e[2])),
                 st.tuples(wild_text, st.none())),
       st.one_of(st.none(), st.sampled_from(["/nonexistent.pem", "/etc/hostname"]), wild_text),
       st.booleans())
def test_redis_bridge_any_arguments(listen: str, upstream: tuple[str, str | None] | None,
                                    ca_file: str | None, in_env: bool) -> None:
    argv = ["redis-bridge", "--listen", listen]
    environ: dict[str, str] = {}
    secrets = [upstream[1]] if upstream and upstream[1] else []
    if upstream is not None:
        if in_env:
            environ[bridge.UPSTREAM_ENV] = upstream[0]
        else:
            argv += ["--upstream", upstream[0]]
    if ca_file is not None:
        argv += ["--ca-file", ca_file]
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as done:
            assert done.code == 2
            assert len(err.getvalue().strip().splitlines()) == 1
            assert leaked(err.getvalue(), secrets) == []
            return
    try:
        bridge.check_arguments(args, environ)
    except InputError as error:
        message = str(error)
        assert "\n" not in message and leaked(message, secrets) == []
        assert command_lines(f"appwrite-heroku: error: {message}") == [] or (
            "##[" not in message and not message.startswith("::"))


# -- the Action ---------------------------------------------------------------------------------

def _yaml_config(entries: list[tuple[str, str, str | None]]) -> str:
    return "".join(f"{json.dumps(name, ensure_ascii=False)}: "
                   f"{json.dumps(value, ensure_ascii=False)}\n" for name, value, _ in entries)


# Each input: (valid values, junk). An example corrupts at most two inputs, so that every
# input's junk is met both alone and past the others' checks.
true_false = st.sampled_from(["true", "false"])
action_input: dict[str, tuple[st.SearchStrategy[str], st.SearchStrategy[str]]] = {
    "app": (st.just("my-app"), st.one_of(st.just(""), wild_text)),
    "heroku-api-key": (st.just(CANARY_API_KEY), st.one_of(st.just(""), wild_text)),
    "github-token": (st.sampled_from([CANARY_GITHUB_TOKEN, ""]), wild_text),
    "build": (st.just("none"), text),
    "dry-run": (true_false, text),
    "force": (true_false, text),
    "rollback": (true_false, text),
    "health-timeout": (st.just("10"), st.one_of(st.sampled_from(["nan", "0", "3601"]), text)),
    "appwrite-version": (st.just("1.9.6"), text),
    "tag-pattern": (st.just("v*"), text),
    "environment": (st.just("production"), wild_text),
    "promote-from": (st.just(""), wild_text),
}


@st.composite
def action_case(draw: st.DrawFn) -> tuple[dict[str, str], list[str]]:
    env: dict[str, str] = {}
    corrupt = draw(st.sets(st.sampled_from(sorted(action_input)), min_size=1, max_size=2)) if (
        draw(st.integers(0, 2)) == 2) else set()
    for name, (valid, junk) in action_input.items():
        if name in corrupt:
            env[f"INPUT_{name.upper()}"] = draw(junk)
        elif name in ("app", "heroku-api-key") or draw(st.booleans()):
            env[f"INPUT_{name.upper()}"] = draw(valid)
    entries = draw(st.lists(st.one_of(secret_entry(), plain_entry), max_size=5))
    env["INPUT_CONFIG"] = draw(rarely(wild_text, st.one_of(
        st.just(_yaml_config(entries)), st.just("\n".join(f"{n}={v}" for n, v, _ in entries)))))
    env["GITHUB_REF"] = draw(rarely(st.one_of(text.map("refs/tags/{}".format), wild_text),
                                    st.sampled_from(["refs/tags/v1.0.0", "refs/heads/main"]),
                                    one_in=5))
    secrets = [secret for _, _, secret in entries if secret is not None]
    return env, secrets


@settings(max_examples=fuzz_examples(25))
@given(action_case(), st.integers(0, 3).map(lambda roll: roll < 3))
def test_action_any_inputs_and_ref(heroku_standin: HerokuStandIn, github: GitHubStandIn,
                                   registry: Registry,
                                   deploy_app: str, tmp_path: Path,
                                   case: tuple[dict[str, str], list[str]],
                                   real_app: bool) -> None:
    env, secrets = case
    if real_app:
        env["INPUT_APP"] = deploy_app
    if env.get("INPUT_DRY-RUN") != "true":
        env["INPUT_BUILD"] = "none"  # a real run builds nothing here (no image: no release)
    env.update({"HEROKU_API_URL": heroku_standin.url,
                "HEROKU_ROUTER_URL": heroku_standin.router_url,
                "HEROKU_REGISTRY_URL": registry.url,
                "GITHUB_API_URL": github.url, "GITHUB_REPOSITORY": github.repository,
                "GITHUB_RUN_ID": "1", "GITHUB_SHA": "0123abc0123abc0123abc0123abc0123abc0123",
                "GITHUB_WORKSPACE": str(tmp_path)})
    app = heroku_standin.app(deploy_app)
    releases = len(app.releases)
    done = run_action(env, tmp_path)
    event(f"exit status {done.status}")
    assert done.status in (0, 1, 2, 3)
    assert "unexpected" not in done.stdout + done.summary  # a defect, not an input problem
    assert forged_commands(done.stdout) == [], done.stdout
    printed = "\n".join(line for line in done.stdout.splitlines()
                        if not line.startswith("::add-mask::"))
    assert leaked(printed + done.outputs + done.summary, [*secrets, CANARY_API_KEY,
                                                          CANARY_GITHUB_TOKEN]) == []
    assert len(app.releases) == releases  # build none, no image pushed: nothing released


# -- a few runs as real processes (what the shell and the runner see) --------------------------

@pytest.mark.slow
@settings(max_examples=fuzz_examples(4))
@given(config_with_canaries(), st.sampled_from(["env", "plan"]))
def test_cli_as_a_process(case: tuple[dict[str, str], list[str]], command: str) -> None:
    config, secrets = case
    flag = "--from" if command == "env" else "--config-from"
    with config_file(_json_bytes(config)) as path:
        done = subprocess.run([sys.executable, "-m", "appwrite_heroku", command, flag, path],
                              capture_output=True, timeout=60, cwd=ROOT,
                              env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
    out, err = done.stdout.decode("utf-8"), done.stderr.decode("utf-8")
    check_cli(argparse.Namespace(status=done.returncode, out=out, err=err), secrets, {0, 1, 2})


def _encodable(env: dict[str, str]) -> bool:
    try:
        for value in env.values():
            os.fsencode(value)
    except UnicodeEncodeError:
        return False
    return True


@settings(max_examples=fuzz_examples(3))
@given(action_case())
def test_action_as_a_process(heroku_standin: HerokuStandIn, tmp_path: Path,
                             case: tuple[dict[str, str], list[str]]) -> None:
    env, secrets = case
    assume(_encodable(env))
    env = {**env, "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "HEROKU_API_URL": heroku_standin.url, "INPUT_DRY-RUN": "true",
           "GITHUB_OUTPUT": str(tmp_path / "out"), "GITHUB_STEP_SUMMARY": str(tmp_path / "sum")}
    with environment({}):
        done = subprocess.run([sys.executable, str(ROOT / "entrypoint.py")], capture_output=True,
                              timeout=120, cwd=tmp_path, env=env)
    out, err = done.stdout.decode("utf-8"), done.stderr.decode("utf-8")
    assert done.returncode in (0, 1, 2, 3) and err == "", err
    assert forged_commands(out) == [], out
    printed = "\n".join(line for line in out.splitlines() if not line.startswith("::add-mask::"))
    assert leaked(printed, [*secrets, CANARY_API_KEY]) == []


# -- budget: formations Heroku accepts ----------------------------------------------------------

_ALTERNATIVE = re.compile(r"((?:web|worker|all)=[a-z0-9.-]+(?:,(?:web|worker)=[a-z0-9.-]+)*) "
                          r"\(\$[^;]*; ((?:`[^`]+`(?: then )?)+)\)")
_COMMANDS = re.compile(r"`heroku ps:(type|scale) ([^`]+)`")


def _applied(formation: dict[str, str], commands: str) -> dict[str, str]:
    """The formation after the `heroku ps:type`/`ps:scale worker=1:SIZE` commands advised."""
    from appwrite_heroku.config import budget

    result = dict(formation)
    for verb, assignments in _COMMANDS.findall(commands):
        for item in assignments.split():
            kind, _, value = item.partition("=")
            role = "all" if kind == "web" and "all" in result else kind
            result[role] = value.split(":")[-1] if verb == "scale" else value
    budget.parse_formation(",".join(f"{r}={s}" for r, s in result.items()))  # still a formation
    return result


@st.composite
def formations(draw: st.DrawFn) -> str:
    from appwrite_heroku.config import plans as plan_table

    names = sorted(plan_table.DYNO_SIZES)
    roles = draw(st.sampled_from([("web", "worker"), ("all",), ("web",)]))
    return ",".join(f"{role}={draw(st.sampled_from(names))}" for role in roles)


@settings(max_examples=fuzz_examples(40), deadline=None)
@given(formations(), st.sampled_from(["", "minimal"]),
       st.sampled_from([("heroku-redis:mini", "heroku-postgresql:essential-0"),
                        ("heroku-redis:mini", "jawsdb-maria:kitefin"),
                        ("heroku-redis:premium-2", "heroku-postgresql:essential-2")]))
def test_budget_accepts_one_tier_or_refuses_naming_one(formation: str, skip: str,
                                                        plans: tuple[str, str]) -> None:
    """Any formation drawn from the known sizes: `budget` accepts it only when Heroku would
    (one tier), else refuses with exit 1 naming a formation of one tier with its price; and
    whatever it advises — a formation to use, or commands to run — never mixes tiers."""
    from appwrite_heroku.config import budget
    from appwrite_heroku.config import plans as plan_table

    argv = ["budget", "--formation", formation, "--redis-plan", plans[0], "--db-plan", plans[1]]
    argv += ["--skip", ",".join(budget.MINIMAL_SKIP)] if skip else []
    done = run_cli(argv)
    assert done.status in (0, 1) and done.err == "", done.text
    asked = {s.role: s.size.name for s in budget.parse_formation(formation)}
    one_tier = plan_table.accepted(plan_table.dyno_size(s) for s in asked.values())
    event(f"one tier: {one_tier}, status {done.status}")
    if done.status == 0:
        assert one_tier
        return
    advice = done.out.splitlines()[-1]
    alternatives = _ALTERNATIVE.findall(advice)
    if not one_tier:
        assert "which Heroku refuses (\"cannot mix\")" in done.out
        assert alternatives, advice  # a valid formation is always named, with its price
    for named, commands in alternatives:
        named_sizes = dict(item.split("=") for item in named.split(","))
        assert plan_table.accepted(plan_table.dyno_size(s) for s in named_sizes.values())
        assert _applied(asked, commands) == named_sizes, advice
    rest = _ALTERNATIVE.sub("", advice)
    result = _applied(asked, rest)
    if not alternatives and result != asked:
        assert plan_table.accepted(plan_table.dyno_size(s) for s in result.values()), advice


# -- the classes of issue 19: long values, names twice, space around, number bounds ------------

MB = 1 << 20
ANSWER_WITHIN = 10.0  # seconds for any surface to answer 1 MB (it takes well under one)
# Shapes that made a recogniser backtrack once (runs of scheme characters, user info, a
# parameter name, a PEM header), and text: repeated to 1 MB.
long_value = st.tuples(
    st.one_of(st.sampled_from(["a", "ab+c.d-e://", "a://u:p", "?password", "-----BEGIN A",
                               "Héllo ", "\\", "%0A", "x@"]), text.filter(bool)),
    st.integers(MB, MB + 64)).map(lambda pair: (pair[0] * (pair[1] // len(pair[0]) + 1))[
        :pair[1]])


def timed(call: object) -> tuple[object, float]:
    start = time.monotonic()
    answer = call()  # type: ignore[operator]
    return answer, time.monotonic() - start


@settings(max_examples=fuzz_examples(12))
@given(long_value, st.sampled_from(["env-file", "plan-file", "plan-config", "bridge-env",
                                    "bridge-arg", "launch"]))
def test_a_1_mb_value_is_answered_at_once_on_every_surface(value: str, surface: str) -> None:
    """Every surface the user feeds refuses 1 MB at once (the size limits). A dyno's own
    environment is Heroku's (at most 32 KB), yet its recognisers scan 1 MB in linear time."""
    event(surface)
    if surface == "launch":
        environ = {**json.loads(EXAMPLE_CONFIG.read_text()), "NOTE": value, "A_URL": value}

        def boot() -> object:
            log = launcher.Log(Redactor(config_secrets(environ)))
            with contextlib.redirect_stdout(io.StringIO()):
                return launcher.derive_settings(environ, launcher.Layout.from_env(environ,
                                                                                  "worker"), log)
        _, took = timed(boot)
    elif surface.startswith(("env", "plan-file")):
        command = ["env", "--from"] if surface == "env-file" else ["plan", "--config-from"]
        with config_file(_json_bytes({"NOTE": value})) as path:
            done, took = timed(lambda: run_cli([*command, path]))
        check_cli(done, [], {2})
    elif surface == "plan-config":
        done, took = timed(lambda: run_cli(["plan", "--config-from", str(EXAMPLE_CONFIG),
                                            "--config", f"NOTE={value}"]))
        check_cli(done, [], {2})
    else:
        in_env = surface == "bridge-env"
        args = argparse.Namespace(listen="127.0.0.1:6399", upstream=None if in_env else value,
                                  ca_file=None, mode=None, max_upstream=None)
        environ = {bridge.UPSTREAM_ENV: value} if in_env else {}
        with pytest.raises(InputError) as caught:
            _, took = timed(lambda: bridge.check_arguments(args, environ))
        took = 0.0
        assert "32 KB" in str(caught.value) and len(str(caught.value)) < 400
    assert took < ANSWER_WITHIN


@settings(max_examples=fuzz_examples(4))
@given(long_value, st.sampled_from(["dotenv", "yaml"]))
def test_the_actions_1_mb_config_is_bad_input_at_once(tmp_path_factory: pytest.TempPathFactory,
                                                      value: str, form: str) -> None:
    body = f"NOTE={value}" if form == "dotenv" else f"NOTE: {json.dumps(value)}"
    env = {"INPUT_APP": "my-app", "INPUT_HEROKU-API-KEY": CANARY_API_KEY, "INPUT_CONFIG": body,
           "INPUT_DRY-RUN": "true", "HEROKU_API_URL": "http://127.0.0.1:9"}
    done, took = timed(lambda: run_action(env, tmp_path_factory.mktemp("big")))
    assert done.status == 2 and took < ANSWER_WITHIN  # type: ignore[attr-defined]


@settings(max_examples=fuzz_examples(40))
@given(st.lists(st.tuples(st.from_regex(r"\A[A-Z_][A-Z0-9_]{0,8}\Z"), text), min_size=1,
                max_size=5), st.data(),
       st.sampled_from(["json", "config-twice", "dotenv", "yaml"]))
def test_a_name_given_twice_is_refused_on_every_surface(entries: list[tuple[str, str]],
                                                       data: st.DataObject, form: str) -> None:
    """Whatever the names and values, a repeated name is refused, never settled by order."""
    name, _ = data.draw(st.sampled_from(entries))
    entries = [*entries, (name, data.draw(text))]
    if form == "json":
        body = "{" + ", ".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in entries) + "}"
        with config_file(body.encode("utf-8", "surrogatepass")) as path:
            check_cli(run_cli(["env", "--from", path]), [], {2})
    elif form == "config-twice":
        argv = ["plan", "--config-from", str(EXAMPLE_CONFIG)]
        for key, val in entries:
            argv += ["--config", f"{key}={val}"]
        check_cli(run_cli(argv), [], {2})
    else:
        lines = [f"{k}={json.dumps(v)}" if form == "dotenv" else f"{k}: {json.dumps(v)}"
                 for k, v in entries]
        with pytest.raises(InputError):
            parse_config("\n".join(lines), "input config")


@settings(max_examples=fuzz_examples(40))
@given(st.sampled_from(["REDIS_URL", "JAWSDB_MARIA_URL", "DATABASE_URL"]),
       st.sampled_from([" ", "\r", "\n", "\t", "\r\n", "\u00a0", "\u2028", " \n"]),
       st.sampled_from(["before", "after", "both"]), safe_canary)
def test_space_or_cr_around_an_addon_url_is_refused(name: str, space: str, where: str,
                                                    secret: str) -> None:
    url = (f"rediss://:{secret}@ec2-1-2.amazonaws.com:1" if name == "REDIS_URL"
           else f"mysql://u:{secret}@h.rds.com:3306/db" if name.startswith("JAWSDB")
           else f"postgres://u:{secret}@h.compute-1.amazonaws.com:5432/db")
    value = {"before": space + url, "after": url + space, "both": space + url + space}[where]
    config = {**json.loads(EXAMPLE_CONFIG.read_text()), name: value}
    with config_file(_json_bytes(config)) as path:
        done = run_cli(["env", "--from", path])
    check_cli(done, [secret], {2})
    assert name in done.err


@settings(max_examples=fuzz_examples(30))
@given(st.sampled_from([" ", "\n", "\r", "\t", "\r\n"]), st.sampled_from(["before", "after"]))
def test_space_around_heroku_api_key_is_refused(space: str, where: str) -> None:
    key = space + CANARY_API_KEY if where == "before" else CANARY_API_KEY + space
    done = run_cli(["plan", "-a", "my-app"], env={"HEROKU_API_KEY": key,
                                                  "HEROKU_API_URL": "http://127.0.0.1:9"})
    check_cli(done, [CANARY_API_KEY], {2})
    assert "HEROKU_API_KEY" in done.err


# Numbers: what a reader types, what another script prints, and what only Python reads
# (Arabic-Indic and fullwidth digits, which int() and float() take as ASCII ones).
_OTHER_DIGITS = [str.maketrans("0123456789", "".join(chr(zero + n) for n in range(10)))
                 for zero in (0x0660, 0xFF10)]


def _spelled(number: int) -> st.SearchStrategy[str]:
    plain = str(number)
    underscored = f"{plain[:1]}_{plain[1:]}" if len(plain) > 1 else f"{plain}_0"
    return st.sampled_from([plain, f"{plain}.0", "0" + plain, underscored, f" {plain}",
                            f"{plain}\n", *(plain.translate(table) for table in _OTHER_DIGITS),
                            f"{plain}e0", f"+{plain}", f"-{plain}"])


def _ascii_whole(text: str) -> bool:
    return re.fullmatch(r"[0-9]+", text, re.ASCII) is not None


bound_cases = st.sampled_from([
    # (how it is given, low, high)
    ("--max-upstream", 2, 10_000), ("_APP_CONNECTIONS_MAX", 1, 100_000),
    ("_APP_CPU_NUM", 1, 256), ("_APP_WORKER_PER_CORE", 1, 256),
    ("_APP_POOL_CLIENTS", 1, 1_000), ("APPWRITE_LITE_PG_POOL_SIZE", 1, 1_000),
    ("APPWRITE_LITE_DB_ATTEMPTS", 1, 10_000), ("PORT", 1, 65_535)])


@settings(max_examples=fuzz_examples(120))
@given(bound_cases, st.data())
def test_every_count_is_read_by_one_rule_with_its_bounds(case: tuple[str, int, int],
                                                         data: st.DataObject) -> None:
    """A count is taken exactly when it is ASCII digits within its bounds: at, inside and just
    beyond each bound, with the spellings float() or int() would also read."""
    name, low, high = case
    number = data.draw(st.one_of(st.sampled_from([low - 1, low, high, high + 1, 10 ** 39]),
                                 st.integers(low - 5, high + 5)))
    spelled = data.draw(st.one_of(_spelled(number), st.just(str(number))))
    event(f"{name}: {'in' if low <= number <= high else 'out of'} bounds")
    if name == "--max-upstream":
        def read() -> object:
            return bridge.bridge_options({}, "multiplex", spelled)
    elif name.startswith("_APP_"):
        def read() -> object:
            return Knobs.from_settings({name: spelled})
    elif name == "APPWRITE_LITE_PG_POOL_SIZE":
        def read() -> object:
            return pool_size_override({name: spelled})
    else:
        def read() -> object:
            return launcher.Layout.from_env({name: spelled, "PORT": "5000"} if name != "PORT"
                                            else {"PORT": spelled}, "web")
    # The settings readers strip the config var first (Heroku config shows no difference).
    stripped = spelled.strip() if name.startswith(("_APP_", "APPWRITE_LITE_PG")) else spelled
    if name == "PORT":
        stripped = spelled.strip()
    taken = _ascii_whole(stripped) and low <= int(stripped) <= high
    try:
        read()
    except InputError as error:
        assert not taken, (name, spelled, str(error))
        assert "\n" not in str(error) and len(str(error)) < 400
    else:
        assert taken, (name, spelled)


@settings(max_examples=fuzz_examples(60))
@given(st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr),
                 st.integers(-10, 4000).flatmap(_spelled), text))
def test_health_timeout_is_a_plain_decimal_within_bounds(value: str) -> None:
    done = run_cli(["deploy", "-a", "my-app", "--health-timeout", value])
    plain = re.fullmatch(r"[0-9]{1,15}(?:\.[0-9]{1,15})?", value, re.ASCII) is not None
    if plain and 0 < float(value) <= 3600:
        assert "--health-timeout" not in done.err
    else:
        check_cli(done, [], {2})
        assert "--health-timeout" in done.err
