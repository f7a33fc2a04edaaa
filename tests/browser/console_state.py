"""A known state for the console's count checks, on the real database and broker.

Outcomes and dead letters are written with fixed ages (minutes before the database's `now()`), far
from the 24-hour edge, so that "in the last 24 h" holds or fails for each of them however slowly the
test runs. The malformed letters come from a real worker: the parser refuses them as it would in use.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from sevsync.config import Settings
from sevsync.sandbox.server import SandboxServer
from sevsync.store.db import Connection
from tests.integration.harness import add_tenant, envelope, publish, wait_for_dead_letters

TENANT = "acme"
HOUR = 60
DAY = 24 * HOUR
# Stored settings the tenant page must show (none of them secret).
TENANT_SETTINGS: dict[str, Any] = {
    "contact_person_id": "4711",
    "check_accounts": {"bank": "1001"},
    "booking_accounts": {"8400": "8401"},
    "e_invoice": "customers",
    "payment_methods": {"sepa": "21"},
}


@dataclass
class ConsoleState:
    """What was seeded, and what the pages must therefore show."""

    token: str = ""
    # Entities whose newest outcome is failed or dead: (entity_type, entity_id).
    failing: set[tuple[str, str]] = field(default_factory=set)
    # Failed first, succeeded since: never listed as failing.
    recovered: tuple[str, str] = ("customer", "cust-recovered")
    # Event ids of open dead letters the parser refused, with and without a tenant.
    malformed_event_ids: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Attempt:
    entity: tuple[str, str]
    status: str
    reason: str | None
    minutes_ago: int
    dead_letter: str = "none"  # none, open or replayed


# In the order they happened. Two failures are older than 24 hours.
_HISTORY = (
    _Attempt(("customer", "cust-recovered"), "failed", "sevdesk_rejected", 3 * HOUR, "replayed"),
    _Attempt(("customer", "cust-recovered"), "succeeded", None, 2 * HOUR),
    _Attempt(("customer", "cust-failing"), "failed", "sevdesk_rejected", 1 * HOUR, "open"),
    _Attempt(("product", "prod-old"), "dead", "retries_exhausted", 3 * DAY, "open"),
    _Attempt(("product", "prod-old-fixed"), "failed", "sevdesk_rejected", 2 * DAY, "open"),
    _Attempt(("product", "prod-old-fixed"), "succeeded", None, 30),
    _Attempt(("product", "prod-ok"), "succeeded", None, 20),
)


async def _record(conn: Connection, attempt: _Attempt) -> None:
    entity_type, entity_id = attempt.entity
    event_id = uuid.uuid4()
    event_type = f"{entity_type}.updated"
    error = "Kontakt gesperrt (4711)" if attempt.status in ("failed", "dead") else None
    await conn.execute(
        """
        INSERT INTO sevsync.sync_outcome (event_id, tenant_id, event_type, entity_type, entity_id,
                                          status, reason, error, created_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now() - make_interval(mins => $9))
        """,
        event_id, TENANT, event_type, entity_type, entity_id,
        attempt.status, attempt.reason, error, attempt.minutes_ago,
    )  # fmt: skip
    if attempt.dead_letter == "none":
        return
    await conn.execute(
        """
        INSERT INTO sevsync.dead_letter (event_id, tenant_id, event_type, reason, error, body, dead_at,
                                         replayed_at)
        VALUES ($1, $2, $3, $4, $5, '{}', now() - make_interval(mins => $6),
                CASE WHEN $7 THEN now() - make_interval(mins => $6 - 1) END)
        """,
        event_id, TENANT, event_type, attempt.reason, error, attempt.minutes_ago,
        attempt.dead_letter == "replayed",
    )  # fmt: skip


async def seed_history(db: asyncpg.Pool) -> ConsoleState:
    """Outcomes and dead letters of known ages; the tenant row must exist."""
    state = ConsoleState()
    newest: dict[tuple[str, str], str] = {}
    async with db.acquire() as conn:
        for attempt in _HISTORY:
            await _record(conn, attempt)
            newest[attempt.entity] = attempt.status
    state.failing = {entity for entity, status in newest.items() if status in ("failed", "dead")}
    return state


async def seed_console_state(db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer) -> ConsoleState:
    """The tenant with its settings, the timed history, and two malformed letters from the worker.

    The worker must be running (it writes the malformed letters)."""
    token = await add_tenant(db, settings, sandbox, TENANT, **TENANT_SETTINGS)
    state = await seed_history(db)
    state.token = token
    before = int(await db.fetchval("SELECT count(*) FROM sevsync.dead_letter"))
    # An envelope the parser reads far enough to know its event and tenant, with data it refuses,
    # and a body that is no JSON at all.
    invalid = envelope("customer.created", {"customer_id": ""}, tenant=TENANT)
    await publish(settings, invalid, b"{not json")
    await wait_for_dead_letters(db, before + 2)
    state.malformed_event_ids = [invalid["event_id"]]
    return state
