"""Consumes a queue with manual acks: every delivery is acked only after its outcome is recorded."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace

from aio_pika.abc import AbstractIncomingMessage, AbstractQueue

from ..sync.processor import Decision, Disposition

log = logging.getLogger(__name__)

# A delivery that could not be recorded (e.g. Postgres unreachable) goes back to the queue after
# this pause, so that an outage does not spin through redeliveries.
REQUEUE_DELAY_SECONDS = 2.0
# How long stopping waits for the broker to confirm a cancel. While the broker is unreachable the
# cancel would wait for the reconnect, i.e. possibly forever.
CANCEL_TIMEOUT_SECONDS = 2.0

ProcessFn = Callable[[AbstractIncomingMessage], Awaitable[Decision]]
# Puts a message on a retry-ladder step, as a retry or a deferral (Disposition.RETRY / DEFER);
# returns once the broker confirmed it.
ScheduleRetryFn = Callable[[AbstractIncomingMessage, int, Disposition], Awaitable[None]]
# Told how each delivery was finally settled (after a failed retry scheduling fell back to requeue).
SettledFn = Callable[[Decision], None]


class Consumer:
    def __init__(
        self,
        queue: AbstractQueue,
        process: ProcessFn,
        *,
        schedule_retry: ScheduleRetryFn | None = None,
        requeue_delay: float = REQUEUE_DELAY_SECONDS,
        on_settled: SettledFn | None = None,
    ):
        self._queue = queue
        self._process = process
        self._schedule_retry = schedule_retry
        self._on_settled = on_settled
        self._requeue_delay = requeue_delay
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
            try:
                decision = await self._process(message)
            except Exception:
                log.exception("processing a delivery failed before its outcome was recorded")
                decision = Decision(Disposition.REQUEUE)
            await self._settle(message, decision)
        finally:
            self._in_flight.discard(task)

    async def _settle(self, message: AbstractIncomingMessage, decision: Decision) -> None:
        try:
            if decision.disposition in (Disposition.RETRY, Disposition.DEFER):
                assert self._schedule_retry is not None
                assert decision.retry_step is not None
                try:
                    # Ack only once the copy on the ladder is safely with the broker.
                    await self._schedule_retry(message, decision.retry_step, decision.disposition)
                except Exception:
                    log.warning(
                        "could not schedule a retry; the delivery goes back to the queue", exc_info=True
                    )
                    decision = replace(decision, disposition=Disposition.REQUEUE)
            if self._on_settled is not None:
                self._on_settled(decision)
            if decision.disposition is Disposition.REQUEUE:
                await asyncio.sleep(self._requeue_delay)
                await message.nack(requeue=True)
            else:
                await message.ack()
        except Exception:
            # The channel closed under us: the broker redelivers, and the inbox makes that harmless.
            log.warning("could not settle a delivery; the broker will redeliver it", exc_info=True)
