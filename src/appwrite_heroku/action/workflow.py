"""GitHub Actions workflow commands: masks, log groups, annotations, outputs and the summary.

The runner reads commands from the step's stdout (`::add-mask::`, `::group::`, `::error::`)
and two files it names in the environment (`$GITHUB_OUTPUT`, `$GITHUB_STEP_SUMMARY`). The
format rules (percent-escaping, the `name<<DELIMITER` form for multi-line outputs) are small
and fixed by the runner, so they are written here as pure functions rather than pulled in from
a toolkit meant for JavaScript actions. ``ActionsReporter`` is the engine's ``Reporter`` for
the Action: every line it prints goes through a ``Redactor`` as well, so a secret the runner
was told about late (or not at all) is still replaced by ``****``.
"""

from __future__ import annotations

import secrets
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TextIO

from ..display import has_command
from ..release.engine import DeployResult
from ..secrecy import MASK, Redactor, maskable


def escape_data(text: str) -> str:
    """A command's message: the runner unescapes `%25`, `%0D`, `%0A` (so lines stay one line)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A command property (`title=…`) also escapes the `:` and `,` that delimit properties."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(name: str, message: str = "", **properties: str) -> str:
    """One workflow command line, e.g. ``::error title=Release failed::text``."""
    props = ",".join(f"{key}={escape_property(value)}" for key, value in properties.items())
    return f"::{name}{' ' + props if props else ''}::{escape_data(message)}"


def mask_commands(value: str) -> list[str]:
    """`::add-mask::` lines for a secret: one per line, because logs are masked line by line."""
    lines = [value, *value.splitlines()] if "\n" in value or "\r" in value else [value]
    return [command("add-mask", line) for line in lines if line.strip()]


def output_entry(name: str, value: str, delimiter: str | None = None) -> str:
    """A `$GITHUB_OUTPUT` entry; multi-line values use the `name<<DELIMITER` heredoc form."""
    if "\n" not in value and "\r" not in value:
        return f"{name}={value}\n"
    delimiter = delimiter or f"ghadelimiter_{secrets.token_hex(16)}"
    if delimiter in value:
        raise ValueError("the output delimiter occurs in the value")
    return f"{name}<<{delimiter}\n{value}\n{delimiter}\n"


def _cell(text: str) -> str:
    """A Markdown table cell: pipes would split it, newlines would end the row."""
    return text.replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def markdown_table(rows: Iterable[tuple[str, str]], header: tuple[str, str]) -> str:
    lines = [f"| {header[0]} | {header[1]} |", "| --- | --- |"]
    lines += [f"| {_cell(key)} | {_cell(value)} |" for key, value in rows]
    return "\n".join(lines) + "\n"


def summary_rows(app: str, tag: str | None, result: DeployResult,
                 dry_run: bool = False) -> list[tuple[str, str]]:
    """What the run did, one row per question a reader asks; values of config vars never.
    A dry run says what would happen, in words that cannot be read as a release."""
    outcome = result.summary or ("succeeded" if result.exit_status == 0 else "failed")
    app_cell = f"[{app}]({result.app_url})" if result.app_url else app
    budget = ("Budget", result.budget or "not checked")  # the verdict line the log shows
    if dry_run:
        planned = ", ".join(f"`{key}`" for key in result.planned_config_keys)
        return [
            ("App", app_cell),
            ("Tag", f"`{tag}`" if tag else "—"),
            ("Config vars that would change", f"{planned} (nothing written)" if planned
             else "none"),
            ("Written", "nothing: dry run (no build, no config change, no release)"),
            budget,
            ("Result", outcome),
        ]
    health = {True: "healthy", False: "failed", None: "not checked"}[result.healthy]
    images = ", ".join(
        f"{kind} `{image_id[:19]}`" for kind, image_id in sorted(result.image_ids.items())
    )
    keys = ", ".join(f"`{key}`" for key in result.changed_config_keys)
    return [
        ("App", app_cell),
        ("Tag", f"`{tag}`" if tag else "—"),
        ("Release", f"v{result.release_version}" if result.release_version else "none"),
        ("Images", images or "none pushed"),
        ("Config vars changed", f"{keys} (values {MASK})" if keys else "none"),
        budget,
        ("Health", health),
        ("Rollback", "rolled back" if result.rolled_back else "no"),
        ("Result", outcome),
    ]


def summary_markdown(app: str, tag: str | None, result: DeployResult,
                     dry_run: bool = False) -> str:
    if dry_run:
        mark = "📝" if result.exit_status == 0 else "❌"
        title = f"### {mark} Appwrite Lite plan (dry run, nothing released): {app}\n\n"
    else:
        mark = "✅" if result.exit_status == 0 else "❌"
        title = f"### {mark} Appwrite Lite release: {app}\n\n"
    return title + markdown_table(summary_rows(app, tag, result, dry_run), ("", "")) + "\n"


class ActionsReporter:
    """The engine's ``Reporter`` on a GitHub runner: masks, groups, annotations.

    Untrusted lines (build output, release-phase output, config values) could contain text
    that the runner would take for a command: a line starting with `::`, or `##[` anywhere in
    it (the runner's older parser finds it with IndexOf). Such lines are wrapped in
    `::stop-commands::` so they print as plain text, exactly as written.
    """

    def __init__(self, out: TextIO | None = None, redactor: Redactor | None = None,
                 error_title: str | None = None) -> None:
        self._out = out or sys.stdout
        self.redactor = redactor or Redactor()
        self._group_open = False
        self._error_title = error_title
        self.errors: list[str] = []  # every error message annotated, as given (unredacted)

    def _print(self, line: str) -> None:
        self._out.write(line + "\n")
        self._out.flush()

    def secret(self, value: str) -> None:
        """Masks what is secret, not what is short and common: the runner masks every
        occurrence, so registering `true` would blank every `true` in the log."""
        if not maskable(value) or value in self.redactor.secrets:
            return
        for line in mask_commands(value):
            if maskable(line.removeprefix("::add-mask::")):
                self._print(line)
        self.redactor.add(value)

    def step(self, title: str) -> None:
        self.end_group()
        self._print(command("group", self.redactor.redact(title)))
        self._group_open = True

    def end_group(self) -> None:
        if self._group_open:
            self._print("::endgroup::")
            self._group_open = False

    def info(self, message: str) -> None:
        for line in self.redactor.redact(message).splitlines() or [""]:
            if has_command(line):
                token = secrets.token_hex(16)
                self._print(f"::stop-commands::{token}")
                self._print(line)
                self._print(f"::{token}::")
            else:
                self._print(line)

    def warning(self, message: str, title: str | None = None) -> None:
        self._annotate("warning", message, title)

    def error(self, message: str, title: str | None = None) -> None:
        """The engine calls this without a title; the Action's default title then applies."""
        self.errors.append(message)
        self._annotate("error", message, title or self._error_title)

    def _annotate(self, kind: str, message: str, title: str | None) -> None:
        props = {"title": self.redactor.redact(title)} if title else {}
        self._print(command(kind, self.redactor.redact(message), **props))


def write_outputs(path: str | Path, outputs: Mapping[str, str], redactor: Redactor) -> None:
    """Appends to `$GITHUB_OUTPUT` (the runner reads it after the step)."""
    with open(path, "a", encoding="utf-8") as handle:
        for name, value in outputs.items():
            handle.write(output_entry(name, redactor.redact(value)))


def append_summary(path: str | Path, markdown: str, redactor: Redactor) -> None:
    """Appends to `$GITHUB_STEP_SUMMARY` (Markdown shown on the run's page)."""
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(redactor.redact(markdown))
