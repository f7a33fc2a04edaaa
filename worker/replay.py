"""Dead letters for operators: how `sevsync dead` shows them, and replaying them.

A replay publishes a dead letter's raw body, unchanged, to sevsync's own work queue through the
default exchange (routing key = queue name), never through the CRM exchange: other consumers bound
there must not see the event twice. It carries no retry header, so the event starts a fresh retry
ladder. A row is marked replayed only once the broker has confirmed its message. Replaying an event
that was applied after all is harmless: the worker's inbox skips it as `duplicate`, which is also
why a crash between the broker's confirm and the commit, re-sending one batch next time, is harmless.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar
from uuid import UUID

import aio_pika
import asyncpg
from aio_pika.abc import AbstractConnection, AbstractExchange, HeadersType

from sevsync_events.connection import connect as connect_amqp

from .broker.topology import queue_exists
from .display import printable_cell, utc_timestamp
from .store.db import Connection
from .store.dead_letters import (
    UNREPLAYABLE_REASONS,
    DeadLetter,
    DeadLetterFilter,
    count_dead_letters,
    highest_id,
    list_dead_letters,
    lock_open_batch,
    mark_replayed,
)

log = logging.getLogger(__name__)

Row = TypeVar("Row")

# Rows locked and published per transaction: bounds both the locks held and what a crash re-sends.
REPLAY_BATCH = 100
# A broker that stops confirming must not hold the batch's row locks forever.
PUBLISH_TIMEOUT = 30.0
ERROR_WIDTH = 120
COLUMNS = ("ID", "DEAD_AT", "TENANT", "EVENT_TYPE", "EVENT_ID", "REASON", "ATTEMPTS", "REPLAYED_AT", "ERROR")


class ReplayError(Exception):
    """A replay that could not start or finish; the message is one line for the operator."""


class UnnarrowedReplay(ValueError):
    """A replay or preview that names no tenant, reason or event and was not told `everything`.

    Every interface (CLI, admin API, console) goes through this one rule; each phrases the refusal
    in its own terms (`--all`, `"all": true`, the checkbox).
    """


def require_narrowed(filters: DeadLetterFilter, *, everything: bool) -> None:
    """Raise `UnnarrowedReplay` for a selection of every open dead letter that was not asked for.

    `replay` and `preview` check it themselves; an interface may call it first, to refuse before
    it connects to anything.
    """
    # Every open dead letter at once is a big step after an outage: it has to be asked for.
    if not filters.narrows and not everything:
        raise UnnarrowedReplay("no tenant, reason or event id given, and not asked for every dead letter")


class UnreplayableDeadLetters(ValueError):
    """A replay that names dead letters a replay cannot fix (malformed: the parser refused them)."""


# Why a malformed dead letter stays open: the CLI, the admin API and the console all say it so.
UNREPLAYABLE_WHY = (
    "sevsync's parser refused the message as sent, and a replay sends the same bytes; "
    "the sender must send a corrected event"
)


@dataclass(frozen=True)
class ReplayableSelection:
    """The replayable part of a selection of dead letters, and what it leaves out."""

    filters: DeadLetterFilter  # the asked filters, open letters only, without the malformed ones
    matching: int  # open letters the asked filters match
    left_out: int  # of those, the ones no replay can fix (malformed); they stay open until purged

    @property
    def replayable(self) -> int:
        return self.matching - self.left_out


async def replayable_part(conn: Connection | asyncpg.Pool, filters: DeadLetterFilter) -> ReplayableSelection:
    """`filters` without the letters a replay cannot fix, with the counts; refuses nothing."""
    asked = replace(filters, open_only=True)
    selection = replace(asked, replayable_only=True)
    matching = await count_dead_letters(conn, asked)
    return ReplayableSelection(selection, matching, matching - await count_dead_letters(conn, selection))


async def replayable_selection(pool: asyncpg.Pool, filters: DeadLetterFilter) -> ReplayableSelection:
    """`replayable_part`, refused when `filters` names letters a replay cannot fix itself.

    Naming them (by event id, or by their reason) asks for a replay that can only fail the same way:
    `UnreplayableDeadLetters` says which and why. A wider selection (a tenant, every letter) just
    leaves them out; they stay open until purged. The CLI, the console and the admin API replay
    through this.
    """
    if filters.reason in UNREPLAYABLE_REASONS:
        raise UnreplayableDeadLetters(
            f"dead letters of reason {filters.reason} cannot be replayed: {UNREPLAYABLE_WHY}"
        )
    if filters.event_ids:
        selected = await list_dead_letters(pool, replace(filters, open_only=True), limit=None)
        refused = [dead for dead in selected if dead.reason in UNREPLAYABLE_REASONS]
        if refused:
            which = ", ".join(f"{dead.id} (event {dead.event_id})" for dead in refused[:3])
            many = len(refused) > 1
            raise UnreplayableDeadLetters(
                f"dead letter{'s' if many else ''} {which}{' ...' if len(refused) > 3 else ''} "
                f"{'are' if many else 'is'} {refused[0].reason}: {UNREPLAYABLE_WHY}"
            )
    return await replayable_part(pool, filters)


@dataclass(frozen=True)
class ReplaySummary:
    replayed: int
    # Matching rows of those that existed when it started, left open: beyond the limit, or held by
    # another replay running at the same time.
    still_open: int


async def preview(
    pool: asyncpg.Pool, filters: DeadLetterFilter, *, limit: int | None, everything: bool = False
) -> list[DeadLetter]:
    """What `replay` would publish with the same arguments, in the same order; changes nothing."""
    require_narrowed(filters, everything=everything)
    return await list_dead_letters(pool, replace(filters, open_only=True), limit=limit, newest_first=False)


async def replay(
    pool: asyncpg.Pool,
    amqp_url: str,
    queue: str,
    filters: DeadLetterFilter,
    *,
    limit: int | None = None,
    everything: bool = False,
    batch_size: int = REPLAY_BATCH,
) -> ReplaySummary:
    """Publish the open dead letters matching `filters` (at most `limit`) to `queue`, oldest first.

    Filters that narrow nothing select every open dead letter: refused unless `everything` is set.
    """
    require_narrowed(filters, everything=everything)
    # Only rows that exist now: a replayed message that fails again is dead-lettered as a new row,
    # which this run must not pick up and send round again.
    filters = replace(filters, open_only=True, up_to_id=await highest_id(pool))

    async def take(conn: Connection, sent: int) -> list[DeadLetter]:
        size = batch_size if limit is None else min(batch_size, limit - sent)
        return await lock_open_batch(conn, filters, limit=size) if size > 0 else []

    async def mark(conn: Connection, dead: DeadLetter) -> None:
        await mark_replayed(conn, dead.id)

    def message(dead: DeadLetter) -> aio_pika.Message:
        assert dead.body is not None
        return replay_message(dead.body, dead.event_id)

    try:
        replayed = await publish_rows(pool, amqp_url, queue, take, message, mark)
    except PublishStopped as stopped:
        raise ReplayError(
            f"replayed {stopped.published} dead letters, then publishing dead letter "
            f"{stopped.row.id} failed ({one_line(stopped.cause)}); it stays open"
        ) from stopped.cause
    log.info("replayed %d dead letters to %s", replayed, queue)
    return ReplaySummary(replayed=replayed, still_open=await count_dead_letters(pool, filters))


# --- publishing stored bodies to sevsync's own queue (dead letters, skipped events) ---------------


class PublishStopped(Exception):
    """The broker did not take one row's message; the `published` rows before it are marked."""

    def __init__(self, published: int, row: Any, cause: Exception) -> None:
        super().__init__(f"publishing stopped after {published} messages")
        self.published = published
        self.row = row  # as `take` handed it out
        self.cause = cause


async def publish_rows(
    pool: asyncpg.Pool,
    amqp_url: str,
    queue: str,
    take: Callable[[Connection, int], Awaitable[Sequence[Row]]],
    message: Callable[[Row], aio_pika.Message],
    mark: Callable[[Connection, Row], Awaitable[None]],
) -> int:
    """Publish stored rows to `queue` batch by batch; returns how many were published.

    Each batch is one transaction: `take` locks the next rows (given how many went out so far; none
    ends the run), each is published (default exchange, routing key = queue name, mandatory, with
    the broker's confirm) and then `mark`ed. A publish that fails ends the run with `PublishStopped`
    but still commits the rows confirmed before it, so that the next run does not send them again.
    A crash before the commit sends the batch again: the worker's inbox makes that harmless.
    Raises `ReplayError` at once when the queue does not exist.
    """
    published = 0
    connection = await connect_amqp(amqp_url)
    try:
        await _require_queue(connection, queue)
        # Confirms: a row is marked only once the broker has the message. With on_return_raises a
        # mandatory message the broker cannot route (the queue was deleted meanwhile) raises
        # instead of vanishing.
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        async with pool.acquire() as conn:
            while True:
                sent, failure = await _publish_batch(
                    conn, channel.default_exchange, queue, take, message, mark, published
                )
                published += sent
                if failure is not None:
                    raise PublishStopped(published, *failure)
                if not sent:
                    return published
    finally:
        await connection.close()


async def _publish_batch(
    conn: Connection,
    exchange: AbstractExchange,
    queue: str,
    take: Callable[[Connection, int], Awaitable[Sequence[Row]]],
    message: Callable[[Row], aio_pika.Message],
    mark: Callable[[Connection, Row], Awaitable[None]],
    published_before: int,
) -> tuple[int, tuple[Row, Exception] | None]:
    """Lock, publish and mark one batch in one transaction: how many went out, and what stopped it."""
    sent = 0
    async with conn.transaction():
        for row in await take(conn, published_before):
            try:
                await exchange.publish(
                    message(row), routing_key=queue, mandatory=True, timeout=PUBLISH_TIMEOUT
                )
            except Exception as exc:
                return sent, (row, exc)
            await mark(conn, row)
            sent += 1
    return sent, None


def replay_message(
    body: bytes, event_id: UUID | None, headers: HeadersType | None = None
) -> aio_pika.Message:
    """A stored body as a message to sevsync's own queue, byte for byte."""
    # No retry header: the event starts a fresh retry ladder.
    return aio_pika.Message(
        body,
        headers=headers,
        content_type="application/json",
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=str(event_id) if event_id is not None else None,
    )


async def _require_queue(connection: AbstractConnection, queue: str) -> None:
    """Refuse early, with a clear message, when the work queue has not been declared yet."""
    if not await queue_exists(connection, queue):
        raise ReplayError(
            f"queue {queue} does not exist on the broker; run `sevsync topology declare` "
            "or start a worker once: either declares it"
        )


# --- presentation --------------------------------------------------------------------------------


def describe(dead: DeadLetter, *, with_body: bool = False) -> dict[str, Any]:
    """A JSON-ready view; the body (personal data) only when asked for."""
    view: dict[str, Any] = {
        "id": dead.id,
        "dead_at": dead.dead_at.isoformat(),
        "tenant_id": dead.tenant_id,
        "event_type": dead.event_type,
        "event_id": str(dead.event_id) if dead.event_id is not None else None,
        "reason": dead.reason,
        "attempts": dead.attempts,
        "replayed_at": dead.replayed_at.isoformat() if dead.replayed_at else None,
        "error": dead.error,
    }
    if with_body:
        view["body"] = body_text(dead)
    return view


def body_text(dead: DeadLetter) -> str:
    # The body may not be UTF-8 at all (that may be why it is here): show such bytes as escapes.
    return (dead.body or b"").decode("utf-8", errors="backslashreplace")


def table(rows: list[DeadLetter]) -> list[str]:
    """One aligned line per dead letter under a header line; the error is trimmed to fit."""
    cells = [
        [
            str(dead.id),
            utc_timestamp(dead.dead_at),
            printable_cell(dead.tenant_id),
            printable_cell(dead.event_type),
            printable_cell(dead.event_id),
            printable_cell(dead.reason),
            str(dead.attempts),
            utc_timestamp(dead.replayed_at),
            _trim(printable_cell(dead.error), ERROR_WIDTH),
        ]
        for dead in rows
    ]
    widths = [max(len(row[i]) for row in [list(COLUMNS), *cells]) for i in range(len(COLUMNS) - 1)]
    return [
        "  ".join(
            [*(text.ljust(width) for text, width in zip(row[:-1], widths, strict=True)), row[-1]]
        ).rstrip()
        for row in [list(COLUMNS), *cells]
    ]


def _trim(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
