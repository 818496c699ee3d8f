"""In-memory state of the Heroku stand-in: apps, releases, builds, and the clock-driven life of a
release phase. Pure data and functions over it; the HTTP edge lives in `heroku.py`.

Which releases run the release phase follows Heroku's documentation: every new release (a
build, a config var change, a rollback, a release through the Platform API, a new add-on) except
one caused by an add-on changing its own config vars — here, whenever the release's images
include a `release` process type (or a test turns it on with `App.release_phase_enabled`).

Time is read from a monotonic clock and state settles lazily (`App.settle(now)`) whenever anyone
looks, so a release's pending → succeeded/failed transition happens at a precise, configurable
moment whether or not anybody is reading its output stream — as on Heroku.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import re
import tarfile
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml

MAX_ROLLBACK_RELEASES = 20      # "beyond the last 20 releases" → not eligible
MAX_ROLLBACK_AGE = dt.timedelta(days=30)
DEFAULT_PAGE, MAX_PAGE = 200, 1000
OWNER = {"email": "owner@example.com", "id": "5b3a4c8e-3f0e-4b1a-9d7c-2a1b0c9d8e7f"}
REGION = {"id": "59accabd-516d-4f0e-83e6-6e3757701145", "name": "us"}
STACKS = {
    "container": "69bee368-352b-4bd0-9b7c-819d860a2588",
    "heroku-24": "a1b2c3d4-0001-4e8f-9a55-1f2e3d4c5b6a",
    "heroku-22": "a1b2c3d4-0002-4e8f-9a55-1f2e3d4c5b6a",
}

Outcome = str  # "succeed" | "fail"
OutcomeRule = Outcome | Callable[[dict[str, Any]], Outcome]


def iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def new_id() -> str:
    return str(uuid.uuid4())


def synthetic_image(seed: str) -> str:
    return "sha256:" + hashlib.sha256(seed.encode()).hexdigest()


@dataclass
class Timeline:
    """When an output stream opens, emits each line, ends, and when the status settles.
    Shared by release phases and builds."""

    start: float
    lines: list[str]
    outcome: Outcome
    stream_404_seconds: float
    line_interval: float
    pending_linger_seconds: float

    @property
    def opens(self) -> float:
        return self.start + self.stream_404_seconds

    def line_due(self, index: int) -> float:
        return self.opens + index * self.line_interval

    @property
    def ends(self) -> float:
        return self.line_due(len(self.lines))

    @property
    def settles(self) -> float:
        return self.ends + self.pending_linger_seconds


@dataclass
class Release:
    id: str
    version: int
    description: str
    config: dict[str, str]
    images: dict[str, str]
    created_at: dt.datetime
    status: str = "succeeded"
    phase: Timeline | None = None
    updated_at: dt.datetime | None = None


@dataclass
class Build:
    id: str
    source_url: str
    version: str | None
    created_at: dt.datetime
    timeline: Timeline
    images: dict[str, str]
    status: str = "pending"
    release_id: str | None = None


@dataclass
class Addon:
    id: str
    name: str
    service: str
    plan: str
    config_vars: dict[str, str]
    created_at: dt.datetime


@dataclass
class App:
    """One Heroku app. Attributes a test may set: `release_phase_outcome`,
    `release_phase_output`, `release_phase_enabled`, `health_status`, `health_version`,
    `custom_domains`,
    `stream_404_seconds`, `pending_linger_seconds`, `line_interval`, `build_seconds`."""

    name: str
    stack: str
    lock: threading.RLock
    clock: Callable[[], float]
    base_url: str = ""
    id: str = field(default_factory=new_id)
    created_at: dt.datetime = field(default_factory=utcnow)
    config_vars: dict[str, str] = field(default_factory=dict)
    addons: list[Addon] = field(default_factory=list)
    sizes: dict[str, dict[str, Any]] = field(default_factory=dict)
    formation_ids: dict[str, str] = field(default_factory=dict)
    _releases: list[Release] = field(default_factory=list)
    builds: list[Build] = field(default_factory=list)
    current_version: int = 0
    passed_phase_images: set[str] = field(default_factory=set)
    # What the tests steer:
    release_phase_outcome: OutcomeRule = "succeed"
    release_phase_output: list[str] = field(
        default_factory=lambda: ["Running release command...", "Migrations: nothing to do"]
    )
    release_phase_enabled: bool | None = None
    health_status: int = 200
    health_version: str | None = None
    # Hostnames added with `heroku domains:add`: Heroku's router dispatches them to this app.
    custom_domains: list[str] = field(default_factory=list)
    stream_404_seconds: float = 0.3
    pending_linger_seconds: float = 0.3
    line_interval: float = 0.05
    build_seconds: float = 0.3

    # ---- views -------------------------------------------------------------------------

    @property
    def web_url(self) -> str:
        return f"https://{self.name}.herokuapp.com/"

    @property
    def releases(self) -> list[dict[str, Any]]:
        """All releases, oldest first, as the API shows them."""
        with self.lock:
            self.settle()
            return [self.release_json(r) for r in self._releases]

    @property
    def formation(self) -> list[dict[str, Any]]:
        with self.lock:
            self.settle()
            return self.formation_json()

    @property
    def images(self) -> dict[str, str]:
        """The image ids the running (current) release uses, by process type."""
        with self.lock:
            self.settle()
            current = self._current()
            return dict(current.images) if current else {}

    def current_release(self) -> dict[str, Any] | None:
        with self.lock:
            self.settle()
            current = self._current()
            return self.release_json(current) if current else None

    def expire_release(self, version: int) -> None:
        """Make a release's slug/images gone (status `expired`), as Heroku does with age."""
        with self.lock:
            release = self.find_release(str(version))
            assert release is not None
            release.status = "expired"

    # ---- internals ---------------------------------------------------------------------

    def _current(self) -> Release | None:
        for release in self._releases:
            if release.version == self.current_version:
                return release
        return None

    def find_release(self, ident: str) -> Release | None:
        for release in self._releases:
            if release.id == ident or (ident.isdigit() and release.version == int(ident)):
                return release
        return None

    def latest(self) -> Release | None:
        return self._releases[-1] if self._releases else None

    def eligible(self, release: Release, now: dt.datetime | None = None) -> bool:
        """Heroku's rule: a succeeded release among the newest 20 and younger than 30 days."""
        latest = self.latest()
        now = now or utcnow()
        return (
            release.status == "succeeded"
            and latest is not None
            and release.version > latest.version - MAX_ROLLBACK_RELEASES
            and now - release.created_at < MAX_ROLLBACK_AGE
        )

    def settle(self) -> None:
        """Finish every release phase and build whose time has come."""
        now = self.clock()
        for build in self.builds:
            if build.status == "pending" and now >= build.timeline.settles:
                build.status = "succeeded" if build.timeline.outcome == "succeed" else "failed"
                if build.status == "succeeded":
                    release = self.create_release(
                        f"Deploy {build.version[:8]}" if build.version else "Deploy",
                        images=build.images,
                    )
                    build.release_id = release.id
        for release in self._releases:
            if release.status == "pending" and release.phase and now >= release.phase.settles:
                self._finish(release, release.phase.outcome)

    def _finish(self, release: Release, outcome: Outcome) -> None:
        release.status = "succeeded" if outcome == "succeed" else "failed"
        release.updated_at = utcnow()
        if release.status == "succeeded":
            if release.phase is not None:
                self.passed_phase_images.add(self._phase_image(release.images))
            if release.version > self.current_version:
                self.current_version = release.version
                for kind in release.images:
                    if kind != "release":
                        self.sizes.setdefault(kind, default_size(kind))

    @staticmethod
    def _phase_image(images: dict[str, str]) -> str:
        return images.get("release") or images.get("web") or ""

    def _needs_phase(self, images: dict[str, str]) -> bool:
        if self.release_phase_enabled is not None:
            return self.release_phase_enabled
        return "release" in images

    def timeline(self, lines: list[str], outcome: Outcome, linger: float | None = None) -> Timeline:
        return Timeline(
            start=self.clock(), lines=list(lines), outcome=outcome,
            stream_404_seconds=self.stream_404_seconds, line_interval=self.line_interval,
            pending_linger_seconds=self.pending_linger_seconds if linger is None else linger,
        )

    def create_release(
        self, description: str, *, config: dict[str, str] | None = None,
        images: dict[str, str] | None = None, phase: bool | None = None,
    ) -> Release:
        """A new release based on the running one (config and images), with a release phase
        when the app has a release image (or the test turned it on)."""
        current = self._current()
        release = Release(
            id=new_id(),
            version=(self.latest().version + 1) if self._releases else 1,  # type: ignore[union-attr]
            description=description,
            config=dict(self.config_vars if config is None else config),
            images=dict(images if images is not None else (current.images if current else {})),
            created_at=utcnow(),
        )
        self._releases.append(release)
        run_phase = self._needs_phase(release.images) if phase is None else phase
        if not run_phase:
            self._finish(release, "succeed")
            return release
        release.status = "pending"
        outcome = self._outcome(release)
        release.phase = self.timeline(self.release_phase_output, outcome)
        return release

    def _outcome(self, release: Release) -> Outcome:
        """`release_phase_outcome` as a rule: a callable decides per release; "fail" fails a
        release phase whose image has not passed one on this app before (the same migration
        code that passed once passes again, e.g. when rolling back)."""
        rule = self.release_phase_outcome
        if callable(rule):
            return rule(self.release_json(release))
        if rule == "fail" and self._phase_image(release.images) in self.passed_phase_images:
            return "succeed"
        return rule

    # ---- JSON as api.heroku.com renders it ----------------------------------------------

    def app_json(self) -> dict[str, Any]:
        stack = {"id": STACKS.get(self.stack, new_id()), "name": self.stack}
        latest = self.latest()
        return {
            "acm": False, "archived_at": None, "buildpack_provided_description": None,
            "build_stack": stack, "created_at": iso(self.created_at),
            "generation": {"id": new_id_for("generation:cedar"), "name": "cedar"},
            "git_url": f"https://git.heroku.com/{self.name}.git", "id": self.id,
            "internal_routing": None, "maintenance": False, "name": self.name,
            "owner": OWNER, "organization": None, "team": None, "region": REGION,
            "released_at": iso(latest.created_at) if latest else None, "repo_size": None,
            "slug_size": None, "space": None, "stack": stack,
            "updated_at": iso(latest.created_at if latest else self.created_at),
            "web_url": self.web_url,
        }

    def release_json(self, release: Release) -> dict[str, Any]:
        return {
            "addon_plan_names": [f"{a.service}:{a.plan}" for a in self.addons],
            "artifacts": [],
            "app": {"id": self.id, "name": self.name},
            "created_at": iso(release.created_at),
            "description": release.description,
            "id": release.id,
            "updated_at": iso(release.updated_at or release.created_at),
            "slug": None,
            "status": release.status,
            "user": OWNER,
            "version": release.version,
            "current": release.version == self.current_version,
            "output_stream_url": (
                f"{self.base_url}/streams/releases/{release.id}" if release.phase else None
            ),
            "eligible_for_rollback": self.eligible(release),
        }

    def formation_json(self, images: bool = False) -> list[dict[str, Any]]:
        """The formation list; with `images` (the docker-releases variant) each process type
        also names the image ID the current release runs for it, `{"id": …}` or null."""
        current = self._current()
        running = current.images if current else {}
        out = []
        for kind, size in sorted(self.sizes.items()):
            ident = self.formation_ids.setdefault(kind, new_id())
            extra = ({"docker_image": {"id": running[kind]} if kind in running else None}
                     if images else {})
            out.append({**extra,
                "app": {"id": self.id, "name": self.name},
                "command": "",
                "created_at": iso(self.created_at),
                "dyno_size": {"id": size["size_id"], "name": size["size"]},
                "id": ident,
                "quantity": size["quantity"],
                "size": size["size"],
                "type": kind,
                "updated_at": iso(self.created_at),
            })
        return out

    def addon_json(self, addon: Addon) -> dict[str, Any]:
        return {
            "actions": [],
            "addon_service": {"id": new_id_for(addon.service), "name": addon.service},
            "billing_entity": {"id": self.id, "name": self.name, "type": "app"},
            "app": {"id": self.id, "name": self.name},
            "billed_price": {"cents": 0, "contract": False, "unit": "month"},
            "config_vars": sorted(addon.config_vars),
            "created_at": iso(addon.created_at),
            "id": addon.id,
            "name": addon.name,
            "plan": {"id": new_id_for(f"{addon.service}:{addon.plan}"),
                     "name": f"{addon.service}:{addon.plan}"},
            "provider_id": addon.id[:8],
            "state": "provisioned",
            "updated_at": iso(addon.created_at),
            "web_url": f"https://addons-sso.heroku.com/apps/{self.id}/addons/{addon.id}",
        }

    def build_json(self, build: Build) -> dict[str, Any]:
        return {
            "app": {"id": self.id},
            "buildpacks": None,
            "created_at": iso(build.created_at),
            "generation": "cedar",
            "id": build.id,
            "output_stream_url": f"{self.base_url}/streams/builds/{build.id}",
            "source_blob": {"checksum": None, "url": build.source_url,
                            "version": build.version, "version_description": None},
            "release": {"id": build.release_id} if build.release_id else None,
            "slug": None,
            "stack": self.stack,
            "status": build.status,
            "updated_at": iso(build.created_at),
            "user": OWNER,
        }


DYNO_SIZES = {
    "eco": "b4b1e7d1-0d32-4a4b-8b7a-6c1c2c6e0001", "basic": "b4b1e7d1-0d32-4a4b-8b7a-6c1c2c6e0002",
    "standard-1X": "b4b1e7d1-0d32-4a4b-8b7a-6c1c2c6e0003",
    "standard-2X": "b4b1e7d1-0d32-4a4b-8b7a-6c1c2c6e0004",
    "performance-M": "b4b1e7d1-0d32-4a4b-8b7a-6c1c2c6e0005",
}


def default_size(kind: str, quantity: int | None = None, size: str = "basic") -> dict[str, Any]:
    """Heroku starts `web` at one dyno and other process types at zero."""
    return {
        "quantity": (1 if kind == "web" else 0) if quantity is None else quantity,
        "size": size, "size_id": DYNO_SIZES.get(size, new_id_for(size)),
    }


def new_id_for(name: str) -> str:
    """A stable uuid for a catalogue name (add-on service, plan, dyno size)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"heroku:{name}"))


# ---- pure helpers ------------------------------------------------------------------------

def config_change(
    current: dict[str, str], patch: dict[str, str | None]
) -> tuple[dict[str, str], list[str], list[str]]:
    """Apply a config-vars PATCH: merge, `null` deletes. Returns (new, set_keys, removed_keys),
    counting only real changes."""
    new = dict(current)
    changed, removed = [], []
    for key, value in patch.items():
        if value is None:
            if key in new:
                del new[key]
                removed.append(key)
        elif new.get(key) != value:
            new[key] = value
            changed.append(key)
    return new, changed, removed


def describe_config_change(changed: list[str], removed: list[str]) -> str:
    """Heroku's wording: "Set A, B config vars" / "Remove C config var"."""
    parts = []
    for verb, keys in (("Set", changed), ("Remove", removed)):
        if keys:
            parts.append(f"{verb} {', '.join(keys)} config var{'s' if len(keys) > 1 else ''}")
    if len(parts) == 2:
        parts[1] = parts[1][0].lower() + parts[1][1:]
    return " and ".join(parts)


_RANGE = re.compile(
    r"^\s*(?P<field>\w+)\s+(?P<excl>\])?(?P<start>[^.;\s]*)\.\.(?P<end>[^;\s]*)\s*"
    r"(?:;\s*(?P<opts>.*))?$"
)


@dataclass(frozen=True)
class Range:
    field: str = "version"
    start: str | None = None
    exclusive_start: bool = False
    end: str | None = None
    max: int = DEFAULT_PAGE
    order: str = "asc"


def parse_range(header: str | None, fields: tuple[str, ...] = ("version", "id")) -> Range:
    """Heroku's `Range: version ..; max=N, order=desc` (the `]` marks an exclusive start, as in
    the `Next-Range` the API hands back). Raises ValueError on anything else."""
    if not header:
        return Range()
    match = _RANGE.match(header)
    if not match or match["field"] not in fields:
        raise ValueError(f"unsupported Range {header!r}")
    size, order = DEFAULT_PAGE, "asc"
    options = re.split(r"[,;]", match["opts"] or "")  # heroku3 writes "order=desc,max=10;"
    for option in filter(None, (o.strip() for o in options)):
        key, _, value = option.partition("=")
        key, value = key.strip(), value.strip()
        if key == "max" and value.isdigit() and int(value) > 0:
            size = min(int(value), MAX_PAGE)
        elif key == "order" and value in ("asc", "desc"):
            order = value
        else:
            raise ValueError(f"unsupported Range option {option!r}")
    return Range(match["field"], match["start"] or None, bool(match["excl"]),
                 match["end"] or None, size, order)


def page(items: list[dict[str, Any]], wanted: Range) -> tuple[list[dict[str, Any]], str | None]:
    """One page of `items` (already in ascending order) and the `Next-Range`, if more."""
    key = wanted.field

    def value(item: dict[str, Any]) -> Any:
        return item[key]

    def cast(raw: str) -> Any:
        return int(raw) if key == "version" else raw

    ordered = sorted(items, key=value, reverse=wanted.order == "desc")
    before: Callable[[Any, Any], bool] = (
        (lambda a, b: a > b) if wanted.order == "desc" else (lambda a, b: a < b)
    )
    selected = []
    for item in ordered:
        if wanted.start is not None:
            start = cast(wanted.start)
            if before(value(item), start) or (wanted.exclusive_start and value(item) == start):
                continue
        if wanted.end is not None and before(cast(wanted.end), value(item)):
            continue
        selected.append(item)
    chunk = selected[: wanted.max]
    if len(selected) <= wanted.max:
        return chunk, None
    last = value(chunk[-1])
    return chunk, f"{key} ]{last}..; max={wanted.max}, order={wanted.order}"


def plan_build(blob: bytes | None, build_id: str) -> tuple[list[str], str, dict[str, str]]:
    """What a heroku.yml build of this tarball does: output lines, outcome and image ids per
    process type (synthetic: nothing is really built; `release` when heroku.yml names one)."""
    lines = ["=== Fetching app code"]
    if blob is None:
        return [*lines, " !     Unable to fetch source: nothing was uploaded to put_url."], \
            "fail", {}
    try:
        files = tar_files(blob)
    except (tarfile.TarError, OSError, EOFError) as exc:
        return [*lines, f" !     The source is not a gzipped tarball: {exc}"], "fail", {}
    manifest_text = files.get("heroku.yml")
    if manifest_text is None:
        return [*lines, " !     No heroku.yml found at the root of the source."], "fail", {}
    try:
        manifest = yaml.safe_load(manifest_text) or {}
    except yaml.YAMLError as exc:
        return [*lines, f" !     heroku.yml is not valid YAML: {exc}"], "fail", {}
    docker = (manifest.get("build") or {}).get("docker") if isinstance(manifest, dict) else None
    if not isinstance(docker, dict) or not docker:
        return [*lines, " !     heroku.yml has no build.docker section."], "fail", {}
    images: dict[str, str] = {}
    for kind, spec in docker.items():
        dockerfile = spec.get("dockerfile") if isinstance(spec, dict) else spec
        if not isinstance(dockerfile, str) or dockerfile.lstrip("./") not in files:
            return [*lines, f" !     {kind}: Dockerfile {dockerfile!r} not found in the source."], \
                "fail", {}
        lines += [f"=== Building {kind} ({dockerfile})", "Successfully built"]
        images[kind] = synthetic_image(f"{build_id}:{kind}")
    release = manifest.get("release") or {}
    if isinstance(release, dict) and release.get("image") in images:
        images["release"] = images[release["image"]]
    lines.append("=== Pushing " + ", ".join(images))
    return lines, "succeed", images


def tar_files(blob: bytes) -> dict[str, bytes]:
    """Regular files of the tarball by path; a single top-level directory (as GitHub's
    tarballs have) is stripped, as Heroku does."""
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as archive:
        files = {}
        for member in archive.getmembers():
            if member.isfile():
                handle = archive.extractfile(member)
                if handle is not None:
                    files[member.name.lstrip("./")] = handle.read()
    tops = {name.split("/", 1)[0] for name in files}
    if len(tops) == 1 and all("/" in name for name in files):
        files = {name.split("/", 1)[1]: data for name, data in files.items()}
    return files
