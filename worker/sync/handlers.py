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


@dataclass(frozen=True)
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


HANDLERS: dict[str, Handler] = {
    "customer.created": Handler("customer", sync_customer, ("customer",), "auto_sync_customers", "customer"),
    "customer.updated": Handler("customer", sync_customer, ("customer",), "auto_sync_customers", "customer"),
    "customer.deleted": Handler("customer", skip_deleted_customer, ("customer",)),
    "product.created": Handler("product", sync_product, ("product",), "auto_sync_products", "product"),
    "product.updated": Handler("product", sync_product, ("product",), "auto_sync_products", "product"),
    "deal.opened": Handler("deal", offers.sync_offer, DEAL_LINKS, coalesce="offer"),
    "deal.updated": Handler("deal", offers.sync_offer, DEAL_LINKS, coalesce="offer"),
    "deal.lost": Handler("deal", offers.reject_offer, DEAL_LINKS),
    "deal.won": Handler("deal", invoices.sync_deal_invoice, DEAL_LINKS),
    "deal.cancelled": Handler("deal", invoices.cancel_deal, DEAL_LINKS),
    "invoice.issued": Handler("invoice", vouchers.sync_voucher, INVOICE_LINKS),
    "invoice.cancelled": Handler("invoice", vouchers.cancel_voucher, INVOICE_LINKS),
    "payment.received": Handler("payment", payments.book_payment, (payments.LINK_TYPE,)),
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
