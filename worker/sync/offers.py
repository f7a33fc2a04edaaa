"""deal.opened / deal.updated / deal.lost -> a sevDesk offer (Order of type AN).

The offer is a draft that follows the deal: an update replaces its positions. Once it is no longer
a draft (sent, accepted), sevDesk leads and updates are skipped (`not_draft`). Its business key is
the order number, which is the deal number: an order whose create answer was lost is found by it.
"""

from __future__ import annotations

import dataclasses

from sevsync_events.envelope import Envelope
from sevsync_events.payloads import Deal, DealClosed

from ..outcome_words import NO_CHANGE, SEVDESK_LEADS
from ..sevdesk.errors import NotFoundError
from ..sevdesk.statuses import DRAFT, ORDER_REJECTED, ORDER_SENT
from ..store.links import Link, LinkWrite
from . import deal_documents as dd
from . import deal_mapping as dm
from .agreed_state import document_state, state_hash
from .context import SyncContext
from .result import HandlerResult, linked_result

LINK_TYPE = dd.OFFER_LINK
ORDER = "Order"
OFFER = "AN"


def _spec(ctx: SyncContext, deal: Deal) -> dd.DraftSpec:
    api = ctx.api
    return dd.DraftSpec(
        link_type=LINK_TYPE,
        object_name=ORDER,
        position_name="OrderPos",
        kind="order",
        business_key=deal.number,
        what=f"order number {deal.number}",
        find=api.find_orders_by_number,
        get=api.get_order,
        positions=api.order_positions,
        save=api.save_order,
    )


async def sync_offer(ctx: SyncContext, event: Envelope[Deal]) -> HandlerResult:
    deal = event.data
    header = {
        "orderNumber": deal.number,
        "orderDate": dm.date_text(deal),
        "orderType": OFFER,
        "header": deal.title or f"Angebot {deal.number}",
        "status": DRAFT,
        "version": 0,
    }
    return await dd.sync_draft(ctx, deal, event.version, _spec(ctx, deal), header)


async def reject_offer(ctx: SyncContext, event: Envelope[DealClosed]) -> HandlerResult:
    """deal.lost: the offer is marked rejected (status 300), unless sevDesk has moved on."""
    deal_id = event.data.id
    link = await ctx.link(LINK_TYPE, deal_id)
    if link is None or link.sevdesk_id is None:
        # No offer in sevDesk: remember the deal at this version, so an older deal.opened is stale.
        known = LinkWrite(LINK_TYPE, deal_id, None, None, None, event.version)
        return linked_result(known, skip_reason=NO_CHANGE)
    try:
        order = await ctx.api.get_order(link.sevdesk_id)
    except NotFoundError:
        raise await ctx.gone(link) from None
    status = int(order.get("status") or DRAFT)
    relinked = dd.relink(link, event.version)
    # The state a rejection leaves, agreed: the CRM lost the deal, so it is never told back. Also
    # when the offer is rejected already (an earlier attempt's write that landed before a crash).
    rejected = dataclasses.replace(relinked, agreed_hash=state_hash(document_state("rejected", None)))
    if status == ORDER_REJECTED:
        return linked_result(rejected, skip_reason=NO_CHANGE)
    if status not in (DRAFT, ORDER_SENT):
        return linked_result(relinked, skip_reason=SEVDESK_LEADS)
    await ctx.api.update_order(link.sevdesk_id, {"status": ORDER_REJECTED})
    return linked_result(rejected)


async def mark_rejected(ctx: SyncContext, link: Link | None) -> None:
    """Reject the deal's offer if it is still open (deal.cancelled); anything else is left alone."""
    if link is None or link.sevdesk_id is None:
        return
    try:
        order = await ctx.api.get_order(link.sevdesk_id)
    except NotFoundError:
        return
    if int(order.get("status") or DRAFT) in (DRAFT, ORDER_SENT):
        await ctx.api.update_order(link.sevdesk_id, {"status": ORDER_REJECTED})
