"""Consumes a queue with manual acks and keeps count of the deliveries in flight, so that stopping
can wait for them; `settle` acks a delivery or hands it back to the queue."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aio_pika.abc import AbstractIncomingMessage, AbstractQueue

from ..disposition import Decision, Disposition

log = logging.getLogger(__name__)

# A delivery that could not be recorded (e.g. Postgres unreachable) goes back to the queue after
# this pause, so that an outage does not spin through redeliveries.
REQUEUE_DELAY_SECONDS = 2.0
# How long stopping waits for the broker to confirm a cancel. While the broker is unreachable the
# cancel would wait for the reconnect, i.e. possibly forever.
CANCEL_TIMEOUT_SECONDS = 2.0

# Takes one delivery from receipt to settlement. Contract: it settles the message (ack or nack) itself
# and raises nothing; should it raise all the same, the consumer hands the message back to its queue.
DeliverFn = Callable[[AbstractIncomingMessage], Awaitable[None]]


class Consumer:
    def __init__(self, queue: AbstractQueue, deliver: DeliverFn) -> None:
        self._queue = queue
        self._deliver = deliver
        self._tag: str | None = None
        self._in_flight: set[asyncio.Task[None]] = set()

    @property
    def consuming(self) -> bool:
        return self._tag is not None and not self._queue.channel.is_closed

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    async def start(self) -> None:
        # aio-pika runs the callback as its own task per delivery; prefetch bounds how many at once.
        self._tag = await self._queue.consume(self._on_message, no_ack=False)

    async def stop(self, timeout: float) -> bool:
        """Stop taking deliveries, then wait up to `timeout` s for those in flight. True if all finished."""
        if self._tag is not None:
            tag, self._tag = self._tag, None
            try:
                # aio-pika forgets the consumer (no re-consume after a reconnect) before it sends the
                # cancel, so giving up on the answer is safe.
                await asyncio.wait_for(self._queue.cancel(tag), CANCEL_TIMEOUT_SECONDS)
            except Exception:  # the channel may already be gone; then nothing new arrives anyway
                log.debug("cancelling the consumer failed", exc_info=True)
        if not self._in_flight:
            return True
        _done, pending = await asyncio.wait(set(self._in_flight), timeout=timeout)
        if pending:
            log.warning(
                "%d deliveries still in flight after %.0f s; they will be redelivered", len(pending), timeout
            )
        return not pending

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._in_flight.add(task)
        try:
            await self._deliver(message)
        except Exception:
            # A broken DeliverFn must not leave the message unacked until the channel closes.
            log.exception("a delivery failed without being settled; handing it back to the queue")
            await _requeue(message)
        finally:
            self._in_flight.discard(task)


async def _requeue(message: AbstractIncomingMessage) -> None:
    try:
        await message.nack(requeue=True)
    except Exception:
        # Settled already, or the channel is gone: either way the broker knows what to do with it.
        log.warning("could not hand a delivery back; the broker will redeliver it", exc_info=True)


async def settle(message: AbstractIncomingMessage, decision: Decision, requeue_delay: float) -> None:
    """Ack the delivery, or for REQUEUE hand it back to its queue after `requeue_delay` s."""
    try:
        if decision.disposition is Disposition.REQUEUE:
            await asyncio.sleep(requeue_delay)
            await message.nack(requeue=True)
        else:
            await message.ack()
    except Exception:
        # The channel closed under us: the broker redelivers, and the inbox makes that harmless.
        log.warning("could not settle a delivery; the broker will redeliver it", exc_info=True)
