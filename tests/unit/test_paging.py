"""Reading a whole list page by page: when to read on and when to stop (sevsync.sevdesk.paging)."""

from __future__ import annotations

from typing import Any

import pytest

from sevsync.sevdesk.paging import Page, every_object, page_of, watching_listings

ITEMS = [{"id": str(n)} for n in range(1, 8)]


class Server:
    """A list endpoint: serves `items` in pages of at most `page_size`, whatever was asked."""

    def __init__(
        self, items: list[dict[str, Any]], page_size: int, *, counts: bool, honours_offset: bool = True
    ) -> None:
        self.items = items
        self.page_size = page_size
        self.counts = counts
        self.honours_offset = honours_offset
        self.offsets: list[int] = []

    async def read_page(self, offset: int) -> Page:
        self.offsets.append(offset)
        start = offset if self.honours_offset else 0
        objects = self.items[start : start + self.page_size]
        return Page(objects, len(objects), len(self.items) if self.counts else None)


async def read_all(server: Server) -> list[dict[str, Any]]:
    return [item async for item in every_object(server.read_page)]


@pytest.mark.parametrize("page_size", [1, 2, 3, 7, 1000])
async def test_a_counted_list_is_read_without_an_empty_page(page_size: int) -> None:
    server = Server(ITEMS, page_size, counts=True)

    assert await read_all(server) == ITEMS
    assert len(server.offsets) == -(-len(ITEMS) // page_size)


@pytest.mark.parametrize("page_size", [1, 2, 3, 7, 1000])
async def test_without_a_total_short_pages_do_not_end_the_list_an_empty_one_does(page_size: int) -> None:
    server = Server(ITEMS, page_size, counts=False)

    assert await read_all(server) == ITEMS
    assert server.offsets[-1] == len(ITEMS)  # the one empty page that proves the end
    assert len(server.offsets) == -(-len(ITEMS) // page_size) + 1


async def test_an_empty_list_is_one_call() -> None:
    server = Server([], 2, counts=False)

    assert await read_all(server) == []
    assert server.offsets == [0]


async def test_an_endpoint_that_ignores_offset_is_read_once() -> None:
    server = Server(ITEMS, 1000, counts=False, honours_offset=False)

    assert await read_all(server) == ITEMS
    assert server.offsets == [0, len(ITEMS)]


async def test_a_total_that_grew_while_paging_is_followed() -> None:
    server = Server(ITEMS[:3], 2, counts=True)
    reader = every_object(server.read_page)

    first = [await anext(reader), await anext(reader)]
    server.items = ITEMS[:5]  # created in sevDesk between two pages
    rest = [item async for item in reader]

    assert first + rest == ITEMS[:5]


async def test_the_next_page_starts_after_every_entry_of_the_last() -> None:
    pages = {0: Page([{"id": "1"}], 2, None), 2: Page([{"id": "3"}], 1, None), 3: Page([], 0, None)}

    async def read_page(offset: int) -> Page:
        return pages[offset]

    assert [item async for item in every_object(read_page)] == [{"id": "1"}, {"id": "3"}]


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ({"objects": [{"id": "1"}], "total": "157"}, Page([{"id": "1"}], 1, 157)),
        ({"objects": [{"id": "1"}], "total": 157}, Page([{"id": "1"}], 1, 157)),
        ({"objects": [{"id": "1"}]}, Page([{"id": "1"}], 1, None)),
        ({"objects": [{"id": "1"}, "x"], "total": "many"}, Page([{"id": "1"}], 2, None)),
        ({"objects": [], "total": -1}, Page([], 0, None)),
        ({"objects": [], "total": True}, Page([], 0, None)),
    ],
    ids=["total-as-text", "total-as-number", "no-total", "junk", "negative-total", "boolean-total"],
)
def test_page_of_reads_the_objects_and_sevdesks_total(answer: dict[str, Any], expected: Page) -> None:
    assert page_of(answer) == expected


@pytest.mark.parametrize("answer", [None, [], {"objects": {"id": "1"}}, {"objects": None}, "x"])
def test_page_of_an_answer_without_a_list_is_none(answer: Any) -> None:
    assert page_of(answer) is None


class Shrinking(Server):
    """A counted list that loses its first entry after the first page was read (a deletion)."""

    async def read_page(self, offset: int) -> Page:
        page = await super().read_page(offset)
        if offset == 0:
            self.items = self.items[1:]
        return page


async def test_a_list_that_loses_entries_while_paged_is_noted_shrunk() -> None:
    watch = watching_listings()
    server = Shrinking(list(ITEMS), 3, counts=True)

    read = await read_all(server)

    # "4" moved over the boundary into the first page after it was read: never read.
    assert [item["id"] for item in read] == ["1", "2", "3", "5", "6", "7"]
    assert watch.shrank


async def test_a_list_that_only_grows_while_paged_is_not_noted() -> None:
    watch = watching_listings()
    server = Server(list(ITEMS), 3, counts=True)
    pages = server.read_page

    async def growing(offset: int) -> Page:
        page = await pages(offset)
        server.items = [*server.items, {"id": f"new-{offset}"}]
        return page

    server.read_page = growing  # type: ignore[method-assign]
    await read_all(server)

    assert not watch.shrank
