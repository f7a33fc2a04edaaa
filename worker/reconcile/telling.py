"""Telling the CRM: a change or a broken link becomes an outbox row, then a published message."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel

from sevsync_events.registry import DOCUMENT_STATUS_CHANGED

from ..store import reconcile as rows
from ..store.db import Connection
from ..store.outbox import OutboxMessage
from ..sync.told_events import DELETED_IN_SEVDESK, change_event_id, link_broken_message, told_message
from .entities import lock_key_of
from .results import KindCounts

log = logging.getLogger(__name__)

Publish = Callable[[Sequence[OutboxMessage]], Awaitable[None]]


@dataclass
class Teller:
    """Writes what a run tells (one transaction per object) and publishes it page by page."""

    conn: Connection
    tenant_id: str
    publish: Publish | None
    counts: KindCounts
    # The `update` stamps of objects skipped while their handler writes: the cursor stays before them.
    held: list[str] = field(default_factory=list)
    _pending: list[OutboxMessage] = field(default_factory=list)

    async def change(
        self,
        link: rows.LinkedObject,
        event_type: str,
        data: BaseModel,
        new_hash: str,
        seen_update: str | None,
        *,
        own: bool = False,
    ) -> None:
        """Tell the new state unless it is agreed; `own`: sevsync's write left it, agree untold."""
        if own:
            if new_hash != link.agreed_hash:
                await rows.adopt(self.conn, self.tenant_id, link, new_hash, seen_update)
            else:
                await self.seen(link, seen_update)
            return

        def message(version: int) -> OutboxMessage:
            event_id = change_event_id(
                self.tenant_id, link.sevdesk_object, link.sevdesk_id, version, new_hash
            )
            return told_message(self.tenant_id, event_type, version, data, event_id)

        try:
            told = await rows.tell_change(
                self.conn,
                self.tenant_id,
                link,
                lock_key_of(self.tenant_id, link),
                new_hash,
                seen_update,
                message,
                # A status is no field sevsync writes: the deal's next event is compared as before.
                forget_written=event_type != DOCUMENT_STATUS_CHANGED,
            )
        except rows.EntityBusy:
            self._hold(seen_update)
            return
        if told is not None:
            self.counts.told += 1
            self._pending.append(told)
        else:
            await self.seen(link, seen_update)

    async def seen(self, link: rows.LinkedObject, seen_update: str | None) -> None:
        """Note the stamp examined, also when nothing is told: the overlap then skips it, unread."""
        if seen_update is not None and seen_update != link.seen_update:
            await rows.note_seen(self.conn, self.tenant_id, link, seen_update)

    async def broken(self, link: rows.LinkedObject) -> None:
        def message(version: int) -> OutboxMessage:
            return link_broken_message(
                self.tenant_id,
                link.entity_type,
                link.entity_id,
                link.sevdesk_object,
                link.sevdesk_id,
                version,
            )

        try:
            told = await rows.mark_broken(
                self.conn,
                self.tenant_id,
                link.entity_type,
                link.entity_id,
                DELETED_IN_SEVDESK,
                message,
                sevdesk_id=link.sevdesk_id,
                lock_key=lock_key_of(self.tenant_id, link),
            )
        except rows.EntityBusy:
            self._hold(None)
            return
        if told is not None:
            self.counts.broken += 1
            self._pending.append(told)

    def _hold(self, seen_update: str | None) -> None:
        """A handler writes the object: not told, not noted seen; the next run compares it again."""
        self.counts.busy += 1
        if seen_update is not None:
            self.held.append(seen_update)

    async def flush(self) -> None:
        """Publish what was written; a failure leaves the rows to the worker's outbox relay."""
        pending, self._pending = self._pending, []
        if not pending or self.publish is None:
            return
        try:
            await self.publish(pending)
        except Exception:
            log.warning(
                "publishing %d reconciliation events failed; the outbox relay sends them",
                len(pending),
                exc_info=True,
                extra={"tenant_id": self.tenant_id},
            )
