"""What test modules (and benchmarks) share besides fixtures: the canary secrets every leak
check looks for, the add-on URLs the release side is given, a Deploy-button-shaped app on the
Heroku stand-in, and the recording reporter. Fixtures live in conftest.py."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from appwrite_heroku.clock import Clock
from appwrite_heroku.release import build as builder
from appwrite_heroku.release.engine import DeployOptions, DeployResult, deploy
from appwrite_heroku.release.tag_guard import RELEASE_BUILD_ARG, RELEASE_LABEL
from appwrite_heroku.secrecy import Redactor
from services import Registry
from standins.heroku import HerokuStandIn
from standins.images import labels

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

# The release record's two lines of Dockerfile.lite (test_manifests.py holds the real file to
# them): the build argument the engine passes, and the label it reads back.
RECORD_LINES = f'ARG {RELEASE_BUILD_ARG}=""\nLABEL {RELEASE_LABEL}="${{{RELEASE_BUILD_ARG}}}"\n'


def small_lite_dockerfile(*, marker: bool = True, record: bool = True) -> str:
    """A Dockerfile.lite for tests: a static busybox FROM scratch (no network needed), the
    `APPWRITE_VERSION` argument, and the record label as the real one ends."""
    return ("FROM scratch\nARG APPWRITE_VERSION\nCOPY busybox /bin/busybox\n"
            + ("COPY marker.txt /marker.txt\n" if marker else "")
            + 'CMD ["/bin/busybox", "sh"]\n' + (RECORD_LINES if record else ""))


def make_appwrite_app(standin: HerokuStandIn, prefix: str = "aw", **kwargs: object) -> str:
    """A container app on the stand-in with the Deploy button's add-on plans and dyno sizes
    (the budget's default profile: plans whose limits Appwrite's worst case fits); a fresh
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


def lite_source(directory: Path, marker: str = "one\n", *, record: bool = True) -> Path:
    """A build context for the engine's own builds: small_lite_dockerfile, busybox, a marker
    file whose text makes the image distinct."""
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy("/bin/busybox", directory / "busybox")
    (directory / "Dockerfile.lite").write_text(small_lite_dockerfile(record=record))
    (directory / "marker.txt").write_text(marker)
    return directory


@dataclass
class ReleaseEnv:
    """The release engine run in-process against the Heroku stand-in and a registry, with
    every run checked for leaked canaries, schema violations and a changed OpenSSL key."""

    standin: HerokuStandIn
    registry: Registry
    tmp: Path
    clock: Clock
    registry_url: str | None = None  # another way to the registry (a proxy), if set

    def environ(self) -> dict[str, str]:
        return {"HEROKU_API_KEY": CANARY_API_KEY, "HEROKU_API_URL": self.standin.url,
                "HEROKU_REGISTRY_URL": self.registry_url or self.registry.url,
                "HEROKU_ROUTER_URL": self.standin.router_url}

    def run(self, app: str, source: Path, **kwargs: object) -> tuple[DeployResult,
                                                                      RecordingReporter]:
        options = DeployOptions(app=app, build="buildah", source_dir=str(source),
                                buildah_storage=str(self.tmp / "buildah"),
                                health_timeout=5, release_timeout=30, api_timeout=2,
                                retry_backoff=0.05, commit="0123abc")
        for key, value in kwargs.items():
            setattr(options, key, value)
        reporter = RecordingReporter()
        runner = RecordingRunner()
        key_before = self.standin.app(app).config_vars.get("_APP_OPENSSL_KEY_V1")
        try:
            result = deploy(options, reporter, env=self.environ(), runner=runner,
                            clock=self.clock)
        finally:
            self.assert_clean(reporter, runner.argvs)
            # generated once, then never changed on any path (success, failure, rollback)
            if key_before is not None:
                assert self.standin.app(app).config_vars["_APP_OPENSSL_KEY_V1"] == key_before
        return result, reporter

    def running_record(self, app: str) -> str:
        """The release record the web image the app runs carries (its label)."""
        image = self.standin.app(app).images["web"]
        return labels(self.registry, app, "web", image).get(RELEASE_LABEL, "")

    def assert_clean(self, reporter: RecordingReporter, argvs: list[list[str]]) -> None:
        printed = reporter.text
        descriptions = [r["description"] for app in self.standin.apps.values()
                        for r in app.releases]
        for canary in CANARIES:
            assert canary not in printed
            assert all(canary not in " ".join(argv) for argv in argvs)
            assert all(canary not in d for d in descriptions)
        assert self.standin.schema_violations == []
