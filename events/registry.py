"""The event-type catalogue, and the parser every inbound delivery goes through."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final, Self
from uuid import UUID

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from .envelope import MAX_EVENT_TYPE_LENGTH, Envelope, envelope_type
from .errors import InvalidEvent, format_validation_error
from .outbound import (
    ChangedCustomer,
    ChangedProduct,
    CustomerLinked,
    DocumentStatusChanged,
    EntityType,
    ImportedCustomer,
    ImportedProduct,
    LinkBroken,
    SyncResult,
    SyncStatus,
)
from .payloads import (
    Customer,
    Deal,
    DealClosed,
    EntityRef,
    Invoice,
    InvoiceCancelled,
    Payload,
    Payment,
    Product,
)

__all__ = [
    "CONTACT_CHANGED",
    "CONTACT_IMPORTED",
    "CUSTOMER_CREATED",
    "CUSTOMER_DELETED",
    "CUSTOMER_LINKED",
    "CUSTOMER_UPDATED",
    "DEAL_CANCELLED",
    "DEAL_LOST",
    "DEAL_OPENED",
    "DEAL_UPDATED",
    "DEAL_WON",
    "DOCUMENT_STATUS_CHANGED",
    "ENTITY_TYPE_OF",
    "INBOUND_EVENT_TYPES",
    "INBOUND_PAYLOADS",
    "INVOICE_CANCELLED",
    "INVOICE_ISSUED",
    "LINK_BROKEN",
    "OUTBOUND_EVENT_TYPES",
    "OUTBOUND_PAYLOADS",
    "PART_CHANGED",
    "PART_IMPORTED",
    "PAYMENT_RECEIVED",
    "PRODUCT_CREATED",
    "PRODUCT_UPDATED",
    "SYNC_FAILED",
    "SYNC_SKIPPED",
    "SYNC_SUCCEEDED",
    "InboundEvent",
    "InboundPayload",
    "InvalidEvent",
    "parse_inbound",
    "sync_event_type",
]

# --- routing keys (= event types) -----------------------------------------------------------------

CUSTOMER_CREATED: Final = "customer.created"
CUSTOMER_UPDATED: Final = "customer.updated"
CUSTOMER_DELETED: Final = "customer.deleted"
PRODUCT_CREATED: Final = "product.created"
PRODUCT_UPDATED: Final = "product.updated"
DEAL_OPENED: Final = "deal.opened"
DEAL_UPDATED: Final = "deal.updated"
DEAL_WON: Final = "deal.won"
DEAL_LOST: Final = "deal.lost"
DEAL_CANCELLED: Final = "deal.cancelled"
INVOICE_ISSUED: Final = "invoice.issued"
INVOICE_CANCELLED: Final = "invoice.cancelled"
PAYMENT_RECEIVED: Final = "payment.received"

SYNC_SUCCEEDED: Final = "sync.succeeded"
SYNC_SKIPPED: Final = "sync.skipped"
SYNC_FAILED: Final = "sync.failed"
CUSTOMER_LINKED: Final = "customer.linked"
CONTACT_IMPORTED: Final = "contact.imported"
PART_IMPORTED: Final = "part.imported"
CONTACT_CHANGED: Final = "contact.changed"
PART_CHANGED: Final = "part.changed"
DOCUMENT_STATUS_CHANGED: Final = "document.status_changed"
LINK_BROKEN: Final = "link.broken"

# --- catalogue ------------------------------------------------------------------------------------

INBOUND_PAYLOADS: Final[Mapping[str, type[Payload]]] = MappingProxyType(
    {
        CUSTOMER_CREATED: Customer,
        CUSTOMER_UPDATED: Customer,
        CUSTOMER_DELETED: EntityRef,
        PRODUCT_CREATED: Product,
        PRODUCT_UPDATED: Product,
        DEAL_OPENED: Deal,
        DEAL_UPDATED: Deal,
        DEAL_WON: Deal,
        DEAL_LOST: DealClosed,
        DEAL_CANCELLED: DealClosed,
        INVOICE_ISSUED: Invoice,
        INVOICE_CANCELLED: InvoiceCancelled,
        PAYMENT_RECEIVED: Payment,
    }
)

OUTBOUND_PAYLOADS: Final[Mapping[str, type[Payload]]] = MappingProxyType(
    {
        SYNC_SUCCEEDED: SyncResult,
        SYNC_SKIPPED: SyncResult,
        SYNC_FAILED: SyncResult,
        CUSTOMER_LINKED: CustomerLinked,
        CONTACT_IMPORTED: ImportedCustomer,
        PART_IMPORTED: ImportedProduct,
        CONTACT_CHANGED: ChangedCustomer,
        PART_CHANGED: ChangedProduct,
        DOCUMENT_STATUS_CHANGED: DocumentStatusChanged,
        LINK_BROKEN: LinkBroken,
    }
)

# In catalogue order: what the work queue is bound to, and what the outbound side emits.
INBOUND_EVENT_TYPES: Final[tuple[str, ...]] = tuple(INBOUND_PAYLOADS)
OUTBOUND_EVENT_TYPES: Final[tuple[str, ...]] = tuple(OUTBOUND_PAYLOADS)

# The CRM entity an inbound event is about: the unit of versioning (stale checks) and of outcomes.
ENTITY_TYPE_OF: Final[Mapping[str, EntityType]] = MappingProxyType(
    {
        CUSTOMER_CREATED: "customer",
        CUSTOMER_UPDATED: "customer",
        CUSTOMER_DELETED: "customer",
        PRODUCT_CREATED: "product",
        PRODUCT_UPDATED: "product",
        DEAL_OPENED: "deal",
        DEAL_UPDATED: "deal",
        DEAL_WON: "deal",
        DEAL_LOST: "deal",
        DEAL_CANCELLED: "deal",
        INVOICE_ISSUED: "invoice",
        INVOICE_CANCELLED: "invoice",
        PAYMENT_RECEIVED: "payment",
    }
)

_SYNC_EVENT_TYPE_OF: Final[Mapping[SyncStatus, str]] = MappingProxyType(
    {
        "succeeded": SYNC_SUCCEEDED,
        "skipped": SYNC_SKIPPED,
        # Dead-lettered and parked events are reported as failed: the CRM needs to act either way.
        "failed": SYNC_FAILED,
        "dead": SYNC_FAILED,
        "parked": SYNC_FAILED,
    }
)


def sync_event_type(status: SyncStatus) -> str:
    """The outbound event type that reports an outcome with this status."""
    return _SYNC_EVENT_TYPE_OF[status]


# --- the parsed inbound event ---------------------------------------------------------------------

InboundPayload = Customer | Product | Deal | DealClosed | EntityRef | Invoice | InvoiceCancelled | Payment


class InboundEvent(Envelope[InboundPayload]):
    """An inbound event whose `data` is the payload model of its `event_type`.

    Build it with `parse_inbound`; constructing it directly requires a payload instance of the
    right class (a plain dict could fit more than one payload model).
    """

    @model_validator(mode="after")
    def _data_fits_type(self) -> Self:
        expected = INBOUND_PAYLOADS.get(self.event_type)
        if expected is None:
            raise PydanticCustomError(
                "unknown_event_type",
                "event type '{type}' is not one sevsync handles",
                {"type": self.event_type},
            )
        if type(self.data) is not expected:
            raise PydanticCustomError(
                "data_type",
                "{type} carries a {expected}, not a {got}",
                {"type": self.event_type, "expected": expected.__name__, "got": type(self.data).__name__},
            )
        return self

    @property
    def entity_type(self) -> EntityType:
        return ENTITY_TYPE_OF[self.event_type]

    @property
    def entity_id(self) -> str:
        """The CRM id of the entity (for invoice.cancelled: the cancelled invoice's id)."""
        return self.data.id


# --- parsing --------------------------------------------------------------------------------------


class _AnyObject(BaseModel):
    """Any JSON object: for checking the envelope before the event type is known to be handled."""

    model_config = ConfigDict(extra="allow", frozen=True)


_ShapeEnvelope = Envelope[_AnyObject]
_TYPED_ENVELOPES: Final[Mapping[str, type[Envelope[Payload]]]] = MappingProxyType(
    {event_type: envelope_type(model) for event_type, model in INBOUND_PAYLOADS.items()}
)

_UUID_TEXT: Final = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")
_TENANT_TEXT: Final = re.compile(r"[A-Za-z0-9_.-]{1,64}")
# A JSON escape of a UTF-16 surrogate; only then can the decoded text hold an unpaired one.
_SURROGATE_ESCAPE: Final = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


class _NotJson(ValueError):
    pass


def _refuse_constant(name: str) -> Any:
    # Python's json accepts NaN and Infinity; JSON does not, and neither do we.
    raise _NotJson(f"{name} is not a JSON value")


class _DuplicateKeys:
    """object_pairs_hook that remembers the first duplicated key (last value wins, as usual)."""

    def __init__(self) -> None:
        self.first: str | None = None

    def __call__(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result = dict(pairs)
        if self.first is None and len(result) != len(pairs):
            seen: set[str] = set()
            for key, _ in pairs:
                if key in seen:
                    self.first = key
                    break
                seen.add(key)
        return result


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "null"


def _identity(document: dict[str, Any]) -> dict[str, Any]:
    """The envelope's identifying fields, each only if valid on its own."""
    event_id = document.get("event_id")
    tenant_id = document.get("tenant_id")
    event_type = document.get("event_type")
    return {
        "event_id": UUID(event_id) if isinstance(event_id, str) and _UUID_TEXT.fullmatch(event_id) else None,
        "tenant_id": tenant_id if isinstance(tenant_id, str) and _TENANT_TEXT.fullmatch(tenant_id) else None,
        "event_type": (
            event_type
            if isinstance(event_type, str) and 0 < len(event_type) <= MAX_EVENT_TYPE_LENGTH
            else None
        ),
    }


def _load_json(body: bytes) -> Any:
    """Decode and parse strictly; every way of failing gets its own precise message."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidEvent("malformed", f"body is not valid UTF-8 at byte {error.start}") from None
    duplicates = _DuplicateKeys()
    try:
        document = json.loads(text, object_pairs_hook=duplicates, parse_constant=_refuse_constant)
    except json.JSONDecodeError as error:
        # Some of json's messages end in "at" themselves ("Unterminated string starting at").
        problem = error.msg.removesuffix(" at")
        raise InvalidEvent(
            "malformed", f"body is not JSON: {problem} at line {error.lineno} column {error.colno}"
        ) from None
    except _NotJson as error:
        raise InvalidEvent("malformed", f"body is not JSON: {error}") from None
    except RecursionError:
        raise InvalidEvent("malformed", "body is not usable JSON: nested too deeply") from None
    except ValueError as error:  # e.g. an integer literal beyond Python's digit limit
        raise InvalidEvent("malformed", f"body is not usable JSON: {error}") from None
    if duplicates.first is not None:
        key = duplicates.first if len(duplicates.first) <= 64 else duplicates.first[:61] + "..."
        raise InvalidEvent(
            "malformed", f"body has the key '{key}' twice in one object", **_identity_of_any(document)
        )
    if _SURROGATE_ESCAPE.search(text) and _has_lone_surrogate(document):
        raise InvalidEvent(
            "malformed",
            "body has an unpaired UTF-16 surrogate escape, which is not text",
            **_identity_of_any(document),
        )
    return document


def _identity_of_any(document: Any) -> dict[str, Any]:
    return _identity(document) if isinstance(document, dict) else {}


def _has_lone_surrogate(document: Any) -> bool:
    try:
        json.dumps(document, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def parse_inbound(body: bytes, *, max_bytes: int | None = None) -> InboundEvent:
    """Turn a delivery body into a validated event, or raise `InvalidEvent` saying exactly why not.

    The envelope's shape is checked before its type, so a well-formed envelope of a type sevsync
    does not handle is `unknown_event_type`, and anything else wrong is `malformed`.
    """
    if max_bytes is not None and len(body) > max_bytes:
        # Not parsed at all, so no identity either: the limit exists to avoid the work.
        raise InvalidEvent("malformed", f"body is {len(body)} bytes, larger than the {max_bytes} allowed")
    document = _load_json(body)
    if not isinstance(document, dict):
        raise InvalidEvent("malformed", f"body is {_json_kind(document)}, not a JSON object")
    # The identity (checked ids, for the refusal's dead letter) is worked out only to refuse.
    event_type = document.get("event_type")
    envelope_model = _TYPED_ENVELOPES.get(event_type) if isinstance(event_type, str) else None
    if envelope_model is None:
        identity = _identity(document)
        try:
            _ShapeEnvelope.model_validate(document)
        except ValidationError as error:
            raise InvalidEvent("malformed", format_validation_error(error), **identity) from None
        raise InvalidEvent(
            "unknown_event_type",
            f"event type '{identity['event_type']}' is not one sevsync handles",
            **identity,
        )
    try:
        typed = envelope_model.model_validate(document)
    except ValidationError as error:
        raise InvalidEvent("malformed", format_validation_error(error), **_identity(document)) from None
    return InboundEvent.model_validate(dict(typed))
