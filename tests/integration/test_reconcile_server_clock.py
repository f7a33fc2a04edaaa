"""A run's start is a moment of sevDesk's clock (its answers' Date header), not ours: sevDesk's stamps
are compared with it. Here sevDesk's clock (the sandbox's) is five minutes behind ours."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg

from sevsync.config import Settings
from sevsync.sandbox import people
from sevsync.sandbox.server import SandboxServer

from .harness import add_tenant
from .reconciling import reconcile, told


async def test_a_second_change_within_the_second_is_told_when_sevdesks_clock_is_behind_ours(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    sandbox.sandbox.clock.set(datetime.now(UTC) - timedelta(minutes=5))
    token = await add_tenant(db, settings, sandbox)
    account = sandbox.sandbox.account(token)
    contact = people.create_contact(account, {"name": "Acme GmbH"})
    await db.execute(
        "INSERT INTO sevsync.entity_link (tenant_id, entity_type, entity_id, sevdesk_object, sevdesk_id)"
        " VALUES ('acme', 'customer', 'cust-1', 'Contact', $1)",
        str(contact.id),
    )
    await reconcile(db, settings)  # adopts sevDesk's state
    sandbox.sandbox.clock.advance(120)  # still three minutes behind ours
    people.edit(account, "Contact", contact.id, {"name": "Acme Holding GmbH"})
    first = await reconcile(db, settings, sweep=False)
    people.edit(account, "Contact", contact.id, {"name": "Acme AG"})  # the same second by sevDesk's clock
    second = await reconcile(db, settings, sweep=False)

    assert [first.kinds["contacts"].told, second.kinds["contacts"].told] == [1, 1]
    assert [e["data"]["company_name"] for e in await told(db, "contact.changed")] == [
        "Acme Holding GmbH",
        "Acme AG",
    ]
