"""The ids of the events the reconciler tells; pure, without I/O."""

from __future__ import annotations

import uuid
from typing import Final

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
