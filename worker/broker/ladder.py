"""The retry ladder: one broker queue per step of the retry schedule, and the copies sent up it.

Each step is a durable queue whose messages expire after the step's delay and are then dead-lettered
through the default exchange straight into sevsync's own work queue, never through the CRM exchange
(other consumers bound there must not see a retry). No delivery is held while it waits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage

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
        return f"{self.queue}.retry.{delay_label(self.schedule.delays[step])}"

    def queue_arguments(self, step: int) -> dict[str, Any]:
        return {
            "x-message-ttl": round(self.schedule.delays[step].total_seconds() * 1000),
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": self.queue,
        }

    async def send_up(
        self, channel: AbstractChannel, message: AbstractIncomingMessage, step: int, headers: dict[str, Any]
    ) -> None:
        """Copy the delivery onto a step, with `headers` counting its retries or deferrals (default exchange).

        Returns once the broker confirmed the copy; a step queue that is gone makes the publish fail
        (mandatory, on a channel that raises on returns), so the caller requeues instead of losing it.
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
