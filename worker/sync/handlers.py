"""Which handler applies which event type. The broker binds exactly these routing keys."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sevsync_events.envelope import Envelope

from .context import SyncContext
from .customers import skip_deleted_customer, sync_customer
from .products import sync_product
from .result import HandlerResult

HandlerFn = Callable[[SyncContext, Envelope[Any]], Awaitable[HandlerResult]]


@dataclass(frozen=True)
class Handler:
    # The entity_link type the event's entity is linked as; also the unit of the stale check.
    link_entity_type: str
    run: HandlerFn
    # The tenant setting that switches this kind of event off, if there is one.
    auto_sync_setting: str | None = None


HANDLERS: dict[str, Handler] = {
    "customer.created": Handler("customer", sync_customer, "auto_sync_customers"),
    "customer.updated": Handler("customer", sync_customer, "auto_sync_customers"),
    "customer.deleted": Handler("customer", skip_deleted_customer),
    "product.created": Handler("product", sync_product, "auto_sync_products"),
    "product.updated": Handler("product", sync_product, "auto_sync_products"),
}
