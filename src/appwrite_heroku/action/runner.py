"""The GitHub Action's run: runner inputs in, the release engine, GitHub reports out.

entrypoint.py, what the Action's image runs, calls `main`. It masks the API key and the
GitHub token before anything else is printed, maps `INPUT_*` (hyphens kept, as the runner
names them) and `GITHUB_*` to ``DeployOptions`` (with `promote-from`, a promotion of the images
that app runs instead of a build), runs ``deploy()`` with a reporter that opens
a log group per engine step, then writes the outputs, the step summary, the error annotation
and the GitHub Deployment status. The exit status is the engine's: 0 released (or nothing to
do), 1 release or health failed, 2 bad input, 3 Heroku kept failing.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from ..clock import SYSTEM, Clock
from ..config import inputs
from ..config.user_config import parse_config
from ..config.variables import PINNED_APPWRITE_VERSION
from ..errors import EXIT_FAILED, EXIT_USAGE, AppwriteHerokuError, InputError
from ..release.build import BUILDS, DOCKERFILE
from ..release.engine import (
    HEALTH_TIMEOUT_MAX,
    DeployOptions,
    DeployResult,
    check_promotion,
    deploy,
)
from ..secrecy import config_secrets
from .deployments import DeploymentRecord, RunContext
from .workflow import (
    ActionsReporter,
    append_summary,
    summary_markdown,
    write_outputs,
)

_ERROR_TITLES = {1: "Release failed", 2: "Bad input", 3: "Heroku API failed"}


@dataclass(frozen=True)
class ActionInputs:
    api_key: str
    github_token: str
    environment: str
    options: DeployOptions


def _input(env: Mapping[str, str], name: str, default: str = "") -> str:
    """The runner's variable for an input: upper-cased, spaces to `_`, hyphens kept."""
    return env.get(f"INPUT_{name.replace(' ', '_').upper()}", default).strip()


def _boolean(env: Mapping[str, str], name: str, default: str) -> bool:
    return inputs.boolean(_input(env, name) or default, f"input {name}")


def tag_from_ref(ref: str) -> str | None:
    """`refs/tags/v1.2.3` → `v1.2.3`; a branch push has no tag."""
    return ref.removeprefix("refs/tags/") if ref.startswith("refs/tags/") else None


def lite_context(workspace: Path, bundled: str | None) -> str:
    """The repository's own Lite build context if it has one, else the copy in the image."""
    if (workspace / DOCKERFILE).is_file():
        return str(workspace)
    if bundled and (Path(bundled) / DOCKERFILE).is_file():
        return bundled
    return str(workspace)


def parse_inputs(env: Mapping[str, str]) -> ActionInputs:
    """Every input checked here, by the rules the CLI uses (`inputs`), so a typo fails in a
    second with one line naming the input, not mid-release."""
    app = _input(env, "app")
    inputs.app_name(app, "input app",
                    hint="set `app: <your Heroku app name>` in the workflow step")
    api_key = inputs.api_key(_input(env, "heroku-api-key"), "input heroku-api-key")
    build = inputs.choice(_input(env, "build", "docker") or "docker", "input build", BUILDS)
    health_timeout = inputs.seconds(_input(env, "health-timeout", "300") or "300",
                                    "input health-timeout", HEALTH_TIMEOUT_MAX)
    version = inputs.appwrite_version(
        _input(env, "appwrite-version") or PINNED_APPWRITE_VERSION, "input appwrite-version")
    tag = inputs.tag(tag_from_ref(env.get("GITHUB_REF", "")), "the tag in GITHUB_REF")
    token = _input(env, "github-token")
    if token:
        inputs.api_key(token, "input github-token")
    environment = inputs.plain_text(_input(env, "environment", "production") or "production",
                                    "input environment")
    workspace = Path(env.get("GITHUB_WORKSPACE") or os.getcwd())
    promote_from = _input(env, "promote-from") or None
    if promote_from is not None:
        inputs.app_name(promote_from, "input promote-from",
                        hint="set `promote-from: <the staging app's name>`, or remove it")
    options = DeployOptions(
        app=app,
        tag=tag,
        appwrite_version=version,
        build=build,
        dry_run=_boolean(env, "dry-run", "false"),
        force=_boolean(env, "force", "false"),
        tag_pattern=inputs.tag_pattern(_input(env, "tag-pattern", "v*") or "v*",
                                       "input tag-pattern"),
        commit=inputs.commit(env.get("GITHUB_SHA") or None, "GITHUB_SHA"),
        extra_config=inputs.user_config(parse_config(env.get("INPUT_CONFIG", ""),
                                                     "input config"), "input config"),
        health_timeout=health_timeout,
        rollback=_boolean(env, "rollback", "true"),
        source_dir=lite_context(workspace, env.get("APPWRITE_LITE_CONTEXT")),
        promote_from=promote_from,  # then `build` is not used: staging's images are
    )
    check_promotion(options, "input promote-from")
    return ActionInputs(api_key=api_key, github_token=token, environment=environment,
                        options=options)


def outputs_of(result: DeployResult) -> dict[str, str]:
    """A dry run changed nothing, so `changed-config-keys` stays empty (a plan is no write)."""
    return {
        "app-url": result.app_url or "",
        "release-version": str(result.release_version or ""),
        "image-ids": json.dumps(result.image_ids, sort_keys=True),
        "rolled-back": "true" if result.rolled_back else "false",
        "changed-config-keys": "\n".join(result.changed_config_keys),
    }


def run(env: Mapping[str, str], out: TextIO, clock: Clock = SYSTEM) -> int:
    """One run of the Action; `clock` keeps the engine's time (its waits and retries)."""
    reporter = ActionsReporter(out, error_title="Release failed")
    # Masks first: nothing, not even an input error, is printed before the runner knows them.
    reporter.secret(_input(env, "heroku-api-key"))
    reporter.secret(_input(env, "github-token"))
    try:
        parsed = parse_inputs(env)
    except InputError as error:
        reporter.error(str(error), title="Bad input")
        return EXIT_USAGE
    options = parsed.options
    for value in config_secrets(options.extra_config):
        reporter.secret(value)
    # The engine reads the key from the environment it is given, never from argv; the
    # process's own environment is left as the runner made it.
    engine_env = {**env, "HEROKU_API_KEY": parsed.api_key}

    record = DeploymentRecord(reporter, RunContext.from_env(env), parsed.github_token)
    ref = options.tag or env.get("GITHUB_SHA") or env.get("GITHUB_REF_NAME") or "HEAD"
    if not options.dry_run:
        reporter.step("Record GitHub deployment")
        what = (f"from {options.promote_from}" if options.promote_from
                else f"(Appwrite {options.appwrite_version})")
        record.start(ref, parsed.environment, f"Appwrite Lite {ref} {what} to {options.app}")
    try:
        result = deploy(options, reporter, env=engine_env, clock=clock)
    except AppwriteHerokuError as error:
        result = DeployResult(exit_status=error.exit_status, summary=str(error))
    except Exception as error:  # a defect: still one redacted line, a red step, a record
        result = DeployResult(exit_status=EXIT_FAILED,
                              summary=reporter.redactor.redact(
                                  f"unexpected {type(error).__name__}: {error}"))
    reporter.end_group()

    if result.exit_status != 0 and result.summary not in reporter.errors:
        # The engine annotates the failures it finds; errors it raised are annotated here.
        reporter.error(result.summary or "the release failed",
                       title=_ERROR_TITLES.get(result.exit_status, "Release failed"))
    if not options.dry_run:
        record.finish(result.exit_status == 0, result.app_url, result.summary or "released")
    _report_files(env, reporter, outputs_of(result),
                  summary_markdown(options.app, options.tag, result, options.dry_run))
    return result.exit_status


def _report_files(env: Mapping[str, str], reporter: ActionsReporter, outputs: dict[str, str],
                  summary: str) -> None:
    """The outputs and the summary into the runner's files. A file that cannot be written
    costs a warning, not the run's status: the release happened (or not) either way."""
    for name in ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY"):
        if not env.get(name):
            continue
        try:
            if name == "GITHUB_OUTPUT":
                write_outputs(env[name], outputs, reporter.redactor)
            else:
                append_summary(env[name], summary, reporter.redactor)
        except OSError as error:
            reporter.warning(f"cannot write ${name} ({error.strerror or type(error).__name__}): "
                             "this step's outputs or summary are lost; the exit status is "
                             "the release's")


def main() -> int:
    return run(os.environ, sys.stdout)
