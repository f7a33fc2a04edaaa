-- Deal cancellations made before sevsync linked them: a deal whose open invoice was cancelled keeps
-- the cancellation invoice's (SR) id in its deal_invoice link's details. Give each such deal its
-- `cancellation` link, as deal.cancelled writes it now (entity_id = the deal id, no version of its
-- own). The SR's number was not kept then, so it stays empty. A row of the same key that belongs to
-- a CRM invoice with the same id (its correcting voucher) is left alone, as the worker does.
INSERT INTO sevsync.entity_link
       (tenant_id, entity_type, entity_id, sevdesk_object, sevdesk_id, sevdesk_number, synced_version,
        synced_at, details)
SELECT tenant_id, 'cancellation', entity_id, 'Invoice', details ->> 'cancellation_id', NULL, NULL,
       synced_at, '{}'::jsonb
  FROM sevsync.entity_link
 WHERE entity_type = 'deal_invoice'
   AND details ->> 'cancellation_id' IS NOT NULL
ON CONFLICT (tenant_id, entity_type, entity_id) DO NOTHING;
