"""The README is a short front door: every page under docs/ is linked from it, and every relative
link of the README and of docs/ leads to a file that exists and, with a #fragment, to a heading on it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.doc_pages import DOCS, README, ROOT, headings, pages, text

MAX_README_LINES = 350
_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
_FENCED = re.compile(r"^[ \t]*```.*?^[ \t]*```", re.DOTALL | re.MULTILINE)


def _links(page: Path) -> list[str]:
    prose = _FENCED.sub("", text(page))
    return [target for target in _LINK.findall(prose) if not re.match(r"[a-z]+:", target)]


def anchors(page: Path) -> set[str]:
    """The fragments GitHub gives the page's headings."""
    seen: dict[str, int] = {}
    found = set()
    for _, title, _ in headings(text(page)):
        slug = re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


RELATIVE_LINKS = [(page, target) for page in pages() for target in _links(page)]


def test_the_readme_is_short() -> None:
    assert len(text(README).splitlines()) <= MAX_README_LINES


@pytest.mark.parametrize("page", sorted(DOCS.glob("*.md")), ids=lambda p: p.name)
def test_every_docs_page_is_linked_from_the_readme(page: Path) -> None:
    linked = {(ROOT / target.split("#")[0]).resolve() for target in _links(README)}
    assert page.resolve() in linked


@pytest.mark.parametrize(
    ("page", "target"), RELATIVE_LINKS, ids=[f"{p.relative_to(ROOT)}->{t}" for p, t in RELATIVE_LINKS]
)
def test_a_relative_link_resolves(page: Path, target: str) -> None:
    path, _, fragment = target.partition("#")
    linked = (page.parent / path).resolve() if path else page
    assert linked.exists(), f"{target} names no file"
    if fragment:
        assert linked.suffix == ".md", f"{target}: a fragment of a page that is not Markdown"
        assert fragment in anchors(linked), f"{target}: {linked.name} has no such heading"
