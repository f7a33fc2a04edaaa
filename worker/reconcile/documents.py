"""Documents: linked offers (Order AN), invoices and vouchers whose `update` moved since the cursor.

Each list takes updateAfter, so an unchanged account costs one call per object. A cancellation
invoice (SR) names the invoice it cancels as `origin`; the original's status stays, so a changed,
finalised linked invoice is looked up among cancellations unless the listing showed its SR; an SR
listed for a linked original the listing did not show (its stamp did not move) has the original
read and compared, cancelled. A sweep lists every document and finds deletions (a 404 confirms each).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Final

from sevsync_events.outbound import DocumentStatusChanged
from sevsync_events.registry import DOCUMENT_STATUS_CHANGED

from ..imports.mapping import id_of, ref_id
from ..sevdesk.errors import NotFoundError
from ..sevdesk.objects import JsonObject
from ..sevdesk.statuses import DRAFT, status_code
from ..store.reconcile import Cursor, LinkedObject, booked_amounts, linked_objects, writes_in_flight
from ..sync.agreed_state import document_state, document_status, state_hash
from .kinds import BATCH, KindRun, newer, stamp_of, updated_after

# The link types whose sevDesk document the CRM is told about, per object.
LINK_TYPES: Final[Mapping[str, str]] = {
    "Order": "deal_order",
    "Invoice": "deal_invoice",
    "Voucher": "invoice_voucher",
}
CANCELLATION: Final = "SR"


async def reconcile_documents(run: KindRun, cursor: Cursor) -> datetime | None:
    """Tell the status changes of linked documents; the next cursor (see `KindRun.next_cursor`)."""
    since = None if run.sweep else cursor.changed_after
    run.full_listing = since is None
    run.start()  # before the Order list: an offer changed while later lists run stays ahead
    newest = cursor.changed_after
    for object_name in LINK_TYPES:
        listing = (
            run.api.every_of(object_name)
            if since is None
            else run.api.changed_after(object_name, updated_after(since))
        )
        documents: list[JsonObject] = []
        async for document in listing:
            newest = newer(newest, document)
            if id_of(document) is not None:
                documents.append(document)
        await _examine_all(run, object_name, documents)
        if since is None:
            await _find_deleted(run, object_name, {str(d["id"]) for d in documents})
    run.teller.counts.swept = since is None
    return run.next_cursor(newest)


async def _examine_all(run: KindRun, object_name: str, documents: list[JsonObject]) -> None:
    cancelled = {
        origin
        for d in documents
        if d.get("invoiceType") == CANCELLATION and (origin := ref_id(d.get("origin"))) is not None
    }
    for start in range(0, len(documents), BATCH):
        batch = {str(d["id"]): d for d in documents[start : start + BATCH]}
        links = await linked_objects(
            run.conn, run.tenant.tenant_id, [LINK_TYPES[object_name]], object_name, list(batch)
        )
        if not run.sweep:
            # Listed again by the cursor's overlap, at the stamp examined before: nothing changed,
            # unless an SR listed now cancels it (the original's stamp need not move).
            links = [
                link
                for link in links
                if link.sevdesk_id in cancelled
                or not run.seen_before(link.seen_update, batch[link.sevdesk_id])
            ]
        await _examine_links(run, object_name, links, batch, cancelled)
    await _examine_unlisted_originals(run, cancelled - {str(d["id"]) for d in documents}, cancelled)


async def _examine_unlisted_originals(run: KindRun, unlisted: set[str], cancelled: set[str]) -> None:
    """Linked invoices cancelled without their own `update` moving: only their SR was listed.

    Each is read once (one GET per linked original) to compare its state, cancelled.
    """
    ids = sorted(unlisted)
    for start in range(0, len(ids), BATCH):
        links = await linked_objects(
            run.conn, run.tenant.tenant_id, [LINK_TYPES["Invoice"]], "Invoice", ids[start : start + BATCH]
        )
        originals: dict[str, JsonObject] = {}
        for link in links:
            with contextlib.suppress(NotFoundError):  # deleted meanwhile: the sweep breaks its link
                originals[link.sevdesk_id] = await run.api.get_invoice(link.sevdesk_id)
        found = [link for link in links if link.sevdesk_id in originals]
        await _examine_links(run, "Invoice", found, originals, cancelled)


async def _examine_links(
    run: KindRun,
    object_name: str,
    links: list[LinkedObject],
    documents: Mapping[str, JsonObject],
    cancelled: set[str],
) -> None:
    # sevsync's own booking or cancellation in flight: neither told nor noted seen this run (a
    # later change of it or the next sweep compares it again, once its handler committed).
    in_flight = await writes_in_flight(
        run.conn, run.tenant.tenant_id, object_name, [k.sevdesk_id for k in links]
    )
    links = [link for link in links if link.sevdesk_id not in in_flight]
    booked = await booked_amounts(run.conn, run.tenant.tenant_id, object_name, [k.sevdesk_id for k in links])
    for link in links:
        document = documents[link.sevdesk_id]
        is_cancelled = link.sevdesk_id in cancelled or await _cancelled(run, object_name, document)
        await _compare(run, link, document, is_cancelled, booked.get(link.sevdesk_id))
    run.examined(len(links))
    await run.teller.flush()


async def _cancelled(run: KindRun, object_name: str, document: JsonObject) -> bool:
    """Whether a finalised invoice has a cancellation (one call, for changed linked invoices only).

    A full listing held every SR already: none named this invoice."""
    if object_name != "Invoice" or status_code(document.get("status")) == DRAFT or run.full_listing:
        return False
    return bool(await run.api.find_cancellations_of(str(document["id"])))


async def _compare(
    run: KindRun, link: LinkedObject, document: JsonObject, cancelled: bool, booked: Decimal | None
) -> None:
    stamp = document.get("update")
    seen = stamp if isinstance(stamp, str) else None
    found = document_status(link.sevdesk_object, document, cancelled=cancelled)
    if found is None:
        run.teller.counts.invalid += 1  # a status the CRM's words do not cover (e.g. recurring)
        await run.teller.seen(link, seen)  # not read again until it changes
        return
    status, paid, open_amount = found
    data = DocumentStatusChanged(
        entity_type=link.entity_type,
        entity_id=link.entity_id,
        sevdesk_object=link.sevdesk_object,
        sevdesk_id=link.sevdesk_id,
        status=status,
        paid_amount=paid,
        open_amount=open_amount,
        changed_at=stamp_of(document),
    )
    # sevsync's own writes: the payments it booked, the cancellation or rejection it made.
    own = (
        (status in ("paid", "partially_paid") and booked is not None and paid == booked)
        or (status in ("cancelled", "rejected") and link.cancelled)
        # Agreed before the open amount was part of the state: adopt it once, untold (no flood).
        or link.agreed_hash == state_hash(document_state(status, paid))
    )
    new_hash = state_hash(document_state(status, paid, open_amount))
    await run.teller.change(link, DOCUMENT_STATUS_CHANGED, data, new_hash, seen, own=own)


async def _find_deleted(run: KindRun, object_name: str, listed: set[str]) -> None:
    for link in await linked_objects(run.conn, run.tenant.tenant_id, [LINK_TYPES[object_name]], object_name):
        if link.sevdesk_id in listed:
            continue
        try:
            await _get(run, object_name, link.sevdesk_id)
        except NotFoundError:
            await run.teller.broken(link)
    await run.teller.flush()


async def _get(run: KindRun, object_name: str, document_id: str) -> JsonObject:
    if object_name == "Order":
        return await run.api.get_order(document_id)
    if object_name == "Invoice":
        return await run.api.get_invoice(document_id)
    return await run.api.get_voucher(document_id)
