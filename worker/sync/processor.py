"""One delivery, start to end: validate, serialise per entity, gate, apply, record, tell the CRM.

Broker-agnostic: it takes the raw body and returns what to do with the delivery, so the consumer
only acks or requeues. Every outcome is committed to Postgres before `process` returns.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from enum import Enum

import asyncpg
from aiolimiter import AsyncLimiter
from pydantic import BaseModel

from sevsync_events.envelope import ANY_ENVELOPE, Envelope
from sevsync_events.errors import InvalidEvent
from sevsync_events.outbound import SyncResult
from sevsync_events.registry import SYNC_FAILED, InboundEvent, parse_inbound, sync_event_type

from .. import metrics
from ..broker.ladder import RetryLadder, delay_label
from ..outcome_words import (
    AUTH_FAILED,
    DEAD,
    DELIVERY_LIMIT,
    DUPLICATE,
    FAILED,
    INBOX_STATUSES,
    MALFORMED,
    NOT_CONNECTED,
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
from ..sevdesk.api import SevdeskApi
from ..sevdesk.client import CallCounter, SevdeskClient, current_call_counter
from ..sevdesk.errors import (
    AnsweredWriteError,
    AuthError,
    PermanentError,
    TransientError,
    UncertainWriteError,
)
from ..store.commit import KeptSkip, commit_result
from ..store.db import Connection
from ..store.dead_letters import DeadLetterRow, insert_dead_letter
from ..store.event_state import read_event_state
from ..store.links import Link
from ..store.outbox import OutboxMessage, insert_outbox
from ..store.outcomes import OutcomeRow, insert_outcome, next_attempt
from ..store.skipped import reopen_skipped
from ..store.tenants import TenantRecord, TenantRepository
from ..tenants.crypto import SecretKeyError, TokenCipher
from .context import SyncContext
from .entity_store import PostgresEntityStore
from .gate import REPLAYABLE_SKIPS, skip_reason
from .handlers import HANDLERS, Handler, same_kind
from .locks import KeyedLocks, entity_lock_key
from .lookups import LookupRegistry
from .result import HandlerResult, Outbound, SyncFailure, WaitingFor
from .throttle import Throttle

log = logging.getLogger(__name__)

# Metric labels for deliveries that name no handled event type (labels must stay a bounded set).
MALFORMED_TYPE = "malformed"
UNKNOWN_TYPE = "unknown"

# Outbound event ids derive from the source event, so a re-publish after a crash is recognisable.
OUTBOUND_NAMESPACE = uuid.UUID("5e75c0de-0000-4000-8000-5e75c0de0001")


class Disposition(Enum):
    ACK = "ack"
    # Processing could not even record an outcome (database down, a bug): let the broker redeliver.
    REQUEUE = "requeue"
    # A transient failure: wait on the retry ladder's `retry_step`, then try again.
    RETRY = "retry"
    # The tenant holds its share of this process already: wait on ladder step `retry_step` without
    # spending a retry, so that the prefetch window stays open to the other tenants.
    DEFER = "defer"


@dataclass(frozen=True)
class Decision:
    disposition: Disposition
    retry_step: int | None = None
    # For metrics: a handled event type, or `malformed` / `unknown`.
    event_type: str = UNKNOWN_TYPE


ACK = Decision(Disposition.ACK)


OutboxFlusher = Callable[[Sequence[OutboxMessage]], Awaitable[None]]


@dataclass(frozen=True)
class _Work:
    """A delivery admitted to processing, holding its entity's locks."""

    event: InboundEvent
    handler: Handler
    body: bytes
    retries: int
    lock_key: str
    pace: AsyncLimiter | None
    # An operator sends this skipped event again on purpose (`sevsync skipped replay`).
    skipped_replay: bool = False


@dataclass(frozen=True)
class EventOutcome:
    status: str
    reason: str | None = None
    error: str | None = None
    sevdesk_object: str | None = None
    sevdesk_id: str | None = None
    sevdesk_number: str | None = None


class Processor:
    def __init__(
        self,
        *,
        pool: asyncpg.Pool,
        client: SevdeskClient,
        cipher: TokenCipher,
        flush_outbox: OutboxFlusher,
        max_body_bytes: int,
        ladder: RetryLadder,
        settle_seconds: float = 60.0,
        handlers: dict[str, Handler] | None = None,
        throttle: Throttle,
    ) -> None:
        self._pool = pool
        self._client = client
        self._cipher = cipher
        self._flush_outbox = flush_outbox
        self._max_body_bytes = max_body_bytes
        self._ladder = ladder
        self._settle_seconds = settle_seconds
        self._handlers = HANDLERS if handlers is None else handlers
        self._tenants = TenantRepository(pool)
        self._lookups = LookupRegistry()
        self._locks = KeyedLocks()
        self._throttle = throttle

    @property
    def handled_event_types(self) -> list[str]:
        return sorted(self._handlers)

    async def process(
        self, body: bytes, retries: int = 0, deferrals: int = 0, *, skipped_replay: bool = False
    ) -> Decision:
        """Apply one delivery; `retries` and `deferrals` count its earlier waits on the ladder.

        `skipped_replay`: the delivery is a skipped event sent again on purpose; it passes the inbox
        if the event's newest outcome is still a skip that depended on the tenant alone.
        """
        try:
            event = parse_inbound(body, max_bytes=self._max_body_bytes)
        except InvalidEvent as invalid:
            return await self._dead_letter_invalid(body, invalid)
        handler = self._handlers.get(event.event_type)
        if handler is None:
            return await self._dead_letter_invalid(
                body,
                InvalidEvent(
                    "unknown_event_type",
                    f"event type {event.event_type!r} has no handler in this sevsync version",
                    event_id=event.event_id,
                    tenant_id=event.tenant_id,
                    event_type=event.event_type,
                ),
            )

        lock_key = entity_lock_key(event.tenant_id, handler.entity_type, event.entity_id)
        async with self._throttle.hold(event.tenant_id) as held:
            if held is None:
                step = self._ladder.defer_step(deferrals)
                log.debug(
                    "tenant %s holds its share of this worker; deferring %s", event.tenant_id, event.event_id
                )
                return Decision(Disposition.DEFER, step, event.event_type)
            async with (
                self._locks.hold(lock_key, event.version, handler.coalesce),
                held.running(),
                self._pool.acquire() as conn,
            ):
                # Across worker processes: the same key as a Postgres session lock on this connection.
                # The pool's reset on release (pg_advisory_unlock_all, or the connection terminated
                # if that fails) ends it, before the in-process lock is given up.
                await conn.execute("SELECT pg_advisory_lock(hashtextextended($1, 0))", lock_key)
                work = _Work(event, handler, body, retries, lock_key, held.pace, skipped_replay)
                decision = await self._process_locked(conn, work)
                return replace(decision, event_type=event.event_type)

    async def _process_locked(self, conn: Connection, work: _Work) -> Decision:
        event, handler, body, retries = work.event, work.handler, work.body, work.retries
        started = time.monotonic()
        state = await read_event_state(
            conn, event.event_id, event.tenant_id, handler.link_types, event.entity_id
        )
        attempt = state.attempt
        if attempt is None and work.skipped_replay:
            attempt = await reopen_skipped(conn, event.event_id, REPLAYABLE_SKIPS)
        if attempt is None:
            # Already applied or skipped: record the redelivery, change nothing, tell nobody.
            await insert_outcome(
                conn,
                self._outcome_row(event, handler, EventOutcome(SKIPPED, DUPLICATE), 0, 0, 0),
            )
            log.info(
                "duplicate delivery of %s skipped",
                event.event_id,
                extra=_log_fields(event, handler, SKIPPED, DUPLICATE),
            )
            return ACK
        tenant = state.tenant
        gate = skip_reason(tenant, handler)
        if gate is not None:
            kept = _kept_skip(
                tenant, event, handler, body, state.links, same_kind(event.event_type, self._handlers)
            )
            outcome = EventOutcome(SKIPPED, gate)
            await self._finish(conn, event, handler, attempt, started, outcome, keep_skipped=kept)
            return ACK
        assert tenant is not None
        if tenant.status == "auth_failed":
            outcome = EventOutcome(PARKED, AUTH_FAILED, "the tenant's sevDesk token was refused")
            await self._finish(conn, event, handler, attempt, started, outcome, body=body)
            return ACK

        # The entity's link with the newest applied version (a deal has an offer and an invoice).
        link = max(state.links, key=lambda link: link.synced_version or 0, default=None)
        if link is not None and link.synced_version is not None and event.version < link.synced_version:
            outcome = EventOutcome(
                SKIPPED,
                STALE,
                error=f"version {event.version} is older than the applied version {link.synced_version}",
                sevdesk_object=link.sevdesk_object,
                sevdesk_id=link.sevdesk_id,
                sevdesk_number=link.sevdesk_number,
            )
            await self._finish(conn, event, handler, attempt, started, outcome)
            return ACK

        newer = self._locks.newer_waiting(work.lock_key, handler.coalesce, event.version)
        if newer is not None:
            outcome = EventOutcome(SKIPPED, SUPERSEDED, f"version {newer} of the entity is next in line")
            await self._finish(conn, event, handler, attempt, started, outcome)
            return ACK

        counter = CallCounter()
        counter_token = current_call_counter.set(counter)
        try:
            result = await self._run_handler(conn, tenant, work, attempt, state.links)
        except SyncFailure as failure:
            outcome = EventOutcome(FAILED, failure.reason, failure.message, failure.sevdesk_object)
            await self._finish(conn, event, handler, attempt, started, outcome, counter, body=body)
            return ACK
        except (WaitingFor, TransientError, UncertainWriteError) as exc:
            # Not applicable yet, or the in-process retry budget is spent: wait on the broker-side
            # ladder, if steps are left.
            waiting = exc if isinstance(exc, WaitingFor) else _waiting_for_sevdesk(exc)
            step = self._ladder.next_step(retries, waiting.retry_after)
            if step is None:
                outcome = EventOutcome(
                    waiting.final_status,
                    waiting.final_reason or waiting.reason,
                    f"{waiting.message} (after {retries} retries)",
                )
                await self._finish(conn, event, handler, attempt, started, outcome, counter, body=body)
                return ACK
            delay = self._ladder.delays[step]
            outcome = EventOutcome(
                RETRYING, waiting.reason, f"{waiting.message}; next try in {delay_label(delay)}"
            )
            await self._finish(conn, event, handler, attempt, started, outcome, counter)
            return Decision(Disposition.RETRY, step)
        except AuthError as exc:
            await self._tenants.mark_auth_failed(event.tenant_id)
            log.warning("sevDesk refused the token of tenant %s; its events are parked", event.tenant_id)
            outcome = EventOutcome(PARKED, AUTH_FAILED, exc.describe())
            await self._finish(conn, event, handler, attempt, started, outcome, counter, body=body)
            return ACK
        except PermanentError as exc:
            outcome = EventOutcome(FAILED, SEVDESK_REJECTED, exc.describe())
            await self._finish(conn, event, handler, attempt, started, outcome, counter, body=body)
            return ACK
        finally:
            current_call_counter.reset(counter_token)

        outcome = EventOutcome(
            result.status,
            result.reason,
            None,
            result.sevdesk_object,
            result.sevdesk_id,
            result.sevdesk_number,
        )
        await self._finish(conn, event, handler, attempt, started, outcome, counter, result=result)
        return ACK

    async def _run_handler(
        self, conn: Connection, tenant: TenantRecord, work: _Work, attempt: int, links: Sequence[Link]
    ) -> HandlerResult:
        event = work.event
        known_links: dict[tuple[str, str], Link | None] = dict.fromkeys(
            (link_type, event.entity_id) for link_type in work.handler.link_types
        )
        known_links.update({(link.entity_type, link.entity_id): link for link in links})
        assert tenant.token_encrypted is not None
        try:
            token = self._cipher.decrypt(tenant.token_encrypted)
        except SecretKeyError as exc:
            raise SyncFailure(NOT_CONNECTED, f"the stored token cannot be decrypted: {exc}") from None
        ctx = SyncContext(
            store=PostgresEntityStore(conn, tenant.tenant_id),
            tenant=tenant,
            api=SevdeskApi(self._client, token, work.pace),
            lookups=self._lookups.for_tenant(tenant.tenant_id),
            settle_seconds=self._settle_seconds,
            outbound_message=lambda outbound: _outbound_message(event, outbound, attempt),
            known_links=known_links,
        )
        return await work.handler.run(ctx, event)

    async def _finish(
        self,
        conn: Connection,
        event: InboundEvent,
        handler: Handler,
        attempt: int,
        started: float,
        outcome: EventOutcome,
        counter: CallCounter | None = None,
        *,
        result: HandlerResult | None = None,
        body: bytes | None = None,
        keep_skipped: KeptSkip | None = None,
    ) -> None:
        duration_ms = int((time.monotonic() - started) * 1000)
        row = self._outcome_row(
            event, handler, outcome, attempt, counter.calls if counter else 0, duration_ms
        )
        dead_letter = None
        if outcome.status in (FAILED, DEAD):
            assert body is not None
            dead_letter = DeadLetterRow(
                reason=outcome.reason or outcome.status,
                error=outcome.error,
                body=body,
                event_id=event.event_id,
                tenant_id=event.tenant_id,
                event_type=event.event_type,
                attempts=attempt,
            )
        # The CRM hears of final outcomes only; a retry is not news yet.
        outbox = []
        if outcome.status != RETRYING:
            outbox.append(self._sync_result_message(event, handler, outcome, attempt))
        if result is not None:
            outbox += [_outbound_message(event, extra, attempt) for extra in result.outbound]
        await commit_result(
            conn,
            row,
            links=result.links if result else (),
            mark_processed=outcome.status in INBOX_STATUSES,
            dead_letter=dead_letter,
            outbox=outbox,
            clear_intents_of=handler.link_types if result is not None else (),
            settle_intents_of=handler.link_types if outcome.status in (FAILED, DEAD) else (),
            park_body=body if outcome.status == PARKED else None,
            keep_skipped=keep_skipped,
        )
        log.info(
            "%s %s %s/%s: %s%s",
            event.event_type,
            event.event_id,
            event.tenant_id,
            event.entity_id,
            outcome.status,
            f" ({outcome.reason})" if outcome.reason else "",
            extra=_log_fields(event, handler, outcome.status, outcome.reason),
        )
        await self._flush(outbox)

    async def _flush(self, outbox: Sequence[OutboxMessage]) -> None:
        try:
            await self._flush_outbox(outbox)
        except Exception:
            # The rows are committed; the outbox relay publishes them later.
            log.warning("outbound events not published yet; the outbox relay will retry", exc_info=True)

    def _outcome_row(
        self,
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

    def _sync_result_message(
        self, event: InboundEvent, handler: Handler, outcome: EventOutcome, attempt: int
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
        return _outbound_message(event, Outbound(sync_event_type(data.status), data), attempt)

    async def record_delivery_limit(self, body: bytes, deliveries: int | None) -> None:
        """The broker dead-lettered a message that failed every delivery before its outcome was recorded."""
        detail = (
            f"the broker gave up after {deliveries or 'repeated'} deliveries, "
            "each of which failed before an outcome could be recorded"
        )
        try:
            event = parse_inbound(body, max_bytes=None)
        except InvalidEvent as invalid:
            event = None
            ids = (invalid.event_id, invalid.tenant_id, invalid.event_type)
            label = _unhandled_label(invalid.reason)
        handler = self._handlers.get(event.event_type) if event is not None else None
        if event is None or handler is None:
            if event is not None:
                ids = (event.event_id, event.tenant_id, event.event_type)
                label = UNKNOWN_TYPE
            await insert_dead_letter(
                self._pool,
                DeadLetterRow(DELIVERY_LIMIT, detail, body, *ids, attempts=deliveries or 1),
            )
            _count_unhandled(label, DELIVERY_LIMIT)
            return
        async with self._pool.acquire() as conn:
            # None of those deliveries left an outcome row, so the broker's count is the true one.
            attempt = max(await next_attempt(conn, event.event_id), deliveries or 1)
            outcome = EventOutcome(DEAD, DELIVERY_LIMIT, detail)
            await self._finish(conn, event, handler, attempt, time.monotonic(), outcome, body=body)

    async def _dead_letter_invalid(self, body: bytes, invalid: InvalidEvent) -> Decision:
        """Record a delivery that cannot be processed as sent; it is acked."""
        label = _unhandled_label(invalid.reason)
        log.warning(
            "dead-lettered a message: %s: %s",
            invalid.reason,
            invalid.detail,
            extra={
                "event_id": invalid.event_id,
                "event_type": invalid.event_type,
                "tenant_id": invalid.tenant_id,
                "status": DEAD,
                "reason": invalid.reason,
            },
        )
        row = DeadLetterRow(
            reason=invalid.reason,
            error=invalid.detail,
            body=body,
            event_id=invalid.event_id,
            tenant_id=invalid.tenant_id,
            event_type=invalid.event_type,
        )
        if invalid.tenant_id is None:
            # Without a tenant there is nobody to address a sync.failed to; the row is all there is.
            await insert_dead_letter(self._pool, row)
        else:
            message = _rejection_message(body, invalid, invalid.tenant_id)
            async with self._pool.acquire() as conn, conn.transaction():
                await insert_dead_letter(conn, row)
                await insert_outbox(conn, [message])
            await self._flush([message])
        _count_unhandled(label, invalid.reason)
        return replace(ACK, event_type=label)


def _unhandled_label(reason: str) -> str:
    return MALFORMED_TYPE if reason == MALFORMED else UNKNOWN_TYPE


def _count_unhandled(label: str, reason: str) -> None:
    """Count a dead letter that has no outcome row (no handler could take it), once it is written.

    Outcome rows count themselves where they are written (store.outcomes); these count under `malformed`
    or `unknown`, so a message that cannot be written yet is counted once, when it finally is.
    """
    metrics.OUTCOMES.labels(label, DEAD, reason).inc()


def _log_fields(event: InboundEvent, handler: Handler, status: str, reason: str | None) -> dict[str, object]:
    """The JSON fields of an outcome's log line (logs.CONTEXT_FIELDS)."""
    return {
        "event_id": event.event_id,
        "event_type": event.event_type,
        "tenant_id": event.tenant_id,
        "entity_type": handler.entity_type,
        "entity_id": event.entity_id,
        "status": status,
        "reason": reason,
    }


def _rejection_message(body: bytes, invalid: InvalidEvent, tenant_id: str) -> OutboxMessage:
    """sync.failed for a message that was dead-lettered before it could be understood."""
    data = SyncResult(
        source_event_id=invalid.event_id,
        source_event_type=invalid.event_type,
        status="dead",
        reason=invalid.reason,
        error=invalid.detail,
    )
    # Deterministic, so that a redelivered copy of the same bad message yields the same event id.
    source = str(invalid.event_id) if invalid.event_id else hashlib.sha256(body).hexdigest()
    event_id = uuid.uuid5(OUTBOUND_NAMESPACE, f"{source}/{SYNC_FAILED}/rejected")
    envelope: Envelope[BaseModel] = ANY_ENVELOPE.new(
        event_type=SYNC_FAILED, tenant_id=tenant_id, version=0, data=data, event_id=event_id
    )
    return OutboxMessage(event_id=event_id, routing_key=SYNC_FAILED, body=envelope.to_json_bytes())


def _waiting_for_sevdesk(exc: TransientError | UncertainWriteError) -> WaitingFor:
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
    return WaitingFor(reason, exc.describe(), "dead", RETRIES_EXHAUSTED, retry_after)


def _kept_skip(
    tenant: TenantRecord | None,
    event: InboundEvent,
    handler: Handler,
    body: bytes,
    links: Sequence[Link],
    kind: tuple[str, ...],
) -> KeptSkip | None:
    """The body to keep of an event skipped by the gate, so that it can be sent later, or None.

    A tenant without a row never connected: its events keep nothing. Nor does an event older than
    a version applied already, which would only be stale when sent.
    """
    if tenant is None:
        return None
    if any(link.synced_version is not None and link.synced_version > event.version for link in links):
        return None
    return KeptSkip(event.version, handler.link_types, body, kind)


def _outbound_message(source: InboundEvent, outbound: Outbound, attempt: int) -> OutboxMessage:
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
