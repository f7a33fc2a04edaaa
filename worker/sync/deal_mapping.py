"""Pure mapping of a deal to the fields of a sevDesk revenue document (an offer or an invoice).

No I/O here: once the sevDesk ids a document refers to are known (see deal_documents.prepare), the
header and positions follow from the deal alone. Also how sevsync reads amounts and numbers off a
document sevDesk answers with.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from sevsync_events.payloads import Customer, Deal

from ..sevdesk.objects import JsonObject, ref
from . import totals as tot
from .dates import document_date
from .part_mapping import decimal_text, unity_id
from .tax import TaxDecision

DEFAULT_COUNTRY = "DE"


@dataclass(frozen=True)
class DealDocument:
    """A deal as the positions and header of a sevDesk revenue document, before it is written."""

    contact_id: str
    country_id: str
    contact_person_id: str
    tax: TaxDecision
    positions: tuple[tot.Position, ...]
    totals: tot.Totals
    # CRM line index -> sevDesk Part id, for lines whose product is linked.
    part_ids: dict[int, str]

    def header(self, deal: Deal) -> JsonObject:
        """The fields orders and invoices share."""
        customer = deal.customer
        address = customer.address
        return {
            "contact": ref("Contact", self.contact_id),
            "contactPerson": ref("SevUser", self.contact_person_id),
            "addressCountry": ref("StaticCountry", self.country_id),
            "address": address_block(customer),
            "taxRule": ref("TaxRule", self.tax.tax_rule),
            "taxText": self.tax.tax_text,
            "taxRate": 0,  # unused on Update 2.0 accounts; the rates are per position
            "smallSettlement": self.tax.small_settlement,
            "showNet": True,  # position prices are net
            "currency": deal.currency,
            **(
                {
                    "addressName": display_name(customer),
                    "addressStreet": address.street,
                    "addressZip": address.zip,
                    "addressCity": address.city,
                }
                if address is not None
                else {}
            ),
        }

    def position_bodies(
        self, object_name: Literal["OrderPos", "InvoicePos"], units: dict[str, str]
    ) -> list[JsonObject]:
        bodies = []
        for number, position in enumerate(self.positions, start=1):
            body: JsonObject = {
                "objectName": object_name,
                "mapAll": True,
                "positionNumber": number,
                "name": position.name,
                "text": position.text,
                "quantity": decimal_text(position.quantity),
                "price": decimal_text(position.unit_price),
                "taxRate": decimal_text(position.tax_rate),
                "unity": ref("Unity", unity_id(position.unit, units)),
            }
            if position.discount_percent:
                body["discount"] = decimal_text(position.discount_percent)
            part_id = self.part_ids.get(number - 1)
            if part_id is not None:
                # sevDesk fills neither name nor price from the part: both are sent above.
                body["part"] = ref("Part", part_id)
            bodies.append(body)
        return bodies


def amount_of(value: Any) -> Decimal | None:
    """An amount sevDesk sent (a string, a number, or missing) in cents; never through float."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value)).quantize(tot.CENT)
    except ArithmeticError:
        return None


def document_number(document: JsonObject) -> str | None:
    """The number a document shows: order or invoice number (null on an invoice draft), or a
    voucher's description."""
    number = document.get("orderNumber") or document.get("invoiceNumber") or document.get("description")
    return str(number) if number else None


def display_name(customer: Customer) -> str:
    if customer.kind == "company" and customer.company_name:
        return customer.company_name
    return " ".join(n for n in (customer.first_name, customer.last_name) if n)


def address_block(customer: Customer) -> str:
    """The multi-line address printed on the document (sevDesk does not copy it from the contact)."""
    lines = [display_name(customer)]
    if customer.kind == "company" and customer.last_name:
        lines.append(" ".join(n for n in (customer.first_name, customer.last_name) if n))
    address = customer.address
    if address is not None:
        if address.street:
            lines.append(address.street)
        lines.append(" ".join(p for p in (address.zip, address.city) if p))
        if address.country != DEFAULT_COUNTRY:
            lines.append(address.country)
    return "\n".join(line for line in lines if line)


def date_text(deal: Deal) -> str:
    return document_date(deal.date)
