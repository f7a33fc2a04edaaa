"""Retries held in Postgres and put back on the work queue when due.

A delivery to be tried again (a transient failure, a deferral) is written to `sevsync.retry_wait`
with the copy's headers, then acked; once due, a relay publishes the copy to sevsync's own work queue
through the default exchange (never the CRM exchange, whose other consumers must not see a retry)
and forgets the row only after the broker confirmed it. Nothing waits in the broker, so a lost node
or a broker's stalled dead-lettering cannot strand a retry; every worker runs a relay, and a wait
is put back by exactly one of them (`take_due` locks what it takes).

Earlier versions held these waits in TTL queues `<queue>.retry.<delay>` (`classic_ladder.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aio_pika
import asyncpg
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage
from pamqp.encode import field_table

from ..metrics import METRICS, WorkerMetrics
from ..retry_schedule import RetrySchedule
from ..store.retry_waits import RetryCopy, forget, hold, take_due, waiting_summary

log = logging.getLogger(__name__)

# The longest the relay sleeps between looks. Its own worker's holds wake it earlier when they are
# due sooner; another worker's are seen at the next look, so this bounds how late a retry can be.
LOOK_EVERY_SECONDS = 1.0
# Copies published per transaction (each confirmed before its row is forgotten).
RELEASE_BATCH = 200
# A copy the broker has not confirmed by then stays held (should it land after all, it arrives twice).
PUT_BACK_TIMEOUT_SECONDS = 10.0
# The shortest pause between looks, so that a wait another relay is putting back is not polled hot.
MIN_PAUSE_SECONDS = 0.05


@dataclass
class Released:
    sent: int = 0  # put back and confirmed
    refused: int = 0  # not confirmed: still held


class RetryRelay:
    def __init__(
        self,
        pool: asyncpg.Pool,
        channel: AbstractChannel,
        queue: str,
        schedule: RetrySchedule,
        *,
        look_every: float = LOOK_EVERY_SECONDS,
        batch: int = RELEASE_BATCH,
        metrics: WorkerMetrics = METRICS,
    ) -> None:
        self._pool = pool
        self._channel = channel
        self._queue = queue
        self._schedule = schedule
        self._look_every = look_every
        self._batch = batch
        self._metrics = metrics
        self._wake = asyncio.Event()
        # Loop time of the relay's next look; infinite while it looks (a hold then is counted by it).
        self._next_look = math.inf

    async def hold(self, message: AbstractIncomingMessage, step: int, headers: Mapping[str, Any]) -> None:
        """Keep a copy of the delivery, with `headers`, until ladder step `step`'s delay has passed.

        Returns once the row is committed, so the caller may ack. Raises if it could not be written
        (Postgres away, headers the broker could not carry): the delivery must then go back.
        """
        delay = self._schedule.delays[step]
        copy = RetryCopy(
            message.body,
            field_table(dict(headers)),
            message.content_type or "application/json",
            message.message_id,
        )
        await hold(self._pool, self._queue, delay, copy)
        if asyncio.get_running_loop().time() + delay.total_seconds() < self._next_look:
            self._wake.set()

    async def release_due(self) -> Released:
        """Put every due wait back on the work queue, batch by batch, until none is due or one fails.

        A copy the broker refused stays held and is tried again at the next look; a copy confirmed
        but not forgotten (a crash right then) is sent once more, which the inbox makes harmless.
        """
        released = Released()
        while True:
            async with self._pool.acquire() as conn, conn.transaction():
                due = await take_due(conn, self._queue, self._batch)
                results = await asyncio.gather(
                    *(asyncio.wait_for(self._put_back(w.copy), PUT_BACK_TIMEOUT_SECONDS) for w in due),
                    return_exceptions=True,
                )
                sent = [wait.id for wait, result in zip(due, results, strict=True) if result is None]
                await forget(conn, sent)
            released.sent += len(sent)
            released.refused += len(due) - len(sent)
            if released.refused:
                failure = next(r for r in results if isinstance(r, BaseException))
                log.warning(
                    "%d due retries could not be put back on %s (%r); trying again in %.0f s",
                    released.refused,
                    self._queue,
                    failure,
                    self._look_every,
                )
                return released
            if len(due) < self._batch:
                return released

    async def forever(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self._next_look = math.inf
            self._wake.clear()
            pause = self._look_every
            try:
                released = await self.release_due()
                summary = await waiting_summary(self._pool, self._queue)
                self._metrics.retries_counted(summary.waiting, summary.next_due_in)
                if summary.next_due_in is not None and not released.refused:
                    # Due already: another relay holds it right now, or it fell due during this look.
                    pause = min(max(summary.next_due_in, MIN_PAUSE_SECONDS), self._look_every)
            except Exception:
                log.warning("the retry relay's look failed; looking again in %.0f s", pause, exc_info=True)
            self._next_look = loop.time() + pause
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(pause):
                    await self._wake.wait()

    async def _put_back(self, copy: RetryCopy) -> None:
        # Mandatory on a channel that raises on returns: a work queue that is gone fails the publish
        # instead of dropping the copy, so it stays held.
        await self._channel.default_exchange.publish(
            aio_pika.Message(
                copy.body,
                headers=_decoded(copy.headers),
                content_type=copy.content_type,
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                message_id=copy.message_id,
            ),
            routing_key=self._queue,
            mandatory=True,
        )


def _decoded(headers: bytes) -> dict[str, Any]:
    from pamqp.decode import field_table as decode_field_table

    _, table = decode_field_table(headers)
    return dict(table)
