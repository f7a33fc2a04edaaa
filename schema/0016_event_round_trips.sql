-- An event in two statements on its connection: the entity's lock with its state, then its records
-- with the lock's release (worker: store/event_state.py, store/commit.py, sync/event_store.py).

-- The event's state: whether it is in the inbox, its last attempt (store/outcomes.py LAST_ATTEMPT),
-- its tenant and the entity's links of the given types ($1 event id, $2 tenant, $3 link types,
-- $4 entity id), whole rows as composite values. With a lock key ($5), the entity's session lock
-- is taken first; the read is a statement of its own after it, so its snapshot sees everything
-- committed before the lock was granted (one statement holding both would read with a snapshot
-- taken before it waited).
CREATE FUNCTION sevsync.event_state(uuid, text, text[], text, text)
RETURNS TABLE (processed boolean, previous integer, tenant sevsync.tenant_integration,
               links sevsync.entity_link[])
LANGUAGE plpgsql VOLATILE AS $fn$
BEGIN
    IF $5 IS NOT NULL THEN
        PERFORM pg_advisory_lock(hashtextextended($5, 0));
    END IF;
    RETURN QUERY
    SELECT EXISTS (SELECT 1 FROM sevsync.inbox i WHERE i.event_id = $1),
           (SELECT max(attempt) FROM sevsync.sync_outcome WHERE event_id = $1 AND reason IS DISTINCT FROM 'duplicate'),
           (SELECT t FROM sevsync.tenant_integration t WHERE t.tenant_id = $2),
           ARRAY(SELECT l FROM sevsync.entity_link l
                  WHERE l.tenant_id = $2 AND l.entity_type = ANY($3) AND l.entity_id = $4);
END
$fn$;

-- One event's records every event has, in one statement: $1-$13 the outcome row, $14 whether the
-- event goes into the inbox, $15-$23 and $33 the links as parallel arrays, $24-$26 the outbox
-- messages, $27-$28 the (entity type, entity id) pairs whose intents end, $29-$32 a kept skip
-- (version, link types, body, the event types of its kind; a null body keeps nothing). The parts
-- touch different tables or rows, so that no part needs to see another's rows. The links merge as
-- store/links.py MERGE_LINK does (a test holds the two equal). PL/pgSQL, not SQL: a PL/pgSQL
-- function keeps its statement's plan for the session, where a SQL function plans this statement on
-- every call (measured: 2.5 times the Postgres CPU of a commit).
CREATE FUNCTION sevsync.write_outcome(
    uuid, text, text, text, text, text, text, integer, text, text, integer, integer, text,
    boolean,
    text[], text[], text[], text[], text[], bigint[], text[], text[], boolean[],
    uuid[], text[], bytea[],
    text[], text[],
    bigint, text[], bytea, text[],
    text[]
) RETURNS void
LANGUAGE plpgsql VOLATILE AS $fn$
BEGIN
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
      FROM unnest($15, $16, $17, $18, $19, $20, $21, $22, $23, $33)
           AS l(entity_type, entity_id, sevdesk_object, sevdesk_id, sevdesk_number, synced_version,
                payload_hash, details, cancelled, agreed_hash)
ON CONFLICT (tenant_id, entity_type, entity_id) DO UPDATE
   SET sevdesk_object = EXCLUDED.sevdesk_object,
       sevdesk_id = EXCLUDED.sevdesk_id,
       cancelled_at = COALESCE(sevsync.entity_link.cancelled_at, EXCLUDED.cancelled_at),
       sevdesk_number = COALESCE(EXCLUDED.sevdesk_number, sevsync.entity_link.sevdesk_number),
       synced_version = GREATEST(EXCLUDED.synced_version, sevsync.entity_link.synced_version),
       synced_at = now(),
       payload_hash = COALESCE(EXCLUDED.payload_hash, sevsync.entity_link.payload_hash),
       agreed_hash = COALESCE(EXCLUDED.agreed_hash, sevsync.entity_link.agreed_hash),
       details = EXCLUDED.details
), published AS (
    INSERT INTO sevsync.outbox (event_id, routing_key, body)
    SELECT * FROM unnest($24, $25, $26)
    ON CONFLICT (event_id) DO NOTHING
), finished AS (
    DELETE FROM sevsync.write_intent w
     USING unnest($27, $28) AS d(entity_type, entity_id)
     WHERE w.tenant_id = $2 AND w.entity_type = d.entity_type AND w.entity_id = d.entity_id
), kept AS (
    -- Of each kind of event of an entity only the newest version is ever sent: an older one
    -- arriving late keeps nothing.
    INSERT INTO sevsync.skipped_event
           (event_id, tenant_id, event_type, entity_type, entity_id, version, reason, link_types, body)
    SELECT $1, $2, $3, $4, $5, $29, $7, $30, $31
     WHERE $31 IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM sevsync.skipped_event k
                        WHERE k.tenant_id = $2 AND k.entity_type = $4 AND k.entity_id = $5
                          AND k.event_type = ANY($32) AND k.version > $29)
    ON CONFLICT (event_id) DO UPDATE
       SET reason = EXCLUDED.reason, body = EXCLUDED.body, skipped_at = now(), replayed_at = NULL
)
-- An equal version arriving later replaces the earlier one too: one row per kind at most.
DELETE FROM sevsync.skipped_event k
 WHERE $31 IS NOT NULL
   AND k.tenant_id = $2 AND k.entity_type = $4 AND k.entity_id = $5
   AND k.event_type = ANY($32)
   AND (k.version < $29 OR (k.version = $29 AND k.event_id <> $1));
END
$fn$;

-- write_outcome committed, then every advisory lock of the session released: the entity's lock
-- ends only after its records are visible to the next holder (a session lock is not transactional,
-- so a release inside the writing transaction would come before its commit). Called with CALL
-- outside any transaction; the session then holds nothing the pool's reset would have to end.
CREATE PROCEDURE sevsync.write_outcome_and_unlock(
    uuid, text, text, text, text, text, text, integer, text, text, integer, integer, text,
    boolean,
    text[], text[], text[], text[], text[], bigint[], text[], text[], boolean[],
    uuid[], text[], bytea[],
    text[], text[],
    bigint, text[], bytea, text[],
    text[]
)
LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM sevsync.write_outcome($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15,
                                  $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28,
                                  $29, $30, $31, $32, $33);
    COMMIT;
    PERFORM pg_advisory_unlock_all();
END
$fn$;
