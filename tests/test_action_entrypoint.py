"""The Action end to end: `entrypoint.py` run as the runner runs it (a process with `INPUT_*`
and `GITHUB_*` set) against the Heroku API stand-in, the real local registry (images built by
buildah) and the GitHub API stand-in. Checked: the outputs file, the summary file, masks before
first use, log groups, annotations, deployment statuses, exit status, and no secret anywhere."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from helpers import (
    CANARIES,
    CANARY_API_KEY,
    CANARY_DB_PASSWORD,
    CANARY_GITHUB_TOKEN,
    CANARY_REDIS_PASSWORD,
    CANARY_SMTP_PASSWORD,
    make_appwrite_app,
    parse_outputs,
    small_lite_dockerfile,
)
from services import have, isolated_env
from standins.github import GitHubStandIn
from standins.heroku import HerokuStandIn

ROOT = Path(__file__).resolve().parent.parent
ENTRYPOINT = ROOT / "entrypoint.py"
ACTION_CANARIES = (*CANARIES, CANARY_GITHUB_TOKEN, CANARY_SMTP_PASSWORD)

needs_buildah = pytest.mark.skipif(not have("buildah"), reason="buildah is installed by .ci/run")


@dataclass
class Run:
    status: int
    stdout: str
    stderr: str
    outputs: dict[str, str]
    summary: str

    def lines(self) -> list[str]:
        return self.stdout.splitlines()

    def masked(self) -> list[str]:
        return [line.removeprefix("::add-mask::") for line in self.lines()
                if line.startswith("::add-mask::")]

    def assert_no_secret_leaks(self) -> None:
        """Apart from the `::add-mask::` lines themselves, no canary is anywhere; and each
        canary that is masked is masked before any line that could have carried it."""
        printed = "\n".join(line for line in self.lines()
                            if not line.startswith("::add-mask::"))
        for canary in ACTION_CANARIES:
            for where, text in (("stdout", printed), ("stderr", self.stderr),
                                ("outputs", json.dumps(self.outputs)),
                                ("summary", self.summary)):
                assert canary not in text, f"a canary secret leaked into {where}"


@dataclass
class Action:
    heroku: HerokuStandIn
    github: GitHubStandIn
    registry_url: str
    tmp: Path
    workspace: Path

    def run(self, inputs: dict[str, str], ref: str = "refs/tags/v1.0.0",
            timeout: float = 120) -> Run:
        outputs, summary = self.tmp / "github_output", self.tmp / "step_summary"
        outputs.write_text("")
        summary.write_text("")
        env = isolated_env(self.tmp)
        env.pop("HEROKU_API_KEY", None)
        storage = self.tmp / "storage"
        conf = self.tmp / "storage.conf"
        conf.write_text(  # a self-hosted runner's own buildah storage: vfs in a temp dir
            f'[storage]\ndriver = "vfs"\ngraphroot = "{storage}/root"\n'
            f'runroot = "{storage}/run"\n')
        env.update({
            "CONTAINERS_STORAGE_CONF": str(conf),
            "HEROKU_API_URL": self.heroku.url,
            "HEROKU_REGISTRY_URL": self.registry_url,
            "HEROKU_ROUTER_URL": self.heroku.router_url,
            "GITHUB_ACTIONS": "true",
            "GITHUB_REF": ref,
            "GITHUB_REF_NAME": ref.rsplit("/", 1)[-1],
            "GITHUB_SHA": "0123abc0123abc0123abc0123abc0123abc0123",
            "GITHUB_REPOSITORY": self.github.repository,
            "GITHUB_RUN_ID": "424242",
            "GITHUB_SERVER_URL": "https://github.com",
            "GITHUB_API_URL": self.github.url,
            "GITHUB_WORKSPACE": str(self.workspace),
            "GITHUB_OUTPUT": str(outputs),
            "GITHUB_STEP_SUMMARY": str(summary),
            # the defaults the runner fills in from action.yml
            "INPUT_APPWRITE-VERSION": "1.9.6", "INPUT_TAG-PATTERN": "v*", "INPUT_BUILD": "docker",
            "INPUT_CONFIG": "", "INPUT_HEALTH-TIMEOUT": "300", "INPUT_ROLLBACK": "true",
            "INPUT_DRY-RUN": "false", "INPUT_FORCE": "false", "INPUT_ENVIRONMENT": "production",
            "INPUT_GITHUB-TOKEN": CANARY_GITHUB_TOKEN, "INPUT_HEROKU-API-KEY": CANARY_API_KEY,
        })
        env.update({f"INPUT_{name.upper()}": value for name, value in inputs.items()})
        done = subprocess.run([sys.executable, str(ENTRYPOINT)], cwd=self.workspace, env=env,
                              capture_output=True, text=True, timeout=timeout)
        return Run(done.returncode, done.stdout, done.stderr,
                   parse_outputs(outputs.read_text()), summary.read_text())


@pytest.fixture
def action(heroku_standin: HerokuStandIn, github: GitHubStandIn, registry, tmp_path: Path
           ) -> Iterator[Action]:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    shutil.copy("/bin/busybox", workspace / "busybox")
    (workspace / "Dockerfile.lite").write_text(small_lite_dockerfile())
    (workspace / "marker.txt").write_text("one\n")
    yield Action(heroku_standin, github, registry.url, tmp_path, workspace)
    shutil.rmtree(tmp_path / "storage", ignore_errors=True)


def make_app(standin: HerokuStandIn, **kwargs: object) -> str:
    return make_appwrite_app(standin, "act", **kwargs)


@needs_buildah
def test_tagged_push_releases_and_reports_everything(action: Action) -> None:
    app = make_app(action.heroku)
    run = action.run({
        "app": app, "build": "buildah", "health-timeout": "10",
        "config": f"_APP_SMTP_HOST: smtp.example.com\n_APP_SMTP_PASSWORD: {CANARY_SMTP_PASSWORD}\n",
    })
    assert run.status == 0, run.stdout + run.stderr
    run.assert_no_secret_leaks()
    lines = run.lines()
    # The key is masked before anything else is printed; the token and the user's secret
    # config value straight after.
    assert lines[0] == f"::add-mask::{CANARY_API_KEY}"
    assert lines[1] == f"::add-mask::{CANARY_GITHUB_TOKEN}"
    assert CANARY_SMTP_PASSWORD in run.masked()
    assert CANARY_REDIS_PASSWORD in run.masked() and CANARY_DB_PASSWORD in run.masked()
    # One log group per engine step, balanced.
    groups = [line for line in lines if line.startswith("::group::")]
    assert any(g.startswith("::group::Preflight") for g in groups)
    assert any(g.startswith("::group::Build and push") for g in groups)
    assert any(g.startswith("::group::Health") for g in groups)
    assert len(groups) == lines.count("::endgroup::")
    assert not [line for line in lines if line.startswith("::error")]

    heroku_app = action.heroku.app(app)
    current = heroku_app.current_release()
    assert current is not None and current["status"] == "succeeded"
    assert run.outputs["app-url"] == f"https://{app}.herokuapp.com/"
    assert run.outputs["release-version"] == str(current["version"])
    images = json.loads(run.outputs["image-ids"])
    assert set(images) == {"web", "worker", "release"}
    assert images == dict(heroku_app.images)
    assert run.outputs["rolled-back"] == "false"
    changed = run.outputs["changed-config-keys"].split("\n")
    assert {"_APP_DOMAIN", "_APP_SMTP_HOST", "_APP_SMTP_PASSWORD"} <= set(changed)
    assert heroku_app.config_vars["_APP_SMTP_PASSWORD"] == CANARY_SMTP_PASSWORD
    assert "APPWRITE_LITE_RELEASE" not in heroku_app.config_vars  # it is the image's label

    assert f"| Release | v{current['version']} |" in run.summary
    assert "| Health | healthy |" in run.summary
    assert "| Rollback | no |" in run.summary
    assert "`_APP_SMTP_PASSWORD`" in run.summary and "(values ****)" in run.summary

    assert action.github.states() == ["in_progress", "success"]
    [deployment] = action.github.deployments
    assert deployment["ref"] == "v1.0.0" and deployment["environment"] == "production"
    success = action.github.statuses[deployment["id"]][-1]
    assert success["environment_url"] == f"https://{app}.herokuapp.com/"
    assert success["log_url"] == (
        f"https://github.com/{action.github.repository}/actions/runs/424242")
    assert action.heroku.schema_violations == []
    assert action.github.schema_violations == []


@needs_buildah
def test_failing_release_phase_fails_the_step_with_an_annotation(action: Action) -> None:
    old = {kind: "sha256:" + digit * 64 for kind, digit in
           (("web", "1"), ("worker", "2"), ("release", "3"))}
    app = make_app(action.heroku, images=old)
    action.heroku.app(app).release_phase_outcome = "fail"
    run = action.run({"app": app, "build": "buildah", "environment": "staging"},
                     ref="refs/tags/v1.1.0")
    assert run.status == 1, run.stdout + run.stderr
    run.assert_no_secret_leaks()
    errors = [line for line in run.lines() if line.startswith("::error")]
    assert errors and all(line.startswith("::error title=Release failed::") for line in errors)
    assert any("release phase" in line for line in errors)
    assert dict(action.heroku.app(app).images) == old
    # the config written for v1.1.0 went back with the rollback, to the release before it
    assert run.outputs["rolled-back"] == "true"
    assert run.outputs["release-version"] == ""
    assert "APPWRITE_LITE_RELEASE" not in action.heroku.app(app).config_vars
    assert run.summary.startswith("### ❌")
    assert "| Rollback | rolled back |" in run.summary
    assert action.github.states() == ["in_progress", "failure"]
    assert action.github.deployments[0]["environment"] == "staging"
    assert action.heroku.schema_violations == []
    assert action.github.schema_violations == []


def test_dry_run_writes_nothing_and_records_no_deployment(action: Action) -> None:
    """A dry run of a real app: the plan prints, nothing is written, the step is green."""
    app = make_app(action.heroku)
    releases = len(action.heroku.app(app).releases)
    run = action.run({"app": app, "build": "none", "dry-run": "true"})
    assert run.status == 0, run.stdout + run.stderr
    run.assert_no_secret_leaks()
    assert len(action.heroku.app(app).releases) == releases
    assert [r for r in action.heroku.requests if r.method != "GET"] == []
    assert action.github.requests == []  # a dry run records no deployment
    # A plan changed nothing: the keys it would change are in the summary, not the output.
    assert run.outputs["changed-config-keys"] == ""
    assert "dry run" in run.summary and "`_APP_DOMAIN`" in run.summary
    assert "✅" not in run.summary
    assert run.outputs["release-version"] in ("", str(releases))


@needs_buildah
def test_a_tag_promotes_what_a_push_to_main_released_on_staging(action: Action) -> None:
    """The example workflow's two jobs: a push to main builds and releases on staging; the
    tag then promotes staging's images to production, without a build."""
    staging, production = make_app(action.heroku), make_app(action.heroku)
    pushed = action.run({"app": staging, "build": "buildah", "health-timeout": "10",
                         "environment": "staging"}, ref="refs/heads/main")
    assert pushed.status == 0, pushed.stdout + pushed.stderr
    run = action.run({"app": production, "promote-from": staging, "build": "buildah",
                      "health-timeout": "10"}, ref="refs/tags/v2.0.0")
    assert run.status == 0, run.stdout + run.stderr
    run.assert_no_secret_leaks()
    groups = [line for line in run.lines() if line.startswith("::group::")]
    assert not any(g.startswith("::group::Build and push") for g in groups)  # no rebuild
    assert any(g.startswith(f"::group::Copy {staging}'s images") for g in groups)
    images = json.loads(run.outputs["image-ids"])
    assert images == dict(action.heroku.app(staging).images)
    assert dict(action.heroku.app(production).images) == images
    assert run.outputs["changed-config-keys"].split("\n")[0]  # production's own settings
    [_, deployment] = action.github.deployments
    assert (deployment["ref"], deployment["environment"]) == ("v2.0.0", "production")
    assert f"from {staging}" in deployment["description"]
    assert action.github.states() == ["in_progress", "success"]
    assert action.heroku.schema_violations == []


@needs_buildah
def test_forbidden_deployment_is_one_warning_and_the_release_still_happens(
        action: Action) -> None:
    app = make_app(action.heroku)
    action.github.forbid_deployments = True
    run = action.run({"app": app, "build": "buildah", "health-timeout": "10"})
    assert run.status == 0, run.stdout + run.stderr
    warnings = [line for line in run.lines() if line.startswith("::warning")
                and "deployment" in line]
    assert len(warnings) == 1 and "deployments: write" in warnings[0]
    assert action.heroku.app(app).current_release()["status"] == "succeeded"
    run.assert_no_secret_leaks()


@pytest.mark.parametrize(
    ("inputs", "expected"),
    [
        ({"app": ""}, "input app is empty"),
        ({"app": "Bad_Name"}, "is not a Heroku app name"),
        ({"heroku-api-key": ""}, "heroku-api-key is empty"),
        ({"build": "podman"}, "input build must be one of docker, heroku, buildah, none"),
        ({"rollback": "yes"}, "input rollback must be true or false"),
        ({"health-timeout": "soon"}, "input health-timeout must be a number"),
        ({"config": "SMTP-HOST: x\n"}, "input config: key: config var name 'SMTP-HOST'"),
        ({"config": f"_APP_SMTP_PASSWORD: [{CANARY_SMTP_PASSWORD}]"}, "must be a single string"),
        ({"promote-from": "Staging App"}, "input promote-from 'Staging App' is not a Heroku"),
        ({"promote-from": "my-app"}, "input promote-from and the app to release on both name"),
    ],
)
def test_bad_input_is_one_error_line_and_exit_2(action: Action, inputs: dict[str, str],
                                                expected: str) -> None:
    run = action.run({"app": "my-app", **inputs})
    assert run.status == 2
    errors = [line for line in run.lines() if line.startswith("::error")]
    assert len(errors) == 1 and errors[0].startswith("::error title=Bad input::")
    assert expected in errors[0]
    assert run.stderr == ""
    run.assert_no_secret_leaks()
    if inputs.get("heroku-api-key") != "":
        assert run.lines()[0] == f"::add-mask::{CANARY_API_KEY}"
    assert action.heroku.requests == [] and action.github.requests == []


def test_heroku_refusing_the_key_is_one_annotation_and_a_failure_status(action: Action) -> None:
    app = make_app(action.heroku)
    action.heroku.api_key = "another-key-entirely-0000"  # the stored secret is stale
    run = action.run({"app": app, "build": "none"})
    assert run.status in (2, 3)
    run.assert_no_secret_leaks()
    errors = [line for line in run.lines() if line.startswith("::error")]
    assert len(errors) == 1
    assert action.github.states() == ["in_progress", "failure"]
