-- tenant_health gains `broken_links` (CONTRACT section 7): the tenant's links whose sevDesk object
-- was found deleted, waiting for an operator to relink or clear them (`sevsync link`). A range scan
-- of entity_link_broken_idx (0011). The column is appended: the view's other columns are unchanged.
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
         WHERE w.tenant_id = t.tenant_id) AS skipped_waiting,
       (SELECT count(*) FROM sevsync.entity_link l
         WHERE l.tenant_id = t.tenant_id AND l.broken_at IS NOT NULL) AS broken_links
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
