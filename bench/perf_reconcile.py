"""The `reconcile` scenario of `make bench`: what a reconciliation of a large tenant costs.

One tenant whose sevDesk account (the bundled sandbox, in this process on a thread of its own) holds
`reconcile_contacts` linked contacts (each with an address and an e-mail) and `reconcile_parts`
linked parts. They are seeded directly: created as a person creates them (one second apart on the
sandbox's clock, as a real account grows) and linked by inserting `entity_link` rows without an
agreed state. A first run adopts sevDesk's state without telling anything; it is not measured. Then
two measured runs, each with the calls it made by kind, its wall time and the CPU time of the thread
that ran it (the sandbox's thread is not counted): an unchanged run, and a run after 20 changes made
as a person makes them (10 contacts renamed, 5 parts repriced, 5 parts deleted), which must tell
exactly 20 events. Expected call counts come from the design (docs/operations.md, "Changes in
sevDesk") and are printed beside the measured ones.
"""

from __future__ import annotations

import asyncio
import math
import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from cryptography.fernet import Fernet

from bench.chaos import SEVSYNC
from bench.perf_measure import say
from bench.perf_report import render_table
from sevsync.reconcile.results import KINDS
from sevsync.reconcile.run import run_reconcile
from sevsync.sandbox import people
from sevsync.sandbox.app import Sandbox
from sevsync.sandbox.server import SandboxServer
from sevsync.sandbox.store import Account
from sevsync.sevdesk.api import LOOKUP_PAGE_SIZE
from sevsync.sevdesk.client import SevdeskClient
from sevsync.sevdesk.token import ApiToken
from sevsync.store.db import create_pool
from sevsync.tenants.crypto import TokenCipher
from sevsync.tenants.service import change_settings, connect_tenant

TENANT = "bench-reconcile"
UNITY_PIECE = 1  # the sandbox's "Stk"
# The sandbox's references of a seeded contact's address and e-mail (they must exist there).
GERMANY = {"id": 1, "objectName": "StaticCountry"}
BILLING = {"id": 47, "objectName": "Category"}  # an address category (objectType ContactAddress)
WORK_KEY = {"id": 2, "objectName": "CommunicationWayKey"}
# The changes of the second measured run, made as a person makes them in sevDesk's UI.
EDITED_CONTACTS = 10
EDITED_PARTS = 5
DELETED_PARTS = 5
CHANGES = EDITED_CONTACTS + EDITED_PARTS + DELETED_PARTS
# The four updateAfter lists of a run: contacts, then the documents' offers, invoices and vouchers.
UPDATE_AFTER_LISTS = ("GET /Contact", "GET /Order", "GET /Invoice", "GET /Voucher")


@dataclass
class Measured:
    calls: dict[str, int]  # by method and path, ids as {id} (plain dicts: asdict() breaks a Counter)
    seconds: float
    cpu_ms: float  # the thread that ran the reconciliation
    sandbox_cpu_ms: float  # the rest of the process: the sandbox's thread answering it
    invalid: int  # linked objects that did not fit the CRM's shape (none should)
    outbox: dict[str, int]  # events told, by type


class ThreadedSandbox:
    """The sandbox served from its own thread and event loop, so its CPU is not the run's."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.base_url = ""
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._serve, name="sandbox", daemon=True)

    def _serve(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with SandboxServer(self.sandbox) as server:
            self.base_url = server.base_url
            self._ready.set()
            await self._stop.wait()

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("the sandbox thread did not start")

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


def _url(server_url: str, database: str) -> str:
    return urlunsplit(urlsplit(server_url)._replace(path=f"/{database}"))


@asynccontextmanager
async def fresh_database(server_url: str) -> AsyncIterator[asyncpg.Pool]:
    """A new database, migrated with `sevsync migrate`, dropped afterwards."""
    name = f"sevsync_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(_url(server_url, "postgres"))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        migrate = await asyncio.create_subprocess_exec(
            SEVSYNC,
            "migrate",
            env={**os.environ, "SEVSYNC_DATABASE_URL": _url(server_url, name)},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await migrate.communicate()
        if migrate.returncode != 0:
            raise RuntimeError(f"sevsync migrate failed: {output.decode(errors='replace')}")
        pool = await create_pool(_url(server_url, name), min_size=1, max_size=4)
        try:
            yield pool
        finally:
            await pool.close()
    finally:
        admin = await asyncpg.connect(_url(server_url, "postgres"))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


def seed_account(account: Account, contacts: int, parts: int) -> tuple[list[int], list[int]]:
    """Contacts (each with an address and an e-mail) and parts as people create them, one second
    apart; their sevDesk ids."""
    clock = account.clock
    contact_ids, part_ids = [], []
    for n in range(contacts):
        clock.advance(1)
        contact = people.create_contact(account, {"name": f"Bench Kunde {n:05d} GmbH"})
        contact_ids.append(contact.id)
        seed_details(account, contact.id, n)
    for n in range(parts):
        clock.advance(1)
        fields = {
            "name": f"Bench Artikel {n:05d}",
            "partNumber": f"BENCH-{n:05d}",
            "stock": 0,
            "unity": {"id": UNITY_PIECE, "objectName": "Unity"},
            "taxRate": 19,
            "price": "10.00",
        }
        part_ids.append(people.create(account, "Part", fields).id)
    return contact_ids, part_ids


def seed_details(account: Account, contact_id: int, n: int) -> None:
    """One address and one e-mail: a changed contact's reads then return what real ones do."""
    contact = {"id": contact_id, "objectName": "Contact"}
    address = {"street": f"Weg {n}", "zip": "24103", "city": "Kiel", "country": GERMANY, "category": BILLING}
    people.create(account, "ContactAddress", {"contact": contact, **address})
    way = {"type": "EMAIL", "value": f"kunde{n:05d}@bench.example", "key": WORK_KEY}
    people.create(account, "CommunicationWay", {"contact": contact, **way})


async def link_all(pool: asyncpg.Pool, contact_ids: list[int], part_ids: list[int]) -> None:
    """The links the handlers would have written, without an agreed state: the first run adopts it."""
    rows = [(TENANT, "customer", f"crm-customer-{i}", "Contact", str(c)) for i, c in enumerate(contact_ids)]
    rows += [(TENANT, "product", f"crm-product-{i}", "Part", str(p)) for i, p in enumerate(part_ids)]
    async with pool.acquire() as conn:
        await conn.copy_records_to_table(
            "entity_link",
            schema_name="sevsync",
            columns=["tenant_id", "entity_type", "entity_id", "sevdesk_object", "sevdesk_id"],
            records=rows,
        )
        await conn.execute("UPDATE sevsync.entity_link SET synced_version = 1 WHERE tenant_id = $1", TENANT)


def make_changes(account: Account, contact_ids: list[int], part_ids: list[int]) -> None:
    """The 20 changes, each a second after the last: 10 contacts renamed, 5 parts repriced, 5 deleted."""
    clock = account.clock
    clock.advance(600)
    for contact_id in contact_ids[:: len(contact_ids) // EDITED_CONTACTS][:EDITED_CONTACTS]:
        clock.advance(1)
        people.edit(account, "Contact", contact_id, {"name": f"Umbenannt {contact_id} GmbH"})
    for part_id in part_ids[:EDITED_PARTS]:
        clock.advance(1)
        people.edit(account, "Part", part_id, {"price": "12.50"})
    for part_id in part_ids[-DELETED_PARTS:]:
        people.delete(account, "Part", part_id)


def _call_kinds(sandbox: Sandbox) -> Counter[str]:
    counts: Counter[str] = Counter()
    for call in sandbox.calls:
        path = "/".join("{id}" if part.isdigit() else part for part in call.path.split("/"))
        counts[f"{call.method} {path.removeprefix('/api/v1')}"] += 1
    return counts


async def measured_run(
    pool: asyncpg.Pool, sandbox: ThreadedSandbox, cipher: TokenCipher, label: str
) -> Measured:
    """One reconciliation of every kind: its calls, wall time and this thread's CPU time."""
    before = await pool.fetchval("SELECT coalesce(max(id), 0) FROM sevsync.outbox")
    sandbox.sandbox.calls.clear()
    async with SevdeskClient(sandbox.base_url) as client:
        cpu, process, started = time.thread_time(), time.process_time(), time.perf_counter()
        summary = await run_reconcile(pool, client, cipher, TENANT, KINDS, publish=None)
        seconds, cpu_ms = time.perf_counter() - started, (time.thread_time() - cpu) * 1000
        sandbox_cpu_ms = (time.process_time() - process) * 1000 - cpu_ms
    rows = await pool.fetch(
        "SELECT routing_key, count(*) AS n FROM sevsync.outbox WHERE id > $1 GROUP BY routing_key", before
    )
    outbox = Counter({str(r["routing_key"]): int(r["n"]) for r in rows})
    calls = _call_kinds(sandbox.sandbox)
    say(f"reconcile/{label}: {sum(calls.values())} calls, {seconds:.2f} s, {sum(outbox.values())} told")
    invalid = sum(c.invalid for c in summary.kinds.values())
    return Measured(dict(calls), seconds, cpu_ms, sandbox_cpu_ms, invalid, dict(outbox))


def expected_calls(contacts: int, parts: int, page: int, changed: bool) -> dict[str, int]:
    """The calls the design makes (docs/operations.md, "Changes in sevDesk").

    Unchanged: one list per updateAfter kind (the cursor's overlap re-lists the newest contact, on
    the same page) and ceil(parts / page) Part pages. The changes add: for each changed contact one
    read of its addresses and one of its communication ways (outside a sweep never the whole
    account's), one list of the countries (the seeded addresses name one); one read (a 404) of each
    deleted part.
    """
    remaining = parts - DELETED_PARTS if changed else parts
    calls = dict.fromkeys(UPDATE_AFTER_LISTS, 1)
    calls["GET /Part"] = max(1, math.ceil(remaining / page))
    if changed:
        calls["GET /ContactAddress"] = EDITED_CONTACTS
        calls["GET /CommunicationWay"] = EDITED_CONTACTS
        calls["GET /StaticCountry"] = 1
        calls["GET /Part/{id}"] = DELETED_PARTS
    return calls


async def _connect(pool: asyncpg.Pool, sandbox: ThreadedSandbox, cipher: TokenCipher, token: str) -> None:
    async with SevdeskClient(sandbox.base_url) as client:
        await connect_tenant(pool, client, cipher, TENANT, ApiToken(token))
    await change_settings(pool, TENANT, {}, True)


def _check(label: str, run: Measured, expected_told: dict[str, int]) -> None:
    """The run told exactly what the changes were: refuse figures of a run that did not."""
    if run.outbox != expected_told or run.invalid:
        raise RuntimeError(f"reconcile/{label}: told {run.outbox}, expected {expected_told}")


async def run_reconcile_bench(postgres_url: str, contacts: int, parts: int) -> dict[str, Any]:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    sandbox = ThreadedSandbox(Sandbox(clock=None))
    sandbox.sandbox.clock.set(start)
    token, cipher = uuid.uuid4().hex, TokenCipher(Fernet.generate_key().decode())
    account = sandbox.sandbox.add_account(token)
    sandbox.start()
    try:
        async with fresh_database(postgres_url) as pool:
            await _connect(pool, sandbox, cipher, token)
            started = time.perf_counter()
            contact_ids, part_ids = seed_account(account, contacts, parts)
            await link_all(pool, contact_ids, part_ids)
            seeded = time.perf_counter() - started
            say(f"reconcile: seeded {contacts} contacts and {parts} parts in {seeded:.1f} s")
            adopting = await measured_run(pool, sandbox, cipher, "adopting (not measured)")
            _check("adopting", adopting, {})
            unchanged = await measured_run(pool, sandbox, cipher, "unchanged")
            _check("unchanged", unchanged, {})
            make_changes(account, contact_ids, part_ids)
            changed = await measured_run(pool, sandbox, cipher, "20 changes")
            told = {
                "contact.changed": EDITED_CONTACTS,
                "part.changed": EDITED_PARTS,
                "link.broken": DELETED_PARTS,
            }
            _check("20 changes", changed, told)
    finally:
        sandbox.stop()
    page = min(account.page_size, LOOKUP_PAGE_SIZE)
    return {
        "contacts": contacts,
        "parts": parts,
        "page_size": page,
        "account_page_size": account.page_size,
        "asked_per_page": LOOKUP_PAGE_SIZE,
        "unchanged": unchanged,
        "changed": changed,
        "expected_unchanged": expected_calls(contacts, parts, page, changed=False),
        "expected_changed": expected_calls(contacts, parts, page, changed=True),
        "expected_told": told,
    }


def _calls_rows(r: dict[str, Any]) -> list[list[str]]:
    unchanged: Measured = r["unchanged"]
    changed: Measured = r["changed"]
    kinds = sorted(set(unchanged.calls) | set(changed.calls) | set(r["expected_changed"]))
    rows = [
        [
            kind,
            str(r["expected_unchanged"].get(kind, 0)),
            str(unchanged.calls.get(kind, 0)),
            str(r["expected_changed"].get(kind, 0)),
            str(changed.calls.get(kind, 0)),
        ]
        for kind in kinds
    ]
    rows.append(
        [
            "all calls",
            str(sum(r["expected_unchanged"].values())),
            str(sum(unchanged.calls.values())),
            str(sum(r["expected_changed"].values())),
            str(sum(changed.calls.values())),
        ]
    )
    return rows


def _time_row(label: str, run: Measured, told: str) -> list[str]:
    seconds, cpu, sandbox = run.seconds * 1000, run.cpu_ms, run.sandbox_cpu_ms
    return [label, f"{seconds:,.0f} ms", f"{cpu:,.0f} ms", f"{sandbox:,.0f} ms", told]


def reconcile_table(r: dict[str, Any]) -> list[str]:
    unchanged: Measured = r["unchanged"]
    changed: Measured = r["changed"]
    told = ", ".join(f"{n} {kind}" for kind, n in sorted(changed.outbox.items()))
    told = f"{sum(changed.outbox.values())} of {CHANGES} expected ({told})"
    lines = [
        f"== reconcile: 1 tenant, {r['contacts']:,} linked contacts, {r['parts']:,} linked parts "
        f"(sandbox in process, own thread)",
        f"  Part page: {r['asked_per_page']} asked per request, the sandbox account answers at most "
        f"{r['account_page_size']} (sevDesk's documented maximum is 1000)",
        f"  changes: {EDITED_CONTACTS} contacts renamed, {EDITED_PARTS} parts repriced, "
        f"{DELETED_PARTS} parts deleted (a person in sevDesk's UI)",
        "",
        *render_table(
            ["sevDesk calls", "unchanged: expected", "measured", "20 changes: expected", "measured"],
            _calls_rows(r),
        ),
        "",
        *render_table(
            ["run", "wall time", "CPU of the run", "CPU of the sandbox", "events told"],
            [_time_row("unchanged", unchanged, "0"), _time_row("20 changes", changed, told)],
        ),
        "  (wall time includes the sandbox's answers: its thread shares the process and the GIL)",
    ]
    return lines
