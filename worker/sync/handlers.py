"""Which handler applies which event type. The broker binds exactly these routing keys."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sevsync_events.envelope import Envelope

from . import invoices, offers, payments, vouchers
from .context import SyncContext
from .customers import skip_deleted_customer, sync_customer
from .products import sync_product
from .result import HandlerResult

HandlerFn = Callable[[SyncContext, Envelope[Any]], Awaitable[HandlerResult]]

# A cancelled deal's `cancellation` link is not among its link types: that type is shared with CRM
# invoices, whose link under an equal id must neither make a deal event stale nor have its write
# intents ended by one. deal.cancelled reads and writes it itself (invoices._link_cancellation).
DEAL_LINKS = (offers.LINK_TYPE, invoices.LINK_TYPE)
INVOICE_LINKS = (vouchers.LINK_TYPE, vouchers.CANCELLATION_LINK_TYPE)


@dataclass(frozen=True, kw_only=True)
class Handler:
    # The CRM entity the event is about: outcome rows, the CRM's sync result, per-entity ordering.
    entity_type: str
    run: HandlerFn
    # The entity_link types that represent the entity in sevDesk: the stale check and write intents.
    link_types: tuple[str, ...]
    # The tenant setting that switches this kind of event off, if there is one.
    auto_sync_setting: str | None = None
    # Handlers that write the entity's whole current state share a group: of a burst of versions
    # waiting in one process, only the newest of a group needs writing (locks.KeyedLocks).
    coalesce: str | None = None


# One handler per kind of work; the table below names the event types each applies.
CUSTOMER = Handler(
    entity_type="customer",
    run=sync_customer,
    link_types=("customer",),
    auto_sync_setting="auto_sync_customers",
    coalesce="customer",
)
DELETED_CUSTOMER = Handler(entity_type="customer", run=skip_deleted_customer, link_types=("customer",))
PRODUCT = Handler(
    entity_type="product",
    run=sync_product,
    link_types=("product",),
    auto_sync_setting="auto_sync_products",
    coalesce="product",
)
OFFER = Handler(entity_type="deal", run=offers.sync_offer, link_types=DEAL_LINKS, coalesce="offer")
LOST_DEAL = Handler(entity_type="deal", run=offers.reject_offer, link_types=DEAL_LINKS)
WON_DEAL = Handler(entity_type="deal", run=invoices.sync_deal_invoice, link_types=DEAL_LINKS)
CANCELLED_DEAL = Handler(entity_type="deal", run=invoices.cancel_deal, link_types=DEAL_LINKS)
ISSUED_INVOICE = Handler(entity_type="invoice", run=vouchers.sync_voucher, link_types=INVOICE_LINKS)
CANCELLED_INVOICE = Handler(entity_type="invoice", run=vouchers.cancel_voucher, link_types=INVOICE_LINKS)
PAYMENT = Handler(entity_type="payment", run=payments.book_payment, link_types=(payments.LINK_TYPE,))

HANDLERS: dict[str, Handler] = {
    "customer.created": CUSTOMER,
    "customer.updated": CUSTOMER,
    "customer.deleted": DELETED_CUSTOMER,
    "product.created": PRODUCT,
    "product.updated": PRODUCT,
    "deal.opened": OFFER,
    "deal.updated": OFFER,
    "deal.lost": LOST_DEAL,
    "deal.won": WON_DEAL,
    "deal.cancelled": CANCELLED_DEAL,
    "invoice.issued": ISSUED_INVOICE,
    "invoice.cancelled": CANCELLED_INVOICE,
    "payment.received": PAYMENT,
}


def same_kind(event_type: str, handlers: Mapping[str, Handler] = HANDLERS) -> tuple[str, ...]:
    """The event types a newer version of which makes an event of `event_type` needless.

    Those of its coalescing group, since each of them writes the entity's whole state; an event of no
    group (an invoice issued or cancelled, a deal won, a payment) is an act of its own, which only a
    newer event of the same type replaces.
    """
    handler = handlers[event_type]
    if handler.coalesce is None:
        return (event_type,)
    return tuple(
        sorted(
            name
            for name, other in handlers.items()
            if other.entity_type == handler.entity_type and other.coalesce == handler.coalesce
        )
    )
