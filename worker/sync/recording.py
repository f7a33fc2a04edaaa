"""What a finished attempt writes: its outcome row, dead letter, parked or kept body, links and the
outbox messages that tell the CRM. Pure: it builds the records, the event store commits them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import BaseModel

from sevsync_events.envelope import ANY_ENVELOPE, Envelope
from sevsync_events.outbound import SyncResult
from sevsync_events.registry import InboundEvent, sync_event_type

from ..outcome_words import DEAD, FAILED, INBOX_STATUSES, PARKED, RETRYING
from ..store.commit import KeptSkip
from ..store.dead_letters import DeadLetterRow
from ..store.links import Link, LinkWrite
from ..store.outbox import OutboxMessage
from ..store.outcomes import OutcomeRow
from .policy import EventOutcome
from .result import HandlerResult, Outbound

if TYPE_CHECKING:
    # Annotations only: the handler table imports every handler and, through them, the sevDesk client.
    from .handlers import Handler

# Outbound event ids derive from the source event, so a re-publish after a crash is recognisable.
OUTBOUND_NAMESPACE = uuid.UUID("5e75c0de-0000-4000-8000-5e75c0de0001")


@dataclass(frozen=True, slots=True)
class FinishedDelivery:
    """An attempt at an event that has ended, with everything its records are made of."""

    event: InboundEvent
    handler: Handler
    attempt: int
    outcome: EventOutcome
    # Kept as the dead letter of a failed or dead outcome, or as a parked event's body.
    body: bytes
    duration_ms: int = 0
    api_calls: int = 0
    # The handler's result when it returned one: its links and extra outbound events are written.
    result: HandlerResult | None = None
    keep_skipped: KeptSkip | None = None
    # Outbox messages the handler committed itself (a `link.broken`): published with the event's.
    told: Sequence[OutboxMessage] = ()


@dataclass(frozen=True, slots=True)
class EventRecords:
    """Every record of one attempt, written atomically (store.commit.commit_result)."""

    outcome: OutcomeRow
    links: Sequence[LinkWrite] = ()
    mark_processed: bool = False
    dead_letter: DeadLetterRow | None = None
    outbox: Sequence[OutboxMessage] = ()
    clear_intents_of: Sequence[str] = ()
    settle_intents_of: Sequence[str] = ()
    park_body: bytes | None = None
    keep_skipped: KeptSkip | None = None


def records_of(finished: FinishedDelivery) -> EventRecords:
    event, handler, outcome, result = finished.event, finished.handler, finished.outcome, finished.result
    ended = outcome.status in (FAILED, DEAD)
    # The CRM hears of final outcomes only; a retry is not news yet.
    outbox = []
    if outcome.status != RETRYING:
        outbox.append(sync_result_message(event, handler, outcome, finished.attempt))
    if result is not None:
        outbox += [outbound_message(event, extra, finished.attempt) for extra in result.outbound]
    # In the outbox already (inserting again changes nothing): listed to be published at once.
    outbox += finished.told
    return EventRecords(
        outcome_row(event, handler, outcome, finished.attempt, finished.api_calls, finished.duration_ms),
        links=result.links if result else (),
        mark_processed=outcome.status in INBOX_STATUSES,
        dead_letter=_dead_letter(finished) if ended else None,
        outbox=outbox,
        clear_intents_of=handler.link_types if result is not None else (),
        settle_intents_of=handler.link_types if ended else (),
        park_body=finished.body if outcome.status == PARKED else None,
        keep_skipped=finished.keep_skipped,
    )


def _dead_letter(finished: FinishedDelivery) -> DeadLetterRow:
    event, outcome = finished.event, finished.outcome
    return DeadLetterRow(
        reason=outcome.reason or outcome.status,
        error=outcome.error,
        body=finished.body,
        event_id=event.event_id,
        tenant_id=event.tenant_id,
        event_type=event.event_type,
        attempts=finished.attempt,
    )


def outcome_row(
    event: InboundEvent,
    handler: Handler,
    outcome: EventOutcome,
    attempt: int,
    api_calls: int,
    duration_ms: int,
) -> OutcomeRow:
    return OutcomeRow(
        event_id=event.event_id,
        tenant_id=event.tenant_id,
        event_type=event.event_type,
        entity_type=handler.entity_type,
        entity_id=event.entity_id,
        status=outcome.status,
        reason=outcome.reason,
        attempt=attempt,
        sevdesk_object=outcome.sevdesk_object,
        sevdesk_id=outcome.sevdesk_id,
        api_calls=api_calls,
        duration_ms=duration_ms,
        error=outcome.error,
    )


def kept_skip(
    event: InboundEvent, handler: Handler, body: bytes, links: Sequence[Link], kind: tuple[str, ...]
) -> KeptSkip | None:
    """The body to keep of an event the gate skipped for its tenant, or None.

    Nothing is kept of an event older than a version applied already, which would only be stale
    when sent. (A tenant without a row never connected: the caller keeps nothing of its events.)
    """
    if any(link.synced_version is not None and link.synced_version > event.version for link in links):
        return None
    return KeptSkip(event.version, handler.link_types, body, kind)


def sync_result_message(
    event: InboundEvent, handler: Handler, outcome: EventOutcome, attempt: int
) -> OutboxMessage:
    data = SyncResult(
        source_event_id=event.event_id,
        source_event_type=event.event_type,
        entity_type=handler.entity_type,
        entity_id=event.entity_id,
        status=outcome.status,
        reason=outcome.reason,
        sevdesk_object=outcome.sevdesk_object,
        sevdesk_id=outcome.sevdesk_id,
        sevdesk_number=outcome.sevdesk_number,
        error=outcome.error,
    )
    return outbound_message(event, Outbound(sync_event_type(data.status), data), attempt)


def outbound_message(source: InboundEvent, outbound: Outbound, attempt: int) -> OutboxMessage:
    event_id = uuid.uuid5(OUTBOUND_NAMESPACE, f"{source.event_id}/{outbound.event_type}/{attempt}")
    envelope: Envelope[BaseModel] = ANY_ENVELOPE.new(
        event_type=outbound.event_type,
        tenant_id=source.tenant_id,
        version=source.version,
        data=outbound.data,
        event_id=event_id,
    )
    body = envelope.to_json_bytes()
    return OutboxMessage(event_id=event_id, routing_key=outbound.event_type, body=body)
