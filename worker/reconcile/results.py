"""What a reconciliation run reports, and how it refuses or fails."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Literal, get_args

ReconcileKind = Literal["contacts", "parts", "documents"]
KINDS: Final[tuple[ReconcileKind, ...]] = get_args(ReconcileKind)


class ReconcileRunning(Exception):
    """Another run (in this or another process) holds the tenant."""


class ReconcileFailed(Exception):
    """A kind failed mid-run (the others ran); what was told stays told, its cursor stays."""

    def __init__(self, message: str, summary: ReconcileSummary) -> None:
        super().__init__(message)
        self.summary = summary


@dataclass
class KindCounts:
    examined: int = 0  # linked objects whose sevDesk state was compared
    told: int = 0  # change events written
    broken: int = 0  # links found deleted in sevDesk
    invalid: int = 0  # linked objects whose sevDesk state does not fit the CRM's shape
    busy: int = 0  # linked objects skipped while a handler of their entity writes
    error: str | None = None  # why the kind's run stopped (its cursor stayed)
    swept: bool = False  # whether this run also looked for deletions


@dataclass
class ReconcileSummary:
    tenant_id: str
    kinds: dict[ReconcileKind, KindCounts] = field(default_factory=dict)

    def line(self) -> str:
        parts = [
            f"{kind}: {c.told} changed, {c.broken} deleted, {c.examined} examined"
            + (f", {c.invalid} invalid" if c.invalid else "")
            + (f", {c.busy} left to the next run (a write in flight)" if c.busy else "")
            + (" (swept)" if c.swept else "")
            + (f" (failed: {c.error})" if c.error else "")
            for kind, c in self.kinds.items()
        ]
        return f"reconciled tenant {self.tenant_id}: " + "; ".join(parts)
