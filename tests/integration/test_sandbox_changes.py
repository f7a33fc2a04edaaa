"""What changed in the sandbox, and when: ``create``/``update`` stamps from the sandbox's clock on
every kind of write, and the ``updateAfter``/``updateBefore`` (and ``create*``) list filters."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from sevsync.sandbox import Sandbox, SandboxServer
from sevsync.sandbox.clock import Clock

from .sandbox_account import TOKEN
from .sandbox_desk import MINUTE, T0, WORK_KEY, Desk, ref, stamp, unix
from .test_sandbox_api import GERMANY, INVOICE_ADDRESS, Api, assert_error

T1 = T0 + timedelta(seconds=MINUTE)


@pytest.fixture
async def desk(sevdesk: Sandbox, server: SandboxServer) -> AsyncIterator[Desk]:
    sevdesk.clock.set(T0)
    async with aiohttp.ClientSession() as session:
        yield Desk(Api(session, server.base_url), server.root_url + "/__sandbox__", sevdesk.clock)


# --- the clock ---------------------------------------------------------------------------------------


def test_an_injected_clock_stamps_the_objects_of_every_account() -> None:
    sandbox = Sandbox(clock=Clock(T0))
    first, second = sandbox.add_account("a" * 32), sandbox.add_account("b" * 32)

    made = first.insert("Tag", {"name": "x"})
    sandbox.clock.advance(MINUTE)
    second.update(second.insert("Tag", {"name": "y"}), {"name": "z"})

    assert (made.created, made.updated) == (stamp(T0), stamp(T0))
    [tag] = second.objects("Tag")
    assert (tag["create"], tag["update"]) == (stamp(T1), stamp(T1))


def test_the_clock_runs_until_set_and_only_moves_forward() -> None:
    clock = Clock()
    assert not clock.frozen
    clock.set(T0)
    assert clock.frozen
    assert clock.advance(1.5) == T0 + timedelta(seconds=1)  # stamps have whole seconds
    assert clock.advance(0.5) == T0 + timedelta(seconds=2)  # the fractions add up
    with pytest.raises(ValueError, match="forward"):
        clock.advance(-1)
    with pytest.raises(ValueError, match="aware"):
        clock.set(datetime(2026, 1, 1))  # naive: refused
    clock.run()
    assert not clock.frozen


async def test_summer_stamps_carry_the_summer_offset(desk: Desk) -> None:
    desk.clock.set(datetime(2026, 7, 1, 10, 0, tzinfo=UTC))
    contact = await desk.contact()
    assert (contact["create"], contact["update"]) == (
        "2026-07-01T12:00:00+02:00",
        "2026-07-01T12:00:00+02:00",
    )


async def test_the_clock_control_route_sets_moves_and_releases_the_clock(desk: Desk) -> None:
    reply = await desk.control("POST", "/clock", {"now": int(T1.timestamp())})
    assert (reply.status, reply.body) == (200, {"now": stamp(T1), "frozen": True})
    assert (await desk.contact())["create"] == stamp(T1)

    reply = await desk.control("POST", "/clock", {"now": "2026-11-20T10:00:00+01:00", "advance": 90})
    assert reply.body == {"now": stamp(T0 + timedelta(seconds=90)), "frozen": True}
    assert (await desk.control("GET", "/clock")).body["now"] == stamp(T0 + timedelta(seconds=90))

    for bad in (
        {"now": "2026-11-20T10:00:00"},  # no offset: which zone?
        {"now": "soon"},
        {"advance": -1},
        {"advance": "60"},
        {"run": True, "advance": 1},
        {"tick": 1},
    ):
        reply = await desk.control("POST", "/clock", bad)
        assert reply.status == 400, bad
        assert reply.body["error"]
    reply = await desk.control("POST", "/clock", {"run": True})
    assert (reply.status, reply.body["frozen"]) == (200, False)
    assert not desk.clock.frozen


# --- every write moves update ------------------------------------------------------------------------

# A case makes its objects at T0 and answers what its write needs; the write, at T1, answers the
# API paths (GET) whose objects must show create T0 and update T1.
Setup = Callable[[Desk], Awaitable[dict[str, Any]]]
Write = Callable[[Desk, dict[str, Any]], Awaitable[list[str]]]


@dataclass(frozen=True)
class Case:
    name: str
    setup: Setup
    write: Write


async def _contact(desk: Desk) -> dict[str, Any]:
    contact = await desk.contact()
    return {"contact": contact, "path": f"/Contact/{contact['id']}"}


async def _with_address(desk: Desk) -> dict[str, Any]:
    made = await _contact(desk)
    return {**made, "address": await desk.address(made["contact"])}


async def _with_email(desk: Desk) -> dict[str, Any]:
    made = await _contact(desk)
    return {**made, "email": await desk.email(made["contact"])}


async def _part(desk: Desk) -> dict[str, Any]:
    return {"part": await desk.part()}


async def _draft_order(desk: Desk) -> dict[str, Any]:
    return {"order": await desk.order()}


async def _sent_order(desk: Desk) -> dict[str, Any]:
    order = await desk.order()
    await desk.ok("PUT", f"/Order/{order['id']}/sendBy", {"sendType": "VPR", "sendDraft": False})
    return {"order": order}


async def _draft_invoice(desk: Desk) -> dict[str, Any]:
    return {"invoice": await desk.invoice()}


async def _open_invoice(desk: Desk) -> dict[str, Any]:
    return {"invoice": await desk.open_invoice(), "clearing": await desk.clearing_account()}


async def _draft_voucher(desk: Desk) -> dict[str, Any]:
    return {"voucher": await desk.voucher(status=50)}


async def _open_voucher(desk: Desk) -> dict[str, Any]:
    return {"voucher": await desk.voucher(status=100), "clearing": await desk.clearing_account()}


async def _paid_voucher(desk: Desk) -> dict[str, Any]:
    made = await _open_voucher(desk)
    booking = {
        "amount": "50",
        "date": "2026-11-20T00:00:00+01:00",
        "type": "N",
        "checkAccount": made["clearing"],
    }
    await desk.ok("PUT", f"/Voucher/{made['voucher']['id']}/bookAmount", booking)
    return made


async def _transaction(desk: Desk) -> dict[str, Any]:
    reply = await desk.control("POST", "/transactions", {"amount": "10", "paymtPurpose": "RE-1"})
    assert reply.status == 201, reply.body
    return {"transaction": reply.body["transaction"]}


async def _tag(desk: Desk) -> dict[str, Any]:
    invoice = await desk.invoice()
    relation = await desk.ok("POST", "/Tag/Factory/create", {"name": "alt", "object": ref(invoice)})
    return {"tag": relation["tag"]}


def _path(made: dict[str, Any], key: str) -> str:
    return f"/{made[key]['objectName']}/{made[key]['id']}"


async def _put(desk: Desk, made: dict[str, Any], key: str, body: Any, suffix: str = "") -> list[str]:
    await desk.ok("PUT", _path(made, key) + suffix, body)
    return [_path(made, key)]


CASES = [
    Case("contact edited", _contact, lambda d, m: _put(d, m, "contact", {"name": "Neu GmbH"})),
    Case("address added", _contact, lambda d, m: _then(d.address(m["contact"]), [m["path"]])),
    Case(
        "address edited",
        _with_address,
        lambda d, m: _then(_put(d, m, "address", {"street": "Allee 2"}), [_path(m, "address"), m["path"]]),
    ),
    Case("address deleted", _with_address, lambda d, m: _then(_delete(d, m, "address"), [m["path"]])),
    Case("e-mail added", _contact, lambda d, m: _then(d.email(m["contact"]), [m["path"]])),
    Case(
        "e-mail edited",
        _with_email,
        lambda d, m: _then(
            _put(d, m, "email", {"value": "neu@acme.example"}), [_path(m, "email"), m["path"]]
        ),
    ),
    Case("e-mail deleted", _with_email, lambda d, m: _then(_delete(d, m, "email"), [m["path"]])),
    Case("part edited", _part, lambda d, m: _put(d, m, "part", {"price": "99"})),
    Case("draft order saved again", _draft_order, lambda d, m: _resave_order(d, m)),
    Case("draft order header", _draft_order, lambda d, m: _put(d, m, "order", {"header": "Neu"})),
    Case(
        "order positions recomputed",
        _draft_order,
        lambda d, m: _then(
            _put(d, m, "order", {"showNet": False}), [f"/Order/{m['order']['id']}/getPositions"]
        ),
    ),
    Case("order sent", _draft_order, lambda d, m: _send(d, m, "order")),
    Case("sent order accepted", _sent_order, lambda d, m: _put(d, m, "order", {"status": 500})),
    Case("draft invoice saved again", _draft_invoice, lambda d, m: _resave_invoice(d, m)),
    Case("invoice finalised", _draft_invoice, lambda d, m: _send(d, m, "invoice")),
    Case("invoice finalised by getPdf", _draft_invoice, lambda d, m: _get_pdf(d, m)),
    Case("invoice paid", _open_invoice, lambda d, m: _book_invoice(d, m)),
    Case("invoice cancelled", _open_invoice, lambda d, m: _cancel(d, m)),
    Case("draft voucher saved again", _draft_voucher, lambda d, m: _resave_voucher(d, m)),
    Case("draft voucher edited", _draft_voucher, lambda d, m: _put(d, m, "voucher", {"description": "neu"})),
    Case("voucher paid", _open_voucher, lambda d, m: _book_voucher(d, m)),
    Case("voucher reset to open", _paid_voucher, lambda d, m: _put(d, m, "voucher", None, "/resetToOpen")),
    Case("voucher reset to draft", _open_voucher, lambda d, m: _put(d, m, "voucher", None, "/resetToDraft")),
    Case(
        "transaction deleted",
        _transaction,
        lambda d, m: _then(_delete(d, m, "transaction"), [_path(m, "transaction")]),
    ),
    Case("tag renamed", _tag, lambda d, m: _put(d, m, "tag", {"name": "neu"})),
    Case(
        "contact edited in the UI",
        _contact,
        lambda d, m: _ui_edit(d, m, "contact", {"name": "Hand GmbH"}, []),
    ),
    Case("part edited in the UI", _part, lambda d, m: _ui_edit(d, m, "part", {"name": "Hand"}, [])),
    Case(
        "address edited in the UI",
        _with_address,
        lambda d, m: _ui_edit(d, m, "address", {"city": "Lübeck"}, [m["path"]]),
    ),
    Case(
        "e-mail edited in the UI",
        _with_email,
        lambda d, m: _ui_edit(d, m, "email", {"value": "hand@acme.example"}, [m["path"]]),
    ),
    Case("address deleted in the UI", _with_address, lambda d, m: _ui_delete(d, m, "address")),
    Case("e-mail deleted in the UI", _with_email, lambda d, m: _ui_delete(d, m, "email")),
    Case("address added in the UI", _contact, lambda d, m: _ui_add(d, m, "ContactAddress")),
    Case("e-mail added in the UI", _contact, lambda d, m: _ui_add(d, m, "CommunicationWay")),
]


async def _then(done: Awaitable[Any], paths: list[str]) -> list[str]:
    await done
    return paths


async def _delete(desk: Desk, made: dict[str, Any], key: str) -> None:
    await desk.ok("DELETE", _path(made, key))


async def _send(desk: Desk, made: dict[str, Any], key: str) -> list[str]:
    return await _put(desk, made, key, {"sendType": "VPR", "sendDraft": False}, "/sendBy")


async def _get_pdf(desk: Desk, made: dict[str, Any]) -> list[str]:
    await desk.ok("GET", _path(made, "invoice") + "/getPdf")
    return [_path(made, "invoice")]


async def _resave_order(desk: Desk, made: dict[str, Any]) -> list[str]:
    body = {"order": {"id": int(made["order"]["id"]), "objectName": "Order", "mapAll": True, "header": "Neu"}}
    await desk.ok("POST", "/Order/Factory/saveOrder", body)
    return [_path(made, "order")]


async def _resave_invoice(desk: Desk, made: dict[str, Any]) -> list[str]:
    header = {"id": int(made["invoice"]["id"]), "objectName": "Invoice", "mapAll": True, "header": "Neu"}
    await desk.ok("POST", "/Invoice/Factory/saveInvoice", {"invoice": header})
    return [_path(made, "invoice")]


async def _resave_voucher(desk: Desk, made: dict[str, Any]) -> list[str]:
    header = {"id": int(made["voucher"]["id"]), "objectName": "Voucher", "mapAll": True, "description": "neu"}
    await desk.ok("POST", "/Voucher/Factory/saveVoucher", {"voucher": header})
    return [_path(made, "voucher")]


async def _book_invoice(desk: Desk, made: dict[str, Any]) -> list[str]:
    booking = {"amount": "50", "date": unix(T1), "type": "N", "checkAccount": made["clearing"]}
    return await _put(desk, made, "invoice", booking, "/bookAmount")


async def _book_voucher(desk: Desk, made: dict[str, Any]) -> list[str]:
    booking = {"amount": "50", "date": stamp(T1), "type": "N", "checkAccount": made["clearing"]}
    return await _put(desk, made, "voucher", booking, "/bookAmount")


async def _cancel(desk: Desk, made: dict[str, Any]) -> list[str]:
    await desk.ok("POST", _path(made, "invoice") + "/cancelInvoice")
    return [_path(made, "invoice")]


async def _ui_edit(
    desk: Desk, made: dict[str, Any], key: str, changes: dict[str, Any], also: list[str]
) -> list[str]:
    reply = await desk.ui("PUT", _path(made, key), changes)
    assert reply.status == 200, reply.body
    return [_path(made, key), *also]


async def _ui_delete(desk: Desk, made: dict[str, Any], key: str) -> list[str]:
    reply = await desk.ui("DELETE", _path(made, key))
    assert reply.status == 200, reply.body
    return [made["path"]]


async def _ui_add(desk: Desk, made: dict[str, Any], object_name: str) -> list[str]:
    contact = ref(made["contact"])
    if object_name == "ContactAddress":
        body = {"contact": contact, "city": "Kiel", "country": GERMANY, "category": INVOICE_ADDRESS}
    else:
        body = {"contact": contact, "type": "PHONE", "value": "+49 431 1", "key": WORK_KEY}
    reply = await desk.ui("POST", f"/{object_name}", body)
    assert reply.status == 201, reply.body
    return [made["path"]]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
async def test_every_kind_of_write_moves_update(desk: Desk, case: Case) -> None:
    made = await case.setup(desk)
    desk.clock.advance(MINUTE)

    paths = await case.write(desk, made)

    assert paths
    for path in paths:
        objects = await desk.ok("GET", path)
        assert objects, path
        for found in objects:
            assert (found["create"], found["update"]) == (stamp(T0), stamp(T1)), (path, found["objectName"])


async def test_stamps_that_sevdesk_sets_come_from_the_clock_too(desk: Desk) -> None:
    made = await _draft_invoice(desk)
    desk.clock.advance(MINUTE)
    await _send(desk, made, "invoice")
    invoice = await desk.one(_path(made, "invoice"))
    assert invoice["sendDate"] == stamp(T1)

    transaction = (await _transaction(desk))["transaction"]
    assert transaction["valueDate"] == stamp(T1)
    desk.clock.advance(MINUTE)
    await desk.ok("DELETE", f"/CheckAccountTransaction/{transaction['id']}")
    deleted = await desk.one(f"/CheckAccountTransaction/{transaction['id']}")
    assert deleted["deletedAt"] == stamp(T1 + timedelta(seconds=MINUTE))


async def test_a_cancellation_is_stamped_when_it_is_made(desk: Desk) -> None:
    made = await _open_invoice(desk)
    desk.clock.advance(MINUTE)
    cancellation = await desk.ok("POST", _path(made, "invoice") + "/cancelInvoice")
    assert (cancellation["create"], cancellation["update"]) == (stamp(T1), stamp(T1))


async def test_reads_and_refused_writes_leave_update_alone(desk: Desk) -> None:
    made = await _sent_order(desk)
    contact = await desk.contact("Other GmbH")
    desk.clock.advance(MINUTE)

    await desk.ok("GET", _path(made, "order"))
    await desk.ok("GET", "/Order")
    body = {"order": {"id": int(made["order"]["id"]), "objectName": "Order", "mapAll": True, "header": "x"}}
    refused = await desk.api.post("/Order/Factory/saveOrder", body)
    assert_error(refused, 409, 159)
    assert (await desk.api.put(f"/Contact/{contact['id']}", {"category": None})).status == 422

    assert (await desk.one(_path(made, "order")))["update"] == stamp(T0)
    assert (await desk.one(f"/Contact/{contact['id']}"))["update"] == stamp(T0)


async def test_an_address_moved_to_another_contact_changes_both(desk: Desk) -> None:
    made = await _with_address(desk)
    other = await desk.contact("Other GmbH")
    desk.clock.advance(MINUTE)

    await desk.ok("PUT", _path(made, "address"), {"contact": ref(other)})

    for path in (made["path"], f"/Contact/{other['id']}", _path(made, "address")):
        assert (await desk.one(path))["update"] == stamp(T1), path


def test_a_reset_keeps_the_clock_where_the_test_put_it(sevdesk: Sandbox) -> None:
    sevdesk.clock.set(T1)
    sevdesk.reset()
    [user] = sevdesk.account(TOKEN).objects("SevUser")  # seeded again, stamped by the same clock
    assert (sevdesk.clock.frozen, user["create"]) == (True, stamp(T1))
