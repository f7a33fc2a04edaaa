"""The budget for writing again after sevDesk answered 500/503, on a controlled clock."""

from __future__ import annotations

import pytest

from sevsync.sevdesk.client import RetryPolicy
from sevsync.sevdesk.errors import AnsweredWriteError
from sevsync.sevdesk.rewrites import RewriteBudget, backoff_seconds
from tests.fake_time import FakeTime


def answered(status: int = 503, retry_after: float | None = None) -> AnsweredWriteError:
    return AnsweredWriteError("busy", method="POST", path="/Contact", status=status, retry_after=retry_after)


def budget(time: FakeTime, attempts: int, seconds: float, jitter: float = 0.0) -> RewriteBudget:
    return RewriteBudget(
        RetryPolicy(attempts=attempts, budget_seconds=seconds),
        clock=time.clock,
        sleep=time.sleep,
        jitter=lambda: jitter,
    )


@pytest.mark.parametrize(
    ("writes", "jitter", "expected"),
    [
        (1, 0.0, 0.5),
        (2, 0.0, 1.0),
        (3, 0.0, 2.0),
        (5, 0.0, 8.0),
        (9, 0.0, 8.0),
        (1, 1.0, 1.0),
        (2, 0.5, 1.25),
    ],
)
def test_backoff_doubles_from_half_a_second_up_to_eight_plus_jitter(
    writes: int, jitter: float, expected: float
) -> None:
    assert backoff_seconds(writes, jitter) == expected


async def test_writes_again_until_the_attempts_are_spent() -> None:
    time = FakeTime()
    rewrites = budget(time, attempts=3, seconds=60)

    assert await rewrites.another_write(answered())
    assert await rewrites.another_write(answered())
    assert not await rewrites.another_write(answered())
    assert time.sleeps == [0.5, 1.0]
    assert rewrites.writes == 3


async def test_a_pause_that_would_end_past_the_budget_spends_it_without_sleeping() -> None:
    time = FakeTime()
    rewrites = budget(time, attempts=10, seconds=2.0)

    assert await rewrites.another_write(answered())  # 0.5 s
    assert await rewrites.another_write(answered())  # 1.0 s: 1.5 s spent
    assert not await rewrites.another_write(answered())  # 2.0 s more would end at 3.5 s
    assert time.sleeps == [0.5, 1.0]


async def test_time_spent_in_the_writes_themselves_counts_against_the_budget() -> None:
    time = FakeTime()
    rewrites = budget(time, attempts=10, seconds=2.0)
    time.now += 1.8  # a slow first write and the look for its effect

    assert not await rewrites.another_write(answered())
    assert time.sleeps == []


async def test_retry_after_is_honoured_instead_of_the_back_off() -> None:
    time = FakeTime()
    rewrites = budget(time, attempts=3, seconds=10)

    assert await rewrites.another_write(answered(retry_after=4.0))
    assert not await rewrites.another_write(answered(retry_after=7.0))  # 4 + 7 > 10
    assert time.sleeps == [4.0]


async def test_one_attempt_means_no_write_again() -> None:
    time = FakeTime()
    assert not await budget(time, attempts=1, seconds=60).another_write(answered(500))
    assert time.sleeps == []
