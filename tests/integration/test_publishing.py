"""Publishing never loses an event (CONTRACT section 1): `sevsync publish`, `sevsync topology declare`,
and the worker's own publishers (retry copies mandatory, results on sevsync.out not).

The CLI runs as a real subprocess (see test_cli_tenants.py) against the test's broker names.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aio_pika
import asyncpg
import pytest

from sevsync.config import Settings
from sevsync.sandbox.server import SandboxServer
from sevsync.sync.handlers import HANDLERS

from ..cli_runner import Cli
from ..samples import person, product
from .harness import (
    add_tenant,
    envelope,
    publish,
    running_worker,
    settings_cli,
    wait_for_outcomes,
    wait_until,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def cli(settings: Settings) -> Cli:
    return settings_cli(settings)


async def _ready_count(settings: Settings, queue: str) -> int:
    connection = await aio_pika.connect(settings.amqp_url.get_secret_value())
    async with connection:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, passive=True)
        return declared.declaration_result.message_count or 0


async def _bodies(settings: Settings, queue: str) -> list[bytes]:
    """Take every message of a queue (it is a test's own queue)."""
    connection = await aio_pika.connect(settings.amqp_url.get_secret_value())
    async with connection:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, passive=True)
        bodies = []
        while (message := await declared.get(no_ack=True, fail=False)) is not None:
            bodies.append(message.body)
        return bodies


def _write_lines(path: Path, *events: dict[str, Any]) -> list[bytes]:
    lines = [json.dumps(event).encode() for event in events]
    path.write_bytes(b"\n".join(lines) + b"\n")
    return lines


# --- sevsync topology declare ----------------------------------------------------------------------


async def test_topology_declare_sets_up_what_a_worker_would_and_is_idempotent(
    cli: Cli, settings: Settings, tmp_path: Path
) -> None:
    first = await cli("topology", "declare")

    assert first.returncode == 0, first.stderr
    assert first.stderr == ""
    lines = first.stdout.splitlines()
    queue, exchange = settings.queue, settings.exchange
    assert f"exchange {exchange} (topic, durable)" in lines
    assert f"exchange {settings.out_exchange} (topic, durable)" in lines
    assert f"exchange {queue}.dlx (fanout, durable)" in lines
    assert (
        f"queue {queue} (quorum, durable, delivery limit 10, dead letters to {queue}.dlx, at least once)"
        in lines
    )
    assert f"queue {queue}.dead (quorum, durable)" in lines
    bound = [
        line.removeprefix(f"  bound to {exchange} with ") for line in lines if exchange + " with" in line
    ]
    assert bound == sorted(HANDLERS)
    assert lines[-1].startswith("declared 3 exchanges, 2 queues and ")

    # Nothing changes the second time, and the CRM can publish now: the queue receives the event.
    again = await cli("topology", "declare")
    assert again.returncode == 0, again.stderr
    assert again.stdout == first.stdout
    event = envelope("product.created", product())
    _write_lines(tmp_path / "events.jsonl", event)
    published = await cli("publish", str(tmp_path / "events.jsonl"))
    assert published.returncode == 0, published.stderr
    assert await _bodies(settings, queue) == [json.dumps(event).encode()]


async def test_a_worker_starts_on_a_declared_topology(
    cli: Cli, db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer, tmp_path: Path
) -> None:
    # Published before any worker ran: the event waits in the queue for the first one.
    assert (await cli("topology", "declare")).returncode == 0
    await add_tenant(db, settings, sandbox)
    event = envelope("product.created", product())
    _write_lines(tmp_path / "events.jsonl", event)
    assert (await cli("publish", str(tmp_path / "events.jsonl"))).returncode == 0

    async with running_worker(settings):
        [outcome] = await wait_for_outcomes(db, event)

    assert outcome["status"] == "succeeded", outcome["error"]


async def test_topology_declare_names_an_object_declared_otherwise(cli: Cli, settings: Settings) -> None:
    connection = await aio_pika.connect(settings.amqp_url.get_secret_value())
    async with connection:
        channel = await connection.channel()
        await channel.declare_queue(settings.queue, durable=True)  # classic, not quorum

    result = await cli("topology", "declare")

    assert result.returncode == 1
    line = result.error_line()
    assert line.startswith("sevsync: error: the broker refused a declaration (")
    assert settings.queue in line
    assert "exists with other settings" in line
    assert result.stdout == ""


# --- sevsync publish -------------------------------------------------------------------------------


async def test_publish_before_any_topology_is_refused_and_publishes_nothing(
    cli: Cli, settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "events.jsonl"
    _write_lines(path, envelope("product.created", product()))

    result = await cli("publish", str(path))

    assert result.returncode == 1
    assert result.error_line() == (
        f"sevsync: error: queue {settings.queue} does not exist on the broker, so no sevsync worker "
        "would receive these events; run `sevsync topology declare` (or start a worker) first; "
        "nothing was published"
    )
    assert result.stdout == ""


async def test_publish_stops_at_an_unrouted_line_and_says_how_far_it_got(
    cli: Cli, settings: Settings, tmp_path: Path
) -> None:
    # sevsync's queue exists, but is bound for customer.created only (e.g. a worker of a version that
    # handled nothing else): a product event reaches no queue.
    connection = await aio_pika.connect(settings.amqp_url.get_secret_value())
    async with connection:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(
            settings.exchange, aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue(
            settings.queue, durable=True, arguments={"x-queue-type": "quorum"}
        )
        await queue.bind(exchange, routing_key="customer.created")
    events = [
        envelope("customer.created", person("cust-1")),
        envelope("customer.created", person("cust-2")),
        envelope("product.created", product()),
        envelope("customer.created", person("cust-3")),
    ]
    path = tmp_path / "events.jsonl"
    lines = _write_lines(path, *events)

    result = await cli("publish", str(path))

    assert result.returncode == 1
    assert result.error_line() == (
        f"sevsync: error: {path}: line 3 (event {events[2]['event_id']}): no queue is bound to routing key "
        f"'product.created' on exchange '{settings.exchange}'; its event was not published, 2 events "
        "before it were published, 1 event after it were not. Bind a queue for that routing key "
        "(e.g. `sevsync topology declare`), then publish the file again: the events published before "
        "it go out once more, which is harmless, since a worker skips an event_id it has applied or "
        "skipped already as a duplicate"
    )
    assert await _bodies(settings, settings.queue) == lines[:2]


async def test_publish_of_a_file_with_a_bad_line_names_it_before_looking_at_the_broker(
    cli: Cli, tmp_path: Path
) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text(json.dumps(envelope("product.created", product())) + "\n{not json\n", encoding="utf-8")

    result = await cli("publish", str(path))

    assert result.returncode == 1
    line = result.error_line()
    assert line.startswith(f"sevsync: error: {path}: line 2: ")
    assert line.endswith("; nothing was published")


# --- the worker's own publishers -------------------------------------------------------------------


async def test_results_nobody_is_bound_for_count_as_published(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    # No CRM queue on sevsync.out: a result is still confirmed (not mandatory) and marked published,
    # so the outbox relay does not send it round again and again.
    await add_tenant(db, settings, sandbox)
    event = envelope("product.created", product())
    async with running_worker(settings):
        await publish(settings, event)
        [outcome] = await wait_for_outcomes(db, event)

        async def all_published() -> bool:
            return not await db.fetchval("SELECT count(*) FROM sevsync.outbox WHERE published_at IS NULL")

        await wait_until(all_published, timeout=10, message="every outbox row marked published")

    assert outcome["status"] == "succeeded"
    assert await db.fetchval("SELECT count(*) FROM sevsync.outbox") >= 1
