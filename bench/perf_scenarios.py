"""The scenarios of `make bench`, each on a fresh stack: latency, isolation, cpu, scale, backlog,
reconcile."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from bench import perf_profile
from bench.perf_baseline import BaselineProcess
from bench.perf_faststream import AnchorProcess
from bench.perf_isolation import run_isolation
from bench.perf_measure import (
    BaselineTarget,
    Run,
    WorkerTarget,
    allowed_events_per_s,
    idle_cpu_ms_per_s,
    measure,
    order_figures,
    peak_rss,
    say,
)
from bench.perf_order import check_order
from bench.perf_proc import CpuMeter, RssSampler
from bench.perf_reconcile import run_reconcile_bench
from bench.perf_stack import Stack, StackConfig, fresh_stack, publish
from bench.perf_workload import (
    TYPE_ORDER,
    Event,
    backlog_workload,
    mix_workload,
    tenant_ids,
    type_batches,
)

MIX_EVENTS_PER_ROUND = 21


@dataclass(frozen=True)
class Config:
    scenarios: tuple[str, ...]
    tenants: int
    rounds: int
    latency: float
    prefetch: int  # SEVSYNC_PREFETCH: deliveries held per worker process
    concurrency: int  # SEVSYNC_CONCURRENCY: events at once per worker process, and in the baseline
    tenant_concurrency: int  # SEVSYNC_TENANT_CONCURRENCY: events of one tenant at once per process
    workers: int
    scale_workers: int
    # scale: events at once per process. Low enough that N processes stay far from the two cores'
    # limit, so that sevDesk's latency, not the machine, is what the processes divide. Scale is also
    # measured at `concurrency` (the product's default), printed beside it.
    scale_concurrency: int
    isolation_concurrency: int
    load: float
    paced_seconds: float
    slow_latency: float  # isolation: seconds per sevDesk call of the slow tenant
    slow_rounds: int  # isolation: extra rounds of the mix of the slow tenant
    cpu_tenants: int
    cpu_entities: int
    update_rounds: int
    backlog_events: int
    backlog_seconds: float
    backlog_latency: float
    reconcile_contacts: int
    reconcile_parts: int
    log_level: str
    seed: int
    timeout: float
    baseline: bool
    profile: bool
    amqp_url: str
    postgres_url: str

    def public(self) -> dict[str, Any]:
        """The parameters worth printing (no URLs: they may carry credentials)."""
        return {k: v for k, v in asdict(self).items() if k not in ("amqp_url", "postgres_url")}

    def stack(self) -> StackConfig:
        return StackConfig(
            amqp_url=self.amqp_url,
            postgres_url=self.postgres_url,
            prefetch=self.prefetch,
            concurrency=self.concurrency,
            tenant_concurrency=self.tenant_concurrency,
            log_level=self.log_level,
            timeout=self.timeout,
        )


async def run_baseline(
    config: Config, stack: Stack, batches: Sequence[tuple[str, Sequence[Event], float | None]]
) -> tuple[list[Run], float | None]:
    """The baseline consumer over the same batches; returns the runs and its peak RSS.

    Same prefetch and concurrency as the workers, on uvloop, publishing a result per event.
    """
    if not config.baseline:
        return [], None
    baseline = BaselineProcess(stack)
    await baseline.start()
    try:
        runs = [await measure(stack, BaselineTarget(stack, baseline), *batch) for batch in batches]
        return runs, peak_rss([baseline.pid])
    finally:
        await baseline.stop()


def paced_workload(config: Config, tenants: Sequence[str], rate: float) -> list[Event]:
    """About `rate x paced_seconds` new events in whole tenant rounds, so the mix keeps its shape."""
    count = max(MIX_EVENTS_PER_ROUND, int(rate * config.paced_seconds))
    rounds = math.ceil(count / (MIX_EVENTS_PER_ROUND * len(tenants)))
    active = math.ceil(count / (MIX_EVENTS_PER_ROUND * rounds))
    return mix_workload(tenants[:active], rounds, config.seed + 1, first_round=config.rounds)


async def run_latency(config: Config) -> dict[str, Any]:
    tenants = tenant_ids(config.tenants)
    events = mix_workload(tenants, config.rounds, config.seed)
    say(f"latency: {len(events)} events over {len(tenants)} tenants, {config.latency * 1000:.0f} ms per call")
    async with fresh_stack(config.stack(), "latency", tenants) as stack:
        assert stack.sandbox is not None
        assert stack.pool is not None
        workers = stack.workers(config.workers)
        await workers.start()
        try:
            await stack.sandbox.set_latency(config.latency)
            idle = await idle_cpu_ms_per_s(workers.pids)
            target = WorkerTarget(stack, workers)
            burst = await measure(stack, target, "latency/worker", events)
            rate = config.load * (burst.events_per_s or 1.0)
            paced_events = paced_workload(config, tenants, rate)
            paced = await measure(stack, target, "latency/worker paced", paced_events, rate)
            burst.peak_rss_mib = paced.peak_rss_mib = peak_rss(workers.pids)
            order = await check_order(stack.pool, [*events, *paced_events])
        finally:
            await workers.stop()
        runs, baseline_rss = await run_baseline(
            config,
            stack,
            [("latency/baseline", events, None), ("latency/baseline paced", paced_events, rate)],
        )
        for run in runs:
            run.peak_rss_mib = baseline_rss
    concurrency = config.concurrency * config.workers
    return {
        "worker": burst,
        "paced": paced,
        "baseline": runs[0] if runs else None,
        "baseline_paced": runs[1] if runs else None,
        "idle_cpu_ms_per_s": idle,
        "concurrency": concurrency,  # events at once, all worker processes together
        "baseline_concurrency": config.concurrency,  # with the workers' prefetch
        "prefetch": config.prefetch,
        "latency_s": config.latency,
        # What the concurrency allows a worker that makes only the minimum calls (not its own count).
        "allowed_events_per_s": allowed_events_per_s(concurrency, burst.min_writes_per_event, config.latency),
        "baseline_allowed_events_per_s": allowed_events_per_s(config.concurrency, 1.0, config.latency),
        # What it allows any worker that keeps the contract: its requests one after another.
        "contract_allowed_events_per_s": allowed_events_per_s(
            concurrency, burst.contract_rounds_per_event, config.latency
        ),
        "order": order_figures(order),
    }


async def run_cpu(config: Config) -> dict[str, Any]:
    tenants = tenant_ids(config.cpu_tenants)
    batches = type_batches(tenants, config.cpu_entities, config.update_rounds, config.seed)
    say(f"cpu: {sum(map(len, batches.values()))} events in {len(batches)} batches, no latency")
    profile: dict[str, Any] | None = None
    async with fresh_stack(config.stack(), "cpu", tenants) as stack:
        assert stack.sandbox is not None
        assert stack.pool is not None
        spy = perf_profile.pyspy() if config.profile else None
        command = perf_profile.cprofile_command() if config.profile and spy is None else None
        workers = stack.workers(1, command)
        await workers.start()
        recorder = perf_profile.PySpyRecorder(spy) if spy else None
        try:
            if recorder is not None:
                await recorder.start(workers.pids[0])
            await stack.sandbox.set_latency(0)
            idle = await idle_cpu_ms_per_s(workers.pids)
            target = WorkerTarget(stack, workers)
            per_type = {t: await measure(stack, target, f"cpu/{t}", batches[t]) for t in TYPE_ORDER}
            rss = peak_rss(workers.pids)
            for run in per_type.values():
                run.peak_rss_mib = rss
            order = await check_order(stack.pool, [e for t in TYPE_ORDER for e in batches[t]])
        finally:
            if recorder is not None and await recorder.stop():
                profile = {"tool": "py-spy", "path": str(recorder.output)}
            await workers.stop()
        if command is not None and perf_profile.CPROFILE_OUTPUT.exists():
            profile = {"tool": "cProfile", "path": str(perf_profile.CPROFILE_OUTPUT)}
        runs, baseline_rss = await run_baseline(
            config, stack, [("cpu/baseline", batches["customer.updated"], None)]
        )
        for run in runs:
            run.peak_rss_mib = baseline_rss
        anchor = await run_anchor(stack, batches["customer.updated"])
    return {
        "per_type": per_type,
        "baseline": runs[0] if runs else None,
        "faststream": anchor,
        "idle_cpu_ms_per_s": idle,
        "order": order_figures(order),
        "profile": profile,
        "profiled": config.profile,
    }


async def run_anchor(stack: Stack, events: Sequence[Event]) -> Run:
    """FastStream's consume+publish over `events`: the anchor of the worker's CPU per event."""
    anchor = AnchorProcess(stack)
    await anchor.start()
    try:
        run = await measure(stack, anchor, "cpu/faststream", events)
        run.peak_rss_mib = peak_rss(anchor.pids)
        return run
    finally:
        await anchor.stop()


async def scale_runs(
    config: Config, events: Sequence[Event], concurrency: int, one: Run | None
) -> tuple[dict[int, Run], dict[int, dict[str, Any]]]:
    """The mix with 1 and `scale_workers` processes at `concurrency` each (1 = `one` if given)."""
    tenants = tenant_ids(config.tenants)
    runs: dict[int, Run] = {}
    orders: dict[int, dict[str, Any]] = {}
    if one is not None:
        runs[1] = one
        say(f"scale: 1 process at concurrency {concurrency} = the latency scenario's run")
    for count in (1, config.scale_workers):
        if count in runs:
            continue
        say(f"scale: {len(events)} events, {count} worker process(es), concurrency {concurrency}")
        stack_config = replace(config.stack(), concurrency=concurrency)
        async with fresh_stack(stack_config, f"scale-{count}-c{concurrency}", tenants) as stack:
            assert stack.sandbox is not None
            assert stack.pool is not None
            workers = stack.workers(count)
            await workers.start()
            try:
                await stack.sandbox.set_latency(config.latency)
                label = f"scale/{count} at {concurrency}"
                run = await measure(stack, WorkerTarget(stack, workers), label, events)
                run.peak_rss_mib = peak_rss(workers.pids)
                orders[count] = order_figures(await check_order(stack.pool, events))
            finally:
                await workers.stop()
        runs[count] = run
    return runs, orders


async def run_scale(config: Config, one: Run | None) -> dict[str, Any]:
    """`one`: the latency scenario's run, 1 process at the default concurrency (reused if given)."""
    events = mix_workload(tenant_ids(config.tenants), config.rounds, config.seed)
    same = one if config.scale_concurrency == config.concurrency else None
    runs, orders = await scale_runs(config, events, config.scale_concurrency, same)
    default_runs, default_orders = runs, orders
    if config.scale_concurrency != config.concurrency:
        default_runs, default_orders = await scale_runs(config, events, config.concurrency, one)
    return {
        "runs": runs,
        "order": orders,
        "latency_s": config.latency,
        "concurrency": config.scale_concurrency,  # per process
        "prefetch": config.prefetch,
        "default_runs": default_runs,
        "default_order": default_orders,
        "default_concurrency": config.concurrency,
    }


async def run_backlog(config: Config) -> dict[str, Any]:
    tenants = tenant_ids(config.tenants)
    events = backlog_workload(tenants, config.backlog_events, config.seed)
    async with fresh_stack(config.stack(), "backlog", tenants) as stack:
        assert stack.sandbox is not None
        declaring = stack.workers(1)  # declares the queue, then leaves
        await declaring.start()
        await declaring.stop()
        started = time.monotonic()
        await publish(config.amqp_url, stack.names["exchange"], events, {})
        say(f"backlog: {len(events)} events published in {time.monotonic() - started:.1f} s")
        await stack.sandbox.set_latency(config.backlog_latency)
        workers = stack.workers(1)
        await workers.start()
        sampler = RssSampler(workers.pids)
        cpu = CpuMeter(workers.pids)
        try:
            sampler.start()
            cpu.start()
            started = time.monotonic()
            if config.backlog_seconds > 0:
                await asyncio.sleep(config.backlog_seconds)
            else:
                await stack.wait_final(0, len(events), config.timeout, poll=1.0)
            seconds = time.monotonic() - started
            rss = peak_rss(workers.pids)
            done = await stack.final_count(0)
            cpu.stop()
        finally:
            await sampler.stop()
            await workers.stop()
    say(f"backlog: {done} events processed in {seconds:.0f} s, peak RSS {rss:.0f} MiB")
    samples = sampler.samples
    return {
        "backlog": len(events),
        "latency_s": config.backlog_latency,
        "seconds": seconds,
        "processed": done,
        "events_per_s": done / seconds,
        "cpu_ms_per_event": cpu.used * 1000 / done if done else None,
        "peak_rss_mib": rss,
        "rss_samples": [(round(t, 1), round(m, 1)) for t, m in samples],
    }


@dataclass
class Results:
    scenarios: dict[str, dict[str, Any]] = field(default_factory=dict)
    profile: dict[str, Any] | None = None
    seconds: float = 0.0


async def run_scenarios(config: Config) -> Results:
    results = Results()
    if "latency" in config.scenarios:
        results.scenarios["latency"] = await run_latency(config)
    if "isolation" in config.scenarios:
        results.scenarios["isolation"] = await run_isolation(config)
    if "cpu" in config.scenarios:
        results.scenarios["cpu"] = cpu = await run_cpu(config)
        results.profile = cpu["profile"]
    if "scale" in config.scenarios:
        latency = results.scenarios.get("latency")
        one = latency["worker"] if latency and config.workers == 1 else None
        results.scenarios["scale"] = await run_scale(config, one)
    if "backlog" in config.scenarios:
        results.scenarios["backlog"] = await run_backlog(config)
    if "reconcile" in config.scenarios:
        results.scenarios["reconcile"] = await run_reconcile_bench(
            config.postgres_url, config.reconcile_contacts, config.reconcile_parts
        )
    return results
