"""The sandbox's orders, invoices and tags over real HTTP: totals, tax rules, the draft rule,
numbering, the getPdf trap, cancellation (Storno) and its measured refusals, tagging."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from sevsync.sandbox import Account, Sandbox, SandboxServer

from .test_sandbox_api import CUSTOMER, GERMANY, INVOICE_ADDRESS, PIECE, Api, Reply, assert_error

RULE_1 = {"id": 1, "objectName": "TaxRule"}
RULE_2 = {"id": 2, "objectName": "TaxRule"}
RULE_11 = {"id": 11, "objectName": "TaxRule"}
BERLIN_MIDNIGHT = "2026-10-01T00:00:00+02:00"


@pytest.fixture
async def api(sevdesk: Sandbox) -> AsyncIterator[Api]:
    async with SandboxServer(sevdesk) as server, aiohttp.ClientSession() as session:
        yield Api(session, server.base_url)


@dataclass(frozen=True)
class Parties:
    """A customer and the API user, as references for document bodies."""

    contact: dict[str, Any]
    user: dict[str, Any]


@pytest.fixture
async def parties(api: Api) -> Parties:
    contact = await api.post("/Contact", {"name": "ACME GmbH", "category": CUSTOMER})
    assert contact.status == 201, contact.body
    [user] = (await api.get("/SevUser")).body["objects"]
    return Parties(
        contact={"id": int(contact.body["objects"]["id"]), "objectName": "Contact"},
        user={"id": int(user["id"]), "objectName": "SevUser"},
    )


def pos(
    price: str, *, quantity: str = "1", rate: str = "19", kind: str = "OrderPos", **extra: Any
) -> dict[str, Any]:
    return {
        "objectName": kind,
        "mapAll": True,
        "quantity": quantity,
        "price": price,
        "taxRate": rate,
        "unity": PIECE,
        "name": "Beratung",
        **extra,
    }


def order_body(parties: Parties, positions: list[dict[str, Any]], **header: Any) -> dict[str, Any]:
    order = {
        "objectName": "Order",
        "mapAll": True,
        "orderNumber": "AN-1001",
        "contact": parties.contact,
        "orderDate": "01.10.2026",
        "status": 100,
        "header": "Angebot AN-1001",
        "addressCountry": GERMANY,
        "contactPerson": parties.user,
        "taxRule": RULE_1,
        "taxText": "Umsatzsteuer",
        "currency": "EUR",
        "version": 0,
        "showNet": True,
        **header,
    }
    return {"order": order, "orderPosSave": positions, "orderPosDelete": None}


def invoice_body(parties: Parties, positions: list[dict[str, Any]], **header: Any) -> dict[str, Any]:
    invoice = {
        "objectName": "Invoice",
        "mapAll": True,
        "invoiceDate": "01.10.2026",
        "contact": parties.contact,
        "contactPerson": parties.user,
        "discount": 0,
        "status": 100,
        "addressCountry": GERMANY,
        "taxRule": RULE_1,
        "taxText": "Umsatzsteuer 19%",
        "invoiceType": "RE",
        "currency": "EUR",
        "showNet": True,
        "customerInternalNote": "deal-42",
        **header,
    }
    return {
        "invoice": invoice,
        "invoicePosSave": positions,
        "invoicePosDelete": None,
        "discountSave": None,
        "discountDelete": None,
    }


def ipos(price: str, **extra: Any) -> dict[str, Any]:
    return pos(price, kind="InvoicePos", **extra)


async def save_order(api: Api, body: dict[str, Any]) -> dict[str, Any]:
    reply = await api.post("/Order/Factory/saveOrder", body)
    assert reply.status in (200, 201), reply.body
    saved: dict[str, Any] = reply.body["objects"]
    return saved


async def save_invoice(api: Api, body: dict[str, Any]) -> dict[str, Any]:
    reply = await api.post("/Invoice/Factory/saveInvoice", body)
    assert reply.status in (200, 201), reply.body
    saved: dict[str, Any] = reply.body["objects"]
    return saved


async def open_invoice(api: Api, parties: Parties, **header: Any) -> dict[str, Any]:
    """A finalised invoice (status 200, numbered) of 100.00 net at 19 %."""
    saved = await save_invoice(api, invoice_body(parties, [ipos("100")], **header))
    sent = await api.put(f"/Invoice/{saved['invoice']['id']}/sendBy", {"sendType": "VM", "sendDraft": False})
    assert sent.status == 200, sent.body
    invoice: dict[str, Any] = sent.body["objects"]
    return invoice


def ref(record: dict[str, Any]) -> dict[str, Any]:
    return {"id": int(record["id"]), "objectName": record["objectName"]}


# --- orders: create and totals ----------------------------------------------------------------------


async def test_order_create_computes_totals_like_sevdesk(
    api: Api, parties: Parties, account: Account
) -> None:
    # A line discount, a 7 % line and a document discount of 5 % as one negative position per rate.
    positions = [
        pos("120.00", quantity="10", discount="10"),  # 1080.00 net
        pos("24.99", quantity="2", rate="7"),  # 49.98 net
        pos("-54.00", name="Rabatt 5 % (19 %)"),
        pos("-2.50", rate="7", name="Rabatt 5 % (7 %)"),
    ]
    reply = await api.post("/Order/Factory/saveOrder", order_body(parties, positions))

    assert reply.status == 201, reply.body
    order = reply.body["objects"]["order"]
    lines = reply.body["objects"]["orderPos"]
    # 19 %: 1026.00 net, 194.94 tax; 7 %: 47.48 net, 3.3236 -> 3.32 tax.
    assert (order["sumNet"], order["sumTax"], order["sumGross"]) == ("1073.48", "198.26", "1271.74")
    assert [line["sumNet"] for line in lines] == [1080, 49.98, -54, -2.5]
    assert lines[0]["sumDiscount"] == 120
    assert lines[0]["taxRate"] == "19.00"
    assert lines[0]["order"] == {"id": order["id"], "objectName": "Order"}
    assert order["status"] == "100"
    assert order["orderType"] == "AN"
    assert order["orderDate"] == BERLIN_MIDNIGHT
    assert order["contact"] == {"id": str(parties.contact["id"]), "objectName": "Contact"}
    assert order["taxRule"] == {"id": "1", "objectName": "TaxRule"}
    assert order["createUser"] == {"id": str(parties.user["id"]), "objectName": "SevUser"}

    assert (await api.get(f"/Order/{order['id']}")).body == {"objects": [order]}
    assert len((await api.get(f"/Order/{order['id']}/getPositions")).body["objects"]) == 4
    listed = await api.get("/OrderPos", **{"order[id]": order["id"], "order[objectName]": "Order"})
    assert [line["id"] for line in listed.body["objects"]] == [line["id"] for line in lines]
    assert account.objects("Order") == [order]


@pytest.mark.parametrize(
    ("rule", "rate", "small_settlement"),
    [
        pytest.param(RULE_11, "19", True, id="rule-11-with-19-percent"),
        pytest.param(RULE_2, "7", False, id="rule-2-with-7-percent"),
        pytest.param(RULE_11, "0", False, id="rule-11-without-smallSettlement"),
        pytest.param(RULE_1, "19", True, id="smallSettlement-without-rule-11"),
        pytest.param({"id": 9, "objectName": "TaxRule"}, "19", False, id="expense-rule-9"),
    ],
)
async def test_order_tax_rule_must_fit_the_rates(
    api: Api, parties: Parties, account: Account, rule: dict[str, Any], rate: str, small_settlement: bool
) -> None:
    body = order_body(parties, [pos("100", rate=rate)], taxRule=rule, smallSettlement=small_settlement)

    assert_error(await api.post("/Order/Factory/saveOrder", body), 422)
    assert account.objects("Order") == []
    assert account.objects("OrderPos") == []


async def test_small_business_order_at_zero_percent(api: Api, parties: Parties) -> None:
    body = order_body(parties, [pos("100", rate="0")], taxRule=RULE_11, smallSettlement=True)

    order = (await save_order(api, body))["order"]

    assert (order["sumNet"], order["sumTax"], order["sumGross"], order["smallSettlement"]) == (
        "100",
        "0",
        "100",
        "1",
    )


@pytest.mark.parametrize(
    ("header", "position"),
    [
        pytest.param({"contact": {"id": 999_999, "objectName": "Contact"}}, {}, id="contact"),
        pytest.param({"contactPerson": {"id": 999_999, "objectName": "SevUser"}}, {}, id="contactPerson"),
        pytest.param({"addressCountry": {"id": 999_999, "objectName": "StaticCountry"}}, {}, id="country"),
        pytest.param({"orderType": "XX"}, {}, id="orderType"),
        pytest.param({"orderNumber": None}, {}, id="orderNumber"),
        pytest.param({}, {"unity": {"id": 999, "objectName": "Unity"}}, id="unity"),
        pytest.param({}, {"part": {"id": 999_999, "objectName": "Part"}}, id="part"),
        pytest.param({}, {"quantity": None}, id="quantity"),
    ],
)
async def test_order_references_and_required_fields(
    api: Api, parties: Parties, header: dict[str, Any], position: dict[str, Any]
) -> None:
    body = order_body(parties, [pos("100", **position)], **header)

    assert_error(await api.post("/Order/Factory/saveOrder", body), 422)


async def test_a_part_does_not_fill_name_or_price(api: Api, parties: Parties) -> None:
    part = await api.post(
        "/Part",
        {"name": "Beratung", "partNumber": "P-1", "stock": 0, "unity": PIECE, "taxRate": 19, "price": 120},
    )
    line = {
        "objectName": "OrderPos",
        "quantity": 2,
        "taxRate": 19,
        "unity": PIECE,
        "part": ref(part.body["objects"]),
    }

    saved = await save_order(api, order_body(parties, [line]))

    [position] = saved["orderPos"]
    assert position["part"] == {"id": part.body["objects"]["id"], "objectName": "Part"}
    assert (position["name"], position["price"], position["sumNet"]) == (None, None, 0)
    assert saved["order"]["sumGross"] == "0"


async def test_prices_are_gross_unless_show_net_is_set(api: Api, parties: Parties) -> None:
    body = order_body(parties, [pos("119"), pos("10.70", rate="7")])
    del body["order"]["showNet"]

    saved = await save_order(api, body)

    order = saved["order"]
    assert (order["showNet"], order["sumNet"], order["sumTax"], order["sumGross"]) == (
        "0",
        "110",
        "19.7",
        "129.7",
    )
    assert [(p["sumNet"], p["sumGross"]) for p in saved["orderPos"]] == [(100, 119), (10, 10.7)]


async def test_per_position_rounding_gives_different_totals(
    api: Api, parties: Parties, account: Account
) -> None:
    # Three positions of 0.03 net at 19 %: tax 0.0171 -> 0.02 per rate, 3 x 0.0057 -> 0.03 per position.
    lines = [pos("0.03"), pos("0.03"), pos("0.03")]
    per_rate = (await save_order(api, order_body(parties, lines)))["order"]
    account.tax_rounding = "per_position"
    per_position = (await save_order(api, order_body(parties, lines, orderNumber="AN-1002")))["order"]

    assert (per_rate["sumNet"], per_rate["sumTax"], per_rate["sumGross"]) == ("0.09", "0.02", "0.11")
    assert (per_position["sumNet"], per_position["sumTax"], per_position["sumGross"]) == (
        "0.09",
        "0.03",
        "0.12",
    )


async def test_optional_positions_do_not_count(api: Api, parties: Parties) -> None:
    saved = await save_order(api, order_body(parties, [pos("100"), pos("50", optional=True)]))

    assert saved["order"]["sumNet"] == "100"
    assert [p["optional"] for p in saved["orderPos"]] == ["0", "1"]


@pytest.mark.parametrize("date", ["01.10.2026", "2026-10-01", 1_790_811_000, "2026-10-01T00:00:00+02:00"])
async def test_order_dates_come_back_as_berlin_midnight(api: Api, parties: Parties, date: Any) -> None:
    # 1_790_811_000 is 2026-09-30 23:30 UTC, already 1 October in Berlin.
    saved = await save_order(api, order_body(parties, [pos("1")], orderDate=date))

    assert saved["order"]["orderDate"] == BERLIN_MIDNIGHT


@pytest.mark.parametrize("date", [10**20, "99999999999999999999", "31.02.2026", "tomorrow"])
async def test_an_order_date_that_is_no_date_is_refused(api: Api, parties: Parties, date: Any) -> None:
    reply = await api.post("/Order/Factory/saveOrder", order_body(parties, [pos("1")], orderDate=date))

    assert "orderDate" in assert_error(reply, 422)["message"]


# --- orders: updates, the draft rule, status ---------------------------------------------------------


async def test_order_update_replaces_positions_and_recomputes(api: Api, parties: Parties) -> None:
    created = await save_order(api, order_body(parties, [pos("100"), pos("50", rate="7")]))
    order_id = created["order"]["id"]
    first, second = created["orderPos"]
    body = order_body(parties, [{**pos("200"), "id": int(first["id"])}, pos("10")], id=int(order_id))
    body["orderPosDelete"] = [{"id": int(second["id"]), "objectName": "OrderPos"}]

    reply = await api.post("/Order/Factory/saveOrder", body)

    assert reply.status == 200, reply.body
    order = reply.body["objects"]["order"]
    assert order["id"] == order_id
    assert (order["sumNet"], order["sumTax"], order["sumGross"]) == ("210", "39.9", "249.9")
    positions = (await api.get(f"/Order/{order_id}/getPositions")).body["objects"]
    assert [(p["id"] == first["id"], p["price"]) for p in positions] == [(True, 200), (False, 10)]


async def test_order_pos_delete_must_be_an_array(api: Api, parties: Parties, account: Account) -> None:
    created = await save_order(api, order_body(parties, [pos("100"), pos("50")]))
    body = order_body(parties, [], id=int(created["order"]["id"]))
    body["orderPosDelete"] = {"id": int(created["orderPos"][1]["id"]), "objectName": "OrderPos"}

    error = assert_error(await api.post("/Order/Factory/saveOrder", body), 422)

    assert "expected array" in error["message"]
    assert len(account.objects("OrderPos")) == 2


async def test_saving_positions_of_another_order_is_refused(api: Api, parties: Parties) -> None:
    one = await save_order(api, order_body(parties, [pos("100")]))
    other = await save_order(api, order_body(parties, [pos("100")], orderNumber="AN-1002"))
    body = order_body(parties, [], id=int(one["order"]["id"]))
    body["orderPosDelete"] = [{"id": int(other["orderPos"][0]["id"]), "objectName": "OrderPos"}]

    assert_error(await api.post("/Order/Factory/saveOrder", body), 422)


async def test_a_sent_order_is_no_draft_any_more(api: Api, parties: Parties) -> None:
    created = await save_order(api, order_body(parties, [pos("100")]))
    order_id = created["order"]["id"]

    sent = await api.put(f"/Order/{order_id}/sendBy", {"sendType": "VPR", "sendDraft": False})

    assert sent.status == 200
    assert sent.body["objects"]["status"] == "200"
    again = order_body(parties, [pos("1")], id=int(order_id))
    assert_error(await api.post("/Order/Factory/saveOrder", again), 409, 159)
    assert_error(await api.put(f"/Order/{order_id}", {"header": "changed"}), 409, 159)
    assert_error(await api.call("DELETE", f"/Order/{order_id}"), 409, 159)
    # The status alone may still change: the customer rejected the offer.
    rejected = await api.put(f"/Order/{order_id}", {"status": 300})
    assert rejected.status == 200
    assert rejected.body["objects"]["status"] == "300"
    assert (await api.get(f"/Order/{order_id}")).body["objects"][0]["status"] == "300"


async def test_send_draft_changes_nothing(api: Api, parties: Parties) -> None:
    created = await save_order(api, order_body(parties, [pos("100")]))

    reply = await api.put(f"/Order/{created['order']['id']}/sendBy", {"sendType": "VPR", "sendDraft": True})

    assert reply.body["objects"]["status"] == "100"


async def test_order_put_changes_a_draft_header(api: Api, parties: Parties) -> None:
    created = await save_order(api, order_body(parties, [pos("119")]))
    order_id = created["order"]["id"]

    reply = await api.put(f"/Order/{order_id}", {"header": "Neu", "showNet": False, "status": 500})

    assert reply.status == 200
    order = reply.body["objects"]
    assert (order["header"], order["status"], order["sumNet"], order["sumGross"]) == (
        "Neu",
        "500",
        "100",
        "119",
    )
    assert_error(await api.put(f"/Order/{order_id}", {"status": 42}), 422)


async def test_status_200_by_put_needs_a_send_type(api: Api, parties: Parties) -> None:
    created = await save_order(api, order_body(parties, [pos("100")]))
    order_id = created["order"]["id"]

    assert_error(await api.put(f"/Order/{order_id}", {"status": 200}), 422)
    reply = await api.put(f"/Order/{order_id}", {"status": 200, "sendType": "VM"})

    assert (reply.body["objects"]["status"], reply.body["objects"]["sendType"]) == ("200", "VM")


async def test_delete_a_draft_order(api: Api, parties: Parties, account: Account) -> None:
    created = await save_order(api, order_body(parties, [pos("100")]))
    order_id = created["order"]["id"]

    reply = await api.call("DELETE", f"/Order/{order_id}")

    assert reply.status == 200
    assert reply.body == {"objects": [None]}
    assert_error(await api.get(f"/Order/{order_id}"), 404, 151)
    assert account.objects("OrderPos") == []


async def test_order_list_filters(api: Api, parties: Parties) -> None:
    await save_order(api, order_body(parties, [pos("1")]))
    await save_order(api, order_body(parties, [pos("1")], orderNumber="AN-10011", orderType="AB"))

    async def numbers(**query: str) -> list[str]:
        reply = await api.get("/Order", **query)
        return [order["orderNumber"] for order in reply.body["objects"]]

    assert await numbers(orderNumber="AN-1001") == ["AN-1001"]
    assert await numbers(orderType="AB") == ["AN-10011"]
    assert await numbers(status="100") == ["AN-1001", "AN-10011"]
    assert await numbers(**{"contact[id]": str(parties.contact["id"])}) == ["AN-1001", "AN-10011"]
    assert await numbers(**{"contact[id]": "1"}) == []
    assert await numbers(limit="1", offset="1") == ["AN-10011"]


async def test_order_pdf_without_prevent_send_by_sends_the_draft(api: Api, parties: Parties) -> None:
    created = await save_order(api, order_body(parties, [pos("100")]))
    order_id = created["order"]["id"]

    kept = await api.get(f"/Order/{order_id}/getPdf", preventSendBy="true")
    assert (await api.get(f"/Order/{order_id}")).body["objects"][0]["status"] == "100"
    await api.get(f"/Order/{order_id}/getPdf")

    assert kept.body["objects"]["filename"] == "AN-1001.pdf"
    assert (await api.get(f"/Order/{order_id}")).body["objects"][0]["status"] == "200"


# --- invoices -----------------------------------------------------------------------------------------


async def test_invoice_create_is_an_unnumbered_draft(api: Api, parties: Parties) -> None:
    reply = await api.post(
        "/Invoice/Factory/saveInvoice", invoice_body(parties, [ipos("10", quantity="3"), ipos("25")])
    )

    assert reply.status == 201, reply.body
    invoice = reply.body["objects"]["invoice"]
    lines = reply.body["objects"]["invoicePos"]
    assert (invoice["sumNet"], invoice["sumTax"], invoice["sumGross"]) == ("55", "10.45", "65.45")
    assert (invoice["sumNetAccounting"], invoice["sumGrossAccounting"]) == ("55", "65.45")
    assert invoice["status"] == "100"
    assert invoice["invoiceNumber"] is None
    assert invoice["paidAmount"] == 0
    assert isinstance(invoice["paidAmount"], int)
    assert (invoice["invoiceType"], invoice["origin"], invoice["customerInternalNote"]) == (
        "RE",
        None,
        "deal-42",
    )
    assert invoice["invoiceDate"] == BERLIN_MIDNIGHT
    assert [(p["sumNet"], p["sumTax"], p["sumGross"]) for p in lines] == [(30, 5.7, 35.7), (25, 4.75, 29.75)]
    assert lines[0]["invoice"] == {"id": invoice["id"], "objectName": "Invoice"}
    listed = await api.get("/InvoicePos", **{"invoice[id]": invoice["id"], "invoice[objectName]": "Invoice"})
    assert len(listed.body["objects"]) == 2


async def test_invoices_are_created_as_drafts_only(api: Api, parties: Parties, account: Account) -> None:
    body = invoice_body(parties, [ipos("100")], status=200)

    assert_error(await api.post("/Invoice/Factory/saveInvoice", body), 422)
    assert account.objects("Invoice") == []


@pytest.mark.parametrize(
    "header",
    [
        pytest.param({"taxRule": RULE_2}, id="rule-2-with-19-percent"),
        pytest.param(
            {"invoiceType": "AR", "taxRule": {"id": 3, "objectName": "TaxRule"}}, id="AR-with-rule-3"
        ),
        pytest.param({"invoiceType": "XX"}, id="unknown-type"),
        pytest.param({"discount": None}, id="discount-missing"),
    ],
)
async def test_invoice_validation(api: Api, parties: Parties, header: dict[str, Any]) -> None:
    assert_error(
        await api.post("/Invoice/Factory/saveInvoice", invoice_body(parties, [ipos("100")], **header)), 422
    )


async def test_document_discounts_are_not_emulated(api: Api, parties: Parties) -> None:
    body = invoice_body(parties, [ipos("100")])
    body["discountSave"] = [{"discount": True, "text": "Rabatt", "percentage": True, "value": 5}]

    assert_error(await api.post("/Invoice/Factory/saveInvoice", body), 501)


async def test_customer_internal_note_filter_is_exact_and_the_misspelling_is_ignored(
    api: Api, parties: Parties
) -> None:
    await save_invoice(api, invoice_body(parties, [ipos("1")]))
    await save_invoice(api, invoice_body(parties, [ipos("1")], customerInternalNote="deal-421"))

    exact = await api.get("/Invoice", customerInternalNote="deal-42")
    misspelled = await api.get("/Invoice", customerIntenalNote="deal-42")

    assert [i["customerInternalNote"] for i in exact.body["objects"]] == ["deal-42"]
    assert len(misspelled.body["objects"]) == 2


async def test_invoice_draft_update(api: Api, parties: Parties) -> None:
    created = await save_invoice(api, invoice_body(parties, [ipos("100"), ipos("20")]))
    invoice_id = int(created["invoice"]["id"])
    first, second = created["invoicePos"]
    body = invoice_body(parties, [{**ipos("150"), "id": int(first["id"])}], id=invoice_id, header="Rechnung")
    body["invoicePosDelete"] = [{"id": int(second["id"]), "objectName": "InvoicePos"}]

    reply = await api.post("/Invoice/Factory/saveInvoice", body)

    assert reply.status == 200, reply.body
    invoice = reply.body["objects"]["invoice"]
    assert (invoice["header"], invoice["sumNet"], invoice["sumGross"]) == ("Rechnung", "150", "178.5")
    assert [p["id"] for p in reply.body["objects"]["invoicePos"]] == [first["id"]]


async def test_only_draft_invoices_can_be_changed_or_deleted(
    api: Api, parties: Parties, account: Account
) -> None:
    draft = await save_invoice(api, invoice_body(parties, [ipos("100")]))
    invoice = await open_invoice(api, parties)

    assert (await api.call("DELETE", f"/Invoice/{draft['invoice']['id']}")).body == {"objects": [None]}
    assert_error(await api.call("DELETE", f"/Invoice/{invoice['id']}"), 409, 159)
    update = invoice_body(parties, [ipos("1")], id=int(invoice["id"]))
    assert_error(await api.post("/Invoice/Factory/saveInvoice", update), 409, 159)
    assert [i["id"] for i in account.objects("Invoice")] == [invoice["id"]]
    assert len(account.objects("InvoicePos")) == 1


async def test_missing_invoice_is_404_with_code_151(api: Api) -> None:
    assert_error(await api.get("/Invoice/999999"), 404, 151)


async def test_send_by_finalises_and_numbers(api: Api, parties: Parties) -> None:
    draft = await save_invoice(api, invoice_body(parties, [ipos("100")]))
    invoice_id = draft["invoice"]["id"]

    internal = await api.put(f"/Invoice/{invoice_id}/sendBy", {"sendType": "VPDF", "sendDraft": True})
    assert (internal.body["objects"]["status"], internal.body["objects"]["invoiceNumber"]) == ("100", None)
    first = await api.put(f"/Invoice/{invoice_id}/sendBy", {"sendType": "VPDF", "sendDraft": False})
    second = await open_invoice(api, parties)
    own = await open_invoice(api, parties, invoiceNumber="2026-0001")

    assert (first.body["objects"]["status"], first.body["objects"]["invoiceNumber"]) == ("200", "RE-1000")
    assert first.body["objects"]["enshrined"] is not None  # VPDF enshrines (measured)
    assert second["invoiceNumber"] == "RE-1001"
    assert second["enshrined"] is None
    assert own["invoiceNumber"] == "2026-0001"
    assert_error(await api.put(f"/Invoice/{invoice_id}/sendBy", {"sendType": "FAX", "sendDraft": False}), 422)


async def test_invoice_pdf_without_prevent_send_by_finalises(api: Api, parties: Parties) -> None:
    draft = await save_invoice(api, invoice_body(parties, [ipos("100")]))
    invoice_id = draft["invoice"]["id"]

    safe = await api.get(f"/Invoice/{invoice_id}/getPdf", preventSendBy="true")
    still_draft = (await api.get(f"/Invoice/{invoice_id}")).body["objects"][0]
    await api.get(f"/Invoice/{invoice_id}/getPdf")
    finalised = (await api.get(f"/Invoice/{invoice_id}")).body["objects"][0]

    pdf = safe.body["objects"]
    assert (pdf["mimeType"], pdf["base64encoded"]) == ("application/pdf", True)
    assert base64.b64decode(pdf["content"]).startswith(b"%PDF")
    assert (still_draft["status"], still_draft["invoiceNumber"]) == ("100", None)
    assert (finalised["status"], finalised["invoiceNumber"]) == ("200", "RE-1000")


async def test_take_default_address_copies_the_first_address(api: Api, parties: Parties) -> None:
    address = {
        "contact": parties.contact,
        "street": "Teststraße 1",
        "zip": "10115",
        "city": "Berlin",
        "country": GERMANY,
        "category": INVOICE_ADDRESS,
    }
    assert (await api.post("/ContactAddress", address)).status == 201
    body = {**invoice_body(parties, [ipos("1")]), "takeDefaultAddress": True}

    invoice = (await save_invoice(api, body))["invoice"]

    assert (
        invoice["addressName"],
        invoice["addressStreet"],
        invoice["addressZip"],
        invoice["addressCity"],
    ) == (
        "ACME GmbH",
        "Teststraße 1",
        "10115",
        "Berlin",
    )


async def test_small_business_draft_is_refused_when_finalised_without_guidance(
    api: Api, parties: Parties, account: Account
) -> None:
    account.small_business_guidance = False
    body = invoice_body(parties, [ipos("100", rate="0")], taxRule=RULE_11, smallSettlement=True)
    draft = await save_invoice(api, body)

    reply = await api.put(f"/Invoice/{draft['invoice']['id']}/sendBy", {"sendType": "VM", "sendDraft": False})

    assert_error(reply, 422)
    assert account.objects("Invoice")[0]["status"] == "100"


# --- cancellation (Storno) ----------------------------------------------------------------------------


async def test_cancel_invoice_creates_a_negative_cancellation(
    api: Api, parties: Parties, account: Account
) -> None:
    invoice = await open_invoice(api, parties)

    reply = await api.post(f"/Invoice/{invoice['id']}/cancelInvoice", None)

    assert reply.status == 201, reply.body
    storno = reply.body["objects"]
    assert (storno["invoiceType"], storno["status"], storno["invoiceNumber"]) == ("SR", "1000", "RE-1001")
    assert storno["origin"] == {"id": invoice["id"], "objectName": "Invoice"}
    assert (storno["sumNet"], storno["sumTax"], storno["sumGross"]) == ("-100", "-19", "-119")
    assert storno["customerInternalNote"] == invoice["customerInternalNote"]
    positions = (await api.get("/InvoicePos", **{"invoice[id]": storno["id"]})).body["objects"]
    assert [(p["quantity"], p["price"], p["sumNet"]) for p in positions] == [(-1, 100, -100)]
    original = (await api.get(f"/Invoice/{invoice['id']}")).body["objects"][0]
    assert original["status"] == "200"
    # Cancelling again is refused with the measured code.
    assert_error(await api.post(f"/Invoice/{invoice['id']}/cancelInvoice", None), 422, 421)
    assert len(account.objects("Invoice")) == 2


async def test_a_draft_cannot_be_cancelled(api: Api, parties: Parties) -> None:
    draft = await save_invoice(api, invoice_body(parties, [ipos("100")]))

    assert_error(await api.post(f"/Invoice/{draft['invoice']['id']}/cancelInvoice", None), 422)


@pytest.mark.parametrize(
    "payment",
    [
        pytest.param({"paidAmount": 50}, id="paid-amount-only"),
        pytest.param({"paidAmount": 50, "status": "750"}, id="status-750"),
    ],
)
async def test_cancelling_a_partly_paid_invoice_is_refused_inside_http_200(
    api: Api, parties: Parties, account: Account, payment: dict[str, Any]
) -> None:
    invoice = await open_invoice(api, parties)
    record = account.find("Invoice", int(invoice["id"]))
    assert record is not None
    account.update(record, payment)  # what bookAmount of a partial payment leaves behind

    reply = await api.post(f"/Invoice/{invoice['id']}/cancelInvoice", None)

    assert reply.status == 200
    assert reply.body["objects"] is None
    assert (reply.body["error"]["code"], reply.body["error"]["responseCode"]) == (390, 422)
    assert [i["invoiceType"] for i in account.objects("Invoice")] == ["RE"]
    assert (await api.get(f"/Invoice/{invoice['id']}/getIsPartiallyPaid")).body == {"objects": True}


async def test_is_partially_paid(api: Api, parties: Parties, account: Account) -> None:
    invoice = await open_invoice(api, parties)
    record = account.find("Invoice", int(invoice["id"]))
    assert record is not None

    unpaid = await api.get(f"/Invoice/{invoice['id']}/getIsPartiallyPaid")
    account.update(record, {"paidAmount": 119, "status": "1000"})
    paid = await api.get(f"/Invoice/{invoice['id']}/getIsPartiallyPaid")

    assert (unpaid.body, paid.body) == ({"objects": False}, {"objects": False})


# --- tags ---------------------------------------------------------------------------------------------


async def tag(api: Api, name: str, target: dict[str, Any]) -> Reply:
    return await api.post("/Tag/Factory/create", {"name": name, "object": target})


async def test_tags_on_invoices_and_orders(api: Api, parties: Parties) -> None:
    invoice = (await save_invoice(api, invoice_body(parties, [ipos("1")])))["invoice"]
    order = (await save_order(api, order_body(parties, [pos("1")])))["order"]

    on_invoice = await tag(api, "mismatch", ref(invoice))
    on_order = await tag(api, "mismatch", ref(order))
    again = await tag(api, "mismatch", ref(invoice))

    assert on_invoice.status == 200, on_invoice.body
    relation = on_invoice.body["objects"]
    assert relation["objectName"] == "TagRelation"
    assert relation["object"] == {"id": invoice["id"], "objectName": "Invoice"}
    assert again.body["objects"]["id"] == relation["id"]
    [found] = (await api.get("/Tag", name="mismatch")).body["objects"]
    assert relation["tag"] == on_order.body["objects"]["tag"] == {"id": found["id"], "objectName": "Tag"}
    assert (await api.get(f"/Tag/{found['id']}")).body["objects"][0]["name"] == "mismatch"
    assert (await api.get("/Tag", name="Mismatch")).body["objects"] == []
    assert len((await api.get("/TagRelation")).body["objects"]) == 2
    by_object = await api.get("/TagRelation", **{"object[id]": order["id"], "object[objectName]": "Order"})
    assert [r["id"] for r in by_object.body["objects"]] == [on_order.body["objects"]["id"]]


async def test_deleting_a_document_drops_its_tag_relations(api: Api, parties: Parties) -> None:
    invoice = (await save_invoice(api, invoice_body(parties, [ipos("1")])))["invoice"]
    await tag(api, "mismatch", ref(invoice))

    await api.call("DELETE", f"/Invoice/{invoice['id']}")

    assert (await api.get("/TagRelation")).body["objects"] == []
    assert len((await api.get("/Tag")).body["objects"]) == 1


@pytest.mark.parametrize(
    ("name", "target"),
    [
        pytest.param("mismatch", "contact", id="contact"),
        pytest.param("mismatch", {"id": 999_999, "objectName": "Invoice"}, id="missing-invoice"),
        pytest.param("mismatch", {"id": 999_999, "objectName": "CreditNote"}, id="missing-credit-note"),
        pytest.param("", "invoice", id="empty-name"),
    ],
)
async def test_tag_refusals(api: Api, parties: Parties, account: Account, name: str, target: Any) -> None:
    invoice = (await save_invoice(api, invoice_body(parties, [ipos("1")])))["invoice"]
    named = {"contact": parties.contact, "invoice": ref(invoice)}
    chosen = named[target] if isinstance(target, str) else target

    assert_error(await tag(api, name, chosen), 422)
    assert account.objects("Tag") == []
