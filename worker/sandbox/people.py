"""What people do in the sevDesk UI while an integration works on the same account.

sevDesk accounts are shared: accountants create contacts (taking customer numbers from the same
sequence the API draws from), edit objects and delete them. The control routes under
``/__sandbox__/ui`` (see :mod:`sevsync.sandbox.control`) act through these functions. They bypass
fault rules and the call log, since a person's browser is not an API client, so a test can hold a
client's request with a ``hold`` fault, act as a person, and release the request: an interleaving
that needs no timing.

An edit stores the given fields as they are (wire form, e.g. ``"status": "50"``) and moves the
object's ``update`` timestamp, as any change in sevDesk does; it checks no business rule, since the
UI allows what the API refuses (a voucher reset to draft, a contact given another number).
"""

from __future__ import annotations

from typing import Any

from .contacts import OBJECT_NAME as CONTACT
from .contacts import delete_contact_record, insert_contact
from .store import OBJECT_NAMES, Account, Record
from .wire import READ_ONLY_KEYS

# The category a contact made in the UI gets unless another is named: customer ("Kunde").
CUSTOMER_CATEGORY = {"id": 3, "objectName": "Category"}
# Documents whose positions go with them when a person deletes one.
_POSITIONS = {
    "Order": ("OrderPos", "order"),
    "Invoice": ("InvoicePos", "invoice"),
    "Voucher": ("VoucherPos", "voucher"),
}


class UnknownObject(LookupError):
    """No stored object of that type and id (or no such object type)."""


def create_contact(account: Account, fields: dict[str, Any]) -> Record:
    """A contact as a person creates it: the next customer number of the sequence unless one is given.

    Raises the API's own validation error (422) for a contact without a name.
    """
    return insert_contact(account, {"category": CUSTOMER_CATEGORY, **fields})


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
    account.update(record, changes)
    return record


def delete(account: Account, object_name: str, object_id: int) -> None:
    """Delete a stored object with what belongs to it (a contact's addresses, a document's positions)."""
    record = _record(account, object_name, object_id)
    if object_name == CONTACT:
        delete_contact_record(account, record)
        return
    if object_name in _POSITIONS:
        position_name, parent_key = _POSITIONS[object_name]
        table = account.table(position_name)
        owned = [i for i, p in table.items() if (p.fields.get(parent_key) or {}).get("id") == str(record.id)]
        for position_id in owned:
            del table[position_id]
    account.delete(object_name, record.id)
