"""sevsync adopts only what is its own (CONTRACT section 8), with people at work in the same account.

A customer number sevsync drew from sevDesk's sequence, or an invoice marker it made up, can be taken
by a person in the sevDesk UI between a failed create and its retry. A ``hold`` fault stops
sevsync's next request of one kind while the test acts as that person, so every interleaving here is
set up without timing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from sevsync.config import Settings
from sevsync.sandbox import Account, SandboxServer, people
from sevsync.sevdesk.api import SevdeskApi
from sevsync.sevdesk.client import SevdeskClient
from sevsync.sevdesk.objects import ref
from sevsync.sevdesk.token import ApiToken

from ..samples import deal, person
from .harness import (
    add_tenant,
    envelope,
    outbound_listener,
    publish,
    running_worker,
    wait_for_outcomes,
    wait_until,
)

LOOKUP_BY_NUMBER = "^/Contact$"


def contacts_by_name(account: Account) -> dict[str, dict[str, Any]]:
    return {str(c["familyname"]): c for c in account.objects("Contact")}


async def given_up(db: asyncpg.Pool) -> list[tuple[str, str, str]]:
    rows = await db.fetch(
        "SELECT sevdesk_object, business_key, entity_id FROM sevsync.given_up_key ORDER BY 2"
    )
    return [(r["sevdesk_object"], r["business_key"], r["entity_id"]) for r in rows]


async def hold_then(sandbox: SandboxServer, act: Any) -> None:
    """Wait until sevsync's request is held, act as a person in the sevDesk UI, let the request go on."""
    faults = sandbox.sandbox.faults
    await wait_until(lambda: faults.held == 1, timeout=20, message="sevsync's request is held")
    act()
    assert faults.release() == 1


async def test_a_number_a_person_took_after_an_answered_503_is_given_up_for_a_new_one(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox)
    account = sandbox.sandbox.account(token)
    faults = sandbox.sandbox.faults
    faults.add(kind="status", status=503, method="POST", path=LOOKUP_BY_NUMBER, times=1)
    # The look for the effect of the 503 waits while a person creates a contact in the UI: it takes
    # the number sevsync sent, 1000, the next of the sequence.
    faults.add(kind="hold", method="GET", path=LOOKUP_BY_NUMBER, times=1)
    event = envelope("customer.created", person())
    async with outbound_listener(settings) as received, running_worker(settings):
        await publish(settings, event)
        await hold_then(
            sandbox, lambda: people.create_contact(account, {"surename": "Otto", "familyname": "Fremd"})
        )
        [outcome] = await wait_for_outcomes(db, event)
        await wait_until(
            lambda: any(m["event_type"] == "customer.linked" for m in received), message="linked"
        )

    assert (outcome["status"], outcome["attempt"]) == ("succeeded", 1), outcome["error"]
    contacts = contacts_by_name(account)
    stranger, own = contacts["Fremd"], contacts["Musterfrau"]
    # The stranger's contact is left exactly as the person made it: not renamed, nothing attached.
    assert (stranger["surename"], stranger["customerNumber"]) == ("Otto", "1000")
    assert [c for c in sandbox.sandbox.calls if c.path == f"/Contact/{stranger['id']}"] == []
    assert {a["contact"]["id"] for a in account.objects("ContactAddress")} == {own["id"]}
    assert {w["contact"]["id"] for w in account.objects("CommunicationWay")} == {own["id"]}
    # sevsync's own contact got a new number, through the allocation (lock, availability check).
    assert (own["surename"], own["customerNumber"]) == ("Erika", "1001")
    link = await db.fetchrow("SELECT sevdesk_id, sevdesk_number FROM sevsync.entity_link")
    assert link is not None
    assert (link["sevdesk_id"], link["sevdesk_number"]) == (own["id"], "1001")
    linked = next(m for m in received if m["event_type"] == "customer.linked")
    assert linked["data"] == {
        "customer_id": "cust-2002",
        "sevdesk_contact_id": own["id"],
        "customer_number": "1001",
    }
    assert await given_up(db) == [("Contact", "1000", "cust-2002")]
    assert await db.fetchval("SELECT count(*) FROM sevsync.write_intent") == 0


async def test_after_an_unanswered_create_the_number_is_given_up_only_once_it_cannot_land(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox)
    account = sandbox.sandbox.account(token)
    faults = sandbox.sandbox.faults
    # The create never reaches sevDesk's database, but sevsync cannot know: its request times out.
    faults.add(kind="timeout", seconds=30, method="POST", path=LOOKUP_BY_NUMBER, times=1)
    faults.add(kind="hold", method="GET", path=LOOKUP_BY_NUMBER, times=1)
    event = envelope("customer.created", person())
    async with running_worker(settings):
        await publish(settings, event)
        await hold_then(
            sandbox, lambda: people.create_contact(account, {"surename": "Otto", "familyname": "Fremd"})
        )
        [outcome] = await wait_for_outcomes(db, event)

    rows = await db.fetch("SELECT status, error FROM sevsync.sync_outcome ORDER BY id")
    # The first attempt found only the stranger's contact: its own create might still land.
    assert rows[0]["status"] == "retrying"
    assert "only others' objects hold its key" in rows[0]["error"]
    # Past the settle window the number was given up and the next one taken.
    assert outcome["status"] == "succeeded", outcome["error"]
    contacts = contacts_by_name(account)
    assert (contacts["Fremd"]["surename"], contacts["Fremd"]["customerNumber"]) == ("Otto", "1000")
    assert contacts["Musterfrau"]["customerNumber"] == "1001"
    assert await db.fetchval("SELECT sevdesk_id FROM sevsync.entity_link") == contacts["Musterfrau"]["id"]
    assert await given_up(db) == [("Contact", "1000", "cust-2002")]


async def test_of_two_contacts_with_the_number_the_one_sevsync_sent_is_adopted(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    # A settle window longer than the test: while sevsync's create may still land, it waits for it.
    settings = settings.model_copy(
        update={"write_settle_seconds": 3600.0, "retry_delays": tuple([settings.retry_delays[0]] * 30)}
    )
    token = await add_tenant(db, settings, sandbox)
    account = sandbox.sandbox.account(token)
    faults = sandbox.sandbox.faults
    # sevsync's create is held past the client's timeout: it is still on its way when the attempt ends.
    faults.add(kind="hold", method="POST", path=LOOKUP_BY_NUMBER, times=1, seconds=60)
    event = envelope("customer.created", person())
    async with running_worker(settings):
        await publish(settings, event)
        await wait_until(
            lambda: db.fetchval("SELECT count(*) FROM sevsync.sync_outcome WHERE status = 'retrying'"),
            timeout=20,
            message="the first attempt ended unanswered",
        )
        # A person takes number 1000 in the UI; then sevsync's create lands, with the same number.
        people.create_contact(account, {"surename": "Otto", "familyname": "Fremd"})
        assert faults.release() == 1
        await wait_until(lambda: len(account.objects("Contact")) == 2, message="sevsync's create landed")
        [outcome] = await wait_for_outcomes(db, event, timeout=30)

    assert outcome["status"] == "succeeded", outcome["error"]
    contacts = contacts_by_name(account)
    assert {c["customerNumber"] for c in contacts.values()} == {"1000"}
    own, stranger = contacts["Musterfrau"], contacts["Fremd"]
    assert await db.fetchval("SELECT sevdesk_id FROM sevsync.entity_link") == own["id"]
    assert [c for c in sandbox.sandbox.calls if c.path == f"/Contact/{stranger['id']}"] == []
    assert sandbox.sandbox.count_calls("POST", LOOKUP_BY_NUMBER) == 1  # the held create, and no other
    assert await given_up(db) == []


async def test_a_newer_version_before_the_retry_still_finds_the_contact_by_what_was_sent(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox)
    account = sandbox.sandbox.account(token)
    faults = sandbox.sandbox.faults
    # Version 1's create is applied but its answer is lost; its look for the effect fails too.
    faults.add(kind="lost_answer", method="POST", path=LOOKUP_BY_NUMBER, times=1)
    faults.add(kind="status", status=503, method="GET", path=LOOKUP_BY_NUMBER, times=3)
    first = envelope("customer.created", person(), version=1)
    renamed = envelope("customer.updated", person(last_name="Beispiel"), version=2)
    async with running_worker(settings):
        await publish(settings, first)
        await wait_until(
            lambda: db.fetchval("SELECT count(*) FROM sevsync.sync_outcome WHERE status = 'retrying'"),
            timeout=20,
            message="version 1 waits on the ladder",
        )
        await publish(settings, renamed)
        outcomes = await wait_for_outcomes(db, first, renamed)

    assert {o["status"] for o in outcomes} <= {"succeeded", "skipped"}, [o["error"] for o in outcomes]
    [contact] = account.objects("Contact")
    assert (contact["familyname"], contact["customerNumber"]) == ("Beispiel", "1000")
    assert await db.fetchval("SELECT sevdesk_id FROM sevsync.entity_link") == contact["id"]
    assert await given_up(db) == []


async def test_a_rename_sevsync_sent_to_its_adopted_contact_keeps_it_provably_its_own(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox)
    account = sandbox.sandbox.account(token)
    faults = sandbox.sandbox.faults
    # Version 1 creates its contact, but the answer is lost and every look for it fails: it ends dead,
    # its intent (and what it sent) left behind.
    faults.add(kind="lost_answer", method="POST", path=LOOKUP_BY_NUMBER, times=1)
    faults.add(kind="status", status=503, method="GET", path=LOOKUP_BY_NUMBER, times=None)
    first = envelope("customer.created", person(), version=1)
    renamed = envelope("customer.updated", person(last_name="Beispiel"), version=2)
    async with running_worker(settings):
        await publish(settings, first)
        [dead] = await wait_for_outcomes(db, first, timeout=30)
        faults.clear()
        # Version 2 adopts that contact and renames it; the rename lands, its answer is lost.
        faults.add(kind="lost_answer", method="PUT", path=r"^/Contact/\d+$", times=1)
        await publish(settings, renamed)
        [outcome] = await wait_for_outcomes(db, renamed)

    assert dead["status"] == "dead"
    rows = await db.fetch(
        "SELECT status FROM sevsync.sync_outcome WHERE event_id = $1 ORDER BY id", outcome["event_id"]
    )
    assert [r["status"] for r in rows] == ["retrying", "succeeded"]
    # Its retry found the renamed contact and knew it as its own: no second contact, no number given up.
    [contact] = account.objects("Contact")
    assert (contact["familyname"], contact["customerNumber"]) == ("Beispiel", "1000")
    assert await db.fetchval("SELECT sevdesk_id FROM sevsync.entity_link") == contact["id"]
    assert await given_up(db) == []


async def test_a_number_sevdesk_offers_again_after_it_was_given_up_is_not_used_again(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox)
    account = sandbox.sandbox.account(token)
    faults = sandbox.sandbox.faults
    faults.add(kind="status", status=503, method="POST", path=LOOKUP_BY_NUMBER, times=1)
    faults.add(kind="hold", method="GET", path=LOOKUP_BY_NUMBER, times=1)
    first = envelope("customer.created", person("cust-a", last_name="Adler"))
    second = envelope("customer.created", person("cust-b", last_name="Bauer"))
    taken: list[int] = []

    def type_in_number() -> None:
        # A person types number 1000 in by hand, so the sequence does not move past it.
        taken.append(people.create_contact(account, {"familyname": "Fremd", "customerNumber": "1000"}).id)

    async with running_worker(settings):
        await publish(settings, first)
        await hold_then(sandbox, type_in_number)
        await wait_for_outcomes(db, first)
        # The person deletes that contact again: sevDesk offers 1000 as the next number once more.
        people.delete(account, "Contact", taken[0])
        await publish(settings, second)
        [outcome] = await wait_for_outcomes(db, second)

    assert outcome["status"] == "succeeded", outcome["error"]
    numbers = {name: c["customerNumber"] for name, c in contacts_by_name(account).items()}
    # 1000 stays given up; 1001 is Adler's; Bauer gets the next free one.
    assert numbers == {"Adler": "1001", "Bauer": "1002"}
    assert await given_up(db) == [("Contact", "1000", "cust-a")]


# --- the deal invoice's marker -------------------------------------------------------------------------


@pytest.fixture
async def person_api(sandbox: SandboxServer) -> AsyncIterator[Any]:
    """sevDesk's API in a person's hands (the sandbox's UI routes make no invoices)."""

    async def open_api(token: str) -> SevdeskApi:
        return SevdeskApi(client, ApiToken(token))

    async with SevdeskClient(sandbox.base_url) as client:
        yield open_api


@pytest.mark.parametrize("held_look", ["before_the_create", "after_a_503"])
async def test_an_invoice_carrying_the_marker_that_sevsync_did_not_create_is_left_alone(
    held_look: str, db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer, person_api: Any
) -> None:
    token = await add_tenant(db, settings, sandbox)
    account = sandbox.sandbox.account(token)
    api: SevdeskApi = await person_api(token)
    faults = sandbox.sandbox.faults

    def answer_503_once() -> None:
        faults.add(kind="status", status=503, method="POST", path="^/Invoice/Factory/saveInvoice$")

    if held_look == "after_a_503":
        answer_503_once()
        # The search by marker before the create passes; the look for the 503's effect is held.
        faults.add(kind="latency", seconds=0, method="GET", path="^/Invoice$", times=1)
    faults.add(kind="hold", method="GET", path="^/Invoice$", times=1)
    won = envelope("deal.won", deal())
    by_hand: list[str] = []

    async def write_by_hand() -> None:
        # Someone writes an invoice of their own and puts sevsync's marker into its internal note.
        their_contact = people.create_contact(account, {"name": "Other Customer GmbH"})
        [user] = await api.sev_users()
        saved = await api.save_invoice(
            {
                "invoice": {
                    "objectName": "Invoice",
                    "mapAll": True,
                    "invoiceDate": "20.11.2026",
                    "contact": ref("Contact", their_contact.id),
                    "contactPerson": ref("SevUser", user["id"]),
                    "discount": 0,
                    "status": 100,
                    "addressCountry": ref("StaticCountry", 1),
                    "taxRule": ref("TaxRule", 1),
                    "taxText": "Umsatzsteuer 19%",
                    "invoiceType": "RE",
                    "currency": "EUR",
                    "showNet": True,
                    "header": "Written by hand",
                    "customerInternalNote": "sevsync deal deal-42",
                },
                "invoicePosSave": [
                    {
                        "objectName": "InvoicePos",
                        "mapAll": True,
                        "quantity": "1",
                        "price": "10",
                        "taxRate": "19",
                        "unity": ref("Unity", 1),
                        "name": "Something else",
                    }
                ],
                "invoicePosDelete": None,
                "discountSave": None,
                "discountDelete": None,
            }
        )
        by_hand.append(str(saved["invoice"]["id"]))

    async with running_worker(settings):
        await publish(settings, won)
        await wait_until(lambda: faults.held == 1, timeout=20, message="sevsync's look is held")
        await write_by_hand()
        if held_look == "before_the_create":
            answer_503_once()  # sevsync's create is answered 503 too, once
        assert faults.release() == 1
        [outcome] = await wait_for_outcomes(db, won)

    assert (outcome["status"], outcome["attempt"]) == ("succeeded", 1), outcome["error"]
    invoices = {str(i["id"]): i for i in account.objects("Invoice")}
    [theirs_id] = by_hand
    theirs = invoices.pop(theirs_id)
    [own] = invoices.values()
    # Theirs is untouched: same header, same single position; sevsync's draft has a new marker.
    assert (theirs["header"], theirs["customerInternalNote"]) == ("Written by hand", "sevsync deal deal-42")
    assert [p["name"] for p in account.objects("InvoicePos") if p["invoice"]["id"] == theirs_id] == [
        "Something else"
    ]
    assert (own["header"], own["customerInternalNote"]) == ("Website relaunch", "sevsync deal deal-42 (2)")
    link = await db.fetchrow("SELECT sevdesk_id FROM sevsync.entity_link WHERE entity_type = 'deal_invoice'")
    assert link is not None
    assert link["sevdesk_id"] == own["id"]
    assert await given_up(db) == [("Invoice", "sevsync deal deal-42", "deal-42")]


async def test_a_title_sevsync_sent_to_its_adopted_invoice_draft_keeps_it_provably_its_own(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox)
    account = sandbox.sandbox.account(token)
    faults = sandbox.sandbox.faults
    save = "^/Invoice/Factory/saveInvoice$"
    # Version 1's draft is created, but the answer is lost and every look for it fails: it ends dead.
    faults.add(kind="lost_answer", method="POST", path=save, times=1)
    faults.add(kind="latency", seconds=0, method="GET", path="^/Invoice$", times=1)  # the search before
    faults.add(kind="status", status=503, method="GET", path="^/Invoice$", times=None)
    first = envelope("deal.won", deal(), version=1)
    retitled = envelope("deal.won", deal(title="Website relaunch, phase 2"), version=2)
    async with running_worker(settings):
        await publish(settings, first)
        [dead] = await wait_for_outcomes(db, first, timeout=30)
        faults.clear()
        # Version 2 adopts the draft and gives it its new title; that lands, its answer is lost.
        faults.add(kind="lost_answer", method="POST", path=save, times=1)
        await publish(settings, retitled)
        [outcome] = await wait_for_outcomes(db, retitled)

    assert dead["status"] == "dead"
    assert outcome["status"] == "succeeded", outcome["error"]
    [invoice] = account.objects("Invoice")
    assert (invoice["header"], invoice["customerInternalNote"]) == (
        "Website relaunch, phase 2",
        "sevsync deal deal-42",
    )
    link = await db.fetchrow("SELECT sevdesk_id FROM sevsync.entity_link WHERE entity_type = 'deal_invoice'")
    assert link is not None
    assert link["sevdesk_id"] == invoice["id"]
    assert await given_up(db) == []
