"""A stand-in for api.heroku.com (and Heroku's router) that the release engine is tested against.

It is a real HTTP server on 127.0.0.1 with in-memory state. Every API request is matched to a
link of Heroku's published Platform API schema and its body validated against it (see
`heroku_schema.py`); what the real API would refuse gets Heroku's error status and body AND is
appended to `standin.schema_violations`, which tests assert stays empty for the engine.
docker-releases formation PATCHes are checked against the local registry: each `docker_image`
must be the `config.digest` of the v2s2 manifest at `<app>/<type>:latest` (with `registry=None`
only the schema's `sha256:<64 hex>` form is checked). A formation GET in that same variant
names the image each process type runs (`docker_image: {"id": …}`), and the router answers
/v1/health/version with the Appwrite version the running web image's `appwrite-lite.release`
label names (else the legacy `APPWRITE_LITE_RELEASE` config var's, else 1.9.6), as Appwrite in
that image would.

Fixtures (tests/conftest.py): `heroku_standin` (a fresh stand-in per test, checking images
against the session's `registry`) and `heroku_api_standin` (the same without a registry), both
accepting `helpers.CANARY_API_KEY`.

Point the engine at it with `HEROKU_API_URL=standin.url` and
`HEROKU_ROUTER_URL=standin.router_url` (the engine sends `Host: <app>.herokuapp.com` itself).
"""

from __future__ import annotations

import base64
import contextlib
import json
import math
import re
import secrets
import socket
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import requests

from standins import loopback
from standins.heroku_schema import (
    DOCKER_RELEASES_VARIANT,
    PlatformSchema,
    Route,
    default_schema_path,
)
from standins.heroku_state import (
    DYNO_SIZES,
    OWNER,
    Addon,
    App,
    Build,
    Release,
    config_change,
    default_size,
    describe_config_change,
    new_id,
    page,
    parse_range,
    plan_build,
    utcnow,
)

STANDIN_READY = True

V2S2 = "application/vnd.docker.distribution.manifest.v2+json"
MANIFEST_TYPES = (
    V2S2,
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
)
HEROKU_JSON = "application/vnd.heroku+json"
# `3` and the variants clients really send: docker-releases (image releases; the only one that
# changes behaviour here), cedar-acm (heroku3's default), sdk (heroku-go).
ACCEPTED_VERSIONS = ("3", DOCKER_RELEASES_VARIANT, "3.cedar-acm", "3.sdk")
ERROR_URL = "https://devcenter.heroku.com/articles/platform-api-reference#clients"
APP_NAME = re.compile(r"^[a-z][a-z0-9-]{1,28}[a-z0-9]$")
RELEASE_VERSION = re.compile(r"appwrite=([0-9A-Za-z.+-]+)")
FALLBACK_VERSION = "1.9.6"
_SCHEMAS: dict[Path, PlatformSchema] = {}


# Injectable error answers, with Heroku's ids and wording.
_CANNED = {
    "500": ("internal_server_error", "Internal server error."),
    "503": ("service_unavailable", "Service temporarily unavailable."),
    "402": ("delinquent", "This account is delinquent. Please settle the balance due on the "
            "account."),
    "403": ("forbidden", "You do not have access to the app."),
}


class RegistryLike(Protocol):
    """What the stand-in needs of `services.Registry`."""

    @property
    def url(self) -> str: ...

    def auth_header(self) -> dict[str, str]: ...


class RecordedRequest(NamedTuple):
    """One API request as received (Authorization masked) and the status it got."""

    method: str
    path: str
    headers: dict[str, str]
    body: str
    status: int


@dataclass(frozen=True)
class SchemaViolation:
    """A request the real API would refuse."""

    method: str
    path: str
    problems: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.method} {self.path}: {'; '.join(self.problems)}"


@dataclass
class Fault:
    kind: str
    count: int
    path: re.Pattern[str]
    method: str | None
    retry_after: float | None
    seconds: float


class ApiError(Exception):
    """An error response in Heroku's shape; `violation` marks client bugs."""

    def __init__(
        self, status: int, ident: str, message: str, *, violation: bool = False,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.ident, self.message = status, ident, message
        self.violation = violation
        self.headers = headers or {}


def _not_found(resource: str) -> ApiError:
    return ApiError(404, "not_found", f"Couldn't find that {resource}.")


@dataclass
class TokenBucket:
    """Heroku's rate limit: a pool refilled continuously; a request takes one token."""

    size: float
    refill_per_second: float
    tokens: float = -1.0
    clock: Callable[[], float] = time.monotonic  # the stand-in's: a skipped wait refills too
    stamp: float = -1.0

    def __post_init__(self) -> None:
        if self.tokens < 0:
            self.tokens = self.size
        if self.stamp < 0:
            self.stamp = self.clock()

    def take(self) -> bool:
        now = self.clock()
        self.tokens = min(self.size, self.tokens + (now - self.stamp) * self.refill_per_second)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False

    @property
    def remaining(self) -> int:
        return max(0, math.floor(self.tokens))


class HerokuStandIn:
    """The stand-in. See the module docstring for use; attributes tests read or steer:
    `url`, `router_url`, `requests`, `schema_violations`, `unimplemented`, `latency`,
    `bucket` (a TokenBucket; `set_rate_limit(size, refill_per_second)`), `inject(...)`."""

    def __init__(
        self, api_key: str, registry: RegistryLike | None = None,
        schema_path: Path | None = None, latency: float = 0.0, *,
        rate_limit_size: float = 4500, rate_limit_refill_per_second: float = 75 / 60,
        stall_seconds: float = 3.0, clock: Callable[[], float] = time.monotonic,
    ) -> None:
        path = (schema_path or default_schema_path()).resolve()
        if path not in _SCHEMAS:
            _SCHEMAS[path] = PlatformSchema(path)
        self.schema = _SCHEMAS[path]
        self.api_key = api_key
        self.registry = registry
        self.latency = latency
        self.stall_seconds = stall_seconds
        self.clock = clock  # what releases, builds and streams run on (tests may skip time)
        self.bucket = TokenBucket(rate_limit_size, rate_limit_refill_per_second,
                                  clock=clock)
        self.lock = threading.RLock()
        self.apps: dict[str, App] = {}
        self.requests: list[RecordedRequest] = []
        self.other_requests: list[RecordedRequest] = []
        self.router_requests: list[RecordedRequest] = []
        self.schema_violations: list[SchemaViolation] = []
        self.unimplemented: list[str] = []
        self.faults: list[Fault] = []
        self.blobs: dict[str, bytes | None] = {}
        self._image_versions: dict[str, str | None] = {}
        self._servers: list[ThreadingHTTPServer] = []
        self.url = ""
        self.router_url = ""

    # ---- lifecycle ---------------------------------------------------------------------

    def start(self) -> HerokuStandIn:
        api = _server(_ApiHandler, self)
        router = _server(_RouterHandler, self)
        self._servers = [api, router]
        self.url = f"http://127.0.0.1:{api.server_address[1]}"
        with self.lock:
            for app in self.apps.values():
                app.base_url = self.url
        loopback.serve(api)
        self.router_url = loopback.serve(router)
        return self

    def stop(self) -> None:
        for server in self._servers:
            loopback.close(server)
        self._servers = []

    def __enter__(self) -> HerokuStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- what tests set up ---------------------------------------------------------------

    def create_app(
        self, name: str, *, stack: str = "container", config_vars: dict[str, str] | None = None,
        addons: list[dict[str, Any]] | None = None,
        formation: dict[str, dict[str, Any]] | None = None,
        images: dict[str, str] | None = None,
    ) -> App:
        """An app as the Deploy button leaves it: v1 with the given config, then one release
        per attached add-on (whose config vars join the app's). `images` pretends an earlier
        deploy (a succeeded release with those image ids)."""
        if not APP_NAME.match(name):
            raise ValueError(f"{name!r} is not a valid Heroku app name")
        with self.lock:
            app = App(name=name, stack=stack, lock=self.lock, clock=self.clock,
                      base_url=self.url)
            app.config_vars = dict(config_vars or {})
            app.create_release("Initial release", phase=False)
            for spec in addons or []:
                service, plan = spec["service"], spec.get("plan", "mini")
                addon = Addon(
                    id=new_id(), name=f"{service}-{secrets.token_hex(3)}-{len(app.addons) + 1}",
                    service=service, plan=plan, config_vars=dict(spec.get("config_vars", {})),
                    created_at=utcnow(),
                )
                app.addons.append(addon)
                app.config_vars.update(addon.config_vars)
                attachment = next(iter(addon.config_vars), service.upper()).removesuffix("_URL")
                app.create_release(f"Attach {attachment} (@ref:{addon.name})", phase=False)
            for kind, spec in (formation or {}).items():
                app.sizes[kind] = default_size(
                    kind, spec.get("quantity"), spec.get("size", "basic"))
            if images:
                app.create_release(f"Deployed {', '.join(images)}", images=images, phase=False)
                app.passed_phase_images.add(images.get("release") or images.get("web") or "")
            self.apps[name] = app
            return app

    def app(self, name: str) -> App:
        return self.apps[name]

    def set_rate_limit(self, size: float, refill_per_second: float) -> None:
        with self.lock:
            self.bucket = TokenBucket(size, refill_per_second, clock=self.clock)

    def inject(
        self, kind: str, count: int = 1, path: str = ".*", method: str | None = None, *,
        retry_after: float | None = None, seconds: float | None = None,
    ) -> None:
        """Make the next `count` API requests whose path matches `path` (regex, searched) and
        method fail: "429" (with `Retry-After` when `retry_after` is given), "500", "503",
        "402" (delinquent account), "403" (no access to the app),
        "stall" (sleep `seconds`, default `stall_seconds`, then answer normally — the client
        has usually given up, the write still happens, as on a real slow platform) or "drop"
        (close the connection without answering)."""
        if kind not in (*_CANNED, "429", "stall", "drop"):
            raise ValueError(f"unknown fault {kind!r}")
        with self.lock:
            stall = self.stall_seconds if seconds is None else seconds
            self.faults.append(Fault(kind, count, re.compile(path), method and method.upper(),
                                     retry_after, stall))

    def api_requests(self, method: str | None = None, path: str = "") -> list[RecordedRequest]:
        """Recorded API requests, filtered by method and a path regex."""
        pattern = re.compile(path)
        return [r for r in list(self.requests)
                if (method is None or r.method == method) and pattern.search(r.path)]

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.count > 0 and fault.path.search(path) and (
                    fault.method is None or fault.method == method
                ):
                    fault.count -= 1
                    return fault
        return None

    # ---- the API ---------------------------------------------------------------------------

    def handle(
        self, method: str, target: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, Any, dict[str, str]]:
        """Validate, then dispatch; returns (status, JSON body, headers)."""
        path = urllib.parse.urlsplit(target).path
        variant = _accept_variant(headers.get("accept", ""))
        if variant is None:
            raise ApiError(406, "not_acceptable",
                           "Please specify a version along with Heroku's API MIME type. For "
                           "example, `Accept: application/vnd.heroku+json; version=3`.",
                           violation=True)
        if not self._authorized(headers.get("authorization", "")):
            raise ApiError(401, "unauthorized", "Invalid credentials provided.")
        with self.lock:
            allowed = self.bucket.take()
        if not allowed:
            raise ApiError(429, "rate_limit", "Your account reached the API rate limit\n"
                           "Please wait a few minutes before making new requests")
        body: Any = None
        if raw.strip():
            try:
                body = json.loads(raw)
            except ValueError as exc:
                raise ApiError(400, "bad_request", "Invalid JSON in request body.",
                               violation=True) from exc
        route = self._route(method, path, variant, body)
        handler = _HANDLERS.get(route.link.method + " " + _key(route))
        if handler is None:
            self.unimplemented.append(f"{method} {path}")
            raise ApiError(501, "not_implemented",
                           f"The stand-in does not implement {route.link.title} ({method}).")
        return handler(self, route, body, headers)

    def _authorized(self, value: str) -> bool:
        scheme, _, credential = value.partition(" ")
        if scheme.lower() == "bearer":
            return secrets.compare_digest(credential.strip(), self.api_key)
        if scheme.lower() == "basic":
            with contextlib.suppress(ValueError):
                decoded = base64.b64decode(credential.strip()).decode()
                return secrets.compare_digest(decoded.partition(":")[2], self.api_key)
        return False

    def _route(self, method: str, path: str, variant: str, body: Any) -> Route:
        routes = self.schema.routes(method, path, variant)
        if not routes:
            raise ApiError(404, "not_found", "The requested API endpoint was not found. Are you "
                           "using the right HTTP verb (i.e. `GET` vs. `POST`), and did you "
                           "specify your intended version with the `Accept` header?",
                           violation=True)
        problems: list[str] = []
        for route in routes:
            path_problems = self.schema.path_problems(route)
            if path_problems:
                problems += path_problems
                continue
            body_problems = self.schema.body_problems(route.link, body)
            if not body_problems:
                return route
            problems += [f"{route.link.title}: {p}" for p in body_problems]
        if all(self.schema.path_problems(r) for r in routes):
            raise ApiError(404, "not_found", "; ".join(problems), violation=True)
        raise ApiError(422, "invalid_params", "; ".join(problems), violation=True)

    def find_app(self, ident: str) -> App:
        with self.lock:
            app = self.apps.get(ident) or next(
                (a for a in self.apps.values() if a.id == ident), None)
        if app is None:
            raise _not_found("app")
        return app

    def manifest_config_digest(self, app: str, kind: str) -> str:
        """The image id Heroku would accept for `<app>/<kind>`: the config digest of the
        manifest at `:latest`, read the way the Heroku CLI reads it."""
        assert self.registry is not None
        try:
            response = requests.get(
                f"{self.registry.url}/v2/{app}/{kind}/manifests/latest",
                headers={"Accept": V2S2, **self.registry.auth_header()}, timeout=10,
            )
        except requests.RequestException as exc:
            raise ApiError(503, "service_unavailable", f"registry unreachable: {exc}") from exc
        if response.status_code == 404:
            # The registry hides manifests the client did not Accept: ask again for any type
            # to tell "nothing pushed" from "pushed in a format Heroku cannot run".
            response = requests.get(
                f"{self.registry.url}/v2/{app}/{kind}/manifests/latest",
                headers={"Accept": ", ".join(MANIFEST_TYPES), **self.registry.auth_header()},
                timeout=10,
            )
            if response.status_code == 404:
                raise ApiError(422, "invalid_params",
                               f"No image has been pushed to registry.heroku.com/{app}/{kind}.",
                               violation=True)
        response.raise_for_status()
        media = response.headers.get("Content-Type", "").split(";")[0].strip()
        manifest = response.json()
        media = manifest.get("mediaType", media)
        if "config" not in manifest and media == V2S2:
            media = "a manifest list"
        if media != V2S2:
            raise ApiError(422, "invalid_params",
                           f"The image for {kind} is not a Docker v2 schema 2 image ({media}); "
                           "Heroku supports neither OCI manifests nor manifest lists.",
                           violation=True)
        return str(manifest["config"]["digest"])

    def image_appwrite_version(self, app: str, image_id: str | None) -> str | None:
        """The Appwrite version the image says it holds (the `appwrite=` of its
        `appwrite-lite.release` label, read from its config blob in the registry): what
        Appwrite in that image would answer on /v1/health/version. None without a registry,
        an image or a label."""
        if self.registry is None or image_id is None:
            return None
        if image_id not in self._image_versions:
            try:
                response = requests.get(f"{self.registry.url}/v2/{app}/web/blobs/{image_id}",
                                        headers=self.registry.auth_header(), timeout=10)
            except requests.RequestException:
                return None
            labels = ((response.json().get("config") or {}).get("Labels") or {}
                      if response.status_code == 200 else {})
            match = RELEASE_VERSION.search(labels.get("appwrite-lite.release") or "")
            self._image_versions[image_id] = match.group(1) if match else None
        return self._image_versions[image_id]

    # ---- fault and recording helpers for the handlers ---------------------------------------

    def record(self, into: list[RecordedRequest], method: str, target: str,
               headers: dict[str, str], raw: bytes, status: int) -> None:
        masked = {k: ("****" if k.lower() == "authorization" else v) for k, v in headers.items()}
        entry = RecordedRequest(method, target, masked, raw.decode("utf-8", "replace"), status)
        with self.lock:
            into.append(entry)


def _accept_variant(accept: str) -> str | None:
    """The version asked for in `Accept`, or None when it is not Heroku's JSON v3."""
    for item in accept.split(","):
        media, *params = (p.strip() for p in item.split(";"))
        if media.lower() != HEROKU_JSON:
            continue
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "version" and value.strip() in ACCEPTED_VERSIONS:
                return value.strip()
    return None


def _key(route: Route) -> str:
    """`/apps/{app}/releases/{release}` from the schema's href template."""
    href = route.link.href
    for pointer in route.link.params:
        name = pointer.split("/")[2]
        quoted = urllib.parse.quote(pointer, safe="")
        href = href.replace("{(" + quoted + ")}", "{" + name + "}")
    return href + ("" if route.link.variant == "3" else f" {route.link.variant}")


# ---- endpoint handlers ----------------------------------------------------------------------

Reply = tuple[int, Any, dict[str, str]]


def _get_app(s: HerokuStandIn, r: Route, body: Any, h: dict[str, str]) -> Reply:
    app = s.find_app(r.values[0])
    with s.lock:
        app.settle()
        return 200, app.app_json(), {}


def _get_config(s: HerokuStandIn, r: Route, body: Any, h: dict[str, str]) -> Reply:
    app = s.find_app(r.values[0])
    with s.lock:
        return 200, dict(app.config_vars), {}


def _patch_config(s: HerokuStandIn, r: Route, body: Any, h: dict[str, str]) -> Reply:
    app = s.find_app(r.values[0])
    with s.lock:
        app.settle()
        new, changed, removed = config_change(app.config_vars, body)
        if changed or removed:
            app.config_vars = new
            app.create_release(describe_config_change(changed, removed))
        return 200, dict(app.config_vars), {}


def _list_releases(s: HerokuStandIn, r: Route, body: Any, h: dict[str, str]) -> Reply:
    app = s.find_app(r.values[0])
    try:
        wanted = parse_range(h.get("range"))
    except ValueError as exc:
        raise ApiError(400, "bad_request", str(exc), violation=True) from exc
    with s.lock:
        app.settle()
        items = [app.release_json(x) for x in app._releases]
    chunk, more = page(items, wanted)
    headers = {"Accept-Ranges": "id, version",
               "Content-Range": _content_range(chunk, wanted.field)}
    if more:
        headers["Next-Range"] = more
        return 206, chunk, headers
    return 200, chunk, headers


def _content_range(items: list[dict[str, Any]], key: str) -> str:
    if not items:
        return f"{key} .."
    return f"{key} {items[0][key]}..{items[-1][key]}"


def _find_release(app: App, ident: str) -> Release:
    release = app.find_release(ident)
    if release is None:
        raise _not_found("release")
    return release


def _get_release(s: HerokuStandIn, r: Route, body: Any, h: dict[str, str]) -> Reply:
    app = s.find_app(r.values[0])
    with s.lock:
        app.settle()
        return 200, app.release_json(_find_release(app, r.values[1])), {}


def _release_config(s: HerokuStandIn, r: Route, body: Any, h: dict[str, str]) -> Reply:
    app = s.find_app(r.values[0])
    with s.lock:
        return 200, dict(_find_release(app, r.values[1]).config), {}


def _post_release(s: HerokuStandIn, r: Route, body: Any, h: dict[str, str]) -> Reply:
    app = s.find_app(r.values[0])
    if r.link.title != "Rollback":
        raise ApiError(422, "invalid_params",
                       "Slug releases are not supported on the container stack.", violation=True)
    with s.lock:
        app.settle()
        target = _find_release(app, body["release"])
        if not app.eligible(target):
            raise ApiError(422, "invalid_params",
                           f"Cannot rollback to v{target.version}: this release is not eligible "
                           "for rollback (failed, expired, or older than the last "
                           "20 releases).")
        app.config_vars = dict(target.config)
        release = app.create_release(f"Rollback to v{target.version}",
                                     config=target.config, images=target.images)
        return 201, app.release_json(release), {}


def _get_formation(s: HerokuStandIn, r: Route, body: Any, h: dict[str, str]) -> Reply:
    """In the docker-releases variant each entry also says which image it runs (the field
    `docker_image`, as the variant's PATCH takes it): what the release engine reads to know
    what runs without a config var."""
    app = s.find_app(r.values[0])
    images = _accept_variant(h.get("accept", "")) == DOCKER_RELEASES_VARIANT
    with s.lock:
        app.settle()
        return 200, app.formation_json(images=images), {}


def _patch_formation(s: HerokuStandIn, r: Route, body: Any, h: dict[str, str]) -> Reply:
    app = s.find_app(r.values[0])
    with s.lock:
        app.settle()
        known = set(app.sizes)
        for update in body["updates"]:
            if update["type"] not in known:
                raise ApiError(404, "not_found",
                               f"Couldn't find that process type ({update['type']}).")
        for update in body["updates"]:
            _resize(app, update)
        return 200, app.formation_json(), {}


def _formation_entry(app: App, ident: str) -> dict[str, Any]:
    for entry in app.formation_json():
        if ident in (entry["type"], entry["id"]):
            return entry
    raise _not_found("process type")


def _get_one_formation(s: HerokuStandIn, r: Route, body: Any, h: dict[str, str]) -> Reply:
    app = s.find_app(r.values[0])
    with s.lock:
        app.settle()
        return 200, _formation_entry(app, r.values[1]), {}


def _patch_one_formation(s: HerokuStandIn, r: Route, body: Any, h: dict[str, str]) -> Reply:
    app = s.find_app(r.values[0])
    with s.lock:
        app.settle()
        kind = _formation_entry(app, r.values[1])["type"]
        _resize(app, {**body, "type": kind})
        return 200, _formation_entry(app, kind), {}


def _list_apps(s: HerokuStandIn, r: Route, body: Any, h: dict[str, str]) -> Reply:
    with s.lock:
        return 200, [a.app_json() for a in s.apps.values()], {}


def _size_name(ident: str | None) -> str | None:
    return next((name for name, known in DYNO_SIZES.items() if known == ident), None)


def _resize(app: App, update: dict[str, Any]) -> None:
    kind = update["type"]
    current = app.sizes.get(kind) or default_size(kind)
    wanted = update.get("dyno_size") or {}
    size = wanted.get("name") or _size_name(wanted.get("id")) or current["size"]
    quantity = update.get("quantity", current["quantity"])
    if isinstance(quantity, str):
        quantity = int(quantity) if quantity.isdigit() else current["quantity"]
    app.sizes[kind] = default_size(kind, quantity, size)


def _docker_release(s: HerokuStandIn, r: Route, body: Any, h: dict[str, str]) -> Reply:
    app = s.find_app(r.values[0])
    if app.stack != "container" and any("docker_image" in u for u in body["updates"]):
        raise ApiError(422, "invalid_params",
                       f"Docker images can only be released to apps on the container stack "
                       f"({app.name} is on {app.stack}).")
    wanted: dict[str, str] = {}
    for update in body["updates"]:
        if "docker_image" not in update:
            continue
        if s.registry is not None:
            expected = s.manifest_config_digest(app.name, update["type"])
            if update["docker_image"] != expected:
                raise ApiError(
                    422, "invalid_params",
                    f"Invalid docker_image for {update['type']}: it must be the image id "
                    "(config.digest) of registry.heroku.com/"
                    f"{app.name}/{update['type']}:latest.", violation=True)
        wanted[update["type"]] = update["docker_image"]
    with s.lock:
        app.settle()
        for update in body["updates"]:
            if "quantity" in update or "dyno_size" in update:
                _resize(app, update)
        current = app.images
        images = {**current, **wanted}
        if wanted and images != current:
            app.create_release(f"Deployed {', '.join(wanted)}", images=images)
        return 200, app.formation_json(), {}


def _list_addons(s: HerokuStandIn, r: Route, body: Any, h: dict[str, str]) -> Reply:
    app = s.find_app(r.values[0])
    with s.lock:
        return 200, [app.addon_json(a) for a in app.addons], {}


def _create_source(s: HerokuStandIn, r: Route, body: Any, h: dict[str, str]) -> Reply:
    token = secrets.token_urlsafe(16)
    with s.lock:
        s.blobs[token] = None
    signature = secrets.token_hex(8)
    url = f"{s.url}/_blobs/{token}?Signature={signature}"
    return 201, {"source_blob": {"get_url": url, "put_url": url}}, {}


def _create_build(s: HerokuStandIn, r: Route, body: Any, h: dict[str, str]) -> Reply:
    app = s.find_app(r.values[0])
    url = body["source_blob"]["url"]
    parsed = urllib.parse.urlsplit(url)
    token = parsed.path.removeprefix("/_blobs/")
    if not url.startswith(s.url + "/_blobs/") or token not in s.blobs:
        raise ApiError(422, "invalid_params",
                       "source_blob.url must be a get_url returned by POST /sources.",
                       violation=True)
    build_id = new_id()
    lines, outcome, images = plan_build(s.blobs.get(token), build_id)
    with s.lock:
        app.settle()
        timeline = app.timeline(lines, outcome, linger=0.0)
        timeline.line_interval = app.build_seconds / max(1, len(lines))
        timeline.stream_404_seconds = 0.0
        build = Build(
            id=build_id, source_url=url, version=body["source_blob"].get("version"),
            created_at=utcnow(), timeline=timeline, images=images,
        )
        app.builds.append(build)
        return 201, app.build_json(build), {}


def _find_build(app: App, ident: str) -> Build:
    for build in app.builds:
        if build.id == ident:
            return build
    raise _not_found("build")


def _get_build(s: HerokuStandIn, r: Route, body: Any, h: dict[str, str]) -> Reply:
    app = s.find_app(r.values[0])
    with s.lock:
        app.settle()
        return 200, app.build_json(_find_build(app, r.values[1])), {}


def _list_builds(s: HerokuStandIn, r: Route, body: Any, h: dict[str, str]) -> Reply:
    app = s.find_app(r.values[0])
    with s.lock:
        app.settle()
        return 200, [app.build_json(b) for b in app.builds], {}


def _rate_limits(s: HerokuStandIn, r: Route, body: Any, h: dict[str, str]) -> Reply:
    return 200, {"remaining": s.bucket.remaining}, {}


def _account(s: HerokuStandIn, r: Route, body: Any, h: dict[str, str]) -> Reply:
    return 200, {
        "allow_tracking": False, "beta": False, "created_at": "2020-01-01T00:00:00Z",
        "email": OWNER["email"], "federated": False, "id": OWNER["id"],
        "identity_provider": None, "last_login": "2026-01-01T00:00:00Z", "name": "Owner",
        "sms_number": None, "suspended_at": None, "delinquent_at": None,
        "two_factor_authentication": True, "updated_at": "2026-01-01T00:00:00Z",
        "verified": True, "country_of_residence": None, "default_organization": None,
        "default_team": None,
    }, {}


Handler = Callable[[HerokuStandIn, Route, Any, dict[str, str]], Reply]
_HANDLERS: dict[str, Handler] = {
    "GET /account": _account,
    "GET /account/rate-limits": _rate_limits,
    "GET /apps": _list_apps,
    "GET /apps/{app}": _get_app,
    "GET /apps/{app}/config-vars": _get_config,
    "PATCH /apps/{app}/config-vars": _patch_config,
    "GET /apps/{app}/releases": _list_releases,
    "GET /apps/{app}/releases/{release}": _get_release,
    "GET /apps/{app}/releases/{release}/config-vars": _release_config,
    "POST /apps/{app}/releases": _post_release,
    "GET /apps/{app}/formation": _get_formation,
    "PATCH /apps/{app}/formation": _patch_formation,
    "GET /apps/{app}/formation/{formation}": _get_one_formation,
    "PATCH /apps/{app}/formation/{formation}": _patch_one_formation,
    "PATCH /apps/{app}/formation " + DOCKER_RELEASES_VARIANT: _docker_release,
    "GET /apps/{app}/addons": _list_addons,
    "POST /sources": _create_source,
    "POST /apps/{app}/builds": _create_build,
    "GET /apps/{app}/builds": _list_builds,
    "GET /apps/{app}/builds/{build}": _get_build,
}


# ---- HTTP edge ------------------------------------------------------------------------------

class _Server(ThreadingHTTPServer):
    daemon_threads = True
    standin: HerokuStandIn


def _server(handler: type[BaseHTTPRequestHandler], standin: HerokuStandIn) -> _Server:
    server = _Server(("127.0.0.1", 0), handler)
    server.standin = standin
    return server


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body leave in separate writes; with Nagle on, a keep-alive client waits for
    # the delayed ACK (~40 ms a response), which would swamp the engine's own timings.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests scan output
        return

    @property
    def standin(self) -> HerokuStandIn:
        return self.server.standin

    def _headers(self) -> dict[str, str]:
        return {k.lower(): v for k, v in self.headers.items()}

    def _body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._chunked_body()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _chunked_body(self) -> bytes:
        """An upload streamed without a length (requests does this for generators)."""
        data = bytearray()
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return bytes(data)
            data += self.rfile.read(size)
            self.rfile.readline()

    def _send(self, status: int, payload: bytes, headers: dict[str, str],
              content_type: str = "application/json; charset=utf-8") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()


class _ApiHandler(_Handler):
    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = do_GET

    def _dispatch(self) -> None:
        path = urllib.parse.urlsplit(self.path).path
        if path.startswith("/_blobs/"):
            return self._blob(path.removeprefix("/_blobs/"))
        if path.startswith("/streams/"):
            return self._stream(path.removeprefix("/streams/"))
        return self._api()

    def _api(self) -> None:
        s = self.standin
        headers, raw = self._headers(), self._body()
        if s.latency:
            time.sleep(s.latency)
        request_id = headers.get("request-id") or str(uuid.uuid4())
        status, payload, extra = 500, {}, {}  # type: tuple[int, Any, dict[str, str]]
        try:
            fault = s._take_fault(self.command, self.path)
            if fault is not None:
                if fault.kind == "drop":
                    s.record(s.requests, self.command, self.path, headers, raw, 0)
                    return self._drop()
                if fault.kind == "stall":
                    time.sleep(fault.seconds)
                elif fault.kind == "429":
                    raise ApiError(429, "rate_limit", "Your account reached the API rate limit\n"
                                   "Please wait a few minutes before making new requests",
                                   headers={} if fault.retry_after is None
                                   else {"Retry-After": f"{fault.retry_after:g}"})
                else:
                    ident, message = _CANNED[fault.kind]
                    raise ApiError(int(fault.kind), ident, message)
            status, payload, extra = s.handle(self.command, self.path, headers, raw)
        except ApiError as exc:
            status, extra = exc.status, exc.headers
            payload = {"id": exc.ident, "message": exc.message, "url": ERROR_URL}
            if exc.violation:
                with s.lock:
                    s.schema_violations.append(
                        SchemaViolation(self.command, self.path, (exc.message,)))
        except Exception as exc:  # a stand-in bug must not look like a platform outage
            status, payload = 500, {"id": "standin_bug", "message": repr(exc), "url": ERROR_URL}
            with s.lock:
                s.schema_violations.append(
                    SchemaViolation(self.command, self.path, (f"stand-in error: {exc!r}",)))
        s.record(s.requests, self.command, self.path, headers, raw, status)
        extra = {"RateLimit-Remaining": str(s.bucket.remaining), "Request-Id": request_id,
                 **extra}
        self._send(status, json.dumps(payload).encode(), extra)

    def _blob(self, token: str) -> None:
        """The signed put_url/get_url of the Sources API (S3 in reality; no Heroku auth)."""
        s = self.standin
        raw = self._body()
        with s.lock:
            known = token in s.blobs
            if known and self.command == "PUT":
                s.blobs[token] = raw
            data = s.blobs.get(token)
        status = 200 if known and (self.command == "PUT" or data is not None) else 404
        s.record(s.other_requests, self.command, self.path, self._headers(),
                 b"" if self.command == "PUT" else raw, status)
        if self.command == "GET" and status == 200 and data is not None:
            return self._send(200, data, {}, "application/octet-stream")
        self._send(status, b"" if status == 200 else b"NoSuchKey", {}, "text/plain")

    def _stream(self, rest: str) -> None:
        """A release phase's or build's `output_stream_url`: 404 until the stream opens, then
        the lines on their schedule (chunked), then the end of the body."""
        s = self.standin
        kind, _, ident = rest.partition("/")
        timeline = None
        with s.lock:
            for app in s.apps.values():
                if kind == "releases":
                    release = app.find_release(ident)
                    timeline = release.phase if release else None
                elif kind == "builds":
                    timeline = next((b.timeline for b in app.builds if b.id == ident), None)
                if timeline is not None:
                    break
        now = s.clock()
        if timeline is None or now < timeline.opens:
            s.record(s.other_requests, self.command, self.path, self._headers(), b"", 404)
            return self._send(404, b"Not Found\n", {}, "text/plain")
        s.record(s.other_requests, self.command, self.path, self._headers(), b"", 200)
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for index, line in enumerate(timeline.lines):
                delay = timeline.line_due(index + 1) - s.clock()
                if delay > 0:
                    time.sleep(delay)
                self._chunk((line + "\n").encode())
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:
            self.close_connection = True


class _RouterHandler(_Handler):
    """Heroku's router in front of the app's web dynos, answering as Appwrite would."""

    def do_GET(self) -> None:
        s = self.standin
        headers = self._headers()
        host = headers.get("host", "").split(":")[0].lower()
        status, payload = self._answer(host)
        s.record(s.router_requests, self.command, self.path, headers, b"", status)
        if isinstance(payload, dict):
            self._send(status, json.dumps(payload).encode(), {})
        else:
            self._send(status, payload.encode(), {}, "text/html; charset=utf-8")

    do_HEAD = do_GET

    def _answer(self, host: str) -> tuple[int, dict[str, Any] | str]:
        s = self.standin
        name = host.removesuffix(".herokuapp.com") if host.endswith(".herokuapp.com") else None
        app = s.apps.get(name or "") or next(
            (a for a in s.apps.values() if host in a.custom_domains), None)
        if app is None:
            return 404, "<html><body><h1>There's nothing here, yet.</h1></body></html>"
        with s.lock:
            app.settle()
            current = app._current()
            running = (current is not None and current.status == "succeeded"
                       and "web" in current.images)
            config = dict(current.config) if current else {}
            web_image = current.images.get("web") if current else None
        if not running:
            return 503, "<html><body><h1>Application error</h1></body></html>"
        domain = config.get("_APP_DOMAIN")
        if domain and domain.split(":")[0].lower() != host:
            return 403, {"message": "Router protection does not allow accessing Appwrite over "
                         "this domain.", "code": 403, "type": "general_access_forbidden"}
        if urllib.parse.urlsplit(self.path).path != "/v1/health/version":
            return 404, {"message": "Route not found.", "code": 404,
                         "type": "general_route_not_found"}
        version = app.health_version or s.image_appwrite_version(app.name, web_image)
        if version is None:
            match = RELEASE_VERSION.search(config.get("APPWRITE_LITE_RELEASE", ""))
            version = match.group(1) if match else FALLBACK_VERSION
        return app.health_status, {"version": version}

