"""The state sevsync and the CRM agree on for a linked object; pure, without I/O.

The handlers record it and the reconciler compares with it: neither depends on the other for it.

A link's `agreed_hash` is the hash of this state. The handlers set it from the event they wrote
(sevsync's own write is then never told back), the reconciler from the change it told. A change is
told only when sevDesk's state, mapped to the CRM's shape, hashes differently.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from sevsync_events.payloads import CustomerFields, ProductFields

from ..sevdesk.statuses import CRM_STATUS, status_code


def contact_state(customer: CustomerFields, customer_number: str | None) -> dict[str, Any]:
    """The fields of a customer that sevDesk's contact holds and the import mapping reads back.

    A company's first and last name go to a contact person, which the mapping does not read: they
    are left out. `customer_number` is the number in sevDesk (the CRM may have sent none).
    """
    state: dict[str, Any] = {
        "kind": customer.kind,
        "customer_number": _text(customer_number),
        "email": _text(customer.email),
        "phone": _text(customer.phone),
        "vat_id": _text(customer.vat_id),
        "tax_number": _text(customer.tax_number),
        "buyer_reference": _text(customer.buyer_reference),
        "address": None,
    }
    if customer.kind == "company":
        state["company_name"] = _text(customer.company_name)
    else:
        state["first_name"] = _text(customer.first_name)
        state["last_name"] = _text(customer.last_name)
    if customer.address is not None:
        address = customer.address
        state["address"] = [_text(address.street), _text(address.zip), _text(address.city), address.country]
    return state


def written_state_hash(state: dict[str, Any], unwritten: Collection[str]) -> str:
    """The agreed hash of a handler's write that left some fields as sevDesk holds them.

    An event may not carry a field (a buyer reference, an address, an e-mail or phone never sent):
    sevsync then does not write it, and whatever sevDesk holds there is not a change. The hash covers
    only the written fields and names the others after a '-', so the reconciler compares sevDesk's
    state on the same fields (`agrees_on_written`).
    """
    if not unwritten:
        return state_hash(state)
    names = sorted(set(unwritten))
    return f"{state_hash({k: v for k, v in state.items() if k not in names})}-{','.join(names)}"


def agrees_on_written(state: dict[str, Any], agreed_hash: str | None) -> bool:
    """Whether sevDesk's state matches a handler's write on the fields it wrote (see above)."""
    if agreed_hash is None or "-" not in agreed_hash:
        return False
    _, _, names = agreed_hash.partition("-")
    return written_state_hash(state, names.split(",")) == agreed_hash


def product_state(product: ProductFields, part_number: str | None, unit: str | None) -> dict[str, Any]:
    """The fields of a product that sevDesk's part holds; `part_number` is the number in sevDesk.

    `unit` is the CRM unit as read back from the part's Unity (`unit_read_back`), since a unit the
    tenant does not map is written as a piece.
    """
    return {
        "sku": _text(part_number),
        "name": _text(product.name),
        "description": _text(product.description),
        "net_price": _number(product.net_price),
        "tax_rate": _number(product.tax_rate),
        "unit": _text(unit),
        "active": product.active,
    }


def unit_read_back(unity_id: str | None, units: dict[str, str]) -> str | None:
    """The CRM unit the tenant maps to this Unity id; None when none or several do (no guessing)."""
    if unity_id is None:
        return None
    names = [name for name, mapped in units.items() if str(mapped) == unity_id]
    return names[0] if len(names) == 1 else None


def document_state(
    status: str, paid_amount: Decimal | None, open_amount: Decimal | None = None
) -> dict[str, Any]:
    """A document's state as document.status_changed tells it; offers have no amounts.

    The open amount is left out when None, so an offer's state hashes as before it was added.
    """
    state: dict[str, Any] = {"status": status, "paid": _number(paid_amount)}
    if open_amount is not None:
        state["open"] = _number(open_amount)
    return state


def state_hash(state: dict[str, Any]) -> str:
    encoded = json.dumps(state, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(encoded).hexdigest()[:32]


def _text(value: object) -> str | None:
    """Blank and missing are the same to both sides; sevDesk answers "" where the CRM sent null."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _number(value: object) -> str | None:
    if value is None:
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    return format(number.normalize(), "f") if number.is_finite() else str(value)


# --- documents -------------------------------------------------------------------------------------

_CENT: Final = Decimal("0.01")


def document_status(
    sevdesk_object: str, document: dict[str, Any], *, cancelled: bool = False
) -> tuple[str, Decimal | None, Decimal | None] | None:
    """(status, paid amount, open amount) of a sevDesk offer, invoice or voucher; None if unknown.

    `cancelled`: a cancellation invoice (SR) names this invoice as its origin. Offers have no
    payments: their amounts are None.
    """
    code = status_code(document.get("status"))
    status = CRM_STATUS.get(sevdesk_object, {}).get(code) if code is not None else None
    if status is None:
        return None
    if cancelled and sevdesk_object == "Invoice":
        status = "cancelled"
    if sevdesk_object == "Order":
        return status, None, None
    gross = abs(_amount(document.get("sumGross")))
    paid = abs(_amount(document.get("paidAmount")))
    open_amount = Decimal(0) if status in ("paid", "cancelled") else max(gross - paid, Decimal(0))
    return status, paid.quantize(_CENT), open_amount.quantize(_CENT)


def document_hash(sevdesk_object: str, document: dict[str, Any], *, cancelled: bool = False) -> str | None:
    """The agreed-state hash of a document as sevDesk holds it (what a handler's read-back leaves)."""
    found = document_status(sevdesk_object, document, cancelled=cancelled)
    return state_hash(document_state(*found)) if found is not None else None


def _amount(value: object) -> Decimal:
    try:
        number = Decimal(str(value)) if value is not None else Decimal(0)
    except InvalidOperation:
        return Decimal(0)
    return number if number.is_finite() else Decimal(0)
