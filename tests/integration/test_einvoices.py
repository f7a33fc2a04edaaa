"""E-invoices end to end (CONTRACT section 9): the buyer reference on contacts, a won deal saved as a
complete e-invoice whose XML sevDesk then exports, and missing data failing before any write."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import aiohttp
import asyncpg
import pytest

from sevsync.config import Settings
from sevsync.sandbox.server import SandboxServer
from sevsync.tenants.service import change_settings

from ..samples import company, deal
from .harness import add_tenant, envelope, publish, running_worker, wait_for_dead_letters, wait_for_outcomes
from .test_dead_letters import outcomes_of, run_sevsync, writes

REFERENCE = "04011000-12345-67"
TRANSFER = "21919"  # the sandbox's PaymentMethod "Überweisung"
CII = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
RAM = "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"
# The account's own company data, which people fill in in sevDesk's settings (no API reads it).
COMPANY = {
    "name": "Muster Software GmbH",
    "addressStreet": "Hauptstraße 1",
    "addressZip": "10115",
    "addressCity": "Berlin",
    "bankIban": "DE02120300000000202051",
    "bankBic": "BYLADEM1001",
    "contactEmail": "billing@muster.example",
    "contactPhone": "+49 30 123456",
    "taxNumber": "30/123/45678",
}
ADDRESS = {"street": "Kundenweg 5", "zip": "20095", "city": "Hamburg", "country": "DE"}
EINVOICES_MAPPED: dict[str, Any] = {"payment_methods": {"bank_transfer": TRANSFER}}
EINVOICES: dict[str, Any] = {"e_invoice": "all", **EINVOICES_MAPPED}


def buyer(**overrides: Any) -> dict[str, Any]:
    return company(**{"buyer_reference": REFERENCE, "address": ADDRESS, **overrides})


async def sandbox_call(
    sandbox: SandboxServer, token: str, method: str, url: str, body: Any = None
) -> tuple[int, Any]:
    """A request as a person's tool would send it, with the tenant's token."""
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, url, json=body, headers={"Authorization": token}) as response,
    ):
        return response.status, await response.json(content_type=None)


# --- the buyer reference on contacts ----------------------------------------------------------------


async def test_customer_events_write_the_buyer_reference_and_clear_it(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox)
    created = envelope("customer.created", buyer(), version=1)
    changed = envelope("customer.updated", buyer(buyer_reference="991-33333-44"), version=2)
    removed = envelope("customer.updated", buyer(buyer_reference=None), version=3)
    account = sandbox.sandbox.account(token)

    def organisation() -> dict[str, Any]:
        [org] = [c for c in account.objects("Contact") if c.get("name")]
        return org

    async with running_worker(settings):
        await publish(settings, created)
        [first] = await wait_for_outcomes(db, created)
        after_create = organisation()["buyerReference"]
        await publish(settings, changed)
        [second] = await wait_for_outcomes(db, changed)
        after_change = organisation()["buyerReference"]
        await publish(settings, removed)
        [third] = await wait_for_outcomes(db, removed)

    assert [o["status"] for o in (first, second, third)] == ["succeeded"] * 3, first["error"]
    assert (after_create, after_change) == (REFERENCE, "991-33333-44")
    assert organisation()["buyerReference"] is None
    assert len([c for c in account.objects("Contact") if c.get("name")]) == 1


# --- a complete e-invoice ---------------------------------------------------------------------------


async def test_a_won_deal_becomes_a_complete_einvoice_whose_xml_sevdesk_exports(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox, **EINVOICES)
    # The customer reaches sevDesk with the deal (not linked yet): its contact is created with it.
    won = envelope("deal.won", deal(customer=buyer(), payment_method="bank_transfer"))
    async with running_worker(settings):
        await publish(settings, won)
        [outcome] = await wait_for_outcomes(db, won)

    assert (outcome["status"], outcome["sevdesk_object"]) == ("succeeded", "Invoice"), outcome["error"]
    account = sandbox.sandbox.account(token)
    [invoice] = account.objects("Invoice")
    [org] = [c for c in account.objects("Contact") if c.get("name")]
    assert (invoice["propertyIsEInvoice"], str(invoice["status"])) == ("1", "100")
    assert invoice["paymentMethod"] == {"id": TRANSFER, "objectName": "PaymentMethod"}
    assert (invoice["addressStreet"], invoice["addressZip"], invoice["addressCity"]) == (
        "Kundenweg 5",
        "20095",
        "Hamburg",
    )
    assert invoice["addressCountry"]["id"] == "1"  # StaticCountry 1 = Germany
    assert invoice["contact"]["id"] == org["id"]
    assert org["buyerReference"] == REFERENCE
    emails = [w for w in account.objects("CommunicationWay") if w["type"] == "EMAIL"]
    assert [(w["contact"]["id"], w["value"]) for w in emails] == [(org["id"], "billing@acme.example")]

    # A person finalises it in sevDesk (once the company data is filled in); its XML is then a CII
    # document with the buyer's reference.
    status, answer = await sandbox_call(
        sandbox, token, "POST", f"{sandbox.root_url}/__sandbox__/company", COMPANY
    )
    assert status == 200, answer
    invoice_url = f"{sandbox.base_url}/Invoice/{invoice['id']}"
    status, answer = await sandbox_call(
        sandbox, token, "PUT", f"{invoice_url}/sendBy", {"sendType": "VM", "sendDraft": False}
    )
    assert status == 200, answer
    status, answer = await sandbox_call(sandbox, token, "GET", f"{invoice_url}/getXml")
    assert status == 200, answer
    root = ET.fromstring(answer["objects"])  # noqa: S314 - the sandbox's own XML, not untrusted input
    assert root.tag == f"{{{CII}}}CrossIndustryInvoice"
    references = [element.text for element in root.iter(f"{{{RAM}}}BuyerReference")]
    assert references == [REFERENCE]


async def test_an_ordinary_customer_gets_an_ordinary_invoice_without_the_contact_reads(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    # `customers`: a customer without e_invoice and without a buyer reference gets none.
    token = await add_tenant(db, settings, sandbox, e_invoice="customers", **EINVOICES_MAPPED)
    created = envelope("customer.created", company())
    won = envelope("deal.won", deal(customer=company(), payment_method="bank_transfer"))
    async with running_worker(settings):
        await publish(settings, created)
        await wait_for_outcomes(db, created)
        reads_before = sandbox.sandbox.count_calls("GET", "^/(Contact|CommunicationWay)")
        await publish(settings, won)
        [outcome] = await wait_for_outcomes(db, won)

    assert outcome["status"] == "succeeded", outcome["error"]
    [invoice] = sandbox.sandbox.account(token).objects("Invoice")
    assert (invoice.get("propertyIsEInvoice"), invoice["paymentMethod"]) == (None, None)
    # The linked contact is read only to check an e-invoice.
    assert sandbox.sandbox.count_calls("GET", "^/(Contact|CommunicationWay)") == reads_before


async def test_a_resent_deal_won_reads_no_contact_unless_it_writes(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox, **EINVOICES)
    customer = buyer()
    won = envelope("deal.won", deal(customer=customer, payment_method="bank_transfer"))
    again = envelope("deal.won", deal(customer=customer, payment_method="bank_transfer"), version=2)
    changed = deal(customer=customer, payment_method="bank_transfer", title="Website relaunch II")
    async with running_worker(settings):
        await publish(settings, won)
        [first] = await wait_for_outcomes(db, won)
        assert first["status"] == "succeeded", first["error"]
        reads = sandbox.sandbox.count_calls("GET", "^/(Contact|CommunicationWay)")
        await publish(settings, again)
        [unchanged] = await wait_for_outcomes(db, again)
        assert (unchanged["status"], unchanged["reason"]) == ("skipped", "no_change"), unchanged["error"]
        assert sandbox.sandbox.count_calls("GET", "^/(Contact|CommunicationWay)") == reads

        # A person finalises the invoice (sevDesk leads now), then removes the contact's reference.
        account = sandbox.sandbox.account(token)
        [org] = [c for c in account.objects("Contact") if c.get("name")]
        [invoice] = account.objects("Invoice")
        invoice_url = f"{sandbox.base_url}/Invoice/{invoice['id']}"
        for method, url, body in [
            ("POST", f"{sandbox.root_url}/__sandbox__/company", COMPANY),
            ("PUT", f"{invoice_url}/sendBy", {"sendType": "VM", "sendDraft": False}),
            ("PUT", f"{sandbox.base_url}/Contact/{org['id']}", {"buyerReference": None}),
        ]:
            status, answer = await sandbox_call(sandbox, token, method, url, body)
            assert status == 200, answer
        await change_settings(db, "acme", {"payment_methods": {}}, None)  # more data missing
        reads = sandbox.sandbox.count_calls("GET", "^/(Contact|CommunicationWay)")
        resent = envelope("deal.won", changed, version=3)
        await publish(settings, resent)
        [outcome] = await wait_for_outcomes(db, resent)

    assert (outcome["status"], outcome["reason"]) == ("skipped", "not_draft"), outcome["error"]
    assert sandbox.sandbox.count_calls("GET", "^/(Contact|CommunicationWay)") == reads


# --- missing data -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("customer", "tenant", "missing"),
    [
        # The deal's copy carries a reference, but the linked contact, as sevDesk holds it, has none.
        (company(address=ADDRESS, buyer_reference=None), EINVOICES, ["contact buyerReference"]),
        (buyer(email=None), EINVOICES, ["contact e-mail"]),
        (buyer(), {"e_invoice": "all", "payment_methods": {"card": "21920"}}, ["invoice paymentMethod"]),
        (buyer(address={**ADDRESS, "street": None}), EINVOICES, ["invoice addressStreet"]),
        (buyer(address={**ADDRESS, "zip": None}), EINVOICES, ["invoice addressZip"]),
        (buyer(address={**ADDRESS, "city": None}), EINVOICES, ["invoice addressCity"]),
        (
            buyer(email=None, address={**ADDRESS, "zip": None, "city": None}),
            {"e_invoice": "all"},
            ["contact e-mail", "invoice paymentMethod", "invoice addressZip", "invoice addressCity"],
        ),
    ],
    ids=["buyer-reference", "e-mail", "payment-method", "street", "zip", "city", "several"],
)
async def test_each_missing_field_is_named_and_nothing_is_written(
    db: asyncpg.Pool,
    settings: Settings,
    sandbox: SandboxServer,
    customer: dict[str, Any],
    tenant: dict[str, Any],
    missing: list[str],
) -> None:
    token = await add_tenant(db, settings, sandbox, **tenant)
    created = envelope("customer.created", customer)
    embedded = {**customer, "buyer_reference": REFERENCE}
    won = envelope("deal.won", deal(customer=embedded, payment_method="bank_transfer"))
    async with running_worker(settings):
        await publish(settings, created)
        [linked] = await wait_for_outcomes(db, created)
        assert linked["status"] == "succeeded", linked["error"]
        contacts_before = sandbox.sandbox.account(token).objects("Contact")
        writes_before = writes(sandbox)
        await publish(settings, won)
        [outcome] = await wait_for_outcomes(db, won)
        [dead] = await wait_for_dead_letters(db, 1)

    assert (outcome["status"], outcome["reason"]) == ("failed", "einvoice_data_missing")
    assert f"the e-invoice lacks {', '.join(missing)};" in outcome["error"]
    assert outcome["attempt"] == 1  # not retried
    assert (dead["reason"], dead["event_id"]) == ("einvoice_data_missing", outcome["event_id"])
    # Nothing written: no invoice, no order, the contact as it was.
    assert writes(sandbox) == writes_before
    account = sandbox.sandbox.account(token)
    assert (account.objects("Invoice"), account.objects("Order")) == ([], [])
    assert account.objects("Contact") == contacts_before


async def test_a_customer_not_linked_yet_is_not_created_for_an_einvoice_lacking_data(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox, **EINVOICES)
    won = envelope("deal.won", deal(customer=buyer(buyer_reference=None), payment_method="bank_transfer"))
    async with running_worker(settings):
        await publish(settings, won)
        [outcome] = await wait_for_outcomes(db, won)

    assert (outcome["status"], outcome["reason"]) == ("failed", "einvoice_data_missing")
    assert "contact buyerReference" in outcome["error"]
    assert writes(sandbox) == 0
    assert sandbox.sandbox.account(token).objects("Contact") == []


async def test_a_failed_einvoice_is_replayed_once_the_data_is_fixed(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox, e_invoice="customers")
    customer = company(address=ADDRESS, e_invoice=True)
    created = envelope("customer.created", customer, version=1)
    won = envelope("deal.won", deal(customer=customer, payment_method="bank_transfer"))
    fixed = envelope("customer.updated", {**customer, "buyer_reference": REFERENCE}, version=2)
    async with running_worker(settings):
        await publish(settings, created)
        await wait_for_outcomes(db, created)
        await publish(settings, won)
        [failed] = await wait_for_outcomes(db, won)
        assert "contact buyerReference, invoice paymentMethod;" in failed["error"]

        # The CRM sends the reference; the operator maps the deal's payment method; then replays.
        await publish(settings, fixed)
        [updated] = await wait_for_outcomes(db, fixed)
        assert updated["status"] == "succeeded", updated["error"]
        await change_settings(db, "acme", {"payment_methods": {"bank_transfer": TRANSFER}}, None)
        result = await run_sevsync(settings, "dead", "replay", "--reason", "einvoice_data_missing")
        assert result.returncode == 0, result.stderr
        [*_, applied] = await outcomes_of(db, won, 2)

    assert (failed["status"], failed["reason"]) == ("failed", "einvoice_data_missing")
    assert (applied["status"], applied["attempt"]) == ("succeeded", 2), applied["error"]
    [invoice] = sandbox.sandbox.account(token).objects("Invoice")
    assert invoice["propertyIsEInvoice"] == "1"
    assert invoice["paymentMethod"]["id"] == TRANSFER
    [row] = await db.fetch("SELECT * FROM sevsync.dead_letter")
    assert row["replayed_at"] is not None
