"""The XRechnung XML of an e-invoice: a UN/CEFACT Cross Industry Invoice (CII) document.

``GET /Invoice/{id}/getXml`` answers it as a string (api-notes 15). The sandbox builds the parts a
client can check without an XSD: document id/type/date, seller, buyer (with its buyer reference),
one line per position, payment means, the tax breakdown and the monetary summation. The header
totals are the invoice's stored ``sumNet``/``sumTax``/``sumGross``; the per-rate breakdown comes
from the positions.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from . import money
from .lookups import PAYMENT_METHODS, STATIC_COUNTRIES, find_static
from .store import Record

NAMESPACES = {
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
    "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100",
}
for _prefix, _uri in NAMESPACES.items():
    ET.register_namespace(_prefix, _uri)

XRECHNUNG_GUIDELINE = "urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung_3.0"
PEPPOL_PROCESS = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"
COMMERCIAL_INVOICE, CREDIT_NOTE = "380", "381"
# The sevDesk client is a German company; its country is not part of the data the spec lists.
SELLER_COUNTRY = "DE"
PIECE = "C62"  # UN/ECE rec. 20 "one": the sandbox does not map sevDesk units
# UNTDID 4461 payment means by the sandbox's PaymentMethod translation codes (default: transfer).
_PAYMENT_MEANS = {
    "PAYMENT_METHOD_BANK_TRANSFER": "58",
    "PAYMENT_METHOD_DIRECT_DEBIT": "59",
    "PAYMENT_METHOD_CASH": "10",
    "PAYMENT_METHOD_PAYPAL": "68",
}
# UNTDID 5305 tax categories of sevDesk's revenue tax rules when the rate is zero.
_ZERO_RATE_CATEGORIES = {1: "Z", 2: "G", 3: "K", 4: "E", 5: "AE", 11: "E", 17: "O", 21: "AE"}


@dataclass(frozen=True)
class Party:
    """Seller or buyer as the XML shows them."""

    name: str
    street: str | None
    zip: str | None
    city: str | None
    country: str
    email: str | None
    phone: str | None = None
    buyer_reference: str | None = None
    tax_number: str | None = None
    vat_number: str | None = None


def _q(tag: str) -> str:
    prefix, local = tag.split(":")
    return f"{{{NAMESPACES[prefix]}}}{local}"


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attributes: str) -> ET.Element:
    element = ET.SubElement(parent, _q(tag), attributes)
    if text is not None:
        element.text = text
    return element


def _amount(value: Decimal) -> str:
    return f"{money.cents(value):.2f}"


def _day(timestamp: str | None) -> str:
    """``2026-10-01T00:00:00+02:00`` as CII format 102 (``20261001``)."""
    return (timestamp or "")[:10].replace("-", "")


def country_code(reference: Mapping[str, Any]) -> str:
    """ISO 3166-1 alpha-2 (upper case, as CII wants it) of a StaticCountry reference."""
    country = find_static(STATIC_COUNTRIES, int(reference["id"]))
    assert country is not None  # saveInvoice checked the reference
    return str(country["code"]).upper()


def tax_category(rule_id: int, rate: Decimal) -> str:
    return "S" if rate > 0 else _ZERO_RATE_CATEGORIES.get(rule_id, "Z")


def _party(parent: ET.Element, tag: str, party: Party) -> None:
    element = _sub(parent, tag)
    _sub(element, "ram:Name", party.name)
    if party.phone or party.email:
        contact = _sub(element, "ram:DefinedTradeContact")
        if party.phone:
            _sub(_sub(contact, "ram:TelephoneUniversalCommunication"), "ram:CompleteNumber", party.phone)
        if party.email:
            _sub(_sub(contact, "ram:EmailURIUniversalCommunication"), "ram:URIID", party.email)
    address = _sub(element, "ram:PostalTradeAddress")
    _sub(address, "ram:PostcodeCode", party.zip or "")
    _sub(address, "ram:LineOne", party.street or "")
    _sub(address, "ram:CityName", party.city or "")
    _sub(address, "ram:CountryID", party.country)
    if party.email:
        _sub(_sub(element, "ram:URIUniversalCommunication"), "ram:URIID", party.email, schemeID="EM")
    for scheme, number in (("FC", party.tax_number), ("VA", party.vat_number)):
        if number:
            _sub(_sub(element, "ram:SpecifiedTaxRegistration"), "ram:ID", number, schemeID=scheme)


def _line(parent: ET.Element, number: int, position: Record, rule_id: int) -> None:
    rate: Decimal = position.meta["taxRate"]
    item = _sub(parent, "ram:IncludedSupplyChainTradeLineItem")
    _sub(_sub(item, "ram:AssociatedDocumentLineDocument"), "ram:LineID", str(number))
    _sub(_sub(item, "ram:SpecifiedTradeProduct"), "ram:Name", position.fields.get("name") or "")
    agreement = _sub(item, "ram:SpecifiedLineTradeAgreement")
    price = _sub(agreement, "ram:NetPriceProductTradePrice")
    _sub(price, "ram:ChargeAmount", _amount(Decimal(str(position.fields["priceNet"]))))
    delivery = _sub(item, "ram:SpecifiedLineTradeDelivery")
    _sub(delivery, "ram:BilledQuantity", format(position.meta["quantity"].normalize(), "f"), unitCode=PIECE)
    settlement = _sub(item, "ram:SpecifiedLineTradeSettlement")
    tax = _sub(settlement, "ram:ApplicableTradeTax")
    _sub(tax, "ram:TypeCode", "VAT")
    _sub(tax, "ram:CategoryCode", tax_category(rule_id, rate))
    _sub(tax, "ram:RateApplicablePercent", f"{rate:.2f}")
    summation = _sub(settlement, "ram:SpecifiedTradeSettlementLineMonetarySummation")
    _sub(summation, "ram:LineTotalAmount", _amount(Decimal(str(position.fields["sumNet"]))))


def _tax_breakdown(parent: ET.Element, positions: list[Record], rule_id: int) -> None:
    """One ApplicableTradeTax per rate: the positions' net at that rate and its tax."""
    bases: dict[Decimal, Decimal] = {}
    for position in positions:
        rate = position.meta["taxRate"]
        bases[rate] = bases.get(rate, Decimal(0)) + Decimal(str(position.fields["sumNet"]))
    for rate, basis in sorted(bases.items()):
        tax = _sub(parent, "ram:ApplicableTradeTax")
        _sub(tax, "ram:CalculatedAmount", _amount(basis * rate / money.HUNDRED))
        _sub(tax, "ram:TypeCode", "VAT")
        _sub(tax, "ram:BasisAmount", _amount(basis))
        _sub(tax, "ram:CategoryCode", tax_category(rule_id, rate))
        _sub(tax, "ram:RateApplicablePercent", f"{rate:.2f}")


def _payment_means(parent: ET.Element, invoice: Mapping[str, Any], seller_iban: str, seller_bic: str) -> None:
    method = find_static(PAYMENT_METHODS, int(invoice["paymentMethod"]["id"])) or {}
    means = _sub(parent, "ram:SpecifiedTradeSettlementPaymentMeans")
    _sub(means, "ram:TypeCode", _PAYMENT_MEANS.get(str(method.get("translationCode")), "58"))
    _sub(means, "ram:Information", str(method.get("name") or ""))
    _sub(_sub(means, "ram:PayeePartyCreditorFinancialAccount"), "ram:IBANID", seller_iban)
    _sub(_sub(means, "ram:PayeeSpecifiedCreditorFinancialInstitution"), "ram:BICID", seller_bic)


def _summation(parent: ET.Element, invoice: Mapping[str, Any], positions: list[Record]) -> None:
    currency = str(invoice.get("currency") or "EUR")
    line_total = sum((Decimal(str(p.fields["sumNet"])) for p in positions), Decimal(0))
    gross = Decimal(invoice["sumGross"])
    paid = Decimal(str(invoice.get("paidAmount") or 0))
    summation = _sub(parent, "ram:SpecifiedTradeSettlementHeaderMonetarySummation")
    _sub(summation, "ram:LineTotalAmount", _amount(line_total))
    _sub(summation, "ram:TaxBasisTotalAmount", _amount(Decimal(invoice["sumNet"])))
    _sub(summation, "ram:TaxTotalAmount", _amount(Decimal(invoice["sumTax"])), currencyID=currency)
    _sub(summation, "ram:GrandTotalAmount", _amount(gross))
    if paid:
        _sub(summation, "ram:TotalPrepaidAmount", _amount(paid))
    _sub(summation, "ram:DuePayableAmount", _amount(gross - paid))


def cii_invoice(
    invoice: Record, positions: list[Record], seller: Party, buyer: Party, bank: tuple[str, str]
) -> str:
    """The CII document of a complete e-invoice, as a string with its XML declaration."""
    fields = invoice.fields
    rule_id = int(fields["taxRule"]["id"])
    root = ET.Element(_q("rsm:CrossIndustryInvoice"))
    context = _sub(root, "rsm:ExchangedDocumentContext")
    _sub(_sub(context, "ram:BusinessProcessSpecifiedDocumentContextParameter"), "ram:ID", PEPPOL_PROCESS)
    _sub(_sub(context, "ram:GuidelineSpecifiedDocumentContextParameter"), "ram:ID", XRECHNUNG_GUIDELINE)
    document = _sub(root, "rsm:ExchangedDocument")
    _sub(document, "ram:ID", fields.get("invoiceNumber") or str(invoice.id))
    _sub(document, "ram:TypeCode", CREDIT_NOTE if fields.get("invoiceType") == "SR" else COMMERCIAL_INVOICE)
    issued = _sub(document, "ram:IssueDateTime")
    _sub(issued, "udt:DateTimeString", _day(fields.get("invoiceDate")), format="102")
    transaction = _sub(root, "rsm:SupplyChainTradeTransaction")
    for number, position in enumerate(positions, start=1):
        _line(transaction, number, position, rule_id)
    agreement = _sub(transaction, "ram:ApplicableHeaderTradeAgreement")
    _sub(agreement, "ram:BuyerReference", buyer.buyer_reference or "")
    _party(agreement, "ram:SellerTradeParty", seller)
    _party(agreement, "ram:BuyerTradeParty", buyer)
    _sub(transaction, "ram:ApplicableHeaderTradeDelivery")
    settlement = _sub(transaction, "ram:ApplicableHeaderTradeSettlement")
    _sub(settlement, "ram:InvoiceCurrencyCode", str(fields.get("currency") or "EUR"))
    _payment_means(settlement, fields, *bank)
    _tax_breakdown(settlement, positions, rule_id)
    _summation(settlement, fields, positions)
    ET.indent(root)
    # Declared by hand: ElementTree would declare the locale's encoding for a str result.
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")
