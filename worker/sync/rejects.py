"""Dead letters of messages no handler can take (unreadable, invalid, of an unknown event type):
their rows, the `sync.failed` that tells the CRM, their log line and count."""

from __future__ import annotations

import hashlib
import logging
import uuid

from pydantic import BaseModel

from sevsync_events.envelope import ANY_ENVELOPE, Envelope
from sevsync_events.errors import InvalidEvent
from sevsync_events.outbound import SyncResult
from sevsync_events.registry import SYNC_FAILED

from ..disposition import MALFORMED_TYPE, UNKNOWN_TYPE
from ..metrics import METRICS
from ..outcome_words import DEAD, MALFORMED
from ..store.dead_letters import DeadLetterRow
from ..store.outbox import OutboxMessage
from .recording import OUTBOUND_NAMESPACE

log = logging.getLogger(__name__)


def unhandled_label(reason: str) -> str:
    """The metric label of a message no handler takes: `malformed` if unreadable, else `unknown`."""
    return MALFORMED_TYPE if reason == MALFORMED else UNKNOWN_TYPE


def count_unhandled(label: str, reason: str) -> None:
    """Count a dead letter that has no outcome row (no handler could take it), once it is written.

    Outcome rows count themselves where they are written (store.outcomes); these count under `malformed`
    or `unknown`, so a message that cannot be written yet is counted once, when it finally is.
    """
    METRICS.after_outcome(label, DEAD, reason)


def rejected(body: bytes, invalid: InvalidEvent) -> tuple[DeadLetterRow, list[OutboxMessage]]:
    """The dead letter of a message that cannot be processed as sent, and the CRM's sync.failed."""
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
    # Without a tenant there is nobody to address a sync.failed to; the row is all there is.
    if invalid.tenant_id is None:
        return row, []
    return row, [_rejection_message(body, invalid, invalid.tenant_id)]


def _rejection_message(body: bytes, invalid: InvalidEvent, tenant_id: str) -> OutboxMessage:
    """sync.failed for a message that was dead-lettered before it could be understood."""
    data = SyncResult(
        source_event_id=invalid.event_id,
        source_event_type=invalid.event_type,
        status=DEAD,
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
