"""Tiny real images for the local registry, built and pushed the daemonless way.

`FROM scratch` plus Debian's static busybox, built by buildah (vfs storage in a temp dir,
`--isolation chroot`, `--format docker`) and pushed as Docker v2 schema 2 to
`<registry>/<app>/<type>:latest`. Image ids are read back from the registry's manifests
(`config.digest`), the way Heroku's tooling must read them. Credentials go through an auth
file, never argv. `push_oci_image` pushes an OCI manifest, which Heroku refuses.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import requests

V2S2 = "application/vnd.docker.distribution.manifest.v2+json"
OCI = "application/vnd.oci.image.manifest.v1+json"
BUSYBOX = Path("/bin/busybox")


class RegistryLike(Protocol):
    """What these helpers need of `services.Registry`."""

    @property
    def url(self) -> str: ...

    @property
    def host(self) -> str: ...

    @property
    def api_key(self) -> str: ...

    def auth_header(self) -> dict[str, str]: ...


@dataclass(frozen=True)
class PushedImage:
    """What the registry holds at `<app>/<kind>:latest`."""

    kind: str
    image_id: str           # config.digest: what Heroku calls the image id
    manifest_digest: str    # Docker-Content-Digest: what Docker 29 `inspect .Id` returns
    media_type: str


def write_authfile(path: Path, registry: RegistryLike) -> Path:
    """A containers-auth.json for the registry (user `_`, password = API key), mode 0600."""
    token = base64.b64encode(f"_:{registry.api_key}".encode()).decode()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump({"auths": {registry.host: {"auth": token}}}, handle)
    return path


def manifest(registry: RegistryLike, app: str, kind: str, accept: str = V2S2) -> PushedImage:
    """Read `<app>/<kind>:latest` through the registry HTTP API."""
    response = requests.get(
        f"{registry.url}/v2/{app}/{kind}/manifests/latest",
        headers={"Accept": accept, **registry.auth_header()}, timeout=10,
    )
    response.raise_for_status()
    body = response.json()
    return PushedImage(kind, body["config"]["digest"],
                       response.headers["Docker-Content-Digest"],
                       body.get("mediaType", response.headers.get("Content-Type", "")))


def labels(registry: RegistryLike, app: str, kind: str, image_id: str) -> dict[str, str]:
    """The labels of an image, from its config blob (whose digest is the image id)."""
    response = requests.get(f"{registry.url}/v2/{app}/{kind}/blobs/{image_id}",
                            headers=registry.auth_header(), timeout=10)
    response.raise_for_status()
    return dict(response.json()["config"].get("Labels") or {})


class ImageBuilder:
    """Builds `FROM scratch` + busybox images with buildah in a private storage directory.
    One builder per test module keeps the vfs storage (and its cleanup) in one place."""

    def __init__(self, directory: Path | None = None) -> None:
        self._own = directory is None
        self.directory = Path(directory or tempfile.mkdtemp(prefix="standin-images-"))
        self.directory.mkdir(parents=True, exist_ok=True)
        root, runroot = self.directory / "root", self.directory / "runroot"
        root.mkdir(exist_ok=True)
        runroot.mkdir(exist_ok=True)
        self.flags = ["--root", str(root), "--runroot", str(runroot), "--storage-driver", "vfs"]
        self.env = {**os.environ, "BUILDAH_ISOLATION": "chroot",
                    "REGISTRY_AUTH_FILE": str(self.directory / "auth.json")}

    def close(self) -> None:
        if self._own:
            subprocess.run(["buildah", *self.flags, "rm", "--all"], capture_output=True,
                           env=self.env)
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> ImageBuilder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self, *args: str) -> str:
        done = subprocess.run(["buildah", *self.flags, *args], capture_output=True, text=True,
                              env=self.env)
        if done.returncode != 0:
            raise RuntimeError(f"buildah {args[0]} failed: {done.stderr.strip()[-800:]}")
        return done.stdout.strip()

    def build(self, tag: str, label: str = "", labels: dict[str, str] | None = None) -> str:
        """Build one image; `label` makes its config (and so its id) distinct; `labels` are
        set as well (e.g. a release record)."""
        context = self.directory / f"ctx-{secrets.token_hex(4)}"
        context.mkdir()
        shutil.copy2(BUSYBOX, context / "busybox")
        extra = "".join(f'LABEL {key}="{value}"\n' for key, value in (labels or {}).items())
        (context / "Containerfile").write_text(
            "FROM scratch\n"
            "COPY busybox /bin/busybox\n"
            f'LABEL org.example.standin="{label or secrets.token_hex(8)}"\n'
            + extra + 'CMD ["/bin/busybox", "true"]\n'
        )
        self._run("build", "--isolation", "chroot", "--format", "docker", "--layers=false",
                  "-f", str(context / "Containerfile"), "-t", tag, str(context))
        shutil.rmtree(context, ignore_errors=True)
        return tag

    def push(self, registry: RegistryLike, tag: str, app: str, kind: str,
             fmt: str = "v2s2") -> PushedImage:
        authfile = write_authfile(self.directory / "auth.json", registry)
        self._run("push", "--authfile", str(authfile), "--tls-verify=false", "--format", fmt,
                  tag, f"docker://{registry.host}/{app}/{kind}:latest")
        return manifest(registry, app, kind, accept=OCI if fmt == "oci" else V2S2)

    def push_app_images(
        self, registry: RegistryLike, app: str, kinds: tuple[str, ...] = ("web", "worker",
                                                                          "release"),
        label: str = "",
    ) -> dict[str, PushedImage]:
        """Build one image per process type and push each to `<app>/<type>:latest`."""
        pushed = {}
        for kind in kinds:
            tag = self.build(f"localhost/{app}-{kind}:latest", f"{app}/{kind}/{label}")
            pushed[kind] = self.push(registry, tag, app, kind)
        return pushed


def push_app_images(
    registry: RegistryLike, app: str, kinds: tuple[str, ...] = ("web", "worker", "release"),
    label: str = "",
) -> dict[str, str]:
    """Convenience: build and push, return `{type: image id}` (the config digests)."""
    with ImageBuilder() as builder:
        return {k: p.image_id for k, p in builder.push_app_images(registry, app, kinds,
                                                                   label).items()}


def push_oci_image(registry: RegistryLike, app: str, kind: str = "web") -> PushedImage:
    """Push an OCI-format manifest to `<app>/<kind>:latest` (what Heroku refuses)."""
    with ImageBuilder() as builder:
        tag = builder.build(f"localhost/{app}-{kind}-oci:latest", f"{app}/{kind}/oci")
        return builder.push(registry, tag, app, kind, fmt="oci")
