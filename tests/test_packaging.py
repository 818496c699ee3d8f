"""Packaging follows the layers: each side of the package imports only the libraries of its own
extra (pyproject.toml), each extra holds only what its side imports, each image installs its
side alone from a lock with hashes made for the Python it runs, and the command line loads the
module of the command it runs, so that `launch` in a dyno needs nothing of the release side."""

from __future__ import annotations

import ast
import importlib.metadata as metadata
import os
import re
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest
import tomllib
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
PACKAGE = "appwrite_heroku"
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
EXTRAS: dict[str, list[str]] = PROJECT["optional-dependencies"]

# Each side: the parts it is made of, and the extra whose libraries it may import (beside the
# base set). The commands of neither side, the command line and the root modules share the base
# set alone: every image runs them.
SIDES = {
    "dyno": ("dyno",),
    "release": ("release",),
    "action": ("action", "release"),
}
# Libraries a side may use when they are there: the bridge's uvloop (the `fast` extra).
OPTIONAL = {"dyno": "fast"}
NEITHER = ("cli", "__main__", "commands", "arguments")
# The image that installs each side, the lock it installs it from and the Python that image
# runs (the lock is made for it): Dockerfile.lite's python3 is Alpine 3.23's under Appwrite
# 1.9.6's base (requirements/README.md), the Action's image is python:3.11-alpine.
IMAGES = {
    "dyno": ("Dockerfile.lite", "requirements/dyno.txt", "3.12"),
    "action": ("Dockerfile", "requirements/action.txt", "3.11"),
}


def _module_file(module: str) -> Path | None:
    path = SRC.joinpath(*module.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _package_of(module: str, file: Path) -> str:
    return module if file.name == "__init__.py" else module.rpartition(".")[0]


@cache
def _imports(module: str) -> tuple[frozenset[str], frozenset[str]]:
    """(the package's own modules, the top-level names of everything else) that `module`
    imports anywhere in its text: at the top, in a function (imported lazily) or by type."""
    file = _module_file(module)
    assert file is not None, module
    package = _package_of(module, file)
    own: set[str] = set()
    other: set[str] = set()
    for node in ast.walk(ast.parse(file.read_text())):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        for name in names:
            if name.split(".")[0] == PACKAGE:
                own |= {m for m in _parents(name) if _module_file(m) is not None}
            elif name and name != "__future__":
                other.add(name.split(".")[0])
    return frozenset(own), frozenset(other - set(sys.stdlib_module_names))


def _parents(name: str) -> list[str]:
    """Importing a.b.c imports a, a.b and a.b.c."""
    parts = name.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def _modules_of(part: str) -> list[str]:
    path = SRC / PACKAGE / part
    if path.is_dir():
        return sorted(".".join(p.relative_to(SRC).with_suffix("").parts).removesuffix(".__init__")
                      for p in path.rglob("*.py"))
    return [f"{PACKAGE}.{part}"]


def third_party(parts: tuple[str, ...]) -> dict[str, set[str]]:
    """Every distribution the modules of `parts`, and all the package's modules they import in
    turn, import: distribution -> the modules that import it."""
    todo = [m for part in parts for m in _modules_of(part)]
    seen: set[str] = set()
    found: dict[str, set[str]] = {}
    distributions = metadata.packages_distributions()
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        own, other = _imports(module)
        todo += own
        for name in other:
            for dist in distributions.get(name, [f"{name} (no installed distribution)"]):
                found.setdefault(canonicalize_name(dist), set()).add(module)
    return found


def _names(requirements: list[str]) -> set[str]:
    return {canonicalize_name(Requirement(r).name) for r in requirements}


BASE = _names(PROJECT["dependencies"])


@pytest.mark.parametrize("side", SIDES)
def test_each_side_imports_only_its_own_extra(side: str) -> None:
    imported = third_party(SIDES[side])
    allowed = BASE | _names(EXTRAS[side]) | _names(EXTRAS.get(OPTIONAL.get(side, ""), []))
    strays = {dist: sorted(modules) for dist, modules in imported.items() if dist not in allowed}
    assert strays == {}, f"{side} imports libraries outside its extra"


@pytest.mark.parametrize("side", SIDES)
def test_each_extra_holds_only_what_its_side_imports(side: str) -> None:
    assert _names(EXTRAS[side]) - set(third_party(SIDES[side])) == set()


def test_what_every_image_runs_needs_only_the_base_set() -> None:
    """The command line, the commands of neither side and what they import (config's rules)
    run in both images: nothing outside the standard library and the base set."""
    assert set(third_party(NEITHER)) <= BASE
    assert BASE == set()  # no library is imported by every side today


def test_the_import_analysis_sees_lazy_imports() -> None:
    """pg8000 and PyMySQL are imported inside functions: counted all the same."""
    imported = third_party(("dyno",))
    assert {"pg8000", "pymysql", "hiredis", "supervisor"} <= set(imported)
    assert "appwrite_heroku.dyno.database" in imported["pg8000"]


def test_heroku3_is_no_runtime_dependency() -> None:
    runtime = BASE | _names(EXTRAS["dyno"]) | _names(EXTRAS["release"]) | _names(EXTRAS["action"])
    assert "heroku3" not in runtime and "heroku3" in _names(EXTRAS["test"])


def _lock(path: str) -> tuple[str, dict[str, tuple[str, int]]]:
    """The lock's header and its pins: name -> (version, number of hashes)."""
    text = (ROOT / path).read_text()
    pins: dict[str, tuple[str, int]] = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", text):
        match = re.match(r"([A-Za-z0-9_.-]+)==(\S+)", block)
        if match:
            pins[canonicalize_name(match.group(1))] = (match.group(2),
                                                       block.count("--hash=sha256:"))
    return text.split("\n\n")[0], pins


@pytest.mark.parametrize("side", IMAGES)
def test_each_lock_pins_its_extra_with_hashes_for_its_images_python(side: str) -> None:
    _dockerfile, path, python = IMAGES[side]
    header, pins = _lock(path)
    assert f"autogenerated by pip-compile with Python {python}\n" in header
    assert f"--extra={side} --generate-hashes" in header
    for requirement in map(Requirement, EXTRAS[side]):
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{path} does not pin {name}: make it again (requirements/README.md)"
        assert requirement.specifier.contains(pins[name][0]), f"{path}: {name} {pins[name][0]}"
    assert all(hashes for _version, hashes in pins.values())
    for other in IMAGES.keys() - {side}:  # nothing of the other image's side
        theirs = _names(EXTRAS[other]) - _names(EXTRAS[side])
        assert not theirs & set(pins), f"{path} holds {other}'s libraries"


@pytest.mark.parametrize("side", IMAGES)
def test_each_image_installs_its_side_alone_from_its_lock(side: str) -> None:
    dockerfile, path, python = IMAGES[side]
    text = (ROOT / dockerfile).read_text().replace("\\\n", " ")
    installs = re.findall(r"pip install ([^&\n]*)", text)
    assert installs, dockerfile
    locked, package = installs[0], installs[-1]
    assert "--require-hashes" in locked
    copied = os.path.basename(path)
    assert re.search(rf"-r \S*{re.escape(copied)}\b", locked), locked
    assert "--no-deps" in package and len(installs) == 2
    assert re.search(rf"\b{re.escape(path)}\b", text), f"{dockerfile} does not copy {path}"
    if side == "action":
        assert re.search(rf"^FROM python:{re.escape(python)}-alpine", text, re.M)


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=dict(os.environ), timeout=60)


@pytest.mark.slow
def test_launch_loads_nothing_of_the_release_side() -> None:
    done = _python(
        "import sys\n"
        "from appwrite_heroku.cli import build_parser\n"
        "build_parser(['launch', 'web']).parse_args(['launch', 'web'])\n"
        "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('requests', 'urllib3', 'yaml', 'github') or m.startswith(("
        "'appwrite_heroku.release', 'appwrite_heroku.action')))))\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""


@pytest.mark.slow
def test_a_command_whose_side_is_not_installed_names_the_extra() -> None:
    """As in the Lite image, which has the dyno side only: the release side's commands refuse
    in one line (exit 2) with the extra to install; the others, and --help, work."""
    blocked = "import sys\nsys.modules['requests'] = None\nfrom appwrite_heroku.cli import main\n"
    done = _python(blocked + "sys.exit(main(['deploy', '--app', 'x', '--tag', 'v1']))")
    assert done.returncode == 2
    assert done.stderr == ("appwrite-heroku: error: deploy needs the release side's libraries "
                           "(requests is not installed here): "
                           "pip install 'appwrite-heroku[release]'\n")
    done = _python(blocked + "sys.exit(main(['--help']))")
    assert done.returncode == 0
    assert re.search(r"promote\s+\(not installed here: the release extra\)", done.stdout)
    assert re.search(r"launch\s+run Appwrite's processes", done.stdout)
    done = _python(blocked + "sys.exit(main(['budget', '--profile', 'default']))")
    assert done.returncode == 0, done.stderr
