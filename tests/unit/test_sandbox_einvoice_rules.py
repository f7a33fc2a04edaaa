"""The sandbox's e-invoice rule: which fields its 830 refusal names (the spec's propertyIsEInvoice)."""

from __future__ import annotations

from typing import Any

import pytest

from sevsync.sandbox.company import FIELDS, REQUIRED_FIELDS
from sevsync.sandbox.einvoice import missing_fields

COMPANY = {name: f"{name} value" for name in FIELDS}
CONTACT = {"name": "Amt", "buyerReference": "991-12345-67"}
INVOICE: dict[str, Any] = {
    "paymentMethod": {"id": "21919", "objectName": "PaymentMethod"},
    "addressStreet": "Kundenweg 5",
    "addressZip": "20095",
    "addressCity": "Hamburg",
    "addressCountry": {"id": "1", "objectName": "StaticCountry"},
    "contact": {"id": "1001", "objectName": "Contact"},
}


def test_complete_data_lacks_nothing() -> None:
    assert missing_fields(COMPANY, INVOICE, CONTACT, contact_has_email=True) == []


def test_the_vat_number_and_the_company_name_are_optional() -> None:
    company = {**COMPANY, "vatNumber": None, "name": None}

    assert missing_fields(company, INVOICE, CONTACT, contact_has_email=True) == []


@pytest.mark.parametrize("name", REQUIRED_FIELDS)
@pytest.mark.parametrize("empty", [None, ""])
def test_each_company_field_is_named(name: str, empty: str | None) -> None:
    company = {**COMPANY, name: empty}

    assert missing_fields(company, INVOICE, CONTACT, contact_has_email=True) == [f"sevClient.{name}"]


@pytest.mark.parametrize("name", list(INVOICE))
def test_each_invoice_field_is_named(name: str) -> None:
    invoice = {**INVOICE, name: None}

    assert missing_fields(COMPANY, invoice, CONTACT, contact_has_email=True) == [f"invoice.{name}"]


def test_the_contact_needs_a_buyer_reference_and_an_email() -> None:
    contact = {**CONTACT, "buyerReference": None}

    assert missing_fields(COMPANY, INVOICE, contact, contact_has_email=False) == [
        "contact.buyerReference",
        "contact.email",
    ]


def test_without_a_contact_everything_of_it_is_missing() -> None:
    invoice = {**INVOICE, "contact": None}

    missing = missing_fields(COMPANY, invoice, None, contact_has_email=False)

    assert missing == ["contact.buyerReference", "contact.email", "invoice.contact"]


def test_everything_is_named_at_once_in_the_spec_order() -> None:
    missing = missing_fields({}, {}, None, contact_has_email=False)

    assert missing == [
        *(f"sevClient.{name}" for name in REQUIRED_FIELDS),
        "contact.buyerReference",
        "contact.email",
        *(f"invoice.{name}" for name in INVOICE),
    ]
