"""The broker's side of a delivery on fakes: receipt, decision, settlement.

`WorkQueueDelivery` and `BrokerDeadLetters` run against a fake message that records how it was
settled, a scripted decider, a fake Postgres dependency and a retry holder that records the copies
held to be tried again; metrics go to a registry of their own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import pytest
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue
from prometheus_client import CollectorRegistry

from sevsync.broker.consumer import Consumer
from sevsync.broker.dead_queue import BrokerDeadLetters
from sevsync.broker.delivery import WorkQueueDelivery
from sevsync.broker.headers import DEFERRALS_HEADER, REPLAY_HEADER, RETRIES_HEADER, SKIPPED_REPLAY
from sevsync.disposition import Decision, Disposition
from sevsync.metrics import WorkerMetrics

BODY = b'{"event": "one"}'


class FakeMessage:
    """A delivery that records, in `log`, each settlement and each copy of it published."""

    def __init__(self, log: list[str], headers: dict[str, Any] | None = None) -> None:
        self.body = BODY
        self.headers = headers or {}
        self.content_type = "application/json"
        self.message_id = "m-1"
        self._log = log
        self.nack_fails = False

    async def ack(self) -> None:
        self._log.append("ack")

    async def nack(self, requeue: bool = True) -> None:
        if self.nack_fails:
            raise RuntimeError("the channel is closed")
        self._log.append(f"nack requeue={requeue}")


class PostgresAway(Exception):
    pass


@dataclass
class FakeDatabase:
    unavailable: tuple[type[BaseException], ...] = (PostgresAway,)
    waits: int = 0

    async def wait_until_available(self) -> None:
        self.waits += 1


@dataclass
class FakeDecider:
    """Answers each `process` with the next scripted decision, or raises the next scripted error."""

    script: list[Decision | Exception]
    calls: list[tuple[bytes, int, int, bool]] = field(default_factory=list)

    async def process(
        self, body: bytes, retries: int = 0, deferrals: int = 0, *, skipped_replay: bool = False
    ) -> Decision:
        self.calls.append((body, retries, deferrals, skipped_replay))
        answer = self.script.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


@dataclass
class Held:
    body: bytes
    step: int
    headers: dict[str, Any]


class FakeRetries:
    """Holds copies in a list; each hold first raises the next error of `failures`, while there is one."""

    def __init__(self, log: list[str]) -> None:
        self._log = log
        self.held: list[Held] = []
        self.failures: list[Exception] = []

    async def hold(self, message: AbstractIncomingMessage, step: int, headers: Mapping[str, Any]) -> None:
        if self.failures:
            raise self.failures.pop(0)
        self._log.append("hold")
        self.held.append(Held(message.body, step, dict(headers)))


@dataclass
class FakeRecorder:
    fails: bool = False
    recorded: list[tuple[bytes, int | None]] = field(default_factory=list)

    async def record_delivery_limit(self, body: bytes, deliveries: int | None) -> None:
        if self.fails:
            raise PostgresAway("connection refused")
        self.recorded.append((body, deliveries))


class Setup:
    def __init__(self, *script: Decision | Exception) -> None:
        self.log: list[str] = []
        self.decider = FakeDecider(list(script))
        self.database = FakeDatabase()
        self.retries = FakeRetries(self.log)
        self.registry = CollectorRegistry()
        self.delivery = WorkQueueDelivery(
            self.decider,
            self.database,
            self.retries,
            requeue_delay=0,
            metrics=WorkerMetrics(self.registry),
        )

    def message(self, headers: dict[str, Any] | None = None) -> AbstractIncomingMessage:
        return cast(AbstractIncomingMessage, FakeMessage(self.log, headers))

    def metric(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, labels) or 0.0

    def settled(self, decision: str) -> float:
        return self.metric(
            "sevsync_deliveries_settled_total", event_type="customer.created", decision=decision
        )


def decided(disposition: Disposition, step: int | None = None) -> Decision:
    return Decision(disposition, step, "customer.created")


async def test_a_decided_delivery_is_acked_with_the_facts_of_its_headers() -> None:
    setup = Setup(decided(Disposition.ACK))
    headers = {RETRIES_HEADER: 2, DEFERRALS_HEADER: b"1", REPLAY_HEADER: SKIPPED_REPLAY}
    await setup.delivery(setup.message(headers))
    assert setup.decider.calls == [(BODY, 2, 1, True)]
    assert setup.log == ["ack"]
    assert setup.settled("ack") == 1


async def test_while_postgres_is_away_the_delivery_is_held_and_decided_again() -> None:
    setup = Setup(PostgresAway("connection refused"), decided(Disposition.ACK))
    await setup.delivery(setup.message())
    assert setup.database.waits == 1
    assert len(setup.decider.calls) == 2
    assert setup.log == ["ack"]
    # Counted once for the delivery, not once per run of the decider.
    assert setup.metric("sevsync_events_received_total", event_type="customer.created") == 1
    assert setup.metric("sevsync_handler_duration_seconds_count", event_type="customer.created") == 1
    assert setup.metric("sevsync_events_in_flight") == 0
    assert setup.settled("ack") == 1


async def test_a_failure_without_a_decision_hands_the_delivery_back() -> None:
    setup = Setup(RuntimeError("a bug"))
    await setup.delivery(setup.message())
    assert setup.database.waits == 0
    assert setup.log == ["nack requeue=True"]
    assert setup.metric("sevsync_events_in_flight") == 0
    # No event type is known without a decision: neither received nor timed, settled as unknown.
    assert setup.metric("sevsync_events_received_total", event_type="unknown") == 0
    assert setup.metric("sevsync_deliveries_settled_total", event_type="unknown", decision="requeue") == 1


async def test_a_retry_holds_a_copy_before_the_ack() -> None:
    setup = Setup(decided(Disposition.RETRY, 1))
    await setup.delivery(setup.message({RETRIES_HEADER: 1}))
    assert setup.log == ["hold", "ack"]
    assert setup.retries.held == [Held(BODY, 1, {RETRIES_HEADER: 2})]
    assert setup.settled("retry") == 1


async def test_a_deferral_holds_a_copy_that_counts_one_more_deferral() -> None:
    setup = Setup(decided(Disposition.DEFER, 0))
    await setup.delivery(setup.message({DEFERRALS_HEADER: 1}))
    assert setup.log == ["hold", "ack"]
    assert setup.retries.held == [Held(BODY, 0, {DEFERRALS_HEADER: 2})]
    assert setup.settled("defer") == 1


async def test_while_postgres_is_away_a_retry_is_held_until_its_copy_is_kept() -> None:
    setup = Setup(decided(Disposition.DEFER, 0))
    setup.retries.failures = [PostgresAway("connection refused"), PostgresAway("connection refused")]
    await setup.delivery(setup.message())
    assert setup.database.waits == 2
    assert setup.log == ["hold", "ack"]
    assert setup.settled("defer") == 1


async def test_a_copy_that_cannot_be_held_requeues_the_delivery() -> None:
    setup = Setup(decided(Disposition.RETRY, 0))
    setup.retries.failures = [TypeError("Unknown type: <class 'bytes'>")]
    await setup.delivery(setup.message())
    assert setup.log == ["nack requeue=True"]
    assert setup.settled("requeue") == 1
    assert setup.settled("retry") == 0


@pytest.mark.parametrize(("headers", "deliveries"), [({"x-delivery-count": 10}, 11), ({}, None)])
async def test_a_broker_dead_letter_is_recorded_and_acked(
    headers: dict[str, Any], deliveries: int | None
) -> None:
    log: list[str] = []
    recorder = FakeRecorder()
    await BrokerDeadLetters(recorder, requeue_delay=0)(
        cast(AbstractIncomingMessage, FakeMessage(log, headers))
    )
    assert recorder.recorded == [(BODY, deliveries)]
    assert log == ["ack"]


async def test_a_broker_dead_letter_that_cannot_be_recorded_goes_back() -> None:
    log: list[str] = []
    await BrokerDeadLetters(FakeRecorder(fails=True), requeue_delay=0)(
        cast(AbstractIncomingMessage, FakeMessage(log))
    )
    assert log == ["nack requeue=True"]


async def _raise(message: AbstractIncomingMessage) -> None:
    raise RuntimeError("a DeliverFn that breaks its contract")


@pytest.mark.parametrize("nack_fails", [False, True])
async def test_the_consumer_hands_back_what_a_broken_deliver_left_unsettled(nack_fails: bool) -> None:
    log: list[str] = []
    message = FakeMessage(log)
    message.nack_fails = nack_fails
    consumer = Consumer(cast(AbstractQueue, object()), _raise)
    await consumer._on_message(cast(AbstractIncomingMessage, message))
    assert log == ([] if nack_fails else ["nack requeue=True"])
    assert consumer.in_flight == 0
