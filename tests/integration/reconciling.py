"""Helpers of the reconciliation tests: run one, read what it told, act as a person in sevDesk."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg

from sevsync.config import Settings
from sevsync.reconcile.results import ReconcileKind, ReconcileSummary
from sevsync.reconcile.run import run_reconcile
from sevsync.reconcile.telling import Publish
from sevsync.sandbox.server import SandboxServer
from sevsync.sevdesk.client import SevdeskClient
from sevsync.tenants.crypto import TokenCipher

from ..samples import company, person, product
from .harness import add_tenant, envelope, publish, running_worker, wait_for_outcomes

# The sandbox clock's start for these tests (Berlin winter time): never the wall clock.
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def cipher_of(settings: Settings) -> TokenCipher:
    """The cipher of the tenants' sevDesk tokens under these settings' keys."""
    assert settings.secret_keys is not None
    return TokenCipher(settings.secret_keys.get_secret_value())


async def tenant_at_t0(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer, **tenant_settings: Any
) -> str:
    """The sandbox clock set to T0 and tenant acme connected; its token."""
    sandbox.sandbox.clock.set(T0)
    return await add_tenant(db, settings, sandbox, **tenant_settings)


async def slow_and_quick_tenants(db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer) -> None:
    """Tenants a-slow (listed first), whose sevDesk requests are held for 60 s, and b-quick."""
    slow = await add_tenant(db, settings, sandbox, "a-slow")
    await add_tenant(db, settings, sandbox, "b-quick")
    sandbox.sandbox.faults.add(kind="hold", token=slow, seconds=60)


async def reconcile(
    db: asyncpg.Pool,
    settings: Settings,
    kinds: Sequence[ReconcileKind] = ("contacts",),
    *,
    tenant: str = "acme",
    sweep: bool | None = None,
    publish: Publish | None = None,
) -> ReconcileSummary:
    cipher = cipher_of(settings)
    async with SevdeskClient(settings.sevdesk_base_url) as client:
        return await run_reconcile(db, client, cipher, tenant, kinds, publish=publish, sweep=sweep)


async def told(db: asyncpg.Pool, event_type: str | None = None) -> list[dict[str, Any]]:
    """The outbox's reconciliation events (not sync.* or customer.linked), oldest first."""
    rows = await db.fetch(
        """
        SELECT body FROM sevsync.outbox
         WHERE routing_key = ANY($1::text[]) ORDER BY id
        """,
        [event_type]
        if event_type
        else ["contact.changed", "part.changed", "document.status_changed", "link.broken"],
    )
    return [json.loads(row["body"]) for row in rows]


async def _created(
    db: asyncpg.Pool, settings: Settings, entity_type: str, events: list[dict[str, Any]]
) -> dict[str, int]:
    """Publish the create events at once to a running worker; each must succeed. CRM id -> sevDesk id."""
    async with running_worker(settings):
        await publish(settings, *events)
        outcomes = await wait_for_outcomes(db, *events)
    assert [o["status"] for o in outcomes] == ["succeeded"] * len(events), [o["error"] for o in outcomes]
    rows = await db.fetch(
        "SELECT entity_id, sevdesk_id FROM sevsync.entity_link WHERE entity_type = $1", entity_type
    )
    return {row["entity_id"]: int(row["sevdesk_id"]) for row in rows}


async def linked_customers(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> tuple[str, dict[str, int]]:
    """A tenant whose CRM sent a company and a person through the worker; (token, CRM id -> contact id)."""
    token = await tenant_at_t0(db, settings, sandbox)
    events = [envelope("customer.created", company()), envelope("customer.created", person())]
    return token, await _created(db, settings, "customer", events)


async def linked_products(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> tuple[str, dict[str, int]]:
    """A tenant whose CRM sent two products through the worker; (token, CRM id -> part id)."""
    token = await tenant_at_t0(db, settings, sandbox, units={"hour": "2"})
    events = [
        envelope("product.created", product()),
        envelope("product.created", product("prod-8", sku="SKU-8", name="Travel day", unit=None)),
    ]
    return token, await _created(db, settings, "product", events)


async def through_worker(db: asyncpg.Pool, settings: Settings, *events: dict[str, Any]) -> None:
    """Apply the events with a running worker, one after the other; each must succeed."""
    async with running_worker(settings):
        for event in events:  # one after the other: a payment needs its voucher
            await publish(settings, event)
            [outcome] = await wait_for_outcomes(db, event)
            assert outcome["status"] == "succeeded", outcome["error"]


async def sevdesk_id_of(db: asyncpg.Pool, entity_type: str, entity_id: str) -> int:
    """The sevDesk id an entity is linked to."""
    sevdesk_id = await db.fetchval(
        "SELECT sevdesk_id FROM sevsync.entity_link WHERE entity_type = $1 AND entity_id = $2",
        entity_type,
        entity_id,
    )
    return int(sevdesk_id)


def person_at(sandbox: SandboxServer, seconds: float) -> None:
    """Move the sandbox clock on: the person's next change is stamped later than all before."""
    sandbox.sandbox.clock.advance(seconds)
