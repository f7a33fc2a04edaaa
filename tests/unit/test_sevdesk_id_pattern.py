"""An operator's sevDesk id (relink) and an event's `sevdesk_id` allow the same ids."""

from __future__ import annotations

import re

import pytest
from pydantic import BaseModel, ValidationError

from sevsync.sync.broken_links import SEVDESK_ID_PATTERN
from sevsync_events.types import SevdeskId


class _Event(BaseModel):
    sevdesk_id: SevdeskId


@pytest.mark.parametrize("value", ["1", "123456789012", "1" * 13, "9" * 20, "1" * 21, "0", "01", "12a"])
def test_the_relink_pattern_and_the_events_agree(value: str) -> None:
    try:
        _Event(sevdesk_id=value)
        event_allows = True
    except ValidationError:
        event_allows = False
    assert (re.fullmatch(SEVDESK_ID_PATTERN, value) is not None) is event_allows, value
