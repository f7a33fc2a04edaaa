"""The outcome policy (pure): one test per row of its tables, before and after the handler runs."""

from __future__ import annotations

from datetime import timedelta
from typing import get_args

import pytest

from sevsync.disposition import ACK, Decision, Disposition
from sevsync.retry_schedule import RetrySchedule
from sevsync.sevdesk.errors import (
    AnsweredWriteError,
    AuthError,
    NotFoundError,
    PermanentError,
    TransientError,
    UncertainWriteError,
)
from sevsync.store.links import Link
from sevsync.sync.policy import (
    BEFORE_HANDLER,
    HANDLED_FAILURES,
    EventFacts,
    EventOutcome,
    HandledFailure,
    Verdict,
    after_failure,
    after_success,
    before_handler,
)
from sevsync.sync.result import HandlerResult, SyncFailure, WaitingFor

SCHEDULE = RetrySchedule((timedelta(seconds=10), timedelta(minutes=1), timedelta(minutes=10)))


def _link(version: int | None) -> Link:
    return Link("acme", "customer", "c-1", "Contact", "77", "K-1", version, None, {})


# --- before the handler ---------------------------------------------------------------------------


def test_every_fact_clear_runs_the_handler() -> None:
    assert before_handler(EventFacts(version=3, applied=_link(2))) is None


def test_the_gate_skips_and_keeps_the_body() -> None:
    verdict = before_handler(EventFacts(version=1, skip_reason="disabled", token_refused=True))
    assert verdict == Verdict(EventOutcome("skipped", "disabled"), ACK, keep_skipped=True)


def test_a_refused_token_parks_the_event() -> None:
    verdict = before_handler(EventFacts(version=1, token_refused=True, applied=_link(5)))
    assert verdict == Verdict(EventOutcome("parked", "auth_failed", "the tenant's sevDesk token was refused"))


def test_a_version_older_than_the_applied_one_is_stale() -> None:
    verdict = before_handler(EventFacts(version=2, applied=_link(3), newer_waiting=4))
    assert verdict == Verdict(
        EventOutcome(
            "skipped", "stale", "version 2 is older than the applied version 3", "Contact", "77", "K-1"
        )
    )


@pytest.mark.parametrize("applied", [None, 2, 3])
def test_the_same_or_a_newer_version_or_none_applied_is_not_stale(applied: int | None) -> None:
    assert before_handler(EventFacts(version=3, applied=_link(applied))) is None


def test_a_newer_version_waiting_supersedes_the_event() -> None:
    verdict = before_handler(EventFacts(version=2, newer_waiting=5))
    assert verdict == Verdict(
        EventOutcome("skipped", "superseded", "version 5 of the entity is next in line")
    )


# Per row of BEFORE_HANDLER, in order: facts that this row catches and no row before it does.
FIRST_CAUGHT_BY_ROW = [
    EventFacts(version=1, skip_reason="disabled", token_refused=True, applied=_link(5), newer_waiting=2),
    EventFacts(version=1, token_refused=True, applied=_link(5), newer_waiting=2),
    EventFacts(version=1, applied=_link(5), newer_waiting=2),
    EventFacts(version=1, newer_waiting=2),
]


@pytest.mark.parametrize(("row", "facts"), list(enumerate(FIRST_CAUGHT_BY_ROW)))
def test_each_check_is_reached_and_decides_first_for_its_facts(row: int, facts: EventFacts) -> None:
    assert len(BEFORE_HANDLER) == len(FIRST_CAUGHT_BY_ROW) == 4
    caught = [index for index, check in enumerate(BEFORE_HANDLER) if check.applies(facts)]
    assert caught[0] == row
    assert before_handler(facts) == BEFORE_HANDLER[row].verdict(facts)


# --- after the handler ----------------------------------------------------------------------------


def test_a_result_is_recorded_as_it_is() -> None:
    result = HandlerResult("succeeded", None, "Contact", "77", "K-1")
    assert after_success(result) == Verdict(EventOutcome("succeeded", None, None, "Contact", "77", "K-1"))


def test_a_sync_failure_fails() -> None:
    verdict = after_failure(SyncFailure("invalid_data", "no name", "Contact"), 0, SCHEDULE)
    assert verdict == Verdict(EventOutcome("failed", "invalid_data", "no name", "Contact"))


def test_a_wait_retries_on_the_next_step() -> None:
    verdict = after_failure(WaitingFor("awaiting_dependency", "invoice inv-9 not synced"), 1, SCHEDULE)
    assert verdict == Verdict(
        EventOutcome("retrying", "awaiting_dependency", "invoice inv-9 not synced; next try in 1m"),
        Decision(Disposition.RETRY, 1),
    )


def test_a_wait_at_the_end_of_the_schedule_ends_as_its_final_status() -> None:
    waiting = WaitingFor("awaiting_dependency", "not there", "failed", "dependency_missing")
    verdict = after_failure(waiting, 3, SCHEDULE)
    assert verdict == Verdict(EventOutcome("failed", "dependency_missing", "not there (after 3 retries)"))


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (TransientError("too many requests", status=429, method="POST", path="/Contact"), "rate_limited"),
        (TransientError("sevDesk is unreachable", method="POST", path="/Contact"), "sevdesk_unavailable"),
        (UncertainWriteError("no answer in time", method="POST", path="/Contact"), "write_unconfirmed"),
        (
            AnsweredWriteError("server error", status=503, method="POST", path="/Contact"),
            "sevdesk_unavailable",
        ),
    ],
)
def test_a_transient_sevdesk_failure_retries(
    error: TransientError | UncertainWriteError, reason: str
) -> None:
    verdict = after_failure(error, 0, SCHEDULE)
    assert (verdict.outcome.status, verdict.outcome.reason) == ("retrying", reason)
    assert verdict.outcome.error == f"{error.describe()}; next try in 10s"
    assert verdict.decision == Decision(Disposition.RETRY, 0)


def test_a_retry_after_skips_to_a_step_long_enough() -> None:
    error = TransientError("too many requests", status=429, retry_after=120.0, method="POST", path="/Contact")
    assert after_failure(error, 0, SCHEDULE).decision == Decision(Disposition.RETRY, 2)


def test_a_transient_failure_with_the_schedule_spent_is_dead() -> None:
    error = TransientError("sevDesk is unreachable", method="POST", path="/Contact")
    verdict = after_failure(error, 3, SCHEDULE)
    assert verdict == Verdict(
        EventOutcome("dead", "retries_exhausted", f"{error.describe()} (after 3 retries)")
    )


def test_a_refused_token_parks_and_marks_the_tenant() -> None:
    error = AuthError("token refused", status=401, method="POST", path="/Contact")
    verdict = after_failure(error, 0, SCHEDULE)
    assert verdict == Verdict(EventOutcome("parked", "auth_failed", error.describe()), mark_auth_failed=True)


@pytest.mark.parametrize(
    "error",
    [
        PermanentError("bad", status=400, method="POST", path="/Contact"),
        NotFoundError("gone", method="POST", path="/Contact"),
    ],
)
def test_a_refused_request_fails(error: PermanentError) -> None:
    verdict = after_failure(error, 0, SCHEDULE)
    assert verdict == Verdict(EventOutcome("failed", "sevdesk_rejected", error.describe()))


def test_anything_else_is_not_the_policys_to_decide() -> None:
    assert not isinstance(RuntimeError("a bug"), HANDLED_FAILURES)
    # The except clause and after_failure's parameter type name the same kinds, in the same order.
    assert get_args(HandledFailure) == HANDLED_FAILURES
    assert len(HANDLED_FAILURES) == 6
