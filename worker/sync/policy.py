"""The outcome policy: how an event's attempt ends, from what was read before its handler ran and
what the handler returned or raised.

Pure and table-driven: each row (a check before the handler, a kind of failure after it) is one way
an attempt ends, tested on its own (tests/unit/test_outcome_policy.py). The processor gathers the
facts, runs the handler and records what the policy says.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, NamedTuple, TypeAlias

from ..disposition import ACK, Decision, Disposition
from ..outcome_words import (
    AUTH_FAILED,
    DEAD,
    FAILED,
    PARKED,
    RATE_LIMITED,
    RETRIES_EXHAUSTED,
    RETRYING,
    SEVDESK_REJECTED,
    SEVDESK_UNAVAILABLE,
    SKIPPED,
    STALE,
    SUPERSEDED,
    WRITE_UNCONFIRMED,
)
from ..retry_schedule import RetrySchedule, delay_label
from ..sevdesk.errors import (
    AnsweredWriteError,
    AuthError,
    PermanentError,
    TransientError,
    UncertainWriteError,
)
from .result import HandlerResult, SyncFailure, WaitingFor

if TYPE_CHECKING:
    from ..store.links import Link


@dataclass(frozen=True, slots=True)
class EventOutcome:
    status: str
    reason: str | None = None
    error: str | None = None
    sevdesk_object: str | None = None
    sevdesk_id: str | None = None
    sevdesk_number: str | None = None


@dataclass(frozen=True, slots=True)
class EventFacts:
    """What the processor knows of an event's attempt before its handler runs."""

    version: int
    # Why the gate does not sync the tenant's event (gate.skip_reason), or None.
    skip_reason: str | None = None
    # sevDesk refused the tenant's token earlier: its events park until it is reconnected.
    token_refused: bool = False
    # The entity's link with the newest applied version (a deal has an offer and an invoice).
    applied: Link | None = None
    # A newer version of the entity waiting for its lock in this process.
    newer_waiting: int | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    outcome: EventOutcome
    decision: Decision = ACK
    # Skipped for the tenant's state by the gate: the body is kept, to be sent once the tenant syncs.
    keep_skipped: bool = False
    # sevDesk refused the tenant's token just now: mark the tenant, so that its next events park.
    mark_auth_failed: bool = False


class _Check(NamedTuple):
    applies: Callable[[EventFacts], bool]
    verdict: Callable[[EventFacts], Verdict]


def _is_stale(facts: EventFacts) -> bool:
    link = facts.applied
    return link is not None and link.synced_version is not None and facts.version < link.synced_version


def _stale(facts: EventFacts) -> Verdict:
    link = facts.applied
    assert link is not None
    return Verdict(
        EventOutcome(
            SKIPPED,
            STALE,
            f"version {facts.version} is older than the applied version {link.synced_version}",
            link.sevdesk_object,
            link.sevdesk_id,
            link.sevdesk_number,
        )
    )


# Checked in order before the handler runs; the first that applies ends the attempt.
BEFORE_HANDLER: Final = (
    _Check(
        lambda f: f.skip_reason is not None,
        lambda f: Verdict(EventOutcome(SKIPPED, f.skip_reason), keep_skipped=True),
    ),
    _Check(
        lambda f: f.token_refused,
        lambda f: Verdict(EventOutcome(PARKED, AUTH_FAILED, "the tenant's sevDesk token was refused")),
    ),
    _Check(_is_stale, _stale),
    _Check(
        lambda f: f.newer_waiting is not None,
        lambda f: Verdict(
            EventOutcome(SKIPPED, SUPERSEDED, f"version {f.newer_waiting} of the entity is next in line")
        ),
    ),
)


def before_handler(facts: EventFacts) -> Verdict | None:
    """How the attempt ends without running the handler, or None: run it."""
    for check in BEFORE_HANDLER:
        if check.applies(facts):
            return check.verdict(facts)
    return None


def after_success(result: HandlerResult) -> Verdict:
    return Verdict(
        EventOutcome(
            result.status,
            result.reason,
            None,
            result.sevdesk_object,
            result.sevdesk_id,
            result.sevdesk_number,
        )
    )


def _wait(waiting: WaitingFor, retries: int, schedule: RetrySchedule) -> Verdict:
    """Not applicable yet, or the in-process retry budget is spent: wait on the schedule's next step,
    if steps are left."""
    step = schedule.next_step(retries, waiting.retry_after)
    if step is None:
        message = f"{waiting.message} (after {retries} retries)"
        return Verdict(EventOutcome(waiting.final_status, waiting.final_reason or waiting.reason, message))
    message = f"{waiting.message}; next try in {delay_label(schedule.delays[step])}"
    return Verdict(EventOutcome(RETRYING, waiting.reason, message), Decision(Disposition.RETRY, step))


# What a handler may raise for the policy to decide on, in the order `after_failure` checks them.
# Anything else is a bug and propagates: the delivery is requeued without an outcome, and the broker
# dead-letters it after its delivery limit.
HandledFailure: TypeAlias = (
    SyncFailure | WaitingFor | TransientError | UncertainWriteError | AuthError | PermanentError
)
HANDLED_FAILURES: Final = (
    SyncFailure,
    WaitingFor,
    TransientError,
    UncertainWriteError,
    AuthError,
    PermanentError,
)


def after_failure(failure: HandledFailure, retries: int, schedule: RetrySchedule) -> Verdict:
    """How the attempt ends after the handler raised one of `HANDLED_FAILURES`: one row per kind."""
    if isinstance(failure, SyncFailure):
        return Verdict(EventOutcome(FAILED, failure.reason, failure.message, failure.sevdesk_object))
    if isinstance(failure, WaitingFor):
        return _wait(failure, retries, schedule)
    if isinstance(failure, TransientError | UncertainWriteError):
        return _wait(waiting_for_sevdesk(failure), retries, schedule)
    if isinstance(failure, AuthError):
        return Verdict(EventOutcome(PARKED, AUTH_FAILED, failure.describe()), mark_auth_failed=True)
    # The type leaves only PermanentError here, so no failure falls through unhandled.
    return Verdict(EventOutcome(FAILED, SEVDESK_REJECTED, failure.describe()))


def waiting_for_sevdesk(exc: TransientError | UncertainWriteError) -> WaitingFor:
    """A transient sevDesk failure as a wait on the ladder, dead (`retries_exhausted`) at its end."""
    if isinstance(exc, AnsweredWriteError):
        # sevDesk answered the write itself (500/503): sevDesk is failing, no write is in flight.
        reason = SEVDESK_UNAVAILABLE
    elif isinstance(exc, UncertainWriteError):
        reason = WRITE_UNCONFIRMED
    elif exc.status == 429:
        reason = RATE_LIMITED
    else:
        reason = SEVDESK_UNAVAILABLE
    retry_after = exc.retry_after if isinstance(exc, TransientError | AnsweredWriteError) else None
    return WaitingFor(reason, exc.describe(), DEAD, RETRIES_EXHAUSTED, retry_after)
