"""The isolation scenario of `make bench`: one slow, busy tenant must not slow the other tenants.

On a fresh stack and with the same worker process(es) throughout, two measured phases:

  reference  the realistic mix over all tenants, every sevDesk call at the usual latency
  isolation  a new mix for the same tenants, plus the slow tenant (the first one): its account
             answers every call after `slow_latency` (an account-scoped latency fault of the
             sandbox) and it has `slow_rounds` extra rounds, spread evenly through the queue

The figures: the other tenants' events/s and end-to-end latency in the second phase against all
events' in the first (goal: at least 90 % of the reference throughput), how long the slow tenant's
events took until all had a final outcome, and how many deliveries the worker deferred (read from
its `/metrics`; "n/a" when the worker has no such counter).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from bench.perf_measure import Measured, Run, WorkerTarget, measure_batch, order_figures, peak_rss, say
from bench.perf_order import check_order
from bench.perf_report import (
    fmt_number,
    fmt_percent,
    fmt_ratio,
    percentile,
    ratio,
    render_table,
    verdict,
)
from bench.perf_stack import fresh_stack
from bench.perf_workload import Event, mix_workload, tenant_ids

if TYPE_CHECKING:
    from bench.perf_scenarios import Config

# The worker's counter of settled deliveries by decision (ack, retry, defer, requeue).
DEFER_COUNTER = "sevsync_deliveries_settled_total"
DEFER_DECISION = "defer"


@dataclass(frozen=True)
class Figures:
    """Some events of a measured batch: how many finished, how fast, how late (from its first publish)."""

    events: int  # published
    completed: int  # with a final outcome
    seconds: float | None  # the batch's first publish to the last of these events' outcomes
    events_per_s: float | None
    latency_p50_ms: float | None
    latency_p99_ms: float | None


def group_figures(ids: Sequence[str], sent_at: Mapping[str, float], finished: Mapping[str, float]) -> Figures:
    """The figures of the events `ids`, timed from the first publish of the whole batch (`sent_at`)."""
    done = [i for i in ids if i in finished]
    if not done or not sent_at:
        return Figures(len(ids), len(done), None, None, None, None)
    seconds = max(finished[i] for i in done) - min(sent_at.values())
    latencies = [(finished[i] - sent_at[i]) * 1000 for i in done]
    return Figures(
        events=len(ids),
        completed=len(done),
        seconds=seconds,
        events_per_s=len(done) / seconds if seconds > 0 else None,
        latency_p50_ms=percentile(latencies, 50),
        latency_p99_ms=percentile(latencies, 99),
    )


def spread(base: Sequence[Event], extra: Sequence[Event]) -> list[Event]:
    """`extra` merged evenly into `base`; each keeps its own order (so every entity's versions do)."""
    keyed = [((i + 0.5) / len(base), 0, e) for i, e in enumerate(base)]
    keyed += [((j + 0.5) / len(extra), 1, e) for j, e in enumerate(extra)]
    keyed.sort(key=lambda k: (k[0], k[1]))
    return [e for _, _, e in keyed]


def isolation_workload(
    tenants: Sequence[str], rounds: int, slow_rounds: int, seed: int
) -> tuple[list[Event], list[Event]]:
    """The reference mix, and the second phase's: new entities, the first tenant with extra rounds."""
    reference = mix_workload(tenants, rounds, seed)
    others = mix_workload(tenants[1:], rounds, seed + 2, first_round=rounds)
    slow = mix_workload(tenants[:1], rounds + slow_rounds, seed + 3, first_round=rounds)
    return reference, spread(others, slow)


def _figures_of(measured: Measured, events: Sequence[Event]) -> Figures:
    return group_figures([e.event_id for e in events], measured.sent_at, measured.finished)


async def run_isolation(config: Config) -> dict[str, Any]:
    tenants = tenant_ids(config.tenants)
    slow_tenant = tenants[0]
    reference_events, events = isolation_workload(tenants, config.rounds, config.slow_rounds, config.seed)
    slow_events = [e for e in events if e.tenant == slow_tenant]
    other_events = [e for e in events if e.tenant != slow_tenant]
    say(
        f"isolation: {len(reference_events)} events over {len(tenants)} tenants, then {len(other_events)} "
        f"with {len(slow_events)} of {slow_tenant} at {config.slow_latency * 1000:.0f} ms per call"
    )
    deferred: dict[str, float | None] = {}
    stack_config = replace(config.stack(), concurrency=config.isolation_concurrency)
    async with fresh_stack(stack_config, "isolation", tenants) as stack:
        assert stack.sandbox is not None
        assert stack.pool is not None
        workers = stack.workers(config.workers)
        await workers.start()
        try:
            target = WorkerTarget(stack, workers)
            await stack.sandbox.set_latency(config.latency)
            reference = await measure_batch(stack, target, "isolation/reference", reference_events)
            deferred["reference"] = await workers.counter(DEFER_COUNTER, decision=DEFER_DECISION)
            slow_token = stack.tenants[slow_tenant]
            await stack.sandbox.set_latency(config.latency, {slow_token: config.slow_latency})
            isolated = await measure_batch(stack, target, "isolation/slow tenant", events)
            total = await workers.counter(DEFER_COUNTER, decision=DEFER_DECISION)
            deferred["isolation"] = None if total is None else total - (deferred["reference"] or 0.0)
            reference.run.peak_rss_mib = isolated.run.peak_rss_mib = peak_rss(workers.pids)
            order = await check_order(stack.pool, [*reference_events, *events])
        finally:
            await workers.stop()
    return {
        "tenants": len(tenants),
        "slow_tenant": slow_tenant,
        "latency_s": config.latency,
        "slow_latency_s": config.slow_latency,
        "slow_rounds": config.slow_rounds,
        "workers": config.workers,
        "prefetch": config.prefetch,
        "concurrency": config.isolation_concurrency,
        "tenant_concurrency": config.tenant_concurrency,
        "reference_run": reference.run,
        "isolation_run": isolated.run,
        "reference": _figures_of(reference, reference_events),
        "others": _figures_of(isolated, other_events),
        "slow": _figures_of(isolated, slow_events),
        "deferred": deferred,
        "order": order_figures(order),
    }


# --- report -----------------------------------------------------------------------------------------


def _count(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f}"


def _ratio_row(
    figure: str, reference: float | None, measured: float | None, digits: int, *, as_share: bool = False
) -> list[str]:
    """The second phase's figure against the reference's, as a share (the goal's form) or a factor."""
    value = ratio(measured, reference)
    shown = fmt_percent(value) if as_share else fmt_ratio(value)
    return [figure, fmt_number(reference, digits), fmt_number(measured, digits), shown]


def isolation_table(s: dict[str, Any]) -> list[str]:
    ref: Figures = s["reference"]
    others: Figures = s["others"]
    slow: Figures = s["slow"]
    runs: tuple[Run, Run] = (s["reference_run"], s["isolation_run"])
    rows = [
        ["events (of these tenants)", f"{ref.events:,}", f"{others.events:,}", ""],
        _ratio_row("events/s", ref.events_per_s, others.events_per_s, 1, as_share=True),
        _ratio_row("e2e latency p50, ms", ref.latency_p50_ms, others.latency_p50_ms, 0),
        _ratio_row("e2e latency p99, ms", ref.latency_p99_ms, others.latency_p99_ms, 0),
        [
            "deliveries deferred by the worker",
            _count(s["deferred"]["reference"]),
            _count(s["deferred"]["isolation"]),
            "",
        ],
        _ratio_row(
            "sevDesk calls per event (whole phase)", runs[0].calls_per_event, runs[1].calls_per_event, 2
        ),
        [
            "machine CPU busy (all cores, all processes)",
            fmt_percent(runs[0].machine_busy),
            fmt_percent(runs[1].machine_busy),
            "",
        ],
    ]
    headers = ["figure", "reference: all tenants", f"others, {s['slow_tenant']} slow", "others/reference"]
    order = s["order"]
    return [
        f"== isolation: the mix over {s['tenants']} tenants, {s['latency_s'] * 1000:.0f} ms per sevDesk "
        f"call, {s['workers']} worker process(es), concurrency {s['concurrency']} (one tenant "
        f"{s['tenant_concurrency']}) and prefetch {s['prefetch']} per process",
        f"  second phase: {s['slow_tenant']} answered after {s['slow_latency_s'] * 1000:.0f} ms per call, "
        f"with {s['slow_rounds']} extra rounds spread through the queue",
        *render_table(headers, rows),
        f"  {s['slow_tenant']}: {slow.completed} of {slow.events} events final after "
        f"{fmt_number(slow.seconds, 1, 's')} (e2e latency p50 {fmt_number(slow.latency_p50_ms, 0, 'ms')}, "
        f"p99 {fmt_number(slow.latency_p99_ms, 0, 'ms')})",
        *(f"  outcomes, {r.label}: {', '.join(f'{k} {v}' for k, v in r.statuses.items())}" for r in runs),
        f"  per-entity order: {order['entities']} entities, {order['version_mismatches']} with a wrong "
        f"applied version, {order['applied_out_of_order']} applied out of order",
    ]


def isolation_goal(s: dict[str, Any]) -> float:
    """The share of the reference the others keep at least: all but the slow tenant's own slots.

    The slow tenant may run `tenant_concurrency` of the worker's `concurrency` events at once and
    no more, however much of the queue it fills; the other tenants keep the rest.
    """
    return float(s["concurrency"] - s["tenant_concurrency"]) / float(s["concurrency"])


def isolation_targets(s: dict[str, Any]) -> list[list[str]]:
    ref: Figures = s["reference"]
    others: Figures = s["others"]
    slow: Figures = s["slow"]
    share = ratio(others.events_per_s, ref.events_per_s)
    slow_ms = f"{s['slow_latency_s'] * 1000:.0f} ms/call"
    goal = isolation_goal(s)
    return [
        [
            f"isolation: others' events/s with {s['slow_tenant']} slow ({slow_ms}) and busy vs without",
            f"{fmt_number(others.events_per_s)} of {fmt_number(ref.events_per_s)} events/s = "
            f"{fmt_percent(share)}",
            f">= {fmt_percent(goal)}",
            verdict(share >= goal if share is not None else None),
        ],
        [
            f"isolation: every event of the slow tenant {s['slow_tenant']} final",
            f"{slow.completed} of {slow.events} after {fmt_number(slow.seconds, 0, 's')}",
            "all",
            verdict(slow.completed == slow.events),
        ],
    ]
