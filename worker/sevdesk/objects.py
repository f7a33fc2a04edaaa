"""sevDesk's JSON objects as sevsync passes them around, and references between them.

Pure: the mapping modules build request bodies with these without importing the HTTP client.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

JsonObject = dict[str, Any]


def ref(object_name: str, object_id: int | str) -> JsonObject:
    """A reference to another sevDesk object; sevDesk expects the id as an integer."""
    return {"id": int(object_id), "objectName": object_name}


def stamp(value: object) -> datetime | None:
    """A sevDesk time stamp (ISO 8601 with an offset); None when missing, unreadable or without offset.

    Without an offset the moment is unknown: comparing it with an aware time would be a guess.
    """
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None
