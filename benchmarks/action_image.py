"""Estimates the size of the Action's image (target: under 200 MB), part by part.

No image can be pulled or built where this runs, so the parts that come from Docker Hub are
stated from their published sizes (approximate, recent releases), while the Python part is
MEASURED: the installed size of every distribution `pip install .` puts into the image,
resolved from this environment's package metadata (the same versions the image would get,
give or take a patch release), plus the bundled Lite build context from the repository.

Run: python3 benchmarks/action_image.py
"""

from __future__ import annotations

import importlib.metadata as metadata
import os
import re
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parent.parent
MB = 1_000_000

# Published sizes, uncompressed on disk / compressed to download (approximate).
STATED = {
    "python:3.11-slim-bookworm (base)": (125 * MB, 45 * MB),
    "docker CLI 29.x (static binary)": (40 * MB, 18 * MB),
    "docker buildx 0.3x (plugin binary)": (70 * MB, 30 * MB),
    # COPY --from pulls the whole docker:29.7.2-cli image; its Alpine base and the compose
    # plugin are downloaded but do not reach the final image.
    "rest of docker:29.7.2-cli (pulled, not kept)": (0, 25 * MB),
}
BUNDLED = ("pyproject.toml", "README.md", "Dockerfile.lite", "heroku.yml", "entrypoint.py", "src")


def _name(requirement: str) -> tuple[str, set[str], str]:
    """`pyjwt[crypto]>=2.4.0; extra == "x"` → ("pyjwt", {"crypto"}, marker)."""
    match = re.match(r"\s*([A-Za-z0-9_.-]+)\s*(?:\[([^\]]*)\])?[^;]*(?:;(.*))?", requirement)
    assert match is not None, requirement
    extras = {e.strip() for e in (match.group(2) or "").split(",") if e.strip()}
    return match.group(1), extras, (match.group(3) or "").strip()


def _wanted(marker: str, extras: set[str]) -> bool:
    if not marker:
        return True
    extra = re.search(r"extra\s*==\s*['\"]([^'\"]+)['\"]", marker)
    if extra:
        return extra.group(1) in extras
    try:
        from packaging.markers import Marker
    except ImportError:  # packaging ships with pip's environment nearly everywhere
        return True
    return Marker(marker).evaluate()


def closure(requirements: list[str]) -> dict[str, int]:
    """Installed bytes per distribution, for the requirements and everything they pull in."""
    sizes: dict[str, int] = {}
    todo = [(_name(r)[0], _name(r)[1]) for r in requirements]
    while todo:
        name, extras = todo.pop()
        key = name.lower().replace("_", "-")
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            sizes.setdefault(f"{key} (not installed here)", 0)
            continue
        if key not in sizes:
            total = 0
            for file in dist.files or []:
                path = dist.locate_file(file)
                if os.path.isfile(str(path)):
                    total += os.path.getsize(str(path))
            sizes[key] = total
        for requirement in dist.requires or []:
            dep, dep_extras, marker = _name(requirement)
            if _wanted(marker, extras):
                dep_key = dep.lower().replace("_", "-")
                if dep_key not in sizes or dep_extras:
                    todo.append((dep, dep_extras))
    return sizes


def tree_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*")
               if p.is_file() and "__pycache__" not in p.parts and ".egg-info" not in str(p))


def main() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    python = closure(list(project["dependencies"]))
    bundled = sum(tree_size(ROOT / name) for name in BUNDLED if (ROOT / name).exists())

    print("| part | on disk (MB) | download (MB) | how known |")
    print("|---|---:|---:|---|")
    disk = download = 0
    for part, (size, compressed) in STATED.items():
        disk, download = disk + size, download + compressed
        print(f"| {part} | {size / MB:.0f} | {compressed / MB:.0f} | published size |")
    python_total = sum(python.values())
    wheels = python_total // 3  # wheels compress installed trees about threefold
    disk, download = disk + python_total + bundled, download + wheels
    print(f"| Python dependencies ({len(python)} distributions) | {python_total / MB:.1f} | "
          f"{wheels / MB:.0f} | measured installed size |")
    print(f"| bundled Lite context + entrypoint | {bundled / MB:.2f} | {bundled / MB:.2f} | "
          "measured |")
    print(f"| **total** | **{disk / MB:.0f}** | **{download / MB:.0f}** | target < 200 on disk |")
    print()
    for name, size in sorted(python.items(), key=lambda item: -item[1])[:8]:
        print(f"  {name:24} {size / MB:6.1f} MB")


if __name__ == "__main__":
    main()
