"""Skipped events for operators: which wait, sending them once the tenant syncs, and retention.

An event skipped because its tenant did not sync yet (`not_connected`, `disabled`, `auto_sync_off`)
keeps its body (CONTRACT section 5), per entity the newest version of each kind of event
(`handlers.same_kind`). A replay publishes what is kept, oldest skip first, to sevsync's own work
queue through the default exchange (never the CRM exchange, whose other consumers must not see the
event twice), mandatory and with publisher confirms, and carrying `REPLAY_HEADER` (broker.headers).
That header lets the event pass the inbox, where its skip put it, exactly once: the processor checks
under the entity's lock that the event's newest outcome is still such a skip, so a second copy (a
replay run twice, or a crash between the broker's confirm and the commit) is a duplicate. The `skipped`
outcome row stays as history; the new attempt's rows follow it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

import aio_pika
import asyncpg

from .broker.headers import REPLAY_HEADER, SKIPPED_REPLAY
from .outcome_words import AUTH_FAILED, AUTO_SYNC_OFF, DISABLED, NOT_CONNECTED
from .replay import REPLAY_BATCH, PublishStopped, ReplayError, one_line, publish_rows, replay_message
from .store.db import Connection
from .store.skipped import (
    SkippedEvent,
    count_waiting,
    list_waiting,
    lock_for_replay,
    mark_replayed,
    purge_skipped,
)
from .store.tenants import STATUS_AUTH_FAILED, TenantRecord, TenantRepository
from .sync.gate import skip_reason, tenant_skip_reason
from .sync.handlers import HANDLERS
from .tenants.service import TenantNotFound

log = logging.getLogger(__name__)

# The worker purges bodies past the retention once a day (and once at start-up).
PURGE_INTERVAL_SECONDS = 24 * 3600.0


class SkippedReplayRefused(Exception):
    """The tenant would skip the events again; `reason` is the skip reason they would get, and for
    `auto_sync_off` `settings_off` names the tenant settings that switch their kinds off."""

    def __init__(
        self, message: str, *, tenant_id: str, reason: str, settings_off: tuple[str, ...] = ()
    ) -> None:
        super().__init__(message)
        self.tenant_id = tenant_id
        self.reason = reason
        self.settings_off = settings_off


class SkippedReplayFailed(Exception):
    """Publishing stopped part-way; `replayed` were sent (and marked) before it."""

    def __init__(self, message: str, *, replayed: int) -> None:
        super().__init__(message)
        self.replayed = replayed


@dataclass(frozen=True)
class SkippedReplaySummary:
    replayed: int
    # Events not sent because the tenant switched their kind off: auto-sync setting -> count.
    held_back: dict[str, int] = field(default_factory=dict)


async def tenant_record(pool: asyncpg.Pool, tenant_id: str) -> TenantRecord:
    record = await TenantRepository(pool).get(tenant_id)
    if record is None:
        raise TenantNotFound(f"tenant {tenant_id} is not known")
    return record


def refusal(tenant: TenantRecord) -> SkippedReplayRefused | None:
    """Why no skipped event of this tenant can be sent now (it would be skipped or parked again)."""
    tenant_id = tenant.tenant_id
    if tenant.status == STATUS_AUTH_FAILED:
        return SkippedReplayRefused(
            f"sevDesk refused the token of tenant {tenant_id}; connect it again first, "
            "then send its skipped events",
            tenant_id=tenant_id,
            reason=AUTH_FAILED,
        )
    # The tenant alone decides here; a kind switched off holds back only that kind.
    reason = tenant_skip_reason(tenant)
    if reason == NOT_CONNECTED:
        return SkippedReplayRefused(
            f"tenant {tenant_id} is not connected to sevDesk, so its skipped events would be skipped "
            "again; connect it first",
            tenant_id=tenant_id,
            reason=reason,
        )
    if reason == DISABLED:
        return SkippedReplayRefused(
            f"tenant {tenant_id} is not enabled, so its skipped events would be skipped again; "
            "enable it first",
            tenant_id=tenant_id,
            reason=reason,
        )
    return None


def held_back_by(tenant: TenantRecord, event: SkippedEvent) -> str | None:
    """The auto-sync setting that is off for this event's kind, if the tenant would skip it so."""
    handler = HANDLERS.get(event.event_type)
    if handler is None or handler.auto_sync_setting is None:
        return None
    return handler.auto_sync_setting if skip_reason(tenant, handler) == AUTO_SYNC_OFF else None


async def replay_skipped(
    pool: asyncpg.Pool,
    amqp_url: str,
    queue: str,
    tenant_id: str,
    *,
    reason: str | None = None,
    batch_size: int = REPLAY_BATCH,
) -> SkippedReplaySummary:
    """Send the tenant's waiting skipped events (of one skip reason, if given) to the work queue.

    Raises `TenantNotFound`, `SkippedReplayRefused` (the tenant would skip them all again: not
    connected, not enabled, token refused, or every one of a kind switched off) or
    `SkippedReplayFailed` (the broker did not take one; those before it were sent).
    """
    tenant = await tenant_record(pool, tenant_id)
    refused = refusal(tenant)
    if refused is not None:
        raise refused
    waiting = await list_waiting(pool, tenant_id, reason=reason)
    held_back: dict[str, int] = {}
    to_send: list[SkippedEvent] = []
    for event in waiting:
        setting = held_back_by(tenant, event)
        if setting is None:
            to_send.append(event)
        else:
            held_back[setting] = held_back.get(setting, 0) + 1
    if not to_send and held_back:
        settings = ", ".join(sorted(held_back))
        raise SkippedReplayRefused(
            f"every skipped event of tenant {tenant_id} waiting to be sent is of a kind its settings "
            f"switch off ({settings}), so it would be skipped again; switch it on first",
            tenant_id=tenant_id,
            reason=AUTO_SYNC_OFF,
            settings_off=tuple(sorted(held_back)),
        )
    if not to_send:
        return SkippedReplaySummary(0, held_back)
    replayed = await _publish(pool, amqp_url, queue, [event.id for event in to_send], batch_size)
    log.info("sent %d skipped events of tenant %s to %s", replayed, tenant_id, queue)
    return SkippedReplaySummary(replayed, held_back)


async def _publish(pool: asyncpg.Pool, amqp_url: str, queue: str, ids: list[int], batch_size: int) -> int:
    batches = iter(range(0, len(ids), batch_size))

    async def take(conn: Connection, sent: int) -> list[tuple[SkippedEvent, bytes]]:
        # A batch whose rows another replay holds or sent meanwhile is empty: go on to the next.
        for start in batches:
            rows = await lock_for_replay(conn, ids[start : start + batch_size])
            if rows:
                return rows
        return []

    async def mark(conn: Connection, row: tuple[SkippedEvent, bytes]) -> None:
        await mark_replayed(conn, row[0].id)

    def message(row: tuple[SkippedEvent, bytes]) -> aio_pika.Message:
        event, body = row
        return replay_message(body, event.event_id, {REPLAY_HEADER: SKIPPED_REPLAY})

    try:
        return await publish_rows(pool, amqp_url, queue, take, message, mark)
    except ReplayError as exc:  # the queue does not exist
        raise SkippedReplayFailed(str(exc), replayed=0) from None
    except PublishStopped as stopped:
        event, _ = stopped.row
        raise SkippedReplayFailed(
            f"sent {stopped.published} skipped events, then publishing event {event.event_id} failed "
            f"({one_line(stopped.cause)}); it and the rest still wait",
            replayed=stopped.published,
        ) from stopped.cause


async def waiting_count(pool: asyncpg.Pool, tenant_id: str) -> int:
    return await count_waiting(pool, tenant_id)


async def purge_forever(
    pool: asyncpg.Pool, retention_days: int, interval: float = PURGE_INTERVAL_SECONDS
) -> None:
    """The worker's retention: purge at start-up, then once per interval."""
    while True:
        try:
            purged = await purge_skipped(pool, older_than_days=retention_days)
            if purged:
                log.info("purged %d skipped events older than %d days", purged, retention_days)
        except Exception:
            log.warning("purging old skipped events failed; trying again later", exc_info=True)
        await asyncio.sleep(interval)
