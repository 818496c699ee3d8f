"""`appwrite-heroku plan` / `deploy` as a user runs them: masked plan without an account, and
bad input as one line with exit status 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import CANARY_API_KEY, CANARY_DB_PASSWORD, CANARY_REDIS_PASSWORD

pytestmark = pytest.mark.slow  # each test runs the command as a process

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "heroku-config.json"


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("HEROKU_")}
    # Nothing may be reached: an API URL that refuses connections.
    base["HEROKU_API_URL"] = "http://127.0.0.1:9"
    base.update(env or {})
    return subprocess.run([sys.executable, "-m", "appwrite_heroku", *args], capture_output=True,
                          text=True, env=base, timeout=60, cwd=ROOT)


def secret_values(config: dict[str, str]) -> list[str]:
    from appwrite_heroku.secrecy import is_secret_name

    values = [v for k, v in config.items() if is_secret_name(k) and len(v) >= 8]
    values += ["examplepassw0rd1"]  # the password inside DATABASE_URL
    return values


@pytest.mark.skipif(not EXAMPLE.exists(), reason="examples/heroku-config.json not present")
def test_readme_main_command_plans_without_an_account() -> None:
    done = cli("plan", "--config-from", str(EXAMPLE))
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "Plan for my-appwrite:" in out
    assert "+ _APP_DB_HOST=example0host0001" in out
    assert "+ _APP_DB_PASS=****" in out and "+ _APP_STORAGE_S3_SECRET=****" in out
    assert "_APP_OPENSSL_KEY_V1" not in out  # already set: never changed
    # the record travels in the image's label: no config var for it
    assert "APPWRITE_LITE_RELEASE" not in out
    assert "release record: appwrite=1.9.6 as the image label appwrite-lite.release" in out
    assert "web: Dockerfile.lite" in out and "formation: one docker-releases PATCH" in out
    config = json.loads(EXAMPLE.read_text())
    for value in secret_values(config):
        assert value not in out and value not in done.stderr


def test_plan_with_canary_config_prints_no_secret(tmp_path: Path) -> None:
    config = {
        "REDIS_URL": f"rediss://:{CANARY_REDIS_PASSWORD}@ec2-1-2-3-4.compute-1.amazonaws.com:1",
        "JAWSDB_URL": f"mysql://user:{CANARY_DB_PASSWORD}@h.rds.amazonaws.com:3306/db",
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    done = cli("plan", "--config-from", str(path), "--app", "canary-app", "--tag", "v1.0.0",
               "--commit", "abc1234")
    # JawsDB without a recorded plan is judged at its smallest plan, which Appwrite overruns:
    # the plan is shown, then refused in one line, and no secret appears in either.
    assert done.returncode == 1, done.stderr
    assert "jawsdb:kitefin for JAWSDB_URL (assumed: the smallest jawsdb plan)" in done.stderr
    assert "+ _APP_OPENSSL_KEY_V1=****" in done.stdout  # generated, masked
    assert "release record: tag=v1.0.0 appwrite=1.9.6 commit=abc1234 as the image label" \
        in done.stdout
    for canary in (CANARY_REDIS_PASSWORD, CANARY_DB_PASSWORD):
        assert canary not in done.stdout + done.stderr


@pytest.mark.parametrize(("args", "env", "words"), [
    (["plan", "--config-from", "/nonexistent.json"], {}, "cannot read --config-from"),
    # deploy needs the account: it does not offer --config-from (plan does).
    (["deploy", "--config-from", "README.md"], {}, "unrecognized arguments: --config-from"),
    (["deploy", "--dry-run", "--config-from", "README.md"], {},
     "unrecognized arguments: --config-from"),
    (["deploy", "--app", "my-app", "--build", "none"], {}, "HEROKU_API_KEY is not set"),
    (["deploy", "--app", "My_App", "--build", "none"], {"HEROKU_API_KEY": CANARY_API_KEY},
     "not a Heroku app name"),
    (["deploy", "--app", "my-app", "--tag", "main"], {"HEROKU_API_KEY": CANARY_API_KEY},
     "does not match the release pattern"),
    (["deploy", "--app", "my-app", "--build", "kaniko"], {}, "invalid choice"),
    (["deploy", "--app", "my-app", "--config", "NOT-A-KEY=1"], {}, "expected KEY=VALUE"),
])
def test_bad_input_is_one_line_exit_2(args: list[str], env: dict[str, str], words: str) -> None:
    done = cli(*args, env=env)
    assert done.returncode == 2, done.stdout + done.stderr
    assert words in done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert CANARY_API_KEY not in done.stdout + done.stderr


def test_not_json_config_is_bad_input(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text(f"REDIS_URL={CANARY_REDIS_PASSWORD}")
    done = cli("plan", "--config-from", str(path))
    assert done.returncode == 2 and "is not JSON" in done.stderr
    assert CANARY_REDIS_PASSWORD not in done.stderr
    path.write_text(json.dumps({"PORT": 5000}))
    done = cli("plan", "--config-from", str(path))
    assert done.returncode == 2 and "PORT is a number, not a string" in done.stderr


def test_unreachable_api_is_exit_3() -> None:
    done = cli("deploy", "--app", "my-app", "--build", "none",
               env={"HEROKU_API_KEY": CANARY_API_KEY, "HEROKU_API_URL": "http://127.0.0.1:9"})
    assert done.returncode == 3, done.stderr
    assert "failed after retries" in done.stderr and CANARY_API_KEY not in done.stderr
