"""Retries held in Postgres and put back on the work queue when due.

A delivery to be tried again (a transient failure, a deferral) is written to `sevsync.retry_wait`
with the copy's headers, then acked; once due, a relay publishes the copy to sevsync's own work queue
through the default exchange (never the CRM exchange, whose other consumers must not see a retry)
and forgets the row only after the broker confirmed it. Nothing waits in the broker, so a lost node
or a broker's stalled dead-lettering cannot strand a retry. Every worker runs a relay; a wait is
taken by one of them at a time (`take_due` locks what it takes). A copy whose confirm did not come
stays held and goes again later, so it may arrive twice: the inbox recognises the second.

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
from pamqp.decode import field_table as decode_field_table
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
# The longest pause after failed looks (doubling from LOOK_EVERY_SECONDS).
MAX_PAUSE_SECONDS = 30.0


@dataclass
class Released:
    sent: int = 0  # put back and confirmed
    refused: int = 0  # not confirmed: still held
    failure: BaseException | None = None  # why, for the first refused


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
        # While a look runs, the earliest due time (loop time) of the holds made meanwhile: the look
        # may not have seen them, so the pause after it is no longer than that.
        self._looking = False
        self._due_during_look = math.inf
        # Loop time of the next look while the relay sleeps: a hold due sooner wakes it.
        self._next_look = math.inf
        # Looks in a row that failed or had a copy refused: each doubles the pause, up to MAX_PAUSE.
        self._failed_looks = 0

    async def hold(self, message: AbstractIncomingMessage, step: int, headers: Mapping[str, Any]) -> None:
        """Keep a copy of the delivery, with `headers`, until ladder step `step`'s delay has passed.

        Returns once the row is committed, so the caller may ack. Raises if it could not be written
        (Postgres away, headers the broker could not carry): the delivery must then go back.
        """
        delay = self._schedule.delays[step]
        copy = RetryCopy(
            message.body,
            field_table(_encodable(headers)),
            message.content_type or "application/json",
            message.message_id,
        )
        await hold(self._pool, self._queue, delay, copy)
        due = asyncio.get_running_loop().time() + delay.total_seconds()
        if self._looking:
            self._due_during_look = min(self._due_during_look, due)
        elif due < self._next_look:
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
                released.failure = next(r for r in results if isinstance(r, BaseException))
                return released
            if len(due) < self._batch:
                return released

    async def forever(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self._looking, self._due_during_look = True, math.inf
            self._wake.clear()
            pause = await self._look()
            self._looking = False
            pause = max(min(pause, self._due_during_look - loop.time()), MIN_PAUSE_SECONDS)
            self._next_look = loop.time() + pause
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(pause):
                    await self._wake.wait()

    async def _look(self) -> float:
        """Put back what is due and count what waits; returns the pause until the next look."""
        try:
            # Counted first: an idle relay costs one statement per look, no transaction.
            summary = await waiting_summary(self._pool, self._queue)
            released = Released()
            if summary.next_due_in is not None and summary.next_due_in <= 0:
                released = await self.release_due()
                summary = await waiting_summary(self._pool, self._queue)
        except Exception:
            pause = self._back_off()
            log.warning("the retry relay's look failed; looking again in %.1f s", pause, exc_info=True)
            return pause
        self._metrics.retries_counted(summary.waiting, summary.next_due_in)
        if released.refused:
            # Refused, or not confirmed in time (a broker in flow control may still take them): not
            # sent again at once, so that a long alarm does not multiply the copies.
            pause = self._back_off()
            log.warning(
                "%d due retries could not be put back on %s (%r); trying again in %.1f s",
                released.refused,
                self._queue,
                released.failure,
                pause,
            )
            return pause
        self._failed_looks = 0
        if summary.next_due_in is None:
            return self._look_every
        # Due already: another relay is putting it back right now, or it fell due during this look.
        return min(summary.next_due_in, self._look_every)

    def _back_off(self) -> float:
        self._failed_looks += 1
        return min(self._look_every * 2.0 ** (self._failed_looks - 1), MAX_PAUSE_SECONDS)

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


def _encodable(headers: Mapping[str, Any]) -> dict[str, Any]:
    # A long-string header that is not UTF-8 arrives as bytes, which the encoder refuses; as a byte
    # array it keeps its value.
    return {key: bytearray(value) if isinstance(value, bytes) else value for key, value in headers.items()}


def _decoded(headers: bytes) -> dict[str, Any]:
    """The copy's headers; none if they cannot be read, so that one bad row cannot block the others."""
    try:
        _, table = decode_field_table(headers)
    except Exception:
        log.exception("the headers of a held retry cannot be read; it goes back without them")
        return {}
    return dict(table)
