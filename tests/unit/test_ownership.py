"""The proof that an object found by a key sevsync made up is the one sevsync created."""

from __future__ import annotations

from typing import Any

from sevsync.sync import ownership
from sevsync.sync.contact_mapping import contact_create_body, plan_contact
from sevsync_events.payloads import Customer

SENT_PERSON = contact_create_body(
    plan_contact(
        Customer.model_validate({"id": "c-1", "kind": "person", "first_name": "Erika", "last_name": "Muster"})
    ),
    "1000",
)


def answered(**fields: Any) -> dict[str, Any]:
    """A contact as sevDesk answers it: texts as stored, references with string ids, defaults as null."""
    contact: dict[str, Any] = {
        "id": "17",
        "objectName": "Contact",
        "customerNumber": "1000",
        "name": None,
        "surename": "Erika",
        "familyname": "Muster",
        "category": {"id": "3", "objectName": "Category"},
        "parent": None,
        "status": "1000",
        "vatNumber": None,
        "update": "2026-11-20T10:15:00+01:00",
    }
    contact.update(fields)
    return contact


def test_the_contact_sevsync_sent_is_recognised_as_sevdesk_echoes_it() -> None:
    sent = ownership.CONTACT.fingerprint(SENT_PERSON)
    assert ownership.CONTACT.fingerprint(answered()) == sent


def test_fields_sevdesk_computes_or_people_change_by_routine_do_not_count() -> None:
    sent = ownership.CONTACT.fingerprint(SENT_PERSON)
    assert ownership.CONTACT.fingerprint(answered(status="100", update="2027-01-01", id="99")) == sent


def test_a_stranger_holding_the_number_is_not_sevsyncs() -> None:
    sent = ownership.CONTACT.fingerprint(SENT_PERSON)
    stranger = answered(surename="Otto", familyname="Normal")
    organisation = answered(name="Erika Muster GmbH", surename=None, familyname=None)
    assert ownership.CONTACT.sent_by_sevsync([stranger, organisation], (sent,)) == []


def test_of_two_contacts_with_the_number_the_proof_picks_sevsyncs() -> None:
    sent = ownership.CONTACT.fingerprint(SENT_PERSON)
    stranger = answered(id="20", surename="Otto", familyname="Normal")
    own = answered(id="21")
    assert ownership.CONTACT.sent_by_sevsync([stranger, own], (sent,)) == [own]


def test_a_contact_person_of_an_organisation_is_not_the_person_sevsync_created() -> None:
    sent = ownership.CONTACT.fingerprint(SENT_PERSON)
    assert ownership.CONTACT.fingerprint(answered(parent={"id": "5", "objectName": "Contact"})) != sent


def test_an_invoice_copy_or_cancellation_is_told_apart_by_its_echoed_header_fields() -> None:
    header = {
        "contact": {"id": 12, "objectName": "Contact"},
        "customerInternalNote": "sevsync deal deal-42",
        "invoiceType": "RE",
        "header": "Website relaunch",
        "invoiceDate": "20.11.2026",
        "status": 100,
    }
    sent = ownership.INVOICE.fingerprint(header)
    draft = {
        "id": "300",
        "contact": {"id": "12", "objectName": "Contact"},
        "customerInternalNote": "sevsync deal deal-42",
        "invoiceType": "RE",
        "header": "Website relaunch",
        "invoiceDate": "2026-11-20T00:00:00+01:00",
        "status": "100",
        "sumNet": "100",
    }
    cancellation = {**draft, "id": "301", "invoiceType": "SR", "status": "1000"}
    by_hand = {**draft, "id": "302", "contact": {"id": "13", "objectName": "Contact"}}
    assert ownership.INVOICE.sent_by_sevsync([cancellation, draft, by_hand], (sent,)) == [draft]


def test_any_of_the_fields_sevsync_sent_proves_it_a_rename_sevsync_sent_after_adopting_included() -> None:
    created = ownership.CONTACT.fingerprint(SENT_PERSON)
    renamed = ownership.CONTACT.fingerprint({**SENT_PERSON, "familyname": "Beispiel"})
    own_renamed = answered(familyname="Beispiel")
    assert ownership.CONTACT.sent_by_sevsync([own_renamed], (created,)) == []
    assert ownership.CONTACT.sent_by_sevsync([own_renamed], (created, renamed)) == [own_renamed]
