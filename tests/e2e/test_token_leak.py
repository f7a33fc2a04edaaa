"""A tenant's sevDesk token, known to the test, is in no log line, row, dead letter or outbound message.

One full flow through the real worker, broker, database and sandbox touches every path that handles
the tenant or its token: connecting, customers, products, a deal opened and won, a CRM invoice and
its payment, a malformed message, a transient sevDesk failure on the retry ladder, a sevDesk refusal
(failed, dead-lettered) and its replay, a refused token (parked) and the reconnect that resumes it.
Every log record is formatted by the worker's own `JsonFormatter`, at DEBUG, as in production.

The second test plants the token in each place the first one searches, so the search is known to
find it: the first test cannot pass by looking in the wrong place or the wrong way.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aio_pika
import asyncpg
import pytest

from sevsync.config import Settings
from sevsync.logs import JsonFormatter
from sevsync.replay import replay
from sevsync.sandbox.server import SandboxServer
from sevsync.sandbox.store import Account
from sevsync.sevdesk.client import SevdeskClient
from sevsync.sevdesk.token import ApiToken
from sevsync.store.dead_letters import DeadLetterFilter
from sevsync.tenants.crypto import TokenCipher
from sevsync.tenants.service import connect_tenant, resume_parked
from tests.integration.harness import (
    add_tenant,
    consume_outbound,
    envelope,
    publish,
    running_worker,
    wait_for_dead_letters,
    wait_for_outcomes,
    wait_until,
)
from tests.samples import company, crm_invoice, deal, payment, person, product

pytestmark = pytest.mark.timeout(180)

# 32 hex digits, as sevDesk's API tokens are; distinctive enough to appear nowhere by chance.
KNOWN_TOKEN = "7e57c0de5e7de5c0ffee1eaf0b5e55ed"
TENANT = "acme"


def token_forms(token: str) -> dict[str, str]:
    """The token as it could show up: raw (also the whole `Authorization` header value), upper case,
    base64 at each of the three alignments (standard and URL-safe), and as the hex of its bytes
    (how Postgres renders bytea)."""
    raw = token.encode()
    forms = {"raw": token, "upper": token.upper(), "hex": raw.hex()}
    for shift in range(3):
        for name, encode in (("base64", base64.b64encode), ("base64url", base64.urlsafe_b64encode)):
            encoded = encode(b"\0" * shift + raw).decode()
            # Only the characters made of the token's bits alone, whatever comes before and after.
            start = -(-shift * 8 // 6)
            end = (shift + len(raw)) * 8 // 6
            forms[f"{name}+{shift}"] = encoded[start:end]
    return forms


FORMS = token_forms(KNOWN_TOKEN)


def found_in_text(text: str) -> list[str]:
    """Names of the token forms in `text` (lower-cased too: a lower-cased upper form is the raw one)."""
    return [name for name, form in FORMS.items() if form in text or form.lower() in text.lower()]


def found_in_bytes(data: bytes) -> list[str]:
    return found_in_text(data.decode("latin-1"))


# --- what the test searches ------------------------------------------------------------------------


class JsonLines(logging.Handler):
    """Every log record, formatted by the worker's JsonFormatter, as the lines it writes."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def json_log() -> Iterator[JsonLines]:
    """Root logger at DEBUG with the JSON handler attached, for the test's duration."""
    handler = JsonLines()
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def log_leaks(lines: list[str]) -> list[tuple[str, list[str]]]:
    return [(line, names) for line in lines if (names := found_in_text(line))]


async def database_leaks(db: asyncpg.Pool) -> tuple[list[str], list[str]]:
    """(what was searched, where a form of the token was found) over every table and view of schema
    sevsync: each row as JSON text, and each bytea value as the raw bytes."""
    relations = await db.fetch(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'sevsync' ORDER BY table_name"
    )
    searched: list[str] = []
    leaks: list[str] = []
    for relation in relations:
        name = relation["table_name"]
        rows = await db.fetch(f'SELECT row_to_json(t)::text AS row FROM sevsync."{name}" t')
        searched.append(f"{name}: {len(rows)} rows")
        leaks += [f"{name}: {found} in {r['row'][:300]}" for r in rows if (found := found_in_text(r["row"]))]
    columns = await db.fetch(
        "SELECT table_name, column_name FROM information_schema.columns"
        " WHERE table_schema = 'sevsync' AND data_type = 'bytea' ORDER BY table_name, column_name"
    )
    for column in columns:
        table, name = column["table_name"], column["column_name"]
        values = await db.fetch(f'SELECT "{name}" AS value FROM sevsync."{table}" WHERE "{name}" IS NOT NULL')
        searched.append(f"{table}.{name}: {len(values)} values")
        leaks += [f"{table}.{name}: {found}" for v in values if (found := found_in_bytes(bytes(v["value"])))]
    return searched, leaks


@dataclass(frozen=True)
class Published:
    """A message on the outbound exchange, as the broker delivered it."""

    routing_key: str
    body: bytes
    headers: Mapping[str, Any]
    properties: dict[str, Any]

    def json(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


def message_leaks(messages: list[Published]) -> list[str]:
    leaks = []
    for message in messages:
        where = {
            "routing key": message.routing_key,
            "body": message.body.decode("latin-1"),
            "headers": repr(dict(message.headers)),
            "properties": repr(message.properties),
        }
        leaks += [
            f"{message.routing_key} {part}: {found}"
            for part, text in where.items()
            if (found := found_in_text(text))
        ]
    return leaks


@asynccontextmanager
async def outbound_messages(settings: Settings) -> AsyncIterator[list[Published]]:
    """Every message published on the outbound exchange while the block runs: body, headers, properties."""
    received: list[Published] = []

    def keep(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        properties = {
            "message_id": message.message_id,
            "correlation_id": message.correlation_id,
            "content_type": message.content_type,
            "type": message.type,
            "app_id": message.app_id,
            "user_id": message.user_id,
            "reply_to": message.reply_to,
        }
        received.append(
            Published(message.routing_key or "", bytes(message.body), dict(message.headers), properties)
        )

    async with consume_outbound(settings, keep):
        yield received


# --- the flow --------------------------------------------------------------------------------------


async def newest_outcome(
    db: asyncpg.Pool, event: dict[str, Any], status: str, timeout: float = 30.0
) -> asyncpg.Record:
    """Wait until the event's newest outcome (duplicates aside) has `status`."""
    deadline = time.monotonic() + timeout
    while True:
        row = await db.fetchrow(
            "SELECT * FROM sevsync.sync_outcome WHERE event_id = $1 AND reason IS DISTINCT FROM 'duplicate'"
            " ORDER BY id DESC LIMIT 1",
            uuid.UUID(event["event_id"]),
        )
        if row is not None and row["status"] == status:
            return row
        if time.monotonic() > deadline:
            raise AssertionError(f"{event['event_type']} is not {status}: {dict(row) if row else None}")
        await asyncio.sleep(0.05)


def check_account_id(account: Account, kind: str) -> str:
    return str(next(r.id for r in account.table("CheckAccount").values() if r.fields["type"] == kind))


async def test_a_full_flow_leaks_the_token_nowhere(
    db: asyncpg.Pool, settings: Settings, sandbox: SandboxServer, secret_key: str, json_log: JsonLines
) -> None:
    assert len(KNOWN_TOKEN) == 32
    assert int(KNOWN_TOKEN, 16) >= 0
    # Connected the way `sevsync tenant connect` does it: the token is tested against sevDesk, then stored.
    assert await add_tenant(db, settings, sandbox, TENANT, token=KNOWN_TOKEN) == KNOWN_TOKEN
    account = sandbox.sandbox.account(KNOWN_TOKEN)
    await db.execute(
        "UPDATE sevsync.tenant_integration SET settings = settings || $1::jsonb WHERE tenant_id = $2",
        {"check_accounts": {"cash": check_account_id(account, "register")}},
        TENANT,
    )
    faults = sandbox.sandbox.faults
    amqp_url = settings.amqp_url.get_secret_value()

    customers = [
        envelope("customer.created", company()),
        envelope("customer.created", person()),
        envelope("customer.updated", company(email="accounts@acme.example"), version=2),
    ]
    products = [
        envelope("product.created", product()),
        envelope("product.updated", product(net_price="130.00"), version=2),
    ]
    opened = envelope("deal.opened", deal(), version=1)
    won = envelope("deal.won", deal(), version=2)
    issued = envelope("invoice.issued", crm_invoice())
    paid = envelope("payment.received", payment())
    flaky = envelope("product.created", product("prod-flaky", sku="SKU-FLAKY"))
    refused = envelope("product.created", product("prod-refused", sku="SKU-REFUSED"))
    parked = envelope("product.created", product("prod-parked", sku="SKU-PARKED"))
    malformed = b'{"event_type": "customer.updated", "tenant_id": "acme", "data": '

    async with outbound_messages(settings) as published, running_worker(settings):
        await publish(settings, *customers[:2])
        await wait_for_outcomes(db, *customers[:2])
        # One after the other: published together, the create would be superseded by the update.
        await publish(settings, customers[2], products[0])
        await wait_for_outcomes(db, customers[2], products[0])
        await publish(settings, products[1])
        await wait_for_outcomes(db, products[1])
        for event in (opened, won, issued, paid):
            await publish(settings, event)
            await wait_for_outcomes(db, event, timeout=30)

        # Not JSON at all: dead-lettered as it came.
        await publish(settings, malformed, routing_key="customer.updated")
        await wait_for_dead_letters(db, 1)

        # sevDesk unavailable (the part-number search) for longer than the in-call retries: the
        # retry ladder, then success.
        faults.add(
            kind="status", status=503, method="GET", path="^/Part$", times=settings.sevdesk_retry_attempts
        )
        await publish(settings, flaky)
        await wait_for_outcomes(db, flaky, timeout=30)

        # sevDesk refuses a create with its own error: failed and dead-lettered; replayed, it goes through.
        faults.add(
            kind="status",
            status=400,
            code=151,
            message="Das Feld name darf nicht leer sein",
            method="POST",
            path="^/Part$",
        )
        await publish(settings, refused)
        await wait_for_outcomes(db, refused)
        await wait_for_dead_letters(db, 2)
        summary = await replay(db, amqp_url, settings.queue, DeadLetterFilter(reason="sevdesk_rejected"))
        assert summary.replayed == 1
        await newest_outcome(db, refused, "succeeded")

        # sevDesk stops accepting the token (401): the event is parked; a reconnect resumes it.
        sandbox.sandbox.remove_account(KNOWN_TOKEN)
        await publish(settings, parked)
        await newest_outcome(db, parked, "parked")
        sandbox.sandbox.add_account(KNOWN_TOKEN)
        async with SevdeskClient(settings.sevdesk_base_url) as client:
            await connect_tenant(db, client, TokenCipher(secret_key), TENANT, ApiToken(KNOWN_TOKEN))
        assert await resume_parked(db, amqp_url, settings.queue, TENANT) == 1
        await newest_outcome(db, parked, "succeeded")

        # Every outbound message the outbox holds has reached the listener.
        async def all_published() -> bool:
            outbox = await db.fetchrow(
                "SELECT count(*) AS rows, count(published_at) AS sent FROM sevsync.outbox"
            )
            assert outbox is not None
            return bool(outbox["sent"] == outbox["rows"] and len(published) >= outbox["rows"])

        await wait_until(all_published, timeout=20, message="every outbound message received")

    # The flow did what it is meant to, so the search below covers every path.
    outcomes = await db.fetch("SELECT * FROM sevsync.sync_outcome ORDER BY id")
    seen = {(r["event_type"], r["status"], r["reason"]) for r in outcomes}
    for expected in [
        ("customer.created", "succeeded", None),
        ("customer.updated", "succeeded", None),
        ("product.updated", "succeeded", None),
        ("deal.opened", "succeeded", None),
        ("deal.won", "succeeded", None),
        ("invoice.issued", "succeeded", None),
        ("payment.received", "succeeded", None),
        ("product.created", "retrying", "sevdesk_unavailable"),
        ("product.created", "failed", "sevdesk_rejected"),
        ("product.created", "parked", "auth_failed"),
    ]:
        assert expected in seen, (expected, sorted(seen, key=str))
    assert all(r["status"] in ("succeeded", "retrying", "failed", "parked") for r in outcomes), "; ".join(
        map(str, seen)
    )
    refusal = next(r for r in outcomes if r["status"] == "failed")
    assert "Das Feld name darf nicht leer sein" in refusal["error"]
    parking = next(r for r in outcomes if r["status"] == "parked")
    assert "401" in parking["error"], parking["error"]
    dead_letters = await db.fetch("SELECT * FROM sevsync.dead_letter ORDER BY id")
    assert [(d["reason"], d["replayed_at"] is not None) for d in dead_letters] == [
        ("malformed", False),
        ("sevdesk_rejected", True),
    ]
    assert bytes(dead_letters[0]["body"]) == malformed
    assert {m.routing_key for m in published} >= {"sync.succeeded", "sync.failed", "customer.linked"}
    assert any(c.status == 401 for c in sandbox.sandbox.calls)
    assert len(json_log.lines) > 50

    # The token is stored, encrypted: the search cannot pass because it is simply not there.
    stored = await db.fetchval(
        "SELECT token_encrypted FROM sevsync.tenant_integration WHERE tenant_id = $1", TENANT
    )
    assert isinstance(stored, str)
    assert stored != KNOWN_TOKEN
    assert TokenCipher(secret_key).decrypt(stored).reveal() == KNOWN_TOKEN

    # ... and nowhere in the clear.
    assert log_leaks(json_log.lines) == []
    searched, leaks = await database_leaks(db)
    assert leaks == []
    for table in (
        "sync_outcome",
        "dead_letter",
        "tenant_integration",
        "outbox",
        "entity_link",
        "entity_state",
    ):
        assert any(s.startswith(f"{table}: ") and not s.endswith(": 0 rows") for s in searched), searched
    assert message_leaks(published) == []
    for dead in dead_letters:
        assert found_in_bytes(bytes(dead["body"])) == []
        assert found_in_text(dead["error"] or "") == []

    # The lines are JSON, and every outcome's line carries the event's ids and its outcome as fields.
    lines = [json.loads(line) for line in json_log.lines]
    assert all({"ts", "level", "logger", "msg"} <= set(line) for line in lines)
    outcome_lines = [
        line for line in lines if line["logger"] == "sevsync.sync.processor" and "status" in line
    ]
    for row in outcomes:
        fields = {
            "event_id": str(row["event_id"]),
            "event_type": row["event_type"],
            "tenant_id": row["tenant_id"],
            "entity_type": row["entity_type"],
            "entity_id": row["entity_id"],
            "status": row["status"],
        }
        if row["reason"] is not None:
            fields["reason"] = row["reason"]
        assert any(fields.items() <= line.items() for line in outcome_lines), fields
    [rejected] = [line for line in lines if line.get("reason") == "malformed"]
    assert (rejected["level"], rejected["status"]) == ("warning", "dead")


# --- the search finds what it looks for ------------------------------------------------------------


async def test_the_search_finds_the_token_wherever_it_is_planted(
    db: asyncpg.Pool, json_log: JsonLines
) -> None:
    logger = logging.getLogger("sevsync.sync.processor")
    logger.info("a clean line", extra={"tenant_id": TENANT})
    assert log_leaks(json_log.lines) == []
    logger.debug("calling sevDesk with Authorization: %s", KNOWN_TOKEN)
    logger.info("a field", extra={"entity_id": KNOWN_TOKEN.upper()})
    logger.warning("encoded %s", base64.b64encode(b"Authorization: " + KNOWN_TOKEN.encode()).decode())
    try:
        raise RuntimeError(f"refused {KNOWN_TOKEN}")
    except RuntimeError:
        logger.exception("failed")
    assert len(log_leaks(json_log.lines)) == 4
    assert all(json.loads(line)["logger"] == "sevsync.sync.processor" for line in json_log.lines)

    searched, leaks = await database_leaks(db)
    assert leaks == []
    assert any(s.startswith("entity_status: ") for s in searched)  # views too
    await db.execute(
        "INSERT INTO sevsync.tenant_integration (tenant_id, status, token_encrypted)"
        " VALUES ('t1', 'connected', $1)",
        KNOWN_TOKEN,
    )
    await db.execute(
        "INSERT INTO sevsync.dead_letter (reason, body) VALUES ('malformed', $1)",
        b"\xff\xfe not utf-8 " + KNOWN_TOKEN.encode() + b"\x00",
    )
    await db.execute(
        """
        INSERT INTO sevsync.sync_outcome
               (event_id, tenant_id, event_type, entity_type, entity_id, status, error)
        VALUES ($1, 't2', 'product.created', 'product', 'p-1', 'failed', $2)
        """,
        uuid.uuid4(),
        "sent " + base64.urlsafe_b64encode(b"xy" + KNOWN_TOKEN.encode()).decode(),
    )
    await db.execute(
        "INSERT INTO sevsync.inbox (event_id, tenant_id, event_type) VALUES ($1, $2, 'product.created')",
        uuid.uuid4(),
        KNOWN_TOKEN.upper(),
    )
    _, leaks = await database_leaks(db)
    where = {leak.split(":")[0] for leak in leaks}
    assert where >= {"tenant_integration", "dead_letter", "dead_letter.body", "sync_outcome", "inbox"}, leaks
    # Through the trigger-kept state, the view shows the outcome too.
    assert {"entity_state", "entity_status"} <= where

    clean = Published("sync.succeeded", b'{"data": {}}', {"x-sevsync-retries": 0}, {"message_id": "1"})
    assert message_leaks([clean]) == []
    assert message_leaks([Published("sync.failed", b'{"error": "%s"}' % KNOWN_TOKEN.encode(), {}, {})])
    assert message_leaks([Published("sync.failed", b"{}", {"authorization": KNOWN_TOKEN}, {})])
    assert message_leaks([Published("sync.failed", b"{}", {}, {"correlation_id": KNOWN_TOKEN.upper()})])
