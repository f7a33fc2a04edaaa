"""Pure mapping of a CRM Customer to the sevDesk objects that represent it. No I/O here.

A customer becomes up to five sevDesk objects: the Contact (an organisation or a person), for a
company its contact person (a person Contact whose `parent` is the organisation), one
ContactAddress, and one CommunicationWay each for e-mail and phone. Each part carries its own hash
so that an update rewrites only the parts that changed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sevsync_events.payloads import Customer

from ..sevdesk.objects import JsonObject, ref

# sevDesk's fixed category ids (SPEC tag Contact; Category?objectType=ContactAddress).
CUSTOMER_CATEGORY_ID = 3
BILLING_ADDRESS_CATEGORY_ID = 47
# CommunicationWayKey 2 = "Arbeit" (work): the CRM's e-mail and phone are business contacts.
WORK_KEY_ID = 2
# Contact status 1000 = active customer (100 would be a lead).
ACTIVE_CONTACT_STATUS = 1000


@dataclass(frozen=True)
class AddressPlan:
    street: str | None
    zip: str | None
    city: str | None
    country_code: str


@dataclass(frozen=True)
class ContactPlan:
    """The sevDesk side of one customer, before ids are known."""

    contact: JsonObject
    person: JsonObject | None
    address: AddressPlan | None
    email: str | None
    phone: str | None

    def part_hashes(self) -> dict[str, str | None]:
        return {
            "contact": fingerprint(self.contact),
            "person": fingerprint(self.person) if self.person is not None else None,
            "address": fingerprint(self.address.__dict__) if self.address is not None else None,
            "email": fingerprint(self.email) if self.email is not None else None,
            "phone": fingerprint(self.phone) if self.phone is not None else None,
        }

    def fingerprint(self) -> str:
        return fingerprint(self.part_hashes())


def fingerprint(value: Any) -> str:
    """A stable hash of JSON-like data (for 'unchanged since the last sync' checks)."""
    encoded = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(encoded).hexdigest()[:32]


def plan_contact(customer: Customer) -> ContactPlan:
    contact: JsonObject = {
        "category": ref("Category", CUSTOMER_CATEGORY_ID),
        "vatNumber": customer.vat_id,
        "taxNumber": customer.tax_number,
    }
    if "buyer_reference" in customer.model_fields_set:
        # Only when the CRM sends the field: null clears it (like the tax ids), while a CRM that does
        # not send it yet leaves a Leitweg-ID entered in sevDesk alone, and its contacts' hashes as
        # they were before the field existed (no rewrite of every customer).
        contact["buyerReference"] = customer.buyer_reference
    person: JsonObject | None = None
    if customer.kind == "company":
        contact["name"] = customer.company_name
        if customer.first_name or customer.last_name:
            person = {
                "category": ref("Category", CUSTOMER_CATEGORY_ID),
                "surename": customer.first_name,
                "familyname": customer.last_name,
            }
    else:
        # sevDesk spells the first name "surename"; a contact without `name` is a person.
        contact["surename"] = customer.first_name
        contact["familyname"] = customer.last_name
    address = None
    if customer.address is not None:
        address = AddressPlan(
            street=customer.address.street,
            zip=customer.address.zip,
            city=customer.address.city,
            country_code=customer.address.country,
        )
    return ContactPlan(
        contact=contact, person=person, address=address, email=customer.email, phone=customer.phone
    )


def contact_create_body(plan: ContactPlan, customer_number: str) -> JsonObject:
    return {**plan.contact, "customerNumber": customer_number, "status": ACTIVE_CONTACT_STATUS}


def contact_update_body(plan: ContactPlan, customer_number: str | None) -> JsonObject:
    body = dict(plan.contact)
    if customer_number is not None:
        body["customerNumber"] = customer_number
    return body


def person_body(plan: ContactPlan, organisation_id: str) -> JsonObject:
    assert plan.person is not None
    return {**plan.person, "parent": ref("Contact", organisation_id)}


def address_body(address: AddressPlan, contact_id: str, country_id: str) -> JsonObject:
    return {
        "contact": ref("Contact", contact_id),
        "street": address.street,
        "zip": address.zip,
        "city": address.city,
        "country": ref("StaticCountry", country_id),
        "category": ref("Category", BILLING_ADDRESS_CATEGORY_ID),
    }


def communication_way_body(kind: str, value: str, contact_id: str) -> JsonObject:
    return {
        "contact": ref("Contact", contact_id),
        "type": kind,
        "value": value,
        "key": ref("CommunicationWayKey", WORK_KEY_ID),
        "main": True,
    }


def pick_existing_address(addresses: list[JsonObject]) -> JsonObject | None:
    """The address sevsync should adopt on a contact it did not create itself (or lost track of)."""
    billing = [a for a in addresses if _ref_id(a.get("category")) == str(BILLING_ADDRESS_CATEGORY_ID)]
    candidates = billing or addresses
    return min(candidates, key=_numeric_id) if candidates else None


def pick_existing_way(ways: list[JsonObject], kind: str) -> JsonObject | None:
    of_kind = [w for w in ways if str(w.get("type") or "").upper() == kind]
    main = [w for w in of_kind if str(w.get("main")) in {"1", "True", "true"}]
    candidates = main or of_kind
    return min(candidates, key=_numeric_id) if candidates else None


def person_key(plan: ContactPlan) -> str:
    """The name a contact person is created with, as the business key of its write intent."""
    assert plan.person is not None
    return json.dumps([plan.person.get("surename"), plan.person.get("familyname")])


def person_named(persons: list[JsonObject], key: str) -> JsonObject | None:
    """The person created under the name `key` (from `person_key`), if it exists."""
    surename, familyname = json.loads(key)
    return _first_named(persons, surename, familyname)


def pick_existing_person(persons: list[JsonObject], plan: ContactPlan) -> JsonObject | None:
    if plan.person is None:
        return None
    # Only a person of the same name is ours; any other belongs to the accountant.
    return _first_named(persons, plan.person.get("surename"), plan.person.get("familyname"))


def _first_named(persons: list[JsonObject], surename: object, familyname: object) -> JsonObject | None:
    named = [
        p
        for p in persons
        if (p.get("surename") or None) == surename and (p.get("familyname") or None) == familyname
    ]
    return min(named, key=_numeric_id) if named else None


def _ref_id(value: object) -> str | None:
    if isinstance(value, dict) and value.get("id") is not None:
        return str(value["id"])
    return None


def _numeric_id(obj: JsonObject) -> int:
    try:
        return int(str(obj.get("id")))
    except ValueError:
        return 0
