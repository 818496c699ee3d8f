"""What test modules (and benchmarks) share besides fixtures: the canary secrets every leak
check looks for, the add-on URLs the release side is given, a Deploy-button-shaped app on the
Heroku stand-in, and the recording reporter. Fixtures live in conftest.py."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from appwrite_heroku.release import build as builder
from appwrite_heroku.secrecy import Redactor
from standins.heroku import HerokuStandIn

# Canaries: secrets with a recognisable shape; a test fails when one shows up in output,
# argv, error messages or release descriptions.
CANARY_REDIS_PASSWORD = "canary-redis-Pw-7f3a9c1e"
CANARY_DB_PASSWORD = "canary-db-Pw-5b2d8e4f"
CANARY_API_KEY = "canary-heroku-key-0c9e7a3b-1d2f-4a5b"
CANARY_GITHUB_TOKEN = "ghs_canaryGithubToken9f8e7d6c5b4a3210"
CANARY_SMTP_PASSWORD = "canary-smtp-Pw-3e1f7a9d"
CANARIES = (CANARY_API_KEY, CANARY_DB_PASSWORD, CANARY_REDIS_PASSWORD)

# What Heroku Key-Value Store and JawsDB Maria put in config vars (hosts unreachable on purpose:
# the release side never connects to them; the dyno side's tests use the real services).
ADDON_REDIS_URL = f"rediss://:{CANARY_REDIS_PASSWORD}@ec2-3-1-2-3.compute-1.amazonaws.com:12345"
ADDON_JAWSDB_URL = (f"mysql://u1x2y3:{CANARY_DB_PASSWORD}"
                    "@abc.cbetxkdyhwsb.us-east-1.rds.amazonaws.com:3306/dbname1")
ADDON_POSTGRES_URL = (f"postgres://u4v5w6:{CANARY_DB_PASSWORD}"
                      "@ec2-3-4-5-6.compute-1.amazonaws.com:5432/d7e8f9")
_app_counter = iter(range(1_000_000))


def make_appwrite_app(standin: HerokuStandIn, prefix: str = "aw", **kwargs: object) -> str:
    """A container app on the stand-in with the Deploy button's add-on plans and dyno sizes
    (the default profile of budget.py: plans whose limits Appwrite's worst case fits); a fresh
    name each call so tests never share state."""
    from appwrite_heroku.config.budget import DEFAULT_PROFILE

    name = f"{prefix}-{int(time.time()) % 100000}-{next(_app_counter)}"
    redis_service, redis_plan = DEFAULT_PROFILE.redis_plan.split(":")
    db_service, db_plan = DEFAULT_PROFILE.db_plan.split(":")
    sizes = dict(item.split("=") for item in DEFAULT_PROFILE.formation.split(","))
    standin.create_app(
        name, addons=[
            {"service": redis_service, "plan": redis_plan,
             "config_vars": {"REDIS_URL": ADDON_REDIS_URL}},
            {"service": db_service, "plan": db_plan,
             "config_vars": {"DATABASE_URL": ADDON_POSTGRES_URL}},
        ], formation={kind: {"quantity": 1, "size": size} for kind, size in sizes.items()},
        **kwargs)  # type: ignore[arg-type]
    return name


@dataclass
class RecordingRunner:
    """The build's real command runner, keeping every argv so a test can prove none holds a
    secret."""

    argvs: list[list[str]] = field(default_factory=list)

    def __call__(self, argv: Sequence[str], *, on_line: Callable[[str], None],
                 env: Mapping[str, str] | None = None, stdin: str | None = None,
                 cwd: str | None = None) -> int:
        self.argvs.append(list(argv))
        return builder.spawn(argv, on_line=on_line, env=env, stdin=stdin, cwd=cwd)


@dataclass
class RecordingReporter:
    """Like the Action's reporter: masks only what it was told, in the order it was told, so a
    secret printed before `secret()` was called shows up here."""

    redactor: Redactor = field(default_factory=Redactor)
    lines: list[str] = field(default_factory=list)

    def secret(self, value: str) -> None:
        self.redactor.add(value)

    def _emit(self, kind: str, text: str) -> None:
        self.lines.append(f"{kind}: {self.redactor.redact(text)}")

    def step(self, title: str) -> None:
        self._emit("step", title)

    def info(self, message: str) -> None:
        self._emit("info", message)

    def warning(self, message: str) -> None:
        self._emit("warning", message)

    def error(self, message: str) -> None:
        self._emit("error", message)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def parse_outputs(text: str) -> dict[str, str]:
    """Reads $GITHUB_OUTPUT the way the runner's file-command handler does."""
    result: dict[str, str] = {}
    lines = text.split("\n")
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        if not line:
            continue
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            body: list[str] = []
            while lines[index] != delimiter:
                body.append(lines[index])
                index += 1
            index += 1
            result[name] = "\n".join(body)
        else:
            name, value = line.split("=", 1)
            result[name] = value
    return result
