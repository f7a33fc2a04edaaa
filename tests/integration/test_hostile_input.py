"""Hostile input through the real worker: every bad message ends as a precise dead letter, kept
byte for byte, while the good events interleaved with them sync as if the bad ones were not there."""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import aio_pika
import asyncpg

from sevsync.config import Settings
from sevsync.sandbox.server import SandboxServer

from ..samples import company
from .harness import (
    FINAL_STATUSES,
    add_tenant,
    envelope,
    outbound_listener,
    publish,
    running_worker,
    wait_for_outcomes,
    wait_until,
)
from .hostile_corpus import Case, GoodEvent, control_cases, good_events, hostile_cases

# Low enough that the oversize case stays small, high enough for every other case (the deeply
# nested one is about 10 kB).
MAX_BODY_BYTES = 32_768
TIMEOUT = 30.0
OUTBOUND_TIMEOUT = 5.0


def _interleave(cases: Sequence[Case], good: Sequence[GoodEvent]) -> list[Case | GoodEvent]:
    """Good events spread evenly between the bad ones, starting and ending with a good one."""
    step = math.ceil(len(cases) / (len(good) - 1))
    sequence: list[Case | GoodEvent] = []
    remaining = list(good)
    for index, case in enumerate(cases):
        if index % step == 0 and remaining:
            sequence.append(remaining.pop(0))
        sequence.append(case)
    sequence += remaining
    return sequence


async def _publish_all(settings: Settings, sequence: Sequence[Case | GoodEvent]) -> None:
    """One connection, publisher confirms, in order: to the inbound exchange by routing key, or (for
    types the exchange does not route) straight to the work queue through the default exchange.
    Mandatory: a message the broker cannot route fails the publish instead of vanishing."""
    connection = await aio_pika.connect(settings.amqp_url.get_secret_value())
    async with connection:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        exchange = await channel.get_exchange(settings.exchange)
        for item in sequence:
            message = aio_pika.Message(
                item.body, content_type="application/json", delivery_mode=aio_pika.DeliveryMode.PERSISTENT
            )
            if item.routing_key is None:
                await channel.default_exchange.publish(message, routing_key=settings.queue, mandatory=True)
            else:
                await exchange.publish(message, routing_key=item.routing_key, mandatory=True)


# The waits below return at their timeout instead of failing: the assertions that follow then
# name what is missing, case by case, which says more than "timed out" would.


async def _wait_until_all_recorded(db: asyncpg.Pool, messages: int) -> None:
    """Until as many messages have ended (a dead letter, or a final outcome) as were published."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        ended = await db.fetchval(
            """
            SELECT (SELECT count(*) FROM sevsync.dead_letter)
                 + (SELECT count(DISTINCT event_id) FROM sevsync.sync_outcome WHERE status = ANY($1::text[]))
            """,
            list(FINAL_STATUSES),
        )
        if ended >= messages:
            return
        await asyncio.sleep(0.05)


async def _wait_quietly(predicate: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return
        await asyncio.sleep(0.05)


def _rejection_key(message: dict[str, Any]) -> tuple[Any, ...]:
    data = message["data"]
    return (
        message["tenant_id"],
        data["source_event_id"],
        data["source_event_type"],
        data["status"],
        data["reason"],
        data["error"],
    )


def _mismatches(case: Case, row: asyncpg.Record | None) -> list[str]:
    if row is None:
        return [f"{case.name}: no dead letter with its body"]
    problems = []
    if row["reason"] != case.reason:
        problems.append(f"{case.name}: reason {row['reason']!r}, expected {case.reason!r}")
    if row["error"] is None or case.detail not in row["error"]:
        problems.append(f"{case.name}: error {row['error']!r} lacks {case.detail!r}")
    identity = (row["event_id"], row["tenant_id"], row["event_type"])
    expected = (case.event_id, case.tenant_id, case.event_type)
    if identity != expected:
        problems.append(f"{case.name}: identity {identity}, expected {expected}")
    if row["attempts"] != 1 or row["replayed_at"] is not None:
        problems.append(f"{case.name}: attempts {row['attempts']}, replayed_at {row['replayed_at']}")
    return problems


async def test_hostile_corpus_is_dead_lettered_precisely_while_good_events_sync(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    settings = settings.model_copy(update={"max_body_bytes": MAX_BODY_BYTES})
    token = await add_tenant(db, settings, sandbox)
    calls_before = len(sandbox.sandbox.calls)
    bad = hostile_cases(MAX_BODY_BYTES)
    controls = control_cases()
    good = good_events()
    dead_cases = bad + controls
    assert len(bad) >= 40
    assert sum(c.reason == "malformed" for c in bad) >= 40
    # Dead letters are matched to their cases by body, so no two bodies may be equal.
    assert len({c.body for c in dead_cases} | {g.body for g in good}) == len(dead_cases) + len(good)
    assert any(len(c.body) > MAX_BODY_BYTES for c in bad)
    assert all(len(c.body) <= MAX_BODY_BYTES for c in dead_cases if "larger than" not in c.detail)
    addressable = [c for c in dead_cases if c.tenant_id is not None]

    async with outbound_listener(settings) as received, running_worker(settings):
        await _publish_all(settings, _interleave(dead_cases, good))
        await _wait_until_all_recorded(db, len(dead_cases) + len(good))
        # Results are published right after their rows are committed, so they follow quickly.
        await _wait_quietly(lambda: len(received) >= len(good) + len(addressable), OUTBOUND_TIMEOUT)
    # The worker has stopped: everything it will ever record for these messages is recorded.

    dead = await db.fetch("SELECT * FROM sevsync.dead_letter ORDER BY id")
    by_body = {bytes(row["body"]): row for row in dead}
    problems = [problem for case in dead_cases for problem in _mismatches(case, by_body.get(case.body))]
    assert problems == [], "\n".join(problems)
    assert len(by_body) == len(dead) == len(dead_cases), "exactly one dead letter per bad message"

    # Only the good events and the valid controls have outcomes: each one attempt, the good ones
    # succeeded, the controls failed for their business reason.
    outcomes = await db.fetch("SELECT * FROM sevsync.sync_outcome ORDER BY id")
    control_ids = {str(c.event_id): c for c in controls}
    assert sorted(str(o["event_id"]) for o in outcomes) == sorted(
        [str(g.event_id) for g in good] + list(control_ids)
    )
    good_outcomes = [o for o in outcomes if str(o["event_id"]) not in control_ids]
    assert {(o["status"], o["reason"], o["attempt"]) for o in good_outcomes} == {("succeeded", None, 1)}, [
        (o["entity_id"], o["status"], o["error"]) for o in good_outcomes
    ]
    assert sorted(
        (o["status"], o["reason"], o["attempt"]) for o in outcomes if o not in good_outcomes
    ) == sorted(("failed", c.reason, 1) for c in controls)

    # sevDesk holds exactly the good entities, and every call to it was made for a good event.
    account = sandbox.sandbox.account(token)
    contacts = account.objects("Contact")
    # A company also gets its contact person: a Contact under it (with a number sevDesk assigns).
    customers = [c for c in contacts if not c.get("parent")]
    contact_persons = [c for c in contacts if c.get("parent")]
    good_contacts = [g for g in good if g.sevdesk_object == "Contact"]
    assert sorted(c["customerNumber"] for c in customers) == sorted(g.business_key for g in good_contacts)
    companies = [g for g in good_contacts if g.message["data"]["kind"] == "company"]
    assert len(contact_persons) == len(companies)
    parts = account.objects("Part")
    assert sorted(p["partNumber"] for p in parts) == sorted(
        g.business_key for g in good if g.sevdesk_object == "Part"
    )
    assert len(sandbox.sandbox.calls) - calls_before == sum(o["api_calls"] for o in outcomes) > 0

    # The CRM hears of every good event, and of every bad message that names a valid tenant (it
    # has nobody to address the others to), with the same reason and detail as the dead letter.
    succeeded = [m for m in received if m["event_type"] == "sync.succeeded"]
    assert sorted(m["data"]["source_event_id"] for m in succeeded) == sorted(str(g.event_id) for g in good)
    rejected = [m for m in received if m["event_type"] == "sync.failed"]
    assert len(succeeded) + len(rejected) == len(received), {m["event_type"] for m in received}
    assert Counter(_rejection_key(m) for m in rejected) == Counter(
        (
            case.tenant_id,
            str(case.event_id) if case.event_id else None,
            case.event_type,
            "failed" if case in controls else "dead",
            case.reason,
            by_body[case.body]["error"],
        )
        for case in addressable
    )


async def test_well_formed_event_of_an_unknown_tenant_is_skipped_not_dead_lettered(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    # Per the contract, a tenant that is not connected is a gate, not a malformed message: the event
    # is valid, so it gets a `skipped` outcome with reason `not_connected` and the CRM is told.
    token = await add_tenant(db, settings, sandbox)
    calls_before = len(sandbox.sandbox.calls)
    nobody = envelope("customer.created", company("ghost-1"), tenant="nobody")
    # The longest tenant id the contract allows (the corpus refuses one character more).
    longest = envelope("customer.created", company("ghost-2"), tenant="t" * 64)
    async with outbound_listener(settings) as received, running_worker(settings):
        await publish(settings, nobody, longest)
        outcomes = await wait_for_outcomes(db, nobody, longest)
        await wait_until(lambda: len(received) >= 2, message="two sync.skipped events")

    for event, outcome in zip((nobody, longest), outcomes, strict=True):
        assert (outcome["status"], outcome["reason"]) == ("skipped", "not_connected")
        assert (outcome["tenant_id"], outcome["entity_id"], outcome["api_calls"]) == (
            event["tenant_id"],
            event["data"]["id"],
            0,
        )
    assert await db.fetchval("SELECT count(*) FROM sevsync.dead_letter") == 0
    assert await db.fetchval("SELECT count(*) FROM sevsync.sync_outcome") == 2
    skipped: dict[str, Any] = {m["data"]["source_event_id"]: m for m in received}
    assert set(skipped) == {nobody["event_id"], longest["event_id"]}
    for message in skipped.values():
        assert (message["event_type"], message["data"]["status"], message["data"]["reason"]) == (
            "sync.skipped",
            "skipped",
            "not_connected",
        )
    assert len(sandbox.sandbox.calls) == calls_before
    assert sandbox.sandbox.account(token).objects("Contact") == []
