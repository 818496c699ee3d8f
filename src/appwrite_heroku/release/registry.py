"""Heroku's container registry: where images go, the image IDs Heroku will accept, the labels
an image carries, and copying an image from one app's repositories to another's.

An image ID for a docker-releases PATCH is the manifest's ``config.digest``, read from the
registry with the v2 schema 2 Accept header — never ``docker inspect .Id``, which on Docker's
containerd store is the manifest digest and is rejected by Heroku. The config blob that digest
names holds the image's labels: the release record is read from there (tag_guard.py).

A promotion copies an image without rebuilding it: each blob is mounted from the source
repository where the registry allows it (no bytes move), else downloaded and uploaded; then the
manifest's exact bytes are put, so the image ID on the target is the source's, byte for byte.
"""

from __future__ import annotations

import base64
import hashlib
import re
import tempfile
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit, urlunsplit

from requests import Response

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


def _get(client: HerokuClient, registry: Registry, path: str, accept: str) -> Response:
    return client.raw("GET", f"{registry.url.rstrip('/')}/v2/{path}",
                      headers={"Accept": accept, "Authorization": basic_auth(client.api_key)})


def check_access(client: HerokuClient, registry: Registry) -> None:
    """The registry's API root with the key, as `docker login` asks it: a rejected key is
    refused (exit 2) before minutes of building, not at the push after them."""
    _refuse_status(_get(client, registry, "", "application/json"), "its API root")


def _refuse_status(response: Response, what: str) -> None:
    """One line for a registry answer the caller cannot use (404 is the caller's to judge)."""
    if response.status_code == 401:
        raise InputError("the registry rejected HEROKU_API_KEY (401): use a valid key, "
                         "e.g. from `heroku authorizations:create`")
    if response.status_code >= 400:
        raise PlatformError(f"the registry answered {response.status_code} for {what} "
                            "after retries: try again later")


def _json(response: Response, what: str) -> Any:
    try:
        return response.json()
    except ValueError:
        raise PlatformError(f"the registry's {what} is not JSON") from None


@dataclass(frozen=True)
class Manifest:
    """`<app>/<kind>:latest` as the registry serves it: its exact bytes (a copy keeps them, so
    the image ID and the manifest digest stay what they were) and the blobs it names."""

    reference: str
    raw: bytes
    image_id: str  # config.digest: what Heroku runs
    blobs: tuple[str, ...]  # the config first, then the layers


def read_manifest(client: HerokuClient, registry: Registry, app: str, kind: str) -> Manifest:
    """The v2s2 manifest at `<app>/<kind>:latest` (one GET; two when it is missing, to say
    whether an OCI or multi-platform image stands there instead)."""
    reference = f"{app}/{kind}:latest"
    response = _get(client, registry, f"{app}/{kind}/manifests/latest", MANIFEST_V2)
    if response.status_code == 404:
        _diagnose_missing(client, registry, app, kind, reference)
        raise InputError(f"the registry has no image {reference}: push it first "
                         "(or deploy with --build buildah|docker|heroku)")
    _refuse_status(response, reference)
    document = _json(response, f"manifest for {reference}")
    image_id = config_digest(document, reference)
    layers = document.get("layers")
    if not isinstance(layers, list) or not all(
            isinstance(item, dict) and _DIGEST.match(str(item.get("digest"))) for item in layers):
        raise PlatformError(f"the registry's manifest for {reference} lists no valid layers")
    return Manifest(reference, response.content, image_id,
                    (image_id, *(str(layer["digest"]) for layer in layers)))


def image_ids(client: HerokuClient, registry: Registry, app: str,
              process_types: tuple[str, ...] = PROCESS_TYPES) -> dict[str, str]:
    """`config.digest` of `<app>/<type>:latest` for each process type (one GET each)."""
    return {kind: read_manifest(client, registry, app, kind).image_id for kind in process_types}


def image_label(client: HerokuClient, registry: Registry, app: str, kind: str, image_id: str,
                label: str) -> str | None:
    """One label of an image, from its config blob (`GET /v2/<app>/<kind>/blobs/<image ID>`,
    the document whose digest *is* the image ID: checked). None when the image carries no
    such label or the registry no longer holds it."""
    what = f"image {image_id[:19]} of {app}/{kind}"
    response = _get(client, registry, f"{app}/{kind}/blobs/{image_id}", "application/json")
    if response.status_code == 404:
        return None
    _refuse_status(response, what)
    if "sha256:" + hashlib.sha256(response.content).hexdigest() != image_id:
        raise PlatformError(f"the registry's config of {what} does not match its digest")
    document = _json(response, f"config of {what}")
    config = document.get("config") if isinstance(document, dict) else None
    labels = config.get("Labels") if isinstance(config, dict) else None
    value = labels.get(label) if isinstance(labels, dict) else None
    return value if isinstance(value, str) else None


# -- copying an image between two apps' repositories ------------------------------------------

@dataclass
class CopyCount:
    """How each blob reached the target repository."""

    present: int = 0  # already there
    mounted: int = 0  # cross-repository mount: no bytes moved
    copied: int = 0  # downloaded from the source and uploaded (the registry refused a mount)


def copy_image(client: HerokuClient, registry: Registry, manifest: Manifest, *,
               source: str, target: str, count: CopyCount) -> None:
    """`manifest` (read from `<source>/<kind>`) into `<target>/<kind>:latest`, blob by blob,
    then the manifest's own bytes: the image ID there is the source's, with no rebuild."""
    kind = manifest.reference.split("/", 1)[1].split(":", 1)[0]
    for digest in manifest.blobs:
        _copy_blob(client, registry, digest, f"{source}/{kind}", f"{target}/{kind}", count)
    response = client.raw(
        "PUT", f"{registry.url.rstrip('/')}/v2/{target}/{kind}/manifests/latest",
        data=manifest.raw, headers={"Content-Type": MANIFEST_V2,
                                    "Authorization": basic_auth(client.api_key)})
    _refuse_status(response, f"the manifest of {target}/{kind}")


def _copy_blob(client: HerokuClient, registry: Registry, digest: str, source: str, target: str,
               count: CopyCount) -> None:
    """HEAD on the target; else a cross-repository mount (201: done, no bytes moved); else the
    upload the registry opened instead (202), fed from the source blob (distribution spec,
    "Mounting a blob from another repository")."""
    base, auth = registry.url.rstrip("/"), {"Authorization": basic_auth(client.api_key)}
    head = client.raw("HEAD", f"{base}/v2/{target}/blobs/{digest}", headers=auth)
    if head.status_code == 200:
        count.present += 1
        return
    if head.status_code != 404:
        _refuse_status(head, f"blob {digest[:19]} in {target}")
    mount = client.raw("POST", f"{base}/v2/{target}/blobs/uploads/",
                       params={"mount": digest, "from": source}, headers=auth)
    if mount.status_code == 201:
        count.mounted += 1
        return
    _refuse_status(mount, f"a blob upload to {target}")
    location = mount.headers.get("Location")
    if mount.status_code != 202 or not location:
        raise PlatformError(f"the registry answered {mount.status_code} without an upload "
                            f"location for {target}: try again later")
    _upload(client, registry, urljoin(base + "/", location), digest, f"{base}/v2/{source}")
    count.copied += 1


def _upload(client: HerokuClient, registry: Registry, location: str, digest: str,
            source_url: str) -> None:
    """The source blob spooled to a private temporary file (its digest checked on the way),
    then one monolithic PUT to the upload location: a retry can rewind a file."""
    auth = {"Authorization": basic_auth(client.api_key)}
    with tempfile.TemporaryFile() as spool:
        response = client.raw("GET", f"{source_url}/blobs/{digest}", headers=auth, stream=True)
        with response:
            _refuse_status(response, f"blob {digest[:19]}")
            hasher = hashlib.sha256()
            for chunk in response.iter_content(1 << 20):
                hasher.update(chunk)
                spool.write(chunk)
        if "sha256:" + hasher.hexdigest() != digest:
            raise PlatformError(f"the registry sent blob {digest[:19]} with other content")
        spool.seek(0)
        parts = urlsplit(location)
        query = "&".join(filter(None, (parts.query, urlencode({"digest": digest}))))
        put = client.raw("PUT", urlunsplit(parts._replace(query=query)), data=spool,
                         headers={**auth, "Content-Type": "application/octet-stream"})
        _refuse_status(put, f"the upload of blob {digest[:19]}")
