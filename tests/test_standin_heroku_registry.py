"""docker-releases against the real local registry, and builds from the Sources API: the
stand-in takes only image ids that are the registry's `config.digest` of a v2s2 manifest."""

from __future__ import annotations

import io
import secrets
import tarfile
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from helpers import CANARY_API_KEY
from services import Registry
from standins.heroku import HerokuStandIn
from standins.images import ImageBuilder, PushedImage, push_oci_image
from waiting import wait_until

ACCEPT = "application/vnd.heroku+json; version=3"
DOCKER = "application/vnd.heroku+json; version=3.docker-releases"


@pytest.fixture(scope="module")
def builder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ImageBuilder]:
    with ImageBuilder(tmp_path_factory.mktemp("images")) as images:
        yield images


def api(standin: HerokuStandIn, method: str, path: str, accept: str = ACCEPT,
        **kwargs: Any) -> requests.Response:
    return requests.request(method, standin.url + path, timeout=10, headers={
        "Accept": accept, "Authorization": f"Bearer {CANARY_API_KEY}"}, **kwargs)


def release(standin: HerokuStandIn, app: str, images: dict[str, str]) -> requests.Response:
    updates = [{"type": kind, "docker_image": image} for kind, image in images.items()]
    return api(standin, "PATCH", f"/apps/{app}/formation", DOCKER, json={"updates": updates})


def ids(pushed: dict[str, PushedImage]) -> dict[str, str]:
    return {kind: image.image_id for kind, image in pushed.items()}


def unique_app() -> str:
    return f"standin-{secrets.token_hex(4)}"


def wait_settled(app: Any, version: int, timeout: float = 5.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        found = next(r for r in app.releases if r["version"] == version)
        if found["status"] != "pending" or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def test_docker_release_takes_config_digests_and_runs_the_release_phase(
    heroku_standin: HerokuStandIn, registry: Registry, builder: ImageBuilder,
) -> None:
    name = unique_app()
    app = heroku_standin.create_app(name)
    pushed = builder.push_app_images(registry, name)
    assert all(p.image_id != p.manifest_digest for p in pushed.values())
    response = release(heroku_standin, name, ids(pushed))
    assert response.status_code == 200
    latest = app.releases[-1]
    assert latest["description"] == "Deployed web, worker, release"
    assert latest["status"] == "pending", "a release image means a release phase"
    assert wait_settled(app, latest["version"])["status"] == "succeeded"
    assert app.images == ids(pushed)
    assert {f["type"] for f in app.formation} == {"web", "worker"}
    # The same images again: Heroku makes no new release.
    versions = len(app.releases)
    assert release(heroku_standin, name, ids(pushed)).status_code == 200
    assert len(app.releases) == versions
    assert heroku_standin.schema_violations == []


def test_formation_names_the_running_images_and_the_router_their_appwrite_version(
    heroku_standin: HerokuStandIn, registry: Registry, builder: ImageBuilder,
) -> None:
    """What the release engine reads instead of a config var: the docker-releases variant of
    the formation GET names each process type's image; Appwrite in that image answers with
    the version its record label names."""
    name = unique_app()
    app = heroku_standin.create_app(name)
    tag = builder.build(f"localhost/{name}-labelled:latest", name,
                        labels={"appwrite-lite.release": "tag=v1.0.0 appwrite=1.9.9"})
    pushed = {kind: builder.push(registry, tag, name, kind) for kind in ("web", "worker")}
    assert release(heroku_standin, name, ids(pushed)).status_code == 200
    plain = api(heroku_standin, "GET", f"/apps/{name}/formation").json()
    assert all("docker_image" not in entry for entry in plain)
    variant = api(heroku_standin, "GET", f"/apps/{name}/formation", DOCKER).json()
    assert {entry["type"]: entry["docker_image"] for entry in variant} == {
        kind: {"id": image.image_id} for kind, image in pushed.items()}
    health = requests.get(f"{heroku_standin.router_url}/v1/health/version", timeout=10,
                          headers={"Host": f"{name}.herokuapp.com"})
    assert health.json() == {"version": "1.9.9"}
    assert app.images == ids(pushed)
    assert heroku_standin.schema_violations == []


def test_manifest_digest_is_refused(
    heroku_standin: HerokuStandIn, registry: Registry, builder: ImageBuilder,
) -> None:
    name = unique_app()
    app = heroku_standin.create_app(name)
    pushed = builder.push_app_images(registry, name, ("web",))
    response = release(heroku_standin, name, {"web": pushed["web"].manifest_digest})
    assert response.status_code == 422
    assert response.json()["id"] == "invalid_params"
    assert "config.digest" in response.json()["message"]
    assert len(heroku_standin.schema_violations) == 1
    assert len(app.releases) == 1
    missing = release(heroku_standin, name, {"worker": pushed["web"].image_id})
    assert missing.status_code == 422, "nothing was pushed for worker"


def test_oci_manifest_is_refused(
    heroku_standin: HerokuStandIn, registry: Registry,
) -> None:
    name = unique_app()
    heroku_standin.create_app(name)
    oci = push_oci_image(registry, name, "web")
    assert oci.media_type == "application/vnd.oci.image.manifest.v1+json"
    response = release(heroku_standin, name, {"web": oci.image_id})
    assert response.status_code == 422
    assert "v2 schema 2" in response.json()["message"]
    assert len(heroku_standin.schema_violations) == 1


def test_failed_release_phase_keeps_the_old_images(
    heroku_standin: HerokuStandIn, registry: Registry, builder: ImageBuilder,
) -> None:
    name = unique_app()
    app = heroku_standin.create_app(name)
    first = ids(builder.push_app_images(registry, name, ("web", "release"), label="1"))
    release(heroku_standin, name, first)
    assert wait_settled(app, 2)["status"] == "succeeded"
    app.release_phase_outcome = "fail"
    app.release_phase_output = ["migrating", "ERROR: migration 42 failed"]
    second = ids(builder.push_app_images(registry, name, ("web", "release"), label="2"))
    release(heroku_standin, name, second)
    failed = wait_settled(app, 3)
    assert (failed["status"], failed["current"]) == ("failed", False)
    assert app.current_release()["version"] == 2
    assert app.images == first
    stream = requests.get(failed["output_stream_url"], timeout=5)
    assert stream.text.splitlines() == ["migrating", "ERROR: migration 42 failed"]


def _tarball(files: dict[str, str], top: str = "") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(top + path)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


HEROKU_YML = """\
build:
  docker:
    web: Dockerfile
    worker: worker/Dockerfile
release:
  image: web
  command: [./migrate.sh]
"""


def _build(standin: HerokuStandIn, app: str, blob: bytes | None) -> dict[str, Any]:
    source = api(standin, "POST", "/sources").json()["source_blob"]
    if blob is not None:
        assert requests.put(source["put_url"], data=blob, timeout=5).status_code == 200
    response = api(standin, "POST", f"/apps/{app}/builds",
                   json={"source_blob": {"url": source["get_url"], "version": "v1.2.3"}})
    assert response.status_code == 201, response.text
    build: dict[str, Any] = response.json()
    assert build["status"] == "pending"
    return build


def build_settled(standin: HerokuStandIn, app: str, build_id: str) -> dict[str, Any]:
    """The build as the API shows it once it is no longer pending (its output has ended)."""
    def settled() -> dict[str, Any] | None:
        found: dict[str, Any] = api(standin, "GET", f"/apps/{app}/builds/{build_id}").json()
        return found if found["status"] != "pending" else None

    return wait_until(f"build {build_id} settles", settled, timeout=5)


def test_build_from_source_creates_a_release(heroku_standin: HerokuStandIn) -> None:
    name = unique_app()
    app = heroku_standin.create_app(name)
    blob = _tarball({"heroku.yml": HEROKU_YML, "Dockerfile": "FROM scratch\n",
                     "worker/Dockerfile": "FROM scratch\n"}, top="repo-abc123/")
    build = _build(heroku_standin, name, blob)
    output = requests.get(build["output_stream_url"], timeout=5).text
    assert "=== Building web (Dockerfile)" in output
    assert "=== Building worker (worker/Dockerfile)" in output
    done = build_settled(heroku_standin, name, build["id"])
    assert done["status"] == "succeeded"
    made = next(r for r in app.releases if r["id"] == done["release"]["id"])
    assert made["description"] == "Deploy v1.2.3"
    assert made["output_stream_url"], "heroku.yml's release section runs a release phase"
    assert wait_settled(app, made["version"])["status"] == "succeeded"
    assert set(app.images) == {"web", "worker", "release"}
    assert [b["id"] for b in api(heroku_standin, "GET", f"/apps/{name}/builds").json()] == [
        build["id"]]
    assert heroku_standin.schema_violations == []


@pytest.mark.parametrize(
    ("files", "reason"),
    [
        ({"Dockerfile": "FROM scratch\n"}, "No heroku.yml"),
        ({"heroku.yml": "run:\n  web: x\n"}, "no build.docker"),
        ({"heroku.yml": "build:\n  docker:\n    web: Dockerfile\n"}, "not found"),
        (None, "Unable to fetch source"),
    ],
    ids=["no-manifest", "no-build-section", "missing-dockerfile", "nothing-uploaded"],
)
def test_broken_sources_fail_the_build(
    heroku_standin: HerokuStandIn, files: dict[str, str] | None, reason: str,
) -> None:
    name = unique_app()
    app = heroku_standin.create_app(name)
    build = _build(heroku_standin, name, None if files is None else _tarball(files))
    assert reason in requests.get(build["output_stream_url"], timeout=5).text
    done = build_settled(heroku_standin, name, build["id"])
    assert (done["status"], done["release"]) == ("failed", None)
    assert len(app.releases) == 1


def test_build_source_must_come_from_the_sources_api(heroku_standin: HerokuStandIn) -> None:
    name = unique_app()
    heroku_standin.create_app(name)
    response = api(heroku_standin, "POST", f"/apps/{name}/builds",
                   json={"source_blob": {"url": "https://example.com/src.tgz"}})
    assert response.status_code == 422
    assert len(heroku_standin.schema_violations) == 1
