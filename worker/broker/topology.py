"""The RabbitMQ objects sevsync uses, declared at start-up (CONTRACT section 1).

- inbound exchange (topic): the CRM publishes here; the work queue is bound to the handled types.
- work queue: a quorum queue. A message that keeps crashing the worker is not redelivered forever:
  after `DELIVERY_LIMIT` deliveries the broker dead-letters it (at-least-once) to `<queue>.dlx`,
  whose queue `<queue>.dead` sevsync drains into the `dead_letter` table.
- retry queues `<queue>.retry.<delay>`: the retry ladder (see `ladder.py`).
- outbound exchange (topic): results for the CRM.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractQueue
from aiormq.abc import FieldValue

from .ladder import RetryLadder

# Deliveries of one message before the broker gives up on it. Each one is a crash or an error that
# could not even be recorded, so a handful is plenty.
DELIVERY_LIMIT = 10


@dataclass(frozen=True)
class TopologyNames:
    exchange: str
    queue: str
    out_exchange: str

    @property
    def dead_exchange(self) -> str:
        return f"{self.queue}.dlx"

    @property
    def dead_queue(self) -> str:
        return f"{self.queue}.dead"


@dataclass
class Topology:
    exchange: AbstractExchange
    queue: AbstractQueue
    out_exchange: AbstractExchange
    dead_queue: AbstractQueue


def work_queue_arguments(names: TopologyNames) -> dict[str, FieldValue]:
    return {
        "x-queue-type": "quorum",
        "x-delivery-limit": DELIVERY_LIMIT,
        "x-dead-letter-exchange": names.dead_exchange,
        # at-least-once dead-lettering needs reject-publish overflow; a full queue refuses publishes.
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }


async def declare(
    channel: AbstractChannel, names: TopologyNames, routing_keys: Iterable[str], ladder: RetryLadder
) -> Topology:
    exchange = await channel.declare_exchange(names.exchange, aio_pika.ExchangeType.TOPIC, durable=True)
    out_exchange = await channel.declare_exchange(
        names.out_exchange, aio_pika.ExchangeType.TOPIC, durable=True
    )
    dead_exchange = await channel.declare_exchange(
        names.dead_exchange, aio_pika.ExchangeType.FANOUT, durable=True
    )
    dead_queue = await channel.declare_queue(
        names.dead_queue, durable=True, arguments={"x-queue-type": "quorum"}
    )
    await dead_queue.bind(dead_exchange)
    queue = await channel.declare_queue(names.queue, durable=True, arguments=work_queue_arguments(names))
    for key in routing_keys:
        await queue.bind(exchange, routing_key=key)
    for step in range(len(ladder.delays)):
        # Classic queues: one TTL per queue keeps them FIFO, so expiry at the head is exact enough.
        await channel.declare_queue(
            ladder.queue_name(step), durable=True, arguments=ladder.queue_arguments(step)
        )
    return Topology(exchange=exchange, queue=queue, out_exchange=out_exchange, dead_queue=dead_queue)
