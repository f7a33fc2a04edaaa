"""The tables `make bench` prints, made from the scenarios' results."""

from __future__ import annotations

from typing import Any

from bench.perf_isolation import isolation_table, isolation_targets
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
    verdict,
)
from bench.perf_scenarios import Results
from bench.perf_workload import TYPE_ORDER

RSS_TARGET_MIB = 200e6 / 2**20  # 200 MB
CPU_TARGET_MS = 2.0
THROUGHPUT_TARGET = 0.8
SCALE_TARGET = 2.5
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


def latency_table(s: dict[str, Any]) -> list[str]:
    w: Run = s["worker"]
    b: Run | None = s["baseline"]
    p: Run = s["paced"]
    bp: Run | None = s["baseline_paced"]
    rate = fmt_number(p.rate, 1)
    rows = [
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
        _row("worker CPU ms per event", w.cpu_ms_per_event, b.cpu_ms_per_event if b else None, 2),
        _row(
            "sandbox CPU ms per event",
            w.sandbox_cpu_ms_per_event,
            b.sandbox_cpu_ms_per_event if b else None,
            2,
        ),
        _row("Postgres CPU ms per event", _group(w, "postgres"), _group(b, "postgres"), 2),
        _row("RabbitMQ CPU ms per event", _group(w, "rabbitmq"), _group(b, "rabbitmq"), 2),
        _row("peak RSS, MiB", w.peak_rss_mib, b.peak_rss_mib if b else None),
        _row(
            "allowed events/s = concurrency / (calls x latency)",
            s["allowed_events_per_s"],
            s["baseline_allowed_events_per_s"] if b else None,
        ),
        Row(
            "events/s as share of allowed",
            fmt_percent(_share(w.events_per_s, s["allowed_events_per_s"])),
            fmt_percent(_share(b.events_per_s, s["baseline_allowed_events_per_s"])) if b else "",
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
    lines = [
        f"== latency: {w.events} events (realistic mix), {s['latency_s'] * 1000:.0f} ms per sevDesk call, "
        f"{w.processes} worker process(es), concurrency {s['concurrency']} in all; "
        f"baseline: concurrency (= prefetch) {s['baseline_concurrency']}",
        *render_table(HEADERS, figure_rows(rows)),
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


def cpu_table(s: dict[str, Any]) -> list[str]:
    headers = [
        "event type",
        "events",
        "events/s",
        "CPU ms/event",
        "sandbox CPU ms/event",
        "Postgres CPU ms/event",
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
                fmt_number(r.calls_per_event, 2),
                fmt_number(r.min_writes_per_event, 2),
                fmt_number(r.processing_p50_ms, 0),
                fmt_percent(r.machine_busy),
            ]
        )
    b: Run | None = s["baseline"]
    if b is not None:
        rows.append(
            [
                "baseline (customer.updated bodies)",
                str(b.completed),
                fmt_number(b.events_per_s),
                fmt_number(b.cpu_ms_per_event, 2),
                fmt_number(b.sandbox_cpu_ms_per_event, 2),
                fmt_number(_group(b, "postgres"), 2),
                fmt_number(b.calls_per_event, 2),
                "",
                "",
                fmt_percent(b.machine_busy),
            ]
        )
    u = per_type["customer.updated"]
    title = "== cpu: sandbox latency 0, one batch per event type, 1 worker process"
    if s["profiled"]:
        title += " (PROFILED: CPU figures include the profiler's overhead)"
    lines = [title, *render_table(headers, rows)]
    if b is not None:
        compare = [
            _row("customer.updated: events/s", u.events_per_s, b.events_per_s),
            _row("customer.updated: worker CPU ms per event", u.cpu_ms_per_event, b.cpu_ms_per_event, 2),
            _row("customer.updated: sevDesk calls per event", u.calls_per_event, b.calls_per_event, 2),
            _row("peak RSS, MiB", u.peak_rss_mib, b.peak_rss_mib),
        ]
        lines += ["", *render_table(HEADERS, figure_rows(compare))]
    lines += [
        f"  idle worker CPU: {s['idle_cpu_ms_per_s']:.2f} ms per s (included in the figures above)",
        f"  per-entity order: {_order_text(s['order'])}",
        f"  customer.updated outcomes: {_statuses(u)}",
        *_cores("customer.updated", u),
        *_cores("baseline", b),
        "  sevDesk calls by endpoint (customer.updated):",
        *_calls(u),
    ]
    return lines


def scale_table(s: dict[str, Any]) -> list[str]:
    runs: dict[int, Run] = s["runs"]
    one = runs.get(1)
    headers = [
        "worker processes",
        "events/s",
        "speed-up",
        "CPU ms/event",
        "calls/event",
        "peak RSS MiB",
        "e2e p50 ms",
        "share of allowed",
        "machine busy",
        "stale skips",
        "order",
    ]
    rows = []
    for count, run in sorted(runs.items()):
        order = s["order"].get(count)
        allowed = allowed_events_per_s(count * s["concurrency"], run.calls_per_event, s["latency_s"])
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
        f" queue, concurrency {s['concurrency']} (prefetch {s['prefetch']}) each",
        *render_table(headers, rows),
    ]
    for count, order in sorted(s["order"].items()):
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
            ]
        )
    return tables


def target_rows(results: Results) -> list[list[str]]:
    rows: list[list[str]] = []
    lat = results.scenarios.get("latency")
    if lat is not None:
        w: Run = lat["worker"]
        rows.append(
            [
                "sevDesk calls per event vs minimum writes (mix)",
                f"{fmt_number(w.calls_per_event, 2)} vs {fmt_number(w.min_writes_per_event, 2)} = "
                f"{fmt_ratio(ratio(w.calls_per_event, w.min_writes_per_event))}",
                "close to 1x",
                "info",
            ]
        )
        allowed = lat["allowed_events_per_s"]
        share = _share(w.events_per_s, allowed)
        per_call = f"{lat['latency_s'] * 1000:.0f} ms/call"
        rows.append(
            [
                f"throughput vs allowed ({per_call}, concurrency {lat['concurrency']})",
                f"{fmt_number(w.events_per_s)} of {fmt_number(allowed)} events/s = {fmt_percent(share)}",
                ">= 80 %",
                verdict(share >= THROUGHPUT_TARGET if share is not None else None),
            ]
        )
    isolation = results.scenarios.get("isolation")
    if isolation is not None:
        rows += isolation_targets(isolation)
    cpu = results.scenarios.get("cpu")
    if cpu is not None:
        for t in TYPE_ORDER:
            value = cpu["per_type"][t].cpu_ms_per_event
            # The issue sets the 2 ms bound for a customer.updated that changes a field; the other
            # types are printed next to it.
            headline = t == "customer.updated"
            met = round(value, 2) <= CPU_TARGET_MS if value is not None else None
            rows.append(
                [
                    f"worker CPU per {t}{' (changes a field)' if headline else ''}, latency 0",
                    fmt_number(value, 2, "ms") + (" (profiled)" if cpu["profiled"] else ""),
                    "<= 2 ms" if headline else "",
                    verdict(met) if headline else "info",
                ]
            )
    peaks = _peaks(results)
    if peaks:
        name, peak = max(peaks, key=lambda p: p[1])
        rows.append(
            [
                "worker peak RSS, largest of all runs",
                f"{peak:.0f} MiB ({name})",
                "< 200 MB",
                verdict(peak < RSS_TARGET_MIB),
            ]
        )
    scale = results.scenarios.get("scale")
    if scale is not None:
        runs: dict[int, Run] = scale["runs"]
        n = max(runs)
        speedup = ratio(runs[n].events_per_s, runs[1].events_per_s) if 1 in runs else None
        rows.append(
            [
                f"scale-out {n} vs 1 processes (latency dominates)",
                fmt_ratio(speedup),
                ">= 2.5x",
                verdict(speedup >= SCALE_TARGET if speedup is not None else None),
            ]
        )
        for count, order in sorted(scale["order"].items()):
            rows.append(
                [
                    f"per-entity order, {count} processes",
                    f"{order['version_mismatches']} wrong versions, "
                    f"{order['applied_out_of_order']} out of order",
                    "0 and 0",
                    verdict(order["ok"]),
                ]
            )
    return rows


def _peaks(results: Results) -> list[tuple[str, float]]:
    peaks: list[tuple[str, float]] = []
    for name, s in results.scenarios.items():
        if name == "backlog":
            peaks.append(("backlog", s["peak_rss_mib"]))
        elif name == "latency":
            peaks.append(("latency", s["worker"].peak_rss_mib))
        elif name == "isolation":
            peaks.append(("isolation", s["isolation_run"].peak_rss_mib))
        elif name == "cpu":
            peaks.append(("cpu", s["per_type"]["customer.updated"].peak_rss_mib))
        elif name == "scale":
            peaks += [(f"scale {n}", r.peak_rss_mib) for n, r in s["runs"].items()]
    return [(n, p) for n, p in peaks if p is not None]
