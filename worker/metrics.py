"""Prometheus metrics of the worker, exposed on `/metrics`."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# `event_type` is one the worker handles, or `malformed` / `unknown`: bounded, whatever arrives.
EVENTS_RECEIVED = Counter(
    "sevsync_events_received_total", "Deliveries taken from the work queue", ["event_type"]
)
DECISIONS = Counter(
    "sevsync_deliveries_settled_total",
    "Deliveries by how they were settled: ack (outcome recorded), retry (sent up the ladder), defer "
    "(its tenant held its share of the worker), requeue",
    ["event_type", "decision"],
)
OUTCOMES = Counter(
    "sevsync_outcomes_total",
    "Recorded outcomes (succeeded, skipped, retrying, parked, failed, dead) with their reason",
    ["event_type", "status", "reason"],
)
HANDLER_SECONDS = Histogram(
    "sevsync_handler_duration_seconds",
    "Time from delivery to recorded outcome, including waits for the entity's lock",
    ["event_type"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
SEVDESK_CALLS = Counter("sevsync_sevdesk_calls_total", "sevDesk HTTP requests", ["endpoint", "status"])
IN_FLIGHT = Gauge("sevsync_events_in_flight", "Deliveries being processed now")
CONSUMER_CONNECTED = Gauge("sevsync_consumer_connected", "1 while the worker consumes its queue")
