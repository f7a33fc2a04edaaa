"""Request and response bodies of the admin API; the OpenAPI document is generated from them.

Rows that queries.py reads are answered as they are (pydantic takes their dataclasses); a dead
letter has a view of its own because its body (personal data) must never be part of an answer.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from sevsync_events.types import TenantId

from ..imports.kinds import ImportKind
from ..tenants.settings import TaxType
from .queries import EntityLink, Outcome, TenantHealth

MAX_LIST_LIMIT = 1000
# The skips whose events keep their body to be sent later (sync.gate.REPLAYABLE_SKIPS).
SkipReason = Literal["not_connected", "disabled", "auto_sync_off"]


class Body(BaseModel):
    """Request bodies refuse unknown fields: a typo must not be ignored silently."""

    model_config = ConfigDict(extra="forbid")


class ConnectRequest(Body):
    token: SecretStr = Field(description="The tenant's sevDesk API token; tested before it is stored.")


class SettingsPatch(Body):
    """Only the fields given change; a map given replaces the stored map as a whole."""

    enabled: bool | None = None
    auto_sync_customers: bool | None = None
    auto_sync_products: bool | None = None
    small_business: bool | None = None
    small_business_until: date | None = None
    default_tax_type: TaxType | None = None
    contact_person_id: str | None = None
    units: dict[str, str] | None = None
    voucher_due_days: int | None = Field(default=None, ge=0, le=365)
    cost_centre_id: str | None = None
    booking_accounts: dict[str, str] | None = None
    check_accounts: dict[str, str] | None = None


class ReplayRequest(Body):
    """The filters of `sevsync dead replay`; without tenant, reason or event ids, `all` must be true."""

    tenant: TenantId | None = None
    reason: str | None = None
    event_ids: list[UUID] = Field(default_factory=list)
    limit: int | None = Field(default=None, ge=1, description="at most this many, oldest first")
    all: bool = False
    dry_run: bool = False


class ErrorBody(BaseModel):
    error: str


class TenantView(BaseModel):
    tenant_id: str
    provider: str
    status: str
    enabled: bool
    token_stored: bool
    connected_at: datetime | None
    settings: dict[str, Any]
    links: dict[str, Any]
    skipped_waiting: int = Field(
        description="events skipped while the tenant did not sync, waiting to be sent "
        "(GET /tenants/{tenant}/skipped)"
    )


class TenantList(BaseModel):
    tenants: list[TenantHealth]


class ConnectResult(BaseModel):
    tenant: TenantView
    resumed_parked_events: int


class DeadLetterView(BaseModel):
    id: int
    dead_at: datetime
    tenant_id: str | None
    event_type: str | None
    event_id: UUID | None
    reason: str
    attempts: int
    replayed_at: datetime | None
    error: str | None


class DeadLetterList(BaseModel):
    dead_letters: list[DeadLetterView]


class ReplayResult(BaseModel):
    dry_run: bool
    replayed: int = Field(description="published to the work queue (0 on a dry run)")
    would_replay: list[DeadLetterView] = Field(default_factory=list, description="dry run only")
    still_open: int = 0


class SkippedEventView(BaseModel):
    event_id: UUID
    event_type: str
    entity_type: str
    entity_id: str
    version: int
    reason: SkipReason
    skipped_at: datetime


class SkippedList(BaseModel):
    tenant_id: str
    waiting: int = Field(description="how many wait in all (of the reason asked for)")
    skipped: list[SkippedEventView] = Field(description="per entity its newest version, oldest skip first")


class SkippedReplayRequest(Body):
    """`sevsync skipped replay`: every waiting event of the tenant, or those of one skip reason."""

    reason: SkipReason | None = None


class SkippedReplayResult(BaseModel):
    replayed: int = Field(description="sent to sevsync's work queue")
    held_back: dict[str, int] = Field(
        description="events not sent because the tenant setting named switches their kind off"
    )


class EntityView(BaseModel):
    tenant_id: str
    entity_type: str
    entity_id: str
    current: Outcome | None = Field(description="the newest outcome that is not a duplicate")
    outcomes: list[Outcome] = Field(description="newest first")
    links: list[EntityLink]


class ImportStatusView(BaseModel):
    tenant_id: str
    kind: ImportKind
    running: bool = Field(description="running now, in this worker process or another")
    next_offset: int | None = None
    imported: int | None = None
    skipped: int | None = None
    invalid: int | None = None
    total: int | None = None
    started_at: datetime | None = None
    updated_at: datetime | None = None
    finished_at: datetime | None = None
    error: str | None = Field(default=None, description="why the last run in this process stopped")
