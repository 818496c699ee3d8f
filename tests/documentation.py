"""The project's documentation as tests read it: the short README and the pages under docs/.
A test about "the docs say X" reads `docs_text()` or the `section()` that owns X, so text can
move between pages without the test losing its hold on it."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"


def pages() -> list[Path]:
    """The README first, then every page of docs/ by name."""
    return [README, *sorted(DOCS.glob("*.md"))]


def docs_text() -> str:
    """Every page, one after another."""
    return "\n".join(page.read_text() for page in pages())


def section(name: str) -> str:
    """The text between `<!-- section:NAME -->` and `<!-- /section:NAME -->`, wherever the
    part that owns it keeps it; exactly one page may hold it."""
    found = [match.group(1) for page in pages() for match in re.finditer(
        rf"<!-- section:{re.escape(name)} -->(.*?)<!-- /section:{re.escape(name)} -->",
        page.read_text(), re.S)]
    assert len(found) == 1, f"section {name} is in {len(found)} places, not one"
    return found[0]


def table_after(text: str, header_start: str) -> list[list[str]]:
    """The rows (cells stripped) of the markdown table whose header starts with the text."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith(header_start))
    rows = []
    for line in lines[start + 2:]:
        if not line.strip().startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def headings(text: str) -> list[str]:
    """Markdown headings outside fenced code (a `# comment` in a shell block is none)."""
    found: list[str] = []
    fence = False
    for line in text.splitlines():
        if line.startswith("```"):
            fence = not fence
        elif not fence and (match := re.match(r"#{1,6} (.+)$", line)):
            found.append(match.group(1).strip())
    return found


def anchors(text: str) -> set[str]:
    """The fragment GitHub gives each heading: lower case, punctuation dropped, spaces as
    hyphens, a repeat numbered -1, -2, …"""
    seen: dict[str, int] = {}
    result: set[str] = set()
    for heading in headings(text):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        result.add(slug if count == 0 else f"{slug}-{count}")
    return result
