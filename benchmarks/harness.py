"""Benchmarks run as scripts (`python benchmarks/NAME.py`), outside pytest, yet use the test
harness (services, helpers, the stand-ins). Importing this module puts the same directories on
sys.path that pytest gets from `pythonpath` in pyproject.toml, read from there so the list is
kept in one place."""

from __future__ import annotations

import sys
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parent.parent

with (ROOT / "pyproject.toml").open("rb") as _pyproject:
    PATHS: list[str] = tomllib.load(_pyproject)["tool"]["pytest"]["ini_options"]["pythonpath"]

for _entry in reversed(PATHS):
    if str(ROOT / _entry) not in sys.path:
        sys.path.insert(0, str(ROOT / _entry))
