"""What an import reports: progress, summaries, status and its errors."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..tenants.service import TenantError
from .kinds import ImportKind

# --- results -------------------------------------------------------------------------------------


class ImportRunning(TenantError):
    """Another import of the same tenant and kind holds the run."""


class ImportFailed(Exception):
    """The run stopped (sevDesk or the broker failed); its progress is kept and a rerun continues.

    The message is one line, names where it stopped, and never holds the token.
    """

    def __init__(self, message: str, *, tenant_id: str, kind: ImportKind, offset: int) -> None:
        super().__init__(message)
        self.tenant_id = tenant_id
        self.kind = kind
        self.offset = offset


@dataclass(frozen=True)
class ImportProgress:
    """Reported after each committed page (and once before the first)."""

    tenant_id: str
    kind: ImportKind
    offset: int  # records sevDesk listed so far in this run: where an interrupted run continues
    first_offset: int  # where this call began (> 0 when it continued an interrupted run)
    imported: int
    skipped: int
    invalid: int
    # Records sevDesk listed in the last finished run: an estimate while running, None before any.
    total: int | None


@dataclass(frozen=True)
class ImportSummary:
    tenant_id: str
    kind: ImportKind
    listed: int  # records sevDesk listed (for contacts, contact persons of organisations included)
    imported: int  # published and confirmed by the broker
    skipped: int  # linked to a CRM entity, or imported before
    invalid: int  # not fitting the CRM's shape; reported, not recorded, so offered again next run
    resumed_from: int | None  # the offset an interrupted run was continued at


@dataclass(frozen=True)
class ImportStatus:
    """The latest run of one tenant and kind (for the admin API)."""

    tenant_id: str
    kind: ImportKind
    next_offset: int
    imported: int
    skipped: int
    invalid: int
    # Records sevDesk listed: of this run once finished; while running, of the last finished run.
    total: int | None
    started_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    running: bool  # an import process holds the run now (else an unfinished run was interrupted)


@dataclass(frozen=True)
class InvalidRecord:
    tenant_id: str
    kind: ImportKind
    sevdesk_object: str
    sevdesk_id: str
    reason: str  # names fields, never their values (they may be personal data)


class InvalidData(Exception):
    """A record that does not fit the CRM's shape."""
