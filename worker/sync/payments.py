"""payment.received -> `bookAmount` on the sevDesk invoice or voucher the payment is for.

The booking type follows the real API, which takes `FULL_PAYMENT` only for exactly the open amount
(gross less paid): that amount books as a full payment, less as a partial one (`N`), and more is not
booked at all but fails `overpaid`, naming both figures, for a person to sort out. A document still
in draft (a deal invoice not yet sent, a voucher a person reset to draft) cannot be booked: the
payment waits for it to be opened.

A booking has no business key of its own, so it is checked by the document's paid amount (CONTRACT
section 8): the intent records the amount paid before the call, and after a lost answer the booking
counts as done when the paid amount has grown by the payment. That only holds while nothing else
books on the document, so bookings on one document are serialised, and one waits while another
payment's booking on the same document is unconfirmed.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sevsync_events.envelope import Envelope
from sevsync_events.payloads import Payment

from ..outcome_words import CANCELLED, NO_CHANGE, OVERPAID, UNKNOWN_CHECK_ACCOUNT, UNMATCHED
from ..sevdesk.errors import AnsweredWriteError, PermanentError, UncertainWriteError
from ..sevdesk.objects import JsonObject, ref
from ..sevdesk.rewrites import RewriteBudget
from ..sevdesk.statuses import DRAFT_STATUS
from ..store.intents import booking_kind as booking_kind_of
from ..store.links import LinkWrite
from . import deal_documents as dd
from . import deal_mapping as dm
from .context import SyncContext
from .dates import berlin_datetime, unix_timestamp
from .part_mapping import decimal_text
from .result import HandlerResult, SyncFailure, WaitingFor, awaiting, linked_result
from .vouchers import INVOICE_LINK_TYPES
from .vouchers import LINK_TYPE as VOUCHER_LINK

LINK_TYPE = "payment"
FULL_PAYMENT = "FULL_PAYMENT"
PARTIAL_PAYMENT = "N"
ONLINE = "online"


@dataclass(frozen=True)
class _Target:
    object_name: str  # "Invoice" (a won deal's) or "Voucher" (a CRM-issued invoice's)
    id: str
    number: str | None


async def book_payment(ctx: SyncContext, event: Envelope[Payment]) -> HandlerResult:
    payment = event.data
    link = await ctx.link(LINK_TYPE, payment.id)
    if link is not None and link.sevdesk_id is not None:
        # The same payment books once, whatever arrives again.
        return linked_result(dd.relink(link, event.version), skip_reason=NO_CHANGE)
    # A setup gap is named first, before waiting for a document that may never help.
    method = payment.payment_method or ""
    check_account_id = ctx.tenant.settings.check_accounts.get(method)
    if check_account_id is None:
        raise SyncFailure(
            UNKNOWN_CHECK_ACCOUNT,
            f"payment method {method or '(none)'} has no sevDesk check account; "
            f"map it with `sevsync tenant settings --check-account {method or 'METHOD'}=ID`",
        )
    target = await _target(ctx, payment)
    if target is None:
        return HandlerResult(status="skipped", reason=CANCELLED)
    booking_kind = booking_kind_of(target.object_name, target.id)
    async with ctx.entity_lock("document", booking_kind):
        details = await _book_once(ctx, payment, target, check_account_id, booking_kind)
    number = details.pop("document_number", None) or target.number
    written = LinkWrite(
        LINK_TYPE, payment.id, target.object_name, target.id, number, event.version, details=details
    )
    return linked_result(written)


async def _book_once(
    ctx: SyncContext, payment: Payment, target: _Target, check_account_id: str, booking_kind: str
) -> dict[str, str | None]:
    """Book the payment on the document unless an earlier attempt did; the details of its link."""
    await _wait_for_other_bookings(ctx, payment, target, booking_kind)
    document = await _get(ctx, target)
    if int(document.get("status") or 0) == DRAFT_STATUS[target.object_name]:
        raise awaiting(f"{target.object_name.lower()} {target.id} is still a draft in sevDesk")
    paid = _paid(document)
    details: dict[str, str | None] = {
        "check_account_id": check_account_id,
        "amount": str(payment.amount),
        "document_number": dm.document_number(document),
    }

    pending = await ctx.intent(LINK_TYPE, payment.id, booking_kind)
    if pending is not None:
        if paid >= Decimal(pending.business_key) + payment.amount:
            return details  # the earlier attempt's booking landed
        if pending.may_still_land(ctx.settle_seconds):
            raise UncertainWriteError(
                "an earlier attempt's booking may still land; looking again later",
                method="PUT",
                path=_booking_path(target),
            )

    open_amount = _open_amount(document, paid)
    if payment.amount > open_amount:
        if pending is not None:
            # Its booking did not land (checked above), so it must not hold up other payments.
            await ctx.drop_intent(LINK_TYPE, payment.id, booking_kind)
        raise SyncFailure(
            OVERPAID,
            f"payment {payment.id} of {payment.amount:.2f} exceeds the open amount {open_amount:.2f} of "
            f"{_describe(target, document)}; nothing was booked",
            target.object_name,
        )

    check_account = await ctx.api.get_check_account(check_account_id)
    transaction = None
    if check_account.get("type") == ONLINE:
        # Banks carry the invoice number in the purpose unless the CRM knows a better reference.
        purpose = payment.reference or dm.document_number(document)
        transaction = await _matching_transaction(ctx, payment, purpose, check_account_id)
        details["transaction_id"] = str(transaction["id"])
    body = _booking_body(payment, target, open_amount, check_account_id, transaction)
    await _book(ctx, payment, target, booking_kind, paid, body)
    return details


async def _wait_for_other_bookings(
    ctx: SyncContext, payment: Payment, target: _Target, booking_kind: str
) -> None:
    """Only one booking on a document may be unconfirmed: its paid amount is the proof of each."""
    others = await ctx.intents_of_others(LINK_TYPE, booking_kind, payment.id)
    if others:
        raise UncertainWriteError(
            f"the booking of payment {', '.join(others)} on {target.object_name.lower()} {target.id} "
            "is unconfirmed; booking this one after it",
            method="PUT",
            path=_booking_path(target),
        )


async def _book(
    ctx: SyncContext, payment: Payment, target: _Target, booking_kind: str, paid: Decimal, body: JsonObject
) -> None:
    """Send the booking once its intent records `paid`; after a lost answer, the paid amount tells."""
    await ctx.save_intent(LINK_TYPE, payment.id, booking_kind, str(paid))
    rewrites = RewriteBudget(ctx.api.retry_policy)
    while True:
        try:
            if target.object_name == "Invoice":
                await ctx.api.book_invoice(target.id, body)
            else:
                await ctx.api.book_voucher(target.id, body)
        except UncertainWriteError as failure:
            answered = failure if isinstance(failure, AnsweredWriteError) else None
            if answered is not None:
                # Ended on sevDesk's side: nothing of it is in flight, even if the look below fails.
                await ctx.settle_intent(LINK_TYPE, payment.id, booking_kind)
            if _paid(await _get(ctx, target)) >= paid + payment.amount:
                return
            # Answered 500/503 without effect: nothing in flight, so book again while the budget lasts.
            if answered is not None and await rewrites.another_write(answered):
                # The settle window of a later attempt counts from this booking, not the first.
                await ctx.resend_intent(LINK_TYPE, payment.id, booking_kind)
                continue
            raise
        except PermanentError:
            # sevDesk refused it: nothing was booked, so this intent must not hold up other payments.
            await ctx.drop_intent(LINK_TYPE, payment.id, booking_kind)
            raise
        return


def _booking_path(target: _Target) -> str:
    return f"/{target.object_name}/{target.id}/bookAmount"


def _booking_body(
    payment: Payment,
    target: _Target,
    open_amount: Decimal,
    check_account_id: str,
    transaction: JsonObject | None,
) -> JsonObject:
    body: JsonObject = {
        "amount": decimal_text(payment.amount),
        # Invoices take a Unix timestamp, vouchers a date-time; both the start of the day in Berlin.
        "date": unix_timestamp(payment.date)
        if target.object_name == "Invoice"
        else berlin_datetime(payment.date),
        # sevDesk refuses FULL_PAYMENT for any amount but the open one; less is a partial payment.
        "type": FULL_PAYMENT if payment.amount == open_amount else PARTIAL_PAYMENT,
        "checkAccount": ref("CheckAccount", check_account_id),
        "createFeed": True,
    }
    if transaction is not None:
        body["checkAccountTransaction"] = ref("CheckAccountTransaction", transaction["id"])
    return body


async def _matching_transaction(
    ctx: SyncContext, payment: Payment, purpose: str | None, check_account_id: str
) -> JsonObject:
    """The unbooked bank transaction with the payment's reference and amount; bank imports lag, so
    when there is none yet the payment waits on the retry ladder and fails `unmatched` at its end."""
    if purpose:
        for transaction in sorted(
            await ctx.api.find_transactions(check_account_id, purpose), key=lambda t: int(t["id"])
        ):
            if (
                str(transaction.get("status")) == "100"
                and dm.amount_of(transaction.get("amount")) == payment.amount
            ):
                return transaction
    raise WaitingFor(
        UNMATCHED,
        f"no unbooked transaction of {payment.amount} with {purpose!r} in its purpose on check account "
        f"{check_account_id} yet",
        "failed",
    )


async def _target(ctx: SyncContext, payment: Payment) -> _Target | None:
    """The document the payment books on; None when it was cancelled. Waits while it does not exist."""
    if payment.invoice_id is not None:
        links = await ctx.links(INVOICE_LINK_TYPES, payment.invoice_id)
        link = links.get(VOUCHER_LINK)
        what = f"invoice {payment.invoice_id}"
    else:
        assert payment.deal_id is not None
        links = await ctx.links(dd.DEAL_LINK_TYPES, payment.deal_id)
        link = links.get(dd.INVOICE_LINK)
        what = f"the invoice of deal {payment.deal_id}"
    if link is not None and link.cancelled:
        return None
    if link is None or link.sevdesk_id is None or link.sevdesk_object is None:
        raise awaiting(f"{what} is not in sevDesk yet")
    return _Target(link.sevdesk_object, link.sevdesk_id, link.sevdesk_number)


async def _get(ctx: SyncContext, target: _Target) -> JsonObject:
    if target.object_name == "Invoice":
        return await ctx.api.get_invoice(target.id)
    return await ctx.api.get_voucher(target.id)


def _open_amount(document: JsonObject, paid: Decimal) -> Decimal:
    """What is left to pay on the document: its gross sum less what is paid (never below zero)."""
    gross = abs(dm.amount_of(document.get("sumGross")) or Decimal(0))
    return max(gross - paid, Decimal(0))


def _describe(target: _Target, document: JsonObject) -> str:
    number = dm.document_number(document) or target.number
    return f"{target.object_name.lower()} {target.id}" + (f" ({number})" if number else "") + " in sevDesk"


def _paid(document: JsonObject) -> Decimal:
    return abs(dm.amount_of(document.get("paidAmount")) or Decimal(0))
