"""Release engine: Heroku API requests per deploy, and the engine's own wall time.

Runs the engine against the Heroku stand-in (50 ms added to every API request) and a real local
registry. Images are built and pushed with buildah BEFORE each timed run, so the build is not
timed; the release phase is switched off for the timed runs (its length is Heroku's, not ours)
and on for the request counts. Prints figures; asserts nothing.

    python3 benchmarks/release.py [--latency 0.05] [--runs 3]

The Heroku CLI's `container:release` (packages/cli/src/commands/container/release.ts) makes 5
Platform API requests for a release: GET /apps/{app}, GET /apps/{app}/releases (newest),
PATCH /apps/{app}/formation, GET /apps/{app}/releases (newest), GET /apps/{app}/releases/{id}
(plus one registry manifest GET per process type, on the registry host, not counted here).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import harness  # noqa: F401  (puts tests/ and the Appwrite stand-in on sys.path)

from appwrite_heroku.release import build as builder
from appwrite_heroku.release.engine import DeployOptions, deploy
from appwrite_heroku.release.registry import Registry
from helpers import CANARY_API_KEY, make_appwrite_app
from services import start_registry
from standins.heroku import HerokuStandIn

CLI_CONTAINER_RELEASE_REQUESTS = 5


class Quiet:
    def secret(self, value: str) -> None: ...
    def step(self, title: str) -> None: ...
    def info(self, message: str) -> None: ...
    def warning(self, message: str) -> None: ...
    def error(self, message: str) -> None: ...


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-release-"))
    registry = start_registry(tmp / "registry", api_key=CANARY_API_KEY)
    source = tmp / "src"
    source.mkdir()
    shutil.copy("/bin/busybox", source / "busybox")
    (source / "Dockerfile.lite").write_text(
        "FROM scratch\nARG APPWRITE_VERSION\nCOPY busybox /bin/busybox\nCOPY m /m\n")
    standin = HerokuStandIn(api_key=CANARY_API_KEY, registry=registry).start()
    env = {"HEROKU_API_KEY": CANARY_API_KEY, "HEROKU_API_URL": standin.url,
           "HEROKU_REGISTRY_URL": registry.url, "HEROKU_ROUTER_URL": standin.router_url}

    def new_app() -> str:
        # The Deploy button's plans and sizes (budget.py's default profile): a deploy onto
        # plans the worst case does not fit is refused before it writes anything.
        return make_appwrite_app(standin, "bench")

    def push(app: str, marker: str) -> None:
        (source / "m").write_text(marker)
        builder.build_buildah(app=app, registry=Registry(registry.url), api_key=CANARY_API_KEY,
                              source_dir=str(source), appwrite_version="1.9.6",
                              on_line=lambda line: None, storage_dir=str(tmp / "buildah"))

    def run(app: str, tag: str, *, phase: bool) -> tuple[float, int, int, str]:
        # off for timing; otherwise the stand-in decides like Heroku (a `release` image exists)
        standin.app(app).release_phase_enabled = None if phase else False
        before = len(standin.requests)
        options = DeployOptions(app=app, tag=tag, build="none", commit="0123abc",
                                health_timeout=30, release_timeout=120)
        started = time.perf_counter()
        result = deploy(options, Quiet(), env=env)
        elapsed = time.perf_counter() - started
        assert result.exit_status == 0, result.summary
        return elapsed, len(standin.requests) - before, result.api_requests, result.summary

    standin.latency = args.latency
    print(f"stand-in latency per API request: {args.latency * 1000:.0f} ms")
    print(f"Heroku CLI container:release: {CLI_CONTAINER_RELEASE_REQUESTS} API requests "
          f"(target for the engine: <= {CLI_CONTAINER_RELEASE_REQUESTS + 2})")
    print()
    rows: list[tuple[str, int, str]] = []
    times: dict[str, list[float]] = {"first deploy": [], "new tag, new image": [],
                                     "same tag (no-op)": []}
    for i in range(args.runs):
        app = new_app()
        push(app, f"first-{i}")
        times["first deploy"].append(run(app, "v1.0.0", phase=False)[0])
        push(app, f"second-{i}")
        times["new tag, new image"].append(run(app, "v1.1.0", phase=False)[0])
        times["same tag (no-op)"].append(run(app, "v1.1.0", phase=False)[0])
    # Request counts with the release phase on (streams are on another host: not counted).
    app = new_app()
    push(app, "count-1")
    _, n, _, _ = run(app, "v1.0.0", phase=True)
    rows.append(("first deploy (config release without a release phase: no release image "
                 "yet; image release with one)", n, ""))
    push(app, "count-2")
    _, n, _, _ = run(app, "v1.1.0", phase=True)
    rows.append(("new tag + new image (config release and image release, both with "
                 "release phase)", n, ""))
    push(app, "count-3")
    before = len(standin.requests)
    result = deploy(DeployOptions(app=app, tag="v1.1.0", build="none", commit="0123abc",
                                  force=True, health_timeout=30), Quiet(), env=env)
    assert result.exit_status == 0, result.summary
    rows.append(("same tag --force, new image (no config change: like container:release)",
                 len(standin.requests) - before, ""))
    _, n, _, _ = run(app, "v1.1.0", phase=True)
    rows.append(("same tag again (green no-op)", n, ""))
    print("Heroku API requests per deploy (the stand-in's count, retries included):")
    for label, count, _ in rows:
        print(f"  {count:3d}  {label}")
    print()
    print("engine wall time per deploy (build and release phase excluded), "
          f"{args.runs} runs, median / max:")
    for label, values in times.items():
        print(f"  {statistics.median(values):6.2f} s / {max(values):6.2f} s  {label}")
    standin.stop()
    registry.stop()
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
