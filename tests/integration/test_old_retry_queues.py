"""The upgrade from the retry queues `<queue>.retry.<delay>` of earlier versions, on the real broker:
what waits there still arrives, and the queues go once empty (docs/operations.md, "Retries")."""

from __future__ import annotations

import json

import aio_pika
import asyncpg
import pytest
from aiormq.abc import FieldValue

from sevsync.broker.headers import RETRIES_HEADER
from sevsync.broker.topology import TopologyNames, queued_messages, work_queue_arguments
from sevsync.config import Settings
from sevsync.sandbox.server import SandboxServer

from ..cli_runner import Cli
from ..samples import product
from .harness import (
    EXTRA_QUEUES,
    add_tenant,
    envelope,
    running_worker,
    settings_cli,
    wait_for_outcomes,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def cli(settings: Settings) -> Cli:
    return settings_cli(settings)


async def _waiting(settings: Settings, queue: str) -> int | None:
    connection = await aio_pika.connect(settings.amqp_url.get_secret_value())
    async with connection:
        return await queued_messages(connection, queue)


async def test_an_upgrade_loses_nothing_waiting_in_the_old_retry_queues_and_retires_them_once_empty(
    cli: Cli, db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox)
    queue = settings.queue
    old_short, old_long = f"{queue}.retry.1s", f"{queue}.retry.1h"
    EXTRA_QUEUES.update((old_short, old_long))
    event = envelope("product.created", product())
    # The broker as an earlier version left it: the work queue, and its retry queues with a copy
    # waiting in each of two.
    connection = await aio_pika.connect(settings.amqp_url.get_secret_value())
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        names = TopologyNames(settings.exchange, queue, settings.out_exchange)
        await channel.declare_queue(queue, durable=True, arguments=work_queue_arguments(names))
        for old, ttl in ((old_short, 1000), (old_long, 3_600_000)):
            classic: dict[str, FieldValue] = {
                "x-message-ttl": ttl,
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": queue,
            }
            await channel.declare_queue(old, durable=True, arguments=classic)
        for old, body in ((old_short, event), (old_long, envelope("product.created", product()))):
            copy = aio_pika.Message(
                json.dumps(body).encode(),
                headers={RETRIES_HEADER: 1},
                content_type="application/json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            )
            await channel.default_exchange.publish(copy, routing_key=old)

    # The new worker starts beside the old queues, and the copy waiting there still arrives.
    async with running_worker(settings):
        [outcome] = await wait_for_outcomes(db, event)
    assert outcome["status"] == "succeeded", outcome["error"]
    assert len(sandbox.sandbox.account(token).objects("Part")) == 1

    declared = await cli("topology", "declare")
    assert declared.returncode == 0, declared.stderr
    assert f"retry queue {old_short} of an earlier version is still there (0 messages " in declared.stdout
    assert f"retry queue {old_long} of an earlier version is still there (1 message " in declared.stdout

    # Only the empty one goes; the other keeps its message until its delay ends.
    retired = await cli("topology", "retire-ladder")
    assert retired.returncode == 0, retired.stderr
    assert retired.stdout.splitlines() == [
        f"deleted {old_short} (empty)",
        f"kept {old_long}: 1 message still waiting; they go to the work queue when their delay ends; "
        "run this again then",
    ]
    assert await _waiting(settings, old_short) is None
    assert await _waiting(settings, old_long) == 1

    # Its message expired into the work queue (here: taken by hand), the last one goes too.
    connection = await aio_pika.connect(settings.amqp_url.get_secret_value())
    async with connection:
        channel = await connection.channel()
        await (await channel.declare_queue(old_long, passive=True)).purge()
    again = await cli("topology", "retire-ladder")
    assert again.stdout.splitlines() == [f"deleted {old_long} (empty)"]
    assert await _waiting(settings, old_long) is None
    last = await cli("topology", "retire-ladder")
    assert last.stdout.splitlines() == ["no retry queue of an earlier version is left"]
