"""The sandbox's clock: what ``create``, ``update`` and the other stamps of the sandbox read.

It runs with real time until a test sets it; from then on it stands still and moves only when told
(``set``, ``advance``; in process or through ``POST /__sandbox__/clock``). So a test of what changed
when never depends on the wall clock. One clock serves every account of a sandbox.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class Clock:
    """Real time, or a moment a test chose (``frozen``)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._frozen: datetime | None = None
        if start is not None:
            self.set(start)

    @property
    def frozen(self) -> bool:
        return self._frozen is not None

    def now(self) -> datetime:
        """The current moment, aware, in UTC, to the second (sevDesk's timestamps have no fraction)."""
        moment = self._frozen if self._frozen is not None else datetime.now(UTC)
        return moment.replace(microsecond=0)

    def set(self, moment: datetime) -> None:
        """Stand still at ``moment`` (which must be aware: a naive one would be read in some zone)."""
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError("the clock takes aware moments only")
        self._frozen = moment.astimezone(UTC)

    def advance(self, seconds: float) -> datetime:
        """Move on by ``seconds`` and stand still there (a running clock stops at its moment now)."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        base = self._frozen if self._frozen is not None else datetime.now(UTC)
        self._frozen = base + timedelta(seconds=seconds)
        return self.now()

    def run(self) -> None:
        """Back to real time."""
        self._frozen = None
