from __future__ import annotations

from datetime import timedelta

import pytest

from sevsync.broker.headers import DEFERRALS_HEADER, RETRIES_HEADER, deferrals_so_far, retries_so_far
from sevsync.retry_schedule import RetrySchedule, delay_label

DELAYS = (timedelta(seconds=10), timedelta(minutes=1), timedelta(minutes=10), timedelta(hours=1))
SCHEDULE = RetrySchedule(DELAYS)


@pytest.mark.parametrize(
    ("delay", "label"),
    [
        (timedelta(seconds=10), "10s"),
        (timedelta(minutes=1), "1m"),
        (timedelta(seconds=90), "90s"),
        (timedelta(hours=1), "1h"),
        (timedelta(milliseconds=300), "300ms"),
        (timedelta(seconds=1.5), "1500ms"),
    ],
)
def test_delay_labels(delay: timedelta, label: str) -> None:
    assert delay_label(delay) == label


@pytest.mark.parametrize(
    ("retries", "retry_after", "step"),
    [
        (0, None, 0),
        (1, None, 1),
        (3, None, 3),
        (4, None, None),  # exhausted
        (0, 5.0, 0),  # the first step is long enough
        (0, 30.0, 1),  # skip to the first step that covers Retry-After
        (0, 3600.0, 3),
        (0, 86400.0, 3),  # longer than any step: the last one
        (2, 30.0, 2),  # never back down the ladder
        (4, 30.0, None),
    ],
)
def test_next_step(retries: int, retry_after: float | None, step: int | None) -> None:
    assert SCHEDULE.next_step(retries, retry_after) == step


@pytest.mark.parametrize(
    ("headers", "count"),
    [
        (None, 0),
        ({}, 0),
        ({RETRIES_HEADER: 2}, 2),
        ({RETRIES_HEADER: b"3"}, 3),
        ({RETRIES_HEADER: "x"}, 0),
        ({RETRIES_HEADER: -1}, 0),
        ({RETRIES_HEADER: True}, 0),
    ],
)
def test_retries_from_headers(headers: dict[str, object] | None, count: int) -> None:
    assert retries_so_far(headers) == count


def test_deferrals_are_counted_apart_from_retries() -> None:
    headers = {RETRIES_HEADER: 1, DEFERRALS_HEADER: 3}
    assert (retries_so_far(headers), deferrals_so_far(headers)) == (1, 3)
    assert deferrals_so_far({RETRIES_HEADER: 2}) == 0


def test_a_deferral_waits_on_the_first_step_then_on_the_second_at_most() -> None:
    assert [SCHEDULE.defer_step(n) for n in range(5)] == [0, 1, 1, 1, 1]
    one_step = RetrySchedule((timedelta(seconds=5),))
    assert [one_step.defer_step(n) for n in range(3)] == [0, 0, 0]
