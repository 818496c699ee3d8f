"""A small typed client for the parts of Heroku's Platform API the release engine uses.

One ``requests.Session`` carries every call (API, registry manifests, release output, source
uploads). Its transport is an ``HTTPAdapter`` with a urllib3 ``Retry`` that

* retries 429 for every method (Heroku did not process the request), with jittered exponential
  backoff, honouring ``Retry-After`` and, when the pool is empty (``RateLimit-Remaining: 0``),
  waiting at least the time one token takes to refill;
* retries 5xx, dropped connections and read timeouts only for idempotent methods: GET, and
  PATCH — a config-vars PATCH sets keys to values and a formation PATCH sets images, so sending
  either twice ends in the same state (a second identical formation PATCH makes no release).
  POST is NOT retried on those: a rollback or a build posted twice would make two releases or
  builds. A POST is retried only on 429 and on connect errors (never sent).

Why not heroku3 for this: it sends ``Accept: version=3.cedar-acm`` on every call (so no
``3.docker-releases`` variant, and strict servers answer 406), authenticates with an extra
``GET /account/rate-limits`` call, has its base URL hard-coded, raises on 429 instead of backing
off, and knows neither docker releases, release output streams nor Range headers on releases.
Its models would only wrap the dicts this module already returns, so it is not used here.
"""

from __future__ import annotations

import json
import random
import re
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import Retry

from .. import __version__
from ..clock import SYSTEM, Clock, poll
from ..config.heroku_types import AddOn, App, Build, ConfigVars, Formation, Release, Source
from ..config.inputs import whole_number
from ..errors import InputError, PlatformError

if TYPE_CHECKING:
    from typing import Self

ACCEPT = "application/vnd.heroku+json; version=3"
ACCEPT_DOCKER_RELEASES = "application/vnd.heroku+json; version=3.docker-releases"
MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
DEFAULT_API_URL = "https://api.heroku.com"
# Heroku refills ~75 tokens a minute: an empty pool has a token again after this long.
TOKEN_REFILL_SECONDS = 60.0 / 75.0
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE"})
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class ApiInputError(InputError):
    """A 4xx the user fixes (key, app name, access, billing, a rejected value). Exit 2."""

    def __init__(self, message: str, status: int, heroku_id: str) -> None:
        super().__init__(message)
        self.status = status
        self.heroku_id = heroku_id


class ApiPlatformError(PlatformError):
    """Heroku kept failing (429, 5xx) after retries. Exit 3."""

    def __init__(self, message: str, status: int, heroku_id: str) -> None:
        super().__init__(message)
        self.status = status
        self.heroku_id = heroku_id


class HerokuRetry(Retry):
    """urllib3's Retry, changed only where Heroku needs it: 429 is retried for every method,
    ``Retry-After`` is capped, and an empty rate-limit pool waits for a token to refill. Its
    waits go through the client's clock (urllib3's own call ``time.sleep``), so a test's
    skipping clock sees, and skips, every one."""

    RETRY_AFTER_CAP = 60.0
    clock: Clock = SYSTEM

    def using(self, clock: Clock) -> Self:
        """This policy, waiting on `clock`."""
        retry = self.new()
        retry.clock = clock
        return retry

    def new(self, **kw: Any) -> Self:
        # urllib3 makes a new Retry for every attempt from its constructor's arguments only.
        retry = super().new(**kw)
        retry.clock = self.clock
        return retry

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        if status_code == 429 and self.total is not None and self.total > 0:
            return True
        return super().is_retry(method, status_code, has_retry_after)

    def parse_retry_after(self, retry_after: str) -> float:
        """Seconds (Heroku sends an integer; a fraction is accepted too); an HTTP date as
        urllib3 reads it; anything else counts as no hint (backoff instead of an error)."""
        try:
            return max(0.0, float(retry_after))
        except ValueError:
            pass
        try:
            return super().parse_retry_after(retry_after)
        except Exception:
            return 0.0

    def get_retry_after(self, response: BaseHTTPResponse) -> float | None:
        seconds = super().get_retry_after(response)
        return None if seconds is None else min(seconds, self.RETRY_AFTER_CAP)

    def sleep_for_retry(self, response: BaseHTTPResponse) -> bool:
        retry_after = self.get_retry_after(response)
        if retry_after:
            self.clock.sleep(retry_after)
            return True
        return False

    def sleep(self, response: BaseHTTPResponse | None = None) -> None:
        if response is not None and self.respect_retry_after_header:
            if self.sleep_for_retry(response):
                return
        backoff = self.get_backoff_time()
        if response is not None and response.status == 429:
            remaining = response.headers.get("RateLimit-Remaining")
            if remaining is not None and remaining.strip() == "0":
                backoff = max(backoff, TOKEN_REFILL_SECONDS * (0.5 + random.random()))  # noqa: S311
        if backoff > 0:
            self.clock.sleep(backoff)


def make_retry(*, total: int = 8, backoff_factor: float = 0.5, backoff_max: float = 20.0) -> Retry:
    """The retry policy of every Heroku call (see the module docstring)."""
    return HerokuRetry(
        total=total,
        connect=3,  # refused connections mostly mean a wrong HEROKU_API_URL: fail soon
        read=3,
        status=total,
        other=0,
        allowed_methods=IDEMPOTENT_METHODS,
        status_forcelist=RETRY_STATUSES,
        backoff_factor=backoff_factor,
        backoff_max=backoff_max,
        backoff_jitter=backoff_factor / 2,
        respect_retry_after_header=True,
        raise_on_status=False,  # the last answer is classified into a one-line error below
        raise_on_redirect=False,
    )


class _ApiBearer(requests.auth.AuthBase):
    """The API key goes to the API host only — never to S3 upload URLs or output streams."""

    def __init__(self, api_url: str, api_key: str) -> None:
        self._origin = _origin(api_url)
        self._key = api_key

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        if request.url and _origin(request.url) == self._origin:
            request.headers["Authorization"] = f"Bearer {self._key}"
        return request


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc.lower()


def _fix_for(status: int, app: str | None, body: Mapping[str, Any], path: str = "") -> str:
    """A one-line cause and fix for a Heroku error answer (never echoes request data)."""
    heroku_id = str(body.get("id") or "")
    message = str(body.get("message") or "").strip().rstrip(".")
    if status == 401:
        return ("Heroku rejected the API key (401 unauthorized): set HEROKU_API_KEY to a valid "
                "key, e.g. from `heroku authorizations:create -d appwrite-heroku`")
    if status == 402:
        return ("Heroku requires payment details for this (402 delinquent"
                f"{': ' + message if message else ''}): add or fix billing in the dashboard")
    if status == 403:
        return (f"Heroku refused access to app {app!r} (403 {heroku_id or 'forbidden'}"
                f"{': ' + message if message else ''}): use a key of a user with deploy "
                "access to the app")
    if status == 404 and not re.match(r"^/apps/[^/]+(/config-vars)?$", path):
        return (f"Heroku found no such resource at {path} (404 not_found"
                f"{': ' + message if message else ''})")
    if status == 404:
        return (f"Heroku has no app {app!r} for this API key (404 not_found): check --app and "
                "that the key's user can see the app (`heroku apps`)")
    if status == 422:
        return f"Heroku rejected the request (422 {heroku_id or 'invalid_params'}): {message}"
    if status == 429:
        return ("Heroku's rate limit is exhausted (429) and retries did not help: wait a few "
                "minutes and run again")
    return (f"Heroku answered {status}{' ' + heroku_id if heroku_id else ''}"
            f"{': ' + message if message else ''} after retries: try again later, "
            "see https://status.heroku.com")


@dataclass
class HerokuClient:
    """Typed calls over one session; every answer is the API's JSON as a dict or list."""

    api_key: str
    api_url: str = DEFAULT_API_URL
    timeout: float = 30.0
    retry: Retry = field(default_factory=make_retry)
    session: requests.Session = field(init=False)
    ratelimit_remaining: int | None = field(init=False, default=None)
    app: str | None = None  # named in error messages
    clock: Clock = SYSTEM  # every wait: retries, pacing, an output stream to appear and end

    def __post_init__(self) -> None:
        self.api_url = self.api_url.rstrip("/")
        if isinstance(self.retry, HerokuRetry):
            self.retry = self.retry.using(self.clock)
        session = requests.Session()
        # The environment must not add proxies, a netrc login or CA overrides to Heroku calls.
        session.trust_env = False
        adapter = HTTPAdapter(max_retries=self.retry, pool_maxsize=4)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        session.headers.update({"Accept": ACCEPT, "User-Agent": f"appwrite-heroku/{__version__}"})
        session.auth = _ApiBearer(self.api_url, self.api_key)
        self.session = session

    def close(self) -> None:
        self.session.close()

    # -- transport --------------------------------------------------------------------------

    def raw(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """One request (with retries) to any URL on the shared session; transport failures
        after retries become ``PlatformError``."""
        kwargs.setdefault("timeout", self.timeout)
        headers = dict(kwargs.pop("headers", None) or {})
        headers.setdefault("Request-Id", str(uuid.uuid4()))
        try:
            return self.session.request(method, url, headers=headers, **kwargs)
        except requests.RequestException as error:
            where = urlsplit(url).netloc
            raise PlatformError(
                f"{method} to {where} failed after retries ({type(error).__name__}): "
                "check the network and https://status.heroku.com, then run again"
            ) from None

    def call(self, method: str, path: str, body: object = None, *,
             accept: str = ACCEPT, range_: str | None = None) -> requests.Response:
        headers = {"Accept": accept}
        if range_:
            headers["Range"] = range_
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body)
        self._pace()
        response = self.raw(method, self.api_url + path, headers=headers, data=data)
        remaining = response.headers.get("RateLimit-Remaining")
        if remaining is not None and whole_number(remaining.strip()):
            self.ratelimit_remaining = int(remaining)
        if response.status_code >= 400:
            raise self._error(response)
        return response

    def _pace(self) -> None:
        """Near an empty pool, space calls out by one token's refill time instead of running
        into a 429 storm."""
        if self.ratelimit_remaining is not None and self.ratelimit_remaining < 3:
            self.clock.sleep(TOKEN_REFILL_SECONDS)

    def _error(self, response: requests.Response) -> ApiInputError | ApiPlatformError:
        try:
            body = response.json()
            if not isinstance(body, dict):
                body = {}
        except ValueError:
            body = {}
        message = _fix_for(response.status_code, self.app, body,
                           urlsplit(response.url).path if response.url else "")
        heroku_id = str(body.get("id") or "")
        if response.status_code in (401, 402, 403, 404, 422):
            return ApiInputError(message, response.status_code, heroku_id)
        return ApiPlatformError(message, response.status_code, heroku_id)

    def json(self, method: str, path: str, body: object = None, **kwargs: Any) -> Any:
        response = self.call(method, path, body, **kwargs)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise PlatformError(f"Heroku answered {method} {path} with non-JSON") from None

    def paginate(self, path: str, range_: str) -> Iterator[Any]:
        """Follows ``Next-Range`` through every page (206 means more)."""
        next_range: str | None = range_
        while next_range:
            response = self.call("GET", path, range_=next_range)
            yield from response.json()
            next_range = (response.headers.get("Next-Range")
                          if response.status_code == 206 else None)

    # -- resources --------------------------------------------------------------------------

    @staticmethod
    def _app(app: str) -> str:
        return quote(app, safe="")

    def get_app(self, app: str) -> App:
        result: App = self.json("GET", f"/apps/{self._app(app)}")
        return result

    def config_vars(self, app: str) -> ConfigVars:
        result: ConfigVars = self.json("GET", f"/apps/{self._app(app)}/config-vars")
        return result

    def patch_config_vars(self, app: str, patch: Mapping[str, str | None]) -> ConfigVars:
        result: ConfigVars = self.json(
            "PATCH", f"/apps/{self._app(app)}/config-vars", dict(patch))
        return result

    def newest_release(self, app: str) -> Release | None:
        """The newest release in one call, as the Heroku CLI reads it."""
        response = self.call("GET", f"/apps/{self._app(app)}/releases",
                             range_="version ..; max=1, order=desc")
        releases: list[Release] = response.json()
        return releases[0] if releases else None

    def releases(self, app: str, *, newest_first: bool = True) -> list[Release]:
        order = "desc" if newest_first else "asc"
        return list(self.paginate(f"/apps/{self._app(app)}/releases",
                                  f"version ..; max=200, order={order}"))

    def release(self, app: str, release_id: str) -> Release:
        result: Release = self.json(
            "GET", f"/apps/{self._app(app)}/releases/{quote(release_id, safe='')}")
        return result

    def rollback(self, app: str, release_id: str) -> Release:
        result: Release = self.json(
            "POST", f"/apps/{self._app(app)}/releases", {"release": release_id})
        return result

    def addons(self, app: str) -> list[AddOn]:
        """The app's add-ons with their plans (`GET /apps/{app}/addons`, "List By App")."""
        result: list[AddOn] = self.json("GET", f"/apps/{self._app(app)}/addons")
        return result

    def formation(self, app: str) -> list[Formation]:
        """The formation in the docker-releases variant, which adds each process type's
        `docker_image` (the image ID it runs): one GET serves the budget and the record."""
        result: list[Formation] = self.json("GET", f"/apps/{self._app(app)}/formation",
                                            accept=ACCEPT_DOCKER_RELEASES)
        return result

    def release_images(self, app: str, images: Mapping[str, str]) -> list[Formation]:
        """ONE docker-releases formation PATCH for every process type."""
        updates = [{"type": kind, "docker_image": image} for kind, image in images.items()]
        result: list[Formation] = self.json(
            "PATCH", f"/apps/{self._app(app)}/formation", {"updates": updates},
            accept=ACCEPT_DOCKER_RELEASES)
        return result

    def create_source(self) -> Source:
        result: Source = self.json("POST", "/sources")
        return result

    def create_build(self, app: str, get_url: str, version: str | None) -> Build:
        blob: dict[str, Any] = {"url": get_url}
        if version:
            blob["version"] = version
        result: Build = self.json(
            "POST", f"/apps/{self._app(app)}/builds", {"source_blob": blob})
        return result

    def build(self, app: str, build_id: str) -> Build:
        result: Build = self.json(
            "GET", f"/apps/{self._app(app)}/builds/{quote(build_id, safe='')}")
        return result

    def stream_lines(self, url: str, *, deadline: float) -> Iterator[str]:
        """Lines of a release/build output stream. It can answer 404 until the dyno starts,
        so 404s are retried (quietly) until it appears or the deadline passes."""
        def attempt() -> requests.Response:
            response = self.raw("GET", url, stream=True, headers={"Accept": "text/plain"})
            if response.status_code == 404 and self.clock.monotonic() < deadline:
                _ = response.content  # drain the small body so the connection is reused
                response.close()
            return response

        response = poll(attempt, lambda answer: answer.status_code != 404, deadline=deadline,
                        clock=self.clock, delay=0.2)
        if response.status_code >= 400:
            _ = response.content
            response.close()
            return
        with response:
            try:
                for raw_line in response.iter_lines(decode_unicode=False):
                    line = raw_line.decode("utf-8", "replace")
                    if line.startswith("data: "):  # event-stream flavour
                        line = line[6:]
                    elif line.startswith(("event:", "id:", ":")) or line == "":
                        continue
                    yield line
                    if self.clock.monotonic() > deadline:
                        return
            except requests.RequestException:
                return  # a broken stream ends the output; the status is polled afterwards


# -- reading answers ----------------------------------------------------------------------------

_IMAGE_ID = re.compile(r"^sha256:[0-9a-f]{64}$")


def running_images(formation: list[Formation]) -> dict[str, str]:
    """Process type → the image ID Heroku runs for it, from a docker-releases formation list
    (types without an image, or with a malformed one, are left out)."""
    images: dict[str, str] = {}
    for item in formation:
        image = item.get("docker_image") or {}
        image_id = image.get("id") if isinstance(image, dict) else None
        if isinstance(image_id, str) and _IMAGE_ID.match(image_id) and item.get("type"):
            images[str(item["type"])] = image_id
    return images


def release_addons(release: Release | None) -> list[AddOn] | None:
    """The add-ons of a release, as `GET /apps/{app}/addons` shapes them, from the plan names
    Heroku keeps on every release (`addon_plan_names`, `service:plan`): attaching or detaching
    an add-on changes config vars and so makes a release, so the newest release names the
    add-ons in use and the budget needs no request of its own. A plan changed in place may not
    make a release: the engine asks `GET /addons` before it refuses on these names. None when
    the release does not say."""
    names = release.get("addon_plan_names") if release else None
    if not isinstance(names, list):
        return None
    return [{"addon_service": {"name": name.split(":", 1)[0]}, "plan": {"name": name}}
            for name in names if isinstance(name, str) and ":" in name]
