"""The README's drawing of the package is the package: every module in it is named there,
under its own part, and nothing named there is missing."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "appwrite_heroku"
PARTS = ("config", "dyno", "release", "action")


def drawn() -> dict[str, set[str]]:
    """Module names per part, as the development section's tree lists them."""
    readme = (ROOT / "README.md").read_text()
    section = re.search(r"<!-- section:development -->(.*?)<!-- /section:development -->",
                        readme, re.S)
    assert section, "README has no development section"
    tree = re.search(r"```\n(appwrite_heroku/\n.*?)```", section.group(1), re.S)
    assert tree, "the development section draws no package tree"
    found: dict[str, set[str]] = {"": set()}
    part = ""
    for line in tree.group(1).splitlines()[1:]:
        head = re.match(r"  (\w+)/", line)
        sub = re.match(r"    (\w+)/", line)  # a package inside a part: part/sub
        if head:
            part = head.group(1)
            found[part] = set()
        elif sub and part:
            part = f"{part.split('/')[0]}/{sub.group(1)}"
            found[part] = set()
        elif re.match(r"  \S", line):
            part = ""
        words = line.split("  ", 2)[-1] if not (head or sub) else line.split("/", 1)[1]
        if part == "":
            found[""] |= {m[:-3] for m in re.findall(r"\b\w+\.py\b", line)}
        else:
            found[part] |= {w for w in re.findall(r"\b[a-z_]+\b", words)
                            if (PACKAGE / part / f"{w}.py").exists()}
    return found


def actual() -> dict[str, set[str]]:
    modules = {"": {p.stem for p in PACKAGE.glob("*.py") if not p.stem.startswith("__")}}
    for part in PARTS:
        modules[part] = {p.stem for p in (PACKAGE / part).glob("*.py") if p.stem != "__init__"}
        for package in (PACKAGE / part).glob("*/__init__.py"):
            modules[f"{part}/{package.parent.name}"] = {
                p.stem for p in package.parent.glob("*.py") if p.stem != "__init__"}
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
