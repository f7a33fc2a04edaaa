"""Pure helpers of `make bench`: percentiles, ratios, and the text tables it prints."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0..100) with linear interpolation between closest ranks; None if empty."""
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within 0..100, got {q}")
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = math.ceil(rank)
    if low == high:
        return float(ordered[low])
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def ratio(value: float | None, reference: float | None) -> float | None:
    """value / reference, or None when either is missing or the reference is zero."""
    if value is None or reference is None or reference == 0:
        return None
    return value / reference


def fmt_number(value: float | None, digits: int = 1, unit: str = "") -> str:
    """`12.3 ms`; a dash for a figure that was not measured."""
    if value is None:
        return "-"
    text = f"{value:,.{digits}f}"
    return f"{text} {unit}" if unit else text


def fmt_ratio(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2f}x"


def fmt_percent(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value * 100:.0f} %"


@dataclass(frozen=True)
class Row:
    """One figure of a scenario: the worker's value, the baseline's (if any), and the ratio."""

    figure: str
    worker: str
    baseline: str = ""
    ratio: str = ""


def render_table(headers: Sequence[str], rows: Sequence[Sequence[str]], indent: str = "  ") -> list[str]:
    """Columns padded to their widest cell; the first column left-aligned, the others right-aligned."""
    if not rows and not headers:
        return []
    width = len(headers)
    cells = [list(headers), *[list(r) + [""] * (width - len(r)) for r in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(width)]

    def line(row: Sequence[str]) -> str:
        parts = [row[0].ljust(widths[0])] + [row[i].rjust(widths[i]) for i in range(1, width)]
        return (indent + "  ".join(parts)).rstrip()

    rule = indent + "  ".join("-" * w for w in widths)
    return [line(cells[0]), rule, *(line(row) for row in cells[1:])]


def figure_rows(rows: Sequence[Row]) -> list[list[str]]:
    return [[r.figure, r.worker, r.baseline, r.ratio] for r in rows]


def verdict(met: bool | None) -> str:
    if met is None:
        return "n/a"
    return "met" if met else "NOT met"
