-- What was skipped can be sent later (CONTRACT section 5).
--
-- An event skipped because its tenant does not sync yet (`not_connected`, `disabled`,
-- `auto_sync_off`) keeps its body here, bytes as received, when the tenant has a
-- tenant_integration row. Only the newest version of an entity is worth sending, so a row for a
-- newer version replaces the older ones of that entity, and an older version arriving later keeps
-- no body. `sevsync skipped replay` sends the rows `skipped_waiting` shows and marks them
-- `replayed_at`; a replayed event skipped again gets its row back (replayed_at cleared).
-- `sevsync skipped purge` (and the worker, daily) deletes rows older than the retention.
CREATE TABLE sevsync.skipped_event (
    id          bigserial PRIMARY KEY,
    event_id    uuid NOT NULL UNIQUE,
    tenant_id   text NOT NULL,
    event_type  text NOT NULL,
    entity_type text NOT NULL,
    entity_id   text NOT NULL,
    version     bigint NOT NULL,
    reason      text NOT NULL CHECK (reason IN ('not_connected', 'disabled', 'auto_sync_off')),
    -- The entity_link types that represent the entity: once one of them holds a newer version,
    -- this one would only be stale when sent.
    link_types  text[] NOT NULL,
    body        bytea NOT NULL,
    skipped_at  timestamptz NOT NULL DEFAULT now(),
    replayed_at timestamptz
);
-- The newest version of each entity of a tenant (the view below, the processor's replacement).
CREATE INDEX skipped_event_entity_idx
    ON sevsync.skipped_event (tenant_id, entity_type, entity_id, version DESC, id DESC);
-- Retention selects by age.
CREATE INDEX skipped_event_skipped_at_idx ON sevsync.skipped_event (skipped_at);

-- One row per entity with a skipped event waiting to be sent: the entity's newest kept version,
-- not replayed yet, and not overtaken since (no link of the entity holds a newer version; the
-- processor's rule for stale events).
-- Never the body (personal data).
CREATE VIEW sevsync.skipped_waiting AS
SELECT s.id, s.event_id, s.tenant_id, s.event_type, s.entity_type, s.entity_id, s.version, s.reason,
       s.skipped_at
  FROM (SELECT DISTINCT ON (k.tenant_id, k.entity_type, k.entity_id) k.*
          FROM sevsync.skipped_event k
         ORDER BY k.tenant_id, k.entity_type, k.entity_id, k.version DESC, k.id DESC) s
 WHERE s.replayed_at IS NULL
   AND NOT EXISTS (SELECT 1 FROM sevsync.entity_link l
                    WHERE l.tenant_id = s.tenant_id AND l.entity_type = ANY (s.link_types)
                      AND l.entity_id = s.entity_id AND l.synced_version > s.version);

-- Same columns in the same order, `skipped_waiting` appended.
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
         WHERE e.tenant_id = t.tenant_id AND e.status IN ('failed', 'dead')) AS open_failures,
       (SELECT count(*) FROM sevsync.skipped_waiting w
         WHERE w.tenant_id = t.tenant_id) AS skipped_waiting
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
