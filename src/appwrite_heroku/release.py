"""The release engine: build, push, rewrite config, release, wait, check health, roll back.

CONTRACT (the CLI's `deploy`/`plan` and the Action's entrypoint.py both call this; keep names):

    deploy(options: DeployOptions, reporter: Reporter) -> DeployResult

It raises ``InputError`` (exit 2) for bad input, ``PlatformError`` (exit 3) when Heroku keeps
failing after retries, and returns a result whose ``exit_status`` is 1 for a failed release or
health check (rolled back or not) — never 0 for a failed release.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Protocol


class Reporter(Protocol):
    """Where the engine says what it does; the CLI prints, the Action groups and masks."""

    def secret(self, value: str) -> None:
        """A value that must never appear in any output (called before it could be printed)."""

    def step(self, title: str) -> None:
        """A new step starts (the Action opens a log group)."""

    def info(self, message: str) -> None: ...

    def warning(self, message: str) -> None: ...

    def error(self, message: str) -> None: ...


@dataclass
class DeployOptions:
    app: str
    tag: str | None = None  # the git ref name being deployed, e.g. "v1.2.3"
    appwrite_version: str = "1.9.6"
    build: str = "docker"  # docker | buildah | heroku | none
    dry_run: bool = False
    force: bool = False  # release even an older tag
    tag_pattern: str = "v*"
    commit: str | None = None
    extra_config: dict[str, str] = field(default_factory=dict)  # the user's own config vars
    config_from: str | None = None  # a `heroku config --json` file: plan without an account
    health_timeout: float = 300.0
    release_timeout: float = 1800.0
    rollback: bool = True
    source_dir: str = "."  # the build context holding Dockerfile.lite


@dataclass
class DeployResult:
    exit_status: int
    app_url: str | None = None
    release_version: int | None = None
    image_ids: dict[str, str] = field(default_factory=dict)  # process type -> sha256:…
    changed_config_keys: list[str] = field(default_factory=list)
    rolled_back: bool = False
    healthy: bool | None = None
    summary: str = ""  # one line saying what happened


def deploy(options: DeployOptions, reporter: Reporter) -> DeployResult:
    raise NotImplementedError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Adds `deploy` and `plan`."""
