"""`sevsync dead list|replay`: replayed dead letters against a real worker, broker and database.

Replays go to sevsync's own work queue only. Commands run as real subprocesses through
`asyncio.create_subprocess_exec`, awaited, because the sandbox serves from this test's event loop.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Sequence
from typing import Any

import aio_pika
import asyncpg
import pytest

from sevsync.broker.headers import RETRIES_HEADER
from sevsync.config import Settings
from sevsync.replay import ReplayError, UnnarrowedReplay, preview, replay
from sevsync.sandbox.server import SandboxServer
from sevsync.store.dead_letters import DeadLetterFilter, DeadLetterRow, insert_dead_letter, list_dead_letters

from ..cli_runner import Result, settings_env, sevsync
from ..samples import person, product
from .harness import add_tenant, envelope, publish, running_worker, wait_for_dead_letters, wait_for_outcomes


async def run_sevsync(settings: Settings, *args: str) -> Result:
    """The installed console script, pointed at this test's database and broker names."""
    return await sevsync(*args, env=settings_env(settings))


async def declare_topology(settings: Settings) -> None:
    """The work queue exists once a worker has started; it stays (durable) after the worker stops."""
    async with running_worker(settings):
        pass


async def queued(settings: Settings, queue: str | None = None) -> int:
    """Ready messages on a queue (the work queue by default), from a passive declare."""
    connection = await aio_pika.connect(settings.amqp_url.get_secret_value())
    try:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue or settings.queue, passive=True)
        return declared.declaration_result.message_count or 0
    finally:
        await connection.close()


async def drain(settings: Settings) -> list[aio_pika.abc.AbstractIncomingMessage]:
    """Take every ready message off the work queue (no worker may be running)."""
    messages = []
    connection = await aio_pika.connect(settings.amqp_url.get_secret_value())
    try:
        channel = await connection.channel()
        queue = await channel.get_queue(settings.queue)
        while (message := await queue.get(no_ack=True, fail=False)) is not None:
            messages.append(message)
    finally:
        await connection.close()
    return messages


async def add_dead_letter(
    db: asyncpg.Pool,
    *,
    tenant: str = "acme",
    reason: str = "sevdesk_rejected",
    event_id: uuid.UUID | None = None,
    body: bytes | None = None,
    error: str = "sevDesk refused it",
) -> uuid.UUID:
    """A dead letter of a parsed event, as the worker writes it; returns its event id."""
    event_id = event_id or uuid.uuid4()
    await insert_dead_letter(
        db,
        DeadLetterRow(
            reason=reason,
            error=error,
            body=body if body is not None else json.dumps({"event_id": str(event_id)}).encode(),
            event_id=event_id,
            tenant_id=tenant,
            event_type="product.created",
        ),
    )
    return event_id


async def add_malformed(db: asyncpg.Pool, body: bytes) -> None:
    """A dead letter of a message that could not even be parsed: no event id, tenant or type."""
    await insert_dead_letter(db, DeadLetterRow(reason="malformed", error="body is not JSON", body=body))


async def open_ids(db: asyncpg.Pool) -> list[int]:
    return [r["id"] for r in await db.fetch("SELECT id FROM sevsync.dead_letter WHERE replayed_at IS NULL")]


async def outcomes_of(
    db: asyncpg.Pool, event: dict[str, Any], count: int, timeout: float = 20.0
) -> list[Any]:
    """Wait until the event has `count` outcome rows; return them in order."""
    deadline = time.monotonic() + timeout
    while True:
        rows = await db.fetch(
            "SELECT * FROM sevsync.sync_outcome WHERE event_id = $1 ORDER BY id", uuid.UUID(event["event_id"])
        )
        if len(rows) >= count:
            return list(rows)
        assert time.monotonic() < deadline, f"expected {count} outcomes, found {len(rows)}"
        await asyncio.sleep(0.05)


def writes(sandbox: SandboxServer) -> int:
    return sum(sandbox.sandbox.count_calls(method) for method in ("POST", "PUT", "DELETE"))


# --- semantics with a running worker ----------------------------------------------------------------


async def test_replaying_an_applied_event_is_a_duplicate_without_a_second_write(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox)
    event = envelope("product.created", product())
    async with running_worker(settings):
        await publish(settings, event)
        [applied] = await wait_for_outcomes(db, event)
        assert applied["status"] == "succeeded", applied["error"]
        # As if the broker had dead-lettered a copy after the outcome was recorded.
        await add_dead_letter(
            db,
            reason="delivery_limit",
            event_id=uuid.UUID(event["event_id"]),
            body=json.dumps(event).encode(),
        )
        writes_before = writes(sandbox)
        summary = await replay(
            db,
            settings.amqp_url.get_secret_value(),
            settings.queue,
            DeadLetterFilter(reason="delivery_limit"),
        )
        rows = await outcomes_of(db, event, 2)

    assert summary.replayed == 1
    assert [(r["status"], r["reason"]) for r in rows] == [("succeeded", None), ("skipped", "duplicate")]
    assert writes(sandbox) == writes_before
    assert len(sandbox.sandbox.account(token).objects("Part")) == 1
    assert await open_ids(db) == []


async def test_failed_event_replayed_after_the_fix_is_applied_once(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    token = await add_tenant(db, settings, sandbox)
    sandbox.sandbox.faults.add(
        kind="status",
        status=422,
        code=151,
        message="Part number already assigned",
        method="POST",
        path="^/Part$",
        times=1,
    )
    event = envelope("product.created", product())
    async with running_worker(settings):
        await publish(settings, event)
        [failed] = await wait_for_outcomes(db, event)
        [dead] = await wait_for_dead_letters(db, 1)
        assert (failed["status"], failed["reason"]) == ("failed", "sevdesk_rejected")
        assert dead["event_id"] == uuid.UUID(event["event_id"])

        # The cause is gone (the fault was used up): replay it through the command line.
        result = await run_sevsync(settings, "dead", "replay", "--event-id", event["event_id"])
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == f"replayed 1 dead letter to queue {settings.queue}"
        [*_, applied] = await outcomes_of(db, event, 2)

    assert (applied["status"], applied["attempt"]) == ("succeeded", 2), applied["error"]
    assert len(sandbox.sandbox.account(token).objects("Part")) == 1
    [row] = await db.fetch("SELECT * FROM sevsync.dead_letter")
    assert row["replayed_at"] is not None
    assert await db.fetchval("SELECT count(*) FROM sevsync.inbox") == 1


async def test_replayed_malformed_message_is_dead_lettered_again(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer
) -> None:
    await add_tenant(db, settings, sandbox)
    later = envelope("customer.created", person())
    async with running_worker(settings):
        await publish(settings, b"{not json")
        [first] = await wait_for_dead_letters(db, 1)
        summary = await replay(
            db, settings.amqp_url.get_secret_value(), settings.queue, DeadLetterFilter(reason="malformed")
        )
        rows = await wait_for_dead_letters(db, 2)
        # The worker keeps going.
        await publish(settings, later)
        [outcome] = await wait_for_outcomes(db, later)

    assert summary.replayed == 1
    assert (first["reason"], rows[1]["reason"]) == ("malformed", "malformed")
    assert bytes(rows[1]["body"]) == b"{not json"
    assert await open_ids(db) == [rows[1]["id"]]
    assert outcome["status"] == "succeeded", outcome["error"]


# --- selection, dry run, concurrency (no worker running while replaying) ----------------------------


async def test_filters_select_exactly_the_matching_rows(db: asyncpg.Pool, settings: Settings) -> None:
    await declare_topology(settings)
    acme_rejected = await add_dead_letter(db)  # 1
    await add_malformed(db, b"garbage")  # 2
    other = await add_dead_letter(db, tenant="other")  # 3
    acme_limit = await add_dead_letter(db, reason="delivery_limit")  # 4
    replayed_before = await add_dead_letter(db)  # 5, replayed already
    await db.execute("UPDATE sevsync.dead_letter SET replayed_at = now() WHERE id = 5")
    acme_late = await add_dead_letter(db)  # 6

    async def ids(filters: DeadLetterFilter, limit: int | None = None) -> list[int]:
        return [row.id for row in await list_dead_letters(db, filters, limit=limit)]

    assert await ids(DeadLetterFilter()) == [6, 4, 3, 2, 1]  # newest first, open only
    assert await ids(DeadLetterFilter(open_only=False)) == [6, 5, 4, 3, 2, 1]
    assert await ids(DeadLetterFilter(tenant_id="acme")) == [6, 4, 1]
    assert await ids(DeadLetterFilter(tenant_id="acme", reason="sevdesk_rejected")) == [6, 1]
    assert await ids(DeadLetterFilter(reason="malformed")) == [2]
    assert await ids(DeadLetterFilter(event_ids=(other, acme_limit))) == [4, 3]
    assert await ids(DeadLetterFilter(event_ids=(replayed_before,))) == []
    assert await ids(DeadLetterFilter(tenant_id="acme"), limit=2) == [6, 4]

    amqp, queue = settings.amqp_url.get_secret_value(), settings.queue
    # Oldest first, so --limit 1 takes row 1 of acme's two rejected ones.
    first = await replay(
        db, amqp, queue, DeadLetterFilter(tenant_id="acme", reason="sevdesk_rejected"), limit=1
    )
    assert (first.replayed, first.still_open) == (1, 1)
    assert await open_ids(db) == [2, 3, 4, 6]
    by_event = await replay(db, amqp, queue, DeadLetterFilter(event_ids=(acme_late, other)))
    assert (by_event.replayed, by_event.still_open) == (2, 0)
    assert await open_ids(db) == [2, 4]
    by_reason = await replay(db, amqp, queue, DeadLetterFilter(reason="malformed"))
    assert by_reason.replayed == 1
    assert await open_ids(db) == [4]

    messages = await drain(settings)
    # (aiormq gives a message without an id a random one; only the body tells the malformed one.)
    assert [m.message_id for m in messages[:3]] == [str(acme_rejected), str(other), str(acme_late)]
    assert [m.body for m in messages[3:]] == [b"garbage"]


async def test_replayed_messages_go_to_the_work_queue_only_as_fresh_deliveries(
    db: asyncpg.Pool, settings: Settings
) -> None:
    await declare_topology(settings)
    event_id = await add_dead_letter(db)
    connection = await aio_pika.connect(settings.amqp_url.get_secret_value())
    try:
        channel = await connection.channel()
        # A second consumer of the CRM exchange: a replay must never reach it.
        crm = await channel.get_exchange(settings.exchange)
        spy = await channel.declare_queue(exclusive=True)
        await spy.bind(crm, routing_key="#")
        summary = await replay(
            db, settings.amqp_url.get_secret_value(), settings.queue, DeadLetterFilter(tenant_id="acme")
        )
        assert (await channel.declare_queue(spy.name, passive=True)).declaration_result.message_count == 0
    finally:
        await connection.close()

    assert summary.replayed == 1
    [message] = await drain(settings)
    assert message.body == json.dumps({"event_id": str(event_id)}).encode()
    assert message.message_id == str(event_id)
    assert message.content_type == "application/json"
    assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert RETRIES_HEADER not in (message.headers or {})


async def test_dry_run_prints_what_it_would_replay_and_changes_nothing(
    db: asyncpg.Pool, settings: Settings
) -> None:
    await declare_topology(settings)
    first = await add_dead_letter(db)
    await add_dead_letter(db, tenant="other")
    second = await add_dead_letter(db)

    result = await run_sevsync(settings, "dead", "replay", "--tenant", "acme", "--dry-run")

    assert result.returncode == 0, result.stderr
    header, *lines, summary = result.stdout.strip().splitlines()
    assert header.split()[:3] == ["ID", "DEAD_AT", "TENANT"]
    assert [line.split()[0] for line in lines] == ["1", "3"]  # the order the replay would take
    assert str(first) in lines[0]
    assert str(second) in lines[1]
    assert summary == f"dry run: would replay 2 dead letters to queue {settings.queue}; nothing was published"
    assert await open_ids(db) == [1, 2, 3]
    assert await queued(settings) == 0


async def test_two_replays_at_once_publish_each_row_once(db: asyncpg.Pool, settings: Settings) -> None:
    await declare_topology(settings)
    count = 230
    event_ids = [await add_dead_letter(db, tenant=f"t{i % 3}") for i in range(count)]
    amqp, queue = settings.amqp_url.get_secret_value(), settings.queue

    # Small batches, so that the two runs interleave many times.
    summaries = await asyncio.gather(
        *(replay(db, amqp, queue, DeadLetterFilter(), everything=True, batch_size=7) for _ in range(2))
    )

    assert sum(s.replayed for s in summaries) == count
    assert await open_ids(db) == []
    assert await queued(settings) == count
    messages = await drain(settings)
    assert sorted(m.message_id or "" for m in messages) == sorted(str(e) for e in event_ids)


# --- the command line ---------------------------------------------------------------------------------


async def test_list_shows_dead_letters_but_their_bodies_only_on_request(
    db: asyncpg.Pool, settings: Settings
) -> None:
    secret = "erika@example.org"
    event_id = await add_dead_letter(
        db,
        body=json.dumps({"data": {"email": secret}}).encode(),
        error="sevDesk said:\n  the e-mail address\tis refused " + "x" * 300,
    )
    await add_malformed(db, b"\xff\xfe not utf-8")
    await add_dead_letter(db, tenant="other")
    await db.execute("UPDATE sevsync.dead_letter SET replayed_at = now() WHERE id = 3")

    table = await run_sevsync(settings, "dead", "list")
    as_json = await run_sevsync(settings, "dead", "list", "--json", "--include-replayed")
    limited = await run_sevsync(settings, "dead", "list", "--include-replayed", "--limit", "1")
    body = await run_sevsync(settings, "dead", "list", "--show-body", "--event-id", str(event_id))
    raw = await run_sevsync(settings, "dead", "list", "--show-body", "--json", "--event-id", str(event_id))

    for result in (table, as_json, limited, body, raw):
        assert result.returncode == 0, result.stderr
    header, malformed, rejected = table.stdout.strip().splitlines()  # newest first, open only
    assert header.split() == [
        "ID",
        "DEAD_AT",
        "TENANT",
        "EVENT_TYPE",
        "EVENT_ID",
        "REASON",
        "ATTEMPTS",
        "REPLAYED_AT",
        "ERROR",
    ]
    assert malformed.split()[0] == "2"
    assert malformed.split()[2:6] == ["-", "-", "-", "malformed"]
    assert rejected.split()[0] == "1"
    assert "sevDesk said: the e-mail address is refused xxx" in rejected
    assert rejected.endswith("...")
    assert secret not in table.stdout + as_json.stdout + limited.stdout

    rows = json.loads(as_json.stdout)
    assert [r["id"] for r in rows] == [3, 2, 1]
    assert rows[0]["replayed_at"] is not None
    assert rows[2]["error"].startswith("sevDesk said:\n")
    assert all("body" not in r for r in rows)
    assert [line.split()[0] for line in limited.stdout.strip().splitlines()[1:]] == ["3"]

    assert secret in body.stdout
    [shown] = json.loads(raw.stdout)
    assert json.loads(shown["body"]) == {"data": {"email": secret}}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["dead", "replay"], "--all"),
        (["dead", "replay", "--dry-run"], "--all"),
        (["dead", "list", "--show-body"], "exactly one --event-id"),
        (["dead", "list", "--tenant", "not a tenant"], "tenant id"),
    ],
)
async def test_refusals_are_one_line(
    db: asyncpg.Pool, settings: Settings, args: Sequence[str], message: str
) -> None:
    await add_dead_letter(db)
    result = await run_sevsync(settings, *args)
    assert result.returncode == 1
    line = result.error_line()
    assert line.startswith("sevsync: error: ")
    assert message in line
    assert result.stdout == ""
    assert await open_ids(db) == [1]


async def test_replay_refuses_while_the_work_queue_does_not_exist(
    db: asyncpg.Pool, settings: Settings
) -> None:
    await add_dead_letter(db)
    result = await run_sevsync(settings, "dead", "replay", "--all")
    assert result.returncode == 1
    assert f"queue {settings.queue} does not exist" in result.error_line()
    assert await open_ids(db) == [1]
    with pytest.raises(ReplayError):
        await replay(
            db, settings.amqp_url.get_secret_value(), settings.queue, DeadLetterFilter(), everything=True
        )


async def test_replay_all_and_usage_errors(db: asyncpg.Pool, settings: Settings) -> None:
    await declare_topology(settings)
    await add_dead_letter(db)
    await add_dead_letter(db, tenant="other")

    bad_id = await run_sevsync(settings, "dead", "replay", "--event-id", "nope")
    bad_limit = await run_sevsync(settings, "dead", "list", "--limit", "0")
    everything = await run_sevsync(settings, "dead", "replay", "--all", "--limit", "1")
    rest = await run_sevsync(settings, "dead", "replay", "--all")
    nothing = await run_sevsync(settings, "dead", "replay", "--all")

    assert bad_id.returncode == 2
    assert "expected an event id" in bad_id.error_line()
    assert bad_limit.returncode == 2
    assert "expected 1 or more" in bad_limit.error_line()
    assert (
        everything.stdout.strip()
        == f"replayed 1 dead letter to queue {settings.queue}; 1 matching still open"
    )
    assert rest.stdout.strip() == f"replayed 1 dead letter to queue {settings.queue}"
    assert nothing.stdout.strip() == f"replayed 0 dead letters to queue {settings.queue}"
    assert await queued(settings) == 2


async def test_replay_and_preview_refuse_every_dead_letter_unless_asked(
    db: asyncpg.Pool, settings: Settings
) -> None:
    await declare_topology(settings)
    await add_dead_letter(db)
    amqp, queue = settings.amqp_url.get_secret_value(), settings.queue

    with pytest.raises(UnnarrowedReplay):
        await replay(db, amqp, queue, DeadLetterFilter())
    with pytest.raises(UnnarrowedReplay):
        await preview(db, DeadLetterFilter(), limit=None)
    assert await open_ids(db) == [1]
    assert await queued(settings) == 0

    assert [row.id for row in await preview(db, DeadLetterFilter(), limit=None, everything=True)] == [1]
    summary = await replay(db, amqp, queue, DeadLetterFilter(), everything=True)
    assert summary.replayed == 1
    assert await queued(settings) == 1


async def test_the_command_line_replays_no_malformed_letter(db: asyncpg.Pool, settings: Settings) -> None:
    """A malformed letter can only fail again: naming it is refused, a wider replay leaves it out."""
    await declare_topology(settings)
    await add_malformed(db, b"garbage")  # 1
    await add_dead_letter(db, tenant="other")  # 2

    named = await run_sevsync(settings, "dead", "replay", "--reason", "malformed")
    everything = await run_sevsync(settings, "dead", "replay", "--all")

    assert named.returncode == 1
    assert "cannot be replayed" in named.error_line()
    assert everything.returncode == 0, everything.stderr
    assert everything.stdout.strip().splitlines() == [
        "left out 1 dead letter no replay can fix (malformed); they stay open",
        f"replayed 1 dead letter to queue {settings.queue}",
    ]
    assert await open_ids(db) == [1]
