"""`sevsync reconcile` marks what it published as it goes: the worker's outbox relay, taking rows
older than its grace, never sends an event of a long CLI run a second time."""

from __future__ import annotations

import argparse
from datetime import datetime

import aio_pika
import asyncpg
import pytest

from sevsync.broker.outbound import OutboundPublisher
from sevsync.cli import reconcile as cli_reconcile
from sevsync.config import Settings
from sevsync.reconcile import run as reconcile_run
from sevsync.reconcile.kinds import KindRun
from sevsync.sandbox import people
from sevsync.sandbox.server import SandboxServer
from sevsync.store.outbox import OutboxMessage
from sevsync.store.reconcile import Cursor

from .reconciling import linked_customers, person_at, reconcile


async def test_a_long_cli_runs_early_events_are_not_sent_again_by_the_relay(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    token, ids = await linked_customers(db, settings, sandbox)
    await reconcile(db, settings)
    person_at(sandbox, 600)
    people.edit(sandbox.sandbox.account(token), "Contact", ids["cust-1001"], {"name": "Acme AG"})

    sent: list[str] = []
    publish_one = OutboundPublisher._publish_one

    async def counted(self: OutboundPublisher, message: OutboxMessage) -> None:
        sent.append(str(message.event_id))
        await publish_one(self, message)

    monkeypatch.setattr(OutboundPublisher, "_publish_one", counted)
    relayed: list[int] = []

    async def relay_then_parts(run: KindRun, cursor: Cursor) -> datetime | None:
        # The contacts were told and published; the run goes on with parts. A worker's relay pass
        # meanwhile, its grace over (as when the run lasts longer than RELAY_GRACE_SECONDS):
        connection = await aio_pika.connect(settings.amqp_url.get_secret_value())
        try:
            channel = await connection.channel(publisher_confirms=True)
            exchange = await channel.declare_exchange(
                settings.out_exchange, aio_pika.ExchangeType.TOPIC, durable=True
            )
            relayed.append(await OutboundPublisher(exchange, db).relay_once(grace_seconds=0))
        finally:
            await connection.close()
        return None

    monkeypatch.setitem(reconcile_run._RECONCILERS, "parts", relay_then_parts)
    args = argparse.Namespace(tenant="acme", kind=None, sweep=False, status=False)
    assert await cli_reconcile._cmd_reconcile(args, settings) == 0

    assert relayed == [0]
    assert len(sent) == 1
