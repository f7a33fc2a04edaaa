"""Lookups that can outgrow a page, through the API client against the sandbox over real HTTP.

The account answers at most two objects per request whatever `limit` asks (live accounts cut pages
below 1000 without a word), so what a lookup must find sits on a later page. Each test also pins the
cost: the sandbox sends `total` (`countAll=true`), so no empty page is read after the last one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from sevsync.sandbox import Account, SandboxServer
from sevsync.sandbox.banking import insert_transaction
from sevsync.sandbox.countries import COUNTRIES
from sevsync.sandbox.guidance import REVENUE, guidance
from sevsync.sevdesk.api import SevdeskApi
from sevsync.sevdesk.client import SevdeskClient
from sevsync.sevdesk.token import ApiToken

TOKEN = "5e1ec7ab1e5e1ec7ab1e5e1ec7ab1e00"
PAGE_SIZE = 2
CUSTOMER = {"id": 3, "objectName": "Category"}
GERMANY = {"id": 1, "objectName": "StaticCountry"}
RULE_1 = {"id": 1, "objectName": "TaxRule"}
PIECE = {"id": 1, "objectName": "Unity"}
ERLOESE_19 = {"id": 5101, "objectName": "AccountDatev"}


@pytest.fixture
def account(sandbox: SandboxServer) -> Account:
    account = sandbox.sandbox.add_account(TOKEN)
    account.page_size = PAGE_SIZE
    return account


@pytest.fixture
async def api(sandbox: SandboxServer, account: Account) -> AsyncIterator[SevdeskApi]:
    async with SevdeskClient(sandbox.base_url) as client:
        yield SevdeskApi(client, ApiToken(TOKEN))


def pages_read(sandbox: SandboxServer, path: str) -> int:
    return sandbox.sandbox.count_calls("GET", path)


def pages_for(count: int) -> int:
    return -(-count // PAGE_SIZE)


async def parties(api: SevdeskApi) -> dict[str, Any]:
    """The contact and the API user a document names."""
    contact = await api.create_contact({"name": "ACME GmbH", "category": CUSTOMER})
    [user] = await api.sev_users()
    return {
        "contact": {"id": int(contact["id"]), "objectName": "Contact"},
        "contactPerson": {"id": int(user["id"]), "objectName": "SevUser"},
    }


def positions_of(kind: str, count: int) -> list[dict[str, Any]]:
    return [
        {
            "objectName": kind,
            "mapAll": True,
            "quantity": "1",
            "price": str(100 + n),
            "taxRate": "19",
            "unity": PIECE,
            "name": f"Line {n + 1}",
        }
        for n in range(count)
    ]


async def open_invoice(api: SevdeskApi, account: Account, positions: int = 1) -> str:
    """An invoice saved through the API and then opened, as a person does in sevDesk."""
    body: dict[str, Any] = {
        "invoice": {
            "objectName": "Invoice",
            "mapAll": True,
            "invoiceDate": "01.10.2026",
            **await parties(api),
            "discount": 0,
            "status": 100,
            "addressCountry": GERMANY,
            "taxRule": RULE_1,
            "taxText": "Umsatzsteuer 19%",
            "invoiceType": "RE",
            "currency": "EUR",
            "showNet": True,
        },
        "invoicePosSave": positions_of("InvoicePos", positions),
        "invoicePosDelete": None,
        "discountSave": None,
        "discountDelete": None,
    }
    invoice_id = str((await api.save_invoice(body))["invoice"]["id"])
    record = account.find("Invoice", int(invoice_id))
    assert record is not None
    account.update(record, {"status": "200", "invoiceNumber": f"RE-{invoice_id}"})
    return invoice_id


async def test_the_cancellation_of_an_invoice_is_found_behind_others(
    api: SevdeskApi, account: Account, sandbox: SandboxServer
) -> None:
    invoices = [await open_invoice(api, account) for _ in range(4)]
    cancellations = [str((await api.cancel_invoice(invoice_id))["id"]) for invoice_id in invoices]
    sandbox.sandbox.calls.clear()

    found = await api.find_cancellations_of(invoices[3])

    # The sandbox ignores the origin filter, as sevDesk may: every SR comes back, four of them.
    assert [c["id"] for c in found] == [cancellations[3]]
    assert pages_read(sandbox, "^/Invoice$") == pages_for(4)


async def test_bank_transactions_on_later_pages_are_found(
    api: SevdeskApi, account: Account, sandbox: SandboxServer
) -> None:
    bank = next(r for r in account.table("CheckAccount").values() if r.fields["type"] == "online")
    now = datetime.now(UTC)
    made = [
        insert_transaction(account, bank, amount=Decimal(amount), value_date=now, purpose="RE 2531-Ljnk-278")
        for amount in ("10", "20", "30", "261.8", "40")
    ]

    found = await api.find_transactions(str(bank.id), "2531-Ljnk-278")

    assert [t["id"] for t in found] == [str(t.id) for t in made]
    assert pages_read(sandbox, "^/CheckAccountTransaction$") == pages_for(5)


async def test_a_voucher_is_found_by_its_description_behind_others_that_contain_it(
    api: SevdeskApi, account: Account, sandbox: SandboxServer
) -> None:
    # `descriptionLike` matches substrings: the older vouchers holding "278" in their description
    # come first, and the one looked for (e.g. just created, its answer lost) is the newest.
    for description in ("2278", "278-A", "RE 2780", "1278"):
        account.insert("Voucher", {"description": description, "creditDebit": "D", "status": "100"})
    wanted = account.insert("Voucher", {"description": "278", "creditDebit": "D", "status": "100"})
    sandbox.sandbox.calls.clear()

    found = await api.find_vouchers_by_description("278")

    assert [v["id"] for v in found] == [str(wanted.id)]
    assert pages_read(sandbox, "^/Voucher$") == pages_for(5)


async def test_every_country_is_listed(api: SevdeskApi, sandbox: SandboxServer) -> None:
    countries = await api.static_countries()

    assert [c["code"] for c in countries] == [c.code for c in COUNTRIES]
    assert pages_read(sandbox, "^/StaticCountry$") == pages_for(len(COUNTRIES))


async def test_every_revenue_booking_account_is_listed(
    api: SevdeskApi, account: Account, sandbox: SandboxServer
) -> None:
    accounts = await api.revenue_guidance()

    expected = guidance(account, REVENUE)
    assert [a["accountNumber"] for a in accounts] == [a["accountNumber"] for a in expected]
    assert len(expected) > PAGE_SIZE
    assert pages_read(sandbox, "^/ReceiptGuidance/forRevenue$") == pages_for(len(expected))


async def test_a_tag_is_found_among_the_objects_other_tags(
    api: SevdeskApi, account: Account, sandbox: SandboxServer
) -> None:
    invoice_id = await open_invoice(api, account)
    for name in ("paid-late", "reminded", "disputed", "mismatch"):
        await api.tag(name, "Invoice", invoice_id)
    sandbox.sandbox.calls.clear()

    assert await api.has_tag("mismatch", "Invoice", invoice_id)
    assert not await api.has_tag("mismatch", "Invoice", await open_invoice(api, account))
    assert pages_read(sandbox, "^/TagRelation$") == pages_for(4) + 1  # the other invoice has none


async def test_every_position_of_a_document_is_listed(api: SevdeskApi, account: Account) -> None:
    invoice_id = await open_invoice(api, account, positions=5)
    order = await api.save_order(
        {
            "order": {
                "objectName": "Order",
                "mapAll": True,
                "orderNumber": "AN-1001",
                "orderDate": "01.10.2026",
                "status": 100,
                "header": "Angebot AN-1001",
                "addressCountry": GERMANY,
                **await parties(api),
                "taxRule": RULE_1,
                "taxText": "Umsatzsteuer",
                "currency": "EUR",
                "version": 0,
                "showNet": True,
            },
            "orderPosSave": positions_of("OrderPos", 3),
            "orderPosDelete": None,
        }
    )
    voucher = await api.save_voucher(
        {
            "voucher": {
                "objectName": "Voucher",
                "mapAll": True,
                "status": 100,
                "creditDebit": "D",
                "voucherType": "VOU",
                "taxRule": RULE_1,
                "voucherDate": "15.01.2026",
                "supplierName": "XYZ Design",
                "description": "2531-Ljnk-278",
            },
            "voucherPosSave": [
                {
                    "objectName": "VoucherPos",
                    "mapAll": True,
                    "accountDatev": ERLOESE_19,
                    "taxRate": 19,
                    "net": True,
                    "sumNet": str(10 * (n + 1)),
                }
                for n in range(3)
            ],
            "voucherPosDelete": None,
        }
    )

    invoice_positions = await api.invoice_positions(invoice_id)
    order_positions = await api.order_positions(str(order["order"]["id"]))
    voucher_positions = await api.voucher_positions(str(voucher["voucher"]["id"]))

    assert [p["name"] for p in invoice_positions] == [f"Line {n + 1}" for n in range(5)]
    assert [p["name"] for p in order_positions] == ["Line 1", "Line 2", "Line 3"]
    assert [p["sumNet"] for p in voucher_positions] == ["10", "20", "30"]


async def test_every_address_and_communication_way_of_the_account_is_read(api: SevdeskApi) -> None:
    contact = await api.create_contact({"name": "ACME GmbH", "category": CUSTOMER})
    contact_ref = {"id": int(contact["id"]), "objectName": "Contact"}
    for city in ("Berlin", "Hamburg", "München"):
        await api.create_address(
            {
                "contact": contact_ref,
                "street": "Hauptstr. 1",
                "zip": "10115",
                "city": city,
                "country": GERMANY,
                "category": {"id": 47, "objectName": "Category"},
            }
        )

    for n in range(3):
        await api.create_communication_way(
            {
                "contact": contact_ref,
                "type": "EMAIL",
                "value": f"team{n}@acme.example",
                "key": {"id": 2, "objectName": "CommunicationWayKey"},
                "main": n == 0,
            }
        )

    cities = [address["city"] async for address in api.every_address()]
    values = [way["value"] async for way in api.every_communication_way()]

    assert cities == ["Berlin", "Hamburg", "München"]
    assert values == ["team0@acme.example", "team1@acme.example", "team2@acme.example"]
