"""The progress bar of long commands (`import`, `reconcile`)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tqdm import tqdm


def progress_bar(description: str, unit: str) -> tqdm[Any]:
    """A bar on stderr only for a person watching; a pipe or a log file gets no bar."""
    from tqdm import tqdm

    return tqdm(
        desc=description,
        unit=unit,
        file=sys.stderr,
        disable=not sys.stderr.isatty(),
        leave=False,
        dynamic_ncols=True,
    )
