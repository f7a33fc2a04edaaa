"""The cursor a kind's run saves (sevsync.reconcile.kinds.KindRun.next_cursor)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sevsync.reconcile.kinds import MARGIN, KindRun
from sevsync.reconcile.results import KindCounts
from sevsync.reconcile.telling import Teller

START = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def _run() -> KindRun:
    nothing = cast(Any, None)
    run = KindRun(
        conn=nothing,
        api=nothing,
        tenant=nothing,
        teller=Teller(nothing, "acme", None, KindCounts()),
        sweep=False,
        progress=None,
    )
    run.start()
    run.started = START  # our clock; no answer carried sevDesk's
    return run


def test_the_cursor_is_the_newest_stamp_but_at_most_the_start_less_the_margin() -> None:
    run = _run()
    assert run.next_cursor(START - timedelta(hours=1)) == START - timedelta(hours=1)
    assert run.next_cursor(START) == START - MARGIN


def test_the_cursor_stays_before_an_object_left_to_a_handler() -> None:
    run = _run()
    run.teller.held.append("2026-11-20T09:30:00+01:00")  # 08:30 UTC
    assert run.next_cursor(START) == START - timedelta(minutes=30)


def test_the_cursor_stays_where_it_was_when_a_list_shrank_while_paged() -> None:
    run = _run()
    assert run._listing is not None
    run._listing.shrank = True
    assert run.next_cursor(START - timedelta(hours=1)) is None  # finish_run keeps the old cursor
