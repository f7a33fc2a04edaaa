"""Measuring one published batch: throughput, latency, calls, CPU of every process, memory."""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import asyncpg

from bench.perf_baseline import BaselineProcess
from bench.perf_order import OrderCheck
from bench.perf_proc import CpuCensus, CpuMeter, peak_rss_mib
from bench.perf_report import percentile
from bench.perf_stack import Stack, Workers, publish
from bench.perf_workload import Event

IDLE_SECONDS = 2.0
_STARTED = time.monotonic()


def say(message: str) -> None:
    print(f"  [{time.monotonic() - _STARTED:5.0f} s] {message}", flush=True)


@dataclass
class Run:
    """One published batch, consumed by the worker processes or by the baseline."""

    label: str
    processes: int
    events: int
    completed: int = 0
    seconds: float = 0.0  # first publish to last outcome
    events_per_s: float | None = None
    latency_p50_ms: float | None = None
    latency_p99_ms: float | None = None
    cpu_ms_per_event: float | None = None
    sandbox_cpu_ms_per_event: float | None = None
    calls_per_event: float | None = None  # counted by the sandbox
    reads_per_event: float | None = None  # of those, GETs
    writes_per_event: float | None = None  # of those, POST/PUT/DELETE
    outcome_calls_per_event: float | None = None  # sum of sync_outcome.api_calls
    min_writes_per_event: float | None = None
    # Requests one after another the contract requires (perf_workload: contract rounds).
    contract_rounds_per_event: float | None = None
    processing_p50_ms: float | None = None  # sync_outcome.duration_ms
    processing_p99_ms: float | None = None
    peak_rss_mib: float | None = None  # the largest process's VmHWM
    rate: float | None = None  # paced publishing, events/s; None = as fast as confirmed
    machine_busy: float | None = None  # all cores together, 0..1, while the batch ran
    cores: dict[str, float] = field(default_factory=dict)  # CPU seconds per second, by process group
    cpu_ms_per_event_by_group: dict[str, float] = field(default_factory=dict)  # postgres, rabbitmq, ...
    statuses: dict[str, int] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)

    @property
    def system_cpu_ms_per_event(self) -> float | None:
        """Whole-system CPU per event: the consumer's own + Postgres's + RabbitMQ's (not the sandbox's,
        which stands in for sevDesk, nor the bench driver's)."""
        return system_cpu(self.cpu_ms_per_event, self.cpu_ms_per_event_by_group)


def system_cpu(own: float | None, by_group: dict[str, float]) -> float | None:
    if own is None or "postgres" not in by_group or "rabbitmq" not in by_group:
        return None
    return own + by_group["postgres"] + by_group["rabbitmq"]


@dataclass
class Measured:
    """A measured batch: its Run, and per event when it was published and when it was final."""

    run: Run
    sent_at: dict[str, float]  # event id -> wall-clock time its publish batch went to the broker
    finished: dict[str, float]  # event id -> DB time of its first final outcome (completed ones)


class Target(Protocol):
    """What consumes a batch: the worker processes or the baseline consumer."""

    exchange: str

    @property
    def pids(self) -> list[int]: ...

    async def watermark(self) -> int: ...

    async def wait_done(self, after: int, count: int, timeout: float) -> bool: ...

    async def rows(self, after: int) -> list[Any]: ...  # mappings with event_id and at (epoch s)


class WorkerTarget:
    def __init__(self, stack: Stack, workers: Workers) -> None:
        self.stack = stack
        self.workers = workers
        self.exchange = stack.names["exchange"]

    @property
    def pids(self) -> list[int]:
        return self.workers.pids

    async def watermark(self) -> int:
        return await self.stack.watermark()

    async def wait_done(self, after: int, count: int, timeout: float) -> bool:
        return await self.stack.wait_final(after, count, timeout)

    async def rows(self, after: int) -> list[asyncpg.Record]:
        return await self.stack.outcomes(after)


class BaselineTarget:
    def __init__(self, stack: Stack, baseline: BaselineProcess) -> None:
        self.baseline = baseline
        self.exchange = stack.names["baseline_exchange"]

    @property
    def pids(self) -> list[int]:
        return [self.baseline.pid]

    async def watermark(self) -> int:
        return await self.baseline.watermark()

    async def wait_done(self, after: int, count: int, timeout: float) -> bool:
        return await self.baseline.wait_done(after, count, timeout)

    async def rows(self, after: int) -> list[asyncpg.Record]:
        return await self.baseline.rows(after)


async def measure(
    stack: Stack,
    target: Target,
    label: str,
    events: Sequence[Event],
    rate: float | None = None,
) -> Run:
    """Publish `events` (paced to `rate` events/s if given), wait until all are final, measure."""
    return (await measure_batch(stack, target, label, events, rate)).run


async def measure_batch(
    stack: Stack,
    target: Target,
    label: str,
    events: Sequence[Event],
    rate: float | None = None,
) -> Measured:
    """:func:`measure`, with the times of every event (for figures of a part of the batch)."""
    assert stack.sandbox is not None
    run = Run(label, len(target.pids), len(events), rate=rate)
    after = await target.watermark()
    await stack.sandbox.clear_calls()
    cpu, sandbox_cpu = CpuMeter(target.pids), CpuMeter([stack.sandbox.pid])
    census = CpuCensus(
        {"consumer": target.pids, "sandbox": [stack.sandbox.pid], "bench driver": [os.getpid()]}
    )
    cpu.start()
    sandbox_cpu.start()
    census.start()
    sent_at: dict[str, float] = {}
    _, complete = await asyncio.gather(
        publish(stack.config.amqp_url, target.exchange, events, sent_at, rate=rate),
        target.wait_done(after, len(events), stack.config.timeout),
    )
    cpu.stop()
    sandbox_cpu.stop()
    census.stop()
    run.machine_busy, run.cores = census.busy, census.cores
    rows = await target.rows(after)
    calls = await stack.sandbox.calls()
    run.completed = len(rows)
    measured = Measured(run, sent_at, {r["event_id"]: r["at"] for r in rows})
    if not complete:
        say(f"{label}: only {len(rows)} of {len(events)} events finished within {stack.config.timeout:.0f} s")
    if not rows:
        return measured
    first = min(sent_at.values())
    run.seconds = max(r["at"] for r in rows) - first
    run.events_per_s = len(rows) / run.seconds if run.seconds > 0 else None
    latencies = [(r["at"] - sent_at[r["event_id"]]) * 1000 for r in rows]
    run.latency_p50_ms = percentile(latencies, 50)
    run.latency_p99_ms = percentile(latencies, 99)
    run.cpu_ms_per_event = cpu.used * 1000 / len(rows)
    run.cpu_ms_per_event_by_group = {name: s * 1000 / len(rows) for name, s in census.seconds.items()}
    run.sandbox_cpu_ms_per_event = sandbox_cpu.used * 1000 / len(rows)
    run.calls_per_event = sum(calls.values()) / len(rows)
    reads = sum(n for endpoint, n in calls.items() if endpoint.startswith("GET "))
    run.reads_per_event = reads / len(rows)
    run.writes_per_event = (sum(calls.values()) - reads) / len(rows)
    run.calls = dict(calls.most_common())
    run.min_writes_per_event = sum(e.min_writes for e in events) / len(events)
    run.contract_rounds_per_event = sum(e.contract_rounds for e in events) / len(events)
    outcome_figures(run, rows)
    eps = f"{run.events_per_s:.1f}" if run.events_per_s else "-"
    say(f"{label}: {len(rows)} events in {run.seconds:.1f} s ({eps}/s)")
    return measured


def outcome_figures(run: Run, rows: Sequence[Any]) -> None:
    """The worker's own figures from sync_outcome rows; the baseline's and the anchor's rows have none."""
    if "status" not in rows[0]:
        run.statuses = {"done": len(rows)}
        return
    run.outcome_calls_per_event = sum(r["api_calls"] for r in rows) / len(rows)
    durations = [float(r["duration_ms"]) for r in rows if r["duration_ms"] is not None]
    run.processing_p50_ms = percentile(durations, 50)
    run.processing_p99_ms = percentile(durations, 99)
    statuses = Counter(r["status"] + (f" ({r['reason']})" if r["reason"] else "") for r in rows)
    run.statuses = dict(statuses.most_common())


def peak_rss(pids: Sequence[int]) -> float:
    return max(peak_rss_mib(pid) for pid in pids)


async def idle_cpu_ms_per_s(pids: Sequence[int], seconds: float = IDLE_SECONDS) -> float:
    """CPU the processes use with nothing to do (outbox relay, health endpoint, heartbeats)."""
    meter = CpuMeter(list(pids))
    meter.start()
    await asyncio.sleep(seconds)
    return meter.stop() * 1000 / seconds


def order_figures(check: OrderCheck) -> dict[str, Any]:
    return {
        "entities": check.entities,
        "version_mismatches": len(check.version_mismatches),
        "applied_out_of_order": len(check.applied_out_of_order),
        "stale_skips": check.stale_skips,
        "examples": (check.version_mismatches + check.applied_out_of_order)[:5],
        "ok": check.ok,
    }


def allowed_events_per_s(concurrency: int, calls_per_event: float | None, latency: float) -> float | None:
    """What the concurrency allows if every call takes `latency`: concurrency / (calls x latency)."""
    if not calls_per_event or latency <= 0:
        return None
    return concurrency / (calls_per_event * latency)
