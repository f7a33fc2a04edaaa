"""invoice.issued -> a sevDesk revenue voucher; invoice.cancelled -> one correcting voucher.

The CRM numbered and issued the invoice itself, so sevDesk gets it as a voucher (Beleg): revenue
(`creditDebit` D), open (status 100), one position per line booked on the account its accounting
code names. Vouchers are created open, so sevDesk leads afterwards: a changed invoice.issued is
skipped (`not_draft`). The business key is the voucher `description`, the invoice (or cancellation)
number, compared exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sevsync_events.envelope import Envelope
from sevsync_events.payloads import Invoice, InvoiceCancelled

from ..outcome_words import CANCELLED, NO_CHANGE, NOT_DRAFT, TAX_RULE_INVALID, UNKNOWN_BOOKING_ACCOUNT
from ..sevdesk.errors import SevdeskError
from ..sevdesk.objects import JsonObject, ref
from ..sevdesk.statuses import VOUCHER_OPEN
from ..store.links import LinkWrite
from ..tenants.settings import TenantSettings
from . import deal_documents as dd
from . import totals as tot
from .agreed_state import document_hash
from .contact_mapping import fingerprint
from .context import SyncContext
from .dates import document_date
from .document_intake import Document, invoice_document
from .part_mapping import decimal_text
from .recovery import create_or_recover, unique_match
from .result import HandlerResult, SyncFailure, WaitingFor, awaiting, linked_result
from .tax import TaxDecision, TaxRuleInvalid, tax_decision_for

LINK_TYPE = "invoice_voucher"
CANCELLATION_LINK_TYPE = "cancellation"
INVOICE_LINK_TYPES = (LINK_TYPE, CANCELLATION_LINK_TYPE)
VOUCHER = "Voucher"
REVENUE = "D"
MISMATCH_TAG = "mismatch"
# Fields of every voucher sevsync creates: a normal revenue voucher, open (never a draft).
REVENUE_VOUCHER: JsonObject = {
    "objectName": VOUCHER,
    "mapAll": True,
    "status": VOUCHER_OPEN,
    "creditDebit": REVENUE,
    "voucherType": "VOU",
}
# ReceiptGuidance names the rates a rule allows on an account by word.
RATE_NAMES = {Decimal(0): "ZERO", Decimal(7): "SEVEN", Decimal(19): "NINETEEN"}


@dataclass(frozen=True)
class _Counterparty:
    contact_id: str | None
    name: str | None

    def fields(self) -> JsonObject:
        if self.contact_id is not None:
            return {"supplier": ref("Contact", self.contact_id)}
        return {"supplierName": self.name}


async def sync_voucher(ctx: SyncContext, event: Envelope[Invoice]) -> HandlerResult:
    invoice = event.data
    dd.check_currency(invoice.currency)
    links = await ctx.links(INVOICE_LINK_TYPES, invoice.id)
    if any(link.cancelled for link in links.values()):
        return HandlerResult(status="skipped", reason=CANCELLED)
    payload_hash, *earlier_hashes = voucher_fingerprints(invoice)
    link = links.get(LINK_TYPE)
    if link is not None and link.sevdesk_id is not None:
        # Vouchers are created open: once there, sevDesk leads.
        unchanged = link.payload_hash in (payload_hash, *earlier_hashes)
        reason = NO_CHANGE if unchanged else NOT_DRAFT
        return linked_result(dd.relink(link, event.version), skip_reason=reason)

    # An earlier attempt's voucher (a lost answer, a crash after the save) is adopted before the
    # document is loaded: its url may have expired since, and the voucher holds the document already.
    existing = await _find_own(ctx, LINK_TYPE, invoice.id, invoice.number)
    # Else checked before anything is written: no voucher without its document.
    document = None if existing is not None else await _invoice_document(ctx, invoice)
    counterparty = await _counterparty(ctx, invoice)
    tax = await _tax(ctx, invoice, counterparty)
    accounts = await _booking_accounts(ctx, invoice, tax)
    lines = [(line.net_amount, tax.position_rate(line.tax_rate)) for line in invoice.lines]
    voucher = _revenue_voucher(invoice, counterparty, tax.tax_rule, ctx.tenant.settings)
    positions = [
        _position(accounts[index], amount, rate, line.name)
        for index, ((amount, rate), line) in enumerate(zip(lines, invoice.lines, strict=True))
    ]
    voucher_id = existing or await _create_once(
        ctx, LINK_TYPE, invoice.id, invoice.number, voucher, positions, document, searched=True
    )
    read_back = await ctx.api.get_voucher(voucher_id)
    dd.check_totals(f"voucher {invoice.number}", read_back, tot.amounts_totals(lines))
    details: dict[str, Any] = {}
    if counterparty.contact_id is None:
        await _tag_mismatch(ctx, voucher_id)
        details["mismatch"] = True
    written = LinkWrite(
        LINK_TYPE,
        invoice.id,
        VOUCHER,
        voucher_id,
        invoice.number,
        event.version,
        payload_hash,
        details,
        # The state this write left: the reconciler never tells it back.
        agreed_hash=document_hash(VOUCHER, read_back),
    )
    return linked_result(written)


def _revenue_voucher(
    invoice: Invoice, counterparty: _Counterparty, tax_rule: int, settings: TenantSettings
) -> JsonObject:
    """The voucher's own fields for a CRM invoice (its positions go separately)."""
    voucher: JsonObject = {
        "taxRule": ref("TaxRule", tax_rule),
        "voucherDate": document_date(invoice.date),
        "deliveryDate": document_date(invoice.delivery_date or invoice.date),
        "paymentDeadline": document_date(invoice.date + timedelta(days=settings.voucher_due_days)),
        "description": invoice.number,
        "currency": invoice.currency,
        **counterparty.fields(),
    }
    if settings.cost_centre_id:
        voucher["costCentre"] = ref("CostCentre", settings.cost_centre_id)
    return voucher


def voucher_fingerprints(invoice: Invoice) -> tuple[str, str]:
    """The invoice's change hash, then the one links written before `document` existed hold (no key).

    The document is left out (hashed as null, as links of invoices without one hold it): an unchanged
    invoice re-sent with a freshly signed url is no_change. A changed document would not be applied
    anyway: the voucher is created open, and sevDesk leads from then on.
    """
    dump = invoice.model_dump(mode="json")
    dump["document"] = None
    earlier = {key: value for key, value in dump.items() if key != "document"}
    return fingerprint(dump), fingerprint(earlier)


async def cancel_voucher(ctx: SyncContext, event: Envelope[InvoiceCancelled]) -> HandlerResult:
    """One correcting voucher: the original's positions negated, numbered with the cancellation number."""
    cancelled = event.data
    links = await ctx.links(INVOICE_LINK_TYPES, cancelled.id)
    original = links.get(LINK_TYPE)
    if original is None or original.sevdesk_id is None:
        raise awaiting(f"invoice {cancelled.id} has no voucher in sevDesk yet")
    done = links.get(CANCELLATION_LINK_TYPE)
    # A deal with the same id may hold the row (its cancellation invoice): only a voucher is ours.
    if done is not None and done.sevdesk_object == VOUCHER and done.sevdesk_id is not None:
        return linked_result(dd.relink(done, event.version), skip_reason=NO_CHANGE)

    api = ctx.api
    source = await api.get_voucher(original.sevdesk_id)
    lines: list[tuple[Decimal, Decimal]] = []
    positions = []
    for position in await api.voucher_positions(original.sevdesk_id):
        amount = -Decimal(str(position.get("sumNet")))
        rate = Decimal(str(position.get("taxRate")))
        lines.append((amount, rate))
        account = position.get("accountDatev") or {}
        positions.append(
            _position(str(account.get("id")), amount, rate, f"Storno: {position.get('comment') or ''}")
        )
    voucher: JsonObject = {
        "taxRule": ref("TaxRule", str((source.get("taxRule") or {}).get("id"))),
        "voucherDate": document_date(cancelled.date),
        "deliveryDate": document_date(cancelled.date),
        "paymentDeadline": document_date(cancelled.date),
        "description": cancelled.number,
        "currency": source.get("currency") or "EUR",
    }
    for key in ("supplier", "supplierName", "costCentre"):
        if source.get(key):
            voucher[key] = source[key]
    voucher_id = await _create_once(
        ctx, CANCELLATION_LINK_TYPE, cancelled.id, cancelled.number, voucher, positions
    )
    dd.check_totals(
        f"correcting voucher {cancelled.number}", await api.get_voucher(voucher_id), tot.amounts_totals(lines)
    )
    correction = LinkWrite(
        CANCELLATION_LINK_TYPE, cancelled.id, VOUCHER, voucher_id, cancelled.number, event.version
    )
    # The invoice is cancelled now: a later invoice.issued for it is skipped.
    return replace(
        linked_result(correction), links=(correction, dd.relink(original, event.version, cancelled=True))
    )


async def _create_once(
    ctx: SyncContext,
    link_type: str,
    entity_id: str,
    number: str,
    voucher: JsonObject,
    positions: list[JsonObject],
    document: Document | None = None,
    *,
    searched: bool = False,
) -> str:
    """The voucher numbered `number`: adopted if it exists (a lost answer, or made by hand), else
    created from `voucher` and the fields of REVENUE_VOUCHER, with `document` attached.
    `searched`: the caller has just looked for it (`_find_own`) and found none."""
    api = ctx.api
    what = f"voucher {number}"
    found = None if searched else await _find_own(ctx, link_type, entity_id, number)
    if found is not None:
        return found
    body: JsonObject = {
        "voucher": {**REVENUE_VOUCHER, **voucher},
        "voucherPosSave": positions,
        "voucherPosDelete": None,
    }
    # The intent first: while an earlier attempt's save may still land, nothing is uploaded either.
    pending = await ctx.begin_create(link_type, entity_id, VOUCHER, number)
    if document is not None:
        # Uploaded for every attempt to save (it makes only a temp file, which the save uses up): an
        # attempt that died after its upload uploads again, and the voucher is still saved once.
        try:
            upload = await api.upload_temp_file(document.filename, document.content_type, document.data)
        except SevdeskError:
            # The save was never sent: nothing of it can land, so the next attempt need not wait.
            await ctx.drop_intent(link_type, entity_id, VOUCHER)
            raise
        body["filename"] = upload
    answer, _ = await create_or_recover(
        ctx,
        pending,
        lambda: api.save_voucher(body),
        lambda: api.find_vouchers_by_description(number),
        what,
    )
    return str(answer.get("voucher", answer)["id"])


async def _find_own(ctx: SyncContext, link_type: str, entity_id: str, number: str) -> str | None:
    """The id of the voucher numbered `number`, if one exists and no other entity holds it.

    The number is the CRM's own key (CONTRACT section 8): the voucher holding it is the invoice's."""
    found = unique_match(await ctx.api.find_vouchers_by_description(number), f"voucher {number}")
    if found is None:
        return None
    await ctx.ensure_unclaimed(link_type, entity_id, VOUCHER, str(found["id"]))
    return str(found["id"])


async def _invoice_document(ctx: SyncContext, invoice: Invoice) -> Document | None:
    """The invoice's document, checked; while an earlier attempt's save may still land (its voucher
    not visible yet), a refusal waits rather than fails: that voucher would hold the document."""
    try:
        return await invoice_document(ctx.documents, invoice)
    except (SyncFailure, WaitingFor):
        intent = await ctx.intent(LINK_TYPE, invoice.id, VOUCHER)
        if intent is not None and intent.may_still_land(ctx.settle_seconds):
            raise ctx.may_still_land(VOUCHER, intent.business_key) from None
        raise


def _position(account_id: str, amount: Decimal, rate: Decimal, comment: str) -> JsonObject:
    return {
        "objectName": "VoucherPos",
        "mapAll": True,
        "accountDatev": ref("AccountDatev", account_id),
        "taxRate": decimal_text(rate),
        "net": True,  # all positions carry net amounts; sevDesk adds the tax
        "sumNet": decimal_text(amount),
        "comment": comment,
    }


async def _counterparty(ctx: SyncContext, invoice: Invoice) -> _Counterparty:
    """The contact with the invoice's customer number, or just the customer's name when none has it."""
    number = invoice.customer_number
    if number is not None:
        found = unique_match(await ctx.api.find_contacts_by_number(number), f"customer number {number}")
        if found is not None:
            return _Counterparty(str(found["id"]), None)
    return _Counterparty(None, invoice.customer_name or number or "unbekannt")


async def _tax(ctx: SyncContext, invoice: Invoice, counterparty: _Counterparty) -> TaxDecision:
    settings = ctx.tenant.settings
    country: str | None = None
    vat_id: str | None = None
    needs_customer = (invoice.tax_type or settings.default_tax_type) != "standard"
    if (
        needs_customer
        and counterparty.contact_id is not None
        and not settings.small_business_on(invoice.date)
    ):
        # Only the non-standard tax types depend on the customer: read it from sevDesk then.
        contact = await ctx.api.get_contact(counterparty.contact_id)
        vat_id = str(contact.get("vatNumber") or "") or None
        for address in await ctx.api.list_addresses(counterparty.contact_id):
            country_id = (address.get("country") or {}).get("id")
            if country_id is not None:
                country = await ctx.lookups.country_code(ctx.api, str(country_id))
                break
    try:
        return tax_decision_for(
            settings,
            document_date=invoice.date,
            tax_type=invoice.tax_type,
            customer_country=country,
            customer_vat_id=vat_id,
            line_rates=[line.tax_rate for line in invoice.lines],
            kind="voucher",
        )
    except TaxRuleInvalid as exc:
        raise SyncFailure(TAX_RULE_INVALID, f"invoice {invoice.number}: {exc}") from None


async def _booking_accounts(ctx: SyncContext, invoice: Invoice, tax: TaxDecision) -> list[str]:
    """sevDesk's booking account (accountDatev id) for each line, checked against the tax rule."""
    booking_accounts = ctx.tenant.settings.booking_accounts
    guidance = {str(a.get("accountNumber")): a for a in await ctx.api.revenue_guidance()}
    ids = []
    for line in invoice.lines:
        number = booking_accounts.get(line.accounting_code, line.accounting_code)
        account = guidance.get(number)
        named = (
            line.accounting_code
            if number == line.accounting_code
            else f"{line.accounting_code} (account {number})"
        )
        if account is None or "REVENUE" not in (account.get("allowedReceiptTypes") or ["REVENUE"]):
            raise SyncFailure(
                UNKNOWN_BOOKING_ACCOUNT,
                f"invoice {invoice.number}: accounting code {named} names no revenue booking account "
                "in sevDesk",
                VOUCHER,
            )
        rate = tax.position_rate(line.tax_rate)
        rules = {str(r.get("id")): r for r in account.get("allowedTaxRules") or []}
        rule = rules.get(str(tax.tax_rule))
        if rule is None or RATE_NAMES.get(rate) not in (rule.get("taxRates") or []):
            raise SyncFailure(
                TAX_RULE_INVALID,
                f"invoice {invoice.number}: booking account {number} does not allow tax rule "
                f"{tax.tax_rule} ({tax.rule_code}) at {rate} %",
                VOUCHER,
            )
        ids.append(str(account["accountDatevId"]))
    return ids


async def _tag_mismatch(ctx: SyncContext, voucher_id: str) -> None:
    """Mark a voucher whose customer was not found, so that someone in accounting assigns it."""
    if not await ctx.api.has_tag(MISMATCH_TAG, VOUCHER, voucher_id):
        await ctx.api.tag(MISMATCH_TAG, VOUCHER, voucher_id)
