"""After a change is told: the CRM's next event is written even when it sets back what sevsync wrote
before, and the events' `version` counts per CRM entity (a deal's offer and invoice share one)."""

from __future__ import annotations

import asyncpg

from sevsync.config import Settings
from sevsync.sandbox import people
from sevsync.sandbox.server import SandboxServer

from ..samples import company, deal
from .harness import envelope
from .reconciling import (
    linked_customers,
    person_at,
    reconcile,
    sevdesk_id_of,
    tenant_at_t0,
    through_worker,
    told,
)


async def test_the_crm_setting_back_the_value_sevsync_wrote_before_a_told_change_is_written(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token, ids = await linked_customers(db, settings, sandbox)
    await reconcile(db, settings)
    account = sandbox.sandbox.account(token)
    person_at(sandbox, 60)
    people.edit(account, "Contact", ids["cust-1001"], {"name": "Acme AG"})
    changed = await reconcile(db, settings)
    # The CRM applied "Acme AG"; later its user sets the name back to the one sevsync wrote first.
    await through_worker(db, settings, envelope("customer.updated", company(), version=2))

    [contact] = [c for c in account.objects("Contact") if str(c["id"]) == str(ids["cust-1001"])]
    assert changed.kinds["contacts"].told == 1
    assert contact["name"] == "Acme GmbH"


async def test_a_deals_offer_and_invoice_events_count_one_version(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await tenant_at_t0(db, settings, sandbox)
    await through_worker(db, settings, envelope("deal.opened", deal()))
    await reconcile(db, settings, ["documents"])
    account = sandbox.sandbox.account(token)
    person_at(sandbox, 60)
    people.decide_offer(account, await sevdesk_id_of(db, "deal_order", "deal-42"), accepted=True)
    await reconcile(db, settings, ["documents"])
    await through_worker(db, settings, envelope("deal.won", deal(), version=2))
    await reconcile(db, settings, ["documents"])
    person_at(sandbox, 60)
    people.finalise_invoice(account, await sevdesk_id_of(db, "deal_invoice", "deal-42"))
    await reconcile(db, settings, ["documents"])

    events = [(e["data"]["entity_type"], e["data"]["status"], e["version"]) for e in await told(db)]
    assert events == [("deal_order", "accepted", 1), ("deal_invoice", "open", 2)]
