"""A small chaos run inside `make test`; `make chaos` runs the full one (2,000 events, 20 tenants)."""

from __future__ import annotations

from bench.chaos import ChaosConfig, run_chaos
from tests.conftest import Services


async def test_small_chaos_run_loses_nothing_and_duplicates_nothing(services: Services) -> None:
    config = ChaosConfig(
        events=400,
        tenants=5,
        workers=2,
        kills=3,
        seed=11,
        timeout=120,
        amqp_url=services.amqp_url,
        postgres_url=services.postgres_url,
    )
    report = await run_chaos(config)
    print("\n".join(report.lines()))
    assert report.kills == 3
    assert sum(report.faults_fired.values()) > 0
    assert report.lost == []
    assert report.duplicates == []
    assert report.wrong_links == []
    assert report.problems == []  # nothing in this data is meant to fail
    assert sum(report.statuses.values()) == 400
