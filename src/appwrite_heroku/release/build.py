"""Building the Lite image and pushing it to Heroku's registry, or building on Heroku.

* ``buildah`` (no daemon: CI containers, this kind of machine) and buildx (GitHub runners:
  ``docker buildx`` where the docker CLI is installed, else the standalone ``buildx`` binary the
  Action's image carries) both build ``Dockerfile.lite`` for linux/amd64 as Docker v2 schema 2
  with no provenance/SBOM, with timestamps pinned so that an identical source gives an identical
  image ID (then Heroku makes no new release, which the engine reports as a clean no-op).
* The registry password (the API key) never reaches an argv: both read a 0600 auth file in a
  private directory (buildah's ``--authfile``, buildx's ``$DOCKER_CONFIG/config.json``).
* ``heroku``: the git-tracked files are tarred, uploaded through the Sources API and built by
  the Build API from ``heroku.yml``.

Every command that could carry a secret goes through a ``CommandRunner`` (``spawn`` unless the
caller injects another), so a caller can watch each argv and prove no secret is ever on one.
"""

from __future__ import annotations

import base64
import io
import json
import os
import socket
import subprocess
import tarfile
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from ..clock import SYSTEM, Clock, poll
from ..config.heroku_types import PROCESS_TYPES, Build
from ..errors import InputError, PlatformError, ReleaseFailed
from .heroku_api import HerokuClient
from .registry import Registry
from .tag_guard import RELEASE_BUILD_ARG

DOCKERFILE = "Dockerfile.lite"
PLATFORM = "linux/amd64"


# The ways to build, in the order the Action's documentation lists them (action.yml, input
# `build`): the CLI's --build and the Action's input accept exactly these.
BUILDS = ("docker", "heroku", "buildah", "none")


class CommandRunner(Protocol):
    """Runs one command, passing each output line to ``on_line``; returns its exit status."""

    def __call__(self, argv: Sequence[str], *, on_line: Callable[[str], None],
                 env: Mapping[str, str] | None = None, stdin: str | None = None,
                 cwd: str | None = None) -> int: ...


def spawn(argv: Sequence[str], *, on_line: Callable[[str], None],
          env: Mapping[str, str] | None = None, stdin: str | None = None,
          cwd: str | None = None) -> int:
    """Runs a command, passing each output line to ``on_line`` (which masks and prints)."""
    try:
        proc = subprocess.Popen(
            list(argv), stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=dict(env) if env else None,
            cwd=cwd, text=True, errors="replace")
    except FileNotFoundError:
        raise InputError(f"{argv[0]} is not installed: install it or choose another "
                         f"--build ({', '.join(BUILDS)})") from None
    if stdin is not None and proc.stdin is not None:
        proc.stdin.write(stdin)
        proc.stdin.close()
    assert proc.stdout is not None
    for line in proc.stdout:
        on_line(line.rstrip("\n"))
    return proc.wait()


def check_source(source_dir: str) -> Path:
    root = Path(source_dir)
    if not (root / DOCKERFILE).is_file():
        raise InputError(f"no {DOCKERFILE} in {root.resolve()}: run from the repository root "
                         "or pass --source-dir")
    return root


@contextmanager
def _private_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="appwrite-heroku-") as name:
        os.chmod(name, 0o700)
        yield Path(name)


def write_auth(path: Path, registry: Registry, api_key: str) -> None:
    """The registry login as buildah's authfile and docker's config.json both read it (user
    `_`, the API key as password), in a new file only its owner may read."""
    token = base64.b64encode(f"_:{api_key}".encode()).decode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump({"auths": {registry.host: {"auth": token}}}, handle)


def record_args(record: str) -> list[str]:
    """The release record (tag, Appwrite version, commit) as the build argument that
    Dockerfile.lite turns into the image's label: what runs is read back from the image."""
    return ["--build-arg", f"{RELEASE_BUILD_ARG}={record}"] if record else []


def buildah_argv(*, source_dir: str, appwrite_version: str, local_tag: str,
                 storage: Sequence[str] = (), record: str = "") -> list[str]:
    """Pure: the build command. ``--timestamp 0`` makes identical sources identical images;
    chroot isolation works inside containers that cannot nest namespaces."""
    return ["buildah", *storage, "bud", "--isolation", "chroot", "--format", "docker",
            "--platform", PLATFORM, "--timestamp", "0", "--layers",
            "--build-arg", f"APPWRITE_VERSION={appwrite_version}", *record_args(record),
            "-f", str(Path(source_dir) / DOCKERFILE), "-t", local_tag, source_dir]


def buildah_push_argv(*, local_tag: str, destination: str, authfile: str, insecure: bool,
                      storage: Sequence[str] = ()) -> list[str]:
    return ["buildah", *storage, "push", "--format", "v2s2", "--authfile", authfile,
            *(["--tls-verify=false"] if insecure else []), local_tag, f"docker://{destination}"]


def build_buildah(*, app: str, registry: Registry, api_key: str, source_dir: str,
                  appwrite_version: str, on_line: Callable[[str], None],
                  storage_dir: str | None = None, run: CommandRunner = spawn,
                  record: str = "", clock: Clock = SYSTEM) -> None:
    check_source(source_dir)
    storage: list[str] = []
    if storage_dir:
        storage = ["--root", str(Path(storage_dir) / "root"),
                   "--runroot", str(Path(storage_dir) / "runroot"), "--storage-driver", "vfs"]
    local_tag = f"localhost/appwrite-heroku/{app}:latest"
    status = run(buildah_argv(source_dir=source_dir, appwrite_version=appwrite_version,
                              local_tag=local_tag, storage=storage, record=record),
                 on_line=on_line)
    if status != 0:
        raise ReleaseFailed(f"buildah could not build {DOCKERFILE} (exit {status}); nothing "
                            "was released — see the build output above")
    with _private_dir() as private:
        authfile = private / "auth.json"
        write_auth(authfile, registry, api_key)
        for kind in PROCESS_TYPES:
            _push_with_retries(buildah_push_argv(
                local_tag=local_tag, destination=registry.image(app, kind),
                authfile=str(authfile), insecure=registry.insecure, storage=storage),
                kind=kind, on_line=on_line, run=run, clock=clock)


def _push_with_retries(argv: list[str], *, kind: str, on_line: Callable[[str], None],
                       env: Mapping[str, str] | None = None, attempts: int = 3,
                       run: CommandRunner = spawn, clock: Clock = SYSTEM) -> None:
    """A push that fails midway is retried; layers already sent are skipped by the registry."""
    for attempt in range(1, attempts + 1):
        status = run(argv, on_line=on_line, env=env)
        if status == 0:
            return
        if attempt < attempts:
            on_line(f"push of {kind} failed (exit {status}); retrying")
            clock.sleep(2 * attempt)
    raise PlatformError(f"pushing the {kind} image to the registry failed {attempts} times: "
                        "check HEROKU_API_KEY and https://status.heroku.com, then run again")


DOCKER_BUILDX: tuple[str, ...] = ("docker", "buildx")  # the docker CLI's plugin
STANDALONE_BUILDX: tuple[str, ...] = ("buildx",)  # the same program alone (the Action's image)


def docker_build_argv(*, source_dir: str, appwrite_version: str, destinations: Sequence[str],
                      insecure: bool, record: str = "",
                      buildx: Sequence[str] = DOCKER_BUILDX) -> list[str]:
    """Pure: one buildx build that pushes every process type's tag, v2s2 media types, no
    attestations (Heroku answers 405 to them), timestamps rewritten to SOURCE_DATE_EPOCH."""
    names = ",".join(destinations)
    output = (f'type=image,"name={names}",push=true,oci-mediatypes=false,'
              "rewrite-timestamp=true" + (",registry.insecure=true" if insecure else ""))
    return [*buildx, "build", "--platform", PLATFORM, "--provenance=false",
            "--sbom=false", "--build-arg", f"APPWRITE_VERSION={appwrite_version}",
            *record_args(record), "--build-arg", "SOURCE_DATE_EPOCH=0",
            "-f", str(Path(source_dir) / DOCKERFILE), "--output", output, source_dir]


def _answers(argv: list[str], env: Mapping[str, str], run: CommandRunner) -> bool:
    """Whether a command runs and succeeds (quietly); a program not installed does not."""
    try:
        return run(argv, on_line=lambda line: None, env=env) == 0
    except InputError:  # spawn's "is not installed"
        return False


def daemon_answers(env: Mapping[str, str], timeout: float = 5.0) -> bool:
    """Whether the Docker daemon standalone buildx talks to answers `GET /_ping`: DOCKER_HOST
    (unix:// or tcp://), else the socket a GitHub runner mounts. A TLS or ssh:// daemon is left
    for buildx to judge (True)."""
    host = urlsplit(env.get("DOCKER_HOST") or "unix:///var/run/docker.sock")
    if host.scheme not in ("unix", "tcp") or env.get("DOCKER_TLS_VERIFY"):
        return True
    try:
        if host.scheme == "unix":
            conn = socket.socket(socket.AF_UNIX)
            conn.settimeout(timeout)
            conn.connect(host.path)
        else:
            conn = socket.create_connection((host.hostname or "", host.port or 2375), timeout)
        with conn:
            conn.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            return conn.recv(64).split(b" ")[1:2] == [b"200"]
    except (OSError, IndexError):
        return False


def buildx_for(env: Mapping[str, str], run: CommandRunner = spawn) -> tuple[str, ...]:
    """The buildx to build with, or a clear refusal where none can (no buildx, no daemon),
    before anything is built: the docker CLI's plugin (whose `docker info` follows the user's
    docker context), else the standalone binary (the Action's image: the docker CLI would add
    40 MB to it) against DOCKER_HOST or the runner's socket."""
    if _answers([*DOCKER_BUILDX, "version"], env, run):
        daemon = _answers(["docker", "info", "--format", "{{.ServerVersion}}"], env, run)
        buildx = DOCKER_BUILDX
    elif _answers([*STANDALONE_BUILDX, "version"], env, run):
        daemon, buildx = daemon_answers(env), STANDALONE_BUILDX
    else:
        raise InputError("docker buildx is not available here: install the buildx plugin, or "
                         "deploy with --build buildah (no daemon needed) or --build heroku")
    if not daemon:
        raise InputError("no Docker daemon is reachable: start one, or deploy with "
                         "--build buildah (no daemon needed) or --build heroku")
    return buildx


def build_docker(*, app: str, registry: Registry, api_key: str, source_dir: str,
                 appwrite_version: str, on_line: Callable[[str], None],
                 run: CommandRunner = spawn, record: str = "") -> None:
    check_source(source_dir)
    with _private_dir() as private:
        env = dict(os.environ, DOCKER_CONFIG=str(private), SOURCE_DATE_EPOCH="0")
        buildx = buildx_for(env, run)
        write_auth(private / "config.json", registry, api_key)
        argv = docker_build_argv(
            source_dir=source_dir, appwrite_version=appwrite_version, insecure=registry.insecure,
            destinations=[registry.image(app, kind) for kind in PROCESS_TYPES], record=record,
            buildx=buildx)
        status = run(argv, on_line=on_line, env=env)
        if status != 0:
            raise ReleaseFailed(f"docker buildx could not build or push {DOCKERFILE} "
                                f"(exit {status}); nothing was released — see the output above")


# -- Build on Heroku ----------------------------------------------------------------------------

def tracked_files(source_dir: str) -> list[str]:
    """The files a git checkout would have (Heroku builds from git too); without git, every
    file except VCS metadata."""
    root = Path(source_dir)
    if (root / ".git").exists():
        out = subprocess.run(["git", "-C", str(root), "ls-files", "-z"], check=False,
                             capture_output=True)
        if out.returncode == 0:
            return sorted(p for p in out.stdout.decode().split("\0") if p)
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if p.is_file() and ".git" not in p.relative_to(root).parts)


def source_tarball(source_dir: str) -> bytes:
    root = Path(source_dir)
    if not (root / "heroku.yml").is_file():
        raise InputError(f"no heroku.yml in {root.resolve()}: --build heroku builds from "
                         "heroku.yml (or use --build buildah|docker)")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name in tracked_files(source_dir):
            path = root / name
            if path.is_file():
                tar.add(path, arcname=name, recursive=False)
    return buffer.getvalue()


def build_on_heroku(client: HerokuClient, *, app: str, source_dir: str, version: str | None,
                    deadline: float, on_line: Callable[[str], None],
                    clock: Clock = SYSTEM) -> Build:
    """Sources API upload + Build API build; returns the finished build (raises if failed)."""
    blob = source_tarball(source_dir)
    source = client.create_source()
    urls = source.get("source_blob") or {}
    put_url, get_url = urls.get("put_url"), urls.get("get_url")
    if not put_url or not get_url:
        raise PlatformError("Heroku's Sources API returned no upload URL: try again later")
    upload = client.raw("PUT", put_url, data=blob, headers={"Content-Type": ""})
    if upload.status_code >= 300:
        raise PlatformError(f"uploading the source tarball failed (HTTP {upload.status_code}): "
                            "try again later")
    build = client.create_build(app, get_url, version)
    stream = build.get("output_stream_url")
    if stream:
        for line in client.stream_lines(stream, deadline=deadline):
            on_line(line)
    if build.get("status") == "pending":
        build_id = str(build["id"])
        clock.pause(0.5, deadline)
        build = poll(lambda: client.build(app, build_id),
                     lambda answer: answer.get("status") != "pending", deadline=deadline,
                     clock=clock, delay=1.0)
    if build.get("status") == "pending":
        raise ReleaseFailed(f"the Heroku build {build.get('id')} did not finish in time; "
                            "nothing new was released — see `heroku builds -a "
                            f"{app}`")
    if build.get("status") != "succeeded":
        raise ReleaseFailed(f"the Heroku build failed ({build.get('status')}); nothing new was "
                            f"released — see `heroku builds:output -a {app}`")
    return build
