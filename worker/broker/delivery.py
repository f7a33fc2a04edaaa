"""One delivery of the work queue, from receipt to settlement.

The broker receives (reads the headers into plain facts), the processor decides (a `Decision`),
the broker settles: ack, requeue, or a copy held to be tried again (`retry_relay.py`) before the ack.
While Postgres is away the delivery is held and decided again once it answers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Protocol

from aio_pika.abc import AbstractIncomingMessage

from ..disposition import REQUEUE, Decision, Disposition
from ..metrics import METRICS, WorkerMetrics
from .consumer import REQUEUE_DELAY_SECONDS, settle
from .headers import DeliveryFacts, delivery_facts, retry_copy_headers

log = logging.getLogger(__name__)


class Decider(Protocol):
    """The processor as the broker sees it: a body and plain facts in, a decision out."""

    async def process(
        self, body: bytes, retries: int = 0, deferrals: int = 0, *, skipped_replay: bool = False
    ) -> Decision: ...


class Dependency(Protocol):
    """A service deciding needs (Postgres): the errors that mean it is away, and waiting for it."""

    unavailable: tuple[type[BaseException], ...]

    async def wait_until_available(self) -> None: ...


class RetryHolder(Protocol):
    """Keeps a copy of a delivery until its retry step's delay has passed (the retry relay)."""

    async def hold(self, message: AbstractIncomingMessage, step: int, headers: Mapping[str, Any]) -> None: ...


class WorkQueueDelivery:
    def __init__(
        self,
        decider: Decider,
        database: Dependency,
        retries: RetryHolder,
        *,
        requeue_delay: float = REQUEUE_DELAY_SECONDS,
        metrics: WorkerMetrics = METRICS,
    ) -> None:
        self._decider = decider
        self._database = database
        self._retries = retries
        self._requeue_delay = requeue_delay
        self._metrics = metrics

    async def __call__(self, message: AbstractIncomingMessage) -> None:
        decision = await self._decide(message.body, delivery_facts(message.headers))
        if decision.disposition in (Disposition.RETRY, Disposition.DEFER):
            decision = await self._hold(message, decision)
        self._metrics.after_settled(decision)
        await settle(message, decision, self._requeue_delay)

    async def _decide(self, body: bytes, facts: DeliveryFacts) -> Decision:
        """The processor's decision; REQUEUE if it failed without one. Held while Postgres is away."""
        self._metrics.before_process()
        started = time.monotonic()
        decision: Decision | None = None
        try:
            while decision is None:
                try:
                    decision = await self._decider.process(
                        body, facts.retries, facts.deferrals, skipped_replay=facts.skipped_replay
                    )
                except self._database.unavailable as exc:
                    # No outcome can be recorded, so the delivery must not be acked. Handing it back
                    # would spin it through redeliveries towards the queue's delivery limit; instead
                    # hold it (prefetch bounds how many) and process it again once Postgres answers.
                    # Intents and the inbox make the second run safe.
                    log.warning(
                        "Postgres unavailable (%s); holding the delivery until it answers", type(exc).__name__
                    )
                    await self._database.wait_until_available()
        except Exception:
            log.exception("processing a delivery failed before its outcome was recorded")
            return REQUEUE
        finally:
            # Counted once per delivery, not per run of `process` while Postgres was away.
            self._metrics.after_process(decision, time.monotonic() - started)
        return decision

    async def _hold(self, message: AbstractIncomingMessage, decision: Decision) -> Decision:
        """Hold a copy for the decision's retry step; REQUEUE instead if it could not be kept."""
        assert decision.retry_step is not None
        try:
            headers = retry_copy_headers(message.headers, decision.retry_step, decision.disposition)
            # Ack only once the copy is committed. While Postgres is away the delivery is held here,
            # as while deciding: handed back, it would spin towards the queue's delivery limit (a
            # deferral is decided without Postgres, so many can arrive here during an outage).
            while True:
                try:
                    await self._retries.hold(message, decision.retry_step, headers)
                    return decision
                except self._database.unavailable as exc:
                    log.warning(
                        "Postgres unavailable (%s); holding the retry until it answers", type(exc).__name__
                    )
                    await self._database.wait_until_available()
        except Exception:
            log.warning("could not schedule a retry; the delivery goes back to the queue", exc_info=True)
            return replace(decision, disposition=Disposition.REQUEUE)
