"""Writes sevDesk answered 500 or 503, as opposed to writes whose answer never came (CONTRACT section 8).

An answered 500/503 has ended on sevDesk's side: sevsync looks once for its effect and, when there is
none, writes again within the in-process budget; only a write that may still be in flight waits the
settle window. The client itself repeats only idempotent writes (field updates, deletes).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from sevsync.config import Settings
from sevsync.sandbox import Account, SandboxServer
from sevsync.sevdesk.api import SevdeskApi
from sevsync.sevdesk.client import RetryPolicy, SevdeskClient
from sevsync.sevdesk.errors import AnsweredWriteError, UncertainWriteError
from sevsync.sevdesk.token import ApiToken

from ..samples import crm_invoice, payment, person, product
from .harness import add_tenant, envelope, publish, running_worker, wait_for_outcomes, wait_until
from .test_payments import tenant_with_accounts

TOKEN = "answered-writes-0123456789abcdef"
CUSTOMER_CATEGORY = {"id": 3, "objectName": "Category"}


@pytest.fixture
def account(sandbox: SandboxServer) -> Account:
    return sandbox.sandbox.add_account(TOKEN)


@pytest.fixture
async def api(sandbox: SandboxServer, account: Account) -> AsyncIterator[SevdeskApi]:
    async with SevdeskClient(sandbox.base_url, retry=RetryPolicy(attempts=3, budget_seconds=10)) as client:
        yield SevdeskApi(client, ApiToken(TOKEN))


# --- the client's classification ----------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 503])
async def test_a_create_answered_500_or_503_is_an_answered_write_sent_once(
    status: int, sandbox: SandboxServer, account: Account, api: SevdeskApi
) -> None:
    sandbox.sandbox.faults.add(
        kind="status", status=status, code=4242, message="Wartung", method="POST", times=None
    )

    with pytest.raises(AnsweredWriteError) as caught:
        await api.create_contact({"name": "Acme GmbH", "category": CUSTOMER_CATEGORY})

    assert (caught.value.status, caught.value.code, caught.value.sevdesk_message) == (status, 4242, "Wartung")
    assert "sevDesk code 4242" in str(caught.value)
    # Only the caller can look for the effect of a create, so the client never repeats it.
    assert sandbox.sandbox.count_calls("POST") == 1


@pytest.mark.parametrize("kind", ["status", "applied_then_error"])
async def test_a_gateway_502_may_still_be_in_flight_and_stays_merely_uncertain(
    kind: str, sandbox: SandboxServer, account: Account, api: SevdeskApi
) -> None:
    sandbox.sandbox.faults.add(kind=kind, status=502, method="POST", times=None)

    with pytest.raises(UncertainWriteError) as caught:
        await api.create_contact({"name": "Acme GmbH", "category": CUSTOMER_CATEGORY})

    assert not isinstance(caught.value, AnsweredWriteError)
    assert sandbox.sandbox.count_calls("POST") == 1


async def test_a_field_update_answered_503_is_sent_again_by_the_client(
    sandbox: SandboxServer, account: Account, api: SevdeskApi
) -> None:
    contact = await api.create_contact({"name": "Acme GmbH", "category": CUSTOMER_CATEGORY})
    sandbox.sandbox.faults.add(kind="status", status=503, method="PUT", path=r"^/Contact/\d+$", times=1)

    await api.update_contact(str(contact["id"]), {"name": "Acme Holding GmbH"})

    assert [c["name"] for c in account.objects("Contact")] == ["Acme Holding GmbH"]
    puts = [c.status for c in sandbox.sandbox.calls if c.method == "PUT"]
    assert puts == [503, 200]


async def test_a_booking_answered_503_is_not_repeated_by_the_client(
    sandbox: SandboxServer, account: Account, api: SevdeskApi
) -> None:
    sandbox.sandbox.faults.add(kind="status", status=503, method="PUT", path="bookAmount", times=None)

    with pytest.raises(AnsweredWriteError):
        await api.book_invoice("12", {"amount": "10", "type": "N"})

    assert sandbox.sandbox.count_calls("PUT") == 1


# --- through the worker -------------------------------------------------------------------------------


async def outcome_rows(db: asyncpg.Pool, event: dict[str, Any]) -> list[asyncpg.Record]:
    return list(
        await db.fetch(
            "SELECT * FROM sevsync.sync_outcome WHERE event_id = $1 ORDER BY id", uuid.UUID(event["event_id"])
        )
    )


def contact_calls(sandbox: SandboxServer) -> list[tuple[str, str, int | None]]:
    """The calls on /Contact itself (creates and lookups by number), in order."""
    return [(c.method, c.path, c.status) for c in sandbox.sandbox.calls if c.path == "/Contact"]


async def test_a_create_answered_503_twice_then_429_lands_in_the_first_attempt(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    # A budget that three writes and their pauses fit in on a slow machine; nothing here is timed.
    settings = settings.model_copy(update={"sevdesk_retry_budget": 20.0})
    token = await add_tenant(db, settings, sandbox)
    faults = sandbox.sandbox.faults
    faults.add(kind="status", status=503, method="POST", path="^/Contact$", times=2)
    faults.add(kind="status", status=429, retry_after=1, method="POST", path="^/Contact$", times=1)
    event = envelope("customer.created", person())
    async with running_worker(settings):
        await publish(settings, event)
        [outcome] = await wait_for_outcomes(db, event)

    assert [(r["status"], r["attempt"]) for r in await outcome_rows(db, event)] == [("succeeded", 1)]
    [contact] = sandbox.sandbox.account(token).objects("Contact")
    assert outcome["sevdesk_id"] == contact["id"]
    # Each 503 is followed by one look for its effect; the 429 is repeated by the client itself.
    assert contact_calls(sandbox) == [
        ("POST", "/Contact", 503),
        ("GET", "/Contact", 200),
        ("POST", "/Contact", 503),
        ("GET", "/Contact", 200),
        ("POST", "/Contact", 429),
        ("POST", "/Contact", 201),
    ]
    assert await db.fetchval("SELECT count(*) FROM sevsync.write_intent") == 0


async def test_a_budget_spent_on_answered_failures_does_not_make_the_next_attempt_wait_to_settle(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    # A settle window longer than the whole ladder: an attempt that waited for it would never create.
    settings = settings.model_copy(update={"write_settle_seconds": 3600.0, "sevdesk_retry_budget": 20.0})
    token = await add_tenant(db, settings, sandbox)
    sandbox.sandbox.faults.add(
        kind="status",
        status=503,
        code=503,
        message="Wartungsarbeiten",
        method="POST",
        path="^/Contact$",
        times=3,
    )
    event = envelope("customer.created", person())
    async with running_worker(settings):
        await publish(settings, event)
        await wait_for_outcomes(db, event)

    first, second = await outcome_rows(db, event)
    assert (first["status"], first["reason"], first["attempt"]) == ("retrying", "sevdesk_unavailable", 1)
    assert "POST /Contact, HTTP 503, sevDesk code 503: Wartungsarbeiten" in first["error"]
    assert (second["status"], second["attempt"]) == ("succeeded", 2)
    assert len(sandbox.sandbox.account(token).objects("Contact")) == 1
    posts = [status for method, _, status in contact_calls(sandbox) if method == "POST"]
    assert posts == [503, 503, 503, 201]


async def test_a_create_answered_503_whose_look_fails_does_not_make_the_next_attempt_wait_to_settle(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    # A settle window longer than the whole ladder: an attempt that waited for it would never create.
    settings = settings.model_copy(update={"write_settle_seconds": 3600.0})
    token = await add_tenant(db, settings, sandbox)
    faults = sandbox.sandbox.faults
    faults.add(kind="status", status=503, method="POST", path="^/Part$", times=1)
    faults.add(kind="latency", seconds=0, method="GET", path="^/Part$", times=1)  # the search before
    # The look for the 503's effect fails too, every read the client tries.
    faults.add(kind="status", status=503, method="GET", path="^/Part$", times=settings.sevdesk_retry_attempts)
    event = envelope("product.created", product())
    async with running_worker(settings):
        await publish(settings, event)
        await wait_for_outcomes(db, event)

    first, second = await outcome_rows(db, event)
    assert (first["status"], first["attempt"]) == ("retrying", 1)
    assert (second["status"], second["attempt"]) == ("succeeded", 2), second["error"]
    assert len(sandbox.sandbox.account(token).objects("Part")) == 1


async def test_a_write_sent_again_that_goes_unanswered_waits_the_settle_window_from_when_it_was_sent(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    # A settle window longer than the test: the intent stays as the attempt left it.
    settings = settings.model_copy(update={"write_settle_seconds": 3600.0, "sevdesk_retry_budget": 20.0})
    await add_tenant(db, settings, sandbox)
    faults = sandbox.sandbox.faults
    # The create is answered 503; the write sent again after the look gets no answer in time.
    faults.add(kind="status", status=503, method="POST", path="^/Part$", times=1)
    faults.add(kind="timeout", seconds=30, method="POST", path="^/Part$", times=1)
    faults.add(kind="latency", seconds=0, method="GET", path="^/Part$", times=1)  # the search before
    faults.add(kind="hold", method="GET", path="^/Part$", times=1)  # the look after the 503
    event = envelope("product.created", product())
    async with running_worker(settings):
        await publish(settings, event)
        await wait_until(lambda: faults.held == 1, timeout=20, message="the look after the 503 is held")
        # Between the first write and the one sent again.
        between = await db.fetchval("SELECT clock_timestamp()")
        assert faults.release() == 1
        await wait_until(
            lambda: db.fetchval("SELECT count(*) FROM sevsync.sync_outcome WHERE status = 'retrying'"),
            timeout=20,
            message="the attempt ended unanswered",
        )

    [retrying] = await outcome_rows(db, event)
    assert "was lost" in retrying["error"]
    # A create that may still be in flight is not sevDesk being down.
    assert retrying["reason"] == "write_unconfirmed"
    assert [c.status for c in sandbox.sandbox.calls if c.method == "POST"][:1] == [503]
    # The write that may still land was sent after the first: the settle window counts from it.
    intent = await db.fetchrow("SELECT created_at, settled FROM sevsync.write_intent")
    assert intent is not None
    assert not intent["settled"]
    assert intent["created_at"] > between


async def test_a_booking_answered_503_whose_look_fails_does_not_make_the_next_attempt_wait_to_settle(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    settings = settings.model_copy(update={"write_settle_seconds": 3600.0})
    account = await tenant_with_accounts(db, settings, sandbox)
    issued = envelope("invoice.issued", crm_invoice())
    paid = envelope("payment.received", payment())
    faults = sandbox.sandbox.faults
    async with running_worker(settings):
        await publish(settings, issued)
        await wait_for_outcomes(db, issued)
        faults.add(kind="status", status=503, method="PUT", path="/bookAmount$", times=1)
        # The voucher's read before the booking passes; every read of the look after the 503 fails.
        faults.add(kind="latency", seconds=0, method="GET", path=r"^/Voucher/\d+$", times=1)
        faults.add(
            kind="status",
            status=503,
            method="GET",
            path=r"^/Voucher/\d+$",
            times=settings.sevdesk_retry_attempts,
        )
        await publish(settings, paid)
        await wait_for_outcomes(db, paid)

    first, second = await outcome_rows(db, paid)
    assert (first["status"], first["attempt"]) == ("retrying", 1)
    assert (second["status"], second["attempt"]) == ("succeeded", 2), second["error"]
    [voucher] = account.objects("Voucher")
    assert Decimal(str(voucher["paidAmount"])) == Decimal("261.8")


async def test_a_booking_sent_again_that_goes_unanswered_waits_the_settle_window_from_when_it_was_sent(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    settings = settings.model_copy(update={"write_settle_seconds": 3600.0, "sevdesk_retry_budget": 20.0})
    await tenant_with_accounts(db, settings, sandbox)
    issued = envelope("invoice.issued", crm_invoice())
    paid = envelope("payment.received", payment())
    faults = sandbox.sandbox.faults
    async with running_worker(settings):
        await publish(settings, issued)
        await wait_for_outcomes(db, issued)
        sandbox.sandbox.calls.clear()
        faults.add(kind="status", status=503, method="PUT", path="/bookAmount$", times=1)
        faults.add(kind="timeout", seconds=30, method="PUT", path="/bookAmount$", times=1)
        # The voucher's read before the booking passes; the look after the 503 is held.
        faults.add(kind="latency", seconds=0, method="GET", path=r"^/Voucher/\d+$", times=1)
        faults.add(kind="hold", method="GET", path=r"^/Voucher/\d+$", times=1)
        await publish(settings, paid)
        await wait_until(lambda: faults.held == 1, timeout=20, message="the look after the 503 is held")
        between = await db.fetchval("SELECT clock_timestamp()")
        assert faults.release() == 1
        await wait_until(
            lambda: db.fetchval("SELECT count(*) FROM sevsync.sync_outcome WHERE status = 'retrying'"),
            timeout=20,
            message="the attempt ended unanswered",
        )

    assert [c.status for c in sandbox.sandbox.calls if c.path.endswith("/bookAmount")][:1] == [503]
    intent = await db.fetchrow("SELECT created_at, settled FROM sevsync.write_intent")
    assert intent is not None
    assert not intent["settled"]
    assert intent["created_at"] > between


async def test_a_booking_answered_503_is_checked_and_booked_again_in_the_same_attempt(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    account = await tenant_with_accounts(db, settings, sandbox)
    issued = envelope("invoice.issued", crm_invoice())
    paid = envelope("payment.received", payment())
    async with running_worker(settings):
        await publish(settings, issued)
        await wait_for_outcomes(db, issued)
        sandbox.sandbox.faults.add(kind="status", status=503, method="PUT", path="/bookAmount$", times=1)
        await publish(settings, paid)
        await wait_for_outcomes(db, paid)

    assert [(r["status"], r["attempt"]) for r in await outcome_rows(db, paid)] == [("succeeded", 1)]
    [voucher] = account.objects("Voucher")
    assert Decimal(str(voucher["paidAmount"])) == Decimal("261.8")
    bookings = [c.status for c in sandbox.sandbox.calls if c.path.endswith("/bookAmount")]
    assert bookings == [503, 200]
