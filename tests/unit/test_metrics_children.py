"""The remembered children of a labelled metric: the same child per labels, bounded, counting right."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

from sevsync.metrics import Children, WorkerMetrics


def test_the_same_labels_give_the_same_child_and_the_counts_add_up() -> None:
    registry = CollectorRegistry()
    calls = Counter("calls_total", "calls", ["endpoint", "status"], registry=registry)
    children = Children(calls)
    children("GET /Contact", "200").inc()
    children("GET /Contact", "200").inc()
    children("PUT /Contact/{id}", "500").inc()
    assert children("GET /Contact", "200") is calls.labels("GET /Contact", "200")
    assert registry.get_sample_value("calls_total", {"endpoint": "GET /Contact", "status": "200"}) == 2
    assert registry.get_sample_value("calls_total", {"endpoint": "PUT /Contact/{id}", "status": "500"}) == 1
    assert len(children) == 2


def test_the_cache_starts_afresh_at_its_limit_and_keeps_counting_into_the_same_series() -> None:
    registry = CollectorRegistry()
    calls = Counter("calls_total", "calls", ["endpoint"], registry=registry)
    children = Children(calls, limit=3)
    for n in range(3):
        children(f"/e{n}").inc()
    assert len(children) == 3
    children("/e3").inc()
    assert len(children) == 1  # cleared when full, then the new one remembered
    children("/e0").inc()
    assert len(children) == 2
    assert registry.get_sample_value("calls_total", {"endpoint": "/e0"}) == 2
    assert registry.get_sample_value("calls_total", {"endpoint": "/e3"}) == 1


def test_worker_metrics_count_through_the_remembered_children() -> None:
    registry = CollectorRegistry()
    metrics = WorkerMetrics(registry)
    metrics.after_sevdesk_call("PUT /Contact/{id}", "200")
    metrics.after_sevdesk_call("PUT /Contact/{id}", "200")
    metrics.after_outcome("customer.updated", "succeeded", None)
    sample = registry.get_sample_value
    assert sample("sevsync_sevdesk_calls_total", {"endpoint": "PUT /Contact/{id}", "status": "200"}) == 2
    assert (
        sample(
            "sevsync_outcomes_total", {"event_type": "customer.updated", "status": "succeeded", "reason": ""}
        )
        == 1
    )
