"""docs/architecture.md and its layout table name only what exists.

The architecture page follows one event through the code as a numbered list of functions; each
`sevsync.…` name it gives must import and resolve, so that a rename that forgets the page fails here.
Its layout table names folders and files, each of which must be there.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

from tests.doc_pages import section

ROOT = Path(__file__).resolve().parents[2]
ARCHITECTURE = ROOT / "docs" / "architecture.md"
_DOTTED = re.compile(r"`(sevsync(?:_events)?(?:\.[A-Za-z_]\w*)+)(?:\(\))?`")
_PATH = re.compile(r"`((?:worker|events|schema|tests|bench|docs)/[\w./-]*)`")


def _references() -> list[str]:
    page = ARCHITECTURE.read_text(encoding="utf-8")
    # The overview names tables of the schema `sevsync` (`sevsync.inbox`), which look like code names.
    page = page.replace(section(page, "How it works"), "")
    return sorted(set(_DOTTED.findall(page)))


def _resolve(dotted: str) -> object:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found: object = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[cut:]:
            found = getattr(found, attribute)
        return found
    raise ModuleNotFoundError(dotted)


def test_the_page_walks_through_the_code() -> None:
    # The event's path alone names a dozen functions; fewer means the page lost its point.
    assert len(_references()) >= 12


@pytest.mark.parametrize("dotted", _references())
def test_each_named_function_exists(dotted: str) -> None:
    assert _resolve(dotted) is not None


def _layout_paths() -> list[str]:
    layout = section(ARCHITECTURE.read_text(encoding="utf-8"), "Layout")
    return sorted(set(_PATH.findall(layout)))


def test_the_layout_names_paths() -> None:
    assert len(_layout_paths()) >= 10


@pytest.mark.parametrize("path", _layout_paths())
def test_each_layout_path_exists(path: str) -> None:
    assert (ROOT / path).exists(), path
