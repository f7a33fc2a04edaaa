"""`sevsync import TENANT contacts|parts` against the sandbox, real RabbitMQ and Postgres.

Records are created through the sandbox's sevDesk API, as a person in sevDesk would create them;
only data sevDesk no longer accepts (a part's old tax rate) and creation dates in the past are set
in the sandbox's store directly. The CLI runs as a subprocess through asyncio, since the sandbox
serves from the test's own event loop.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import logging
import os
import pty
import struct
import termios
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

import asyncpg
import jsonschema
import pytest

from sevsync.config import Settings
from sevsync.imports import (
    ImportFailed,
    ImportKind,
    ImportProgress,
    ImportRunning,
    ImportSummary,
    InvalidRecord,
    import_status,
    run_import,
)
from sevsync.sandbox.server import SandboxServer
from sevsync.sandbox.store import Account
from sevsync.sevdesk.api import SevdeskApi
from sevsync.sevdesk.client import RetryPolicy, SevdeskClient
from sevsync.sevdesk.objects import JsonObject, ref
from sevsync.sevdesk.token import ApiToken
from sevsync.tenants.crypto import TokenCipher
from sevsync.tenants.service import TenantError, disconnect_tenant
from sevsync_events.envelope import Envelope, envelope_type
from sevsync_events.json_schema import SCHEMA_DIR
from sevsync_events.outbound import ImportedCustomer, ImportedProduct

from ..cli_runner import Result, settings_env, sevsync
from .harness import (
    add_tenant,
    drained,
    envelope,
    outbound_listener,
    publish,
    running_worker,
    wait_for_outcomes,
    wait_until,
)

TENANT = "acme"
CUSTOMER_CATEGORY = ref("Category", 3)
BILLING_ADDRESS = ref("Category", 47)
DELIVERY_ADDRESS = ref("Category", 48)
WORK_KEY = ref("CommunicationWayKey", 2)
LONG_AGO = "2020-01-01T09:00:00+01:00"

T = TypeVar("T", ImportedCustomer, ImportedProduct)


@pytest.fixture(autouse=True)
async def _no_import_state(db: asyncpg.Pool) -> None:
    # The shared `db` fixture empties the tables it knows; these are this feature's.
    await db.execute("TRUNCATE sevsync.import_run, sevsync.imported_record")


class Seed:
    """Creates objects in the tenant's sevDesk account through the API, as a user would."""

    def __init__(self, api: SevdeskApi, account: Account) -> None:
        self.api = api
        self.account = account
        self._countries: dict[str, str] = {}

    async def country(self, code: str) -> str:
        if not self._countries:
            self._countries = {str(c["code"]): str(c["id"]) for c in await self.api.static_countries()}
        return self._countries[code]

    async def organisation(self, name: str, **fields: Any) -> str:
        return await self._contact({"name": name, **fields})

    async def person(self, surename: str | None, familyname: str | None, **fields: Any) -> str:
        return await self._contact({"surename": surename, "familyname": familyname, **fields})

    async def contact_person(self, organisation: str, surename: str, familyname: str) -> str:
        return await self._contact(
            {"surename": surename, "familyname": familyname, "parent": ref("Contact", organisation)}
        )

    async def _contact(self, body: JsonObject) -> str:
        return str((await self.api.create_contact({"category": CUSTOMER_CATEGORY, **body}))["id"])

    async def address(
        self, contact: str, country: str = "de", category: JsonObject = BILLING_ADDRESS, **fields: Any
    ) -> str:
        body = {
            "contact": ref("Contact", contact),
            "country": ref("StaticCountry", await self.country(country)),
            "category": category,
            **fields,
        }
        return str((await self.api.create_address(body))["id"])

    async def way(self, contact: str, kind: str, value: str, *, main: bool = False) -> None:
        body = {
            "contact": ref("Contact", contact),
            "type": kind,
            "value": value,
            "key": WORK_KEY,
            "main": main,
        }
        await self.api.create_communication_way(body)

    async def part(self, number: str, name: str, **fields: Any) -> str:
        body = {
            "partNumber": number,
            "name": name,
            "stock": 0,
            "unity": ref("Unity", 1),
            "taxRate": 19,
            "price": "10.00",
            **fields,
        }
        return str((await self.api.create_part(body))["id"])

    def backdate(self, object_name: str) -> None:
        """Make every stored object of this type look created long ago."""
        for record in self.account.table(object_name).values():
            record.created = LONG_AGO


@pytest.fixture
async def token(db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer) -> str:
    return await add_tenant(db, settings, sandbox, TENANT, units={"hour": "2", "piece": "1"})


@pytest.fixture
async def seed(sandbox: SandboxServer, token: str) -> AsyncIterator[Seed]:
    async with SevdeskClient(sandbox.base_url) as client:
        yield Seed(SevdeskApi(client, ApiToken(token)), sandbox.sandbox.account(token))


@dataclass
class Importer:
    """Calls `run_import` as the CLI does, collecting what it reports."""

    db: asyncpg.Pool
    settings: Settings
    invalid: list[InvalidRecord]
    progress: list[ImportProgress]

    async def __call__(
        self, kind: ImportKind, *, tenant: str = TENANT, page_size: int = 100, log_invalid: bool = False
    ) -> ImportSummary:
        assert self.settings.secret_keys is not None
        cipher = TokenCipher(self.settings.secret_keys.get_secret_value())
        # One try per call: a fault the test injects ends the run at once.
        retry = RetryPolicy(attempts=1, budget_seconds=1)
        async with SevdeskClient(self.settings.sevdesk_base_url, retry=retry) as client:
            return await run_import(
                self.db,
                client,
                cipher,
                self.settings.amqp_url.get_secret_value(),
                self.settings.out_exchange,
                tenant,
                kind,
                page_size=page_size,
                progress=self.progress.append,
                on_invalid=None if log_invalid else self.invalid.append,
            )


@pytest.fixture
def run(db: asyncpg.Pool, settings: Settings) -> Importer:
    return Importer(db, settings, [], [])


def _schema_validator(event_type: str) -> jsonschema.protocols.Validator:
    schema = json.loads((SCHEMA_DIR / f"{event_type}.json").read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def customers(messages: list[dict[str, Any]], token: str) -> dict[str, Envelope[ImportedCustomer]]:
    """The contact.imported events by sevDesk id, each checked against the model and the JSON Schema."""
    return {e.data.sevdesk_id: e for e in _events(messages, "contact.imported", ImportedCustomer, token)}


def products(messages: list[dict[str, Any]], token: str) -> dict[str, Envelope[ImportedProduct]]:
    return {e.data.sevdesk_id: e for e in _events(messages, "part.imported", ImportedProduct, token)}


def _events(messages: list[dict[str, Any]], event_type: str, model: type[T], token: str) -> list[Envelope[T]]:
    validator = _schema_validator(event_type)
    events = []
    for message in messages:
        assert token not in json.dumps(message), "a published message holds the API token"
        assert message["routing_key"] == event_type
        body = {k: v for k, v in message.items() if k not in ("routing_key", "message_id")}
        validator.validate(body)
        event = envelope_type(model).model_validate(body)
        assert message["message_id"] == str(event.event_id)
        assert (event.tenant_id, event.version) == (TENANT, 0)
        events.append(event)
    ids = [e.data.sevdesk_id for e in events]
    assert len(ids) == len(set(ids)), f"a record was published twice: {sorted(ids)}"
    return events


async def settle(settings: Settings, received: list[dict[str, Any]], count: int) -> None:
    """Wait for `count` messages and for anything else published so far: there must be no extra."""
    await wait_until(lambda: len(received) >= count, message=f"{count} imported events")
    await drained(settings, received)
    assert len(received) == count, [m.get("data", {}).get("sevdesk_id") for m in received]


async def _imported_rows(db: asyncpg.Pool) -> dict[str, asyncpg.Record]:
    rows = await db.fetch("SELECT * FROM sevsync.imported_record ORDER BY sevdesk_id")
    return {row["sevdesk_id"]: row for row in rows}


# --- contacts and parts --------------------------------------------------------------------------


async def test_contacts_are_published_in_the_customer_shape(
    db: asyncpg.Pool, settings: Settings, seed: Seed, token: str, run: Importer
) -> None:
    org = await seed.organisation(
        "Acme GmbH",
        customerNumber="K-1001",
        vatNumber="ATU12345678",
        taxNumber="12/345/67890",
        buyerReference="04011000-12345-67",
    )
    # A delivery address first (the lower id), then the billing address, which is the one imported.
    await seed.address(org, "de", DELIVERY_ADDRESS, street="Lagerweg 2", zip="10115", city="Berlin")
    await seed.address(org, "at", street="Ring 1", zip="1010", city="Wien")
    await seed.way(org, "EMAIL", "billing@acme.example", main=True)
    await seed.way(org, "PHONE", "+43 1 234567")
    contact_person = await seed.contact_person(org, "Max", "Mustermann")
    await seed.way(contact_person, "EMAIL", "max@acme.example", main=True)
    erika = await seed.person("Erika", "Musterfrau")
    await seed.way(erika, "EMAIL", "old@example.org")
    await seed.way(erika, "EMAIL", "erika@example.org", main=True)
    await seed.way(erika, "MOBILE", "+49 170 1234567")
    no_family_name = await seed.person("Cher", None)

    async with outbound_listener(settings) as received:
        summary = await run("contacts")
        await settle(settings, received, 2)

    assert summary == ImportSummary(
        TENANT, "contacts", listed=4, imported=2, skipped=0, invalid=1, resumed_from=None
    )
    events = customers(received, token)
    assert set(events) == {org, erika}  # the contact person is part of its organisation, not a customer
    company = events[org].data
    assert (company.kind, company.company_name, company.first_name, company.last_name) == (
        "company",
        "Acme GmbH",
        None,
        None,
    )
    assert (company.customer_number, company.vat_id, company.tax_number, company.buyer_reference) == (
        "K-1001",
        "ATU12345678",
        "12/345/67890",
        "04011000-12345-67",
    )
    assert (company.email, company.phone) == ("billing@acme.example", "+43 1 234567")
    assert company.address is not None
    assert company.address.model_dump() == {
        "street": "Ring 1",
        "zip": "1010",
        "city": "Wien",
        "country": "AT",
    }
    person = events[erika].data
    assert (person.kind, person.first_name, person.last_name, person.company_name) == (
        "person",
        "Erika",
        "Musterfrau",
        None,
    )
    # The main e-mail wins; a mobile number serves as the phone when there is no landline.
    assert (person.email, person.phone, person.address) == ("erika@example.org", "+49 170 1234567", None)
    assert person.customer_number is not None  # sevDesk numbered it

    [invalid] = run.invalid
    assert (invalid.sevdesk_object, invalid.sevdesk_id) == ("Contact", no_family_name)
    assert invalid.reason == 'a customer of kind "person" needs last_name'
    rows = await _imported_rows(db)
    assert set(rows) == {org, erika}
    assert {rows[i]["event_id"] for i in rows} == {e.event_id for e in events.values()}


async def test_parts_are_published_in_the_product_shape(
    db: asyncpg.Pool, settings: Settings, seed: Seed, token: str, run: Importer
) -> None:
    hour = await seed.part(
        "SKU-7", "Consulting hour", text="Senior consultant", price="120.50", unity=ref("Unity", 2)
    )
    flat = await seed.part("SKU-8", "Setup", price="99", taxRate=7, status=50, unity=ref("Unity", 7))
    free = await seed.part("SKU-9", "Brochure", price="0", taxRate="0.0")
    legacy = await seed.part("SKU-OLD", "Before Update 2.0")
    # A tax rate sevDesk accepted before Update 2.0, which the contract's products cannot carry.
    record = seed.account.find("Part", int(legacy))
    assert record is not None
    record.fields["taxRate"] = "16"

    async with outbound_listener(settings) as received:
        summary = await run("parts")
        await settle(settings, received, 3)

    assert (summary.listed, summary.imported, summary.skipped, summary.invalid) == (4, 3, 0, 1)
    events = products(received, token)
    assert events[hour].data.model_dump(mode="json") == {
        "id": None,
        "sevdesk_id": hour,
        "sku": "SKU-7",
        "name": "Consulting hour",
        "description": "Senior consultant",
        "net_price": "120.5",
        "tax_rate": "19",
        "unit": "hour",  # Unity 2 through the tenant's units setting
        "active": True,
    }
    setup = events[flat].data
    # Unity 7 is mapped by no CRM unit; status 50 is sevDesk's inactive.
    assert (setup.unit, setup.active, setup.tax_rate, setup.net_price) == (
        None,
        False,
        Decimal(7),
        Decimal(99),
    )
    assert (events[free].data.unit, events[free].data.tax_rate) == ("piece", Decimal(0))
    [invalid] = run.invalid
    assert (invalid.sevdesk_object, invalid.sevdesk_id) == ("Part", legacy)
    assert invalid.reason == "tax_rate: must be one of 0, 7, 19"
    assert set(await _imported_rows(db)) == {hour, flat, free}


async def test_without_a_callback_invalid_records_are_logged_without_their_values(
    settings: Settings, seed: Seed, token: str, run: Importer, caplog: pytest.LogCaptureFixture
) -> None:
    bad_mail = await seed.person("Erika", "Musterfrau")
    await seed.way(bad_mail, "EMAIL", "erika-at-example.org", main=True)

    with caplog.at_level(logging.WARNING, logger="sevsync.imports.runs"):
        summary = await run("contacts", log_invalid=True)

    assert (summary.imported, summary.invalid) == (0, 1)
    [record] = [r for r in caplog.records if r.name == "sevsync.imports.runs"]
    assert record.getMessage() == (
        f"sevDesk Contact {bad_mail} not imported: "
        'email: must be an e-mail address like "billing@example.com"'
    )
    assert getattr(record, "tenant_id", None) == TENANT
    assert "erika-at-example.org" not in caplog.text


async def test_linked_records_are_skipped(
    db: asyncpg.Pool, settings: Settings, seed: Seed, token: str, run: Importer
) -> None:
    linked = await seed.organisation("Linked AG")
    other = await seed.organisation("New AG")
    part = await seed.part("SKU-1", "Linked part")
    await db.executemany(
        """
        INSERT INTO sevsync.entity_link (tenant_id, entity_type, entity_id, sevdesk_object, sevdesk_id)
        VALUES ($1, $2, $3, $4, $5)
        """,
        [(TENANT, "customer", "cust-1", "Contact", linked), (TENANT, "product", "prod-1", "Part", part)],
    )

    async with outbound_listener(settings) as received:
        contacts = await run("contacts")
        parts = await run("parts")
        await settle(settings, received, 1)

    assert set(customers(received, token)) == {other}
    assert (contacts.imported, contacts.skipped) == (1, 1)
    assert (parts.imported, parts.skipped) == (0, 1)


async def test_a_second_run_offers_only_what_is_new(
    db: asyncpg.Pool, settings: Settings, seed: Seed, token: str, run: Importer
) -> None:
    first_ids = [await seed.person(f"P{i}", f"Person {i}") for i in range(3)]

    async with outbound_listener(settings) as received:
        first = await run("contacts")
        await settle(settings, received, 3)
        again = await run("contacts")
        await drained(settings, received)
        assert len(received) == 3
        newcomer = await seed.organisation("Newcomer GmbH")
        third = await run("contacts")
        await settle(settings, received, 4)

    assert (first.imported, first.skipped) == (3, 0)
    assert (again.imported, again.skipped, again.resumed_from) == (0, 3, None)
    assert (third.imported, third.skipped) == (1, 3)
    assert set(customers(received, token)) == {*first_ids, newcomer}


async def test_small_pages_cover_every_record_and_report_progress(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer, seed: Seed, token: str, run: Importer
) -> None:
    ids = [await seed.part(f"SKU-{i}", f"Part {i}") for i in range(7)]
    sandbox.sandbox.calls.clear()

    async with outbound_listener(settings) as received:
        summary = await run("parts", page_size=2)
        await settle(settings, received, 7)

    assert set(products(received, token)) == set(ids)
    assert (summary.listed, summary.imported) == (7, 7)
    offsets = [c.query.get("offset") for c in sandbox.sandbox.calls if c.path == "/Part"]
    # Until an empty page: a short page does not prove the end where the server caps `limit`.
    assert offsets == ["0", "2", "4", "6", "7"]
    assert {c.query.get("limit") for c in sandbox.sandbox.calls if c.path == "/Part"} == {"2"}
    assert [(p.offset, p.imported) for p in run.progress] == [(0, 0), (2, 2), (4, 4), (6, 6), (7, 7)]
    assert {p.total for p in run.progress} == {None}  # nothing to go by before a run finished
    status = await import_status(db, TENANT, "parts")
    assert status is not None
    assert (status.next_offset, status.imported, status.total, status.running) == (7, 7, 7, False)
    assert status.finished_at is not None

    # The next run starts at 0 again, with the last run's count as its estimate.
    run.progress.clear()
    await run("parts", page_size=5)
    assert [(p.offset, p.skipped, p.total) for p in run.progress] == [(0, 0, 7), (5, 5, 7), (7, 7, 7)]


async def test_import_status(db: asyncpg.Pool, seed: Seed, settings: Settings, run: Importer) -> None:
    assert await import_status(db, TENANT, "contacts") is None
    await seed.person("Erika", "Musterfrau")
    await seed.person("Cher", None)

    async with outbound_listener(settings) as received:
        await run("contacts")
        await settle(settings, received, 1)

    status = await import_status(db, TENANT, "contacts")
    assert status is not None
    assert (status.tenant_id, status.kind, status.next_offset, status.imported) == (TENANT, "contacts", 2, 1)
    assert (status.skipped, status.invalid, status.total, status.running) == (0, 1, 2, False)
    assert status.finished_at is not None
    assert status.started_at <= status.updated_at == status.finished_at
    assert await import_status(db, TENANT, "parts") is None


# --- efficiency ----------------------------------------------------------------------------------


async def test_addresses_and_ways_of_many_contacts_are_read_in_bulk(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer, seed: Seed, token: str, run: Importer
) -> None:
    old = []
    for i in range(12):
        contact = await seed.person(f"P{i}", f"Person {i}")
        await seed.address(contact, street=f"Weg {i}", zip="10115", city="Berlin")
        await seed.way(contact, "EMAIL", f"p{i}@example.org")
        old.append(contact)
    seed.backdate("Contact")
    # Created moments ago: its address may be younger than the bulk read, so it is read on its own.
    fresh = await seed.person("Neu", "Kunde")
    await seed.address(fresh, "at", street="Gasse 1", zip="1010", city="Wien")
    sandbox.sandbox.calls.clear()

    async with outbound_listener(settings) as received:
        summary = await run("contacts")
        await settle(settings, received, 13)

    events = customers(received, token)
    assert summary.imported == 13
    for i, contact in enumerate(old):
        data = events[contact].data
        assert data.address is not None
        assert (data.address.street, data.email) == (f"Weg {i}", f"p{i}@example.org")
    fresh_address = events[fresh].data.address
    assert fresh_address is not None
    assert fresh_address.country == "AT"
    calls = [c for c in sandbox.sandbox.calls if c.method == "GET"]
    per_contact = sorted((c.path, c.query["contact[id]"]) for c in calls if "contact[id]" in c.query)
    assert per_contact == [("/CommunicationWay", fresh), ("/ContactAddress", fresh)]
    counts: dict[str, int] = {}
    for call in calls:
        counts[call.path] = counts.get(call.path, 0) + 1
    # The contacts: a page and the empty page that ends the import's cursor. The bulk reads: one
    # page each, as sevDesk's total ends them, beside the fresh contact's own reads. Countries once.
    assert counts == {"/Contact": 2, "/ContactAddress": 2, "/CommunicationWay": 2, "/StaticCountry": 1}


# --- interruptions and refusals ------------------------------------------------------------------


async def test_an_interrupted_run_continues_at_the_page_that_failed(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer, seed: Seed, token: str, run: Importer
) -> None:
    ids = [await seed.person(f"P{i}", f"Person {i}") for i in range(5)]
    faults = sandbox.sandbox.faults
    faults.add(kind="latency", method="GET", path="^/Contact$", times=1)  # the first page passes
    faults.add(kind="status", method="GET", path="^/Contact$", status=503, times=None)

    async with outbound_listener(settings) as received:
        with pytest.raises(ImportFailed) as failed:
            await run("contacts", page_size=2)
        await settle(settings, received, 2)

        message = str(failed.value)
        assert message.startswith(
            "the import of contacts for tenant acme stopped at record 2: GET /Contact, HTTP 503"
        )
        assert message.endswith("; run it again to continue there")
        assert failed.value.offset == 2
        status = await import_status(db, TENANT, "contacts")
        assert status is not None
        assert (status.next_offset, status.imported, status.finished_at, status.running) == (
            2,
            2,
            None,
            False,
        )

        faults.clear()
        sandbox.sandbox.calls.clear()
        summary = await run("contacts", page_size=2)
        await settle(settings, received, 5)

    assert set(customers(received, token)) == set(ids)  # each once
    assert (summary.resumed_from, summary.imported, summary.skipped, summary.listed) == (2, 5, 0, 5)
    offsets = [c.query.get("offset") for c in sandbox.sandbox.calls if c.path == "/Contact"]
    assert offsets == ["2", "4", "5"]


async def test_without_a_queue_on_the_exchange_nothing_is_marked_imported(
    db: asyncpg.Pool, settings: Settings, seed: Seed, token: str, run: Importer
) -> None:
    ids = [await seed.part(f"SKU-{i}", f"Part {i}") for i in range(3)]

    # Nobody is bound to the outbound exchange yet: the broker would drop the events.
    with pytest.raises(ImportFailed, match=r"no queue is bound to routing key 'part.imported'") as failed:
        await run("parts")

    assert failed.value.offset == 0
    assert await _imported_rows(db) == {}
    async with outbound_listener(settings) as received:
        summary = await run("parts")
        await settle(settings, received, 3)
    assert set(products(received, token)) == set(ids)
    assert (summary.resumed_from, summary.imported) == (0, 3)


async def test_a_second_import_of_the_same_kind_is_refused_while_one_runs(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer, seed: Seed, token: str, run: Importer
) -> None:
    await seed.person("Erika", "Musterfrau")
    await seed.part("SKU-1", "Part")
    sandbox.sandbox.faults.add(kind="latency", method="GET", path="^/Contact$", seconds=1.5, times=1)

    async with outbound_listener(settings) as received:
        first = asyncio.create_task(run("contacts"))
        deadline = time.monotonic() + 10
        while (status := await import_status(db, TENANT, "contacts")) is None or not status.running:
            assert time.monotonic() < deadline, "the first import never started"
            await asyncio.sleep(0.05)

        with pytest.raises(ImportRunning, match=r"^an import of contacts for tenant acme is running$"):
            await run("contacts")
        parts = await run("parts")  # another kind is not held up
        summary = await first
        await settle(settings, received, 2)

    assert (summary.imported, parts.imported) == (1, 1)
    status = await import_status(db, TENANT, "contacts")
    assert status is not None
    assert not status.running


async def test_tenants_that_are_not_connected_are_refused(
    db: asyncpg.Pool, sandbox: SandboxServer, token: str, run: Importer
) -> None:
    sandbox.sandbox.calls.clear()
    with pytest.raises(TenantError, match=r"^tenant ghost is not known"):
        await run("contacts", tenant="ghost")

    await db.execute(
        "UPDATE sevsync.tenant_integration SET status = 'auth_failed' WHERE tenant_id = $1", TENANT
    )
    with pytest.raises(TenantError, match=r"^tenant acme is not connected to sevDesk \(status auth_failed\)"):
        await run("contacts")

    await disconnect_tenant(db, TENANT)
    with pytest.raises(
        TenantError, match=r"^tenant acme is not connected to sevDesk \(status disconnected\)"
    ):
        await run("parts")

    await db.execute(
        "INSERT INTO sevsync.tenant_integration (tenant_id, provider, status) "
        "VALUES ('lex', 'lexware', 'connected')"
    )
    with pytest.raises(TenantError, match=r"^tenant lex uses lexware, not sevDesk$"):
        await run("parts", tenant="lex")

    assert sandbox.sandbox.calls == []
    assert await db.fetchval("SELECT count(*) FROM sevsync.import_run") == 0


# --- end to end ----------------------------------------------------------------------------------


async def test_an_imported_contact_sent_back_by_the_crm_is_linked_not_created(
    db: asyncpg.Pool, settings: Settings, seed: Seed, token: str, run: Importer
) -> None:
    org = await seed.organisation("Imported AG", customerNumber="1500")
    await seed.address(org, street="Hauptstr. 1", zip="10115", city="Berlin")
    await seed.way(org, "EMAIL", "info@imported.example", main=True)

    async with outbound_listener(settings) as received:
        await run("contacts")
        await settle(settings, received, 1)
    imported = customers(received, token)[org].data

    # The CRM creates its customer from the event and sends it back, carrying the sevDesk id.
    crm_customer = {**imported.model_dump(mode="json"), "id": "cust-77"}
    event = envelope("customer.created", crm_customer)
    async with running_worker(settings):
        await publish(settings, event)
        [outcome] = await wait_for_outcomes(db, event)

    assert outcome["status"] == "succeeded", outcome["error"]
    assert outcome["sevdesk_id"] == org
    link = await db.fetchrow("SELECT * FROM sevsync.entity_link WHERE entity_id = 'cust-77'")
    assert link is not None
    assert (link["entity_type"], link["sevdesk_object"], link["sevdesk_id"]) == ("customer", "Contact", org)
    # Nothing was created a second time.
    assert [c["id"] for c in seed.account.objects("Contact")] == [org]
    assert len(seed.account.objects("ContactAddress")) == 1
    assert len(seed.account.objects("CommunicationWay")) == 1

    again = await run("contacts")
    assert (again.imported, again.skipped) == (0, 1)


# --- the command line ----------------------------------------------------------------------------


@pytest.fixture
def cli_env(settings: Settings) -> dict[str, str]:
    return settings_env(settings, SEVSYNC_SEVDESK_RETRY_ATTEMPTS="1")


def _no_secrets(result: Result, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in result.stdout
        assert secret not in result.stderr


async def test_cli_imports_and_prints_one_summary_line(
    settings: Settings, seed: Seed, token: str, cli_env: dict[str, str]
) -> None:
    erika = await seed.person("Erika", "Musterfrau")
    await seed.organisation("Acme GmbH")
    cher = await seed.person("Cher", None)
    secrets = (token, cli_env["SEVSYNC_SECRET_KEYS"])

    async with outbound_listener(settings) as received:
        first = await sevsync("import", TENANT, "contacts", "--page-size", "2", env=cli_env)
        await settle(settings, received, 2)
        second = await sevsync("import", TENANT, "contacts", env=cli_env)

    for result in (first, second):
        _no_secrets(result, *secrets)
        assert result.returncode == 0, result.stderr
        assert result.stderr == ""  # not a terminal: no progress bar, no log lines
    assert first.stdout.splitlines() == [
        f'not imported: contact {cher}: a customer of kind "person" needs last_name',
        "imported 2 contacts for tenant acme (0 already linked or imported, 1 invalid)",
    ]
    assert (
        second.stdout.splitlines()[-1]
        == "imported 0 contacts for tenant acme (2 already linked or imported, 1 invalid)"
    )
    assert erika in customers(received, token)


async def test_cli_shows_a_progress_bar_on_a_terminal(
    settings: Settings, seed: Seed, token: str, cli_env: dict[str, str]
) -> None:
    await seed.part("SKU-1", "Part")
    leader, follower = pty.openpty()
    # A terminal of 24 x 80: on one of no size (a new pty's) tqdm trims the bar to nothing.
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    terminal = bytearray()

    def drain() -> None:
        # Read while the command runs: Linux drops what is buffered once the terminal is closed.
        try:
            terminal.extend(os.read(leader, 65536))
        except OSError:  # EIO: the other end is closed
            loop.remove_reader(leader)

    loop = asyncio.get_running_loop()
    loop.add_reader(leader, drain)
    try:
        async with outbound_listener(settings) as received:
            result = await sevsync("import", TENANT, "parts", stderr=follower, env=cli_env)
            await settle(settings, received, 1)
    finally:
        loop.remove_reader(leader)
        os.close(follower)
        os.close(leader)

    assert result.returncode == 0
    assert result.stdout == "imported 1 part for tenant acme (0 already linked or imported, 0 invalid)\n"
    assert b"parts of acme" in terminal
    assert token.encode() not in terminal


async def test_cli_errors_are_one_line(
    db: asyncpg.Pool, sandbox: SandboxServer, seed: Seed, token: str, cli_env: dict[str, str]
) -> None:
    await seed.person("Erika", "Musterfrau")
    sandbox.sandbox.faults.add(kind="status", method="GET", path="^/Contact$", status=500, times=None)
    failed = await sevsync("import", TENANT, "contacts", env=cli_env)
    sandbox.sandbox.faults.clear()
    await disconnect_tenant(db, TENANT)
    refused = await sevsync("import", TENANT, "contacts", env=cli_env)
    bad_kind = await sevsync("import", TENANT, "invoices", env=cli_env)
    bad_size = await sevsync("import", TENANT, "parts", "--page-size", "1001", env=cli_env)
    bad_tenant = await sevsync("import", "no/such", "parts", env=cli_env)

    expectations: list[tuple[Result, int, str]] = [
        (
            failed,
            1,
            "error: the import of contacts for tenant acme stopped at record 0: GET /Contact, HTTP 500",
        ),
        (refused, 1, "error: tenant acme is not connected to sevDesk (status disconnected)"),
        (bad_kind, 2, "invalid choice: 'invoices'"),
        (bad_size, 2, "expected 1 to 1000, got 1001"),
        (bad_tenant, 1, "error: tenant id 'no/such' must be 1-64 characters"),
    ]
    for result, code, expected in expectations:
        _no_secrets(result, token, cli_env["SEVSYNC_SECRET_KEYS"])
        assert result.returncode == code, result.stderr
        lines = result.stderr.splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("sevsync"), lines[0]
        assert expected in lines[0], lines[0]
        assert result.stdout == ""
