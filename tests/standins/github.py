"""A stand-in for GitHub's REST API: repositories, deployments and deployment statuses.

A real HTTP server on 127.0.0.1 (a free port) with in-memory state, answering what PyGithub
sends for ``get_repo`` → ``create_deployment`` → ``POST …/statuses``. Request bodies are
validated against schemas written from GitHub's REST reference ("Create a deployment",
"Create a deployment status": documented fields, types and the ``state`` enum); a body the
real API would refuse gets GitHub's 422 "Validation Failed" and is added to
``schema_violations``. Unknown fields, which GitHub silently ignores, are also recorded there,
so a typo in our client cannot pass unnoticed.

GitHub's behaviour kept here because our client must cope with it:
- ``auto_merge`` defaults to true and merges the default branch into the ref (409 when it
  cannot); ``required_contexts`` defaults to every status check, and a deployment is refused
  (409) while they are not green. The stand-in answers 409 unless the client turns both off.
- A token without ``deployments: write`` gets 403 "Resource not accessible by integration"
  (``forbid_deployments = True``); an unknown token gets 401 "Bad credentials".

Fixture (tests/conftest.py): `github`, a fresh stand-in per test accepting
`helpers.CANARY_GITHUB_TOKEN`.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jsonschema

from standins import loopback

DEPLOYMENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["ref"],
    "additionalProperties": False,
    "properties": {
        "ref": {"type": "string", "minLength": 1},
        "task": {"type": "string"},
        "auto_merge": {"type": "boolean"},
        "required_contexts": {"type": "array", "items": {"type": "string"}},
        "payload": {"type": ["object", "string"]},
        "environment": {"type": "string"},
        "description": {"type": ["string", "null"]},
        "transient_environment": {"type": "boolean"},
        "production_environment": {"type": "boolean"},
    },
}

DEPLOYMENT_STATUS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["state"],
    "additionalProperties": False,
    "properties": {
        "state": {
            "enum": ["error", "failure", "inactive", "in_progress", "queued", "pending",
                     "success"],
        },
        "target_url": {"type": "string"},
        "log_url": {"type": "string"},
        "description": {"type": "string", "maxLength": 140},
        "environment": {"type": "string"},
        "environment_url": {"type": "string"},
        "auto_inactive": {"type": "boolean"},
    },
}

_DOCS = "https://docs.github.com/rest/deployments"


@dataclass
class GitHubRequest:
    method: str
    path: str
    headers: dict[str, str]  # Authorization replaced by "****"
    body: Any
    status: int


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class GitHubStandIn:
    def __init__(self, token: str, repository: str = "octo-org/appwrite-site") -> None:
        self.token = token
        self.repository = repository
        self.forbid_deployments = False
        self.known_refs: set[str] | None = None  # None: every ref exists
        self.deployments: list[dict[str, Any]] = []
        self.statuses: dict[int, list[dict[str, Any]]] = {}
        self.requests: list[GitHubRequest] = []
        self.schema_violations: list[str] = []
        self._ids = itertools.count(1001)
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # -- lifecycle ------------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._server is not None, "start() first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> GitHubStandIn:
        standin = self

        class Handler(_Handler):
            owner = standin

        self._server = loopback.listen(Handler)
        loopback.serve(self._server)
        return self

    def stop(self) -> None:
        if self._server is not None:
            loopback.close(self._server)
            self._server = None

    def __enter__(self) -> GitHubStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- state ----------------------------------------------------------------------------
    def states(self, deployment_id: int | None = None) -> list[str]:
        """The states posted for a deployment (the newest deployment by default), in order."""
        if deployment_id is None:
            if not self.deployments:
                return []
            deployment_id = int(self.deployments[-1]["id"])
        return [status["state"] for status in self.statuses.get(deployment_id, [])]

    def _repo_url(self) -> str:
        return f"{self.url}/repos/{self.repository}"

    def repository_json(self) -> dict[str, Any]:
        owner, name = self.repository.split("/")
        return {
            "id": 4242, "node_id": "R_kgDOstandin", "name": name, "full_name": self.repository,
            "private": True, "default_branch": "main",
            "owner": {"login": owner, "id": 77, "type": "Organization",
                      "url": f"{self.url}/users/{owner}"},
            "html_url": f"https://github.com/{self.repository}",
            "url": self._repo_url(),
            "deployments_url": f"{self._repo_url()}/deployments",
            "permissions": {"admin": False, "push": True, "pull": True},
        }

    def create_deployment(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        ref = body["ref"]
        if self.known_refs is not None and ref not in self.known_refs:
            return 422, {"message": f"No ref found for: {ref}", "documentation_url": _DOCS}
        if body.get("auto_merge", True):
            return 409, {"message": f"Conflict merging main into {ref}.",
                         "documentation_url": _DOCS}
        if body.get("required_contexts") is None:
            return 409, {"message": f"Conflict: Commit status checks failed for {ref}.",
                         "documentation_url": _DOCS}
        with self._lock:
            deployment_id = next(self._ids)
            url = f"{self._repo_url()}/deployments/{deployment_id}"
            environment = body.get("environment", "production")
            deployment = {
                "url": url, "id": deployment_id, "node_id": f"DE_{deployment_id}",
                "sha": "0" * 40, "ref": ref, "task": body.get("task", "deploy"),
                "payload": body.get("payload", {}), "original_environment": environment,
                "environment": environment, "description": body.get("description"),
                "creator": {"login": "github-actions[bot]", "id": 41898282, "type": "Bot"},
                "created_at": _now(), "updated_at": _now(),
                "statuses_url": f"{url}/statuses", "repository_url": self._repo_url(),
                "transient_environment": body.get("transient_environment", False),
                "production_environment": body.get(
                    "production_environment", environment == "production"),
            }
            self.deployments.append(deployment)
            self.statuses[deployment_id] = []
        return 201, deployment

    def create_status(self, deployment_id: int, body: dict[str, Any]) -> tuple[int, Any]:
        deployment = next((d for d in self.deployments if d["id"] == deployment_id), None)
        if deployment is None:
            return 404, {"message": "Not Found", "documentation_url": _DOCS}
        with self._lock:
            status_id = next(self._ids)
            log_url = body.get("log_url", body.get("target_url", ""))
            status = {
                "url": f"{deployment['url']}/statuses/{status_id}", "id": status_id,
                "node_id": f"DES_{status_id}", "state": body["state"],
                "creator": deployment["creator"], "description": body.get("description", ""),
                "environment": body.get("environment", deployment["environment"]),
                "target_url": log_url, "log_url": log_url,
                "environment_url": body.get("environment_url", ""),
                "created_at": _now(), "updated_at": _now(),
                "deployment_url": deployment["url"], "repository_url": self._repo_url(),
            }
            self.statuses[deployment_id].append(status)
        return 201, status


def _validation_failed(errors: list[jsonschema.ValidationError]) -> dict[str, Any]:
    return {
        "message": "Validation Failed",
        "errors": [{"resource": "Deployment", "code": "invalid", "message": e.message}
                   for e in errors],
        "documentation_url": _DOCS,
    }


class _Handler(BaseHTTPRequestHandler):
    owner: GitHubStandIn
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # tests read standin.requests instead

    def _send(self, status: int, body: Any, recorded_body: Any) -> None:
        data = json.dumps(body).encode()
        headers = {key: ("****" if key.lower() == "authorization" else value)
                   for key, value in self.headers.items()}
        self.owner.requests.append(
            GitHubRequest(self.command, self.path, headers, recorded_body, status))
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-GitHub-Request-Id", f"STANDIN:{len(self.owner.requests)}")
        self.end_headers()
        self.wfile.write(data)

    def _authorized(self) -> bool:
        header = self.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        return scheme.lower() in ("token", "bearer") and token == self.owner.token

    def _route(self, body: Any) -> tuple[int, Any]:
        owner = self.owner
        base = f"/repos/{owner.repository}"
        path = self.path.split("?", 1)[0]
        if not self._authorized():
            return 401, {"message": "Bad credentials",
                         "documentation_url": "https://docs.github.com/rest", "status": "401"}
        if self.command == "GET" and path == base:
            return 200, owner.repository_json()
        if self.command == "POST" and path == f"{base}/deployments":
            if owner.forbid_deployments:
                return 403, {"message": "Resource not accessible by integration",
                             "documentation_url": f"{_DOCS}#create-a-deployment",
                             "status": "403"}
            errors = self._validate(body, DEPLOYMENT_SCHEMA)
            return (422, _validation_failed(errors)) if errors else owner.create_deployment(body)
        match = re.fullmatch(re.escape(base) + r"/deployments/(\d+)/statuses", path)
        if self.command == "POST" and match:
            if owner.forbid_deployments:
                return 403, {"message": "Resource not accessible by integration",
                             "documentation_url": _DOCS, "status": "403"}
            errors = self._validate(body, DEPLOYMENT_STATUS_SCHEMA)
            if errors:
                return 422, _validation_failed(errors)
            return owner.create_status(int(match.group(1)), body)
        if self.command == "GET" and match:
            return 200, owner.statuses.get(int(match.group(1)), [])
        owner.schema_violations.append(f"{self.command} {path}: no such endpoint")
        return 404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}

    def _validate(self, body: Any, schema: dict[str, Any]) -> list[jsonschema.ValidationError]:
        errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(body), key=str)
        for error in errors:
            self.owner.schema_violations.append(f"{self.command} {self.path}: {error.message}")
        return errors

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            self._send(400, {"message": "Problems parsing JSON"}, raw.decode(errors="replace"))
            return
        status, answer = self._route(body)
        self._send(status, answer, body)

    do_GET = do_POST = do_PATCH = do_DELETE = _handle
