"""The list filters on stamps: ``updateAfter``/``updateBefore`` (and ``createAfter``/``createBefore``)
on the lists whose spec tables name them (Contact, Order, Invoice, Voucher), strictly after and
before, before paging; ignored elsewhere; a malformed value is a 400."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

import aiohttp
import pytest

from sevsync.sandbox import Sandbox, SandboxServer

from .sandbox_desk import MINUTE, T0, Desk, stamp, unix
from .test_sandbox_api import Api, assert_error


@pytest.fixture
async def desk(sevdesk: Sandbox, server: SandboxServer) -> AsyncIterator[Desk]:
    sevdesk.clock.set(T0)
    async with aiohttp.ClientSession() as session:
        yield Desk(Api(session, server.base_url), server.root_url + "/__sandbox__", sevdesk.clock)


def at(minutes: float) -> str:
    return unix(T0 + timedelta(minutes=minutes))


@dataclass(frozen=True)
class Listed:
    """A list operation with the filters: how to make one of its objects and change it."""

    path: str
    make: Callable[[Desk, int], Awaitable[str]]  # -> id
    change: Callable[[Desk, str], Awaitable[object]]


async def _contact(desk: Desk, n: int) -> str:
    return str((await desk.contact(f"Kunde {n}"))["id"])


async def _order(desk: Desk, n: int) -> str:
    return str((await desk.order(f"AN-{n}"))["id"])


async def _invoice(desk: Desk, n: int) -> str:
    return str((await desk.invoice(header=f"Rechnung {n}"))["id"])


async def _voucher(desk: Desk, n: int) -> str:
    return str((await desk.voucher(status=50, description=f"B-{n}"))["id"])


LISTS = [
    Listed("/Contact", _contact, lambda d, i: d.ok("PUT", f"/Contact/{i}", {"name": "Neu"})),
    Listed("/Order", _order, lambda d, i: d.ok("PUT", f"/Order/{i}", {"header": "Neu"})),
    Listed(
        "/Invoice",
        _invoice,
        lambda d, i: d.ok("PUT", f"/Invoice/{i}/sendBy", {"sendType": "VPR", "sendDraft": False}),
    ),
    Listed("/Voucher", _voucher, lambda d, i: d.ok("PUT", f"/Voucher/{i}", {"description": "Neu"})),
]


async def _history(desk: Desk, listed: Listed) -> list[str]:
    """A made at 0, B at 1, C at 2 minutes; A changed at 3. Answers the ids [A, B, C]."""
    ids = []
    for n in range(3):
        ids.append(await listed.make(desk, n))
        desk.clock.advance(MINUTE)
    await listed.change(desk, ids[0])
    return ids


async def _ids(desk: Desk, path: str, **params: str) -> list[str]:
    return [found["id"] for found in await desk.ok("GET", path, **params)]


@pytest.mark.parametrize("listed", LISTS, ids=[listed.path for listed in LISTS])
async def test_update_filters_keep_what_changed_strictly_after_and_before(desk: Desk, listed: Listed) -> None:
    a, b, c = await _history(desk, listed)
    assert (await desk.one(f"{listed.path}/{a}"))["update"] == stamp(T0 + timedelta(minutes=3))

    assert await _ids(desk, listed.path) == [a, b, c]
    # B was changed at exactly 1 minute: neither after nor before it.
    assert await _ids(desk, listed.path, updateAfter=at(1)) == [a, c]
    assert await _ids(desk, listed.path, updateBefore=at(2)) == [b]
    assert await _ids(desk, listed.path, updateAfter=at(0.5), updateBefore=at(2.5)) == [b, c]
    assert await _ids(desk, listed.path, updateAfter=at(3)) == []
    assert await _ids(desk, listed.path, createAfter=at(0)) == [b, c]
    assert await _ids(desk, listed.path, createBefore=at(1)) == [a]
    # The date forms the other filters take: Berlin midnight, and ISO 8601 with an offset.
    assert await _ids(desk, listed.path, updateAfter="20.11.2026") == [a, b, c]
    assert await _ids(desk, listed.path, updateBefore="2026-11-20T10:01:30+01:00") == [b]


@pytest.mark.parametrize("listed", LISTS, ids=[listed.path for listed in LISTS])
async def test_paging_applies_to_what_the_filters_leave(desk: Desk, listed: Listed) -> None:
    _, b, c = await _history(desk, listed)

    reply = await desk.api.get(listed.path, updateAfter=at(0.5), limit="1", offset="1", countAll="true")

    assert reply.status == 200
    assert [found["id"] for found in reply.body["objects"]] == [b]  # the list's own order: A, B, C
    assert reply.body["total"] == 3
    later = await desk.api.get(listed.path, updateAfter=at(1), limit="1", offset="1", countAll="true")
    assert ([found["id"] for found in later.body["objects"]], later.body["total"]) == ([c], 2)


@pytest.mark.parametrize("listed", LISTS, ids=[listed.path for listed in LISTS])
@pytest.mark.parametrize("name", ["updateAfter", "updateBefore", "createAfter", "createBefore"])
@pytest.mark.parametrize("value", ["yesterday", "31.02.2026", "1e9", "2026-13-01"])
async def test_a_malformed_stamp_is_a_bad_request(desk: Desk, listed: Listed, name: str, value: str) -> None:
    await listed.make(desk, 1)
    error = assert_error(await desk.api.get(listed.path, **{name: value}), 400)
    assert name in error["message"]


async def test_the_filters_combine_with_the_others(desk: Desk) -> None:
    first = await desk.invoice()
    desk.clock.advance(MINUTE)
    second = await desk.invoice(customerInternalNote="deal-7")
    assert await _ids(desk, "/Invoice", updateAfter=at(0.5)) == [second["id"]]
    assert await _ids(desk, "/Invoice", updateBefore=at(0.5), customerInternalNote="deal-7") == []
    assert await _ids(desk, "/Invoice", updateBefore=at(0.5)) == [first["id"]]


async def test_persons_stay_out_of_a_filtered_contact_list_without_depth(desk: Desk) -> None:
    person = await desk.ok(
        "POST", "/Contact", {"familyname": "Muster", "category": {"id": 3, "objectName": "Category"}}
    )
    organisation = await desk.contact()
    assert await _ids(desk, "/Contact", updateAfter=at(-1)) == [organisation["id"]]
    assert await _ids(desk, "/Contact", updateAfter=at(-1), depth="1") == [person["id"], organisation["id"]]


@pytest.mark.parametrize("path", ["/Part", "/ContactAddress", "/CommunicationWay"])
async def test_lists_without_the_filters_ignore_them(desk: Desk, path: str) -> None:
    contact = await desk.contact()
    await desk.part()
    await desk.address(contact)
    await desk.email(contact)
    everything = await _ids(desk, path)
    assert len(everything) == 1

    # As sevDesk ignores filters a list does not know: everything, even for nonsense.
    for value in (at(60), "yesterday"):
        assert await _ids(desk, path, updateAfter=value, createAfter=value) == everything
        assert await _ids(desk, path, updateBefore=at(-60)) == everything
