"""The Action's docs name only things that exist: Appwrite variables of the pinned version, the
project's own variables and subcommands, the Action's inputs and outputs (local links and
anchors: test_docs.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from appwrite_heroku.cli import build_parser
from documentation import docs_text, pages, section

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "docs" / "tutorial.md", ROOT / "docs" / "troubleshooting.md"]
# Pages whose `APPWRITE_*` names are the package's variables (the contributors' pages also name
# the tests' own knobs, and the README the Action's optional secret APPWRITE_CONFIG).
NOT_USER_PAGES = ("README.md", "contributing.md", "bad-input.md", "real-appwrite.md")
USER_PAGES = [p for p in pages() if p.parent.name == "docs" and p.name not in NOT_USER_PAGES]
VARIABLES = json.loads((ROOT / "src/appwrite_heroku/config/data/appwrite-variables-1.9.6.json")
                       .read_text())


def _appwrite_names() -> set[str]:
    raw = VARIABLES.get("variables", VARIABLES) if isinstance(VARIABLES, dict) else VARIABLES
    if isinstance(raw, dict):
        return set(raw)
    return {item["name"] if isinstance(item, dict) else item for item in raw}


@pytest.mark.parametrize("doc", pages(), ids=lambda p: p.name)
def test_every_appwrite_variable_named_exists_at_1_9_6(doc: Path) -> None:
    # (a prefix after `grep` is a search, not a name)
    names = set(re.findall(r"(?<!grep )\b_APP_[A-Z0-9_]*[A-Z0-9]\b", doc.read_text()))
    assert names or doc not in DOCS, "the doc names no setting at all?"
    assert names - _appwrite_names() == set()


@pytest.mark.parametrize("doc", USER_PAGES, ids=lambda p: p.name)
def test_every_project_variable_named_is_read_by_the_package(doc: Path) -> None:
    source = "\n".join(p.read_text() for p in (ROOT / "src").rglob("*.py"))
    text = doc.read_text()
    # (`secrets.NAME` is a GitHub secret of the user's, not a config var)
    for name in set(re.findall(r"(?<!secrets\.)\bAPPWRITE_(?:LITE_)?[A-Z_]*[A-Z]\b", text)):
        assert name in source, f"{doc.name} names {name}, which nothing reads"


def test_every_cli_subcommand_named_exists() -> None:
    parser = build_parser()
    commands = set(parser._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    used = set(re.findall(r"appwrite-heroku ([a-z][a-z-]+)", docs_text()))
    assert used and used <= commands


def test_reference_tables_list_exactly_the_actions_inputs_and_outputs() -> None:
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    tables = section("action-reference")
    rows = set(re.findall(r"^\| `([a-z-]+)` \|", tables, re.MULTILINE))
    assert rows == set(action["inputs"]) | set(action["outputs"])
    for name, spec in action["inputs"].items():
        if "default" in spec and spec["default"] != "":
            assert f"| `{name}` | `{spec['default']}` |" in tables, name


def test_troubleshooting_covers_each_known_failure() -> None:
    text = (ROOT / "docs" / "troubleshooting.md").read_text()
    headings = re.findall(r"^## (.+)$", text, re.MULTILINE)
    for topic in ("R10", "R14", "H10", "H12", "NOAUTH", "403", "JawsDB placeholder", "405",
                  "Expired release"):
        heading = next((h for h in headings if h.startswith(topic)), None)
        assert heading, f"no section for {topic}"
        body = text.split(f"## {heading}", 1)[1].split("\n## ", 1)[0]
        assert "**Cause.**" in body and "**Fix.**" in body, topic


COMMANDS = ("plan", "deploy", "promote")  # the release engine's commands


def _cli_options_table() -> dict[str, set[str]]:
    """The reference's CLI options table: each option → the commands its *For* column names."""
    options = section("cli-reference")
    table = options[options.index("| Option | For |"):]
    rows: dict[str, set[str]] = {}
    for line in table.splitlines()[2:]:
        if not line.startswith("|"):
            break
        option_cell, for_cell = (cell.strip() for cell in line.split("|")[1:3])
        commands = set(COMMANDS) if for_cell == "all" else set(
            re.findall(r"plan|deploy|promote", for_cell))
        for option in re.findall(r"(?<![\w-])--?[a-z][a-z-]*", option_cell):
            rows[option] = commands
    return rows


def test_reference_cli_table_lists_exactly_what_plan_deploy_and_promote_accept() -> None:
    """Every option of `plan`, `deploy` and `promote` is in the table, marked for the
    command(s) that take it, and nothing else is: the table follows the parsers."""
    parser = build_parser()
    choices = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    accepted: dict[str, set[str]] = {}
    for command in COMMANDS:
        for action in choices[command]._actions:
            for option in action.option_strings:
                if option not in ("-h", "--help"):
                    accepted.setdefault(option, set()).add(command)
    assert _cli_options_table() == accepted
