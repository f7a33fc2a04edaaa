"""One event's attempt, start to end: validate, serialise per entity, gate, apply, record, tell the CRM.

It takes a delivery's body and plain facts about it (retries and deferrals so far, a skipped replay)
and returns a `Decision`; queues and headers are the broker's. Every outcome is committed before
`process` returns. How an attempt ends is the outcome policy's (`policy.py`); what it writes is
`recording.py`'s.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace

from aiolimiter import AsyncLimiter

from sevsync_events.errors import InvalidEvent
from sevsync_events.registry import InboundEvent, parse_inbound

from ..disposition import ACK, UNKNOWN_TYPE, Decision, Disposition
from ..outcome_words import DEAD, DELIVERY_LIMIT, DUPLICATE, NOT_CONNECTED, SKIPPED, UNKNOWN_EVENT_TYPE
from ..retry_schedule import RetrySchedule
from ..sevdesk.api import SevdeskApi
from ..sevdesk.client import CallCounter, SevdeskClient, current_call_counter
from ..store.commit import KeptSkip
from ..store.dead_letters import DeadLetterRow
from ..store.event_state import EventState
from ..store.links import Link
from ..store.outbox import OutboxMessage
from ..store.tenants import STATUS_AUTH_FAILED
from ..tenants.crypto import SecretKeyError, TokenCipher
from ..tenants.token_cache import TokenCache
from .context import SyncContext
from .document_intake import DocumentIntake
from .event_store import EventSession, EventStore
from .gate import skip_reason
from .handlers import HANDLERS, Handler, same_kind
from .locks import KeyedLocks, entity_lock_key
from .lookups import LookupRegistry
from .policy import (
    HANDLED_FAILURES,
    EventFacts,
    EventOutcome,
    Verdict,
    after_failure,
    after_success,
    before_handler,
)
from .recording import FinishedDelivery, kept_skip, outbound_message, outcome_row, records_of
from .rejects import count_unhandled, rejected, unhandled_label
from .result import HandlerResult, SyncFailure
from .throttle import Throttle

log = logging.getLogger(__name__)

OutboxFlusher = Callable[[Sequence[OutboxMessage]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
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


class Processor:
    def __init__(
        self,
        *,
        store: EventStore,
        client: SevdeskClient,
        cipher: TokenCipher,
        flush_outbox: OutboxFlusher,
        max_body_bytes: int,
        schedule: RetrySchedule,
        settle_seconds: float = 60.0,
        handlers: dict[str, Handler] | None = None,
        throttle: Throttle,
        documents: DocumentIntake | None = None,
    ) -> None:
        self._store = store
        self._client = client
        # Decrypted once per tenant and stored token, not per event.
        self._tokens = TokenCache(cipher)
        self._flush_outbox = flush_outbox
        self._max_body_bytes = max_body_bytes
        self._schedule = schedule
        self._settle_seconds = settle_seconds
        self._handlers = HANDLERS if handlers is None else handlers
        self._lookups = LookupRegistry()
        self._locks = KeyedLocks()
        self._throttle = throttle
        self._documents = documents or DocumentIntake()

    def pace_of(self, tenant_id: str) -> AsyncLimiter | None:
        """The tenant's request rate in this process, which its reconciliation shares."""
        return self._throttle.pace(tenant_id)

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
            return await self._dead_letter_invalid(body, _no_handler(event))

        lock_key = entity_lock_key(event.tenant_id, handler.entity_type, event.entity_id)
        async with self._throttle.hold(event.tenant_id) as held:
            if held is None:
                step = self._schedule.defer_step(deferrals)
                log.debug(
                    "tenant %s holds its share of this worker; deferring %s", event.tenant_id, event.event_id
                )
                return Decision(Disposition.DEFER, step, event.event_type)
            async with (
                self._locks.hold(lock_key, event.version, handler.coalesce),
                held.running(),
                self._store.locked(lock_key) as session,
            ):
                work = _Work(event, handler, body, retries, lock_key, held.pace, skipped_replay)
                decision = await self._process_locked(session, work)
                return replace(decision, event_type=event.event_type)

    async def _process_locked(self, session: EventSession, work: _Work) -> Decision:
        event, handler = work.event, work.handler
        # The first read takes the entity's lock: the time spent waiting for it is not processing.
        state = await session.read_state(event.event_id, event.tenant_id, handler.link_types, event.entity_id)
        started = time.monotonic()
        attempt = state.attempt
        if attempt is None and work.skipped_replay:
            attempt = await session.reopen_skipped(event.event_id)
        if attempt is None:
            await self._record_duplicate(session, work)
            return ACK
        verdict = before_handler(self._facts(state, work))
        result, api_calls, told = None, 0, list[OutboxMessage]()
        if verdict is None:
            verdict, result, api_calls = await self._run(session, state, work, attempt, told)
        if verdict.mark_auth_failed:
            await self._store.mark_auth_failed(event.tenant_id)
            log.warning("sevDesk refused the token of tenant %s; its events are parked", event.tenant_id)
        kept = self._kept_skip(state, work) if verdict.keep_skipped else None
        finished = FinishedDelivery(
            event,
            handler,
            attempt,
            verdict.outcome,
            work.body,
            duration_ms=int((time.monotonic() - started) * 1000),
            api_calls=api_calls,
            result=result,
            keep_skipped=kept,
            told=told,
        )
        await self._finish(session, finished)
        return verdict.decision

    def _facts(self, state: EventState, work: _Work) -> EventFacts:
        tenant, event = state.tenant, work.event
        return EventFacts(
            version=event.version,
            skip_reason=skip_reason(tenant, work.handler),
            token_refused=tenant is not None and tenant.status == STATUS_AUTH_FAILED,
            applied=max(state.links, key=lambda link: link.synced_version or 0, default=None),
            newer_waiting=self._locks.newer_waiting(work.lock_key, work.handler.coalesce, event.version),
        )

    def _kept_skip(self, state: EventState, work: _Work) -> KeptSkip | None:
        # A tenant without a row never connected: its events keep nothing.
        if state.tenant is None:
            return None
        kind = same_kind(work.event.event_type, self._handlers)
        return kept_skip(work.event, work.handler, work.body, state.links, kind)

    async def _run(
        self, session: EventSession, state: EventState, work: _Work, attempt: int, told: list[OutboxMessage]
    ) -> tuple[Verdict, HandlerResult | None, int]:
        """Run the handler, counting its sevDesk calls; the policy's verdict on what it did. What the
        handler committed to the outbox itself is added to `told`, to be published with the rest."""
        event, tenant = work.event, state.tenant
        assert tenant is not None
        assert tenant.token_encrypted is not None
        known_links: dict[tuple[str, str], Link | None] = dict.fromkeys(
            (link_type, event.entity_id) for link_type in work.handler.link_types
        )
        known_links.update({(link.entity_type, link.entity_id): link for link in state.links})
        try:
            token = self._tokens.token(tenant.tenant_id, tenant.token_encrypted)
        except SecretKeyError as exc:
            failure = SyncFailure(NOT_CONNECTED, f"the stored token cannot be decrypted: {exc}")
            return after_failure(failure, work.retries, self._schedule), None, 0
        ctx = SyncContext(
            store=session.entity_store(tenant.tenant_id),
            tenant=tenant,
            api=SevdeskApi(self._client, token, work.pace),
            lookups=self._lookups.for_tenant(tenant.tenant_id),
            settle_seconds=self._settle_seconds,
            outbound_message=lambda outbound: outbound_message(event, outbound, attempt),
            known_links=known_links,
            documents=self._documents,
            told=told,
        )
        counter = CallCounter()
        counter_token = current_call_counter.set(counter)
        try:
            result = await work.handler.run(ctx, event)
        except HANDLED_FAILURES as failure:
            return after_failure(failure, work.retries, self._schedule), None, counter.calls
        finally:
            current_call_counter.reset(counter_token)
        return after_success(result), result, counter.calls

    async def _record_duplicate(self, session: EventSession, work: _Work) -> None:
        """Already applied or skipped: record the redelivery, change nothing, tell nobody."""
        event, handler = work.event, work.handler
        await session.record_duplicate(outcome_row(event, handler, EventOutcome(SKIPPED, DUPLICATE), 0, 0, 0))
        log.info(
            "duplicate delivery of %s skipped",
            event.event_id,
            extra=_log_fields(event, handler, SKIPPED, DUPLICATE),
        )

    async def _finish(self, session: EventSession, finished: FinishedDelivery) -> None:
        """Commit the attempt's records, log its outcome and publish what tells the CRM."""
        records = records_of(finished)
        await session.commit(records)
        event, outcome = finished.event, finished.outcome
        log.info(
            "%s %s %s/%s: %s%s",
            event.event_type,
            event.event_id,
            event.tenant_id,
            event.entity_id,
            outcome.status,
            f" ({outcome.reason})" if outcome.reason else "",
            extra=_log_fields(event, finished.handler, outcome.status, outcome.reason),
        )
        await self._flush(records.outbox)

    async def _flush(self, outbox: Sequence[OutboxMessage]) -> None:
        try:
            await self._flush_outbox(outbox)
        except Exception:
            # The rows are committed; the outbox relay publishes them later.
            log.warning("outbound events not published yet; the outbox relay will retry", exc_info=True)

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
            label = unhandled_label(invalid.reason)
        handler = self._handlers.get(event.event_type) if event is not None else None
        if event is None or handler is None:
            if event is not None:
                ids = (event.event_id, event.tenant_id, event.event_type)
                label = UNKNOWN_TYPE
            row = DeadLetterRow(DELIVERY_LIMIT, detail, body, *ids, attempts=deliveries or 1)
            await self._store.insert_dead_letter(row, ())
            count_unhandled(label, DELIVERY_LIMIT)
            return
        async with self._store.session() as session:
            # None of those deliveries left an outcome row, so the broker's count is the true one.
            attempt = max(await session.next_attempt(event.event_id), deliveries or 1)
            outcome = EventOutcome(DEAD, DELIVERY_LIMIT, detail)
            await self._finish(session, FinishedDelivery(event, handler, attempt, outcome, body))

    async def _dead_letter_invalid(self, body: bytes, invalid: InvalidEvent) -> Decision:
        """Record a delivery that cannot be processed as sent; it is acked."""
        row, outbox = rejected(body, invalid)
        await self._store.insert_dead_letter(row, outbox)
        if outbox:
            await self._flush(outbox)
        label = unhandled_label(invalid.reason)
        count_unhandled(label, invalid.reason)
        return replace(ACK, event_type=label)


def _no_handler(event: InboundEvent) -> InvalidEvent:
    return InvalidEvent(
        UNKNOWN_EVENT_TYPE,
        f"event type {event.event_type!r} has no handler in this sevsync version",
        event_id=event.event_id,
        tenant_id=event.tenant_id,
        event_type=event.event_type,
    )


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
