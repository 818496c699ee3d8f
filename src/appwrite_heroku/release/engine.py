"""The release engine: build (or copy from staging), push, rewrite config, release, wait, check
health, roll back.

CONTRACT (the CLI's `deploy`/`plan`/`promote` and the Action's entrypoint.py call this; keep
names):

    deploy(options: DeployOptions, reporter: Reporter) -> DeployResult

It raises ``InputError`` (exit 2) for bad input, ``PlatformError`` (exit 3) when Heroku keeps
failing after retries, and returns a result whose ``exit_status`` is 1 for a failed release or
health check (rolled back or not) — never 0 for a failed release.

Order (each step is a ``reporter.step``): preflight (app, newest release, formation with the
image IDs it runs → the record those images carry) → tag guard (a promotion: staging's release
and images judged) → config vars → plan → build + push, or copy staging's images → image IDs
from the registry → ONE config PATCH only if a setting changed (and wait for its release) →
ONE docker-releases formation PATCH → "no new release"? → stream and poll the release phase →
health → on failure, roll back to the release captured at preflight.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol
from urllib.parse import urlsplit

from ..clock import SYSTEM, Clock, poll
from ..config import appetite, database, inputs, plans, queues, redis
from ..config import budget as budget_model
from ..config import settings as settings_engine
from ..config.heroku_types import PROCESS_TYPES, Formation, Release
from ..config.variables import PINNED_APPWRITE_VERSION
from ..display import safe_line
from ..errors import EXIT_FAILED, EXIT_OK, InputError, NotReadyError, PlatformError
from ..secrecy import Redactor, config_secrets
from . import build as builder
from . import health
from .heroku_api import (
    DEFAULT_API_URL,
    ApiInputError,
    HerokuClient,
    make_retry,
    release_addons,
    running_images,
)
from .plan import Plan, diff, full_patch, render, retire_legacy_record
from .promotion import Source, judge, staging_refusal
from .registry import (
    DEFAULT_REGISTRY_URL,
    CopyCount,
    Manifest,
    Registry,
    check_access,
    copy_image,
    image_ids,
    image_label,
    read_manifest,
)
from .tag_guard import (
    RELEASE_LABEL,
    RELEASE_VAR,
    GuardDecision,
    ReleaseRecord,
    appwrite_move,
    check_tag,
    decide,
    make_record,
    parse_record,
    running_record,
)

HEALTH_TIMEOUT_MAX = 3600.0


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
    appwrite_version: str = PINNED_APPWRITE_VERSION
    build: str = "docker"  # one of builder.BUILDS
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
    api_timeout: float = 30.0  # seconds per Heroku API request before it counts as a stall
    retry_backoff: float = 0.5  # base of the jittered exponential backoff (seconds)
    buildah_storage: str | None = None  # buildah --root/--runroot (vfs) instead of its default
    promote_from: str | None = None  # copy this (staging) app's running images; no build
    budget_table: bool = False  # print the budget's table after the plan, not only its verdict


@dataclass
class DeployResult:
    exit_status: int
    app_url: str | None = None
    release_version: int | None = None
    image_ids: dict[str, str] = field(default_factory=dict)  # process type -> sha256:…
    changed_config_keys: list[str] = field(default_factory=list)
    planned_config_keys: list[str] = field(default_factory=list)  # a plan's, nothing written
    rolled_back: bool = False
    healthy: bool | None = None
    summary: str = ""  # one line saying what happened
    budget: str = ""  # the budget's verdict in one line (fits or not, the figures, the price)
    releases: list[int] = field(default_factory=list)  # versions of the releases it made


_URL_EXAMPLES = {"HEROKU_API_URL": DEFAULT_API_URL, "HEROKU_REGISTRY_URL": DEFAULT_REGISTRY_URL,
                 "HEROKU_ROUTER_URL": "http://127.0.0.1:8080"}


@dataclass(frozen=True)
class Endpoints:
    api_key: str | None
    api_url: str
    registry_url: str
    router_url: str | None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Endpoints:
        """The environment is input too: each value checked before any request is built."""
        key = env.get("HEROKU_API_KEY") or ""
        urls = {name: inputs.http_url(env[name], name, example) for name, example in
                _URL_EXAMPLES.items() if env.get(name)}
        return cls(
            api_key=inputs.api_key(key) if key.strip() else None,
            api_url=urls.get("HEROKU_API_URL") or DEFAULT_API_URL,
            registry_url=urls.get("HEROKU_REGISTRY_URL") or DEFAULT_REGISTRY_URL,
            router_url=urls.get("HEROKU_ROUTER_URL") or None,
        )


# -- pure parts ---------------------------------------------------------------------------------

def check_options(options: DeployOptions) -> None:
    """The same rules (`inputs`) for the CLI's options and the Action's inputs."""
    inputs.choice(options.build, "--build", builder.BUILDS)
    if options.promote_from is not None:
        inputs.app_name(options.app, "--to", hint="pass the production app's name (--to NAME)")
    elif options.config_from is None or options.app:
        inputs.app_name(options.app, "app name")
    if options.config_from is not None and not options.dry_run:
        raise InputError("--config-from only plans (no account, no writes): use "
                         "`appwrite-heroku plan --config-from FILE`")
    inputs.user_config(options.extra_config, "--config")
    check_promotion(options)
    inputs.tag(options.tag)
    inputs.tag_pattern(options.tag_pattern)
    inputs.appwrite_version(options.appwrite_version)
    inputs.commit(options.commit)
    check_tag(options.tag, options.tag_pattern)
    inputs.seconds(options.health_timeout, "--health-timeout", HEALTH_TIMEOUT_MAX)
    inputs.seconds(options.release_timeout, "--release-timeout")


def check_promotion(options: DeployOptions, label: str = "--from") -> None:
    """A promotion names another app to promote from, and plans from no file."""
    if options.promote_from is None:
        return
    inputs.app_name(options.promote_from, label)
    if options.promote_from == options.app:
        raise InputError(f"{label} and the app to release on both name {options.app}: promote "
                         "from the staging app to another (production) app")
    if options.config_from is not None:
        raise InputError("--config-from plans a deploy from a file: a promotion reads "
                         "both apps (use `appwrite-heroku promote --dry-run`)")


def missing_addons(config: Mapping[str, str]) -> list[str]:
    """The add-ons Appwrite cannot run without, judged from config vars already read."""
    missing = []
    # The add-ons are found by the variables the dyno reads (config/redis.py,
    # config/database.py), or set by hand; the hint names the plan the Deploy button attaches,
    # as the settings engine's warning does.
    has_redis = redis.redis_candidates(config) or config.get("_APP_REDIS_HOST")
    if not has_redis:
        missing.append(f"a Redis add-on ({plans.attach_command(plans.REDIS)})")
    if not (database.database_candidates(config) or config.get("_APP_DB_HOST")):
        missing.append(f"a database add-on ({plans.attach_command(plans.DATABASE)})")
    return missing


def check_addons(config: Mapping[str, str], app: str) -> None:
    """An app (or a config file) without the add-ons Appwrite needs is refused, one line:
    the online plan, the offline plan and deploy alike."""
    missing = missing_addons(config)
    if missing:
        raise InputError(f"app {app} lacks {' and '.join(missing)}".replace("APP", app))


def hostname_of(web_url: str | None) -> str | None:
    return urlsplit(web_url).hostname if web_url else None


def small_dynos(formation: Sequence[Formation], config: Mapping[str, str] | None = None,
                ) -> list[str]:
    """Dynos too small for their processes even at the smallest sizing (the budget's memory
    model, the launcher's own), each with the size that would hold them."""
    config = config or {}
    specs, _unknown_sizes = budget_model.dyno_specs(formation, appetite.runs_all_in_web(config))
    return budget_model.too_small(specs, appetite.background_for(config),
                                  queues.options_from(config))


# -- the engine ---------------------------------------------------------------------------------

@dataclass
class _Run:
    options: DeployOptions
    reporter: Reporter
    endpoints: Endpoints
    client: HerokuClient | None = None
    runner: builder.CommandRunner = builder.spawn  # every build command (injected by callers)
    # The domain Appwrite serves (a hand-set custom `_APP_DOMAIN` wins): its router protection
    # answers 403 to any other Host, so health must ask with this one.
    served_domain: str | None = None
    config: dict[str, str] = field(default_factory=dict)  # the app's config, user values applied
    result: DeployResult = field(default_factory=lambda: DeployResult(exit_status=EXIT_OK))
    clock: Clock = SYSTEM
    released: ReleaseRecord | None = None  # the record the released images carry

    @property
    def registry(self) -> Registry:
        return Registry(self.endpoints.registry_url)

    def new_release_since(self, ref: Mapping[str, Any] | None) -> Release | None:
        """The app's newest release when it is not `ref` (a write made one), else None
        (heroku/cli src/commands/container/release.ts:98 compares the release ids alike)."""
        assert self.client is not None
        newest = self.client.newest_release(self.options.app)
        if newest is None or newest.get("id") == _id(ref):
            return None
        if isinstance(newest.get("version"), int) and newest["version"] not in \
                self.result.releases:
            self.result.releases.append(newest["version"])
        return newest

    def mask_config(self, config: Mapping[str, str]) -> None:
        """Every secret config value (by name or shape) is masked before anything could print
        it; so is the password inside a URL, which can reappear on its own (_APP_DB_PASS)."""
        for value in config_secrets(config):
            self.reporter.secret(value)


def _derive(run: _Run, config: Mapping[str, str], hostname: str | None
            ) -> tuple[settings_engine.Derivation, dict[str, str]]:
    derivation = settings_engine.derive(config, hostname=hostname)
    for value in derivation.secret_values():
        run.reporter.secret(value)
    generated = {key: secrets.token_hex(32) for key in derivation.missing_secrets}
    for value in generated.values():
        run.reporter.secret(value)
    for warning in derivation.warnings:
        run.reporter.warning(warning)
    return derivation, generated


def _check_ready(derivation: settings_engine.Derivation) -> None:
    """`plan` and `deploy` judge readiness alike: a plan for an app that cannot start yet is as
    red as the deploy it previews."""
    if derivation.not_ready:
        raise NotReadyError(
            f"{', '.join(derivation.not_ready)} is not ready yet (the add-on is still being "
            "provisioned): wait a few minutes, then deploy again")


def plan_offline(options: DeployOptions, reporter: Reporter) -> DeployResult:
    """`plan --config-from FILE`: no credentials, no network."""
    assert options.config_from is not None
    config = inputs.read_config_json(options.config_from, "--config-from")
    run = _Run(options, reporter, Endpoints(None, DEFAULT_API_URL, DEFAULT_REGISTRY_URL, None))
    run.mask_config(config)  # first: a refusal below may quote a value shaped like a secret
    run.mask_config(options.extra_config)
    inputs.openssl_key_kept(config, options.extra_config, "--config")
    named = config.get("HEROKU_APP_NAME")
    # A name the file gives is checked like --app; without one the plan says "APP".
    app = options.app or ("APP" if named is None else inputs.app_name(
        named, f"HEROKU_APP_NAME in {options.config_from}", hint="pass --app NAME"))
    merged = {**config, **options.extra_config}
    check_addons(config, app)  # the online preflight, in its words: the app's own config
    appetite.background_for(merged)  # an unknown APPWRITE_LITE_SKIP name: refused, as online
    # Judged before anything is shown: a recorded APPWRITE_LITE_PLANS or a sizing value that
    # is bad input is refused first, not after the plan it would have ended.
    setup, source = budget_model.offline_setup(merged)
    judged = (None if setup is None
              else budget_model.judge_setup(setup, merged, plans=source))
    reporter.step("Plan (offline, from a config file)")
    derivation, generated = _derive(run, merged, None)
    _check_ready(derivation)
    patch = _config_patch(options, config, derivation, generated, None)
    plan = Plan(app=app, build=options.build,
                config_changes=diff(config, patch, derivation.secret_keys),
                images=_planned_images(options, app), record=_record_note(options))
    for line in render(plan):
        reporter.info(line)
    run.result.planned_config_keys = sorted(patch)
    refusal = None
    if judged is None:
        reporter.warning(source)
        run.result.budget = f"not checked: {source}"
    else:
        refusal = _show_budget(run, *judged, judged_of=source)
    if refusal is not None:
        _refuse(run, refusal)
        return run.result
    run.result.summary = (f"plan: {len(patch)} config change(s), release "
                          f"{', '.join(plan.images)}; nothing written")
    return run.result


def _judge_budget(run: _Run, client: HerokuClient, preflight: _Preflight
                  ) -> budget_model.Judgement:
    """The app's plans and dynos judged by the connection and memory model before anything is
    written. The dynos come from the formation preflight read, the plans from the newest
    release's `addon_plan_names`: no request of its own, except `GET /addons` (the list a plan
    changed in place shows at once) before refusing."""
    app = run.options.app
    addons = release_addons(preflight.captured)
    judgement = budget_model.judge(addons if addons is not None else client.addons(app),
                                   preflight.formation, run.config)
    if judgement.refusal is not None and addons is not None:
        judgement = budget_model.judge(client.addons(app), preflight.formation, run.config)
    return judgement


# Where the whole budget is, said after its one-line verdict.
TABLE_HINT = "the table: plan --budget"


def _show_budget(run: _Run, budget: budget_model.Budget, refusal: str | None,
                 judged_of: str | None = None) -> str | None:
    """The budget after the plan, as its verdict in one line: `fits` with the figures that
    matter, or nothing here when it does not fit (the refusal, naming what to choose and its
    price, is the error line that ends the run). The table only with `--budget`. Returns the
    refusal."""
    run.result.budget = budget_model.verdict(budget)
    of = f" of {judged_of}" if judged_of else ""
    if refusal is None:
        run.reporter.info(f"  budget{of}: {run.result.budget} ({TABLE_HINT})")
    if run.options.budget_table:
        for line in budget_model.render(budget, f"Budget{of}"):
            run.reporter.info(line)
    return refusal


def _refuse(run: _Run, why: str) -> None:
    """Nothing fits: red before any write (no config change, no release)."""
    run.reporter.error(why)
    run.result.exit_status = EXIT_FAILED
    run.result.summary = f"refused: {why}"


def _config_patch(options: DeployOptions, config: dict[str, str],
                  derivation: settings_engine.Derivation, generated: dict[str, str],
                  plans_record: str | None) -> dict[str, str | None]:
    """The one config PATCH (plan.full_patch). The release record joins it only for a Build
    API build, whose image cannot carry it; otherwise a record an earlier deploy left in the
    config var goes with a patch that changes a setting anyway."""
    if options.build == "heroku" and not options.promote_from:
        record = make_record(options.tag, options.appwrite_version, options.commit).format()
        return full_patch(config, derivation, generated, options.extra_config, record,
                          plans_record)
    return retire_legacy_record(config, full_patch(config, derivation, generated,
                                                   options.extra_config, None, plans_record))


def _planned_images(options: DeployOptions, app: str) -> dict[str, str]:
    if options.promote_from:
        return {kind: f"the image {options.promote_from} runs as {kind}, copied to "
                      f"<registry>/{app}/{kind}:latest (no rebuild)" for kind in PROCESS_TYPES}
    what = {"none": "the image already at <registry>/{app}/{kind}:latest",
            "heroku": "built by Heroku from heroku.yml"}.get(
        options.build, f"{builder.DOCKERFILE} (APPWRITE_VERSION={options.appwrite_version}, "
                       "linux/amd64, v2s2) pushed to <registry>/{app}/{kind}:latest")
    return {kind: what.replace("{app}", app).replace("{kind}", kind) for kind in PROCESS_TYPES}


def _record_note(options: DeployOptions) -> str:
    """Where this deploy's release record goes (see tag_guard.py)."""
    record = make_record(options.tag, options.appwrite_version, options.commit).format()
    if options.promote_from:
        return (f"the label {RELEASE_LABEL} of {options.promote_from}'s images, copied with "
                "them (no config change)")
    if options.build == "heroku":
        return f"{record} in the config var {RELEASE_VAR} (Heroku's builds take no build args)"
    if options.build == "none":
        return (f"the label {RELEASE_LABEL} of the pushed images (without one: {record} in "
                f"the config var {RELEASE_VAR})")
    return f"{record} as the image label {RELEASE_LABEL} (no config change)"


def deploy(options: DeployOptions, reporter: Reporter,
           env: Mapping[str, str] | None = None,
           runner: builder.CommandRunner = builder.spawn,
           clock: Clock = SYSTEM) -> DeployResult:
    """`runner` runs the build commands and `clock` keeps the engine's time: a caller may
    inject one that watches every argv, or one that does not sleep."""
    check_options(options)
    if options.config_from is not None:
        return plan_offline(options, reporter)
    if options.promote_from:
        options = replace(options, build="none")  # nothing is built: staging's images are
    endpoints = Endpoints.from_env(os.environ if env is None else env)
    if not endpoints.api_key:
        raise InputError("HEROKU_API_KEY is not set: create a key with `heroku "
                         "authorizations:create -d appwrite-heroku` and export it "
                         "(or plan offline with --config-from FILE)")
    reporter.secret(endpoints.api_key)
    client = HerokuClient(api_key=endpoints.api_key, api_url=endpoints.api_url,
                          timeout=options.api_timeout, app=options.app,
                          retry=make_retry(backoff_factor=options.retry_backoff),
                          clock=clock)
    run = _Run(options, reporter, endpoints, client, runner=runner, clock=clock)
    run.mask_config(options.extra_config)
    try:
        _deploy(run, client)
    finally:
        client.close()
    return run.result


def _deploy(run: _Run, client: HerokuClient) -> None:
    """One straight pass, each phase handing its answer to the next, as the Heroku CLI's
    `container:release` does (heroku/cli src/commands/container/release.ts `run()`: app →
    image ids → releases before → formation PATCH → new release? → stream → status):
    preflight → guard (a promotion reads staging first) → config → plan → images (built, or
    copied from staging) → release via the Build API or via the registry (each waits for the
    releases it makes) → health → finish."""
    options = run.options
    preflight = _preflight(run, client)
    source: tuple[Source, dict[str, Manifest]] | None = None
    if options.promote_from:
        read = _promotion_source(run, client)
        if isinstance(read, str):
            _refuse(run, read)
            return
        source = read
    decision = _guard(run, preflight, source[0] if source else None)
    if decision.action == "noop":
        version = preflight.captured.get("version") if preflight.captured else None
        _finish(run, _Ending(EXIT_OK, f"no-op: {decision.reason}", release_version=version))
        return
    config = preflight.config if preflight.config is not None else _read_config(run, client)
    check_addons(config, options.app)
    inputs.openssl_key_kept(config, options.extra_config, "--config")
    patch, refusal = _plan(run, client, preflight, config)
    if refusal:
        _refuse(run, refusal)
        return
    if options.dry_run:
        run.result.planned_config_keys = sorted(patch)
        run.result.summary = f"dry run: {len(patch)} config change(s) planned; nothing written"
        return
    _release(run, client, preflight, source, patch)


def _release(run: _Run, client: HerokuClient, preflight: _Preflight,
             source: tuple[Source, dict[str, Manifest]] | None,
             patch: dict[str, str | None]) -> None:
    """The writing half: images in the registry, then the releases, health and finish."""
    options, captured = run.options, preflight.captured
    run.result.changed_config_keys = sorted(patch)
    deadline = run.clock.deadline(options.release_timeout)
    if options.build == "heroku" and source is None:
        released = _release_via_build_api(run, client, patch, captured, deadline)
        _finish(run, released if isinstance(released, _Ending)
                else _health(run, captured, released, preflight.hostname, deadline))
        return
    if source is not None:
        ids = _copy_images(run, client, *source)
    else:
        ids = _build_and_push(run, client)
        patch = _record_without_label(run, client, ids, patch, preflight)
        run.result.changed_config_keys = sorted(patch)
    try:
        released = _release_via_registry(run, client, ids, patch, captured, deadline)
        ending = released if isinstance(released, _Ending) else _health(
            run, captured, released, preflight.hostname, deadline)
    except (InputError, PlatformError) as error:
        ending = _undo_after_error(run, captured, error, deadline)
    _finish(run, ending)


@dataclass(frozen=True)
class _Preflight:
    hostname: str
    captured: Release | None  # the release to roll back to
    formation: list[Formation]  # in the docker-releases variant: with each type's image ID
    running: dict[str, str]  # process type -> the image ID Heroku runs
    record: ReleaseRecord | None  # what runs: the web image's label, else the legacy var
    record_source: str  # where `record` was read
    config: dict[str, str] | None  # the config vars, when reading the record needed them


@dataclass(frozen=True)
class _Ending:
    """How a deploy ends, decided by the phase that ends it; `_finish` writes it down."""

    exit_status: int
    summary: str
    release_version: int | None = None
    healthy: bool | None = None
    rolled_back: bool = False


def _finish(run: _Run, ending: _Ending) -> None:
    result = run.result
    result.exit_status, result.summary = ending.exit_status, ending.summary
    result.release_version, result.healthy = ending.release_version, ending.healthy
    result.rolled_back = ending.rolled_back
    if ending.exit_status == EXIT_OK:
        run.reporter.info(ending.summary)
    else:
        run.reporter.error(ending.summary)


def _preflight(run: _Run, client: HerokuClient) -> _Preflight:
    """The app (container stack, web URL), the release to roll back to — after any release
    still pending has finished, so this run never races it — and what runs: the formation's
    image IDs and the record the web image carries. Three requests; the config vars are read
    here only when the running image has no label (an app deployed before it existed)."""
    app = run.options.app
    run.reporter.step(f"Preflight: {app}")
    info = client.get_app(app)
    stack = (info.get("stack") or {}).get("name") or (info.get("build_stack") or {}).get("name")
    if stack != "container":
        raise InputError(f"app {app} has stack {stack!r}, not 'container': run "
                         f"`heroku stack:set container -a {app}`, then deploy again")
    hostname = hostname_of(info.get("web_url"))
    if not hostname:
        raise PlatformError(f"Heroku returned no web_url for {app}")
    run.result.app_url = f"https://{hostname}/"
    captured = client.newest_release(app)
    if captured is not None and captured.get("status") == "pending":
        # Another deploy (or a config change) is mid-release: let it finish, then judge
        # against what it leaves.
        run.reporter.info(f"release v{captured.get('version')} is still pending; waiting for it")
        _wait_release(run, captured, run.clock.deadline(run.options.release_timeout))
        captured = client.newest_release(app)
    formation = client.formation(app)
    running = running_images(formation)
    # Images Heroku builds from heroku.yml carry no record (their builds take no per-deploy
    # argument): for --build heroku the record is the config var's, and the registry unused.
    label = image_label(client, run.registry, app, "web", running["web"], RELEASE_LABEL) \
        if "web" in running and run.options.build != "heroku" else None
    config = None if parse_record(label) else _read_config(run, client)
    record, where = running_record(label, (config or {}).get(RELEASE_VAR))
    return _Preflight(hostname, captured, formation, running, record, where, config)


def _read_config(run: _Run, client: HerokuClient) -> dict[str, str]:
    """The app's config vars, checked as Heroku holds them and masked before anything could
    print them: every read alike."""
    app = run.options.app
    config = inputs.config_vars(client.config_vars(app), f"the config vars of {app}")
    run.mask_config(config)
    return config


def _guard(run: _Run, preflight: _Preflight, source: Source | None) -> GuardDecision:
    """The tag guard: the record the running image carries against what is deployed — or, for
    a promotion, staging's images and records against production's (promotion.judge)."""
    options, captured = run.options, preflight.captured
    captured_ok = bool(captured and captured.get("status") == "succeeded"
                       and captured.get("current", True))
    if source is None:
        decision = decide(tag=options.tag, appwrite=options.appwrite_version,
                          commit=options.commit, running=preflight.record,
                          running_ok=captured_ok, force=options.force,
                          pattern=options.tag_pattern)
        if decision.action == "deploy" and options.build != "none":  # (none: what was pushed)
            moved = appwrite_move(options.appwrite_version, preflight.record,
                                  force=options.force, whose="this deploy")
            decision = replace(decision, warnings=(*decision.warnings, *moved))
    else:
        decision = judge(source, production_images=preflight.running,
                         production=preflight.record, production_ok=captured_ok,
                         tag=options.tag, commit=options.commit, force=options.force,
                         pattern=options.tag_pattern)
    for warning in decision.warnings:
        run.reporter.warning(warning)
    shown = preflight.record.format() if preflight.record else "nothing"
    run.reporter.info(f"running: {shown} (from {preflight.record_source}); newest release "
                      f"v{captured.get('version') if captured else '-'}")
    run.reporter.info(decision.reason)
    return decision


def _plan(run: _Run, client: HerokuClient, preflight: _Preflight, config: dict[str, str]
          ) -> tuple[dict[str, str | None], str | None]:
    """The ONE config patch and the budget's refusal (None when it fits), both printed."""
    options = run.options
    merged = {**config, **options.extra_config}
    appetite.background_for(merged)  # an unknown APPWRITE_LITE_SKIP name: refused, one line
    derivation, generated = _derive(run, merged, preflight.hostname)
    run.served_domain = derivation.settings.get("_APP_DOMAIN") or preflight.hostname
    _check_ready(derivation)
    run.config = merged
    judgement = _judge_budget(run, client, preflight)
    patch = _config_patch(options, config, derivation, generated, judgement.record)
    plan = Plan(app=options.app, build="promote" if options.promote_from else options.build,
                config_changes=diff(config, patch, derivation.secret_keys),
                images=_planned_images(options, options.app), record=_record_note(options))
    for line in render(plan):
        run.reporter.info(line)
    for warning in judgement.warnings:
        run.reporter.warning(warning.replace("-a APP", f"-a {options.app}"))
    if judgement.budget is None:
        run.result.budget = "not checked: " + ("; ".join(judgement.warnings) or "unknown plans")
        return patch, None
    return patch, _show_budget(run, judgement.budget, judgement.refusal)


def _release_via_build_api(run: _Run, client: HerokuClient, patch: dict[str, str | None],
                           captured: Release | None, deadline: float
                           ) -> Release | _Ending | None:
    """Heroku builds from heroku.yml and releases the build; then the config PATCH. Returns
    the release to check, or how the deploy ended."""
    options = run.options
    run.reporter.step("Build on Heroku (Sources + Build API)")
    builder.build_on_heroku(client, app=options.app, source_dir=options.source_dir,
                            version=options.commit or options.tag, deadline=deadline,
                            on_line=run.reporter.info, clock=run.clock)
    after_build = run.new_release_since(captured)
    if after_build is not None:
        after_build = _wait_release(run, after_build, deadline)
        if after_build.get("status") != "succeeded":
            # A failed release phase leaves the captured release current: nothing to undo.
            return _fail(run, captured, f"the release phase of v{after_build.get('version')} "
                         f"(the build's release) {_phase_outcome(after_build)}", deadline,
                         changed=False)
    config_release = _write_config(run, patch, after_build or captured, captured, deadline)
    if isinstance(config_release, _Ending):
        return config_release
    return config_release or after_build or captured


def _build_and_push(run: _Run, client: HerokuClient) -> dict[str, str]:
    """Our own build (docker or buildah) pushed to Heroku's registry, or none; the image IDs
    the registry holds for each process type. The release record goes in as a build arg and
    comes out as the image's label."""
    options, app, registry = run.options, run.options.app, run.registry
    record = make_record(options.tag, options.appwrite_version, options.commit).format()
    if options.build in ("buildah", "docker"):
        assert run.endpoints.api_key is not None
        run.reporter.step(f"Build and push ({options.build})")
        check_access(client, registry)
        if options.build == "buildah":
            builder.build_buildah(app=app, registry=registry, api_key=run.endpoints.api_key,
                                  source_dir=options.source_dir,
                                  appwrite_version=options.appwrite_version,
                                  on_line=run.reporter.info, storage_dir=options.buildah_storage,
                                  run=run.runner, record=record, clock=run.clock)
        else:
            builder.build_docker(app=app, registry=registry, api_key=run.endpoints.api_key,
                                 source_dir=options.source_dir,
                                 appwrite_version=options.appwrite_version,
                                 on_line=run.reporter.info, run=run.runner, record=record)
    run.reporter.step("Image IDs from the registry")
    ids = image_ids(client, registry, app)
    run.result.image_ids = ids
    for kind, image in ids.items():
        run.reporter.info(f"{kind}: {image}")
    return ids


def _record_without_label(run: _Run, client: HerokuClient, ids: Mapping[str, str],
                          patch: dict[str, str | None], preflight: _Preflight
                          ) -> dict[str, str | None]:
    """The record the web image carries is what is released. An image without one (a
    Dockerfile.lite from before the label, or images pushed by hand) cannot carry it: then the
    record goes into the config var as earlier deploys wrote it — one config change."""
    options = run.options
    label = image_label(client, run.registry, options.app, "web", ids["web"], RELEASE_LABEL)
    run.released = parse_record(label)
    if run.released is not None:
        return patch
    record = make_record(options.tag, options.appwrite_version, options.commit)
    run.released = record
    run.reporter.warning(f"the web image carries no {RELEASE_LABEL} label (is Dockerfile.lite "
                         f"older than it?): the record goes into the config var {RELEASE_VAR}, "
                         "which costs a config change")
    config = preflight.config or {}
    if config.get(RELEASE_VAR) == record.format():
        return {key: value for key, value in patch.items() if key != RELEASE_VAR}
    return {**patch, RELEASE_VAR: record.format()}


def _promotion_source(run: _Run, client: HerokuClient
                      ) -> tuple[Source, dict[str, Manifest]] | str:
    """What staging runs: its newest release, the image ID of each process type (the release
    phase has no formation: its image counts when it is web's, as this engine pushes one image
    for all three), each image's manifest and record. Two API requests; the rest is registry.
    A refusal (staging's release did not succeed) comes back as its one line."""
    staging, registry = str(run.options.promote_from), run.registry
    run.reporter.step(f"Staging: what {staging} runs")
    try:
        source = Source(staging, client.newest_release(staging), {}, {})
        refusal = staging_refusal(source)
        if refusal:
            return refusal
        images = running_images(client.formation(staging))
    except ApiInputError as error:
        if error.status != 404:
            raise
        raise InputError(f"Heroku has no app {staging!r} for this API key (404 not_found): "
                         "check --from and that the key's user can see it (`heroku apps`)"
                         ) from None
    manifests = {kind: read_manifest(client, registry, staging, kind) for kind in images}
    if "release" not in images and "web" in images:
        with contextlib.suppress(InputError):
            release = read_manifest(client, registry, staging, "release")
            if release.image_id == images["web"]:
                images["release"], manifests["release"] = release.image_id, release
    for kind, manifest in manifests.items():
        if manifest.image_id != images[kind]:
            raise InputError(
                f"staging's registry holds another {kind} image ({manifest.image_id[:19]}) "
                f"than the one {staging} runs ({images[kind][:19]}): it was pushed and not "
                "released — deploy staging again, then promote")
    labels: dict[str, str | None] = {}
    for kind, image in images.items():  # one read per distinct image (all three are one)
        if image not in labels:
            labels[image] = image_label(client, registry, staging, kind, image, RELEASE_LABEL)
    records = {kind: parse_record(labels[image]) for kind, image in images.items()}
    for kind, image in images.items():
        run.reporter.info(f"{kind}: {image} ({labels[image] or 'no record'})")
    return replace(source, images=images, records=records), manifests


def _copy_images(run: _Run, client: HerokuClient, source: Source,
                 manifests: Mapping[str, Manifest]) -> dict[str, str]:
    """Staging's images into the app's repositories, without a rebuild; then the image IDs
    read back from there, as a deploy reads them, which must be staging's."""
    app, registry = run.options.app, run.registry
    run.reporter.step(f"Copy {source.app}'s images to {app} (no rebuild)")
    count = CopyCount()
    for process_type in PROCESS_TYPES:
        copy_image(client, registry, manifests[process_type], source=source.app, target=app,
                   count=count)
    run.reporter.info(f"blobs: {count.mounted} mounted from {source.app}, {count.copied} "
                      f"copied, {count.present} already there")
    run.reporter.step("Image IDs from the registry")
    ids = image_ids(client, registry, app)
    run.result.image_ids = ids
    for kind, image in ids.items():
        run.reporter.info(f"{kind}: {image}")
    if ids != {process_type: source.images[process_type] for process_type in PROCESS_TYPES}:
        raise PlatformError(f"after the copy {app}'s image IDs differ from {source.app}'s: "
                            "the registry did not keep the bytes — nothing was released; "
                            "run the promotion again")
    run.released = source.record
    return ids


def _release_via_registry(run: _Run, client: HerokuClient, ids: dict[str, str],
                          patch: dict[str, str | None], captured: Release | None,
                          deadline: float) -> Release | _Ending | None:
    """The config PATCH (only when a setting changed), then the ONE docker-releases formation
    PATCH and "no new release?". Returns the release to check, or how the deploy ended.

    Why settings first: Heroku releases config and images apart, so one of the two boots
    first with the other's old half. The new image must never boot with old settings — a first
    deploy has no `_APP_OPENSSL_KEY_V1` or database settings yet, and the new image's release
    phase (migrate) must run against the settings it will serve with. The old image booting
    once with the new settings is safe: the patch holds Appwrite's own `_APP_*` variables,
    which every Appwrite version reads the same way or ignores, the launcher's knobs, which an
    older launcher ignores when it does not know them, and removals only of keys nothing
    derives any more (the launcher derives its settings from the add-on URLs at every boot).
    A config release whose release phase fails stops here, before the image is released."""
    app = run.options.app
    config_release = _write_config(run, patch, captured, captured, deadline)
    if isinstance(config_release, _Ending):
        return config_release
    run.reporter.step("Release (one docker-releases formation PATCH)")
    formation = client.release_images(app, ids)
    small = small_dynos(formation, run.config)
    if small:
        run.reporter.warning(f"dyno size too small for its processes: {', '.join(small)} "
                             f"(`heroku ps:type TYPE=SIZE -a {app}`)")
    newest = run.new_release_since(config_release or captured)
    if newest is None:
        if config_release is None:
            last = captured.get("version") if captured else None
            return _Ending(EXIT_OK, "no-op: the images are identical to the running ones; "
                           "Heroku made no new release", release_version=last)
        run.reporter.info("images unchanged; the config release is the new release")
        return config_release
    finished = _wait_release(run, newest, deadline)
    if finished.get("status") != "succeeded":
        return _fail(run, captured, f"the release phase of v{finished.get('version')} "
                     f"{_phase_outcome(finished)}", deadline, changed=config_release is not None)
    return finished


def _undo_after_error(run: _Run, captured: Release | None,
                      error: InputError | PlatformError, deadline: float) -> _Ending:
    """A write failed after retries. A PATCH that timed out may still have been applied, so
    ask what is current: anything newer than the captured release (the config and its release
    record) is rolled back — else the next run would take the recorded tag for the running
    one. Nothing newer: the error stands as it is."""
    # Requests we gave up on may still land: give them one request timeout to do so.
    run.clock.pause(run.options.api_timeout, deadline)
    try:
        newest = run.new_release_since(captured)
    except (InputError, PlatformError):
        newest = None
    if newest is None:
        raise error
    ending = _fail(run, captured, str(error), deadline, changed=True)
    return replace(ending, exit_status=error.exit_status)


def _phase_outcome(release: Mapping[str, Any]) -> str:
    status = release.get("status")
    if status == "pending":
        return "did not finish within --release-timeout"
    return "failed" if status == "failed" else f"ended {status}"


def _id(release: Mapping[str, Any] | None) -> str | None:
    return str(release["id"]) if release and release.get("id") else None


def _write_config(run: _Run, patch: dict[str, str | None], last: Release | None,
                  captured: Release | None,
                  deadline: float) -> Release | _Ending | None:
    """The ONE config PATCH. Returns its finished release, None when it made none, or how the
    deploy ended when its release failed (rolled back to ``captured``)."""
    if not patch:
        run.reporter.info("config vars: nothing to change (no restart)")
        return None
    assert run.client is not None
    run.reporter.step(f"Config vars: one PATCH of {len(patch)} key(s)")
    run.client.patch_config_vars(run.options.app, patch)
    release = run.new_release_since(last)
    if release is None:
        return None
    finished = _wait_release(run, release, deadline)
    if finished.get("status") != "succeeded":
        return _fail(run, captured, f"the release phase of the config release v"
                     f"{finished.get('version')} {_phase_outcome(finished)}", deadline,
                     changed=True)
    return finished


def _wait_release(run: _Run, release: Release, deadline: float) -> Release:
    """Streams the release-phase output, then polls until succeeded/failed (the status can stay
    pending after the stream ends) or the deadline passes (returned still pending)."""
    client = run.client
    assert client is not None
    version = release.get("version")
    if release.get("status") != "pending":
        return release
    run.reporter.step(f"Release phase of v{version}")
    stream = release.get("output_stream_url")
    if stream:
        for line in client.stream_lines(stream, deadline=deadline):
            run.reporter.info(line)
        # The status lags the end of the stream by a moment: one later poll instead of several.
        run.clock.pause(0.5, deadline)
    release_id = str(release["id"])
    release = poll(lambda: client.release(run.options.app, release_id),
                   lambda answer: answer.get("status") != "pending", deadline=deadline,
                   clock=run.clock, delay=0.4)
    if release.get("status") == "pending":
        run.reporter.error(f"release v{version} still pending at the release timeout")
    else:
        run.reporter.info(f"release v{version}: {release.get('status')}")
    return release


def _health(run: _Run, captured: Release | None, release: Release | None,
            hostname: str, deadline: float) -> _Ending:
    """GET /v1/health/version until it names the version released (the released images'
    record; the option when they carry none); red (rolled back) if not."""
    options = run.options
    version = release.get("version") if release else None
    released = run.released or make_record(options.tag, options.appwrite_version,
                                           options.commit)
    expected = released.appwrite or options.appwrite_version
    domain = run.served_domain or hostname
    run.reporter.step(f"Health: GET /v1/health/version on {hostname} (Host: {domain})")
    outcome = health.check(hostname, expected, timeout=options.health_timeout,
                           router_url=run.endpoints.router_url, host_header=domain,
                           on_attempt=lambda detail: run.reporter.info(f"not yet: {detail}"),
                           clock=run.clock)
    if not outcome.healthy:
        ending = _fail(run, captured, f"health check failed ({outcome.detail} after "
                       f"{outcome.attempts} attempts)", deadline, changed=True)
        return replace(ending, release_version=version, healthy=False)
    run.reporter.info(f"healthy: {outcome.detail}")
    if options.promote_from:
        what = (f"promoted v{version} from {options.promote_from} ({options.tag or 'untagged'}"
                f"; Appwrite {expected}, commit {(released.commit or '?')[:12]})")
    else:
        what = f"released v{version} ({released.tag or 'untagged'}, Appwrite {expected})"
    return _Ending(EXIT_OK, f"{what}{_restarts(run)}; healthy", release_version=version,
                   healthy=True)


def _restarts(run: _Run) -> str:
    """Say so when a deploy cost two releases: settings and images cannot go in one."""
    made = run.result.releases
    if len(made) < 2:
        return ""
    if run.options.build == "heroku":  # the build's release first, then the config PATCH
        return (f"; two releases: the build's v{made[0]}, then the record and settings "
                f"v{made[-1]} (Heroku's builds take no record)")
    return (f"; settings changed, so two releases: config v{made[0]}, then images "
            f"v{made[-1]} (Heroku releases config and images apart)")


def _fail(run: _Run, captured: Release | None, why: str, deadline: float, *,
          changed: bool) -> _Ending:
    """Red, always. Rolls back to the captured release when something newer is current."""
    client = run.client
    assert client is not None
    run.reporter.error(why)
    if not changed:
        return _Ending(EXIT_FAILED, f"FAILED: {why}; release v"
                       f"{captured.get('version') if captured else '-'}"
                       " is still current (nothing to roll back)")
    if captured is None or not run.options.rollback:
        return _Ending(EXIT_FAILED, f"FAILED: {why}; no rollback ("
                       f"{'disabled' if captured else 'no earlier release'})")
    run.reporter.step(f"Rollback to v{captured.get('version')}")
    try:
        rollback = client.rollback(run.options.app, str(captured["id"]))
        if isinstance(rollback.get("version"), int):
            run.result.releases.append(rollback["version"])
    except ApiInputError as error:
        return _Ending(EXIT_FAILED, f"FAILED: {why}; rollback to v{captured.get('version')} "
                       f"refused: {error} — roll back by hand: "
                       f"`heroku rollback -a {run.options.app}`")
    except PlatformError as error:
        return _Ending(EXIT_FAILED, f"FAILED: {why}; rollback failed: {error}")
    # A rollback runs the release phase again (Heroku docs: "Release Phase"): wait for it.
    finished = _wait_release(run, rollback, max(deadline, run.clock.deadline(120)))
    return _Ending(EXIT_FAILED, f"FAILED: {why}; rolled back to v{captured.get('version')} as "
                   f"v{finished.get('version')} ({finished.get('status')})",
                   rolled_back=finished.get("status") == "succeeded")


# -- the CLI ------------------------------------------------------------------------------------

class ConsoleReporter:
    """Steps and info to stdout, warnings and errors to stderr, every secret masked, every line
    one line that no workflow runner would take for a command (the CLI runs in CI too)."""

    def __init__(self, out: Callable[[str], None] | None = None,
                 err: Callable[[str], None] | None = None) -> None:
        self.redactor = Redactor()
        self._out = out or (lambda text: print(text, flush=True))
        self._err = err or (lambda text: print(text, file=sys.stderr, flush=True))

    def secret(self, value: str) -> None:
        self.redactor.add(value)

    def _lines(self, text: str) -> list[str]:
        return [safe_line(line) for line in self.redactor.redact(text).splitlines() or [""]]

    def step(self, title: str) -> None:
        for line in self._lines(f"==> {title}"):
            self._out(line)

    def info(self, message: str) -> None:
        for line in self._lines(message):
            self._out(line)

    def warning(self, message: str) -> None:
        for line in self._lines(f"warning: {message}"):
            self._err(line)

    def error(self, message: str) -> None:
        for line in self._lines(f"error: {message}"):
            self._err(line)


def _checked(rule: Callable[[str], Any]) -> Callable[[str], Any]:
    """An `inputs` rule as an argparse type: the same rule, argparse's one-line usage error."""
    def convert(text: str) -> Any:
        try:
            return rule(text)
        except InputError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
    convert.__name__ = getattr(rule, "__name__", "value")
    return convert


def _parse_config_pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {safe_line(repr(key))}")
    try:
        inputs.config_key(key, "--config")
        inputs.config_value(key, value, "--config")
    except InputError as error:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE: {error}") from None
    return key, value


def _options(args: argparse.Namespace, *, dry_run: bool) -> DeployOptions:
    defaults = DeployOptions(app="")
    return DeployOptions(
        app=args.app or "", tag=args.tag,
        appwrite_version=getattr(args, "appwrite_version", defaults.appwrite_version),
        build=getattr(args, "build", "none" if getattr(args, "promote_from", None)
                      else defaults.build),
        dry_run=dry_run or bool(getattr(args, "dry_run", False)),
        force=args.force, tag_pattern=args.tag_pattern, commit=args.commit,
        extra_config=inputs.config_pairs(args.config or [], "--config"),
        config_from=getattr(args, "config_from", None),
        health_timeout=getattr(args, "health_timeout", defaults.health_timeout),
        release_timeout=getattr(args, "release_timeout", defaults.release_timeout),
        rollback=not getattr(args, "no_rollback", False),
        source_dir=getattr(args, "source_dir", defaults.source_dir),
        promote_from=getattr(args, "promote_from", None),
        budget_table=args.budget_table)


def _run_command(args: argparse.Namespace, *, dry_run: bool) -> int:
    reporter = ConsoleReporter()
    options = _options(args, dry_run=dry_run)
    try:
        result = deploy(options, reporter)
    except Exception as error:
        # The CLI prints the message: make sure no secret the engine saw is in it.
        error.args = tuple(reporter.redactor.redact(str(a)) for a in error.args)
        raise
    return result.exit_status


def _record_arguments(parser: argparse.ArgumentParser, *, verb: str, plan: bool) -> None:
    """What is released and under which name: the same for deploy, plan and promote."""
    parser.add_argument("--tag", type=_checked(inputs.tag),
                        help=f"the git tag being {verb}, e.g. v1.2.3 (default: none, an "
                             "untagged release)")
    parser.add_argument("--tag-pattern", default="v*", type=_checked(inputs.tag_pattern),
                        help="refs that may be released (glob, default %(default)s)")
    parser.add_argument("--commit", type=_checked(inputs.commit),
                        help="the commit SHA, recorded with the release (default: none)"
                        if verb != "promoted" else "the commit the tag names: staging must "
                        "run it (default: not checked)")
    parser.add_argument("--config", action="append", type=_parse_config_pair,
                        metavar="KEY=VALUE",
                        help="a config var of your own (repeatable; default: none)")
    parser.add_argument("--force", action="store_true",
                        help=("plan as deploy --force would: " if plan else "")
                        + ("release even the running or an older tag (default: off)"
                           if verb != "promoted" else "promote even another commit than "
                           "--commit, or a tag older than production's (default: off)"))
    parser.add_argument("--budget", dest="budget_table", action="store_true",
                        help="after the plan, the budget's table (what `appwrite-heroku "
                             "budget` prints) as well as its verdict (default: the verdict, "
                             "one line)")


def _writing_arguments(parser: argparse.ArgumentParser, *, plan_name: str) -> None:
    """How a release that writes is waited for, and undone."""
    parser.add_argument("--no-rollback", action="store_true",
                        help="leave a failed release in place (default: roll back)")
    parser.add_argument(
        "--health-timeout", default=300.0, metavar="SECONDS",
        type=_checked(lambda text: inputs.seconds(text, "--health-timeout",
                                                  HEALTH_TIMEOUT_MAX)),
        help="how long the new release may take to answer /v1/health/version "
             "(default %(default)s)")
    parser.add_argument(
        "--release-timeout", default=1800.0, metavar="SECONDS",
        type=_checked(lambda text: inputs.seconds(text, "--release-timeout")),
        help="how long the release phase may run (default %(default)s)")
    parser.add_argument("--dry-run", action="store_true",
                        help=f"{plan_name}: print the plan, write nothing (default: off)")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Adds `deploy`, `plan` and `promote`; each lists only the options it uses, with its
    default."""
    for name, dry_run, help_text in (
        ("deploy", False, "build, push and release Appwrite Lite to a Heroku app"),
        ("plan", True, "show what deploy would change (masked), writing nothing"),
    ):
        parser = subparsers.add_parser(name, help=help_text, description=help_text)
        parser.add_argument("--app", "-a", required=False, default=os.environ.get("HEROKU_APP"),
                            help="the Heroku app (default: $HEROKU_APP"
                            + (", else HEROKU_APP_NAME in --config-from" if dry_run else "")
                            + ")")
        _record_arguments(parser, verb="released", plan=dry_run)
        parser.add_argument("--appwrite-version", default=PINNED_APPWRITE_VERSION,
                            type=_checked(inputs.appwrite_version),
                            help="the Appwrite image tag to build on (default %(default)s)")
        parser.add_argument("--build", choices=builder.BUILDS, default="docker",
                            help="how to build: docker (buildx), buildah, heroku (Build API), "
                                 "none (images already pushed) (default %(default)s)")
        if dry_run:
            parser.add_argument("--config-from", metavar="FILE.json",
                                help="plan from `heroku config --json` output: no account "
                                     "needed (default: ask Heroku for the app's config)")
        else:
            parser.add_argument("--source-dir", default=".",
                                help=f"the build context holding {builder.DOCKERFILE} "
                                     "(default %(default)s)")
            _writing_arguments(parser, plan_name="the same as `plan`")
        parser.set_defaults(func=lambda args, dry=dry_run: _run_command(args, dry_run=dry))
    _register_promote(subparsers)


def _register_promote(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    help_text = ("release the images a staging app runs on a production app, unchanged (no "
                 "rebuild), with production's own config, release phase, health and rollback")
    parser = subparsers.add_parser("promote", help=help_text, description=help_text)
    parser.add_argument("--from", dest="promote_from", metavar="STAGING_APP", required=True,
                        type=_checked(lambda text: inputs.app_name(text, "--from")),
                        help="the app whose running images are promoted")
    parser.add_argument("--to", dest="app", metavar="PRODUCTION_APP",
                        default=os.environ.get("HEROKU_APP"),
                        help="the app they are released on (default: $HEROKU_APP)")
    _record_arguments(parser, verb="promoted", plan=False)
    _writing_arguments(parser, plan_name="show what the promotion would change")
    parser.set_defaults(func=lambda args: _run_command(args, dry_run=False))
