"""Heroku's container registry: where images go, and the image IDs Heroku will accept.

An image ID for a docker-releases PATCH is the manifest's ``config.digest``, read from the
registry with the v2 schema 2 Accept header — never ``docker inspect .Id``, which on Docker's
containerd store is the manifest digest and is rejected by Heroku.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..config.heroku_types import PROCESS_TYPES
from ..errors import InputError, PlatformError
from .heroku_api import MANIFEST_V2, HerokuClient

DEFAULT_REGISTRY_URL = "https://registry.heroku.com"
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


@dataclass(frozen=True)
class Registry:
    url: str  # e.g. https://registry.heroku.com; http:// means an insecure (local) registry

    @property
    def host(self) -> str:
        netloc = urlsplit(self.url).netloc
        if not netloc:
            raise InputError(f"HEROKU_REGISTRY_URL {self.url!r} is not a URL like "
                             "https://registry.heroku.com")
        return netloc

    @property
    def insecure(self) -> bool:
        return urlsplit(self.url).scheme == "http"

    def image(self, app: str, process_type: str) -> str:
        """The push reference Heroku releases from: `<registry>/<app>/<type>:latest`."""
        return f"{self.host}/{app}/{process_type}:latest"


def basic_auth(api_key: str) -> str:
    """What Heroku's registry and its API clients send: empty user, the API key."""
    return "Basic " + base64.b64encode(f":{api_key}".encode()).decode()


def config_digest(manifest: object, reference: str) -> str:
    """The image ID from a manifest document; anything Heroku would refuse is an error here."""
    if not isinstance(manifest, dict):
        raise PlatformError(f"the registry's manifest for {reference} is not a JSON object")
    media_type = manifest.get("mediaType")
    if manifest.get("schemaVersion") != 2 or media_type != MANIFEST_V2:
        raise InputError(
            f"{reference} is not a Docker v2 schema 2 image (got {media_type or 'no mediaType'}): "
            "Heroku accepts only single-platform v2s2 manifests — build with --platform "
            "linux/amd64 --provenance=false --sbom=false (buildah: push --format v2s2)")
    config = manifest.get("config")
    digest = config.get("digest") if isinstance(config, dict) else None
    if not isinstance(digest, str) or not _DIGEST.match(digest):
        raise PlatformError(f"the registry's manifest for {reference} has no config digest")
    return digest


ANY_MANIFEST = ", ".join((
    MANIFEST_V2, "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json"))


def _diagnose_missing(client: HerokuClient, registry: Registry, app: str, kind: str,
                      reference: str) -> None:
    """A registry that cannot serve a v2s2 manifest answers 404 even when an OCI image or a
    multi-platform index is there: ask once more, accepting anything, to say which it is."""
    response = client.raw(
        "GET", f"{registry.url.rstrip('/')}/v2/{app}/{kind}/manifests/latest",
        headers={"Accept": ANY_MANIFEST, "Authorization": basic_auth(client.api_key)})
    if response.status_code == 200:
        try:
            manifest = response.json()
        except ValueError:
            return
        config_digest(manifest, reference)


def image_ids(client: HerokuClient, registry: Registry, app: str,
              process_types: tuple[str, ...] = PROCESS_TYPES) -> dict[str, str]:
    """`config.digest` of `<app>/<type>:latest` for each process type (one GET each)."""
    ids: dict[str, str] = {}
    for kind in process_types:
        reference = f"{app}/{kind}:latest"
        response = client.raw(
            "GET", f"{registry.url.rstrip('/')}/v2/{app}/{kind}/manifests/latest",
            headers={"Accept": MANIFEST_V2, "Authorization": basic_auth(client.api_key)},
        )
        if response.status_code == 404:
            _diagnose_missing(client, registry, app, kind, reference)
            raise InputError(f"the registry has no image {reference}: push it first "
                             "(or deploy with --build buildah|docker|heroku)")
        if response.status_code == 401:
            raise InputError("the registry rejected HEROKU_API_KEY (401): use a valid key, "
                             "e.g. from `heroku authorizations:create`")
        if response.status_code >= 400:
            raise PlatformError(f"the registry answered {response.status_code} for {reference} "
                                "after retries: try again later")
        try:
            manifest = response.json()
        except ValueError:
            raise PlatformError(f"the registry's manifest for {reference} is not JSON") from None
        ids[kind] = config_digest(manifest, reference)
    return ids
