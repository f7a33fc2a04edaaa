"""The README and the reference pages under docs/, read the way the documentation tests need them.

One place finds fenced blocks and sections, so that every test that checks an example sees the same
examples: a block added to any page is checked without touching the tests.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"

# ```lang ... ``` at the start of a line, or indented inside a list item; the language is the fence's
# first word.
_FENCE = re.compile(r"^[ \t]*```(\w*)[^\n]*\n(.*?)^[ \t]*```", re.DOTALL | re.MULTILINE)


def pages() -> list[Path]:
    """The README first, then every Markdown page under docs/."""
    return [README, *sorted(DOCS.glob("*.md"))]


def text(page: Path) -> str:
    return page.read_text(encoding="utf-8")


def blocks(markdown: str, language: str) -> list[str]:
    """The bodies of the fenced blocks of one language, in order."""
    return [body for lang, body in _FENCE.findall(markdown) if lang == language]


def page_blocks(language: str) -> list[tuple[str, str]]:
    """Every fenced block of `language` on every page, each with its page's path from the root."""
    return [(str(page.relative_to(ROOT)), body) for page in pages() for body in blocks(text(page), language)]


def headings(markdown: str) -> list[tuple[int, str, int]]:
    """(level, title, offset of the line after it) of every heading outside fenced blocks."""
    found, offset, fenced = [], 0, False
    for line in markdown.splitlines(keepends=True):
        offset += len(line)
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        heading = re.match(r"(#+) (.+)", line)
        if heading is not None and not fenced:
            found.append((len(heading.group(1)), heading.group(2).strip(), offset))
    return found


def section(markdown: str, heading: str) -> str:
    """The text under a heading (any level) up to the next heading of the same or a higher level."""
    marks = headings(markdown)
    for index, (level, title, start) in enumerate(marks):
        if title == heading:
            ends = [offset for lvl, name, offset in marks[index + 1 :] if lvl <= level]
            if not ends:
                return markdown[start:]
            end = ends[0]
            # `end` is past the next heading's line: cut before that line.
            return markdown[start : markdown.rindex("\n", 0, end - 1) + 1]
    raise LookupError(f"no heading {heading!r}")
