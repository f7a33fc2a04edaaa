-- The `version` of reconciliation events counts per CRM entity (CONTRACT sections 2 and 10), not per
-- link: a deal's offer and invoice are one entity to the CRM, which drops an event not newer than the
-- last it applied. One counter per tenant and CRM entity (customer, product, deal, invoice), stepped
-- in the transaction that writes the event.
CREATE TABLE sevsync.told_version (
    tenant_id   text NOT NULL,
    entity_type text NOT NULL,
    entity_id   text NOT NULL,
    version     bigint NOT NULL,
    PRIMARY KEY (tenant_id, entity_type, entity_id)
);

-- Events told before this table existed: each entity goes on from the highest of its links.
INSERT INTO sevsync.told_version (tenant_id, entity_type, entity_id, version)
SELECT tenant_id,
       CASE entity_type WHEN 'deal_order' THEN 'deal' WHEN 'deal_invoice' THEN 'deal'
                        WHEN 'invoice_voucher' THEN 'invoice' ELSE entity_type END,
       entity_id, max(told_version)
  FROM sevsync.entity_link
 WHERE told_version > 0
 GROUP BY 1, 2, 3
ON CONFLICT DO NOTHING;
