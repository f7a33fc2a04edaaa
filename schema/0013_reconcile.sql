-- Reconciliation (CONTRACT section 10): what sevsync last agreed with the CRM about each linked
-- object, so that a sevDesk change is told once and sevsync's own writes are never told back.
--   agreed_hash   the state both sides hold (worker/reconcile/state.py); set by the handlers'
--                 successful writes and by each change the reconciler tells. NULL: not known yet,
--                 the next run adopts sevDesk's state without telling it.
--   seen_update   sevDesk's `update` stamp of the object when it was last examined (Parts have no
--                 updateAfter filter: their pages are compared with it client-side).
--   told_version  the `version` of the last change event told for this entity; grows by one each.
ALTER TABLE sevsync.entity_link
    ADD COLUMN agreed_hash text,
    ADD COLUMN seen_update text,
    ADD COLUMN told_version bigint NOT NULL DEFAULT 0;

-- One row per tenant and kind (contacts, parts, documents). `changed_after` is the newest sevDesk
-- `update` stamp a finished run examined: the next run lists with updateAfter just before it. `runs`
-- counts finished runs; every SEVSYNC_RECONCILE_SWEEP_EVERY-th one also sweeps for deletions.
CREATE TABLE sevsync.reconcile_cursor (
    tenant_id     text NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('contacts', 'parts', 'documents')),
    changed_after timestamptz,
    runs          bigint NOT NULL DEFAULT 0,
    swept_at      timestamptz,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, kind)
);
