"""Request validation against Heroku's own Platform API hyper-schema.

Every request the stand-in serves is matched to a `link` of the published schema (method + href
template) and its JSON body validated against that link's `schema`, so the release engine can
only pass its tests by sending what api.heroku.com would accept. Two deliberate choices:

- Unknown body fields are refused: interagent hyper-schemas mark strictness with
  `strictProperties`, and a link's top-level body is treated as strict too, because a field the
  API does not know is a bug in the client (a misspelt `docker_image`, say) that would otherwise
  go unnoticed.
- The one extension is the `version=3.docker-releases` variant of the formation batch update:
  its update items may carry `docker_image` (`sha256:<64 hex>`). It is validated with an
  extended copy of the published `formation/definitions/update`.

jsonschema ships no `uuid` format checker for Draft 4, so one is added here (the schema's
identities are "uuid or name" and the difference decides which one a path segment is).
"""

from __future__ import annotations

import copy
import json
import re
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonschema import Draft4Validator, FormatChecker, ValidationError
from jsonschema.validators import extend
from referencing import Registry
from referencing.jsonschema import DRAFT4

ROOT_URI = "http://api.heroku.com/schema"
DOCKER_IMAGE_PATTERN = r"^sha256:[0-9a-f]{64}$"
DOCKER_RELEASES_VARIANT = "3.docker-releases"
_PLACEHOLDER = re.compile(r"\{\(([^)]+)\)\}")


def default_schema_path() -> Path:
    """`shared/heroku/platform-api-schema.json` beside the repository, the copy the team
    shares: the nearest one up the tree, so a worktree nested one level deeper finds it too."""
    relative = Path("shared") / "heroku" / "platform-api-schema.json"
    repo = Path(__file__).resolve().parents[2]
    for parent in repo.parents:
        if (parent / relative).is_file():
            return parent / relative
    return repo.parent / relative


def _strict_properties(
    validator: Any, strict: Any, instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    """interagent's `strictProperties`: no property beyond `properties` is allowed."""
    if not strict or not isinstance(instance, dict):
        return
    known = set(schema.get("properties", {}))
    extra = sorted(set(instance) - known)
    if extra:
        yield ValidationError(f"unknown field(s) {', '.join(map(repr, extra))}")


_FORMATS = FormatChecker(["date-time", "email", "ipv4", "ipv6", "regex"])


def _is_uuid(value: object) -> bool:
    if not isinstance(value, str):
        return True
    return len(value) == 36 and str(uuid.UUID(value)) == value.lower()


_FORMATS.checks("uuid", raises=ValueError)(_is_uuid)


HyperSchemaValidator = extend(Draft4Validator, {"strictProperties": _strict_properties})


@dataclass(frozen=True)
class Link:
    """One `links[]` entry: what may be sent to one method + href."""

    method: str
    href: str
    title: str
    pattern: re.Pattern[str]
    params: tuple[str, ...]       # JSON pointers of the placeholders, in path order
    body_ref: str | None          # where the (strict) body schema lives in the working copy
    variant: str = "3"            # the Accept version this link is for

    @property
    def has_body(self) -> bool:
        return self.body_ref is not None


@dataclass(frozen=True)
class Route:
    """A request matched to a link, with its decoded path parameters."""

    link: Link
    values: tuple[str, ...]


def _strict(schema: dict[str, Any]) -> dict[str, Any]:
    body = copy.deepcopy(schema)
    if (
        "properties" in body
        and "additionalProperties" not in body
        and "patternProperties" not in body
    ):
        body["strictProperties"] = True
    return body


class PlatformSchema:
    """The published schema, indexed by link, with validators that resolve `$ref`s against
    the root document."""

    def __init__(self, path: Path) -> None:
        self.path = path
        root: dict[str, Any] = json.loads(path.read_text())
        work = copy.deepcopy(root)
        bodies: list[dict[str, Any]] = []
        links: list[Link] = []
        for name, definition in root["definitions"].items():
            for entry in definition.get("links", []):
                ref = None
                if "schema" in entry:
                    ref = f"{ROOT_URI}#/definitions/_standin_bodies/items/{len(bodies)}"
                    bodies.append(_strict(entry["schema"]))
                links.append(self._link(entry, ref, name))
        # The docker-releases extension: a copy of the batch update whose items may name an
        # image. Everything else about it (type pattern, no other unknown fields) stays.
        update = copy.deepcopy(root["definitions"]["formation"]["definitions"]["update"])
        update["properties"]["docker_image"] = {
            "description": "image id (the registry manifest's config.digest)",
            "type": ["string"],
            "pattern": DOCKER_IMAGE_PATTERN,
        }
        batch = {
            "properties": {"updates": {"type": ["array"], "items": update}},
            "required": ["updates"],
            "type": ["object"],
            "strictProperties": True,
        }
        ref = f"{ROOT_URI}#/definitions/_standin_bodies/items/{len(bodies)}"
        bodies.append(batch)
        links.append(
            self._link(
                {"method": "PATCH", "title": "Docker release",
                 "href": "/apps/{(%23%2Fdefinitions%2Fapp%2Fdefinitions%2Fidentity)}/formation"},
                ref, "formation", variant=DOCKER_RELEASES_VARIANT,
            )
        )
        work["definitions"]["_standin_bodies"] = {"items": bodies}
        self.links = links
        self._registry: Registry[Any] = Registry().with_resource(
            ROOT_URI, DRAFT4.create_resource(work)
        )
        self._validators: dict[str, Any] = {}

    @staticmethod
    def _link(entry: dict[str, Any], ref: str | None, name: str, variant: str = "3") -> Link:
        href: str = entry["href"]
        params = tuple(urllib.parse.unquote(p) for p in _PLACEHOLDER.findall(href))
        parts = _PLACEHOLDER.split(href)
        # split() alternates literal, group, literal...; groups become one path segment each.
        regex = "".join(
            re.escape(part) if i % 2 == 0 else "([^/]+)" for i, part in enumerate(parts)
        )
        return Link(
            method=entry["method"].upper(), href=href, title=entry.get("title", name),
            pattern=re.compile(f"^{regex}$"), params=params, body_ref=ref, variant=variant,
        )

    def _validator(self, ref: str) -> Any:
        if ref not in self._validators:
            self._validators[ref] = HyperSchemaValidator(
                {"$ref": ref}, registry=self._registry, format_checker=_FORMATS
            )
        return self._validators[ref]

    def routes(self, method: str, path: str, variant: str = "3") -> list[Route]:
        """Links whose method and href template match; the variant-specific ones first."""
        found = []
        for link in self.links:
            if link.method != method:
                continue
            if link.variant != "3" and link.variant != variant:
                continue
            match = link.pattern.match(path)
            if match:
                values = tuple(urllib.parse.unquote(v) for v in match.groups())
                found.append(Route(link, values))
        found.sort(key=lambda r: r.link.variant == "3")
        return found

    def path_problems(self, route: Route) -> list[str]:
        """Each placeholder value must satisfy the identity schema it points to. A path
        segment is text, so an all-digit one is also tried as an integer (release versions)."""
        problems = []
        for pointer, value in zip(route.link.params, route.values, strict=True):
            validator = self._validator(ROOT_URI + pointer)
            candidates: list[object] = [value]
            if value.isdigit():
                candidates.append(int(value))
            if not any(validator.is_valid(c) for c in candidates):
                problems.append(f"{value!r} is not a valid {pointer.rsplit('/', 3)[-3]} identity")
        return problems

    def instance_problems(self, definition: str, instance: object) -> list[str]:
        """How `instance` departs from `#/definitions/<definition>` (for checking that the
        stand-in's own answers look like the real API's)."""
        validator = self._validator(f"{ROOT_URI}#/definitions/{definition}")
        return [f"{'/'.join(map(str, e.absolute_path)) or definition}: {e.message}"
                for e in validator.iter_errors(instance)]

    def body_problems(self, link: Link, body: object) -> list[str]:
        if link.body_ref is None:
            if body in (None, {}):
                return []
            return ["this endpoint takes no request body"]
        if body is None:
            body = {}
        validator = self._validator(link.body_ref)
        problems = []
        for error in sorted(validator.iter_errors(body), key=lambda e: list(e.path)):
            where = "/".join(str(p) for p in error.absolute_path) or "body"
            problems.append(f"{where}: {error.message}")
        return problems
