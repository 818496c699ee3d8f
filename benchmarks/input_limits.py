"""What hostile sizes cost: each recogniser's time per MB of input, and how long each surface
takes to refuse 1 MB (docs/bad-input.md). Every recogniser must be linear: the figure at
1 MB and at 4 MB should differ about fourfold, never sixteenfold.

Usage: python3 benchmarks/input_limits.py   (prints figures; asserts nothing)
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from appwrite_heroku.cli import main as cli
from appwrite_heroku.config import inputs, redis
from appwrite_heroku.config.user_config import parse_config
from appwrite_heroku.display import safe_line
from appwrite_heroku.errors import InputError
from appwrite_heroku.secrecy import Redactor, is_secret, secret_parts

ROOT = Path(__file__).resolve().parent.parent
MB = 1 << 20
REDIS_RULE = "Redis URL rule (refused at once)"
# Shapes that made the old recognisers backtrack, and plain text.
SHAPES = {"letters": "a", "scheme runs": "ab+c.d-e://", "user info": "a://u:p",
          "parameters": "?password", "PEM header": "-----BEGIN A", "mixed text": "Héllo, wörld "}


def seconds(function: Callable[[], object]) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def value_of(shape: str, size: int) -> str:
    return (shape * (size // len(shape) + 1))[:size]


def recognisers() -> dict[str, Callable[[str], object]]:
    def redact(value: str) -> object:
        return Redactor([value]).redact(value)

    def refused(rule: Callable[[str], object]) -> Callable[[str], object]:
        def run(value: str) -> object:
            with contextlib.suppress(InputError):
                return rule(value)
            return None
        return run

    return {
        "is_secret (name and shape)": lambda value: is_secret("NOTE", value),
        "secret_parts": secret_parts,
        "Redactor.add + redact": redact,
        "safe_line": safe_line,
        REDIS_RULE: refused(lambda value: redis.parse_redis_url(value, "R")),
        "config value rule (refused at once)": refused(
            lambda value: inputs.config_value("N", value, "x")),
    }


def surfaces(tmp: Path) -> dict[str, Callable[[], object]]:
    """Each surface given 1 MB, as a user would give it."""
    big = tmp / "big.json"
    big.write_text(json.dumps({"NOTE": "a" * MB}))
    quiet = contextlib.redirect_stderr(io.StringIO())

    def run(argv: list[str]) -> Callable[[], object]:
        def call() -> object:
            with quiet, contextlib.redirect_stdout(io.StringIO()):
                try:
                    return cli(argv)
                except SystemExit as done:  # argparse's own refusal
                    return done.code
        return call

    def config_input() -> object:
        with contextlib.suppress(InputError):
            return parse_config("NOTE=" + "a" * MB, "input config")
        return None

    def dev_zero() -> object:
        return subprocess.run([sys.executable, "-m", "appwrite_heroku", "env", "--from",
                               "/dev/zero"], capture_output=True, timeout=60, check=False)

    example = str(ROOT / "examples" / "heroku-config.json")
    return {
        "env --from FILE (1 MB)": run(["env", "--from", str(big)]),
        "plan --config-from FILE (1 MB)": run(["plan", "--config-from", str(big)]),
        "plan --config NOTE=<1 MB>": run(["plan", "--config-from", example, "--config",
                                          "NOTE=" + "a" * MB]),
        "the Action's config input (1 MB)": config_input,
        "redis-bridge upstream URL (1 MB)": lambda: recognisers()[REDIS_RULE](
            "rediss://:" + "a" * MB + "@h:1"),
        "env --from /dev/zero (a process)": dev_zero,
    }


def main() -> None:
    print(f"{'recogniser':<36} {'shape':<14} s/MB at 1 MB   at 4 MB (ratio)")
    for name, recognise in recognisers().items():
        for shape_name, shape in SHAPES.items():
            one = seconds(lambda: recognise(value_of(shape, MB)))  # noqa: B023 - called now
            four = seconds(lambda: recognise(value_of(shape, 4 * MB)))  # noqa: B023
            print(f"{name:<36} {shape_name:<14} {one:8.3f}     {four / 4:8.3f} "
                  f"({four / max(one, 1e-9):.1f}x for 4x)")
    with tempfile.TemporaryDirectory() as tmp:
        print("\nsurface                                   time to refuse 1 MB")
        for name, call in surfaces(Path(tmp)).items():
            print(f"{name:<41} {seconds(call):8.3f} s")


if __name__ == "__main__":
    main()
