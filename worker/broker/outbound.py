"""Publishing results to the CRM (outbound exchange) from the transactional outbox.

The processor commits outbound events together with the outcome, then hands them here; a relay
publishes whatever a crash or a broker hiccup left unpublished. The CRM may see an event twice, never
zero times; its `event_id` is stable, so it can drop the second one.

Published rows are marked in batches (one UPDATE per `MARK_INTERVAL_SECONDS` for all of them, not
one per event): a crash before the mark only means the relay publishes those rows once more.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from uuid import UUID

import aio_pika
import asyncpg
from aio_pika.abc import AbstractChannel, AbstractExchange

from ..store.outbox import OutboxMessage, mark_published, unpublished

log = logging.getLogger(__name__)

RELAY_INTERVAL_SECONDS = 5.0
# Rows younger than this are probably being published by the worker that wrote them right now.
RELAY_GRACE_SECONDS = 10.0
RELAY_BATCH = 500
# Far below RELAY_GRACE_SECONDS, so that the relay never takes a row that is published but unmarked.
MARK_INTERVAL_SECONDS = 0.2


async def declare_outbound(channel: AbstractChannel, name: str) -> AbstractExchange:
    """The outbound exchange (topic, durable), declared the same by the worker and the CLI."""
    return await channel.declare_exchange(name, aio_pika.ExchangeType.TOPIC, durable=True)


class OutboundPublisher:
    def __init__(self, exchange: AbstractExchange, pool: asyncpg.Pool) -> None:
        self._exchange = exchange
        self._pool = pool
        self._unmarked: list[UUID] = []

    async def publish(self, messages: Sequence[OutboxMessage]) -> None:
        """Publish with broker confirms; the rows are marked published with the next batch."""
        if not messages:
            return
        await asyncio.gather(*(self._publish_one(m) for m in messages))
        self._unmarked += [m.event_id for m in messages]

    async def mark_published(self) -> None:
        """Mark every row published so far (one statement); on failure they wait for the next try."""
        ids, self._unmarked = self._unmarked, []
        try:
            await mark_published(self._pool, ids)
        except BaseException:
            self._unmarked[:0] = ids
            raise

    async def mark_last(self) -> None:
        """At shutdown: mark what is left; if that fails, the relay publishes those rows again later."""
        try:
            await self.mark_published()
        except Exception:
            log.warning("could not mark the last published outbox rows", exc_info=True)

    async def mark_forever(self, interval: float = MARK_INTERVAL_SECONDS) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.mark_published()
            except Exception:
                log.warning("marking published outbox rows failed; trying again", exc_info=True)

    async def _publish_one(self, message: OutboxMessage) -> None:
        # Confirmed, but not mandatory: whether the CRM has bound a queue to sevsync.out yet is its
        # affair (CONTRACT section 1). A result nobody is bound for is dropped by the broker and
        # counts as published, so the relay does not send it round forever.
        await self._exchange.publish(
            aio_pika.Message(
                message.body,
                content_type="application/json",
                content_encoding="utf-8",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                message_id=str(message.event_id),
            ),
            routing_key=message.routing_key,
            mandatory=False,
        )

    async def relay_forever(self, interval: float = RELAY_INTERVAL_SECONDS) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.relay_once()
            except Exception:
                log.warning("outbox relay round failed; trying again in %.0f s", interval, exc_info=True)

    async def relay_once(self, grace_seconds: float = RELAY_GRACE_SECONDS) -> int:
        pending = await unpublished(self._pool, older_than_seconds=grace_seconds, limit=RELAY_BATCH)
        if pending:
            await self.publish(pending)
            await self.mark_published()
            log.info("outbox relay published %d left-over events", len(pending))
        return len(pending)
