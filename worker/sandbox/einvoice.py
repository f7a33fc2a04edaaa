"""E-invoices (``propertyIsEInvoice``): which data one lacks, the refusal naming it, and its XML.

As measured on the real API (api-notes 15), a flagged draft is saved whatever it lacks; rendering,
finalising and the XML are refused with HTTP 400, code 830, and ``data["missing information"]``
listing the missing fields. Fields are named ``sevClient.<field>``, ``contact.<field>`` and
``invoice.<field>`` after the spec's three lists.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .cii import SELLER_COUNTRY, Party, cii_invoice, country_code
from .company import REQUIRED_FIELDS as COMPANY_FIELDS
from .errors import ApiError
from .store import Account, Record

CODE_EINVOICE_DATA_MISSING = 830
_INVOICE_FIELDS = ("paymentMethod", "addressStreet", "addressZip", "addressCity", "addressCountry", "contact")


def is_einvoice(invoice: Record) -> bool:
    return bool(invoice.fields.get("propertyIsEInvoice") == "1")


def missing_fields(
    company: Mapping[str, str | None],
    invoice: Mapping[str, Any],
    contact: Mapping[str, Any] | None,
    *,
    contact_has_email: bool,
) -> list[str]:
    """Every field an e-invoice needs that is empty, in the spec's order."""
    missing = [f"sevClient.{name}" for name in COMPANY_FIELDS if not company.get(name)]
    if contact is None or not contact.get("buyerReference"):
        missing.append("contact.buyerReference")
    if not contact_has_email:
        missing.append("contact.email")
    missing.extend(f"invoice.{name}" for name in _INVOICE_FIELDS if not invoice.get(name))
    return missing


def contact_email(account: Account, contact_id: str) -> str | None:
    """The contact's e-mail: its main EMAIL communication way, else its first one."""
    emails = [
        way.fields
        for way in account.table("CommunicationWay").values()
        if way.fields["contact"]["id"] == contact_id and way.fields["type"] == "EMAIL" and way.fields["value"]
    ]
    emails.sort(key=lambda way: way.get("main") != "1")
    return str(emails[0]["value"]) if emails else None


def invoice_contact(account: Account, invoice: Record) -> Record | None:
    reference = invoice.fields.get("contact")
    return account.find("Contact", int(reference["id"])) if reference else None


def require_complete(account: Account, invoice: Record) -> None:
    """Refuse (830) to render, finalise or export an e-invoice that lacks data; others pass."""
    if not is_einvoice(invoice):
        return
    contact = invoice_contact(account, invoice)
    has_email = contact is not None and contact_email(account, str(contact.id)) is not None
    missing = missing_fields(
        account.company,
        invoice.fields,
        None if contact is None else contact.fields,
        contact_has_email=has_email,
    )
    if missing:
        raise ApiError(
            400,
            f"The e-invoice cannot be created, information is missing: {', '.join(missing)}",
            code=CODE_EINVOICE_DATA_MISSING,
            data={"missing information": missing},
        )


def _contact_name(contact: Record) -> str:
    fields = contact.fields
    if fields.get("name"):
        return str(fields["name"])
    return " ".join(str(fields[key]) for key in ("surename", "familyname") if fields.get(key))


def einvoice_xml(account: Account, invoice: Record, positions: list[Record]) -> str:
    """The CII document of an e-invoice that :func:`require_complete` let pass."""
    contact = invoice_contact(account, invoice)
    assert contact is not None  # require_complete insists on it
    company, fields = account.company, invoice.fields
    seller = Party(
        name=company.get("name") or f"sevDesk client {account.id}",
        street=company["addressStreet"],
        zip=company["addressZip"],
        city=company["addressCity"],
        country=SELLER_COUNTRY,
        email=company["contactEmail"],
        phone=company["contactPhone"],
        tax_number=company["taxNumber"],
        vat_number=company.get("vatNumber"),
    )
    buyer = Party(
        name=fields.get("addressName") or _contact_name(contact),
        street=fields["addressStreet"],
        zip=fields["addressZip"],
        city=fields["addressCity"],
        country=country_code(fields["addressCountry"]),
        email=contact_email(account, str(contact.id)),
        buyer_reference=contact.fields["buyerReference"],
        vat_number=contact.fields.get("vatNumber"),
    )
    return cii_invoice(invoice, positions, seller, buyer, (company["bankIban"], company["bankBic"]))
