"""Payment accounts: ``/CheckAccount``, ``/CheckAccountTransaction`` and booking payments on documents.

Every account is seeded with an online bank account, an online PayPal account, an offline clearing
account and a cash register (see ``Account._seed``). Rules taken from the real API:

- Transactions can only be created on ``online`` check accounts (422 otherwise). They are deleted only
  in status 100 (created); otherwise 409 with code 159. A deleted transaction is left out of lists but
  still answers ``GET /CheckAccountTransaction/{id}``, with ``deletedAt`` set.
- List filters: ``checkAccount[id]``, ``paymtPurpose`` and ``payeePayerName`` (case-insensitive
  substrings), ``status``, ``isBooked`` (only ``true`` has an effect: status other than 100),
  ``onlyCredit``/``onlyDebit``, ``startDate``/``endDate`` (cut by ``entryDate``). There is no amount
  filter. Transaction amounts are JSON numbers (the spec says string; the API answers numbers).
- ``PUT /Invoice/{id}/bookAmount`` takes ``date`` as an integer Unix timestamp, the voucher variant
  (see :mod:`sevsync.sandbox.vouchers`) as a date-time string; each refuses the other form (422).
  Only open or partially paid documents can be booked (422 for drafts, a voucher in status 50 as an
  invoice in 100; code 750 for a paid invoice, 751 for a paid voucher). Type ``FULL_PAYMENT`` takes
  exactly the open amount (``sumGross`` minus ``paidAmount``, negative for an expense voucher); any
  other amount is a 422, as live accounts answered (api-notes 15): what is paid books as ``N``
  (partial) or ``O``. An online check account needs a ``checkAccountTransaction`` of that
  account in status 100, which becomes 200 (linked); on offline accounts and registers the booking
  creates a transaction in status 400 (booked). ``paidAmount`` grows by the amount; the document is
  paid (1000) once it covers the gross sum, else partially paid (750). A skonto booking (type
  ``CB``) closes the document whatever is left. Expense vouchers (``creditDebit`` C) are paid with
  negative amounts, as bank debits: a positive amount lowers their ``paidAmount``.
- The answer is an ``InvoiceLog`` with the misspelt ``ammountPayed`` (as the spec has it) or a
  ``VoucherLog`` with ``amountPayed``.
- ``GET /CheckAccountTransactionLog?checkAccountTransaction[id]=`` (undocumented) lists which
  document a transaction paid; its shape here is the sandbox's own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from aiohttp import web

from .errors import ApiError, bad_request, invalid, not_found
from .money import wire_decimal, wire_number
from .store import Account, Record, berlin_iso, berlin_offset, ref
from .wire import (
    API_PREFIX,
    account_of,
    decimal_text,
    deleted,
    get_record,
    integer_text,
    ok,
    one,
    page,
    page_records,
    parse_ref,
    path_id,
    query_flag,
    read_body,
    require,
    text,
)

routes = web.RouteTableDef()

CHECK_ACCOUNT = "CheckAccount"
TRANSACTION = "CheckAccountTransaction"
TRANSACTION_LOG = "CheckAccountTransactionLog"
ONLINE = "online"

CREATED, LINKED, BOOKED = "100", "200", "400"
CODE_NOT_DELETABLE = 159
FULL_PAYMENT = "FULL_PAYMENT"
BOOKING_TYPES = frozenset({FULL_PAYMENT, "N", "CB", "CF", "O", "OF", "MTC"})
SKONTO = "CB"

_DOTTED_DATE = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})")
_INTEGER = re.compile(r"-?\d+")


# --- dates ------------------------------------------------------------------------------------------


def _berlin_local(naive: datetime) -> datetime:
    # Berlin local time -> aware moment; the offset of the hour before is right except around the
    # switch itself, which does not matter for documents dated at midnight.
    return naive.replace(tzinfo=berlin_offset(naive.replace(tzinfo=UTC) - timedelta(hours=1)))


def _from_timestamp(name: str, seconds: float) -> datetime:
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise invalid(f"{name} is not a valid timestamp: {seconds!r}") from exc


def parse_moment(name: str, value: Any) -> datetime:
    """A request date: Unix timestamp, ``dd.mm.yyyy`` or ISO 8601 (date-only means Berlin midnight)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _from_timestamp(name, value)
    if not isinstance(value, str) or not value.strip():
        raise invalid(f"{name} must be a timestamp or a date (dd.mm.yyyy or ISO 8601), got {value!r}")
    stripped = value.strip()
    if _INTEGER.fullmatch(stripped):
        return _from_timestamp(name, int(stripped))
    try:
        if dotted := _DOTTED_DATE.fullmatch(stripped):
            day, month, year = (int(part) for part in dotted.groups())
            return _berlin_local(datetime.combine(date(year, month, day), datetime.min.time()))
        parsed = datetime.fromisoformat(stripped)
    except ValueError as exc:
        raise invalid(f"{name} is not a valid date: {value!r}") from exc
    return parsed if parsed.tzinfo is not None else _berlin_local(parsed)


def moment_of(rendered: str) -> datetime:
    """A stored (rendered) date back as an aware moment."""
    return datetime.fromisoformat(rendered)


def query_moment(request: web.Request, name: str) -> datetime | None:
    """A date query parameter (timestamp, dd.mm.yyyy or ISO); 400 if malformed."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    try:
        return parse_moment(name, raw)
    except ApiError as exc:
        raise bad_request(exc.message) from exc


# --- check accounts ---------------------------------------------------------------------------------


def _live_transactions(account: Account) -> list[Record]:
    return [r for r in account.table(TRANSACTION).values() if not r.meta.get("deleted")]


def _amount(transaction: Record) -> Decimal:
    return Decimal(str(transaction.fields["amount"]))


def _render_check_account(account: Account, record: Record) -> dict[str, Any]:
    rendered = record.render()
    if record.fields["type"] == ONLINE:
        # Online accounts report the bank's balance; here: the sum of their transactions.
        own = [t for t in _live_transactions(account) if t.fields["checkAccount"]["id"] == str(record.id)]
        rendered["balance"] = wire_decimal(sum((_amount(t) for t in own), Decimal(0)))
    return rendered


def check_account_of(account: Account, value: Any) -> Record:
    """The check account a request refers to (422 if it does not exist)."""
    check_account_id = parse_ref("checkAccount", value, CHECK_ACCOUNT)
    record = account.find(CHECK_ACCOUNT, check_account_id)
    if record is None:
        raise invalid(f"checkAccount: no CheckAccount with id {check_account_id}")
    return record


@routes.get(f"{API_PREFIX}/CheckAccount")
async def list_check_accounts(request: web.Request) -> web.Response:
    account = account_of(request)
    return page(request, [_render_check_account(account, r) for r in account.table(CHECK_ACCOUNT).values()])


@routes.get(API_PREFIX + r"/CheckAccount/{id:\d+}")
async def get_check_account(request: web.Request) -> web.Response:
    account = account_of(request)
    return one(_render_check_account(account, get_record(account, CHECK_ACCOUNT, path_id(request))))


# --- transactions -----------------------------------------------------------------------------------


def insert_transaction(
    account: Account,
    check_account: Record,
    *,
    amount: Decimal,
    value_date: datetime,
    entry_date: datetime | None = None,
    purpose: str | None = None,
    payee: str | None = None,
    status: str = CREATED,
    extra: dict[str, Any] | None = None,
) -> Record:
    """Store a transaction (no rule checks: callers decide whether it may exist)."""
    fields: dict[str, Any] = {
        "valueDate": berlin_iso(value_date),
        "entryDate": berlin_iso(entry_date or value_date),
        "paymtPurpose": purpose,
        "amount": wire_number(amount),
        "payeePayerName": payee,
        "payeePayerAcctNo": None,
        "payeePayerBankCode": None,
        "gvCode": None,
        "entryText": None,
        "primaNotaNo": None,
        "checkAccount": ref(CHECK_ACCOUNT, check_account.id),
        "status": status,
        "sourceTransaction": None,
        "targetTransaction": None,
        "enshrined": None,
        **(extra or {}),
    }
    return account.insert(TRANSACTION, fields, {"documents": []})


def create_transaction(account: Account, body: dict[str, Any]) -> Record:
    """``POST /CheckAccountTransaction``: validate the body, then store the transaction."""
    require(body, TRANSACTION, ("checkAccount", "valueDate", "amount"))
    check_account = check_account_of(account, body["checkAccount"])
    if check_account.fields["type"] != ONLINE:
        raise invalid(
            f"Transactions can only be created on online check accounts; "
            f"{check_account.fields['name']!r} is of type {check_account.fields['type']}"
        )
    status = integer_text("status", body.get("status")) or CREATED
    if status != CREATED:
        raise invalid("status of a new transaction must be 100 (created)")
    amount_text = decimal_text("amount", body["amount"])
    assert amount_text is not None  # require() refused a missing amount
    extra = {
        key: text(key, body.get(key))
        for key in ("payeePayerAcctNo", "payeePayerBankCode", "gvCode", "entryText")
    }
    entry_date = body.get("entryDate")
    return insert_transaction(
        account,
        check_account,
        amount=Decimal(amount_text),
        value_date=parse_moment("valueDate", body["valueDate"]),
        entry_date=parse_moment("entryDate", entry_date) if entry_date not in (None, "") else None,
        purpose=text("paymtPurpose", body.get("paymtPurpose")),
        payee=text("payeePayerName", body.get("payeePayerName")),
        extra=extra,
    )


def _contains(needle: str, value: Any) -> bool:
    return needle.lower() in str(value or "").lower()


@routes.get(f"{API_PREFIX}/CheckAccountTransaction")
async def list_transactions(request: web.Request) -> web.Response:
    query = request.query
    records = _live_transactions(account_of(request))
    if (check_account_id := query.get("checkAccount[id]")) is not None:
        records = [r for r in records if r.fields["checkAccount"]["id"] == check_account_id]
    for key in ("paymtPurpose", "payeePayerName"):
        if (needle := query.get(key)) is not None:
            records = [r for r in records if _contains(needle, r.fields.get(key))]
    if (status := query.get("status")) is not None:
        records = [r for r in records if r.fields["status"] == status]
    if query_flag(request, "isBooked"):  # isBooked=false is ignored, as by sevDesk
        records = [r for r in records if r.fields["status"] != CREATED]
    if query_flag(request, "onlyCredit"):
        records = [r for r in records if _amount(r) > 0]
    if query_flag(request, "onlyDebit"):
        records = [r for r in records if _amount(r) < 0]
    if (start := query_moment(request, "startDate")) is not None:
        records = [r for r in records if moment_of(r.fields["entryDate"]) >= start]
    if (end := query_moment(request, "endDate")) is not None:
        records = [r for r in records if moment_of(r.fields["entryDate"]) <= end]
    return page_records(request, records)


@routes.get(API_PREFIX + r"/CheckAccountTransaction/{id:\d+}")
async def get_transaction(request: web.Request) -> web.Response:
    # Deleted transactions still resolve by id (with deletedAt), as measured on the real API.
    return one(get_record(account_of(request), TRANSACTION, path_id(request)).render())


@routes.post(f"{API_PREFIX}/CheckAccountTransaction")
async def post_transaction(request: web.Request) -> web.Response:
    account = account_of(request)
    record = create_transaction(account, await read_body(request))
    return ok(record.render(), status=201)


def _mark_deleted(account: Account, record: Record) -> None:
    record.meta["deleted"] = True
    account.update(record, {"deletedAt": account.now()})


@routes.delete(API_PREFIX + r"/CheckAccountTransaction/{id:\d+}")
async def delete_transaction(request: web.Request) -> web.Response:
    account = account_of(request)
    record = get_record(account, TRANSACTION, path_id(request))
    if record.meta.get("deleted"):
        raise not_found(TRANSACTION, record.id)
    if record.fields["status"] != CREATED:
        raise ApiError(
            409,
            f"Transaction {record.id} is linked or booked (status {record.fields['status']}) "
            "and cannot be deleted",
            code=CODE_NOT_DELETABLE,
        )
    _mark_deleted(account, record)
    return deleted()


@routes.get(f"{API_PREFIX}/CheckAccountTransactionLog")
async def list_transaction_logs(request: web.Request) -> web.Response:
    records = list(account_of(request).table(TRANSACTION_LOG).values())
    if (transaction_id := request.query.get("checkAccountTransaction[id]")) is not None:
        records = [r for r in records if r.fields["checkAccountTransaction"]["id"] == transaction_id]
    return page_records(request, records)


# --- booking payments on documents ------------------------------------------------------------------


@dataclass(frozen=True)
class Payable:
    """How one document type is booked: its statuses, error code and log shape."""

    object_name: str
    log_name: str
    log_amount_key: str
    draft_status: str
    open_status: str
    paid_code: int
    unix_date: bool  # invoices take an integer timestamp, vouchers a date-time string


PAID = "1000"
PARTIALLY_PAID = "750"

INVOICE = Payable("Invoice", "InvoiceLog", "ammountPayed", "100", "200", 750, unix_date=True)
VOUCHER = Payable("Voucher", "VoucherLog", "amountPayed", "50", "100", 751, unix_date=False)


def _booking_date(payable: Payable, value: Any) -> datetime:
    is_number = isinstance(value, int) and not isinstance(value, bool)
    digits = isinstance(value, str) and _INTEGER.fullmatch(value.strip()) is not None
    if payable.unix_date:
        if not (is_number or digits):
            raise invalid(f"date must be a Unix timestamp (integer) when booking an invoice, got {value!r}")
    elif not isinstance(value, str) or digits:
        raise invalid(
            f"date must be a date-time string (e.g. 2026-01-15T00:00:00+01:00) when booking a voucher, "
            f"got {value!r}"
        )
    return parse_moment("date", value)


def _check_bookable(payable: Payable, document: Record) -> None:
    status = str(document.fields.get("status"))
    name = payable.object_name
    if status == PAID:
        raise ApiError(422, f"{name} {document.id} is already paid", code=payable.paid_code)
    if status == payable.draft_status:
        raise invalid(f"{name} {document.id} is a draft (status {status}); only open documents can be booked")
    if status not in (payable.open_status, PARTIALLY_PAID):
        raise invalid(f"{name} {document.id} in status {status} cannot be booked")


def _direction(payable: Payable, document: Record) -> Decimal:
    # An expense voucher is paid by a debit: its payments come as negative amounts.
    expense = payable is VOUCHER and document.fields.get("creditDebit") == "C"
    return Decimal(-1) if expense else Decimal(1)


def _linked_transaction(account: Account, check_account: Record, value: Any) -> Record:
    transaction_id = parse_ref("checkAccountTransaction", value, TRANSACTION)
    transaction = account.find(TRANSACTION, transaction_id)
    if transaction is None or transaction.meta.get("deleted"):
        raise invalid(f"checkAccountTransaction: no CheckAccountTransaction with id {transaction_id}")
    if transaction.fields["checkAccount"]["id"] != str(check_account.id):
        raise invalid(
            f"checkAccountTransaction {transaction_id} does not belong to check account {check_account.id}"
        )
    if transaction.fields["status"] != CREATED:
        raise invalid(
            f"checkAccountTransaction {transaction_id} is already linked or booked "
            f"(status {transaction.fields['status']})"
        )
    return transaction


def _decimal(value: Any) -> Decimal:
    return Decimal(str(value)) if value not in (None, "") else Decimal(0)


def open_amount(payable: Payable, document: Record) -> Decimal:
    """What is still to pay, in the sign a booking of it must carry."""
    unpaid = _decimal(document.fields.get("sumGross")) - _decimal(document.fields.get("paidAmount"))
    return unpaid * _direction(payable, document)


def _check_full_payment(payable: Payable, document: Record, amount: Decimal) -> None:
    """A full payment must settle exactly what is open: live accounts refused any other amount."""
    unpaid = open_amount(payable, document)
    if amount != unpaid:
        raise invalid(
            f"type {FULL_PAYMENT} needs the open amount of {payable.object_name} {document.id} "
            f"({wire_decimal(unpaid)}), got {wire_decimal(amount)}; book a partial payment as type N"
        )


def _status_after(payable: Payable, document: Record, paid: Decimal, booking_type: str) -> str:
    gross = _decimal(document.fields.get("sumGross"))
    settled = paid if gross >= 0 else -paid
    if booking_type == SKONTO or settled >= abs(gross):
        return PAID
    return PARTIALLY_PAID if paid != 0 else payable.open_status


def book_amount(account: Account, payable: Payable, document: Record, body: dict[str, Any]) -> dict[str, Any]:
    """Book a payment on an invoice or voucher; answers the rendered log entry."""
    require(body, "bookAmount", ("amount", "date", "type", "checkAccount"))
    amount_text = decimal_text("amount", body["amount"])
    assert amount_text is not None  # require() refused a missing amount
    amount = Decimal(amount_text)
    if amount == 0:
        raise invalid("amount must not be 0")
    booking_date = _booking_date(payable, body["date"])
    booking_type = body["type"]
    if booking_type not in BOOKING_TYPES:
        raise invalid(f"type must be one of {', '.join(sorted(BOOKING_TYPES))}, got {booking_type!r}")
    check_account = check_account_of(account, body["checkAccount"])
    _check_bookable(payable, document)
    if booking_type == FULL_PAYMENT:
        _check_full_payment(payable, document, amount)

    transaction_value = body.get("checkAccountTransaction")
    if transaction_value is not None:
        transaction = _linked_transaction(account, check_account, transaction_value)
        from_status = transaction.fields["status"]
        account.update(transaction, {"status": LINKED})
        created = False
    elif check_account.fields["type"] == ONLINE:
        raise invalid(
            f"checkAccount {check_account.id} is an online account: "
            "a checkAccountTransaction must be given to book on it"
        )
    else:
        # Offline accounts and registers record the payment as a new, booked transaction.
        purpose = document.fields.get("invoiceNumber") or document.fields.get("description")
        transaction = insert_transaction(
            account,
            check_account,
            amount=amount,
            value_date=booking_date,
            purpose=str(purpose) if purpose else f"{payable.object_name} {document.id}",
            status=BOOKED,
        )
        from_status = None
        created = True

    document_ref = ref(payable.object_name, document.id)
    transaction.meta.setdefault("documents", []).append(document_ref)
    document.meta.setdefault("bookings", []).append(
        {"transaction": transaction.id, "created": created, "amount": amount_text, "type": booking_type}
    )
    account.insert(
        TRANSACTION_LOG,
        {
            "checkAccountTransaction": ref(TRANSACTION, transaction.id),
            "object": document_ref,
            "amount": amount_text,
            "fromStatus": from_status,
            "toStatus": transaction.fields["status"],
            "bookingDate": berlin_iso(booking_date),
        },
    )

    old_status = str(document.fields.get("status"))
    paid = _decimal(document.fields.get("paidAmount")) + amount * _direction(payable, document)
    new_status = _status_after(payable, document, paid, booking_type)
    account.update(
        document,
        {"paidAmount": wire_number(paid), "status": new_status, "payDate": berlin_iso(booking_date)},
    )
    log = account.insert(
        payable.log_name,
        {
            payable.object_name.lower(): document_ref,
            "fromStatus": old_status,
            "toStatus": new_status,
            payable.log_amount_key: amount_text,
            "bookingDate": berlin_iso(booking_date),
        },
    )
    return log.render()


def unlink_bookings(account: Account, document: Record) -> None:
    """Undo the document's bookings on the transaction side (for resetToOpen / resetToDraft).

    Linked transactions return to status 100; transactions a booking created are deleted. The caller
    resets the document's own ``paidAmount``, ``payDate`` and status.
    """
    for booking in document.meta.pop("bookings", []):
        transaction = account.find(TRANSACTION, booking["transaction"])
        if transaction is None:
            continue
        if booking["created"]:
            _mark_deleted(account, transaction)
        else:
            account.update(transaction, {"status": CREATED})
        transaction.meta["documents"] = []


@routes.put(API_PREFIX + r"/Invoice/{id:\d+}/bookAmount")
async def book_invoice(request: web.Request) -> web.Response:
    account = account_of(request)
    invoice = get_record(account, INVOICE.object_name, path_id(request))
    return ok(book_amount(account, INVOICE, invoice, await read_body(request)))
