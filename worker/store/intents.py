"""Write intents: creates sevsync is about to send, kept until their effect is found or linked.

An intent is committed on its own before its create is sent, so that an attempt that dies in the
middle of the call leaves the business key to look for. `given_up_key` remembers the keys that turned
out to be someone else's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    # Types only: pure modules (sync.recording, sync.gate) import this one without asyncpg.
    from .db import Connection


def booking_kind(object_name: str, document_id: str) -> str:
    """The intent kind (`sevdesk_object`) of a payment's booking on a document: one per document, so
    bookings of one document see each other's (sync/payments.py) and the reconciler sees them."""
    return f"Booking:{object_name}:{document_id}"


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


@dataclass(frozen=True)
class WantedIntent:
    """One create about to be sent: its kind of object, business key and proof (see save_intents)."""

    sevdesk_object: str
    business_key: str
    sent_fingerprint: str | None = None


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

    Returns that earlier intent (nothing written) or None (this one saved). See save_intents.
    """
    wanted = WantedIntent(sevdesk_object, business_key, sent_fingerprint)
    pending = await save_intents_unless_pending(
        conn, tenant_id, entity_type, entity_id, [wanted], settle_seconds
    )
    return pending.get(sevdesk_object)


async def save_intents_unless_pending(
    conn: Connection,
    tenant_id: str,
    entity_type: str,
    entity_id: str,
    wanted: Sequence[WantedIntent],
    settle_seconds: float,
) -> dict[str, Intent]:
    """Record the intents of an entity's creates, unless an earlier attempt's unsettled intent of
    one of their kinds may still land.

    Returns those earlier intents by kind; if there is one, nothing is saved (the attempt sends none
    of the creates, and no fresh intent makes the next attempt wait for a create never sent). One
    statement: it is committed on its own, before the creates are sent, so it survives a crash
    during the calls. A `sent_fingerprint` is what proves later that an object found by the key is
    that create's.
    """
    kinds = [w.sevdesk_object for w in wanted]
    if len(set(kinds)) != len(kinds):
        raise ValueError(f"one intent per kind of object at a time, got {kinds}")
    rows = await conn.fetch(
        """
        WITH wanted AS (
            SELECT * FROM unnest($4::text[], $5::text[], $6::text[]) AS w(sevdesk_object, business_key, sent)
        ), pending AS (
            SELECT i.sevdesk_object, i.business_key, extract(epoch FROM now() - i.created_at)::float8 AS age
              FROM sevsync.write_intent i JOIN wanted w ON w.sevdesk_object = i.sevdesk_object
             WHERE i.tenant_id = $1 AND i.entity_type = $2 AND i.entity_id = $3
               AND NOT i.settled AND i.created_at > now() - make_interval(secs => $7)
        ), saved AS (
            INSERT INTO sevsync.write_intent
                   (tenant_id, entity_type, entity_id, sevdesk_object, business_key, sent_fingerprints)
            SELECT $1, $2, $3, w.sevdesk_object, w.business_key,
                   CASE WHEN w.sent IS NULL THEN NULL ELSE ARRAY[w.sent] END
              FROM wanted w
             WHERE NOT EXISTS (SELECT 1 FROM pending)
        """  # noqa: S608 - constant SQL, values are parameters
        + _RENEW_INTENT
        + """
        )
        SELECT sevdesk_object, business_key, age FROM pending
        """,
        tenant_id,
        entity_type,
        entity_id,
        kinds,
        [w.business_key for w in wanted],
        [w.sent_fingerprint for w in wanted],
        settle_seconds,
    )
    return {str(r["sevdesk_object"]): Intent(str(r["business_key"]), float(r["age"])) for r in rows}


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


async def settle_intents(
    conn: Connection, tenant_id: str, entity_types: Sequence[str], entity_id: str
) -> None:
    """Mark all of an entity's intents of these link types as having nothing in flight."""
    await conn.execute(
        """
        UPDATE sevsync.write_intent SET settled = true
         WHERE tenant_id = $1 AND entity_type = ANY($2::text[]) AND entity_id = $3
        """,
        tenant_id,
        list(entity_types),
        entity_id,
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
