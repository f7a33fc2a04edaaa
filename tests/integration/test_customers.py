"""customer.* events through RabbitMQ, the worker and the sandbox, recorded in Postgres."""

from __future__ import annotations

import asyncpg

from sevsync.config import Settings
from sevsync.sandbox.server import SandboxServer

from ..samples import company, person
from .harness import (
    add_tenant,
    envelope,
    outbound_listener,
    publish,
    running_worker,
    wait_for_outcomes,
    wait_until,
)


async def test_company_creates_contact_with_address_email_phone_and_contact_person(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox)
    event = envelope("customer.created", company())
    async with running_worker(settings):
        await publish(settings, event)
        [outcome] = await wait_for_outcomes(db, event)

    assert outcome["status"] == "succeeded", outcome["error"]
    account = sandbox.sandbox.account(token)
    contacts = account.objects("Contact")
    organisations = [c for c in contacts if c.get("name")]
    persons = [c for c in contacts if not c.get("name")]
    assert len(organisations) == 1
    org = organisations[0]
    assert org["name"] == "Acme GmbH"
    assert org["customerNumber"] == "K-1001"
    assert org["vatNumber"] == "DE123456789"
    assert org["category"]["id"] == "3"
    assert len(persons) == 1
    assert persons[0]["surename"] == "Max"
    assert persons[0]["familyname"] == "Mustermann"
    assert persons[0]["parent"]["id"] == org["id"]

    [address] = account.objects("ContactAddress")
    assert address["contact"]["id"] == org["id"]
    assert (address["street"], address["zip"], address["city"]) == ("Hauptstr. 1", "10115", "Berlin")
    assert address["country"]["id"] == "1"  # StaticCountry 1 = Germany
    ways = {w["type"]: w for w in account.objects("CommunicationWay")}
    assert set(ways) == {"EMAIL", "PHONE"}
    assert ways["EMAIL"]["value"] == "billing@acme.example"
    assert ways["PHONE"]["value"] == "+49 30 1234567"

    link = await db.fetchrow("SELECT * FROM sevsync.entity_link WHERE entity_id = 'cust-1001'")
    assert link is not None
    assert (link["entity_type"], link["sevdesk_object"], link["sevdesk_id"]) == (
        "customer",
        "Contact",
        org["id"],
    )
    assert link["sevdesk_number"] == "K-1001"
    assert link["synced_version"] == 1
    assert outcome["sevdesk_id"] == org["id"]
    assert outcome["api_calls"] > 0
    assert await db.fetchval("SELECT count(*) FROM sevsync.inbox") == 1


async def test_update_changes_the_contact_in_place(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox)
    created = envelope("customer.created", company(), version=1)
    updated = envelope(
        "customer.updated",
        company(
            company_name="Acme Holding GmbH",
            email="accounts@acme.example",
            address={"street": "Neue Str. 9", "zip": "20095", "city": "Hamburg", "country": "DE"},
        ),
        version=2,
    )
    async with running_worker(settings):
        await publish(settings, created)
        await wait_for_outcomes(db, created)
        await publish(settings, updated)
        [outcome] = await wait_for_outcomes(db, updated)

    assert outcome["status"] == "succeeded", outcome["error"]
    account = sandbox.sandbox.account(token)
    [org] = [c for c in account.objects("Contact") if c.get("name")]
    assert org["name"] == "Acme Holding GmbH"
    # Updated in place: still one address, one e-mail, one phone, one contact person.
    [address] = account.objects("ContactAddress")
    assert address["city"] == "Hamburg"
    emails = [w for w in account.objects("CommunicationWay") if w["type"] == "EMAIL"]
    assert [w["value"] for w in emails] == ["accounts@acme.example"]
    assert len(account.objects("Contact")) == 2
    assert await db.fetchval("SELECT synced_version FROM sevsync.entity_link") == 2


async def test_person_without_number_gets_sevdesk_number_and_crm_is_told(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox)
    event = envelope("customer.created", person())
    async with outbound_listener(settings) as received, running_worker(settings):
        await publish(settings, event)
        [outcome] = await wait_for_outcomes(db, event)
        await wait_until(lambda: len(received) >= 2, message="two outbound events")

    assert outcome["status"] == "succeeded", outcome["error"]
    [contact] = sandbox.sandbox.account(token).objects("Contact")
    assert contact.get("name") in (None, "")
    assert (contact["surename"], contact["familyname"]) == ("Erika", "Musterfrau")
    number = contact["customerNumber"]
    assert number
    by_type = {m["event_type"]: m for m in received}
    linked = by_type["customer.linked"]
    assert linked["data"] == {
        "customer_id": "cust-2002",
        "sevdesk_contact_id": contact["id"],
        "customer_number": number,
    }
    assert linked["tenant_id"] == "acme"
    assert linked["routing_key"] == "customer.linked"
    assert linked["message_id"] == linked["event_id"]
    succeeded = by_type["sync.succeeded"]
    assert succeeded["data"]["source_event_id"] == event["event_id"]
    assert succeeded["data"]["sevdesk_number"] == number
    assert succeeded["version"] == event["version"]


async def test_numbers_are_allocated_one_at_a_time_per_tenant(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox)
    events = [envelope("customer.created", person(f"cust-{i}", last_name=f"Kunde {i}")) for i in range(12)]
    async with running_worker(settings):
        await publish(settings, *events)
        outcomes = await wait_for_outcomes(db, *events)

    assert {o["status"] for o in outcomes} == {"succeeded"}
    numbers = [c["customerNumber"] for c in sandbox.sandbox.account(token).objects("Contact")]
    assert len(numbers) == 12
    assert len(set(numbers)) == 12


async def test_sevdesk_id_links_an_existing_contact_instead_of_creating(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox)
    account = sandbox.sandbox.account(token)
    # A contact that exists in sevDesk already (e.g. the CRM got it through an import).
    existing = await _create_contact_directly(
        sandbox, token, {"name": "Imported AG", "customerNumber": "1500"}
    )
    event = envelope(
        "customer.created",
        company(
            "cust-imp",
            company_name="Imported AG",
            customer_number=None,
            sevdesk_id=existing,
            first_name=None,
            last_name=None,
        ),
    )
    async with running_worker(settings):
        await publish(settings, event)
        [outcome] = await wait_for_outcomes(db, event)

    assert outcome["status"] == "succeeded", outcome["error"]
    assert len(account.objects("Contact")) == 1
    link = await db.fetchrow(
        "SELECT sevdesk_id, sevdesk_number FROM sevsync.entity_link WHERE entity_id = 'cust-imp'"
    )
    assert link is not None
    assert (link["sevdesk_id"], link["sevdesk_number"]) == (existing, "1500")


async def test_deleted_customer_is_skipped_and_link_kept(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox)
    created = envelope("customer.created", company(), version=1)
    deleted = envelope("customer.deleted", {"id": "cust-1001"}, version=2)
    async with running_worker(settings):
        await publish(settings, created)
        await wait_for_outcomes(db, created)
        await publish(settings, deleted)
        [outcome] = await wait_for_outcomes(db, deleted)

    assert (outcome["status"], outcome["reason"]) == ("skipped", "sevdesk_leads")
    assert len([c for c in sandbox.sandbox.account(token).objects("Contact") if c.get("name")]) == 1
    assert await db.fetchval("SELECT count(*) FROM sevsync.entity_link") == 1


async def _create_contact_directly(sandbox: SandboxServer, token: str, fields: dict[str, object]) -> str:
    import aiohttp

    body = {"category": {"id": 3, "objectName": "Category"}, **fields}
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{sandbox.base_url}/Contact", json=body, headers={"Authorization": token}) as response,
    ):
        assert response.status == 201
        return str((await response.json())["objects"]["id"])


async def test_contact_person_shares_the_number_but_is_never_taken_for_the_customer(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    from sevsync.sevdesk.api import SevdeskApi
    from sevsync.sevdesk.client import SevdeskClient
    from sevsync.sevdesk.token import ApiToken

    token = await add_tenant(db, settings, sandbox)
    event = envelope("customer.created", company())
    async with running_worker(settings):
        await publish(settings, event)
        await wait_for_outcomes(db, event)

    contacts = sandbox.sandbox.account(token).objects("Contact")
    [org] = [c for c in contacts if not c.get("parent")]
    [contact_person] = [c for c in contacts if c.get("parent")]
    # sevDesk gives a contact person its organisation's number ...
    assert contact_person["customerNumber"] == org["customerNumber"] == "K-1001"
    # ... so the search by number must not count it as a second customer.
    async with SevdeskClient(sandbox.base_url) as client:
        found = await SevdeskApi(client, ApiToken(token)).find_contacts_by_number("K-1001")
    assert [c["id"] for c in found] == [org["id"]]
