"""The prose of the AsyncAPI document: one summary per event type, and the texts around them.

Kept apart from the generator so that the structure reads without the words in between; the
generator fails when an event type has no summary here.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

__all__ = ["DEAD_LETTERS", "INFO", "SERVER", "SUMMARIES", "WORK_QUEUE"]

INFO: Final = (
    "The messages sevsync and a CRM exchange over RabbitMQ. The CRM publishes CRM changes on the "
    "inbound exchange; sevsync applies them to sevDesk and publishes outcomes and sevDesk's own changes "
    "on the outbound exchange. Every message is a JSON envelope (event_id, event_type, tenant_id, "
    "occurred_at, version, data) published persistent with content_type application/json, message_id "
    "= event_id and routing key = event_type; the tenant travels in the body, not in the routing. "
    "Money, quantities and rates are decimal strings. The exchange and queue names are the defaults; "
    "SEVSYNC_EXCHANGE, SEVSYNC_QUEUE and SEVSYNC_OUT_EXCHANGE rename them (the dead-letter names "
    "follow the queue's). Generated from the event models by `python -m sevsync_events.asyncapi "
    "--write`; the JSON Schema of every message is also in events/json_schema/."
)

SERVER: Final = (
    "The RabbitMQ broker the CRM and sevsync share; sevsync reads its URL from SEVSYNC_AMQP_URL "
    "(amqp://user:password@host:port/vhost)."
)

WORK_QUEUE: Final = (
    "sevsync's work queue: durable, quorum, bound to the inbound exchange with every routing key sevsync "
    "handles (the inbound channels). A message the broker delivered as often as the delivery limit "
    "allows goes to the dead-letter exchange. Retries wait in sevsync's database, not in the broker, "
    "and come back to this queue only, never through the inbound exchange. "
    "`sevsync topology declare` declares all of it without running a worker."
)

DEAD_LETTERS: Final = (
    "Messages the work queue gave up on, through the fanout dead-letter exchange `<queue>.dlx` into "
    "the quorum queue `<queue>.dead`. sevsync drains them into its dead_letter table, where operators "
    "list, replay and purge them (`sevsync dead`). A dead letter is an inbound message as it was sent, "
    "so it may also be one that fits no schema."
)

SUMMARIES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "customer.created": "A new CRM customer: sevsync creates (or links) a sevDesk contact.",
        "customer.updated": "A customer changed in the CRM: sevsync updates its sevDesk contact.",
        "customer.deleted": "A customer was deleted in the CRM: skipped, sevDesk keeps the contact.",
        "product.created": "A new CRM product: sevsync creates (or links) a sevDesk part.",
        "product.updated": "A product changed in the CRM: sevsync updates its sevDesk part.",
        "deal.opened": "A deal was opened: sevsync writes it as a draft offer (order AN) in sevDesk.",
        "deal.updated": "A deal changed while open: sevsync updates its draft offer.",
        "deal.won": "A deal was won: sevsync writes its invoice (RE) as a draft in sevDesk.",
        "deal.lost": "A deal was lost: its sevDesk offer is marked rejected.",
        "deal.cancelled": "A deal was cancelled: its offer is rejected, its invoice deleted or cancelled.",
        "invoice.issued": "The CRM issued an invoice with its own number: sevsync books a revenue voucher.",
        "invoice.cancelled": "The CRM cancelled one of its invoices: sevsync books the correcting voucher.",
        "payment.received": "A payment arrived: sevsync books it on the linked sevDesk invoice or voucher.",
        "sync.succeeded": "An inbound event was applied to sevDesk.",
        "sync.skipped": "An inbound event needed no change in sevDesk, or must not make one (see reason).",
        "sync.failed": "An inbound event could not be applied, or was dead-lettered or parked (see reason).",
        "customer.linked": "A CRM customer is now linked to a sevDesk contact, with its customer number.",
        "contact.imported": "A sevDesk contact not yet in the CRM, in the Customer shape (an import).",
        "part.imported": "A sevDesk part not yet in the CRM, in the Product shape (an import).",
        "contact.changed": "A linked contact changed in sevDesk; sevDesk leads, the CRM takes the fields.",
        "part.changed": "A linked part changed in sevDesk; sevDesk leads, the CRM takes the fields.",
        "document.status_changed": "A linked offer, invoice or voucher changed its state in sevDesk.",
        "link.broken": "The sevDesk object a CRM entity was linked to was deleted in sevDesk.",
    }
)
