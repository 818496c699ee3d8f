"""The development guide's drawing of the package (docs/development.md) is the package: every
module in it is named there, under its own part (or its package inside a part), and nothing
named there is missing; and every top-level module sits in a layer of the import contract."""

from __future__ import annotations

import re
from pathlib import Path

import tomllib

from documentation import section

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "appwrite_heroku"
PARTS = ("commands", "config", "dyno", "release", "action")


def drawn() -> dict[str, set[str]]:
    """Module names per package ("" the root, "config", "config/budget"), as the development
    section's tree lists them: a package's head line is its name and a slash, indented two
    spaces per level; the lines under it name its modules."""
    tree = re.search(r"```\n(appwrite_heroku/\n.*?)```", section("development"), re.S)
    assert tree, "the development section draws no package tree"
    found: dict[str, set[str]] = {"": set()}
    path: list[str] = []
    for line in tree.group(1).splitlines()[1:]:
        head = re.match(r"( +)(\w+)/", line)
        if head:
            path = [*path[:len(head.group(1)) // 2 - 1], head.group(2)]
            found["/".join(path)] = set()
            words = line[head.end():]
        else:
            if re.match(r"  \S", line):
                path = []
            words = line
        if not path:
            found[""] |= {m[:-3] for m in re.findall(r"\b\w+\.py\b", line)}
        else:
            key = "/".join(path)
            found[key] |= {w for w in re.findall(r"\b[a-z_]+\b", words)
                           if (PACKAGE / key / f"{w}.py").exists()}
    return found


def actual() -> dict[str, set[str]]:
    modules = {"": {p.stem for p in PACKAGE.glob("*.py") if not p.stem.startswith("__")}}
    for init in PACKAGE.glob("*/**/__init__.py"):
        package = init.parent
        modules[package.relative_to(PACKAGE).as_posix()] = {
            p.stem for p in package.glob("*.py") if p.stem != "__init__"}
    return modules


def test_every_module_is_drawn_under_its_part() -> None:
    assert drawn() == actual()


def test_the_parts_are_the_ones_the_import_contracts_name() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    contracts = pyproject[pyproject.index("[tool.importlinter]"):]
    for part in PARTS:
        assert re.search(rf"\b{part}\b", contracts), f"{part} is in no import contract"
    assert {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()} \
        == set(PARTS)


def test_every_top_level_module_is_in_a_layer() -> None:
    """A module in no layer is checked by no contract: it could import anything, and anything
    could import it (as the bridge once imported cli)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    top = next(c for c in config["contracts"]
               if c["type"] == "layers" and c.get("containers") == ["appwrite_heroku"])
    layered = {name.strip() for layer in top["layers"] for name in re.split(r"[|:]", layer)}
    modules = {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    modules |= {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert modules == layered
