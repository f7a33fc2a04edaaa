"""Request and response bodies of the admin API; the OpenAPI document is generated from them.

Rows that queries.py reads are answered as they are (pydantic takes their dataclasses); a dead
letter has a view of its own because its body (personal data) must never be part of an answer.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_core import PydanticCustomError

from sevsync_events.types import TenantId

from ..imports.kinds import ImportKind
from ..outcome_words import REPLAYABLE_SKIPS
from ..sync.broken_links import SEVDESK_ID_PATTERN
from ..tenants.doctor_checks import Status
from ..tenants.settings import EInvoiceMode, PaymentMethodId, TaxType
from .queries import EntityLink, Outcome, TenantHealth

MAX_LIST_LIMIT = 1000
# The skips whose events keep their body to be sent later. pydantic checks and documents them as the
# Literal of those words; mypy cannot read a Literal built from a tuple, so to it they are text.
if TYPE_CHECKING:
    SkipReason = str
else:
    SkipReason = Literal[REPLAYABLE_SKIPS]


class Body(BaseModel):
    """Request bodies refuse unknown fields (a typo must not be ignored silently) and take each value
    only in the JSON type the OpenAPI document gives it (`"true"` is no boolean, `30.0` no count)."""

    model_config = ConfigDict(extra="forbid", strict=True)


class ConnectRequest(Body):
    token: SecretStr = Field(description="The tenant's sevDesk API token; tested before it is stored.")


# Null removes a setting that may be unset (a date, an id); these may be left out, but not null.
_SETTINGS_NOT_NULL = (
    "enabled", "auto_sync_customers", "auto_sync_products", "small_business", "default_tax_type",
    "units", "voucher_due_days", "booking_accounts", "check_accounts", "e_invoice", "payment_methods",
)  # fmt: skip


def _not_nullable(schema: dict[str, Any], names: tuple[str, ...]) -> None:
    """Show these properties with their own type only, without null and without `default: null`."""
    for name in names:
        prop = schema["properties"][name]
        options = [option for option in prop.pop("anyOf", []) if option != {"type": "null"}]
        if len(options) == 1:
            prop.update(options[0])
        if prop.get("default", "") is None:
            del prop["default"]


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
    delivery_date_in_head_text: bool | None = None
    e_invoice: EInvoiceMode | None = None
    payment_methods: dict[str, PaymentMethodId] | None = None
    default_payment_method: PaymentMethodId | None = None

    model_config = ConfigDict(json_schema_extra=lambda schema: _not_nullable(schema, _SETTINGS_NOT_NULL))

    @field_validator(*_SETTINGS_NOT_NULL)
    @classmethod
    def _given_not_null(cls, value: object) -> object:
        # Runs only for the fields given.
        if value is None:
            raise PydanticCustomError("not_null", "may be left out, but not null")
        return value


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


class DoctorLine(BaseModel):
    """One check of the account: `PASS|WARN|FAIL`, and what to change where."""

    check: str
    status: Status
    detail: str


class DoctorReport(BaseModel):
    tenant_id: str
    failed: bool = Field(description="whether any check FAILs (`sevsync tenant doctor` then exits 1)")
    checks: list[DoctorLine]


class SettingsResult(TenantView):
    checks: list[DoctorLine] = Field(
        description="the account checks the changed settings concern, run after storing them; a FAIL "
        "does not undo the change"
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
    unreplayable: int = Field(
        default=0,
        description="matching open dead letters left out: malformed ones, which a replay cannot fix",
    )


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
    skipped: list[SkippedEventView] = Field(
        description="per entity the newest version of each kind of event, oldest skip first"
    )


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


class LinkView(BaseModel):
    """A link between a CRM entity and a sevDesk object (`sevsync link show`)."""

    entity_type: str
    entity_id: str
    sevdesk_object: str | None
    sevdesk_id: str | None
    sevdesk_number: str | None
    synced_version: int | None
    broken_at: datetime | None = Field(
        description="when its sevDesk object was found deleted; null if healthy"
    )
    broken_reason: str | None


class BrokenLinkList(BaseModel):
    tenant_id: str
    broken_links: list[LinkView] = Field(description="longest broken first")


class RelinkRequest(Body):
    sevdesk_id: str = Field(
        pattern=SEVDESK_ID_PATTERN,
        description="the id of another existing sevDesk object of the link's kind in the tenant's account",
    )


class ClearResult(BaseModel):
    cleared: LinkView = Field(description="the link as it was; the entity's next event creates anew")


class ReconcileRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["contacts", "parts", "documents"] | None = Field(
        default=None, description="one kind; all three when missing"
    )


class ReconcileStarted(BaseModel):
    tenant_id: str
    kinds: list[str]
    running: bool = Field(description="a run of the tenant was started in this worker process")
