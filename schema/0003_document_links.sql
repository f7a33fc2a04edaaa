-- Accounting documents (issue 4).
--
-- A CRM entity can be known to sevsync without a sevDesk object: a deal lost or cancelled before its
-- offer or invoice existed. Its link row then has no sevDesk object, but still carries the applied
-- version (so an older event is stale) and the cancellation (so a later deal.won is skipped).
ALTER TABLE sevsync.entity_link ALTER COLUMN sevdesk_object DROP NOT NULL;
ALTER TABLE sevsync.entity_link ALTER COLUMN sevdesk_id DROP NOT NULL;
ALTER TABLE sevsync.entity_link
    ADD CONSTRAINT entity_link_object_with_id CHECK ((sevdesk_object IS NULL) = (sevdesk_id IS NULL));

-- When the CRM cancelled the entity (deal.cancelled, invoice.cancelled); set once, never cleared.
ALTER TABLE sevsync.entity_link ADD COLUMN cancelled_at timestamptz;
