-- A linked object deleted in sevDesk (CONTRACT section 10). The link row stays, so an operator can
-- see what it pointed at and decide: relink it to another sevDesk object or clear it. Until then the
-- entity's next event fails `link_broken` instead of writing to an object that no longer exists.
ALTER TABLE sevsync.entity_link
    ADD COLUMN broken_at timestamptz,
    ADD COLUMN broken_reason text;

-- The console and tenant_health list and count a tenant's broken links; few rows, so a partial index.
CREATE INDEX entity_link_broken_idx ON sevsync.entity_link (tenant_id, broken_at)
    WHERE broken_at IS NOT NULL;
