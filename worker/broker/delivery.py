"""One delivery of the work queue, from receipt to settlement.

The broker receives (reads the headers into plain facts), the processor decides (a `Decision`),
the broker settles: ack, requeue, or a copy held to be tried again (`retry_relay.py`) before the ack.
While Postgres is away the delivery is held and decided again once it answers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any, Protocol, TypeVar

from aio_pika.abc import AbstractIncomingMessage

from ..disposition import REQUEUE, Decision, Disposition
from ..metrics import METRICS, WorkerMetrics
from .consumer import REQUEUE_DELAY_SECONDS, settle
from .headers import DeliveryFacts, delivery_facts, retry_copy_headers

log = logging.getLogger(__name__)

T = TypeVar("T")


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
            # No outcome can be recorded while Postgres is away, so the delivery must not be acked;
            # it is processed again once Postgres answers. Intents and the inbox make that safe.
            decision = await self._while_postgres_away(
                lambda: self._decider.process(
                    body, facts.retries, facts.deferrals, skipped_replay=facts.skipped_replay
                ),
                "delivery",
            )
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
            # Ack only once the copy is committed (a deferral is decided without Postgres, so many
            # can arrive here during an outage).
            step = decision.retry_step
            await self._while_postgres_away(lambda: self._retries.hold(message, step, headers), "retry")
            return decision
        except Exception:
            log.warning("could not schedule a retry; the delivery goes back to the queue", exc_info=True)
            return replace(decision, disposition=Disposition.REQUEUE)

    async def _while_postgres_away(self, attempt: Callable[[], Awaitable[T]], held: str) -> T:
        """`attempt`'s result, tried again each time Postgres answers after it failed for being away.

        Meanwhile the delivery is held (prefetch bounds how many): handed back, it would spin
        through redeliveries towards the queue's delivery limit.
        """
        while True:
            try:
                return await attempt()
            except self._database.unavailable as exc:
                log.warning(
                    "Postgres unavailable (%s); holding the %s until it answers", type(exc).__name__, held
                )
                await self._database.wait_until_available()
