"""Drains the broker's dead-letter queue (`<queue>.dead`): messages that failed every delivery.

The work queue dead-letters a message after `DELIVERY_LIMIT` deliveries that each ended before an
outcome was recorded (a crash, a bug); each is recorded as a `delivery_limit` dead letter and acked.
"""

from __future__ import annotations

import logging
from typing import Protocol

from aio_pika.abc import AbstractIncomingMessage

from ..disposition import ACK, REQUEUE, Decision
from .consumer import REQUEUE_DELAY_SECONDS, settle
from .headers import delivery_count

log = logging.getLogger(__name__)


class DeliveryLimitRecorder(Protocol):
    async def record_delivery_limit(self, body: bytes, deliveries: int | None) -> None: ...


class BrokerDeadLetters:
    def __init__(self, recorder: DeliveryLimitRecorder, requeue_delay: float = REQUEUE_DELAY_SECONDS) -> None:
        self._recorder = recorder
        self._requeue_delay = requeue_delay

    async def __call__(self, message: AbstractIncomingMessage) -> None:
        decision: Decision = ACK
        try:
            await self._recorder.record_delivery_limit(message.body, delivery_count(message.headers))
        except Exception:
            log.exception("processing a delivery failed before its outcome was recorded")
            decision = REQUEUE
        # Not counted as settled: this queue carries no events of its own.
        await settle(message, decision, self._requeue_delay)
