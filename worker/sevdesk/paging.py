"""Reading a whole sevDesk list, page by page.

A list answer holds at most `limit` objects, and on some accounts fewer than asked without a word
(one live account answered 100 at most): a short page does not prove the end. So a list is read on
until an empty page, or until the `total` that `countAll=true` adds is reached where sevDesk sends it,
which spares the empty call on the hot path. An endpoint that ignores `offset` answers its first
page again; that page was the whole list.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from .objects import JsonObject


@dataclass(frozen=True)
class Page:
    objects: list[JsonObject]
    size: int  # entries the answer held, objects or not: the next page starts after them
    total: int | None  # every match, where sevDesk counted them (countAll=true)


ReadPage = Callable[[int], Awaitable[Page]]  # the page at an offset


async def every_object(read_page: ReadPage) -> AsyncIterator[JsonObject]:
    """The objects of every page `read_page` answers, in order, reading no page more than needed."""
    offset = 0
    previous: list[JsonObject] | None = None
    while True:
        page = await read_page(offset)
        if page.size == 0 or page.objects == previous:
            return
        for item in page.objects:
            yield item
        offset += page.size
        if page.total is not None and offset >= page.total:
            return
        previous = page.objects


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
