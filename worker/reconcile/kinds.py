"""What every kind's reconciliation shares: its inputs, the cursor's overlap, sevDesk's stamps."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from ..sevdesk.api import SevdeskApi
from ..sevdesk.objects import JsonObject, stamp
from ..sevdesk.paging import ListingWatch, watching_listings
from ..sevdesk.server_clock import ServerClock, watching
from ..store.db import Connection
from ..store.tenants import TenantRecord
from .telling import Teller

# updateAfter is strict and in whole seconds, and sevDesk's clock is its own: list from one second
# before the newest stamp seen. What the overlap lists again is agreed already and told nothing.
OVERLAP: Final = timedelta(seconds=1)
# What a run lists is not one moment: a change stamped before a later list call's newest stamp may be
# missed by an earlier list call. The cursor stays at most at the run's start less this margin (which
# is by sevDesk's clock, from its first answer's Date header); seen_update keeps the overlap cheap.
MARGIN: Final = timedelta(seconds=60)
# Linked objects examined together: one Postgres read of their links per batch.
BATCH: Final = 100


@dataclass
class KindRun:
    conn: Connection
    api: SevdeskApi
    tenant: TenantRecord
    teller: Teller
    sweep: bool  # list everything (deletions, addresses and ways of unchanged contacts)
    progress: Callable[[int], None] | None
    started: datetime | None = None  # our clock, before the kind's first list call
    full_listing: bool = False  # the kind lists everything (no cursor, or a sweep)

    _server: ServerClock | None = None
    _listing: ListingWatch | None = None

    def start(self) -> None:
        self.started = wall_clock()
        self._server = watching()
        self._listing = watching_listings()

    @property
    def start_moment(self) -> datetime | None:
        """The run's start by sevDesk's clock (its first answer's `Date`), else by ours."""
        server = self._server.first if self._server is not None else None
        return server if server is not None else self.started

    def next_cursor(self, newest: datetime | None) -> datetime | None:
        """The cursor to save: the newest stamp listed, but no later than the start less the margin,
        nor than an object skipped while its handler wrote (the next run lists it again)."""
        started = self.start_moment
        if newest is None or (self._listing is not None and self._listing.shrank):
            # A list lost entries while paged: one may have been skipped. The cursor stays; the
            # next run lists the same changes again (what is agreed costs no read: seen_update).
            return None
        bounds = [newest] + ([started - MARGIN] if started is not None else [])
        bounds += [s for held in self.teller.held if (s := stamp(held)) is not None]
        return min(bounds)

    def seen_before(self, seen_update: str | None, record: JsonObject) -> bool:
        """Listed again at the stamp examined before, and that stamp is settled: nothing changed.

        A stamp within the margin of the start may hide a second change within its second.
        """
        moment, started = stamp_of(record), self.start_moment
        return (
            seen_update is not None
            and seen_update == record.get("update")
            and moment is not None
            and started is not None
            and moment < started - MARGIN
        )

    def examined(self, count: int) -> None:
        self.teller.counts.examined += count
        if self.progress is not None:
            self.progress(self.teller.counts.examined)


def wall_clock() -> datetime:
    return datetime.now(UTC)


def stamp_of(record: JsonObject) -> datetime | None:
    """sevDesk's `update` stamp of a record; None when missing or unreadable."""
    return stamp(record.get("update"))


def newer(current: datetime | None, record: JsonObject) -> datetime | None:
    moment = stamp_of(record)
    if moment is None:
        return current
    return moment if current is None or moment > current else current


def updated_after(cursor: datetime) -> int:
    """The updateAfter value (Unix seconds) that lists every change at or after `cursor`."""
    return int((cursor - OVERLAP).timestamp())
