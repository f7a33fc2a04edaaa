"""A person at work in the sevDesk UI (``/__sandbox__/ui``): finalising, paying and cancelling invoices,
answering offers, paying vouchers, creating and deleting objects. Each action runs the API's rules,
and each change is stamped with the sandbox's clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import aiohttp
import pytest

from sevsync.sandbox import Account, Sandbox, SandboxServer

from .sandbox_desk import MINUTE, T0, Desk, ref, stamp
from .test_sandbox_api import PIECE, Api
from .test_sandbox_einvoices import COMPANY, create_buyer, einvoice_body

T1 = T0 + timedelta(seconds=MINUTE)
T2 = T1 + timedelta(seconds=MINUTE)


@pytest.fixture
async def desk(sevdesk: Sandbox, server: SandboxServer) -> AsyncIterator[Desk]:
    sevdesk.clock.set(T0)
    async with aiohttp.ClientSession() as session:
        yield Desk(Api(session, server.base_url), server.root_url + "/__sandbox__", sevdesk.clock)


async def act(desk: Desk, path: str, body: Any = None, *, status: int = 200) -> dict[str, Any]:
    reply = await desk.ui("POST", path, body)
    assert reply.status == status, reply.body
    found: dict[str, Any] = reply.body["object"]
    return found


async def refused(desk: Desk, path: str, body: Any = None, *, status: int = 400) -> dict[str, Any]:
    reply = await desk.ui("POST", path, body)
    assert reply.status == status, reply.body
    assert reply.body["error"]
    answer: dict[str, Any] = reply.body
    return answer


# --- invoices ----------------------------------------------------------------------------------------


async def test_a_person_finalises_a_draft_invoice(desk: Desk, account: Account) -> None:
    draft = await desk.invoice()
    desk.clock.advance(MINUTE)
    calls = account.request_count

    invoice = await act(desk, f"/Invoice/{draft['id']}/finalise")

    assert account.request_count == calls  # a person's action is no API call
    assert (invoice["status"], invoice["invoiceNumber"], invoice["sendType"]) == ("200", "RE-1000", "VPR")
    assert (invoice["create"], invoice["update"], invoice["sendDate"]) == (stamp(T0), stamp(T1), stamp(T1))
    assert (await desk.one(f"/Invoice/{draft['id']}"))["status"] == "200"
    answer = await refused(desk, f"/Invoice/{draft['id']}/finalise", status=409)
    assert answer["code"] == 159  # no longer a draft
    assert (await desk.ui("POST", "/Invoice/999999/finalise")).status == 404
    other = await desk.invoice()
    assert (
        "sendType" in (await refused(desk, f"/Invoice/{other['id']}/finalise", {"sendType": "FAX"}))["error"]
    )


async def test_finalising_an_incomplete_einvoice_is_refused_as_by_the_api(desk: Desk) -> None:
    [user] = await desk.ok("GET", "/SevUser")
    contact_id = await create_buyer(desk.api)
    saved = await desk.ok("POST", "/Invoice/Factory/saveInvoice", einvoice_body(int(user["id"]), contact_id))
    invoice_id = saved["invoice"]["id"]
    desk.clock.advance(MINUTE)

    answer = await refused(desk, f"/Invoice/{invoice_id}/finalise")

    assert answer["code"] == 830
    assert "sevClient.taxNumber" in answer["data"]["missing information"]
    unchanged = await desk.one(f"/Invoice/{invoice_id}")
    assert (unchanged["status"], unchanged["update"]) == ("100", stamp(T0))
    assert (await desk.control("POST", "/company", COMPANY)).status == 200
    finalised = await act(desk, f"/Invoice/{invoice_id}/finalise")
    assert (finalised["status"], finalised["update"]) == ("200", stamp(T1))


async def test_a_person_books_part_and_then_the_rest_of_an_invoice(desk: Desk) -> None:
    invoice = await desk.open_invoice()  # 119.00 gross
    path = f"/Invoice/{invoice['id']}/bookAmount"
    desk.clock.advance(MINUTE)

    part = await act(desk, path, {"amount": "19.50"})
    assert (part["status"], part["paidAmount"], part["update"]) == ("750", 19.5, stamp(T1))
    assert part["payDate"] == stamp(T1)
    desk.clock.advance(MINUTE)
    rest = await act(desk, path)  # no amount: what is open, as a full payment
    assert (rest["status"], rest["paidAmount"], rest["update"]) == ("1000", 119, stamp(T2))

    assert (await refused(desk, path, {"amount": "1"}))["code"] == 750  # already paid
    draft = await desk.invoice()
    assert "draft" in (await refused(desk, f"/Invoice/{draft['id']}/bookAmount"))["error"]
    clearing = await desk.clearing_account()
    booked = await desk.ok("GET", "/CheckAccountTransaction", **{"checkAccount[id]": str(clearing["id"])})
    assert [t["amount"] for t in booked] == [19.5, 99.5]  # by hand, on the clearing account
    assert (await desk.ui("POST", f"/Order/{invoice['id']}/bookAmount")).status == 404


async def test_a_person_cancels_an_invoice_as_cancel_invoice_does(desk: Desk) -> None:
    invoice = await desk.open_invoice()
    desk.clock.advance(MINUTE)

    cancellation = await act(desk, f"/Invoice/{invoice['id']}/cancel", status=201)

    assert (cancellation["invoiceType"], cancellation["status"]) == ("SR", "1000")
    assert cancellation["origin"] == {"id": invoice["id"], "objectName": "Invoice"}
    assert (cancellation["sumGross"], cancellation["create"]) == ("-119", stamp(T1))
    assert (await desk.one(f"/Invoice/{invoice['id']}"))["update"] == stamp(T1)
    assert (await refused(desk, f"/Invoice/{invoice['id']}/cancel", status=400))["code"] == 421
    partly = await desk.open_invoice()
    await act(desk, f"/Invoice/{partly['id']}/bookAmount", {"amount": "10"})
    assert (await refused(desk, f"/Invoice/{partly['id']}/cancel"))["code"] == 390
    draft = await desk.invoice()
    assert "draft" in (await refused(desk, f"/Invoice/{draft['id']}/cancel"))["error"]


# --- offers and vouchers ----------------------------------------------------------------------------


@pytest.mark.parametrize(("action", "status"), [("accept", "500"), ("reject", "300")])
async def test_the_customer_answers_an_offer(desk: Desk, action: str, status: str) -> None:
    offer = await desk.order("AN-1")
    await desk.ok("PUT", f"/Order/{offer['id']}/sendBy", {"sendType": "VPR", "sendDraft": False})
    confirmation = await desk.order("AB-1")
    await desk.ok("PUT", f"/Order/{confirmation['id']}", {"orderType": "AB"})
    desk.clock.advance(MINUTE)

    answered = await act(desk, f"/Order/{offer['id']}/{action}")

    assert (answered["status"], answered["update"]) == (status, stamp(T1))
    assert "no offer" in (await refused(desk, f"/Order/{confirmation['id']}/{action}"))["error"]
    assert (await desk.one(f"/Order/{confirmation['id']}"))["status"] == "100"
    assert (await desk.ui("POST", f"/Order/999999/{action}")).status == 404


async def test_a_person_books_a_voucher_partly_and_fully(desk: Desk) -> None:
    voucher = await desk.voucher()  # revenue, 119.00 gross
    path = f"/Voucher/{voucher['id']}/bookAmount"
    desk.clock.advance(MINUTE)

    part = await act(desk, path, {"amount": "100"})
    assert (part["status"], part["paidAmount"], part["update"]) == ("750", 100, stamp(T1))
    rest = await act(desk, path)
    assert (rest["status"], rest["paidAmount"]) == ("1000", 119)
    assert (await refused(desk, path, {"amount": "1"}))["code"] == 751  # already paid
    draft = await desk.voucher(status=50)
    assert "draft" in (await refused(desk, f"/Voucher/{draft['id']}/bookAmount"))["error"]


# --- creating and deleting ---------------------------------------------------------------------------


async def test_a_person_creates_parts_addresses_and_communication_ways_by_the_apis_rules(
    desk: Desk,
) -> None:
    contact = await desk.contact()
    desk.clock.advance(MINUTE)

    part = await act(
        desk,
        "/Part",
        {"name": "Hand", "partNumber": "H-1", "stock": 1, "unity": PIECE, "taxRate": 7},
        status=201,
    )
    assert (part["taxRate"], part["create"]) == ("7", stamp(T1))
    assert "tax rate" in (await refused(desk, "/Part", {**part, "partNumber": "H-2", "taxRate": 16}))["error"]
    way = {"contact": ref(contact), "type": "EMAIL", "value": "hand@acme.example", "key": {"id": 2}}
    assert "key" in (await refused(desk, "/CommunicationWay", way))["error"]
    assert (await desk.ui("POST", "/Invoice", {"header": "x"})).status == 404


async def test_a_person_deletes_documents_with_their_positions(desk: Desk, account: Account) -> None:
    order = await desk.order()
    await desk.ok("POST", "/Tag/Factory/create", {"name": "alt", "object": ref(order)})
    voucher = await desk.voucher()
    draft = await desk.invoice()
    invoice = await desk.open_invoice()
    part = await desk.part()

    for found in (order, voucher, draft, part):
        reply = await desk.ui("DELETE", f"/{found['objectName']}/{found['id']}")
        assert reply.status == 200, reply.body

    assert account.objects("Order") == account.objects("OrderPos") == []
    assert account.objects("Voucher") == account.objects("VoucherPos") == []
    assert account.objects("TagRelation") == account.objects("Part") == []
    assert [i["id"] for i in account.objects("Invoice")] == [invoice["id"]]
    assert len(account.objects("InvoicePos")) == 1  # the finalised invoice's
    kept = await desk.ui("DELETE", f"/Invoice/{invoice['id']}")
    assert (kept.status, kept.body["code"]) == (409, 159)  # sevDesk keeps finalised invoices
