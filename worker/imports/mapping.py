"""sevDesk contact or part -> the CRM's inbound shape: functions of their arguments, without I/O.

Not listed as a pure module (tests/unit/test_pure_modules.py): importing it runs the `imports`
package's `__init__`, which loads the importer and its sevDesk client.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from sevsync_events.outbound import ImportedCustomer, ImportedProduct

from ..sevdesk.objects import JsonObject
from ..sync.contact_mapping import pick_existing_way
from .kinds import PART_INACTIVE
from .results import InvalidData

# --- mapping (pure) ------------------------------------------------------------------------------


def customer_from_contact(
    contact: JsonObject,
    address: JsonObject | None,
    country_code: str | None,
    ways: Sequence[JsonObject],
) -> ImportedCustomer:
    """A sevDesk contact (organisation or person) in the CRM's Customer shape.

    `address` is the contact's address to use (`pick_existing_address`) and `country_code` the ISO
    code of its StaticCountry. Raises ValidationError or `InvalidData` when the contact does not fit.
    """
    data: dict[str, Any] = {
        "sevdesk_id": id_of(contact),
        "customer_number": _text(contact.get("customerNumber")),
        "vat_id": _text(contact.get("vatNumber")),
        "tax_number": _text(contact.get("taxNumber")),
        "buyer_reference": _text(contact.get("buyerReference")),
    }
    name = _text(contact.get("name"))
    if name is not None and name.strip():
        # sevDesk makes a contact with a name an organisation; its people are contact persons.
        data.update(kind="company", company_name=name)
    else:
        # sevDesk spells the first name "surename".
        data.update(
            kind="person",
            first_name=_text(contact.get("surename")),
            last_name=_text(contact.get("familyname")),
        )
    email = pick_existing_way(list(ways), "EMAIL")
    # A mobile number serves as the phone of a contact that has no landline.
    phone = pick_existing_way(list(ways), "PHONE") or pick_existing_way(list(ways), "MOBILE")
    data["email"] = _text(email.get("value")) if email else None
    data["phone"] = _text(phone.get("value")) if phone else None
    if address is not None:
        if country_code is None:
            country_id = ref_id(address.get("country"))
            raise InvalidData(f"address: sevDesk lists no country with id {country_id}")
        data["address"] = {
            "street": _text(address.get("street")),
            "zip": _text(address.get("zip")),
            "city": _text(address.get("city")),
            "country": country_code,
        }
    return ImportedCustomer.model_validate(data)


def product_from_part(part: JsonObject, units: Mapping[str, str]) -> ImportedProduct:
    """A sevDesk part in the CRM's Product shape; `units` is the tenant's CRM unit -> Unity id map.

    Raises ValidationError when the part does not fit (e.g. a tax rate other than 0, 7 or 19).
    """
    price = part.get("price")
    return ImportedProduct.model_validate(
        {
            "sevdesk_id": id_of(part),
            "sku": _text(part.get("partNumber")),
            "name": part.get("name"),
            "description": _text(part.get("text")),
            "net_price": _decimal(price if price is not None else part.get("priceNet")),
            "tax_rate": _decimal(part.get("taxRate")),
            "unit": crm_unit(part.get("unity"), units),
            "active": str(part.get("status")) != PART_INACTIVE,
        }
    )


def crm_unit(unity: object, units: Mapping[str, str]) -> str | None:
    """The CRM unit the tenant maps to this Unity; None when none or several do (no guessing)."""
    unity_id = ref_id(unity)
    if unity_id is None:
        return None
    names = [name for name, mapped in units.items() if str(mapped) == unity_id]
    return names[0] if len(names) == 1 else None


def _decimal(value: object) -> object:
    """sevDesk's amount (a string, sometimes a number) as a plain decimal string; else unchanged.

    Trailing zeros go ("19.00" -> "19"), so that a rate or price fits the contract's places.
    """
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        return value
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return value  # the model's validation names the field
    if not number.is_finite():
        return value
    return format(number.normalize(), "f")


def _text(value: object) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def id_of(record: JsonObject) -> str | None:
    value = record.get("id")
    return str(value) if value is not None and str(value) else None


def required_id(record: JsonObject) -> str:
    value = id_of(record)
    assert value is not None  # records without an id are set aside first
    return value


def ref_id(reference: object) -> str | None:
    if isinstance(reference, dict) and reference.get("id") is not None:
        return str(reference["id"])
    return None
