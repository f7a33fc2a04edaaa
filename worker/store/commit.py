"""One event's final records written at once: outcome, links, inbox, outbox, intents, kept skip.

They are written atomically (usually one statement, which also releases the entity's lock) before
the delivery is acknowledged, so a crash leaves either all of them or none.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .dead_letters import DeadLetterRow, insert_dead_letter
from .intents import settle_intents
from .links import LinkWrite, upsert_link
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
    release_locks: bool = False,
) -> bool:
    """Write every record of one event's outcome atomically; whether the session's locks are released.

    `clear_intents_of` names the link entity types whose write intents for this entity are done with
    (its objects are linked now), as are those of every link written; `settle_intents_of` the ones
    whose intents stay, but with nothing in flight (the attempt ended with an answer). `park_body`
    keeps a parked event's body until its tenant is reconnected; `keep_skipped` the body of an event
    skipped while its tenant did not sync, replacing the entity's older versions of its kind.

    The records every event has (outcome, links, inbox, outbox, finished intents, a kept skip) go in
    one statement, i.e. one round trip; with `release_locks` that statement also commits and then
    releases every advisory lock of the session (the entity's), so the lock's next holder reads the
    records. Only the rarer ones (a dead letter, a parked body, settled intents) add statements and
    an explicit transaction, and leave the locks to the caller.
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
        # CALL commits inside: only outside a transaction of the caller's.
        unlock = release_locks and not conn.is_in_transaction()
        await conn.execute(_WRITE_OUTCOME_AND_UNLOCK if unlock else _WRITE_OUTCOME, *arguments)
        count(outcome)
        return unlock
    async with conn.transaction():
        if one_by_one:
            for link in links:
                await upsert_link(conn, outcome.tenant_id, link)
        await conn.execute(_WRITE_OUTCOME, *arguments)
        if dead_letter is not None:
            await insert_dead_letter(conn, dead_letter)
        if park_body is not None:
            await _park(conn, outcome, park_body)
        if settle_intents_of:
            # Intents cleared above are gone; the ones left are kept, marked as nothing in flight.
            await settle_intents(conn, outcome.tenant_id, settle_intents_of, outcome.entity_id)
    count(outcome)
    return False


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


# The statement lives in the schema (migration 0016), one copy for both ways of calling it:
# sevsync.write_outcome writes, sevsync.write_outcome_and_unlock writes, commits and then releases
# the session's advisory locks. Its 33 parameters are _commit_arguments'.
_PARAMETERS = ", ".join(f"${n}" for n in range(1, 34))
_WRITE_OUTCOME = f"SELECT sevsync.write_outcome({_PARAMETERS})"
_WRITE_OUTCOME_AND_UNLOCK = f"CALL sevsync.write_outcome_and_unlock({_PARAMETERS})"


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
