"""`appwrite-heroku env` run as a real subprocess: output, masking, warnings, exit status."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest

from helpers import CANARY_API_KEY, CANARY_DB_PASSWORD, CANARY_REDIS_PASSWORD
from services import isolated_env

pytestmark = pytest.mark.slow  # each test runs the command as a process

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "heroku-config.json"
CANARIES = (CANARY_DB_PASSWORD, CANARY_REDIS_PASSWORD, CANARY_API_KEY,
            quote(CANARY_DB_PASSWORD, safe=""))

CANARY_CONFIG = {
    "REDIS_URL": f"rediss://:{CANARY_REDIS_PASSWORD}@ec2-3-4-5-6.compute-1.amazonaws.com:12345",
    "JAWSDB_URL": f"mysql://jawsuser:{CANARY_DB_PASSWORD}@jaws.rds.amazonaws.com:3306/jschema",
    "SENDGRID_API_KEY": CANARY_API_KEY,
    "HEROKU_APP_DEFAULT_DOMAIN_NAME": "canary-app.herokuapp.com",
}


def env(tmp_path: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "appwrite_heroku", "env", *args],
        input=stdin, capture_output=True, text=True, timeout=60, cwd=tmp_path,
        env=isolated_env(tmp_path),
    )


def write(tmp_path: Path, content: str, name: str = "config.json") -> str:
    path = tmp_path / name
    path.write_text(content)
    return str(path)


def assert_no_canary(done: subprocess.CompletedProcess[str]) -> None:
    for canary in CANARIES:
        assert canary not in done.stdout and canary not in done.stderr


def parse_lines(stdout: str) -> dict[str, str]:
    pairs = [line.split("=", 1) for line in stdout.splitlines()]
    return {name: value for name, value in pairs}


# What a complete set for Redis + Heroku Postgres + Bucketeer + Mailgun + dyno metadata is.
EXAMPLE_KEYS = {
    "_APP_CONSOLE_WHITELIST_EMAILS",
    "_APP_DB_ADAPTER", "_APP_DB_HOST", "_APP_DB_PASS", "_APP_DB_PORT", "_APP_DB_SCHEMA",
    "_APP_DB_USER", "_APP_DOMAIN", "_APP_DOMAIN_TARGET", "_APP_DOMAIN_TARGET_CNAME", "_APP_ENV",
    "_APP_EXECUTOR_SECRET", "_APP_FUNCTIONS_RUNTIMES", "_APP_OPENSSL_KEY_V1",
    "_APP_OPTIONS_FORCE_HTTPS", "_APP_OPTIONS_ROUTER_PROTECTION", "_APP_REDIS_HOST",
    "_APP_REDIS_PASS", "_APP_REDIS_PORT", "_APP_REDIS_USER", "_APP_SITES_RUNTIMES",
    "_APP_SMTP_HOST", "_APP_SMTP_PASSWORD", "_APP_SMTP_PORT", "_APP_SMTP_SECURE",
    "_APP_SMTP_USERNAME", "_APP_STORAGE_ANTIVIRUS", "_APP_STORAGE_DEVICE",
    "_APP_STORAGE_S3_ACCESS_KEY", "_APP_STORAGE_S3_BUCKET", "_APP_STORAGE_S3_REGION",
    "_APP_STORAGE_S3_SECRET", "_APP_SYSTEM_EMAIL_ADDRESS", "_APP_TRUSTED_HEADERS",
    "_APP_USAGE_STATS",
    # What Appwrite's installer writes and its code reads otherwise (settings.LITE_DEFAULTS).
    "_APP_STORAGE_LIMIT", "_APP_STORAGE_PREVIEW_LIMIT", "_APP_COMPUTE_SIZE_LIMIT",
    "_APP_USAGE_AGGREGATION_INTERVAL", "_APP_RISKY_WORKERS_PERCENT",
}


def test_example_prints_a_complete_masked_set(tmp_path: Path) -> None:
    done = env(tmp_path, "--from", str(EXAMPLE))
    assert done.returncode == 0, done.stderr
    # The one warning a Heroku Postgres database gets: the extensions Appwrite creates.
    assert done.stderr.count("\n") == 1 and "extensions postgis, vector" in done.stderr
    lines = done.stdout.splitlines()
    assert lines == sorted(lines)
    shown = parse_lines(done.stdout)
    assert set(shown) == EXAMPLE_KEYS
    assert shown["_APP_DB_ADAPTER"] == "postgresql"
    assert shown["_APP_REDIS_HOST"] == "127.0.0.1" and shown["_APP_REDIS_PASS"] == "''"
    assert shown["_APP_STORAGE_DEVICE"] == "s3" and shown["_APP_SMTP_HOST"] == "smtp.mailgun.org"
    for secret in ("_APP_DB_PASS", "_APP_SMTP_PASSWORD", "_APP_STORAGE_S3_SECRET",
                   "_APP_STORAGE_S3_ACCESS_KEY", "_APP_OPENSSL_KEY_V1", "_APP_EXECUTOR_SECRET"):
        assert shown[secret] == "****"
    config = json.loads(EXAMPLE.read_text())
    for name, value in config.items():
        if "PASSWORD" in name or "SECRET" in name or name.endswith("_URL") or "KEY" in name:
            assert value not in done.stdout


def test_console_script_works_too(tmp_path: Path) -> None:
    done = subprocess.run(["appwrite-heroku", "env", "--from", str(EXAMPLE), "--json"],
                          capture_output=True, text=True, timeout=60, env=isolated_env(tmp_path))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["_APP_ENV"] == "production"


def test_json_and_reveal(tmp_path: Path) -> None:
    path = write(tmp_path, json.dumps(CANARY_CONFIG))
    masked = env(tmp_path, "--from", path, "--json")
    assert masked.returncode == 0, masked.stderr
    assert json.loads(masked.stdout)["_APP_DB_PASS"] == "****"
    assert_no_canary(masked)
    revealed = env(tmp_path, "--from", path, "--json", "--reveal")
    data = json.loads(revealed.stdout)
    assert data["_APP_DB_PASS"] == CANARY_DB_PASSWORD
    assert data["_APP_SMTP_PASSWORD"] == CANARY_API_KEY
    assert CANARY_REDIS_PASSWORD not in revealed.stdout  # Appwrite is never told it: the bridge is
    lines = parse_lines(env(tmp_path, "--from", path, "--reveal").stdout)
    assert lines["_APP_DB_PASS"] == CANARY_DB_PASSWORD


def test_stdin_hostname_and_warnings_on_stderr(tmp_path: Path) -> None:
    done = env(tmp_path, "--from", "-", "--hostname", "api.example.com",
               stdin=json.dumps(CANARY_CONFIG))
    assert done.returncode == 0, done.stderr
    assert parse_lines(done.stdout)["_APP_DOMAIN"] == "api.example.com"
    warnings = done.stderr.splitlines()
    assert warnings and all(line.startswith("warning: ") for line in warnings)
    text = done.stderr
    assert "vanish at every dyno restart" in text
    assert "_APP_OPENSSL_KEY_V1 is not set" in text
    assert "verified sender" in text
    assert_no_canary(done)


def test_not_ready_add_on_warns_prints_the_rest_and_exits_1(tmp_path: Path) -> None:
    config = {**CANARY_CONFIG, "JAWSDB_URL": "mysql://username:password@hostname:3306/database"}
    done = env(tmp_path, "--from", write(tmp_path, json.dumps(config)))
    assert done.returncode == 1
    assert "warning: JAWSDB_URL still holds JawsDB's placeholder" in done.stderr
    shown = parse_lines(done.stdout)
    assert "_APP_DB_HOST" not in shown and shown["_APP_REDIS_HOST"] == "127.0.0.1"
    assert "Traceback" not in done.stderr


BAD_INPUTS = [
    ("missing", None, "cannot read"),
    ("not json", "{nope", "is not JSON"),
    ("array", "[1, 2]", "not a JSON object"),
    ("number value", '{"REDIS_URL": 5}', "REDIS_URL"),
    ("null value", '{"JAWSDB_URL": null}', "JAWSDB_URL"),
    ("malformed redis", json.dumps({"REDIS_URL": f"http://:{CANARY_REDIS_PASSWORD}@h:1"}),
     "REDIS_URL must start with"),
    ("malformed db", json.dumps({"DATABASE_URL": f"mysql://u:{CANARY_DB_PASSWORD}@h:port/d"}),
     "DATABASE_URL is not a valid database URL"),
    ("password appwrite cannot carry",
     json.dumps({"JAWSDB_URL": f"mysql://u:{quote(CANARY_DB_PASSWORD + '@,', safe='')}@h/d"}),
     "reset the credentials"),
    ("bad domain", json.dumps({"HEROKU_APP_DEFAULT_DOMAIN_NAME": "http://x"}),
     "HEROKU_APP_DEFAULT_DOMAIN_NAME must be a host name"),
    ("binary", "\udcff", "cannot read"),
]


@pytest.mark.parametrize(("label", "content", "expected"), BAD_INPUTS,
                         ids=[case[0] for case in BAD_INPUTS])
def test_bad_input_is_one_line_exit_2_no_secret(tmp_path: Path, label: str, content: str | None,
                                                expected: str) -> None:
    path = str(tmp_path / "absent.json")
    if content is not None:
        path = str(tmp_path / "config.json")
        Path(path).write_bytes(content.encode("utf-8", "surrogateescape"))
    done = env(tmp_path, "--from", path)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert expected in done.stderr
    assert "Traceback" not in done.stderr
    assert_no_canary(done)


@pytest.mark.parametrize("args", [[], ["--from"], ["--from", "x", "--bridge-port", "0"],
                                  ["--from", "x", "--bogus"]])
def test_bad_flags_are_one_line_exit_2(tmp_path: Path, args: list[str]) -> None:
    done = env(tmp_path, *args)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
