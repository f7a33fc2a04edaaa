"""The RabbitMQ objects sevsync uses, declared at start-up (CONTRACT section 1).

- inbound exchange (topic): the CRM publishes here; the work queue is bound to the handled types.
- work queue: a quorum queue. A message that keeps crashing the worker is not redelivered forever:
  after `DELIVERY_LIMIT` deliveries the broker dead-letters it (at-least-once) to `<queue>.dlx`,
  whose queue `<queue>.dead` sevsync drains into the `dead_letter` table.
- no retry queues: retries wait in Postgres (see `retry_relay.py`); the TTL queues
  `<queue>.retry.<delay>` of earlier versions drain and go (see `classic_ladder.py`).
- outbound exchange (topic): results for the CRM.

What is declared is first written down as a `TopologyPlan`, so that the worker's start-up and
`sevsync topology declare` declare the very same objects, and the command can print them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractExchange, AbstractQueue
from aiormq.abc import FieldValue

from .headers import DELIVERY_LIMIT


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


@dataclass(frozen=True)
class ExchangeDeclaration:
    name: str
    kind: aio_pika.ExchangeType


@dataclass(frozen=True)
class Binding:
    exchange: str
    routing_key: str | None = None  # None: a fanout exchange, the key does not matter


@dataclass(frozen=True)
class QueueDeclaration:
    name: str
    arguments: dict[str, FieldValue]
    bindings: tuple[Binding, ...] = ()


@dataclass(frozen=True)
class TopologyPlan:
    """Every durable exchange and queue, with its bindings, in the order they are declared."""

    exchanges: tuple[ExchangeDeclaration, ...]
    queues: tuple[QueueDeclaration, ...]

    def describe(self) -> list[str]:
        """One line per exchange, queue and binding, for operators."""
        lines = [f"exchange {e.name} ({e.kind.value}, durable)" for e in self.exchanges]
        for queue in self.queues:
            lines.append(f"queue {queue.name} ({_queue_traits(queue.arguments)})")
            lines += [
                f"  bound to {b.exchange}" + (f" with {b.routing_key}" if b.routing_key is not None else "")
                for b in queue.bindings
            ]
        return lines

    @property
    def binding_count(self) -> int:
        return sum(len(queue.bindings) for queue in self.queues)


def _queue_traits(arguments: dict[str, FieldValue]) -> str:
    def text(name: str, default: str = "") -> str:
        value = arguments.get(name, default)
        return value.decode() if isinstance(value, bytes) else str(value)

    traits = [f"{text('x-queue-type', 'classic')}, durable"]
    if "x-delivery-limit" in arguments:
        traits.append(f"delivery limit {text('x-delivery-limit')}")
    if "x-dead-letter-exchange" in arguments:
        traits.append(f"dead letters to {text('x-dead-letter-exchange')}")
    if text("x-dead-letter-strategy") == "at-least-once":
        traits.append("at least once")
    return ", ".join(traits)


def work_queue_arguments(names: TopologyNames) -> dict[str, FieldValue]:
    return {
        "x-queue-type": "quorum",
        "x-delivery-limit": DELIVERY_LIMIT,
        "x-dead-letter-exchange": names.dead_exchange,
        # at-least-once dead-lettering needs reject-publish overflow; a full queue refuses publishes.
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }


def topology_plan(names: TopologyNames, routing_keys: Iterable[str]) -> TopologyPlan:
    exchanges = (
        ExchangeDeclaration(names.exchange, aio_pika.ExchangeType.TOPIC),
        ExchangeDeclaration(names.out_exchange, aio_pika.ExchangeType.TOPIC),
        ExchangeDeclaration(names.dead_exchange, aio_pika.ExchangeType.FANOUT),
    )
    dead_queue = QueueDeclaration(
        names.dead_queue, {"x-queue-type": "quorum"}, (Binding(names.dead_exchange),)
    )
    work_queue = QueueDeclaration(
        names.queue,
        work_queue_arguments(names),
        tuple(Binding(names.exchange, key) for key in routing_keys),
    )
    return TopologyPlan(exchanges, (dead_queue, work_queue))


async def declare(channel: AbstractChannel, names: TopologyNames, routing_keys: Iterable[str]) -> Topology:
    """Declare everything of the plan (idempotent: objects that exist as planned stay as they are)."""
    plan = topology_plan(names, routing_keys)
    exchanges = {e.name: await channel.declare_exchange(e.name, e.kind, durable=True) for e in plan.exchanges}
    queues: dict[str, AbstractQueue] = {}
    for planned in plan.queues:
        queue = await channel.declare_queue(planned.name, durable=True, arguments=planned.arguments)
        for binding in planned.bindings:
            await queue.bind(exchanges[binding.exchange], routing_key=binding.routing_key)
        queues[planned.name] = queue
    return Topology(
        exchange=exchanges[names.exchange],
        queue=queues[names.queue],
        out_exchange=exchanges[names.out_exchange],
        dead_queue=queues[names.dead_queue],
    )


async def queue_exists(connection: AbstractConnection, queue: str) -> bool:
    """Whether the broker has a queue of that name (a passive declare, which creates nothing)."""
    return await queued_messages(connection, queue) is not None


async def queued_messages(connection: AbstractConnection, queue: str) -> int | None:
    """The messages ready in `queue`, None if the broker has no such queue (a passive declare)."""
    # A failed passive declare closes its channel, so it gets one of its own.
    channel = await connection.channel()
    try:
        declared = await channel.declare_queue(queue, passive=True)
        return declared.declaration_result.message_count or 0
    except aio_pika.exceptions.ChannelNotFoundEntity:
        return None
    finally:
        if not channel.is_closed:
            await channel.close()
