"""sevDesk's JSON objects as sevsync passes them around, and references between them.

Pure: the mapping modules build request bodies with these without importing the HTTP client.
"""

from __future__ import annotations

from typing import Any

JsonObject = dict[str, Any]


def ref(object_name: str, object_id: int | str) -> JsonObject:
    """A reference to another sevDesk object; sevDesk expects the id as an integer."""
    return {"id": int(object_id), "objectName": object_name}
