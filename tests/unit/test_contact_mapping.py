"""Mapping a CRM customer to sevDesk's Contact, contact person, address and communication ways (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from sevsync.sync import contact_mapping as cm
from sevsync_events.payloads import Customer

from .. import samples

CUSTOMER_CATEGORY = {"id": 3, "objectName": "Category"}


def company(**overrides: Any) -> Customer:
    return Customer.model_validate(samples.company(**{"tax_number": "12/345/67890", **overrides}))


def person(**overrides: Any) -> Customer:
    return Customer.model_validate(samples.person(**{"address": None, **overrides}))


# --- the Contact and its contact person -------------------------------------------------------------


def test_company_becomes_an_organisation_with_a_contact_person() -> None:
    plan = cm.plan_contact(company())

    assert plan.contact == {
        "category": CUSTOMER_CATEGORY,
        "vatNumber": "DE123456789",
        "taxNumber": "12/345/67890",
        "name": "Acme GmbH",
    }
    # sevDesk decides organisation vs person by `name`: the organisation must not carry person names.
    assert "surename" not in plan.contact
    assert "familyname" not in plan.contact
    assert plan.person == {"category": CUSTOMER_CATEGORY, "surename": "Max", "familyname": "Mustermann"}
    assert "name" not in plan.person
    assert (plan.email, plan.phone) == ("billing@acme.example", "+49 30 1234567")
    assert plan.address == cm.AddressPlan(street="Hauptstr. 1", zip="10115", city="Berlin", country_code="DE")


def test_an_absent_buyer_reference_is_left_alone_and_an_explicit_null_clears_it() -> None:
    assert "buyerReference" not in cm.plan_contact(company()).contact
    assert cm.plan_contact(company(buyer_reference=None)).contact["buyerReference"] is None
    assert cm.plan_contact(company(buyer_reference="991-1")).contact["buyerReference"] == "991-1"
    body = cm.contact_update_body(cm.plan_contact(person()), None)
    assert "buyerReference" not in body


def test_customers_without_a_buyer_reference_keep_their_hash_from_before_the_field() -> None:
    # The hashes the mapping gave these samples before buyer_reference existed (commit 0610c18^):
    # a CRM that does not send the field causes no rewrite of its contacts.
    assert cm.plan_contact(company()).fingerprint() == "b87c38117f2a98a01f98039a665608ee"
    assert cm.plan_contact(person()).fingerprint() == "d189f396049b059d301af50c61d7d14e"
    assert cm.plan_contact(company(buyer_reference=None)).fingerprint() != (
        "b87c38117f2a98a01f98039a665608ee"
    )


def test_company_with_only_a_last_name_still_gets_a_contact_person() -> None:
    plan = cm.plan_contact(company(first_name=None))
    assert plan.person == {"category": CUSTOMER_CATEGORY, "surename": None, "familyname": "Mustermann"}


def test_company_without_names_has_no_contact_person() -> None:
    plan = cm.plan_contact(company(first_name=None, last_name=None))

    assert plan.person is None
    assert plan.part_hashes()["person"] is None


def test_person_becomes_a_person_contact_without_name() -> None:
    plan = cm.plan_contact(person())

    # sevDesk spells the first name "surename"; a contact without `name` is a person.
    assert plan.contact == {
        "category": CUSTOMER_CATEGORY,
        "vatNumber": None,
        "taxNumber": None,
        "surename": "Erika",
        "familyname": "Musterfrau",
    }
    assert "name" not in plan.contact
    assert plan.person is None
    assert plan.address is None
    assert plan.phone is None


def test_the_buyer_reference_goes_to_the_contact_and_null_clears_it() -> None:
    assert cm.plan_contact(company(buyer_reference="04011000-12345-67")).contact["buyerReference"] == (
        "04011000-12345-67"
    )
    # An explicit null is sent (like the tax ids): a reference the CRM removed is removed in sevDesk.
    removed = cm.plan_contact(person(buyer_reference=None))
    assert removed.contact["buyerReference"] is None
    assert "buyerReference" in cm.contact_update_body(removed, None)


def test_person_ignores_a_company_name() -> None:
    plan = cm.plan_contact(person(company_name="Freelance Ltd"))
    assert "name" not in plan.contact
    assert plan.person is None


def test_create_body_adds_number_and_active_customer_status() -> None:
    plan = cm.plan_contact(company())

    body = cm.contact_create_body(plan, "K-1001")

    assert body == {**plan.contact, "customerNumber": "K-1001", "status": 1000}
    assert "status" not in plan.contact  # the plan itself is not changed


def test_update_body_keeps_status_and_sends_the_number_only_when_given() -> None:
    plan = cm.plan_contact(company())

    assert cm.contact_update_body(plan, None) == plan.contact
    assert cm.contact_update_body(plan, "K-9") == {**plan.contact, "customerNumber": "K-9"}
    assert "status" not in cm.contact_update_body(plan, "K-9")  # sevDesk's status is not overwritten


def test_person_body_points_at_the_organisation() -> None:
    plan = cm.plan_contact(company())

    body = cm.person_body(plan, "1234")

    assert body == {
        "category": CUSTOMER_CATEGORY,
        "surename": "Max",
        "familyname": "Mustermann",
        "parent": {"id": 1234, "objectName": "Contact"},
    }


# --- address and communication ways --------------------------------------------------------------------


def test_address_body() -> None:
    plan = cm.plan_contact(company())
    assert plan.address is not None

    body = cm.address_body(plan.address, "1234", "1")

    assert body == {
        "contact": {"id": 1234, "objectName": "Contact"},
        "street": "Hauptstr. 1",
        "zip": "10115",
        "city": "Berlin",
        "country": {"id": 1, "objectName": "StaticCountry"},
        "category": {"id": 47, "objectName": "Category"},  # invoice (billing) address
    }


def test_address_with_only_a_country() -> None:
    plan = cm.plan_contact(company(address={"country": "AT"}))
    assert plan.address == cm.AddressPlan(street=None, zip=None, city=None, country_code="AT")


@pytest.mark.parametrize(("kind", "value"), [("EMAIL", "billing@acme.example"), ("PHONE", "+49 30 1234567")])
def test_communication_way_body(kind: str, value: str) -> None:
    body = cm.communication_way_body(kind, value, "1234")

    assert body == {
        "contact": {"id": 1234, "objectName": "Contact"},
        "type": kind,
        "value": value,
        "key": {"id": 2, "objectName": "CommunicationWayKey"},  # "work"
        "main": True,
    }


# --- fingerprints ---------------------------------------------------------------------------------


def test_fingerprint_is_stable_for_the_same_input() -> None:
    first, second = cm.plan_contact(company()), cm.plan_contact(company())

    assert first.part_hashes() == second.part_hashes()
    assert first.fingerprint() == second.fingerprint()
    assert cm.fingerprint({"a": 1, "b": [1, 2]}) == cm.fingerprint({"b": [1, 2], "a": 1})  # key order
    assert len(first.fingerprint()) == 32
    assert all(isinstance(h, str) and len(h) == 32 for h in first.part_hashes().values())


def test_fingerprint_tells_values_apart() -> None:
    assert cm.fingerprint("a") != cm.fingerprint("b")
    assert cm.fingerprint({"a": None}) != cm.fingerprint({"a": ""})
    assert cm.fingerprint([1, 2]) != cm.fingerprint([2, 1])


ADDRESS = {"street": "Hauptstr. 1", "zip": "10115", "city": "Berlin", "country": "DE"}


@pytest.mark.parametrize(
    ("overrides", "changed"),
    [
        ({"company_name": "Acme AG"}, "contact"),
        ({"vat_id": "DE987654321"}, "contact"),
        ({"tax_number": None}, "contact"),
        ({"buyer_reference": "04011000-12345-67"}, "contact"),
        ({"first_name": "Moritz"}, "person"),
        ({"last_name": "Musterfrau"}, "person"),
        ({"email": "accounts@acme.example"}, "email"),
        ({"phone": "+49 30 7654321"}, "phone"),
        ({"address": {**ADDRESS, "street": "Nebenstr. 2"}}, "address"),
        ({"address": {**ADDRESS, "zip": "10117"}}, "address"),
        ({"address": {**ADDRESS, "city": "Potsdam"}}, "address"),
        ({"address": {**ADDRESS, "country": "AT"}}, "address"),
    ],
)
def test_a_changed_field_changes_only_its_own_part_hash(overrides: dict[str, Any], changed: str) -> None:
    before = cm.plan_contact(company())
    after = cm.plan_contact(company(**overrides))

    old, new = before.part_hashes(), after.part_hashes()
    assert {part for part in old if old[part] != new[part]} == {changed}
    assert before.fingerprint() != after.fingerprint()


@pytest.mark.parametrize(("field", "part"), [("email", "email"), ("phone", "phone"), ("address", "address")])
def test_removing_an_optional_part_clears_only_its_hash(field: str, part: str) -> None:
    before = cm.plan_contact(company()).part_hashes()
    after = cm.plan_contact(company(**{field: None})).part_hashes()

    assert before[part] is not None
    assert after[part] is None
    assert {p for p in before if before[p] != after[p]} == {part}


def test_person_name_change_is_a_contact_change() -> None:
    before = cm.plan_contact(person()).part_hashes()
    after = cm.plan_contact(person(first_name="Erik")).part_hashes()

    assert {p for p in before if before[p] != after[p]} == {"contact"}
    assert before["person"] is None
    assert after["person"] is None


def test_customer_number_is_not_part_of_the_fingerprint() -> None:
    # The number is sent beside the plan (create/update bodies); sync_customer compares it itself.
    assert (
        cm.plan_contact(company()).fingerprint()
        == cm.plan_contact(company(customer_number="K-2")).fingerprint()
    )


# --- adopting existing objects ----------------------------------------------------------------------


def _address(object_id: str, category_id: str | None) -> dict[str, Any]:
    category = {"id": category_id, "objectName": "Category"} if category_id is not None else None
    return {"id": object_id, "objectName": "ContactAddress", "category": category}


def test_pick_existing_address_prefers_the_oldest_billing_address() -> None:
    addresses = [
        _address("998", "43"),
        _address("1010", "47"),
        _address("999", "47"),
        _address("1000", "43"),
    ]

    picked = cm.pick_existing_address(addresses)

    assert picked is not None
    assert picked["id"] == "999"  # billing before older others; numeric order ("999" > "1010" as text)


def test_pick_existing_address_falls_back_to_the_oldest_address() -> None:
    picked = cm.pick_existing_address(
        [_address("1020", "43"), _address("1003", None), _address("1011", "44")]
    )
    assert picked is not None
    assert picked["id"] == "1003"


def test_pick_existing_address_of_none() -> None:
    assert cm.pick_existing_address([]) is None


def _way(object_id: str, kind: str, main: Any) -> dict[str, Any]:
    return {"id": object_id, "objectName": "CommunicationWay", "type": kind, "value": "x", "main": main}


def test_pick_existing_way_prefers_the_oldest_main_entry_of_the_kind() -> None:
    ways = [
        _way("1001", "PHONE", "1"),
        _way("1002", "EMAIL", "0"),
        _way("1010", "EMAIL", "1"),
        _way("1003", "email", True),  # sevDesk's type casing varies; the flag may come as a bool
        _way("1020", "EMAIL", "1"),
    ]

    picked = cm.pick_existing_way(ways, "EMAIL")

    assert picked is not None
    assert picked["id"] == "1003"


def test_pick_existing_way_falls_back_to_the_oldest_entry_of_the_kind() -> None:
    ways = [_way("1001", "PHONE", "1"), _way("1009", "EMAIL", "0"), _way("1004", "EMAIL", False)]

    picked = cm.pick_existing_way(ways, "EMAIL")

    assert picked is not None
    assert picked["id"] == "1004"


def test_pick_existing_way_of_another_kind_only() -> None:
    assert cm.pick_existing_way([_way("1001", "PHONE", "1"), _way("1002", "WEB", "1")], "EMAIL") is None
    assert cm.pick_existing_way([], "PHONE") is None


def _person(object_id: str, first: str | None, last: str | None) -> dict[str, Any]:
    return {"id": object_id, "objectName": "Contact", "surename": first, "familyname": last}


def test_pick_existing_person_takes_only_a_person_of_the_same_name() -> None:
    plan = cm.plan_contact(company())
    persons = [
        _person("1001", "Anna", "Buchhalter"),  # the accountant's own contact person: not ours
        _person("1020", "Max", "Mustermann"),
        _person("1015", "Max", "Mustermann"),
        _person("1002", "Max", None),
        _person("1003", "Moritz", "Mustermann"),
        _person("1004", None, "Mustermann"),
    ]

    picked = cm.pick_existing_person(persons, plan)

    assert picked is not None
    assert picked["id"] == "1015"


def test_pick_existing_person_without_a_match() -> None:
    plan = cm.plan_contact(company())
    assert cm.pick_existing_person([_person("1001", "Anna", "Buchhalter")], plan) is None
    assert cm.pick_existing_person([], plan) is None


def test_pick_existing_person_treats_empty_text_as_no_name() -> None:
    plan = cm.plan_contact(company(first_name=None))
    picked = cm.pick_existing_person([_person("1001", "", "Mustermann")], plan)
    assert picked is not None
    assert picked["id"] == "1001"


def test_pick_existing_person_when_the_plan_has_none() -> None:
    plan = cm.plan_contact(company(first_name=None, last_name=None))
    assert cm.pick_existing_person([_person("1001", None, None)], plan) is None
