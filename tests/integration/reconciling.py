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

# The sandbox clock's start for these tests (Berlin winter time): never the wall clock.
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


async def reconcile(
    db: asyncpg.Pool,
    settings: Settings,
    kinds: Sequence[ReconcileKind] = ("contacts",),
    *,
    tenant: str = "acme",
    sweep: bool | None = None,
    publish: Publish | None = None,
) -> ReconcileSummary:
    assert settings.secret_keys is not None
    cipher = TokenCipher(settings.secret_keys.get_secret_value())
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


def person_at(sandbox: SandboxServer, seconds: float) -> None:
    """Move the sandbox clock on: the person's next change is stamped later than all before."""
    sandbox.sandbox.clock.advance(seconds)
