"""deal.won -> a draft sevDesk invoice (RE); deal.cancelled -> the invoice deleted or cancelled.

sevsync never finalises or sends an invoice: it stays a draft (status 100) until someone opens it in
sevDesk, which also gives it its number. Its business key is an exact `customerInternalNote` marker,
since a draft has no number yet. sevsync makes the marker up, and others' invoices can carry it (a
copy, a cancellation), so one found by it is adopted only when it is provably the one created; a
marker held by others only is given up for "<marker> (2)" and so on. While the invoice is a draft a
newer deal.won replaces its positions; after that sevDesk leads (`not_draft`). Where the delivery
date goes is the tenant's `delivery_date_in_head_text`, learned from the account's first refusal
(invoice_dates.py). An open invoice that is cancelled gets a cancellation invoice (SR), linked as
the deal's `cancellation`.
"""

from __future__ import annotations

import contextlib
import logging

from sevsync_events.envelope import Envelope
from sevsync_events.payloads import Deal, DealClosed

from ..outcome_words import EINVOICE_DATA_MISSING, NO_CHANGE
from ..sevdesk.errors import NotFoundError, PermanentError
from ..sevdesk.objects import JsonObject
from ..sevdesk.statuses import DRAFT
from ..store.links import Link, LinkWrite
from . import customers, einvoice, invoice_dates, offers, ownership, vouchers
from . import deal_documents as dd
from . import deal_mapping as dm
from .context import SyncContext
from .recovery import create_or_recover
from .result import HandlerResult, SyncFailure

log = logging.getLogger(__name__)

LINK_TYPE = dd.INVOICE_LINK
INVOICE = "Invoice"
REGULAR_INVOICE = "RE"
# The intent kind of a cancelInvoice call (its effect is a new SR invoice whose origin is ours).
CANCELLATION = "CancellationInvoice"
# The deal's link to that SR invoice; CRM invoices link their correcting voucher under the same type.
CANCELLATION_LINK = vouchers.CANCELLATION_LINK_TYPE
# sevDesk's error code for "this invoice is already cancelled".
ALREADY_CANCELLED = 421


def invoice_marker(deal_id: str) -> str:
    """The deal invoice's business key, kept in its internal note (not printed on the invoice)."""
    return f"sevsync deal {deal_id}"


async def sync_deal_invoice(ctx: SyncContext, event: Envelope[Deal]) -> HandlerResult:
    in_head_text = ctx.tenant.settings.delivery_date_in_head_text
    try:
        return await _sync_invoice(ctx, event, in_head_text=in_head_text)
    except PermanentError as exc:
        if in_head_text or not invoice_dates.refuses_equal_dates(exc):
            raise
        refusal = exc.describe()
    # The account refuses a delivery date equal to the invoice date: remember it for the tenant's
    # later invoices, and save this one again with the date in the head text.
    await ctx.learn_settings({"delivery_date_in_head_text": True})
    log.warning(
        "tenant %s: sevDesk refused an invoice delivered on its date (%s); deal invoices state the "
        "delivery date in the head text from now on",
        ctx.tenant_id,
        refusal,
    )
    # sevDesk answered the refused save, so nothing of it can still land. The intent stays, settled:
    # when the refused save was the update of a draft an earlier attempt created, it is the proof
    # that the draft is sevsync's own (see deal_documents._own_document).
    await ctx.settle_intent(LINK_TYPE, event.data.id, INVOICE)
    return await _sync_invoice(ctx, event, in_head_text=True)


async def _sync_invoice(ctx: SyncContext, event: Envelope[Deal], *, in_head_text: bool) -> HandlerResult:
    deal = event.data
    api = ctx.api
    marker = invoice_marker(deal.id)
    plan = einvoice.plan_for(ctx.tenant.settings, deal)

    def for_draft(header: JsonObject, draft: JsonObject) -> JsonObject:
        dated = invoice_dates.date_fields_for_draft(header, draft, deal.date, in_head_text=in_head_text)
        return einvoice.for_draft(dated, draft, einvoice=plan is not None)

    spec = dd.DraftSpec(
        link_type=LINK_TYPE,
        object_name=INVOICE,
        position_name="InvoicePos",
        kind="invoice",
        business_key=marker,
        what=f"the invoice of deal {deal.number}",
        find=api.find_invoices_by_note,
        get=api.get_invoice,
        positions=api.invoice_positions,
        save=api.save_invoice,
        # saveInvoice expects these keys present; document discounts are negative positions instead.
        save_extras={"discountSave": None, "discountDelete": None},
        # The marker is sevsync's own: a document found by it must prove it is the one created.
        made_up_key=dd.MadeUpKey("customerInternalNote", ownership.INVOICE),
        for_draft=for_draft,
        check=(lambda: check_einvoice(ctx, deal, plan)) if plan is not None else None,
    )
    header = {
        "invoiceDate": dm.date_text(deal),
        **invoice_dates.date_fields(deal.date, in_head_text=in_head_text),
        "invoiceType": REGULAR_INVOICE,
        "header": deal.title or f"Rechnung zu {deal.number}",
        "status": DRAFT,
        "discount": 0,  # no cash discount (Skonto)
        "customerInternalNote": marker,
        **(einvoice.header_fields(plan) if plan is not None else {}),
    }
    return await dd.sync_draft(ctx, deal, event.version, spec, header)


async def check_einvoice(ctx: SyncContext, deal: Deal, plan: einvoice.EInvoicePlan) -> None:
    """Fail, naming every missing field, before an e-invoice lacking data is written (CONTRACT 9).

    The linked contact is read as sevDesk holds it (two reads, for e-invoices only); a customer not
    linked yet is checked as its contact will be created. Nothing is written before this passes.
    """
    customer = deal.customer
    link = await ctx.linked_object(customers.ENTITY, customer.id)
    facts: einvoice.ContactFacts | None
    if link is None:
        facts = einvoice.customer_facts(customer)
    else:
        try:
            contact = await ctx.api.get_contact(link.object_id)
        except NotFoundError:
            facts = None  # deleted in sevDesk: the invoice would have no contact
        else:
            ways = await ctx.api.list_communication_ways(link.object_id)
            facts = einvoice.contact_facts(contact, ways)
    missing = einvoice.missing_fields(plan, facts, customer)
    if missing:
        raise SyncFailure(EINVOICE_DATA_MISSING, einvoice.missing_message(deal, plan, missing), INVOICE)


async def cancel_deal(ctx: SyncContext, event: Envelope[DealClosed]) -> HandlerResult:
    """Reject the offer; delete a draft invoice, cancel an open one, each at most once."""
    deal_id = event.data.id
    version = event.version
    links = await ctx.links(dd.DEAL_LINK_TYPES, deal_id)
    offer_link = links.get(offers.LINK_TYPE)
    await offers.mark_rejected(ctx, offer_link)
    written = [dd.relink(offer_link, version, cancelled=True)] if offer_link else []

    link = links.get(LINK_TYPE)
    if link is None or link.sevdesk_id is None:
        # No invoice: the cancellation is remembered, so a later deal.won is skipped (`cancelled`).
        written.append(LinkWrite(LINK_TYPE, deal_id, None, None, None, version, cancelled=True))
        return _result(written, offer_link, skip=offer_link is None or offer_link.sevdesk_id is None)
    if link.cancelled:
        written.append(dd.relink(link, version, cancelled=True))
        return _result(written, await _own_cancellation(ctx, deal_id) or link, skip=True)

    invoice_id = link.sevdesk_id
    try:
        invoice = await ctx.api.get_invoice(invoice_id)
    except NotFoundError:
        invoice = None  # deleted in sevDesk already: nothing left to cancel
    if invoice is None:
        written.append(dd.relink(link, version, cancelled=True, deleted=True))
    elif int(invoice.get("status") or DRAFT) == DRAFT:
        # NotFound: a repeated delete whose first answer was lost.
        with contextlib.suppress(NotFoundError):
            await ctx.api.delete_invoice(invoice_id)
        written.append(dd.relink(link, version, cancelled=True, deleted=True))
    else:
        cancellation = await _cancel_once(ctx, deal_id, invoice_id)
        cancellation_id = str(cancellation["id"]) if cancellation else None
        written.append(dd.relink(link, version, cancelled=True, cancellation_id=cancellation_id))
        if cancellation is not None:
            await _link_cancellation(ctx, deal_id, cancellation)
            return HandlerResult(
                status="succeeded",
                sevdesk_object=INVOICE,
                sevdesk_id=cancellation_id,
                sevdesk_number=dm.document_number(cancellation),
                links=tuple(written),
            )
    return _result(written, link, skip=False)


async def _cancel_once(ctx: SyncContext, deal_id: str, invoice_id: str) -> JsonObject | None:
    """The invoice's cancellation invoice (SR), created by this call unless one exists already.

    sevDesk refuses a second cancellation (code 421), so after a lost answer the SR whose origin is
    the invoice is looked for instead of calling again.
    """
    api = ctx.api
    existing = await api.find_cancellations_of(invoice_id)
    if existing:
        return existing[0]
    pending = await ctx.begin_create(LINK_TYPE, deal_id, CANCELLATION, invoice_id)
    try:
        answer, _ = await create_or_recover(
            ctx,
            pending,
            lambda: api.cancel_invoice(invoice_id),
            lambda: api.find_cancellations_of(invoice_id),
            f"the cancellation of invoice {invoice_id}",
        )
    except PermanentError as exc:
        if exc.code != ALREADY_CANCELLED:
            raise
        # Cancelled by someone else (in sevDesk) meanwhile: adopt their cancellation if it is visible.
        found = await api.find_cancellations_of(invoice_id)
        return found[0] if found else None
    return answer  # cancelInvoice answers the SR invoice itself


async def _link_cancellation(ctx: SyncContext, deal_id: str, cancellation: JsonObject) -> None:
    """Record the SR invoice as the deal's `cancellation` link (entity_id = the deal id).

    The type is shared with CRM invoices (entity_id = the invoice id), and a deal and an invoice may
    carry the same id. So the link is written at once by a statement that leaves an invoice's row
    alone, not with the outcome (which would also end the write intents of the invoice's correcting
    voucher). It carries no version: the deal's is on its deal_invoice link, and one here would make
    the invoice's events look stale. If the invoice holds the row, the SR stays on the deal_invoice link.
    """
    written = await ctx.link_unless_other_kind(
        LinkWrite(
            CANCELLATION_LINK,
            deal_id,
            INVOICE,
            str(cancellation["id"]),
            dm.document_number(cancellation),
            None,
        ),
    )
    if not written:
        log.warning(
            "tenant %s: the cancellation link of deal %s is held by the CRM invoice with the same id; "
            "the deal's cancellation invoice %s is recorded on its deal_invoice link only",
            ctx.tenant_id,
            deal_id,
            cancellation["id"],
        )


async def _own_cancellation(ctx: SyncContext, deal_id: str) -> Link | None:
    """The deal's `cancellation` link; None when there is none or a CRM invoice's holds the id."""
    link = await ctx.linked_object(CANCELLATION_LINK, deal_id)
    return link if link is not None and link.sevdesk_object == INVOICE else None


def _result(written: list[LinkWrite], shown: Link | None, *, skip: bool) -> HandlerResult:
    return HandlerResult(
        status="skipped" if skip else "succeeded",
        reason=NO_CHANGE if skip else None,
        sevdesk_object=shown.sevdesk_object if shown else None,
        sevdesk_id=shown.sevdesk_id if shown else None,
        sevdesk_number=shown.sevdesk_number if shown else None,
        links=tuple(written),
    )
