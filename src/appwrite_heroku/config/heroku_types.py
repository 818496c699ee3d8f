"""Heroku's vocabulary, named once: its process types, its app-name rule, and the shapes of the
Platform API answers this package reads (`TypedDict`s with `Literal` enums), so the release
side and the dyno side spell Heroku the same way and mypy checks every field read.

Shapes follow the Platform API reference (devcenter.heroku.com/articles/platform-api-reference);
only the fields this package reads are declared, and every one may be absent (`total=False`):
an answer is input, read with `.get`.
"""

from __future__ import annotations

import re
from typing import Literal, TypedDict, get_args

# The process types a Lite image serves (heroku.yml, the registry's images, `DYNO`).
ProcessType = Literal["web", "worker", "release"]
PROCESS_TYPES: tuple[ProcessType, ...] = get_args(ProcessType)
# Of those, the ones a formation keeps running (the release phase is a one-off dyno).
RUNNING_TYPES: tuple[ProcessType, ...] = ("web", "worker")

# Heroku's app names (Platform API schema: `^[a-z][a-z0-9-]{1,28}[a-z0-9]$`).
APP_NAME = re.compile(r"[a-z][a-z0-9-]{1,28}[a-z0-9]")

ReleaseStatus = Literal["failed", "pending", "succeeded"]
BuildStatus = Literal["failed", "pending", "succeeded"]


class App(TypedDict, total=False):
    id: str
    name: str
    web_url: str | None
    stack: dict[str, str]
    build_stack: dict[str, str]


class Release(TypedDict, total=False):
    id: str
    version: int
    status: ReleaseStatus
    current: bool
    description: str
    output_stream_url: str | None
    created_at: str
    addon_plan_names: list[str]  # e.g. heroku-redis:mini: the add-on plans of this release


class Formation(TypedDict, total=False):
    id: str
    type: str  # a process type; an app may run others than PROCESS_TYPES
    quantity: int
    size: str
    command: str
    docker_image: dict[str, str] | None  # {"id": "sha256:…"}: in the docker-releases variant


# `GET /apps/{app}/config-vars`: name → value (a PATCH answer has the same shape).
ConfigVars = dict[str, str]


class AddOnService(TypedDict, total=False):
    id: str
    name: str  # e.g. heroku-postgresql, heroku-redis


class AddOnPlan(TypedDict, total=False):
    id: str
    name: str  # e.g. heroku-postgresql:essential-0


class AddOn(TypedDict, total=False):
    id: str
    name: str
    addon_service: AddOnService
    plan: AddOnPlan
    config_vars: list[str]


class SourceBlob(TypedDict, total=False):
    get_url: str
    put_url: str


class Source(TypedDict, total=False):
    source_blob: SourceBlob


class Build(TypedDict, total=False):
    id: str
    status: BuildStatus
    output_stream_url: str | None
    release: dict[str, str] | None


__all__ = [
    "APP_NAME",
    "PROCESS_TYPES",
    "RUNNING_TYPES",
    "AddOn",
    "AddOnPlan",
    "AddOnService",
    "App",
    "Build",
    "BuildStatus",
    "ConfigVars",
    "Formation",
    "ProcessType",
    "Release",
    "ReleaseStatus",
    "Source",
    "SourceBlob",
]
