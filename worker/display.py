"""Text for operators' terminals: timestamps and cells the CLI's tables and lines share."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_timestamp(value: datetime | None, missing: str = "-") -> str:
    """A moment in UTC to the second, `Z`-suffixed (as `dead list` shows it); `missing` for none."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else missing


def printable_cell(value: object | None) -> str:
    """One line of printable text: ids and types of a malformed message came from untrusted input."""
    if value is None:
        return "-"
    text = "".join(c if c.isprintable() else " " for c in str(value))
    return " ".join(text.split()) or "-"
