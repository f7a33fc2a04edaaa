"""The pure parts of `make bench`: percentiles, ratios, tables, minimum writes, py-spy aggregation."""

from __future__ import annotations

import pytest

from bench.perf_profile import collapsed_costs
from bench.perf_report import fmt_ratio, percentile, ratio, render_table
from bench.perf_workload import customer_writes, mix_workload, product_writes


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
