"""Helpers for driving every input surface in-process and judging what it printed.

`run_cli` calls the CLI's own `main()` with stdout/stderr captured and the environment
replaced, so a property test can run hundreds of examples a second; an exception other than
SystemExit propagates and fails the test (a traceback is exactly what must never happen).
`runner_commands` reads a step's stdout the way a GitHub runner does.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from unittest import mock
from urllib.parse import quote

from appwrite_heroku import cli
from appwrite_heroku.action import runner
from appwrite_heroku.clock import SYSTEM, Clock


@dataclass
class Outcome:
    status: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


@contextlib.contextmanager
def environment(env: Mapping[str, str]) -> Iterator[None]:
    """os.environ replaced by `env` (plus PATH and HOME) for the duration."""
    base = {key: os.environ[key] for key in ("PATH", "HOME") if key in os.environ}
    with mock.patch.dict(os.environ, {**base, **env}, clear=True):
        yield


def run_cli(argv: list[str], env: Mapping[str, str] | None = None,
            stdin: str | None = None) -> Outcome:
    out, err = io.StringIO(), io.StringIO()
    status: int
    with environment(env or {}), contextlib.redirect_stdout(out), \
            contextlib.redirect_stderr(err):
        patch = (mock.patch("sys.stdin", io.StringIO(stdin)) if stdin is not None
                 else contextlib.nullcontext())
        with patch:
            try:
                status = cli.main(argv)
            except SystemExit as done:  # argparse: --help, usage errors
                status = done.code if isinstance(done.code, int) else 1
    return Outcome(status, out.getvalue(), err.getvalue())


def forms(secret: str) -> list[str]:
    """The ways a message could carry a secret: raw, repr, JSON, percent-encoded."""
    candidates = [secret, repr(secret)[1:-1], json.dumps(secret)[1:-1],
                  json.dumps(secret, ensure_ascii=False)[1:-1], quote(secret, safe="")]
    return [form for form in dict.fromkeys(candidates) if len(form) >= 4]


def leaked(text: str, secrets: Iterable[str]) -> list[str]:
    return [secret for secret in secrets for form in forms(secret) if form in text]


def command_lines(text: str) -> list[str]:
    """Lines a runner would parse as a command (for output that must contain none)."""
    from appwrite_heroku.display import has_command

    return [line for line in text.split("\n") if has_command(line.rstrip("\r"))]


def _command_name(line: str) -> tuple[str, str, bool] | None:
    """(name, data, old style?) of a workflow command as the runner parses it: `::name
    props::data` at the start (after whitespace), else `##[name props]data` anywhere (its
    IndexOf parser)."""
    stripped = line.lstrip()
    if stripped.startswith("::"):
        end = stripped.find("::", 2)
        if end > 0:
            return stripped[2:end].split(" ")[0], stripped[end + 2:], False
    start = line.find("##[")
    if start >= 0:
        close = line.find("]", start + 3)
        if close > 0:
            return line[start + 3:close].split(" ")[0], line[close + 1:], True
    return None


def executed_commands(stdout: str) -> list[tuple[str, str, bool]]:
    """The commands a runner would execute from this stdout, honouring `::stop-commands::`."""
    executed: list[tuple[str, str, bool]] = []
    resume: str | None = None
    for line in stdout.split("\n"):
        parsed = _command_name(line.rstrip("\r"))
        if parsed is None:
            continue
        name, data, _ = parsed
        if resume is not None:
            if name == resume:
                resume = None
            continue
        if name == "stop-commands":
            resume = data
            continue
        executed.append(parsed)
    return executed


def runner_commands(stdout: str) -> list[str]:
    return [name for name, _, _ in executed_commands(stdout)]


FORGED = "FORGED"  # what planted commands say, so that one executed is recognised


def forged_commands(stdout: str) -> list[tuple[str, str, bool]]:
    """Executed commands the Action did not write: any old-style `##[` one (it writes none),
    or one whose text starts with the planted marker (its own quote user text only after
    their own words)."""
    return [command for command in executed_commands(stdout)
            if command[2] or command[1].startswith(FORGED) or command[0] not in OUR_COMMANDS]


@dataclass
class ActionOutcome:
    status: int
    stdout: str
    outputs: str
    summary: str


def run_action(env: Mapping[str, str], tmp: os.PathLike[str] | str,
               clock: Clock = SYSTEM) -> ActionOutcome:
    """The Action's `runner.run(env)` in-process, as entrypoint.py starts it (env is the whole
    environment; `$GITHUB_OUTPUT` and `$GITHUB_STEP_SUMMARY` live in `tmp`). `clock`: the
    engine's (a SkippingClock's, when no stand-in shares its time, skips every retry's wait)."""
    from pathlib import Path

    outputs, summary = Path(tmp) / "github_output", Path(tmp) / "step_summary"
    outputs.write_text("")
    summary.write_text("")
    full = {**env, "GITHUB_OUTPUT": str(outputs), "GITHUB_STEP_SUMMARY": str(summary)}
    out = io.StringIO()
    with environment(full):
        status = runner.run(full, out, clock)
    return ActionOutcome(status, out.getvalue(), outputs.read_text(), summary.read_text())


OUR_COMMANDS = frozenset({"add-mask", "group", "endgroup", "error", "warning", "notice"})
