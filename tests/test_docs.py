"""The documentation holds together: the README stays a short page with exactly two setup
commands for a newcomer, every relative link and `#anchor` in README.md and docs/*.md lands on
a file and heading that exist, every page is in the index, and every part's section markers
open and close once."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from documentation import DOCS, README, ROOT, anchors, pages

LINK = re.compile(r"\]\(([^)\s]+)\)")


def _fences(text: str) -> list[tuple[str, list[str]]]:
    """Each fenced block: its info string and its lines."""
    return [(info, body.splitlines()) for info, body in
            re.findall(r"^```(\w*)\n(.*?)^```", text, re.S | re.M)]


def test_the_readme_carries_exactly_two_setup_commands() -> None:
    text = README.read_text()
    quick = text.split("\n## Quick start\n", 1)[1].split("\n## ", 1)[0]
    assert _fences(quick) == _fences(text), "a command outside the quick start"
    blocks = _fences(quick)
    assert [info for info, _ in blocks] == ["sh", "sh"]
    assert all(len(lines) == 1 for _, lines in blocks), "one command per block"
    install, tests = (lines[0] for _, lines in blocks)
    assert install.startswith("python3 -m venv .venv && . .venv/bin/activate && pip install ")
    assert install.endswith("appwrite-heroku plan --config-from examples/heroku-config.json")
    assert tests == "bash .ci/run"


def test_the_readme_is_short() -> None:
    assert len(README.read_text().splitlines()) <= 200


@pytest.mark.parametrize("page", pages(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_and_anchor_resolves(page: Path) -> None:
    text = page.read_text()
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target):
            continue  # https:, mailto: — not this repository's
        path, _, fragment = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        assert file.exists(), f"{page.name} links to missing {path}"
        if fragment:
            assert file.suffix == ".md", f"{page.name}: #{fragment} into a non-page {path}"
            assert fragment in anchors(file.read_text()), \
                f"{page.name} links to #{fragment}, which {file.name} has no heading for"


def test_the_index_lists_every_page() -> None:
    index = (DOCS / "README.md").read_text()
    linked = {target.partition("#")[0] for target in LINK.findall(index)}
    assert {p.name for p in DOCS.glob("*.md")} - {"README.md"} <= linked
    assert "docs/README.md" in LINK.findall(README.read_text())


def test_each_section_marker_opens_and_closes_once() -> None:
    opened: list[str] = []
    closed: list[str] = []
    for page in pages():
        text = page.read_text()
        opened += re.findall(r"<!-- section:([\w-]+) -->", text)
        closed += re.findall(r"<!-- /section:([\w-]+) -->", text)
    assert sorted(opened) == sorted(set(opened)), "a section opened twice"
    assert sorted(opened) == sorted(closed)


def test_the_anchor_rule_is_githubs() -> None:
    """The slugs above, for headings with code, punctuation and repeats."""
    text = ("# Settings: from add-on config vars to Appwrite's `_APP_*`\n## The Action's image\n"
            "## Performance\n## Performance\n```sh\n# not a heading\n```\n")
    assert anchors(text) == {"settings-from-add-on-config-vars-to-appwrites-_app_",
                             "the-actions-image", "performance", "performance-1"}
