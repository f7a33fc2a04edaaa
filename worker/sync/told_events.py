"""The events told to the CRM of sevDesk's own changes (CONTRACT 10): their ids and outbox rows.

Pure: the reconciler and the handlers (a linked object found deleted) build the same `link.broken`,
with the same deterministic id, so whichever finds a deletion first tells it and the other never.
"""

from __future__ import annotations

import uuid
from typing import Final

from pydantic import BaseModel

from sevsync_events.envelope import ANY_ENVELOPE, Envelope
from sevsync_events.outbound import LinkBroken
from sevsync_events.registry import LINK_BROKEN

from ..store.outbox import OutboxMessage

# The reason of a link broken because its object is gone from sevDesk (`entity_link.broken_reason`).
DELETED_IN_SEVDESK: Final = "deleted_in_sevdesk"
# Fixed: event ids derived from it must stay the same across releases (told once, also after a crash).
_EVENT_NAMESPACE: Final = uuid.UUID("5e7d6c2a-0f3b-4c1e-9a51-7d2b8e4f1c60")


def change_event_id(
    tenant_id: str, sevdesk_object: str, sevdesk_id: str, version: int, told: str
) -> uuid.UUID:
    """The event id of a told change: the same inputs give the same id, so a re-run cannot tell it anew.

    `version` is the link's counter after this change and `told` the new state's hash (or the
    reason a link broke); both are written in the transaction that writes the event.
    """
    return uuid.uuid5(_EVENT_NAMESPACE, "|".join((tenant_id, sevdesk_object, sevdesk_id, str(version), told)))


def told_message(
    tenant_id: str, event_type: str, version: int, data: BaseModel, event_id: uuid.UUID
) -> OutboxMessage:
    envelope: Envelope[BaseModel] = ANY_ENVELOPE.new(
        event_type=event_type, tenant_id=tenant_id, version=version, data=data, event_id=event_id
    )
    return OutboxMessage(envelope.event_id, event_type, envelope.to_json_bytes())


def link_broken_message(
    tenant_id: str, entity_type: str, entity_id: str, sevdesk_object: str, sevdesk_id: str, version: int
) -> OutboxMessage:
    """`link.broken` of a linked object deleted in sevDesk, at the link's told `version`."""
    data = LinkBroken(
        entity_type=entity_type,
        entity_id=entity_id,
        sevdesk_object=sevdesk_object,
        sevdesk_id=sevdesk_id,
        reason=DELETED_IN_SEVDESK,
    )
    event_id = change_event_id(tenant_id, sevdesk_object, sevdesk_id, version, DELETED_IN_SEVDESK)
    return told_message(tenant_id, LINK_BROKEN, version, data, event_id)
