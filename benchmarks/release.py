"""Release engine: Platform API requests, registry requests and releases per deploy scenario,
and the engine's own wall time.

Runs the engine against the Heroku stand-in (50 ms added to every API request) and a real local
registry. Images are built with buildah (carrying the release-record label, as Dockerfile.lite's
do) and pushed BEFORE each run, so the build is not counted or timed. Request and release counts
come from a pass with the release phase on (the stand-in runs one whenever a release has a
`release` image, as Heroku does); wall times from passes with it off (its length is Heroku's,
not ours). Prints figures; asserts nothing.

    python3 benchmarks/release.py [--latency 0.05] [--runs 3]

The Heroku CLI's `container:release` (packages/cli/src/commands/container/release.ts) makes 5
Platform API requests for a release: GET /apps/{app}, GET /apps/{app}/releases (newest),
PATCH /apps/{app}/formation, GET /apps/{app}/releases (newest), GET /apps/{app}/releases/{id}
(plus one registry manifest GET per process type, on the registry host, not counted there).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import harness  # noqa: F401  (puts tests/ and the Appwrite stand-in on sys.path)

from appwrite_heroku.release import build as builder
from appwrite_heroku.release.engine import DeployOptions, DeployResult, deploy
from appwrite_heroku.release.registry import Registry
from appwrite_heroku.release.tag_guard import make_record
from helpers import CANARY_API_KEY, make_appwrite_app, small_lite_dockerfile
from services import start_registry
from standins.heroku import HerokuStandIn

CLI_CONTAINER_RELEASE_REQUESTS = 5
COMMIT = "0123abc"


class Quiet:
    def secret(self, value: str) -> None: ...
    def step(self, title: str) -> None: ...
    def info(self, message: str) -> None: ...
    def warning(self, message: str) -> None: ...
    def error(self, message: str) -> None: ...


@dataclass
class Bench:
    standin: HerokuStandIn
    registry_url: str
    source: Path
    storage: Path

    @property
    def env(self) -> dict[str, str]:
        return {"HEROKU_API_KEY": CANARY_API_KEY, "HEROKU_API_URL": self.standin.url,
                "HEROKU_REGISTRY_URL": self.registry_url,
                "HEROKU_ROUTER_URL": self.standin.router_url}

    def app(self, prefix: str) -> str:
        # The Deploy button's plans and sizes (the budget's default profile).
        return make_appwrite_app(self.standin, prefix)

    def push(self, app: str, marker: str, tag: str | None) -> None:
        (self.source / "marker.txt").write_text(marker)
        builder.build_buildah(app=app, registry=Registry(self.registry_url),
                              api_key=CANARY_API_KEY, source_dir=str(self.source),
                              appwrite_version="1.9.6", on_line=lambda line: None,
                              storage_dir=str(self.storage),
                              record=make_record(tag, "1.9.6", COMMIT).format())

    def run(self, app: str, *, phase: bool, **options: object) -> tuple[DeployResult, float]:
        # off for timing; otherwise the stand-in decides like Heroku (a `release` image exists)
        for each in self.standin.apps.values():
            each.release_phase_enabled = None if phase else False
        settings = DeployOptions(app=app, build="none", commit=COMMIT, health_timeout=30,
                                 release_timeout=120)
        for key, value in options.items():
            setattr(settings, key, value)
        started = time.perf_counter()
        result = deploy(settings, Quiet(), env=self.env)
        elapsed = time.perf_counter() - started
        assert result.exit_status == 0, result.summary
        return result, elapsed


SMTP = {"_APP_SMTP_HOST": "smtp.example.com"}


def scenarios(bench: Bench, phase: bool, index: int) -> dict[str, tuple[DeployResult, float]]:
    """Each scenario once, on fresh apps: name -> (result, engine wall time)."""
    out: dict[str, tuple[DeployResult, float]] = {}
    app = bench.app("bench")
    bench.push(app, f"first-{index}-{phase}", "v1.0.0")
    out["first deploy"] = bench.run(app, phase=phase, tag="v1.0.0")
    bench.push(app, f"second-{index}-{phase}", "v1.1.0")
    out["tag, settings unchanged"] = bench.run(app, phase=phase, tag="v1.1.0")
    out["no-op re-run (same tag)"] = bench.run(app, phase=phase, tag="v1.1.0")
    bench.push(app, f"third-{index}-{phase}", "v1.2.0")
    out["tag, settings changed"] = bench.run(app, phase=phase, tag="v1.2.0", extra_config=SMTP)
    staging, production = bench.app("stg"), bench.app("prd")
    bench.push(production, f"production-{index}-{phase}", "v1.0.0")
    bench.run(production, phase=phase, tag="v1.0.0")
    bench.push(staging, f"staging-{index}-{phase}", None)
    bench.run(staging, phase=phase)
    out["promotion, staging -> production"] = bench.run(
        production, phase=phase, tag="v2.0.0", promote_from=staging)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-release-"))
    registry = start_registry(tmp / "registry", api_key=CANARY_API_KEY)
    source = tmp / "src"
    source.mkdir()
    shutil.copy("/bin/busybox", source / "busybox")
    (source / "Dockerfile.lite").write_text(small_lite_dockerfile())
    standin = HerokuStandIn(api_key=CANARY_API_KEY, registry=registry).start()
    standin.latency = args.latency
    bench = Bench(standin, registry.url, source, tmp / "buildah")
    try:
        report(bench, args.latency, args.runs)
    finally:
        standin.stop()
        registry.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def report(bench: Bench, latency: float, runs: int) -> None:
    print(f"stand-in latency per API request: {latency * 1000:.0f} ms")
    print(f"Heroku CLI container:release: {CLI_CONTAINER_RELEASE_REQUESTS} API requests "
          f"(target for a tagged deploy: <= {CLI_CONTAINER_RELEASE_REQUESTS + 2}, one release)")
    print()
    counted = scenarios(bench, phase=True, index=0)
    print("per deploy, release phase on: Platform API requests (the stand-in's count, "
          "retries included) / registry requests / releases made")
    for name, (result, _) in counted.items():
        print(f"  {result.api_requests:3d} API  {result.registry_requests:3d} registry  "
              f"{len(result.releases)} release(s)  {name}")
    timed: dict[str, list[float]] = {name: [] for name in counted}
    for index in range(1, runs + 1):
        for name, (_, elapsed) in scenarios(bench, phase=False, index=index).items():
            timed[name].append(elapsed)
    print()
    print(f"engine wall time per deploy (build and release phase excluded), {runs} runs, "
          "median / max:")
    for name, values in timed.items():
        print(f"  {statistics.median(values):6.2f} s / {max(values):6.2f} s  {name}")


if __name__ == "__main__":
    main()
