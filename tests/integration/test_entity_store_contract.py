"""One contract for both entity stores: the in-memory fake the handler unit tests run on must keep
links and intents exactly as Postgres does, so each scenario here runs against both.

Intents age by a clock: the fake's is moved by hand, Postgres' is now() - created_at, so the
Postgres arm lets time pass by moving every intent's created_at back instead.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
import pytest

from sevsync.store.db import Connection
from sevsync.store.links import Link, LinkWrite
from sevsync.store.outbox import OutboxMessage
from sevsync.sync.entity_store import EntityStore, PostgresEntityStore
from tests.unit.fakes import TENANT, InMemoryEntityStore

OTHER_TENANT = "globex"
WINDOW = 60.0  # seconds an unsettled intent may still land
BOOKING = ("payment", "pay-1", "CheckAccountTransaction")
BROKEN_AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@dataclass
class Arm:
    """One implementation: the tenant's store, another tenant's, and its clock and outbox."""

    store: EntityStore
    other_tenant: EntityStore
    pass_time: Callable[[float], Awaitable[None]]
    outbox: Callable[[], Awaitable[list[str]]]
    # What the reconciler does when the linked object is gone from sevDesk.
    break_link: Callable[[str, str], Awaitable[None]]


def _memory_arm() -> Arm:
    memory = InMemoryEntityStore()

    async def pass_time(seconds: float) -> None:
        memory.now += seconds

    async def outbox() -> list[str]:
        return [m.routing_key for m in memory.outbox]

    async def break_link(entity_type: str, entity_id: str) -> None:
        memory.break_link(entity_type, entity_id, BROKEN_AT, "deleted_in_sevdesk")

    return Arm(memory, InMemoryEntityStore(OTHER_TENANT), pass_time, outbox, break_link)


def _postgres_arm(conn: Connection) -> Arm:
    async def pass_time(seconds: float) -> None:
        await conn.execute(
            "UPDATE sevsync.write_intent SET created_at = created_at - make_interval(secs => $1)", seconds
        )

    async def outbox() -> list[str]:
        return [str(r["routing_key"]) for r in await conn.fetch("SELECT routing_key FROM sevsync.outbox")]

    async def break_link(entity_type: str, entity_id: str) -> None:
        await conn.execute(
            "UPDATE sevsync.entity_link SET broken_at = $4, broken_reason = 'deleted_in_sevdesk' "
            "WHERE tenant_id = $1 AND entity_type = $2 AND entity_id = $3",
            TENANT,
            entity_type,
            entity_id,
            BROKEN_AT,
        )

    return Arm(
        PostgresEntityStore(conn, TENANT),
        PostgresEntityStore(conn, OTHER_TENANT),
        pass_time,
        outbox,
        break_link,
    )


@pytest.fixture(params=["memory", "postgres"])
async def arm(request: pytest.FixtureRequest, db: asyncpg.Pool) -> AsyncIterator[Arm]:
    if request.param == "memory":
        yield _memory_arm()
        return
    async with db.acquire() as conn:
        yield _postgres_arm(conn)


def _write(
    entity_id: str = "inv-1",
    *,
    sevdesk_object: str | None = "Invoice",
    number: str | None = "RE-1",
    version: int | None = 1,
    payload_hash: str | None = "h1",
    cancelled: bool = False,
) -> LinkWrite:
    sevdesk_id = "31" if sevdesk_object is not None else None  # no object, no id
    return LinkWrite(
        "cancellation",
        entity_id,
        sevdesk_object,
        sevdesk_id,
        number,
        version,
        payload_hash,
        {"n": 1},
        cancelled,
    )


async def _link(store: EntityStore, entity_id: str = "inv-1") -> Link:
    link = await store.link("cancellation", entity_id)
    assert link is not None
    return link


# --- links ----------------------------------------------------------------------------------------


async def test_a_written_link_reads_back_in_every_way(arm: Arm) -> None:
    assert await arm.store.link_unless_other_kind(_write())
    assert await _link(arm.store) == Link(
        TENANT, "cancellation", "inv-1", "Invoice", "31", "RE-1", 1, "h1", {"n": 1}, False
    )
    assert [link.entity_id for link in await arm.store.links(["cancellation", "deal_invoice"], "inv-1")] == [
        "inv-1"
    ]
    assert [link.entity_id for link in await arm.store.links_of("cancellation", ["inv-1", "inv-2"])] == [
        "inv-1"
    ]
    assert await arm.store.entity_linked_to("cancellation", "Invoice", "31") == "inv-1"
    assert await arm.store.entity_linked_to("cancellation", "Voucher", "31") is None
    assert await arm.store.link("cancellation", "inv-2") is None


async def test_a_broken_link_reads_back_broken_in_every_way_and_a_write_keeps_it_broken(arm: Arm) -> None:
    await arm.store.link_unless_other_kind(_write())
    await arm.break_link("cancellation", "inv-1")
    assert ((await _link(arm.store)).broken_at, (await _link(arm.store)).broken_reason) == (
        BROKEN_AT,
        "deleted_in_sevdesk",
    )
    assert [link.broken_at for link in await arm.store.links(["cancellation"], "inv-1")] == [BROKEN_AT]
    assert [link.broken_at for link in await arm.store.links_of("cancellation", ["inv-1"])] == [BROKEN_AT]
    await arm.store.link_unless_other_kind(_write(version=2))
    await arm.store.commit_links([_write(version=3)], [])
    assert (await _link(arm.store)).broken_at == BROKEN_AT


async def test_a_link_whose_object_is_gone_is_marked_broken_and_told_once(arm: Arm) -> None:
    await arm.store.link_unless_other_kind(_write())
    first = await arm.store.mark_deleted(await _link(arm.store))
    second = await arm.store.mark_deleted(await _link(arm.store))

    broken = await _link(arm.store)
    assert (broken.broken_at is not None, broken.broken_reason) == (True, "deleted_in_sevdesk")
    assert first.broken_at == second.broken_at == broken.broken_at
    assert await arm.outbox() == ["link.broken"]
    # The first returns the message it queued (the processor publishes it at once); the second none.
    assert first.told is not None
    assert second.told is None
    assert first.told.routing_key == "link.broken"


async def test_a_merge_keeps_number_hash_and_cancellation_the_new_link_lacks(arm: Arm) -> None:
    await arm.store.link_unless_other_kind(_write(cancelled=True))
    await arm.store.link_unless_other_kind(_write(number=None, version=2, payload_hash=None))
    link = await _link(arm.store)
    assert (link.sevdesk_number, link.payload_hash, link.cancelled, link.synced_version) == (
        "RE-1",
        "h1",
        True,
        2,
    )


async def test_an_empty_number_or_hash_replaces_the_old_one_unlike_none(arm: Arm) -> None:
    await arm.store.link_unless_other_kind(_write())
    await arm.store.link_unless_other_kind(_write(number="", payload_hash=""))
    link = await _link(arm.store)
    assert (link.sevdesk_number, link.payload_hash) == ("", "")


async def test_the_synced_version_never_moves_back(arm: Arm) -> None:
    await arm.store.link_unless_other_kind(_write(version=5))
    await arm.store.link_unless_other_kind(_write(version=3))
    assert (await _link(arm.store)).synced_version == 5
    await arm.store.link_unless_other_kind(_write(version=None))
    assert (await _link(arm.store)).synced_version == 5
    await arm.store.link_unless_other_kind(_write("inv-2", version=None))
    assert (await _link(arm.store, "inv-2")).synced_version is None


async def test_a_link_to_another_kind_of_object_is_not_overwritten(arm: Arm) -> None:
    await arm.store.link_unless_other_kind(_write(sevdesk_object=None))
    assert await arm.store.link_unless_other_kind(_write(sevdesk_object="Invoice"))
    assert not await arm.store.link_unless_other_kind(_write(sevdesk_object="Voucher", number="V-1"))
    assert not await arm.store.link_unless_other_kind(_write(sevdesk_object=None))
    assert (await _link(arm.store)).sevdesk_object == "Invoice"
    assert (await _link(arm.store)).sevdesk_number == "RE-1"


async def test_tenants_are_kept_apart(arm: Arm) -> None:
    await arm.store.link_unless_other_kind(_write())
    await arm.store.save_intent(*BOOKING, "0")
    await arm.store.give_up_key("Invoice", "RE-9", "cancellation", "inv-1")
    assert await arm.other_tenant.link("cancellation", "inv-1") is None
    assert await arm.other_tenant.entity_linked_to("cancellation", "Invoice", "31") is None
    assert await arm.other_tenant.intent(*BOOKING) is None
    assert await arm.other_tenant.given_up_among("Invoice", ["RE-9"]) == set()
    await arm.other_tenant.link_unless_other_kind(_write(number="G-1"))
    assert (await _link(arm.other_tenant)).tenant_id == OTHER_TENANT
    assert (await _link(arm.store)).sevdesk_number == "RE-1"


async def test_committed_links_end_their_entities_intents_and_queue_the_messages(arm: Arm) -> None:
    await arm.store.save_intent("cancellation", "inv-1", "Invoice", "RE-1")
    await arm.store.save_intent("cancellation", "inv-1", "Voucher", "V-1")
    await arm.store.save_intent("cancellation", "inv-2", "Invoice", "RE-2")
    message = OutboxMessage(uuid.uuid4(), "sevsync.invoice.synced", b"{}")
    await arm.store.commit_links([_write()], [message])
    await arm.store.commit_links([_write(version=2)], [message])  # the same message is queued once
    assert await arm.store.intent("cancellation", "inv-1", "Invoice") is None
    assert await arm.store.intent("cancellation", "inv-1", "Voucher") is None
    assert await arm.store.intent("cancellation", "inv-2", "Invoice") is not None
    assert (await _link(arm.store)).synced_version == 2
    assert await arm.outbox() == ["sevsync.invoice.synced"]


# --- intents --------------------------------------------------------------------------------------


async def test_a_young_unsettled_intent_is_returned_instead_of_replaced(arm: Arm) -> None:
    assert await arm.store.save_intent_unless_pending(*BOOKING, "0", WINDOW, "fp-0") is None
    pending = await arm.store.save_intent_unless_pending(*BOOKING, "1", WINDOW, "fp-1")
    assert pending is not None
    assert (pending.business_key, pending.settled, pending.sent_fingerprints) == ("0", False, None)
    intent = await arm.store.intent(*BOOKING)
    assert intent is not None
    assert (intent.business_key, intent.settled, intent.sent_fingerprints) == ("0", False, ("fp-0",))


async def test_a_settled_or_old_intent_is_replaced(arm: Arm) -> None:
    await arm.store.save_intent_unless_pending(*BOOKING, "0", WINDOW, "fp-0")
    await arm.store.settle_intent(*BOOKING)
    assert (intent := await arm.store.intent(*BOOKING)) is not None
    assert intent.settled
    assert await arm.store.save_intent_unless_pending(*BOOKING, "1", WINDOW, None) is None
    assert (intent := await arm.store.intent(*BOOKING)) is not None
    assert (intent.business_key, intent.settled, intent.sent_fingerprints) == ("1", False, None)
    await arm.pass_time(2 * WINDOW)
    assert await arm.store.save_intent_unless_pending(*BOOKING, "2", WINDOW, "fp-2") is None
    assert (intent := await arm.store.intent(*BOOKING)) is not None
    assert (intent.business_key, intent.sent_fingerprints) == ("2", ("fp-2",))
    assert intent.age_seconds < WINDOW


async def test_a_resent_intent_is_unsettled_and_young_again(arm: Arm) -> None:
    await arm.store.save_intent(*BOOKING, "0")
    await arm.pass_time(2 * WINDOW)
    await arm.store.settle_intent(*BOOKING)
    await arm.store.resend_intent(*BOOKING)
    assert (intent := await arm.store.intent(*BOOKING)) is not None
    assert not intent.settled
    assert intent.may_still_land(WINDOW)
    pending = await arm.store.save_intent_unless_pending(*BOOKING, "1", WINDOW, None)
    assert pending is not None
    assert pending.business_key == "0"


async def test_sent_fingerprints_are_remembered_once_each(arm: Arm) -> None:
    await arm.store.remember_sent(*BOOKING, "fp-0")  # no intent: nothing to remember it on
    assert await arm.store.intent(*BOOKING) is None
    await arm.store.save_intent(*BOOKING, "0")
    for fingerprint in ("fp-1", "fp-2", "fp-1"):
        await arm.store.remember_sent(*BOOKING, fingerprint)
    assert (intent := await arm.store.intent(*BOOKING)) is not None
    assert intent.sent_fingerprints == ("fp-1", "fp-2")


async def test_a_given_up_key_ends_the_intent_that_holds_it(arm: Arm) -> None:
    await arm.store.save_intent("cancellation", "inv-1", "Invoice", "RE-1")
    await arm.store.save_intent("cancellation", "inv-2", "Invoice", "RE-2")
    await arm.store.give_up_key("Invoice", "RE-1", "cancellation", "inv-1")
    await arm.store.give_up_key("Invoice", "RE-1", "cancellation", "inv-1")  # twice is once
    await arm.store.give_up_key("Invoice", "RE-9", "cancellation", "inv-2")  # not inv-2's key
    assert await arm.store.intent("cancellation", "inv-1", "Invoice") is None
    assert await arm.store.intent("cancellation", "inv-2", "Invoice") is not None
    assert await arm.store.given_up_among("Invoice", ["RE-1", "RE-2", "RE-9"]) == {"RE-1", "RE-9"}
    assert await arm.store.given_up_among("Voucher", ["RE-1"]) == set()


async def test_a_claimed_key_waits_for_young_intents_of_others(arm: Arm) -> None:
    await arm.store.save_intent("cancellation", "inv-1", "Invoice", "RE-1")
    await arm.store.save_intent("deal_invoice", "deal-1", "Invoice", "RE-1")
    await arm.store.save_intent("cancellation", "inv-3", "Invoice", "RE-3")
    young = await arm.store.claim_key("Invoice", "RE-1", "inv-2", WINDOW)
    assert sorted(young) == ["deal-1", "inv-1"]
    assert await arm.store.intent("cancellation", "inv-1", "Invoice") is not None
    await arm.store.settle_intent("cancellation", "inv-1", "Invoice")
    assert await arm.store.claim_key("Invoice", "RE-1", "inv-2", WINDOW) == ["deal-1"]


async def test_a_claimed_key_drops_old_or_settled_intents_of_others(arm: Arm) -> None:
    await arm.store.save_intent("cancellation", "inv-1", "Invoice", "RE-1")
    await arm.store.save_intent("deal_invoice", "deal-1", "Invoice", "RE-1")
    await arm.store.settle_intent("deal_invoice", "deal-1", "Invoice")
    await arm.pass_time(2 * WINDOW)
    await arm.store.save_intent("cancellation", "inv-2", "Invoice", "RE-1")  # the claimant's own
    await arm.store.save_intent("cancellation", "inv-3", "Invoice", "RE-3")  # another key
    assert await arm.store.claim_key("Invoice", "RE-1", "inv-2", WINDOW) == []
    assert await arm.store.intent("cancellation", "inv-1", "Invoice") is None
    assert await arm.store.intent("deal_invoice", "deal-1", "Invoice") is None
    assert await arm.store.intent("cancellation", "inv-2", "Invoice") is not None
    assert await arm.store.intent("cancellation", "inv-3", "Invoice") is not None


async def test_intents_of_others_and_dropping_one(arm: Arm) -> None:
    for payment in ("pay-1", "pay-2", "pay-3"):
        await arm.store.save_intent("payment", payment, "CheckAccountTransaction", "0")
    await arm.store.save_intent("payment", "pay-4", "Voucher", "0")
    await arm.store.save_intent("refund", "ref-1", "CheckAccountTransaction", "0")
    await arm.store.delete_intent("payment", "pay-3", "CheckAccountTransaction")
    await arm.store.delete_intent("payment", "pay-9", "CheckAccountTransaction")  # none: no error
    others = await arm.store.intents_of_others("payment", "CheckAccountTransaction", "pay-1")
    assert others == ["pay-2"]
