"""One event's final records written at once: outcome, links, inbox, outbox, intents, kept skip.

They are written atomically (usually one statement) before the delivery is acknowledged, so a crash
leaves either all of them or none.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .dead_letters import DeadLetterRow, insert_dead_letter
from .intents import settle_intents
from .links import MERGE_LINK, LinkWrite, upsert_link
from .outbox import OutboxMessage
from .outcomes import OutcomeRow, count, outcome_values

if TYPE_CHECKING:
    # Types only: pure modules (sync.recording, sync.gate) import this one without asyncpg.
    from .db import Connection


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
        count(outcome)
        return
    async with conn.transaction():
        if one_by_one:
            for link in links:
                await upsert_link(conn, outcome.tenant_id, link)
        await conn.execute(_COMMIT_OUTCOME, *arguments)
        if dead_letter is not None:
            await insert_dead_letter(conn, dead_letter)
        if park_body is not None:
            await _park(conn, outcome, park_body)
        if settle_intents_of:
            # Intents cleared above are gone; the ones left are kept, marked as nothing in flight.
            await settle_intents(conn, outcome.tenant_id, settle_intents_of, outcome.entity_id)
    count(outcome)


async def _park(conn: Connection, outcome: OutcomeRow, body: bytes) -> None:
    """Keep a parked event's body until its tenant is connected again (tenants.service resumes it)."""
    await conn.execute(
        """
        INSERT INTO sevsync.parked_event (event_id, tenant_id, event_type, body)
        VALUES ($1, $2, $3, $4)
        ON CONFLICT (event_id) DO NOTHING
        """,
        outcome.event_id,
        outcome.tenant_id,
        outcome.event_type,
        body,
    )


# $1-$13 the outcome row, $14 whether the event goes into the inbox, $15-$23 and $33 the links as
# parallel arrays, $24-$26 the outbox messages, $27-$28 the (entity type, entity id) pairs whose
# intents end, $29-$32 a kept skip (version, link types, body, the event types of its kind; a null
# body keeps nothing). The parts touch different tables or rows, so that no part needs to see another's rows.
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
            synced_version, synced_at, payload_hash, details, cancelled_at, agreed_hash)
    SELECT $2, l.entity_type, l.entity_id, l.sevdesk_object, l.sevdesk_id, l.sevdesk_number,
           l.synced_version, now(), l.payload_hash, l.details::jsonb, CASE WHEN l.cancelled THEN now() END,
           l.agreed_hash
      FROM unnest($15::text[], $16::text[], $17::text[], $18::text[], $19::text[], $20::bigint[],
                  $21::text[], $22::text[], $23::boolean[], $33::text[])
           AS l(entity_type, entity_id, sevdesk_object, sevdesk_id, sevdesk_number, synced_version,
                payload_hash, details, cancelled, agreed_hash)
    """  # noqa: S608 - constant SQL, values are parameters
    + MERGE_LINK
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
        *outcome_values(outcome),
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
        [link.agreed_hash for link in links],
    ]
