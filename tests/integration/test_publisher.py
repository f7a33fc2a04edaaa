"""EventPublisher and publish_file against a real RabbitMQ (SEVSYNC_TEST_AMQP_URL)."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aio_pika
import pytest
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue, AbstractRobustConnection
from aio_pika.exceptions import ChannelInvalidStateError, ChannelNotFoundEntity

from sevsync_events.envelope import Envelope
from sevsync_events.outbound import SyncResult
from sevsync_events.publisher import (
    EventFileError,
    EventFilePublishFailed,
    EventNotRouted,
    EventPublisher,
    publish_file,
)

pytestmark = pytest.mark.integration

AMQP_URL = os.environ.get("SEVSYNC_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")


@dataclass
class Broker:
    connection: AbstractRobustConnection
    exchange: str
    queue: AbstractQueue

    async def next_message(self, timeout: float = 5.0) -> AbstractIncomingMessage:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            message = await self.queue.get(no_ack=True, fail=False)
            if message is not None:
                return message
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"no message arrived on {self.queue.name} within {timeout}s")
            await asyncio.sleep(0.05)

    async def message_count(self) -> int:
        # A passive re-declare returns the broker's current count of ready messages.
        declared = await self.queue.declare()
        count = declared.message_count
        assert count is not None
        return count


@pytest.fixture
async def broker() -> AsyncIterator[Broker]:
    """A uniquely named exchange with an exclusive queue bound to everything; deleted afterwards."""
    suffix = uuid.uuid4().hex[:12]
    connection = await aio_pika.connect_robust(AMQP_URL)
    try:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(
            f"test.events.{suffix}", aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue(f"test.events.{suffix}", exclusive=True)
        await queue.bind(exchange, routing_key="#")
        yield Broker(connection, exchange.name, queue)
        await exchange.delete()
    finally:
        await connection.close()


def _event_line(event_type: str = "customer.deleted", **changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "event_type": event_type,
        "tenant_id": "it-tenant",
        "occurred_at": "2026-11-20T10:15:00Z",
        "version": 1,
        "data": {"id": "cust-1"},
    }
    document.update(changes)
    return document


async def test_publish_sends_a_confirmed_persistent_json_message(broker: Broker) -> None:
    envelope = Envelope.new(
        "sync.succeeded",
        "it-tenant",
        5,
        SyncResult(
            source_event_id=uuid.uuid4(),
            source_event_type="customer.created",
            entity_type="customer",
            entity_id="cust-1",
            status="succeeded",
            sevdesk_object="Contact",
            sevdesk_id="777",
        ),
    )
    async with EventPublisher(AMQP_URL, broker.exchange) as publisher:
        await publisher.publish(envelope)

    message = await broker.next_message()
    assert message.body == envelope.to_json_bytes()
    assert json.loads(message.body)["data"]["sevdesk_id"] == "777"
    assert message.routing_key == "sync.succeeded"
    assert message.message_id == str(envelope.event_id)
    assert message.content_type == "application/json"
    assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert message.timestamp is not None


async def test_publish_raw_keeps_the_bytes(broker: Broker) -> None:
    body = b"\xffnot even utf-8"
    async with EventPublisher(AMQP_URL, broker.exchange, declare=False) as publisher:
        await publisher.publish_raw(body, "customer.updated", message_id="replay-1")
    message = await broker.next_message()
    assert message.body == body
    assert message.routing_key == "customer.updated"
    assert message.message_id == "replay-1"
    assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT


async def test_mandatory_publish_fails_when_nothing_is_bound(broker: Broker) -> None:
    lonely = f"test.lonely.{uuid.uuid4().hex[:12]}"
    async with EventPublisher(AMQP_URL, lonely, mandatory=True) as publisher:
        try:
            with pytest.raises(EventNotRouted, match=r"no queue is bound to routing key 'customer\.deleted'"):
                await publisher.publish_raw(b"{}", "customer.deleted")
        finally:
            channel = await broker.connection.channel()
            await channel.exchange_delete(lonely)


async def test_publishing_is_mandatory_unless_turned_off(broker: Broker) -> None:
    # An inbound event nobody is bound for (no worker declared the topology yet) is an error by
    # default; only a publisher told so drops it, as sevsync does with results nobody listens to.
    lonely = f"test.lonely.{uuid.uuid4().hex[:12]}"
    try:
        async with EventPublisher(AMQP_URL, lonely) as publisher:
            with pytest.raises(EventNotRouted) as info:
                await publisher.publish_raw(b"{}", "customer.created", message_id="evt-1")
        assert str(info.value) == (
            f"no queue is bound to routing key 'customer.created' on exchange '{lonely}'"
        )
        assert (info.value.exchange, info.value.routing_key, info.value.message_id) == (
            lonely,
            "customer.created",
            "evt-1",
        )
        async with EventPublisher(AMQP_URL, lonely, mandatory=False) as publisher:
            await publisher.publish_raw(b"{}", "customer.created")
    finally:
        channel = await broker.connection.channel()
        await channel.exchange_delete(lonely)


async def test_a_channel_broken_on_a_live_connection_fails_without_waiting_for_a_node(broker: Broker) -> None:
    gone = f"test.gone.{uuid.uuid4().hex[:12]}"
    channel = await broker.connection.channel()
    await channel.declare_exchange(gone, aio_pika.ExchangeType.TOPIC)
    async with EventPublisher(AMQP_URL, gone, declare=False, mandatory=False) as publisher:
        await channel.exchange_delete(gone)
        with pytest.raises(ChannelNotFoundEntity):
            await publisher.publish_raw(b"{}", "customer.updated")
        # The broker closed the channel, the connection lives: no node comes back to wait for (60 s).
        with pytest.raises(ChannelInvalidStateError):
            await asyncio.wait_for(publisher.publish_raw(b"{}", "customer.updated"), timeout=30)


async def test_using_a_closed_publisher_is_an_error() -> None:
    publisher = EventPublisher(AMQP_URL, "unused")
    with pytest.raises(RuntimeError, match="not open"):
        await publisher.publish_raw(b"{}", "x")


async def test_publish_file_publishes_every_line_in_order(broker: Broker, tmp_path: Path) -> None:
    lines = [_event_line(data={"id": f"cust-{n}"}) for n in range(3)]
    path = tmp_path / "events.jsonl"
    path.write_text(
        json.dumps(lines[0]) + "\n\n" + json.dumps(lines[1]) + "\r\n   \n" + json.dumps(lines[2]),
        encoding="utf-8",
    )
    assert await publish_file(path, AMQP_URL, broker.exchange) == 3
    for expected in lines:
        message = await broker.next_message()
        assert message.body == json.dumps(expected).encode()
        assert message.message_id == expected["event_id"]
        assert message.routing_key == "customer.deleted"
        assert message.content_type == "application/json"
        assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT


async def test_publish_file_stops_at_the_first_event_no_queue_receives(
    broker: Broker, tmp_path: Path
) -> None:
    # The broker's queue takes customer events only; the product event on line 4 reaches none.
    channel = await broker.connection.channel()
    exchange = f"test.partial.{uuid.uuid4().hex[:12]}"
    partial = await channel.declare_exchange(exchange, aio_pika.ExchangeType.TOPIC, durable=True)
    await broker.queue.bind(partial, routing_key="customer.#")
    lines = [
        _event_line(),
        _event_line(),
        _event_line("product.created", data={"id": "p", "name": "P", "net_price": "1.00", "tax_rate": "19"}),
        _event_line(),
    ]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join([json.dumps(lines[0]), json.dumps(lines[1]), "", *map(json.dumps, lines[2:])]))
    try:
        with pytest.raises(EventFilePublishFailed) as info:
            await publish_file(path, AMQP_URL, exchange)
    finally:
        await partial.delete()

    failed = info.value
    assert (failed.line, failed.published, failed.not_published, failed.uncertain) == (4, 2, 1, False)
    assert failed.event_id == lines[2]["event_id"]
    assert isinstance(failed.cause, EventNotRouted)
    assert str(failed) == (
        f"line 4 (event {lines[2]['event_id']}): no queue is bound to routing key 'product.created' on "
        f"exchange '{exchange}'; its event was not published, 2 events before it were published, "
        "1 event after it were not"
    )
    received = [await broker.next_message(), await broker.next_message()]
    assert [m.message_id for m in received] == [lines[0]["event_id"], lines[1]["event_id"]]
    # publish_file waits for the broker's confirm of each publish: the line after the stop, had it
    # been sent, would be queued now.
    assert await broker.message_count() == 0


async def test_publish_file_refuses_a_file_with_one_bad_line_and_publishes_nothing(
    broker: Broker, tmp_path: Path
) -> None:
    good = json.dumps(_event_line())
    bad = json.dumps(_event_line(version="1"))
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join([good, "", bad, good]) + "\n", encoding="utf-8")
    with pytest.raises(EventFileError) as info:
        await publish_file(path, AMQP_URL, broker.exchange)
    assert str(info.value) == "line 3: version: Input should be a valid integer"
    assert info.value.line == 3
    assert info.value.error.reason == "malformed"
    # publish_file waits for the broker's confirm of each publish: anything sent would be queued now.
    assert await broker.message_count() == 0


async def test_publish_file_refuses_unknown_event_types(broker: Broker, tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text(json.dumps(_event_line("customer.merged")) + "\n", encoding="utf-8")
    with pytest.raises(EventFileError) as info:
        await publish_file(path, AMQP_URL, broker.exchange)
    assert str(info.value) == "line 1: event type 'customer.merged' is not one sevsync handles"
    assert info.value.error.reason == "unknown_event_type"
    assert await broker.message_count() == 0


async def test_an_empty_file_publishes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("\n  \n", encoding="utf-8")
    assert await publish_file(path, "amqp://nobody@127.0.0.1:1/", "unused") == 0
