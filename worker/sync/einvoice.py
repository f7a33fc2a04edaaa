"""Pure rules of e-invoices (CONTRACT section 9): which won deal gets one, and what it lacks.

No I/O here: the handler (invoices.py) reads the linked contact as sevDesk holds it and hands the
facts in. An e-invoice needs, per sevDesk's spec (Model_Invoice ``propertyIsEInvoice``), on the
contact a ``buyerReference`` and an e-mail, and on the invoice ``paymentMethod``, the address
(street, zip, city, country) and ``contact``. The account's own company data is on that list too,
but no documented endpoint reads it, so it is not checked here (``tenant doctor`` warns about it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sevsync_events.payloads import Customer, Deal

from ..sevdesk.objects import JsonObject, ref
from ..tenants.settings import EInvoiceMode, TenantSettings
from .contact_mapping import pick_existing_way

# The names a failure gives the missing fields: sevDesk's own, after what they belong to.
CONTACT_BUYER_REFERENCE = "contact buyerReference"
CONTACT_EMAIL = "contact e-mail"
INVOICE_PAYMENT_METHOD = "invoice paymentMethod"
INVOICE_ADDRESS_FIELDS = (
    "invoice addressStreet",
    "invoice addressZip",
    "invoice addressCity",
    "invoice addressCountry",
)
INVOICE_CONTACT = "invoice contact"


def wants_einvoice(mode: EInvoiceMode, customer: Customer) -> bool:
    """Whether the tenant's `e_invoice` setting makes this customer's deal invoice an e-invoice.

    `all`: companies always (the B2B mandate), persons only when they ask for one; `customers`: the
    customer's `e_invoice` decides, and when it is absent, having a `buyer_reference` does.
    """
    if mode == "off":
        return False
    if mode == "all":
        return customer.kind == "company" or customer.e_invoice is True
    if customer.e_invoice is not None:
        return customer.e_invoice
    return customer.buyer_reference is not None


@dataclass(frozen=True)
class EInvoicePlan:
    """A deal invoice that is to be an e-invoice, with the PaymentMethod id it gets (None: none)."""

    payment_method_id: str | None
    # The deal's CRM payment method, named in the failure when it maps to nothing.
    crm_method: str | None


def plan_for(settings: TenantSettings, deal: Deal) -> EInvoicePlan | None:
    """The e-invoice plan of a won deal, or None when its invoice is an ordinary one."""
    if not wants_einvoice(settings.e_invoice, deal.customer):
        return None
    mapped = settings.payment_methods.get(deal.payment_method) if deal.payment_method else None
    return EInvoicePlan(mapped or settings.default_payment_method, deal.payment_method)


@dataclass(frozen=True)
class ContactFacts:
    """The invoice's contact as it will be when the invoice is written; None: it does not exist."""

    buyer_reference: str | None
    has_email: bool


def contact_facts(contact: JsonObject, ways: Sequence[JsonObject]) -> ContactFacts:
    """The facts of a contact as sevDesk answers it, with its communication ways."""
    email = pick_existing_way(list(ways), "EMAIL")
    reference = str(contact.get("buyerReference") or "").strip()
    return ContactFacts(
        buyer_reference=reference or None,
        has_email=email is not None and bool(str(email.get("value") or "").strip()),
    )


def customer_facts(customer: Customer) -> ContactFacts:
    """The facts of the contact a customer not linked yet will be created with."""
    return ContactFacts(buyer_reference=customer.buyer_reference, has_email=customer.email is not None)


def missing_fields(plan: EInvoicePlan, contact: ContactFacts | None, customer: Customer) -> list[str]:
    """Every field the e-invoice would lack, in the spec's order; empty when it is complete.

    The invoice's address is the deal customer's (deal_mapping.DealDocument.header): without one,
    its country would only be the default, so it counts as missing too.
    """
    missing = []
    if contact is not None and contact.buyer_reference is None:
        missing.append(CONTACT_BUYER_REFERENCE)
    if contact is not None and not contact.has_email:
        missing.append(CONTACT_EMAIL)
    if plan.payment_method_id is None:
        missing.append(INVOICE_PAYMENT_METHOD)
    address = customer.address
    street, zip_code, city = (address.street, address.zip, address.city) if address else (None, None, None)
    country = address.country if address else None
    for name, value in zip(INVOICE_ADDRESS_FIELDS, (street, zip_code, city, country), strict=True):
        if not value:
            missing.append(name)
    if contact is None:
        missing.append(INVOICE_CONTACT)
    return missing


def missing_message(deal: Deal, plan: EInvoicePlan, missing: Sequence[str]) -> str:
    """One line naming every missing field, and where each is fixed."""
    hints = []
    if CONTACT_BUYER_REFERENCE in missing or CONTACT_EMAIL in missing:
        hints.append("the customer's buyer_reference / email (customer.updated)")
    if INVOICE_PAYMENT_METHOD in missing:
        method = f"payment method {plan.crm_method!r}" if plan.crm_method else "no payment method"
        hints.append(
            f"the deal names {method}: map it with `tenant settings --payment-method METHOD=ID` "
            "or set --default-payment-method"
        )
    if any(name in missing for name in INVOICE_ADDRESS_FIELDS):
        hints.append("the customer's address")
    if INVOICE_CONTACT in missing:
        hints.append("the customer's linked sevDesk contact no longer exists")
    return f"deal {deal.number}: the e-invoice lacks {', '.join(missing)}; fix {'; '.join(hints)}"


def header_fields(plan: EInvoicePlan) -> JsonObject:
    """What makes the invoice an e-invoice (written only once nothing is missing)."""
    fields: JsonObject = {"propertyIsEInvoice": True}
    if plan.payment_method_id is not None:
        fields["paymentMethod"] = ref("PaymentMethod", int(plan.payment_method_id))
    return fields


def for_draft(header: JsonObject, draft: JsonObject, *, einvoice: bool) -> JsonObject:
    """An ordinary invoice's update of a draft that was saved as an e-invoice turns the flag off."""
    if einvoice or str(draft.get("propertyIsEInvoice") or "0").lower() in {"0", "false"}:
        return header
    return {**header, "propertyIsEInvoice": False}
