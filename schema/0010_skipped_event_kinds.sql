-- Skipped events wait per kind of event, not per entity (CONTRACT section 5, as 0007 began it).
--
-- 0007 kept one body per entity, its newest version, whatever the event type. That holds for the
-- events that state the entity's whole data (customer and product created/updated, deal
-- opened/updated: the worker's coalescing groups), but not for acts such as an invoice issued and
-- then cancelled, or a deal won and then updated: the newer one does not carry the older one, so
-- the issued invoice's body was deleted and its cancellation could only wait for it and die.
-- The worker now keeps, per entity, the newest version of each kind (a coalescing group, else an
-- event type) and replaces only older ones of the same kind; so each row it keeps is one to send,
-- unless it was sent already or a newer version of the entity was applied since.
-- Same columns as before; tenant_health reads this view unchanged.
CREATE OR REPLACE VIEW sevsync.skipped_waiting AS
SELECT s.id, s.event_id, s.tenant_id, s.event_type, s.entity_type, s.entity_id, s.version, s.reason,
       s.skipped_at
  FROM sevsync.skipped_event s
 WHERE s.replayed_at IS NULL
   AND NOT EXISTS (SELECT 1 FROM sevsync.entity_link l
                    WHERE l.tenant_id = s.tenant_id AND l.entity_type = ANY (s.link_types)
                      AND l.entity_id = s.entity_id AND l.synced_version > s.version);
