"""The size of the Action's image (target: under 200 MB on disk), part by part, from what its
Dockerfile installs.

No image can be pulled or built where this runs, so the two images the Dockerfile starts from
(its FROM lines) are stated from their published sizes, while everything the Dockerfile puts on
top is MEASURED: the locked libraries (requirements/action.txt) are downloaded from PyPI as the
wheels the image's Python and platform take (musllinux for an Alpine base), installed into a
temporary directory the way the Dockerfile installs them (no bytecode), and summed; the wheels'
own sizes are the download. Offline, this environment's installed copies of the same
distributions stand in (glibc builds, a close estimate), and the table says so. The package and
the bundled Lite build context are the repository's files.

Run: python3 benchmarks/action_image.py
"""

from __future__ import annotations

import importlib.metadata as metadata
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
LOCK = "requirements/action.txt"
MB = 1_000_000

# Published sizes of the images the Dockerfile starts from: on disk / to download (approximate).
STATED = {
    # Docker Hub's python:3.11-alpine images, about 55 MB unpacked, 18 MB compressed.
    "python:3.11-alpine3.23": (55 * MB, 18 * MB),
    # Only /buildx is copied. Alpine 3.23 packages the same release at 74.3 MiB installed and
    # 22.5 MiB compressed (pkgs.alpinelinux.org, docker-cli-buildx 0.30.1).
    "docker/buildx-bin:0.30.1": (78 * MB, 24 * MB),
}
BUNDLED = ("pyproject.toml", "README.md", "Dockerfile.lite", "heroku.yml", "requirements/dyno.txt",
           "src", "entrypoint.py")


def images() -> list[str]:
    """The FROM references of the Dockerfile, each with its published size or an error."""
    found = re.findall(r"^FROM\s+(\S+)", DOCKERFILE.read_text(), re.M)
    missing = [ref for ref in found if ref not in STATED]
    if missing:
        raise SystemExit(f"state the published size of {', '.join(missing)} in STATED")
    return found


def target_python() -> tuple[str, str]:
    """The final stage's Python version and wheel platform, read from its FROM line."""
    final = images()[-1]
    match = re.match(r"python:(\d+\.\d+)-(alpine|slim)", final)
    if not match:
        raise SystemExit(f"the final stage {final} is no python image this script knows")
    platform = "musllinux_1_2_x86_64" if match.group(2) == "alpine" else "manylinux_2_28_x86_64"
    return match.group(1), platform


def tree_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*")
               if p.is_file() and "__pycache__" not in p.parts and ".egg-info" not in str(p))


def _pip(*args: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull  # PyPI alone: the lock's hashes are PyPI's files
    subprocess.run([sys.executable, "-m", "pip", *args, "--disable-pip-version-check", "-q"],
                   check=True, env=env, capture_output=True, timeout=600)


def locked_from_pypi(python: str, platform: str) -> tuple[dict[str, int], int]:
    """Installed bytes per top-level entry, and the wheels' bytes, of the lock as the image
    installs it."""
    with tempfile.TemporaryDirectory() as tmp:
        wheels, target = Path(tmp) / "wheels", Path(tmp) / "target"
        common = ["--only-binary=:all:", "--platform", platform, "--python-version", python,
                  "--implementation", "cp"]
        _pip("download", "--no-deps", "--require-hashes", "-r", str(ROOT / LOCK), "-d",
             str(wheels), *common)
        _pip("install", "--no-deps", "--no-compile", "--target", str(target), *common,
             *map(str, sorted(wheels.glob("*.whl"))))
        sizes = {entry.name: tree_size(entry) for entry in target.iterdir()}
        return sizes, sum(w.stat().st_size for w in wheels.glob("*.whl"))


def locked_installed_here() -> tuple[dict[str, int], int]:
    """Offline: this environment's installed copies of the lock's distributions."""
    names = re.findall(r"^([A-Za-z0-9_.-]+)==", (ROOT / LOCK).read_text(), re.M)
    sizes: dict[str, int] = {}
    for name in names:
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            sizes[f"{name} (not installed here)"] = 0
            continue
        sizes[name] = sum(os.path.getsize(str(dist.locate_file(f))) for f in dist.files or []
                          if os.path.isfile(str(dist.locate_file(f)))
                          and "__pycache__" not in str(f))
    return sizes, sum(sizes.values()) // 3  # wheels compress installed trees about threefold


def main() -> None:
    python, platform = target_python()
    try:
        libraries, wheels = locked_from_pypi(python, platform)
        how = f"measured: {LOCK}'s {platform} wheels for Python {python}, installed"
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError):
        libraries, wheels = locked_installed_here()
        how = "estimated offline: this environment's installed copies of the lock"
    package = tree_size(ROOT / "src" / "appwrite_heroku")
    bundled = sum(tree_size(ROOT / name) for name in BUNDLED if (ROOT / name).exists())

    print("| part | on disk (MB) | download (MB) | how known |")
    print("|---|---:|---:|---|")
    disk = download = 0
    for ref in images():
        size, compressed = STATED[ref]
        disk, download = disk + size, download + compressed
        print(f"| {ref} | {size / MB:.0f} | {compressed / MB:.0f} | published size |")
    installed = sum(libraries.values())
    disk, download = disk + installed + package + bundled, download + wheels + bundled
    print(f"| locked libraries ({LOCK}) | {installed / MB:.1f} | {wheels / MB:.1f} | {how} |")
    print(f"| this package, installed | {package / MB:.2f} | 0 | measured (src/) |")
    print(f"| bundled Lite context + entrypoint | {bundled / MB:.2f} | {bundled / MB:.2f} | "
          "measured |")
    print(f"| **total** | **{disk / MB:.0f}** | **{download / MB:.0f}** | target < 200 on disk |")
    print()
    for name, size in sorted(libraries.items(), key=lambda item: -item[1])[:8]:
        print(f"  {name:28} {size / MB:6.1f} MB")


if __name__ == "__main__":
    main()
