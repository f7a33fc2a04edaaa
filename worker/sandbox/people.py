"""What people do in the sevDesk UI while an integration works on the same account.

sevDesk accounts are shared: accountants create contacts (taking customer numbers from the same
sequence the API draws from), edit objects and delete them. The control routes under
``/__sandbox__/ui`` (see :mod:`sevsync.sandbox.ui`) act through these functions, which tests in
process may call directly. They bypass fault rules and the call log, since a person's browser is
not an API client, so a test can hold a client's request with a ``hold`` fault, act as a person,
and release the request: an interleaving that needs no timing.

An edit stores the given fields as they are (wire form, e.g. ``"status": "50"``) and moves the
object's ``update`` timestamp, as any change in sevDesk does; it checks no business rule, since the
UI allows what the API refuses (a voucher reset to draft, a contact given another number). An edit
or deletion of an address or communication way moves its contact's ``update`` as well (an assumption,
see :func:`sevsync.sandbox.contacts.touch_contact`).

The actions (finalise an invoice, accept or reject an offer, book a payment, cancel an invoice)
run the API's own code, so its rules hold (an incomplete e-invoice is refused with 830, a paid
invoice cannot be booked, a partly paid one not cancelled); a refusal is the API's ``ApiError``.
Creates take the API's validation too; deletions take an invoice only as a draft, as sevDesk keeps
finalised invoices.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import addresses, communication_ways, parts
from .banking import FULL_PAYMENT, ONLINE, book_amount, open_amount
from .banking import INVOICE as PAYABLE_INVOICE
from .banking import VOUCHER as PAYABLE_VOUCHER
from .contacts import (
    CONTACT_PARTS,
    change_contact_part,
    delete_contact_part,
    delete_contact_record,
    insert_contact,
)
from .contacts import OBJECT_NAME as CONTACT
from .document_saving import delete_draft
from .documents import DRAFT, SEND_TYPES, not_a_draft
from .einvoice import require_complete
from .errors import invalid
from .invoices import INVOICE, cancel, finalise
from .money import wire_decimal
from .orders import ACCEPTED, ORDER, REJECTED
from .store import OBJECT_NAMES, Account, Record, berlin_iso
from .tags import forget_relations
from .wire import READ_ONLY_KEYS

# The category a contact made in the UI gets unless another is named: customer ("Kunde").
CUSTOMER_CATEGORY = {"id": 3, "objectName": "Category"}
# Documents whose positions go with them when a person deletes one.
_POSITIONS = {
    "Order": ("OrderPos", "order"),
    "Invoice": ("InvoicePos", "invoice"),
    "Voucher": ("VoucherPos", "voucher"),
}
OFFER = "AN"
# What a person can create, each through the API's own validation.
CREATORS: dict[str, Callable[[Account, dict[str, Any]], Record]] = {
    CONTACT: lambda account, fields: insert_contact(account, {"category": CUSTOMER_CATEGORY, **fields}),
    addresses.OBJECT_NAME: addresses.insert_address,
    communication_ways.OBJECT_NAME: communication_ways.insert_communication_way,
    parts.OBJECT_NAME: parts.insert_part,
}


class UnknownObject(LookupError):
    """No stored object of that type and id (or no such object type)."""


def create_contact(account: Account, fields: dict[str, Any]) -> Record:
    """A contact as a person creates it: the next customer number of the sequence unless one is given.

    Raises the API's own validation error (422) for a contact without a name.
    """
    return create(account, CONTACT, fields)


def create(account: Account, object_name: str, fields: dict[str, Any]) -> Record:
    """A contact, address, communication way or part as a person creates it (the API's checks)."""
    creator = CREATORS.get(object_name)
    if creator is None:
        raise UnknownObject(f"a person here creates only {', '.join(CREATORS)}, not {object_name!r}")
    return creator(account, fields)


def _record(account: Account, object_name: str, object_id: int) -> Record:
    if object_name not in OBJECT_NAMES:
        raise UnknownObject(f"unknown object name {object_name!r}")
    record = account.find(object_name, object_id)
    if record is None:
        raise UnknownObject(f"no {object_name} with id {object_id}")
    return record


def edit(account: Account, object_name: str, object_id: int, changes: dict[str, Any]) -> Record:
    """Change fields of a stored object; ValueError for fields the API never lets anyone set."""
    record = _record(account, object_name, object_id)
    fixed = sorted(set(changes) & READ_ONLY_KEYS)
    if fixed:
        raise ValueError(f"these fields cannot be edited: {', '.join(fixed)}")
    if object_name in CONTACT_PARTS:
        change_contact_part(account, record, changes)
    else:
        account.update(record, changes)
    return record


def delete(account: Account, object_name: str, object_id: int) -> None:
    """Delete a stored object with what belongs to it (a contact's addresses, a document's positions).

    An invoice goes only as a draft (the API's 409, code 159, otherwise).
    """
    record = _record(account, object_name, object_id)
    if object_name == CONTACT:
        delete_contact_record(account, record)
        return
    if object_name in CONTACT_PARTS:
        delete_contact_part(account, record)
        return
    if object_name == INVOICE.name:
        delete_draft(account, INVOICE, record)
        return
    if object_name in _POSITIONS:
        position_name, parent_key = _POSITIONS[object_name]
        table = account.table(position_name)
        owned = [i for i, p in table.items() if (p.fields.get(parent_key) or {}).get("id") == str(record.id)]
        for position_id in owned:
            del table[position_id]
        forget_relations(account, object_name, record.id)
    account.delete(object_name, record.id)


# --- actions ----------------------------------------------------------------------------------------


def finalise_invoice(account: Account, invoice_id: int, send_type: str = "VPR") -> Record:
    """A draft invoice becomes open (200) with a number, as ``sendBy`` does it."""
    invoice = _record(account, INVOICE.name, invoice_id)
    if send_type not in SEND_TYPES:
        raise ValueError(f"sendType must be one of {', '.join(sorted(SEND_TYPES))}")
    if invoice.fields["status"] != DRAFT:
        raise not_a_draft(INVOICE)
    require_complete(account, invoice)
    finalise(account, invoice, send_type, enshrine=send_type == "VPDF")
    return invoice


def decide_offer(account: Account, order_id: int, *, accepted: bool) -> Record:
    """The customer's answer to an offer: status 500 (accepted) or 300 (rejected)."""
    order = _record(account, ORDER.name, order_id)
    if order.fields.get("orderType") != OFFER:
        raise invalid(f"Order {order.id} is no offer (orderType {order.fields.get('orderType')})")
    account.update(order, {"status": ACCEPTED if accepted else REJECTED})
    return order


def cancel_invoice(account: Account, invoice_id: int) -> Record:
    """Storno as ``cancelInvoice`` does it; answers the cancellation invoice."""
    return cancel(account, _record(account, INVOICE.name, invoice_id))


def _offline_check_account(account: Account) -> dict[str, Any]:
    # A payment booked by hand goes to a clearing account or register: no bank transaction needed.
    for record in account.table("CheckAccount").values():
        if record.fields["type"] != ONLINE:
            return {"id": record.id, "objectName": "CheckAccount"}
    raise ValueError("the account has no offline check account to book on; name a checkAccount")


def book_payment(account: Account, object_name: str, document_id: int, booking: dict[str, Any]) -> Record:
    """A payment booked by hand through ``bookAmount``'s code; answers the booked document.

    ``booking`` takes the API's fields, all optional: without ``amount`` the open amount is booked
    as ``FULL_PAYMENT`` (else the type is ``N``), ``date`` is the clock's now and ``checkAccount`` the
    first offline check account.
    """
    payables = {PAYABLE_INVOICE.object_name: PAYABLE_INVOICE, PAYABLE_VOUCHER.object_name: PAYABLE_VOUCHER}
    payable = payables.get(object_name)
    if payable is None:
        raise UnknownObject(f"only invoices and vouchers take payments, not {object_name!r}")
    document = _record(account, object_name, document_id)
    body = dict(booking)
    if body.get("amount") is None:
        body["amount"] = wire_decimal(open_amount(payable, document))
        body.setdefault("type", FULL_PAYMENT)
    body.setdefault("type", "N")
    if body.get("date") is None:
        moment = account.clock.now()
        body["date"] = int(moment.timestamp()) if payable.unix_date else berlin_iso(moment)
    if body.get("checkAccount") is None:
        body["checkAccount"] = _offline_check_account(account)
    book_amount(account, payable, document, body)
    return document
