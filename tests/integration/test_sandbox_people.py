"""The sandbox acting as people in the sevDesk UI, holding requests, and live accounts' behaviours.

Real HTTP against a running sandbox: the control routes under ``/__sandbox__/ui``, the ``hold``
fault kind that lets a test act between two of a client's requests without timing, and the account
settings that switch on what live accounts were seen to do (api-notes section 15).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from sevsync.sandbox import Account, Sandbox, SandboxServer

from .harness import wait_until
from .sandbox_account import TOKEN

CUSTOMER = {"id": 3, "objectName": "Category"}


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(headers={"Authorization": TOKEN}) as client:
        yield client


async def call(
    session: aiohttp.ClientSession, method: str, url: str, body: Any = None, **params: str
) -> tuple[int, Any]:
    async with session.request(method, url, json=body, params=params or None) as response:
        return response.status, await response.json(content_type=None)


async def test_a_person_creates_a_contact_with_the_next_number_of_the_sequence(
    server: SandboxServer, session: aiohttp.ClientSession, account: Account
) -> None:
    api, ui = server.base_url, server.root_url + "/__sandbox__/ui"
    _, offered = await call(session, "GET", f"{api}/Contact/Factory/getNextCustomerNumber")

    status, made = await call(session, "POST", f"{ui}/Contact", {"name": "Taken by hand GmbH"})

    assert status == 201
    assert made["object"]["customerNumber"] == offered["objects"]
    assert made["object"]["category"] == {"id": "3", "objectName": "Category"}
    _, next_offer = await call(session, "GET", f"{api}/Contact/Factory/getNextCustomerNumber")
    assert int(next_offer["objects"]) == int(offered["objects"]) + 1
    assert sevdesk_calls(account) == 2  # the person's create is no API call


def sevdesk_calls(account: Account) -> int:
    return account.request_count


async def test_a_person_edits_and_deletes_objects(
    server: SandboxServer, session: aiohttp.ClientSession, account: Account
) -> None:
    api, ui = server.base_url, server.root_url + "/__sandbox__/ui"
    _, created = await call(session, "POST", f"{api}/Contact", {"name": "Old", "category": CUSTOMER})
    contact = created["objects"]
    await call(
        session,
        "POST",
        f"{api}/ContactAddress",
        {"contact": {"id": contact["id"], "objectName": "Contact"}, "street": "Weg 1", "city": "Kiel"},
    )

    status, edited = await call(session, "PUT", f"{ui}/Contact/{contact['id']}", {"name": "New"})
    assert status == 200
    assert edited["object"]["name"] == "New"
    assert edited["object"]["customerNumber"] == contact["customerNumber"]
    assert (await call(session, "PUT", f"{ui}/Contact/{contact['id']}", {"id": "1"}))[0] == 400
    assert (await call(session, "PUT", f"{ui}/Contact/999999", {"name": "x"}))[0] == 404
    assert (await call(session, "PUT", f"{ui}/Nonsense/1", {"name": "x"}))[0] == 404

    status, _ = await call(session, "DELETE", f"{ui}/Contact/{contact['id']}")
    assert status == 200
    assert account.objects("Contact") == []
    assert account.objects("ContactAddress") == []  # its address went with it
    assert (await call(session, "DELETE", f"{ui}/Contact/{contact['id']}"))[0] == 404


async def test_ui_routes_need_the_accounts_token(server: SandboxServer) -> None:
    async with aiohttp.ClientSession() as anonymous:
        status, body = await call(
            anonymous, "POST", server.root_url + "/__sandbox__/ui/Contact", {"name": "X"}
        )
    assert status == 401
    assert "Authorization" in body["error"]


async def test_a_contact_without_a_name_is_refused_in_the_ui_too(
    server: SandboxServer, session: aiohttp.ClientSession
) -> None:
    status, body = await call(session, "POST", server.root_url + "/__sandbox__/ui/Contact", {})
    assert status == 400
    assert "name" in body["error"]


async def test_a_held_request_waits_until_released(
    server: SandboxServer, session: aiohttp.ClientSession, sevdesk: Sandbox, account: Account
) -> None:
    control = server.root_url + "/__sandbox__"
    status, _ = await call(
        session, "POST", f"{control}/faults", {"kind": "hold", "method": "POST", "path": "^/Contact$"}
    )
    assert status == 201
    request = asyncio.create_task(
        call(session, "POST", f"{server.base_url}/Contact", {"name": "Held", "category": CUSTOMER})
    )
    await wait_until(lambda: sevdesk.faults.held == 1, message="the request is held")

    # While the client's create waits, a person takes the number it would have been given.
    _, by_hand = await call(session, "POST", f"{control}/ui/Contact", {"name": "By hand"})
    _, faults = await call(session, "GET", f"{control}/faults")
    assert faults["held"] == 1
    assert not request.done()
    status, released = await call(session, "POST", f"{control}/faults/release")
    assert (status, released) == (200, {"released": 1})

    status, answer = await request
    assert status == 201
    assert int(answer["objects"]["customerNumber"]) == int(by_hand["object"]["customerNumber"]) + 1
    assert [c["name"] for c in account.objects("Contact")] == ["By hand", "Held"]


async def test_a_held_write_lands_after_its_client_stopped_waiting(
    server: SandboxServer, sevdesk: Sandbox, account: Account
) -> None:
    # As a request stuck inside sevDesk does: the client gives up, the write is applied later.
    sevdesk.faults.add(kind="hold", method="POST", path="^/Contact$", seconds=60)
    async with aiohttp.ClientSession(headers={"Authorization": TOKEN}) as client:
        request = asyncio.create_task(
            call(client, "POST", f"{server.base_url}/Contact", {"name": "Late", "category": CUSTOMER})
        )
        await wait_until(lambda: sevdesk.faults.held == 1, message="the request is held")
        request.cancel()  # the client stops waiting; its connection is closed
        await asyncio.wait([request])
        assert request.cancelled()
    assert account.objects("Contact") == []
    # Another round trip to the server: by its end the server has seen the first connection close.
    async with aiohttp.ClientSession() as other:
        _, faults = await call(other, "GET", server.root_url + "/__sandbox__/faults")
    assert faults["held"] == 1

    assert sevdesk.faults.release() == 1
    await wait_until(lambda: len(account.objects("Contact")) == 1, message="the held create is applied")
    assert [c["name"] for c in account.objects("Contact")] == ["Late"]


async def test_a_hold_ends_by_itself_after_its_seconds(
    server: SandboxServer, session: aiohttp.ClientSession, sevdesk: Sandbox
) -> None:
    sevdesk.faults.add(kind="hold", method="GET", path="^/Unity$", seconds=0.01)
    status, _ = await call(session, "GET", f"{server.base_url}/Unity")
    assert status == 200
    assert sevdesk.faults.held == 0


async def test_the_page_size_of_an_account_cuts_larger_limits_silently(
    server: SandboxServer, session: aiohttp.ClientSession
) -> None:
    api, control = server.base_url, server.root_url + "/__sandbox__"
    for name in ("A", "B", "C"):
        await call(session, "POST", f"{api}/Contact", {"name": name, "category": CUSTOMER})

    status, settings = await call(session, "POST", f"{control}/settings", {"page_size": 2})
    assert status == 200
    assert settings["page_size"] == 2
    _, first = await call(session, "GET", f"{api}/Contact", limit="1000")
    _, second = await call(session, "GET", f"{api}/Contact", limit="1000", offset="2")
    assert [c["name"] for c in first["objects"]] == ["A", "B"]
    assert [c["name"] for c in second["objects"]] == ["C"]
    for bad in (0, 1001, "10", True):
        assert (await call(session, "POST", f"{control}/settings", {"page_size": bad}))[0] == 400


@pytest.mark.parametrize("refuse", [False, True])
async def test_an_account_can_refuse_an_invoice_delivered_on_its_date(
    server: SandboxServer, session: aiohttp.ClientSession, refuse: bool
) -> None:
    api, control = server.base_url, server.root_url + "/__sandbox__"
    await call(session, "POST", f"{control}/settings", {"refuse_equal_delivery_date": refuse})
    _, created = await call(session, "POST", f"{api}/Contact", {"name": "Kunde", "category": CUSTOMER})
    _, users = await call(session, "GET", f"{api}/SevUser")

    def invoice(delivery_date: str) -> dict[str, Any]:
        return {
            "invoice": {
                "objectName": "Invoice",
                "mapAll": True,
                "contact": {"id": int(created["objects"]["id"]), "objectName": "Contact"},
                "contactPerson": {"id": int(users["objects"][0]["id"]), "objectName": "SevUser"},
                "invoiceDate": "20.11.2026",
                "deliveryDate": delivery_date,
                "status": 100,
                "invoiceType": "RE",
                "taxRule": {"id": 1, "objectName": "TaxRule"},
                "taxText": "Umsatzsteuer 19%",
                "taxRate": 0,
                "currency": "EUR",
                "addressCountry": {"id": 1, "objectName": "StaticCountry"},
                "discount": 0,
            },
            "invoicePosSave": [
                {
                    "objectName": "InvoicePos",
                    "mapAll": True,
                    "quantity": 1,
                    "price": 100,
                    "taxRate": 19,
                    "unity": {"id": 1, "objectName": "Unity"},
                    "name": "Beratung",
                }
            ],
        }

    same_day_status, same_day = await call(
        session, "POST", f"{api}/Invoice/Factory/saveInvoice", invoice("20.11.2026")
    )
    earlier_status, _ = await call(
        session, "POST", f"{api}/Invoice/Factory/saveInvoice", invoice("19.11.2026")
    )

    assert earlier_status == 201
    if refuse:
        assert same_day_status == 422
        assert "must be before the deliveryDate" in same_day["error"]["message"]
    else:
        assert same_day_status == 201
