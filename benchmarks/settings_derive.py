"""How long the settings engine takes: `derive` runs at every dyno boot (before Appwrite starts,
inside Heroku's 60 s boot window) and `config_patch` at every release.

Usage: python3 benchmarks/settings_derive.py [ROUNDS]   (prints figures; asserts nothing)
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from appwrite_heroku.config.settings import config_patch, derive


def per_call_us(function: object, rounds: int) -> float:
    start = time.perf_counter()
    for _ in range(rounds):
        function()  # type: ignore[operator]
    return (time.perf_counter() - start) / rounds * 1e6


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    example = Path(__file__).resolve().parent.parent / "examples" / "heroku-config.json"
    config = json.loads(example.read_text())
    start = time.perf_counter()
    derivation = derive(config)  # first call also loads the packaged variable list
    first_ms = (time.perf_counter() - start) * 1000
    patch = config_patch(config, derivation, {})
    released = {**config, **{k: v for k, v in patch.items() if v is not None}}
    figures = {
        "derive, example app": per_call_us(lambda: derive(config), rounds),
        "derive, after a release (checks the marker)": per_call_us(lambda: derive(released),
                                                                   rounds),
        "config_patch, first release": per_call_us(
            lambda: config_patch(config, derivation, {}), rounds),
    }
    print(f"derive, first call (loads the variable list): {first_ms:.2f} ms")
    for label, value in figures.items():
        print(f"{label}: {value:.1f} µs/call")
    print(f"{len(derivation.settings)} settings; first release patches {len(patch)} keys; "
          f"marker {len(str(patch.get('APPWRITE_LITE_MANAGED', '')))} characters")

if __name__ == "__main__":
    main()
