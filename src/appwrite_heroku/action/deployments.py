"""GitHub Deployments: the release shows on the repository's Environments page with its URL.

A deployment is created for the tag and environment, then given the statuses `in_progress` and
finally `success` (environment URL = the app, log URL = the workflow run) or `failure`.
Recording is a courtesy, not part of the release: when the token may not write deployments
(403), is missing, or GitHub fails, one warning is printed and the deploy goes on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from github import Auth, Github, GithubException, GithubRetry

from ..release.engine import Reporter

_DESCRIPTION_LIMIT = 140  # GitHub refuses longer deployment status descriptions


@dataclass(frozen=True)
class RunContext:
    """Where this workflow run lives on GitHub, from the runner's `GITHUB_*` variables."""

    api_url: str
    server_url: str
    repository: str  # owner/name
    run_id: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> RunContext:
        return cls(
            api_url=env.get("GITHUB_API_URL", "https://api.github.com"),
            server_url=env.get("GITHUB_SERVER_URL", "https://github.com"),
            repository=env.get("GITHUB_REPOSITORY", ""),
            run_id=env.get("GITHUB_RUN_ID", ""),
        )

    @property
    def log_url(self) -> str:
        return f"{self.server_url}/{self.repository}/actions/runs/{self.run_id}"


def _short(text: str) -> str:
    return text if len(text) <= _DESCRIPTION_LIMIT else text[: _DESCRIPTION_LIMIT - 1] + "…"


class DeploymentRecord:
    """One GitHub deployment for one release; gives up quietly (one warning) when it cannot.

    Statuses are posted through PyGithub's requester rather than ``Deployment.create_status``
    because that method has no ``log_url`` parameter (only the legacy ``target_url``).
    """

    def __init__(
        self,
        reporter: Reporter,
        run: RunContext,
        token: str | None,
        *,
        seconds_between_writes: float | None = 1.0,
        seconds_between_requests: float | None = 0.25,
        timeout: int = 15,
    ) -> None:
        """The pacing is PyGithub's own (its defaults, which GitHub's guidance on secondary
        rate limits asks for); a test against the stand-in turns it off."""
        self._reporter = reporter
        self._run = run
        self._token = token
        self._seconds_between_writes = seconds_between_writes
        self._seconds_between_requests = seconds_between_requests
        self._timeout = timeout
        self._github: Github | None = None
        self._deployment_url: str | None = None
        self.deployment_id: int | None = None

    def _give_up(self, why: str) -> None:
        self._reporter.warning(f"GitHub deployment not recorded: {why}; the deploy goes on")
        self._deployment_url = None

    def _explain(self, error: GithubException) -> str:
        if error.status == 403:
            return ("the token may not write deployments (add `permissions: deployments: write` "
                    "to the job, or pass a github-token that can)")
        if error.status == 401:
            return "GitHub refused the token (check the github-token input)"
        if error.status == 404:
            return f"repository {self._run.repository} not found with this token"
        message = error.data.get("message") if isinstance(error.data, dict) else None
        return f"GitHub answered {error.status}" + (f" ({message})" if message else "")

    def start(self, ref: str, environment: str, description: str) -> None:
        """Creates the deployment and marks it `in_progress`."""
        if not self._token:
            self._give_up("no github-token")
            return
        if not self._run.repository:
            self._give_up("GITHUB_REPOSITORY is not set")
            return
        try:
            self._github = Github(
                base_url=self._run.api_url,
                auth=Auth.Token(self._token),
                timeout=self._timeout,
                retry=GithubRetry(total=3, backoff_factor=0.5, max_rate_limit_wait=30),
                seconds_between_writes=self._seconds_between_writes,
                seconds_between_requests=self._seconds_between_requests,
            )
            repo = self._github.get_repo(self._run.repository)
            deployment = repo.create_deployment(
                ref=ref,
                environment=environment,
                auto_merge=False,  # a tag cannot be merged into; never touch the branch
                required_contexts=[],  # the workflow itself is the check
                description=_short(description),
            )
        except GithubException as error:
            self._give_up(self._explain(error))
            return
        except Exception as error:  # network errors of any kind: warn, go on
            self._give_up(f"GitHub could not be reached ({type(error).__name__})")
            return
        self.deployment_id = deployment.id
        self._deployment_url = deployment.url
        if self._post_status({"state": "in_progress", "log_url": self._run.log_url,
                              "description": _short(f"Releasing {ref}")}):
            self._reporter.info(f"GitHub deployment {deployment.id}: {ref} to {environment}, "
                                "in progress")

    def finish(self, success: bool, app_url: str | None, description: str) -> None:
        """`success` with the app's URL, or `failure`; nothing if `start` gave up."""
        body: dict[str, Any] = {
            "state": "success" if success else "failure",
            "log_url": self._run.log_url,
            "description": _short(description),
        }
        if success:
            body["auto_inactive"] = True  # older deployments of this environment go inactive
            if app_url:
                body["environment_url"] = app_url
        if self._post_status(body):
            self._reporter.info(f"GitHub deployment {self.deployment_id}: {body['state']}")

    def _post_status(self, body: dict[str, Any]) -> bool:
        if self._github is None or self._deployment_url is None:
            return False
        try:
            self._github.requester.requestJsonAndCheck(
                "POST",
                f"{self._deployment_url}/statuses",
                input=body,
                headers={"Accept": "application/vnd.github+json"},
            )
        except GithubException as error:
            self._give_up(self._explain(error))
            return False
        except Exception as error:  # network errors of any kind: warn, go on
            self._give_up(f"GitHub could not be reached ({type(error).__name__})")
            return False
        return True
