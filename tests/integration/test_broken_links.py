"""Broken links end to end (CONTRACT section 10): a link whose sevDesk object is gone fails its
entity's next event (`link_broken`) without a sevDesk write; `sevsync link relink|clear` decide it.

The reconciler sets broken_at in production; here SQL does, after the object is deleted in the sandbox.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest

from sevsync.broker.outbound import OutboundPublisher
from sevsync.config import Settings
from sevsync.reconcile.results import ReconcileKind
from sevsync.sandbox import people
from sevsync.sandbox.server import SandboxServer
from sevsync.sync.told_events import DELETED_IN_SEVDESK, change_event_id

from ..samples import company, crm_invoice, deal, payment, product
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
from .reconciling import reconcile, told
from .test_customers import _create_contact_directly
from .test_dead_letters import outcomes_of, run_sevsync, writes
from .test_payments import tenant_token


async def break_link(db: asyncpg.Pool, entity_type: str, entity_id: str) -> None:
    """What the reconciler does once it finds the linked object deleted in sevDesk."""
    done = await db.execute(
        "UPDATE sevsync.entity_link SET broken_at = now(), broken_reason = 'deleted_in_sevdesk' "
        "WHERE tenant_id = 'acme' AND entity_type = $1 AND entity_id = $2",
        entity_type,
        entity_id,
    )
    assert done == "UPDATE 1"


@dataclass(frozen=True)
class Case:
    """An event that links an object, the link it leaves, and the entity's next event."""

    first: dict[str, Any]
    link: tuple[str, str]
    sevdesk_object: str
    then: dict[str, Any]


CASES = {
    "customer": Case(
        envelope("customer.created", company(), version=1),
        ("customer", "cust-1001"),
        "Contact",
        envelope("customer.updated", company(company_name="Renamed GmbH"), version=2),
    ),
    "product": Case(
        envelope("product.created", product(), version=1),
        ("product", "prod-7"),
        "Part",
        envelope("product.updated", product(name="Renamed"), version=2),
    ),
    "offer": Case(
        envelope("deal.opened", deal(), version=1),
        ("deal_order", "deal-42"),
        "Order",
        envelope("deal.updated", deal(title="Renamed"), version=2),
    ),
    "deal invoice": Case(
        envelope("deal.won", deal(), version=1),
        ("deal_invoice", "deal-42"),
        "Invoice",
        envelope("deal.cancelled", {"id": "deal-42", "reason": "customer withdrew"}, version=2),
    ),
    "crm invoice": Case(
        envelope("invoice.issued", crm_invoice(), version=1),
        ("invoice_voucher", "inv-9"),
        "Voucher",
        envelope("invoice.cancelled", {"id": "inv-9", "number": "S-1", "date": "2025-03-01"}, version=2),
    ),
    "payment": Case(
        envelope("invoice.issued", crm_invoice(), version=1),
        ("invoice_voucher", "inv-9"),
        "Voucher",
        envelope("payment.received", payment(), version=1),
    ),
}


@pytest.mark.parametrize("name", list(CASES))
async def test_the_next_event_through_a_broken_link_fails_without_a_sevdesk_write(
    name: str, db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    case = CASES[name]
    await tenant_token(db, settings, sandbox)
    async with running_worker(settings):
        await publish(settings, case.first)
        [linked] = await wait_for_outcomes(db, case.first)
        assert linked["status"] == "succeeded", linked["error"]
        await break_link(db, *case.link)
        writes_before, calls_before = writes(sandbox), len(sandbox.sandbox.calls)
        await publish(settings, case.then)
        [failed] = await wait_for_outcomes(db, case.then)

    assert (failed["status"], failed["reason"]) == ("failed", "link_broken"), failed["error"]
    entity_type, entity_id = case.link
    assert f"is linked to sevDesk {case.sevdesk_object} " in failed["error"]
    assert f"`sevsync link relink acme {entity_type} {entity_id} --sevdesk-id ID`" in failed["error"]
    assert f"`sevsync link clear acme {entity_type} {entity_id}`" in failed["error"]
    assert writes(sandbox) == writes_before
    assert len(sandbox.sandbox.calls) == calls_before  # not even a read
    dead = await db.fetchrow("SELECT reason FROM sevsync.dead_letter")
    assert dead is not None
    assert dead["reason"] == "link_broken"


async def test_a_deleted_customer_with_a_broken_link_is_still_skipped(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    await add_tenant(db, settings, sandbox)
    created = envelope("customer.created", company(), version=1)
    deleted = envelope("customer.deleted", {"id": "cust-1001"}, version=2)
    async with running_worker(settings):
        await publish(settings, created)
        await wait_for_outcomes(db, created)
        await break_link(db, "customer", "cust-1001")
        await publish(settings, deleted)
        [skipped] = await wait_for_outcomes(db, deleted)

    assert (skipped["status"], skipped["reason"]) == ("skipped", "sevdesk_leads")


async def test_relink_then_replay_updates_the_relinked_part(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox)
    account = sandbox.sandbox.account(token)
    created = envelope("product.created", product(), version=1)
    renamed = envelope("product.updated", product(name="Workshop day"), version=2)
    async with running_worker(settings):
        await publish(settings, created)
        [first] = await wait_for_outcomes(db, created)
        other = account.insert("Part", {"name": "Made by hand", "partNumber": "HAND-1", "stock": 0})
        account.delete("Part", int(first["sevdesk_id"]))
        await break_link(db, "product", "prod-7")
        await publish(settings, renamed)
        [failed] = await wait_for_outcomes(db, renamed)

        relinked = await run_sevsync(
            settings, "link", "relink", "acme", "product", "prod-7", "--sevdesk-id", str(other.id)
        )
        assert relinked.returncode == 0, relinked.stderr
        replayed = await run_sevsync(settings, "dead", "replay", "--reason", "link_broken")
        assert replayed.returncode == 0, replayed.stderr
        [*_, applied] = await outcomes_of(db, renamed, 2)

    assert failed["reason"] == "link_broken"
    shown = relinked.json()
    assert (shown["sevdesk_id"], shown["sevdesk_number"], shown["broken_at"]) == (
        str(other.id),
        "HAND-1",
        None,
    )
    assert (applied["status"], applied["sevdesk_id"]) == ("succeeded", str(other.id)), applied["error"]
    [part] = account.objects("Part")
    assert (part["id"], part["name"]) == (str(other.id), "Workshop day")
    link = await db.fetchrow("SELECT * FROM sevsync.entity_link WHERE entity_type = 'product'")
    assert link is not None
    assert (link["sevdesk_id"], link["broken_at"], link["synced_version"]) == (str(other.id), None, 2)


async def test_clear_lets_the_next_event_create_a_new_contact(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox)
    account = sandbox.sandbox.account(token)
    created = envelope("customer.created", company(), version=1)
    updated = envelope("customer.updated", company(company_name="Renamed GmbH"), version=2)
    again = envelope("customer.updated", company(company_name="Renamed GmbH"), version=3)
    async with running_worker(settings):
        await publish(settings, created)
        [first] = await wait_for_outcomes(db, created)
        account.delete("Contact", int(first["sevdesk_id"]))
        await break_link(db, "customer", "cust-1001")
        await publish(settings, updated)
        [failed] = await wait_for_outcomes(db, updated)
        cleared = await run_sevsync(settings, "link", "clear", "acme", "customer", "cust-1001")
        assert cleared.returncode == 0, cleared.stderr
        await publish(settings, again)
        [applied] = await wait_for_outcomes(db, again)

    assert failed["reason"] == "link_broken"
    assert f"was sevDesk Contact {first['sevdesk_id']}" in cleared.stdout
    assert applied["status"] == "succeeded", applied["error"]
    contacts = {contact["id"]: contact for contact in account.objects("Contact")}
    assert applied["sevdesk_id"] != first["sevdesk_id"]
    contact = contacts[applied["sevdesk_id"]]
    assert contact["name"] == "Renamed GmbH"
    link = await db.fetchrow("SELECT * FROM sevsync.entity_link WHERE entity_type = 'customer'")
    assert link is not None
    assert (link["sevdesk_id"], link["broken_at"]) == (contact["id"], None)


async def test_a_relinked_contact_gets_the_whole_customer_from_the_next_event(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox)
    account = sandbox.sandbox.account(token)
    created = envelope("customer.created", company(), version=1)
    updated = envelope("customer.updated", company(company_name="Renamed GmbH"), version=2)
    async with running_worker(settings):
        await publish(settings, created)
        [first] = await wait_for_outcomes(db, created)
        account.delete("Contact", int(first["sevdesk_id"]))
        await break_link(db, "customer", "cust-1001")
        other = await _create_contact_directly(sandbox, token, {"name": "Typed in by hand"})
        relinked = await run_sevsync(
            settings, "link", "relink", "acme", "customer", "cust-1001", "--sevdesk-id", other
        )
        assert relinked.returncode == 0, relinked.stderr
        await publish(settings, updated)
        [applied] = await wait_for_outcomes(db, updated)

    assert (applied["status"], applied["sevdesk_id"]) == ("succeeded", other), applied["error"]
    contact = next(c for c in account.objects("Contact") if c["id"] == other)
    assert (contact["name"], contact["customerNumber"]) == ("Renamed GmbH", "K-1001")
    # The hashes of the deleted contact's parts were forgotten: the relinked one gets its own.
    addresses = [a for a in account.objects("ContactAddress") if str(a["contact"]["id"]) == other]
    assert [a["street"] for a in addresses] == ["Hauptstr. 1"]


async def test_a_cancelled_deal_skips_as_cancelled_even_through_a_broken_link(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    await tenant_token(db, settings, sandbox)
    cancelled = envelope("deal.cancelled", {"id": "deal-42"}, version=2)
    won_again = envelope("deal.won", deal(), version=3)
    async with running_worker(settings):
        for event in (envelope("deal.won", deal(), version=1), cancelled):
            await publish(settings, event)
            [done] = await wait_for_outcomes(db, event)
            assert done["status"] == "succeeded", done["error"]
        await break_link(db, "deal_invoice", "deal-42")  # e.g. broken before the sweep knew better
        await publish(settings, won_again)
        [outcome] = await wait_for_outcomes(db, won_again)

    assert (outcome["status"], outcome["reason"]) == ("skipped", "cancelled"), outcome["error"]


GONE_CASES = {
    "customer": CASES["customer"],
    "product": CASES["product"],
    "offer": CASES["offer"],
    "lost offer": Case(
        CASES["offer"].first,
        ("deal_order", "deal-42"),
        "Order",
        envelope("deal.lost", {"id": "deal-42"}, version=2),
    ),
}
RECONCILED: dict[str, ReconcileKind] = {"Contact": "contacts", "Part": "parts", "Order": "documents"}


@pytest.mark.parametrize("name", list(GONE_CASES))
async def test_a_handler_that_finds_its_linked_object_deleted_breaks_the_link_and_tells_it_once(
    name: str, db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = GONE_CASES[name]
    token = await tenant_token(db, settings, sandbox)
    entity_type, entity_id = case.link

    async def no_relay(self: OutboundPublisher, grace_seconds: float = 0) -> int:
        return 0

    # No relay: the link.broken goes out with the event's own outbound messages, or never.
    monkeypatch.setattr(OutboundPublisher, "relay_once", no_relay)
    async with outbound_listener(settings) as received:
        async with running_worker(settings):
            await publish(settings, case.first)
            [linked] = await wait_for_outcomes(db, case.first)
            assert linked["status"] == "succeeded", linked["error"]
            sevdesk_id = await db.fetchval(
                "SELECT sevdesk_id FROM sevsync.entity_link WHERE entity_type = $1 AND entity_id = $2",
                entity_type,
                entity_id,
            )
            people.delete(sandbox.sandbox.account(token), case.sevdesk_object, int(sevdesk_id))
            await publish(settings, case.then)
            [failed] = await wait_for_outcomes(db, case.then)
            await wait_until(
                lambda: any(m["routing_key"] == "link.broken" for m in received), message="link.broken"
            )
        swept = await reconcile(db, settings, [RECONCILED[case.sevdesk_object]], sweep=True)
        await drained(settings, received)
    published = [m for m in received if m["routing_key"] == "link.broken"]

    assert (failed["status"], failed["reason"]) == ("failed", "link_broken"), failed["error"]
    assert f"`sevsync link clear acme {entity_type} {entity_id}`" in failed["error"]
    row = await db.fetchrow(
        "SELECT broken_at, broken_reason, told_version FROM sevsync.entity_link"
        " WHERE entity_type = $1 AND entity_id = $2",
        entity_type,
        entity_id,
    )
    assert row is not None
    assert row["broken_at"] is not None
    assert row["broken_reason"] == DELETED_IN_SEVDESK
    [event] = await told(db, "link.broken")
    assert [m["event_id"] for m in published] == [event["event_id"]]  # published at once, and once
    assert event["event_id"] == str(
        change_event_id("acme", case.sevdesk_object, sevdesk_id, row["told_version"], DELETED_IN_SEVDESK)
    )
    assert event["data"] == {
        "entity_type": entity_type,
        "entity_id": entity_id,
        "sevdesk_object": case.sevdesk_object,
        "sevdesk_id": sevdesk_id,
        "reason": DELETED_IN_SEVDESK,
    }
    assert swept.kinds[RECONCILED[case.sevdesk_object]].broken == 0  # the sweep does not tell it again
