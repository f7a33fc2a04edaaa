"""The topology plan a worker and `sevsync topology declare` declare, and how it is described."""

from __future__ import annotations

from datetime import timedelta

import pytest

from sevsync.broker.classic_ladder import classic_ladder_names
from sevsync.broker.topology import TopologyNames, topology_plan
from sevsync.cli import main

PLAN = topology_plan(TopologyNames("crm", "q", "out"), ["product.created"])


def test_the_queues_are_described_with_their_dead_lettering() -> None:
    lines = PLAN.describe()

    assert "queue q (quorum, durable, delivery limit 10, dead letters to q.dlx, at least once)" in lines
    assert "queue q.dead (quorum, durable)" in lines


def test_the_plan_has_two_quorum_queues_and_no_retry_queue() -> None:
    # Retries wait in Postgres (retry_relay.py): nothing of them depends on a broker queue.
    assert {queue.name: queue.arguments["x-queue-type"] for queue in PLAN.queues} == {
        "q.dead": "quorum",
        "q": "quorum",
    }


def test_the_classic_ladder_of_earlier_versions_is_named_by_delay_each_once() -> None:
    delays = [timedelta(seconds=10), timedelta(minutes=1), timedelta(seconds=60), timedelta(hours=1)]

    assert classic_ladder_names("q", delays) == ["q.retry.10s", "q.retry.1m", "q.retry.1h"]


def test_retire_ladder_refuses_a_bad_delay_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["topology", "retire-ladder", "--delays", "5s,soon"])

    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("sevsync topology retire-ladder: error: argument --delays: not a duration: 'soon'")
    assert len(err.strip().splitlines()) == 1
