"""Which won deal's invoice is an e-invoice, and what one lacks (sevsync.sync.einvoice, pure)."""

from __future__ import annotations

from typing import Any

import pytest

from sevsync.sync import einvoice as ei
from sevsync.tenants.settings import EInvoiceMode, TenantSettings
from sevsync_events.payloads import Customer, Deal

from .. import samples

REFERENCE = "04011000-12345-67"
COMPLETE = ei.ContactFacts(buyer_reference=REFERENCE, has_email=True)


def company(**overrides: Any) -> Customer:
    return Customer.model_validate(samples.company(**overrides))


def person(**overrides: Any) -> Customer:
    return Customer.model_validate(samples.person(**overrides))


def deal(customer: Customer | None = None, **overrides: Any) -> Deal:
    data = samples.deal(**overrides)
    if customer is not None:
        data["customer"] = customer.model_dump(mode="json")
    return Deal.model_validate(data)


# --- which invoices are e-invoices ------------------------------------------------------------------

# (mode, kind, e_invoice flag, has a buyer reference) -> e-invoice?
MODE_RULES = [
    # off: never, whatever the customer says.
    *[("off", kind, flag, ref, False) for kind in ("company", "person") for flag in (None, True, False)
      for ref in (False, True)],
    # all: every company (B2B mandate); a person only when it asks.
    *[("all", "company", flag, ref, True) for flag in (None, True, False) for ref in (False, True)],
    ("all", "person", None, False, False),
    ("all", "person", None, True, False),
    ("all", "person", True, False, True),
    ("all", "person", True, True, True),
    ("all", "person", False, False, False),
    ("all", "person", False, True, False),
    # customers: the flag decides; absent, a buyer reference does. Kind does not matter.
    *[("customers", kind, True, ref, True) for kind in ("company", "person") for ref in (False, True)],
    *[("customers", kind, False, ref, False) for kind in ("company", "person") for ref in (False, True)],
    *[("customers", kind, None, True, True) for kind in ("company", "person")],
    *[("customers", kind, None, False, False) for kind in ("company", "person")],
]  # fmt: skip


@pytest.mark.parametrize(("mode", "kind", "flag", "has_reference", "expected"), MODE_RULES)
def test_the_tenant_mode_and_the_customer_decide(
    mode: EInvoiceMode, kind: str, flag: bool | None, has_reference: bool, expected: bool
) -> None:
    make = company if kind == "company" else person
    customer = make(e_invoice=flag, buyer_reference=REFERENCE if has_reference else None)

    assert ei.wants_einvoice(mode, customer) is expected


def test_the_rules_cover_every_combination() -> None:
    combinations = {(mode, kind, flag, ref) for mode, kind, flag, ref, _ in MODE_RULES}
    assert len(combinations) == len(MODE_RULES) == 3 * 2 * 3 * 2


def test_a_blank_buyer_reference_is_none() -> None:
    assert ei.wants_einvoice("customers", company(buyer_reference="  ")) is False


# --- the payment method -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "mapped", "default", "expected"),
    [
        ("card", {"card": "21920"}, None, "21920"),
        ("card", {"card": "21920"}, "21919", "21920"),  # a mapping beats the default
        ("paypal", {"card": "21920"}, "21919", "21919"),  # unmapped: the default
        (None, {"card": "21920"}, "21919", "21919"),  # none named: the default
        ("paypal", {"card": "21920"}, None, None),
        (None, {}, None, None),
    ],
)
def test_the_payment_method_is_mapped_else_the_default(
    method: str | None, mapped: dict[str, str], default: str | None, expected: str | None
) -> None:
    settings = TenantSettings(e_invoice="all", payment_methods=mapped, default_payment_method=default)

    plan = ei.plan_for(settings, deal(payment_method=method))

    assert plan == ei.EInvoicePlan(expected, method)


def test_no_plan_for_an_ordinary_invoice() -> None:
    assert ei.plan_for(TenantSettings(), deal(payment_method="card")) is None
    assert ei.plan_for(TenantSettings(e_invoice="customers"), deal()) is None


def test_the_header_fields_flag_the_invoice_and_name_the_method() -> None:
    assert ei.header_fields(ei.EInvoicePlan("21919", "transfer")) == {
        "propertyIsEInvoice": True,
        "paymentMethod": {"id": 21919, "objectName": "PaymentMethod"},
    }


# --- what an e-invoice lacks ------------------------------------------------------------------------

PLAN = ei.EInvoicePlan("21919", "transfer")
ADDRESS = {"street": "Hauptstr. 1", "zip": "10115", "city": "Berlin", "country": "DE"}


def test_complete_data_lacks_nothing() -> None:
    assert ei.missing_fields(PLAN, COMPLETE, company()) == []


@pytest.mark.parametrize(
    ("plan", "contact", "customer", "missing"),
    [
        (PLAN, ei.ContactFacts(None, True), company(), ["contact buyerReference"]),
        (PLAN, ei.ContactFacts(REFERENCE, False), company(), ["contact e-mail"]),
        (ei.EInvoicePlan(None, "card"), COMPLETE, company(), ["invoice paymentMethod"]),
        (PLAN, COMPLETE, company(address={**ADDRESS, "street": None}), ["invoice addressStreet"]),
        (PLAN, COMPLETE, company(address={**ADDRESS, "zip": None}), ["invoice addressZip"]),
        (PLAN, COMPLETE, company(address={**ADDRESS, "city": None}), ["invoice addressCity"]),
        (
            PLAN,
            COMPLETE,
            company(address=None),
            ["invoice addressStreet", "invoice addressZip", "invoice addressCity", "invoice addressCountry"],
        ),
        (PLAN, None, company(), ["invoice contact"]),
        (
            ei.EInvoicePlan(None, None),
            ei.ContactFacts(None, False),
            company(address={**ADDRESS, "zip": None}),
            ["contact buyerReference", "contact e-mail", "invoice paymentMethod", "invoice addressZip"],
        ),
    ],
)
def test_every_missing_field_is_named(
    plan: ei.EInvoicePlan, contact: ei.ContactFacts | None, customer: Customer, missing: list[str]
) -> None:
    assert ei.missing_fields(plan, contact, customer) == missing


def test_the_message_names_every_field_and_how_to_fix_it() -> None:
    missing = ["contact buyerReference", "contact e-mail", "invoice paymentMethod"]

    message = ei.missing_message(deal(), ei.EInvoicePlan(None, "card"), missing)

    assert message.startswith(
        "deal D-2026-0042: the e-invoice lacks contact buyerReference, contact e-mail, invoice paymentMethod;"
    )
    assert "'card'" in message
    assert "--payment-method" in message
    assert "buyer_reference" in message


@pytest.mark.parametrize(
    ("contact", "ways", "facts"),
    [
        (
            {"buyerReference": REFERENCE},
            [{"id": "5", "type": "EMAIL", "value": "a@b.example", "main": "1"}],
            ei.ContactFacts(REFERENCE, True),
        ),
        (
            {"buyerReference": None},
            [{"id": "5", "type": "PHONE", "value": "+49 1"}],
            ei.ContactFacts(None, False),
        ),
        ({"buyerReference": " "}, [{"id": "5", "type": "EMAIL", "value": ""}], ei.ContactFacts(None, False)),
        ({}, [{"id": "6", "type": "email", "value": "x@y.example"}], ei.ContactFacts(None, True)),
    ],
)
def test_contact_facts_as_sevdesk_answers_them(
    contact: dict[str, Any], ways: list[dict[str, Any]], facts: ei.ContactFacts
) -> None:
    assert ei.contact_facts(contact, ways) == facts


def test_a_customer_not_linked_yet_is_checked_as_its_contact_will_be_created() -> None:
    assert ei.customer_facts(company(buyer_reference=REFERENCE)) == ei.ContactFacts(REFERENCE, True)
    assert ei.customer_facts(company(email=None)) == ei.ContactFacts(None, False)


@pytest.mark.parametrize(
    ("einvoice", "draft_flag", "expected"),
    [
        (True, "1", {}),
        (True, "0", {}),
        (False, "0", {}),
        (False, None, {}),
        (False, "1", {"propertyIsEInvoice": False}),  # it was one: no longer
        (False, True, {"propertyIsEInvoice": False}),
    ],
)
def test_an_ordinary_update_of_an_einvoice_draft_clears_the_flag(
    einvoice: bool, draft_flag: object, expected: dict[str, Any]
) -> None:
    header = {"header": "Rechnung"}

    updated = ei.for_draft(header, {"propertyIsEInvoice": draft_flag}, einvoice=einvoice)

    assert updated == {**header, **expected}
