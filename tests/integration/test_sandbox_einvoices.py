"""The sandbox's e-invoices over real HTTP: the account's company data, ``buyerReference`` on contacts,
payment methods, the 830 refusals naming what an e-invoice lacks, and the CII XML of ``getXml``."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from sevsync.sandbox import Account, SandboxServer

from .sandbox_account import TOKEN
from .test_sandbox_api import CUSTOMER, GERMANY, PIECE, Api, Reply, assert_error

RULE_1 = {"id": 1, "objectName": "TaxRule"}
TRANSFER = {"id": 21919, "objectName": "PaymentMethod"}
WORK = {"id": 2, "objectName": "CommunicationWayKey"}
COMPANY = {
    "name": "Sandbox Software GmbH",
    "addressStreet": "Hauptstraße 1",
    "addressZip": "10115",
    "addressCity": "Berlin",
    "bankIban": "DE02120300000000202051",
    "bankBic": "BYLADEM1001",
    "contactEmail": "billing@sandbox.example",
    "contactPhone": "+49 30 123456",
    "taxNumber": "30/123/45678",
    "vatNumber": "DE123456789",
}
ADDRESS = {"addressStreet": "Kundenweg 5", "addressZip": "20095", "addressCity": "Hamburg"}
BUYER_REFERENCE = "04011000-12345-67"
CII = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
NS = {
    "rsm": CII,
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
    "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100",
}


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture
def api(server: SandboxServer, session: aiohttp.ClientSession) -> Api:
    return Api(session, server.base_url)


async def control(
    server: SandboxServer, session: aiohttp.ClientSession, method: str, path: str, body: Any = None
) -> tuple[int, Any]:
    url = f"{server.root_url}/__sandbox__{path}"
    async with session.request(method, url, json=body, headers={"Authorization": TOKEN}) as response:
        return response.status, await response.json(content_type=None)


async def set_company(server: SandboxServer, session: aiohttp.ClientSession, **fields: Any) -> None:
    status, body = await control(server, session, "POST", "/company", fields)
    assert status == 200, body


async def create_buyer(api: Api, *, buyer_reference: str | None = BUYER_REFERENCE, email: bool = True) -> int:
    body: dict[str, Any] = {"name": "Behörde Hamburg", "category": CUSTOMER}
    if buyer_reference is not None:
        body["buyerReference"] = buyer_reference
    contact = await api.post("/Contact", body)
    assert contact.status == 201, contact.body
    contact_id = int(contact.body["objects"]["id"])
    if email:
        way = {
            "contact": {"id": contact_id, "objectName": "Contact"},
            "type": "EMAIL",
            "value": "rechnung@behoerde.example",
            "key": WORK,
            "main": True,
        }
        assert (await api.post("/CommunicationWay", way)).status == 201
    return contact_id


def einvoice_body(api_user: int, contact_id: int, **header: Any) -> dict[str, Any]:
    invoice = {
        "objectName": "Invoice",
        "mapAll": True,
        "invoiceDate": "01.10.2026",
        "contact": {"id": contact_id, "objectName": "Contact"},
        "contactPerson": {"id": api_user, "objectName": "SevUser"},
        "discount": 0,
        "status": 100,
        "addressCountry": GERMANY,
        "taxRule": RULE_1,
        "taxText": "Umsatzsteuer",
        "invoiceType": "RE",
        "currency": "EUR",
        "showNet": True,
        "propertyIsEInvoice": True,
        "paymentMethod": TRANSFER,
        "addressName": "Behörde Hamburg",
        **ADDRESS,
        **header,
    }
    positions = [
        {"quantity": "2", "price": "100", "taxRate": "19", "name": "Beratung"},
        {"quantity": "1", "price": "50", "taxRate": "7", "name": "Fachbuch"},
    ]
    return {
        "invoice": {key: value for key, value in invoice.items() if value is not None},
        "invoicePosSave": [
            {"objectName": "InvoicePos", "mapAll": True, "unity": PIECE, **position} for position in positions
        ],
        "invoicePosDelete": None,
        "discountSave": None,
        "discountDelete": None,
    }


async def api_user(api: Api) -> int:
    [user] = (await api.get("/SevUser")).body["objects"]
    return int(user["id"])


async def save_einvoice(api: Api, contact_id: int, **header: Any) -> dict[str, Any]:
    reply = await api.post(
        "/Invoice/Factory/saveInvoice", einvoice_body(await api_user(api), contact_id, **header)
    )
    assert reply.status == 201, reply.body
    invoice: dict[str, Any] = reply.body["objects"]["invoice"]
    return invoice


def assert_missing(reply: Reply, *fields: str) -> None:
    assert reply.status == 400, reply.body
    assert reply.body["objects"] is None
    error = reply.body["error"]
    assert (error["code"], error["responseCode"]) == (830, 400)
    assert error["data"] == {"missing information": list(fields)}
    for field in fields:
        assert field in error["message"]


# --- company data, buyer reference, payment methods -------------------------------------------------


async def test_a_new_account_has_no_company_data(
    server: SandboxServer, session: aiohttp.ClientSession, account: Account
) -> None:
    status, empty = await control(server, session, "GET", "/company")
    await set_company(server, session, **COMPANY)
    _, filled = await control(server, session, "GET", "/company")
    cleared_status, cleared = await control(server, session, "POST", "/company", {"vatNumber": None})
    bad = await control(server, session, "POST", "/company", {"iban": "DE02"})
    wrong_type = await control(server, session, "POST", "/company", {"taxNumber": 12})

    assert status == 200
    assert set(empty.values()) == {None}
    assert filled == COMPANY
    assert cleared_status == 200
    assert cleared == {**COMPANY, "vatNumber": None}
    assert bad[0] == 400
    assert "iban" in bad[1]["error"]
    assert wrong_type[0] == 400
    assert "taxNumber" in wrong_type[1]["error"]
    account.reset()
    assert account.company == {}


async def test_buyer_reference_round_trips_on_contacts(api: Api) -> None:
    created = await api.post("/Contact", {"name": "Amt", "category": CUSTOMER, "buyerReference": "991-1"})
    contact_id = created.body["objects"]["id"]
    updated = await api.put(f"/Contact/{contact_id}", {"buyerReference": "991-2"})
    read = (await api.get(f"/Contact/{contact_id}")).body["objects"][0]

    assert created.body["objects"]["buyerReference"] == "991-1"
    assert updated.body["objects"]["buyerReference"] == "991-2"
    assert read["buyerReference"] == "991-2"


async def test_payment_methods_are_a_lookup_and_invoices_must_name_one(api: Api) -> None:
    methods = (await api.get("/PaymentMethod")).body["objects"]
    one = await api.get("/PaymentMethod/21919")
    contact_id = await create_buyer(api)
    unknown = {"id": 4711, "objectName": "PaymentMethod"}
    refused = await api.post(
        "/Invoice/Factory/saveInvoice", einvoice_body(await api_user(api), contact_id, paymentMethod=unknown)
    )

    assert {m["objectName"] for m in methods} == {"PaymentMethod"}
    assert one.body["objects"][0]["name"] == "Überweisung"
    assert_error(await api.get("/PaymentMethod/4711"), 404, 151)
    assert "paymentMethod" in assert_error(refused, 422)["message"]


# --- the 830 refusals ---------------------------------------------------------------------------------


async def test_a_flagged_draft_is_saved_whatever_it_lacks(api: Api) -> None:
    contact_id = await create_buyer(api, buyer_reference=None, email=False)

    invoice = await save_einvoice(api, contact_id, paymentMethod=None, addressStreet=None)

    assert (invoice["status"], invoice["propertyIsEInvoice"]) == ("100", "1")


async def test_everything_missing_is_named_at_once(api: Api) -> None:
    contact_id = await create_buyer(api, buyer_reference=None, email=False)
    invoice = await save_einvoice(api, contact_id, paymentMethod=None, **dict.fromkeys(ADDRESS))

    reply = await api.get(f"/Invoice/{invoice['id']}/getXml")

    sev_client = [f"sevClient.{name}" for name in COMPANY if name not in ("name", "vatNumber")]
    contact = ["contact.buyerReference", "contact.email"]
    on_invoice = [
        "invoice.paymentMethod",
        "invoice.addressStreet",
        "invoice.addressZip",
        "invoice.addressCity",
    ]
    assert_missing(reply, *sev_client, *contact, *on_invoice)


MISSING_CASES = [
    *[
        (f"sevClient.{name}", {"company": {name: None}})
        for name in COMPANY
        if name not in ("name", "vatNumber")
    ],
    ("contact.buyerReference", {"buyer": {"buyer_reference": None}}),
    ("contact.email", {"buyer": {"email": False}}),
    *[(f"invoice.{name}", {"invoice": {name: None}}) for name in ("paymentMethod", *ADDRESS)],
]


@pytest.mark.parametrize(("field", "gap"), MISSING_CASES, ids=[case[0] for case in MISSING_CASES])
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "getPdf?preventSendBy=true", None),
        ("GET", "getPdf", None),
        ("PUT", "sendBy", {"sendType": "VPDF", "sendDraft": False}),
        ("PUT", "sendBy", {"sendType": "VM", "sendDraft": True}),
        ("GET", "getXml", None),
    ],
    ids=["render", "getPdf-finalises", "sendBy", "sendBy-draft", "getXml"],
)
async def test_each_missing_field_is_named_and_nothing_changes(
    server: SandboxServer,
    session: aiohttp.ClientSession,
    api: Api,
    field: str,
    gap: dict[str, dict[str, Any]],
    method: str,
    path: str,
    body: Any,
) -> None:
    await set_company(server, session, **{**COMPANY, **gap.get("company", {})})
    contact_id = await create_buyer(api, **gap.get("buyer", {}))
    invoice = await save_einvoice(api, contact_id, **gap.get("invoice", {}))

    reply = await api.call(method, f"/Invoice/{invoice['id']}/{path}", json=body)

    assert_missing(reply, field)
    stored = (await api.get(f"/Invoice/{invoice['id']}")).body["objects"][0]
    assert (stored["status"], stored["invoiceNumber"]) == ("100", None)


async def test_the_vat_number_is_optional(
    server: SandboxServer, session: aiohttp.ClientSession, api: Api
) -> None:
    await set_company(server, session, **{**COMPANY, "vatNumber": None})
    invoice = await save_einvoice(api, await create_buyer(api))

    sent = await api.put(f"/Invoice/{invoice['id']}/sendBy", {"sendType": "VM", "sendDraft": False})

    assert sent.status == 200, sent.body
    assert sent.body["objects"]["status"] == "200"


async def test_unflagged_invoices_need_no_e_invoice_data(api: Api) -> None:
    contact_id = await create_buyer(api, buyer_reference=None, email=False)
    invoice = await save_einvoice(api, contact_id, propertyIsEInvoice=False, paymentMethod=None)

    pdf = await api.get(f"/Invoice/{invoice['id']}/getPdf", preventSendBy="true")
    sent = await api.put(f"/Invoice/{invoice['id']}/sendBy", {"sendType": "VM", "sendDraft": False})
    xml = await api.get(f"/Invoice/{invoice['id']}/getXml")

    assert pdf.status == 200
    assert sent.body["objects"]["status"] == "200"
    assert "no e-invoice" in assert_error(xml, 400)["message"]


# --- the XML ------------------------------------------------------------------------------------------


async def test_a_draft_has_no_xml_yet(
    server: SandboxServer, session: aiohttp.ClientSession, api: Api
) -> None:
    await set_company(server, session, **COMPANY)
    invoice = await save_einvoice(api, await create_buyer(api))

    reply = await api.get(f"/Invoice/{invoice['id']}/getXml")

    assert "draft" in assert_error(reply, 400)["message"]


def text_of(root: ET.Element, path: str) -> str:
    element = root.find(path, NS)
    assert element is not None, path
    return element.text or ""


async def test_get_xml_answers_a_cii_document_of_a_complete_e_invoice(
    server: SandboxServer, session: aiohttp.ClientSession, api: Api
) -> None:
    await set_company(server, session, **COMPANY)
    invoice = await save_einvoice(api, await create_buyer(api))
    sent = await api.put(f"/Invoice/{invoice['id']}/sendBy", {"sendType": "VM", "sendDraft": False})
    stored = sent.body["objects"]

    reply = await api.get(f"/Invoice/{invoice['id']}/getXml")

    assert reply.status == 200, reply.body
    root = ET.fromstring(reply.body["objects"])  # noqa: S314 - the sandbox's own XML, not untrusted input
    assert root.tag == f"{{{CII}}}CrossIndustryInvoice"
    assert text_of(root, "rsm:ExchangedDocument/ram:ID") == stored["invoiceNumber"] == "RE-1000"
    assert text_of(root, "rsm:ExchangedDocument/ram:TypeCode") == "380"
    assert text_of(root, "rsm:ExchangedDocument/ram:IssueDateTime/udt:DateTimeString") == "20261001"
    trade = "rsm:SupplyChainTradeTransaction/"
    seller = trade + "ram:ApplicableHeaderTradeAgreement/ram:SellerTradeParty/"
    buyer = trade + "ram:ApplicableHeaderTradeAgreement/ram:BuyerTradeParty/"
    assert text_of(root, seller + "ram:Name") == COMPANY["name"]
    assert text_of(root, seller + "ram:PostalTradeAddress/ram:LineOne") == COMPANY["addressStreet"]
    assert text_of(root, seller + "ram:PostalTradeAddress/ram:CityName") == COMPANY["addressCity"]
    registrations = {
        element.get("schemeID"): element.text
        for element in root.findall(seller + "ram:SpecifiedTaxRegistration/ram:ID", NS)
    }
    assert registrations == {"FC": COMPANY["taxNumber"], "VA": COMPANY["vatNumber"]}
    assert text_of(root, buyer + "ram:Name") == "Behörde Hamburg"
    assert text_of(root, buyer + "ram:PostalTradeAddress/ram:PostcodeCode") == ADDRESS["addressZip"]
    assert text_of(root, buyer + "ram:PostalTradeAddress/ram:CountryID") == "DE"
    assert text_of(root, trade + "ram:ApplicableHeaderTradeAgreement/ram:BuyerReference") == BUYER_REFERENCE
    lines = root.findall(trade + "ram:IncludedSupplyChainTradeLineItem", NS)
    assert [text_of(line, "ram:SpecifiedTradeProduct/ram:Name") for line in lines] == ["Beratung", "Fachbuch"]
    rates = [
        text_of(line, "ram:SpecifiedLineTradeSettlement/ram:ApplicableTradeTax/ram:RateApplicablePercent")
        for line in lines
    ]
    assert rates == ["19.00", "7.00"]
    settlement = trade + "ram:ApplicableHeaderTradeSettlement/"
    means = settlement + "ram:SpecifiedTradeSettlementPaymentMeans/"
    assert text_of(root, means + "ram:PayeePartyCreditorFinancialAccount/ram:IBANID") == COMPANY["bankIban"]
    sums = settlement + "ram:SpecifiedTradeSettlementHeaderMonetarySummation/"
    assert Decimal(text_of(root, sums + "ram:LineTotalAmount")) == Decimal(stored["sumNet"]) == Decimal("250")
    assert Decimal(text_of(root, sums + "ram:TaxBasisTotalAmount")) == Decimal(stored["sumNet"])
    assert Decimal(text_of(root, sums + "ram:TaxTotalAmount")) == Decimal(stored["sumTax"]) == Decimal("41.5")
    assert Decimal(text_of(root, sums + "ram:GrandTotalAmount")) == Decimal(stored["sumGross"])
    assert Decimal(text_of(root, sums + "ram:DuePayableAmount")) == Decimal(stored["sumGross"])
    breakdown = root.findall(settlement + "ram:ApplicableTradeTax", NS)
    assert sum(Decimal(text_of(tax, "ram:CalculatedAmount")) for tax in breakdown) == Decimal(
        stored["sumTax"]
    )
