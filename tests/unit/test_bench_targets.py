"""Issue 18's targets of `make bench`: the arithmetic of the ratios and the verdicts (no stack)."""

from __future__ import annotations

from typing import Any

import pytest

from bench.perf_measure import Run, system_cpu
from bench.perf_scenarios import Results
from bench.perf_summary import cpu_table, latency_table
from bench.perf_targets import at_least, at_most, speedup, target_rows, versus
from bench.perf_workload import TYPE_ORDER


def test_verdicts_compare_at_the_printed_digits() -> None:
    assert at_most(1.504, 1.5) == "met"
    assert at_most(1.51, 1.5) == "NOT met"
    assert at_least(0.796, 0.8) == "met"
    assert at_least(0.79, 0.8) == "NOT met"
    assert at_most(None, 1.5) == at_least(None, 0.8) == "n/a"
    assert versus(1.2, 0.8, 2, "ms") == "1.20 ms vs 0.80 ms = 1.50x"
    assert versus(1.0, None) == "1.00 vs - = -"


def test_whole_system_cpu_adds_postgres_and_rabbitmq_not_the_sandbox() -> None:
    groups = {"postgres": 0.5, "rabbitmq": 0.25, "sandbox": 9.0, "bench driver": 9.0}
    assert system_cpu(1.0, groups) == 1.75
    assert system_cpu(None, groups) is None
    assert system_cpu(1.0, {"postgres": 0.5}) is None
    assert (
        Run("r", 1, 1, cpu_ms_per_event=2.0, cpu_ms_per_event_by_group=groups).system_cpu_ms_per_event == 2.75
    )


def run(eps: float, own: float, postgres: float, rabbitmq: float, **more: Any) -> Run:
    groups = {"postgres": postgres, "rabbitmq": rabbitmq}
    return Run("r", 1, 100, events_per_s=eps, cpu_ms_per_event=own, cpu_ms_per_event_by_group=groups, **more)


def latency(worker_eps: float, worker_cpu: float, p99: float) -> dict[str, Any]:
    worker = run(worker_eps, worker_cpu, 1.0, 1.0, calls_per_event=3.0, min_writes_per_event=1.5)
    return {
        "worker": worker,
        "paced": run(20.0, 1.0, 0.0, 0.0, latency_p99_ms=p99, rate=20.0),
        "baseline": run(100.0, 1.0, 1.0, 1.0),
        "baseline_paced": run(20.0, 1.0, 0.0, 0.0),
        "idle_cpu_ms_per_s": 0.5,
        "concurrency": 32,
        "baseline_concurrency": 32,
        "latency_s": 0.1,
        "allowed_events_per_s": 32 / (1.5 * 0.1),
        "baseline_allowed_events_per_s": 320.0,
        "contract_allowed_events_per_s": 32 / (1.6 * 0.1),
        "order": {"entities": 1, "version_mismatches": 0, "applied_out_of_order": 0, "stale_skips": 0},
    }


@pytest.mark.parametrize(
    ("worker_eps", "worker_cpu", "p99", "verdicts"),
    [
        (80.0, 4.0, 500.0, ["met", "met", "met"]),  # 0.8x events/s, (4+2)/(1+2) = 2x CPU
        (79.0, 4.0, 400.0, ["NOT met", "met", "met"]),
        (90.0, 4.1, 400.0, ["met", "NOT met", "met"]),
        (90.0, 1.0, 501.0, ["met", "met", "NOT met"]),
    ],
)
def test_latency_gates_are_ratios_to_the_baseline_of_the_same_run(
    worker_eps: float, worker_cpu: float, p99: float, verdicts: list[str]
) -> None:
    rows = {
        row[0]: row[1:]
        for row in target_rows(Results(scenarios={"latency": latency(worker_eps, worker_cpu, p99)}))
    }

    raw = rows["raw events/s vs the baseline's (100 ms/call, concurrency 32)"]
    system = rows["whole-system CPU per mix event (worker+Postgres+RabbitMQ) vs the baseline's"]
    paced = rows["paced e2e p99 at 20.0 events/s (half load, 100 ms/call)"]
    assert [raw[-1], system[-1], paced[-1]] == verdicts
    assert raw[0] == f"{worker_eps:.1f} vs 100.0 = {worker_eps / 100:.2f}x"
    assert system[0] == f"{worker_cpu + 2:.2f} ms vs 3.00 ms = {(worker_cpu + 2) / 3:.2f}x"
    # The gate (0.8 x 100 events/s) against the bound of 32 / (1.6 x 0.1 s); the baseline 100 of 320.
    bound = rows["  the gate's events/s, as share of the most the contract's requests in a row allow"]
    assert bound == ["80.0 of 200.0 = 40 % (baseline: 31 % of its own)", "", "info"]
    assert (raw[1], system[1], paced[1]) == (">= 0.8x", "<= 2x", "<= 500 ms")
    # The share of allowed divides by the minimum calls (1.5), not the worker's own (3).
    share = rows["  events/s as share of allowed at the minimum calls"]
    assert share[0].endswith(f"= {worker_eps / (32 / 0.15) * 100:.0f} %")


def test_latency_table_prints_whole_system_cpu_beside_the_workers_own() -> None:
    text = "\n".join(latency_table(latency(80.0, 4.0, 400.0)))
    assert "whole-system CPU ms per event (own + Postgres + RabbitMQ)" in text
    row = next(line for line in text.splitlines() if "whole-system" in line)
    assert row.split()[-3:] == ["6.00", "3.00", "2.00x"]
    assert "concurrency / (minimum calls x latency)" in text


def cpu_results(updated_ms: float, anchor_ms: float | None) -> dict[str, Any]:
    per_type = {t: run(50.0, 3.5, 0.2, 0.1) for t in TYPE_ORDER}
    per_type["customer.updated"] = run(50.0, updated_ms, 0.2, 0.1)
    anchor = run(400.0, anchor_ms, 0.0, 0.1) if anchor_ms is not None else None
    return {
        "per_type": per_type,
        "baseline": run(100.0, 1.0, 0.2, 0.1),
        "faststream": anchor,
        "idle_cpu_ms_per_s": 0.5,
        "order": {"entities": 1, "version_mismatches": 0, "applied_out_of_order": 0, "stale_skips": 0},
        "profiled": False,
    }


@pytest.mark.parametrize(
    ("updated_ms", "anchor_ms", "verdicts"),
    [
        (1.0, 1.0, ["met", "met"]),
        (1.5, 1.0, ["met", "NOT met"]),
        (1.6, 1.0, ["NOT met", "NOT met"]),
        (1.0, None, ["n/a", "n/a"]),
    ],
)
def test_cpu_gate_is_a_ratio_to_faststream_with_a_stretch(
    updated_ms: float, anchor_ms: float | None, verdicts: list[str]
) -> None:
    rows = target_rows(Results(scenarios={"cpu": cpu_results(updated_ms, anchor_ms)}))

    headline, stretch = rows[0], rows[1]
    assert headline[0] == "worker CPU per customer.updated vs FastStream consume+publish, latency 0"
    assert (headline[2], stretch[2]) == ("<= 1.5x", "<= 1.0x")
    assert stretch[0].strip() == "stretch"
    assert [headline[3], stretch[3]] == verdicts
    assert {row[-1] for row in rows[2:]} == {"info"}
    assert len(rows) == 3 + len(TYPE_ORDER) - 1
    floor = rows[2]
    assert floor[0].strip() == "the baseline's CPU per customer.updated vs FastStream's"
    if anchor_ms is not None:
        assert floor[1] == f"1.00 ms vs {anchor_ms:.2f} ms = {1 / anchor_ms:.2f}x"


def test_cpu_table_prints_faststream_beside_the_worker() -> None:
    text = "\n".join(cpu_table(cpu_results(3.0, 1.5)))
    assert "FastStream consume+publish" in text
    assert "worker/FastStream" in text
    assert "2.00x" in text


def order_ok() -> dict[str, Any]:
    return {"version_mismatches": 0, "applied_out_of_order": 0, "ok": True}


@pytest.mark.parametrize(("three_at_8", "verdict"), [(25.0, "met"), (24.0, "NOT met")])
def test_scale_gate_at_its_concurrency_with_the_default_beside_it(three_at_8: float, verdict: str) -> None:
    runs = {1: Run("1", 1, 1, events_per_s=10.0), 3: Run("3", 3, 1, events_per_s=three_at_8)}
    default = {1: Run("1", 1, 1, events_per_s=50.0), 3: Run("3", 3, 1, events_per_s=60.0)}
    scale = {"runs": runs, "order": {3: order_ok()}, "concurrency": 8, "latency_s": 0.1, "prefetch": 64}
    scale |= {"default_runs": default, "default_order": {3: order_ok()}, "default_concurrency": 32}

    rows = target_rows(Results(scenarios={"scale": scale}))

    assert rows[0][1:] == [f"{three_at_8 / 10:.2f}x", ">= 2.5x", verdict]
    assert "concurrency 8" in rows[0][0]
    assert rows[1][0].strip() == "beside it: 3 vs 1 at concurrency 32 (the default)"
    assert rows[1][1:] == ["1.20x", ">= 2.5x", "NOT met"]
    assert [row[0] for row in rows[2:]] == [
        "per-entity order, 3 processes",
        "per-entity order, 3 processes at the default concurrency",
    ]
    assert speedup({1: runs[1]}) == (1, 1.0)


@pytest.mark.parametrize(("peak", "verdict"), [(190.0, "met"), (191.0, "NOT met")])
def test_peak_rss_below_200_mb(peak: float, verdict: str) -> None:
    backlog = {"peak_rss_mib": peak}
    rows = target_rows(Results(scenarios={"backlog": backlog}))
    assert rows == [
        ["worker peak RSS, largest of all runs", f"{peak:.0f} MiB (backlog)", "< 200 MB", verdict]
    ]
