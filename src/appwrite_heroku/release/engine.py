"""The release engine: build, push, rewrite config, release, wait, check health, roll back.

CONTRACT (the CLI's `deploy`/`plan` and the Action's entrypoint.py both call this; keep names):

    deploy(options: DeployOptions, reporter: Reporter) -> DeployResult

It raises ``InputError`` (exit 2) for bad input, ``PlatformError`` (exit 3) when Heroku keeps
failing after retries, and returns a result whose ``exit_status`` is 1 for a failed release or
health check (rolled back or not) — never 0 for a failed release.

Order (each step is a ``reporter.step``): preflight (app, config vars, newest release) → tag
guard → build + push → image IDs from the registry → ONE config PATCH if anything changed (and
wait for its release) → ONE docker-releases formation PATCH → "no new release"? → stream and
poll the release phase → health → on failure, roll back to the release captured at preflight.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol
from urllib.parse import urlsplit

from ..clock import SYSTEM, Clock, poll
from ..config import addons, appetite, inputs, queues
from ..config import budget as budget_model
from ..config import settings as settings_engine
from ..config.heroku_types import APP_NAME, PROCESS_TYPES, Formation, Release
from ..config.variables import PINNED_APPWRITE_VERSION
from ..display import safe_line
from ..errors import EXIT_FAILED, EXIT_OK, InputError, NotReadyError, PlatformError
from ..secrecy import Redactor, config_secrets
from . import build as builder
from . import health
from .heroku_api import DEFAULT_API_URL, ApiInputError, HerokuClient, make_retry
from .plan import Plan, diff, full_patch, render
from .registry import DEFAULT_REGISTRY_URL, Registry, image_ids
from .tag_guard import RELEASE_VAR, GuardDecision, check_tag, decide, make_record, parse_record

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
    api_requests: int = 0  # Heroku Platform API requests this deploy made


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
        urls = {name: inputs.http_url(env[name], name) for name in
                ("HEROKU_API_URL", "HEROKU_REGISTRY_URL", "HEROKU_ROUTER_URL") if env.get(name)}
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
    if options.config_from is None or options.app:
        inputs.app_name(options.app, "app name")
    if options.config_from is not None and not options.dry_run:
        raise InputError("--config-from only plans (no account, no writes): use "
                         "`appwrite-heroku plan --config-from FILE`")
    inputs.config_vars(options.extra_config, "--config")
    inputs.tag(options.tag)
    inputs.tag_pattern(options.tag_pattern)
    inputs.appwrite_version(options.appwrite_version)
    inputs.commit(options.commit)
    check_tag(options.tag, options.tag_pattern)
    inputs.seconds(options.health_timeout, "--health-timeout", HEALTH_TIMEOUT_MAX)
    inputs.seconds(options.release_timeout, "--release-timeout")


def missing_addons(config: Mapping[str, str]) -> list[str]:
    """The add-ons Appwrite cannot run without, judged from config vars already read."""
    missing = []
    # The add-ons are found by the variables the dyno reads (addons.py), or set by hand.
    has_redis = addons.redis_candidates(config) or config.get("_APP_REDIS_HOST")
    default = budget_model.DEFAULT_PROFILE  # the plans the Deploy button attaches
    if not has_redis:
        missing.append(f"a Redis add-on (heroku addons:create {default.redis_plan} -a APP)")
    if not (addons.database_candidates(config) or config.get("_APP_DB_HOST")):
        missing.append(f"a database add-on (heroku addons:create {default.db_plan} -a APP)")
    return missing


def hostname_of(web_url: str | None) -> str | None:
    return urlsplit(web_url).hostname if web_url else None


def small_dynos(formation: Sequence[Formation], config: Mapping[str, str] | None = None,
                ) -> list[str]:
    """Dynos too small for their processes even at the smallest sizing (budget.py's memory
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

    def new_release_since(self, ref: Mapping[str, Any] | None) -> Release | None:
        """The app's newest release when it is not `ref` (a write made one), else None
        (heroku/cli src/commands/container/release.ts:98 compares the release ids alike)."""
        assert self.client is not None
        newest = self.client.newest_release(self.options.app)
        if newest is None or newest.get("id") == _id(ref):
            return None
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
    named = config.get("HEROKU_APP_NAME") or ""
    run = _Run(options, reporter, Endpoints(None, DEFAULT_API_URL, DEFAULT_REGISTRY_URL, None))
    run.mask_config(config)
    run.mask_config(options.extra_config)
    reporter.step("Plan (offline, from a config file)")
    merged = {**config, **options.extra_config}
    derivation, generated = _derive(run, merged, None)
    _check_ready(derivation)
    record = make_record(options.tag, options.appwrite_version, options.commit).format()
    patch = full_patch(config, derivation, generated, options.extra_config, record)
    app = options.app or (named if APP_NAME.fullmatch(named) else "APP")
    plan = Plan(app=app, build=options.build,
                config_changes=diff(config, patch, derivation.secret_keys),
                images=_planned_images(options, app))
    plan.warnings.extend(f"missing {m}" for m in missing_addons(config))
    for line in render(plan):
        reporter.info(line)
    run.result.planned_config_keys = sorted(patch)
    setup, source = budget_model.offline_setup(merged)
    budget, refusal = budget_model.judge_setup(setup, merged, plans="these plans")
    for line in budget_model.render(budget, f"Budget (plans and dynos from {source})"):
        reporter.info(line)
    if refusal is not None:
        _refuse(run, refusal)
        return run.result
    run.result.summary = (f"plan: {len(patch)} config change(s), release "
                          f"{', '.join(plan.images)}; nothing written")
    return run.result


def _judge_budget(run: _Run, client: HerokuClient) -> budget_model.Judgement:
    """The app's plans and dynos from the Platform API (two GETs), judged by the connection
    and memory model before anything is written; its lines join the plan's output."""
    app = run.options.app
    judgement = budget_model.judge(client.addons(app), client.formation(app), run.config)
    for warning in judgement.warnings:
        run.reporter.warning(warning)
    if judgement.budget is not None:
        for line in budget_model.render(judgement.budget):
            run.reporter.info(line)
    return judgement


def _refuse(run: _Run, why: str) -> None:
    """Nothing fits: red before any write (no config change, no release)."""
    run.reporter.error(why)
    run.result.exit_status = EXIT_FAILED
    run.result.summary = f"refused: {why}"


def _planned_images(options: DeployOptions, app: str) -> dict[str, str]:
    what = {"none": "the image already at <registry>/{app}/{kind}:latest",
            "heroku": "built by Heroku from heroku.yml"}.get(
        options.build, f"{builder.DOCKERFILE} (APPWRITE_VERSION={options.appwrite_version}, "
                       "linux/amd64, v2s2) pushed to <registry>/{app}/{kind}:latest")
    return {kind: what.replace("{app}", app).replace("{kind}", kind) for kind in PROCESS_TYPES}


def deploy(options: DeployOptions, reporter: Reporter,
           env: Mapping[str, str] | None = None,
           runner: builder.CommandRunner = builder.spawn,
           clock: Clock = SYSTEM) -> DeployResult:
    """`runner` runs the build commands and `clock` keeps the engine's time: a caller may
    inject one that watches every argv, or one that does not sleep."""
    check_options(options)
    if options.config_from is not None:
        return plan_offline(options, reporter)
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
        run.result.api_requests = client.request_count
        client.close()
    return run.result


def _deploy(run: _Run, client: HerokuClient) -> None:
    """One straight pass, each phase handing its answer to the next, as the Heroku CLI's
    `container:release` does (heroku/cli src/commands/container/release.ts `run()`: app →
    image ids → releases before → formation PATCH → new release? → stream → status):
    preflight → guard → plan → release via the Build API or via the registry (each waits for
    the releases it makes) → health → finish."""
    options = run.options
    preflight = _preflight(run, client)
    decision = _guard(run, preflight)
    if decision.action == "noop":
        version = preflight.captured.get("version") if preflight.captured else None
        _finish(run, _Ending(EXIT_OK, f"no-op: {decision.reason}", release_version=version))
        return
    patch, refusal = _plan(run, client, preflight)
    if refusal:
        _refuse(run, refusal)
        return
    if options.dry_run:
        run.result.planned_config_keys = sorted(patch)
        run.result.summary = f"dry run: {len(patch)} config change(s) planned; nothing written"
        return
    run.result.changed_config_keys = sorted(patch)
    deadline = run.clock.deadline(options.release_timeout)
    captured = preflight.captured
    if options.build == "heroku":
        released = _release_via_build_api(run, client, patch, captured, deadline)
        _finish(run, released if isinstance(released, _Ending)
                else _health(run, captured, released, preflight.hostname, deadline))
        return
    ids = _build_and_push(run, client)
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
    config: dict[str, str]  # the app's config vars as Heroku holds them
    captured: Release | None  # the release to roll back to


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
    """The app (container stack, web URL), its config vars and add-ons, and the release to
    roll back to — after any release still pending has finished, so this run never races it."""
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
    config = _read_config(run, client)
    missing = missing_addons(config)
    if missing:
        raise InputError(f"app {app} lacks {' and '.join(missing)}".replace("APP", app))
    captured = client.newest_release(app)
    if captured is not None and captured.get("status") == "pending":
        # Another deploy (or a config change) is mid-release: let it finish, then judge
        # against what it leaves.
        run.reporter.info(f"release v{captured.get('version')} is still pending; waiting for it")
        _wait_release(run, captured, run.clock.deadline(run.options.release_timeout))
        config = _read_config(run, client)
        captured = client.newest_release(app)
    return _Preflight(hostname, config, captured)


def _read_config(run: _Run, client: HerokuClient) -> dict[str, str]:
    """The app's config vars, checked as Heroku holds them and masked before anything could
    print them: every read alike, the one after a pending release too."""
    app = run.options.app
    config = inputs.config_vars(client.config_vars(app), f"the config vars of {app}")
    run.mask_config(config)
    return config


def _guard(run: _Run, preflight: _Preflight) -> GuardDecision:
    """The tag guard: the tag recorded with the running release against the one deployed."""
    options, captured = run.options, preflight.captured
    running = parse_record(preflight.config.get(RELEASE_VAR))
    captured_ok = bool(captured and captured.get("status") == "succeeded"
                       and captured.get("current", True))
    decision = decide(tag=options.tag, appwrite=options.appwrite_version,
                      commit=options.commit, running=running, running_ok=captured_ok,
                      force=options.force, pattern=options.tag_pattern)
    for warning in decision.warnings:
        run.reporter.warning(warning)
    run.reporter.info(f"{decision.reason}; newest release "
                      f"v{captured.get('version') if captured else '-'}")
    return decision


def _plan(run: _Run, client: HerokuClient, preflight: _Preflight
          ) -> tuple[dict[str, str | None], str | None]:
    """The ONE config patch and the budget's refusal (None when it fits), both printed."""
    options, config = run.options, preflight.config
    merged = {**config, **options.extra_config}
    derivation, generated = _derive(run, merged, preflight.hostname)
    run.served_domain = derivation.settings.get("_APP_DOMAIN") or preflight.hostname
    _check_ready(derivation)
    run.config = merged
    judgement = _judge_budget(run, client)
    record = make_record(options.tag, options.appwrite_version, options.commit).format()
    patch = full_patch(config, derivation, generated, options.extra_config, record,
                       judgement.record)
    plan = Plan(app=options.app, build=options.build, config_changes=diff(config, patch,
                derivation.secret_keys), images=_planned_images(options, options.app))
    for line in render(plan):
        run.reporter.info(line)
    return patch, judgement.refusal


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
    the registry holds for each process type."""
    options, app = run.options, run.options.app
    registry = Registry(run.endpoints.registry_url)
    if options.build in ("buildah", "docker"):
        assert run.endpoints.api_key is not None
        run.reporter.step(f"Build and push ({options.build})")
        if options.build == "buildah":
            builder.build_buildah(app=app, registry=registry, api_key=run.endpoints.api_key,
                                  source_dir=options.source_dir,
                                  appwrite_version=options.appwrite_version,
                                  on_line=run.reporter.info, storage_dir=options.buildah_storage,
                                  run=run.runner)
        else:
            builder.build_docker(app=app, registry=registry, api_key=run.endpoints.api_key,
                                 source_dir=options.source_dir,
                                 appwrite_version=options.appwrite_version,
                                 on_line=run.reporter.info, run=run.runner)
    run.reporter.step("Image IDs from the registry")
    ids = image_ids(client, registry, app)
    run.result.image_ids = ids
    for kind, image in ids.items():
        run.reporter.info(f"{kind}: {image}")
    return ids


def _release_via_registry(run: _Run, client: HerokuClient, ids: dict[str, str],
                          patch: dict[str, str | None], captured: Release | None,
                          deadline: float) -> Release | _Ending | None:
    """The config PATCH, then the ONE docker-releases formation PATCH and "no new release?".
    Returns the release to check, or how the deploy ended."""
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
    """GET /v1/health/version until it names the version released; red (rolled back) if not."""
    options = run.options
    version = release.get("version") if release else None
    domain = run.served_domain or hostname
    run.reporter.step(f"Health: GET /v1/health/version on {hostname} (Host: {domain})")
    outcome = health.check(hostname, options.appwrite_version, timeout=options.health_timeout,
                           router_url=run.endpoints.router_url, host_header=domain,
                           on_attempt=lambda detail: run.reporter.info(f"not yet: {detail}"),
                           clock=run.clock)
    if not outcome.healthy:
        ending = _fail(run, captured, f"health check failed ({outcome.detail} after "
                       f"{outcome.attempts} attempts)", deadline, changed=True)
        return replace(ending, release_version=version, healthy=False)
    run.reporter.info(f"healthy: {outcome.detail}")
    return _Ending(EXIT_OK, f"released v{version} ({options.tag or 'untagged'}, "
                   f"Appwrite {options.appwrite_version}); healthy",
                   release_version=version, healthy=True)


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
        app=args.app or "", tag=args.tag, appwrite_version=args.appwrite_version,
        build=args.build, dry_run=dry_run or bool(getattr(args, "dry_run", False)),
        force=args.force, tag_pattern=args.tag_pattern, commit=args.commit,
        extra_config=dict(args.config or []), config_from=getattr(args, "config_from", None),
        health_timeout=getattr(args, "health_timeout", defaults.health_timeout),
        release_timeout=getattr(args, "release_timeout", defaults.release_timeout),
        rollback=not getattr(args, "no_rollback", False),
        source_dir=getattr(args, "source_dir", defaults.source_dir))


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


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Adds `deploy` and `plan`; each lists only the options it uses, with its default."""
    for name, dry_run, help_text in (
        ("deploy", False, "build, push and release Appwrite Lite to a Heroku app"),
        ("plan", True, "show what deploy would change (masked), writing nothing"),
    ):
        parser = subparsers.add_parser(name, help=help_text, description=help_text)
        parser.add_argument("--app", "-a", required=False, default=os.environ.get("HEROKU_APP"),
                            help="the Heroku app (default: $HEROKU_APP"
                            + (", else HEROKU_APP_NAME in --config-from" if dry_run else "")
                            + ")")
        parser.add_argument("--tag", type=_checked(inputs.tag),
                            help="the git tag being released, e.g. v1.2.3 (default: none, an "
                                 "untagged release)")
        parser.add_argument("--tag-pattern", default="v*", type=_checked(inputs.tag_pattern),
                            help="refs that may be released (glob, default %(default)s)")
        parser.add_argument("--appwrite-version", default=PINNED_APPWRITE_VERSION,
                            type=_checked(inputs.appwrite_version),
                            help="the Appwrite image tag to build on (default %(default)s)")
        parser.add_argument("--commit", type=_checked(inputs.commit),
                            help="the commit SHA, recorded with the release (default: none)")
        parser.add_argument("--build", choices=builder.BUILDS, default="docker",
                            help="how to build: docker (buildx), buildah, heroku (Build API), "
                                 "none (images already pushed) (default %(default)s)")
        parser.add_argument("--config", action="append", type=_parse_config_pair,
                            metavar="KEY=VALUE",
                            help="a config var of your own (repeatable; default: none)")
        parser.add_argument("--force", action="store_true",
                            help=("plan as deploy --force would: " if dry_run else "")
                            + "release even the running or an older tag (default: off)")
        if dry_run:
            parser.add_argument("--config-from", metavar="FILE.json",
                                help="plan from `heroku config --json` output: no account "
                                     "needed (default: ask Heroku for the app's config)")
        else:
            parser.add_argument("--source-dir", default=".",
                                help=f"the build context holding {builder.DOCKERFILE} "
                                     "(default %(default)s)")
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
                                help="the same as `plan`: print the plan, write nothing "
                                     "(default: off)")
        parser.set_defaults(func=lambda args, dry=dry_run: _run_command(args, dry_run=dry))
