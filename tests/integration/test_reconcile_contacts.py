"""Reconciling contacts: a person's change in sevDesk told once as contact.changed, never sevsync's own
writes; a deleted contact marked broken and told once; one run per tenant at a time."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import pytest

from sevsync.config import Settings
from sevsync.reconcile import kinds as reconcile_kinds
from sevsync.reconcile import run as reconcile_run
from sevsync.reconcile.entities import lock_key_of
from sevsync.reconcile.results import ReconcileFailed, ReconcileRunning
from sevsync.reconcile.run import lock_key
from sevsync.sandbox import people
from sevsync.sandbox.server import SandboxServer
from sevsync.store import reconcile as store_reconcile
from sevsync.store.outbox import OutboxMessage

from ..samples import company, person
from .harness import add_tenant, envelope, publish, running_worker, wait_for_outcomes
from .reconciling import T0, linked_customers, person_at, reconcile, tenant_at_t0, told
from .test_dead_letters import outcomes_of, run_sevsync


async def test_sevsyncs_own_writes_are_not_told_back(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    await linked_customers(db, settings, sandbox)

    first = await reconcile(db, settings)  # no cursor yet: lists every contact
    person_at(sandbox, 60)
    second = await reconcile(db, settings)

    assert first.kinds["contacts"].examined == 2
    assert first.kinds["contacts"].swept
    assert (first.kinds["contacts"].told, second.kinds["contacts"].told) == (0, 0)
    assert await told(db) == []


async def test_a_persons_edit_is_told_once_in_the_customer_shape(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token, ids = await linked_customers(db, settings, sandbox)
    await reconcile(db, settings)
    account = sandbox.sandbox.account(token)

    person_at(sandbox, 60)
    people.edit(account, "Contact", ids["cust-1001"], {"name": "Acme Holding GmbH", "vatNumber": "DE999"})
    [way] = [w for w in account.objects("CommunicationWay") if w["value"] == "erika@example.org"]
    people.edit(account, "CommunicationWay", int(way["id"]), {"value": "erika@neu.example"})
    summary = await reconcile(db, settings)
    again = await reconcile(db, settings)

    assert (summary.kinds["contacts"].told, again.kinds["contacts"].told) == (2, 0)
    events = {e["data"]["id"]: e for e in await told(db, "contact.changed")}
    assert set(events) == {"cust-1001", "cust-2002"}
    acme = events["cust-1001"]
    assert acme["tenant_id"] == "acme"
    assert acme["version"] == 1
    assert acme["data"]["sevdesk_id"] == str(ids["cust-1001"])
    assert (acme["data"]["company_name"], acme["data"]["vat_id"]) == ("Acme Holding GmbH", "DE999")
    assert acme["data"]["customer_number"] == "K-1001"
    assert acme["data"]["address"] == {
        "street": "Hauptstr. 1",
        "zip": "10115",
        "city": "Berlin",
        "country": "DE",
    }
    assert events["cust-2002"]["data"]["email"] == "erika@neu.example"

    person_at(sandbox, 60)
    people.edit(account, "Contact", ids["cust-1001"], {"name": "Acme AG"})
    await reconcile(db, settings)
    latest = (await told(db, "contact.changed"))[-1]
    assert (latest["data"]["company_name"], latest["version"]) == ("Acme AG", 2)


async def test_the_crms_answer_to_a_change_is_not_told_back(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token, ids = await linked_customers(db, settings, sandbox)
    await reconcile(db, settings)
    person_at(sandbox, 60)
    people.edit(sandbox.sandbox.account(token), "Contact", ids["cust-1001"], {"name": "Acme AG"})
    await reconcile(db, settings)

    # The CRM takes the change and sends its customer back: sevsync writes it, and that is no change.
    update = envelope("customer.updated", company(company_name="Acme AG"), version=2)
    async with running_worker(settings):
        await publish(settings, update)
        [outcome] = await wait_for_outcomes(db, update)
    person_at(sandbox, 60)
    summary = await reconcile(db, settings)

    assert outcome["status"] in ("succeeded", "skipped"), outcome["error"]
    assert summary.kinds["contacts"].told == 0
    assert len(await told(db, "contact.changed")) == 1


async def test_an_address_change_that_does_not_move_the_contact_is_found_by_the_sweep(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token, _ids = await linked_customers(db, settings, sandbox)
    account = sandbox.sandbox.account(token)
    person_at(sandbox, 60)
    # A contact nobody linked moves the cursor past the linked ones (and is not told: unlinked).
    people.create_contact(account, {"name": "Fremd GmbH"})
    person_at(sandbox, 120)  # the run starts over a minute later by sevDesk's clock: the cursor moves
    await reconcile(db, settings)
    [address] = [a for a in account.objects("ContactAddress") if a["city"] == "Berlin"]
    # Written straight into the store: an address change that leaves the contact's `update` alone.
    account.find("ContactAddress", int(address["id"])).fields["city"] = "Potsdam"  # type: ignore[union-attr]

    quiet = await reconcile(db, settings)
    swept = await reconcile(db, settings, sweep=True)

    assert (quiet.kinds["contacts"].told, swept.kinds["contacts"].told) == (0, 1)
    [event] = await told(db, "contact.changed")
    assert event["data"]["address"]["city"] == "Potsdam"


async def test_a_deleted_contact_breaks_its_link_once(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token, ids = await linked_customers(db, settings, sandbox)
    await reconcile(db, settings)
    person_at(sandbox, 60)
    people.delete(sandbox.sandbox.account(token), "Contact", ids["cust-2002"])

    unswept = await reconcile(db, settings, sweep=False)
    swept = await reconcile(db, settings, sweep=True)
    again = await reconcile(db, settings, sweep=True)

    assert (
        unswept.kinds["contacts"].broken,
        swept.kinds["contacts"].broken,
        again.kinds["contacts"].broken,
    ) == (
        0,
        1,
        0,
    )
    [event] = await told(db, "link.broken")
    assert event["data"] == {
        "entity_type": "customer",
        "entity_id": "cust-2002",
        "sevdesk_object": "Contact",
        "sevdesk_id": str(ids["cust-2002"]),
        "reason": "deleted_in_sevdesk",
    }
    link = await db.fetchrow("SELECT * FROM sevsync.entity_link WHERE entity_id = 'cust-2002'")
    assert link is not None
    assert link["broken_at"] is not None
    assert link["broken_reason"] == "deleted_in_sevdesk"
    other = await db.fetchrow("SELECT * FROM sevsync.entity_link WHERE entity_id = 'cust-1001'")
    assert other is not None
    assert other["broken_at"] is None


async def test_a_second_run_of_the_same_tenant_is_refused_while_one_runs(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    await add_tenant(db, settings, sandbox)
    async with db.acquire() as holder:
        # Another replica's run holds the tenant's lock.
        assert await holder.fetchval("SELECT pg_try_advisory_lock(hashtextextended($1, 0))", lock_key("acme"))
        with pytest.raises(ReconcileRunning):
            await reconcile(db, settings)
        await holder.execute("SELECT pg_advisory_unlock(hashtextextended($1, 0))", lock_key("acme"))
    summary = await reconcile(db, settings)
    assert summary.kinds["contacts"].told == 0


async def test_a_run_that_crashes_after_telling_tells_nothing_twice(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    token, ids = await linked_customers(db, settings, sandbox)
    await reconcile(db, settings)
    account = sandbox.sandbox.account(token)
    person_at(sandbox, 60)
    people.edit(account, "Contact", ids["cust-1001"], {"name": "Acme AG"})
    people.edit(account, "Contact", ids["cust-2002"], {"familyname": "Neumann"})

    # Crash 1: in the middle of the page, after the first change is written.
    real_tell = store_reconcile.tell_change
    calls = 0

    async def crash_on_second(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("killed mid-page")
        return await real_tell(*args, **kwargs)

    monkeypatch.setattr(store_reconcile, "tell_change", crash_on_second)
    with pytest.raises(ReconcileFailed, match="mid-page"):  # the kind's failure, reported
        await reconcile(db, settings)
    monkeypatch.setattr(store_reconcile, "tell_change", real_tell)

    # Crash 2: everything told and written, but the cursor not stepped.
    async def killed(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("killed before the cursor step")

    monkeypatch.setattr(reconcile_run, "finish_run", killed)
    with pytest.raises(RuntimeError, match="cursor step"):
        await reconcile(db, settings)
    monkeypatch.undo()
    final = await reconcile(db, settings)

    assert final.kinds["contacts"].told == 0
    events = await told(db, "contact.changed")
    assert sorted(e["data"]["id"] for e in events) == ["cust-1001", "cust-2002"]
    assert len({e["event_id"] for e in events}) == 2


async def test_an_unchanged_account_costs_one_call(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    await linked_customers(db, settings, sandbox)
    await reconcile(db, settings)
    person_at(sandbox, 600)
    sandbox.sandbox.calls.clear()

    summary = await reconcile(db, settings, sweep=False)

    assert summary.kinds["contacts"].told == 0
    calls = [(c.method, c.path) for c in sandbox.sandbox.calls]
    assert calls == [("GET", "/Contact")]  # listed again, at the stamps examined before: not read
    [call] = sandbox.sandbox.calls
    # The first run started at T0 by sevDesk's clock (its Date header): its cursor stayed 60 s before.
    assert call.query["updateAfter"] == str(int(T0.timestamp()) - 61)


async def test_a_contact_deleted_in_sevdesk_fails_its_next_event_until_an_operator_clears_it(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    """The whole path of CONTRACT 10: a person deletes, the reconciler tells `link.broken`, the
    customer's next event fails `link_broken` without a write, and after `link clear` its replay
    creates the contact anew."""
    token, ids = await linked_customers(db, settings, sandbox)
    account = sandbox.sandbox.account(token)
    await reconcile(db, settings)
    person_at(sandbox, 60)
    people.delete(account, "Contact", ids["cust-2002"])
    await reconcile(db, settings, sweep=True)
    renamed = envelope("customer.updated", person(last_name="Neumann"), version=2)

    async with running_worker(settings):
        sandbox.sandbox.calls.clear()
        await publish(settings, renamed)
        [failed] = await wait_for_outcomes(db, renamed)
        writes_while_broken = [c for c in sandbox.sandbox.calls if c.method != "GET"]
        cleared = await run_sevsync(settings, "link", "clear", "acme", "customer", "cust-2002")
        assert cleared.returncode == 0, cleared.stderr
        replayed = await run_sevsync(settings, "dead", "replay", "--reason", "link_broken")
        assert replayed.returncode == 0, replayed.stderr
        [*_, applied] = await outcomes_of(db, renamed, 2)

    assert [e["data"]["entity_id"] for e in await told(db, "link.broken")] == ["cust-2002"]
    assert (failed["status"], failed["reason"]) == ("failed", "link_broken"), failed["error"]
    assert "link relink" in failed["error"]
    assert "link clear" in failed["error"]
    assert writes_while_broken == []
    assert applied["status"] == "succeeded", applied["error"]
    assert applied["sevdesk_id"] not in (None, str(ids["cust-2002"]))
    [contact] = [c for c in account.objects("Contact") if c.get("familyname") == "Neumann"]
    assert contact["id"] == applied["sevdesk_id"]


async def test_a_second_change_within_the_second_examined_is_told_by_the_next_run(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    token, ids = await linked_customers(db, settings, sandbox)
    await reconcile(db, settings)
    account = sandbox.sandbox.account(token)
    # Our clock and sevDesk's agree here: the sandbox's.
    monkeypatch.setattr(reconcile_kinds, "wall_clock", sandbox.sandbox.clock.now)

    person_at(sandbox, 600)
    people.edit(account, "Contact", ids["cust-1001"], {"name": "Acme Holding GmbH"})
    first = await reconcile(db, settings, sweep=False)
    people.edit(account, "Contact", ids["cust-1001"], {"name": "Acme AG"})  # the same second
    second = await reconcile(db, settings, sweep=False)
    person_at(sandbox, 120)
    sandbox.sandbox.calls.clear()
    settled = await reconcile(db, settings, sweep=False)

    assert [s.kinds["contacts"].told for s in (first, second, settled)] == [1, 1, 0]
    names = [e["data"]["company_name"] for e in await told(db, "contact.changed")]
    assert names == ["Acme Holding GmbH", "Acme AG"]
    assert [c.path for c in sandbox.sandbox.calls] == ["/Contact"]  # settled: nothing read again


async def test_a_handlers_write_between_listing_and_telling_is_not_overwritten(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    _, ids = await linked_customers(db, settings, sandbox)
    await reconcile(db, settings)
    async with db.acquire() as conn:
        [link] = await store_reconcile.linked_objects(
            conn, "acme", ["customer"], "Contact", [str(ids["cust-1001"])]
        )
        # customer.updated commits its state S1 after the listing was read
        await conn.execute(
            "UPDATE sevsync.entity_link SET agreed_hash = 'S1'"
            " WHERE entity_type = 'customer' AND entity_id = $1",
            link.entity_id,
        )
        stale = "0" * 32

        def message(version: int) -> OutboxMessage:
            return OutboxMessage(uuid.uuid4(), "contact.changed", b"{}")

        told_now = await store_reconcile.tell_change(
            conn,
            "acme",
            link,
            lock_key_of("acme", link),
            stale,
            "2026-11-20T10:00:00+01:00",
            message,
            forget_written=True,
        )
        await store_reconcile.note_seen(conn, "acme", link, "2026-11-20T10:00:00+01:00")
        row = await conn.fetchrow(
            "SELECT agreed_hash, seen_update FROM sevsync.entity_link"
            " WHERE entity_type = 'customer' AND entity_id = $1",
            link.entity_id,
        )

    assert told_now is None
    assert await told(db, "contact.changed") == []
    assert row is not None
    assert (row["agreed_hash"], row["seen_update"]) == ("S1", link.seen_update)


async def test_many_changed_contacts_outside_a_sweep_cost_two_reads_each_not_the_account(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await tenant_at_t0(db, settings, sandbox)
    account = sandbox.sandbox.account(token)
    contact_ids = [people.create_contact(account, {"name": f"Kunde {n} GmbH"}).id for n in range(10)]
    await db.executemany(
        "INSERT INTO sevsync.entity_link (tenant_id, entity_type, entity_id, sevdesk_object, sevdesk_id)"
        " VALUES ('acme', 'customer', $1, 'Contact', $2)",
        [(f"cust-{n}", str(c)) for n, c in enumerate(contact_ids)],
    )
    await reconcile(db, settings)  # adopts sevDesk's states
    person_at(sandbox, 600)
    for contact_id in contact_ids:
        people.edit(account, "Contact", contact_id, {"name": f"Umbenannt {contact_id} GmbH"})
    sandbox.sandbox.calls.clear()

    summary = await reconcile(db, settings, sweep=False)

    assert summary.kinds["contacts"].told == 10
    reads = [(c.path, "contact[id]" in c.query) for c in sandbox.sandbox.calls if c.path != "/Contact"]
    assert sorted(reads) == [("/CommunicationWay", True)] * 10 + [("/ContactAddress", True)] * 10


async def test_an_invalid_contact_is_not_read_again_until_it_changes(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token, ids = await linked_customers(db, settings, sandbox)
    await reconcile(db, settings)
    account = sandbox.sandbox.account(token)
    person_at(sandbox, 600)
    people.edit(account, "Contact", ids["cust-1001"], {"name": "", "surename": None, "familyname": None})
    first = await reconcile(db, settings, sweep=False)
    person_at(sandbox, 600)
    sandbox.sandbox.calls.clear()

    again = await reconcile(db, settings, sweep=False)

    assert (first.kinds["contacts"].invalid, again.kinds["contacts"].invalid) == (1, 0)
    assert [c.path for c in sandbox.sandbox.calls] == ["/Contact"]


async def test_a_field_the_crm_never_sends_is_not_told_back_after_each_update(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token, ids = await linked_customers(db, settings, sandbox)  # company() carries no buyer_reference
    await reconcile(db, settings)
    person_at(sandbox, 60)
    people.edit(
        sandbox.sandbox.account(token), "Contact", ids["cust-1001"], {"buyerReference": "04011000-1234"}
    )
    typed = await reconcile(db, settings)  # a person's edit: told

    update = envelope("customer.updated", company(company_name="Acme AG"), version=2)
    async with running_worker(settings):
        await publish(settings, update)
        [outcome] = await wait_for_outcomes(db, update)
    person_at(sandbox, 60)
    after = await reconcile(db, settings)
    swept = await reconcile(db, settings, sweep=True)

    assert outcome["status"] == "succeeded", outcome["error"]
    assert "buyer_reference" not in company()
    assert (typed.kinds["contacts"].told, after.kinds["contacts"].told, swept.kinds["contacts"].told) == (
        1,
        0,
        0,
    )
    [changed] = await told(db, "contact.changed")
    assert changed["data"]["buyer_reference"] == "04011000-1234"


async def test_sevsyncs_own_state_is_not_adopted_over_a_handlers_newer_write(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    _, ids = await linked_customers(db, settings, sandbox)
    await reconcile(db, settings)
    async with db.acquire() as conn:
        [link] = await store_reconcile.linked_objects(
            conn, "acme", ["customer"], "Contact", [str(ids["cust-1001"])]
        )
        # a handler commits its state S1 after the listing was read; the listing's is an older own write
        await conn.execute(
            "UPDATE sevsync.entity_link SET agreed_hash = 'S1'"
            " WHERE entity_type = 'customer' AND entity_id = $1",
            link.entity_id,
        )
        adopted = await store_reconcile.adopt(conn, "acme", link, "0" * 32, "2026-11-20T10:00:00+01:00")
        row = await conn.fetchrow(
            "SELECT agreed_hash, seen_update FROM sevsync.entity_link"
            " WHERE entity_type = 'customer' AND entity_id = $1",
            link.entity_id,
        )

    assert row is not None
    assert (row["agreed_hash"], row["seen_update"]) == ("S1", link.seen_update)
    assert adopted is False


async def test_a_sweep_reads_every_way_at_once_and_tells_a_change_a_normal_run_cannot_see(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await tenant_at_t0(db, settings, sandbox)
    account = sandbox.sandbox.account(token)
    contact_ids = [people.create_contact(account, {"name": f"Kunde {n} GmbH"}).id for n in range(10)]
    ways = [
        people.create(
            account,
            "CommunicationWay",
            {
                "contact": {"id": c, "objectName": "Contact"},
                "type": "EMAIL",
                "value": f"info{c}@example.com",
                "key": {"id": 2, "objectName": "CommunicationWayKey"},
            },
        )
        for c in contact_ids
    ]
    await db.executemany(
        "INSERT INTO sevsync.entity_link (tenant_id, entity_type, entity_id, sevdesk_object, sevdesk_id)"
        " VALUES ('acme', 'customer', $1, 'Contact', $2)",
        [(f"cust-{n}", str(c)) for n, c in enumerate(contact_ids)],
    )
    await reconcile(db, settings)  # adopts sevDesk's states
    person_at(sandbox, 600)
    for way in ways:  # straight into the store: the contacts' `update` stays
        way.fields["value"] = f"neu{way.id}@example.com"

    quiet = await reconcile(db, settings, sweep=False)
    sandbox.sandbox.calls.clear()
    swept = await reconcile(db, settings, sweep=True)

    assert (quiet.kinds["contacts"].told, swept.kinds["contacts"].told) == (0, 10)
    reads = sorted((c.path, "contact[id]" in c.query) for c in sandbox.sandbox.calls if c.path != "/Contact")
    assert reads == [("/CommunicationWay", False), ("/ContactAddress", False)]  # the whole account, once
    emails = sorted(e["data"]["email"] for e in await told(db, "contact.changed"))
    assert emails == sorted(f"neu{way.id}@example.com" for way in ways)
