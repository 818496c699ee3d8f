"""GitHub Deployments through PyGithub against the GitHub API stand-in (a real HTTP server)."""

from __future__ import annotations

import io

import pytest

from appwrite_heroku.action.deployments import DeploymentRecord, RunContext
from appwrite_heroku.action.workflow import ActionsReporter
from helpers import CANARY_GITHUB_TOKEN as TOKEN
from services import free_port
from standins.github import GitHubStandIn


def _run(standin: GitHubStandIn) -> RunContext:
    return RunContext(api_url=standin.url, server_url="https://github.com",
                      repository=standin.repository, run_id="987654")


def _record(standin: GitHubStandIn, token: str | None = TOKEN,
            run: RunContext | None = None) -> tuple[DeploymentRecord, io.StringIO]:
    out = io.StringIO()
    reporter = ActionsReporter(out)
    if token:
        reporter.secret(token)
    record = DeploymentRecord(reporter, run or _run(standin), token, seconds_between_writes=None,
                              seconds_between_requests=None)
    return record, out


def test_successful_release_is_recorded_with_app_and_run_urls(github: GitHubStandIn) -> None:
    record, out = _record(github)
    record.start("v1.2.3", "production", "Appwrite Lite v1.2.3 (Appwrite 1.9.6)")
    record.finish(True, "https://my-app.herokuapp.com/", "Released v7")
    assert github.schema_violations == []
    assert github.requests[0].path == f"/repos/{github.repository}"
    [deployment] = github.deployments
    assert deployment["ref"] == "v1.2.3"
    assert deployment["environment"] == "production"
    assert github.states() == ["in_progress", "success"]
    posted = [r.body for r in github.requests if r.path.endswith("/statuses")]
    assert posted[0]["log_url"] == f"https://github.com/{github.repository}/actions/runs/987654"
    assert posted[1]["environment_url"] == "https://my-app.herokuapp.com/"
    assert posted[1]["log_url"] == posted[0]["log_url"]
    create = next(r for r in github.requests if r.path.endswith("/deployments"))
    assert create.body["auto_merge"] is False and create.body["required_contexts"] == []
    assert "::warning" not in out.getvalue()
    assert f"GitHub deployment {deployment['id']}: v1.2.3 to production, in progress" in (
        out.getvalue())
    assert f"GitHub deployment {deployment['id']}: success" in out.getvalue()
    assert TOKEN not in str([r.headers for r in github.requests])


def test_failed_release_gets_failure_status(github: GitHubStandIn) -> None:
    record, _ = _record(github)
    record.start("v1.2.4", "staging", "Appwrite Lite v1.2.4")
    record.finish(False, "https://my-app.herokuapp.com/", "Release phase failed; rolled back")
    assert github.states() == ["in_progress", "failure"]
    failure = github.statuses[record.deployment_id or 0][-1]
    assert failure["environment_url"] == ""  # a failed release does not claim the URL
    assert github.schema_violations == []


def test_long_descriptions_are_shortened_to_githubs_limit(github: GitHubStandIn) -> None:
    record, _ = _record(github)
    record.start("v1", "production", "x" * 500)
    record.finish(True, None, "y" * 500)
    assert github.schema_violations == []
    assert len(github.statuses[record.deployment_id or 0][-1]["description"]) == 140


def test_without_permission_one_warning_and_no_more_calls(github: GitHubStandIn) -> None:
    github.forbid_deployments = True
    record, out = _record(github)
    record.start("v1.2.3", "production", "x")
    record.finish(True, "https://my-app.herokuapp.com/", "done")
    warnings = [line for line in out.getvalue().splitlines() if line.startswith("::warning")]
    assert len(warnings) == 1
    assert "deployments: write" in warnings[0]
    assert [r.status for r in github.requests] == [200, 403]


def test_without_a_token_one_warning_and_no_request(github: GitHubStandIn) -> None:
    record, out = _record(github, token=None)
    record.start("v1", "production", "x")
    record.finish(True, None, "done")
    assert out.getvalue().count("::warning::") == 1
    assert "no github-token" in out.getvalue()
    assert github.requests == []


def test_bad_token_is_a_warning_naming_the_input(github: GitHubStandIn) -> None:
    record, out = _record(github, token="ghs_wrong_token_value")
    record.start("v1", "production", "x")
    assert "github-token" in out.getvalue()
    printed = [line for line in out.getvalue().splitlines() if not line.startswith("::add-mask::")]
    assert "ghs_wrong_token_value" not in "\n".join(printed)
    assert github.deployments == []


@pytest.mark.slow  # PyGithub's own retries back off in real time (3 s): no clock to skip
def test_unreachable_github_is_a_warning_not_a_failure() -> None:
    run = RunContext(api_url=f"http://127.0.0.1:{free_port()}", server_url="https://github.com",
                     repository="o/r", run_id="1")
    out = io.StringIO()
    record = DeploymentRecord(ActionsReporter(out), run, TOKEN, seconds_between_writes=None,
                              timeout=2)
    record.start("v1", "production", "x")
    record.finish(True, None, "done")
    assert out.getvalue().count("::warning::") == 1


def test_standin_refuses_what_github_refuses(github: GitHubStandIn) -> None:
    """The stand-in is strict where GitHub is: these would pass a sloppy fake."""
    import requests

    headers = {"Authorization": f"token {TOKEN}", "Accept": "application/vnd.github+json"}
    base = f"{github.url}/repos/{github.repository}"
    # auto_merge defaults to true on GitHub: a deployment that merges is refused with 409.
    assert requests.post(f"{base}/deployments", json={"ref": "v1"}, headers=headers,
                         timeout=5).status_code == 409
    # required_contexts defaults to all checks.
    assert requests.post(f"{base}/deployments", json={"ref": "v1", "auto_merge": False},
                         headers=headers, timeout=5).status_code == 409
    ok = requests.post(f"{base}/deployments",
                       json={"ref": "v1", "auto_merge": False, "required_contexts": []},
                       headers=headers, timeout=5)
    assert ok.status_code == 201
    statuses = f"{base}/deployments/{ok.json()['id']}/statuses"
    bad_state = requests.post(statuses, json={"state": "done"}, headers=headers, timeout=5)
    assert bad_state.status_code == 422
    assert bad_state.json()["message"] == "Validation Failed"
    typo = requests.post(statuses, json={"state": "success", "enviroment_url": "x"},
                         headers=headers, timeout=5)
    assert typo.status_code == 422
    assert requests.post(f"{base}/deployments/999/statuses", json={"state": "success"},
                         headers=headers, timeout=5).status_code == 404
    assert requests.get(base, headers={"Authorization": "token nope"},
                        timeout=5).status_code == 401
    assert len(github.schema_violations) == 2  # the bad state and the misspelt field
