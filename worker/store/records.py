"""What the worker writes per event: links, outcomes, the inbox, dead letters, the outbox, intents.

The final records of an event are written atomically (`commit_result`, usually one statement) before
its delivery is acknowledged, so a crash leaves either all of them or none.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import asyncpg

from .. import metrics
from .db import Connection

# Outcome statuses (CONTRACT section 7).
SUCCEEDED = "succeeded"
SKIPPED = "skipped"
RETRYING = "retrying"
PARKED = "parked"
FAILED = "failed"
DEAD = "dead"
FINAL_STATUSES = frozenset({SUCCEEDED, SKIPPED, FAILED, DEAD})
# Outcomes after which a redelivery of the same event is a duplicate.
INBOX_STATUSES = frozenset({SUCCEEDED, SKIPPED})


@dataclass(frozen=True)
class Link:
    tenant_id: str
    entity_type: str
    entity_id: str
    # None for an entity sevsync knows without a sevDesk object (e.g. a deal cancelled before it was won).
    sevdesk_object: str | None
    sevdesk_id: str | None
    sevdesk_number: str | None
    synced_version: int | None
    payload_hash: str | None
    details: dict[str, Any]
    cancelled: bool = False

    @property
    def object_id(self) -> str:
        """The linked sevDesk object's id, for link types that always have one (customer, product)."""
        if self.sevdesk_id is None:
            raise LookupError(f"{self.entity_type} {self.entity_id} is linked to no sevDesk object")
        return self.sevdesk_id


@dataclass(frozen=True)
class LinkWrite:
    """A link to create or replace; `synced_version` never moves backwards."""

    entity_type: str
    entity_id: str
    sevdesk_object: str | None
    sevdesk_id: str | None
    sevdesk_number: str | None
    synced_version: int | None
    payload_hash: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    # Marks the CRM entity cancelled; a link never becomes un-cancelled.
    cancelled: bool = False


@dataclass(frozen=True)
class OutcomeRow:
    event_id: UUID
    tenant_id: str
    event_type: str
    entity_type: str
    entity_id: str
    status: str
    reason: str | None = None
    attempt: int = 1
    sevdesk_object: str | None = None
    sevdesk_id: str | None = None
    api_calls: int = 0
    duration_ms: int | None = None
    error: str | None = None


@dataclass(frozen=True)
class DeadLetterRow:
    reason: str
    error: str | None
    body: bytes
    event_id: UUID | None = None
    tenant_id: str | None = None
    event_type: str | None = None
    attempts: int = 1


@dataclass(frozen=True)
class KeptSkip:
    """The body of an event skipped because its tenant did not sync, kept to be sent later."""

    version: int
    # The entity_link types of the entity: a link holding a newer version makes this one stale.
    link_types: tuple[str, ...]
    body: bytes
    # The event types of its kind (handlers.same_kind): a kept newer version of one of them replaces
    # this one, and this one replaces older ones of them. Other kinds of the entity are kept beside.
    kind: tuple[str, ...]


@dataclass(frozen=True)
class OutboxMessage:
    event_id: UUID
    routing_key: str
    body: bytes


def link_from_row(row: asyncpg.Record) -> Link:
    return Link(
        tenant_id=row["tenant_id"],
        entity_type=row["entity_type"],
        entity_id=row["entity_id"],
        sevdesk_object=row["sevdesk_object"],
        sevdesk_id=row["sevdesk_id"],
        sevdesk_number=row["sevdesk_number"],
        synced_version=row["synced_version"],
        payload_hash=row["payload_hash"],
        details=row["details"] or {},
        cancelled=row["cancelled_at"] is not None,
    )


# The last attempt recorded for event $1; a `duplicate` row repeats an earlier attempt's number.
LAST_ATTEMPT = """
SELECT max(attempt) FROM sevsync.sync_outcome WHERE event_id = $1 AND reason IS DISTINCT FROM 'duplicate'
"""


async def next_attempt(conn: Connection, event_id: UUID) -> int:
    previous = await conn.fetchval(LAST_ATTEMPT, event_id)
    return int(previous or 0) + 1


async def get_link(conn: Connection, tenant_id: str, entity_type: str, entity_id: str) -> Link | None:
    row = await conn.fetchrow(
        "SELECT * FROM sevsync.entity_link WHERE tenant_id = $1 AND entity_type = $2 AND entity_id = $3",
        tenant_id,
        entity_type,
        entity_id,
    )
    return link_from_row(row) if row else None


async def get_links(
    conn: Connection, tenant_id: str, entity_types: Sequence[str], entity_id: str
) -> list[Link]:
    """The links of one CRM entity that is represented by several sevDesk objects (a deal)."""
    rows = await conn.fetch(
        """
        SELECT * FROM sevsync.entity_link
         WHERE tenant_id = $1 AND entity_type = ANY($2::text[]) AND entity_id = $3
        """,
        tenant_id,
        list(entity_types),
        entity_id,
    )
    return [link_from_row(row) for row in rows]


async def get_links_of(
    conn: Connection, tenant_id: str, entity_type: str, entity_ids: Iterable[str]
) -> list[Link]:
    """The links of several CRM entities of one type (the products on a deal's lines)."""
    rows = await conn.fetch(
        """
        SELECT * FROM sevsync.entity_link
         WHERE tenant_id = $1 AND entity_type = $2 AND entity_id = ANY($3::text[])
        """,
        tenant_id,
        entity_type,
        list(entity_ids),
    )
    return [link_from_row(row) for row in rows]


@dataclass(frozen=True)
class Intent:
    business_key: str
    age_seconds: float
    # True once the attempt that wrote it ended with an answer, so no create of it is in flight.
    settled: bool = False
    # Fingerprints of the identifying fields sevsync sent (see write_intent.sent_fingerprints).
    sent_fingerprints: tuple[str, ...] | None = None

    def may_still_land(self, settle_seconds: float) -> bool:
        """Whether its create may still be on its way to sevDesk (sent by an attempt that died)."""
        return not self.settled and self.age_seconds < settle_seconds


async def get_intent(
    conn: Connection, tenant_id: str, entity_type: str, entity_id: str, sevdesk_object: str
) -> Intent | None:
    row = await conn.fetchrow(
        """
        SELECT business_key, extract(epoch FROM now() - created_at)::float8 AS age, settled, sent_fingerprints
          FROM sevsync.write_intent
         WHERE tenant_id = $1 AND entity_type = $2 AND entity_id = $3 AND sevdesk_object = $4
        """,
        tenant_id,
        entity_type,
        entity_id,
        sevdesk_object,
    )
    if row is None:
        return None
    sent = row["sent_fingerprints"]
    return Intent(
        str(row["business_key"]),
        float(row["age"]),
        bool(row["settled"]),
        tuple(sent) if sent is not None else None,
    )


# A new intent of an entity replaces its earlier one for the same kind of object, as just recorded.
_RENEW_INTENT = """
    ON CONFLICT (tenant_id, entity_type, entity_id, sevdesk_object)
    DO UPDATE SET business_key = EXCLUDED.business_key, created_at = now(), settled = false,
                  sent_fingerprints = EXCLUDED.sent_fingerprints
"""


async def save_intent(
    conn: Connection,
    tenant_id: str,
    entity_type: str,
    entity_id: str,
    sevdesk_object: str,
    business_key: str,
) -> None:
    """Committed on its own, before the create is sent: it must survive a crash during the call."""
    await conn.execute(
        """
        INSERT INTO sevsync.write_intent (tenant_id, entity_type, entity_id, sevdesk_object, business_key)
        VALUES ($1, $2, $3, $4, $5)
        """  # noqa: S608 - constant SQL, values are parameters
        + _RENEW_INTENT,
        tenant_id,
        entity_type,
        entity_id,
        sevdesk_object,
        business_key,
    )


async def save_intent_unless_pending(
    conn: Connection,
    tenant_id: str,
    entity_type: str,
    entity_id: str,
    sevdesk_object: str,
    business_key: str,
    settle_seconds: float,
    sent_fingerprint: str | None = None,
) -> Intent | None:
    """Record the intent of a create, unless an earlier attempt's unsettled one may still land.

    Returns that earlier intent (nothing written) or None (this one saved). One statement: it is
    committed on its own, before the create is sent, so it survives a crash during the call.
    `sent_fingerprint` is what proves later that an object found by the key is this create's.
    """
    row = await conn.fetchrow(
        """
        WITH pending AS (
            SELECT business_key, extract(epoch FROM now() - created_at)::float8 AS age
              FROM sevsync.write_intent
             WHERE tenant_id = $1 AND entity_type = $2 AND entity_id = $3 AND sevdesk_object = $4
               AND NOT settled AND created_at > now() - make_interval(secs => $6)
        ), saved AS (
            INSERT INTO sevsync.write_intent
                   (tenant_id, entity_type, entity_id, sevdesk_object, business_key, sent_fingerprints)
            SELECT $1, $2, $3, $4, $5, CASE WHEN $7::text IS NULL THEN NULL ELSE ARRAY[$7::text] END
             WHERE NOT EXISTS (SELECT 1 FROM pending)
        """  # noqa: S608 - constant SQL, values are parameters
        + _RENEW_INTENT
        + """
        )
        SELECT business_key, age FROM pending
        """,
        tenant_id,
        entity_type,
        entity_id,
        sevdesk_object,
        business_key,
        settle_seconds,
        sent_fingerprint,
    )
    return Intent(str(row["business_key"]), float(row["age"])) if row else None


async def settle_intent(
    conn: Connection, tenant_id: str, entity_type: str, entity_id: str, sevdesk_object: str
) -> None:
    """Mark an intent as having nothing in flight: its write was answered (500/503 or a refusal)."""
    await conn.execute(
        """
        UPDATE sevsync.write_intent SET settled = true
         WHERE tenant_id = $1 AND entity_type = $2 AND entity_id = $3 AND sevdesk_object = $4
        """,
        tenant_id,
        entity_type,
        entity_id,
        sevdesk_object,
    )


async def resend_intent(
    conn: Connection, tenant_id: str, entity_type: str, entity_id: str, sevdesk_object: str
) -> None:
    """The intent's write is about to be sent again (its last one was answered 500/503 without
    effect): the settle window starts over, counted from this send, which may still land."""
    await conn.execute(
        """
        UPDATE sevsync.write_intent SET created_at = now(), settled = false
         WHERE tenant_id = $1 AND entity_type = $2 AND entity_id = $3 AND sevdesk_object = $4
        """,
        tenant_id,
        entity_type,
        entity_id,
        sevdesk_object,
    )


async def remember_sent(
    conn: Connection,
    tenant_id: str,
    entity_type: str,
    entity_id: str,
    sevdesk_object: str,
    sent_fingerprint: str,
) -> None:
    """Add what an update sevsync is about to send to an adopted, not yet linked object to its proof."""
    await conn.execute(
        """
        UPDATE sevsync.write_intent SET sent_fingerprints = array_append(sent_fingerprints, $5::text)
         WHERE tenant_id = $1 AND entity_type = $2 AND entity_id = $3 AND sevdesk_object = $4
           AND NOT ($5::text = ANY(coalesce(sent_fingerprints, '{}'::text[])))
        """,
        tenant_id,
        entity_type,
        entity_id,
        sevdesk_object,
        sent_fingerprint,
    )


async def give_up_key(
    conn: Connection, tenant_id: str, sevdesk_object: str, business_key: str, entity_type: str, entity_id: str
) -> None:
    """Remember that a key sevsync made up is someone else's now; it is never used for a create again.

    The entity's intent with that key goes too: nothing of its create is left to look for.
    """
    await conn.execute(
        """
        WITH given_up AS (
            INSERT INTO sevsync.given_up_key (tenant_id, sevdesk_object, business_key, entity_type, entity_id)
            VALUES ($1, $2, $3, $4, $5)
            ON CONFLICT (tenant_id, sevdesk_object, business_key) DO NOTHING
        )
        DELETE FROM sevsync.write_intent
         WHERE tenant_id = $1 AND sevdesk_object = $2 AND business_key = $3
           AND entity_type = $4 AND entity_id = $5
        """,
        tenant_id,
        sevdesk_object,
        business_key,
        entity_type,
        entity_id,
    )


async def given_up_among(
    conn: Connection, tenant_id: str, sevdesk_object: str, business_keys: Sequence[str]
) -> set[str]:
    """Which of these keys sevsync has given up."""
    rows = await conn.fetch(
        """
        SELECT business_key FROM sevsync.given_up_key
         WHERE tenant_id = $1 AND sevdesk_object = $2 AND business_key = ANY($3::text[])
        """,
        tenant_id,
        sevdesk_object,
        list(business_keys),
    )
    return {str(r["business_key"]) for r in rows}


async def claim_key(
    conn: Connection,
    tenant_id: str,
    sevdesk_object: str,
    business_key: str,
    entity_id: str,
    younger_than: float,
) -> list[str]:
    """Take a key sevDesk just proved unused away from other entities' pending creates.

    Their intents with it are dropped (those creates never happened), unless one was recorded less
    than `younger_than` seconds ago and may still be in flight: then nothing changes, and the
    entities holding such young intents are returned.
    """
    rows = await conn.fetch(
        """
        WITH others AS (
            SELECT entity_id, NOT settled AND created_at > now() - make_interval(secs => $5) AS young
              FROM sevsync.write_intent
             WHERE tenant_id = $1 AND sevdesk_object = $2 AND business_key = $3 AND entity_id <> $4
        ), voided AS (
            DELETE FROM sevsync.write_intent
             WHERE tenant_id = $1 AND sevdesk_object = $2 AND business_key = $3 AND entity_id <> $4
               AND NOT EXISTS (SELECT 1 FROM others WHERE young)
        )
        SELECT entity_id FROM others WHERE young
        """,
        tenant_id,
        sevdesk_object,
        business_key,
        entity_id,
        younger_than,
    )
    return [str(r["entity_id"]) for r in rows]


async def clear_intents(conn: Connection, tenant_id: str, entity_type: str, entity_id: str) -> None:
    await conn.execute(
        "DELETE FROM sevsync.write_intent WHERE tenant_id = $1 AND entity_type = $2 AND entity_id = $3",
        tenant_id,
        entity_type,
        entity_id,
    )


async def delete_intent(
    conn: Connection, tenant_id: str, entity_type: str, entity_id: str, sevdesk_object: str
) -> None:
    await conn.execute(
        """
        DELETE FROM sevsync.write_intent
         WHERE tenant_id = $1 AND entity_type = $2 AND entity_id = $3 AND sevdesk_object = $4
        """,
        tenant_id,
        entity_type,
        entity_id,
        sevdesk_object,
    )


async def intents_of_others(
    conn: Connection, tenant_id: str, entity_type: str, sevdesk_object: str, entity_id: str
) -> list[str]:
    """Other entities with an intent on the same sevDesk object kind (e.g. bookings on one invoice)."""
    rows = await conn.fetch(
        """
        SELECT entity_id FROM sevsync.write_intent
         WHERE tenant_id = $1 AND entity_type = $2 AND sevdesk_object = $3 AND entity_id <> $4
        """,
        tenant_id,
        entity_type,
        sevdesk_object,
        entity_id,
    )
    return [str(r["entity_id"]) for r in rows]


async def entity_linked_to(
    conn: Connection, tenant_id: str, entity_type: str, sevdesk_object: str, sevdesk_id: str
) -> str | None:
    """The CRM entity already linked to this sevDesk object, if any."""
    value = await conn.fetchval(
        """
        SELECT entity_id FROM sevsync.entity_link
         WHERE tenant_id = $1 AND sevdesk_object = $2 AND sevdesk_id = $3 AND entity_type = $4
        """,
        tenant_id,
        sevdesk_object,
        sevdesk_id,
        entity_type,
    )
    return str(value) if value is not None else None


# How a written link merges into the stored one: the number, hash and cancellation are kept when the
# new link has none, and the applied version never moves backwards. Both link writes below use it.
_MERGE_LINK = """
ON CONFLICT (tenant_id, entity_type, entity_id) DO UPDATE
   SET sevdesk_object = EXCLUDED.sevdesk_object,
       sevdesk_id = EXCLUDED.sevdesk_id,
       cancelled_at = COALESCE(sevsync.entity_link.cancelled_at, EXCLUDED.cancelled_at),
       sevdesk_number = COALESCE(EXCLUDED.sevdesk_number, sevsync.entity_link.sevdesk_number),
       synced_version = GREATEST(EXCLUDED.synced_version, sevsync.entity_link.synced_version),
       synced_at = now(),
       payload_hash = COALESCE(EXCLUDED.payload_hash, sevsync.entity_link.payload_hash),
       details = EXCLUDED.details
"""


async def commit_result(
    conn: Connection,
    outcome: OutcomeRow,
    *,
    links: Sequence[LinkWrite] = (),
    mark_processed: bool = False,
    dead_letter: DeadLetterRow | None = None,
    outbox: Sequence[OutboxMessage] = (),
    clear_intents_of: Sequence[str] = (),
    settle_intents_of: Sequence[str] = (),
    park_body: bytes | None = None,
    keep_skipped: KeptSkip | None = None,
) -> None:
    """Write every record of one event's outcome atomically.

    `clear_intents_of` names the link entity types whose write intents for this entity are done with
    (its objects are linked now), as are those of every link written; `settle_intents_of` the ones
    whose intents stay, but with nothing in flight (the attempt ended with an answer). `park_body`
    keeps a parked event's body until its tenant is reconnected; `keep_skipped` the body of an event
    skipped while its tenant did not sync, replacing the entity's older versions of its kind.

    The records every event has (outcome, links, inbox, outbox, finished intents, a kept skip) go in
    one statement, i.e. one round trip and an implicit transaction; only the rarer ones (a dead
    letter, a parked body, settled intents) add statements and an explicit transaction.
    """
    done = [(t, outcome.entity_id) for t in clear_intents_of]
    done += [(link.entity_type, link.entity_id) for link in links]
    cleared = list(dict.fromkeys(done))
    keys = [(link.entity_type, link.entity_id) for link in links]
    # One statement cannot upsert a row twice; such links are written one after the other.
    one_by_one = len(set(keys)) != len(keys)
    arguments = _commit_arguments(
        outcome, () if one_by_one else links, mark_processed, outbox, cleared, keep_skipped
    )
    if not one_by_one and dead_letter is None and park_body is None and not settle_intents_of:
        await conn.execute(_COMMIT_OUTCOME, *arguments)
        _count(outcome)
        return
    async with conn.transaction():
        if one_by_one:
            for link in links:
                await upsert_link(conn, outcome.tenant_id, link)
        await conn.execute(_COMMIT_OUTCOME, *arguments)
        if dead_letter is not None:
            await insert_dead_letter(conn, dead_letter)
        if park_body is not None:
            await conn.execute(
                """
                INSERT INTO sevsync.parked_event (event_id, tenant_id, event_type, body)
                VALUES ($1, $2, $3, $4)
                ON CONFLICT (event_id) DO NOTHING
                """,
                outcome.event_id,
                outcome.tenant_id,
                outcome.event_type,
                park_body,
            )
        if settle_intents_of:
            # Intents cleared above are gone; the ones left are kept, marked as nothing in flight.
            await conn.execute(
                """
                UPDATE sevsync.write_intent SET settled = true
                 WHERE tenant_id = $1 AND entity_type = ANY($2::text[]) AND entity_id = $3
                """,
                outcome.tenant_id,
                list(settle_intents_of),
                outcome.entity_id,
            )
    _count(outcome)


# $1-$13 the outcome row, $14 whether the event goes into the inbox, $15-$23 the links as parallel
# arrays, $24-$26 the outbox messages, $27-$28 the (entity type, entity id) pairs whose intents end,
# $29-$32 a kept skip (version, link types, body, the event types of its kind; a null body keeps
# nothing). The parts touch different tables or rows, so that no part needs to see another's rows.
_COMMIT_OUTCOME = (
    """
WITH outcome AS (
    INSERT INTO sevsync.sync_outcome
           (event_id, tenant_id, event_type, entity_type, entity_id, status, reason, attempt,
            sevdesk_object, sevdesk_id, api_calls, duration_ms, error)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
), processed AS (
    INSERT INTO sevsync.inbox (event_id, tenant_id, event_type)
    SELECT $1, $2, $3 WHERE $14
    ON CONFLICT (event_id) DO NOTHING
), links AS (
    INSERT INTO sevsync.entity_link
           (tenant_id, entity_type, entity_id, sevdesk_object, sevdesk_id, sevdesk_number,
            synced_version, synced_at, payload_hash, details, cancelled_at)
    SELECT $2, l.entity_type, l.entity_id, l.sevdesk_object, l.sevdesk_id, l.sevdesk_number,
           l.synced_version, now(), l.payload_hash, l.details::jsonb, CASE WHEN l.cancelled THEN now() END
      FROM unnest($15::text[], $16::text[], $17::text[], $18::text[], $19::text[], $20::bigint[],
                  $21::text[], $22::text[], $23::boolean[])
           AS l(entity_type, entity_id, sevdesk_object, sevdesk_id, sevdesk_number, synced_version,
                payload_hash, details, cancelled)
    """  # noqa: S608 - constant SQL, values are parameters
    + _MERGE_LINK
    + """
), published AS (
    INSERT INTO sevsync.outbox (event_id, routing_key, body)
    SELECT * FROM unnest($24::uuid[], $25::text[], $26::bytea[])
    ON CONFLICT (event_id) DO NOTHING
), finished AS (
    DELETE FROM sevsync.write_intent w
     USING unnest($27::text[], $28::text[]) AS d(entity_type, entity_id)
     WHERE w.tenant_id = $2 AND w.entity_type = d.entity_type AND w.entity_id = d.entity_id
), kept AS (
    -- Of each kind of event of an entity only the newest version is ever sent: an older one
    -- arriving late keeps nothing.
    INSERT INTO sevsync.skipped_event
           (event_id, tenant_id, event_type, entity_type, entity_id, version, reason, link_types, body)
    SELECT $1, $2, $3, $4, $5, $29::bigint, $7, $30::text[], $31::bytea
     WHERE $31::bytea IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM sevsync.skipped_event k
                        WHERE k.tenant_id = $2 AND k.entity_type = $4 AND k.entity_id = $5
                          AND k.event_type = ANY($32::text[]) AND k.version > $29::bigint)
    ON CONFLICT (event_id) DO UPDATE
       SET reason = EXCLUDED.reason, body = EXCLUDED.body, skipped_at = now(), replayed_at = NULL
), superseded AS (
    -- An equal version arriving later replaces the earlier one too: one row per kind at most.
    DELETE FROM sevsync.skipped_event k
     WHERE $31::bytea IS NOT NULL
       AND k.tenant_id = $2 AND k.entity_type = $4 AND k.entity_id = $5
       AND k.event_type = ANY($32::text[])
       AND (k.version < $29::bigint OR (k.version = $29::bigint AND k.event_id <> $1))
)
SELECT 1
"""
)


def _commit_arguments(
    outcome: OutcomeRow,
    links: Sequence[LinkWrite],
    mark_processed: bool,
    outbox: Sequence[OutboxMessage],
    cleared: Sequence[tuple[str, str]],
    kept: KeptSkip | None,
) -> list[Any]:
    return [
        *_outcome_values(outcome),
        mark_processed,
        [link.entity_type for link in links],
        [link.entity_id for link in links],
        [link.sevdesk_object for link in links],
        [link.sevdesk_id for link in links],
        [link.sevdesk_number for link in links],
        [link.synced_version for link in links],
        [link.payload_hash for link in links],
        [json.dumps(link.details) for link in links],
        [link.cancelled for link in links],
        [m.event_id for m in outbox],
        [m.routing_key for m in outbox],
        [m.body for m in outbox],
        [entity_type for entity_type, _ in cleared],
        [entity_id for _, entity_id in cleared],
        kept.version if kept else None,
        list(kept.link_types) if kept else None,
        kept.body if kept else None,
        list(kept.kind) if kept else None,
    ]


# An event in the inbox passes it again only when its newest outcome is a skip that depends on the
# tenant alone ($2), i.e. when an operator sends a skipped event on purpose. Its inbox row goes,
# so that the new attempt, its retries and a replay of its dead letter run like any event; a final
# skipped or succeeded outcome puts the row back. Runs under the entity's lock: of two copies of a
# replay, the second finds the first one's outcome and is a duplicate.
_REOPEN_SKIPPED = f"""
WITH newest AS (
    SELECT status, reason FROM sevsync.sync_outcome
     WHERE event_id = $1 AND reason IS DISTINCT FROM 'duplicate'
     ORDER BY id DESC LIMIT 1
), reopened AS (
    DELETE FROM sevsync.inbox
     WHERE event_id = $1
       AND EXISTS (SELECT 1 FROM newest WHERE status = 'skipped' AND reason = ANY($2::text[]))
    RETURNING event_id
)
SELECT coalesce(({LAST_ATTEMPT}), 0) + 1 FROM reopened
"""  # noqa: S608 - constant SQL, values are parameters


async def reopen_skipped(conn: Connection, event_id: UUID, replayable: Sequence[str]) -> int | None:
    """Take a skipped event out of the inbox to run it again: its next attempt, or None (a duplicate)."""
    attempt = await conn.fetchval(_REOPEN_SKIPPED, event_id, list(replayable))
    return int(attempt) if attempt is not None else None


async def insert_outbox(conn: Connection, messages: Sequence[OutboxMessage]) -> None:
    if messages:
        await conn.executemany(
            """
            INSERT INTO sevsync.outbox (event_id, routing_key, body) VALUES ($1, $2, $3)
            ON CONFLICT (event_id) DO NOTHING
            """,
            [(m.event_id, m.routing_key, m.body) for m in messages],
        )


async def insert_outcome(conn: Connection, outcome: OutcomeRow) -> None:
    await conn.execute(
        """
        INSERT INTO sevsync.sync_outcome
               (event_id, tenant_id, event_type, entity_type, entity_id, status, reason, attempt,
                sevdesk_object, sevdesk_id, api_calls, duration_ms, error)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
        """,
        *_outcome_values(outcome),
    )
    _count(outcome)


def _count(outcome: OutcomeRow) -> None:
    """Count a written outcome row in `sevsync_outcomes_total`, here where it is written, so that the
    metric and sync_outcome agree for every status and reason. Called after the row is committed: the
    callers hand in a connection outside any transaction of their own."""
    metrics.OUTCOMES.labels(outcome.event_type, outcome.status, outcome.reason or "").inc()


def _outcome_values(outcome: OutcomeRow) -> tuple[Any, ...]:
    """The outcome row's columns in the order both INSERTs name them."""
    return (
        outcome.event_id,
        outcome.tenant_id,
        outcome.event_type,
        outcome.entity_type,
        outcome.entity_id,
        outcome.status,
        outcome.reason,
        outcome.attempt,
        outcome.sevdesk_object,
        outcome.sevdesk_id,
        outcome.api_calls,
        outcome.duration_ms,
        outcome.error,
    )


# One link row, written or merged onto the existing one (_MERGE_LINK); $1..$10 from _link_values.
_UPSERT_LINK = (
    """
INSERT INTO sevsync.entity_link
       (tenant_id, entity_type, entity_id, sevdesk_object, sevdesk_id, sevdesk_number,
        synced_version, synced_at, payload_hash, details, cancelled_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, now(), $8, $9, CASE WHEN $10 THEN now() END)
"""
    + _MERGE_LINK
)


def _link_values(tenant_id: str, link: LinkWrite) -> tuple[Any, ...]:
    return (
        tenant_id,
        link.entity_type,
        link.entity_id,
        link.sevdesk_object,
        link.sevdesk_id,
        link.sevdesk_number,
        link.synced_version,
        link.payload_hash,
        link.details,
        link.cancelled,
    )


async def upsert_link(conn: Connection, tenant_id: str, link: LinkWrite) -> None:
    await conn.execute(_UPSERT_LINK, *_link_values(tenant_id, link))


async def upsert_link_unless_other_kind(conn: Connection, tenant_id: str, link: LinkWrite) -> bool:
    """Write the link unless its row links another kind of sevDesk object; whether it was written.

    For a link type two kinds of CRM entity share (`cancellation`: a deal's cancellation invoice and
    a CRM invoice's correcting voucher), whose ids may be equal.
    """
    written = await conn.fetchval(
        _UPSERT_LINK
        + """
         WHERE sevsync.entity_link.sevdesk_object IS NULL
            OR sevsync.entity_link.sevdesk_object = EXCLUDED.sevdesk_object
        RETURNING true
        """,
        *_link_values(tenant_id, link),
    )
    return bool(written)


async def insert_dead_letter(conn: Connection | asyncpg.Pool, row: DeadLetterRow) -> None:
    await conn.execute(
        """
        INSERT INTO sevsync.dead_letter (event_id, tenant_id, event_type, reason, error, attempts, body)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        """,
        row.event_id,
        row.tenant_id,
        row.event_type,
        row.reason,
        row.error,
        row.attempts,
        row.body,
    )


async def mark_published(pool: asyncpg.Pool, event_ids: Sequence[UUID]) -> None:
    if event_ids:
        await pool.execute(
            "UPDATE sevsync.outbox SET published_at = now() WHERE event_id = ANY($1::uuid[])", list(event_ids)
        )


async def unpublished(pool: asyncpg.Pool, *, older_than_seconds: float, limit: int) -> list[OutboxMessage]:
    rows = await pool.fetch(
        """
        SELECT event_id, routing_key, body FROM sevsync.outbox
         WHERE published_at IS NULL AND created_at < now() - make_interval(secs => $1)
         ORDER BY id LIMIT $2
        """,
        older_than_seconds,
        limit,
    )
    return [OutboxMessage(row["event_id"], row["routing_key"], row["body"]) for row in rows]
