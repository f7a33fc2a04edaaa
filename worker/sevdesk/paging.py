"""Reading a whole sevDesk list, page by page.

A list answer holds at most `limit` objects, and on some accounts fewer than asked without a word
(one live account answered 100 at most): a short page does not prove the end. So a list is read on
until an empty page, or until the `total` that `countAll=true` adds is reached where sevDesk sends it,
which spares the empty call on the hot path. An endpoint that ignores `offset` answers its first
page again; that page was the whole list.

Offsets shift when the list loses entries while it is read (a deletion): the entry that moved over a
page boundary is then not read at all. A `ListingWatch` in the context learns that the `total` shrank
(new entries only shift entries forward: read twice, never missed).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from .objects import JsonObject


@dataclass(frozen=True)
class Page:
    objects: list[JsonObject]
    size: int  # entries the answer held, objects or not: the next page starts after them
    total: int | None  # every match, where sevDesk counted them (countAll=true)


ReadPage = Callable[[int], Awaitable[Page]]  # the page at an offset


@dataclass
class ListingWatch:
    shrank: bool = False  # a list read since lost entries while it was paged: one may have been missed


current_listing_watch: ContextVar[ListingWatch | None] = ContextVar("current_listing_watch", default=None)


def watching_listings() -> ListingWatch:
    """Learn whether a list read from now on in this context (task) shrank while it was paged."""
    watch = ListingWatch()
    current_listing_watch.set(watch)
    return watch


async def every_object(read_page: ReadPage) -> AsyncIterator[JsonObject]:
    """The objects of every page `read_page` answers, in order, reading no page more than needed."""
    offset = 0
    previous: list[JsonObject] | None = None
    first_total: int | None = None
    while True:
        page = await read_page(offset)
        if first_total is None:
            first_total = page.total
        elif page.total is not None and page.total < first_total:
            _note_shrank()
        if page.size == 0 or page.objects == previous:
            return
        for item in page.objects:
            yield item
        offset += page.size
        if page.total is not None and offset >= page.total:
            return
        previous = page.objects


def _note_shrank() -> None:
    if (watch := current_listing_watch.get()) is not None:
        watch.shrank = True


def page_of(answer: Any) -> Page | None:
    """A list answer (sevDesk's whole envelope) as a page; None when it holds no list."""
    if not isinstance(answer, dict) or not isinstance(answer.get("objects"), list):
        return None
    entries = answer["objects"]
    return Page([o for o in entries if isinstance(o, dict)], len(entries), _total(answer.get("total")))


def _total(value: Any) -> int | None:
    # The spec shows `total` as a numeric string; a number is taken too, anything else ignored.
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None
