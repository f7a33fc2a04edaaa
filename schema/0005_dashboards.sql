-- Dashboards, complete and indexed.
--
-- `entity_status` was a DISTINCT ON over every outcome ever recorded, so "which entities of tenant T
-- are failing now" read the whole of sync_outcome. The current state of each entity is now kept in
-- `sevsync.entity_state`, one row per entity, maintained by triggers on sync_outcome; the view reads
-- that table and gains `outcome_id` (the sync_outcome row it shows). `tenant_health` is rewritten so
-- that every part of it is an index range scan, and gains `open_failures`.
--
-- Applying this takes a SHARE ROW EXCLUSIVE lock on sync_outcome: outcomes wait until it commits
-- (none is lost: the backfill sees every outcome committed before, the trigger every one after).
-- Building the index on a large sync_outcome is the slow part. Create it by hand first with
-- `CREATE INDEX CONCURRENTLY sync_outcome_tenant_status_idx ON sevsync.sync_outcome
-- (tenant_id, status, created_at DESC)`; this migration then finds it (drop an invalid one left by a
-- failed concurrent build before migrating).

LOCK TABLE sevsync.sync_outcome IN SHARE ROW EXCLUSIVE MODE;

-- The newest outcome of each entity, redelivered duplicates aside: what `entity_status` shows.
-- Derived from sync_outcome alone; never written to directly.
CREATE TABLE sevsync.entity_state (
    tenant_id      text NOT NULL,
    entity_type    text NOT NULL,
    entity_id      text NOT NULL,
    outcome_id     bigint NOT NULL,
    event_id       uuid NOT NULL,
    event_type     text NOT NULL,
    status         text NOT NULL,
    reason         text,
    sevdesk_object text,
    sevdesk_id     text,
    error          text,
    updated_at     timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, entity_type, entity_id)
);
-- "Which entities of tenant T are failed or dead now, newest first", and their count.
CREATE INDEX entity_state_failing_idx ON sevsync.entity_state (tenant_id, updated_at DESC)
    WHERE status IN ('failed', 'dead');

-- An outcome that is not a duplicate becomes its entity's state, unless a newer one (higher id) is
-- there already: outcomes committed out of id order never move an entity back. Two transactions
-- recording the same entity serialise on its row; the later one re-checks the id.
CREATE FUNCTION sevsync.entity_state_record() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO sevsync.entity_state AS s
           (tenant_id, entity_type, entity_id, outcome_id, event_id, event_type, status, reason,
            sevdesk_object, sevdesk_id, error, updated_at)
    VALUES (NEW.tenant_id, NEW.entity_type, NEW.entity_id, NEW.id, NEW.event_id, NEW.event_type,
            NEW.status, NEW.reason, NEW.sevdesk_object, NEW.sevdesk_id, NEW.error, NEW.created_at)
    ON CONFLICT (tenant_id, entity_type, entity_id) DO UPDATE
       SET outcome_id = EXCLUDED.outcome_id,
           event_id = EXCLUDED.event_id,
           event_type = EXCLUDED.event_type,
           status = EXCLUDED.status,
           reason = EXCLUDED.reason,
           sevdesk_object = EXCLUDED.sevdesk_object,
           sevdesk_id = EXCLUDED.sevdesk_id,
           error = EXCLUDED.error,
           updated_at = EXCLUDED.updated_at
     WHERE s.outcome_id < EXCLUDED.outcome_id;
    RETURN NULL;
END
$$;

CREATE TRIGGER sync_outcome_entity_state
    AFTER INSERT ON sevsync.sync_outcome
    FOR EACH ROW WHEN (NEW.reason IS DISTINCT FROM 'duplicate')
    EXECUTE FUNCTION sevsync.entity_state_record();

-- Outcome rows are never updated. Should some be deleted (retention), an entity whose shown outcome
-- went falls back to its newest remaining one, or leaves entity_state with its last outcome: exactly
-- what the DISTINCT ON view showed.
CREATE FUNCTION sevsync.entity_state_forget() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM sevsync.entity_state s USING deleted_outcome d WHERE s.outcome_id = d.id;
    INSERT INTO sevsync.entity_state AS s
           (tenant_id, entity_type, entity_id, outcome_id, event_id, event_type, status, reason,
            sevdesk_object, sevdesk_id, error, updated_at)
    SELECT o.tenant_id, o.entity_type, o.entity_id, o.id, o.event_id, o.event_type, o.status, o.reason,
           o.sevdesk_object, o.sevdesk_id, o.error, o.created_at
      FROM (SELECT DISTINCT tenant_id, entity_type, entity_id FROM deleted_outcome) k
      CROSS JOIN LATERAL (
            SELECT * FROM sevsync.sync_outcome r
             WHERE r.tenant_id = k.tenant_id AND r.entity_type = k.entity_type
               AND r.entity_id = k.entity_id AND r.reason IS DISTINCT FROM 'duplicate'
             ORDER BY r.id DESC LIMIT 1) o
     WHERE NOT EXISTS (SELECT 1 FROM sevsync.entity_state e
                        WHERE e.tenant_id = k.tenant_id AND e.entity_type = k.entity_type
                          AND e.entity_id = k.entity_id)
    ON CONFLICT (tenant_id, entity_type, entity_id) DO UPDATE
       SET outcome_id = EXCLUDED.outcome_id,
           event_id = EXCLUDED.event_id,
           event_type = EXCLUDED.event_type,
           status = EXCLUDED.status,
           reason = EXCLUDED.reason,
           sevdesk_object = EXCLUDED.sevdesk_object,
           sevdesk_id = EXCLUDED.sevdesk_id,
           error = EXCLUDED.error,
           updated_at = EXCLUDED.updated_at
     WHERE s.outcome_id < EXCLUDED.outcome_id;
    RETURN NULL;
END
$$;

CREATE TRIGGER sync_outcome_entity_state_delete
    AFTER DELETE ON sevsync.sync_outcome
    REFERENCING OLD TABLE AS deleted_outcome
    FOR EACH STATEMENT EXECUTE FUNCTION sevsync.entity_state_forget();

-- Emptying sync_outcome empties the state derived from it (its ids may start again at 1).
CREATE FUNCTION sevsync.entity_state_clear() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE sevsync.entity_state;
    RETURN NULL;
END
$$;

CREATE TRIGGER sync_outcome_entity_state_truncate
    AFTER TRUNCATE ON sevsync.sync_outcome
    FOR EACH STATEMENT EXECUTE FUNCTION sevsync.entity_state_clear();

-- The outcomes recorded so far.
INSERT INTO sevsync.entity_state
       (tenant_id, entity_type, entity_id, outcome_id, event_id, event_type, status, reason,
        sevdesk_object, sevdesk_id, error, updated_at)
SELECT DISTINCT ON (o.tenant_id, o.entity_type, o.entity_id)
       o.tenant_id, o.entity_type, o.entity_id, o.id, o.event_id, o.event_type, o.status, o.reason,
       o.sevdesk_object, o.sevdesk_id, o.error, o.created_at
  FROM sevsync.sync_outcome o
 WHERE o.reason IS DISTINCT FROM 'duplicate'
 ORDER BY o.tenant_id, o.entity_type, o.entity_id, o.id DESC;

-- Same columns in the same order (CONTRACT section 7), `outcome_id` appended.
CREATE OR REPLACE VIEW sevsync.entity_status AS
SELECT s.tenant_id, s.entity_type, s.entity_id, s.event_id, s.event_type, s.status, s.reason,
       s.sevdesk_object, s.sevdesk_id, s.error, s.updated_at, s.outcome_id
FROM sevsync.entity_state s;

-- A tenant's outcomes of one status, newest first: the counts of the last 24 hours (index only),
-- the last success and the last failure (one index entry each).
CREATE INDEX IF NOT EXISTS sync_outcome_tenant_status_idx
    ON sevsync.sync_outcome (tenant_id, status, created_at DESC);

-- Same columns in the same order, `open_failures` (entities failed or dead now) appended.
CREATE OR REPLACE VIEW sevsync.tenant_health AS
SELECT t.tenant_id,
       t.provider,
       t.status AS integration_status,
       t.enabled,
       c.succeeded_24h,
       c.skipped_24h,
       c.retrying_24h,
       c.parked_24h,
       c.failed_24h,
       c.dead_24h,
       (SELECT max(s.created_at) FROM sevsync.sync_outcome s
         WHERE s.tenant_id = t.tenant_id AND s.status = 'succeeded') AS last_success_at,
       -- Two single-status lookups: max() over `status IN (...)` would read every failure.
       GREATEST((SELECT max(f.created_at) FROM sevsync.sync_outcome f
                  WHERE f.tenant_id = t.tenant_id AND f.status = 'failed'),
                (SELECT max(d.created_at) FROM sevsync.sync_outcome d
                  WHERE d.tenant_id = t.tenant_id AND d.status = 'dead')) AS last_failure_at,
       (SELECT count(*) FROM sevsync.dead_letter d
         WHERE d.tenant_id = t.tenant_id AND d.replayed_at IS NULL) AS open_dead_letters,
       (SELECT count(*) FROM sevsync.entity_state e
         WHERE e.tenant_id = t.tenant_id AND e.status IN ('failed', 'dead')) AS open_failures
FROM sevsync.tenant_integration t
CROSS JOIN LATERAL (
    SELECT count(*) FILTER (WHERE o.status = 'succeeded') AS succeeded_24h,
           count(*) FILTER (WHERE o.status = 'skipped')   AS skipped_24h,
           count(*) FILTER (WHERE o.status = 'retrying')  AS retrying_24h,
           count(*) FILTER (WHERE o.status = 'parked')    AS parked_24h,
           count(*) FILTER (WHERE o.status = 'failed')    AS failed_24h,
           count(*) FILTER (WHERE o.status = 'dead')      AS dead_24h
      FROM sevsync.sync_outcome o
     WHERE o.tenant_id = t.tenant_id
       AND o.status IN ('succeeded', 'skipped', 'retrying', 'parked', 'failed', 'dead')
       AND o.created_at > now() - interval '24 hours'
) c;
