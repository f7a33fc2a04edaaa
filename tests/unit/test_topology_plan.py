"""The topology plan a worker and `sevsync topology declare` declare, and how it is described."""

from __future__ import annotations

from datetime import timedelta

import pytest

from sevsync.broker.classic_ladder import classic_ladder_names
from sevsync.broker.ladder import RetryLadder
from sevsync.broker.topology import TopologyNames, topology_plan
from sevsync.cli import main
from sevsync.retry_schedule import RetrySchedule

LADDER = RetryLadder("q", RetrySchedule((timedelta(seconds=10), timedelta(minutes=1))))
PLAN = topology_plan(TopologyNames("crm", "q", "out"), ["product.created"], LADDER)


def test_the_ladder_queues_are_described_as_quorum_queues_that_dead_letter_at_least_once() -> None:
    lines = PLAN.describe()

    assert (
        "queue q.ladder.10s (quorum, durable, messages wait 10s, then go to queue q, at least once)" in lines
    )
    assert "queue q.ladder.1m (quorum, durable, messages wait 1m, then go to queue q, at least once)" in lines
    assert "queue q (quorum, durable, delivery limit 10, dead letters to q.dlx, at least once)" in lines
    assert "queue q.dead (quorum, durable)" in lines


def test_every_queue_of_the_plan_is_a_quorum_queue() -> None:
    assert {queue.name: queue.arguments["x-queue-type"] for queue in PLAN.queues} == {
        "q.dead": "quorum",
        "q": "quorum",
        "q.ladder.10s": "quorum",
        "q.ladder.1m": "quorum",
    }


def test_the_classic_ladder_of_earlier_versions_is_named_by_delay_each_once() -> None:
    delays = [timedelta(seconds=10), timedelta(minutes=1), timedelta(seconds=60), timedelta(hours=1)]

    assert classic_ladder_names("q", delays) == ["q.retry.10s", "q.retry.1m", "q.retry.1h"]


def test_retire_classic_refuses_a_bad_delay_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["topology", "retire-classic", "--delays", "5s,soon"])

    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("sevsync topology retire-classic: error: argument --delays: not a duration: 'soon'")
    assert len(err.strip().splitlines()) == 1
