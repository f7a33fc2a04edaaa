"""The retry ladder: one broker queue per step of the retry schedule, and the copies sent up it.

Each step is a quorum queue whose messages expire after the step's delay and are then dead-lettered
through the default exchange straight into sevsync's own work queue, never through the CRM exchange
(other consumers bound there must not see a retry). No delivery is held while it waits. Quorum, so
that a waiting copy is replicated and survives the loss of a node; at-least-once dead-lettering, so
that the broker keeps it until the work queue has confirmed it, also while that queue's leader moves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage
from aiormq.abc import FieldValue

from ..retry_schedule import RetrySchedule, delay_label


@dataclass(frozen=True)
class RetryLadder:
    queue: str
    # The schedule the processor picks steps from: one queue per step, so a step always has its queue.
    schedule: RetrySchedule

    @property
    def steps(self) -> range:
        return range(len(self.schedule.delays))

    def queue_name(self, step: int) -> str:
        # Named by delay, so changing SEVSYNC_RETRY_DELAYS adds queues instead of clashing with old ones.
        # `.ladder.`, not `.retry.`: earlier versions' classic queues hold those names, and a queue's
        # type cannot change under its name (see `classic_ladder.py`).
        return f"{self.queue}.ladder.{delay_label(self.schedule.delays[step])}"

    def queue_arguments(self, step: int) -> dict[str, FieldValue]:
        return {
            "x-queue-type": "quorum",
            # One TTL per queue keeps it FIFO, so expiry at the head is exact enough.
            "x-message-ttl": round(self.schedule.delays[step].total_seconds() * 1000),
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": self.queue,
            # at-least-once dead-lettering needs reject-publish overflow; a full queue refuses publishes
            # (the publish fails, the delivery is requeued).
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
        }

    async def send_up(
        self, channel: AbstractChannel, message: AbstractIncomingMessage, step: int, headers: dict[str, Any]
    ) -> None:
        """Copy the delivery onto a step, with `headers` counting its retries or deferrals (default exchange).

        Returns once the broker confirmed the copy, which for a quorum queue means a majority of its
        members hold it. A step queue that is gone, or a refused publish (nack), makes the publish fail
        (mandatory, on a confirming channel that raises on returns), so the caller requeues instead of
        losing it.
        """
        await channel.default_exchange.publish(
            aio_pika.Message(
                message.body,
                headers=headers,
                content_type=message.content_type or "application/json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                message_id=message.message_id,
            ),
            routing_key=self.queue_name(step),
            mandatory=True,
        )
