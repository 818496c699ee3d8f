"""Is the deployed Appwrite answering? ``GET /v1/health/version`` until it says our version.

Its own short-lived session with no transport retries: the loop below is the retry policy,
bounded by the health deadline (urllib3's backoff could otherwise outlive it). The request goes
to ``HEROKU_ROUTER_URL`` when set (a Heroku-compatible host, or the tests' router), always with
the app's own Host header, as Heroku's router dispatches on it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import requests

from .. import __version__
from ..clock import SYSTEM, Clock, poll


@dataclass(frozen=True)
class HealthResult:
    healthy: bool
    detail: str  # the last answer, for the log (never a secret: status and version only)
    attempts: int


def probe_outcome(status: int, body: object, version: str) -> tuple[bool, str]:
    """Pure: is this answer the deployed version being healthy?"""
    if status != 200:
        return False, f"HTTP {status}"
    if not isinstance(body, dict) or "version" not in body:
        return False, "HTTP 200 without a version"
    answered = str(body["version"])
    if answered != version:
        return False, f"version {answered} (waiting for {version})"
    return True, f"version {answered}"


def check(hostname: str, version: str, *, timeout: float, router_url: str | None = None,
          host_header: str | None = None, interval: float = 1.0,
          on_attempt: Callable[[str], None] | None = None,
          clock: Clock = SYSTEM) -> HealthResult:
    """Connects to the app's Heroku hostname; `host_header` is the domain Appwrite serves
    (a custom `_APP_DOMAIN` added with `heroku domains:add`), which Heroku's router also
    dispatches on."""
    base = (router_url or f"https://{hostname}").rstrip("/")
    url = f"{base}/v1/health/version"
    deadline = clock.deadline(timeout)
    headers = {"Host": host_header or hostname, "Accept": "application/json",
               "User-Agent": f"appwrite-heroku/{__version__}"}
    attempts = 0
    with requests.Session() as session:
        session.trust_env = bool(router_url is None)  # a local router never needs a proxy

        def attempt() -> tuple[bool, str]:
            nonlocal attempts
            attempts += 1
            try:
                response = session.get(
                    url, timeout=min(10.0, max(1.0, deadline - clock.monotonic())),
                    headers=headers, allow_redirects=False)
                try:
                    body: object = response.json()
                except ValueError:
                    body = None
                outcome = probe_outcome(response.status_code, body, version)
            except requests.RequestException as error:
                outcome = False, f"{type(error).__name__}"
            if not outcome[0] and on_attempt is not None:
                on_attempt(outcome[1])
            return outcome

        healthy, detail = poll(attempt, lambda outcome: outcome[0], deadline=deadline,
                               clock=clock, delay=interval, factor=1.5, max_delay=10.0)
    return HealthResult(healthy, detail, attempts)
