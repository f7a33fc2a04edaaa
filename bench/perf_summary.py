"""The tables `make bench` prints, made from the scenarios' results."""

from __future__ import annotations

from typing import Any

from bench.perf_isolation import isolation_table
from bench.perf_measure import Run, allowed_events_per_s
from bench.perf_reconcile import reconcile_table
from bench.perf_report import (
    Row,
    figure_rows,
    fmt_number,
    fmt_percent,
    fmt_ratio,
    ratio,
    render_table,
)
from bench.perf_scenarios import Results
from bench.perf_workload import TYPE_ORDER

HEADERS = ["figure", "worker", "baseline", "worker/baseline"]


def _row(figure: str, worker: float | None, baseline: float | None, digits: int = 1, unit: str = "") -> Row:
    return Row(
        figure,
        fmt_number(worker, digits, unit),
        fmt_number(baseline, digits, unit) if baseline is not None else "",
        fmt_ratio(ratio(worker, baseline)) if baseline is not None else "",
    )


def _share(value: float | None, of: float | None) -> float | None:
    return ratio(value, of)


def _order_text(order: dict[str, Any]) -> str:
    return (
        f"{order['entities']} entities: {order['version_mismatches']} with a wrong applied version, "
        f"{order['applied_out_of_order']} applied out of order, {order['stale_skips']} stale skips"
    )


def _statuses(run: Run) -> str:
    return ", ".join(f"{k} {v}" for k, v in run.statuses.items())


def _group(run: Run | None, name: str) -> float | None:
    return run.cpu_ms_per_event_by_group.get(name) if run is not None else None


def _cores(label: str, run: Run | None) -> list[str]:
    if run is None or not run.cores:
        return []
    used = ", ".join(f"{name} {value:.2f}" for name, value in run.cores.items())
    return [f"  CPU cores used, {label}: {used}"]


def _calls(run: Run, top: int = 25) -> list[str]:
    return [f"      {n:6d}  {endpoint}" for endpoint, n in list(run.calls.items())[:top]]


def _latency_rows(s: dict[str, Any]) -> list[Row]:
    w: Run = s["worker"]
    b: Run | None = s["baseline"]
    p: Run = s["paced"]
    bp: Run | None = s["baseline_paced"]
    rate = fmt_number(p.rate, 1)
    return [
        _row("events/s (all published at once)", w.events_per_s, b.events_per_s if b else None),
        _row(
            f"e2e latency p50 at {rate} events/s, ms", p.latency_p50_ms, bp.latency_p50_ms if bp else None, 0
        ),
        _row(
            f"e2e latency p99 at {rate} events/s, ms", p.latency_p99_ms, bp.latency_p99_ms if bp else None, 0
        ),
        _row(
            "e2e latency p50 all at once (queueing), ms", w.latency_p50_ms, b.latency_p50_ms if b else None, 0
        ),
        _row(
            "e2e latency p99 all at once (queueing), ms", w.latency_p99_ms, b.latency_p99_ms if b else None, 0
        ),
        _row("sevDesk calls per event", w.calls_per_event, b.calls_per_event if b else None, 2),
        _row("  of which reads (GET)", w.reads_per_event, b.reads_per_event if b else None, 2),
        _row("  of which writes (POST/PUT/DELETE)", w.writes_per_event, b.writes_per_event if b else None, 2),
        _row("  minimum writes per event (see below)", w.min_writes_per_event, None, 2),
        _row(
            "requests one after another the contract requires (see below)",
            w.contract_rounds_per_event,
            1.0 if b else None,
            2,
        ),
        _row("worker CPU ms per event", w.cpu_ms_per_event, b.cpu_ms_per_event if b else None, 2),
        _row(
            "sandbox CPU ms per event",
            w.sandbox_cpu_ms_per_event,
            b.sandbox_cpu_ms_per_event if b else None,
            2,
        ),
        _row("Postgres CPU ms per event", _group(w, "postgres"), _group(b, "postgres"), 2),
        _row("RabbitMQ CPU ms per event", _group(w, "rabbitmq"), _group(b, "rabbitmq"), 2),
        _row(
            "whole-system CPU ms per event (own + Postgres + RabbitMQ)",
            w.system_cpu_ms_per_event,
            b.system_cpu_ms_per_event if b else None,
            2,
        ),
        _row("peak RSS, MiB", w.peak_rss_mib, b.peak_rss_mib if b else None),
        _row(
            "allowed events/s = concurrency / (minimum calls x latency)",
            s["allowed_events_per_s"],
            s["baseline_allowed_events_per_s"] if b else None,
        ),
        Row(
            "events/s as share of allowed",
            fmt_percent(_share(w.events_per_s, s["allowed_events_per_s"])),
            fmt_percent(_share(b.events_per_s, s["baseline_allowed_events_per_s"])) if b else "",
        ),
        _row(
            "allowed events/s = concurrency / (contract's requests in a row x latency)",
            s.get("contract_allowed_events_per_s"),
            s["baseline_allowed_events_per_s"] if b else None,
        ),
        _row("processing time p50 (duration_ms), ms", w.processing_p50_ms, None, 0),
        _row("processing time p99 (duration_ms), ms", w.processing_p99_ms, None, 0),
        _row("idle worker CPU, ms per s", s["idle_cpu_ms_per_s"], None, 2),
        Row(
            "machine CPU busy (all cores, all processes)",
            fmt_percent(w.machine_busy),
            fmt_percent(b.machine_busy) if b else "",
        ),
    ]


def latency_table(s: dict[str, Any]) -> list[str]:
    w: Run = s["worker"]
    b: Run | None = s["baseline"]
    p: Run = s["paced"]
    rate = fmt_number(p.rate, 1)
    lines = [
        f"== latency: {w.events} events (realistic mix), {s['latency_s'] * 1000:.0f} ms per sevDesk call, "
        f"{w.processes} worker process(es), concurrency {s['concurrency']} in all; baseline (uvloop, "
        f"one confirmed result per event): concurrency {s['baseline_concurrency']}, same prefetch",
        *render_table(HEADERS, figure_rows(_latency_rows(s))),
        f"  outcomes: {_statuses(w)}",
        f"  paced phase: {p.events} new events at {rate}/s; outcomes: {_statuses(p)}",
        f"  per-entity order: {_order_text(s['order'])}",
        *_cores("worker run", w),
        *_cores("baseline run", b),
        *_cores("worker paced", p),
        "  sevDesk calls by endpoint (worker, all at once):",
        *_calls(w),
    ]
    return lines


def _reference_row(name: str, r: Run | None) -> list[str]:
    """A cpu-table row of the baseline or the FastStream anchor (empty if it did not run)."""
    if r is None:
        return []
    cpu = [fmt_number(r.cpu_ms_per_event, 2), fmt_number(r.sandbox_cpu_ms_per_event, 2)]
    cpu += [fmt_number(_group(r, "postgres"), 2), fmt_number(r.system_cpu_ms_per_event, 2)]
    tail = [fmt_number(r.calls_per_event, 2), "", "", fmt_percent(r.machine_busy)]
    return [name, str(r.completed), fmt_number(r.events_per_s), *cpu, *tail]


def _cpu_comparisons(u: Run, b: Run | None, f: Run | None) -> list[str]:
    """customer.updated against the baseline and against FastStream's consume+publish."""
    lines: list[str] = []
    if b is not None:
        compare = [
            _row("customer.updated: events/s", u.events_per_s, b.events_per_s),
            _row("customer.updated: worker CPU ms per event", u.cpu_ms_per_event, b.cpu_ms_per_event, 2),
            _row(
                "customer.updated: whole-system CPU ms per event",
                u.system_cpu_ms_per_event,
                b.system_cpu_ms_per_event,
                2,
            ),
            _row("customer.updated: sevDesk calls per event", u.calls_per_event, b.calls_per_event, 2),
            _row("peak RSS, MiB", u.peak_rss_mib, b.peak_rss_mib),
        ]
        lines += ["", *render_table(HEADERS, figure_rows(compare))]
    if f is not None:
        anchor = [
            _row("customer.updated: CPU ms per event", u.cpu_ms_per_event, f.cpu_ms_per_event, 2),
            _row(
                "customer.updated: whole-system CPU ms per event",
                u.system_cpu_ms_per_event,
                f.system_cpu_ms_per_event,
                2,
            ),
            _row("customer.updated: events/s", u.events_per_s, f.events_per_s),
        ]
        lines += [
            "",
            *render_table(["figure", "worker", "FastStream", "worker/FastStream"], figure_rows(anchor)),
        ]
    return lines


def cpu_table(s: dict[str, Any]) -> list[str]:
    headers = [
        "event type",
        "events",
        "events/s",
        "CPU ms/event",
        "sandbox CPU ms/event",
        "Postgres CPU ms/event",
        "system CPU ms/event",
        "calls/event",
        "min writes/event",
        "processing p50 ms",
        "machine busy",
    ]
    rows: list[list[str]] = []
    per_type: dict[str, Run] = s["per_type"]
    for t in TYPE_ORDER:
        r = per_type[t]
        rows.append(
            [
                t,
                str(r.completed),
                fmt_number(r.events_per_s),
                fmt_number(r.cpu_ms_per_event, 2),
                fmt_number(r.sandbox_cpu_ms_per_event, 2),
                fmt_number(_group(r, "postgres"), 2),
                fmt_number(r.system_cpu_ms_per_event, 2),
                fmt_number(r.calls_per_event, 2),
                fmt_number(r.min_writes_per_event, 2),
                fmt_number(r.processing_p50_ms, 0),
                fmt_percent(r.machine_busy),
            ]
        )
    b: Run | None = s["baseline"]
    f: Run | None = s.get("faststream")
    rows += [
        _reference_row("baseline (customer.updated bodies)", b),
        _reference_row("FastStream consume+publish", f),
    ]
    rows = [row for row in rows if row]
    u = per_type["customer.updated"]
    title = "== cpu: sandbox latency 0, one batch per event type, 1 worker process"
    if s["profiled"]:
        title += " (PROFILED: CPU figures include the profiler's overhead)"
    lines = [title, *render_table(headers, rows), *_cpu_comparisons(u, b, f)]
    lines += [
        f"  idle worker CPU: {s['idle_cpu_ms_per_s']:.2f} ms per s (included in the figures above)",
        f"  per-entity order: {_order_text(s['order'])}",
        f"  customer.updated outcomes: {_statuses(u)}",
        *_cores("customer.updated", u),
        *_cores("baseline", b),
        *_cores("FastStream", f),
        "  sevDesk calls by endpoint (customer.updated):",
        *_calls(u),
    ]
    return lines


def scale_table(s: dict[str, Any]) -> list[str]:
    lines = _scale_part(s["runs"], s["order"], s["concurrency"], s)
    default = s.get("default_runs")
    if default is not None and s["default_concurrency"] != s["concurrency"]:
        lines += _scale_part(default, s["default_order"], s["default_concurrency"], s)
    return lines


def _scale_part(
    runs: dict[int, Run], orders: dict[int, dict[str, Any]], concurrency: int, s: dict[str, Any]
) -> list[str]:
    one = runs.get(1)
    headers = [
        "worker processes",
        "events/s",
        "speed-up",
        "CPU ms/event",
        "calls/event",
        "peak RSS MiB",
        "e2e p50 ms",
        "share of allowed at min calls",
        "machine busy",
        "stale skips",
        "order",
    ]
    rows = []
    for count, run in sorted(runs.items()):
        order = orders.get(count)
        allowed = allowed_events_per_s(count * concurrency, run.min_writes_per_event, s["latency_s"])
        rows.append(
            [
                str(count),
                fmt_number(run.events_per_s),
                fmt_ratio(ratio(run.events_per_s, one.events_per_s if one else None)),
                fmt_number(run.cpu_ms_per_event, 2),
                fmt_number(run.calls_per_event, 2),
                fmt_number(run.peak_rss_mib),
                fmt_number(run.latency_p50_ms, 0),
                fmt_percent(ratio(run.events_per_s, allowed)),
                fmt_percent(run.machine_busy),
                str(run.statuses.get("skipped (stale)", 0)),
                ("ok" if order["ok"] else "BROKEN") if order else "(latency run)",
            ]
        )
    lines = [
        f"== scale: the mix, {s['latency_s'] * 1000:.0f} ms per sevDesk call, N worker processes on one"
        f" queue, concurrency {concurrency} (prefetch {s['prefetch']}) each",
        *render_table(headers, rows),
    ]
    for count, order in sorted(orders.items()):
        lines.append(f"  {count} processes, per-entity order: {_order_text(order)}")
        lines += [f"    ! {example}" for example in order["examples"]]
    for count, run in sorted(runs.items()):
        lines += _cores(f"{count} process(es)", run)
    return lines


def _trend(samples: list[tuple[float, float]], points: int = 5) -> str:
    if not samples:
        return "-"
    picks = sorted({round(i * (len(samples) - 1) / (points - 1)) for i in range(points)})
    return ", ".join(f"{samples[i][0]:.0f}: {samples[i][1]:.1f}" for i in picks)


def backlog_table(s: dict[str, Any]) -> list[str]:
    rows = [
        ["backlog published before the worker started", f"{s['backlog']:,}"],
        [f"processed in {s['seconds']:.0f} s", f"{s['processed']:,} ({s['events_per_s']:.1f}/s)"],
        ["worker CPU ms per event", fmt_number(s["cpu_ms_per_event"], 2)],
        ["peak RSS (VmHWM), MiB", fmt_number(s["peak_rss_mib"])],
        ["RSS over time (s: MiB)", _trend(s["rss_samples"], 7)],
    ]
    return [
        f"== backlog: small product events queued in RabbitMQ before 1 worker starts, "
        f"{s['latency_s'] * 1000:.0f} ms per sevDesk call",
        *render_table(["figure", "worker"], rows),
    ]


def scenario_tables(results: Results) -> list[list[str]]:
    makers = {
        "latency": latency_table,
        "isolation": isolation_table,
        "cpu": cpu_table,
        "scale": scale_table,
        "backlog": backlog_table,
        "reconcile": reconcile_table,
    }
    tables = [makers[name](s) for name, s in results.scenarios.items()]
    if "latency" in results.scenarios or "cpu" in results.scenarios:
        tables.append(
            [
                "minimum writes per event: the sevDesk objects an event creates or changes compared with",
                "the entity's previous version (a company with address, e-mail, phone and contact person",
                "= 5, an update of the e-mail = 1, an update that changes nothing = 0, a product or a deal",
                "= 1), as if a perfect worker knew sevDesk's state without reading it.",
                "",
                "requests one after another the contract requires: what any worker keeping the contract",
                "waits for in a row (a customer number or SKU or deal number looked up before its create,",
                "a drawn customer number fetched and checked, a contact before its parts, which go side by",
                "side, an offer or invoice read back for its totals; an update that changes something = 1).",
            ]
        )
    return tables
