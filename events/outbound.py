"""The `data` of every event sevsync publishes back to the CRM (outbound exchange)."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import Field

from .payloads import CustomerFields, Payload, ProductFields
from .types import AwareDatetime, EntityId, Money, Name, SevdeskId

__all__ = [
    "ChangedCustomer",
    "ChangedProduct",
    "CustomerLinked",
    "DocumentStatus",
    "DocumentStatusChanged",
    "EntityType",
    "ImportedCustomer",
    "ImportedProduct",
    "LinkBroken",
    "SyncResult",
    "SyncStatus",
]

# Only final outcomes are reported; "retrying" never leaves sevsync.
SyncStatus = Literal["succeeded", "skipped", "failed", "dead", "parked"]
EntityType = Literal["customer", "product", "deal", "invoice", "payment"]


class SyncResult(Payload):
    """`data` of sync.succeeded / sync.skipped / sync.failed: the outcome of one inbound event."""

    # Nullable because a dead-lettered message may not have carried a valid id or type.
    source_event_id: UUID | None
    source_event_type: str | None
    entity_type: EntityType | None = None
    entity_id: EntityId | None = None
    status: SyncStatus
    reason: str | None = Field(default=None, description="Why it was skipped or failed, e.g. stale.")
    sevdesk_object: str | None = Field(
        default=None, description="The sevDesk model name, e.g. Contact, Part, Order, Voucher."
    )
    sevdesk_id: SevdeskId | None = None
    sevdesk_number: str | None = None
    error: str | None = Field(default=None, description="Human-readable detail of a failure.")


class CustomerLinked(Payload):
    """`data` of customer.linked: the sevDesk contact (and its number) a CRM customer now maps to."""

    customer_id: EntityId
    sevdesk_contact_id: SevdeskId
    customer_number: Name


class ImportedCustomer(CustomerFields):
    """`data` of contact.imported: a sevDesk contact in the Customer shape, not yet in the CRM."""

    id: None = None
    sevdesk_id: SevdeskId


class ImportedProduct(ProductFields):
    """`data` of part.imported: a sevDesk part in the Product shape, not yet in the CRM."""

    id: None = None
    sevdesk_id: SevdeskId


# --- sevDesk's own changes (reconciliation) -------------------------------------------------------

DocumentStatus = Literal["draft", "open", "partially_paid", "paid", "cancelled", "accepted", "rejected"]


class ChangedCustomer(CustomerFields):
    """`data` of contact.changed: a linked contact as sevDesk now holds it, in the Customer shape."""

    id: EntityId
    sevdesk_id: SevdeskId


class ChangedProduct(ProductFields):
    """`data` of part.changed: a linked part as sevDesk now holds it, in the Product shape."""

    id: EntityId
    sevdesk_id: SevdeskId


class DocumentStatusChanged(Payload):
    """`data` of document.status_changed: a linked offer, invoice or voucher changed state in sevDesk."""

    entity_type: str = Field(description="The link's type: deal_order, deal_invoice, invoice_voucher.")
    entity_id: EntityId
    sevdesk_object: str
    sevdesk_id: SevdeskId
    status: DocumentStatus
    paid_amount: Money | None = None
    open_amount: Money | None = None
    changed_at: AwareDatetime | None = Field(default=None, description="sevDesk's `update` stamp.")


class LinkBroken(Payload):
    """`data` of link.broken: the sevDesk object a CRM entity is linked to was deleted there."""

    entity_type: str = Field(description="The link's type, as the links admin routes take it.")
    entity_id: EntityId
    sevdesk_object: str
    sevdesk_id: SevdeskId
    reason: Literal["deleted_in_sevdesk"]
