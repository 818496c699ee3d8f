"""Release engine: Platform API requests, registry requests and releases per deploy scenario,
and the engine's own wall time.

Runs the engine against the Heroku stand-in (50 ms added to every API request) and a real local
registry. Images are built with buildah (carrying the release-record label, as Dockerfile.lite's
do) and pushed BEFORE each run, so the build is not counted or timed. Request and release counts
come from a pass with the release phase on (the stand-in runs one whenever a release has a
`release` image, as Heroku does), counted where they arrive: at the stand-in, and at a
pass-through proxy in front of the registry; wall times from passes with it off (its length is
Heroku's, not ours) and without the proxy. Prints figures; asserts nothing.

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
from standins.registry_proxy import RegistryProxy

CLI_CONTAINER_RELEASE_REQUESTS = 5
COMMIT = "0123abc"


class Quiet:
    def secret(self, value: str) -> None: ...
    def step(self, title: str) -> None: ...
    def info(self, message: str) -> None: ...
    def warning(self, message: str) -> None: ...
    def error(self, message: str) -> None: ...


@dataclass
class Run:
    result: DeployResult
    elapsed: float  # the engine's wall time
    api_requests: int  # what reached the stand-in, retries included
    registry_requests: int  # what reached the registry (counted only with the release phase)


@dataclass
class Bench:
    standin: HerokuStandIn
    registry_url: str
    source: Path
    storage: Path
    proxy: RegistryProxy

    def env(self, registry_url: str) -> dict[str, str]:
        return {"HEROKU_API_KEY": CANARY_API_KEY, "HEROKU_API_URL": self.standin.url,
                "HEROKU_REGISTRY_URL": registry_url,
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

    def run(self, app: str, *, phase: bool, **options: object) -> Run:
        # off for timing; otherwise the stand-in decides like Heroku (a `release` image exists)
        for each in self.standin.apps.values():
            each.release_phase_enabled = None if phase else False
        settings = DeployOptions(app=app, build="none", commit=COMMIT, health_timeout=30,
                                 release_timeout=120)
        for key, value in options.items():
            setattr(settings, key, value)
        api, registry = len(self.standin.requests), len(self.proxy.requests)
        started = time.perf_counter()
        result = deploy(settings, Quiet(),
                        env=self.env(self.proxy.url if phase else self.registry_url))
        elapsed = time.perf_counter() - started
        assert result.exit_status == 0, result.summary
        return Run(result, elapsed, len(self.standin.requests) - api,
                   len(self.proxy.requests) - registry)


SMTP = {"_APP_SMTP_HOST": "smtp.example.com"}


def scenarios(bench: Bench, phase: bool, index: int) -> dict[str, Run]:
    """Each scenario once, on fresh apps: name -> the run."""
    out: dict[str, Run] = {}
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
    proxy = RegistryProxy(registry, mounts=True).start()
    bench = Bench(standin, registry.url, source, tmp / "buildah", proxy)
    try:
        report(bench, args.latency, args.runs)
    finally:
        proxy.stop()
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
    for name, run in counted.items():
        print(f"  {run.api_requests:3d} API  {run.registry_requests:3d} registry  "
              f"{len(run.result.releases)} release(s)  {name}")
    timed: dict[str, list[float]] = {name: [] for name in counted}
    for index in range(1, runs + 1):
        for name, run in scenarios(bench, phase=False, index=index).items():
            timed[name].append(run.elapsed)
    print()
    print(f"engine wall time per deploy (build and release phase excluded), {runs} runs, "
          "median / max:")
    for name, values in timed.items():
        print(f"  {statistics.median(values):6.2f} s / {max(values):6.2f} s  {name}")


if __name__ == "__main__":
    main()
