"""The parts of `make bench` that need no stack: percentiles, ratios, tables, minimum writes, py-spy
aggregation, the worker settings it passes, the isolation figures and reading the workers' metrics."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from aiohttp import web

from bench.perf import build_parser, config_from
from bench.perf_isolation import (
    DEFER_COUNTER,
    Figures,
    group_figures,
    isolation_goal,
    isolation_table,
    isolation_workload,
    spread,
)
from bench.perf_measure import Run
from bench.perf_profile import collapsed_costs
from bench.perf_report import fmt_ratio, percentile, ratio, render_table
from bench.perf_sandbox import SandboxProcess
from bench.perf_scenarios import Results
from bench.perf_stack import Stack, Workers
from bench.perf_summary import scale_table, scenario_tables
from bench.perf_targets import target_rows
from bench.perf_workload import customer_writes, mix_workload, product_writes, tenant_ids


def test_percentile_interpolates_between_ranks() -> None:
    values = [10.0, 20.0, 30.0, 40.0]
    assert percentile(values, 0) == 10.0
    assert percentile(values, 100) == 40.0
    assert percentile(values, 50) == pytest.approx(25.0)
    assert percentile(list(range(1, 101)), 99) == pytest.approx(99.01)
    assert percentile([], 50) is None
    with pytest.raises(ValueError, match="percentile"):
        percentile(values, 101)


def test_ratio_and_its_format() -> None:
    assert ratio(3.0, 2.0) == 1.5
    assert ratio(3.0, 0.0) is None
    assert ratio(None, 2.0) is None
    assert fmt_ratio(1.5) == "1.50x"
    assert fmt_ratio(None) == "-"


def test_table_pads_columns() -> None:
    lines = render_table(["figure", "worker"], [["events/s", "12.5"], ["peak RSS, MiB", "80.0"]])
    assert lines == [
        "  figure         worker",
        "  -------------  ------",
        "  events/s         12.5",
        "  peak RSS, MiB    80.0",
    ]


def test_minimum_writes_count_changed_objects() -> None:
    company = {
        "id": "c",
        "kind": "company",
        "company_name": "Acme",
        "first_name": "Max",
        "last_name": "M",
        "email": "a@example.org",
        "phone": "1",
        "address": {"street": "A", "zip": "1", "city": "B", "country": "DE"},
    }
    assert customer_writes(None, company) == 5
    assert customer_writes(company, dict(company)) == 0
    assert customer_writes(company, {**company, "email": "b@example.org"}) == 1
    assert customer_writes(company, {**company, "company_name": "Acme 2", "phone": "2"}) == 2
    assert product_writes(None, {"id": "p"}) == 1
    assert product_writes({"id": "p"}, {"id": "p"}) == 0


def test_mix_keeps_each_entitys_versions_in_order() -> None:
    events = mix_workload(["tenant-000", "tenant-001"], rounds=2, seed=1)
    assert len(events) == 2 * 2 * 21
    seen: dict[tuple[str, str, str], int] = {}
    for e in events:
        assert e.version == seen.get(e.entity, 0) + 1
        seen[e.entity] = e.version


def test_collapsed_stacks_add_up_per_function() -> None:
    costs = {
        c.function: (c.total, c.own)
        for c in collapsed_costs(["main;run;parse 3", "main;run;run 2", "main;send 5", "garbage"])
    }
    assert costs == {"main": (10, 0), "run": (5, 2), "parse": (3, 3), "send": (5, 5)}


def test_profile_packages_know_the_project_wherever_it_is_checked_out() -> None:
    from bench.perf_profile import PROJECT, _package

    assert _package(str(PROJECT / "worker" / "sync" / "processor.py"), "process") == "sevsync (worker/)"
    assert _package("/opt/py/lib/python3.11/site-packages/asyncpg/pool.py", "acquire") == "asyncpg"
    assert _package("/opt/py/lib/python3.11/asyncio/events.py", "run") == "stdlib asyncio/events.py"


# --- worker settings ---------------------------------------------------------------------------------


def test_bench_passes_prefetch_and_concurrency_to_workers_and_the_baseline(tmp_path: Path) -> None:
    config = config_from(build_parser().parse_args(["--concurrency", "16", "--tenant-concurrency", "2"]))
    assert (config.prefetch, config.concurrency, config.tenant_concurrency) == (64, 16, 2)
    assert config.scenarios == ("latency", "isolation", "cpu", "scale", "backlog", "reconcile")
    stack = Stack(config.stack(), "unit", {"tenant-000": "token"})
    stack.sandbox = SandboxProcess(tmp_path / "sandbox.log")  # not started: only its URL is read

    env = stack.worker_env()

    assert (env["SEVSYNC_PREFETCH"], env["SEVSYNC_CONCURRENCY"], env["SEVSYNC_TENANT_CONCURRENCY"]) == (
        "64",
        "16",
        "2",
    )
    # The baseline and the FastStream anchor run with the workers' prefetch, the baseline also at
    # their concurrency (bench.perf_baseline reads both from the stack's config).
    assert (stack.config.prefetch, stack.config.concurrency) == (64, 16)
    assert {"results_queue", "anchor_exchange", "anchor_queue", "anchor_results"} <= set(stack.names)


def test_isolation_needs_two_tenants() -> None:
    with pytest.raises(SystemExit, match="2 tenants"):
        config_from(build_parser().parse_args(["--scenarios", "isolation", "--tenants", "1"]))


def test_scale_table_counts_allowed_throughput_by_concurrency_and_the_minimum_calls() -> None:
    run = Run(
        "scale/1", 1, 100, completed=100, events_per_s=50.0, calls_per_event=4.0, min_writes_per_event=2.0
    )
    table = scale_table({"runs": {1: run}, "order": {}, "latency_s": 0.1, "concurrency": 20, "prefetch": 64})
    assert "concurrency 20 (prefetch 64) each" in table[0]
    assert "50 %" in table[3]  # 50 events/s of 20 / (2 minimum calls x 0.1) = 100 allowed, not 4 calls


def test_scale_table_adds_the_default_concurrency() -> None:
    one, three = Run("1", 1, 100, events_per_s=10.0), Run("3", 3, 100, events_per_s=15.0)
    s = {"runs": {1: one}, "order": {}, "latency_s": 0.1, "concurrency": 8, "prefetch": 64}
    s |= {"default_runs": {1: one, 3: three}, "default_order": {}, "default_concurrency": 32}
    text = "\n".join(scale_table(s))
    assert "concurrency 8 (prefetch 64) each" in text
    assert "concurrency 32 (prefetch 64) each" in text
    assert "1.50x" in text


# --- isolation -----------------------------------------------------------------------------------------


def test_group_figures_time_a_part_of_the_batch_from_its_first_publish() -> None:
    sent_at = {"a": 100.0, "b": 100.0, "c": 101.0, "d": 101.0}
    finished = {"a": 101.0, "b": 102.0, "c": 110.0}

    mine = group_figures(["a", "b"], sent_at, finished)
    late = group_figures(["c", "d"], sent_at, finished)

    assert (mine.events, mine.completed, mine.seconds, mine.events_per_s) == (2, 2, 2.0, 1.0)
    assert mine.latency_p50_ms == 1500.0
    assert mine.latency_p99_ms == pytest.approx(1990.0)
    assert (late.events, late.completed, late.seconds, late.latency_p50_ms) == (2, 1, 10.0, 9000.0)
    assert group_figures(["d"], sent_at, finished) == Figures(1, 0, None, None, None, None)


def test_spread_keeps_both_orders_and_spreads_the_extra_events() -> None:
    base = mix_workload(tenant_ids(4)[1:], rounds=1, seed=1)
    extra = mix_workload(tenant_ids(1), rounds=2, seed=2)

    merged = spread(base, extra)

    assert sorted(e.event_id for e in merged) == sorted(e.event_id for e in [*base, *extra])
    assert [e for e in merged if e.tenant == "tenant-000"] == extra
    assert [e for e in merged if e.tenant != "tenant-000"] == base
    halves = merged[: len(merged) // 2], merged[len(merged) // 2 :]
    assert [sum(e.tenant == "tenant-000" for e in half) for half in halves] == [21, 21]


def test_isolation_workload_gives_the_slow_tenant_extra_rounds_of_new_entities() -> None:
    tenants = tenant_ids(3)
    reference, second = isolation_workload(tenants, rounds=1, slow_rounds=2, seed=7)

    assert len(reference) == 3 * 21
    counts = {t: sum(e.tenant == t for e in second) for t in tenants}
    assert counts == {"tenant-000": 3 * 21, "tenant-001": 21, "tenant-002": 21}
    assert not {e.entity for e in reference} & {e.entity for e in second}
    assert len({e.event_id for e in [*reference, *second]}) == len(reference) + len(second)
    seen: dict[tuple[str, str, str], int] = {}
    for e in second:
        assert e.version == seen.get(e.entity, 0) + 1
        seen[e.entity] = e.version


def isolation_results(others_per_s: float, slow_done: int, deferred: float | None) -> dict[str, Any]:
    run = Run("isolation/reference", 1, 63, calls_per_event=2.0, statuses={"succeeded": 63})
    return {
        "tenants": 3,
        "slow_tenant": "tenant-000",
        "latency_s": 0.1,
        "slow_latency_s": 1.0,
        "slow_rounds": 2,
        "workers": 1,
        "prefetch": 64,
        "concurrency": 32,
        "tenant_concurrency": 4,
        "reference_run": run,
        "isolation_run": Run("isolation/slow tenant", 1, 105, statuses={"succeeded": 100, "skipped": 5}),
        "reference": Figures(63, 63, 3.15, 20.0, 800.0, 2000.0),
        "others": Figures(42, 42, 2.3, others_per_s, 900.0, 3000.0),
        "slow": Figures(63, slow_done, 40.0, 1.5, 20000.0, 39000.0),
        "deferred": {"reference": 0.0 if deferred is not None else None, "isolation": deferred},
        "order": {"entities": 30, "version_mismatches": 0, "applied_out_of_order": 0},
    }


def test_isolation_table_compares_the_other_tenants_with_the_reference() -> None:
    table = isolation_table(isolation_results(19.0, 63, 12.0))
    text = "\n".join(table)

    rows = {line.split("  ")[1]: line.split() for line in table[4:11]}
    assert rows["events/s"][-2:] == ["95", "%"]
    assert rows["e2e latency p99, ms"][-1] == "1.50x"
    assert rows["deliveries deferred by the worker"][-2:] == ["0", "12"]
    assert rows["sevDesk calls per event (whole phase)"][-3:] == ["2.00", "-", "-"]
    assert "tenant-000: 63 of 63 events final after 40.0 s" in text
    assert "concurrency 32 (one tenant 4) and prefetch 64 per process" in table[0]
    assert "outcomes, isolation/slow tenant: succeeded 100, skipped 5" in text
    assert "n/a" in "\n".join(isolation_table(isolation_results(19.0, 63, None)))


@pytest.mark.parametrize(
    ("others_per_s", "slow_done", "verdicts"),
    [(19.0, 63, ["met", "met"]), (17.0, 63, ["NOT met", "met"]), (19.0, 60, ["met", "NOT met"])],
)
def test_isolation_targets(others_per_s: float, slow_done: int, verdicts: list[str]) -> None:
    results = Results(scenarios={"isolation": isolation_results(others_per_s, slow_done, None)})

    rows = target_rows(results)

    assert [row[0].split(":")[0] for row in rows] == ["isolation", "isolation"]
    assert rows[0][1] == f"{others_per_s:.1f} of 20.0 events/s = {others_per_s / 20:.0%}".replace("%", " %")
    assert [row[-1] for row in rows] == verdicts
    # The slow tenant may hold 4 of the 32 slots: the others keep 28 / 32.
    assert isolation_goal(isolation_results(others_per_s, slow_done, None)) == 0.875
    assert rows[0][2] == ">= 88 %"
    assert rows[1][1] == f"{slow_done} of 63 after 40 s"
    assert scenario_tables(results)[0][0].startswith("== isolation")


METRICS = """# HELP sevsync_deliveries_settled_total Deliveries by how they were settled
# TYPE sevsync_deliveries_settled_total counter
sevsync_deliveries_settled_total{event_type="customer.created",decision="ack"} 40.0
sevsync_deliveries_settled_total{event_type="customer.created",decision="defer"} 3.0
sevsync_deliveries_settled_total{event_type="deal.won",decision="defer"} 2.0
"""


@pytest.mark.parametrize(
    ("exposed", "expected"), [(METRICS, 5.0), (METRICS.replace("defer", "retry"), 0.0), ("", None)]
)
async def test_workers_sum_a_counter_over_their_metrics(
    tmp_path: Path, exposed: str, expected: float | None
) -> None:
    app = web.Application()

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(text=exposed)

    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        workers = Workers({}, 1, tmp_path, ["true"])
        workers.processes = [SimpleNamespace(returncode=None, pid=4242)]  # type: ignore[list-item]
        workers.http_ports = {4242: port}

        total = await workers.counter(DEFER_COUNTER, decision="defer")
    finally:
        await runner.cleanup()

    assert total == expected


def test_the_reconcile_scenario_expects_the_calls_of_the_design() -> None:
    from bench.perf_reconcile import expected_calls

    lists = {"GET /Contact": 1, "GET /Order": 1, "GET /Invoice": 1, "GET /Voucher": 1}
    assert expected_calls(10_000, 2_000, 1000, changed=False) == {**lists, "GET /Part": 2}
    assert expected_calls(10_000, 2_001, 1000, changed=False) == {**lists, "GET /Part": 3}
    assert expected_calls(10_000, 0, 1000, changed=False) == {**lists, "GET /Part": 1}
    assert expected_calls(10_000, 2_000, 100, changed=True) == {
        **lists,
        "GET /Part": 20,  # 1,995 parts left
        "GET /ContactAddress": 10,
        "GET /CommunicationWay": 10,
        "GET /StaticCountry": 1,
        "GET /Part/{id}": 5,
    }
