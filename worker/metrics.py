"""Prometheus metrics of the worker, exposed on `/metrics`, all recorded here.

One object holds every metric and is told what happened through hook methods (after the model of
dramatiq's Prometheus middleware); the broker, the store and the sevDesk client call the hooks of
the module's `METRICS` instead of touching Prometheus objects themselves.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase

from .disposition import Decision

# More label combinations than the worker's bounded labels make; past it the cache starts afresh.
CHILDREN_CACHE_LIMIT = 1024

MetricT = TypeVar("MetricT", bound=MetricWrapperBase)


class Children(Generic[MetricT]):
    """A labelled metric's children by label values, remembered: `labels()` takes a lock and checks
    its arguments on every call, a few microseconds each, several times per event."""

    def __init__(self, metric: MetricT, limit: int = CHILDREN_CACHE_LIMIT) -> None:
        self._metric = metric
        self._limit = limit
        self._children: dict[tuple[str, ...], MetricT] = {}

    def __len__(self) -> int:
        return len(self._children)

    def __call__(self, *values: str) -> MetricT:
        child = self._children.get(values)
        if child is None:
            if len(self._children) >= self._limit:
                self._children.clear()
            child = self._children[values] = self._metric.labels(*values)
        return child


class WorkerMetrics:
    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        # `event_type` is one the worker handles, or `malformed` / `unknown`: bounded, whatever arrives.
        self.received = Counter(
            "sevsync_events_received_total",
            "Deliveries taken from the work queue",
            ["event_type"],
            registry=registry,
        )
        self.settled = Counter(
            "sevsync_deliveries_settled_total",
            "Deliveries by how they were settled: ack (outcome recorded), retry (held to be tried again), "
            "defer (its tenant held its share of the worker), requeue",
            ["event_type", "decision"],
            registry=registry,
        )
        self.outcomes = Counter(
            "sevsync_outcomes_total",
            "Recorded outcomes (succeeded, skipped, retrying, parked, failed, dead) with their reason",
            ["event_type", "status", "reason"],
            registry=registry,
        )
        self.handler_seconds = Histogram(
            "sevsync_handler_duration_seconds",
            "Time from delivery to recorded outcome, including waits for the entity's lock",
            ["event_type"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=registry,
        )
        self.sevdesk_calls = Counter(
            "sevsync_sevdesk_calls_total", "sevDesk HTTP requests", ["endpoint", "status"], registry=registry
        )
        self.in_flight = Gauge(
            "sevsync_events_in_flight", "Deliveries being processed now", registry=registry
        )
        self.consumer_connected = Gauge(
            "sevsync_consumer_connected", "1 while the worker consumes its queue", registry=registry
        )
        self.retries_waiting = Gauge(
            "sevsync_retries_waiting",
            "Deliveries waiting in Postgres to be tried again, as the worker's relay last counted them",
            registry=registry,
        )
        self.retries_overdue = Gauge(
            "sevsync_retries_overdue_seconds",
            "How long the earliest waiting retry is past its time (0 when none is): above a few seconds "
            "the relay cannot put retries back on the work queue",
            registry=registry,
        )
        self._received = Children(self.received)
        self._settled = Children(self.settled)
        self._outcomes = Children(self.outcomes)
        self._handler_seconds = Children(self.handler_seconds)
        self._sevdesk_calls = Children(self.sevdesk_calls)

    def before_process(self) -> None:
        self.in_flight.inc()

    def after_process(self, decision: Decision | None, seconds: float) -> None:
        """A delivery of the work queue was decided (None: processing it failed without a decision)."""
        self.in_flight.dec()
        if decision is not None:
            self._received(decision.event_type).inc()
            self._handler_seconds(decision.event_type).observe(seconds)

    def after_settled(self, decision: Decision) -> None:
        # The work queue's deliveries only: the broker's dead-letter queue carries no events of its own.
        self._settled(decision.event_type, decision.disposition.value).inc()

    def after_outcome(self, event_type: str, status: str, reason: str | None) -> None:
        """An outcome was committed: an outcome row, or a dead letter that has none."""
        self._outcomes(event_type, status, reason or "").inc()

    def after_sevdesk_call(self, endpoint: str, result: str) -> None:
        self._sevdesk_calls(endpoint, result).inc()

    def retries_counted(self, waiting: int, next_due_in: float | None) -> None:
        self.retries_waiting.set(waiting)
        self.retries_overdue.set(max(0.0, -next_due_in) if next_due_in is not None else 0.0)

    def consuming(self, consuming: bool) -> None:
        self.consumer_connected.set(1 if consuming else 0)


METRICS = WorkerMetrics()
