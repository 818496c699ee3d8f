"""Build commands (argv never holds a secret), the source tarball, the registry's image IDs
(v2s2 only) and `--build heroku` end to end against the stand-in."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import shutil
import socket
import subprocess
import tarfile
import threading
from pathlib import Path

import pytest

from appwrite_heroku.errors import InputError, PlatformError, ReleaseFailed
from appwrite_heroku.release import build as builder
from appwrite_heroku.release.engine import DeployOptions, deploy
from appwrite_heroku.release.heroku_api import HerokuClient
from appwrite_heroku.release.registry import Registry, check_access, config_digest, image_ids
from helpers import (
    ADDON_POSTGRES_URL,
    ADDON_REDIS_URL,
    CANARIES,
    CANARY_API_KEY,
    RecordingReporter,
    RecordingRunner,
)
from services import Registry as RegistryServer
from services import have
from standins.clock import SkippingClock
from standins.heroku import HerokuStandIn

V2S2 = "application/vnd.docker.distribution.manifest.v2+json"


def test_docker_argv_is_v2s2_without_attestations_or_secrets() -> None:
    argv = builder.docker_build_argv(
        source_dir="/src", appwrite_version="1.9.6", insecure=False,
        destinations=["registry.heroku.com/a/web:latest", "registry.heroku.com/a/worker:latest"])
    text = " ".join(argv)
    assert "--platform linux/amd64" in text
    assert "--provenance=false" in argv and "--sbom=false" in argv
    output = argv[argv.index("--output") + 1]
    assert "oci-mediatypes=false" in output and "push=true" in output
    assert "rewrite-timestamp=true" in output and "registry.insecure" not in output
    assert '"name=registry.heroku.com/a/web:latest,registry.heroku.com/a/worker:latest"' in output
    insecure = builder.docker_build_argv(source_dir="/s", appwrite_version="1", insecure=True,
                                         destinations=["h/a/web:latest"])
    assert "registry.insecure=true" in insecure[insecure.index("--output") + 1]


def test_buildah_argv_uses_an_authfile_never_creds() -> None:
    argv = builder.buildah_push_argv(local_tag="l", destination="h/a/web:latest",
                                     authfile="/tmp/x/auth.json", insecure=True)
    assert "--authfile" in argv and "--creds" not in " ".join(argv)
    assert argv[argv.index("--format") + 1] == "v2s2" and "--tls-verify=false" in argv
    bud = builder.buildah_argv(source_dir="/s", appwrite_version="1.9.6", local_tag="l")
    assert bud[bud.index("--timestamp") + 1] == "0"
    assert "APPWRITE_VERSION=1.9.6" in bud and bud[-1] == "/s"


def test_missing_dockerfile_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"no Dockerfile\.lite"):
        builder.check_source(str(tmp_path))


@pytest.mark.slow
def test_source_tarball_holds_git_tracked_files_only(tmp_path: Path) -> None:
    (tmp_path / "heroku.yml").write_text("build:\n  docker:\n    web: Dockerfile.lite\n")
    (tmp_path / "Dockerfile.lite").write_text("FROM scratch\n")
    (tmp_path / "secret.env").write_text("not tracked\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "file.txt").write_text("tracked\n")
    git = ["git", "-C", str(tmp_path), "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "heroku.yml", "Dockerfile.lite", "sub/file.txt"], check=True)
    blob = builder.source_tarball(str(tmp_path))
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        names = sorted(tar.getnames())
    assert names == ["Dockerfile.lite", "heroku.yml", "sub/file.txt"]
    (tmp_path / "heroku.yml").unlink()
    with pytest.raises(InputError, match=r"no heroku\.yml"):
        builder.source_tarball(str(tmp_path))


@pytest.mark.parametrize("manifest", [
    {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
     "config": {"digest": "sha256:" + "a" * 64}},
    {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
     "manifests": []},
    {"schemaVersion": 1, "name": "a/web"},
])
def test_config_digest_refuses_what_heroku_refuses(manifest: dict[str, object]) -> None:
    with pytest.raises(InputError, match="not a Docker v2 schema 2 image"):
        config_digest(manifest, "a/web:latest")


def test_config_digest() -> None:
    digest = "sha256:" + "b" * 64
    assert config_digest({"schemaVersion": 2, "mediaType": V2S2, "config": {"digest": digest}},
                         "a/web:latest") == digest


@pytest.fixture
def source(tmp_path: Path) -> Path:
    directory = tmp_path / "src"
    directory.mkdir()
    shutil.copy("/bin/busybox", directory / "busybox")
    (directory / "Dockerfile.lite").write_text(
        "FROM scratch\nARG APPWRITE_VERSION\nCOPY busybox /bin/busybox\n")
    (directory / "heroku.yml").write_text(
        "build:\n  docker:\n    web: Dockerfile.lite\n    worker: Dockerfile.lite\n"
        "release:\n  image: web\n  command: [\"/bin/busybox\", \"true\"]\n")
    return directory


@pytest.mark.skipif(not have("buildah"), reason="buildah is installed by .ci/run")
def test_image_ids_are_config_digests_and_oci_is_refused(registry: RegistryServer, source: Path,
                                                          tmp_path: Path) -> None:
    heroku_registry = Registry(registry.url)
    lines: list[str] = []
    runner = RecordingRunner()
    builder.build_buildah(app="ids-app", registry=heroku_registry, api_key=CANARY_API_KEY,
                          source_dir=str(source), appwrite_version="1.9.6",
                          on_line=lines.append, storage_dir=str(tmp_path / "b"), run=runner)
    api = HerokuClient(api_key=CANARY_API_KEY, api_url="http://127.0.0.1:9")
    ids = image_ids(api, heroku_registry, "ids-app")
    auth = tmp_path / "auth.json"
    token = base64.b64encode(f"_:{CANARY_API_KEY}".encode()).decode()
    auth.write_text(json.dumps({"auths": {heroku_registry.host: {"auth": token}}}))
    # the same answer skopeo gives, and never the manifest digest
    raw = subprocess.run(
        ["skopeo", "inspect", "--raw", "--tls-verify=false", "--authfile", str(auth),
         f"docker://{heroku_registry.image('ids-app', 'web')}"],
        check=True, capture_output=True, text=True).stdout
    assert ids["web"] == json.loads(raw)["config"]["digest"] == ids["worker"] == ids["release"]
    assert runner.argvs and all(CANARY_API_KEY not in " ".join(argv) for argv in runner.argvs)
    # the same image pushed as OCI: refused before Heroku would refuse it
    storage = ["--root", str(tmp_path / "b" / "root"),
               "--runroot", str(tmp_path / "b" / "runroot"), "--storage-driver", "vfs"]
    subprocess.run(["buildah", *storage, "push", "--format", "oci", "--tls-verify=false",
                    "--authfile", str(auth), "localhost/appwrite-heroku/ids-app:latest",
                    f"docker://{heroku_registry.image('oci-app', 'web')}"],
                   check=True, capture_output=True)
    with pytest.raises(InputError, match="not a Docker v2 schema 2 image"):
        image_ids(api, heroku_registry, "oci-app", ("web",))
    with pytest.raises(InputError, match="has no image oci-app/worker:latest"):
        image_ids(api, heroku_registry, "oci-app", ("worker",))


def test_build_on_heroku(heroku_api_standin: HerokuStandIn, skipping_clock: SkippingClock,
                         source: Path) -> None:
    """The engine waits for the build, the release phase and health on the stand-in's clock,
    which skips what it waits for."""
    standin = heroku_api_standin
    # Plans and dynos Appwrite fits: a deploy onto plans it cannot fit, or onto a formation
    # with no worker dyno (what Heroku leaves after a first container release), is refused.
    standin.create_app("built-on-heroku", addons=[
        {"service": "heroku-redis", "plan": "premium-1",
         "config_vars": {"REDIS_URL": ADDON_REDIS_URL}},
        {"service": "heroku-postgresql", "plan": "essential-2",
         "config_vars": {"DATABASE_URL": ADDON_POSTGRES_URL}}],
        formation={"web": {"quantity": 1, "size": "standard-1x"},
                   "worker": {"quantity": 1, "size": "standard-2x"}})
    env = {"HEROKU_API_KEY": CANARY_API_KEY, "HEROKU_API_URL": standin.url,
           "HEROKU_ROUTER_URL": standin.router_url}
    reporter = RecordingReporter()
    result = deploy(DeployOptions(app="built-on-heroku", tag="v1.0.0", build="heroku",
                                  source_dir=str(source), health_timeout=5, release_timeout=30,
                                  retry_backoff=0.05), reporter, env=env,
                    clock=skipping_clock.clock)
    assert result.exit_status == 0, reporter.text
    assert result.healthy is True
    app = standin.app("built-on-heroku")
    assert app.builds and app.builds[-1].status == "succeeded"  # type: ignore[attr-defined]
    assert app.config_vars["APPWRITE_LITE_RELEASE"].startswith("tag=v1.0.0 ")
    assert len(standin.api_requests("POST", r"/builds$")) == 1
    assert len(standin.api_requests("PATCH", r"/config-vars$")) == 1
    assert standin.schema_violations == []
    for canary in CANARIES:
        assert canary not in reporter.text
    # a failing build releases nothing and is red
    (source / "heroku.yml").write_text("run:\n  web: x\n")  # no build section
    releases = len(app.releases)
    reporter = RecordingReporter()
    with pytest.raises(ReleaseFailed, match=r"the Heroku build failed") as failed:
        deploy(DeployOptions(app="built-on-heroku", tag="v1.1.0", build="heroku",
                             source_dir=str(source), health_timeout=5, release_timeout=30),
               reporter, env=env, clock=skipping_clock.clock)
    assert failed.value.exit_status == 1
    assert len(app.releases) == releases


def test_a_key_the_registry_rejects_is_refused_before_building(registry: RegistryServer) -> None:
    """What `docker login` used to prove: the real registry (htpasswd, Heroku-style) takes the
    key, or the deploy stops with exit 2 before anything is built."""
    heroku_registry = Registry(registry.url)
    check_access(HerokuClient(api_key=CANARY_API_KEY, api_url="http://127.0.0.1:9"),
                 heroku_registry)
    with pytest.raises(InputError, match="rejected HEROKU_API_KEY") as refused:
        check_access(HerokuClient(api_key="wrong-key-000", api_url="http://127.0.0.1:9"),
                     heroku_registry)
    assert refused.value.exit_status == 2 and "wrong-key-000" not in str(refused.value)


# A stand-in for the standalone buildx binary: `version` answers; `build` records its argv and
# the registry login it finds in $DOCKER_CONFIG, as the real one would read it.
FAKE_BUILDX = """#!/bin/sh
[ "$1" = version ] && { echo "github.com/docker/buildx v0.30.1"; exit 0; }
printf '%s\\n' "$@" > "$RECORD/argv"
cp "$DOCKER_CONFIG/config.json" "$RECORD/config.json"
stat -c %a "$DOCKER_CONFIG/config.json" > "$RECORD/mode"
"""


class PingServer:
    """A Docker daemon's `GET /_ping` on a unix socket, the only call made before the build."""

    def __init__(self, path: Path) -> None:
        self.server = socket.socket(socket.AF_UNIX)
        self.server.bind(str(path))
        self.server.listen()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = self.server.accept()
                with conn:
                    conn.recv(1024)
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK")


@pytest.mark.slow
def test_standalone_buildx_builds_with_the_login_in_a_private_config(
        source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the docker CLI is absent (the Action's image), the standalone buildx builds; it
    finds the login in a 0600 config.json, never on an argv; no daemon is a clear refusal."""
    tools, record = tmp_path / "bin", tmp_path / "record"
    tools.mkdir()
    record.mkdir()
    (tools / "buildx").write_text(FAKE_BUILDX)
    (tools / "buildx").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tools}:/usr/bin:/bin")  # no docker CLI on it
    monkeypatch.setenv("RECORD", str(record))
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/docker.sock")
    runner, lines = RecordingRunner(), list[str]()
    heroku_registry = Registry("https://registry.heroku.com")

    def build() -> None:
        builder.build_docker(app="a-app", registry=heroku_registry, api_key=CANARY_API_KEY,
                             source_dir=str(source), appwrite_version="1.9.6",
                             on_line=lines.append, run=runner)

    with pytest.raises(InputError, match="no Docker daemon is reachable"):
        build()
    PingServer(tmp_path / "docker.sock")
    build()
    argv = (record / "argv").read_text().split()
    assert argv[:3] == ["build", "--platform", "linux/amd64"] and "--provenance=false" in argv
    assert runner.argvs[-1][0] == "buildx"
    token = base64.b64encode(f"_:{CANARY_API_KEY}".encode()).decode()
    assert json.loads((record / "config.json").read_text()) == \
        {"auths": {"registry.heroku.com": {"auth": token}}}
    assert (record / "mode").read_text().strip() == "600"
    for seen in runner.argvs:
        assert CANARY_API_KEY not in " ".join(seen) and token not in " ".join(seen)
    assert CANARY_API_KEY not in "\n".join(lines)


@pytest.mark.slow
@pytest.mark.skipif(not have("docker"), reason="the docker CLI is not installed")
def test_docker_build_without_buildx_or_daemon_is_a_clear_refusal(source: Path) -> None:
    ready = subprocess.run(["docker", "buildx", "version"], capture_output=True)
    daemon = subprocess.run(["docker", "info"], capture_output=True)
    if ready.returncode == 0 and daemon.returncode == 0:
        pytest.skip("docker can build here")
    with pytest.raises(InputError, match="--build buildah"):
        builder.build_docker(app="a-app", registry=Registry("http://127.0.0.1:9"),
                             api_key=CANARY_API_KEY, source_dir=str(source),
                             appwrite_version="1.9.6", on_line=lambda line: None)


@pytest.mark.slow
def test_a_failed_push_is_retried_after_waits_on_the_clock(tmp_path: Path) -> None:
    """A real command that fails twice, then succeeds: three runs, and the two waits between
    them (2 s, then 4 s) taken on the injected clock, none slept for real."""
    tries = tmp_path / "tries"
    argv = ["sh", "-c", f'echo x >> "{tries}"; [ "$(wc -l < "{tries}")" -ge 3 ]']
    clock, lines = SkippingClock(), list[str]()
    builder._push_with_retries(argv, kind="web", on_line=lines.append, clock=clock.clock)
    assert tries.read_text().count("x") == 3
    assert lines == ["push of web failed (exit 1); retrying"] * 2
    assert clock.skipped == 6
    clock = SkippingClock()
    with pytest.raises(PlatformError, match="failed 3 times"):
        builder._push_with_retries(["false"], kind="worker", on_line=lines.append,
                                   clock=clock.clock)
    assert clock.skipped == 6
