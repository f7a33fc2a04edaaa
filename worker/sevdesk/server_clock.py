"""sevDesk's clock as its answers tell it (the HTTP `Date` header), for comparing with its stamps.

A caller that needs it installs a `ServerClock` in the context (`watching`); the client notes the
first `Date` of the answers that follow. A reconciliation run compares sevDesk's `update` stamps
with its start, which must then be a moment of sevDesk's clock, not ours.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime


@dataclass
class ServerClock:
    first: datetime | None = None  # the first answer's `Date`, aware; None until one carried it

    def note(self, header: str | None) -> None:
        if self.first is not None or header is None:
            return
        try:
            moment = parsedate_to_datetime(header)
        except (TypeError, ValueError):
            return
        if moment.tzinfo is not None:
            self.first = moment


current_server_clock: ContextVar[ServerClock | None] = ContextVar("current_server_clock", default=None)


def watching() -> ServerClock:
    """Note the `Date` of the next answers in this context (task) from now on."""
    clock = ServerClock()
    current_server_clock.set(clock)
    return clock
